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

step "Rust tests (every crate), with a Redis for the sync store's tests"
# One redis-server on a free loopback port, durable as the store wants it (append-only file,
# fsync always), in its own temp dir; stopped on exit. The tests use it through
# INVSYNC_TEST_REDIS, each under its own key prefix; tests that kill Redis start their own.
redis_dir=$(mktemp -d)
redis_pid=
stop_redis() {
    if [[ -n $redis_pid ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    rm -rf "$redis_dir"
}
trap stop_redis EXIT
redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$redis_dir" --save '' \
    --appendonly yes --appendfsync always --daemonize no --logfile "$redis_dir/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do
    if [[ $(redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]]; then break; fi
    sleep 0.1
done
if [[ $(redis-cli -p "$redis_port" ping 2>/dev/null) != PONG ]]; then
    echo "redis-server did not start on 127.0.0.1:$redis_port:" >&2
    cat "$redis_dir/redis.log" >&2 || true
    exit 1
fi
export INVSYNC_TEST_REDIS="redis://127.0.0.1:$redis_port/0"
cargo test --workspace
stop_redis
trap - EXIT

step "scenario core on Lua 5.4 and Luau (it must stay portable; the game runs Lua 5.2)"
INVSYNC_EXPECT_LUA="Lua 5.4" cargo test --quiet --manifest-path scenario/portability/Cargo.toml
INVSYNC_EXPECT_LUA="Luau" cargo test --quiet --manifest-path scenario/portability/Cargo.toml --no-default-features --features luau
cargo clippy --quiet --manifest-path scenario/portability/Cargo.toml --all-targets -- -D warnings

step "JavaScript package (wasm): build, then node --test"
bash wasm/build.sh
node --test wasm/tests/

step "fuzz targets: build, then run each for a bounded time (tests/fuzz.sh)"
bash tests/fuzz.sh

echo
echo "all suites passed"
