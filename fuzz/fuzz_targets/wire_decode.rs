//! Any wire text under every method, with a declared length from the input (small, near the
//! text's own size, or large, up to 16 MiB): decoding returns exactly that many bytes or an
//! error, never a panic or an allocation beyond the declared length. What decodes is checked
//! for content (`raw` is the text itself) and round trips (re-encoded, it decodes to itself).
//! The rest of the input, taken as a payload, survives every method's encode and decode.
#![no_main]
use invsync_codec::{Method, decode_wire, encode_wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&[mode, a, b], text)) = input.split_first_chunk::<3>() else {
        return;
    };
    let n = u64::from(u16::from_le_bytes([a, b]));
    let payload_len = match mode % 4 {
        0 => n,
        1 => (text.len() as u64 * 3 / 4).saturating_sub(n % 8),
        2 => (text.len() as u64).saturating_mul(n % 1100),
        _ => (1 << 24) - n,
    };
    for method in Method::ALL {
        if let Ok(p) = decode_wire(1, method, text, payload_len) {
            assert_eq!(p.len() as u64, payload_len);
            if method == Method::Raw {
                assert_eq!(p, text);
            }
            // (`raw` decoding does not check the text: that is the frame parser's job.)
            if let Ok(again) = encode_wire(method, &p, mode % 11) {
                assert_eq!(
                    decode_wire(1, method, again.as_bytes(), payload_len).as_deref(),
                    Ok(&p[..])
                );
            }
        }
        // The text as a payload: every method that can carry it gives it back.
        if let Ok(w) = encode_wire(method, text, mode % 11) {
            assert_eq!(
                decode_wire(2, method, w.as_bytes(), text.len() as u64).as_deref(),
                Ok(text)
            );
            // One byte too few declared never passes.
            if !text.is_empty() {
                assert!(decode_wire(2, method, w.as_bytes(), text.len() as u64 - 1).is_err());
            }
        }
    }
});
