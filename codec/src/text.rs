//! Which bytes may appear in a frame (PROTOCOL.md section 2.1).
//!
//! A frame must survive a stdout line and a Lua long-bracket string untouched, so it holds no
//! control character at all: no C0 byte, no DEL, and (for `raw` text) no C1 character
//! U+0080..U+009F, which some terminals still interpret.

/// Why a byte sequence is not frame text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextProblem {
    /// A C0 control byte or DEL.
    Control(u8),
    /// A C1 control character (U+0080..U+009F); the byte is its second UTF-8 byte.
    C1Control(u8),
    /// Not valid UTF-8 (including overlong forms and surrogates).
    InvalidUtf8,
}

impl std::fmt::Display for TextProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextProblem::Control(b) => write!(f, "control character 0x{b:02x}"),
            TextProblem::C1Control(b) => write!(f, "C1 control character U+00{b:02X}"),
            TextProblem::InvalidUtf8 => f.write_str("invalid UTF-8"),
        }
    }
}

/// True for C0 controls and DEL, the bytes no part of a frame may contain.
#[inline]
pub(crate) fn is_control_byte(b: u8) -> bool {
    // `|` rather than `||`: no branch, so block scans vectorise.
    (b < 0x20) | (b == 0x7f)
}

/// The offset of the first byte for which `pred` holds.
///
/// Frames are validated byte by byte on every push, so this is hot: it tests 32 bytes at a time
/// with a branch-free fold that the compiler turns into vector compares, and only looks for the
/// exact offset inside the block that has a hit.
#[inline]
pub(crate) fn first_where(bytes: &[u8], pred: impl Fn(u8) -> bool + Copy) -> Option<usize> {
    const BLOCK: usize = 32;
    let mut blocks = bytes.chunks_exact(BLOCK);
    for (n, block) in (&mut blocks).enumerate() {
        let hit = block.iter().fold(0u8, |acc, &b| acc | u8::from(pred(b)));
        if hit != 0 {
            return block.iter().position(|&b| pred(b)).map(|i| n * BLOCK + i);
        }
    }
    let done = bytes.len() - blocks.remainder().len();
    blocks
        .remainder()
        .iter()
        .position(|&b| pred(b))
        .map(|i| done + i)
}

/// The offset of the first C0 control byte or DEL, if any.
#[inline]
pub(crate) fn find_control_byte(bytes: &[u8]) -> Option<usize> {
    first_where(bytes, is_control_byte)
}

/// The offset of the first byte that is not printable ASCII (0x20..=0x7e).
#[inline]
pub(crate) fn find_non_printable_ascii(bytes: &[u8]) -> Option<usize> {
    first_where(bytes, |b| b.wrapping_sub(0x20) >= 0x5f)
}

/// The first problem (by offset) that keeps `bytes` from being `raw` frame text.
pub(crate) fn find_non_text(bytes: &[u8]) -> Option<(usize, TextProblem)> {
    // Fast path: printable ASCII only, the common case for JSON.
    let first_special = find_non_printable_ascii(bytes)?;
    let rest = &bytes[first_special..];
    let invalid_at = match std::str::from_utf8(rest) {
        Ok(_) => None,
        Err(e) => Some(first_special + e.valid_up_to()),
    };
    let valid = &rest[..invalid_at.map_or(rest.len(), |i| i - first_special)];
    let control_at =
        find_control_byte(valid).map(|i| (first_special + i, TextProblem::Control(valid[i])));
    // In valid UTF-8, U+0080..U+009F is exactly the pair C2 80..C2 9F.
    let c1_at = valid
        .windows(2)
        .position(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
        .map(|i| (first_special + i, TextProblem::C1Control(valid[i + 1])));
    [
        control_at,
        c1_at,
        invalid_at.map(|i| (i, TextProblem::InvalidUtf8)),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(offset, _)| *offset)
}

/// True for the 64 characters of the standard base64 alphabet (not `=`).
#[inline]
pub(crate) fn is_base64_char(b: u8) -> bool {
    // Written as range compares so that `first_where` vectorises it.
    ((b | 0x20).wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'+') | (b == b'/')
}

/// The largest `end <= limit` that does not split a UTF-8 character of `text`.
pub(crate) fn utf8_floor(text: &[u8], limit: usize) -> usize {
    let mut end = limit.min(text.len());
    while end > 0 && end < text.len() && (text[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_json_is_text() {
        assert_eq!(find_non_text(br#"{"a":[1,2],"b":"x y"}"#), None);
        assert_eq!(find_non_text(b""), None);
    }

    #[test]
    fn reports_first_problem_by_offset() {
        assert_eq!(
            find_non_text(b"ab\ncd"),
            Some((2, TextProblem::Control(b'\n')))
        );
        assert_eq!(
            find_non_text(b"ab\x7f"),
            Some((2, TextProblem::Control(0x7f)))
        );
        assert_eq!(
            find_non_text(b"a\xffb\n"),
            Some((1, TextProblem::InvalidUtf8))
        );
        assert_eq!(
            find_non_text(b"a\nb\xff"),
            Some((1, TextProblem::Control(b'\n')))
        );
        assert_eq!(
            find_non_text("x\u{85}".as_bytes()),
            Some((1, TextProblem::C1Control(0x85)))
        );
        // Overlong encoding of '/' and a UTF-16 surrogate are invalid UTF-8.
        assert_eq!(
            find_non_text(b"\xc0\xaf"),
            Some((0, TextProblem::InvalidUtf8))
        );
        assert_eq!(
            find_non_text(b"\xed\xa0\x80"),
            Some((0, TextProblem::InvalidUtf8))
        );
        // A truncated multi-byte character at the end.
        assert_eq!(
            find_non_text("é".as_bytes()[..1].as_ref()),
            Some((0, TextProblem::InvalidUtf8))
        );
    }

    #[test]
    fn non_ascii_text_is_text() {
        assert_eq!(find_non_text("Grüße, 世界 🎮 \u{a0}".as_bytes()), None);
    }

    #[test]
    fn block_scan_finds_the_first_hit_anywhere() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            for at in 0..len {
                let mut v = vec![b'a'; len];
                v[at] = b'\n';
                if at + 1 < len {
                    v[len - 1] = 0x7f;
                }
                assert_eq!(find_control_byte(&v), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_control_byte(&vec![b' '; len]), None);
        }
        let all: Vec<u8> = (0..=255).collect();
        let alphabet: Vec<u8> = all.iter().copied().filter(|&b| is_base64_char(b)).collect();
        assert_eq!(
            alphabet,
            b"+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        );
        assert_eq!(find_non_printable_ascii(b" ~\x7f"), Some(2));
        assert_eq!(find_non_printable_ascii(b"\x1f"), Some(0));
        assert_eq!(find_non_printable_ascii("aé".as_bytes()), Some(1));
    }

    #[test]
    fn utf8_floor_never_splits_a_character() {
        let s = "aé世🎮".as_bytes(); // 1 + 2 + 3 + 4 bytes
        let floors: Vec<usize> = (0..=s.len()).map(|i| utf8_floor(s, i)).collect();
        assert_eq!(floors, vec![0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]);
    }
}
