"""Transforms between a table and the model space, fitted on training rows only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabaug_ray.data.schema import ColumnSpec, TableSchema
from tabaug_ray.errors import TabaugError


@dataclass(frozen=True)
class Imputation:
    """What was imputed in one column during `fit`: the fill value and how many cells."""

    column: str
    value: object
    count: int


class TabularTransform:
    """Table <-> model space: z-scored gaussians, 0/1 bernoullis, integer-coded categoricals.

    Missing values are imputed with the training rows' median (gaussian) or most frequent value
    (bernoulli / categorical); `imputations_` records what was filled during `fit`.

    Args:
        schema: the dataset's schema (category vocabularies come from it, so codes agree across folds).
    """

    def __init__(self, *, schema: TableSchema) -> None:
        self.schema = schema

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        return self.schema.columns

    def fit(self, frame: pd.DataFrame) -> "TabularTransform":
        self._check_columns(frame)
        self.fill_: dict[str, object] = {}
        self.mean_: dict[str, float] = {}
        self.std_: dict[str, float] = {}
        self.imputations_: list[Imputation] = []
        for col in self.columns:
            series = frame[col.name]
            if col.kind == "gaussian":
                values = pd.to_numeric(series, errors="coerce")
                fill = float(values.median()) if values.notna().any() else 0.0
                filled = values.fillna(fill)
                std = float(filled.std(ddof=0))
                self.mean_[col.name] = float(filled.mean())
                self.std_[col.name] = std if std > 1e-12 else 1.0
            else:
                mode = series.mode(dropna=True)
                fill = mode.iloc[0] if len(mode) else col.categories[0]
            self.fill_[col.name] = fill
            n_missing = int(series.isna().sum())
            if n_missing:
                self.imputations_.append(Imputation(col.name, fill, n_missing))
        return self

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise TabaugError(f"table lacks column(s) {missing} of the schema")

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Model-space float32 matrix, one column per schema column."""
        self._check_columns(frame)
        out = np.empty((len(frame), len(self.columns)), dtype=np.float32)
        for j, col in enumerate(self.columns):
            series = frame[col.name]
            if col.kind == "gaussian":
                values = pd.to_numeric(series, errors="coerce").fillna(self.fill_[col.name]).to_numpy(float)
                out[:, j] = (values - self.mean_[col.name]) / self.std_[col.name]
            else:
                codes = pd.Categorical(series.fillna(self.fill_[col.name]), categories=list(col.categories)).codes
                if (codes < 0).any():
                    bad = series[codes < 0].iloc[0]
                    raise TabaugError(f"column {col.name!r}: value {bad!r} is not among its categories")
                out[:, j] = codes
        return out

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.fit(frame).transform(frame)

    def inverse_transform(self, matrix: np.ndarray) -> pd.DataFrame:
        """Back to a table with the original dtypes and labels (codes are rounded and clipped)."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.columns):
            raise ValueError(f"expected a matrix with {len(self.columns)} columns, got shape {matrix.shape}")
        data = {}
        for j, col in enumerate(self.columns):
            values = matrix[:, j]
            if col.kind == "gaussian":
                values = values * self.std_[col.name] + self.mean_[col.name]
                if col.dtype.startswith(("int", "uint", "Int", "UInt")):
                    data[col.name] = pd.Series(np.round(values)).astype(col.dtype)
                else:
                    data[col.name] = pd.Series(values).astype(col.dtype if col.dtype.startswith("float") else float)
            else:
                codes = np.clip(np.round(values), 0, col.n_categories - 1).astype(int)
                labels = np.asarray(col.categories, dtype=object)[codes]
                series = pd.Series(labels)
                data[col.name] = series.astype(col.dtype) if col.dtype not in ("object", "str", "string") else series
        return pd.DataFrame(data)
