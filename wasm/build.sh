#!/usr/bin/env bash
# Builds the npm package of the invsync codec into wasm/pkg/ (build output, not committed).
#
#   bash wasm/build.sh            # build wasm/pkg/
#   node --test wasm/tests/       # then test it
#
# Installs what it needs only when missing: the wasm32-unknown-unknown target (rustup), the
# wasm-bindgen CLI at exactly the version wasm/Cargo.toml pins (the CLI compiles for minutes,
# so a machine pays that once), and wasm/package-lock.json's dev tools (wasm-opt from npm's
# `binaryen`, and TypeScript for the tests).
# Honours CARGO_TARGET_DIR. Fails if the .wasm reaches the 200 kB budget.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
pkg=$repo/wasm/pkg

step() { printf '==> %s\n' "$*" >&2; }

target=wasm32-unknown-unknown
if ! rustup target list --installed | grep -qx "$target"; then
    step "installing the $target target"
    rustup target add "$target"
fi

# The CLI must match the wasm-bindgen crate exactly: read the pin from the crate's manifest.
version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' wasm/Cargo.toml)
if [[ -z "$version" ]]; then
    echo "wasm/Cargo.toml does not pin wasm-bindgen with \"=X.Y.Z\"" >&2
    exit 1
fi
if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $version" ]]; then
    step "installing wasm-bindgen-cli $version (takes minutes, once per machine)"
    cargo install wasm-bindgen-cli --version "$version"
fi

# wasm-opt (npm `binaryen`) for the build, TypeScript for the declaration tests.
wasm_opt=$repo/wasm/node_modules/.bin/wasm-opt
if [[ ! -x "$wasm_opt" || ! -x "$repo/wasm/node_modules/.bin/tsc" ]]; then
    step "installing the npm dev tools of wasm/package-lock.json (binaryen, typescript)"
    (cd wasm && npm ci --no-audit --no-fund)
fi

# A profile of its own (inheriting release) keeps these settings, and the artifacts they produce,
# apart from every other build of the workspace. Size first, speed where the bytes go: opt-level
# "z", with miniz_oxide at "s" and base64, lz4_flex and crc32fast at 3. Measured (Node 20, 2 busy
# cores, 2026-12-06) when the short header (PROTOCOL.md 2.5) made opt-level 3 everywhere
# 210 641 bytes: this is 196 230, and decodes the samples 13-48 % slower than opt-level 3
# everywhere (rep zlib 130 against 150 MB/s); miniz_oxide at "z" too was 198 111 and up to 4 times
# slower, invsync-codec at 3 too 207 916. Symbols stay in until wasm-opt has run (wasm-bindgen
# reads the target_features section).
profile=wasm-release
step "building invsync-wasm ($profile)"
cargo build -p invsync-wasm --target "$target" --profile "$profile" \
    --config "profile.$profile.inherits='release'" \
    --config "profile.$profile.opt-level='z'" \
    --config "profile.$profile.package.miniz_oxide.opt-level='s'" \
    --config "profile.$profile.package.base64.opt-level=3" \
    --config "profile.$profile.package.lz4_flex.opt-level=3" \
    --config "profile.$profile.package.crc32fast.opt-level=3" \
    --config "profile.$profile.lto=true" \
    --config "profile.$profile.codegen-units=1" \
    --config "profile.$profile.panic='abort'" \
    --config "profile.$profile.debug=false"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
case "$target_dir" in /*) ;; *) target_dir=$repo/$target_dir ;; esac
wasm=$target_dir/$target/$profile/invsync_wasm.wasm

step "generating bindings into wasm/pkg/"
rm -rf "$pkg"
wasm-bindgen --target nodejs --out-dir "$pkg" --out-name invsync "$wasm"

step "wasm-opt -Oz (and strip names)"
# --converge repeats the passes while they still shrink the module; --low-memory-unused lets it
# use short addresses, since Rust never places data in the first kilobyte of linear memory.
"$wasm_opt" -Oz --converge --low-memory-unused --strip-debug --strip-producers \
    -o "$pkg/invsync_bg.wasm" "$pkg/invsync_bg.wasm"

crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
cat >"$pkg/package.json" <<EOF
{
  "name": "invsync",
  "version": "$crate_version",
  "description": "The invsync protocol codec (frames for Factorio's RCON and stdout) for Node.js, compiled from Rust",
  "license": "MIT OR Apache-2.0",
  "main": "invsync.js",
  "types": "invsync.d.ts",
  "files": ["invsync.js", "invsync.d.ts", "invsync_bg.wasm", "invsync_bg.wasm.d.ts", "snippets/", "README.md"],
  "engines": { "node": ">=18" }
}
EOF
cp wasm/README.md "$pkg/README.md"

size=$(wc -c <"$pkg/invsync_bg.wasm")
step "wasm/pkg/invsync_bg.wasm: $size bytes"
if ((size >= 200000)); then
    echo "the .wasm is $size bytes, over the 200 kB budget" >&2
    exit 1
fi
