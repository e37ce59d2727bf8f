//! `invsync demo` end to end: a small session (2 servers, 3 players of every size, a double
//! join and a crash) whose JSON report shows every join, the crash, and nothing lost or
//! duplicated.

use std::process::Command;

#[test]
fn a_small_demo_loses_and_duplicates_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_invsync"))
        .args(["demo", "--servers", "2", "--players", "3", "--joins", "5"])
        .args(["--seed", "7", "--json"])
        .output()
        .expect("run invsync demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let r: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    assert!(r["joins"].as_u64().unwrap() >= 5, "{r}");
    assert_eq!(r["crashes"], 1, "{r}");
    assert_eq!(r["double_joins"], 1, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicated"], 0, "{r}");
    // every join but the two of the double join is timed, under its inventory's size; those
    // played from a delta again under "<size> delta"
    let mut timed = 0;
    for (size, t) in r["join_ticks"].as_object().unwrap() {
        let (kind, delta) = match size.strip_suffix(" delta") {
            Some(kind) => (kind, true),
            None => (size.as_str(), false),
        };
        assert!(["small", "rep", "bp"].contains(&kind), "{r}");
        assert!(
            t["p50"].as_u64().unwrap() <= t["p99"].as_u64().unwrap(),
            "{r}"
        );
        if !delta {
            timed += t["n"].as_u64().unwrap();
        }
    }
    assert_eq!(timed + 2, r["joins"].as_u64().unwrap(), "{r}");
    let players = r["players"].as_array().unwrap();
    assert_eq!(players.len(), 3, "{r}");
    for p in players {
        assert_eq!(p["expected"], p["found"], "{p}");
        assert!(p["expected"].as_u64().unwrap() > 0, "{p}");
    }
    assert!(r["bytes"]["to_game"].as_u64().unwrap() > 0, "{r}");
    assert!(r["store_ops"]["upload"].as_u64().unwrap() > 0, "{r}");
}
