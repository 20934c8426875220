"""Named divergence judges: the settings of `DivergenceEstimator`'s discriminator, in one place.

`[evaluation] judge = "default"` (or `"reference"`, `"fast"`), `tabaug evaluate --judge NAME` and
the calibration benchmark all read this table; explicit settings (`judge = { name = "fast",
patience_steps = 3000 }`) override the named ones.

- `default`: chosen on the known-density suite (`benchmarks/judge_calibration.py`; README table).
- `reference`: the reference code's judge: full-batch Adam at 1e-3, up to 10,000 epochs, stopping
  1,000 epochs after the lowest validation BCE, dropout 0.5, one split shared by the repeats.
- `kl_objective`: the default judge, then a short NWJ fine-tuning of the same network (below) whose
  logits give the KL reading; JS still comes from the BCE-trained, Platt-calibrated logits.
  Opt-in: on the known-density suite it fixes the heavy-tailed KL case but not the banana warp, and
  costs about 30 s more CPU per reliable estimate (docs/METHODS.md).
- `fast`: the default judge before CODE_VERSION 0.3.0 (Adam 3e-3 on 512-row batches, stopping about
  100 steps after the lowest validation BCE, dropout 0.5): every stored result up to 0.2.0 was read by it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from tabaug_ray.version import version_tuple

JUDGES: dict[str, dict[str, Any]] = {
    "default": {"lr": 1e-3, "batch_size": 512, "max_epochs": 1_000, "patience_steps": 600, "dropout": 0.1,
                "calibrate": True, "full_batch": False, "resplit": True, "max_patience_epochs": 200},
    "kl_objective": {"lr": 1e-3, "batch_size": 512, "max_epochs": 1_000, "patience_steps": 600, "dropout": 0.1,
                     "calibrate": True, "full_batch": False, "resplit": True, "max_patience_epochs": 200,
                     "kl_epochs": 60, "kl_lr": 1e-3, "kl_patience_steps": 1_500},
    "fast": {"lr": 3e-3, "batch_size": 512, "max_epochs": 1_000, "patience_steps": 100, "dropout": 0.5,
             "calibrate": False, "full_batch": False, "resplit": True},
    "reference": {"lr": 1e-3, "batch_size": 512, "max_epochs": 10_000, "patience_steps": 1_000, "dropout": 0.5,
                  "calibrate": False, "full_batch": True, "resplit": False},
}
"""Named judges. `full_batch`: one optimiser step per epoch over all 2M rows, and `patience_steps`
counts epochs (the reference's patience of 1,000 epochs). `kl_epochs` > 0: after the BCE training,
fine-tune the network for at most `kl_epochs` epochs on the NWJ objective (Adam `kl_lr`, early
stopping on the validation NWJ after `kl_patience_steps` steps without improvement) and read KL from
it; absent = 0 (off). `max_patience_epochs`: the patience derived from `patience_steps` is at most this
many epochs (absent = no cap); it binds only where an epoch has few batches (the `realistic` preset's
200 rows are one batch: 200 instead of 600 epochs; the `reliable` preset's 30 batches give 20)."""

OPTIONAL_DEFAULTS: dict[str, Any] = {  # settings a named judge may leave out
    "kl_epochs": 0, "kl_lr": 1e-3, "kl_patience_steps": 1_500, "max_patience_epochs": None}

SETTINGS = ("lr", "batch_size", "max_epochs", "patience_steps", "dropout", "calibrate", "full_batch", "resplit",
            "kl_epochs", "kl_lr", "kl_patience_steps", "max_patience_epochs")


CHANGES: tuple[tuple[str, tuple[str, ...], str, Any], ...] = (
    # (CODE_VERSION that changed it, judges, setting, its value before): results keep the judge they ran with
    ("0.5.0", ("default", "kl_objective"), "max_patience_epochs", None),
)


def judge_settings(name: str = "default", overrides: Mapping[str, Any] | None = None, *,
                   code_version: str | None = None) -> dict[str, Any]:
    """The settings of judge `name` with `overrides` (None values ignored) applied; with
    `code_version`, the named judge's settings as that CODE_VERSION ran them (`CHANGES`).

    An explicit `patience_steps` is taken as asked: the named judge's `max_patience_epochs` cap is
    dropped with it (unless the overrides set a cap too), so a long-patience judge stays long on
    one-batch epochs."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; expected one of {sorted(JUDGES)}")
    out = {**OPTIONAL_DEFAULTS, **JUDGES[name]}
    ran = version_tuple(code_version) if code_version is not None else None
    for since, names, key, before in CHANGES:
        if ran is not None and name in names and ran < version_tuple(since):
            out[key] = before
    for key in overrides or {}:
        if key not in SETTINGS:
            raise ValueError(f"unknown judge setting {key!r}; expected one of {list(SETTINGS)}")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    out.update(given)
    if "patience_steps" in given and "max_patience_epochs" not in given:
        out["max_patience_epochs"] = None
    return out


def estimator_kwargs(settings: Mapping[str, Any], *, m: int) -> dict[str, Any]:
    """`DivergenceEstimator` keyword arguments for judge `settings` at M training rows per side."""
    kw = {k: settings[k] for k in ("lr", "max_epochs", "dropout", "calibrate", "resplit")}
    kw.update({k: settings.get(k, v) for k, v in OPTIONAL_DEFAULTS.items()})
    if settings["full_batch"]:
        kw.update(batch_size=2 * m, patience=int(settings["patience_steps"]))
    else:
        kw.update(batch_size=int(settings["batch_size"]), patience_steps=int(settings["patience_steps"]))
    return kw


def describe(settings: Mapping[str, Any], name: str) -> str:
    """One phrase naming the judge and how it trains (report and `tabaug evaluate`)."""
    batch = "full-batch" if settings["full_batch"] else f"on {settings['batch_size']}-row batches"
    cap = settings.get("max_patience_epochs")
    patience = (f"{settings['patience_steps']} epochs" if settings["full_batch"]
                else f"{settings['patience_steps']} steps" + (f" (at most {cap} epochs)" if cap else ""))
    calibrated = ", logits Platt-calibrated on the validation rows" if settings["calibrate"] else ""
    kl = (f", KL read after at most {settings['kl_epochs']} epochs of NWJ fine-tuning"
          if settings.get("kl_epochs", 0) > 0 else "")
    return (f"'{name}' judge: MLP with dropout {settings['dropout']:g}, Adam lr {settings['lr']:g} {batch}, at most "
            f"{settings['max_epochs']} epochs, stopping {patience} after its lowest validation BCE{calibrated}{kl}")


# ------------------------------------------------------------------------------------ self-diagnosis
DISAGREE_Z = 3.0
"""Repeats disagree when their spread exceeds DISAGREE_Z times what their own standard errors allow."""


def still_improving(best_epoch: int, stop_epoch: int, max_epochs: int, patience: int) -> bool:
    """True when a discriminator stopped at `max_epochs` with its validation BCE still falling
    (its best epoch lies within the last `patience` epochs), i.e. it was cut off, not early-stopped."""
    return stop_epoch >= max_epochs and stop_epoch - best_epoch < patience


def repeats_disagree(values: np.ndarray, standard_errors: np.ndarray) -> bool:
    """True when R >= 2 repeat estimates spread more than their standard errors explain.

    Each repeat's estimate has a standard error from its own L + L estimation rows; training on
    different rows adds more spread, so the test is loose: the repeats' std must exceed
    `DISAGREE_Z` times the root-mean-square standard error (on the 12 calibration cases the ratio
    lies between 0.4 and 1.9 for the fast judge).
    """
    values, se = np.asarray(values, dtype=float), np.asarray(standard_errors, dtype=float)
    if len(values) < 2 or not np.all(np.isfinite(values)) or not np.all(np.isfinite(se)):
        return False
    rms = math.sqrt(float(np.mean(se**2)))
    return float(np.std(values, ddof=1)) > DISAGREE_Z * max(rms, 1e-4)
