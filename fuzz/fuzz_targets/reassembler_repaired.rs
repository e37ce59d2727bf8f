//! Like `reassembler`, but the checksums of every line are repaired first (each message's
//! `mcrc` over its chunks' data in index order, then every `fcrc`), so messages complete and
//! the decoders behind the checksums run: base64, LZ4, zlib, wire and payload length checks.
//! No panic, bounded memory, and a delivered payload is exactly what its frames carry.
#![no_main]
use std::collections::BTreeMap;

use invsync_codec::{Frame, Method, Outcome, decode_wire_chunks};
use invsync_fuzz::{
    SMALL_MAX_BUFFERED, SMALL_MAX_MESSAGE, count, repair_stream, run_done, small_reassembler,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut lines: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    repair_stream(&mut lines);
    // The data of the chunks the reassembler holds, per message id and index.
    let mut held: BTreeMap<u32, BTreeMap<u32, Vec<u8>>> = BTreeMap::new();
    let mut rx = small_reassembler();
    for (now, line) in lines.iter().enumerate() {
        let data = || {
            Frame::parse(line)
                .expect("an accepted frame parses")
                .data
                .to_vec()
        };
        match rx.push(line, now as u64) {
            Err(e) => count(e.name()),
            Ok(Outcome::Stored { id, index, .. }) => {
                count("stored");
                held.entry(id).or_default().insert(index, data());
            }
            Ok(Outcome::Duplicate { .. }) => count("duplicate"),
            Ok(Outcome::Complete(m)) => {
                count("complete");
                assert!(m.payload.len() <= SMALL_MAX_MESSAGE);
                let mut chunks = held.remove(&m.id).unwrap_or_default();
                let last = Frame::parse(line)
                    .expect("an accepted frame parses")
                    .header
                    .index;
                chunks.insert(last, data());
                assert_eq!(chunks.len() as u32, m.count);
                let wire_text: Vec<u8> = chunks.values().flatten().copied().collect();
                assert_eq!(wire_text.len() as u64, m.wire_len);
                let parts: Vec<&[u8]> = chunks.values().map(Vec::as_slice).collect();
                let again = decode_wire_chunks(m.id, m.method, &parts, m.payload.len() as u64);
                assert_eq!(again.as_deref(), Ok(&m.payload[..]));
                if m.method == Method::Raw {
                    assert_eq!(m.payload, wire_text);
                }
            }
        }
        assert!(rx.buffered_bytes() <= SMALL_MAX_BUFFERED);
        for e in rx.take_expired() {
            count(e.name());
        }
        // Forget what the reassembler dropped (failed, expired or evicted messages).
        let in_progress: Vec<u32> = rx.progress().iter().map(|p| p.id).collect();
        held.retain(|id, _| in_progress.contains(id));
    }
    run_done();
});
