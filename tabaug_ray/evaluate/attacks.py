"""Anonymeter's three attacks (Giomi et al. 2023, the CNIL-reviewed evaluation of GDPR's criteria):
singling out, linkability and attribute inference, each a risk in [0, 1] with a confidence interval.

Each attack is run against the generator's training rows and, as the control, the holdout of real
rows it never saw; the risk is (success on training - success on control) / (1 - success on
control), so 0 = the synthetic rows tell an attacker nothing more about training rows than about
any other rows of the population (negative values are noise around 0). Wilson score intervals at
95 %, as anonymeter computes them.

Anonymeter sees a seeded subsample of the synthetic rows as large as the training rows (its own
examples use tables of one size): a singling-out query counts only if it matches exactly one
synthetic row, and a linkage only if both halves' nearest synthetic row is the same row, so with
10,000 synthetic rows for 300 training rows every copied row has ~33 twins and pure copies read
as safe (measured on Adult: singling-out risk 0.04, linkability 0.01 for 3,000 copies of 300 rows).

Setup: categorical columns (model-space codes) enter as text, so anonymeter treats them as
categorical; numeric columns as floats. Singling out: multivariate, 3 columns per query.
Linkability: the attacker knows the first half of the columns for one record and the second half
for another (anonymeter's `aux_cols`), 1 neighbour. Inference: the secret is `secret` (the
target), the attacker knows every other column. A numeric secret counts as guessed within
anonymeter's 5 % relative tolerance; in the model space (z-scores) that tolerance is tight for
values near the training mean, so regression targets (King's price) read lower inference risk
than they would on the original scale.

NOTE[patch]: anonymeter 1.0.0 has no seed argument: singling out draws from a module-level
`numpy.random.default_rng()` and the targets come from `DataFrame.sample` without `random_state`
(numpy's global RandomState). `_seeded` replaces the module generator and seeds (then restores)
the global state, so equal seeds give equal risks. The random-guess baseline of linkability uses
a fresh unseeded generator; it is not reported here. Singling-out queries are pandas `query`
strings with unquoted column names, so a name such as Adult's `marital-status` makes most queries
fail (measured: 238 of 300): columns are renamed `c0, c1, ...` before anonymeter sees them.
Singling out checks each candidate query against every synthetic row and keeps those that match
exactly one; it tries up to `max_attempts` candidates (20 per attack here; anonymeter's default,
10 million, took 229 s for 1,000 synthetic Adult rows) and divides the queries that single out a
training row by the attacks asked for, so a low cap reads low (copies of 300 training rows: risk
0.05 with 1 attempt per attack, 0.60 with 20).
NOTE[patch]: singling out's query counts reuse each frame's columns (`_query_counts`).
NOTE[patch]: anonymeter's numba kernels are compiled without `cache=True`, which cost every new
process ~20 s before its first neighbour search (measured on this loaded 2-core machine; 2.4 s for
the attack itself): `_cached_kernels` re-wraps the same Python functions with numba's on-disk cache.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

ATTACKS: tuple[str, ...] = ("singling_out", "linkability", "inference")
ATTACK_METRICS: tuple[str, ...] = tuple(f"{a}_risk{s}" for a in ATTACKS for s in ("", "_low", "_high"))


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    from anonymeter.evaluators import singling_out_evaluator

    log = logging.getLogger("anonymeter")
    saved_module, saved_global, saved_level = singling_out_evaluator.rng, np.random.get_state(), log.level
    log.setLevel(logging.ERROR)  # "could generate only 26 singling out queries": expected, see the docstring
    singling_out_evaluator.rng = np.random.default_rng(np.random.SeedSequence([seed, 43]))
    np.random.seed(np.random.SeedSequence([seed, 47]).generate_state(1)[0])
    saved_counts = singling_out_evaluator.safe_query_counts
    singling_out_evaluator.safe_query_counts = _query_counts
    try:
        yield
    finally:
        singling_out_evaluator.safe_query_counts = saved_counts
        _COLUMNS.clear()
        singling_out_evaluator.rng = saved_module
        np.random.set_state(saved_global)
        log.setLevel(saved_level)


_COLUMNS: dict[int, tuple[pd.DataFrame, dict, dict]] = {}
# one term of a singling-out query as anonymeter writes it: `c3>= 0.25`, `c3 != 1.5`, `c7== '1'`
_TERM = re.compile(r"^(c\d+) ?(==|!=|>=|<=|>|<) ?(?:'([^'\\]*)'|(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?))$")
_OPS = {"==": np.equal, "!=": np.not_equal, ">=": np.greater_equal, "<=": np.less_equal, ">": np.greater,
        "<": np.less}


def _query_counts(query: str, df: pd.DataFrame) -> int | None:
    """anonymeter's `safe_query_counts` (`len(df.query(query, engine="python"))`), faster, same counts.

    A query that is a conjunction of simple comparisons (`c3>= 0.25 & c7== '1'`, what anonymeter's
    multivariate and random queries are on our frames) is counted with numpy on the frame's columns
    (the float literal parsed as Python does, the string compared as pandas does); anything else
    (`.isna()`, quotes inside values, other syntax) goes to pandas' own parser and engine, on the
    frame's columns gathered once per frame. `pd.eval` parsing was 60 % of singling out's time
    (measured: 878 queries, 1.05 s of 1.24 s); counts equal pandas' (tests/test_privacy.py)."""
    held = _COLUMNS.get(id(df))
    if held is None or held[0] is not df:
        held = _COLUMNS[id(df)] = (df, {c: df[c] for c in df.columns}, {c: df[c].to_numpy() for c in df.columns})
    mask = None
    for term in query.split(" & "):  # at least one term: the loop sets `mask` unless it breaks
        match = _TERM.match(term)
        values = held[2].get(match.group(1)) if match else None
        if values is None or (match.group(3) is None) != (values.dtype.kind == "f"):
            break
        literal = match.group(3) if match.group(3) is not None else float(match.group(4))
        hit = _OPS[match.group(2)](values, literal)
        mask = hit if mask is None else mask & hit
    else:
        return int(np.count_nonzero(mask))
    try:
        return int(np.count_nonzero(np.asarray(pd.eval(query, engine="python", resolvers=(held[1],)))))
    except Exception:  # anonymeter counts a query that fails as failed (None), and so do we
        return None


def _cached_kernels() -> None:
    import numba
    from anonymeter.neighbors import mixed_types_kneighbors as mtk

    if getattr(mtk, "_tabaug_cached", False):
        return
    jit = numba.jit(nopython=True, nogil=True, cache=True)
    mtk.gower_distance = jit(mtk.gower_distance.py_func)  # looked up from the module at compile time
    mtk._nearest_neighbors = jit(mtk._nearest_neighbors.py_func)
    mtk._tabaug_cached = True


def _frame(x: np.ndarray, names: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    cols = {f"c{j}": (x[:, j].astype(np.float64) if k == "numeric" else np.rint(x[:, j]).astype(np.int64).astype(str))
            for j, (n, k) in enumerate(zip(names, kinds))}
    return pd.DataFrame(cols)


def anonymeter_risks(train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray, *, names: Sequence[str],
                     kinds: Sequence[str], secret: str, seed: int, n_attacks: int = 300,
                     n_jobs: int = 1) -> dict[str, float]:
    """Singling-out, linkability and inference risks with their 95 % intervals (keys `ATTACK_METRICS`).

    Args:
        train, holdout, synthetic: equally wide matrices (numeric values, integer category codes);
            `train` and `holdout` as large as each other (`privacy.equal_references`).
        names, kinds: column names and "numeric" / "categorical" per column.
        secret: the column the inference attacker guesses (the target).
        seed: makes anonymeter's random choices reproducible.
        n_attacks: attacks per measure, capped at the holdout's size.
        n_jobs: joblib workers of anonymeter's neighbour search (the unit's CPUs).
    """
    from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator

    _cached_kernels()
    if len(synthetic) > len(train):  # see the module docstring: as many synthetic rows as training rows
        rng = np.random.default_rng(np.random.SeedSequence([seed, 41]))
        synthetic = synthetic[np.sort(rng.choice(len(synthetic), len(train), replace=False))]
    ori, control, syn = (_frame(x, names, kinds) for x in (train, holdout, synthetic))
    n = int(min(n_attacks, len(ori), len(control)))
    secret = f"c{list(names).index(secret)}"
    names = list(ori.columns)
    half = max(1, len(names) // 2)
    out: dict[str, float] = {}
    with _seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anonymeter warns when it finds fewer queries than asked for
        evaluators = {
            "singling_out": SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=n,
                                                 max_attempts=20 * n).evaluate(mode="multivariate"),
            "linkability": LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=n,
                                                aux_cols=(names[:half], names[half:])).evaluate(n_jobs=n_jobs),
            "inference": InferenceEvaluator(ori=ori, syn=syn, control=control, n_attacks=n, secret=secret,
                                            aux_cols=[c for c in names if c != secret]).evaluate(n_jobs=n_jobs),
        }
        for attack, evaluator in evaluators.items():
            risk = evaluator.risk(confidence_level=0.95)
            out[f"{attack}_risk"], out[f"{attack}_risk_low"], out[f"{attack}_risk_high"] = (
                float(risk.value), float(risk.ci[0]), float(risk.ci[1]))
    return {k: out[k] for k in ATTACK_METRICS}
