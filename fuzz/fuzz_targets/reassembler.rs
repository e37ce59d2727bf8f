//! A stream of lines (split on newlines) into one reassembler with small limits: no panic, the
//! buffered bytes stay within the limit, and everything delivered matches its declared length.
#![no_main]
use invsync_codec::Outcome;
use invsync_fuzz::{SMALL_MAX_BUFFERED, SMALL_MAX_MESSAGE, small_reassembler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut rx = small_reassembler();
    for (now, line) in input.split(|&b| b == b'\n').enumerate() {
        if let Ok(Outcome::Complete(m)) = rx.push(line, now as u64) {
            assert!(m.payload.len() <= SMALL_MAX_MESSAGE);
        }
        assert!(rx.buffered_bytes() <= SMALL_MAX_BUFFERED);
        let _ = rx.take_expired();
    }
});
