"""How much the divergence estimate depends on how long the discriminator trains.

Fits a VAE-BGM on one dataset x fold x run of an inductive-bias config (Big data: N = n_big, 3 seeds,
validation once per epoch; Low data: N = n_low, the config's seeds) and judges each one's 10,000
synthetic rows on the reliable preset with the default judge, the old default ("fast"), the fast judge
trained longer ("long": Adam 1e-3, patience 3,000 steps, at most 3,000 epochs) and, with --reference,
the reference judge (full batch, Adam 1e-3, patience 1,000 epochs, at most 10,000 epochs, one shared
split). Prints ONE JSON line per judge.

    python benchmarks/judge_strength.py [--config experiments/paper_inductive_bias_letter_codes.toml]
        [--dataset letter] [--scenarios big_data,low_data] [--fold 0] [--threads 2] [--reference]

Measured (Letter, codes, fold 0; results/README.md): Big data JS 0.136 fast, 0.285 long, 0.308
reference-like; Low data 0.677 / 0.740 / 0.730. About 5 minutes without --reference on 2 cores,
25 with it. Data: $TABAUG_DATA_DIR or ../shared/datasets beside the repository.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# the named judges (tabaug_ray.evaluate.judges.JUDGES) plus the "long" variant of the old fast judge
# that the long-judge results in results/ ran with
VARIANTS = {
    "default": ("default", {}),
    "fast": ("fast", {}),
    "long": ("fast", {"lr": 1e-3, "patience_steps": 3000, "max_epochs": 3000}),
    "reference": ("reference", {}),
}


def main() -> None:
    from tabaug_ray.config import load_config
    from tabaug_ray.evaluate import DivergenceEstimator, discriminator_inputs
    from tabaug_ray.evaluate.divergence import PRESETS
    from tabaug_ray.generators import VAEBGM
    from tabaug_ray.pipelines.base import RunContext
    from tabaug_ray.pipelines.evaluation import unit_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "experiments" / "paper_inductive_bias_letter_codes.toml"))
    p.add_argument("--dataset", default="letter")
    p.add_argument("--scenarios", default="big_data,low_data")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference", action="store_true", help="also the reference-like full-batch judge (slow)")
    args = p.parse_args()

    config = load_config(args.config)
    data_dir = os.environ.get("TABAUG_DATA_DIR") or str(REPO.parent / "shared" / "datasets")
    ctx = RunContext(config=config, data_dir=data_dir)
    entry = next(d for d in config.datasets if d.name == args.dataset)
    m, l = PRESETS["reliable"]
    from tabaug_ray.evaluate.judges import estimator_kwargs, judge_settings

    judges = [j for j in VARIANTS if j != "reference" or args.reference]
    for scenario in args.scenarios.split(","):
        big = scenario == "big_data"
        n = config.inductive_bias.n_big if big else config.inductive_bias.n_low
        data = unit_data(ctx.data(args.dataset), config, fold=args.fold, run=0, n=n)
        params = {**config.vae.model_dump(), "latent_dim": entry.latent_dim or config.vae.latent_dim}
        if big:
            params.update(n_seeds=3, val_every_batch=False)
        start = time.perf_counter()
        generator = VAEBGM(columns=data.schema.columns, seed=11, n_threads=args.threads, **params).fit(data.train)
        synthetic = generator.sample(config.inductive_bias.n_synthetic, seed=12)
        fit_seconds = time.perf_counter() - start
        inputs = config.evaluation.discriminator_inputs
        real = discriminator_inputs(data.eval_pool[: m + 2 * l], data.schema.columns, categorical=inputs)
        fake = discriminator_inputs(synthetic[: m + 2 * l], data.schema.columns, categorical=inputs)
        for judge in judges:
            start = time.perf_counter()
            name, overrides = VARIANTS[judge]
            kwargs = estimator_kwargs(judge_settings(name, overrides), m=m)
            repeats = 2 if judge == "reference" else 3
            r = DivergenceEstimator(m=m, l=l, seed=0, repeats=repeats, n_threads=args.threads,
                                    **kwargs).estimate(real, fake)
            print(json.dumps({
                "dataset": args.dataset, "scenario": scenario, "n": n, "inputs": inputs,
                "restore_best": config.vae.restore_best, "judge": judge, "js": round(r.js, 4),
                "js_std": round(r.js_std, 4), "kl": round(r.kl, 4), "auc": round(r.auc, 4),
                "best_epochs": list(r.epochs), "stopped": list(r.epochs_trained),
                "judge_seconds": round(time.perf_counter() - start, 1), "fit_seconds": round(fit_seconds, 1),
                "load": [round(x, 2) for x in os.getloadavg()],
            }), flush=True)


if __name__ == "__main__":
    main()
