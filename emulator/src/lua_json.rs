//! JSON <-> Lua conversion for `helpers.table_to_json` / `helpers.json_to_table`, GUI tags and
//! captions.
//!
//! Written by hand rather than through serde_json's `Map` because the output must be deterministic
//! whatever features other crates enable on serde_json (`preserve_order` would change key order):
//! object keys are always sorted bytewise. A table is written as an array when its keys are exactly
//! `1..=n` (an empty table is `[]`), otherwise as an object whose number keys become strings.

use std::fmt::Write as _;

use mlua::{Lua, Table, Value};

/// Deepest nesting accepted on the way in or out.
pub(crate) const MAX_DEPTH: usize = 200;

/// Serialise a serde_json value with sorted object keys.
pub(crate) fn to_sorted_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_serde(v, &mut out);
    out
}

fn write_serde(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k.as_bytes(), out);
                out.push(':');
                write_serde(&m[*k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_serde(e, out);
            }
            out.push(']');
        }
        serde_json::Value::String(s) => write_str(s.as_bytes(), out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_str(s: &[u8], out: &mut String) {
    out.push('"');
    // The caller guarantees UTF-8; escape what JSON requires.
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: f64, out: &mut String) -> Result<(), String> {
    if !n.is_finite() {
        return Err(format!("number {n} cannot be represented in JSON"));
    }
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", n as i64);
    } else {
        let _ = write!(
            out,
            "{}",
            serde_json::Number::from_f64(n)
                .map(|x| x.to_string())
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Classify a table: `Some(n)` when its keys are exactly `1..=n`.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let n = t.raw_len();
    let mut count = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        match k {
            Value::Integer(i) if i >= 1 && (i as usize) <= n => {}
            Value::Number(f) if f.fract() == 0.0 && f >= 1.0 && (f as usize) <= n => {}
            _ => return Ok(None),
        }
    }
    Ok((count == n).then_some(n))
}

/// `helpers.table_to_json`: Lua value -> JSON text; `Err` names the offending path.
pub(crate) fn lua_to_json(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut seen = Vec::new();
    write_lua(v, &mut out, "root", 0, &mut seen)?;
    Ok(out)
}

fn write_lua(
    v: &Value,
    out: &mut String,
    path: &str,
    depth: usize,
    seen: &mut Vec<*const std::ffi::c_void>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nesting deeper than {MAX_DEPTH}"));
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Number(n) => write_number(*n, out).map_err(|e| format!("{path}: {e}"))?,
        Value::String(s) => {
            let b = s.as_bytes();
            if std::str::from_utf8(&b).is_err() {
                return Err(format!("{path}: string is not valid UTF-8"));
            }
            write_str(&b, out);
        }
        Value::Table(t) => {
            let ptr = t.to_pointer();
            if seen.contains(&ptr) {
                return Err(format!("{path}: table contains itself"));
            }
            seen.push(ptr);
            let lua_err = |e: mlua::Error| format!("{path}: {e}");
            if let Some(n) = array_len(t).map_err(lua_err)? {
                out.push('[');
                for i in 1..=n {
                    if i > 1 {
                        out.push(',');
                    }
                    let e: Value = t.raw_get(i).map_err(lua_err)?;
                    write_lua(&e, out, &format!("{path}[{i}]"), depth + 1, seen)?;
                }
                out.push(']');
            } else {
                let mut entries: Vec<(String, Value)> = Vec::new();
                for pair in t.pairs::<Value, Value>() {
                    let (k, val) = pair.map_err(lua_err)?;
                    let key = match &k {
                        Value::String(s) => s
                            .to_str()
                            .map_err(|_| format!("{path}: key is not valid UTF-8"))?
                            .to_string(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(n) => {
                            let mut s = String::new();
                            write_number(*n, &mut s).map_err(|e| format!("{path}: key {e}"))?;
                            s
                        }
                        other => {
                            return Err(format!(
                                "{path}: a key of type {} cannot be a JSON key",
                                other.type_name()
                            ));
                        }
                    };
                    entries.push((key, val));
                }
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('{');
                for (i, (k, val)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k.as_bytes(), out);
                    out.push(':');
                    write_lua(val, out, &format!("{path}.{k}"), depth + 1, seen)?;
                }
                out.push('}');
            }
            seen.pop();
        }
        other => {
            return Err(format!(
                "{path}: value of type {} cannot be converted to JSON",
                other.type_name()
            ));
        }
    }
    Ok(())
}

/// Lua value -> serde_json value (same rules as [`lua_to_json`]).
pub(crate) fn lua_to_serde(v: &Value) -> Result<serde_json::Value, String> {
    let text = lua_to_json(v)?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// serde_json value -> Lua value (`null` becomes nil).
pub(crate) fn serde_to_lua(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    Ok(match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, e) in a.iter().enumerate() {
                t.raw_set(i + 1, serde_to_lua(lua, e)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(m) => {
            let t = lua.create_table_with_capacity(0, m.len())?;
            for (k, e) in m {
                t.raw_set(k.as_str(), serde_to_lua(lua, e)?)?;
            }
            Value::Table(t)
        }
    })
}

/// `helpers.json_to_table`: `None` on malformed JSON.
pub(crate) fn json_to_lua(lua: &Lua, text: &[u8]) -> mlua::Result<Option<Value>> {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(v) => serde_to_lua(lua, &v).map(Some),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_array_rules() {
        let lua = Lua::new();
        let v: Value = lua
            .load(r#"return {b=1, a={1,2,"x"}, c={[1]=1,[3]=3}, e={}, f=1.5, g="q\"\n\1"}"#)
            .eval()
            .unwrap();
        assert_eq!(
            lua_to_json(&v).unwrap(),
            r#"{"a":[1,2,"x"],"b":1,"c":{"1":1,"3":3},"e":[],"f":1.5,"g":"q\"\n\u0001"}"#
        );
    }

    #[test]
    fn errors_name_the_path() {
        let lua = Lua::new();
        let v: Value = lua
            .load("local t = {x={}} t.x.y = t return t")
            .eval()
            .unwrap();
        assert!(lua_to_json(&v).unwrap_err().contains("root.x.y"));
        let f: Value = lua.load("return {a={f=print}}").eval().unwrap();
        assert!(lua_to_json(&f).unwrap_err().contains("root.a.f"));
    }

    #[test]
    fn json_to_lua_rejects_garbage() {
        let lua = Lua::new();
        assert!(json_to_lua(&lua, b"{").unwrap().is_none());
        let v = json_to_lua(&lua, br#"{"a":[1,2]}"#).unwrap().unwrap();
        assert_eq!(lua_to_json(&v).unwrap(), r#"{"a":[1,2]}"#);
    }
}
