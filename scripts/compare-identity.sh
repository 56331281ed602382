#!/usr/bin/env bash
# compare-identity.sh [OLD_REV] — checks that `ttq compare --json` prints the
# same report as the binary built from OLD_REV (default e083ffc, before the
# compare orchestration moved into pkg/compare), apart from what is measured
# with a clock. Both binaries are built with the same version string, so the
# rows' cache fingerprints (which name the build) must match too: a changed
# fingerprint would silently invalidate or, worse, reuse users' cached rows.
set -euo pipefail
old_rev=${1:-e083ffc}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ldflags='-X main.version=identity-check'

mkdir "$tmp/old"
git -C "$root" archive "$old_rev" | tar -x -C "$tmp/old"
(cd "$tmp/old" && go build -ldflags "$ldflags" -o "$tmp/ttq-old" ./cmd/ttq)
(cd "$root" && go build -ldflags "$ldflags" -o "$tmp/ttq-new" ./cmd/ttq)

# Timing fields differ from run to run; everything else must not.
strip='walk(if type == "object" then del(.wall_seconds, .quant_seconds, .seconds, .tokens_per_second, .ttq_overhead) else . end)'

runs=(
  "compare --json --no-cache"
  "compare --json --no-cache --model builtin:stories260K-planted --methods fp,rtn,awq,gptq,ttq --bits 4 --calib-domains wikipedia,go --eval-domains shakespeare,wikipedia --max-windows 2 --max-items 20"
  "compare --json --no-cache --methods fp,rtn,ttq --bits 3 --group 32 --datasets wikitext,mc:$root/pkg/eval/data/piqa/valid.jsonl --max-windows 2 --max-items 10 --grid sym --ttq-rank 4 --protocol llamacpp --shard 1/2"
  "compare --json --check testdata/regress/baseline.json"
)
status=0
for args in "${runs[@]}"; do
  for v in old new; do
    # shellcheck disable=SC2086
    (cd "$root" && "$tmp/ttq-$v" $args) >"$tmp/$v.raw" 2>"$tmp/$v.err" || echo "exit $?" >>"$tmp/$v.raw"
    jq -S "$strip" "$tmp/$v.raw" >"$tmp/$v.json" 2>/dev/null || cp "$tmp/$v.raw" "$tmp/$v.json"
  done
  # Options added since OLD_REV appear in every method_flags map (these runs
  # do not set them); they are listed, and only they are left out of the diff.
  flags='[.. | objects | select(has("method_flags")) | .method_flags | keys[]] | unique'
  if added=$(jq -c --slurpfile old "$tmp/old.json" "($flags) - (\$old[0] | $flags)" "$tmp/new.json" 2>/dev/null) &&
    [ "$added" != "[]" ]; then
    echo "  options new since $old_rev (left out of the diff): $added"
    jq -S --argjson added "$added" \
      'walk(if type == "object" and has("method_flags") then .method_flags |= with_entries(select(.key as $k | $added | index($k) | not)) else . end)' \
      "$tmp/new.json" >"$tmp/new.trim" && mv "$tmp/new.trim" "$tmp/new.json"
  fi
  # Report fields added since OLD_REV (rows' static_deltas, issue #13) are
  # listed and left out likewise; everything else must be identical.
  if [ "$(jq '[.rows[]? | has("static_deltas")] | any' "$tmp/new.json" 2>/dev/null)" = true ] &&
    [ "$(jq '[.rows[]? | has("static_deltas")] | any' "$tmp/old.json" 2>/dev/null)" != true ]; then
    echo "  report field new since $old_rev (left out of the diff): rows[].static_deltas"
    jq -S 'del(.rows[]?.static_deltas)' "$tmp/new.json" >"$tmp/new.trim" && mv "$tmp/new.trim" "$tmp/new.json"
  fi
  # Likewise the matched-bits lineup (rows[].matched_bits and its
  # tolerance, settings.matched_bits_tol).
  for field in '.rows[]?.matched_bits' '.settings.matched_bits_tol'; do
    if [ "$(jq "[$field] | map(select(. != null)) | length > 0" "$tmp/new.json" 2>/dev/null)" = true ] &&
      [ "$(jq "[$field] | map(select(. != null)) | length > 0" "$tmp/old.json" 2>/dev/null)" != true ]; then
      echo "  report field new since $old_rev (left out of the diff): ${field#.}"
      jq -S "del($field)" "$tmp/new.json" >"$tmp/new.trim" && mv "$tmp/new.trim" "$tmp/new.json"
    fi
  done
  if diff -u "$tmp/old.json" "$tmp/new.json" >"$tmp/diff"; then
    echo "identical: ttq $args"
  else
    echo "DIFFERENT: ttq $args"
    head -40 "$tmp/diff"
    status=1
  fi
done
exit $status
