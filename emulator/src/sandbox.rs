//! A Lua 5.2 state with the libraries the game allows.
//!
//! Loaded: base (minus `loadfile`, `dofile`, `loadstring`, `string.dump`; `load` accepts text
//! chunks only), `string`, `table`, `math` (with a deterministic `math.random` whose state lives in
//! the world), `bit32`, `debug` with `getinfo` and `traceback` only. Not loaded: `io`, `os`,
//! `coroutine`, `package`. `require` loads
//! only files of the scenario folder. `print` writes a stdout line, `log` a log line.
//!
//! Errors raised by Rust API functions reach Lua as strings (like the game's), through wrappers of
//! `pcall`/`xpcall`: mlua otherwise hands Lua an opaque error userdata.

use std::rc::Rc;

use mlua::chunk::ChunkMode;
use mlua::{Error, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::context::{Line, Phase, Shared, shared};

/// The instruction-count hook fires every this many VM instructions.
pub(crate) const HOOK_STEP: u32 = 1000;

/// Registry keys of the tables the API keeps.
pub(crate) mod reg {
    pub(crate) const EVENTS: &str = "invsync.events";
    pub(crate) const NTH: &str = "invsync.nth_tick";
    pub(crate) const HOOKS: &str = "invsync.hooks";
    pub(crate) const REMOTE: &str = "invsync.remote";
    pub(crate) const COMMANDS: &str = "invsync.commands";
    pub(crate) const LOADED: &str = "invsync.loaded";
}

/// A Lua runtime error with a message.
pub(crate) fn rt(msg: impl Into<String>) -> Error {
    Error::RuntimeError(msg.into())
}

/// The message of the innermost error, without mlua's decorations or a traceback.
pub(crate) fn error_message(e: &Error) -> String {
    let mut e = e;
    loop {
        match e {
            Error::CallbackError { cause, .. } => e = cause,
            Error::WithContext { cause, .. } => e = cause,
            Error::RuntimeError(s) => return strip_traceback(s),
            Error::SyntaxError { message, .. } => return strip_traceback(message),
            Error::MemoryError(s) => return format!("not enough memory: {s}"),
            Error::BadArgument {
                pos, name, cause, ..
            } => {
                return format!(
                    "bad argument #{pos}{}: {}",
                    name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
                    error_message(cause)
                );
            }
            other => return strip_traceback(&other.to_string()),
        }
    }
}

fn strip_traceback(s: &str) -> String {
    match s.find("\nstack traceback:") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Make a new sandboxed state carrying `shared`.
pub(crate) fn new_state(shared_state: Rc<Shared>, count_instructions: bool) -> mlua::Result<Lua> {
    // SAFETY: `debug` is loaded only to keep `getinfo` and `traceback` (the game's Lua has
    // them; its own event_handler.lua calls `debug.getinfo`); the members that can break the
    // VM's invariants (`setlocal`, `setupvalue`, `upvaluejoin`, `setmetatable`, `sethook`,
    // `getregistry`, ...) are dropped below, before any script runs.
    let lua = unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::BIT | StdLib::DEBUG,
            LuaOptions::new(),
        )
    };
    lua.set_app_data(shared_state.clone());
    for name in [
        reg::EVENTS,
        reg::NTH,
        reg::HOOKS,
        reg::REMOTE,
        reg::COMMANDS,
        reg::LOADED,
    ] {
        lua.set_named_registry_value(name, lua.create_table()?)?;
    }
    let g = lua.globals();
    for name in [
        "loadfile",
        "dofile",
        "loadstring",
        "module",
        "require",
        "collectgarbage",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    let string: Table = g.get("string")?;
    string.raw_set("dump", Value::Nil)?;
    let full_debug: Table = g.get("debug")?;
    let debug = lua.create_table()?;
    for name in ["getinfo", "traceback"] {
        debug.raw_set(name, full_debug.raw_get::<Value>(name)?)?;
    }
    g.raw_set("debug", debug)?;

    g.raw_set("print", lua.create_function(lua_print)?)?;
    g.raw_set("log", lua.create_function(lua_log)?)?;
    g.raw_set(
        "table_size",
        lua.create_function(|_, t: Table| {
            let mut n = 0u64;
            for pair in t.pairs::<Value, Value>() {
                pair?;
                n += 1;
            }
            Ok(n)
        })?,
    )?;
    g.raw_set("require", lua.create_function(lua_require)?)?;
    let math: Table = g.get("math")?;
    math.raw_set("random", lua.create_function(lua_random)?)?;
    math.raw_set(
        "randomseed",
        lua.create_function(|lua, seed: f64| {
            shared(lua).world.borrow_mut().rng = seed as u64;
            Ok(())
        })?,
    )?;

    install_prelude(&lua)?;

    crate::api::install(&lua)?;

    if count_instructions {
        let sh = shared_state;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_STEP),
            move |_, _| {
                sh.instructions
                    .set(sh.instructions.get() + u64::from(HOOK_STEP));
                Ok(VmState::Continue)
            },
        )?;
    }
    Ok(lua)
}

/// Wraps `pcall`, `xpcall` and `load`: errors from Rust reach Lua as strings; `load` accepts
/// text chunks only.
fn install_prelude(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    let errstr = lua.create_function(|lua, v: Value| {
        Ok(match v {
            Value::Error(e) => Value::String(lua.create_string(error_message(&e))?),
            other => other,
        })
    })?;
    let prelude = r#"
        local raw_pcall, raw_xpcall, raw_load, errstr, type, error = ...
        local function fix(ok, ...)
          if ok then return true, ... end
          local e = ...
          if type(e) == "userdata" then e = errstr(e) end
          return false, e
        end
        pcall = function(f, ...) return fix(raw_pcall(f, ...)) end
        xpcall = function(f, handler, ...)
          return raw_xpcall(f, function(e)
            if type(e) == "userdata" then e = errstr(e) end
            return handler(e)
          end, ...)
        end
        load = function(chunk, chunkname, mode, env)
          if type(chunk) ~= "string" then
            error("load: only string chunks can be loaded (got " .. type(chunk) .. ")", 2)
          end
          if env == nil then return raw_load(chunk, chunkname, "t") end
          return raw_load(chunk, chunkname, "t", env)
        end
    "#;
    let pcall: Value = g.get("pcall")?;
    let xpcall: Value = g.get("xpcall")?;
    let load: Value = g.get("load")?;
    let type_fn: Value = g.get("type")?;
    let error_fn: Value = g.get("error")?;
    lua.load(prelude)
        .set_name("=invsync-prelude")
        .set_mode(ChunkMode::Text)
        .call::<()>((pcall, xpcall, load, errstr, type_fn, error_fn))?;
    Ok(())
}

/// `tostring` of a value as Lua's `print` would show it.
pub(crate) fn to_display(lua: &Lua, v: &Value) -> mlua::Result<String> {
    Ok(match v {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::String(s) => s.to_string_lossy(),
        _ => {
            let tostring: mlua::Function = lua.globals().get("tostring")?;
            let s: mlua::LuaString = tostring.call(v.clone())?;
            s.to_string_lossy()
        }
    })
}

fn lua_print(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let mut text = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            text.push('\t');
        }
        text.push_str(&to_display(lua, v)?);
    }
    shared(lua).line(Line::Raw(text));
    Ok(())
}

fn lua_log(lua: &Lua, v: Value) -> mlua::Result<()> {
    let text = to_display(lua, &v)?;
    let place = lua
        .inspect_stack(1, |d| {
            let src = d.source().source.map(|s| s.to_string()).unwrap_or_default();
            let line = d.current_line().unwrap_or(0);
            format!("{}:{line}", src.trim_start_matches('='))
        })
        .unwrap_or_else(|| "?".into());
    shared(lua).line(Line::Log(format!("Script {place}: {text}")));
    Ok(())
}

fn lua_random(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let sh = shared(lua);
    let r = sh.world.borrow_mut().next_random();
    let nums: Vec<f64> = args
        .iter()
        .map(|v| match v {
            Value::Integer(i) => Ok(*i as f64),
            Value::Number(n) => Ok(*n),
            other => Err(rt(format!(
                "bad argument to 'random' (number expected, got {})",
                other.type_name()
            ))),
        })
        .collect::<mlua::Result<_>>()?;
    let (lo, hi) = match nums.as_slice() {
        [] => return Ok(r),
        [m] => (1.0, m.floor()),
        [m, n] => (m.floor(), n.floor()),
        _ => return Err(rt("wrong number of arguments to 'random'")),
    };
    if lo > hi {
        return Err(rt("bad argument to 'random' (interval is empty)"));
    }
    Ok((r * (hi - lo + 1.0)).floor() + lo)
}

/// Turn a `require` name into a scenario-relative file path.
pub(crate) fn module_path(name: &str) -> Option<String> {
    let name = name.strip_prefix("__level__/").unwrap_or(name);
    let stem = name
        .strip_suffix(".lua")
        .map(str::to_string)
        .unwrap_or_else(|| name.replace('.', "/"));
    let ok = !stem.is_empty()
        && stem.split('/').all(|c| {
            !c.is_empty()
                && c != ".."
                && c != "."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        });
    ok.then(|| format!("{stem}.lua"))
}

/// The scenario folder of the Lua file running at stack `level` ("" for the top folder), or
/// None when that code is not a scenario file (a console command).
fn caller_folder(lua: &Lua, level: usize) -> Option<String> {
    let source = lua.inspect_stack(level, |d| d.source().source.map(|s| s.into_owned()))??;
    let path = source.strip_prefix("@__level__/")?;
    Some(
        path.rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_string()),
    )
}

/// `require(name)`: like the game, a module next to the requiring file first, then one from
/// the top of the scenario folder.
fn lua_require(lua: &Lua, name: String) -> mlua::Result<Value> {
    let top =
        module_path(&name).ok_or_else(|| rt(format!("require: invalid module name '{name}'")))?;
    let relative = caller_folder(lua, 1)
        .filter(|dir| !dir.is_empty() && !name.starts_with("__level__/"))
        .map(|dir| format!("{dir}/{top}"))
        .filter(|p| shared(lua).statics.scenario.files.contains_key(p));
    let path = relative.unwrap_or(top);
    let loaded: Table = lua.named_registry_value(reg::LOADED)?;
    match loaded.raw_get::<Value>(path.as_str())? {
        Value::Nil => {}
        Value::LightUserData(_) => {
            return Err(rt(format!(
                "require: loop while loading module '{name}' ({path})"
            )));
        }
        v => return Ok(v),
    }
    let sh = shared(lua);
    if sh.phase.get() != Phase::MainChunk {
        return Err(rt(format!(
            "require('{name}'): modules can only be loaded while control.lua is being loaded"
        )));
    }
    let Some(src) = sh.statics.scenario.files.get(&path).cloned() else {
        return Err(rt(format!(
            "module '{name}' not found: no file {path} in the scenario folder"
        )));
    };
    loaded.raw_set(
        path.as_str(),
        Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
    )?;
    let result = lua
        .load(src)
        .set_name(format!("@__level__/{path}"))
        .set_mode(ChunkMode::Text)
        .call::<Value>(name.as_str());
    match result {
        Ok(v) => {
            let v = if v.is_nil() { Value::Boolean(true) } else { v };
            loaded.raw_set(path.as_str(), v.clone())?;
            Ok(v)
        }
        Err(e) => {
            loaded.raw_set(path.as_str(), Value::Nil)?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert_eq!(
            module_path("invsync.frame").as_deref(),
            Some("invsync/frame.lua")
        );
        assert_eq!(
            module_path("invsync/frame").as_deref(),
            Some("invsync/frame.lua")
        );
        assert_eq!(module_path("__level__/a/b.lua").as_deref(), Some("a/b.lua"));
        assert_eq!(module_path("../etc/passwd"), None);
        assert_eq!(module_path("/abs"), None);
        assert_eq!(module_path(""), None);
    }
}
