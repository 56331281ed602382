"""Prints the README's quantization tables from the JSON files run.sh writes."""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ttq-quant-table"


def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


for model, title in [("demo", "stories260K (built-in demo)"), ("babyllama", "babyllama-tok105")]:
    print(f"\n**{title}**\n")
    print("| method | bits | bits/weight | WikiText-2 PPL | PIQA acc | PIQA acc_norm |")
    print("|---|---|---|---|---|---|")
    rows = [("fp32", "–", "fp")] + [(m, b, f"{m}-{b}") for b in (4, 3) for m in ("rtn", "awq", "gptq", "ttq")]
    for method, bits, key in rows:
        p, q = load(f"{model}-{key}-ppl.json"), load(f"{model}-{key}-piqa.json")
        ppl = f"{p['perplexity']['ppl']:.2f} ± {p['perplexity']['ppl_stderr']:.2f}" if p else "n/a"
        acc = f"{100 * q['multiple_choice']['acc']:.1f}" if q else "n/a"
        accn = f"{100 * q['multiple_choice']['acc_norm']:.1f}" if q else "n/a"
        # Static methods record their format in the quantize report, TTQ
        # in the eval report's quantization block.
        meta = load(f"{model}-{key}-quant.json") or (p or {}).get("quantization")
        eb = f"{meta['effective_bits']:.2f}" if meta else "32"
        print(f"| {method} | {bits} | {eb} | {ppl} | {acc} | {accn} |")
