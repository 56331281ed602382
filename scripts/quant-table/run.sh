#!/usr/bin/env bash
# Regenerates the README's quantization table: WikiText-2 test perplexity
# (gptq protocol, first 200 windows) and PIQA (first 300 items) of the demo
# model and babyllama, for fp32 and rtn/awq/gptq/ttq at 4 and 3 bits, g32 for
# every method; awq/gptq calibrated on 128 × 512 tokens of WikiText-2 valid
# (seed 0, sample length capped at the model's context). Results are cached
# as JSON files in OUT, so an interrupted run resumes.
#
#   make build && scripts/quant-table/run.sh [OUT]   (about 30 minutes on 2 cores)
#   python3 scripts/quant-table/table.py [OUT]       (prints the Markdown tables)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
T=${TTQ:-$root/ttq}
SHARED=${TTQ_SHARED_DATA:-$root/../shared/data}
OUT=${1:-/tmp/ttq-quant-table}
mkdir -p "$OUT"
cd "$OUT"
[ -d babyllama ] || "$T" import --llama2c "$SHARED/models/babyllama-tok105/model5000.bin" \
  --tokenizer "$SHARED/models/babyllama-tok105/tok105.model" -o babyllama
for M in demo babyllama; do
  if [ $M = demo ]; then MODEL=(); else MODEL=(--model "$OUT/babyllama"); fi
  [ -s $M-fp-ppl.json ] || "$T" eval "${MODEL[@]}" --max-windows 200 --json > $M-fp-ppl.json
  [ -s $M-fp-piqa.json ] || "$T" eval "${MODEL[@]}" --dataset piqa --max-windows 300 --json > $M-fp-piqa.json
  for B in 4 3; do
    for METH in rtn gptq awq; do
      Q=q-$M-$METH-$B
      [ -s $M-$METH-$B-quant.json ] || "$T" quantize "${MODEL[@]}" --method $METH --bits $B --group 32 -o $Q --force --json > $M-$METH-$B-quant.json
      [ -s $M-$METH-$B-ppl.json ] || "$T" eval --model $Q --max-windows 200 --json > $M-$METH-$B-ppl.json
      [ -s $M-$METH-$B-piqa.json ] || "$T" eval --model $Q --dataset piqa --max-windows 300 --json > $M-$METH-$B-piqa.json
      echo "$M $METH $B done $(date +%T)"
    done
    [ -s $M-ttq-$B-ppl.json ] || "$T" eval "${MODEL[@]}" --method ttq --bits $B --max-windows 200 --json > $M-ttq-$B-ppl.json
    [ -s $M-ttq-$B-piqa.json ] || "$T" eval "${MODEL[@]}" --method ttq --bits $B --dataset piqa --max-windows 300 --json > $M-ttq-$B-piqa.json
    echo "$M ttq $B done $(date +%T)"
  done
done
