"""`tabaug datasets list | show`."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="list datasets or show one dataset's columns")
    sub = parser.add_subparsers(dest="datasets_command", required=True)
    lst = sub.add_parser("list", help="name, rows, features, task and source of every known dataset")
    lst.add_argument("--data-dir", default=None, help="folder with MANIFEST.tsv (default: $TABAUG_DATA_DIR)")
    lst.set_defaults(func=run_list)
    show = sub.add_parser("show", help="per column: inferred type, missing %%, distinct count")
    show.add_argument("name")
    show.add_argument("--data-dir", default=None, help="folder with MANIFEST.tsv (default: $TABAUG_DATA_DIR)")
    show.set_defaults(func=run_show)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def run_list(args: argparse.Namespace) -> int:
    from tabaug_ray.data.registry import list_datasets

    infos = list_datasets(data_dir=args.data_dir)
    print(_table(["name", "rows", "features", "task", "source"],
                 [[i.name, i.rows, i.features, i.task, i.source] for i in infos]))
    return 0


def run_show(args: argparse.Namespace) -> int:
    import warnings

    from tabaug_ray.data.registry import load_dataset
    from tabaug_ray.data.schema import infer_schema

    ds = load_dataset(args.name, data_dir=args.data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(ds.frame, target=ds.target, task=ds.task, categorical=ds.categorical,
                              overrides=ds.schema_overrides, source=ds.source)
    kinds = {c.name: c.kind for c in schema.columns}
    rows = []
    for name in ds.frame.columns:
        series = ds.frame[name]
        role = "target" if name == ds.target else ("declared categorical" if name in ds.categorical else "")
        kind = kinds.get(name, f"dropped: {schema.dropped.get(name, '')}")
        rows.append([name, str(series.dtype), kind, f"{100 * series.isna().mean():.2f}", series.nunique(), role])
    print(f"{ds.name}: {ds.n_rows} rows, {ds.n_features} features, target {ds.target!r} ({ds.task}), "
          f"source {ds.source}")
    declared = ", ".join(ds.categorical) or "none"
    print(f"declared categorical columns: {len(ds.categorical)} ({declared})")
    counts = {k: sum(1 for c in schema.columns if c.kind == k) for k in ("gaussian", "bernoulli", "categorical")}
    print("inferred: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f", {len(schema.dropped)} dropped")
    missing = [f"{c} ({int(ds.frame[c].isna().sum())})" for c in ds.frame.columns if ds.frame[c].isna().any()]
    print("missing values: " + (", ".join(missing) if missing else "none"))
    print()
    print(_table(["column", "dtype", "type", "missing %", "distinct", "role"], rows))
    return 0
