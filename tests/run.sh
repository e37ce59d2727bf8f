#!/usr/bin/env bash
# Runs every test suite of invsync, the README's test command.
# On a fresh machine it first installs what the suites need (tests/setup.sh); later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash tests/setup.sh

# Suites that talk to independent peers (Python, Node) must run, not skip, here.
export INVSYNC_REQUIRE_PEERS=1

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust tests (every crate)"
cargo test --workspace

step "scenario core on Lua 5.4 and Luau (it must stay portable; the game runs Lua 5.2)"
INVSYNC_EXPECT_LUA="Lua 5.4" cargo test --quiet --manifest-path scenario/portability/Cargo.toml
INVSYNC_EXPECT_LUA="Luau" cargo test --quiet --manifest-path scenario/portability/Cargo.toml --no-default-features --features luau
cargo clippy --quiet --manifest-path scenario/portability/Cargo.toml --all-targets -- -D warnings

step "JavaScript package (wasm): build, then node --test"
bash wasm/build.sh
node --test wasm/tests/

step "fuzz targets build"
cargo build --quiet --manifest-path fuzz/Cargo.toml

echo
echo "all suites passed"
