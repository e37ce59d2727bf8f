#!/usr/bin/env bash
# Installs what the test suites need beyond Rust, gcc, Python 3, Node 20 and npm. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python peers: Source RCON servers and clients, second implementations of the codec pieces.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/requirements.txt

# Node peers: npm `rcon-client` (Clusterio's RCON client), pinned by the lock file.
npm ci --silent --no-audit --no-fund --prefix emulator/tests/peers

# Redis for the sync store's tests (Debian's redis-server), and the openssl CLI that makes their
# TLS certificates. apt-get update runs once, only when something is missing.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# cargo-fuzz for the fuzz step (tests/fuzz.sh); installed once, reused after.
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi
