//! The shared vectors of PLAYER_DATA format 2 (`tests/vectors/player_data.json`, also run by
//! the Lua module's tests) on the Rust model: what a payload means, what the serializer writes
//! and what the parser refuses.

use invsync_player_data::PlayerData;
use serde_json::{Value, json};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/player_data.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/vectors/player_data.json");
    serde_json::from_str(&text).expect("the vectors are JSON")
}

fn cases(list: &str) -> Vec<Value> {
    let v = vectors()[list].as_array().expect("a list of cases").clone();
    assert!(!v.is_empty(), "no {list} vectors");
    v
}

fn field<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} of {case}"))
}

/// Equal JSON values, numbers compared by value (serde writes `7.0` where Lua writes `7`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `text` with serde's whole floats written as Lua writes them (`7.0` as `7`); enough for the
/// vectors, whose strings hold no such digits.
fn lua_numbers(text: &str) -> String {
    [",", "}", "]"].iter().fold(text.to_string(), |t, end| {
        t.replace(&format!(".0{end}"), end)
    })
}

#[test]
fn good_payloads_mean_their_format_1_expansion() {
    for case in cases("good") {
        let name = field(&case, "name");
        let text = field(&case, "text");
        let expanded = field(&case, "expanded");
        let got = PlayerData::from_json(text.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        let want = PlayerData::from_json(expanded.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: expanded: {e}"));
        assert_eq!(got, want, "{name}");
        // and the model writes it back to the same meaning, in either format
        assert_eq!(
            PlayerData::from_json(got.to_json().as_bytes()).unwrap(),
            want,
            "{name}"
        );
        assert_eq!(
            PlayerData::from_json(got.to_json_format_1().as_bytes()).unwrap(),
            want,
            "{name}"
        );
    }
}

#[test]
fn dense_lists_are_what_the_serializer_writes() {
    for case in cases("dense") {
        let name = field(&case, "name");
        let expanded: Value = serde_json::from_str(field(&case, "expanded")).unwrap();
        let text = field(&case, "text");
        let want: Value = serde_json::from_str(text).unwrap();
        let slotless = case["slotless"].as_bool().unwrap_or(false);
        // the list in a payload of format 1, where a list of its kind goes
        let doc = if slotless {
            json!({"format": 1, "name": "v", "unplaced": expanded})
        } else {
            json!({"format": 1, "name": "v", "inventories": {"main": expanded}})
        };
        let p = PlayerData::from_json(doc.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let raw = p.to_json();
        let written: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(written["format"], json!(2), "{name}");
        let key = if slotless { "unplaced" } else { "main" };
        let list = if slotless {
            &written["unplaced"]
        } else {
            &written["inventories"]["main"]
        };
        assert!(same(list, &want), "{name}:\n{list}\nis not\n{want}");
        // the same bytes as Lua's but for serde's whole floats: key order and all (the list's
        // strings hold no `"main":`)
        let raw = lua_numbers(&raw);
        let at = raw.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
        let after = raw[at..].strip_prefix(text);
        assert!(
            after.is_some_and(|rest| rest.starts_with([',', '}'])),
            "{name}: {raw} does not hold {text}"
        );
    }
}

#[test]
fn bad_payloads_are_refused_saying_where_and_why() {
    for case in cases("bad") {
        let name = field(&case, "name");
        let text = field(&case, "text");
        let want = field(&case, "error_contains");
        match PlayerData::from_json(text.as_bytes()) {
            Ok(p) => panic!("{name}: accepted as {p:?}"),
            Err(e) => assert!(
                e.to_string().contains(want),
                "{name}: {e} does not contain {want:?}"
            ),
        }
    }
}
