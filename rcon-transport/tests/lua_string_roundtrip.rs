//! `lua_long_string` proved against Lua 5.2 itself (mlua, vendored PUC Lua 5.2): whatever the
//! bytes, Lua reads back exactly the same bytes; frame text always takes the unescaped long
//! bracket, at the smallest level that works.

use invsync_rcon_transport::long_bracket_level;
use invsync_rcon_transport::lua_long_string;
use mlua::{Lua, LuaString};
use proptest::prelude::*;

fn lua_value(lua: &Lua, literal: &str) -> mlua::Result<Vec<u8>> {
    let value: LuaString = lua.load(format!("return {literal}")).eval()?;
    Ok(value.as_bytes().to_vec())
}

fn assert_round_trip(lua: &Lua, bytes: &[u8]) -> Result<String, TestCaseError> {
    let literal = lua_long_string(bytes);
    let back = lua_value(lua, &literal)
        .map_err(|e| TestCaseError::fail(format!("{literal:?} does not load: {e}")))?;
    prop_assert_eq!(&back, bytes, "literal {:?}", literal);
    Ok(literal)
}

/// Bytes that stress both paths: brackets, equals signs, quotes, backslashes, newlines, CR,
/// NUL, other controls, multi-byte and invalid UTF-8, digits right after escapes.
fn tricky_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"[]=]]=".to_vec()),
        2 => prop::sample::select(b"\"'\\\n\r\t\x00\x01\x0c\x1b\x7f0123456789a ".to_vec()),
        1 => prop::sample::select(vec![0xc3u8, 0xa9, 0xc2, 0x85, 0xe2, 0x82, 0xac, 0xff, 0x80]),
        1 => any::<u8>(),
    ]
}

#[test]
fn lua_is_really_5_2() {
    let lua = Lua::new();
    let version: String = lua.load("return _VERSION").eval().unwrap();
    assert_eq!(version, "Lua 5.2");
}

#[test]
fn examples() {
    let lua = Lua::new();
    for text in [
        &b""[..],
        b"]",
        b"]]",
        b"x]=",
        b"]=]]==]",
        b"\nleading newline",
        b"cr\rinside",
        b"nul\0byte",
        b"\xff\xfeinvalid",
        b"IS1 0a1b2c3d 1 1/1 raw 3 3 00000000 [[]]",
    ] {
        assert_eq!(
            lua_value(&lua, &lua_long_string(text)).unwrap(),
            text,
            "{text:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_bytes_read_back_exactly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let lua = Lua::new();
        assert_round_trip(&lua, &bytes)?;
    }

    #[test]
    fn tricky_bytes_read_back_exactly(bytes in proptest::collection::vec(tricky_byte(), 0..48)) {
        let lua = Lua::new();
        assert_round_trip(&lua, &bytes)?;
    }

    /// Frame-like text (no control characters) always takes the long bracket, unescaped, at
    /// the smallest level Lua accepts.
    #[test]
    fn frame_text_takes_the_smallest_working_long_bracket(
        text in "[\\]\\[=a-z0-9 é€]{0,40}",
    ) {
        let lua = Lua::new();
        let literal = assert_round_trip(&lua, text.as_bytes())?;
        let level = long_bracket_level(&text);
        let equals = "=".repeat(level);
        prop_assert_eq!(&literal, &format!("[{equals}[{text}]{equals}]"));
        for lower in 0..level {
            let equals = "=".repeat(lower);
            let attempt = format!("[{equals}[{text}]{equals}]");
            let works = lua_value(&lua, &attempt).is_ok_and(|back| back == text.as_bytes());
            prop_assert!(!works, "level {} already works for {:?}", lower, text);
        }
    }
}
