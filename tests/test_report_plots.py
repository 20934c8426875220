"""The headline gain plot (report/verdict_plots.py) on many datasets: one point per method, the
mean gain over datasets with a t interval over datasets (the path every 21-dataset MLDA report takes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tabaug_ray.report.verdict_plots import MAX_DATASETS_SHOWN, plot_gain_ci


def test_gain_plot_pools_many_datasets_into_a_mean_with_a_t_interval():
    rng = np.random.default_rng(0)
    n = MAX_DATASETS_SHOWN + 3
    rows = [{"metric": "rmse", "group": "", "model": "mlp", "dataset": f"d{i}", "method": method,
             "rel_gain": g, "rel_ci_low": g - 0.1, "rel_ci_high": g + 0.1, "gain": g, "ci_low": g - 1, "ci_high": g + 1}
            for method, shift in (("mlda", -0.2), ("noise", 0.05)) for i, g in enumerate(rng.normal(shift, 0.1, n))]
    gains = pd.DataFrame(rows)
    fig = plot_gain_ci(gains, "rmse", "none", relative=True)
    ax = fig.axes[0]
    bars = ax.containers[0]  # the errorbar container: one point per method
    x = bars.lines[0].get_xdata()
    methods = [t.get_text() for t in ax.get_yticklabels()]  # in the order of the points
    assert sorted(methods) == ["mlda", "noise"] and len(x) == 2
    for method, xi, seg in zip(methods, x, bars.lines[2][0].get_segments()):
        g = gains.loc[gains["method"] == method, "rel_gain"]
        half = stats.t.ppf(0.975, n - 1) * g.std() / np.sqrt(n)
        assert np.isclose(xi, 100 * g.mean())
        assert np.allclose(sorted(p[0] for p in seg), [100 * (g.mean() - half), 100 * (g.mean() + half)])
    assert ax.get_legend().get_texts()[0].get_text() == "mean over datasets"
