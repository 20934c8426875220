"""`tabaug evaluate REAL SYNTHETIC`: divergences, C2ST AUC, marginals and utility of any two tables."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from tabaug_ray.config import JudgeSection, validate
from tabaug_ray.errors import TabaugError
from tabaug_ray.evaluate.judges import JUDGES

DESCRIPTION = """\
Compare a real and a synthetic table (CSV, CSV.GZ or Parquet; same columns): classifier-based
KL(real || synthetic) in nats and JS in bits (mean and std over repeats), the discriminator's
ROC-AUC (C2ST), per-column KS / TV distances, the pairwise-correlation difference and, with
--target, the utility of a model trained on synthetic rows and tested on real held-out rows next to
the same model trained on real rows. Needs M + 2L rows per side (preset reliable: 7,500 + 2·1,000).
With --train (the generator's training rows), also privacy: distances to the closest training row
against as many REAL rows (REAL must be rows the generator never saw), membership inference and
anonymeter's singling-out, linkability and inference risks.
"""
MIN_TRAIN_ROWS = 10  # fewer training rows leave the percentiles and the attacks' intervals meaningless


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="divergences, C2ST and utility of a synthetic table",
                              description=DESCRIPTION)
    p.add_argument("real", type=Path, help="real table (.csv, .csv.gz, .parquet)")
    p.add_argument("synthetic", type=Path, help="synthetic table with the same columns")
    p.add_argument("--target", help="target column: also report utility (train on synthetic, test on real)")
    p.add_argument("--task", choices=("auto", "binary", "multiclass", "regression"), default="auto",
                   help="utility task (default: inferred from the real target)")
    p.add_argument("--preset", choices=("reliable", "realistic"), default="reliable",
                   help="evaluation sizes: reliable M=7500 L=1000 (default), realistic M=L=100")
    p.add_argument("--m", type=int, help="training rows per side for the discriminator (overrides the preset)")
    p.add_argument("--l", type=int, help="estimation rows per side; L more validate (overrides the preset)")
    p.add_argument("--repeats", type=int, default=5, help="seeded repeats (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--categorical", default="", help="comma-separated numeric columns to treat as categorical")
    p.add_argument("--test-fraction", type=float, default=0.3,
                   help="share of real rows held out to test utility models (default 0.3)")
    p.add_argument("--threads", type=int, help="torch threads (default: the CPUs available)")
    p.add_argument("--judge", choices=sorted(JUDGES), default="default",
                   help="named divergence judge: default (calibrated on known densities), reference (the "
                        "reference code's full-batch MLP, slow), fast (the default before 0.3.0)")
    p.add_argument("--judge-lr", type=float, help="override the judge's Adam learning rate")
    p.add_argument("--judge-patience-steps", type=int,
                   help="override the optimiser steps (epochs for the full-batch reference judge) without a "
                        "better validation BCE before it stops")
    p.add_argument("--judge-max-epochs", type=int, help="override the judge's upper bound on epochs")
    p.add_argument("--train", type=Path, help="the generator's training rows (same columns): also report privacy")
    p.add_argument("--records", type=Path, help="also write the long results table here (.csv or .parquet)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    # idle OpenMP threads must not spin on a shared machine (see NOTES: thread contention);
    # effective only if torch is not imported yet
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np

    from tabaug_ray.evaluate.batched_mlp import reduce_page_faults

    reduce_page_faults()  # a CLI process is ours to tune: ~20 % less CPU per epoch

    from tabaug_ray.evaluate.divergence import PRESETS, DivergenceEstimator
    from tabaug_ray.evaluate.encode import column_types, encode_pair
    from tabaug_ray.evaluate.judges import describe, estimator_kwargs
    from tabaug_ray.evaluate.marginals import marginal_distances
    from tabaug_ray.evaluate.records import evaluation_records
    from tabaug_ray.evaluate.utility import infer_task, utility_report

    m, l = PRESETS[args.preset]
    m = args.m if args.m is not None else m
    l = args.l if args.l is not None else l
    if m < 1 or l < 1 or args.repeats < 1:
        raise TabaugError(f"--m, --l and --repeats must be >= 1, got m={m}, l={l}, repeats={args.repeats}")
    if args.threads is not None and args.threads < 1:
        raise TabaugError(f"--threads must be >= 1, got {args.threads}")
    judge = validate(JudgeSection, {"name": args.judge, "lr": args.judge_lr, "patience_steps": args.judge_patience_steps,
                                    "max_epochs": args.judge_max_epochs}, source="--judge-*")
    real = read_table(args.real)
    syn = read_table(args.synthetic)
    names = (f"REAL {args.real.name}", f"SYNTHETIC {args.synthetic.name}")
    categorical = [c.strip() for c in args.categorical.split(",") if c.strip()]
    unknown = [c for c in categorical if c not in real.columns]
    if unknown:
        raise TabaugError(f"--categorical names columns not in {names[0]}: {unknown}")
    types = column_types(real, syn, categorical=categorical, names=names)
    need = m + 2 * l
    for name, table in zip(names, (real, syn)):
        if len(table) < need:
            raise TabaugError(
                f"{name} has {len(table)} rows but M + 2L = {m} + 2·{l} = {need} are needed; "
                + ("use --preset realistic or smaller --m/--l" if args.preset != "realistic" and len(table) >= sum(
                    (PRESETS["realistic"][0], 2 * PRESETS["realistic"][1])) else "use smaller --m/--l")
            )
    if args.target is not None and args.target not in real.columns:
        raise TabaugError(f"--target {args.target!r} is not a column of {names[0]}")
    train_rows = None
    if args.train is not None:
        train_rows = read_table(args.train)
        train_types = column_types(real, train_rows, categorical=categorical,
                                   names=(names[0], f"--train {args.train.name}"))
        if len(train_rows) < MIN_TRAIN_ROWS:
            raise TabaugError(f"--train {args.train}: {len(train_rows)} rows, privacy needs at least {MIN_TRAIN_ROWS}")
        types = {c: "categorical" if "categorical" in (types[c], train_types[c]) else "numeric" for c in types}

    encoded = encode_pair(real, syn, categorical=categorical, names=names)
    estimator = DivergenceEstimator(m=m, l=l, repeats=args.repeats, seed=args.seed, n_threads=args.threads,
                                    **estimator_kwargs(judge.settings(), m=m))
    div = estimator.estimate(encoded.real, encoded.synthetic)
    marg = marginal_distances(real, syn, categorical=categorical)

    utility = None
    task = None
    if args.target is not None:
        task = infer_task(real[args.target].to_numpy()) if args.task == "auto" else args.task
        if task == "regression" and types[args.target] != "numeric":
            raise TabaugError(f"--target {args.target!r} is not numeric, so it cannot be a regression target")
        if not 0 < args.test_fraction < 1:
            raise TabaugError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
        feats = [c for c in real.columns if c != args.target]
        if not feats:
            raise TabaugError(f"no feature columns besides --target {args.target!r}")
        fx = encode_pair(real[feats], syn[feats], categorical=[c for c in categorical if c != args.target], names=names)
        y_real, y_syn = _target(real[args.target], task), _target(syn[args.target], task)
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, 7]))
        perm = rng.permutation(len(real))
        n_test = max(1, int(round(args.test_fraction * len(real))))
        test, train = perm[:n_test], perm[n_test:]
        utility = utility_report(
            synthetic_x=fx.synthetic, synthetic_y=y_syn, real_train_x=fx.real[train], real_train_y=y_real[train],
            test_x=fx.real[test], test_y=y_real[test], task=task, seed=args.seed, n_threads=args.threads,
        )
    privacy = None
    if train_rows is not None:
        from tabaug_ray.evaluate.privacy import tables_privacy

        privacy = tables_privacy(train=train_rows, real=real, synthetic=syn, types=types, seed=args.seed,
                                 secret=args.target if args.target is not None else list(real.columns)[-1],
                                 n_jobs=args.threads or 1)
    records = evaluation_records(
        m=m, l=l, divergence=div, marginals=marg,
        utility=utility["synthetic"] if utility else None, utility_real=utility["real"] if utility else None,
    )
    if privacy is not None:
        records += [{"metric": k, "value": v, "m": None, "l": None, "repeat": None} for k, v in privacy.items()]
    if args.records is not None:
        write_records(records, args.records)

    out = {
        **div.to_dict(),
        "seed": args.seed,
        "real": str(args.real), "synthetic": str(args.synthetic),
        "rows_real": len(real), "rows_synthetic": len(syn),
        "columns": len(real.columns), "encoded_features": len(encoded.feature_names),
        "marginals": marg.to_dict(),
        "judge": judge.name, "judge_description": describe(judge.settings(), judge.name),
    }
    if utility is not None:
        out["utility"] = {"target": args.target, "task": task, **utility}
    if privacy is not None:
        out["privacy"] = {"train": str(args.train), "rows_train": len(train_rows), **privacy}
    if args.json:
        print(json.dumps(_jsonable(out)))
    else:
        print(_human(out))
    for warning in div.warnings():
        print(warning, file=sys.stderr)
    return 0


def read_table(path: Path):
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame; TabaugError if impossible."""
    import pandas as pd

    if not path.is_file():
        raise TabaugError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if suffixes and suffixes[-1] in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas / pyarrow raise many types for unreadable files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TabaugError(f"cannot read {path}: {first}") from None
    if df.shape[1] == 0 or len(df) == 0:
        raise TabaugError(f"{path}: no rows or no columns")
    df.columns = [str(c) for c in df.columns]
    return df


def write_records(records: list[dict], path: Path) -> None:
    """Write the long results table as CSV or Parquet (by suffix)."""
    import pandas as pd

    df = pd.DataFrame.from_records(records)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
    except OSError as exc:
        raise TabaugError(f"cannot write {path}: {exc.strerror or exc}") from None


def _target(col, task: str):
    import numpy as np

    from tabaug_ray.evaluate.encode import category_labels, numeric_values

    if task == "regression":
        y = numeric_values(col)
        if not np.all(np.isfinite(y)):
            raise TabaugError(f"regression target {col.name!r} has {int((~np.isfinite(y)).sum())} missing values")
        return y
    return category_labels(col).to_numpy().astype(str)


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _fmt_g(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.5g}"


def _human(o: dict) -> str:
    from tabaug_ray.report.metrics import NEGATIVE_NOTE

    mg = o["marginals"]
    lines = [
        f"real      {o['real']}  ({o['rows_real']} rows)",
        f"synthetic {o['synthetic']}  ({o['rows_synthetic']} rows)",
        f"columns   {o['columns']} → {o['encoded_features']} encoded features",
        "",
        f"divergence  M={o['m']} L={o['l']}, {o['repeats']} repeats, seed {o['seed']}, {o['seconds']:.1f} s",
        f"  {o['judge_description']}",
        f"  KL(real || synthetic)  {_fmt(o['kl'])} ({_fmt(o['kl_std'])}) nats",
        f"  JS                     {_fmt(o['js'])} ({_fmt(o['js_std'])}) bits",
        *([f"  note: {NEGATIVE_NOTE}"] if min(o["kl"], o["js"]) < 0 else []),
        f"  C2ST ROC-AUC           {_fmt(o['auc'])} ({_fmt(o['auc_std'])})   0.5 = indistinguishable",
        "",
        "marginals",
        f"  KS mean / max          {_fmt(mg['ks_mean'])} / {_fmt(mg['ks_max'])}   ({len(mg['ks'])} numeric columns)",
        f"  TV mean / max          {_fmt(mg['tv_mean'])} / {_fmt(mg['tv_max'])}   ({len(mg['tv'])} categorical columns)",
        f"  correlation difference {_fmt(mg['corr_diff'])}",
    ]
    if "utility" in o:
        u = o["utility"]
        lines += ["", f"utility  target {u['target']!r} ({u['task']}), tested on real held-out rows"]
        for name in u["synthetic"]:
            lines.append(f"  {name:<10} train on synthetic {_fmt_g(u['synthetic'][name])}   "
                         f"train on real {_fmt_g(u['real'][name])}")
    if "privacy" in o:
        from tabaug_ray.evaluate.privacy import human_lines

        lines += ["", *human_lines(o["privacy"])]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    from tabaug_ray.cli import main

    sys.exit(main(["evaluate", *sys.argv[1:]]))
