"""Where datasets come from: scikit-learn's bundled sets, local files, a data directory with a
MANIFEST.tsv, and OpenML (with a local cache). Paper aliases resolve to the data directory when it
holds them and to OpenML otherwise."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from tabaug_ray.errors import TabaugError

DATA_DIR_ENV = "TABAUG_DATA_DIR"
CACHE_ENV = "TABAUG_CACHE_DIR"

# name -> (sklearn loader, task); all ship with scikit-learn, no download.
BUNDLED: dict[str, tuple[str, str]] = {
    "diabetes": ("load_diabetes", "regression"),
    "breast_cancer": ("load_breast_cancer", "binary"),
    "wine": ("load_wine", "multiclass"),
    "iris": ("load_iris", "multiclass"),
    "digits": ("load_digits", "multiclass"),
}

# Paper datasets: data-dir name, then the OpenML dataset used when the data dir lacks it.
ALIASES: dict[str, tuple[str, dict]] = {
    "adult": ("adult", {"data_id": 1590, "target": "class", "task": "binary"}),
    "king": ("king_county_house_sales", {"data_id": 42092, "target": "price", "task": "regression"}),
    "letter": ("letter_recognition", {"data_id": 6, "target": "class", "task": "multiclass"}),
    "news": ("online_news_popularity", {"data_id": 4545, "target": "shares", "task": "regression"}),
    "intrusion": ("kddcup99", {"data_id": 1113, "target": "label", "task": "multiclass"}),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded table with its target and task.

    Args:
        name: registry name.
        frame: all columns (features and target) with their original dtypes; missing values NaN.
        target: target column.
        task: regression, binary or multiclass.
        categorical: columns declared categorical by the source.
        source: where it came from (bundled, a file path, openml:<id>).
    """

    name: str
    frame: pd.DataFrame
    target: str
    task: str
    categorical: tuple[str, ...] = ()
    source: str = ""
    schema_overrides: dict = field(default_factory=dict)

    @cached_property
    def fingerprint(self) -> str:
        """A content hash of the table (stable across processes)."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(map(str, self.frame.columns)), self.target, self.task]).encode())
        digest.update(pd.util.hash_pandas_object(self.frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def n_features(self) -> int:
        return self.frame.shape[1] - 1


@dataclass(frozen=True)
class DatasetInfo:
    """One row of `tabaug datasets list`."""

    name: str
    rows: int | None
    features: int | None
    task: str
    source: str


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data directory: the argument, else $TABAUG_DATA_DIR, else none."""
    value = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not (path / "MANIFEST.tsv").is_file():
        raise TabaugError(f"{path}: not a data directory (no MANIFEST.tsv)")
    return path


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tabaug_ray").expanduser()


def read_manifest(data_dir: Path) -> pd.DataFrame:
    path = data_dir / "MANIFEST.tsv"
    try:
        manifest = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a user error here
        raise TabaugError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    missing = {"name", "file", "target", "task"} - set(manifest.columns)
    if missing:
        raise TabaugError(f"{path}: missing column(s) {sorted(missing)}")
    return manifest.set_index("name", drop=False)


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV, CSV.gz or Parquet file; errors name the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TabaugError(f"{path}: file not found")
    try:
        if path.suffix == ".parquet" or path.name.endswith(".parquet.gz"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise TabaugError(f"{path}: cannot read ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc


def load_file(
    path: str | os.PathLike,
    *,
    target: str,
    task: str,
    categorical: Sequence[str] = (),
    name: str | None = None,
    schema_overrides: dict | None = None,
) -> Dataset:
    """A local CSV / CSV.gz / Parquet file with a declared target and task."""
    frame = read_table(path)
    if target not in frame.columns:
        raise TabaugError(f"{path}: target column {target!r} not found; columns are {list(frame.columns)}")
    for col in categorical:
        if col not in frame.columns:
            raise TabaugError(f"{path}: categorical column {col!r} not found")
    stem = Path(path).name.split(".")[0]
    return Dataset(name=name or stem, frame=frame, target=target, task=task, categorical=tuple(categorical),
                   source=str(path), schema_overrides=dict(schema_overrides or {}))


def load_bundled(name: str) -> Dataset:
    import sklearn.datasets

    loader, task = BUNDLED[name]
    bunch = getattr(sklearn.datasets, loader)(as_frame=True)
    frame = bunch.frame.copy()
    target = "target"
    if task != "regression":
        frame[target] = frame[target].astype(int)
    return Dataset(name=name, frame=frame, target=target, task=task, source=f"sklearn:{name}")


def load_from_dir(name: str, data_dir: Path) -> Dataset:
    manifest = read_manifest(data_dir)
    row = manifest.loc[name]
    return load_file(data_dir / row["file"], target=row["target"], task=row["task"],
                     categorical=_split_list(row.get("categorical_columns", "")), name=name)


def openml_cache_paths(key: str) -> tuple[Path, Path]:
    base = cache_dir() / "openml"
    return base / f"{key}.parquet", base / f"{key}.json"


def load_openml(
    *, data_id: int | None = None, name: str | None = None, target: str | None = None,
    task: str | None = None, alias: str | None = None,
) -> Dataset:
    """An OpenML dataset by id or name, cached as Parquet + JSON under the cache directory.

    The first call downloads through scikit-learn's `fetch_openml` (network needed); later calls,
    and any machine with a filled cache, load offline.
    """
    if data_id is None and not name:
        raise TabaugError("openml: give a dataset id or a name")
    key = f"id{data_id}" if data_id is not None else f"name-{name}"
    table_path, meta_path = openml_cache_paths(key)
    if not (table_path.is_file() and meta_path.is_file()):
        _download_openml(data_id=data_id, name=name, target=target, table_path=table_path, meta_path=meta_path)
    meta = json.loads(meta_path.read_text())
    frame = pd.read_parquet(table_path)
    target = target or meta["target"]
    if target not in frame.columns:
        raise TabaugError(f"openml {key}: target column {target!r} not found")
    task = task or meta.get("task") or _guess_task(frame[target])
    return Dataset(name=alias or meta.get("name") or key, frame=frame, target=target, task=task,
                   categorical=tuple(meta.get("categorical", [])), source=f"openml:{meta.get('data_id', key)}")


def _guess_task(series: pd.Series) -> str:
    if pd.api.types.is_float_dtype(series) and series.nunique() > 20:
        return "regression"
    return "binary" if series.nunique() == 2 else "multiclass"


def _download_openml(*, data_id, name, target, table_path: Path, meta_path: Path) -> None:
    from sklearn.datasets import fetch_openml

    try:
        bunch = fetch_openml(data_id=data_id, name=None if data_id is not None else name, as_frame=True,
                             target_column=None, data_home=str(cache_dir() / "sklearn"), parser="auto")
    except Exception as exc:  # noqa: BLE001 - network and server errors become one line
        raise TabaugError(f"openml {data_id or name}: download failed and no cached copy "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    frame = bunch.frame
    default_target = bunch.details.get("default_target_attribute") or target
    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    for col in categorical:
        frame[col] = frame[col].astype(object)
    meta = {"data_id": int(bunch.details.get("id", data_id or 0)), "name": bunch.details.get("name", name),
            "target": target or default_target, "categorical": [c for c in categorical if c != (target or default_target)]}
    table_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = table_path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, table_path)
    meta_path.write_text(json.dumps(meta))


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Resolve a dataset name: data dir, bundled, alias (data dir first, then OpenML), `openml:ID`."""
    directory = resolve_data_dir(data_dir)
    if directory is not None and name in read_manifest(directory).index:
        return load_from_dir(name, directory)
    if name in BUNDLED:
        return load_bundled(name)
    if name in ALIASES:
        dir_name, openml = ALIASES[name]
        if directory is not None and dir_name in read_manifest(directory).index:
            return load_from_dir(dir_name, directory)
        return load_openml(**openml, alias=name)
    if name.startswith("openml:"):
        ref = name.split(":", 1)[1]
        return load_openml(data_id=int(ref)) if ref.isdigit() else load_openml(name=ref)
    known = sorted(set(BUNDLED) | set(ALIASES) | (set(read_manifest(directory).index) if directory else set()))
    hint = "" if directory else f" (no data directory given: use --data-dir or ${DATA_DIR_ENV})"
    raise TabaugError(f"unknown dataset {name!r}{hint}; known: {', '.join(known)}, or openml:<id|name>")


def list_datasets(*, data_dir: str | os.PathLike | None = None) -> list[DatasetInfo]:
    """Every dataset reachable without a download, plus the paper aliases."""
    infos: list[DatasetInfo] = []
    for name in BUNDLED:
        ds = load_bundled(name)
        infos.append(DatasetInfo(name, ds.n_rows, ds.n_features, ds.task, ds.source))
    directory = resolve_data_dir(data_dir)
    in_dir: set[str] = set()
    if directory is not None:
        for _, row in read_manifest(directory).iterrows():
            rows = int(row["rows"]) if row.get("rows", "").isdigit() else None
            feats = int(row["n_features"]) if row.get("n_features", "").isdigit() else None
            infos.append(DatasetInfo(row["name"], rows, feats, row["task"], f"{directory}/{row['file']}"))
            in_dir.add(row["name"])
    for alias, (dir_name, openml) in ALIASES.items():
        if alias in in_dir:
            continue
        where = f"alias of {dir_name}" if dir_name in in_dir else f"openml:{openml['data_id']} (download)"
        infos.append(DatasetInfo(alias, None, None, openml["task"], where))
    return infos



def _preview_values(values, limit: int = 3) -> str:
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


def check_dataset(ds: Dataset, *, declared: Sequence[str] = ()) -> None:
    """Refuse, on one line naming the source and the column, a table no unit can use: no rows,
    infinite values, a numeric column with a few non-numbers, a constant target, or a target that
    contradicts the declared task.

    Args:
        ds: the dataset as the config entry shapes it (target, task, drops and cuts applied).
        declared: columns the config or the schema overrides declare (no numeric guessing on them).
    """
    frame, source, target = ds.frame, ds.source or ds.name, ds.target
    if frame.empty:
        raise TabaugError(f"{source}: no data rows (only a header with {frame.shape[1]} columns)")
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            infinite = np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                rows = np.flatnonzero(infinite)
                raise TabaugError(f"{source}: column {name!r} holds {len(rows)} infinite value(s) (first at data "
                                  f"row {rows[0] + 1}); replace them with numbers or leave them empty (missing)")
        elif column.dtype == object and name not in declared and name not in ds.categorical:
            values = column.dropna()
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().sum() > len(values) / 2 and numbers.isna().any():
                garbage = values[numbers.isna()].astype(str).unique()
                raise TabaugError(f"{source}: column {name!r} is numeric but for {int(numbers.isna().sum())} "
                                  f"value(s) ({_preview_values(garbage)}); fix them, leave them empty (missing) "
                                  "or declare the column categorical")
    y = frame[target].dropna()
    distinct = y.nunique()
    if distinct <= 1:
        raise TabaugError(f"{source}: target {target!r} is constant ({_preview_values(y.unique()) or 'all missing'}): "
                          "there is nothing to learn or evaluate")
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    continuous = numeric and not np.all(np.mod(y.to_numpy(dtype=float), 1) == 0)
    if ds.task == "binary" and distinct != 2:
        kind = "regression" if continuous or distinct > 20 else "multiclass"
        raise TabaugError(f"{source}: task 'binary' is declared but target {target!r} has {distinct} distinct "
                          f"values (a binary target has 2); declare task = \"{kind}\" if that is what it is")
    if ds.task == "multiclass" and continuous:
        raise TabaugError(f"{source}: task 'multiclass' is declared but target {target!r} holds non-integer "
                          f"numbers ({distinct} distinct values); declare task = \"regression\"")
    if ds.task == "regression" and not numeric:
        raise TabaugError(f"{source}: task 'regression' is declared but target {target!r} holds text "
                          f"({_preview_values(y.astype(str).unique())}); declare task = \"binary\" or \"multiclass\"")
