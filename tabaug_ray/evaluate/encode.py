"""Turn a (real, synthetic) pair of tables into numeric matrices for the discriminator and the utility models.

Numeric columns are z-scored with the real rows' mean and standard deviation, missing values are
imputed with the real mean (0 after scaling) and flagged by a `<col>=<missing>` indicator column when
either side has any; categorical and text columns are one-hot encoded over the categories of both
tables (missing is its own category). Pure functions of in-memory tables: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.errors import TabaugError

MISSING = "<missing>"
OTHER = "<other>"

ColumnType = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class EncodedPair:
    """Encoded matrices (float32, same columns) and the names of their columns.

    Attributes:
        real, synthetic: the encoded rows.
        feature_names: one name per encoded column (`col` for numeric, `col=value` for one-hot).
        column_types: the type each source column was given (numeric / categorical).
    """

    real: np.ndarray
    synthetic: np.ndarray
    feature_names: tuple[str, ...]
    column_types: dict[str, ColumnType]


def check_same_columns(real: pd.DataFrame, synthetic: pd.DataFrame, *, names: tuple[str, str] = ("real", "synthetic")) -> None:
    """Raise TabaugError unless both tables have the same set of column names (order may differ)."""
    a, b = list(map(str, real.columns)), list(map(str, synthetic.columns))
    for table, cols in ((names[0], a), (names[1], b)):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise TabaugError(f"{table}: duplicated column names {dup}")
    missing, extra = [c for c in a if c not in b], [c for c in b if c not in a]
    if missing or extra:
        raise TabaugError(
            f"{names[0]} and {names[1]} must have the same columns: "
            f"missing from {names[1]}: {_short(missing)}; only in {names[1]}: {_short(extra)}"
        )


def column_types(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    names: tuple[str, str] = ("real", "synthetic"),
) -> dict[str, ColumnType]:
    """Decide per column whether it is numeric or categorical, and reject numeric columns with garbage.

    A column is numeric when its values are numbers (or booleans) in both tables, or numbers in one
    table and numeric text in the other; it is categorical when it is text in both tables or listed
    in `categorical`. A column with numbers in one table and non-numeric text in the other raises
    TabaugError naming the column and an offending value.

    Args:
        real, synthetic: tables with the same columns.
        categorical: columns to treat as categorical whatever their dtype.
        names: how to call the two tables in error messages.
    """
    check_same_columns(real, synthetic, names=names)
    types: dict[str, ColumnType] = {}
    for col in real.columns:
        if col in categorical:
            types[col] = "categorical"
            continue
        num = [_is_numeric_dtype(t[col]) for t in (real, synthetic)]
        if all(num):
            types[col] = "numeric"
        elif not any(num):
            types[col] = "categorical"
        else:
            text_side = 0 if not num[0] else 1
            values = (real, synthetic)[text_side][col]
            parsed = pd.to_numeric(values, errors="coerce")
            bad = values[parsed.isna() & values.notna()]
            if len(bad):
                raise TabaugError(
                    f"column {col!r} is numeric in {names[1 - text_side]} but {names[text_side]} has "
                    f"non-numeric value {str(bad.iloc[0])[:40]!r} (row {bad.index[0]})"
                )
            types[col] = "numeric"
    return types


def encode_pair(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    max_categories: int = 50,
    names: tuple[str, str] = ("real", "synthetic"),
) -> EncodedPair:
    """Encode two tables with the same columns into float32 matrices with the same encoded columns.

    Args:
        real, synthetic: the tables; columns are matched by name and put in the real table's order.
        categorical: columns to one-hot encode even if they hold numbers.
        max_categories: per categorical column, the most frequent categories (over both tables) kept;
            the rest share one `<other>` column, so an identifier-like text column cannot blow up the width.
        names: how to call the two tables in error messages.
    """
    if max_categories < 2:
        raise TabaugError(f"max_categories must be >= 2, got {max_categories=}")
    types = column_types(real, synthetic, categorical=categorical, names=names)
    synthetic = synthetic[list(real.columns)]
    blocks_r, blocks_s, feature_names = [], [], []
    for col, kind in types.items():
        if kind == "numeric":
            r = numeric_values(real[col])
            s = numeric_values(synthetic[col])
            finite = r[np.isfinite(r)]
            mean = float(finite.mean()) if len(finite) else 0.0
            std = float(finite.std()) if len(finite) > 1 else 0.0
            std = std if std > 1e-12 else 1.0
            miss_r, miss_s = ~np.isfinite(r), ~np.isfinite(s)
            blocks_r.append(np.where(miss_r, 0.0, (r - mean) / std)[:, None])
            blocks_s.append(np.where(miss_s, 0.0, (s - mean) / std)[:, None])
            feature_names.append(str(col))
            if miss_r.any() or miss_s.any():
                blocks_r.append(miss_r[:, None].astype(float))
                blocks_s.append(miss_s[:, None].astype(float))
                feature_names.append(f"{col}={MISSING}")
        else:
            r, s = category_labels(real[col]), category_labels(synthetic[col])
            counts = pd.concat([r, s]).value_counts(sort=True)
            keep = list(counts.index[: max_categories - 1] if len(counts) > max_categories else counts.index)
            if len(counts) > len(keep):
                keep.append(OTHER)
                r = r.where(r.isin(keep), OTHER)
                s = s.where(s.isin(keep), OTHER)
            cats = pd.CategoricalDtype(sorted(keep))
            codes_r = r.astype(cats).cat.codes.to_numpy()
            codes_s = s.astype(cats).cat.codes.to_numpy()
            eye = np.eye(len(cats.categories))
            blocks_r.append(eye[codes_r])
            blocks_s.append(eye[codes_s])
            feature_names.extend(f"{col}={c}" for c in cats.categories)
    width = len(feature_names)
    xr = np.hstack(blocks_r) if blocks_r else np.zeros((len(real), 0))
    xs = np.hstack(blocks_s) if blocks_s else np.zeros((len(synthetic), 0))
    assert xr.shape[1] == xs.shape[1] == width
    return EncodedPair(
        real=xr.astype(np.float32), synthetic=xs.astype(np.float32),
        feature_names=tuple(feature_names), column_types=types,
    )


def one_hot_model_space(x: np.ndarray, columns: Sequence[ColumnSpec]) -> np.ndarray:
    """Expand a model-space matrix for a discriminator: categorical codes → one-hot, other columns kept.

    Args:
        x: (n, len(columns)) model-space matrix (gaussian z-scored, bernoulli 0/1, categorical codes).
        columns: the schema of `x`.
    """
    if x.ndim != 2 or x.shape[1] != len(columns):
        raise TabaugError(f"model-space matrix has shape {x.shape} but the schema has {len(columns)} columns")
    blocks = []
    for j, spec in enumerate(columns):
        if spec.kind == "categorical":
            codes = np.rint(x[:, j]).astype(np.int64)
            if codes.min(initial=0) < 0 or codes.max(initial=0) >= spec.n_categories:
                raise TabaugError(
                    f"column {spec.name!r}: codes must be in 0..{spec.n_categories - 1}, "
                    f"got {codes.min()}..{codes.max()}"
                )
            blocks.append(np.eye(spec.n_categories, dtype=np.float32)[codes])
        else:
            blocks.append(x[:, j : j + 1].astype(np.float32))
    return np.hstack(blocks) if blocks else np.zeros((len(x), 0), np.float32)


def discriminator_inputs(x: np.ndarray, columns: Sequence[ColumnSpec], *,
                         categorical: Literal["one_hot", "codes"] = "one_hot") -> np.ndarray:
    """A model-space matrix as a classifier's input: categorical codes one-hot, or kept as the integer
    codes (the reference code's discriminator); other columns as they are (z-scores, 0/1).

    Args:
        x: (n, len(columns)) model-space matrix.
        columns: the schema of `x`.
        categorical: "one_hot" or "codes".
    """
    if categorical == "one_hot":
        return one_hot_model_space(x, columns)
    if categorical != "codes":
        raise TabaugError(f"categorical inputs must be 'one_hot' or 'codes', got {categorical!r}")
    if x.ndim != 2 or x.shape[1] != len(columns):
        raise TabaugError(f"model-space matrix has shape {x.shape} but the schema has {len(columns)} columns")
    return x.astype(np.float32)


def _is_numeric_dtype(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def numeric_values(s: pd.Series) -> np.ndarray:
    """Values as float64 (booleans as 0/1, unparseable text and missing as NaN)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float).to_numpy()
    return pd.to_numeric(s, errors="coerce").astype(float).to_numpy()


def category_labels(s: pd.Series) -> pd.Series:
    """Values as text labels; 3.0 and 3 both become '3' so numeric codes match across tables."""

    def label(v: object) -> str:
        if pd.isna(v):
            return MISSING
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    return s.map(label).astype(object)


def _short(cols: list[str], k: int = 5) -> str:
    if not cols:
        return "none"
    more = f" and {len(cols) - k} more" if len(cols) > k else ""
    return ", ".join(repr(c) for c in cols[:k]) + more
