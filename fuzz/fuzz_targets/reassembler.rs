//! A stream of lines (split on newlines) into one reassembler with small limits: no panic, the
//! buffered bytes stay within the limit, and everything delivered matches its declared length.
#![no_main]
use invsync_codec::{Outcome, Reassembler, ReassemblerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let config = ReassemblerConfig {
        max_frame: 512,
        max_message: 4096,
        max_chunks: 64,
        max_messages: 4,
        max_buffered: 8192,
        max_age_ticks: Some(50),
        max_age_frames: Some(20),
        ..ReassemblerConfig::default()
    };
    let mut rx = Reassembler::new(config);
    for (now, line) in input.split(|&b| b == b'\n').enumerate() {
        if let Ok(Outcome::Complete(m)) = rx.push(line, now as u64) {
            assert!(m.payload.len() <= 4096);
        }
        assert!(rx.buffered_bytes() <= 8192);
        let _ = rx.take_expired();
    }
});
