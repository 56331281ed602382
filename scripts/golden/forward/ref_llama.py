#!/usr/bin/python3
"""Independent reference forward pass for Llama-family checkpoints (HF layout).

Reimplements, in plain PyTorch, the math of Hugging Face transformers'
LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM
(transformers/models/{llama,mistral,qwen2,qwen3}/modeling_*.py and
modeling_rope_utils.py), so that the Go implementation under test can be pinned
to numbers that did not come from Go. No transformers/safetensors packages are
used: the safetensors container is read and written with json + struct + numpy.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).

CLI:
  ref_llama.py DIR --tokens 1,2,3     print logits (JSON) for a token sequence
  ref_llama.py DIR --check            recompute DIR/golden.json and compare

Decisions where HF leaves a choice (see testdata/models/README.md):
  * Everything, including inv_freq and cos/sin, is computed in float64. HF
    computes inv_freq and cos/sin in float32 and the rest in the weights'
    dtype; float64 makes the golden strictly more accurate than any float32
    implementation, which is what a tolerance test needs.
  * Weights are read from the files as stored (F16/BF16 rounded) and widened
    exactly to float64, so the golden pins the checkpoint bytes, not the
    float32 values they were rounded from.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

# ---------------------------------------------------------------------------
# safetensors

_DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _decode(dtype, raw, shape):
    """Widen raw little-endian bytes of one tensor to a float64 numpy array."""
    if dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dtype == "BF16":
        # bfloat16 is the high half of an IEEE float32: shift into place.
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        a = u.view("<f4").astype(np.float64)
    elif dtype == "F64":
        a = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    else:
        raise ValueError("unsupported dtype for weights: %s" % dtype)
    return a.reshape(shape)


def _encode(dtype, arr):
    """Round a float array to dtype (round-to-nearest-even) and return bytes."""
    a = np.ascontiguousarray(arr)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        # via float32, like a torch model's float32 parameters saved as half
        return a.astype("<f4").astype("<f2").tobytes()
    if dtype == "BF16":
        f = a.astype("<f4")
        u = f.view("<u4").astype(np.uint64)
        # round to nearest even on the 16 dropped bits (no NaN/Inf in our data)
        assert np.all(np.isfinite(f))
        rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    if dtype == "F64":
        return a.astype("<f8").tobytes()
    raise ValueError("unsupported dtype: %s" % dtype)


def round_to(dtype, arr):
    """Return arr as it will read back after being stored as dtype."""
    return _decode(dtype, _encode(dtype, arr), arr.shape)


def read_safetensors(path):
    """Return (tensors: name -> float64 ndarray, dtypes: name -> str, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length out of range" % path)
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    buf = data[8 + n :]
    meta = header.pop("__metadata__", {})
    spans = []
    tensors, dtypes = {}, {}
    for name, info in header.items():
        dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        numel = 1
        for d in shape:
            numel *= d
        if e - b != numel * _DTYPE_SIZE[dtype]:
            raise ValueError("%s: %s: byte length mismatch" % (path, name))
        spans.append((b, e))
        tensors[name] = _decode(dtype, buf[b:e], shape)
        dtypes[name] = dtype
    # Same contiguity rule as the reference reader: no gaps, no trailing bytes.
    pos = 0
    for b, e in sorted(spans):
        if b != pos:
            raise ValueError("%s: non-contiguous offsets" % path)
        pos = e
    if pos != len(buf):
        raise ValueError("%s: trailing bytes in data buffer" % path)
    return tensors, dtypes, meta


def write_safetensors(path, tensors, dtype, metadata=None):
    """Write name -> ndarray as one dtype, like the reference writer: header
    padded with spaces to a multiple of 8, tensors ordered by name."""
    names = sorted(tensors)
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs = []
    off = 0
    for name in names:
        raw = _encode(dtype, tensors[name])
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for raw in blobs:
            f.write(raw)
    return off


def load_checkpoint(d):
    """Load config.json and all weights (single file or sharded) of a directory."""
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    idx = os.path.join(d, "model.safetensors.index.json")
    weights, dtypes = {}, {}
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        shards = {}
        for shard in sorted(set(wm.values())):
            shards[shard] = read_safetensors(os.path.join(d, shard))
        for name, shard in wm.items():
            t, dt, _ = shards[shard]
            if name not in t:
                raise ValueError("%s: %s missing from %s" % (d, name, shard))
            weights[name] = t[name]
            dtypes[name] = dt[name]
        for shard, (t, _, _) in shards.items():
            for name in t:
                if wm.get(name) != shard:
                    raise ValueError("%s: %s in %s but not mapped there" % (d, name, shard))
    else:
        weights, dtypes, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    return config, weights, dtypes


# ---------------------------------------------------------------------------
# config


class Cfg:
    pass


def parse_config(c):
    """Interpret config.json the way transformers (v4.4x-v5) does."""
    g = Cfg()
    g.arch = c["architectures"][0]
    if g.arch not in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"):
        raise ValueError("unsupported architecture %s" % g.arch)
    g.hidden = c["hidden_size"]
    g.inter = c["intermediate_size"]
    g.layers = c["num_hidden_layers"]
    g.heads = c["num_attention_heads"]
    g.kv_heads = c.get("num_key_value_heads") or g.heads
    # LlamaConfig/Qwen3Config: head_dim falls back to hidden // heads when null.
    g.head_dim = c.get("head_dim") or g.hidden // g.heads
    g.vocab = c["vocab_size"]
    g.eps = c.get("rms_norm_eps", 1e-6)
    g.tie = c.get("tie_word_embeddings", False)
    if c.get("hidden_act", "silu") != "silu":
        raise ValueError("hidden_act %r" % c.get("hidden_act"))
    if c.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError("partial_rotary_factor is not used by these architectures")

    # Biases per modeling file: Llama/Qwen3 use attention_bias for q,k,v,o;
    # Qwen2 hard-codes bias=True on q,k,v and False on o; Mistral has none.
    ab = bool(c.get("attention_bias", False))
    if g.arch == "Qwen2ForCausalLM":
        g.qkv_bias, g.o_bias = True, False
    elif g.arch == "MistralForCausalLM":
        g.qkv_bias, g.o_bias = False, False
    else:
        g.qkv_bias, g.o_bias = ab, ab
    g.mlp_bias = bool(c.get("mlp_bias", False)) if g.arch == "LlamaForCausalLM" else False
    g.qk_norm = g.arch == "Qwen3ForCausalLM"

    # RoPE: transformers v5 `rope_parameters` (holds rope_theta) or v4
    # `rope_scaling` (+ top-level `rope_theta`); `type` is the pre-4.45 key.
    rp = c.get("rope_parameters")
    if rp is not None:
        if "rope_theta" in rp:
            theta = rp["rope_theta"]
        else:
            theta = c.get("rope_theta", 10000.0)
        params = dict(rp)
    else:
        theta = c.get("rope_theta", 10000.0)
        params = dict(c.get("rope_scaling") or {})
    g.rope_type = params.get("rope_type", params.get("type", "default"))
    g.rope_theta = float(theta)
    g.rope_params = params
    g.max_pos = c.get("max_position_embeddings")

    # Sliding window: Mistral applies config.sliding_window to every layer;
    # Qwen2/Qwen3 only when use_sliding_window, to layers >= max_window_layers
    # (their `layer_types` default). Llama has none.
    g.window = [None] * g.layers
    if g.arch == "MistralForCausalLM":
        g.window = [c.get("sliding_window")] * g.layers
    elif g.arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM"):
        lt = c.get("layer_types")
        if lt is None and c.get("use_sliding_window", False):
            mwl = c.get("max_window_layers", g.layers)
            lt = ["sliding_attention" if i >= mwl else "full_attention" for i in range(g.layers)]
        if lt is not None:
            g.window = [c.get("sliding_window") if t == "sliding_attention" else None for t in lt]
    return g


def rope_inv_freq(g):
    """inv_freq as in modeling_rope_utils (float64 here)."""
    dim = g.head_dim
    inv = 1.0 / (g.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    p = g.rope_params
    if g.rope_type == "default":
        return inv
    if g.rope_type == "linear":
        return inv / float(p["factor"])
    if g.rope_type == "llama3":
        factor = float(p["factor"])
        low, high = float(p["low_freq_factor"]), float(p["high_freq_factor"])
        old = float(p["original_max_position_embeddings"])
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        out = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
        return torch.where(medium, smoothed, out)
    raise ValueError("unsupported rope_type %r" % g.rope_type)


def llama3_bands(g):
    """For tests: which inv_freq entries llama3 keeps, divides, smooths."""
    p = g.rope_params
    dim = g.head_dim
    inv = 1.0 / (g.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    wl = 2 * math.pi / inv
    old = float(p["original_max_position_embeddings"])
    low_wl, high_wl = old / float(p["low_freq_factor"]), old / float(p["high_freq_factor"])
    return [("keep" if w < high_wl else "divide" if w > low_wl else "smooth") for w in wl.tolist()]


# ---------------------------------------------------------------------------
# model


def expected_tensor_names(g):
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    if not g.tie:
        names.append("lm_head.weight")
    for i in range(g.layers):
        p = "model.layers.%d." % i
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        for m in ("q", "k", "v", "o"):
            names.append(p + "self_attn.%s_proj.weight" % m)
        if g.qkv_bias:
            names += [p + "self_attn.%s_proj.bias" % m for m in ("q", "k", "v")]
        if g.o_bias:
            names.append(p + "self_attn.o_proj.bias")
        if g.qk_norm:
            names += [p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"]
        for m in ("gate", "up", "down"):
            names.append(p + "mlp.%s_proj.weight" % m)
            if g.mlp_bias:
                names.append(p + "mlp.%s_proj.bias" % m)
    return names


def check_shapes(g, W):
    want = set(expected_tensor_names(g))
    have = set(W)
    if want != have:
        raise ValueError("tensor set mismatch: missing %s, extra %s" % (sorted(want - have), sorted(have - want)))
    H, D, V, I = g.hidden, g.head_dim, g.vocab, g.inter
    shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,), "lm_head.weight": (V, H)}
    for i in range(g.layers):
        p = "model.layers.%d." % i
        shapes.update({
            p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
            p + "self_attn.q_proj.weight": (g.heads * D, H), p + "self_attn.k_proj.weight": (g.kv_heads * D, H),
            p + "self_attn.v_proj.weight": (g.kv_heads * D, H), p + "self_attn.o_proj.weight": (H, g.heads * D),
            p + "self_attn.q_proj.bias": (g.heads * D,), p + "self_attn.k_proj.bias": (g.kv_heads * D,),
            p + "self_attn.v_proj.bias": (g.kv_heads * D,), p + "self_attn.o_proj.bias": (H,),
            p + "self_attn.q_norm.weight": (D,), p + "self_attn.k_norm.weight": (D,),
            p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H), p + "mlp.down_proj.weight": (H, I),
            p + "mlp.gate_proj.bias": (I,), p + "mlp.up_proj.bias": (I,), p + "mlp.down_proj.bias": (H,),
        })
    for n in have:
        if tuple(W[n].shape) != shapes[n]:
            raise ValueError("%s: shape %s, want %s" % (n, tuple(W[n].shape), shapes[n]))


def rms_norm(x, w, eps):
    # HF: x * rsqrt(mean(x^2) + eps), then weight * (cast back); one dtype here.
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rotate_adjacent(x):
    # llama2.c / Meta layout: pairs (2i, 2i+1); only for the sensitivity checks.
    y = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1)
    return y.flatten(-2)


def linear(x, W, name, has_bias):
    y = x @ W[name + ".weight"].T
    if has_bias:
        y = y + W[name + ".bias"]
    return y


class Model:
    def __init__(self, config, weights, dtype=torch.float64):
        self.g = parse_config(config)
        check_shapes(self.g, weights)
        self.dtype = dtype
        self.W = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
        self.inv_freq = rope_inv_freq(self.g)
        # Deliberately wrong variants, used only by the sensitivity checks in
        # make_tiny.py to prove each golden would catch that mistake.
        self.variant = set()

    def new_cache(self):
        return [[None, None] for _ in range(self.g.layers)]

    def forward(self, tokens, cache=None, start=0):
        """Logits [len(tokens), vocab] for tokens at positions start.. .

        With a cache (from new_cache), keys/values of earlier calls are reused,
        so calling one token at a time is the incremental (decode) path."""
        g, W = self.g, self.W
        T = len(tokens)
        pos = torch.arange(start, start + T, dtype=torch.float64)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        rot = rotate_half
        if "adjacent_rope" in self.variant:
            emb = freqs.repeat_interleave(2, dim=-1)
            rot = rotate_adjacent
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        x = W["model.embed_tokens.weight"][torch.tensor(tokens, dtype=torch.long)]
        rep = g.heads // g.kv_heads
        for i in range(g.layers):
            p = "model.layers.%d." % i
            h = rms_norm(x, W[p + "input_layernorm.weight"], g.eps)
            q = linear(h, W, p + "self_attn.q_proj", g.qkv_bias).view(T, g.heads, g.head_dim)
            k = linear(h, W, p + "self_attn.k_proj", g.qkv_bias).view(T, g.kv_heads, g.head_dim)
            v = linear(h, W, p + "self_attn.v_proj", g.qkv_bias).view(T, g.kv_heads, g.head_dim)
            if g.qk_norm:  # Qwen3: per-head RMSNorm before RoPE
                q = rms_norm(q, W[p + "self_attn.q_norm.weight"], g.eps)
                k = rms_norm(k, W[p + "self_attn.k_norm.weight"], g.eps)
            q = q * cos[:, None, :] + rot(q) * sin[:, None, :]
            k = k * cos[:, None, :] + rot(k) * sin[:, None, :]
            if cache is not None:
                if cache[i][0] is not None:
                    k = torch.cat((cache[i][0], k), 0)
                    v = torch.cat((cache[i][1], v), 0)
                cache[i][0], cache[i][1] = k, v
            S = k.shape[0]
            kpos = torch.arange(start + T - S, start + T)
            qpos = torch.arange(start, start + T)
            allowed = kpos[None, :] <= qpos[:, None]
            if g.window[i] is not None:
                allowed = allowed & (kpos[None, :] > qpos[:, None] - g.window[i])
            # GQA: query head j uses KV head j // rep (repeat_kv).
            if "gqa_tile" in self.variant:
                kk, vv = k.repeat(1, rep, 1), v.repeat(1, rep, 1)
            else:
                kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            kk, vv = kk.permute(1, 2, 0), vv.permute(1, 0, 2)  # [heads, D, S], [heads, S, D]
            scores = torch.matmul(q.permute(1, 0, 2), kk) * (g.head_dim ** -0.5)  # [heads, T, S]
            scores = scores.masked_fill(~allowed[None], float("-inf"))
            att = torch.softmax(scores, dim=-1)
            o = torch.matmul(att, vv).permute(1, 0, 2).reshape(T, g.heads * g.head_dim)
            x = x + linear(o, W, p + "self_attn.o_proj", g.o_bias)
            h = rms_norm(x, W[p + "post_attention_layernorm.weight"], g.eps)
            gate = linear(h, W, p + "mlp.gate_proj", g.mlp_bias)
            up = linear(h, W, p + "mlp.up_proj", g.mlp_bias)
            x = x + linear(torch.nn.functional.silu(gate) * up, W, p + "mlp.down_proj", g.mlp_bias)
        x = rms_norm(x, W["model.norm.weight"], g.eps)
        head = W["model.embed_tokens.weight"] if g.tie else W["lm_head.weight"]
        return x @ head.T

    def forward_incremental(self, tokens):
        cache = self.new_cache()
        rows = [self.forward([t], cache, start=i)[0] for i, t in enumerate(tokens)]
        return torch.stack(rows)


# ---------------------------------------------------------------------------
# goldens


def reference_string():
    return "scripts/golden/forward/ref_llama.py, torch %s, float64" % torch.__version__


def rel_err(a, b):
    """max |a-b| / max |b|: the metric the golden tests use."""
    return float((a - b).abs().max() / b.abs().max())


def self_check(config, weights, tokens):
    """Golden logits plus the consistency assertions every golden must pass."""
    m64 = Model(config, weights, torch.float64)
    full = m64.forward(tokens)
    inc = m64.forward_incremental(tokens)
    assert rel_err(inc, full) < 1e-12, "incremental vs full (float64): %g" % rel_err(inc, full)
    # Split prefill: first half at once, then the rest at once, through the cache.
    cache = m64.new_cache()
    h = len(tokens) // 2
    split = torch.cat((m64.forward(tokens[:h], cache, 0), m64.forward(tokens[h:], cache, h)))
    assert rel_err(split, full) < 1e-12, "split prefill vs full: %g" % rel_err(split, full)
    m32 = Model(config, weights, torch.float32)
    f32 = m32.forward(tokens).to(torch.float64)
    e32 = rel_err(f32, full)
    assert e32 < 1e-5, "float32 vs float64: %g" % e32
    # A golden is only meaningful if logits are not all tiny.
    assert float(full.std()) > 0.3, "logits too flat: std %g" % float(full.std())
    return full, e32


def fmt_logits(t):
    # 10 significant digits: ~1e-10 relative, far below the 1e-4 test tolerance.
    return [[float("%.10g" % v) for v in row] for row in t.tolist()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--check", action="store_true", help="recompute golden.json and compare")
    a = ap.parse_args()
    config, weights, _ = load_checkpoint(a.dir)
    if a.check:
        with open(os.path.join(a.dir, "golden.json")) as f:
            gold = json.load(f)
        full, e32 = self_check(config, weights, gold["tokens"])
        err = rel_err(full, torch.tensor(gold["logits"], dtype=torch.float64))
        print("%s: golden rel err %.3g, float32 rel err %.3g" % (a.dir, err, e32))
        sys.exit(0 if err < 1e-9 else 1)
    tokens = [int(t) for t in a.tokens.split(",")]
    logits = Model(config, weights).forward(tokens)
    json.dump(fmt_logits(logits), sys.stdout)
    print()


if __name__ == "__main__":
    main()
