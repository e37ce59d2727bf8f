//! Helpers to run the Python test peers (the mock game is in `invsync-test-support`).
#![allow(dead_code)]

pub mod peers;
