"""Report: aggregation (mean (std), gains), statistics, plots and rendering of a results directory.

Public API (imported lazily so that `tabaug` starts fast):
    REGISTRY, METRIC_DIRECTION, metric_direction, cell_stats, STATS_CAPTION                (metrics)
    load, summary_table, gains_table, paired_values                                         (aggregate)
    method_gains, verdict_rows, leaderboard                                                 (verdict)
    wilcoxon_vs_baseline, friedman_nemenyi, FriedmanResult                                (stats)
    build_report, Report                                                                    (build)
    render_markdown, render_latex, render_html, render_csv                                  (render)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load": "aggregate", "summary_table": "aggregate", "gains_table": "aggregate",
    "paired_values": "aggregate", "METRIC_DIRECTION": "metrics", "metric_direction": "metrics",
    "REGISTRY": "metrics", "cell_stats": "metrics", "STATS_CAPTION": "metrics",
    "method_gains": "verdict", "verdict_rows": "verdict", "leaderboard": "verdict",
    "default_baseline": "aggregate", "default_metric": "aggregate",
    "wilcoxon_vs_baseline": "stats", "friedman_nemenyi": "stats", "FriedmanResult": "stats",
    "build_report": "build", "Report": "build",
    "render_markdown": "render", "render_latex": "render", "render_html": "render", "render_csv": "render",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
