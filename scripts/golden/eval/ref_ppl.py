#!/usr/bin/python3
"""Reference perplexity of the demo model under ttq's two protocols.

Reads token ids written by the Go test (testdata/eval/*.ids.json: the first
windows of the WikiText-2 test text, tokenized by the demo tokenizer exactly as
`ttq eval` does), runs them through the float64 PyTorch reimplementation of the
Hugging Face Llama forward in scripts/golden/forward/ref_llama.py, scores them
the way each protocol's original code does, and writes
testdata/eval/*.golden.json for pkg/eval's TestDemoPerplexityMatchesTorchReference.

  gptq      GPTQ llama_eval/opt_eval: for each non-overlapping window of
            seqlen tokens, CrossEntropy(logits[:-1], tokens[1:]) (mean),
            nll = loss * seqlen, ppl = exp(sum(nlls) / (nsamples * seqlen)).
  llamacpp  llama-perplexity: the window's first token replaced by BOS,
            logits at positions n_ctx/2 .. n_ctx-2 score the next token;
            nll and nll2 summed; ppl = exp(nll/count) and
            stderr = ppl * sqrt((nll2/count - (nll/count)^2) / (count-1)).

The same stderr formula is applied to the gptq per-token NLLs (ttq reports it
for both protocols).

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy):
  go test ./pkg/eval -run TestDemoPerplexityMatchesTorchReference -update-ids
  /usr/bin/python3 scripts/golden/eval/ref_ppl.py
"""

import json
import math
import os
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "golden", "forward"))

import ref_llama  # noqa: E402

MODEL = os.path.join(ROOT, "pkg", "model", "demo", "stories260K")
TESTDATA = os.path.join(ROOT, "testdata", "eval")


def window_nlls(model, win, first):
    """Per-token NLLs of logits rows first..len(win)-2 predicting win[j+1]."""
    logits = model.forward(win)
    logp = torch.log_softmax(logits.to(torch.float64), dim=-1)
    tgt = torch.tensor(win[first + 1 :], dtype=torch.long)
    return -logp[first : len(win) - 1].gather(1, tgt[:, None])[:, 0]


def gptq(model, ids):
    seqlen, n = ids["ctx"], ids["windows"]
    toks = ids["tokens"]
    nlls, all_tok, window_ppl = [], [], []
    for i in range(n):
        win = toks[i * seqlen : (i + 1) * seqlen]
        tok_nll = window_nlls(model, win, 0)
        loss = tok_nll.mean()  # CrossEntropyLoss(reduction="mean") over seqlen-1 shifted labels
        nlls.append(loss * seqlen)
        all_tok.append(tok_nll)
        window_ppl.append(math.exp(float(loss)))
    ppl = math.exp(float(torch.stack(nlls).sum() / (n * seqlen)))
    return ppl, torch.cat(all_tok), window_ppl


def llamacpp(model, ids):
    n_ctx, n = ids["ctx"], ids["windows"]
    toks = list(ids["tokens"])
    first = n_ctx // 2
    all_tok, window_ppl = [], []
    for i in range(n):
        win = toks[i * n_ctx : (i + 1) * n_ctx]
        if ids["bos"] >= 0:
            win[0] = ids["bos"]
        tok_nll = window_nlls(model, win, first)
        all_tok.append(tok_nll)
        window_ppl.append(math.exp(float(tok_nll.mean())))
    t = torch.cat(all_tok)
    return math.exp(float(t.mean())), t, window_ppl


def stderr(ppl, t):
    count = t.numel()
    nll = float(t.sum()) / count
    nll2 = float((t * t).sum()) / count
    var = nll2 - nll * nll
    return ppl * math.sqrt(var / (count - 1)) if var > 0 else 0.0


def main():
    config, weights, _ = ref_llama.load_checkpoint(MODEL)
    model = ref_llama.Model(config, weights)
    for proto, fn in (("gptq", gptq), ("llamacpp", llamacpp)):
        base = os.path.join(TESTDATA, "stories260K.wikitext-test.%s" % proto)
        with open(base + ".ids.json") as f:
            ids = json.load(f)
        assert ids["protocol"] == proto
        assert len(ids["tokens"]) == ids["ctx"] * ids["windows"]
        ppl, t, window_ppl = fn(model, ids)
        mean_nll = float(t.mean())
        out = {
            "reference": ref_llama.reference_string() + "; scripts/golden/eval/ref_ppl.py",
            "protocol": proto,
            "ctx": ids["ctx"],
            "windows": ids["windows"],
            "text_sha256": ids["text_sha256"],
            "scored_tokens": t.numel(),
            "mean_nll": mean_nll,
            "ppl": ppl,
            "ppl_stderr": stderr(ppl, t),
            "window_ppl": window_ppl,
        }
        with open(base + ".golden.json", "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        print("%s: PPL %.6f +/- %.6f over %d tokens" % (proto, ppl, out["ppl_stderr"], t.numel()))


if __name__ == "__main__":
    main()
