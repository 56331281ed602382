"""Tokenizes the WikiText-2 evaluation texts with the SentencePiece library.

Reference for pkg/eval's TestWikiTextTokensMatchSentencePiece: the gptq
protocol's text (raw rows mapped to Hugging Face rows, joined with "\n\n",
FORMATS.md section 6.2) and the llamacpp protocol's text (the raw file minus
its final newline), encoded with the Llama-2 tokenizer.model as
LlamaTokenizer(use_fast=False) does (SentencePiece encode, no BOS). Llama-2's
model sets remove_extra_whitespaces=false, so the library's whitespace
handling is the one ttq's converted tokenizer.json implements.

Run with Debian's interpreter (python3-sentencepiece):
    /usr/bin/python3 scripts/golden/eval/wikitext_sentencepiece.py
"""
import hashlib
import json
import os
import struct

import sentencepiece as spm

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
shared = os.environ.get("TTQ_SHARED_DATA", os.path.join(root, "..", "shared", "data"))
model = os.path.join(shared, "tokenizers", "llama2", "tokenizer.model")
sp = spm.SentencePieceProcessor(model_file=model)


def rows(raw):
    # Hugging Face's wikitext rows: one per line; a line that is a single
    # space becomes "", every other row keeps its trailing "\n".
    out = []
    for line in raw.split("\n")[:-1]:
        out.append("" if line == " " else line + "\n")
    return out


def digest(ids):
    return hashlib.sha256(b"".join(struct.pack("<i", i) for i in ids)).hexdigest()


results = []
for split in ("test", "valid"):
    raw = open(os.path.join(root, "pkg", "eval", "data", "wikitext-2-raw", f"wiki.{split}.raw"), encoding="utf-8").read()
    for protocol, text in (("gptq", "\n\n".join(rows(raw))), ("llamacpp", raw[:-1] if raw.endswith("\n") else raw)):
        ids = sp.encode(text)
        results.append({
            "split": split,
            "protocol": protocol,
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "tokens": len(ids),
            "ids_sha256_int32le": digest(ids),
            "first_ids": ids[:16],
        })
        print(split, protocol, len(ids))

out = {
    "source": f"sentencepiece {spm.__version__} (Debian python3-sentencepiece), SentencePieceProcessor.encode, no BOS; "
    f"tokenizers/llama2/tokenizer.model sha256 {hashlib.sha256(open(model, 'rb').read()).hexdigest()}",
    "results": results,
}
with open(os.path.join(root, "testdata", "eval", "wikitext-llama2-sentencepiece.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
