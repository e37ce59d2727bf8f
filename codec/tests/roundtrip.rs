//! Property tests: round trips over arbitrary payloads, methods, frame sizes and delivery orders,
//! and damage (a changed or dropped character) that must always be caught.

use invsync_codec::{
    Capabilities, EncodeOptions, Encoded, Method, MethodChoice, Outcome, Reassembler,
    ReassemblerConfig, SOLID_MAX_PAYLOAD, encode,
};
use proptest::prelude::*;
use proptest::sample::Index;

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Raw),
        Just(Method::Lz4),
        Just(Method::Zlib),
        Just(Method::Solid)
    ]
}

fn options(method: Method, max_frame: usize, parallelism: u32) -> EncodeOptions {
    EncodeOptions {
        method: MethodChoice::Only(method),
        receiver: Capabilities::all(max_frame),
        parallelism,
        min_chunk_data: 16,
        ..EncodeOptions::default()
    }
}

/// Bytes that `raw` can carry for text-like payloads, arbitrary bytes for the others.
fn payload_for(method: Method, bytes: Vec<u8>, text: String) -> Vec<u8> {
    match method {
        Method::Raw => text.into_bytes(),
        _ => bytes,
    }
}

fn frame_text() -> impl Strategy<Value = String> {
    // Printable ASCII, a few multi-byte characters, and runs so compression has something to do.
    proptest::string::string_regex("([ -~]|é|世|🎮|\\]\\]|=){0,600}").unwrap()
}

/// Delivers `frames` in `order` (indices may repeat) and returns every payload completed.
fn deliver(frames: &[String], order: &[usize]) -> Result<Vec<Vec<u8>>, invsync_codec::Error> {
    let mut rx = Reassembler::new(ReassemblerConfig::default());
    let mut done = Vec::new();
    for &i in order {
        if let Outcome::Complete(m) = rx.push(frames[i].as_bytes(), 0)? {
            done.push(m.payload);
        }
    }
    Ok(done)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn round_trip_any_method_any_frame_size_any_order(
        m in method(),
        bytes in proptest::collection::vec(any::<u8>(), 0..3000),
        text in frame_text(),
        max_frame in 96usize..1500,
        parallelism in 1u32..6,
        id in 1u32..,
        shuffle in proptest::collection::vec(any::<Index>(), 0..200),
    ) {
        let payload = payload_for(m, bytes, text);
        let e = encode(id, &payload, &options(m, max_frame, parallelism)).unwrap();
        prop_assert!(e.frames.iter().all(|f| f.len() <= max_frame));
        // Every frame once in a random order, plus random duplicates.
        let n = e.frames.len();
        let mut order: Vec<usize> = (0..n).collect();
        for (k, ix) in shuffle.iter().enumerate() {
            let j = ix.index(n);
            order.swap(k % n, j);
            if k % 3 == 0 {
                order.push(j);
            }
        }
        let done = deliver(&e.frames, &order).unwrap();
        prop_assert_eq!(done, vec![payload]);
    }

    #[test]
    fn interleaved_messages_all_arrive(
        payloads in proptest::collection::vec(frame_text(), 1..6),
        m in method(),
        seed in any::<u64>(),
    ) {
        let encoded: Vec<Encoded> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| encode(i as u32 + 1, p.as_bytes(), &options(m, 100, 1)).unwrap())
            .collect();
        let mut all: Vec<String> = encoded.iter().flat_map(|e| e.frames.clone()).collect();
        // A deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..all.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            all.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let order: Vec<usize> = (0..all.len()).collect();
        let mut done = deliver(&all, &order).unwrap();
        done.sort();
        let mut want: Vec<Vec<u8>> = payloads.into_iter().map(String::into_bytes).collect();
        want.sort();
        prop_assert_eq!(done, want);
    }

    #[test]
    fn a_changed_character_is_always_caught(
        m in method(),
        bytes in proptest::collection::vec(any::<u8>(), 1..2000),
        text in frame_text(),
        max_frame in 96usize..800,
        which in any::<Index>(),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        let (payload, mut frames) = frames_to_damage(m, bytes, text, max_frame)?;
        let f = which.index(frames.len());
        let pos = at.index(frames[f].len());
        prop_assume!(frames[f][pos] != to);
        frames[f][pos] = to;
        assert_damage_caught(&frames, &payload)?;
    }

    #[test]
    fn a_dropped_character_is_always_caught(
        m in method(),
        text in frame_text(),
        bytes in proptest::collection::vec(any::<u8>(), 1..2000),
        max_frame in 96usize..800,
        which in any::<Index>(),
        at in any::<Index>(),
    ) {
        let (payload, mut frames) = frames_to_damage(m, bytes, text, max_frame)?;
        let f = which.index(frames.len());
        let pos = at.index(frames[f].len());
        frames[f].remove(pos);
        assert_damage_caught(&frames, &payload)?;
    }

    #[test]
    fn arbitrary_lines_never_panic(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20)) {
        let mut rx = Reassembler::new(ReassemblerConfig::default());
        for l in &lines {
            let _ = rx.push(l, 0);
        }
    }
}

/// A non-empty payload for `m` and its frames as bytes, ready to be damaged.
fn frames_to_damage(
    m: Method,
    bytes: Vec<u8>,
    text: String,
    max_frame: usize,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), TestCaseError> {
    let payload = payload_for(m, bytes, text);
    prop_assume!(!payload.is_empty());
    let e = encode(7, &payload, &options(m, max_frame, 1)).unwrap();
    let frames = e.frames.into_iter().map(String::into_bytes).collect();
    Ok((payload, frames))
}

/// Pushes every frame once: the damaged one must fail, and no payload may be delivered
/// (the message now misses a chunk), least of all a wrong one.
fn assert_damage_caught(frames: &[Vec<u8>], payload: &[u8]) -> Result<(), TestCaseError> {
    let mut rx = Reassembler::new(ReassemblerConfig::default());
    let mut errors = 0;
    for f in frames {
        match rx.push(f, 0) {
            Ok(Outcome::Complete(m)) => {
                prop_assert_eq!(
                    &m.payload[..],
                    payload,
                    "a damaged message delivered a wrong payload"
                );
                return Err(TestCaseError::fail("a damaged message was delivered"));
            }
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    prop_assert_eq!(errors, 1);
    Ok(())
}

/// Small frames cut compressible text into many tiny zlib streams, each with its own header
/// and checksum: the wire grows far past the whole payload's deflate, and the headers' wire
/// length with it. The encoder must size the header for that, not fail with FrameTooSmall.
#[test]
fn zlib_in_small_frames_outgrows_the_whole_deflate_and_still_fits() {
    let block: Vec<u8> = (0..200u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let payload = block.repeat(100);
    let whole = encode(1, &payload, &options(Method::Zlib, 4000, 1)).unwrap();
    let small = encode(4_000_000_000, &payload, &options(Method::Zlib, 100, 1))
        .expect("a 100-byte frame holds zlib chunks");
    let wire_len = |e: &Encoded| e.frames.iter().map(String::len).sum::<usize>();
    assert!(
        wire_len(&small) > 10 * wire_len(&whole),
        "the case must outgrow the first bound"
    );
    assert!(small.frames.iter().all(|f| f.len() <= 100));
    let order: Vec<usize> = (0..small.frames.len()).rev().collect();
    assert_eq!(deliver(&small.frames, &order).unwrap(), vec![payload]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// `solid` near its bound: payloads up to 64 KiB round trip in aligned, balanced chunks
    /// cut to the streams in flight; one byte more is refused by the encoder.
    #[test]
    fn solid_round_trips_up_to_its_bound_and_refuses_more(
        len in (SOLID_MAX_PAYLOAD as usize - 4000)..=(SOLID_MAX_PAYLOAD as usize),
        seed in any::<u64>(),
        parallelism in 1u32..17,
    ) {
        // Compressible but not trivial: words drawn from a small table by an xorshift.
        let words = [&b"iron-plate"[..], b"copper-cable", b"\"count\":100,", b"{\"slot\":", b"]},"];
        let mut s = seed | 1;
        let mut payload = Vec::with_capacity(len + 16);
        while payload.len() < len {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            payload.extend_from_slice(words[(s % words.len() as u64) as usize]);
        }
        payload.truncate(len);
        let o = options(Method::Solid, 8192, parallelism);
        let e = encode(3, &payload, &o).unwrap();
        let lens: Vec<usize> = e.frames.iter()
            .map(|f| invsync_codec::Frame::parse(f.as_bytes()).unwrap().data.len())
            .collect();
        prop_assert!(lens[..lens.len() - 1].iter().all(|l| l % 4 == 0));
        prop_assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 4, "{:?}", lens);
        let order: Vec<usize> = (0..e.frames.len()).rev().collect();
        prop_assert_eq!(deliver(&e.frames, &order).unwrap(), vec![payload.clone()]);
        payload.resize(SOLID_MAX_PAYLOAD as usize + 1, b'x');
        let err = encode(3, &payload, &o).unwrap_err();
        prop_assert_eq!(err.name(), "MessageTooLarge");
    }
}

/// `auto` takes `solid` where one stream is smallest (the `rep` player in format 2: one stream
/// of 13.8 kB instead of 16 chunks of their own), and never for a payload over its bound.
#[test]
fn auto_takes_solid_for_rep_and_never_over_its_bound() {
    let rep = invsync_player_data::sample(invsync_player_data::SampleKind::Rep, 1)
        .to_json()
        .into_bytes();
    assert!(rep.len() as u64 <= SOLID_MAX_PAYLOAD);
    let game = |decode: &str| EncodeOptions {
        receiver: Capabilities {
            short_header: true,
            ..Capabilities::from_method_list(decode, 8192).unwrap()
        },
        parallelism: 16,
        per_frame_overhead: 14,
        segment: 100,
        ..EncodeOptions::default()
    };
    let with = encode(1, &rep, &game("zlib,solid,raw,lz4")).unwrap();
    let without = encode(1, &rep, &game("zlib,raw,lz4")).unwrap();
    assert_eq!(with.method, Method::Solid);
    assert_eq!(without.method, Method::Zlib);
    assert!(
        with.wire_size(14) * 10 < without.wire_size(14) * 7,
        "solid {} bytes, zlib {}",
        with.wire_size(14),
        without.wire_size(14)
    );
    let order: Vec<usize> = (0..with.frames.len()).collect();
    assert_eq!(deliver(&with.frames, &order).unwrap(), vec![rep.clone()]);
    // Over the bound, with solid listed first: another method, never an error.
    let big = invsync_player_data::sample(invsync_player_data::SampleKind::Rep, 1)
        .to_json_format_1()
        .into_bytes();
    assert!(big.len() as u64 > SOLID_MAX_PAYLOAD);
    let over = encode(1, &big, &game("solid,zlib,raw")).unwrap();
    assert_eq!(over.method, Method::Zlib);
}
