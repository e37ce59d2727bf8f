//! Any wire text under every method, with a declared length from the input: decoding returns
//! exactly that many bytes or an error, never a panic or an unbounded allocation.
#![no_main]
use invsync_codec::{Method, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&len, text)) = input.split_first() else { return };
    let payload_len = u64::from(len) * 64;
    for method in Method::ALL {
        if let Ok(p) = wire::decode(1, method, text, payload_len) {
            assert_eq!(p.len() as u64, payload_len);
        }
    }
});
