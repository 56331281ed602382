#!/usr/bin/python3
"""Reference TTQ test-time variants for pkg/quant's golden tests
(TestGoldenTTQ*): per-prompt clipping, per-prompt α and the
activation-aware low-rank split, on one small linear with a fixed input.

Plain numpy, written from METHODS.md §1 (minmax RTN), §2.4 (TTQ's D) and
§3.2 step 6 (AutoAWQ's _compute_best_clip), not from the Go code:

  D        = (Σ_t x_{t,i}² + λ)^α over the prompt's tokens (float64), used
             as float32;
  Ŵ        = Q(W·D)·D⁻¹, Q = asymmetric minmax RTN per group, in float32
             with round-half-to-even;
  X_s      = the prompt's rows 0, s, 2s, … with s = ⌈T / search_tokens⌉;
  clip     = per row and group, the threshold max|w|·(1 − i/20), i < 10,
             of least mean-over-tokens squared partial-dot-product error of
             (W·D) against X_s·D⁻¹, clamped, then quantized;
  α search = the first grid α of least Σ_layers ‖X_s(W − Ŵ_α)ᵀ‖²;
  low rank = W·D = UΣVᵀ (float64), B = U_rΣ_r, A = V_rᵀ·D⁻¹ (float32),
             R = W − B·A, Ŵ = B·A + Q(R·D)·D⁻¹; "act" takes D from the
             prompt, "act-static" from separate calibration tokens.

Run with Debian's python3-numpy:
    /usr/bin/python3 scripts/golden/ttq/ref_ttq_variants.py > pkg/quant/testdata/ttq_variants.json
Inputs come from a fixed seed and are written into the golden.
"""
import json
import math
import sys

import numpy as np

f32 = np.float32
rng = np.random.default_rng(20260313)

BITS, GROUP, ALPHA, LAM = 3, 32, 0.5, 0.1
SEARCH_TOKENS = 16
CLIP_GRID, MAX_SHRINK = 20, 0.5


def groups_of(cols, g):
    g = cols if g <= 0 or g > cols else g
    return [(c, min(c + g, cols)) for c in range(0, cols, g)]


def pseudo_quantize(w, bits, group):
    """Asymmetric minmax RTN (AutoAWQ pseudo_quantize_tensor), float32."""
    w = w.astype(f32)
    maxq = f32(2 ** bits - 1)
    out = np.empty_like(w)
    for c0, c1 in groups_of(w.shape[1], group):
        part = w[:, c0:c1]
        hi = part.max(axis=1, keepdims=True)
        lo = part.min(axis=1, keepdims=True)
        scale = (np.maximum(hi - lo, f32(1e-5)) / maxq).astype(f32)
        zero = np.clip(-np.round(lo / scale), f32(0), maxq).astype(f32)
        q = np.clip(np.round(part / scale) + zero, f32(0), maxq).astype(f32)
        out[:, c0:c1] = ((q - zero) * scale).astype(f32)
    return out


def ttq_d(x, alpha, lam):
    st = (x.astype(np.float64) ** 2).sum(axis=0)
    d = (st + lam) ** alpha
    d[~np.isfinite(d) | (d <= 0)] = 1
    return d


def subsample(x, limit):
    n = x.shape[0]
    step = max(1, -(-n // limit))
    return x[::step]


def ttq_plain(w, d):
    d32 = d.astype(f32)
    return (pseudo_quantize(w * d32, BITS, GROUP) * (f32(1) / d32)).astype(f32)


def clip_search(ws, xs):
    """_compute_best_clip on (W·D, X_s·D⁻¹): per row and group the best
    threshold, and the clamped matrix."""
    out = ws.copy()
    thr = []
    for c0, c1 in groups_of(ws.shape[1], GROUP):
        w = ws[:, c0:c1].astype(f32)
        x = xs[:, c0:c1].astype(f32)
        org_max = np.abs(w).max(axis=1, keepdims=True)
        best = org_max.copy()
        min_err = np.full_like(org_max, 1e9, dtype=np.float64)
        for i in range(int(MAX_SHRINK * CLIP_GRID)):
            shrink = f32(1) - f32(i) / f32(CLIP_GRID)
            mv = (org_max * shrink).astype(f32)
            cur = np.clip(w, -mv, mv)
            q = pseudo_quantize(cur, BITS, -1)
            err = ((x.astype(np.float64) @ (q.astype(np.float64) - w.astype(np.float64)).T) ** 2).mean(axis=0)
            err = err.reshape(-1, 1)
            better = err < min_err
            min_err[better] = err[better]
            best[better] = mv[better]
        out[:, c0:c1] = np.clip(w, -best, best)
        thr.append(best.reshape(-1))
    return out, np.stack(thr, axis=1)


def ttq_clip(w, x, d):
    d32 = d.astype(f32)
    ws = (w * d32).astype(f32)
    xs = (subsample(x, SEARCH_TOKENS) / d32).astype(f32)
    clipped, thr = clip_search(ws, xs)
    return (pseudo_quantize(clipped, BITS, GROUP) * (f32(1) / d32)).astype(f32), thr


def out_err(xs, w, wq):
    delta = w.astype(np.float64) - wq.astype(np.float64)
    return float(((xs.astype(np.float64) @ delta.T) ** 2).sum())


def alpha_search(ws, x, grid):
    xs = subsample(x, SEARCH_TOKENS)
    losses = []
    for a in grid:
        d32 = ttq_d(x, a, LAM).astype(f32)
        loss = 0.0
        for w in ws:
            wq = (pseudo_quantize(w * d32, BITS, GROUP) / d32).astype(f32)
            loss += out_err(xs, w, wq)
        losses.append(loss)
    best = int(np.argmin(losses))
    return best, losses


def low_rank(w, d, r):
    u, s, vt = np.linalg.svd(w.astype(np.float64) * d[None, :], full_matrices=False)
    b = (u[:, :r] * s[:r]).astype(f32)
    a = (vt[:r, :] / d[None, :]).astype(f32)
    ba = (b.astype(np.float64) @ a.astype(np.float64)).astype(f32)
    return b, a, ba, (w - ba).astype(f32)


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    rows, cols, ntok = 24, 64, 48
    W = (rng.standard_normal((rows, cols)) * 0.05).astype(f32)
    W[3, 5] = 0.6  # an outlier weight, which clipping should give up on
    X = rng.standard_normal((ntok, cols)).astype(f32)
    X[:, [2, 17, 40]] *= 12
    W2 = (rng.standard_normal((rows + 8, cols)) * 0.05).astype(f32)
    Xcal = rng.standard_normal((96, cols)).astype(f32)
    Xcal[:, [2, 17, 33]] *= 8
    out = {"rows": rows, "cols": cols, "tokens": ntok, "bits": BITS, "group": GROUP,
           "alpha": ALPHA, "lambda": LAM, "search_tokens": SEARCH_TOKENS,
           "w": flat(W), "x": flat(X), "w2": flat(W2), "x_cal": flat(Xcal)}
    d = ttq_d(X, ALPHA, LAM)
    out["d"] = flat(d)
    out["plain"] = flat(ttq_plain(W, d))
    clip_w, thr = ttq_clip(W, X, d)
    out["clip"] = flat(clip_w)
    out["clip_thresholds"] = flat(thr)
    xs = subsample(X, SEARCH_TOKENS)
    out["err_plain"] = out_err(xs, W, ttq_plain(W, d))
    out["err_clip"] = out_err(xs, W, clip_w)

    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    best, losses = alpha_search([W, W2], X, grid)
    da = ttq_d(X, grid[best], LAM)
    out["alpha_grid"] = grid
    out["alpha_best"] = grid[best]
    out["alpha_losses"] = losses
    out["alpha_w"] = flat(ttq_plain(W, da))
    out["alpha_w2"] = flat(ttq_plain(W2, da))

    r = 16  # the paper's default rank, asked for with no rank
    b, a, ba, R = low_rank(W, d, r)
    out["rank"] = r
    out["act_ba"] = flat(ba)
    out["act"] = flat(ba + ttq_plain(R, d))
    dcal = ttq_d(Xcal, ALPHA, LAM)
    b, a, ba, R = low_rank(W, dcal, r)
    out["d_cal"] = flat(dcal)
    out["static_ba"] = flat(ba)
    out["static"] = flat(ba + ttq_plain(R, d))
    # The weighted objective each split minimizes: ‖(W − B·A)·D‖_F.
    for name, dd in (("act", d), ("static", dcal)):
        _, _, ba_w, _ = low_rank(W, np.ones(cols), r)
        _, _, ba_a, _ = low_rank(W, dd, r)
        out[name + "_weighted_err_w"] = float(np.linalg.norm((W - ba_w).astype(np.float64) * dd))
        out[name + "_weighted_err_act"] = float(np.linalg.norm((W - ba_a).astype(np.float64) * dd))
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


main()
