//! Any bytes as a one-chunk message's frame, its checksums repaired first (`mcrc` over its data,
//! then `fcrc`), so parsing gets past the checksum and the data is decoded: base64, LZ4, zlib
//! and the length checks. Decoding returns the declared length or an error, never a panic, and
//! a decoded payload re-encodes and decodes to itself.
#![no_main]
use invsync_codec::{Frame, Method, decode_wire, encode_wire};
use invsync_fuzz::{count, frame_data, repair_frame, run_done};
use libfuzzer_sys::fuzz_target;

/// Within a receiver's limit: `decode_wire` sizes its buffer from `plen`.
const MAX_PAYLOAD: u64 = 1 << 20;

fuzz_target!(|input: &[u8]| {
    let mut line = input.to_vec();
    let mcrc = frame_data(&line).map(crc32fast::hash);
    repair_frame(&mut line, mcrc);
    match Frame::parse(&line) {
        Err(e) => count(e.name()),
        Ok(frame) => {
            count("parsed");
            let data = std::str::from_utf8(frame.data).expect("a parsed frame's data is text");
            assert_eq!(
                frame.header.build_as(frame.format, data).as_bytes(),
                &line[..]
            );
            let h = frame.header;
            if h.count == 1 && h.payload_len <= MAX_PAYLOAD {
                match decode_wire(h.id, h.method, frame.data, h.payload_len) {
                    Err(e) => count(e.name()),
                    Ok(payload) => {
                        count("decoded");
                        assert_eq!(payload.len() as u64, h.payload_len);
                        if h.method == Method::Raw {
                            assert_eq!(payload, frame.data);
                        }
                        if let Ok(again) = encode_wire(h.method, &payload, 1) {
                            let back = decode_wire(h.id, h.method, again.as_bytes(), h.payload_len)
                                .expect("own encoding decodes");
                            assert_eq!(back, payload);
                        }
                    }
                }
            }
        }
    }
    run_done();
});
