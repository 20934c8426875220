"""Calibrate the divergence judge on known densities: true KL / JS against the judge's estimate.

For every case of `benchmarks/calibration_cases.py` (10 families, 5 to 50 dimensions, JS 0 to 0.91
bits) draws M + 2L rows per side, judges them with the `reliable` preset (M = 7,500, L = 1,000) and
5 repeats, and prints ONE JSON line per case (truth from >= 200,000 Monte Carlo draws or a closed
form, estimate, error, pass / fail against the bounds, seconds) and a summary line. Mixed-type cases
are written to CSV with text categories and read back through `tabaug evaluate`'s reader and
encoder, as a user's files would be.

Bounds (issue: a divergence judge you can trust by default): |JS error| <= 0.03 bits; |KL error|
<= 20 % where true KL is in [0.2, 2] nats and <= 0.05 nats below 0.2 (no KL bound above 2 nats);
identical distributions |JS| < 0.02.

    python benchmarks/judge_calibration.py [--judge default|reference|fast] [--case NAME,...] [--threads 2]

Exit code 1 when a case fails its bounds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_cases import Case, all_cases, truth  # noqa: E402

JS_BOUND = 0.03
JS_IDENTICAL_BOUND = 0.02
KL_REL_BOUND = 0.20
KL_ABS_BOUND = 0.05


def draw(case: Case, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` rows per side in the judge's input space (tables go through CSV and `encode_pair`)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    p, q = case.sample_p(n, rng), case.sample_q(n, rng)
    if not case.table:
        return np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    from tabaug_ray.evaluate.command import read_table
    from tabaug_ray.evaluate.encode import encode_pair

    with tempfile.TemporaryDirectory() as tmp:
        paths = Path(tmp) / "real.csv", Path(tmp) / "synthetic.csv"
        p.to_csv(paths[0], index=False)
        q.to_csv(paths[1], index=False)
        real, syn = read_table(paths[0]), read_table(paths[1])
    enc = encode_pair(real, syn, categorical=[], names=("REAL real.csv", "SYNTHETIC synthetic.csv"))
    return enc.real, enc.synthetic


def bounds_ok(true_kl: float, kl: float, true_js: float, js: float) -> tuple[bool, bool]:
    """(JS within its bound, KL within its bound) for one case."""
    js_ok = abs(js - true_js) <= (JS_IDENTICAL_BOUND if true_js == 0 else JS_BOUND)
    if true_kl < 0.2:
        kl_ok = abs(kl - true_kl) <= KL_ABS_BOUND
    elif true_kl <= 2.0:
        kl_ok = abs(kl - true_kl) <= KL_REL_BOUND * true_kl
    else:
        kl_ok = True
    return js_ok, kl_ok


def judge_case(case: Case, *, judge: str, threads: int | None, seed: int = 0, repeats: int = 5) -> dict:
    from tabaug_ray.evaluate.divergence import PRESETS, DivergenceEstimator
    from tabaug_ray.evaluate.judges import estimator_kwargs, judge_settings

    m, l = PRESETS["reliable"]
    real, syn = draw(case, m + 2 * l, seed)
    true = truth(case)
    start, cpu = time.perf_counter(), time.process_time()
    est = DivergenceEstimator(m=m, l=l, repeats=repeats, seed=seed, n_threads=threads,
                              **estimator_kwargs(judge_settings(judge), m=m))
    r = est.estimate(real, syn)
    js_ok, kl_ok = bounds_ok(true["kl"], r.kl, true["js"], r.js)
    return {
        "case": case.name, "family": case.family, "d": case.d, "features": int(real.shape[1]), "judge": judge,
        "true_kl": round(true["kl"], 4), "kl": round(r.kl, 4), "kl_error": round(r.kl - true["kl"], 4),
        "kl_rel_error": round((r.kl - true["kl"]) / true["kl"], 3) if true["kl"] > 0 else None,
        "true_js": round(true["js"], 4), "js": round(r.js, 4), "js_error": round(r.js - true["js"], 4),
        "js_std": round(r.js_std, 4), "kl_std": round(r.kl_std, 4), "js_ok": js_ok, "kl_ok": kl_ok,
        "epochs": list(r.epochs_trained), "warnings": r.warnings(),
        # spread of the repeats over their own standard errors (the self-diagnosis flags > DISAGREE_Z)
        "js_spread_ratio": round(float(np.std(r.js_repeats, ddof=1) / np.sqrt(np.mean(np.square(r.js_se)))), 2),
        "seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--judge", default="default", help="named judge (tabaug_ray.evaluate.judges.JUDGES)")
    p.add_argument("--case", default="", help="comma-separated case names (default: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    names = [c for c in args.case.split(",") if c]
    cases = [c for c in all_cases() if not names or c.name in names]
    if names and len(cases) != len(names):
        p.error(f"unknown case in {names}; known: {[c.name for c in all_cases()]}")
    lines = []
    for case in cases:
        line = judge_case(case, judge=args.judge, threads=args.threads, seed=args.seed)
        lines.append(line)
        print(json.dumps(line), flush=True)
    failed = [x["case"] for x in lines if not (x["js_ok"] and x["kl_ok"])]
    print(json.dumps({
        "summary": True, "judge": args.judge, "cases": len(lines), "passed": len(lines) - len(failed),
        "failed": failed, "max_abs_js_error": max(abs(x["js_error"]) for x in lines),
        "max_kl_rel_error_in_0.2_2": max((abs(x["kl_rel_error"]) for x in lines if 0.2 <= x["true_kl"] <= 2), default=None),
        "seconds": round(sum(x["seconds"] for x in lines), 1),
        "load": [round(v, 2) for v in os.getloadavg()],
    }), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
