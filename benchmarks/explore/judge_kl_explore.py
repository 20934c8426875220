"""Exploration (issue 18): train the default BCE judge once per calibration case, then compare KL readings
(Platt, DV / NWJ bounds, NWJ-fitted scalar recalibrations, NWJ fine-tuning variants). Numbers in
docs/METHODS.md ("Not yet solved").

    python benchmarks/explore/judge_kl_explore.py CASE[,CASE...] '{"e": {"lr": 1e-3, "max_epochs": 60, "ps": 1500}}'
"""
import os, sys, json, time, math
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, "benchmarks")
import numpy as np, torch
from calibration_cases import all_cases, truth
from judge_calibration import draw
from tabaug_ray.evaluate.divergence import DivergenceEstimator, platt_scale, PRESETS
from tabaug_ray.evaluate.judges import estimator_kwargs, judge_settings
from tabaug_ray.evaluate.batched_mlp import BatchedMLP, fit_early_stopping, torch_threads

def bce(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=(1, 2))

def nwj_loss(clip):
    # s = logit = log-ratio estimate; NWJ: E_P[s] + 1 - E_Q[exp(s)]; minimise negative
    def f(logits, target):
        s = logits
        p = target
        n_p = p.sum(dim=(1, 2)).clamp_min(1); n_q = (1 - p).sum(dim=(1, 2)).clamp_min(1)
        return -((p * s).sum(dim=(1, 2)) / n_p - ((1 - p) * torch.exp(s.clamp(max=clip))).sum(dim=(1, 2)) / n_q + 1)
    return f

def fit_nwj_scalar(zv, yv, feats_fn, iters=200):
    """Maximise NWJ over a linear map of feature(z) on validation rows (convex: Newton)."""
    F = feats_fn(zv)  # (C, n, k)
    C, n, k = F.shape
    theta = torch.zeros(C, k, dtype=torch.float64); theta[:, 0] = 1.0
    p = yv; q = 1 - yv
    npp = p.sum(1, keepdim=True); nq = q.sum(1, keepdim=True)
    for _ in range(iters):
        s = (F * theta[:, None, :]).sum(-1).clamp(max=30)
        e = torch.exp(s) * q / nq
        g = -(F * (p / npp)[..., None]).sum(1) + (F * e[..., None]).sum(1)
        H = (F[..., :, None] * F[..., None, :] * e[..., None, None]).sum(1) + 1e-8 * torch.eye(k, dtype=torch.float64)
        step = torch.linalg.solve(H, g)
        theta = theta - step
    return theta

def nwj_read(s_p, s_q):
    return s_p.mean(1) + 1 - torch.exp(s_q.clamp(max=30)).mean(1)

def run(case, ft_variants, threads=1, seed=0):
    m, l = PRESETS["reliable"]
    real, syn = draw(case, m + 2 * l, seed)
    true = truth(case)
    est = DivergenceEstimator(m=m, l=l, repeats=5, seed=seed, n_threads=threads,
                              **estimator_kwargs(judge_settings("default"), m=m))
    tr, va, es = est._split(real, syn, 0)
    d = tr.shape[-1] - 1
    out = {"case": case.name, "true_kl": round(true["kl"], 3), "true_js": round(true["js"], 3)}
    t0 = time.process_time()
    with torch_threads(threads):
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]))
        xt, yt = torch.from_numpy(tr[..., :d]), torch.from_numpy(tr[..., d:])
        xv, yv = torch.from_numpy(va[..., :d]), torch.from_numpy(va[..., d:])
        xe = torch.from_numpy(es[..., :d])
        model = BatchedMLP(n_copies=5, d_in=d, hidden=(256, 64, 32), d_out=1, dropout=est.dropout, generator=gen)
        fit = fit_early_stopping(model, bce, x_train=xt, y_train=yt, x_val=xv, y_val=yv, lr=est.lr,
                                 batch_size=est.batch_size, max_epochs=est.max_epochs, patience=None,
                                 patience_steps=est.patience_steps, min_patience=3, min_delta=1e-3, generator=gen)
        out["t_bce"] = round(time.process_time() - t0, 1)
        with torch.no_grad():
            z = model(xe).squeeze(-1).double(); zv = model(xv).squeeze(-1).double()
        yvv = yv.squeeze(-1).double()
        a, b = platt_scale(zv, yvv)
        zc = a[:, None] * z + b[:, None]
        out["platt"] = round(float(zc[:, :l].mean()), 3)
        out["platt_a"] = [round(float(v), 2) for v in a]
        out["raw"] = round(float(z[:, :l].mean()), 3)
        out["dv_platt"] = round(float((zc[:, :l].mean(1) - torch.log(torch.exp(zc[:, l:]).mean(1))).mean()), 3)
        out["nwj_platt"] = round(float(nwj_read(zc[:, :l], zc[:, l:]).mean()), 3)
        for name, ff in {"lin": lambda z: torch.stack([z, torch.ones_like(z)], -1),
                         "quad": lambda z: torch.stack([z, torch.ones_like(z), z * z], -1),
                         "hinge": lambda z: torch.stack([z, torch.ones_like(z), torch.relu(z) ** 2], -1)}.items():
            th = fit_nwj_scalar(zv, yvv, ff)
            s = (ff(z) * th[:, None, :]).sum(-1)
            out[f"nwj_{name}_plug"] = round(float(s[:, :l].mean()), 3)
            out[f"nwj_{name}_bound"] = round(float(nwj_read(s[:, :l], s[:, l:]).mean()), 3)
        snap = model.snapshot()
        for vname, kw in ft_variants.items():
            model.load_state_dict(snap)
            t1 = time.process_time()
            # shift logits so that s = logit is log-ratio estimate; start from Platt? use raw.
            g2 = torch.Generator().manual_seed(7)
            f2 = fit_early_stopping(model, nwj_loss(kw.get("clip", 20.0)), x_train=xt, y_train=yt, x_val=xv, y_val=yv,
                                    lr=kw.get("lr", 1e-4), batch_size=kw.get("bs", 512), max_epochs=kw.get("max_epochs", 50),
                                    patience=None, patience_steps=kw.get("ps", 300), min_patience=3, min_delta=1e-4, generator=g2)
            with torch.no_grad():
                s = model(xe).squeeze(-1).double()
            out[f"ft_{vname}_plug"] = round(float(s[:, :l].mean()), 3)
            out[f"ft_{vname}_bound"] = round(float(nwj_read(s[:, :l], s[:, l:]).mean()), 3)
            out[f"ft_{vname}_ep"] = [int(v) for v in f2.best_epoch]
            out[f"ft_{vname}_t"] = round(time.process_time() - t1, 1)
    return out

if __name__ == "__main__":
    names = sys.argv[1].split(",")
    variants = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    for c in all_cases():
        if c.name in names:
            print(json.dumps(run(c, variants)), flush=True)
