"""CTGAN adapter on real medical-insurance rows: contract, determinism, and a pre-train -> fine-tune that
really starts from the pre-trained generator, discriminator and data transformer."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.ctgan import CTGANGenerator

DISCRETE = ["sex", "smoker", "region"]
SMALL = dict(batch_size=100, pac=10, generator_dim=(64, 64), discriminator_dim=(64, 64), embedding_dim=32, n_threads=1)


@pytest.fixture(scope="module")
def tables(data_dir):
    df = pd.read_csv(data_dir / "medical_insurance.csv.gz")
    # stand-in for VAE samples: other real rows, without 'northeast'; 'southwest' listed first
    pre = df.iloc[600:].query("region != 'northeast'").sort_values("region", ascending=False, kind="stable")
    real = df.iloc[:600].query("region != 'southwest'").head(300)  # lacks 'southwest', has 'northeast'
    return pre.reset_index(drop=True), real.reset_index(drop=True)


@pytest.fixture(scope="module")
def pretrained(tables):
    pre, _ = tables
    return CTGANGenerator(epochs=3, seed=0, **SMALL).fit(pre, discrete_columns=DISCRETE)


def _weights(model: CTGANGenerator) -> dict[str, torch.Tensor]:
    g = {f"generator.{k}": v.detach().clone() for k, v in model.model_._generator.named_parameters()}
    d = {f"discriminator.{k}": v.detach().clone() for k, v in model.discriminator_.named_parameters()}
    return {**g, **d}


def test_samples_follow_the_table(tables, pretrained):
    pre, _ = tables
    rows = pretrained.sample(400, seed=1)
    assert list(rows.columns) == list(pre.columns) and len(rows) == 400
    assert rows.dtypes.equals(pre.dtypes)
    for col in DISCRETE:
        assert set(rows[col]) <= set(pre[col])
    assert rows["bmi"].std() > 0 and rows["age"].between(pre["age"].min() - 20, pre["age"].max() + 20).all()
    assert len(pretrained.sample(0, seed=1)) == 0
    assert pretrained.fine_tuned_ is False and len(pretrained.loss_values_) == 3


def test_same_seed_same_model_and_samples(tables, pretrained):
    pre, _ = tables
    again = CTGANGenerator(epochs=3, seed=0, **SMALL).fit(pre, discrete_columns=DISCRETE)
    w0, w1 = _weights(pretrained), _weights(again)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    a = pretrained.sample(300, seed=7)
    assert a.equals(again.sample(300, seed=7)) and a.equals(pretrained.sample(300, seed=7))
    assert not a.equals(pretrained.sample(300, seed=8))
    other = CTGANGenerator(epochs=3, seed=1, **SMALL).fit(pre, discrete_columns=DISCRETE)
    assert any(not torch.equal(w0[k], v) for k, v in _weights(other).items())
    copy = pickle.loads(pickle.dumps(pretrained))  # travels through the Ray object store
    assert copy.sample(300, seed=7).equals(a)


def test_finetuning_starts_from_the_pretrained_weights(tables, pretrained):
    _, real = tables
    w0 = _weights(pretrained)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zero = CTGANGenerator(epochs=0, seed=2, **SMALL).fit(real, discrete_columns=DISCRETE, init=pretrained)
        one = CTGANGenerator(epochs=1, seed=2, **SMALL).fit(real, discrete_columns=DISCRETE, init=pretrained)
        scratch = CTGANGenerator(epochs=0, seed=2, **SMALL).fit(real, discrete_columns=DISCRETE)  # the reference's path
    wz, w1 = _weights(zero), _weights(one)
    assert all(torch.equal(w0[k], wz[k]) for k in w0)  # generator AND discriminator
    steps = 3 * (len(real) // SMALL["batch_size"])  # Adam steps of the generator in one epoch
    diff = max(float((w0[k] - w1[k]).abs().max()) for k in w0)
    assert 0.0 < diff <= steps * 2e-4 * 1.01  # a few fresh-Adam steps of lr 2e-4 away
    ws = _weights(scratch)
    assert any(ws[k].shape != w0[k].shape or not torch.equal(ws[k], w0[k]) for k in w0)
    # the pre-trained encoding is reused (not refitted on the real rows) and the pre-trained model is untouched
    t0, tz = pretrained.model_._transformer, zero.model_._transformer
    assert tz is not t0 and tz.output_dimensions == t0.output_dimensions
    assert [i.column_name for i in tz._column_transform_info_list] == [i.column_name for i in t0._column_transform_info_list]
    assert zero.fine_tuned_ and all(torch.equal(w0[k], v) for k, v in _weights(pretrained).items())


def test_categories_missing_on_either_side_do_not_break(tables, pretrained):
    _, real = tables
    with pytest.warns(UserWarning, match="northeast"):
        tuned = CTGANGenerator(epochs=2, seed=3, **SMALL).fit(real, discrete_columns=DISCRETE, init=pretrained)
    assert tuned.unseen_categories_ == {"region": ["northeast"]}
    rows = tuned.sample(600, seed=0)
    assert "northeast" not in set(rows["region"])  # the pre-trained encoding has no slot for it
    # 'southwest' is in the pre-trained encoding but absent from the real rows: frequency 0; the
    # conditional vectors used for sampling must never ask for it (ctgan's own method shifts indices)
    sampler = tuned.model_._data_sampler
    np.random.seed(0)
    cond = sampler.sample_original_condvec(5000)
    info = [i for i in tuned.model_._transformer._column_transform_info_list if i.column_type == "discrete"]
    start = sum(i.output_dimensions for i in info[: DISCRETE.index("region")])
    sw = start + list(info[DISCRETE.index("region")].transform.dummies).index("southwest")
    assert cond[:, sw].sum() == 0 and (cond.sum(axis=1) == 1).all()
    prob = np.concatenate([sampler._discrete_column_category_prob[i, :k] for i, k in enumerate(sampler._discrete_column_n_category)])
    np.testing.assert_allclose(cond.mean(axis=0), prob / prob.sum(), atol=0.03)


def test_bad_input_is_rejected(tables, pretrained):
    pre, real = tables
    with pytest.raises(TabaugError, match="multiple of pac"):
        CTGANGenerator(batch_size=105, pac=10).fit(pre, discrete_columns=DISCRETE)
    with pytest.raises(TabaugError, match="not columns"):
        CTGANGenerator(**SMALL).fit(pre, discrete_columns=["nope"])
    holes = real.copy()
    holes.loc[0, "bmi"] = np.nan
    with pytest.raises(TabaugError, match="bmi"):
        CTGANGenerator(**SMALL).fit(holes, discrete_columns=DISCRETE)
    with pytest.raises(TabaugError, match="architecture"):
        CTGANGenerator(**{**SMALL, "generator_dim": (32,)}).fit(real, discrete_columns=DISCRETE, init=pretrained)
    with pytest.raises(TabaugError, match="differ from the pre-trained"):
        CTGANGenerator(**SMALL).fit(real.drop(columns="children"), discrete_columns=DISCRETE, init=pretrained)
