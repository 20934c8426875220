"""Wall time of the whole privacy block (`privacy_report`: distances, membership inference with its
bootstrap, anonymeter's three attacks) for 10,000 synthetic rows against 300 training rows and 300
holdout rows of Adult (15 columns, 9 of them categorical).

Target: <= 20 s wall on 2 cores. Prints ONE JSON line: seconds (wall) of a first call in this
process (`first_seconds`: includes loading anonymeter and numba's compiled kernels from their disk
cache, or compiling them when the cache is cold) and of a second call (`seconds`) with its CPU
time (`cpu_seconds`, all threads), the readings, the target and the load averages before and
after (the machine may be shared: wall time then exceeds CPU time several-fold).

    python benchmarks/privacy_speed.py [--threads 2] [--seed 0]

Data: adult.csv.gz from $TABAUG_DATA_DIR or ../shared/datasets beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
TARGET_SECONDS = 20.0


def main() -> None:
    from conftest import simple_model_space

    from tabaug_ray.evaluate.privacy import model_space_kinds, privacy_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("TABAUG_DATA_DIR") or REPO.parent / "shared" / "datasets")
    df = pd.read_csv(data_dir / "adult.csv.gz").sample(n=10_600, random_state=args.seed).reset_index(drop=True)
    x, cols = simple_model_space(df)
    train, holdout = x[:300], x[300:600]
    rng = np.random.default_rng(args.seed)
    synthetic = train[rng.integers(0, 300, 10_000)]  # copies: the attacks' slowest case (most queries succeed)
    synthetic[:5_000] = x[600:5_600]  # half of them unseen real rows
    kwargs = dict(train=train, holdout=holdout, synthetic=synthetic, names=[c.name for c in cols],
                  kinds=model_space_kinds(cols), secret="income", seed=args.seed, n_jobs=args.threads)
    load_before = os.getloadavg()
    start = time.perf_counter()
    privacy_report(**kwargs)
    first = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    report = privacy_report(**kwargs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({
        "benchmark": "privacy_speed", "synthetic_rows": 10_000, "train_rows": 300, "holdout_rows": 300,
        "threads": args.threads, "first_seconds": round(first, 2), "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "target_seconds": TARGET_SECONDS, "meets_target": seconds <= TARGET_SECONDS,
        "readings": {k: round(v, 4) for k, v in report.items()},
        "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
