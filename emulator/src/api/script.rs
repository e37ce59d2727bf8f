//! `script`, `remote`, `commands` and `rcon`.

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::defines::{EVENTS, FIRST_CUSTOM_EVENT};
use super::set_index_metamethod;
use crate::context::shared;
use crate::sandbox::{reg, rt, to_display};

fn event_ids(lua: &Lua, v: &Value) -> mlua::Result<Vec<u32>> {
    let one = |v: &Value| -> mlua::Result<u32> {
        let id = match v {
            Value::Integer(i) => *i,
            Value::Number(n) if n.fract() == 0.0 => *n as i64,
            Value::String(s) => {
                return Err(rt(format!(
                    "script.on_event: custom input '{}' is not supported by the emulator",
                    s.to_string_lossy()
                )));
            }
            other => {
                return Err(rt(format!(
                    "script.on_event: invalid event id of type {}",
                    other.type_name()
                )));
            }
        };
        let known = EVENTS.iter().any(|(_, e)| i64::from(*e) == id)
            || (id >= i64::from(FIRST_CUSTOM_EVENT)
                && id < i64::from(shared(lua).next_custom_event.get()));
        if !known {
            return Err(rt(format!("script.on_event: unknown event id {id}")));
        }
        Ok(id as u32)
    };
    match v {
        Value::Table(t) => t
            .clone()
            .sequence_values::<Value>()
            .map(|v| one(&v?))
            .collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn handler_arg(v: Value, what: &str) -> mlua::Result<Value> {
    match v {
        Value::Function(_) | Value::Nil => Ok(v),
        other => Err(rt(format!(
            "{what}: handler must be a function or nil, got {}",
            other.type_name()
        ))),
    }
}

fn set_hook(lua: &Lua, name: &str, f: Value) -> mlua::Result<()> {
    let hooks: Table = lua.named_registry_value(reg::HOOKS)?;
    hooks.raw_set(name, handler_arg(f, &format!("script.{name}"))?)
}

/// Removes `name` from the table kept in the registry under `registry_key` (remote
/// interfaces, commands); whether it was there.
fn remove_registered(lua: &Lua, registry_key: &str, name: String) -> mlua::Result<bool> {
    let registered: Table = lua.named_registry_value(registry_key)?;
    let existed = !registered.raw_get::<Value>(name.as_str())?.is_nil();
    registered.raw_set(name, Value::Nil)?;
    Ok(existed)
}

pub(crate) fn create_script(lua: &Lua) -> mlua::Result<Table> {
    let s = lua.create_table()?;
    for hook in ["on_init", "on_load", "on_configuration_changed"] {
        s.raw_set(
            hook,
            lua.create_function(move |lua, f: Value| set_hook(lua, hook, f))?,
        )?;
    }
    s.raw_set(
        "on_event",
        lua.create_function(|lua, (ev, f, _filters): (Value, Value, Value)| {
            let f = handler_arg(f, "script.on_event")?;
            let events: Table = lua.named_registry_value(reg::EVENTS)?;
            for id in event_ids(lua, &ev)? {
                events.raw_set(id, f.clone())?;
            }
            Ok(())
        })?,
    )?;
    s.raw_set("on_nth_tick", lua.create_function(on_nth_tick)?)?;
    s.raw_set("get_event_id", lua.create_function(get_event_id)?)?;
    s.raw_set(
        "get_event_handler",
        lua.create_function(|lua, id: u32| {
            let events: Table = lua.named_registry_value(reg::EVENTS)?;
            events.raw_get::<Value>(id)
        })?,
    )?;
    s.raw_set(
        "generate_event_name",
        lua.create_function(|lua, ()| {
            let sh = shared(lua);
            let id = sh.next_custom_event.get();
            sh.next_custom_event.set(id + 1);
            Ok(id)
        })?,
    )?;
    s.raw_set(
        "raise_event",
        lua.create_function(|lua, (id, data): (u32, Option<Table>)| {
            if id < FIRST_CUSTOM_EVENT {
                return Err(rt("script.raise_event: the emulator only raises custom events (from generate_event_name)"));
            }
            let events: Table = lua.named_registry_value(reg::EVENTS)?;
            if let Value::Function(f) = events.raw_get::<Value>(id)? {
                let ev = data.unwrap_or(lua.create_table()?);
                ev.raw_set("name", id)?;
                ev.raw_set("tick", shared(lua).world.borrow().tick)?;
                f.call::<()>(ev)?;
            }
            Ok(())
        })?,
    )?;
    s.raw_set("mod_name", "level")?;
    let level = lua.create_table()?;
    level.raw_set("level_name", shared(lua).statics.scenario.name.clone())?;
    level.raw_set("is_simulation", false)?;
    level.raw_set("is_tutorial", false)?;
    s.raw_set("level", level)?;
    let mods = lua.create_table()?;
    mods.raw_set("base", crate::GAME_VERSION)?;
    s.raw_set("active_mods", mods)?;
    read_only_proxy(lua, s, "LuaBootstrap")
}

/// `script.on_nth_tick(ticks, handler)`: `ticks` one tick interval or a list of them; nil
/// `ticks` removes every handler.
fn on_nth_tick(lua: &Lua, (n, f): (Value, Value)) -> mlua::Result<()> {
    let nth: Table = lua.named_registry_value(reg::NTH)?;
    if n.is_nil() {
        lua.set_named_registry_value(reg::NTH, lua.create_table()?)?;
        return Ok(());
    }
    let f = handler_arg(f, "script.on_nth_tick")?;
    let ticks: Vec<Value> = match n {
        Value::Table(t) => t.sequence_values::<Value>().collect::<mlua::Result<_>>()?,
        other => vec![other],
    };
    for t in ticks {
        let k = super::as_uint(&t, "script.on_nth_tick tick")?;
        if k == 0 {
            return Err(rt("script.on_nth_tick: tick must be at least 1"));
        }
        nth.raw_set(k, f.clone())?;
    }
    Ok(())
}

/// `script.get_event_id(event)`: a `defines.events` value or a custom event id stays itself;
/// a name is looked up.
fn get_event_id(_: &Lua, ev: Value) -> mlua::Result<u32> {
    match &ev {
        Value::String(name) => {
            let name = name.to_string_lossy();
            EVENTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, id)| *id)
                .ok_or_else(|| rt(format!("script.get_event_id: unknown event {name}")))
        }
        other => super::as_uint(other, "script.get_event_id"),
    }
}

/// A table that reads `members` (an unknown key raises, as the game's objects do) and
/// refuses every write: the attributes of `LuaBootstrap` are read-only (runtime-api 2.0.45).
fn read_only_proxy(lua: &Lua, members: Table, class: &'static str) -> mlua::Result<Table> {
    let proxy = lua.create_table()?;
    let meta = lua.create_table()?;
    meta.raw_set(
        "__index",
        lua.create_function(move |_, (_t, k): (Table, Value)| {
            let v: Value = members.raw_get(k.clone())?;
            if v.is_nil() {
                return Err(super::no_key(class, &k));
            }
            Ok(v)
        })?,
    )?;
    meta.raw_set(
        "__newindex",
        lua.create_function(
            move |_, (_t, k, _v): (Table, Value, Value)| -> mlua::Result<()> {
                let k = super::key_str(class, &k)?;
                Err(rt(format!("{class}::{k} is read-only.")))
            },
        )?,
    )?;
    proxy.set_metatable(Some(meta))?;
    Ok(proxy)
}

pub(crate) fn create_remote(lua: &Lua) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    r.raw_set(
        "add_interface",
        lua.create_function(|lua, (name, funcs): (String, Table)| {
            let ifaces: Table = lua.named_registry_value(reg::REMOTE)?;
            if !ifaces.raw_get::<Value>(name.as_str())?.is_nil() {
                return Err(rt(format!("Remote interface with name {name} already exists.")));
            }
            for pair in funcs.pairs::<Value, Value>() {
                let (k, v) = pair?;
                if !matches!(k, Value::String(_)) || !matches!(v, Value::Function(_)) {
                    return Err(rt(format!(
                        "remote.add_interface({name}): the interface must map function names to functions"
                    )));
                }
            }
            ifaces.raw_set(name, funcs)
        })?,
    )?;
    r.raw_set(
        "remove_interface",
        lua.create_function(|lua, name: String| remove_registered(lua, reg::REMOTE, name))?,
    )?;
    r.raw_set(
        "call",
        lua.create_function(|lua, args: MultiValue| {
            let mut it = args.into_iter();
            let iface =
                super::as_string(&it.next().unwrap_or(Value::Nil), "remote.call interface")?;
            let fname = super::as_string(&it.next().unwrap_or(Value::Nil), "remote.call function")?;
            let ifaces: Table = lua.named_registry_value(reg::REMOTE)?;
            let Value::Table(t) = ifaces.raw_get::<Value>(iface.as_str())? else {
                return Err(rt(format!("Unknown interface: {iface}")));
            };
            let Value::Function(f) = t.raw_get::<Value>(fname.as_str())? else {
                return Err(rt(format!(
                    "No such function: {fname} in interface {iface}"
                )));
            };
            f.call::<MultiValue>(MultiValue::from_iter(it))
        })?,
    )?;
    // `remote.interfaces` is computed on access.
    set_index_metamethod(lua, &r, |lua, (_t, k): (Table, String)| {
        if k != "interfaces" {
            return Err(rt(format!("LuaRemote doesn't contain key {k}.")));
        }
        let ifaces: Table = lua.named_registry_value(reg::REMOTE)?;
        let out = lua.create_table()?;
        for pair in ifaces.pairs::<String, Table>() {
            let (name, funcs) = pair?;
            let names = lua.create_table()?;
            for f in funcs.pairs::<String, Value>() {
                names.raw_set(f?.0, true)?;
            }
            out.raw_set(name, names)?;
        }
        Ok(out)
    })?;
    Ok(r)
}

/// Built-in console commands (not overridable by `commands.add_command`).
pub(crate) const BUILTIN_COMMANDS: &[&str] = &[
    "c",
    "command",
    "sc",
    "silent-command",
    "help",
    "h",
    "players",
    "p",
    "version",
    "time",
    "seed",
];

pub(crate) fn create_commands(lua: &Lua) -> mlua::Result<Table> {
    let c = lua.create_table()?;
    c.raw_set(
        "add_command",
        lua.create_function(|lua, (name, help, f): (String, Value, Function)| {
            let cmds: Table = lua.named_registry_value(reg::COMMANDS)?;
            if BUILTIN_COMMANDS.contains(&name.as_str())
                || !cmds.raw_get::<Value>(name.as_str())?.is_nil()
            {
                return Err(rt(format!("Command with name \"{name}\" already exists.")));
            }
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(rt(format!(
                    "commands.add_command: invalid command name \"{name}\""
                )));
            }
            let entry = lua.create_table()?;
            entry.raw_set("help", to_display(lua, &help)?)?;
            entry.raw_set("fn", f)?;
            cmds.raw_set(name, entry)
        })?,
    )?;
    c.raw_set(
        "remove_command",
        lua.create_function(|lua, name: String| remove_registered(lua, reg::COMMANDS, name))?,
    )?;
    set_index_metamethod(lua, &c, |lua, (_t, k): (Table, String)| {
        let out = lua.create_table()?;
        match k.as_str() {
            "commands" => {
                let cmds: Table = lua.named_registry_value(reg::COMMANDS)?;
                for pair in cmds.pairs::<String, Table>() {
                    let (name, e) = pair?;
                    out.raw_set(name, e.raw_get::<Value>("help")?)?;
                }
            }
            "game_commands" => {
                for name in BUILTIN_COMMANDS {
                    out.raw_set(*name, "")?;
                }
            }
            _ => return Err(rt(format!("LuaCommandProcessor doesn't contain key {k}."))),
        }
        Ok(out)
    })?;
    Ok(c)
}

pub(crate) fn create_rcon(lua: &Lua) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    r.raw_set(
        "print",
        lua.create_function(|lua, v: Value| {
            let text = to_display(lua, &v)?;
            let sh = shared(lua);
            if let Some(buf) = sh.rcon.borrow_mut().as_mut() {
                buf.push_str(&text);
                buf.push('\n');
            }
            Ok(())
        })?,
    )?;
    Ok(r)
}
