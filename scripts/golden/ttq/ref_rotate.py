#!/usr/bin/python3
"""Reference residual-stream rotation (QuaRot, arXiv 2404.00456) for
pkg/quant's TestGoldenRotate: a one-layer Llama's weights folded and
rotated, the rotation matrix, and TTQ's closed form on the rotated q_proj.

Plain numpy, written from the transform's definition, not from the Go code:

  Q        = diag(s)·H/√n, H the Sylvester Hadamard matrix,
             H[i][j] = (−1)^popcount(i AND j), s the signs written below;
  fold     = W ← W·diag(g) for the linears reading a norm of weight g
             (q/k/v: input_layernorm; gate/up: post_attention_layernorm;
             lm_head: the final norm), every norm then all ones;
  rotate   = embed ← embed·Q; W ← W·Q for q/k/v, gate/up, lm_head;
             W ← Qᵀ·W and b ← Qᵀ·b for o_proj and down_proj;
             everything in float64, stored as float32;
  tied     = lm_head starts as the embedding, then gets its own fold;
  TTQ      = on the rotated q_proj with the prompt's rotated inputs
             X·Q: D = (Σ_t x_{t,i}² + λ)^α (float64, used as float32),
             Ŵ = Q(W·D)·D⁻¹ with asymmetric minmax RTN per group in
             float32, round half to even.

Run with Debian's python3-numpy:
    /usr/bin/python3 scripts/golden/ttq/ref_rotate.py > pkg/quant/testdata/ttq_rotate.json
"""
import json
import sys

import numpy as np

f32 = np.float32
rng = np.random.default_rng(20260407)

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB = 8, 2, 1, 4, 12, 16
BITS, GROUP, ALPHA, LAM = 3, 4, 0.5, 0.1
TOKENS = 24


def hadamard_rotation(signs):
    n = len(signs)
    h = np.array([[(-1) ** bin(i & j).count("1") for j in range(n)] for i in range(n)], dtype=np.float64)
    return np.asarray(signs, dtype=np.float64)[:, None] * h / np.sqrt(n)


def pseudo_quantize(w, bits, group):
    """Asymmetric minmax RTN (AutoAWQ pseudo_quantize_tensor), float32."""
    w = w.astype(f32)
    maxq = f32(2 ** bits - 1)
    out = np.empty_like(w)
    for c0 in range(0, w.shape[1], group):
        part = w[:, c0:c0 + group]
        hi = part.max(axis=1, keepdims=True)
        lo = part.min(axis=1, keepdims=True)
        scale = (np.maximum(hi - lo, f32(1e-5)) / maxq).astype(f32)
        zero = np.clip(-np.round(lo / scale), f32(0), maxq).astype(f32)
        q = np.clip(np.round(part / scale) + zero, f32(0), maxq).astype(f32)
        out[:, c0:c0 + group] = ((q - zero) * scale).astype(f32)
    return out


def mat(rows, cols, s=0.3):
    return (rng.standard_normal((rows, cols)) * s).astype(f32)


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    qd, kvd = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    w = {
        "embed": mat(VOCAB, HIDDEN, 1.0),
        "q": mat(qd, HIDDEN), "k": mat(kvd, HIDDEN), "v": mat(kvd, HIDDEN),
        "o": mat(HIDDEN, qd), "o_bias": mat(1, HIDDEN).ravel(),
        "gate": mat(INTER, HIDDEN), "up": mat(INTER, HIDDEN),
        "down": mat(HIDDEN, INTER), "down_bias": mat(1, HIDDEN).ravel(),
        "attn_norm": (1 + 0.5 * rng.standard_normal(HIDDEN)).astype(f32),
        "mlp_norm": (1 + 0.5 * rng.standard_normal(HIDDEN)).astype(f32),
        "norm": (1 + 0.5 * rng.standard_normal(HIDDEN)).astype(f32),
    }
    w["attn_norm"][3] = f32(12)  # an outlier channel, as Plant makes one
    signs = [int(s) for s in rng.choice([-1, 1], HIDDEN)]
    Q = hadamard_rotation(signs)

    def into(m, g):
        return ((m.astype(np.float64) * g.astype(np.float64)[None, :]) @ Q).astype(f32)

    def out_of(m):
        return (Q.T @ m.astype(np.float64)).astype(f32)

    rot = {
        "embed": (w["embed"].astype(np.float64) @ Q).astype(f32),
        "q": into(w["q"], w["attn_norm"]), "k": into(w["k"], w["attn_norm"]), "v": into(w["v"], w["attn_norm"]),
        "o": out_of(w["o"]), "o_bias": (w["o_bias"].astype(np.float64) @ Q).astype(f32),
        "gate": into(w["gate"], w["mlp_norm"]), "up": into(w["up"], w["mlp_norm"]),
        "down": out_of(w["down"]), "down_bias": (w["down_bias"].astype(np.float64) @ Q).astype(f32),
        "lm_head": into(w["embed"], w["norm"]),  # tied: the embedding, folded
    }

    # q_proj's input once the norm is folded: the normalized residual
    # stream (any prompt), which the rotation turns into X·Q.
    xhat = rng.standard_normal((TOKENS, HIDDEN)).astype(f32)
    x_rot = (xhat.astype(np.float64) @ Q).astype(f32)
    st = (x_rot.astype(np.float64) ** 2).sum(axis=0)
    d32 = ((st + LAM) ** ALPHA).astype(f32)
    ttq = (pseudo_quantize(rot["q"] * d32, BITS, GROUP) * (f32(1) / d32)).astype(f32)

    out = {
        "hidden": HIDDEN, "heads": HEADS, "kv_heads": KV_HEADS, "head_dim": HEAD_DIM,
        "intermediate": INTER, "vocab": VOCAB,
        "bits": BITS, "group": GROUP, "alpha": ALPHA, "lambda": LAM, "tokens": TOKENS,
        "signs": signs, "rotation": flat(Q),
        "weights": {k: flat(v) for k, v in w.items()},
        "rotated": {k: flat(v) for k, v in rot.items()},
        "x": flat(xhat), "x_rotated": flat(x_rot), "ttq_q": flat(ttq),
    }
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
