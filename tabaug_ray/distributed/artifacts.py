"""Values that later units consume (a trained ensemble, a fitted teacher), kept as files under
OUT/artifacts so a resumed run does not recompute them.

Nothing is unpickled from a results folder unless this user's run wrote it: the values are
arbitrary Python objects (a fitted TPOT pipeline, an AutoGluon predictor, torch ensembles) that
only pickle can store, and unpickling runs code, so whoever can write OUT (or a `--reuse` source,
an object-store bucket) could run code as the user. Each artifact is therefore signed with an
HMAC-SHA256 keyed by a secret kept outside OUT (`secret_path()`, created on first use, mode 0600)
over its unit key and its bytes; an artifact whose signature does not verify (tampered, written by
another user, unsigned from before signing, or another unit's) is never unpickled: it is moved to
OUT/quarantine/ with a warning and its producer runs again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
from pathlib import Path
from typing import Any, Iterable

from tabaug_ray.errors import TabaugError, warn
from tabaug_ray.storage import Storage

MAGIC = b"tabaug-artifact hmac-sha256 v1\n"
DIGEST_BYTES = 64  # hex
SECRET_ENV = "TABAUG_ARTIFACT_SECRET"  # a file holding the secret (default: secret_path())


def secret_path() -> Path:
    """Where the signing secret lives: $TABAUG_ARTIFACT_SECRET, else ~/.config/tabaug_ray/artifact.key."""
    return Path(os.environ.get(SECRET_ENV) or Path.home() / ".config" / "tabaug_ray" / "artifact.key").expanduser()


def load_secret() -> bytes:
    """The signing secret (32 random bytes, created with mode 0600 on first use)."""
    path = secret_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_hex(32).encode())
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise TabaugError(f"{path}: the artifact signing secret is shorter than 32 bytes; remove it to make a new one")
    return secret


def _digest(secret: bytes, key: str, payload: bytes) -> bytes:
    return hmac.new(secret, key.encode() + b"\0" + payload, hashlib.sha256).hexdigest().encode()


class ArtifactStore:
    """Signed pickled unit values, written atomically.

    Args:
        out: the experiment's output directory (local path or pyarrow file-system URI).
        secret: the HMAC key (default: `load_secret()`).
    """

    def __init__(self, *, out: str | os.PathLike, secret: bytes | None = None) -> None:
        self.storage = Storage(uri=out)
        self._secret = secret

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_secret()
        return self._secret

    @staticmethod
    def name(key: str) -> str:
        return f"{key}.pkl"

    def has(self, key: str) -> bool:
        return self.storage.exists("artifacts", self.name(key))

    def save(self, key: str, value: Any) -> None:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.storage.write_bytes(self.sign(key, payload), "artifacts", self.name(key))

    def sign(self, key: str, payload: bytes) -> bytes:
        return MAGIC + _digest(self.secret, key, payload) + b"\n" + payload

    def payload(self, key: str, data: bytes) -> tuple[bytes | None, str]:
        """(the pickled bytes, "") when `data` is `key`'s artifact signed with our secret, else
        (None, why not)."""
        if not data.startswith(MAGIC):
            return None, "is not signed (written before signing, or not by tabaug)"
        start = len(MAGIC) + DIGEST_BYTES + 1
        digest, payload = data[len(MAGIC):start - 1], data[start:]
        if not hmac.compare_digest(digest, _digest(self.secret, key, payload)):
            return None, f"has a signature that does not verify with {secret_path()} (tampered, or another user's)"
        return payload, ""

    def load(self, key: str) -> Any:
        """The value, unpickled only after its signature verified (else a one-line TabaugError)."""
        payload, reason = self.payload(key, self.storage.read_bytes("artifacts", self.name(key)))
        if payload is None:
            raise TabaugError(f"{self.storage.path('artifacts', self.name(key))}: refused: the artifact {reason}")
        return pickle.loads(payload)  # noqa: S301 - signed by this user's secret, checked above

    def verify(self, keys: Iterable[str]) -> list[str]:
        """Check the artifacts of `keys` that exist; each bad one is named in a warning and moved to
        OUT/quarantine/ (its producer then runs again). Returns the keys moved."""
        moved = []
        for key in keys:
            if not self.has(key):
                continue
            payload, reason = self.payload(key, self.storage.read_bytes("artifacts", self.name(key)))
            if payload is None:
                where = self.storage.path("artifacts", self.name(key))
                target = self.storage.move(("artifacts", self.name(key)), ("quarantine", self.name(key)))
                warn(f"{where}: refused: the artifact {reason}; moved to {target}, never loaded; its unit runs again")
                moved.append(key)
        return moved

    def copy_from(self, source: "ArtifactStore", key: str) -> bool:
        """Copy `key`'s artifact from another run directory if it verifies with our secret (a
        `--reuse` source is as untrusted as OUT); False, with a warning, if it does not."""
        data = source.storage.read_bytes("artifacts", self.name(key))
        payload, reason = self.payload(key, data)
        if payload is None:
            warn(f"--reuse {source.storage.uri}: artifact {self.name(key)} {reason}; not copied, its unit runs here")
            return False
        self.storage.write_bytes(data, "artifacts", self.name(key))
        return True
