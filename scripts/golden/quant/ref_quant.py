#!/usr/bin/python3
"""Reference RTN, GPTQ and AWQ (scale search + clip search on one linear)
for pkg/quant's golden tests.

Plain PyTorch re-implementations of the procedures in METHODS.md §1, §3.2
and §4 (AutoAWQ awq/quantize/quantizer.py pseudo_quantize_tensor,
_compute_best_scale, _compute_best_clip; IST-DASLab/gptq quant.py
find_params and gptq.py add_batch/fasterquant), written from those
descriptions, extended only where ttq needs it: groups that do not divide
the row (a shorter last group).

Run with Debian's python3-torch:
    /usr/bin/python3 scripts/golden/quant/ref_quant.py > pkg/quant/testdata/golden.json
Inputs come from a fixed torch seed and are written into the golden, so the
Go test reads exactly the values the reference saw.
"""
import json
import math
import sys

import torch

torch.manual_seed(0)


def groups_of(cols, g):
    g = cols if g <= 0 or g > cols else g
    return [(c, min(c + g, cols)) for c in range(0, cols, g)]


# ---- RTN grids -------------------------------------------------------------

def params_minmax(w, bits):
    """AutoAWQ zero-point branch, one row of groups (w: [n, g])."""
    max_int = 2 ** bits - 1
    max_val = w.amax(dim=1, keepdim=True)
    min_val = w.amin(dim=1, keepdim=True)
    scales = (max_val - min_val).clamp(min=1e-5) / max_int
    zeros = (-torch.round(min_val / scales)).clamp_(0, max_int)
    return scales, zeros


def params_gptq(x, bits, sym):
    """gptq quant.py find_params, perchannel, weight=True (x: [n, g])."""
    maxq = torch.tensor(2 ** bits - 1, dtype=x.dtype)
    tmp = torch.zeros(x.shape[0], dtype=x.dtype)
    xmin = torch.minimum(x.min(1)[0], tmp)
    xmax = torch.maximum(x.max(1)[0], tmp)
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        tmp = xmin < 0
        if torch.any(tmp):
            xmin[tmp] = -xmax[tmp]
    tmp = (xmin == 0) & (xmax == 0)
    xmin[tmp] = -1
    xmax[tmp] = +1
    scale = (xmax - xmin) / maxq
    if sym:
        zero = torch.full_like(scale, (maxq + 1) / 2)
    else:
        zero = torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero), q


def rtn(w, bits, group, grid):
    out = torch.empty_like(w)
    codes = torch.empty_like(w)
    for c0, c1 in groups_of(w.shape[1], group):
        part = w[:, c0:c1]
        if grid == "minmax":
            s, z = params_minmax(part, bits)
        else:
            s, z = params_gptq(part, bits, grid == "sym")
        deq, q = quantize(part, s, z, 2 ** bits - 1)
        out[:, c0:c1] = deq
        codes[:, c0:c1] = q
    return out, codes


# ---- GPTQ --------------------------------------------------------------------

class Quantizer:
    def __init__(self, bits, sym):
        self.bits, self.sym = bits, sym
        self.maxq = 2 ** bits - 1

    def find_params(self, x):
        self.scale, self.zero = params_gptq(x, self.bits, self.sym)


def gptq(W, H, bits, group, sym, blocksize, percdamp, actorder, static_groups):
    W = W.clone()
    H = H.clone()
    rows, columns = W.shape
    quantizer = Quantizer(bits, sym)
    if group <= 0:
        quantizer.find_params(W)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    groups = []
    if static_groups:
        for i in range(0, columns, group):
            qz = Quantizer(bits, sym)
            qz.find_params(W[:, i:i + group])
            groups.append(qz)
    perm = torch.arange(columns)
    if actorder:
        # stable descending order, as ttq documents for ties
        d = torch.diag(H)
        perm = torch.tensor(sorted(range(columns), key=lambda i: -d[i].item()))
        W = W[:, perm]
        H = H[perm][:, perm]
    invperm = torch.argsort(perm)
    Q = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if group > 0:
                if not static_groups:
                    if (i1 + i) % group == 0:
                        quantizer.find_params(W[:, (i1 + i):(i1 + i + group)])
                else:
                    idx = i1 + i
                    if actorder:
                        idx = perm[idx]
                    quantizer = groups[idx // group]
            q, _ = quantize(w.unsqueeze(1), quantizer.scale, quantizer.zero, quantizer.maxq)
            q = q.flatten()
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return Q[:, invperm]


def hessian(seqs):
    """add_batch once per sequence (batch of one), as gptq's llama.py does."""
    cols = seqs[0].shape[1]
    H = torch.zeros((cols, cols), dtype=seqs[0].dtype)
    n = 0
    for x in seqs:
        H *= n / (n + 1)
        n += 1
        inp = math.sqrt(2 / n) * x.t()
        H += inp.matmul(inp.t())
    return H


# ---- AWQ ---------------------------------------------------------------------

def pseudo_quantize(w, bits, group):
    out = torch.empty_like(w)
    for c0, c1 in groups_of(w.shape[1], group):
        part = w[:, c0:c1]
        s, z = params_minmax(part, bits)
        out[:, c0:c1] = (torch.clamp(torch.round(part / s) + z, 0, 2 ** bits - 1) - z) * s
    return out


def awq_search(W, X, bits, group, duo, n_grid=20):
    """_search_best_scale + _compute_best_scale with module2inspect = the
    linear itself (the v→o and up→down case)."""
    w_scale = torch.empty_like(W)
    for c0, c1 in groups_of(W.shape[1], group):
        part = W[:, c0:c1].abs()
        w_scale[:, c0:c1] = part / (part.amax(dim=1, keepdim=True) + 1e-6)
    w_mean = w_scale.mean(0)
    x_mean = X.abs().sum(0) / X.shape[0]
    ref = X.matmul(W.t())
    best, best_ratio, best_scales, losses = float("inf"), -1, None, []
    for k in range(n_grid):
        ratio = torch.tensor(k, dtype=torch.float32) / n_grid
        if duo:
            scales = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
        else:
            scales = x_mean.pow(ratio).clamp(min=1e-4)
        scales = scales / (scales.max() * scales.min()).sqrt()
        scales[torch.isinf(scales)] = 1
        scales[torch.isnan(scales)] = 1
        wq = pseudo_quantize(W * scales.view(1, -1), bits, group) / scales.view(1, -1)
        out = X.matmul(wq.t())
        loss = (ref - out).double().pow(2).sum().item() / ref.numel()
        losses.append(loss)
        if loss < best:
            best, best_ratio, best_scales = loss, k, scales.clone()
    return best_ratio, best_scales, losses


def awq_clip(W, X, bits, group, n_grid=20, max_shrink=0.5, n_sample_token=512):
    """_compute_best_clip, ragged groups handled group by group."""
    step = max(1, X.shape[0] // n_sample_token)
    X = X[::step]
    best_all = torch.empty(W.shape[0], len(groups_of(W.shape[1], group)), dtype=W.dtype)
    for gi, (c0, c1) in enumerate(groups_of(W.shape[1], group)):
        w = W[:, c0:c1]
        x = X[:, c0:c1]
        org_max = w.abs().amax(dim=1, keepdim=True)
        best = org_max.clone()
        min_errs = torch.ones_like(org_max) * 1e9
        org_out = x.matmul(w.t())  # tokens × rows
        for i_s in range(int(max_shrink * n_grid)):
            max_val = org_max * (1 - i_s / n_grid)
            cur = torch.clamp(w, -max_val, max_val)
            q = pseudo_quantize(cur, bits, -1)
            cur_out = x.matmul(q.t())
            err = (cur_out - org_out).pow(2).mean(dim=0).view(-1, 1)
            idx = err < min_errs
            min_errs[idx] = err[idx]
            best[idx] = max_val[idx]
        best_all[:, gi] = best.view(-1)
    return best_all


def flat(t):
    return [float(v) for v in t.flatten().tolist()]


def main():
    out = {}
    # RTN: a 6×40 matrix, groups of 16 leave a ragged last group of 8.
    W = torch.randn(6, 40) * 0.1
    W[0, :16] = torch.rand(16) + 0.5  # an all-positive group: minmax clips its top
    out["rtn_w"] = flat(W)
    out["rtn"] = []
    for bits in (2, 3, 4, 8):
        for group in (16, -1):
            for grid in ("minmax", "minmax0", "sym"):
                deq, codes = rtn(W, bits, group, grid)
                out["rtn"].append({"bits": bits, "group": group, "grid": grid,
                                   "deq": flat(deq), "codes": [int(v) for v in flat(codes)]})

    # GPTQ in float64 on correlated inputs with one dead input channel.
    rows, cols = 12, 48
    Wg = torch.randn(rows, cols, dtype=torch.float64) * 0.2
    mix = torch.randn(8, cols, dtype=torch.float64)
    seqs = []
    for _ in range(4):
        x = torch.randn(24, 8, dtype=torch.float64).matmul(mix) + 0.1 * torch.randn(24, cols, dtype=torch.float64)
        x[:, 5] = 0
        seqs.append(x)
    H = hessian(seqs)
    out["gptq_w"] = flat(Wg)
    out["gptq_x"] = [flat(x) for x in seqs]
    out["gptq_rows"], out["gptq_cols"], out["gptq_tokens"] = rows, cols, 24
    out["gptq"] = []
    for bits, group, sym, actorder, static in [(4, -1, False, False, False), (3, 16, False, False, False),
                                               (3, 16, False, True, False), (3, 16, False, True, True),
                                               (4, 20, True, False, False), (2, 16, False, False, False)]:
        Q = gptq(Wg, H, bits, group, sym, 32, 0.01, actorder, static)
        out["gptq"].append({"bits": bits, "group": group, "sym": sym, "actorder": actorder,
                            "static": static, "blocksize": 32, "deq": flat(Q)})

    # AWQ on one linear whose input has a few large channels.
    Wa = torch.randn(16, 72) * 0.05
    Xa = torch.randn(256, 72)
    Xa[:, [3, 17, 40]] *= 25
    out["awq_w"], out["awq_x"] = flat(Wa), flat(Xa)
    out["awq"] = []
    for bits, group, duo in [(3, 32, True), (4, 32, False), (3, -1, True)]:
        ratio, scales, losses = awq_search(Wa, Xa, bits, group, duo)
        Ws = Wa * scales.view(1, -1)
        clip = awq_clip(Ws, Xa / scales.view(1, -1), bits, group)
        out["awq"].append({"bits": bits, "group": group, "duo": duo, "ratio": ratio,
                           "scales": flat(scales), "losses": losses, "clip": flat(clip)})
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
