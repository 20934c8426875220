"""A folder on any pyarrow file system (a local path, file://, s3://, gs://, hdfs://, ...), with
atomic writes: data goes to a hidden temporary file that is then moved into place."""

from __future__ import annotations

import errno
import os
import shutil
import uuid

import pyarrow.fs as pafs

from tabaug_ray.errors import TabaugError


class DiskFull(TabaugError):
    """OUT's disk (or quota) is full: the run stops; nothing torn is left, resume after freeing space."""


def _is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        text in str(exc) for text in ("No space left on device", "Disk quota exceeded", "[errno 28]", "[errno 122]"))


def _mount_point(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


class Storage:
    """Files under one root folder.

    Args:
        uri: a local path or a URI that `pyarrow.fs.FileSystem.from_uri` understands.
    """

    def __init__(self, *, uri: str | os.PathLike) -> None:
        text = str(uri)
        self.uri = text
        if "://" in text:
            try:
                self.fs, self.root = pafs.FileSystem.from_uri(text)
            except Exception as exc:  # noqa: BLE001
                raise TabaugError(f"{text}: unsupported storage URI ({exc})") from exc
        else:
            self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(text)
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type == pafs.FileType.File

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write a file atomically (temporary file in the same folder, then a move)."""
        final = self.path(*parts)
        folder, name = final.rsplit("/", 1)
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
        try:
            with self.fs.open_output_stream(tmp) as stream:
                stream.write(data)
            if self.is_local:
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
            self.fs.move(tmp, final)
        except OSError as exc:
            if not _is_disk_full(exc):
                raise
            where = self.uri
            if self.is_local:
                mount = _mount_point(folder)
                where = f"{mount} (holding {self.root}; {shutil.disk_usage(mount).free} bytes free)"
            raise DiskFull(f"no space left on the disk {where} while writing {final}: free space, then run the "
                           "same command again to resume (finished units are kept)") from None
        finally:
            if self.fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                self.fs.delete_file(tmp)

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open_input_stream(self.path(*parts)) as stream:
            return stream.read()

    def delete(self, *parts: str) -> None:
        if self.exists(*parts):
            self.fs.delete_file(self.path(*parts))

    def move(self, src: tuple[str, ...], dst: tuple[str, ...]) -> str:
        """Move a file (e.g. into OUT/quarantine); an existing target gets a numbered name. Returns
        the target's path."""
        final = self.path(*dst)
        folder = final.rsplit("/", 1)[0]
        self.fs.create_dir(folder, recursive=True)
        n = 1
        while self.fs.get_file_info(final).type != pafs.FileType.NotFound:
            final = f"{self.path(*dst)}.{n}"
            n += 1
        self.fs.move(self.path(*src), final)
        return final

    def list(self, folder: str, suffix: str) -> list[str]:
        """Names (not paths) of the visible files in `folder` ending in `suffix`, sorted."""
        selector = pafs.FileSelector(self.path(folder), allow_not_found=True)
        names = [info.base_name for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]
        return sorted(n for n in names if n.endswith(suffix) and not n.startswith((".", "_")))
