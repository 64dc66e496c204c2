#!/usr/bin/env bash
# Prints the client's transfer size (raw, gzip -9, brotli -q 11) against the 150 KB target.
#   .ci/size.sh          print the table
#   .ci/size.sh --check  also fail if wasm + js is over budget (part of `make test`: the size
#                        is deterministic for a given toolchain and lockfile, so a change that
#                        blows the budget is caught by the change, not months later)
set -euo pipefail
budget=150000
cd "$(dirname "$0")/.."
printf '%-40s %10s %10s %10s\n' file raw gzip brotli
total_raw=0; total_gz=0; total_br=0
for f in dist/*.wasm dist/*.js dist/*.css; do
  raw=$(stat -c %s "$f"); gz=$(gzip -9c "$f" | wc -c); br=$(brotli -q 11 -c "$f" | wc -c)
  printf '%-40s %10d %10d %10d\n' "$(basename "$f")" "$raw" "$gz" "$br"
  case "$f" in *.wasm|*.js) total_raw=$((total_raw+raw)); total_gz=$((total_gz+gz)); total_br=$((total_br+br));; esac
done
printf '%-40s %10d %10d %10d\n' 'wasm + js' "$total_raw" "$total_gz" "$total_br"
echo "target: wasm + js <= $budget bytes brotli ($((total_br * 100 / budget))% of it)"
if [ "${1:-}" = --check ] && [ "$total_br" -gt "$budget" ]; then
  echo "size: the client is over its budget by $((total_br - budget)) bytes brotli" >&2
  exit 1
fi
