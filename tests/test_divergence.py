"""Classifier-based KL / JS estimator: closed forms for Gaussians, batched BatchNorm, seeds, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from tabaug_ray.errors import TabaugError
from tabaug_ray.evaluate.batched_mlp import BatchedMLP
from tabaug_ray.evaluate.divergence import PRESETS, DivergenceEstimator
from tabaug_ray.evaluate.records import RECORD_KEYS, divergence_records

MUS = (0.0, 1.0, math.sqrt(2.0), 2.0, 3.0)  # KL = |mu|^2 / 2 = 0, 0.5, 1, 2, 4.5 nats


def true_js_bits(a: float) -> float:
    """JS(N(0, I), N(mu, I)) in bits: it depends only on |mu| = a, so integrate the 1-D case."""
    p, q = stats.norm(0.0, 1.0).pdf, stats.norm(a, 1.0).pdf

    def f(x: float) -> float:
        px, qx = p(x), q(x)
        mx = 0.5 * (px + qx)
        return 0.5 * px * math.log2(px / mx) + 0.5 * qx * math.log2(qx / mx)

    return integrate.quad(f, -15.0, a + 15.0, limit=200)[0]


def test_true_js_reference_values():
    # sanity of the integral itself: 0 for equal distributions, bounded by 1 bit, symmetric limit
    assert true_js_bits(0.0) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < true_js_bits(1.0) < true_js_bits(2.0) < true_js_bits(6.0) < 1.0
    assert true_js_bits(12.0) == pytest.approx(1.0, abs=1e-6)


@pytest.fixture(scope="module")
def gaussian_results():
    """All closed-form cases in ONE batched call: 5 pairs x 5 repeats = 25 discriminators.

    Each side has 20,000 rows so that the 5 repeats (each with its own M/L/L split of
    M = 7,500, L = 1,000) estimate on different rows and their mean averages the sampling noise.
    """
    rng = np.random.default_rng(20240607)
    d, n = 5, 20_000
    pairs = []
    for a in MUS:
        direction = rng.standard_normal(d)
        direction /= np.linalg.norm(direction)
        pairs.append((rng.standard_normal((n, d)), rng.standard_normal((n, d)) + a * direction))
    m, l = PRESETS["reliable"]
    est = DivergenceEstimator(m=m, l=l, repeats=5, seed=0, n_threads=1)
    return est.estimate_many(pairs)


def test_closed_form_kl_within_15_percent(gaussian_results):
    for a, res in zip(MUS, gaussian_results):
        kl = a * a / 2
        if 0 < kl <= 2:
            assert abs(res.kl - kl) <= 0.15 * kl, f"|mu|={a:.3f}: KL {res.kl:.3f} vs true {kl:.3f}"


def test_closed_form_js_within_005(gaussian_results):
    for a, res in zip(MUS, gaussian_results):
        js = true_js_bits(a)
        assert abs(res.js - js) <= 0.05, f"|mu|={a:.3f}: JS {res.js:.3f} vs true {js:.3f}"


def test_identical_distributions_near_zero(gaussian_results):
    res = gaussian_results[0]
    assert abs(res.js) < 0.03
    assert abs(res.kl) < 0.05
    assert abs(res.auc - 0.5) < 0.05


def test_estimates_grow_with_mu(gaussian_results):
    kls = [r.kl for r in gaussian_results]
    jss = [r.js for r in gaussian_results]
    aucs = [r.auc for r in gaussian_results]
    assert all(b > a for a, b in zip(kls, kls[1:])), kls
    assert all(b > a for a, b in zip(jss, jss[1:])), jss
    assert all(b > a for a, b in zip(aucs, aucs[1:])), aucs


def test_result_fields_and_records(gaussian_results):
    res = gaussian_results[2]
    assert (res.m, res.l, res.repeats) == (7_500, 1_000, 5)
    assert res.kl == pytest.approx(np.mean(res.kl_repeats))
    assert res.js_std == pytest.approx(np.std(res.js_repeats))
    assert res.kl_std > 0  # repeats differ (own splits and initialisations)
    assert all(1 <= b <= t for b, t in zip(res.epochs, res.epochs_trained))
    recs = divergence_records(res)
    from tabaug_ray.evaluate.records import JUDGE_DIAGNOSTICS

    assert len(recs) == (3 + len(JUDGE_DIAGNOSTICS)) * 5
    assert all(tuple(r) == RECORD_KEYS for r in recs)
    assert {r["metric"] for r in recs} == {"kl", "js", "auc", *JUDGE_DIAGNOSTICS}
    assert [r["value"] for r in recs if r["metric"] == "judge_epochs"] == list(res.epochs_trained)
    assert all(r["value"] in (0.0, 1.0) for r in recs if r["metric"] == "judge_improving")
    assert [r["value"] for r in recs if r["metric"] == "js"] == list(res.js_repeats)
    assert sorted({r["repeat"] for r in recs}) == [0, 1, 2, 3, 4]
    assert {(r["m"], r["l"]) for r in recs} == {(7_500, 1_000)}


def test_batched_mlp_equals_torch_modules():
    """The stacked BatchNorm (hand-written backward) equals R separate nn.Sequential modules."""
    r_copies, d, widths = 3, 7, (16, 8)
    gen = torch.Generator().manual_seed(1)
    model = BatchedMLP(n_copies=r_copies, d_in=d, hidden=widths, d_out=2, dropout=0.0, generator=gen)
    with torch.no_grad():
        for g in model.gammas:
            g.uniform_(0.5, 1.5, generator=gen)
        for b in model.betas:
            b.uniform_(-0.5, 0.5, generator=gen)
    refs = []
    for r in range(r_copies):
        layers: list[torch.nn.Module] = []
        ins = (d, *widths)
        for i, w in enumerate(widths):
            lin, bn = torch.nn.Linear(ins[i], w), torch.nn.BatchNorm1d(w)
            with torch.no_grad():
                lin.weight.copy_(model.weights[i][r].T)
                lin.bias.copy_(model.biases[i][r, 0])
                bn.weight.copy_(model.gammas[i][r, 0])
                bn.bias.copy_(model.betas[i][r, 0])
            layers += [lin, bn, torch.nn.Dropout(0.0), torch.nn.LeakyReLU(0.2)]
        head = torch.nn.Linear(widths[-1], 2)
        with torch.no_grad():
            head.weight.copy_(model.weights[-1][r].T)
            head.bias.copy_(model.biases[-1][r, 0])
        refs.append(torch.nn.Sequential(*layers, head))
    x = torch.randn(r_copies, 32, d, generator=gen)
    out = model(x)
    out.pow(2).sum().backward()
    for r, ref in enumerate(refs):
        o = ref(x[r])
        o.pow(2).sum().backward()
        torch.testing.assert_close(out[r].detach(), o.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.weights[0].grad[r], ref[0].weight.grad.T, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.gammas[1].grad[r, 0], ref[5].weight.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.betas[0].grad[r, 0], ref[1].bias.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.running_mean0[r, 0], ref[1].running_mean)
        torch.testing.assert_close(model.running_var1[r, 0], ref[5].running_var)
    model.eval()
    for r, ref in enumerate(refs):
        ref.eval()
        torch.testing.assert_close(model(x)[r].detach(), ref(x[r]).detach(), rtol=1e-5, atol=1e-5)


def test_dropout_keeps_half_and_rescales():
    model = BatchedMLP(n_copies=2, d_in=4, hidden=(64,), d_out=1, dropout=0.5,
                       generator=torch.Generator().manual_seed(0))
    from tabaug_ray.evaluate.batched_mlp import _dropout_mask

    mask = _dropout_mask(torch.Size((2, 500, 64)), 0.5, torch.Generator().manual_seed(3))
    assert set(mask.unique().tolist()) == {0.0, 2.0}
    assert mask.mean().item() == pytest.approx(1.0, abs=0.02)
    x = torch.randn(2, 50, 4)
    model.train()
    a = model(x, generator=torch.Generator().manual_seed(5))
    b = model(x, generator=torch.Generator().manual_seed(5))
    c = model(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def _small_pair(seed: int, a: float, n: int = 500, d: int = 4):
    rng = np.random.default_rng(seed)
    shift = np.zeros(d)
    shift[0] = a
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift


def test_same_seed_same_numbers_other_seed_differs():
    real, syn = _small_pair(0, 1.5)
    kwargs = dict(m=300, l=100, repeats=2, n_threads=1, max_epochs=30)
    r1 = DivergenceEstimator(seed=7, **kwargs).estimate(real, syn)
    r2 = DivergenceEstimator(seed=7, **kwargs).estimate(real, syn)
    r3 = DivergenceEstimator(seed=8, **kwargs).estimate(real, syn)
    assert r1.kl_repeats == r2.kl_repeats and r1.js_repeats == r2.js_repeats and r1.auc_repeats == r2.auc_repeats
    assert r1.kl_repeats != r3.kl_repeats


def test_realistic_preset_and_shared_split():
    est = DivergenceEstimator.from_preset("realistic", repeats=3, seed=1, n_threads=1, resplit=False)
    assert (est.m, est.l, est.rows_needed) == (100, 100, 300)
    same, far = _small_pair(1, 0.0, n=300), _small_pair(2, 4.0, n=300)
    r_same, r_far = est.estimate_many([same, far])
    assert r_far.js > r_same.js + 0.3
    assert r_far.auc > 0.9
    assert len(r_far.js_repeats) == 3


def test_patience_cap_binds_on_one_batch_epochs_only():
    """The default judge waits at most 200 epochs after its best validation BCE: on the realistic
    preset's one-batch epochs (600 steps would be 600 epochs), not on the reliable preset's 30."""
    from tabaug_ray.evaluate.batched_mlp import fit_early_stopping

    def patience_for(n_train: int, cap: int | None) -> int:
        gen = torch.Generator().manual_seed(0)
        x, y = torch.randn(1, n_train, 3, generator=gen), torch.ones(1, n_train, 1)
        model = BatchedMLP(n_copies=1, d_in=3, hidden=(4,), generator=gen)
        loss = lambda z, t: torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none").mean(dim=(1, 2))
        fit = fit_early_stopping(model, loss, x_train=x, y_train=y, x_val=x[:, :8], y_val=y[:, :8], lr=1e-3,
                                 batch_size=512, max_epochs=1, patience=None, patience_steps=600, min_patience=3,
                                 min_delta=1e-3, generator=gen, max_patience=cap)
        return fit.patience

    assert patience_for(200, None) == 600 and patience_for(200, 200) == 200
    assert patience_for(15_000, None) == patience_for(15_000, 200) == 20  # reliable: 30 batches per epoch
    assert patience_for(200, 1) == 3  # never below min_patience
    # end to end: identical distributions at the realistic preset stop ~200 epochs after an early best epoch
    same = _small_pair(3, 0.0, n=300)
    r = DivergenceEstimator.from_preset("realistic", repeats=2, seed=0, n_threads=1).estimate(*same)
    # (patience counts from the last improvement by min_delta, at or before the best epoch)
    assert all(200 <= stop <= best + 200 for best, stop in zip(r.epochs, r.epochs_trained)), (r.epochs, r.epochs_trained)


def test_too_few_rows_and_bad_input():
    est = DivergenceEstimator(m=100, l=50, repeats=1)
    real, syn = _small_pair(0, 1.0, n=199)
    with pytest.raises(TabaugError, match=r"199 rows .* M \+ 2L = 100 \+ 2·50 = 200"):
        est.estimate(real, syn)
    real, syn = _small_pair(0, 1.0, n=200)
    with pytest.raises(TabaugError, match="same number of columns"):
        est.estimate(real, syn[:, :3])
    bad = real.copy()
    bad[5, 2] = np.nan
    with pytest.raises(TabaugError, match="real: non-finite value nan at row 5, column 2"):
        est.estimate(bad, syn)
    with pytest.raises(TabaugError, match="unknown divergence preset 'fast'"):
        DivergenceEstimator.from_preset("fast")
    with pytest.raises(TabaugError, match="repeats must be >= 1"):
        DivergenceEstimator(m=10, l=10, repeats=0).estimate(real, syn)


def test_platt_scaling_stays_finite_on_separable_validation_rows():
    """Platt's smoothed targets: a perfectly separated validation split has a finite slope (with 0/1
    labels there is no minimiser and Newton drove the slope to ~1e9), and on overlapping rows the
    fit is the minimum of the smoothed-target BCE (zero gradient, no higher than the identity map)."""
    from tabaug_ray.evaluate.divergence import platt_scale

    gen = torch.Generator().manual_seed(0)
    y = torch.cat([torch.ones(1000), torch.zeros(1000)]).double()[None].repeat(2, 1)
    separable = torch.cat([2 + torch.rand(1, 1000, generator=gen), -2 - torch.rand(1, 1000, generator=gen)], dim=1)
    overlapping = (2 * y[:1] - 1) + torch.randn(1, 2000, generator=gen)
    z = torch.cat([separable, overlapping]).double()
    a, b = platt_scale(z, y)
    assert torch.isfinite(a).all() and 0 < a[0] < 10 and abs(b[0]) < 1
    p = torch.sigmoid(a[0] * z[0] + b[0])  # no probability beyond Platt's targets 1001/1002, 1/1002
    assert p.max() < 1001 / 1002 + 1e-3 and p.min() > 1 / 1002 - 1e-3
    t = torch.where(y[1] > 0.5, 1001 / 1002, 1 / 1002)
    s = a[1] * z[1] + b[1]
    grad = torch.stack([((torch.sigmoid(s) - t) * z[1]).mean(), (torch.sigmoid(s) - t).mean()])
    assert grad.abs().max() < 1e-8
    bce = lambda s: torch.nn.functional.binary_cross_entropy_with_logits(s, t)
    assert bce(s) <= bce(z[1]) and 1 < a[1] < 3  # the logits of N(+-1, 1) want a slope of 2


def test_default_judge_reads_a_separable_pair_near_one_bit():
    """Real and synthetic rows that never overlap: JS of every repeat near its 1-bit maximum and a
    finite KL (0.3.0-0.5.0 read JS -0.57 / KL 3e10 on such repeats through the Platt step)."""
    rng = np.random.default_rng(5)
    real = rng.standard_normal((9_500, 5))
    syn = rng.standard_normal((9_500, 5))
    syn[:, 0] += 12.0
    r = DivergenceEstimator.from_preset("reliable", repeats=3, seed=0, n_threads=1).estimate(real, syn)
    assert all(0.97 <= js <= 1.0 for js in r.js_repeats), r.js_repeats
    assert all(0 < kl < 20 for kl in r.kl_repeats), r.kl_repeats
