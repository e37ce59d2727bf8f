//! The Lua module that scenario authors copy into their game (`scenario/invsync/`),
//! embedded here so that Rust tests, benchmarks and the emulator can run it under mlua.
//!
//! [`game_lua`] makes a Lua state shaped like Factorio's: the base library (without
//! `dofile`, `loadfile`), `string`, `table`, `math` and, on Lua 5.2, `bit32`; no `io`, `os`,
//! `coroutine`, `debug`, `package` or `utf8`. Its `require` loads the embedded modules by
//! the names the game uses (`require("invsync.crc32")` loads `invsync/crc32.lua`), so the
//! same files run unchanged in the game and here.
//!
//! The Lua version is the one mlua is built for: this crate uses Lua 5.2 (the game's); the
//! portability crate in `portability/` builds the same sources and tests for Lua 5.4 and
//! Luau. Nothing here depends on the version.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

use mlua::{FromLua, Function, Lua, LuaOptions, StdLib, Table, Value};

/// One embedded Lua module.
#[derive(Debug, Clone, Copy)]
pub struct LuaModule {
    /// The `require` name, e.g. `invsync.crc32`.
    pub name: &'static str,
    /// The path relative to `scenario/`, e.g. `invsync/crc32.lua`.
    pub path: &'static str,
    /// The source text.
    pub source: &'static str,
}

macro_rules! module {
    ($name:literal, $file:literal) => {
        LuaModule {
            name: concat!("invsync.", $name),
            path: concat!("invsync/", $file),
            source: include_str!(concat!("../invsync/", $file)),
        }
    };
}

/// Every file of the core, in dependency order (each needs only modules before it).
pub const MODULES: &[LuaModule] = &[
    module!("errors", "errors.lua"),
    module!("limits", "limits.lua"),
    module!("bits", "bits.lua"),
    module!("crc32", "crc32.lua"),
    module!("base64", "base64.lua"),
    module!("text", "text.lua"),
    module!("join", "join.lua"),
    module!("lz4", "lz4.lua"),
    module!("frame", "frame.lua"),
    module!("message", "message.lua"),
    module!("reassembler", "reassembler.lua"),
    module!("sender", "sender.lua"),
    module!("caps", "caps.lua"),
    module!("json", "json.lua"),
    module!("blueprint", "blueprint.lua"),
    module!("settings", "settings.lua"),
    module!("link", "link.lua"),
    module!("inbox", "inbox.lua"),
];

/// The Factorio adapter: the modules that use the game's API (`game`, `storage`, `defines`,
/// `prototypes`, `remote`, `script`), in dependency order. They run in the emulator
/// (`invsync-emulator`), not in [`game_lua`].
pub const ADAPTER_MODULES: &[LuaModule] = &[
    module!("player_data", "player_data.lua"),
    module!("gui", "gui.lua"),
    module!("sync", "sync.lua"),
    module!("factorio", "factorio.lua"),
];

/// The example `control.lua` (`example/control.lua`): the few lines an author writes.
pub const EXAMPLE_CONTROL: &str = include_str!("../example/control.lua");

/// The files of a scenario that uses the module, as (path inside the scenario, contents):
/// every module under `invsync/` and `control.lua` (the given one, or the example's).
/// The emulator's `ScenarioFiles::from_files` takes this list as it is.
pub fn scenario_files(control: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = MODULES
        .iter()
        .chain(ADAPTER_MODULES)
        .map(|m| (m.path.to_owned(), m.source.as_bytes().to_vec()))
        .collect();
    files.push((
        "control.lua".to_owned(),
        control.unwrap_or(EXAMPLE_CONTROL).as_bytes().to_vec(),
    ));
    files
}

/// The embedded module with this `require` name (core or adapter).
pub fn module(name: &str) -> Option<&'static LuaModule> {
    MODULES
        .iter()
        .chain(ADAPTER_MODULES)
        .find(|m| m.name == name)
}

/// What can go wrong while setting up or loading the Lua side.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The Lua state could not be created or configured.
    #[error("creating the Lua state: {0}")]
    State(#[source] mlua::Error),
    /// `require` of a module failed (it does not exist or raised while loading).
    #[error("require(\"{name}\"): {source}")]
    Require {
        /// The module name.
        name: String,
        /// What Lua reported.
        #[source]
        source: mlua::Error,
    },
}

/// Registry key of the table of loaded modules.
const LOADED_KEY: &str = "invsync.loaded";
/// Registry key of the table of extra module sources (name -> source) added by tests.
const EXTRA_KEY: &str = "invsync.extra";
/// Marks a module whose loading is in progress, to report require cycles.
const LOADING: &str = "invsync.loading";

/// Globals the game does not offer; removed so that code relying on them fails here too.
const NOT_IN_GAME: &[&str] = &[
    "io",
    "os",
    "coroutine",
    "debug",
    "package",
    "utf8",
    "dofile",
    "loadfile",
    "collectgarbage",
];

/// A Lua state shaped like the game's, with `require` serving the embedded modules.
pub fn game_lua() -> Result<Lua, ScenarioError> {
    let lua =
        Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default()).map_err(ScenarioError::State)?;
    configure(&lua).map_err(ScenarioError::State)?;
    Ok(lua)
}

fn configure(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    for name in NOT_IN_GAME {
        globals.raw_set(*name, Value::Nil)?;
    }
    lua.set_named_registry_value(LOADED_KEY, lua.create_table()?)?;
    lua.set_named_registry_value(EXTRA_KEY, lua.create_table()?)?;
    let require = lua.create_function(|lua, name: String| require_value(lua, &name))?;
    globals.raw_set("require", require)?;
    Ok(())
}

fn require_value(lua: &Lua, name: &str) -> mlua::Result<Value> {
    let loaded: Table = lua.named_registry_value(LOADED_KEY)?;
    match loaded.raw_get::<Value>(name)? {
        Value::Nil => {}
        Value::String(s) if s.as_bytes().as_ref() == LOADING.as_bytes() => {
            return Err(mlua::Error::runtime(format!(
                "require(\"{name}\"): the module requires itself through a cycle"
            )));
        }
        value => return Ok(value),
    }
    let extra: Table = lua.named_registry_value(EXTRA_KEY)?;
    let source: Option<mlua::LuaString> = extra.raw_get(name)?;
    let (chunk_name, text) = match (source, module(name)) {
        (Some(s), _) => (format!("@{name}"), s.as_bytes().to_vec()),
        (None, Some(m)) => (format!("@{}", m.path), m.source.as_bytes().to_vec()),
        (None, None) => {
            return Err(mlua::Error::runtime(format!(
                "require(\"{name}\"): no such module (expected one of the embedded invsync.* modules)"
            )));
        }
    };
    loaded.raw_set(name, LOADING)?;
    let result = lua.load(text).set_name(chunk_name).call::<Value>(name);
    match result {
        Ok(Value::Nil) => {
            loaded.raw_set(name, true)?;
            Ok(Value::Boolean(true))
        }
        Ok(value) => {
            loaded.raw_set(name, value.clone())?;
            Ok(value)
        }
        Err(e) => {
            loaded.raw_set(name, Value::Nil)?;
            Err(e)
        }
    }
}

/// Makes `require(name)` load `source` (tests add their helper modules this way).
pub fn add_module(lua: &Lua, name: &str, source: &str) -> Result<(), ScenarioError> {
    let add = || -> mlua::Result<()> {
        let extra: Table = lua.named_registry_value(EXTRA_KEY)?;
        extra.raw_set(name, lua.create_string(source)?)
    };
    add().map_err(|source| ScenarioError::Require {
        name: name.to_owned(),
        source,
    })
}

/// `require(name)` from Rust, converted to `T` (usually a [`Table`]).
pub fn require<T: FromLua>(lua: &Lua, name: &str) -> Result<T, ScenarioError> {
    let wrap = |source| ScenarioError::Require {
        name: name.to_owned(),
        source,
    };
    let require: Function = lua.globals().raw_get("require").map_err(wrap)?;
    require.call::<T>(name).map_err(wrap)
}

/// The Lua version string of the linked Lua (`_VERSION`), e.g. `Lua 5.2`.
pub fn lua_version(lua: &Lua) -> String {
    lua.globals()
        .raw_get::<String>("_VERSION")
        .unwrap_or_else(|_| "unknown".to_owned())
}
