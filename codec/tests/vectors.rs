//! The shared test vectors in `tests/vectors/` (PROTOCOL.md section 6).
//!
//! This file is their source of truth: it builds every vector from the reference encoder (good
//! ones) or by hand (bad ones), then checks that the committed files are exactly that and that the
//! codec behaves as they say. `INVSYNC_BLESS=1 cargo test -p invsync-codec --test vectors`
//! rewrites the files after a deliberate change.

use std::path::PathBuf;

use invsync_codec::{
    Capabilities, EncodeOptions, Method, MethodChoice, Outcome, Reassembler, ReassemblerConfig,
    encode,
};
use invsync_player_data::{SampleKind, generate};
use serde_json::{Value, json};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

/// The receiver settings every bad vector starts from.
fn default_receiver() -> Value {
    json!({
        "max_frame": 8192,
        "decode": ["raw", "zlib", "solid", "lz4"],
        "max_message": 16777216,
        "max_chunks": 65536,
        "max_messages": 64,
        "max_buffered": 67108864
    })
}

fn config_of(receiver: &Value) -> ReassemblerConfig {
    let mut r = default_receiver();
    for (k, v) in receiver.as_object().unwrap() {
        r[k] = v.clone();
    }
    ReassemblerConfig {
        max_frame: r["max_frame"].as_u64().unwrap() as usize,
        decode: r["decode"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().parse().unwrap())
            .collect(),
        max_message: r["max_message"].as_u64().unwrap(),
        max_chunks: r["max_chunks"].as_u64().unwrap() as u32,
        max_messages: r["max_messages"].as_u64().unwrap() as usize,
        max_buffered: r["max_buffered"].as_u64().unwrap(),
        max_age_ticks: None,
        max_age_frames: None,
        remember_completed: 64,
    }
}

/// Deterministic pseudo-random bytes (xorshift), for incompressible payloads.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn good_vectors() -> Vec<Value> {
    let text = "Grüße aus Köln, 世界, 🎮! ".repeat(12);
    let mut far_repeat = noise(40_000, 7);
    far_repeat.extend_from_within(100..1_100); // a match 40000 bytes back
    // (name, payload, methods, max_frame, id)
    type Case = (&'static str, Vec<u8>, Vec<Method>, usize, u32);
    let cases: Vec<Case> = vec![
        ("empty", vec![], Method::ALL.to_vec(), 100, 1),
        (
            "hello",
            b"hello, world".to_vec(),
            Method::ALL.to_vec(),
            100,
            2,
        ),
        (
            "utf8_text_split_between_characters",
            text.into_bytes(),
            vec![Method::Raw],
            70,
            3,
        ),
        (
            "json_with_brackets",
            br#"{"a":[[1,2],[3]],"s":"]]=]","t":"[==["}"#.to_vec(),
            vec![Method::Raw],
            100,
            4,
        ),
        (
            "all_byte_values",
            (0..=255u8).collect(),
            vec![Method::Lz4, Method::Zlib],
            120,
            5,
        ),
        (
            "run_of_one_byte",
            vec![b'a'; 1000],
            vec![Method::Lz4, Method::Zlib, Method::Solid],
            100,
            6,
        ),
        (
            "period_three",
            b"abc".repeat(700),
            vec![Method::Lz4, Method::Zlib, Method::Solid],
            100,
            7,
        ),
        (
            "long_literal_run",
            noise(3000, 1),
            vec![Method::Lz4],
            500,
            8,
        ),
        (
            "long_match_of_zeros",
            vec![0u8; 20_000],
            vec![Method::Lz4, Method::Zlib, Method::Solid],
            1000,
            9,
        ),
        ("match_40000_back", far_repeat, vec![Method::Lz4], 8192, 10),
        (
            "sample_small",
            generate(SampleKind::Small, 1),
            Method::ALL.to_vec(),
            400,
            11,
        ),
        (
            "many_chunks_big_id",
            b"0123456789".repeat(40),
            vec![Method::Raw],
            60,
            u32::MAX,
        ),
    ];
    let mut out = Vec::new();
    // Every case with the long header, and with the short one (PROTOCOL.md 2.5) all but the
    // 40 kB one, whose frames would only repeat what the others show at four times the size.
    for short in [false, true] {
        for (name, payload, methods, max_frame, id) in &cases {
            if short && *name == "match_40000_back" {
                continue;
            }
            for &method in methods {
                let opts = EncodeOptions {
                    method: MethodChoice::Only(method),
                    receiver: Capabilities {
                        short_header: short,
                        ..Capabilities::all(*max_frame)
                    },
                    zlib_level: 9,
                    ..EncodeOptions::default()
                };
                let e = encode(*id, payload, &opts)
                    .unwrap_or_else(|err| panic!("{name}/{method}: {err}"));
                let prefix = if short { "short/" } else { "" };
                out.push(json!({
                    "name": format!("{prefix}{name}/{method}"),
                    "header": if short { "short" } else { "long" },
                    "method": method.as_str(),
                    "max_frame": max_frame,
                    "id": id,
                    "payload_len": payload.len(),
                    "payload_hex": hex::encode(payload),
                    "frames": e.frames,
                }));
            }
        }
    }
    out
}

/// A base-64 digit of the short header.
fn digit(v: u64) -> char {
    char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[v as usize & 63])
}

/// `v` as the short header's 6 fixed-width base-64 digits.
fn fixed(v: u64) -> String {
    (0..6).rev().map(|i| digit(v >> (6 * i))).collect()
}

/// `v` as a short header number: base-64 digits without a leading zero digit.
fn num(v: u64) -> String {
    let digits = (64 - v.leading_zeros() as usize).div_ceil(6).max(1);
    (0..digits).rev().map(|i| digit(v >> (6 * i))).collect()
}

/// `~<fcrc><body>`: a short-header frame whose checksum is right whatever the body says.
fn short(body: &str) -> String {
    format!(
        "~{}{body}",
        fixed(u64::from(crc32fast::hash(body.as_bytes())))
    )
}

/// The body of a short-header chunk of a raw message of several chunks, up to its data.
fn short_part(id: u32, index: u64, count: u64, wire: &str) -> String {
    format!(
        "R{}{}{}.{}.{}.",
        fixed(u64::from(id)),
        fixed(u64::from(crc32fast::hash(wire.as_bytes()))),
        num(index),
        num(count),
        num(wire.len() as u64)
    )
}

/// `IS1 <crc of body> <body>`: a frame whose checksum is right whatever the body says.
fn framed(body: &str) -> String {
    format!("IS1 {:08x} {body}", crc32fast::hash(body.as_bytes()))
}

fn framed_bytes(body: &[u8]) -> Vec<u8> {
    let mut f = format!("IS1 {:08x} ", crc32fast::hash(body)).into_bytes();
    f.extend_from_slice(body);
    f
}

fn crc(s: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(s))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A one-chunk message whose wire text is `wire`, framed with correct checksums.
fn whole(id: u32, method: &str, plen: usize, wire: &str) -> String {
    framed(&format!(
        "{id} 1/1 {method} {plen} {} {} {wire}",
        wire.len(),
        crc(wire.as_bytes())
    ))
}

/// A two-chunk `zlib` message with these chunk texts, framed with correct checksums.
fn zlib_two(id: u32, first: &str, second: &str, plen: usize) -> Vec<String> {
    let wire = format!("{first}{second}");
    let mcrc = crc(wire.as_bytes());
    [first, second]
        .iter()
        .enumerate()
        .map(|(i, data)| {
            framed(&format!(
                "{id} {}/2 zlib {plen} {} {mcrc} {data}",
                i + 1,
                wire.len()
            ))
        })
        .collect()
}

/// A `solid` message whose wire text is `wire`, cut into two chunks after `first` characters,
/// framed with correct checksums.
fn solid_two(id: u32, wire: &str, first: usize, plen: u64) -> Vec<String> {
    let mcrc = crc(wire.as_bytes());
    [&wire[..first], &wire[first..]]
        .iter()
        .enumerate()
        .map(|(i, data)| {
            framed(&format!(
                "{id} {}/2 solid {plen} {} {mcrc} {data}",
                i + 1,
                wire.len()
            ))
        })
        .collect()
}

fn bad_vectors() -> Vec<Value> {
    let good = whole(1, "raw", 5, "hello");
    let hello_mcrc = crc(b"hello");
    let two = |id: u32, idx: u32, data: &str, wire: &str| {
        framed(&format!(
            "{id} {idx}/2 raw {} {} {} {data}",
            wire.len(),
            wire.len(),
            crc(wire.as_bytes())
        ))
    };
    let lz4_100 = lz4_flex::block::compress(&[7u8; 100]);
    let zlib_100 = miniz_oxide::deflate::compress_to_vec_zlib(&[7u8; 100], 9);
    let mut corrupted = good.clone().into_bytes();
    let last = corrupted.len() - 1;
    corrupted[last] = b'x';
    let raw_frames = encode(
        20,
        &b"0123456789".repeat(10),
        &EncodeOptions {
            method: MethodChoice::Only(Method::Raw),
            receiver: Capabilities::all(60),
            ..Default::default()
        },
    )
    .unwrap()
    .frames;
    let v = |name: &str, receiver: Value, frames: Vec<String>, error: &str| json!({ "name": name, "receiver": receiver, "frames": frames, "error": error });
    let none = json!({});
    vec![
        v("plain_text", none.clone(), vec!["hello world".into()], "NotAFrame"),
        v("chat_line_quoting_a_frame", none.clone(), vec![format!("[CHAT] bob: {good}")], "NotAFrame"),
        v("lowercase_magic", none.clone(), vec![good.replacen("IS1", "is1", 1)], "NotAFrame"),
        v("other_version", none.clone(), vec![good.replacen("IS1", "IS2", 1)], "UnsupportedVersion"),
        v("too_long", json!({"max_frame": 40}), vec![whole(1, "raw", 20, "abcdefghijklmnopqrst")], "FrameTooLong"),
        v("tab_in_header", none.clone(), vec![good.replacen(' ', "\t", 1)], "ForbiddenCharacter"),
        v("control_in_raw_data", none.clone(), vec![whole(1, "raw", 3, "a\u{1}b")], "ForbiddenCharacter"),
        v("del_in_raw_data", none.clone(), vec![whole(1, "raw", 3, "a\u{7f}b")], "ForbiddenCharacter"),
        v("c1_control_in_raw_data", none.clone(), vec![whole(1, "raw", 3, "a\u{85}")], "ForbiddenCharacter"),
        v("leading_zero_in_id", none.clone(), vec![framed(&format!("01 1/1 raw 5 5 {hello_mcrc} hello"))], "MalformedHeader"),
        v("uppercase_hex_in_mcrc", none.clone(), vec![framed(&format!("1 1/1 raw 5 5 {} hello", hello_mcrc.to_uppercase()))], "MalformedHeader"),
        v("uppercase_hex_in_fcrc", none.clone(), vec![format!("IS1 ABCDEF01 {}", &good[13..])], "MalformedHeader"),
        v("two_spaces", none.clone(), vec![framed(&format!("1  1/1 raw 5 5 {hello_mcrc} hello"))], "MalformedHeader"),
        v("header_ends_early", none.clone(), vec![framed("1 1/1 raw 5 5")], "MalformedHeader"),
        v("raw_plen_differs_from_wlen", none.clone(), vec![framed(&format!("1 1/1 raw 6 5 {hello_mcrc} hello"))], "MalformedHeader"),
        v("data_longer_than_wlen", none.clone(), vec![framed(&format!("1 1/1 raw 4 4 {hello_mcrc} hello"))], "MalformedHeader"),
        v("empty_chunk_of_a_non_empty_message", none.clone(), vec![framed(&format!("1 1/2 raw 5 5 {hello_mcrc} "))], "MalformedHeader"),
        v("number_too_big", none.clone(), vec![framed(&format!("4294967296 1/1 raw 5 5 {hello_mcrc} hello"))], "MalformedHeader"),
        v("index_zero", none.clone(), vec![framed(&format!("1 0/1 raw 5 5 {hello_mcrc} hello"))], "IndexOutOfRange"),
        v("index_over_count", none.clone(), vec![framed(&format!("1 3/2 raw 5 5 {hello_mcrc} hello"))], "IndexOutOfRange"),
        v("unknown_method", none.clone(), vec![whole(1, "zstd", 5, "AAAA")], "UnknownMethod"),
        v("method_not_accepted", json!({"decode": ["raw"]}), vec![whole(1, "zlib", 100, &b64(&zlib_100))], "MethodNotAccepted"),
        v("bad_base64_character", none.clone(), vec![whole(1, "lz4", 3, "AA!A")], "ForbiddenCharacter"),
        v("padding_in_first_chunk", none.clone(), vec![framed(&format!("1 1/2 lz4 3 8 {} AA==", crc(b"AA==AAAA")))], "ForbiddenCharacter"),
        v("misaligned_chunk", none.clone(), vec![framed(&format!("1 1/2 lz4 3 8 {} AAAAAA", crc(b"AAAAAAAA")))], "MisalignedChunk"),
        v("corrupted_data", none.clone(), vec![String::from_utf8(corrupted).unwrap()], "FrameChecksumMismatch"),
        v("truncated_frame", none.clone(), vec![raw_frames[0][..raw_frames[0].len() - 3].to_string()], "FrameChecksumMismatch"),
        v("message_too_large", json!({"max_message": 100}), vec![framed(&format!("1 1/2 zlib 1000 8 {} AAAA", crc(b"AAAAAAAA")))], "MessageTooLarge"),
        v("too_many_chunks", json!({"max_chunks": 2}), vec![framed(&format!("1 1/3 raw 3 3 {} a", crc(b"abc")))], "TooManyChunks"),
        v("more_chunks_than_bytes", none.clone(), vec![framed(&format!("1 1/5 raw 3 3 {} a", crc(b"abc")))], "TooManyChunks"),
        v("conflicting_message_checksum", none.clone(), vec![two(2, 1, "ab", "abcd"), two(2, 2, "cd", "abce")], "ConflictingFrame"),
        v("conflicting_chunk_data", none.clone(), vec![two(2, 1, "ab", "abcd"), two(2, 1, "xy", "abcd")], "ConflictingFrame"),
        v("too_many_messages", json!({"max_messages": 1}), vec![two(3, 1, "ab", "abcd"), two(4, 1, "ab", "abcd")], "TooManyMessages"),
        v("too_many_buffered_bytes", json!({"max_buffered": 6}), vec![two(3, 1, "ab", "abcd"), two(4, 1, "ab", "abcd")], "TooManyMessages"),
        v(
            "chunks_longer_than_wlen",
            none.clone(),
            vec![
                framed(&format!("5 1/2 raw 8 8 {} abcdef", crc(b"abcdefgh"))),
                framed(&format!("5 2/2 raw 8 8 {} ghijkl", crc(b"abcdefgh"))),
            ],
            "WireLengthMismatch",
        ),
        v(
            "chunks_shorter_than_wlen",
            none.clone(),
            vec![
                framed(&format!("5 1/2 raw 8 8 {} abc", crc(b"abcdefgh"))),
                framed(&format!("5 2/2 raw 8 8 {} def", crc(b"abcdefgh"))),
            ],
            "WireLengthMismatch",
        ),
        v("wrong_message_checksum", none.clone(), vec![two(6, 2, "cd", "abcX"), two(6, 1, "ab", "abcX")], "MessageChecksumMismatch"),
        v("base64_trailing_bits", none.clone(), vec![whole(7, "lz4", 1, "AB==")], "BadBase64"),
        v("base64_length", none.clone(), vec![whole(7, "lz4", 1, "AAAAA")], "BadBase64"),
        v("lz4_truncated_literals", none.clone(), vec![whole(8, "lz4", 10, &b64(&[0xa0, b'x', b'y']))], "DecompressFailed"),
        v("lz4_offset_zero", none.clone(), vec![whole(8, "lz4", 20, &b64(&[0x14, b'a', 0, 0, 0x50, b'b', b'c', b'd', b'e', b'f']))], "DecompressFailed"),
        v("lz4_offset_before_start", none.clone(), vec![whole(8, "lz4", 20, &b64(&[0x14, b'a', 9, 0, 0x50, b'b', b'c', b'd', b'e', b'f']))], "DecompressFailed"),
        v("lz4_longer_than_plen", none.clone(), vec![whole(8, "lz4", 50, &b64(&lz4_100))], "DecompressFailed"),
        v("lz4_shorter_than_plen", none.clone(), vec![whole(8, "lz4", 150, &b64(&lz4_100))], "PayloadLengthMismatch"),
        v("zlib_not_a_stream", none.clone(), vec![whole(9, "zlib", 8, &b64(b"not zlib"))], "DecompressFailed"),
        v("zlib_longer_than_plen", none.clone(), vec![whole(9, "zlib", 50, &b64(&zlib_100))], "DecompressFailed"),
        v("zlib_shorter_than_plen", none.clone(), vec![whole(9, "zlib", 150, &b64(&zlib_100))], "PayloadLengthMismatch"),
        v("zlib_unpadded_chunk", none.clone(), vec![whole(9, "zlib", 100, b64(&zlib_100).trim_end_matches('='))], "MisalignedChunk"),
        v(
            "zlib_second_chunk_not_a_stream",
            none.clone(),
            zlib_two(10, &b64(&zlib_100), &b64(b"garbage!!"), 105),
            "DecompressFailed",
        ),
        v(
            "zlib_chunks_inflate_past_plen",
            none.clone(),
            zlib_two(10, &b64(&zlib_100), &b64(&zlib_100), 150),
            "DecompressFailed",
        ),
        v("solid_misaligned_chunk", none.clone(), vec![framed(&format!("11 1/2 solid 3 8 {} AAAAAA", crc(b"AAAAAAAA")))], "MisalignedChunk"),
        v("solid_padding_in_first_chunk", none.clone(), vec![framed(&format!("11 1/2 solid 3 8 {} AA==", crc(b"AA==AAAA")))], "ForbiddenCharacter"),
        // The bound is the method's, whatever the receiver's max_message (PROTOCOL.md 2.3).
        v("solid_plen_over_the_bound", none.clone(), vec![framed(&format!("11 1/2 solid 65537 8 {} AAAA", crc(b"AAAAAAAA")))], "MessageTooLarge"),
        v("solid_not_a_stream", none.clone(), vec![whole(12, "solid", 8, &b64(b"not zlib"))], "DecompressFailed"),
        v("solid_corrupt_stream", none.clone(), solid_two(12, &b64(&corrupt_adler(&zlib_100)), 8, 100), "DecompressFailed"),
        v("solid_longer_than_plen", none.clone(), solid_two(12, &b64(&zlib_100), 8, 99), "DecompressFailed"),
        v("solid_shorter_than_plen", none.clone(), solid_two(12, &b64(&zlib_100), 8, 101), "PayloadLengthMismatch"),
        v("solid_base64_length", none.clone(), solid_two(12, &b64(&zlib_100)[..b64(&zlib_100).len() - 1], 8, 100), "BadBase64"),
    ]
    .into_iter()
    .chain(short_bad_vectors())
    .chain([json!({
        "name": "invalid_utf8_in_raw_data",
        "receiver": none,
        "frames_hex": [hex::encode(framed_bytes(&[format!("1 1/1 raw 2 2 {} a", crc(b"a\xff")).as_bytes(), b"\xff"].concat()))],
        "error": "InvalidUtf8",
    })])
    .collect()
}

/// `stream` with its Adler-32 changed: a zlib stream whose data is intact but wrong.
fn corrupt_adler(stream: &[u8]) -> Vec<u8> {
    let mut s = stream.to_vec();
    let last = s.len() - 1;
    s[last] ^= 1;
    s
}

/// Bad frames with the short header (PROTOCOL.md 2.5): its own fields, and the checks every
/// frame has.
fn short_bad_vectors() -> Vec<Value> {
    let id1 = fixed(1);
    let hello = short(&format!("r{id1}hello"));
    let mut corrupted = hello.clone().into_bytes();
    let last = corrupted.len() - 1;
    corrupted[last] = b'x';
    let lz4_100 = lz4_flex::block::compress(&[7u8; 100]);
    let zlib_100 = miniz_oxide::deflate::compress_to_vec_zlib(&[7u8; 100], 9);
    let v = |name: &str, frames: Vec<String>, error: &str| json!({ "name": format!("short/{name}"), "receiver": {}, "frames": frames, "error": error });
    let part = |id: u32, index: u64, count: u64, data: &str, wire: &str| {
        short(&format!("{}{data}", short_part(id, index, count, wire)))
    };
    vec![
        v("marker_alone", vec!["~".into()], "MalformedHeader"),
        v(
            "fcrc_not_base64",
            vec![format!("~AAAA.A{}", &hello[7..])],
            "MalformedHeader",
        ),
        v(
            "fcrc_over_32_bits",
            vec![format!("~EAAAAA{}", &hello[7..])],
            "MalformedHeader",
        ),
        v(
            "unknown_kind",
            vec![short(&format!("x{id1}AAAA"))],
            "UnknownMethod",
        ),
        v(
            "kind_not_a_letter",
            vec![short(&format!("7{id1}hello"))],
            "MalformedHeader",
        ),
        v(
            "id_zero",
            vec![short(&format!("r{}hello", fixed(0)))],
            "MalformedHeader",
        ),
        v("id_cut_short", vec![short("rAAA")], "MalformedHeader"),
        v(
            "leading_zero_digit",
            vec![short(&format!("R{id1}{}AB.C.E.ab", fixed(0)))],
            "MalformedHeader",
        ),
        v(
            "index_of_seven_digits",
            vec![short(&format!("R{id1}{}BAAAAAA.C.E.ab", fixed(0)))],
            "MalformedHeader",
        ),
        v(
            "wlen_of_ten_digits",
            vec![short(&format!("R{id1}{}B.C.BAAAAAAAAA.ab", fixed(0)))],
            "MalformedHeader",
        ),
        v(
            "missing_dot",
            vec![short(&format!("R{id1}{}B.C", fixed(0)))],
            "MalformedHeader",
        ),
        v(
            "plen_missing",
            vec![short(&format!("l{id1}AAAA"))],
            "MalformedHeader",
        ),
        v(
            "several_kind_with_count_one",
            vec![part(2, 1, 1, "ab", "ab")],
            "MalformedHeader",
        ),
        v(
            "index_over_count",
            vec![part(2, 3, 2, "ab", "abcd")],
            "IndexOutOfRange",
        ),
        v(
            "data_longer_than_wlen",
            vec![part(2, 1, 2, "abcde", "abcd")],
            "MalformedHeader",
        ),
        v(
            "control_in_raw_data",
            vec![short(&format!("r{id1}a\u{1}b"))],
            "ForbiddenCharacter",
        ),
        v(
            "bad_base64_character",
            vec![short(&format!("l{id1}D.AA!A"))],
            "ForbiddenCharacter",
        ),
        v(
            "corrupted_data",
            vec![String::from_utf8(corrupted).unwrap()],
            "FrameChecksumMismatch",
        ),
        v(
            "conflicting_chunk_data",
            vec![part(3, 1, 2, "ab", "abcd"), part(3, 1, 2, "xy", "abcd")],
            "ConflictingFrame",
        ),
        v(
            "wrong_message_checksum",
            vec![part(4, 2, 2, "cd", "abcX"), part(4, 1, 2, "ab", "abcX")],
            "MessageChecksumMismatch",
        ),
        v(
            "lz4_shorter_than_plen",
            vec![short(&format!("l{id1}{}.{}", num(150), b64(&lz4_100)))],
            "PayloadLengthMismatch",
        ),
        v(
            "solid_plen_over_the_bound",
            vec![short(&format!("s{id1}{}.{}", num(65537), b64(&zlib_100)))],
            "MessageTooLarge",
        ),
        v(
            "solid_shorter_than_plen",
            vec![short(&format!("s{id1}{}.{}", num(101), b64(&zlib_100)))],
            "PayloadLengthMismatch",
        ),
        v(
            "solid_chunk_misaligned",
            vec![short(&format!(
                "S{id1}{}B.C.{}.{}.AAAAAA",
                fixed(u64::from(crc32fast::hash(b"AAAAAAAA"))),
                num(8),
                num(3)
            ))],
            "MisalignedChunk",
        ),
    ]
}

fn frames_of(v: &Value) -> Vec<Vec<u8>> {
    if let Some(hex_frames) = v.get("frames_hex") {
        hex_frames
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
            .collect()
    } else {
        v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().as_bytes().to_vec())
            .collect()
    }
}

fn document(kind: &str, vectors: Vec<Value>) -> String {
    let mut doc = json!({
        "protocol": 1,
        "description": format!("invsync {kind} test vectors, generated by codec/tests/vectors.rs; see docs/PROTOCOL.md section 6"),
    });
    if kind == "bad" {
        doc["default_receiver"] = default_receiver();
    }
    doc["vectors"] = Value::Array(vectors);
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

fn check_file(name: &str, expected: &str) {
    let path = vectors_dir().join(name);
    if std::env::var_os("INVSYNC_BLESS").is_some() {
        std::fs::create_dir_all(vectors_dir()).unwrap();
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is not what codec/tests/vectors.rs generates; if the change is deliberate, run \
         INVSYNC_BLESS=1 cargo test -p invsync-codec --test vectors",
        path.display()
    );
}

#[test]
fn committed_vectors_are_current() {
    check_file("good.json", &document("good", good_vectors()));
    check_file("bad.json", &document("bad", bad_vectors()));
}

#[test]
fn good_vectors_decode_in_every_order() {
    for v in good_vectors() {
        let frames = frames_of(&v);
        let payload = hex::decode(v["payload_hex"].as_str().unwrap()).unwrap();
        let n = frames.len();
        // Forward, backward, interleaved odd/even, and every frame twice.
        let orders: Vec<Vec<usize>> = vec![
            (0..n).collect(),
            (0..n).rev().collect(),
            (0..n)
                .filter(|i| i % 2 == 1)
                .chain((0..n).filter(|i| i % 2 == 0))
                .collect(),
            (0..n).flat_map(|i| [i, i]).collect(),
        ];
        for order in orders {
            let mut rx = Reassembler::new(config_of(&json!({ "max_frame": v["max_frame"] })));
            let mut got = Vec::new();
            for i in order {
                if let Outcome::Complete(m) = rx.push(&frames[i], 0).unwrap() {
                    got.push(m.payload);
                }
            }
            assert_eq!(got, vec![payload.clone()], "{}", v["name"]);
        }
    }
}

#[test]
fn bad_vectors_fail_with_their_error_and_deliver_nothing() {
    let names: Vec<String> = bad_vectors()
        .iter()
        .map(|v| v["error"].as_str().unwrap().to_string())
        .collect();
    // Every receiver-side error of PROTOCOL.md 3.1 that frames alone can cause has a vector.
    for name in invsync_codec::ERROR_NAMES {
        let sender_side = ["RawUnrepresentable", "NoAcceptableMethod", "FrameTooSmall"];
        let needs_time = ["Expired", "Incomplete"];
        if !sender_side.contains(&name) && !needs_time.contains(&name) {
            assert!(names.iter().any(|n| n == name), "no bad vector for {name}");
        }
    }
    for v in bad_vectors() {
        let frames = frames_of(&v);
        let mut rx = Reassembler::new(config_of(&v["receiver"]));
        let (last, earlier) = frames.split_last().unwrap();
        for f in earlier {
            let out = rx
                .push(f, 0)
                .unwrap_or_else(|e| panic!("{}: an earlier frame failed: {e}", v["name"]));
            assert!(!matches!(out, Outcome::Complete(_)), "{}", v["name"]);
        }
        let err = rx.push(last, 0).expect_err(v["name"].as_str().unwrap());
        assert_eq!(
            err.name(),
            v["error"].as_str().unwrap(),
            "{}: {err}",
            v["name"]
        );
        // A failed completion leaves nothing behind; a failed frame leaves the rest as it was.
        assert!(
            rx.progress().iter().all(|p| p.have < p.count),
            "{}",
            v["name"]
        );
    }
}
