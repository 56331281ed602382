#!/usr/bin/python3
"""Reference test-time GPTQ (TTQOptions.GPTQ) for pkg/quant's
TestGoldenTTQGPTQ: GPTQ's column updates on one linear with the Hessian of
one prompt's activations, with and without TTQ's D.

A numpy port of the GPTQ reference in scripts/golden/quant/ref_quant.py
(IST-DASLab/gptq fasterquant, METHODS §4: dead inputs, relative damping,
Cholesky → inverse → upper Cholesky, lazy batches, a group's grid fitted on
the global W at the last block boundary), without act-order or static
groups, which the test-time variant does not use. The port first
reproduces the committed torch goldens of that script
(pkg/quant/testdata/golden.json) and stops if it does not. Then, for TTQ:

  D   = (Σ_t x_{t,i}² + λ)^α over the prompt's tokens (float64), used as
        float32 to scale W;
  H_D = 2·XᵀX / (d_i·d_j), the Hessian of the scaled inputs X·D⁻¹;
  Ŵ   = GPTQ(W·D, H_D) on the minmax grid, times D⁻¹ (float32).

Run with Debian's python3-numpy:
    /usr/bin/python3 scripts/golden/ttq/ref_ttq_gptq.py > pkg/quant/testdata/ttq_gptq.json
"""
import json
import os
import sys

import numpy as np

f32 = np.float32
rng = np.random.default_rng(20260408)
HERE = os.path.dirname(os.path.abspath(__file__))


def params(x, bits, grid):
    """Per-row scale and zero of x ([rows, g]): gptq's find_params
    (minmax0, sym) or AutoAWQ's zero-point grid (minmax)."""
    maxq = 2 ** bits - 1
    if grid == "minmax":
        hi, lo = x.max(axis=1), x.min(axis=1)
        scale = np.maximum(hi - lo, 1e-5) / maxq
        zero = np.clip(-np.round(lo / scale), 0, maxq)
        return scale[:, None], zero[:, None]
    xmin = np.minimum(x.min(axis=1), 0)
    xmax = np.maximum(x.max(axis=1), 0)
    if grid == "sym":
        xmax = np.maximum(np.abs(xmin), xmax)
        xmin = np.where(xmin < 0, -xmax, xmin)
    both = (xmin == 0) & (xmax == 0)
    xmin, xmax = np.where(both, -1, xmin), np.where(both, 1, xmax)
    scale = (xmax - xmin) / maxq
    zero = np.full_like(scale, (maxq + 1) / 2) if grid == "sym" else np.round(-xmin / scale)
    return scale[:, None], zero[:, None]


def quantize(x, scale, zero, maxq):
    q = np.clip(np.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def gptq(W, H, bits, group, grid, blocksize=128, percdamp=0.01):
    W, H = W.astype(np.float64).copy(), H.astype(np.float64).copy()
    cols = W.shape[1]
    maxq = 2 ** bits - 1
    if group <= 0:
        scale, zero = params(W, bits, grid)
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H[np.diag_indices(cols)] += percdamp * np.mean(np.diag(H))
    L = np.linalg.cholesky(H)
    Hinv = np.linalg.inv(L).T @ np.linalg.inv(L)  # cholesky_inverse
    U = np.linalg.cholesky(Hinv).T                 # upper: Hinv = UᵀU
    Q = np.zeros_like(W)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].copy()
        Err1 = np.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if group > 0 and (i1 + i) % group == 0:
                scale, zero = params(W[:, i1 + i:i1 + i + group], bits, grid)
            w = W1[:, i]
            q = quantize(w[:, None], scale, zero, maxq).ravel()
            Q[:, i1 + i] = q
            err = (w - q) / U1[i, i]
            W1[:, i:] -= np.outer(err, U1[i, i:])
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return Q


def check_port():
    """The port reproduces ref_quant.py's torch GPTQ goldens."""
    with open(os.path.join(HERE, "../../../pkg/quant/testdata/golden.json")) as f:
        g = json.load(f)
    rows, cols, tokens = g["gptq_rows"], g["gptq_cols"], g["gptq_tokens"]
    W = np.array(g["gptq_w"]).reshape(rows, cols)
    H = np.zeros((cols, cols))
    for n, x in enumerate(g["gptq_x"], 1):
        x = np.array(x).reshape(tokens, cols)
        H = H * (n - 1) / n + (2 / n) * x.T @ x
    checked = 0
    for c in g["gptq"]:
        if c["actorder"] or c["static"]:
            continue
        grid = "sym" if c["sym"] else "minmax0"
        Q = gptq(W, H, c["bits"], c["group"], grid, c["blocksize"])
        ref = np.array(c["deq"]).reshape(rows, cols)
        bad = int((np.abs(Q - ref) > 1e-9 * np.maximum(1, np.abs(ref))).sum())
        if bad:
            sys.exit("ref_ttq_gptq: the numpy port differs from the torch golden in %d weights (%r)" % (bad, c))
        checked += 1
    return checked


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    checked = check_port()
    rows, cols, tokens, lam = 16, 160, 96, 0.1
    W = (rng.standard_normal((rows, cols)) * 0.05).astype(f32)
    mix = rng.standard_normal((24, cols))
    X = (rng.standard_normal((tokens, 24)) @ mix / np.sqrt(24) + 0.1 * rng.standard_normal((tokens, cols))).astype(f32)
    X[:, [11, 50, 130]] *= 10  # outlier channels
    X[:, 7] = 0  # a channel the prompt never uses: a dead column
    X64 = X.astype(np.float64)
    H = 2 * X64.T @ X64
    cases = []
    for bits, group, alpha in [(3, 32, 0.0), (3, 32, 0.5), (4, -1, 0.5)]:
        d = ((X64 ** 2).sum(axis=0) + lam) ** alpha
        d32 = d.astype(f32)
        Ws = (W * d32).astype(f32)
        Q = gptq(Ws, H / np.outer(d, d), bits, group, "minmax")
        eff = (Q.astype(f32) * (f32(1) / d32)).astype(f32)
        cases.append({"bits": bits, "group": group, "alpha": alpha, "d": flat(d), "w_hat": flat(eff)})
    json.dump({"port_checked": checked, "rows": rows, "cols": cols, "tokens": tokens, "lambda": lam,
               "damp": 0.01, "blocksize": 128, "w": flat(W), "x": flat(X), "cases": cases},
              sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
