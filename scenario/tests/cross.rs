//! Cross-checks of the Lua codecs against independent Rust implementations
//! (crc32fast, base64, lz4_flex, miniz_oxide), with random inputs from proptest.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Method, bytes_of, err_name, func, lstr};
use mlua::{Function, Lua, Table, Value};
use proptest::prelude::*;

// proptest's defaults: 256 cases per property unless PROPTEST_CASES says otherwise (a
// block-boundary bug in the LZ4 decoder once needed ~600 cases to show, so nightly runs may
// want more). Failures found earlier are replayed first from cross.proptest-regressions.

thread_local! {
    static LUA: Lua = common::lua();
}

proptest! {
    #[test]
    fn crc32_matches_crc32fast(data in proptest::collection::vec(any::<u8>(), 0..2000), cut in any::<prop::sample::Index>()) {
        LUA.with(|lua| {
            let of = func(lua, "invsync.crc32", "of");
            let update = func(lua, "invsync.crc32", "update");
            let combine = func(lua, "invsync.crc32", "combine");
            let want = crc32fast::hash(&data);
            let got: u32 = of.call(lstr(lua, &data)).unwrap();
            prop_assert_eq!(got, want);
            let k = cut.index(data.len() + 1);
            let (a, b) = data.split_at(k);
            let first: u32 = of.call(lstr(lua, a)).unwrap();
            let cont: u32 = update.call((first, lstr(lua, b))).unwrap();
            prop_assert_eq!(cont, want);
            let joined: u32 = combine.call((first, crc32fast::hash(b), b.len())).unwrap();
            prop_assert_eq!(joined, want);
            // both paths, whichever `update` picked: the table path, and the bit32 path where
            // the Lua has bit32 (5.2, Luau); also on a sub-range that starts mid-string
            let crc = common::module(lua, "invsync.crc32");
            for path in ["update_tables", "update_bit32"] {
                let Ok(f) = crc.get::<Function>(path) else { continue };
                let whole: u32 = f.call((0, lstr(lua, &data))).unwrap();
                prop_assert_eq!(whole, want, "{}", path);
                let tail: u32 = f.call((0, lstr(lua, &data), k + 1, data.len())).unwrap();
                prop_assert_eq!(tail, crc32fast::hash(b), "{} from byte {}", path, k + 1);
            }
            Ok(())
        })?;
    }

    #[test]
    fn base64_matches_the_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        LUA.with(|lua| {
            let encode = func(lua, "invsync.base64", "encode");
            let decode = func(lua, "invsync.base64", "decode");
            let text = STANDARD.encode(&data);
            let lua_text: Value = encode.call(lstr(lua, &data)).unwrap();
            prop_assert_eq!(bytes_of(&lua_text), text.as_bytes().to_vec());
            let (out, err): (Value, Value) = decode.call(lstr(lua, text.as_bytes())).unwrap();
            prop_assert_eq!(err_name(&err), None);
            prop_assert_eq!(bytes_of(&out), data);
            Ok(())
        })?;
    }

    #[test]
    fn base64_accepts_exactly_what_the_base64_crate_accepts(
        data in proptest::collection::vec(any::<u8>(), 0..60),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(b"AQgw+/=9z*\n -_".to_vec())), 1..3),
    ) {
        LUA.with(|lua| {
            let decode = func(lua, "invsync.base64", "decode");
            let check = func(lua, "invsync.base64", "check");
            let mut text = STANDARD.encode(&data).into_bytes();
            for (at, byte) in &edits {
                if text.is_empty() { text.push(*byte); } else { let i = at.index(text.len()); text[i] = *byte; }
            }
            let want = STANDARD.decode(&text).ok();
            let (out, err): (Value, Value) = decode.call(lstr(lua, &text)).unwrap();
            match want {
                Some(bytes) => {
                    prop_assert_eq!(err_name(&err), None, "{:?}", String::from_utf8_lossy(&text));
                    prop_assert_eq!(bytes_of(&out), bytes);
                }
                None => prop_assert_eq!(err_name(&err), Some("BadBase64".to_owned()), "{:?}", String::from_utf8_lossy(&text)),
            }
            let checked: Value = check.call(lstr(lua, &text)).unwrap();
            prop_assert_eq!(err_name(&checked), err_name(&err));
            Ok(())
        })?;
    }

    #[test]
    fn lz4_decodes_what_lz4_flex_encodes(payload in payload_strategy(), pieces in proptest::collection::vec(1usize..300, 1..20)) {
        LUA.with(|lua| {
            let block = lz4_flex::block::compress(&payload);
            let decompress = func(lua, "invsync.lz4", "decompress");
            let (out, err): (Value, Value) = decompress.call((lstr(lua, &block), payload.len())).unwrap();
            prop_assert_eq!(err_name(&err), None);
            prop_assert_eq!(bytes_of(&out), payload.clone());
            // the same block fed in pieces, with output limits as the receiver uses them
            let new = func(lua, "invsync.lz4", "new");
            let feed = func(lua, "invsync.lz4", "feed");
            let produced = func(lua, "invsync.lz4", "produced");
            let finish = func(lua, "invsync.lz4", "finish");
            let st: Table = new.call(payload.len()).unwrap();
            let mut pos = 0;
            let mut i = 0;
            while pos < block.len() {
                let n = pieces[i % pieces.len()].min(block.len() - pos);
                let made: f64 = produced.call(&st).unwrap();
                let (ok, err): (Value, Value) = feed.call((&st, lstr(lua, &block[pos..pos + n]), made + n as f64)).unwrap();
                prop_assert_eq!(err_name(&err), None);
                prop_assert!(matches!(ok, Value::Boolean(true)));
                pos += n;
                i += 1;
            }
            let (out, err): (Value, Value) = finish.call(&st).unwrap();
            prop_assert_eq!(err_name(&err), None);
            prop_assert_eq!(bytes_of(&out), payload);
            Ok(())
        })?;
    }

    #[test]
    fn lz4_agrees_with_lz4_flex_on_damaged_blocks(
        payload in payload_strategy(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        slack in 0usize..3,
    ) {
        LUA.with(|lua| {
            let mut block = lz4_flex::block::compress(&payload);
            for (at, byte) in &edits {
                let i = at.index(block.len());
                block[i] = *byte;
            }
            if let Some(c) = cut { block.truncate(c.index(block.len() + 1)); }
            let limit = payload.len() + slack;
            let want = lz4_flex::block::decompress(&block, limit).ok();
            let decompress = func(lua, "invsync.lz4", "decompress");
            let (out, err): (Value, Value) = decompress.call((lstr(lua, &block), limit)).unwrap();
            match want {
                Some(bytes) => {
                    prop_assert_eq!(err_name(&err), None);
                    prop_assert_eq!(bytes_of(&out), bytes);
                }
                None => prop_assert_eq!(err_name(&err), Some("DecompressFailed".to_owned())),
            }
            Ok(())
        })?;
    }

    #[test]
    fn text_check_agrees_with_rust_utf8(data in text_bytes_strategy()) {
        LUA.with(|lua| {
            let check = func(lua, "invsync.text", "check");
            let (name, _off): (Value, Value) = check.call(lstr(lua, &data)).unwrap();
            let want = match std::str::from_utf8(&data) {
                Err(e) => {
                    // the first offending byte decides: a control byte before the invalid UTF-8 wins
                    let valid = &data[..e.valid_up_to()];
                    if std::str::from_utf8(valid).unwrap().chars().any(char::is_control) { "ForbiddenCharacter" } else { "InvalidUtf8" }
                }
                Ok(s) if s.chars().any(char::is_control) => "ForbiddenCharacter",
                Ok(_) => "",
            };
            let got = match name { Value::Nil => String::new(), Value::String(s) => s.to_str().unwrap().to_owned(), other => panic!("{other:?}") };
            prop_assert_eq!(got, want, "{:?}", data);
            Ok(())
        })?;
    }
}

/// Payloads shaped like the game's: JSON-ish text with repetition, random bytes, or runs.
fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec(
            prop::sample::select(vec![
                &b"{\"name\":\"iron-plate\",\"count\":"[..],
                b"100",
                b"},",
                b"\"quality\":\"legendary\"",
                b"0eNqVkt1qwzAM",
                b" ",
            ]),
            0..300
        )
        .prop_map(|parts| parts.concat()),
        (any::<u8>(), 0usize..5000).prop_map(|(b, n)| vec![b; n]),
    ]
}

/// Mostly valid text with occasional invalid or control bytes.
fn text_bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            8 => "[a-z {}\":,0-9]{1,8}".prop_map(|s| s.into_bytes()),
            3 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// Same message encoded with each method and a random chunk size.
fn text_payload() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => "[a-z{}\":,0-9 ]{1,12}",
            1 => "[é€😀ß]{1,3}",
            1 => Just("\"blueprint\":\"0eNqVkt1qwzAMhV8l6LoZ+WlCyKv0YvRWCiWWtW2iW5MsqUYp5d0nd2Esl72wkT7n2EfSBTq7cO90H7C7YCN7j92iL3Ye1hW5mdCI0Op1JnUqmJdgAbWvHxS5ccn7dH0u5yOzn9pNM2k1Ne5OtWm/ptfydaSz6XoFfnW6XP7HPbQlfEcf8afbd/HK29HzScsZpbt/cCiE7OzSDB8xv+1w/tIBoEeL8XX6CLzNPxfRrbr4A".to_owned()),
        ],
        0..400,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn rust_frames_decode_in_lua_in_any_order(
        payload in text_payload(),
        method in prop::sample::select(vec![Method::Raw, Method::Lz4, Method::Zlib]),
        size in 1usize..900,
        order in any::<prop::sample::Index>(),
        dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        budget in prop::sample::select(vec![7.0, 100.0, 1000.0, 1e9]),
        id in 1u32..=u32::MAX,
    ) {
        LUA.with(|lua| {
            let chunks = common::chunks_of(method, payload.as_bytes(), size);
            let mut frames = common::frames_of_chunks(id, method, payload.len(), &chunks);
            for d in &dups { let f = frames[d.index(frames.len())].clone(); frames.push(f); }
            let n = frames.len();
            frames.rotate_left(order.index(n));
            let mid = n / 2;
            frames[..mid].reverse();
            let rx = common::Receiver::new(lua, &[]);
            let d = rx.deliver(&frames, budget);
            prop_assert_eq!(d.errors, Vec::<String>::new());
            prop_assert_eq!(d.messages.len(), 1);
            prop_assert_eq!(d.messages[0].0, id);
            prop_assert_eq!(&d.messages[0].1, payload.as_bytes());
            prop_assert!(d.idle);
            Ok(())
        })?;
    }

    #[test]
    fn lua_frames_decode_in_rust(
        payload in text_payload(),
        zlib in any::<bool>(),
        max_frame in 40usize..3999,
        id in 1u32..=u32::MAX,
    ) {
        LUA.with(|lua| {
            let frames_fn = func(lua, "invsync.sender", "frames");
            let opts = lua.create_table().unwrap();
            opts.set("id", id).unwrap();
            opts.set("method", if zlib { "zlib" } else { "raw" }).unwrap();
            opts.set("max_frame", max_frame).unwrap();
            opts.set("deflate_b64", common::deflate_fn(lua)).unwrap();
            let (frames, err): (Value, Value) = frames_fn.call((lstr(lua, payload.as_bytes()), opts)).unwrap();
            if let Some(name) = err_name(&err) {
                // only a max_frame too small for the header (or one character) may fail
                prop_assert_eq!(name, "FrameTooSmall");
                prop_assert!(max_frame < 80, "FrameTooSmall at max_frame {}", max_frame);
                return Ok(());
            }
            let frames: Vec<Vec<u8>> = match frames {
                Value::Table(t) => t.sequence_values::<mlua::LuaString>().map(|s| s.unwrap().as_bytes().to_vec()).collect(),
                other => panic!("{other:?}"),
            };
            for f in &frames { prop_assert!(f.len() <= max_frame, "frame of {} bytes over {}", f.len(), max_frame); }
            prop_assert_eq!(common::decode_ref(&frames), payload.as_bytes().to_vec());
            Ok(())
        })?;
    }

    #[test]
    fn any_corrupted_byte_gives_an_error_never_a_wrong_payload(
        payload in text_payload(),
        method in prop::sample::select(vec![Method::Raw, Method::Lz4, Method::Zlib]),
        size in 8usize..400,
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        LUA.with(|lua| {
            let chunks = common::chunks_of(method, payload.as_bytes(), size);
            let frames = common::frames_of_chunks(77, method, payload.len(), &chunks);
            let k = which.index(frames.len());
            let mut bad = frames.clone();
            let i = at.index(bad[k].len());
            prop_assume!(bad[k][i] != byte);
            bad[k][i] = byte;
            let rx = common::Receiver::new(lua, &[]);
            let d = rx.deliver(&bad, 1e9);
            for (id, got) in &d.messages {
                // a delivery can only be the true payload, under the true id
                prop_assert_eq!(*id, 77);
                prop_assert_eq!(got, &payload.as_bytes().to_vec());
            }
            prop_assert!(!d.errors.is_empty(), "a corrupted frame must be reported");
            // resending the original frame recovers the message if it was not delivered
            if d.messages.is_empty() {
                let mut again = d;
                let more = rx.deliver(&[frames[k].clone()], 1e9);
                again.messages.extend(more.messages);
                prop_assert_eq!(again.messages.len(), 1, "errors after resend: {:?}", more.errors);
                prop_assert_eq!(&again.messages[0].1, &payload.as_bytes().to_vec());
            }
            Ok(())
        })?;
    }
}

#[test]
fn crc32_of_a_large_buffer_and_uneven_ranges() {
    LUA.with(|lua| {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let of: Function = func(lua, "invsync.crc32", "of");
        let got: u32 = of.call((lstr(lua, &data), 3, 199_990)).unwrap();
        assert_eq!(got, crc32fast::hash(&data[2..199_990]));
    });
}
