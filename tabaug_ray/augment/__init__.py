"""Regression augmenters: teacher-labelled noise (MLDA), plain noise, C-Mixup, ADA, FAST-DAD
distillation rows (MUNGE / SPUNGE), validation-gated MLDA, none.

Each augmenter: `fit(X, y, *, categorical=())` on the real training rows, then
`augment(n, *, seed) -> (X_new, y_new)` with ONLY the n synthetic rows. `resolve_volume` turns a
volume setting ("2x", 500, 0.5) into a row count.
"""

from __future__ import annotations

from typing import Any

from tabaug_ray.augment.ada import ADAAugmenter, ada_gammas
from tabaug_ray.augment.base import Augmenter, NoAugmenter, resolve_volume
from tabaug_ray.augment.cmixup import CMixupAugmenter
from tabaug_ray.augment.distill import DistillAugmenter
from tabaug_ray.augment.gated import GatedMLDAAugmenter
from tabaug_ray.augment.mlda import FeatureSampler, GaussianNoiseSampler, MLDAAugmenter, NoiseAugmenter
from tabaug_ray import plugins as _plugins
from tabaug_ray.errors import TabaugError

AUGMENTERS: dict[str, type] = {
    "mlda": MLDAAugmenter,
    "noise": NoiseAugmenter,
    "cmixup": CMixupAugmenter,
    "ada": ADAAugmenter,
    "none": NoAugmenter,
    "distill_spunge": DistillAugmenter,
    "distill_munge": DistillAugmenter,
    "mlda_gated": GatedMLDAAugmenter,
}
NEEDS_TEACHER = ("mlda", "distill_spunge", "distill_munge", "mlda_gated")


def make_augmenter(name: str, **params: Any) -> Augmenter:
    """An augmenter by name ("mlda" needs `teacher=` a fitted teacher); params go to its constructor."""
    if name not in AUGMENTERS and _plugins.is_plugin("augmenter", name):  # a user's class (tabaug_ray.plugins)
        return _plugins.build("augmenter", name, **params)
    if name not in AUGMENTERS:
        raise TabaugError(f"unknown augmenter {name!r}; expected one of {sorted(AUGMENTERS)}")
    if name in NEEDS_TEACHER and "teacher" not in params:
        raise TabaugError(f"augmenter {name!r} needs teacher=<a fitted teacher>")
    if name.startswith("distill_"):
        params = {"method": name.removeprefix("distill_"), **params}
    try:
        return AUGMENTERS[name](**params)
    except TypeError as exc:
        raise TabaugError(f"augmenter {name!r}: bad parameters {sorted(params)} ({exc})") from exc


__all__ = [
    "AUGMENTERS", "ADAAugmenter", "Augmenter", "CMixupAugmenter", "DistillAugmenter", "FeatureSampler",
    "GatedMLDAAugmenter", "GaussianNoiseSampler",
    "MLDAAugmenter", "NoAugmenter", "NoiseAugmenter", "ada_gammas", "make_augmenter", "resolve_volume",
]
