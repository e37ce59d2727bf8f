//! One frame: parsing and building the lines of PROTOCOL.md section 2, in both header formats.
//!
//! ```text
//! IS1 <fcrc> <id> <index>/<count> <method> <plen> <wlen> <mcrc> <data>      the long header
//! ~<fcrc><kind><id>[<plen>.]<data>                                          short, one chunk
//! ~<fcrc><KIND><id><mcrc><index>.<count>.<wlen>.[<plen>.]<data>             short, a chunk of several
//! ```
//!
//! The short header (2.5) writes numbers in base 64, the method as one letter whose case says
//! whether the message has one chunk, and leaves out what a one-chunk frame implies (`index`,
//! `count`, `wlen` and `mcrc`) and `plen` for `raw`.
//!
//! Parsing is strict (canonical numbers, lowercase hex, single spaces) so that two frames are
//! exact duplicates if and only if they are byte-identical, and it checks in the order that
//! PROTOCOL.md section 3 fixes, so every implementation names the same error for a frame with one
//! defect.

use crate::error::{Error, FrameRef};
use crate::method::Method;
use crate::text::{self, TextProblem};

/// The magic and version that start every frame with the long header.
pub const MAGIC: &str = "IS1";
/// The marker that starts every frame with the short header (PROTOCOL.md 2.5).
pub const SHORT_MAGIC: u8 = b'~';
/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest number of decimal digits in `id`, `index` and `count`.
const MAX_U32_DIGITS: usize = 10;
/// Largest number of decimal digits in `plen` and `wlen` (2^53 - 1 has 16).
const MAX_LEN_DIGITS: usize = 16;
/// Largest `plen`/`wlen` a frame may state (the largest integer a Lua 5.2 double holds exactly).
pub const MAX_LEN: u64 = (1 << 53) - 1;
/// Base-64 digits of the short header's fixed-width fields (`fcrc`, `id`, `mcrc`): 36 bits.
const FIXED_DIGITS: usize = 6;
/// Largest number of base-64 digits of `index` and `count` (2^32 - 1 has 6).
const MAX_U32_DIGITS_64: usize = 6;
/// Largest number of base-64 digits of `plen` and `wlen` (2^53 - 1 has 9).
const MAX_LEN_DIGITS_64: usize = 9;
/// The digits of the short header's numbers, values 0 to 63: RFC 4648's base64 alphabet.
const DIGITS_64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Where the body (what `fcrc` covers) starts in a frame with the short header: after `~<fcrc>`.
const SHORT_BODY_START: usize = 1 + FIXED_DIGITS;

/// The two header formats of a frame (PROTOCOL.md 2 and 2.5). Receivers read both; a sender
/// writes the short one only to a receiver that declares `short_header` (section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaderFormat {
    /// `IS1 <fcrc> <id> <index>/<count> <method> <plen> <wlen> <mcrc> `.
    #[default]
    Long,
    /// `~<fcrc><kind><id>...`, base-64 numbers, only the fields the frame needs.
    Short,
}

/// The message-level fields of a frame's header, shared by all chunks of a message, plus `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message id, >= 1.
    pub id: u32,
    /// Chunk number, 1 ..= `count`.
    pub index: u32,
    /// Number of chunks, >= 1.
    pub count: u32,
    /// How the payload was encoded.
    pub method: Method,
    /// Payload length after decoding.
    pub payload_len: u64,
    /// Length of the whole wire text (all chunks' data).
    pub wire_len: u64,
    /// CRC-32 of the whole wire text.
    pub message_crc: u32,
}

impl Header {
    /// Where this frame sits, for error messages.
    pub fn at(&self) -> FrameRef {
        FrameRef {
            id: self.id,
            index: self.index,
            count: self.count,
        }
    }

    /// Appends `<id> <index>/<count> <method> <plen> <wlen> <mcrc> ` (the body before the data).
    fn write_body_prefix(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "{} {}/{} {} {} {} {:08x} ",
            self.id,
            self.index,
            self.count,
            self.method,
            self.payload_len,
            self.wire_len,
            self.message_crc
        );
    }

    /// Appends the short header's body before the data (PROTOCOL.md 2.5): the kind letter,
    /// `id`, and for a chunk of several `mcrc`, `index.count.wlen.`; `plen.` unless `raw`.
    fn write_short_prefix(&self, out: &mut String) {
        let letter = self.method.as_str().as_bytes()[0];
        if self.count == 1 {
            out.push(char::from(letter));
            push_fixed(out, self.id);
        } else {
            out.push(char::from(letter.to_ascii_uppercase()));
            push_fixed(out, self.id);
            push_fixed(out, self.message_crc);
            for n in [u64::from(self.index), u64::from(self.count), self.wire_len] {
                push_number(out, n);
                out.push('.');
            }
        }
        if self.method != Method::Raw {
            push_number(out, self.payload_len);
            out.push('.');
        }
    }

    /// Length of the complete frame line with the long header for `data_len` bytes of data.
    pub fn frame_len(&self, data_len: usize) -> usize {
        self.frame_len_as(HeaderFormat::Long, data_len)
    }

    /// Length of the complete frame line in `format` for `data_len` bytes of data.
    pub fn frame_len_as(&self, format: HeaderFormat, data_len: usize) -> usize {
        let mut s = String::with_capacity(64);
        match format {
            HeaderFormat::Long => {
                self.write_body_prefix(&mut s);
                MAGIC.len() + 1 + 8 + 1 + s.len() + data_len
            }
            HeaderFormat::Short => {
                self.write_short_prefix(&mut s);
                SHORT_BODY_START + s.len() + data_len
            }
        }
    }

    /// Builds the frame line carrying `data` with the long header. `data` must already be valid
    /// for the method.
    pub fn build(&self, data: &str) -> String {
        self.build_as(HeaderFormat::Long, data)
    }

    /// Builds the frame line carrying `data` in `format`. `data` must already be valid for the
    /// method, and for a one-chunk message be the whole wire text (the short header implies
    /// `wlen` and `mcrc` from it).
    pub fn build_as(&self, format: HeaderFormat, data: &str) -> String {
        // Write a placeholder checksum, then the body, then fill the checksum in: one copy of data.
        let mut frame = String::with_capacity(80 + data.len());
        let body_start = match format {
            HeaderFormat::Long => {
                frame.push_str(MAGIC);
                frame.push_str(" 00000000 ");
                MAGIC.len() + 10
            }
            HeaderFormat::Short => {
                frame.push(char::from(SHORT_MAGIC));
                frame.push_str("AAAAAA");
                SHORT_BODY_START
            }
        };
        match format {
            HeaderFormat::Long => self.write_body_prefix(&mut frame),
            HeaderFormat::Short => self.write_short_prefix(&mut frame),
        }
        frame.push_str(data);
        let fcrc = crc32fast::hash(&frame.as_bytes()[body_start..]);
        let mut digits = String::with_capacity(8);
        let crc_at = match format {
            HeaderFormat::Long => {
                digits.push_str(&format!("{fcrc:08x}"));
                MAGIC.len() + 1..MAGIC.len() + 9
            }
            HeaderFormat::Short => {
                push_fixed(&mut digits, fcrc);
                1..SHORT_BODY_START
            }
        };
        frame.replace_range(crc_at, &digits);
        frame
    }
}

/// Appends `n` as exactly [`FIXED_DIGITS`] base-64 digits, most significant first.
fn push_fixed(out: &mut String, n: u32) {
    for i in (0..FIXED_DIGITS).rev() {
        out.push(char::from(
            DIGITS_64[(u64::from(n) >> (6 * i)) as usize & 63],
        ));
    }
}

/// Appends `n` in base 64 without leading zero digits (`A` for zero).
fn push_number(out: &mut String, n: u64) {
    let digits = (64 - n.leading_zeros() as usize).div_ceil(6).max(1);
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS_64[(n >> (6 * i)) as usize & 63]));
    }
}

/// The value of a base-64 digit, if `b` is one.
fn digit_64(b: u8) -> Option<u64> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u64::from(v))
}

/// A parsed frame. `data` borrows from the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header's fields.
    pub header: Header,
    /// The `fcrc` field.
    pub frame_crc: u32,
    /// This chunk's data.
    pub data: &'a [u8],
    /// The header format the frame came in.
    pub format: HeaderFormat,
    /// What `fcrc` covers: everything after `IS1 <fcrc> ` or `~<fcrc>`.
    body: &'a [u8],
}

/// Reads the fields of a frame line one at a time.
struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// The bytes up to the next `sep` (which is consumed). `None` if there is none.
    fn until(&mut self, sep: u8) -> Option<&'a [u8]> {
        let rest = &self.line[self.pos..];
        let end = rest.iter().position(|&b| b == sep)?;
        self.pos += end + 1;
        Some(&rest[..end])
    }

    fn field(&mut self, name: &'static str, sep: u8) -> Result<&'a [u8], Error> {
        self.until(sep).ok_or_else(|| Error::MalformedHeader {
            field: name,
            reason: if sep == b' ' {
                "missing (the header ends early)".into()
            } else {
                format!("missing `{}` separator", sep as char)
            },
        })
    }
}

fn malformed(field: &'static str, reason: impl Into<String>) -> Error {
    Error::MalformedHeader {
        field,
        reason: reason.into(),
    }
}

/// A canonical decimal: no leading zero (except `0` itself when allowed), at most `max_digits`.
fn parse_decimal(
    field: &'static str,
    s: &[u8],
    max_digits: usize,
    allow_zero: bool,
) -> Result<u64, Error> {
    if s.is_empty() {
        return Err(malformed(field, "empty"));
    }
    if !s.iter().all(u8::is_ascii_digit) {
        return Err(malformed(
            field,
            format!("`{}` is not a decimal number", String::from_utf8_lossy(s)),
        ));
    }
    if s.len() > 1 && s[0] == b'0' {
        return Err(malformed(
            field,
            format!("`{}` has a leading zero", String::from_utf8_lossy(s)),
        ));
    }
    if s.len() > max_digits {
        return Err(malformed(
            field,
            format!("{} digits is more than {max_digits}", s.len()),
        ));
    }
    let v = s.iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    if v == 0 && !allow_zero {
        return Err(malformed(field, "must be at least 1"));
    }
    Ok(v)
}

fn parse_u32(field: &'static str, s: &[u8]) -> Result<u32, Error> {
    let v = parse_decimal(field, s, MAX_U32_DIGITS, false)?;
    u32::try_from(v).map_err(|_| malformed(field, format!("{v} is over 4294967295")))
}

fn parse_len(field: &'static str, s: &[u8]) -> Result<u64, Error> {
    let v = parse_decimal(field, s, MAX_LEN_DIGITS, true)?;
    if v > MAX_LEN {
        return Err(malformed(field, format!("{v} is over 2^53-1")));
    }
    Ok(v)
}

fn parse_crc(field: &'static str, s: &[u8]) -> Result<u32, Error> {
    if s.len() != 8
        || !s
            .iter()
            .all(|&b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(malformed(
            field,
            format!(
                "`{}` is not 8 lowercase hex digits",
                String::from_utf8_lossy(s)
            ),
        ));
    }
    // Eight hex digits always fit.
    Ok(s.iter().fold(0u32, |v, &b| {
        let d = if b.is_ascii_digit() {
            b - b'0'
        } else {
            b - b'a' + 10
        };
        (v << 4) | u32::from(d)
    }))
}

impl<'a> Frame<'a> {
    /// Parses and verifies one frame line (without a stdout marker or line end).
    ///
    /// Runs the syntax checks and the `fcrc` check of PROTOCOL.md section 3 in their order.
    /// Limits and message state are the [`crate::Reassembler`]'s business.
    pub fn parse(line: &'a [u8]) -> Result<Frame<'a>, Error> {
        let frame = Self::parse_unverified(line)?;
        frame.verify()?;
        Ok(frame)
    }

    /// Like [`Frame::parse`] but without the `fcrc` check, for receivers that defer it.
    pub fn parse_unverified(line: &'a [u8]) -> Result<Frame<'a>, Error> {
        if line.first() == Some(&SHORT_MAGIC) {
            return parse_short(line);
        }
        check_magic(line)?;
        check_control_bytes(line, data_start_hint)?;
        if line.get(MAGIC.len()) != Some(&b' ') {
            return Err(malformed("magic", "`IS1` must be followed by one space"));
        }
        let mut f = Fields {
            line,
            pos: MAGIC.len() + 1,
        };
        let frame_crc = parse_crc("fcrc", f.field("fcrc", b' ')?)?;
        let id = parse_u32("id", f.field("id", b' ')?)?;
        // Zero is a well-formed number here, but out of range (checked once `count` is known).
        let index = parse_decimal("index", f.field("index", b'/')?, MAX_U32_DIGITS, true)?;
        let index = u32::try_from(index)
            .map_err(|_| malformed("index", format!("{index} is over 4294967295")))?;
        let count = parse_u32("count", f.field("count", b' ')?)?;
        let method_name = f.field("method", b' ')?;
        let plen = parse_len("plen", f.field("plen", b' ')?)?;
        let wlen = parse_len("wlen", f.field("wlen", b' ')?)?;
        let message_crc = parse_crc("mcrc", f.field("mcrc", b' ')?)?;
        let method = match Method::from_wire(method_name) {
            Some(m) => m,
            None if !method_name.is_empty()
                && method_name[0].is_ascii_lowercase()
                && method_name
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                return Err(Error::UnknownMethod {
                    method: String::from_utf8_lossy(method_name).into(),
                });
            }
            None => {
                return Err(malformed(
                    "method",
                    format!(
                        "`{}` is not a method name",
                        String::from_utf8_lossy(method_name)
                    ),
                ));
            }
        };
        if index == 0 || index > count {
            return Err(Error::IndexOutOfRange { id, index, count });
        }
        let data_offset = f.pos;
        let data = &line[data_offset..];
        let header = Header {
            id,
            index,
            count,
            method,
            payload_len: plen,
            wire_len: wlen,
            message_crc,
        };
        if method == Method::Raw && plen != wlen {
            return Err(malformed(
                "plen",
                format!("raw payload length {plen} differs from wire length {wlen}"),
            ));
        }
        check_lengths(&header, data)?;
        check_data(&header, data, data_offset)?;
        Ok(Frame {
            header,
            frame_crc,
            data,
            format: HeaderFormat::Long,
            body: &line[MAGIC.len() + 10..],
        })
    }

    /// Checks `fcrc` against the body.
    pub fn verify(&self) -> Result<(), Error> {
        let actual = crc32fast::hash(self.body);
        if actual != self.frame_crc {
            return Err(Error::FrameChecksumMismatch {
                at: self.header.at(),
                expected: self.frame_crc,
                actual,
            });
        }
        Ok(())
    }
}

/// The header's consistency with the data's length (PROTOCOL.md 3, end of step 4).
fn check_lengths(header: &Header, data: &[u8]) -> Result<(), Error> {
    let wlen = header.wire_len;
    if data.len() as u64 > wlen {
        return Err(malformed(
            "data",
            format!("{} bytes of data is more than wlen {wlen}", data.len()),
        ));
    }
    if data.is_empty() && wlen > 0 {
        return Err(malformed("data", "empty chunk in a non-empty message"));
    }
    Ok(())
}

/// Reads the short header's fields (PROTOCOL.md 2.5) one at a time.
struct ShortFields<'a> {
    line: &'a [u8],
    pos: usize,
}

impl ShortFields<'_> {
    /// A fixed-width field of [`FIXED_DIGITS`] base-64 digits, at most 2^32 - 1.
    fn fixed(&mut self, field: &'static str) -> Result<u32, Error> {
        let s = self
            .line
            .get(self.pos..self.pos + FIXED_DIGITS)
            .ok_or_else(|| malformed(field, "missing (the header ends early)"))?;
        let v = s.iter().try_fold(0u64, |v, &b| Some(v << 6 | digit_64(b)?));
        let v = v.ok_or_else(|| {
            malformed(
                field,
                format!("`{}` is not 6 base-64 digits", String::from_utf8_lossy(s)),
            )
        })?;
        self.pos += FIXED_DIGITS;
        u32::try_from(v).map_err(|_| malformed(field, format!("{v} is over 4294967295")))
    }

    /// A base-64 number ended by `.`: no leading zero digit, at most `max_digits` digits.
    fn number(
        &mut self,
        field: &'static str,
        max_digits: usize,
        max: u64,
        allow_zero: bool,
    ) -> Result<u64, Error> {
        let rest = &self.line[self.pos..];
        let end = rest
            .iter()
            .take(max_digits + 1)
            .position(|&b| b == b'.')
            .ok_or_else(|| {
                if rest.len() > max_digits
                    && rest[..=max_digits].iter().all(|&b| digit_64(b).is_some())
                {
                    malformed(field, format!("more than {max_digits} base-64 digits"))
                } else {
                    malformed(field, "missing `.` after it")
                }
            })?;
        let s = &rest[..end];
        let bad = |reason: String| malformed(field, reason);
        if s.is_empty() {
            return Err(bad("empty".into()));
        }
        if s.len() > 1 && s[0] == b'A' {
            return Err(bad(format!(
                "`{}` has a leading zero digit",
                String::from_utf8_lossy(s)
            )));
        }
        let v = s
            .iter()
            .try_fold(0u64, |v, &b| Some(v << 6 | digit_64(b)?))
            .ok_or_else(|| {
                bad(format!(
                    "`{}` is not a base-64 number",
                    String::from_utf8_lossy(s)
                ))
            })?;
        if v > max {
            return Err(bad(format!("{v} is over {max}")));
        }
        if v == 0 && !allow_zero {
            return Err(bad("must be at least 1".into()));
        }
        self.pos += end + 1;
        Ok(v)
    }
}

/// `ForbiddenCharacter` for the first control byte of `line`, naming the part it is in by
/// where `data_start` (the header form's own estimate) puts the data.
fn check_control_bytes(line: &[u8], data_start: fn(&[u8]) -> usize) -> Result<(), Error> {
    match text::find_control_byte(line) {
        None => Ok(()),
        Some(offset) => Err(Error::ForbiddenCharacter {
            offset,
            byte: line[offset],
            part: if offset < data_start(line) {
                "header"
            } else {
                "data"
            },
        }),
    }
}

/// A frame with the short header (PROTOCOL.md 2.5), checked in the order of section 3.
fn parse_short(line: &[u8]) -> Result<Frame<'_>, Error> {
    check_control_bytes(line, short_data_start_hint)?;
    let mut f = ShortFields { line, pos: 1 };
    let frame_crc = f.fixed("fcrc")?;
    let kind = *line
        .get(f.pos)
        .ok_or_else(|| malformed("method", "missing (the header ends early)"))?;
    f.pos += 1;
    let method = match kind.to_ascii_lowercase() {
        b'r' => Method::Raw,
        b'l' => Method::Lz4,
        b'z' => Method::Zlib,
        b's' => Method::Solid,
        _ if kind.is_ascii_alphabetic() => {
            return Err(Error::UnknownMethod {
                method: char::from(kind).into(),
            });
        }
        _ => {
            return Err(malformed(
                "method",
                format!(
                    "`{}` is not a method letter",
                    char::from(kind).escape_debug()
                ),
            ));
        }
    };
    let one = kind.is_ascii_lowercase();
    let id = f.fixed("id")?;
    if id == 0 {
        return Err(malformed("id", "must be at least 1"));
    }
    let mut header = if one {
        // `wlen`, `plen` of `raw` and `mcrc` follow from the data, below.
        Header {
            id,
            index: 1,
            count: 1,
            method,
            payload_len: 0,
            wire_len: 0,
            message_crc: 0,
        }
    } else {
        let message_crc = f.fixed("mcrc")?;
        let max_u32 = u64::from(u32::MAX);
        // Zero is a well-formed number here, but out of range (checked once `count` is known).
        let index = f.number("index", MAX_U32_DIGITS_64, max_u32, true)? as u32;
        let count = f.number("count", MAX_U32_DIGITS_64, max_u32, false)? as u32;
        let wlen = f.number("wlen", MAX_LEN_DIGITS_64, MAX_LEN, true)?;
        Header {
            id,
            index,
            count,
            method,
            payload_len: wlen,
            wire_len: wlen,
            message_crc,
        }
    };
    if method != Method::Raw {
        header.payload_len = f.number("plen", MAX_LEN_DIGITS_64, MAX_LEN, true)?;
    }
    let data_offset = f.pos;
    let data = &line[data_offset..];
    if !one {
        if header.count < 2 {
            return Err(malformed(
                "count",
                "a message of one chunk has the one-chunk kind (a lowercase letter)",
            ));
        }
        if header.index == 0 || header.index > header.count {
            return Err(Error::IndexOutOfRange {
                id,
                index: header.index,
                count: header.count,
            });
        }
        check_lengths(&header, data)?;
    } else {
        // One chunk: the data is the whole wire text.
        header.wire_len = data.len() as u64;
        if method == Method::Raw {
            header.payload_len = header.wire_len;
        }
    }
    check_data(&header, data, data_offset)?;
    if one {
        header.message_crc = crc32fast::hash(data);
    }
    Ok(Frame {
        header,
        frame_crc,
        data,
        format: HeaderFormat::Short,
        body: &line[SHORT_BODY_START..],
    })
}

/// Where the data of a short-header frame would start if its header were well formed: after
/// the fixed fields its kind letter implies and the `.` that ends each number.
fn short_data_start_hint(line: &[u8]) -> usize {
    let kind = line.get(SHORT_BODY_START).copied().unwrap_or(b'r');
    let (fixed, mut dots) = if kind.is_ascii_uppercase() {
        (SHORT_BODY_START + 1 + 2 * FIXED_DIGITS, 3)
    } else {
        (SHORT_BODY_START + 1 + FIXED_DIGITS, 0)
    };
    if !matches!(kind, b'r' | b'R') {
        dots += 1;
    }
    if dots == 0 {
        return fixed.min(line.len());
    }
    line.iter()
        .enumerate()
        .skip(fixed)
        .filter(|(_, b)| **b == b'.')
        .nth(dots - 1)
        .map_or(line.len(), |(i, _)| i + 1)
}

/// Where the data would start if the header were well formed: after the 8th space (`IS1`,
/// `fcrc`, `id`, `index/count`, `method`, `plen`, `wlen` and `mcrc` each end with one).
fn data_start_hint(line: &[u8]) -> usize {
    line.iter()
        .enumerate()
        .filter(|(_, b)| **b == b' ')
        .nth(7)
        .map_or(line.len(), |(i, _)| i + 1)
}

fn check_magic(line: &[u8]) -> Result<(), Error> {
    let shown = || {
        let head = &line[..line.len().min(12)];
        format!(
            "starts with `{}`",
            String::from_utf8_lossy(head).escape_debug()
        )
    };
    if !line.starts_with(b"IS") {
        return Err(Error::NotAFrame { reason: shown() });
    }
    let digits = line[2..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(Error::NotAFrame { reason: shown() });
    }
    let version = &line[2..2 + digits];
    if version != b"1" {
        return Err(Error::UnsupportedVersion {
            version: String::from_utf8_lossy(version).into(),
        });
    }
    Ok(())
}

fn check_data(header: &Header, data: &[u8], data_offset: usize) -> Result<(), Error> {
    if header.method.is_base64() {
        // lz4: slices of one base64 text, padded only at its very end; zlib: every chunk is a
        // complete padded base64 text of its own stream.
        let whole = header.method == Method::Zlib;
        let last = header.index == header.count;
        let pad = data.iter().rev().take_while(|&&b| b == b'=').count();
        let body_len = data.len() - pad;
        if let Some(i) = text::first_where(&data[..body_len], |b| !text::is_base64_char(b)) {
            return Err(Error::ForbiddenCharacter {
                offset: data_offset + i,
                byte: data[i],
                part: "base64 data",
            });
        }
        if pad > 0 && (!(last || whole) || pad > 2) {
            // Padding belongs only at the end of a base64 text.
            let i = body_len + if last || whole { 2 } else { 0 };
            return Err(Error::ForbiddenCharacter {
                offset: data_offset + i,
                byte: b'=',
                part: "base64 data",
            });
        }
        if (whole || !last) && !data.len().is_multiple_of(4) {
            return Err(Error::MisalignedChunk {
                at: header.at(),
                len: data.len(),
            });
        }
    } else if let Some((i, problem)) = text::find_non_text(data) {
        return Err(match problem {
            TextProblem::InvalidUtf8 => Error::InvalidUtf8 {
                offset: data_offset + i,
            },
            TextProblem::Control(b) | TextProblem::C1Control(b) => Error::ForbiddenCharacter {
                offset: data_offset + i,
                byte: b,
                part: "raw data",
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            id: 42,
            index: 1,
            count: 2,
            method: Method::Raw,
            payload_len: 11,
            wire_len: 11,
            message_crc: crc32fast::hash(b"hello world"),
        }
    }

    #[test]
    fn build_then_parse_round_trips() {
        let h = header();
        let line = h.build("hello ");
        assert!(line.starts_with("IS1 "));
        assert_eq!(line.len(), h.frame_len(6));
        let f = Frame::parse(line.as_bytes()).unwrap();
        assert_eq!(f.header, h);
        assert_eq!(f.data, b"hello ");
    }

    #[test]
    fn a_control_byte_in_the_data_is_reported_in_the_data() {
        // Data with a space after the bad byte: the hint used to count one space too many and
        // took that space for the header's end.
        let h = Header {
            payload_len: 13,
            wire_len: 13,
            count: 1,
            ..header()
        };
        let line = h.build("hello\u{1} world");
        let at = line.find('\u{1}').unwrap();
        match Frame::parse(line.as_bytes()) {
            Err(Error::ForbiddenCharacter { offset, part, .. }) => {
                assert_eq!((offset, part), (at, "data"));
            }
            other => panic!("{other:?}"),
        }
        // A control byte before the data's start is in the header.
        let mut bad = line.clone().into_bytes();
        bad[line.find(" 1/1").unwrap()] = 1;
        match Frame::parse(&bad) {
            Err(Error::ForbiddenCharacter { part, .. }) => assert_eq!(part, "header"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn known_frame_layout() {
        // The fields in order, separated by single spaces, and the data after the last one.
        let line = header().build("hello ");
        let fields: Vec<&str> = line.splitn(9, ' ').collect();
        assert_eq!(fields[0], "IS1");
        assert_eq!(
            fields[1],
            format!("{:08x}", crc32fast::hash(&line.as_bytes()[13..]))
        );
        assert_eq!(
            &fields[2..],
            &["42", "1/2", "raw", "11", "11", "0d4a1185", "hello "]
        );
    }

    #[test]
    fn crc_check_covers_header_and_data() {
        // Every byte after the magic, in both formats (the short header's digits are base 64).
        for (format, from, a, b) in [
            (HeaderFormat::Long, 4, b'1', b'2'),
            (HeaderFormat::Short, 1, b'B', b'C'),
        ] {
            let line = header().build_as(format, "hello ");
            for i in from..line.len() {
                let mut bad = line.clone().into_bytes();
                bad[i] = if bad[i] == a { b } else { a };
                assert!(
                    Frame::parse(&bad).is_err(),
                    "{format:?}: corruption at {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn names_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (b"hello", "NotAFrame"),
            (b"IS", "NotAFrame"),
            (
                b"IS2 00000000 1 1/1 raw 0 0 00000000 ",
                "UnsupportedVersion",
            ),
            (
                b"IS12 00000000 1 1/1 raw 0 0 00000000 ",
                "UnsupportedVersion",
            ),
            (b"IS1 00000000 01 1/1 raw 0 0 00000000 ", "MalformedHeader"),
            (b"IS1 0000000A 1 1/1 raw 0 0 00000000 ", "MalformedHeader"),
            (b"IS1 00000000 1 1/1  raw 0 0 00000000 ", "MalformedHeader"),
            (b"IS1 00000000 1 0/1 raw 0 0 00000000 ", "IndexOutOfRange"),
            (b"IS1 00000000 1 2/1 raw 0 0 00000000 ", "IndexOutOfRange"),
            (b"IS1 00000000 1 1/1 gzip 0 0 00000000 ", "UnknownMethod"),
            (b"IS1 00000000 1 1/1 RAW 0 0 00000000 ", "MalformedHeader"),
            (b"IS1 00000000 1 1/1 raw 1 2 00000000 ab", "MalformedHeader"),
            (b"IS1 00000000 1 1/1 raw 1 1 00000000 ab", "MalformedHeader"),
            (b"IS1 00000000 1 1/1 raw 1 1 00000000", "MalformedHeader"),
            (
                b"IS1 00000000 1 1/1 raw 2 2 00000000 a\x01",
                "ForbiddenCharacter",
            ),
            (b"IS1 00000000 1 1/1 raw 2 2 00000000 a\xff", "InvalidUtf8"),
            (
                b"IS1 00000000 1 1/1 lz4 2 4 00000000 AA!A",
                "ForbiddenCharacter",
            ),
            (
                b"IS1 00000000 1 1/2 lz4 2 8 00000000 AA==",
                "ForbiddenCharacter",
            ),
            (
                b"IS1 00000000 1 1/2 lz4 2 8 00000000 AAAAAA",
                "MisalignedChunk",
            ),
            (
                b"IS1 00000000 1 1/1 raw 2 2 00000000 ab",
                "FrameChecksumMismatch",
            ),
        ];
        for (line, want) in cases {
            let got = Frame::parse(line).expect_err(&String::from_utf8_lossy(line));
            assert_eq!(
                got.name(),
                *want,
                "{} -> {got}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn short_header_round_trips_in_both_shapes() {
        let several = header();
        let line = several.build_as(HeaderFormat::Short, "hello ");
        // `~`, fcrc, kind, id, mcrc, then index.count.wlen. and no plen for raw
        assert_eq!(&line[7..], "RAAAAAqANShGFB.C.L.hello ");
        assert_eq!(line.len(), several.frame_len_as(HeaderFormat::Short, 6));
        let f = Frame::parse(line.as_bytes()).unwrap();
        assert_eq!(
            (f.header, f.data, f.format),
            (several, &b"hello "[..], HeaderFormat::Short)
        );
        // One chunk: wlen, plen of raw and mcrc follow from the data.
        let one = Header {
            count: 1,
            method: Method::Lz4,
            payload_len: 300,
            wire_len: 4,
            message_crc: crc32fast::hash(b"AAAA"),
            ..header()
        };
        let line = one.build_as(HeaderFormat::Short, "AAAA");
        assert_eq!(&line[7..], "lAAAAAqEs.AAAA");
        let f = Frame::parse(line.as_bytes()).unwrap();
        assert_eq!(f.header, one);
        assert_eq!(f.header.build_as(f.format, "AAAA"), line);
        // 22 bytes shorter than the long header here (30 with a 10-digit id)
        assert_eq!(
            one.frame_len(4) - one.frame_len_as(HeaderFormat::Short, 4),
            22
        );
    }

    #[test]
    fn largest_numbers_parse_and_one_more_does_not() {
        let h = Header {
            id: u32::MAX,
            index: u32::MAX,
            count: u32::MAX,
            method: Method::Zlib,
            payload_len: MAX_LEN,
            wire_len: MAX_LEN,
            message_crc: u32::MAX,
        };
        // Long: 4294967295 as it is. Short: 2^32 - 1 is `D/////`, 2^53 - 1 is `f////////`.
        let cases = [
            (HeaderFormat::Long, "4294967295 ", "4294967296 "),
            (HeaderFormat::Short, "D/////", "E/////"),
            (HeaderFormat::Short, ".f////////.", ".gAAAAAAAA."),
        ];
        for (format, max, over) in cases {
            let line = h.build_as(format, "AAAA");
            assert_eq!(Frame::parse(line.as_bytes()).unwrap().header, h);
            assert!(line.contains(max), "{line}");
            let over = line.replacen(max, over, 1);
            assert_eq!(
                Frame::parse_unverified(over.as_bytes()).unwrap_err().name(),
                "MalformedHeader",
                "{over}"
            );
        }
    }
}
