#!/usr/bin/env python3
"""Writes the SentencePiece tokenizer goldens with Debian's python3-sentencepiece.
Dev-only: the outputs are committed and CI never runs this.

Usage (from the repository root): /usr/bin/python3 scripts/golden/tokenizer/gen_spm.py

Two deliberate omissions, both because the SentencePiece library and the
tokenizer.json that ttq converts to (like transformers' LlamaConverter and
llama.cpp) legitimately differ:
  * texts containing a control-piece string (<s>, </s>, <unk>): SentencePiece
    never matches those from text, a converted tokenizer.json lists them as
    special added tokens and does;
  * for tok512 and tok105, whose models keep the default
    remove_extra_whitespaces=true, texts on which that normalisation changes
    anything (leading, trailing or repeated spaces); it is detected exactly,
    as decode(encode(text)) != text with the byte-fallback tok512 model.
"""
import hashlib
import json
import os

import sentencepiece as spm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SHARED = os.environ.get("TTQ_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
GOLDEN = os.path.join(ROOT, "testdata", "tokenizer")

MODELS = [
    # name, path under shared data, collapses whitespace
    ("llama2", "tokenizers/llama2/tokenizer.model", False),
    ("tok512", "models/stories260K/tok512.model", True),
    ("tok105", "models/babyllama-tok105/tok105.model", True),
]
CONTROL = ("<s>", "</s>", "<unk>")


def main():
    with open(os.path.join(GOLDEN, "samples.json"), encoding="utf-8") as f:
        samples = json.load(f)
    probe = spm.SentencePieceProcessor(model_file=os.path.join(SHARED, MODELS[1][1]))

    def untouched(text):
        return probe.decode(probe.encode(text)) == text

    for name, rel, collapses in MODELS:
        path = os.path.join(SHARED, rel)
        with open(path, "rb") as f:
            raw = f.read()
        sp = spm.SentencePieceProcessor(model_file=path)
        cases = []
        for text in samples:
            if any(c in text for c in CONTROL):
                continue
            if collapses and not untouched(text):
                continue
            cases.append({"text": text, "ids": sp.encode(text)})
        source = (
            f"sentencepiece {spm.__version__} (Debian python3-sentencepiece), "
            f"SentencePieceProcessor.encode(text), no BOS/EOS; texts containing <s>, </s> or <unk> omitted"
            + ("; texts changed by remove_extra_whitespaces omitted" if collapses else "")
            + f"; input {rel} sha256 {hashlib.sha256(raw).hexdigest()}"
        )
        body = json.dumps({"source": source, "cases": cases}, ensure_ascii=False, indent=1)
        # ids on one line each keeps the files short and diffs readable
        body = collapse_id_lists(body)
        with open(os.path.join(GOLDEN, name + ".golden.json"), "w", encoding="utf-8") as f:
            f.write(body + "\n")
        print(f"{name}: {len(cases)} cases")


def collapse_id_lists(body):
    out, buf = [], None
    for line in body.split("\n"):
        if buf is not None:
            s = line.strip()
            if s.startswith("]"):
                out.append(buf + "]" + s[1:])
                buf = None
            else:
                buf += s
            continue
        if line.endswith('"ids": ['):
            buf = line
            continue
        out.append(line)
    return "\n".join(out)


if __name__ == "__main__":
    main()
