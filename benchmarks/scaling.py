"""Throughput of many identical small CPU-bound units through the real executor and result store,
on 1 and then 2 CPUs, and the per-unit overhead (scheduling + storage).

Prints one JSON line: {"units", "work_seconds", "seconds_1cpu", "seconds_2cpu", "efficiency",
"overhead_seconds"}. efficiency = t(1 CPU) / (2 * t(2 CPUs)); overhead = (t(1 CPU) - units *
work) / units, where `work` is one unit's CPU time measured in-process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np


class BurnPipeline:
    """N identical units, each a fixed amount of single-threaded numpy work."""

    def __init__(self, units: int, size: int, loops: int) -> None:
        self.units, self.size, self.loops = units, size, loops

    def plan(self, ctx):
        from tabaug_ray.pipelines.base import Unit

        return [Unit(key=f"burn{i:04d}", kind="burn", dataset="none", fold=0, run=i) for i in range(self.units)]

    def work(self) -> float:
        a = np.random.default_rng(0).standard_normal((self.size, self.size))
        for _ in range(self.loops):
            a = np.tanh(a @ a.T / self.size)
        return float(a.sum())

    def run(self, unit, ctx, deps):
        from tabaug_ray.pipelines.base import Timer, UnitResult, make_record

        with Timer() as timer:
            value = self.work()
        return UnitResult(records=[make_record(ctx.config, unit, scenario="burn", model="numpy", metric="checksum",
                                               value=value, seed=0, seconds=timer.seconds)])


def timed_run(cpus: int, pipeline: BurnPipeline) -> float:
    """One run in a fresh process (this script, so workers unpickle BurnPipeline from __main__) so that
    each Ray has exactly `cpus` CPUs."""
    args = [sys.executable, __file__, "--child-cpus", str(cpus), "--units", str(pipeline.units),
            "--size", str(pipeline.size), "--loops", str(pipeline.loops)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_once(cpus: int, pipeline: BurnPipeline) -> float:
    import ray

    from tabaug_ray.config import parse_config
    from tabaug_ray.distributed.executor import Executor
    from tabaug_ray.pipelines.base import RunContext

    config = parse_config({"experiment": {"name": "scaling"}, "datasets": [{"name": "iris"}]})
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}})
    # warm the worker pool so that start-up is not counted as per-unit overhead
    ray.get([ray.remote(lambda: 0).options(num_cpus=1).remote() for _ in range(cpus)])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = Executor(ctx=RunContext(config=config), out=out, config_text="", progress=False,
                           pipeline=pipeline).run()
        seconds = time.perf_counter() - start
    assert summary.finished == pipeline.units and summary.ok
    ray.shutdown()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--loops", type=int, default=1500)
    parser.add_argument("--child-cpus", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    pipeline = BurnPipeline(args.units, args.size, args.loops)
    if args.child_cpus:
        print(json.dumps(run_once(args.child_cpus, pipeline)))
        return
    from threadpoolctl import threadpool_limits

    reps = 5
    with threadpool_limits(limits=1):  # as inside a 1-CPU Ray task
        start = time.perf_counter()
        for _ in range(reps):
            pipeline.work()
        work = (time.perf_counter() - start) / reps
    t1 = timed_run(1, pipeline)
    t2 = timed_run(2, pipeline)
    print(json.dumps({"load_average_1min": round(os.getloadavg()[0], 2), "units": args.units, "work_seconds": round(work, 4), "seconds_1cpu": round(t1, 2),
                      "seconds_2cpu": round(t2, 2), "efficiency": round(t1 / (2 * t2), 3),
                      "overhead_seconds": round((t1 - args.units * work) / args.units, 4)}))


if __name__ == "__main__":
    main()
