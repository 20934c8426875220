"""The VAE of the VAE-BGM generator: parameters, a functional negative ELBO, and a plain nn.Module.

Every function here works on the parameters of ONE seed (weights shaped like ``nn.Linear``:
``[out, in]``) and, unchanged, on a stack of seeds (a leading seed dimension on every parameter,
noise and data tensor: ``[S, out, in]``, ``[S, B, D]``); the batched ensemble trainer uses the
second form, ``torch.func.vmap`` / ``grad`` (MAML) the first.

Architecture (reference code): encoder Linear(D, H) -> ReLU -> Linear(H, 2L) on the model-space
rows with categorical codes scaled to [0, 1] (NOTE[DIFF], see ``encode``), output ``10·tanh``,
split into mean and log-variance; decoder Linear(L, H) -> ReLU -> Dropout(0.2) -> Linear(H, P),
with per-column heads: gaussian (mean ``5·tanh``, std in (1e-5, 0.1) by a scaled sigmoid),
bernoulli (p in [1e-3, 1-1e-3]), categorical (softmax of ``10·tanh`` logits over K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tabaug_ray.config import VAESection
from tabaug_ray.data.schema import ColumnSpec

PARAM_NAMES: tuple[str, ...] = (
    "encoder.0.weight",
    "encoder.0.bias",
    "encoder.2.weight",
    "encoder.2.bias",
    "decoder.0.weight",
    "decoder.0.bias",
    "decoder.3.weight",
    "decoder.3.bias",
)
LATENT_LIMIT = 10.0  # encoder output = 10·tanh(.)
MEAN_LIMIT = 5.0  # gaussian mean = 5·tanh(.)
MIN_VAL = 1e-3  # reference: bernoulli clip and std floor
MAX_STD = 10.0  # reference: std = (sigmoid·(MAX_STD - MIN_VAL) + MIN_VAL) / (10·MAX_STD) in (1e-5, 0.1)
CAT_LIMIT = 10.0  # categorical logits = 10·tanh(.)
DROPOUT = VAESection().dropout  # the config's [vae] section holds every VAE default
GRAD_CLIP = 1000.0  # reference: encoder activations' gradients clamped to ±1000
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- schema -> heads
@dataclass(frozen=True, eq=False)
class HeadLayout:
    """Where each column's head sits in the decoder output (built once per schema).

    The decoder output is grouped by kind (a permutation of the reference's per-column order, the
    same model): ``[gaussian means (G) | gaussian std logits (G) | bernoulli logits (B) |
    categorical logits, one block of K per categorical column in schema order]``, so every head is
    a slice.
    """

    columns: tuple[ColumnSpec, ...]
    width: int
    n_gauss: int
    n_bern: int
    gauss_cols: Tensor  # model-space column of each gaussian
    bern_cols: Tensor
    cat_cols: Tensor
    cat_k: tuple[int, ...]
    cat_offset: Tensor  # [C] start of each categorical block inside the categorical slice
    cat_block: Tensor  # [Pc] which categorical column (0..C-1) each categorical logit belongs to
    enc_scale: Tensor  # [D] encoder-input multiplier: 1/(K-1) for categorical codes, 1 otherwise

    @property
    def cat_start(self) -> int:
        return 2 * self.n_gauss + self.n_bern


@lru_cache(maxsize=64)
def _layout(columns: tuple[ColumnSpec, ...]) -> HeadLayout:
    kinds = [c.kind for c in columns]
    pick = lambda kind: torch.tensor([j for j, k in enumerate(kinds) if k == kind], dtype=torch.long)  # noqa: E731
    cat_k = tuple(c.n_categories for c in columns if c.kind == "categorical")
    offsets = np.concatenate([[0], np.cumsum(cat_k)]).astype(np.int64)
    block = torch.from_numpy(np.repeat(np.arange(len(cat_k)), cat_k).astype(np.int64))
    n_gauss, n_bern = kinds.count("gaussian"), kinds.count("bernoulli")
    return HeadLayout(
        columns=columns,
        width=2 * n_gauss + n_bern + int(offsets[-1]),
        n_gauss=n_gauss,
        n_bern=n_bern,
        gauss_cols=pick("gaussian"),
        bern_cols=pick("bernoulli"),
        cat_cols=pick("categorical"),
        cat_k=cat_k,
        cat_offset=torch.from_numpy(offsets[:-1].copy()),
        cat_block=block,
        enc_scale=torch.tensor(
            [1.0 / (c.n_categories - 1) if c.kind == "categorical" and c.n_categories > 1 else 1.0 for c in columns],
            dtype=torch.float32,
        ),
    )


def head_layout(columns: Sequence[ColumnSpec] | HeadLayout) -> HeadLayout:
    """The (cached) head layout of a schema; a HeadLayout is returned as is."""
    if isinstance(columns, HeadLayout):
        return columns
    columns = tuple(columns)
    if not columns:
        raise ValueError("the schema has no columns")
    return _layout(columns)


# ----------------------------------------------------------------------------- parameters
def param_shapes(n_features: int, width: int, *, latent_dim: int, hidden_dim: int) -> dict[str, tuple[int, ...]]:
    """Shapes of one seed's parameters (``nn.Linear`` convention ``[out, in]``)."""
    return {
        "encoder.0.weight": (hidden_dim, n_features),
        "encoder.0.bias": (hidden_dim,),
        "encoder.2.weight": (2 * latent_dim, hidden_dim),
        "encoder.2.bias": (2 * latent_dim,),
        "decoder.0.weight": (hidden_dim, latent_dim),
        "decoder.0.bias": (hidden_dim,),
        "decoder.3.weight": (width, hidden_dim),
        "decoder.3.bias": (width,),
    }


def init_params(
    columns: Sequence[ColumnSpec] | HeadLayout, *, latent_dim: int, hidden_dim: int, generator: torch.Generator
) -> dict[str, Tensor]:
    """One seed's initial parameters, drawn like ``nn.Linear``'s default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Args:
        columns: schema (or its layout).
        latent_dim: latent size L.
        hidden_dim: hidden width H.
        generator: the seed's torch.Generator (the only source of randomness).
    """
    lay = head_layout(columns)
    out = {}
    for name, shape in param_shapes(len(lay.columns), lay.width, latent_dim=latent_dim, hidden_dim=hidden_dim).items():
        fan_in = param_shapes(len(lay.columns), lay.width, latent_dim=latent_dim, hidden_dim=hidden_dim)[
            name.replace("bias", "weight")
        ][1]
        bound = 1.0 / math.sqrt(fan_in)
        out[name] = (torch.rand(shape, generator=generator, dtype=torch.float32) * 2.0 - 1.0) * bound
    return out


# ----------------------------------------------------------------------------- forward pieces
class _ClampGrad(torch.autograd.Function):
    """Identity forward; backward clamps the incoming gradient (the reference's tensor hooks)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, limit: float) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.limit = inputs[1]

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad.clamp(-ctx.limit, ctx.limit), None


def _clamp_grad(x: Tensor, limit: float | None) -> Tensor:
    if limit is None or not torch.is_grad_enabled() or not x.requires_grad:
        return x
    return _ClampGrad.apply(x, limit)


def _linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    if w.dim() == 2:
        return F.linear(x, w, b)
    return torch.baddbmm(b.unsqueeze(-2), x, w.transpose(-1, -2))  # stacked seeds: [S,B,in] x [S,in,out]


def encode(
    params: Mapping[str, Tensor],
    x: Tensor,
    *,
    columns: Sequence[ColumnSpec] | HeadLayout,
    grad_clip: float | None = GRAD_CLIP,
) -> tuple[Tensor, Tensor]:
    """Encoder means and log-variances, each ``[..., B, L]``, of model-space rows ``x``.

    NOTE[DIFF]: categorical codes enter the encoder divided by K-1 (in [0, 1], like the min-max
    scaled bernoullis); the reference fed raw codes. Raw codes made the encoder's input scale
    depend on the vocabulary's order and size (our Adult codes follow the sorted vocabulary:
    native-country's mode is code 38 of 41; the reference's files coded by order of appearance),
    which saturated ``10·tanh`` at initialisation (log-variance ~ +5, latent noise ~ 13 sd), drove
    the decoder's heads into saturation and left the VAE unable to reconstruct its training rows
    (validation loss ~ 2,000-5,000 per row instead of ~ 50-140; per-column KS of samples vs
    training rows up to 1.0). The likelihood still sees the integer codes.
    """
    x = x * head_layout(columns).enc_scale
    h = _clamp_grad(_linear(x, params["encoder.0.weight"], params["encoder.0.bias"]), grad_clip)
    o = _clamp_grad(_linear(torch.relu(h), params["encoder.2.weight"], params["encoder.2.bias"]), grad_clip)
    o = LATENT_LIMIT * torch.tanh(o)
    latent = o.shape[-1] // 2
    return o[..., :latent], o[..., latent:]


def decode(params: Mapping[str, Tensor], z: Tensor, *, dropout_mask: Tensor | None = None) -> Tensor:
    """Raw decoder output ``[..., B, P]`` (heads not applied). ``dropout_mask`` already holds 0 or 1/(1-p)."""
    h = torch.relu(_linear(z, params["decoder.0.weight"], params["decoder.0.bias"]))
    if dropout_mask is not None:
        h = h * dropout_mask
    return _linear(h, params["decoder.3.weight"], params["decoder.3.bias"])


def _gauss(out: Tensor, lay: HeadLayout) -> tuple[Tensor, Tensor]:
    g = lay.n_gauss
    mean = MEAN_LIMIT * torch.tanh(out[..., :g])
    std = (torch.sigmoid(out[..., g : 2 * g]) * (MAX_STD - MIN_VAL) + MIN_VAL) / (10.0 * MAX_STD)
    return mean, std


def _bern(out: Tensor, lay: HeadLayout) -> Tensor:
    g2 = 2 * lay.n_gauss
    return torch.sigmoid(out[..., g2 : g2 + lay.n_bern]) * (1.0 - 2.0 * MIN_VAL) + MIN_VAL


def _cat_logits(out: Tensor, lay: HeadLayout) -> Tensor:
    return CAT_LIMIT * torch.tanh(out[..., lay.cat_start :])  # [..., B, Pc], all blocks side by side


def log_likelihood(out: Tensor, x: Tensor, columns: Sequence[ColumnSpec] | HeadLayout) -> Tensor:
    """Sum over rows and columns of log p(x | decoder output): shape ``[...]`` (leading dims)."""
    lay = head_layout(columns)
    total = out.new_zeros(out.shape[:-2])
    if lay.n_gauss:
        mean, std = _gauss(out, lay)
        ll = -torch.log(std) - _LOG_SQRT_2PI - 0.5 * ((x[..., lay.gauss_cols] - mean) / std).square()
        total = total + ll.sum(dim=(-2, -1))
    if lay.n_bern:
        p = _bern(out, lay)
        t = x[..., lay.bern_cols]
        total = total + (t * torch.log(p) + (1.0 - t) * torch.log1p(-p)).sum(dim=(-2, -1))
    if lay.cat_k:
        logits = _cat_logits(out, lay)
        # log-sum-exp of each block without max-shift: logits lie in [-10, 10], exp cannot overflow
        # index_add sums each row's block in order: the same bits whatever the leading dims
        sums = logits.new_zeros((*logits.shape[:-1], len(lay.cat_k))).index_add(-1, lay.cat_block, torch.exp(logits))
        lse = torch.log(sums)  # [..., B, C]
        target = torch.gather(logits, -1, x[..., lay.cat_cols].long() + lay.cat_offset)
        total = total + (target - lse).sum(dim=(-2, -1))
    return total


def negative_elbo(
    params: Mapping[str, Tensor],
    x: Tensor,
    *,
    columns: Sequence[ColumnSpec] | HeadLayout,
    eps: Tensor,
    dropout_mask: Tensor | None = None,
    grad_clip: float | None = GRAD_CLIP,
) -> Tensor:
    """Negative ELBO averaged over the batch rows: KL(q(z|x) || N(0, I)) + Σ_columns −log p(x_col | z), β = 1.

    Pure function of its arguments (all randomness passed in), so it works under
    ``torch.func.vmap`` / ``grad`` and to any order of differentiation.

    Args:
        params: one seed's parameters by ``PARAM_NAMES`` (``VAE.state_dict()`` keys), or stacked
            seeds with a leading dimension S on every tensor.
        x: model-space rows ``[B, D]`` (``[S, B, D]`` for stacked seeds), float32.
        columns: the schema (or its HeadLayout).
        eps: standard-normal noise for the reparameterisation, ``[B, L]`` (``[S, B, L]``).
        dropout_mask: decoder dropout multiplier ``[B, H]`` with values 0 or 1/(1-p) (see
            ``draw_noise``); None = no dropout (evaluation mode).
        grad_clip: clamp of the encoder activations' gradients (reference: 1000); None = off.

    Returns:
        Scalar loss (``[S]`` for stacked seeds).
    """
    mu, logvar = encode(params, x, columns=columns, grad_clip=grad_clip)
    z = mu + eps * torch.exp(0.5 * logvar)
    out = decode(params, z, dropout_mask=dropout_mask)
    n_rows = x.shape[-2]
    kl = -0.5 * (1.0 + logvar - mu.square() - torch.exp(logvar)).sum(dim=(-2, -1))
    return (kl - log_likelihood(out, x, columns)) / n_rows


def draw_noise(
    n_rows: int, *, latent_dim: int, hidden_dim: int, generator: torch.Generator, dropout: float = DROPOUT
) -> tuple[Tensor, Tensor]:
    """Noise for one training pass: ``eps [n_rows, L]`` and a dropout mask ``[n_rows, H]`` (0 or 1/(1-p))."""
    eps = torch.randn((n_rows, latent_dim), generator=generator)
    keep = torch.rand((n_rows, hidden_dim), generator=generator) >= dropout
    return eps, keep.to(torch.float32) / (1.0 - dropout)


# ----------------------------------------------------------------------------- sampling heads
def sample_columns(out: np.ndarray, columns: Sequence[ColumnSpec] | HeadLayout, rng: np.random.Generator) -> np.ndarray:
    """Draw each column from its head (normal / bernoulli / categorical) given raw decoder outputs ``[n, P]``.

    Returns:
        float32 model-space rows ``[n, D]``.
    """
    lay = head_layout(columns)
    t = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
    n = t.shape[0]
    rows = np.empty((n, len(lay.columns)), dtype=np.float32)
    if lay.n_gauss:
        mean, std = (a.numpy().astype(np.float64) for a in _gauss(t, lay))
        rows[:, lay.gauss_cols.numpy()] = rng.normal(mean, std)
    if lay.n_bern:
        p = _bern(t, lay).numpy()
        rows[:, lay.bern_cols.numpy()] = rng.random(p.shape) < p
    if lay.cat_k:
        logits = _cat_logits(t, lay).numpy().astype(np.float64)
        u = rng.random((n, len(lay.cat_k)))
        for i, (j, start, k) in enumerate(zip(lay.cat_cols.tolist(), lay.cat_offset.tolist(), lay.cat_k)):
            cdf = np.cumsum(np.exp(logits[:, start : start + k]), axis=1)
            codes = (u[:, i : i + 1] * cdf[:, -1:] >= cdf).sum(axis=1)  # inverse CDF
            rows[:, j] = np.minimum(codes, k - 1)
    return rows


# ----------------------------------------------------------------------------- plain module
class VAE(nn.Module):
    """One seed's VAE as a plain ``nn.Module``; its ``state_dict`` keys are ``PARAM_NAMES``.

    Args:
        columns: the schema (one ``ColumnSpec`` per model-space column).
        latent_dim: latent size.
        hidden_dim: hidden width of encoder and decoder.
        dropout: decoder dropout probability.
        grad_clip: clamp of the encoder activations' gradients; None = off.
    """

    def __init__(
        self,
        *,
        columns: Sequence[ColumnSpec],
        latent_dim: int = 10,
        hidden_dim: int = 256,
        dropout: float = DROPOUT,
        grad_clip: float | None = GRAD_CLIP,
    ) -> None:
        super().__init__()
        self.layout = head_layout(columns)
        self.latent_dim, self.hidden_dim, self.dropout, self.grad_clip = latent_dim, hidden_dim, dropout, grad_clip
        d = len(self.layout.columns)
        self.encoder = nn.Sequential(nn.Linear(d, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, self.layout.width)
        )

    def params(self) -> dict[str, Tensor]:
        """The parameters as a dict for the functional API (``negative_elbo``)."""
        return dict(self.named_parameters())

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder means and log-variances."""
        return encode(self.params(), x, columns=self.layout, grad_clip=self.grad_clip)

    def forward(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Negative ELBO of the batch ``x``; dropout only in training mode."""
        eps, mask = draw_noise(
            x.shape[0],
            latent_dim=self.latent_dim,
            hidden_dim=self.hidden_dim,
            generator=generator,
            dropout=self.dropout,
        )
        return negative_elbo(
            self.params(),
            x,
            columns=self.layout,
            eps=eps,
            dropout_mask=mask if self.training else None,
            grad_clip=self.grad_clip,
        )
