"""Does a synthetic table disclose the rows its generator was trained on? Distance-based checks and a
membership-inference attack, against an equally large holdout of real rows the generator never saw.

Distance (one metric for every check here): the heterogeneous Euclidean-overlap metric (HEOM, Wilson
& Martinez 1997) with numeric differences in units of the TRAINING rows' standard deviation instead
of their range,

    d(a, b) = sqrt( sum_numeric ((a_j - b_j) / sd_j)^2  +  sum_categorical [a_j != b_j] ),

so a categorical mismatch weighs as much as a one-standard-deviation numeric difference. It is
computed as the Euclidean distance of an embedding (z-scored numerics; categoricals one-hot scaled
by 1/sqrt(2), whose squared difference is exactly 1 on a mismatch), so scikit-learn's
`NearestNeighbors` does the search. Its k-d tree computes distances directly, so an exact copy is
at distance 0.0 (the brute-force dot-product form leaves ~1e-7 for identical rows).

Metrics (`distance_privacy`; the training rows are subsampled to the holdout's size, or the
holdout to the training rows', so both references have equally many rows):

- `dcr_share`: share of synthetic rows closer to a training row than to any holdout row (ties
  count half). 0.5 = no leakage signal; 1 = every synthetic row sits at a training row.
- `dcr_train_p5`, `dcr_holdout_p5`: 5th percentiles of the distance to the closest record (DCR)
  among training rows and among holdout rows; `dcr_ratio_p5` = train / holdout (1 = no leakage,
  -> 0 = the closest synthetic rows hug training rows; 0 / 0 reads 1).
- `nndr_train_p5`, `nndr_holdout_p5`: 5th percentiles of the nearest-neighbour distance ratio
  (distance to the closest / second-closest record); a low NNDR is a synthetic row next to one
  specific record rather than inside a crowd. `nndr_ratio_p5` = train / holdout (1 = none).
- `exact_copy_rate`: share of synthetic rows equal to a training row (distance <= 1e-9);
  `exact_copy_rate_holdout` is the same against the holdout, what coincidence alone gives (data
  with only categorical columns repeat rows by chance).
- `mia_auc` with `mia_auc_low`, `mia_auc_high`: membership inference by the local density of the
  synthetic rows. The attacker sees the synthetic rows and a mix of training rows (members) and
  holdout rows (non-members) and scores each candidate by minus its distance to the closest
  synthetic row (the distance attack of Chen et al. 2020, "GAN-Leaks", full black-box); ROC-AUC
  0.5 = no leakage, 1 = members fully told apart; percentile bootstrap interval (resampling members
  and non-members separately).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.errors import TabaugError

Kind = Literal["numeric", "categorical"]
EXACT_TOLERANCE = 1e-9

# (metric, direction) for the report; "target" metrics read best at 0.5 or 1, see the module docstring
DISTANCE_METRICS: tuple[str, ...] = (
    "dcr_share", "dcr_train_p5", "dcr_holdout_p5", "dcr_ratio_p5", "nndr_train_p5", "nndr_holdout_p5",
    "nndr_ratio_p5", "exact_copy_rate", "exact_copy_rate_holdout", "mia_auc", "mia_auc_low", "mia_auc_high",
)


def model_space_kinds(columns: Sequence[ColumnSpec]) -> list[Kind]:
    """Gaussian columns are numeric; bernoulli and categorical columns (0/1 or integer codes) categorical."""
    return ["numeric" if c.kind == "gaussian" else "categorical" for c in columns]


def heom_embedding(matrices: Sequence[np.ndarray], kinds: Sequence[Kind], *, train: np.ndarray) -> list[np.ndarray]:
    """Embed matrices (numeric values and integer category codes, one column per entry of `kinds`) so
    that Euclidean distance is the HEOM-with-standard-deviations distance of the module docstring.

    Args:
        matrices: (n_i, d) float matrices, no missing values.
        kinds: "numeric" or "categorical" per column.
        train: the training rows, whose standard deviations scale the numeric columns.
    """
    kinds = list(kinds)
    for x in (train, *matrices):
        if x.ndim != 2 or x.shape[1] != len(kinds):
            raise TabaugError(f"privacy: matrix of shape {x.shape} does not have the {len(kinds)} columns "
                              "of its schema")
        if not np.all(np.isfinite(x)):
            raise TabaugError("privacy: matrices must not have missing or infinite values")
    num = np.array([k == "numeric" for k in kinds], dtype=bool)
    cat = np.flatnonzero(~num)
    sd = train[:, num].astype(np.float64).std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    mean = train[:, num].astype(np.float64).mean(axis=0)
    codes = [np.rint(x[:, cat]).astype(np.int64) for x in matrices]
    out = []
    for x, c in zip(matrices, codes):
        blocks = [(x[:, num].astype(np.float64) - mean) / sd]
        for j in range(len(cat)):
            width = int(max(cc[:, j].max(initial=0) for cc in codes)) + 1
            low = int(min(cc[:, j].min(initial=0) for cc in codes))
            if low < 0:
                raise TabaugError(f"privacy: categorical codes must be >= 0, got {low}")
            onehot = np.zeros((len(x), width))
            onehot[np.arange(len(x)), c[:, j]] = 1.0 / np.sqrt(2.0)
            blocks.append(onehot)
        out.append(np.hstack(blocks))
    return out


def _nearest(reference: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(n_queries, k) distances to the k closest reference rows, sorted (scikit-learn k-d tree)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="kd_tree").fit(reference)
    dist, _ = nn.kneighbors(queries)
    return dist


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else float("inf")
    return float(a / b)


def auc_with_bootstrap(members: np.ndarray, nonmembers: np.ndarray, *, seed: int, n_bootstrap: int = 1000,
                       level: float = 0.95) -> tuple[float, float, float]:
    """ROC-AUC of scores (higher = member) and its percentile bootstrap interval, ties counted half.
    Members and non-members are resampled separately; all resamples are ranked at once (scipy)."""
    from scipy.stats import rankdata

    def auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        ranks = rankdata(np.concatenate([pos, neg], axis=-1), axis=-1)
        n1, n0 = pos.shape[-1], neg.shape[-1]
        return (ranks[..., :n1].sum(axis=-1) - n1 * (n1 + 1) / 2) / (n1 * n0)

    rng = np.random.default_rng(np.random.SeedSequence([seed, 31]))
    pos = members[rng.integers(0, len(members), (n_bootstrap, len(members)))]
    neg = nonmembers[rng.integers(0, len(nonmembers), (n_bootstrap, len(nonmembers)))]
    boot = auc(pos, neg)
    tail = (1 - level) / 2
    return float(auc(members, nonmembers)), float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))


@dataclass(frozen=True)
class EqualReferences:
    """The training rows and the holdout rows cut to equally many (seeded subsample of the larger)."""

    train: np.ndarray
    holdout: np.ndarray


def equal_references(train: np.ndarray, holdout: np.ndarray, *, seed: int) -> EqualReferences:
    n = min(len(train), len(holdout))
    if n < 2:
        raise TabaugError(f"privacy needs at least 2 training and 2 holdout rows, got {len(train)} and {len(holdout)}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    pick = (lambda x: x if len(x) == n else x[np.sort(rng.choice(len(x), n, replace=False))])
    return EqualReferences(train=pick(train), holdout=pick(holdout))


def distance_privacy(train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray, *, kinds: Sequence[Kind],
                     seed: int, n_bootstrap: int = 1000) -> dict[str, float]:
    """The distance-based metrics and the membership-inference AUC of the module docstring.

    Args:
        train: the generator's training rows (numeric values, integer category codes).
        holdout: real rows the generator never saw, from the same distribution.
        synthetic: the generator's rows.
        kinds: "numeric" / "categorical" per column (`model_space_kinds` for model-space matrices).
        seed: seeds the subsample to equal sizes and the bootstrap.
        n_bootstrap: resamples of the AUC interval.
    """
    refs = equal_references(train, holdout, seed=seed)
    e_train, e_hold, e_syn = heom_embedding([refs.train, refs.holdout, synthetic], kinds, train=train)
    d_train = _nearest(e_train, e_syn, 2)
    d_hold = _nearest(e_hold, e_syn, 2)
    closer = np.mean(d_train[:, 0] < d_hold[:, 0]) + 0.5 * np.mean(d_train[:, 0] == d_hold[:, 0])
    p5 = lambda v: float(np.percentile(v, 5))  # noqa: E731
    nndr = lambda d: np.divide(d[:, 0], d[:, 1], out=np.ones(len(d)), where=d[:, 1] > 0)  # noqa: E731
    out = {
        "dcr_share": float(closer),
        "dcr_train_p5": p5(d_train[:, 0]),
        "dcr_holdout_p5": p5(d_hold[:, 0]),
        "nndr_train_p5": p5(nndr(d_train)),
        "nndr_holdout_p5": p5(nndr(d_hold)),
        "exact_copy_rate": float(np.mean(d_train[:, 0] <= EXACT_TOLERANCE)),
        "exact_copy_rate_holdout": float(np.mean(d_hold[:, 0] <= EXACT_TOLERANCE)),
    }
    out["dcr_ratio_p5"] = _ratio(out["dcr_train_p5"], out["dcr_holdout_p5"])
    out["nndr_ratio_p5"] = _ratio(out["nndr_train_p5"], out["nndr_holdout_p5"])
    # membership inference: a candidate's score is minus its distance to the closest synthetic row
    d_cand = _nearest(e_syn, np.vstack([e_train, e_hold]), 1)[:, 0]
    n = len(e_train)
    auc, low, high = auc_with_bootstrap(-d_cand[:n], -d_cand[n:], seed=seed, n_bootstrap=n_bootstrap)
    out.update(mia_auc=auc, mia_auc_low=low, mia_auc_high=high)
    return {k: out[k] for k in DISTANCE_METRICS}


def privacy_report(*, train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray, names: Sequence[str],
                   kinds: Sequence[Kind], secret: str, seed: int, n_jobs: int = 1, n_bootstrap: int = 1000,
                   n_attacks: int = 300) -> dict[str, float]:
    """Every privacy metric: `distance_privacy` and anonymeter's risks (`attacks.anonymeter_risks`),
    both against the same equally large training and holdout rows.

    Args:
        train, holdout, synthetic: (n, d) matrices of numeric values and integer category codes.
        names, kinds: the d column names and "numeric" / "categorical" per column.
        secret: the column anonymeter's inference attacker guesses (the target).
        seed: every random choice (subsample, bootstrap, anonymeter's queries and targets).
        n_jobs: CPUs for anonymeter's neighbour search.
    """
    from tabaug_ray.evaluate.attacks import anonymeter_risks

    if secret not in names:
        raise TabaugError(f"privacy: secret column {secret!r} is not one of the columns")
    refs = equal_references(train, holdout, seed=seed)
    out = distance_privacy(refs.train, refs.holdout, synthetic, kinds=kinds, seed=seed, n_bootstrap=n_bootstrap)
    out.update(anonymeter_risks(refs.train, refs.holdout, synthetic, names=names, kinds=kinds, secret=secret,
                                seed=seed, n_attacks=n_attacks, n_jobs=n_jobs))
    return out


def tables_privacy(*, train, real, synthetic, types: dict[str, Kind], secret: str, seed: int,
                   n_jobs: int = 1) -> dict[str, float]:
    """`privacy_report` of three DataFrames with the same columns (`tabaug evaluate --train`): the
    holdout is a seeded sample of `real` as large as `train` (all of `real` when smaller).

    Numeric columns become floats (missing values: the training rows' median), categorical ones
    codes over the labels of all three tables (missing is its own label).

    Args:
        train: the generator's training rows; real: real rows it never saw; synthetic: its rows.
        types: "numeric" / "categorical" per column (`encode.column_types`).
    """
    import pandas as pd

    from tabaug_ray.evaluate.encode import category_labels, numeric_values

    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    holdout = real.iloc[np.sort(rng.choice(len(real), min(len(real), len(train)), replace=False))]
    tables = [train, holdout, synthetic]
    names = list(types)
    blocks: list[list[np.ndarray]] = [[], [], []]
    for col in names:
        if types[col] == "numeric":
            values = [numeric_values(t[col]) for t in tables]
            finite = values[0][np.isfinite(values[0])]
            fill = float(np.median(finite)) if len(finite) else 0.0
            values = [np.where(np.isfinite(v), v, fill) for v in values]
        else:
            labels = [category_labels(t[col]) for t in tables]
            cats = pd.CategoricalDtype(sorted(set().union(*(set(v) for v in labels))))
            values = [v.astype(cats).cat.codes.to_numpy().astype(float) for v in labels]
        for b, v in zip(blocks, values):
            b.append(v)
    x_train, x_hold, x_syn = (np.column_stack(b) for b in blocks)
    return privacy_report(train=x_train, holdout=x_hold, synthetic=x_syn, names=names,
                          kinds=[types[c] for c in names], secret=secret, seed=seed, n_jobs=n_jobs)


def human_lines(p: dict) -> list[str]:
    """The privacy block of `tabaug evaluate`'s text output."""
    f = lambda v: "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"  # noqa: E731
    ci = lambda k: f"{f(p[k])} [{f(p[k + '_low'])}, {f(p[k + '_high'])}]"  # noqa: E731
    return [
        f"privacy  against --train {p['train']} ({p['rows_train']} rows) and as many REAL rows (holdout)",
        f"  DCR share closer to train  {f(p['dcr_share'])}   0.5 = no leakage, 1 = every row at a training row",
        f"  DCR p5 train / holdout     {f(p['dcr_train_p5'])} / {f(p['dcr_holdout_p5'])}   ratio {f(p['dcr_ratio_p5'])}"
        "   1 = no leakage",
        f"  NNDR p5 train / holdout    {f(p['nndr_train_p5'])} / {f(p['nndr_holdout_p5'])}   ratio "
        f"{f(p['nndr_ratio_p5'])}   1 = no leakage",
        f"  exact copies of train      {f(p['exact_copy_rate'])}   "
        f"(of holdout rows: {f(p['exact_copy_rate_holdout'])})",
        f"  membership inference AUC   {ci('mia_auc')}   0.5 = no leakage",
        f"  singling-out risk          {ci('singling_out_risk')}   0 = no leakage (anonymeter, 95 %)",
        f"  linkability risk           {ci('linkability_risk')}",
        f"  inference risk             {ci('inference_risk')}",
    ]
