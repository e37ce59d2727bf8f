//! The Lua JSON helpers against serde_json: whatever serde_json writes, the budgeted Lua
//! decoder reads as the same value at any budget; what the Lua writer helpers write,
//! serde_json reads back exactly.

mod common;

use common::from_lua;
use mlua::{Function, Lua, Table, Value as LuaValue};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

thread_local! {
    static LUA: Lua = common::lua();
}

/// What the decoder must give for `v`: numbers as doubles, empty arrays as `{}`, object
/// members that are null left out (JSON null leaves a key absent, as json_to_table does).
fn expected(v: &Value) -> Value {
    match v {
        Value::Number(n) => {
            Number::from_f64(n.as_f64().unwrap()).map_or(Value::Null, Value::Number)
        }
        Value::Array(a) if a.is_empty() => Value::Object(Map::new()),
        Value::Array(a) => Value::Array(a.iter().map(expected).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), expected(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn normal_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) => {
            Number::from_f64(n.as_f64().unwrap()).map_or(Value::Null, Value::Number)
        }
        Value::Array(a) => Value::Array(a.iter().map(normal_numbers).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normal_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Equal, numbers within one part in 10^15 (serde_json's default float parsing may be one
/// unit off in the last place; Lua's is exact).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || ((x - y) / x.abs().max(y.abs())).abs() < 1e-15
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number((i >> 12).into())),
        (-1e300f64..1e300).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[a-z\"\\\\/\\n\\t\\u{7f}\\u{e9}\\u{1f600}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            // no nulls in arrays: a null there is a hole in the Lua table
            prop::collection::vec(inner.clone().prop_filter("no null", |v| !v.is_null()), 0..6)
                .prop_map(Value::Array),
            prop::collection::btree_map("[a-z_\\u{e9}\"]{1,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn decode_with_budget(lua: &Lua, text: &str, budget: u32) -> Result<Value, String> {
    let f: Function = lua
        .load(
            r#"
            local text, budget = ...
            local json = require("invsync.json")
            local d = json.decoder(text)
            while not json.decode_step(d, budget) do end
            if d.err then return nil, d.err end
            return { d.root }
            "#,
        )
        .into_function()
        .unwrap();
    let (v, err): (LuaValue, Option<String>) =
        f.call((lua.create_string(text).unwrap(), budget)).unwrap();
    match v {
        LuaValue::Table(t) => Ok(from_lua(&t.raw_get::<LuaValue>(1).unwrap())),
        _ => Err(err.unwrap_or_default()),
    }
}

proptest! {
    #[test]
    fn the_decoder_reads_what_serde_json_writes(v in json_value(), budget in 1u32..200, pretty in any::<bool>()) {
        LUA.with(|lua| {
            let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            let got = decode_with_budget(lua, &text, budget);
            let got = got.unwrap_or_else(|e| panic!("{e} in {text}"));
            prop_assert_eq!(got, expected(&v), "{}", text);
            Ok(())
        })?;
    }

    #[test]
    fn the_decoder_refuses_what_serde_json_refuses(v in json_value(), cut in any::<prop::sample::Index>(), junk in "[\\]\\[{},:\"a-z0-9 ]") {
        LUA.with(|lua| {
            let text = v.to_string();
            let mut bytes = text.into_bytes();
            let at = cut.index(bytes.len() + 1);
            bytes.insert(at, junk.as_bytes()[0]);
            let Ok(text) = String::from_utf8(bytes) else { return Ok(()) };
            let want = serde_json::from_str::<Value>(&text);
            let got = decode_with_budget(lua, &text, 7);
            match (want, got) {
                (Ok(w), Ok(g)) => prop_assert!(
                    close(&g, &expected(&normal_numbers(&w))),
                    "{:?} vs {:?} for {}", g, w, text
                ),
                (Err(_), Err(_)) => {}
                (w, g) => prop_assert!(false, "serde_json {:?}, Lua {:?} for {}", w.is_ok(), g, text),
            }
            Ok(())
        })?;
    }

    #[test]
    fn serde_json_reads_what_the_writer_helpers_write(s in any::<String>(), x in any::<f64>()) {
        LUA.with(|lua| {
            let json: Table = common::module(lua, "invsync.json");
            let quote: Function = json.get("quote").unwrap();
            let number: Function = json.get("number").unwrap();
            let q: String = quote.call(lua.create_string(&s).unwrap()).unwrap();
            prop_assert_eq!(serde_json::from_str::<String>(&q).unwrap(), s);
            if x.is_finite() {
                let n: String = number.call(x).unwrap();
                // valid JSON, and exactly x (Rust's own parser rounds correctly; serde_json's
                // default parser may be one unit off in the last place)
                prop_assert!(serde_json::from_str::<f64>(&n).is_ok(), "{}", n);
                prop_assert_eq!(n.parse::<f64>().unwrap(), x, "{}", n);
            }
            Ok(())
        })?;
    }
}
