"""Known-density pairs (P, Q) for calibrating the divergence judge (`benchmarks/judge_calibration.py`).

Every case can draw rows from P ("real") and Q ("synthetic") and evaluate both log-densities
exactly, so the true KL(P || Q) in nats and JS(P, Q) in bits follow from a large Monte Carlo
(`truth`, >= 200,000 draws per side; closed forms where they exist, checked against the Monte Carlo
in tests/test_judge_calibration.py). Families: mean shifts, covariance / correlation changes,
mixtures against a single component, heavy tails (both directions), a non-linear warp, a discrete
column whose conditional law of the numeric columns changes (a mixed-type table written to CSV with
text categories and read back as a user's file would be), products of many weakly different
marginals, and identical distributions; 5 to 50 dimensions; JS from about 0.02 to 0.9 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy import special, stats

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Case:
    """One (P, Q) pair. `sample_*`(n, rng) -> rows; `logpdf_*`(rows) -> log-density per row.

    `table`: the rows are DataFrames (mixed types, judged through the CSV path of `tabaug evaluate`);
    otherwise float matrices. `closed_kl`: KL(P || Q) in nats where a closed form exists.
    """

    name: str
    family: str
    d: int
    sample_p: Callable[[int, np.random.Generator], object]
    sample_q: Callable[[int, np.random.Generator], object]
    logpdf_p: Callable[[object], np.ndarray]
    logpdf_q: Callable[[object], np.ndarray]
    closed_kl: float | None = None
    table: bool = False
    note: str = field(default="", compare=False)


def truth(case: Case, *, n: int = 200_000, seed: int = 12345) -> dict:
    """True KL(P || Q) (nats) and JS (bits) by Monte Carlo over `n` draws per side, with their standard errors."""
    rng = np.random.default_rng(seed)
    xp, xq = case.sample_p(n, rng), case.sample_q(n, rng)
    lp_p, lq_p = case.logpdf_p(xp), case.logpdf_q(xp)
    lp_q, lq_q = case.logpdf_p(xq), case.logpdf_q(xq)
    log_ratio_p = lp_p - lq_p
    # JS = 1/2 E_P[log2 (2p / (p + q))] + 1/2 E_Q[log2 (2q / (p + q))]
    js_p = (LN2 + lp_p - np.logaddexp(lp_p, lq_p)) / LN2
    js_q = (LN2 + lq_q - np.logaddexp(lp_q, lq_q)) / LN2
    kl_mc = float(log_ratio_p.mean())
    return {
        "kl": case.closed_kl if case.closed_kl is not None else kl_mc,
        "kl_mc": kl_mc, "kl_se": float(log_ratio_p.std() / math.sqrt(n)),
        "js": float(0.5 * (js_p.mean() + js_q.mean())),
        "js_se": float(0.5 * math.sqrt(js_p.var() / n + js_q.var() / n)),
    }


# --- building blocks -----------------------------------------------------------------------------

def _gauss(mean: np.ndarray, cov: np.ndarray):
    dist = stats.multivariate_normal(mean=mean, cov=cov)
    chol = np.linalg.cholesky(cov)

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        return mean + rng.standard_normal((n, len(mean))) @ chol.T

    return sample, dist.logpdf


def _gauss_kl(m0: np.ndarray, s0: np.ndarray, m1: np.ndarray, s1: np.ndarray) -> float:
    """KL(N(m0, s0) || N(m1, s1)) in nats."""
    inv = np.linalg.inv(s1)
    diff = m1 - m0
    d = len(m0)
    return float(0.5 * (np.trace(inv @ s0) + diff @ inv @ diff - d
                        + np.linalg.slogdet(s1)[1] - np.linalg.slogdet(s0)[1]))


def _student_t(d: int, nu: float):
    """Multivariate Student-t with `nu` degrees of freedom scaled to unit variance per column."""
    scale2 = (nu - 2.0) / nu

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((n, d))
        w = rng.chisquare(nu, size=(n, 1)) / nu
        return z * math.sqrt(scale2) / np.sqrt(w)

    def logpdf(x: np.ndarray) -> np.ndarray:
        q = (x * x).sum(axis=1) / scale2
        return (special.gammaln((nu + d) / 2) - special.gammaln(nu / 2) - d / 2 * math.log(nu * math.pi)
                - d / 2 * math.log(scale2) - (nu + d) / 2 * np.log1p(q / nu))

    return sample, logpdf


def _std_normal(d: int):
    return _gauss(np.zeros(d), np.eye(d))


def mean_shift(name: str, d: int, kl: float, seed: int) -> Case:
    """N(0, I) vs N(mu, I) with |mu|^2 / 2 = kl, mu in a random direction."""
    mu = np.random.default_rng(seed).standard_normal(d)
    mu *= math.sqrt(2 * kl) / np.linalg.norm(mu)
    sp, lp = _std_normal(d)
    sq, lq = _gauss(mu, np.eye(d))
    return Case(name, "mean shift", d, sp, sq, lp, lq, closed_kl=kl)


def correlation(name: str, d: int, rho: float) -> Case:
    """N(0, I) vs N(0, Sigma) with every pair of columns correlated at rho (same marginals)."""
    cov = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    sp, lp = _std_normal(d)
    sq, lq = _gauss(np.zeros(d), cov)
    return Case(name, "correlation", d, sp, sq, lp, lq, closed_kl=_gauss_kl(np.zeros(d), np.eye(d), np.zeros(d), cov))


def scale(name: str, d: int, sigma: float) -> Case:
    """N(0, I) vs N(0, sigma^2 I): a variance change."""
    sp, lp = _std_normal(d)
    cov = sigma**2 * np.eye(d)
    sq, lq = _gauss(np.zeros(d), cov)
    return Case(name, "covariance", d, sp, sq, lp, lq, closed_kl=_gauss_kl(np.zeros(d), np.eye(d), np.zeros(d), cov))


def mixture_vs_gaussian(name: str, d: int, a: float) -> Case:
    """P = 1/2 N(-a e1, I) + 1/2 N(a e1, I) vs Q = N(0, diag(1 + a^2, 1, ...)) (same mean and covariance)."""
    shift = np.zeros(d)
    shift[0] = a

    def sample_p(n: int, rng: np.random.Generator) -> np.ndarray:
        sign = np.where(rng.random((n, 1)) < 0.5, -1.0, 1.0)
        return rng.standard_normal((n, d)) + sign * shift

    def logpdf_p(x: np.ndarray) -> np.ndarray:
        base = -0.5 * (x[:, 1:] ** 2).sum(axis=1) - d / 2 * math.log(2 * math.pi)
        return base + np.logaddexp(-0.5 * (x[:, 0] - a) ** 2, -0.5 * (x[:, 0] + a) ** 2) - LN2

    cov = np.eye(d)
    cov[0, 0] = 1 + a * a
    sq, lq = _gauss(np.zeros(d), cov)
    return Case(name, "mixture vs one component", d, sample_p, sq, logpdf_p, lq)


def heavy_tails(name: str, d: int, nu: float, *, reverse: bool = False) -> Case:
    """N(0, I) vs a unit-variance Student-t (nu) in d dimensions; `reverse` swaps P and Q."""
    sg, lg = _std_normal(d)
    st, lt = _student_t(d, nu)
    if reverse:
        return Case(name, "heavy tails", d, st, sg, lt, lg)
    return Case(name, "heavy tails", d, sg, st, lg, lt)


def banana(name: str, d: int, b: float) -> Case:
    """N(0, I) vs a 'banana': x2 += b (x1^2 - 1) (volume-preserving, so log q is known exactly)."""
    sp, lp = _std_normal(d)

    def warp(x: np.ndarray, sign: float) -> np.ndarray:
        y = x.copy()
        y[:, 1] = y[:, 1] + sign * b * (y[:, 0] ** 2 - 1)
        return y

    def sample_q(n: int, rng: np.random.Generator) -> np.ndarray:
        return warp(rng.standard_normal((n, d)), 1.0)

    def logpdf_q(x: np.ndarray) -> np.ndarray:
        return lp(warp(x, -1.0))

    return Case(name, "non-linear warp", d, sp, sample_q, lp, logpdf_q)


def weak_marginals(name: str, d: int, shift: float, sigma: float, seed: int) -> Case:
    """Product of d standard normals vs a product of N(+-shift, sigma^2): every column a little off."""
    signs = np.where(np.random.default_rng(seed).random(d) < 0.5, -1.0, 1.0)
    mu = signs * shift
    sp, lp = _std_normal(d)
    cov = sigma**2 * np.eye(d)
    sq, lq = _gauss(mu, cov)
    return Case(name, "many weak marginals", d, sp, sq, lp, lq, closed_kl=_gauss_kl(np.zeros(d), np.eye(d), mu, cov))


def identical(name: str, d: int) -> Case:
    sp, lp = _std_normal(d)
    return Case(name, "identical", d, sp, sp, lp, lp, closed_kl=0.0)


def mixed_type(name: str, *, n_numeric: int, delta: float) -> Case:
    """A text category c in {north, south, east, west} and numeric columns x | c ~ N(mu_c, I).

    P and Q share the category frequencies; Q moves the conditional means of two categories by
    `delta` (in opposite directions, so the marginal of x barely changes): only a judge that reads the
    category together with the numeric columns sees it. Rows are DataFrames; the benchmark writes
    them to CSV and reads them back like a user's files.
    """
    cats = np.array(["north", "south", "east", "west"])
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    rng0 = np.random.default_rng(7)
    mu_p = rng0.standard_normal((4, n_numeric))
    direction = rng0.standard_normal(n_numeric)
    direction /= np.linalg.norm(direction)
    mu_q = mu_p.copy()
    mu_q[0] += delta * direction
    mu_q[1] -= delta * direction * (probs[0] / probs[1])
    cols = [f"x{i}" for i in range(n_numeric)]

    def sampler(mu: np.ndarray):
        def sample(n: int, rng: np.random.Generator) -> pd.DataFrame:
            k = rng.choice(4, size=n, p=probs)
            x = rng.standard_normal((n, n_numeric)) + mu[k]
            frame = pd.DataFrame(x, columns=cols)
            frame.insert(0, "region", cats[k])
            return frame
        return sample

    def logpdf(mu: np.ndarray):
        def f(frame: pd.DataFrame) -> np.ndarray:
            k = pd.Categorical(frame["region"], categories=cats).codes
            x = frame[cols].to_numpy()
            diff = x - mu[k]
            return np.log(probs[k]) - 0.5 * (diff * diff).sum(axis=1) - n_numeric / 2 * math.log(2 * math.pi)
        return f

    kl = float(sum(p * 0.5 * np.sum((mu_p[i] - mu_q[i]) ** 2) for i, p in enumerate(probs)))
    return Case(name, "mixed types (conditional change)", n_numeric + 1, sampler(mu_p), sampler(mu_q),
                logpdf(mu_p), logpdf(mu_q), closed_kl=kl, table=True)


def all_cases() -> list[Case]:
    """The calibration suite: 10 families, 5 to 50 dimensions, JS from ~0.02 to ~0.9 bits."""
    return [
        identical("identical_d20", 20),
        mean_shift("mean_shift_subtle_d5", 5, kl=0.06, seed=1),
        mean_shift("mean_shift_d20", 20, kl=1.0, seed=2),
        mean_shift("mean_shift_large_d10", 10, kl=8.0, seed=3),
        correlation("correlation_d10", 10, rho=0.5),
        scale("variance_d5", 5, sigma=1.3),
        mixture_vs_gaussian("mixture_d5", 5, a=2.0),
        heavy_tails("gauss_vs_t5_d8", 8, nu=5.0),
        heavy_tails("t5_vs_gauss_d8", 8, nu=5.0, reverse=True),
        banana("banana_d6", 6, b=0.6),
        weak_marginals("weak_marginals_d50", 50, shift=0.08, sigma=1.04, seed=4),
        mixed_type("mixed_type_d9", n_numeric=8, delta=0.6),
    ]
