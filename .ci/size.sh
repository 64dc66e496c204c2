#!/usr/bin/env bash
# Prints the client's transfer size (raw, gzip -9, brotli -q 11) against the size ratchet.
#   .ci/size.sh          print the table
#   .ci/size.sh --check  also fail if wasm + js is over the ratchet (part of `make test`, so a
#                        change that grows the client is caught by that change, not months later)
#
# The ratchet is the measured size of the plain-stable release client (README, "Measured") plus
# a margin: every clone under one cargo home builds the same bytes (149,841 with ~/.cargo, as CI
# has), but the cargo home's path is in a compiler flag (Makefile `client`) whose text feeds
# hashes inside the wasm, so another cargo home (a fresh-machine check with an empty one in a
# random temporary directory) moves brotli's output by a few hundred bytes either way (seen:
# -81 to +287). The margin is 400 bytes. It only ever moves down: a change that shrinks the
# client lowers it in the same commit; a change that must grow it raises it there too, with the
# reason in the commit message. Last cut (2026-12-05): the wasm-bindgen glue minified by terser
# (.ci/minify-js.mjs; Trunk's own minifier fails on it), 7,904 -> 6,119 bytes brotli: 149,263 ->
# 147,478; then the registry's sources remapped to `/c` (Makefile `client`): 147,374. Then +899
# for the re-login dialog's "Sign in with {name}" in a new tab (a provider account has no
# password to type; its page carries on): 148,273. Ratchet 148,673. Then the account page's
# "Delete my account with {name}" (+348) and "Link this account to {name}" (+1.1 KB) for
# provider accounts (#23): 149,644; 149,697 after `Session::account_id` replaced three copies
# (raw +8 bytes, brotli's noise). Ratchet 150,000, the product target itself (a 303-byte
# margin): nothing more fits without a cut. The cut before (2026-12-05, with #23's provider button, +1.5 KB, in
# the same change): wasm-opt `--low-memory-unused` and `--flatten --rereloop -Oz` (the Makefile's
# `client` says why they are safe; -765 and -958 bytes), fetch and serializer errors no longer
# formatted through gloo_net's and serde_json's `Display` (-400), `Protected` taking a fn
# pointer: 149,839 -> 149,162 with the button. Ratchet 149,562. Then the login page's "Also
# sign out of {name}" (+445) paid for by `--ssa-nomerge -Oz` (-196) and one view for the
# provider's two links (-179): 149,232, under the ratchet, which stays. The cut before: lol_alloc's free-list allocator for
# dlmalloc (the standard library's), measured in one run: 150,798 -> 149,787 bytes brotli, and
# reload-to-rendered 0.96x of dlmalloc's median (end2end/perf/reload.mjs A/B, 30 reloads); talc,
# tried too, was larger (150,921). Ratchet 150,187. The raise before that (2026-12-05, #25): +332 bytes to 151,081 (150,681
# measured) for the top bar's link to the rendered threat model and the inspector's picture of
# where each credential lives (the pages themselves are the server's and cost the wasm nothing);
# brotli's output for this client moves by ±250 bytes with a one-character change of a static
# string (seen: an attribute 560 -> 600 took 150,428 to 150,681). The raise before (#20): +508
# bytes to 150,749 (150,349
# measured) for the router's delegated link handler (composedPath, target=_self, focus on
# Back/Forward, the query kept in ?next=) and the API client's refusal to retry a 401'd request
# as another account (a real cross-account write; attacks.spec.ts shows it); one builder for
# every method gave back ~130. The raise before (2026-12-05, #27): +439 bytes for the notes conflict
# view, the in-place re-login, the admin's event log, locks and unlock, and sentences for
# people in place of the server's fragments, after cutting 11.5 KB the same day (JSON read by
# hand instead of serde's derived visitors, no console_error_panic_hook, no Debug formatting,
# wasm-opt --converge, plain `move || cond.then(..)` for five static `<Show>`s, the conflict's
# GET through the non-generic get_text). The product target is 150 KB brotli (150,000 bytes):
# 213 bytes of room are left under it.
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
echo "ratchet: wasm + js <= $budget bytes brotli ($((total_br * 100 / budget))% of it; product target 150000)"
if [ "${1:-}" = --check ] && [ "$total_br" -gt "$budget" ]; then
  echo "size: the client grew past the ratchet by $((total_br - budget)) bytes brotli (.ci/size.sh)" >&2
  exit 1
fi
