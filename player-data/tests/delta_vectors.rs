//! The shared delta vectors (`tests/vectors/player_delta.json`, also run by the Lua module's
//! tests) on the Rust model: what a delta applied to its base gives, what the writer makes, and
//! what is refused.

use invsync_player_data::{Delta, PlayerData, apply, diff};
use serde_json::Value;

fn cases(list: &str) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/player_delta.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/vectors/player_delta.json");
    let v: Value = serde_json::from_str(&text).expect("the vectors are JSON");
    let cases = v[list].as_array().expect("a list of cases").clone();
    assert!(!cases.is_empty(), "no {list} vectors");
    cases
}

fn player(case: &Value, key: &str) -> PlayerData {
    PlayerData::from_json(case[key].to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{}: {key}: {e}", case["name"]))
}

#[test]
fn deltas_applied_to_their_base_give_the_result() {
    let all = cases("deltas");
    for case in &all {
        let name = &case["name"];
        let base = player(case, "base");
        let want = player(case, "result");
        let delta = Delta::from_json(case["delta"].to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = apply(&base, &delta).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        let written = case["written"].as_bool().expect("written");
        assert_eq!(
            diff(&base, &want) == delta,
            written,
            "{name}: the writer's delta"
        );
        // whatever delta is sent, the writer's applies to the same result
        assert_eq!(apply(&base, &diff(&base, &want)).unwrap(), want, "{name}");
    }
    assert!(all.iter().any(|c| c["written"] == false));
}

#[test]
fn bad_deltas_are_refused_saying_where_and_why() {
    for case in cases("bad") {
        let name = &case["name"];
        let want = case["error_contains"].as_str().expect("error_contains");
        let base = player(&case, "base");
        let result = Delta::from_json(case["delta"].to_string().as_bytes())
            .and_then(|delta| apply(&base, &delta));
        match result {
            Ok(p) => panic!("{name}: accepted as {p:?}"),
            Err(e) => assert!(
                e.to_string().contains(want),
                "{name}: {e} does not contain {want:?}"
            ),
        }
    }
}
