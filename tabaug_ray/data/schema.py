"""Column schema: which likelihood each column gets (gaussian / bernoulli / categorical).

The *model space* used by every generator and evaluator is a float32 matrix with one column per
schema column, in schema order: gaussian columns z-scored, bernoulli columns in {0, 1},
categorical columns as integer codes 0..K-1 (stored as floats).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from tabaug_ray.errors import TabaugError

ColumnKind = Literal["gaussian", "bernoulli", "categorical"]
KINDS: tuple[str, ...] = ("gaussian", "bernoulli", "categorical")
TASKS: tuple[str, ...] = ("regression", "binary", "multiclass")
MAX_CATEGORICAL_INTEGERS = 50  # integer-valued columns with fewer distinct values are categorical


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the model space.

    Args:
        name: column name in the original table.
        kind: likelihood family of the column.
        n_categories: K for categorical columns, 2 for bernoulli, 0 for gaussian.
        categories: the original labels of codes 0..K-1 (categorical / bernoulli only).
        dtype: the original pandas dtype, restored by the inverse transform.
    """

    name: str
    kind: ColumnKind
    n_categories: int = 0
    categories: tuple = ()
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}; expected one of {KINDS}")
        if self.kind == "categorical" and self.n_categories < 1:
            raise ValueError(f"column {self.name!r}: categorical needs n_categories >= 1, got {self.n_categories=}")

    @property
    def n_params(self) -> int:
        """Width of this column's likelihood head (gaussian: mean + std, bernoulli: 1, categorical: K)."""
        return {"gaussian": 2, "bernoulli": 1, "categorical": self.n_categories}[self.kind]


def head_width(columns: Sequence[ColumnSpec]) -> int:
    """Total decoder output width for a schema."""
    return sum(c.n_params for c in columns)


@dataclass(frozen=True)
class TableSchema:
    """The schema of one dataset: model columns in order, the target, and what was dropped."""

    columns: tuple[ColumnSpec, ...]
    target: str
    task: str
    dropped: Mapping[str, str] = field(default_factory=dict)  # column -> reason

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def features(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.name != self.target]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def column(self, name: str) -> ColumnSpec:
        return self.columns[self.index(name)]


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _integer_valued(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values):
        return False
    arr = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))


def infer_kind(series: pd.Series, *, declared_categorical: bool = False) -> ColumnKind:
    """The reference rules: <= 2 distinct values -> bernoulli; text, declared categorical or
    integer-valued with < 50 distinct values -> categorical; otherwise gaussian."""
    values = series.dropna()
    distinct = values.nunique()
    if distinct <= 2:
        return "bernoulli"
    if declared_categorical or _is_text(series):
        return "categorical"
    if _integer_valued(values) and distinct < MAX_CATEGORICAL_INTEGERS:
        return "categorical"
    return "gaussian"


def _id_like(series: pd.Series) -> bool:
    values = series.dropna()
    if len(values) < 20 or values.nunique() != len(series):
        return False
    if _is_text(series):
        return True
    if _integer_valued(values):
        ordered = np.sort(values.to_numpy(dtype=float))
        return bool(np.all(np.diff(ordered) == 1))  # a row counter
    return False


def _sorted_labels(values: pd.Series) -> tuple:
    labels = values.dropna().unique().tolist()
    try:
        return tuple(sorted(labels))
    except TypeError:
        return tuple(sorted(labels, key=str))


def infer_schema(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    categorical: Sequence[str] = (),
    overrides: Mapping[str, str] | None = None,
    source: str = "data",
) -> TableSchema:
    """Infer one ColumnSpec per column; constant and ID-like columns are dropped with a warning.

    Args:
        frame: the whole table (features and target); category vocabularies come from all rows.
        target: the target column (kept even if constant-looking; regression targets are gaussian).
        task: regression, binary or multiclass.
        categorical: columns declared categorical (e.g. by a MANIFEST).
        overrides: column -> kind, applied after inference.
        source: the file or dataset name used in error messages.
    """
    if target not in frame.columns:
        raise TabaugError(f"{source}: target column {target!r} not found; columns are {list(frame.columns)}")
    if task not in TASKS:
        raise TabaugError(f"{source}: task {task!r} is not one of {TASKS}")
    overrides = dict(overrides or {})
    for name, kind in overrides.items():
        if name not in frame.columns:
            raise TabaugError(f"{source}: schema override names unknown column {name!r}")
        if kind not in KINDS:
            raise TabaugError(f"{source}: schema override for {name!r} is {kind!r}; expected one of {KINDS}")
    for name in categorical:
        if name not in frame.columns:
            raise TabaugError(f"{source}: categorical column {name!r} not found")
    columns: list[ColumnSpec] = []
    dropped: dict[str, str] = {}
    for name in frame.columns:
        series = frame[name]
        if name != target and name not in overrides:
            if series.isna().all():
                dropped[name] = "all values missing"
                continue
            if series.nunique(dropna=True) <= 1:
                dropped[name] = "constant"
                continue
            if _id_like(series):
                dropped[name] = "id-like (every value distinct)"
                continue
        if name in overrides:
            kind = overrides[name]
        elif name == target and task == "regression":
            kind = "gaussian"
        else:
            kind = infer_kind(series, declared_categorical=name in categorical)
        if kind == "gaussian" and _is_text(series):
            raise TabaugError(f"{source}: column {name!r} holds text and cannot be gaussian")
        labels = _sorted_labels(series) if kind != "gaussian" else ()
        if kind == "bernoulli" and len(labels) > 2:
            raise TabaugError(f"{source}: column {name!r} has {len(labels)} values and cannot be bernoulli")
        n_cat = {"gaussian": 0, "bernoulli": 2, "categorical": len(labels)}[kind]
        columns.append(ColumnSpec(name=name, kind=kind, n_categories=n_cat, categories=labels, dtype=str(series.dtype)))
    for name, reason in dropped.items():
        warnings.warn(f"{source}: dropping column {name!r} ({reason})", stacklevel=2)
    return TableSchema(columns=tuple(columns), target=target, task=task, dropped=dropped)
