//! Whether a test that needs an outside program (a Python or Node peer, `redis-server`) fails or
//! skips when the program is missing: one rule for every suite.
//!
//! Required when `INVSYNC_REQUIRE_PEERS=1` (`tests/run.sh` sets it) or `CI` is `true` or `1`;
//! any other value, or none, lets the test pass with a notice.

/// True when a missing peer must fail the test.
pub fn required() -> bool {
    let set = |name: &str, values: &[&str]| {
        std::env::var(name).is_ok_and(|v| values.contains(&v.as_str()))
    };
    set("INVSYNC_REQUIRE_PEERS", &["1"]) || set("CI", &["true", "1"])
}

/// Reports that `test` cannot run because `what` is missing: panics when peers are
/// [`required`], else prints a notice straight to stderr (the harness would hide an
/// `eprintln!` of a passing test) so the skip is visible.
pub fn missing(test: &str, what: &str) {
    if required() {
        panic!("{test}: {what}, and INVSYNC_REQUIRE_PEERS=1 (or CI) requires it");
    }
    let notice = format!(
        "NOTICE: skipping {test}: {what}; set INVSYNC_REQUIRE_PEERS=1 to make this a failure\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
}
