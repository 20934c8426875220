"""The four inductive-bias initialisations and the shared fine-tuning, on 300 real Adult rows (small budgets)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tabaug_ray.bias import (
    TECHNIQUES,
    adapted_query_loss,
    average_init,
    drs_init,
    drs_rows,
    finetune,
    maml_init,
    maml_start,
    maml_tasks,
    meta_gradient,
    pretrain_init,
    pretrain_rows,
    synthetic_sets,
)
from tabaug_ray.bias.common import DRS_FIT, PRETRAIN_FIT
from tabaug_ray.errors import TabaugError
from tabaug_ray.generators import PARAM_NAMES, VAEBGM, derive_seed
from tabaug_ray.generators.vae import param_shapes

N_SEEDS = 3
N_SYN = 400  # synthetic rows per member (reference 10,000)
SMALL = {"n_seeds": 2, "max_epochs": 40}  # the ensembles trained on synthetic rows
MAML = {"n_support": 100, "n_query": 150, "inner_steps": 4, "alpha": 1e-6, "gamma": 1e-3, "patience": 3}


@pytest.fixture(scope="module")
def low(adult):
    X, cols = adult
    return VAEBGM(columns=cols, n_seeds=N_SEEDS, seed=0, n_threads=1).fit(X)


@pytest.fixture(scope="module")
def sets(low):
    return synthetic_sets(low, N_SYN, seed=5)


def _check_state(state, low) -> None:
    shapes = param_shapes(low.n_features_in_, low.layout_.width, latent_dim=low.latent_dim, hidden_dim=low.hidden_dim)
    assert list(state) == list(PARAM_NAMES)
    for k in PARAM_NAMES:
        assert tuple(state[k].shape) == shapes[k] and state[k].dtype == torch.float32, k
        assert torch.isfinite(state[k]).all(), k


def _max_diff(a, b) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in PARAM_NAMES)


def test_synthetic_sets_are_each_members_samples(low, sets):
    assert len(sets) == N_SEEDS and all(s.shape == (N_SYN, low.n_features_in_) for s in sets)
    assert not np.array_equal(sets[0], sets[1])  # different members (and draws)
    again = synthetic_sets(low, N_SYN, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(sets, again))
    # the best member's set is what pretrain samples when no sets are passed
    best = int(np.flatnonzero(low.members_ == low.best_seed_)[0])
    assert np.array_equal(pretrain_rows(low, n_synthetic=N_SYN, seed=5), sets[best])
    assert np.array_equal(pretrain_rows(low, synthetic=sets), sets[best])
    with pytest.raises(TabaugError, match="one set per trained Low-data member"):
        pretrain_rows(low, synthetic=sets[:2])


def test_average_is_the_mean_of_the_members(low):
    state, info = average_init(low)
    _check_state(state, low)
    stacked = low.stacked_state()
    for k in PARAM_NAMES:
        torch.testing.assert_close(state[k], stacked[k].mean(dim=0), rtol=0, atol=1e-7)
    assert _max_diff(state, low.state_dict(0)) > 1e-3  # not one of the members
    assert info["technique"] == "avg" and info["n_members"] == N_SEEDS


def test_pretrain_is_the_best_seed_of_an_ensemble_on_the_best_members_rows(low, sets):
    state, info = pretrain_init(low, synthetic=sets, seed=3, vae_params=SMALL)
    _check_state(state, low)
    rows = pretrain_rows(low, synthetic=sets)
    params = {**low.get_params(), "val_every_batch": False, **SMALL, "seed": derive_seed(3, PRETRAIN_FIT)}
    ref = VAEBGM(**params).fit(rows)
    assert _max_diff(state, ref.state_dict("best")) == 0.0
    assert info["best_seed"] == ref.best_seed_ and info["n_rows"] == N_SYN and info["source_member"] == low.best_seed_
    assert len(info["epochs"]) == SMALL["n_seeds"] and info["seconds"] > 0
    # trained on other rows (another member's set) it would differ
    other = VAEBGM(**params).fit(sets[int(np.flatnonzero(low.members_ != low.best_seed_)[0])])
    assert _max_diff(state, other.state_dict("best")) > 1e-3


def test_drs_draws_from_the_pool_of_all_members(low, sets):
    rows = drs_rows(sets, seed=3)
    assert rows.shape == (N_SYN, low.n_features_in_)
    owner = []  # which member's set each drawn row comes from
    for r in rows:
        hits = [i for i, s in enumerate(sets) if (s == r).all(axis=1).any()]
        assert hits, "a DRS row is not a pooled synthetic row"
        owner.append(hits[0])
    assert len(set(owner)) == N_SEEDS  # rows from every member, not one set
    assert np.array_equal(rows, drs_rows(sets, seed=3)) and not np.array_equal(rows, drs_rows(sets, seed=4))
    state, info = drs_init(low, synthetic=sets, seed=3, vae_params=SMALL)
    _check_state(state, low)
    params = {**low.get_params(), "val_every_batch": False, **SMALL, "seed": derive_seed(3, DRS_FIT)}
    ref = VAEBGM(**params).fit(rows)
    assert _max_diff(state, ref.state_dict("best")) == 0.0
    assert info["pool_rows"] == N_SEEDS * N_SYN and info["n_rows"] == N_SYN
    with pytest.raises(TabaugError, match="pooled rows"):
        drs_rows(sets, 10 * N_SYN, seed=0)


def test_maml_first_and_second_order_improve_the_query_loss(low, sets):
    support, query = maml_tasks(sets, n_support=MAML["n_support"], seed=0)
    assert support.shape == (N_SEEDS, 100, low.n_features_in_) and query.shape == (N_SEEDS, N_SYN - 100, low.n_features_in_)
    start = maml_start(low, "avg")
    objective = dict(alpha=MAML["alpha"], inner_steps=MAML["inner_steps"], seed=11)
    before = adapted_query_loss(start, low, support, query, **objective)
    for first_order in (True, False):
        state, info = maml_init(low, synthetic=sets, seed=0, start="avg", first_order=first_order, max_meta_iters=5, **MAML)
        _check_state(state, low)
        assert info["meta_iters"] <= 5 and info["first_order"] is first_order
        assert info["query_loss_best"] <= info["query_loss_init"] == info["query_losses"][0]
        # judged on fresh noise and the full query sets, the kept parameters beat the start
        after = adapted_query_loss(state, low, support, query, **objective)
        assert after < before, (first_order, after, before)
    again, _ = maml_init(low, synthetic=sets, seed=0, start="avg", first_order=False, max_meta_iters=5, **MAML)
    assert _max_diff(state, again) == 0.0  # same seed, same meta-parameters


def test_maml_keeps_the_best_pre_update_parameters_and_stops(low, sets):
    # the reference's alpha from a random start: the inner loop diverges and the query loss jumps about
    kw = dict(synthetic=sets, seed=0, start="random", first_order=True, **{**MAML, "alpha": 1e-3})
    state, info = maml_init(low, max_meta_iters=30, **kw)
    losses = info["query_losses"]
    assert info["query_loss_best"] == min(losses) and losses[info["best_iter"]] == min(losses)
    assert len(losses) == info["meta_iters"] == info["best_iter"] + 1 + MAML["patience"] < 30  # stopped by patience
    # the kept parameters are the pre-update ones of the best iteration, not the last iterate
    upto_best, _ = maml_init(low, max_meta_iters=info["best_iter"] + 1, **kw)
    assert _max_diff(state, upto_best) == 0.0


def test_maml_inner_clip_lets_the_reference_alpha_learn_from_a_random_start(low, sets):
    kw = dict(synthetic=sets, seed=0, start="random", first_order=True, max_meta_iters=8,
              **{**MAML, "alpha": 1e-3, "patience": 8})
    _, clipped = maml_init(low, inner_max_norm=10.0, **kw)
    assert clipped["skipped_updates"] == 0 and clipped["best_iter"] >= 4
    assert clipped["query_loss_best"] < 0.8 * clipped["query_loss_init"], clipped["query_losses"]
    _, raw = maml_init(low, **kw)  # the reference: no clip
    assert min(raw["query_losses"]) > 2 * clipped["query_loss_best"], (raw["query_losses"], clipped["query_losses"])


def test_maml_stacked_equals_vmap_and_threads_do_not_matter(low, sets):
    support, query = maml_tasks(sets, n_support=50, seed=0)
    theta = maml_start(low, "best")
    kw = dict(alpha=1e-6, inner_steps=3, n_query=100, seed=2)
    for first_order in (False, True):
        g1, l1 = meta_gradient(theta, low, support, query, first_order=first_order, n_threads=1, **kw)
        g2, l2 = meta_gradient(theta, low, support, query, first_order=first_order, n_threads=2, **kw)
        gv, lv = meta_gradient(theta, low, support, query, first_order=first_order, batching="vmap", **kw)
        assert all(torch.equal(g1[k], g2[k]) for k in PARAM_NAMES) and torch.equal(l1, l2)
        torch.testing.assert_close(lv, l1, rtol=1e-5, atol=0)
        for k in PARAM_NAMES:
            torch.testing.assert_close(gv[k], g1[k], rtol=1e-3, atol=1e-4 * float(g1[k].abs().max()))
    # second order differs from first order (the Hessian term is there)
    so, _ = meta_gradient(theta, low, support, query, first_order=False, **{**kw, "alpha": 1e-4})
    fo, _ = meta_gradient(theta, low, support, query, first_order=True, **{**kw, "alpha": 1e-4})
    assert max(float((so[k] - fo[k]).abs().max() / so[k].abs().max()) for k in PARAM_NAMES) > 1e-4


def test_finetune_starts_at_theta0_and_gives_a_valid_generator(adult, low):
    X, cols = adult
    theta, _ = average_init(low)
    params = low.get_params()
    frozen = finetune(theta, X, vae_params={**params, "max_epochs": 0}, seed=low.seed)
    one = finetune(theta, X, vae_params={**params, "max_epochs": 1}, seed=low.seed)
    for m in range(N_SEEDS):
        assert _max_diff(frozen.state_dict(m), theta) == 0.0
        assert 0.0 < _max_diff(one.state_dict(m), theta) <= 5e-3  # one fresh-Adam step of lr 1e-3
    tuned = finetune(theta, X, vae_params={**params, "max_epochs": 60}, seed=low.seed)
    assert np.array_equal(tuned.val_index_, low.val_index_)  # Low data's split: only the start differs
    assert (tuned.val_loss_ < frozen.val_loss_).all()
    rows = tuned.sample(500, seed=1)
    assert rows.shape == (500, len(cols)) and np.isfinite(rows).all()
    for j, col in enumerate(cols):
        if col.kind == "categorical":
            assert np.array_equal(rows[:, j], np.round(rows[:, j])) and rows[:, j].min() >= 0 and rows[:, j].max() < col.n_categories
        elif col.kind == "bernoulli":
            assert set(np.unique(rows[:, j])) <= {0.0, 1.0}


def test_registry_has_one_call_for_all_techniques(low, sets):
    assert set(TECHNIQUES) == {"pretrain", "avg", "maml", "drs"}
    options = {"maml": {**MAML, "max_meta_iters": 2, "first_order": True, "start": "avg"}}
    for name, technique in TECHNIQUES.items():
        state, info = technique(low, synthetic=sets, n_synthetic=N_SYN, seed=1, vae_params={**SMALL, "max_epochs": 5}, n_threads=1,
                                **options.get(name, {}))
        _check_state(state, low)
        assert info["technique"] == name and info["seconds"] >= 0
    with pytest.raises(TabaugError, match="latent_dim"):
        pretrain_init(low, synthetic=sets, vae_params={"latent_dim": 4})
