# Cloakroom: two commands on a fresh machine.
#   make run    build the client and serve everything on http://127.0.0.1:3000 (SQLite in ./data)
#   make test   fmt, clippy, unit + integration tests, release client build, Playwright suite,
#               nginx TLS smoke test, client size budget
# The first run installs missing tools from package registries (see .ci/setup); ~25 minutes
# on 2 cores, seconds after that.

SHELL := /bin/bash
# node-based wasm-opt (binaryen@132) and Playwright come from end2end/node_modules.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
TRUNK := trunk --skip-version-check

.PHONY: setup run client test check unit e2e nginx budget bench size clean

setup:
	@.ci/setup all

# Release client into dist/ (wasm size profile + wasm-opt, offline), within #3's budget of
# 150 KB brotli for wasm + js. Stable rustc, with three of its unstable options unlocked for
# this one build (RUSTC_BOOTSTRAP): std rebuilt from rust-src with the size profile instead of
# the prebuilt speed-optimised one, panics that trap at once instead of formatting a message
# nobody sees, and no file/line strings or Debug text baked into the binary. 164 KB -> 147 KB;
# `make size` prints it. Development builds (`trunk serve`) keep normal panics and messages.
# These add to .cargo/config.toml's wasm32 rustflags (cargo merges the two; erase_components
# comes from there).
CLIENT_RUSTFLAGS := -Zlocation-detail=none -Zfmt-debug=none -Zunstable-options -Cpanic=immediate-abort
client: setup
	RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
	  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$(CLIENT_RUSTFLAGS)" $(TRUNK) build --release
	@.ci/compress-dist dist

run: client
	cargo run --release -p cloakroom-server --bin cloakroom

check: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p app --target wasm32-unknown-unknown -- -D warnings

unit: setup
	cargo test --workspace

e2e: client
	cargo build --release -p cloakroom-server --bin cloakroom
	cd end2end && npx playwright test

# The sample nginx config of docs/deploy/, run for real on loopback with TLS.
nginx: client
	cargo build --release -p cloakroom-server --bin cloakroom
	.ci/nginx-smoke

# The client's size budget (#3): wasm + js <= 150 KB brotli.
budget: client
	@bash .ci/size.sh --check

test: check unit e2e nginx budget

# Server load table (wrk), then the client: transfer size and reload-to-rendered time.
bench: client
	@.ci/setup bench
	cargo build --release -p cloakroom-server --bins
	python3 .ci/bench.py
	@bash .ci/size.sh
	cd end2end && node perf/reload.mjs

size: client
	@bash .ci/size.sh

clean:
	cargo clean
	rm -rf dist end2end/test-results end2end/playwright-report
