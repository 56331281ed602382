#!/usr/bin/python3
"""Write the tiny random HF-layout checkpoints and their golden logits.

Usage: /usr/bin/python3 scripts/golden/forward/make_tiny.py [OUT_DIR]
(default OUT_DIR: testdata/models relative to the repository root).

Every checkpoint is written, then read back from disk, and the golden logits
are computed by ref_llama.py from the bytes on disk (so F16/BF16 rounding is
part of what the golden pins). Deterministic: fixed seed, fixed tokens.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_llama as R  # noqa: E402

SEED = 20240611
TOKENS = [1, 17, 200, 42, 17, 99, 255, 0, 42, 42, 128, 7]
V4 = "4.51.3"  # transformers version written into the v4-style configs
V5 = "5.0.0"


def llama_config(arch_extra, **kw):
    """config.json keys as LlamaConfig.save_pretrained writes them (v4.51)."""
    c = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "mlp_bias": False,
        "model_type": "llama",
        "pretraining_tp": 1,
        "rope_scaling": None,
        "transformers_version": V4,
        "use_cache": True,
    }
    c.update(arch_extra)
    c.update(kw)
    return c


SPECS = [
    dict(
        name="tiny-llama2",
        dtype="F32",
        shards=1,
        config=llama_config({}, hidden_size=64, intermediate_size=40, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=256,
                            max_position_embeddings=256, rms_norm_eps=1e-05, rope_theta=10000.0,
                            tie_word_embeddings=False, torch_dtype="float32"),
    ),
    dict(
        name="tiny-llama3",
        dtype="BF16",
        shards=1,
        config=llama_config({}, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                            num_attention_heads=8, num_key_value_heads=2, head_dim=8, vocab_size=256,
                            bos_token_id=128, eos_token_id=129,
                            max_position_embeddings=2048, rms_norm_eps=1e-05, rope_theta=500000.0,
                            rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                          "original_max_position_embeddings": 256, "rope_type": "llama3"},
                            tie_word_embeddings=True, torch_dtype="bfloat16"),
    ),
    dict(
        name="tiny-mistral",
        dtype="F16",
        shards=2,
        # transformers v5 spelling: rope_parameters holds rope_theta; `dtype`.
        config={
            "architectures": ["MistralForCausalLM"],
            "attention_dropout": 0.0,
            "bos_token_id": 1,
            "dtype": "float16",
            "eos_token_id": 2,
            "head_dim": 16,
            "hidden_act": "silu",
            "hidden_size": 64,
            "initializer_range": 0.02,
            "intermediate_size": 96,
            "max_position_embeddings": 512,
            "model_type": "mistral",
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-05,
            "rope_parameters": {"factor": 2.0, "rope_theta": 10000.0, "rope_type": "linear"},
            "sliding_window": 32,
            "tie_word_embeddings": False,
            "transformers_version": V5,
            "use_cache": True,
            "vocab_size": 256,
        },
    ),
    dict(
        name="tiny-qwen2",
        dtype="F32",
        shards=1,
        config={
            "architectures": ["Qwen2ForCausalLM"],
            "attention_dropout": 0.0,
            "bos_token_id": 250,
            "eos_token_id": 251,
            "hidden_act": "silu",
            "hidden_size": 64,
            "initializer_range": 0.02,
            "intermediate_size": 72,
            "max_position_embeddings": 512,
            "max_window_layers": 2,
            "model_type": "qwen2",
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "tie_word_embeddings": True,
            "torch_dtype": "float32",
            "transformers_version": V4,
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": 256,
        },
    ),
    dict(
        name="tiny-qwen3",
        dtype="BF16",
        shards=1,
        config={
            "architectures": ["Qwen3ForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": 250,
            "eos_token_id": 251,
            "head_dim": 32,
            "hidden_act": "silu",
            "hidden_size": 64,
            "initializer_range": 0.02,
            "intermediate_size": 128,
            "max_position_embeddings": 512,
            "max_window_layers": 2,
            "model_type": "qwen3",
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "tie_word_embeddings": True,
            "torch_dtype": "bfloat16",
            "transformers_version": V4,
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": 256,
        },
    ),
]


def random_weights(g, rng):
    """Random weights scaled so activations stay O(1) and logits spread out."""
    H, D, I, V = g.hidden, g.head_dim, g.inter, g.vocab

    def lin(out, inp, gain=1.0):
        return rng.normal(0.0, gain / np.sqrt(inp), size=(out, inp))

    def norm(n, spread=0.1):
        return 1.0 + rng.normal(0.0, spread, size=(n,))

    W = {"model.embed_tokens.weight": rng.normal(0.0, 0.25, size=(V, H)), "model.norm.weight": norm(H)}
    if not g.tie:
        W["lm_head.weight"] = lin(V, H, 2.0)
    for i in range(g.layers):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = norm(H)
        W[p + "post_attention_layernorm.weight"] = norm(H)
        W[p + "self_attn.q_proj.weight"] = lin(g.heads * D, H, 1.5)
        W[p + "self_attn.k_proj.weight"] = lin(g.kv_heads * D, H, 1.5)
        W[p + "self_attn.v_proj.weight"] = lin(g.kv_heads * D, H)
        W[p + "self_attn.o_proj.weight"] = lin(H, g.heads * D, 0.5)
        if g.qkv_bias:
            W[p + "self_attn.q_proj.bias"] = rng.normal(0.0, 0.3, size=(g.heads * D,))
            W[p + "self_attn.k_proj.bias"] = rng.normal(0.0, 0.3, size=(g.kv_heads * D,))
            W[p + "self_attn.v_proj.bias"] = rng.normal(0.0, 0.3, size=(g.kv_heads * D,))
        if g.qk_norm:
            W[p + "self_attn.q_norm.weight"] = norm(D, 0.3)
            W[p + "self_attn.k_norm.weight"] = norm(D, 0.3)
        W[p + "mlp.gate_proj.weight"] = lin(I, H)
        W[p + "mlp.up_proj.weight"] = lin(I, H)
        W[p + "mlp.down_proj.weight"] = lin(H, I, 0.5)
    return W


def state_dict_order(g):
    """Parameter order of the HF module tree (how save_pretrained fills shards)."""
    order = ["model.embed_tokens.weight"]
    for i in range(g.layers):
        p = "model.layers.%d." % i
        for m in ("q", "k", "v", "o"):
            order.append(p + "self_attn.%s_proj.weight" % m)
            if (m != "o" and g.qkv_bias) or (m == "o" and g.o_bias):
                order.append(p + "self_attn.%s_proj.bias" % m)
        if g.qk_norm:
            order += [p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"]
        order += [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
        order += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
    order.append("model.norm.weight")
    if not g.tie:
        order.append("lm_head.weight")
    return order


def write_checkpoint(d, spec, W, g):
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".safetensors") or f.endswith(".index.json"):
            os.remove(os.path.join(d, f))
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(spec["config"], indent=2, sort_keys=True) + "\n")
    meta = {"format": "pt"}
    if spec["shards"] == 1:
        R.write_safetensors(os.path.join(d, "model.safetensors"), W, spec["dtype"], meta)
        return
    # Split like save_pretrained: walk the state dict in order, start a new
    # shard once the first one holds about half the bytes.
    order = state_dict_order(g)
    assert sorted(order) == sorted(W)
    size = {n: W[n].size * R._DTYPE_SIZE[spec["dtype"]] for n in order}
    total = sum(size.values())
    n = spec["shards"]
    groups, cur, acc = [], [], 0
    for name in order:
        if cur and acc + size[name] > total / n and len(groups) < n - 1:
            groups.append(cur)
            cur, acc = [], 0
        cur.append(name)
        acc += size[name]
    groups.append(cur)
    assert len(groups) == n
    wm = {}
    for k, names in enumerate(groups):
        fn = "model-%05d-of-%05d.safetensors" % (k + 1, n)
        R.write_safetensors(os.path.join(d, fn), {x: W[x] for x in names}, spec["dtype"], meta)
        for x in names:
            wm[x] = fn
    # transformers >= 4.56 also records total_parameters next to total_size.
    params = sum(W[x].size for x in order)
    index = {"metadata": {"total_parameters": params, "total_size": total}, "weight_map": dict(sorted(wm.items()))}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def meta_llama3_scaling(g):
    """Meta's per-frequency loop (llama-models `apply_scaling`), written out
    separately to cross-check the vectorised HF form in ref_llama."""
    p = g.rope_params
    factor, lo, hi = p["factor"], p["low_freq_factor"], p["high_freq_factor"]
    old = p["original_max_position_embeddings"]
    out = []
    for i in range(0, g.head_dim, 2):
        f = 1.0 / g.rope_theta ** (i / g.head_dim)
        wl = 2 * np.pi / f
        if wl < old / hi:
            out.append(f)
        elif wl > old / lo:
            out.append(f / factor)
        else:
            s = (old / wl - lo) / (hi - lo)
            out.append((1 - s) * f / factor + s * f)
    return np.array(out)


def sensitivity(config, weights, logits):
    """Each deliberately wrong variant must move the logits by far more than
    the 1e-4 tolerance of the Go test, or the golden would not pin it."""
    import torch

    g = R.parse_config(config)
    variants = [("adjacent-pair RoPE", lambda m: m.variant.add("adjacent_rope"))]
    if g.heads != g.kv_heads:
        variants.append(("GQA kv head j % kv_heads", lambda m: m.variant.add("gqa_tile")))
    if not g.tie:
        variants.append(("tied lm_head", lambda m: m.W.__setitem__("lm_head.weight", m.W["model.embed_tokens.weight"])))
    if g.rope_type != "default":
        def plain(m):
            m.inv_freq = 1.0 / (m.g.rope_theta ** (torch.arange(0, m.g.head_dim, 2, dtype=torch.float64) / m.g.head_dim))
        variants.append(("rope scaling ignored", plain))
    if g.rope_type == "llama3":
        factor = g.rope_params["factor"]

        def no_smooth(m):
            base = 1.0 / (m.g.rope_theta ** (torch.arange(0, m.g.head_dim, 2, dtype=torch.float64) / m.g.head_dim))
            bands = R.llama3_bands(m.g)
            m.inv_freq = torch.tensor([f / factor if b != "keep" else f for f, b in zip(base.tolist(), bands)],
                                      dtype=torch.float64)
        variants.append(("llama3 smoothing band divided", no_smooth))
    if g.qkv_bias:
        variants.append(("q/k/v biases dropped", lambda m: setattr(m.g, "qkv_bias", False)))
    if g.qk_norm:
        variants.append(("q_norm/k_norm skipped", lambda m: setattr(m.g, "qk_norm", False)))
    out = []
    for desc, mutate in variants:
        m = R.Model(config, weights)
        mutate(m)
        e = R.rel_err(m.forward(TOKENS), logits)
        assert e > 1e-2, "%s: only %g" % (desc, e)
        out.append("%s %.2g" % (desc, e))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "testdata", "models")
    out = os.path.normpath(out)
    rng = np.random.default_rng(SEED)
    for spec in SPECS:
        g = R.parse_config(spec["config"])
        W = random_weights(g, rng)
        d = os.path.join(out, spec["name"])
        write_checkpoint(d, spec, W, g)

        config, weights, dtypes = R.load_checkpoint(d)
        assert config == spec["config"]
        assert set(dtypes.values()) == {spec["dtype"]}
        # Read-back equals the stored rounding of what we generated.
        for n, a in W.items():
            assert np.array_equal(weights[n], R.round_to(spec["dtype"], a)), n
        # Our F16/BF16 rounding agrees with torch's own conversion (an
        # independent implementation of round-to-nearest-even).
        import torch
        tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[spec["dtype"]]
        for n, a in W.items():
            t = torch.from_numpy(a).to(torch.float32).to(tdt).to(torch.float64).numpy()
            assert np.array_equal(weights[n], t), n
        if spec["dtype"] != "F32":
            # and the rounding really happened (the golden pins the stored bytes)
            assert not np.array_equal(weights["model.embed_tokens.weight"], W["model.embed_tokens.weight"])

        gr = R.parse_config(config)
        if gr.rope_type == "llama3":
            bands = R.llama3_bands(gr)
            assert {"keep", "smooth", "divide"} <= set(bands), bands
            assert np.allclose(R.rope_inv_freq(gr).numpy(), meta_llama3_scaling(gr), rtol=1e-14, atol=0)
        if spec["name"] == "tiny-qwen3":
            assert gr.heads * gr.head_dim != gr.hidden
        if spec["name"] == "tiny-mistral":
            assert gr.rope_type == "linear" and gr.window[0] > len(TOKENS)

        logits, e32 = R.self_check(config, weights, TOKENS)
        sens = sensitivity(config, weights, logits)
        gold = {"tokens": TOKENS, "logits": R.fmt_logits(logits), "reference": R.reference_string()}
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump(gold, f, separators=(",", ":"))
            f.write("\n")
        ckpt = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d) if x.endswith(".safetensors"))
        assert ckpt < 300 * 1024, (spec["name"], ckpt)
        print("%-13s %s shards=%d weights=%7d B  logits std %.3f max|.| %.3f  f32 rel err %.2g" % (
            spec["name"], spec["dtype"], spec["shards"], ckpt, float(logits.std()),
            float(logits.abs().max()), e32))
        print("  wrong variants move the logits by (rel):", "; ".join(sens))


if __name__ == "__main__":
    main()
