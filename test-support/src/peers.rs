//! Whether a test that needs an outside program (a Python or Node peer, `redis-server`) fails or
//! skips when the program is missing: one rule for every suite, the harness's (which the demo,
//! `invsync chaos` and the cluster tests use too).
//!
//! Required when `INVSYNC_REQUIRE_PEERS=1` (`tests/run.sh` sets it) or `CI` is `true` or `1`;
//! any other value, or none, lets the test pass with a notice.

pub use invsync_harness::{peers_missing as missing, peers_required as required};
