"""Evaluation of synthetic data: classifier-based KL / JS divergences, C2ST AUC, marginals and utility.

Public API (imported lazily so that `tabaug` starts fast):

- `DivergenceEstimator(*, m, l, repeats, ...)`, `.estimate(real, synthetic) -> DivergenceResult`,
  `.estimate_many(pairs)`, `DivergenceEstimator.from_preset("reliable" | "realistic")`, `PRESETS`;
- `utility_scores(train_x, train_y, test_x, test_y, *, task, seed)`, `utility_report(...)`, `infer_task`;
- `marginal_distances(real_df, synthetic_df)`, `marginal_distances_model_space(real, syn, columns)`;
- `encode_pair(real_df, synthetic_df) -> EncodedPair`, `one_hot_model_space(x, columns)`,
  `discriminator_inputs(x, columns, categorical="one_hot" | "codes")`;
- `evaluation_records(...)`, `divergence_records(result)`, `metric_records(...)`: long-format rows.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DivergenceEstimator": "divergence",
    "DivergenceResult": "divergence",
    "PRESETS": "divergence",
    "BatchedMLP": "batched_mlp",
    "fit_early_stopping": "batched_mlp",
    "utility_scores": "utility",
    "utility_report": "utility",
    "infer_task": "utility",
    "marginal_distances": "marginals",
    "marginal_distances_model_space": "marginals",
    "MarginalReport": "marginals",
    "encode_pair": "encode",
    "EncodedPair": "encode",
    "column_types": "encode",
    "one_hot_model_space": "encode",
    "discriminator_inputs": "encode",
    "evaluation_records": "records",
    "divergence_records": "records",
    "metric_records": "records",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
