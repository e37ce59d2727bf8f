//! Any bytes as a frame line: parsing must return a result, never panic, and a frame that parses
//! must rebuild to exactly the same line (the header is canonical).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Ok(frame) = invsync_codec::Frame::parse(line) {
        let data = std::str::from_utf8(frame.data).expect("a parsed frame's data is text");
        assert_eq!(frame.header.build_as(frame.format, data).as_bytes(), line);
    }
});
