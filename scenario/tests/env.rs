//! The embedding: a game-like Lua state, `require` of the embedded modules, no globals,
//! and deterministic behaviour across Lua states.

mod common;

use invsync_scenario::{ADAPTER_MODULES, MODULES, ScenarioError, add_module, game_lua, require};
use mlua::{Function, Lua, Table, Value};
use std::path::PathBuf;

#[test]
fn the_state_offers_only_what_the_game_offers() {
    let lua = game_lua().unwrap();
    let g = lua.globals();
    for name in [
        "io",
        "os",
        "coroutine",
        "debug",
        "package",
        "dofile",
        "loadfile",
        "collectgarbage",
    ] {
        assert!(
            matches!(g.get::<Value>(name).unwrap(), Value::Nil),
            "{name} should be absent"
        );
    }
    for name in ["string", "table", "math", "pairs", "pcall", "require"] {
        assert!(
            !matches!(g.get::<Value>(name).unwrap(), Value::Nil),
            "{name} should be present"
        );
    }
    if invsync_scenario::lua_version(&lua) == "Lua 5.2" {
        assert!(
            matches!(g.get::<Value>("bit32").unwrap(), Value::Table(_)),
            "Lua 5.2 has bit32"
        );
    }
}

#[test]
fn the_lua_is_the_one_ci_asked_for() {
    // CI sets INVSYNC_EXPECT_LUA ("Lua 5.2", "Lua 5.4", "Luau") so a wrong feature cannot
    // pass unnoticed (Luau's _VERSION is "Luau 0.xxx"); without it, only its presence.
    let lua = game_lua().unwrap();
    let version = invsync_scenario::lua_version(&lua);
    assert!(version.starts_with("Lua"), "{version}");
    if let Ok(want) = std::env::var("INVSYNC_EXPECT_LUA") {
        assert!(
            version.starts_with(&want),
            "running {version}, CI asked for {want}"
        );
    }
}

#[test]
fn require_loads_every_module_once_and_reports_unknown_ones() {
    let lua = game_lua().unwrap();
    for m in MODULES {
        let a: Table = require(&lua, m.name).unwrap_or_else(|e| panic!("{e}"));
        let b: Table = require(&lua, m.name).unwrap();
        assert_eq!(a, b, "{} is loaded once", m.name);
    }
    let err = require::<Table>(&lua, "invsync.nope").unwrap_err();
    assert!(matches!(err, ScenarioError::Require { .. }));
    assert!(err.to_string().contains("invsync.nope"), "{err}");
}

#[test]
fn a_require_cycle_is_an_error_not_a_hang() {
    let lua = game_lua().unwrap();
    add_module(&lua, "cycle.a", "return require('cycle.b')").unwrap();
    add_module(&lua, "cycle.b", "return require('cycle.a')").unwrap();
    let err = require::<Value>(&lua, "cycle.a").unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
}

#[test]
fn modules_define_no_globals() {
    let lua = game_lua().unwrap();
    // any read of an undefined global or any global write raises while the modules load and run
    lua.load(
        r#"
        local allowed = {}
        for k in pairs(_G) do allowed[k] = true end
        setmetatable(_G, {
          __newindex = function(_, k) error("global write: " .. tostring(k), 2) end,
          __index = function(_, k) if k ~= "bit32" then error("global read: " .. tostring(k), 2) end end,
        })
        "#,
    )
    .exec()
    .unwrap();
    for m in MODULES {
        require::<Value>(&lua, m.name).unwrap_or_else(|e| panic!("{e}"));
    }
    // exercise the main paths too
    lua.load(
        r#"
        local S = require("invsync.sender")
        local R = require("invsync.reassembler")
        local frames = S.frames(string.rep("abc", 500), { id = 3, method = "raw", max_frame = 200 })
        local rx = R.new({ accept = { "raw", "lz4" } })
        for i = #frames, 1, -1 do R.push(rx, frames[i], 1) end
        local ev = R.step(rx, 1e9, 1)
        assert(ev[#ev].kind == "message")
        local settings, link, json = require("invsync.settings"), require("invsync.link"), require("invsync.json")
        local cfg = settings.resolve({})
        local st = link.new(cfg)
        link.send(st, cfg, string.rep("x", 5000))
        local lines = {}
        local env = { print = function(l) lines[#lines + 1] = l end, log = function() end,
          deflate_b64 = function(p) return require("invsync.base64").encode(p) end }
        link.flush(st, cfg, env, 1e9)
        link.stage(st, cfg, env, 1, 1e9)
        link.recv(st, frames[1], 1)
        link.receive(st, cfg, 2, env, 1e9)
        assert(json.decode('{"a":[1,2]}').a[2] == 2)
        setmetatable(_G, nil)
        "#,
    )
    .exec()
    .unwrap();
}

#[test]
fn every_lua_file_of_the_module_is_embedded() {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("invsync/frame.lua").is_file() {
        assert!(dir.pop(), "invsync/ not found");
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.join("invsync"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lua"))
        .map(|n| format!("invsync/{n}"))
        .collect();
    on_disk.sort();
    // the core and the Factorio adapter
    let mut embedded: Vec<String> = MODULES
        .iter()
        .chain(ADAPTER_MODULES)
        .map(|m| m.path.to_owned())
        .collect();
    embedded.sort();
    assert_eq!(embedded, on_disk);
    for m in MODULES.iter().chain(ADAPTER_MODULES) {
        let text = std::fs::read_to_string(dir.join(m.path)).unwrap();
        assert_eq!(text, m.source, "{} is stale", m.path);
    }
}

/// Runs the same traffic in a fresh Lua state and returns the events and final state, as text.
fn run_traffic() -> String {
    let lua: Lua = common::lua();
    lua.load(
        r#"
        local t = require("testlib")
        local R = require("invsync.reassembler")
        local S = require("invsync.sender")
        local base64 = require("invsync.base64")
        local r = t.rng(42)
        local rx = R.new({ accept = { "raw", "lz4", "zlib" }, max_age_ticks = 50 })
        local frames = {}
        for id = 1, 6 do
          local payload = r.bytes(r.int(0, 3000), 32, 126)
          local method = id % 2 == 0 and "zlib" or "raw"
          local fs = S.frames(payload, { id = id, method = method, max_frame = 300,
            deflate_b64 = function(p) return base64.encode(p) end })
          for i = 1, #fs do if r.int(1, 10) > 1 then frames[#frames + 1] = fs[i] end end
        end
        r.shuffle(frames)
        local log = {}
        local env = { inflate_b64 = function(s) return base64.decode(s) end }
        for i = 1, #frames do
          local p = R.push(rx, frames[i], i)
          log[#log + 1] = p.status .. " " .. tostring(p.id) .. " " .. tostring(p.have)
          for _, e in ipairs(R.step(rx, 700, i, env)) do
            log[#log + 1] = e.kind .. " " .. tostring(e.id) .. " " .. tostring(e.error and e.error.name)
          end
        end
        for tick = #frames, #frames + 100 do
          for _, e in ipairs(R.step(rx, 700, tick, env)) do
            log[#log + 1] = e.kind .. " " .. tostring(e.id) .. " " .. t.dump(e.missing)
          end
        end
        return table.concat(log, "\n") .. "\n" .. t.dump(rx)
        "#,
    )
    .eval::<String>()
    .unwrap()
}

#[test]
fn behaviour_does_not_depend_on_the_lua_state() {
    let a = run_traffic();
    let b = run_traffic();
    assert!(a.contains("message"), "some messages complete");
    assert!(a.contains("expired"), "the incomplete ones expire");
    assert_eq!(a, b);
}

#[test]
fn functions_are_reachable_through_require() {
    let lua = game_lua().unwrap();
    let hex: Function = common::func(&lua, "invsync.crc32", "hex");
    assert_eq!(hex.call::<String>(0xcbf43926u32).unwrap(), "cbf43926");
}
