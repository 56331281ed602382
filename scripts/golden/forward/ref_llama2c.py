#!/usr/bin/python3
"""stories260K golden, computed from the ORIGINAL llama2.c checkpoint.

Usage: /usr/bin/python3 scripts/golden/forward/ref_llama2c.py [DATA_DIR [OUT_DIR]]
  DATA_DIR defaults to ../shared/data/models/stories260K (relative to the repo root),
  OUT_DIR to testdata/models.

Reads stories260K.bin (llama2.c legacy v0 layout) directly, without any ttq
importer, and runs llama2.c's own math (run.c `forward`): adjacent-pair RoPE
(q[2i], q[2i+1]) with freq = 10000^(-2i/head_size), RMSNorm eps 1e-5,
SwiGLU, GQA (query head h reads KV head h / (n_heads / n_kv_heads)), shared
classifier. Writes:
  stories260K.golden.json   logits for a fixed 16-token sequence (BOS first)
                            and the greedy (argmax) continuation of BOS
  stories260K.expected.txt  that continuation decoded with tok512.bin, as
                            run.c prints it

Self-checks (assertions):
  * greedy text equals llama2.c test_all.py's expected_stdout byte-for-byte;
  * greedy ids are the same in float32 (run.c precision) and float64;
  * the freq_cis tables stored in the file equal our RoPE angles;
  * the HF-layout reference (ref_llama.py, rotate-half RoPE) run on the
    llama2.c weights with the q/k row permutation below gives the same logits
    as the adjacent-pair math, and without it (or with it applied to wk using
    n_heads instead of n_kv_heads) it does not:

      perm(w, n)[h*hd + s*(hd/2) + i, :] = w[h*hd + 2*i + s, :]
          for head h < n, half s in {0, 1}, i < hd/2, hd = head_size,
      wq_hf = perm(wq, n_heads), wk_hf = perm(wk, n_kv_heads)
      (torch: w.view(n, hd//2, 2, dim).transpose(1, 2).reshape(n*hd, dim))
"""

import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_llama as R  # noqa: E402

BOS = 1
GREEDY_STEPS = 200
# 16 tokens: BOS, then a fixed mix (repeats, <unk>=0, </s>=2, byte pieces 3..258
# and merged pieces up to 511) so the logits exercise more than story text.
SEQ = [1, 403, 261, 378, 296, 403, 3, 0, 511, 2, 260, 260, 260, 300, 42, 1]

# karpathy/llama2.c test_all.py, expected_stdout (MIT): run.c output for
# `./run stories260K.bin -z tok512.bin -t 0.0 -n 200` minus the final newline.
EXPECTED = (
    b'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she '
    b'saw a big, red ball. She wanted to play with it, but it was too high.\nLily\'s mom said, "Lily, let\'s go to '
    b'the park." Lily was sad and didn\'t know what to do. She said, "I want to play with your ball, but I can\'t '
    b'find it."\nLily was sad and didn\'t know what to do. She said, "I\'m sorry, Lily. I didn\'t know what to do."'
    b'\nLily didn\'t want to help her mom, so she'
)


def load_bin(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, L, nh, nkv, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // nh
    kv_dim = nkv * hs
    a = np.frombuffer(data, dtype="<f4", offset=28)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = a[off : off + n].reshape(shape).astype(np.float64)
        off += n
        return t

    m = dict(dim=dim, hidden=hidden, L=L, nh=nh, nkv=nkv, vocab=vocab, seq_len=seq_len, hs=hs, kv_dim=kv_dim)
    m["emb"] = take(vocab, dim)
    m["rms_att"] = take(L, dim)
    m["wq"] = take(L, dim, dim)
    m["wk"] = take(L, kv_dim, dim)
    m["wv"] = take(L, kv_dim, dim)
    m["wo"] = take(L, dim, dim)
    m["rms_ffn"] = take(L, dim)
    m["w1"] = take(L, hidden, dim)
    m["w2"] = take(L, dim, hidden)
    m["w3"] = take(L, hidden, dim)
    m["rms_final"] = take(dim)
    m["freq_cis_real"] = take(seq_len, hs // 2)
    m["freq_cis_imag"] = take(seq_len, hs // 2)
    m["wcls"] = m["emb"] if shared else take(vocab, dim)
    assert off == a.size, "unexpected trailing data: %d floats" % (a.size - off)
    return m


class Llama2C:
    """run.c `forward`, one token at a time, with a KV cache."""

    def __init__(self, m, dtype):
        self.m = m
        self.dt = dtype
        self.t = {k: torch.from_numpy(v).to(dtype) for k, v in m.items() if isinstance(v, np.ndarray)}
        hs = m["hs"]
        # run.c: head_dim = i % head_size (even i), freq = 1 / 10000^(head_dim / head_size)
        self.freq = 1.0 / torch.pow(torch.tensor(10000.0, dtype=dtype), torch.arange(0, hs, 2, dtype=dtype) / hs)
        self.kc = [[] for _ in range(m["L"])]
        self.vc = [[] for _ in range(m["L"])]

    def rmsnorm(self, x, w):
        return w * (x / torch.sqrt((x * x).mean() + 1e-5))

    def rope(self, v, pos, nheads):
        # rotate adjacent pairs (v[2i], v[2i+1]) of each head
        hs = self.m["hs"]
        v = v.view(nheads, hs // 2, 2)
        ang = pos * self.freq
        c, s = torch.cos(ang), torch.sin(ang)
        v0, v1 = v[..., 0], v[..., 1]
        return torch.stack((v0 * c - v1 * s, v0 * s + v1 * c), dim=-1).reshape(-1)

    def step(self, token, pos):
        m, t = self.m, self.t
        hs, nh, nkv = m["hs"], m["nh"], m["nkv"]
        kv_mul = nh // nkv
        x = t["emb"][token].clone()
        for l in range(m["L"]):
            xb = self.rmsnorm(x, t["rms_att"][l])
            q = self.rope(t["wq"][l] @ xb, pos, nh)
            k = self.rope(t["wk"][l] @ xb, pos, nkv)
            v = t["wv"][l] @ xb
            self.kc[l].append(k)
            self.vc[l].append(v)
            K = torch.stack(self.kc[l]).view(pos + 1, nkv, hs)
            Vv = torch.stack(self.vc[l]).view(pos + 1, nkv, hs)
            out = torch.empty(m["dim"], dtype=self.dt)
            for h in range(nh):
                qh = q[h * hs : (h + 1) * hs]
                sc = (K[:, h // kv_mul, :] @ qh) / np.sqrt(hs)
                att = torch.softmax(sc, dim=0)
                out[h * hs : (h + 1) * hs] = att @ Vv[:, h // kv_mul, :]
            x = x + t["wo"][l] @ out
            xb = self.rmsnorm(x, t["rms_ffn"][l])
            h1 = t["w1"][l] @ xb
            h3 = t["w3"][l] @ xb
            x = x + t["w2"][l] @ (h1 * torch.sigmoid(h1) * h3)
        x = self.rmsnorm(x, t["rms_final"])
        return t["wcls"] @ x


def run_seq(m, tokens, dtype):
    model = Llama2C(m, dtype)
    return torch.stack([model.step(tok, p) for p, tok in enumerate(tokens)])


def greedy(m, dtype, steps):
    model = Llama2C(m, dtype)
    tok, out = BOS, []
    for pos in range(steps):
        nxt = int(torch.argmax(model.step(tok, pos)))
        out.append(nxt)
        tok = nxt
    return out


def load_tokenizer(path, vocab):
    with open(path, "rb") as f:
        data = f.read()
    off = 4  # int32 max_token_length
    pieces = []
    for _ in range(vocab):
        _score, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off : off + n])
        off += n
    assert off == len(data)
    return pieces


def decode_runc(pieces, ids):
    """What run.c prints for the generated ids after BOS: decode(prev, next)
    strips the leading space after BOS, maps <0xXX> to the byte, and the loop
    stops at BOS; safe_printf drops unprintable single bytes."""
    out, prev = b"", BOS
    for nxt in ids:
        if nxt == BOS:
            break
        p = pieces[nxt]
        if prev == BOS and p.startswith(b" "):
            p = p[1:]
        if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
            p = bytes([int(p[3:5], 16)])
        if len(p) == 1 and not (32 <= p[0] < 127 or p[0] in b"\t\n\v\f\r"):
            p = b""
        out += p
        prev = nxt
    return out


def permute_hf(w, n):
    """llama2.c/Meta (adjacent pairs) rows -> HF (rotate-half) rows, per head."""
    rows, cols = w.shape
    hd = rows // n
    return w.reshape(n, hd // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def hf_checkpoint(m, kv_perm_heads):
    cfg = {
        "architectures": ["LlamaForCausalLM"], "hidden_size": m["dim"], "intermediate_size": m["hidden"],
        "num_hidden_layers": m["L"], "num_attention_heads": m["nh"], "num_key_value_heads": m["nkv"],
        "vocab_size": m["vocab"], "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "max_position_embeddings": m["seq_len"], "tie_word_embeddings": True,
    }
    W = {"model.embed_tokens.weight": m["emb"], "model.norm.weight": m["rms_final"]}
    for l in range(m["L"]):
        p = "model.layers.%d." % l
        W[p + "input_layernorm.weight"] = m["rms_att"][l]
        W[p + "post_attention_layernorm.weight"] = m["rms_ffn"][l]
        W[p + "self_attn.q_proj.weight"] = m["wq"][l] if kv_perm_heads is None else permute_hf(m["wq"][l], m["nh"])
        W[p + "self_attn.k_proj.weight"] = m["wk"][l] if kv_perm_heads is None else permute_hf(m["wk"][l], kv_perm_heads)
        W[p + "self_attn.v_proj.weight"] = m["wv"][l]
        W[p + "self_attn.o_proj.weight"] = m["wo"][l]
        W[p + "mlp.gate_proj.weight"] = m["w1"][l]
        W[p + "mlp.down_proj.weight"] = m["w2"][l]
        W[p + "mlp.up_proj.weight"] = m["w3"][l]
    return cfg, W


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", "..", ".."))
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data", "models", "stories260K")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "testdata", "models")
    m = load_bin(os.path.join(data, "stories260K.bin"))
    assert (m["dim"], m["hidden"], m["L"], m["nh"], m["nkv"], m["vocab"], m["seq_len"]) == (64, 172, 5, 8, 4, 512, 512)

    # The stored freq_cis tables are llama2.c's own RoPE angles (float32).
    ang = torch.outer(torch.arange(m["seq_len"], dtype=torch.float64),
                      1.0 / 10000.0 ** (torch.arange(0, m["hs"], 2, dtype=torch.float64) / m["hs"]))
    assert np.abs(np.cos(ang.numpy()) - m["freq_cis_real"]).max() < 1e-4
    assert np.abs(np.sin(ang.numpy()) - m["freq_cis_imag"]).max() < 1e-4

    # Greedy decode, float64 and float32 (run.c precision) must agree.
    g64 = greedy(m, torch.float64, GREEDY_STEPS)
    g32 = greedy(m, torch.float32, GREEDY_STEPS)
    assert g64 == g32, "float32 and float64 greedy ids differ"
    pieces = load_tokenizer(os.path.join(data, "tok512.bin"), m["vocab"])
    text = decode_runc(pieces, g64)
    # run.c -n 200 runs 200 forwards and prints every sampled token; the
    # expected text must be exactly that.
    assert text == EXPECTED, "greedy text differs from llama2.c test_all.py:\n%r" % text
    assert text.startswith(b"Once upon a time, there was a little girl named Lily. She loved to play outside in the park.")

    # Logits for the fixed sequence; float32 agrees with float64.
    l64 = run_seq(m, SEQ, torch.float64)
    l32 = run_seq(m, SEQ, torch.float32).to(torch.float64)
    e32 = R.rel_err(l32, l64)
    assert e32 < 1e-5, e32
    # Teacher-forced logits over the greedy sequence pick the same ids, and the
    # smallest top-1/top-2 gap says how much error a float32 port can afford.
    tf = run_seq(m, [BOS] + g64[:-1], torch.float64)
    assert [int(i) for i in tf.argmax(1)] == g64
    top2 = tf.topk(2, dim=1).values
    margin = top2[:, 0] - top2[:, 1]

    # Permutation proof: HF layout + rotate-half == llama2.c adjacent pairs.
    cfg, W = hf_checkpoint(m, m["nkv"])
    hf = R.Model(cfg, W)
    hf_full = hf.forward(SEQ)
    e_perm = R.rel_err(hf_full, l64)
    assert e_perm < 1e-12, "permuted HF forward differs: %g" % e_perm
    assert R.rel_err(hf.forward_incremental(SEQ), l64) < 1e-12
    cfg_n, W_n = hf_checkpoint(m, None)
    e_none = R.rel_err(R.Model(cfg_n, W_n).forward(SEQ), l64)
    cfg_w, W_w = hf_checkpoint(m, m["nh"])  # wk permuted with n_heads: wrong for GQA
    e_wrong = R.rel_err(R.Model(cfg_w, W_w).forward(SEQ), l64)
    assert e_none > 1e-2 and e_wrong > 1e-2, (e_none, e_wrong)
    # Feeding the HF model the llama2.c weights with adjacent-pair RoPE needs no permutation.
    adj = R.Model(cfg_n, W_n)
    adj.variant.add("adjacent_rope")
    e_adj = R.rel_err(adj.forward(SEQ), l64)
    assert e_adj < 1e-12, e_adj

    gold = {
        "tokens": SEQ,
        "logits": R.fmt_logits(l64),
        "greedy_from_bos": g64,
        "reference": "scripts/golden/forward/ref_llama2c.py (llama2.c run.c math, adjacent-pair RoPE), "
                     "torch %s, float64" % torch.__version__,
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "stories260K.golden.json"), "w") as f:
        json.dump(gold, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(out, "stories260K.expected.txt"), "wb") as f:
        f.write(text)
    print("stories260K: %d greedy ids (f32 == f64), text %d bytes == test_all.py expected" % (len(g64), len(text)))
    print("  logits f32 rel err %.2g; HF permuted rel err %.2g; unpermuted %.2g; wk permuted with n_heads %.2g; "
          "adjacent-RoPE unpermuted %.2g" % (e32, e_perm, e_none, e_wrong, e_adj))
    print("  logits std %.3f, max |.| %.3f; smallest greedy top-1/top-2 gap %.4f at step %d" % (
        float(l64.std()), float(l64.abs().max()), float(margin.min()), int(margin.argmin())))


if __name__ == "__main__":
    main()
