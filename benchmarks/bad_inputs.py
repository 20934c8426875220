"""The bad-input sweep of issue 21: every bad input a new user gave, run through the real CLI.

Each case must end with exit code 2 and ONE error line on stderr (`tabaug: error: ...`, or
argparse's usage + error for a malformed flag), no traceback, no Ray started and no unit run; a
usable oddity must give its warning line. Prints one line per case and a final count:

    python benchmarks/bad_inputs.py        # 48 of 48 on this code; 31 of 48 on the code before issue 21
    # data: abalone.csv.gz from $TABAUG_DATA_DIR or ../shared/datasets
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

# TABAUG_REPO=/path/to/another/checkout runs the sweep against that code (e.g. to count before a fix)
REPO = Path(os.environ.get("TABAUG_REPO") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("TABAUG_DATA_DIR") or REPO.parent / "shared" / "datasets")

TINY = """[experiment]
name = "bad"
kind = "{kind}"
folds = {folds}
{experiment_extra}
[[datasets]]
{dataset}
{extra}
"""
BIAS = """[inductive_bias]
scenarios = ["low_data"]
n_low = {n_low}
n_synthetic = 100
[vae]
n_seeds = 1
max_epochs = 2
[evaluation]
presets = ["realistic"]
repeats = 1
utility = false
"""


def tiny_config(dataset: str, *, extra: str = "", body: str | None = None, kind: str = "inductive_bias",
                folds: str = "2", n_low: int = 60, experiment_extra: str = "") -> str:
    """The smallest experiment around a `[[datasets]]` entry (its TOML lines; `extra` goes after them):
    one Low-data VAE-BGM seed for 2 epochs, one realistic repeat, no utility (also tests/test_bad_inputs.py)."""
    return TINY.format(kind=kind, folds=folds, dataset=dataset, extra=extra, experiment_extra=experiment_extra) + (
        BIAS.format(n_low=n_low) if body is None else body)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="tabaug_bad_inputs_"))
    frame = pd.read_csv(DATA / "abalone.csv.gz").head(1000)

    def csv(name: str, table: pd.DataFrame | None = None, text: str | None = None) -> Path:
        path = work / name
        path.write_text(text) if text is not None else table.to_csv(path, index=False)
        return path

    def config(name: str, *, dataset: str | None = None, path: Path | None = None, target="Rings",
               task="regression", extra="", body=None, kind="inductive_bias", folds="2", n_low=60,
               experiment_extra="", raw: bytes | None = None) -> Path:
        file = work / f"{name}.toml"
        if raw is not None:
            file.write_bytes(raw)
            return file
        if dataset is None:
            dataset = f'name = "d"\npath = "{path or good_csv}"\ntarget = "{target}"\ntask = "{task}"'
        text = tiny_config(dataset, extra=extra, body=body, kind=kind, folds=folds, n_low=n_low,
                           experiment_extra=experiment_extra)
        file.write_text(text)
        return file

    good_csv = csv("good.csv", frame)
    good = config("good")
    sweep = work / "sweep.toml"
    sweep.write_text('[sweep]\nconfig = "good.toml"\nmetric = "js"\nmode = "min"\nnum_samples = 1\n'
                     '[sweep.space]\n"vae.max_epochs" = { kind = "choice", values = [2] }\n')
    afile = work / "afile"
    afile.write_text("x")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    other = work / "other_out"
    try:
        from tabaug_ray.results import ResultStore
    except ImportError:  # a checkout from before tabaug_ray/results.py
        from tabaug_ray.distributed.store import ResultStore

    store = ResultStore(out=other)
    store.save_config("", config_hash="another", resolved={})
    store.write("k", [dict(experiment="e", dataset="d", fold=0, run=0, scenario="s", model="m", metric="js",
                           value=1.0, n=1, m=1, l=1, seed=0, unit_key="k", seconds=0.0, code_version="x")])
    inf = frame.copy()
    inf.loc[6, "Diameter"] = np.inf
    garbage = frame.astype({"Height": object})
    garbage.loc[[3, 40], "Height"] = ["?", "abc"]
    out = str(work / "out")

    def run(cfg: Path, *flags: str, out_dir: str = out) -> list[str]:
        return ["run", str(cfg), "--out", out_dir, "--no-progress", *flags]

    cases = {  # name -> (argv, expected text in the error / warning line, or (expected, text it must not hold))
        "config file missing": (run(work / "none.toml"), "not found"),
        "config malformed TOML": (run(config("malformed", raw=b"[experiment\nname=1")), "malformed TOML"),
        "config not UTF-8": (run(config("latin", raw="# r\xe9sum\xe9\n".encode("latin-1") + good.read_bytes())),
                             "not UTF-8"),
        "config unknown section": (run(config("section", body=BIAS.format(n_low=60) + "[colour]\nx = 1\n")),
                                   "colour"),
        "config unknown field": (run(config("field", body=BIAS.format(n_low=60).replace("n_seeds = 1", "n_seeds = 1\nlatent = 3"))),
                                 "vae.latent"),
        "config wrong type": (run(config("type", folds='"two"')), "folds"),
        "config folds 0": (run(config("folds0", folds="0")), "folds"),
        "config no datasets": (run(config("nodata", dataset="", extra="").with_name("nodata.toml")), "datasets"),
        "config unknown dataset": (run(config("unknownds", dataset='name = "nope"')), "nope"),
        "config unknown kind": (run(config("kind", kind="gan")), "kind"),
        "config path without target": (run(config("notarget", dataset=f'name = "d"\npath = "{good_csv}"')),
                                        "target"),
        "data file missing": (run(config("nofile", path=work / "none.csv")), "not found"),
        "data target not a column": (run(config("badtarget", target="nope")), "nope"),
        "data categorical not a column": (run(config("badcat", extra='categorical = ["nope"]')), "nope"),
        "data schema unknown column": (run(config("schemacol", extra='schema = { nope = "gaussian" }')), "nope"),
        "data schema bad kind": (run(config("schemakind", extra='schema = { Length = "poisson" }')), "schema.Length"),
        "data drop unknown column": (run(config("drop", extra='drop = ["nope"]')), "nope"),
        "data cuts on text column": (run(config("cuttext", extra='cuts = { Sex = [1] }')), "Sex"),
        "data cuts not increasing": (run(config("cutorder", extra='cuts = { Length = [0.5, 0.2] }')), "cuts"),
        "data header-only CSV": (run(config("header", path=csv("header.csv", text=",".join(frame.columns) + "\n"))),
                                 "no data rows"),
        "data empty file": (run(config("emptyfile", path=csv("empty.csv", text=""))), "empty.csv"),
        "data all-missing column (warning)": (run(config("allnan", path=csv("allnan.csv", frame.assign(e=np.nan))),
                                                  out_dir=str(afile)), "dropping column 'e' (all values missing)"),
        "data infinite values": (run(config("inf", path=csv("inf.csv", inf))), "'Diameter'"),
        "data constant target": (run(config("const", path=csv("const.csv", frame.assign(Rings=5)))), "constant"),
        "data task contradicts target": (run(config("task", target="Whole weight", task="binary")),
                                         "task 'binary' is declared"),
        "data garbage in numeric column": (run(config("garbage", path=csv("garbage.csv", garbage))), "'Height'"),
        "data more rows asked than exist": (run(config("rows", n_low=50000)), "rows"),
        "config MAML support rows >= synthetic rows": (
            run(config("maml", body=BIAS.format(n_low=60).replace('["low_data"]', '["low_data", "maml"]'))),
            "bias.maml.n_support = 300 must be below inductive_bias.n_synthetic = 100"),
        "flag --max-cpus 0": (run(good, "--max-cpus", "0"), "--max-cpus 0"),
        "flag --max-cpus -1": (run(good, "--max-cpus", "-1"), "--max-cpus -1"),
        "flag --max-cpus two": (run(good, "--max-cpus", "two"), "--max-cpus"),
        "flag --out is a file": (run(good, out_dir=str(afile)), "is a file"),
        "flag --out under a file": (run(good, out_dir=str(afile / "sub")), "is a file"),
        "flag --out not writable": (run(good, out_dir="/proc/tabaug_out"), "not writable"),
        "flag --only bad field": (run(good, "--only", "colour=red"), "--only"),
        "flag --only fold out of range": (run(good, "--only", "fold=7"), "fold"),
        "flag --reuse not a run dir": (run(good, "--reuse", str(work)), "--reuse"),
        "flag --address malformed": (run(good, "--address", "nonsense"), "--address"),
        "flag --address unreachable": (run(good, "--address", f"127.0.0.1:{free_port}"), "no Ray cluster"),
        "flag --data-dir without MANIFEST": (run(config("ds", dataset='name = "abalone"'), "--data-dir", str(work)),
                                             "MANIFEST"),
        "OUT holds another config's results": (run(good, out_dir=str(other)), "another config"),
        "sweep --max-cpus 0": (["sweep", str(sweep), "--out", out, "--max-cpus", "0"], "--max-cpus 0"),
        "sweep --address unreachable": (["sweep", str(sweep), "--out", out, "--address", f"127.0.0.1:{free_port}"],
                                        "no Ray cluster"),
        "report no results": (["report", str(work / "nowhere")], "no results"),
        "report unknown metric": (["report", str(other), "--metric", "bleu"], "bleu"),
        "evaluate too few rows, preset given": (["evaluate", str(csv("small.csv", frame.head(150))), str(good_csv),
                                                 "--preset", "realistic"],
                                                ("smaller --m/--l", "--preset realistic")),
        "evaluate mismatched columns": (["evaluate", str(good_csv), str(csv("fewer.csv", frame.drop(columns="Sex"))),
                                         "--m", "50", "--l", "20"], "Sex"),
        "datasets show unknown": (["datasets", "show", "nope"], "nope"),
    }

    def one(item):
        name, (argv, needle) = item
        needle, absent = needle if isinstance(needle, tuple) else (needle, None)  # absent: must not be said
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        try:
            proc = subprocess.run([sys.executable, "-m", "tabaug_ray", *argv], capture_output=True, text=True,
                                  timeout=120, env=env, cwd=work)
        except subprocess.TimeoutExpired:
            return name, False, "hung (> 120 s)"
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        warnings = [l for l in lines if l.startswith("tabaug: warning:")]
        errors = [l for l in lines if not l.startswith("tabaug: warning:")]
        if errors and errors[0].startswith("usage:"):  # argparse: usage, then one error line
            errors = errors[-1:]
        text = (warnings if "(warning)" in name else errors)
        ok = (proc.returncode == 2 and len(errors) == 1 and "error:" in errors[0] and "Traceback" not in proc.stderr
              and any(needle in l for l in text) and not (absent and any(absent in l for l in text)))
        return name, ok, (text[0] if text else f"exit {proc.returncode}: {proc.stderr.strip()[-200:]}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, cases.items()))
    for name, ok, line in results:
        print(f"{'ok ' if ok else 'BAD'} {name}: {line[:160]}")
    passed = sum(ok for _, ok, _ in results)
    print(f"{passed} of {len(results)} bad inputs: one-line error (exit 2) or documented warning, no traceback")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
