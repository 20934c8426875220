"""The critical-difference diagram is the same PNG in every process (scikit-posthocs draws its
crossbars in set order, which follows PYTHONHASHSEED; `plots.plot_cd_diagram` patches around it)."""

import hashlib
import os
import subprocess
import sys

SCRIPT = r"""
import hashlib
import numpy as np, pandas as pd
from tabaug_ray.report.plots import figure_png, plot_cd_diagram
from tabaug_ray.report.stats import FriedmanResult

methods = ["none", "noise", "mlda", "cmixup", "ada", "mlda_val", "mlda_vae"]
ranks = pd.Series([2.1, 2.4, 3.0, 3.2, 4.1, 4.3, 5.0], index=methods)
p = np.ones((7, 7))
for i in range(7):
    for j in range(7):
        if abs(i - j) >= 3:
            p[i, j] = 0.001  # far apart in rank: significant; near: overlapping crossbars
res = FriedmanResult(metric="rmse", model="mlp")
res.mean_ranks, res.nemenyi = ranks, pd.DataFrame(p, index=methods, columns=methods)
res.cd, res.n_blocks, res.statistic, res.p_value = 1.1, 21, 30.0, 0.001
print(hashlib.sha256(figure_png(plot_cd_diagram(res))).hexdigest())
"""


def test_cd_diagram_png_does_not_depend_on_the_hash_seed():
    digests = set()
    for seed in ("1", "2", "3", "4"):
        env = dict(os.environ, PYTHONHASHSEED=seed, MPLBACKEND="Agg")
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests
