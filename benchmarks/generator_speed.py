"""Fit + 10,000-row sample time of every generator at N = 300 (Adult, fold 0, run 0).

Prints ONE JSON line per generator: fit and sample wall / CPU seconds, threads, load averages.
Settings are each generator's defaults (the [vae] / [ctgan] sections' defaults, the library
defaults of TVAE, the copula and ARF), the VAE-BGM with its 10 seeds: what a config that names the
generator without parameters runs.

    python benchmarks/generator_speed.py [--rows 300] [--n-sample 10000] [--threads 1]
        [--models vae_bgm,ctgan,tvae,gaussian_copula,arf,independent,bootstrap]
        [--params '{"ctgan": {"epochs": 100}}']

Data: adult from $TABAUG_DATA_DIR or ../shared/datasets beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tabaug_ray.config import parse_config  # noqa: E402
from tabaug_ray.pipelines.base import RunContext  # noqa: E402
from tabaug_ray.pipelines.evaluation import unit_data  # noqa: E402
from tabaug_ray.pipelines.inductive_bias import model_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--n-sample", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="vae_bgm,ctgan,tvae,gaussian_copula,arf,independent,bootstrap")
    parser.add_argument("--params", default="{}", help="JSON: model -> constructor arguments on top")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data_dir = os.environ.get("TABAUG_DATA_DIR") or str(REPO.parent / "shared" / "datasets")
    extra = json.loads(args.params)
    config = parse_config({"experiment": {"name": "speed"}, "datasets": [{"name": "adult"}],
                           "inductive_bias": {"model_params": {k: v for k, v in extra.items()
                                                               if k not in ("vae_bgm", "ctgan")}},
                           "vae": extra.get("vae_bgm", {}), "ctgan": extra.get("ctgan", {})})
    ctx = RunContext(config=config, data_dir=data_dir)
    data = unit_data(ctx.data("adult"), config, fold=0, run=0, n=args.rows)
    for name in args.models.split(","):
        spec = model_spec(config, name)
        generator = spec.build(threads=args.threads, latent_dim=spec.latent_dim(config, "adult"))
        wall, cpu = time.perf_counter(), time.process_time()
        generator.fit(data.train, schema=data.transform, seed=0)
        fit = (time.perf_counter() - wall, time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        rows = generator.sample(args.n_sample, seed=1)
        sample = (time.perf_counter() - wall, time.process_time() - cpu)
        print(json.dumps({"benchmark": "generator_speed", "model": name, "rows": args.rows,
                          "n_sample": len(rows), "fit_seconds": round(fit[0], 3), "fit_cpu_seconds": round(fit[1], 3),
                          "sample_seconds": round(sample[0], 3), "sample_cpu_seconds": round(sample[1], 3),
                          "threads": args.threads, "loadavg": [round(x, 2) for x in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    main()
