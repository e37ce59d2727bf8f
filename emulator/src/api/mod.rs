//! The Factorio API surface offered to scenarios.
//!
//! Objects (`LuaPlayer`, `LuaInventory`, ...) are small userdata handles naming a thing in the
//! [`crate::world::World`]; every access looks the thing up, so a handle to something destroyed
//! reports itself invalid like the game's. Methods are called with a dot (`inv.insert{...}`), as
//! in the game. Unknown keys raise "<Class> doesn't contain key <key>." like the game.

pub(crate) mod control;
pub(crate) mod defines;
pub(crate) mod entity;
pub(crate) mod equipment;
pub(crate) mod game;
pub(crate) mod gui;
pub(crate) mod handle;
pub(crate) mod helpers;
pub(crate) mod inventory;
pub(crate) mod item_data;
pub(crate) mod item_stack;
pub(crate) mod logistics;
pub(crate) mod player;
pub(crate) mod refs;
pub(crate) mod script;

use mlua::{IntoLua, Lua, MultiValue, Table, Value};

use crate::sandbox::rt;

/// Install all API globals into a fresh state.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.raw_set("defines", defines::create(lua)?)?;
    g.raw_set("script", script::create_script(lua)?)?;
    g.raw_set("remote", script::create_remote(lua)?)?;
    g.raw_set("commands", script::create_commands(lua)?)?;
    g.raw_set("rcon", script::create_rcon(lua)?)?;
    g.raw_set("helpers", helpers::create_helpers(lua)?)?;
    g.raw_set("prototypes", helpers::create_prototypes(lua)?)?;
    g.raw_set("storage", lua.create_table()?)?;
    // `game` is set when the main chunk has run (the game does not offer it earlier).
    Ok(())
}

/// "<Class> doesn't contain key <key>."
pub(crate) fn no_key(class: &str, key: &Value) -> mlua::Error {
    let k = match key {
        Value::String(s) => s.to_string_lossy(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("<{}>", other.type_name()),
    };
    rt(format!("{class} doesn't contain key {k}."))
}

/// "<Class> API call when <Class> was invalid."
pub(crate) fn invalid(class: &str) -> mlua::Error {
    rt(format!("{class} API call when {class} was invalid."))
}

/// A key as a string, or the no-such-key error.
pub(crate) fn key_str(class: &str, key: &Value) -> mlua::Result<String> {
    match key {
        Value::String(s) => Ok(s.to_string_lossy()),
        other => Err(no_key(class, other)),
    }
}

/// Wrap a closure as a Lua function value (an API method bound to its object).
pub(crate) fn method<F>(lua: &Lua, f: F) -> mlua::Result<Value>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + 'static,
{
    Ok(Value::Function(lua.create_function(f)?))
}

/// A group of members of an API class: the value of member `key` of the object `id` names,
/// or None when the group has no such member.
pub(crate) type Members<Id> = fn(&Lua, Id, &str) -> mlua::Result<Option<Value>>;

/// The value of member `key` of object `id` from the first of `groups` that has it.
pub(crate) fn find_member<Id: Copy>(
    groups: &[Members<Id>],
    lua: &Lua,
    id: Id,
    key: &str,
) -> mlua::Result<Option<Value>> {
    for members in groups {
        if let Some(v) = members(lua, id, key)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// The first argument of a method call (nil when there is none).
pub(crate) fn first(args: &MultiValue) -> Value {
    args.iter().next().cloned().unwrap_or(Value::Nil)
}

/// One return value.
pub(crate) fn one<T: IntoLua>(lua: &Lua, v: T) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([v.into_lua(lua)?]))
}

/// A field of an argument table: `default` when it is absent, else what `parse` makes of it.
pub(crate) fn field_or<T>(
    t: &Table,
    key: &str,
    default: T,
    parse: impl FnOnce(Value) -> mlua::Result<T>,
) -> mlua::Result<T> {
    match t.raw_get::<Value>(key)? {
        Value::Nil => Ok(default),
        v => parse(v),
    }
}

/// Gives a global table an `__index` metamethod (what reading a key it does not hold does).
pub(crate) fn set_index_metamethod<A, R, F>(lua: &Lua, t: &Table, f: F) -> mlua::Result<()>
where
    A: mlua::FromLuaMulti,
    R: mlua::IntoLuaMulti,
    F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
{
    let meta = lua.create_table()?;
    meta.raw_set("__index", lua.create_function(f)?)?;
    t.set_metatable(Some(meta))
}

/// Read a number argument.
pub(crate) fn as_number(v: &Value, what: &str) -> mlua::Result<f64> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(n) => Ok(*n),
        other => Err(rt(format!(
            "{what}: expected a number, got {}",
            other.type_name()
        ))),
    }
}

/// Read a whole non-negative number argument.
pub(crate) fn as_uint(v: &Value, what: &str) -> mlua::Result<u32> {
    let n = as_number(v, what)?;
    if n < 0.0 || n.fract() != 0.0 || n > f64::from(u32::MAX) {
        return Err(rt(format!("{what}: expected a whole number >= 0, got {n}")));
    }
    Ok(n as u32)
}

/// Read a 1-based index into `what` (as "the quick bar"), which has `len` places; the game
/// raises outside.
pub(crate) fn index_in(v: &Value, what: &str, len: u32) -> mlua::Result<u32> {
    let i = as_uint(v, &format!("index into {what}"))?;
    if i == 0 || i > len {
        return Err(rt(format!("Index out of range: {i} ({what}: 1..{len})")));
    }
    Ok(i)
}

/// Read a boolean argument.
pub(crate) fn as_bool(v: &Value, what: &str) -> mlua::Result<bool> {
    match v {
        Value::Boolean(b) => Ok(*b),
        other => Err(rt(format!(
            "{what}: expected a boolean, got {}",
            other.type_name()
        ))),
    }
}

/// Read a string argument.
pub(crate) fn as_string(v: &Value, what: &str) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(rt(format!(
            "{what}: expected a string, got {}",
            other.type_name()
        ))),
    }
}

/// A `{x=, y=}` table.
pub(crate) fn position_table(lua: &Lua, p: crate::world::Position) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("x", p.x)?;
    t.raw_set("y", p.y)?;
    Ok(Value::Table(t))
}
