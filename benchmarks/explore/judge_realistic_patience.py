"""Exploration (issue 23 via 18): does the default judge need 600 epochs of patience at the realistic preset?

At M = L = 100 the 200 training rows are one batch, so `patience_steps = 600` waits 600 one-step epochs.
For every calibration case, 3 seeds, 5 repeats: the mean JS error against the truth and the seconds per
estimate, for the judge settings given as JSON (overrides of the default judge; `{}` = the default).
Numbers in docs/METHODS.md ("the realistic preset's patience").

    python benchmarks/explore/judge_realistic_patience.py '{"uncapped": {"max_patience_epochs": null}, "default": {}}' [CASE,...]
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, "benchmarks")
import numpy as np  # noqa: E402
from calibration_cases import all_cases, truth  # noqa: E402
from judge_calibration import draw  # noqa: E402

from tabaug_ray.evaluate.divergence import PRESETS, DivergenceEstimator  # noqa: E402
from tabaug_ray.evaluate.judges import estimator_kwargs, judge_settings  # noqa: E402

variants = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {"default": {}}
m, l = PRESETS["realistic"]
wanted = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
for case in all_cases():
    if wanted and case.name not in wanted:
        continue
    true = truth(case)
    for name, overrides in variants.items():
        settings = {**judge_settings("default"), **overrides}
        errors, seconds, stops = [], [], []
        for seed in (0, 1, 2):
            real, syn = draw(case, m + 2 * l, seed)
            est = DivergenceEstimator(m=m, l=l, repeats=5, seed=seed, n_threads=1, **estimator_kwargs(settings, m=m))
            start = time.perf_counter()
            r = est.estimate(real, syn)
            seconds.append(time.perf_counter() - start)
            errors.append(r.js - true["js"])
            stops.append(max(r.epochs_trained))
        print(json.dumps({"case": case.name, "variant": name, "true_js": round(true["js"], 3),
                          "js_error": round(float(np.mean(errors)), 3), "seconds": round(float(np.mean(seconds)), 1),
                          "last_epoch": stops}), flush=True)
