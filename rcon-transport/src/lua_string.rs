//! The one function that turns text into a Lua string literal for an RCON command.
//!
//! Every piece of data that goes into Lua source sent to the game passes through
//! [`lua_long_string`]; nothing else in this crate formats data into Lua.
//!
//! * Text that a long bracket carries unchanged (valid UTF-8 without control characters) becomes
//!   `[==[text]==]`, with the level picked as PROTOCOL.md section 5.2 says: the smallest `n` such
//!   that `"]" .. ("="):rep(n) .. "]"` does not occur in `text .. "]" .. ("="):rep(n)`. Frames
//!   always take this path, so no frame byte is escaped.
//! * Anything else falls back to a double-quoted literal with escapes. A long bracket cannot carry
//!   it faithfully: Lua drops a newline right after the opening bracket and turns CR, CR LF and
//!   LF CR into LF; and control characters, NUL or invalid UTF-8 have no business in a console
//!   command line. The fallback escapes `"` and `\`, writes `\n`, `\r`, `\t`, and every other
//!   control character, every C1 control (U+0080-U+009F) and every byte of invalid UTF-8 as a
//!   three-digit `\ddd` (three digits always, so a following digit cannot join the escape).
//!   Other characters pass through as UTF-8.

/// A Lua 5.2 string literal whose value is exactly the bytes of `text`.
pub fn lua_long_string(text: impl AsRef<[u8]>) -> String {
    let bytes = text.as_ref();
    match std::str::from_utf8(bytes) {
        Ok(text) if fits_long_bracket(text) => long_bracket(text),
        _ => quoted(bytes),
    }
}

/// True if `text` survives a long bracket unchanged and needs no escaping.
fn fits_long_bracket(text: &str) -> bool {
    text.chars().all(|c| !is_escaped_control(c))
}

fn is_escaped_control(c: char) -> bool {
    c.is_control()
}

/// The long-bracket level of PROTOCOL.md 5.2.
pub fn long_bracket_level(text: &str) -> usize {
    let mut level = 0;
    loop {
        let equals = "=".repeat(level);
        let closing = format!("]{equals}]");
        let tail = format!("]{equals}");
        // Only the end of `text` can combine with the appended tail, so look at the text and
        // at its last `closing.len() - 1` bytes joined with the tail.
        let keep = closing.len().saturating_sub(1).min(text.len());
        let mut tail_window = text.as_bytes()[text.len() - keep..].to_vec();
        tail_window.extend_from_slice(tail.as_bytes());
        if !text.contains(&closing) && !contains_bytes(&tail_window, closing.as_bytes()) {
            return level;
        }
        level += 1;
    }
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn long_bracket(text: &str) -> String {
    let level = long_bracket_level(text);
    let equals = "=".repeat(level);
    let mut out = String::with_capacity(text.len() + 2 * level + 4);
    out.push('[');
    out.push_str(&equals);
    out.push('[');
    out.push_str(text);
    out.push(']');
    out.push_str(&equals);
    out.push(']');
    out
}

fn quoted(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if is_escaped_control(c) => {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        push_decimal_escape(&mut out, byte);
                    }
                }
                c => out.push(c),
            }
        }
        for &byte in chunk.invalid() {
            push_decimal_escape(&mut out, byte);
        }
    }
    out.push('"');
    out
}

fn push_decimal_escape(out: &mut String, byte: u8) {
    out.push('\\');
    out.push(char::from(b'0' + byte / 100));
    out.push(char::from(b'0' + byte / 10 % 10));
    out.push(char::from(b'0' + byte % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_use_the_plain_long_bracket() {
        let frame = "IS1 0a1b2c3d 7 1/1 zlib 10 16 00000000 eJzLSM3JyQcABiwCFQ==";
        assert_eq!(lua_long_string(frame), format!("[[{frame}]]"));
    }

    #[test]
    fn the_level_follows_protocol_5_2() {
        assert_eq!(long_bracket_level("a]]b"), 1);
        assert_eq!(long_bracket_level("a]=]b]]"), 2);
        // A trailing "]" would join the closing bracket: "x]" .. "]]" closes early.
        assert_eq!(long_bracket_level("x]"), 1);
        assert_eq!(
            long_bracket_level("x]="),
            0,
            "[[x]=]] closes at the final ]]"
        );
        assert_eq!(long_bracket_level("x]=="), 0);
        assert_eq!(
            long_bracket_level("]=]]"),
            2,
            "]] inside, and ]=] + ]= joins to ]=]"
        );
        assert_eq!(long_bracket_level("]"), 1);
        assert_eq!(long_bracket_level(""), 0);
        assert_eq!(lua_long_string("a]]b"), "[=[a]]b]=]");
    }

    #[test]
    fn control_characters_and_bad_utf8_fall_back_to_escapes() {
        assert_eq!(lua_long_string("\nlead"), "\"\\nlead\"");
        assert_eq!(lua_long_string("a\r\nb"), "\"a\\r\\nb\"");
        assert_eq!(
            lua_long_string(b"q\"\\\x00\x01\xff9"),
            "\"q\\\"\\\\\\000\\001\\2559\""
        );
        assert_eq!(lua_long_string("é\u{85}"), "\"é\\194\\133\"");
    }
}
