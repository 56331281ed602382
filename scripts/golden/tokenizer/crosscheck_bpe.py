#!/usr/bin/env python3
"""Re-derives the GPT-NeoX and Llama-3 goldens with a third, deliberately
plain implementation and checks them against the committed JSON written by
gen_js.mjs, so that a bug in either JavaScript port cannot slip into a golden.
Dev-only; CI never runs this.

Needs Debian's python3-regex (Unicode \\p{..} classes, lookahead, (?i:..)).
Usage (from the repository root): /usr/bin/python3 scripts/golden/tokenizer/crosscheck_bpe.py
"""
import base64
import json
import os
import sys
import unicodedata

import regex

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SHARED = os.environ.get("TTQ_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
GOLDEN = os.path.join(ROOT, "testdata", "tokenizer")

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def split_tokens(text, tokens):
    """Leftmost-longest split of text on a set of literal tokens: a list of
    (piece, is_token)."""
    out, start, i = [], 0, 0
    by_len = sorted(tokens, key=len, reverse=True)
    while i < len(text):
        hit = next((t for t in by_len if text.startswith(t, i)), None)
        if hit is None:
            i += 1
            continue
        if i > start:
            out.append((text[start:i], False))
        out.append((hit, True))
        i += len(hit)
        start = i
    if start < len(text):
        out.append((text[start:], False))
    return out


def merge_loop(parts, rank_of):
    """Repeatedly merges the adjacent pair of lowest rank, the leftmost on a
    tie, one merge at a time (HF word.rs / tiktoken semantics)."""
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = rank_of(parts[i], parts[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return parts


def byte_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def neox_encoder():
    with open(os.path.join(SHARED, "tokenizers", "gpt-neox-20b", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    assert tj["normalizer"] == {"type": "NFC"}
    vocab = tj["model"]["vocab"]
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(tj["model"]["merges"])}
    raw_added = {t["content"]: t["id"] for t in tj["added_tokens"] if not t["normalized"]}
    norm_added = {t["content"]: t["id"] for t in tj["added_tokens"] if t["normalized"]}
    b2u = byte_to_unicode()
    pat = regex.compile(GPT2)

    def encode(text):
        ids = []
        for piece, is_tok in split_tokens(text, raw_added):
            if is_tok:
                ids.append(raw_added[piece])
                continue
            for sub, is_tok2 in split_tokens(unicodedata.normalize("NFC", piece), norm_added):
                if is_tok2:
                    ids.append(norm_added[sub])
                    continue
                for word in pat.findall(sub):
                    chars = [b2u[b] for b in word.encode("utf-8")]
                    for tok in merge_loop(chars, lambda a, b: ranks.get((a, b))):
                        ids.append(vocab[tok])
        return ids

    return encode


def llama3_encoder():
    ranks = {}
    with open(os.path.join(SHARED, "tokenizers", "llama3", "tokenizer.model"), "rb") as f:
        for line in f:
            if line.strip():
                tok, r = line.split()
                ranks[base64.b64decode(tok)] = int(r)
    names = ["<|begin_of_text|>", "<|end_of_text|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(4)]
    names += ["<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(5, 256 - 5)]
    special = {n: len(ranks) + i for i, n in enumerate(names)}
    pat = regex.compile(LLAMA3)

    def encode(text):
        ids = []
        for piece, is_tok in split_tokens(text, special):
            if is_tok:
                ids.append(special[piece])
                continue
            for word in pat.findall(piece):
                b = word.encode("utf-8")
                if b in ranks:
                    ids.append(ranks[b])
                    continue
                parts = merge_loop([bytes([x]) for x in b], lambda x, y: ranks.get(x + y))
                ids.extend(ranks[p] for p in parts)
        return ids

    return encode


def main():
    bad = 0
    for name, enc in (("gpt-neox-20b", neox_encoder()), ("llama3", llama3_encoder())):
        with open(os.path.join(GOLDEN, name + ".golden.json"), encoding="utf-8") as f:
            golden = json.load(f)
        for c in golden["cases"]:
            got = enc(c["text"])
            if got != c["ids"]:
                bad += 1
                print(f"{name}: {c['text']!r}\n  golden {c['ids']}\n  python {got}")
        print(f"{name}: {len(golden['cases'])} cases checked")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
