"""Time of the inductive-bias pipeline on N Adult rows: Low data, the synthetic sets, each technique + fine-tuning.

Prints ONE JSON line: wall and CPU seconds per stage (low, synthetic sets, then per technique: init,
fine-tune, and the fine-tuned best seed's BGM + 10,000 samples), the technique infos (epochs,
meta-iterations), threads and load averages.

    python benchmarks/bias_speed.py [--threads 2] [--seeds 10] [--rows 300] [--n-synthetic 10000]
        [--techniques pretrain,avg,maml,drs] [--config experiments/paper_inductive_bias.toml]
        [--maml '{"n_query": 1000}'] [--vae '{"n_seeds": 5}']

The techniques' settings are the ``[bias]`` section of ``--config`` (default: the paper config);
``--maml`` (``maml_init`` options) and ``--vae`` (overrides of the ensembles trained on synthetic
rows: pretrain, DRS) are JSON applied on top. Data: adult.csv.gz from $TABAUG_DATA_DIR or ../shared/datasets beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble_speed import REPO, adult_model_space  # noqa: E402

from tabaug_ray.bias import TECHNIQUES, finetune, synthetic_sets  # noqa: E402
from tabaug_ray.config import load_config  # noqa: E402
from tabaug_ray.generators import VAEBGM  # noqa: E402


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def json(self) -> dict[str, float]:
        return {"wall": round(self.wall, 2), "cpu": round(self.cpu, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--n-synthetic", type=int, default=10_000)
    ap.add_argument("--techniques", default="pretrain,avg,maml,drs")
    ap.add_argument("--config", default=str(REPO / "experiments" / "paper_inductive_bias.toml"),
                    help="experiment TOML whose [bias] section sets the techniques")
    ap.add_argument("--maml", default="{}", help="maml_init options as JSON")
    ap.add_argument("--vae", default="{}", help="overrides for the ensembles on synthetic rows, as JSON")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X, cols = adult_model_space(args.rows, args.seed)
    out: dict = {"threads": args.threads, "seeds": args.seeds, "rows": args.rows, "n_synthetic": args.n_synthetic,
                 "loadavg_before": [round(v, 2) for v in os.getloadavg()]}
    with Clock() as c:
        low = VAEBGM(columns=cols, n_seeds=args.seeds, seed=args.seed, n_threads=args.threads).fit(X)
    out["low"] = {**c.json(), "epochs": low.epochs_.tolist()}
    fit_params = low.get_params()
    with Clock() as c:
        sets = synthetic_sets(low, args.n_synthetic, seed=args.seed)
    out["synthetic_sets"] = {**c.json(), "bgm_seconds": round(low.bgm_seconds_, 2)}
    total = out["low"]["wall"] + out["synthetic_sets"]["wall"]
    bias = load_config(args.config).bias
    options = {"maml": {**bias.maml.model_dump(), **json.loads(args.maml)}}
    synthetic_fit = {**bias.synthetic_fit, **json.loads(args.vae)}
    out["maml_options"], out["synthetic_fit"] = options["maml"], synthetic_fit
    for name in args.techniques.split(","):
        with Clock() as c_init:
            state, info = TECHNIQUES[name](low, synthetic=sets, seed=args.seed, vae_params=synthetic_fit,
                                           n_threads=args.threads, **options.get(name, {}))
        with Clock() as c_ft:
            tuned = finetune(state, X, vae_params=fit_params, seed=low.seed)
        with Clock() as c_sample:
            tuned.sample(args.n_synthetic, seed=args.seed)
        info.pop("query_losses", None)
        info = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in info.items()}
        out[name] = {"init": c_init.json(), "finetune": {**c_ft.json(), "epochs": tuned.epochs_.tolist()},
                     "sample": c_sample.json(), "info": info}
        total += c_init.wall + c_ft.wall + c_sample.wall
    out["total_wall"] = round(total, 1)
    out["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
