//! `invsync bench` as the README runs it, on the small sample: it must move the bytes intact both
//! ways, beside the baseline, report every field of its JSON, and say with its exit status
//! whether the checks (and, when asked, the goals) held. Speeds are not checked here: the
//! benchmark reports them, tests check correctness.

use std::process::{Command, Output};

use serde_json::Value;

fn bench_output(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invsync"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run invsync bench")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

fn bench(args: &[&str]) -> Value {
    let out = bench_output(args);
    assert!(
        out.status.success(),
        "invsync bench {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

/// The most instructions any tick of `runs` ran.
fn worst_instructions(runs: &[Value]) -> u64 {
    runs.iter()
        .map(|r| r["max_tick_instructions"].as_u64().unwrap())
        .max()
        .expect("a run")
}

#[test]
fn small_both_ways_with_a_concurrency_sweep() {
    let doc = bench(&["--kind", "small", "--in-flight", "1,16", "--json"]);
    let runs = doc["runs"].as_array().expect("a `runs` array");
    // 1 kind x 2 directions x 2 concurrencies x 2 entries (remote call, custom command).
    assert_eq!(runs.len(), 8, "{doc:#}");
    for run in runs {
        for key in [
            "kind",
            "direction",
            "entry",
            "method",
            "payload_bytes",
            "wire_bytes",
            "ticks",
            "in_hand_ticks",
            "baseline_ticks",
            "baseline_payload_bytes",
            "limit_ticks",
            "max_tick_lua_ms",
            "p99_tick_lua_ms",
            "max_tick_instructions",
            "p99_tick_instructions",
            "baseline_max_tick_instructions",
            "host_cpu_ms",
        ] {
            assert!(
                run.get(key).is_some_and(|v| !v.is_null()),
                "run lacks {key}: {run}"
            );
        }
        assert_eq!(run["kind"], "small");
        assert_eq!(run["verified"], true, "the bytes must arrive intact: {run}");
        assert!(run["problem"].is_null(), "{run}");
        assert!(["to_game", "to_host"].contains(&run["direction"].as_str().unwrap()));
        assert!(["raw", "lz4", "zlib", "solid"].contains(&run["method"].as_str().unwrap()));
        let ticks = run["ticks"].as_u64().unwrap();
        assert!(ticks >= 1);
        assert!(run["in_hand_ticks"].as_u64().unwrap() >= ticks, "{run}");
        assert!(run["wire_bytes"].as_u64().unwrap() > 0);
        // the stream model's floor: a tick of streaming and the wait for an execution tick
        assert!(run["limit_ticks"].as_f64().unwrap() >= 1.5, "{run}");
        let max = run["max_tick_instructions"].as_u64().unwrap();
        let p99 = run["p99_tick_instructions"].as_u64().unwrap();
        assert!(max > 0 && p99 <= max, "{run}");
        let payload = run["payload_bytes"].as_u64().unwrap();
        assert!(
            (1_000..4_000).contains(&payload),
            "the small sample: {payload}"
        );
        // Clusterio's form of the same player is smaller than ours, not empty
        let theirs = run["baseline_payload_bytes"].as_u64().unwrap();
        assert!((100..payload * 2).contains(&theirs), "{run}");
    }
    let in_flight: Vec<u64> = runs
        .iter()
        .map(|r| r["in_flight"].as_u64().unwrap())
        .collect();
    assert_eq!(in_flight, vec![1, 1, 1, 1, 16, 16, 16, 16]);
    let entries: Vec<&str> = runs.iter().map(|r| r["entry"].as_str().unwrap()).collect();
    let (call, cmd) = ("remote_call", "command");
    assert_eq!(entries, [call, call, cmd, cmd, call, call, cmd, cmd]);
    // the custom command's wrapper is shorter: fewer bytes into the game for the same frames
    // (one in flight); at 16 a small message is cut to stream in the fewest ticks (PROTOCOL.md
    // 2.4), each entry with its own wrapper, so the counts and bytes may differ (the longer
    // wrapper may take fewer frames), but never to the custom command's loss in ticks
    let (by_call, by_cmd) = (&runs[0], &runs[2]);
    assert_eq!(by_call["direction"], "to_game");
    assert_eq!(by_call["frames"], by_cmd["frames"], "{doc:#}");
    let saved = by_call["wire_bytes"].as_u64().unwrap() - by_cmd["wire_bytes"].as_u64().unwrap();
    assert_eq!(
        saved,
        24 * by_cmd["frames"].as_u64().unwrap(),
        "38 - 14 bytes a frame: {doc:#}"
    );
    let (by_call, by_cmd) = (&runs[4], &runs[6]);
    assert!(
        by_cmd["ticks"].as_u64().unwrap() <= by_call["ticks"].as_u64().unwrap(),
        "{doc:#}"
    );
    // The goals are judged on the runs at the default 16 in flight, for each entry: the
    // stream-model limit into the game, small in at most 2 ticks, and the instructions per tick.
    let goals = doc["goals"].as_array().expect("a `goals` array");
    assert_eq!(goals.len(), 5, "{doc:#}");
    let goal = |i: usize| goals[i]["goal"].as_str().unwrap();
    for (i, (entry, run)) in [("call", &runs[4]), ("cmd", &runs[6])]
        .into_iter()
        .enumerate()
    {
        assert!(
            goal(i).starts_with(&format!("small into the game ({entry}): at least 80 %")),
            "{doc:#}"
        );
        let fraction = run["limit_fraction"].as_f64().unwrap();
        assert_eq!(goals[i]["met"], fraction >= 0.8, "{doc:#}");
        assert!(
            goal(i + 2).starts_with(&format!("small into the game ({entry}) in at most 2 ticks")),
            "{doc:#}"
        );
        assert_eq!(
            goals[i + 2]["met"],
            run["ticks"].as_u64().unwrap() <= 2,
            "{doc:#}"
        );
    }
    assert!(
        goal(4).starts_with("no tick over 150000 instructions"),
        "{doc:#}"
    );
    let worst = worst_instructions(&runs[4..]);
    assert_eq!(goals[4]["met"], worst <= 150_000, "{doc:#}");
}

#[test]
fn a_transfer_that_fails_its_check_fails_the_command() {
    // The game checksums what it received with one byte changed: the host's CRC differs.
    let out = bench_output(&["--kind", "small", "--no-baseline", "--json", "--tamper"]);
    assert!(
        !out.status.success(),
        "a failed check must fail the command"
    );
    let doc = json_of(&out);
    let runs = doc["runs"].as_array().unwrap();
    let row = |dir: &str| runs.iter().find(|r| r["direction"] == dir).unwrap();
    assert_eq!(row("to_game")["verified"], false, "{doc:#}");
    assert!(
        row("to_game")["problem"]
            .as_str()
            .unwrap()
            .contains("CRC-32"),
        "{doc:#}"
    );
    // the way back checks what the game sent, which was not damaged
    assert_eq!(row("to_host")["verified"], true, "{doc:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("small to_game"), "{stderr}");
}

#[test]
fn check_goals_fails_the_command_when_a_goal_is_not_met() {
    let args = [
        "--kind",
        "small",
        "--direction",
        "to_game",
        "--no-baseline",
        "--json",
    ];
    let out = bench_output(&[&args[..], &["--check-goals"]].concat());
    let doc = json_of(&out);
    // exit status follows the goals this run judged, whichever way they came out (small's
    // 1 or 2 ticks meet its 80 % goal or not as the commands meet the execution ticks, so
    // another run is no reference)
    let unmet = doc["goals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["met"] == false)
        .count();
    assert_eq!(
        out.status.success(),
        unmet == 0,
        "{doc:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for g in doc["goals"].as_array().unwrap() {
        if g["met"] == false {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(g["goal"].as_str().unwrap()),
                "unmet goals are named: {stderr}"
            );
        }
    }
}

#[test]
fn a_bad_concurrency_is_refused() {
    let out = bench_output(&["--kind", "small", "--in-flight", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--in-flight"));
}

#[test]
fn blueprints_as_their_json_beside_today_in_one_run() {
    // the export_json entry (PROTOCOL.md 4.1): the same bp player, each export as its JSON, to
    // a game that declares it; into the game only
    let doc = bench(&[
        "--kind",
        "bp",
        "--direction",
        "to_game,to_host",
        "--entry",
        "command,export_json",
        "--no-baseline",
        "--json",
    ]);
    let runs = doc["runs"].as_array().expect("a `runs` array");
    let rows: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["entry"].as_str().unwrap(),
                r["direction"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("command", "to_game"),
            ("command", "to_host"),
            ("export_json", "to_game")
        ],
        "{doc:#}"
    );
    for run in runs {
        assert_eq!(run["verified"], true, "{run}");
    }
    let payload = |r: &Value| r["payload_bytes"].as_u64().unwrap();
    // the JSON inside the exports, in their place: many times the stored data
    assert!(payload(&runs[2]) > 10 * payload(&runs[0]), "{doc:#}");
}

#[test]
fn the_same_player_in_format_1_beside_format_2_in_one_run() {
    // --player-format 1,2: each row's payload written in each PLAYER_DATA format, each in its
    // own game; the module reads both, so both pass the CRC and hold every item in hand
    let doc = bench(&[
        "--kind",
        "rep",
        "--entry",
        "command",
        "--player-format",
        "1,2",
        "--no-baseline",
        "--json",
    ]);
    let runs = doc["runs"].as_array().expect("a `runs` array");
    let formats: Vec<u64> = runs
        .iter()
        .map(|r| r["player_format"].as_u64().unwrap())
        .collect();
    assert_eq!(formats, [1, 1, 2, 2], "{doc:#}");
    let directions: Vec<&str> = runs
        .iter()
        .map(|r| r["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, ["to_game", "to_host", "to_game", "to_host"]);
    for run in runs {
        assert_eq!(run["verified"], true, "{run}");
    }
    let payload = |r: &Value| r["payload_bytes"].as_u64().unwrap();
    // rep's runs of full stacks are one entry each in format 2 (docs/PLAYER_DATA.md)
    assert!(payload(&runs[0]) > 10 * payload(&runs[2]), "{doc:#}");
    // the goals judge format 2 only: format 1's rows take longer into the game and more
    // instructions a tick, and none of them is a goal's value
    let goals = doc["goals"].as_array().expect("a `goals` array");
    let ticks = |r: &Value| r["ticks"].as_u64().unwrap();
    let four = goals
        .iter()
        .find(|g| g["goal"] == "rep into the game (cmd) in at most 4 ticks")
        .expect("rep's 4-tick goal");
    assert_eq!(
        four["value"],
        format!("{} ticks", ticks(&runs[2])),
        "{doc:#}"
    );
    assert_eq!(
        goals
            .iter()
            .filter(|g| g["goal"]
                .as_str()
                .unwrap()
                .starts_with("rep into the game (cmd)"))
            .count(),
        2,
        "the limit and the 4 ticks, once each: {doc:#}"
    );
    let worst = worst_instructions(&runs[2..]);
    let lua = goals
        .iter()
        .find(|g| g["goal"].as_str().unwrap().starts_with("no tick over"))
        .expect("the instruction goal");
    assert!(
        lua["value"]
            .as_str()
            .unwrap()
            .starts_with(&format!("worst {worst} ")),
        "{doc:#}"
    );
}

#[test]
fn rep_as_one_stream_beside_the_per_chunk_zlib_in_one_run() {
    // the command_zlib entry: a module that does not declare solid (PROTOCOL.md 2.3), so the
    // host's auto cuts rep into zlib chunks of their own, beside the default module's solid
    let doc = bench(&[
        "--kind",
        "rep",
        "--direction",
        "to_game",
        "--entry",
        "command,command_zlib",
        "--no-baseline",
        "--json",
    ]);
    let runs = doc["runs"].as_array().expect("a `runs` array");
    let rows: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r["entry"].as_str().unwrap(), r["method"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [("command", "solid"), ("command_zlib", "zlib")],
        "{doc:#}"
    );
    for run in runs {
        assert_eq!(run["verified"], true, "{run}");
    }
    let wire = |r: &Value| r["wire_bytes"].as_u64().unwrap();
    let ticks = |r: &Value| r["ticks"].as_u64().unwrap();
    // one stream instead of 16: well under three quarters of the bytes, and no slower
    assert!(4 * wire(&runs[0]) < 3 * wire(&runs[1]), "{doc:#}");
    assert!(ticks(&runs[0]) <= ticks(&runs[1]), "{doc:#}");
}
