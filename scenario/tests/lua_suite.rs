//! Runs the portable Lua test suite (tests/lua/*_spec.lua) inside a game-like Lua state.
//! The same files run under Lua 5.4 and Luau through the portability crate.

mod common;

use mlua::{Function, Table};

fn run_suite(file: &str, source: &str) {
    let lua = common::lua();
    let tests: Table = lua
        .load(source)
        .set_name(format!("@tests/lua/{file}"))
        .eval()
        .unwrap_or_else(|e| panic!("loading {file}: {e}"));
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in tests.sequence_values::<Table>() {
        let case = case.unwrap();
        let name: String = case.get(1).unwrap();
        let test: Function = case.get(2).unwrap();
        ran += 1;
        if let Err(e) = test.call::<()>(()) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(ran > 0, "{file} holds no tests");
    assert!(
        failures.is_empty(),
        "{} of {ran} tests in {file} failed ({}):\n{}",
        failures.len(),
        invsync_scenario::lua_version(&lua),
        failures.join("\n")
    );
}

#[test]
fn codecs_spec() {
    run_suite("codecs_spec.lua", include_str!("lua/codecs_spec.lua"));
}

#[test]
fn join_spec() {
    run_suite("join_spec.lua", include_str!("lua/join_spec.lua"));
}

#[test]
fn frame_spec() {
    run_suite("frame_spec.lua", include_str!("lua/frame_spec.lua"));
}

#[test]
fn reassembler_spec() {
    run_suite(
        "reassembler_spec.lua",
        include_str!("lua/reassembler_spec.lua"),
    );
}

#[test]
fn sender_spec() {
    run_suite("sender_spec.lua", include_str!("lua/sender_spec.lua"));
}

#[test]
fn json_spec() {
    run_suite("json_spec.lua", include_str!("lua/json_spec.lua"));
}

#[test]
fn link_spec() {
    run_suite("link_spec.lua", include_str!("lua/link_spec.lua"));
}
