//! `invsync bench` as the README runs it, on the small sample: it must move the bytes intact both
//! ways, beside the baseline, and report every field of its JSON. Speeds are not checked here:
//! the benchmark reports them, tests check correctness.

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_invsync"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run invsync bench");
    assert!(
        out.status.success(),
        "invsync bench {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

#[test]
fn small_both_ways_with_a_concurrency_sweep() {
    let doc = bench(&["--kind", "small", "--in-flight", "1,16", "--json"]);
    let runs = doc["runs"].as_array().expect("a `runs` array");
    // 1 kind x 2 directions x 2 concurrencies.
    assert_eq!(runs.len(), 4, "{doc:#}");
    for run in runs {
        for key in [
            "kind",
            "direction",
            "method",
            "payload_bytes",
            "wire_bytes",
            "ticks",
            "baseline_ticks",
            "limit_ticks",
            "max_tick_lua_ms",
            "p99_tick_lua_ms",
            "host_cpu_ms",
        ] {
            assert!(
                run.get(key).is_some_and(|v| !v.is_null()),
                "run lacks {key}: {run}"
            );
        }
        assert_eq!(run["kind"], "small");
        assert_eq!(run["verified"], true, "the bytes must arrive intact: {run}");
        assert!(["to_game", "to_host"].contains(&run["direction"].as_str().unwrap()));
        assert!(["raw", "lz4", "zlib"].contains(&run["method"].as_str().unwrap()));
        assert!(run["ticks"].as_u64().unwrap() >= 1);
        assert!(run["wire_bytes"].as_u64().unwrap() > 0);
        let payload = run["payload_bytes"].as_u64().unwrap();
        assert!(
            (1_000..4_000).contains(&payload),
            "the small sample: {payload}"
        );
    }
    let in_flight: Vec<u64> = runs
        .iter()
        .map(|r| r["in_flight"].as_u64().unwrap())
        .collect();
    assert_eq!(in_flight, vec![1, 1, 16, 16]);
    // The goals are judged on the runs at the default 16 in flight: the stream-model limit into
    // the game, and the Lua time per tick.
    let goals = doc["goals"].as_array().expect("a `goals` array");
    assert_eq!(goals.len(), 2, "{doc:#}");
    let goal = |i: usize| goals[i]["goal"].as_str().unwrap();
    assert!(
        goal(0).starts_with("small into the game: at least 80 %"),
        "{doc:#}"
    );
    let fraction = runs[2]["limit_fraction"].as_f64().unwrap();
    assert_eq!(goals[0]["met"], fraction >= 0.8, "{doc:#}");
    assert!(goal(1).starts_with("no tick over 1 ms"), "{doc:#}");
    let worst = runs[2..]
        .iter()
        .map(|r| r["max_tick_lua_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(goals[1]["met"], worst <= 1.0, "{doc:#}");
}

#[test]
fn a_bad_concurrency_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_invsync"))
        .args(["bench", "--kind", "small", "--in-flight", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--in-flight"));
}
