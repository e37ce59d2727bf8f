//! `invsync bench-store` on a temporary SQLite file with a handful of cycles: it must end by
//! itself and report every field of its JSON with sane values. Speeds are not checked here:
//! the benchmark reports them, tests check correctness.

use std::process::{Command, Output};

use serde_json::Value;

fn bench_store(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invsync"))
        .arg("bench-store")
        .args(args)
        .output()
        .expect("run invsync bench-store")
}

#[test]
fn sqlite_cycles_are_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let out = bench_store(&["--store", &url, "--players", "3", "--cycles", "7", "--json"]);
    assert!(
        out.status.success(),
        "bench-store failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    assert_eq!(doc["players"], 3, "{doc:#}");
    let stores = doc["stores"].as_array().expect("a `stores` array");
    assert_eq!(stores.len(), 1, "{doc:#}");
    let s = &stores[0];
    assert_eq!(s["kind"], "sqlite", "{s:#}");
    assert_eq!(s["store"], url.as_str());
    assert_eq!(s["cycles"], 7, "{s:#}");
    assert_eq!(s["acquire"]["count"], 7, "{s:#}");
    assert_eq!(s["upload"]["count"], 7, "{s:#}");
    assert_eq!(s["bare"]["ops"], 7, "{s:#}");
    assert!(
        s["data_bytes"].as_u64().unwrap() > 10_000,
        "the rep sample (about 14 kB in format 2): {s:#}"
    );
    let stored = s["stored_bytes"].as_u64().unwrap();
    assert!(
        stored > 0 && stored < s["data_bytes"].as_u64().unwrap(),
        "{s:#}"
    );
    for key in ["cycles_per_sec", "ratio", "seconds"] {
        assert!(s[key].as_f64().unwrap() > 0.0, "{key}: {s:#}");
    }
    assert!(s["bare"]["ops_per_sec"].as_f64().unwrap() > 0.0, "{s:#}");
    for op in [&s["acquire"], &s["upload"], &s["bare"]["latency"]] {
        let (p50, p99, max) = (
            op["p50_ms"].as_f64().unwrap(),
            op["p99_ms"].as_f64().unwrap(),
            op["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{op}");
    }
    assert!(s["goals"]["ratio_met"].is_boolean(), "{s:#}");
    // judged on Redis only
    assert!(s["goals"]["acquire_p99_met"].is_null(), "{s:#}");

    // a file that already holds players is not a scratch store
    let again = bench_store(&["--store", &url, "--players", "1", "--cycles", "1", "--json"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("scratch"));
}

#[test]
fn only_loopback_redis_is_accepted() {
    for url in [
        "redis://:pw@10.1.2.3:6379/0",
        "rediss://redis.example.com/0",
        "postgres://x",
    ] {
        let out = bench_store(&["--store", url, "--cycles", "1"]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains(":pw@"), "the password shows: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
