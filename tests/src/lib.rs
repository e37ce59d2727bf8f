//! Cross-crate and cross-language tests of invsync (the tests live in `tests/tests/`).
//!
//! * `python_peer`: the Rust codec against an independent Python implementation of the frame
//!   format (`tests/python/frames_peer.py`) built on Python's zlib and base64 and the reference
//!   C LZ4 library (PyPI `lz4`).
//!
//! `tests/vectors/` holds the shared test vectors (docs/PROTOCOL.md section 6), which the Rust
//! codec (`codec/tests/vectors.rs`), the Lua module (`scenario/tests/vectors.rs`) and the
//! JavaScript package (`wasm/tests/`) all run.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
