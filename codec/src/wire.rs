//! Turning a payload into a method's wire text and back (PROTOCOL.md section 2.3).
//!
//! This layer knows nothing of frame headers. `raw` and `lz4` map a whole payload to one wire
//! text that is later cut into chunks; `zlib` is one zlib stream per chunk ([`zlib_chunk`]),
//! so every chunk inflates on its own and no receiver has to inflate a whole message at once;
//! `solid` is one zlib stream of the whole payload, cut like `lz4`'s base64, and bounded
//! ([`SOLID_MAX_PAYLOAD`](crate::SOLID_MAX_PAYLOAD)) so that its one inflate stays short.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::Error;
use crate::method::Method;
use crate::text::{self, TextProblem};

/// The default zlib level: bytes into the game are the bottleneck, so spend host CPU on size.
pub const DEFAULT_ZLIB_LEVEL: u8 = 9;

/// Largest payload slice a sender puts in one `zlib` chunk: one native inflate in the game stays
/// well under a millisecond, however compressible the data (PROTOCOL.md 2.3).
pub(crate) const ZLIB_MAX_SLICE: usize = 64 * 1024;

/// One `zlib` chunk's data: the padded base64 of a complete zlib stream of `slice`.
pub(crate) fn zlib_chunk(slice: &[u8], zlib_level: u8) -> String {
    STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(
        slice,
        zlib_level.min(10),
    ))
}

/// Checks that `payload` can be sent with `raw`.
pub(crate) fn check_raw(payload: &[u8]) -> Result<(), Error> {
    match text::find_non_text(payload) {
        None => Ok(()),
        Some((offset, problem)) => Err(Error::RawUnrepresentable {
            offset,
            reason: match problem {
                TextProblem::InvalidUtf8 => "invalid UTF-8".into(),
                other => other.to_string(),
            },
        }),
    }
}

/// Refuses a payload over `method`'s own bound (`solid`: PROTOCOL.md 2.3).
pub(crate) fn check_method_bound(id: u32, method: Method, payload_len: u64) -> Result<(), Error> {
    match method.max_payload() {
        Some(max) if payload_len > max => Err(Error::MessageTooLarge {
            id,
            what: "solid payload",
            len: payload_len,
            max,
        }),
        _ => Ok(()),
    }
}

/// The wire text of `payload` under `method`, for `zlib` as a message of one chunk.
/// `zlib_level` is miniz's 0..=10. A `solid` payload over [`SOLID_MAX_PAYLOAD`](crate::SOLID_MAX_PAYLOAD) is
/// `MessageTooLarge`.
pub fn encode(method: Method, payload: &[u8], zlib_level: u8) -> Result<String, Error> {
    check_method_bound(0, method, payload.len() as u64)?;
    Ok(match method {
        Method::Raw => {
            check_raw(payload)?;
            // check_raw proved it is UTF-8.
            String::from_utf8(payload.to_vec()).expect("checked UTF-8")
        }
        Method::Lz4 => STANDARD.encode(lz4_flex::block::compress(payload)),
        Method::Zlib | Method::Solid => zlib_chunk(payload, zlib_level),
    })
}

/// The payload of message `id` from its complete wire text (for `zlib`, the text of a message of
/// one chunk). The result is exactly `payload_len` bytes or an error; `payload_len` must already
/// be within the receiver's limit, since it sizes the output buffer (for `solid` it must be at
/// most [`SOLID_MAX_PAYLOAD`](crate::SOLID_MAX_PAYLOAD), else `MessageTooLarge`).
pub fn decode(id: u32, method: Method, wire: &[u8], payload_len: u64) -> Result<Vec<u8>, Error> {
    check_method_bound(id, method, payload_len)?;
    match method {
        Method::Raw => check_len(id, wire.to_vec(), payload_len),
        _ => decode_bytes(id, method, &decode_base64(id, wire)?, payload_len),
    }
}

/// `payload_len` as a buffer length (a 32-bit target cannot hold every declared length).
fn payload_capacity(id: u32, payload_len: u64) -> Result<usize, Error> {
    usize::try_from(payload_len).map_err(|_| Error::MessageTooLarge {
        id,
        what: "payload",
        len: payload_len,
        max: usize::MAX as u64,
    })
}

/// Decompresses the bytes a base64 wire text decoded to.
fn decode_bytes(id: u32, method: Method, block: &[u8], payload_len: u64) -> Result<Vec<u8>, Error> {
    let expected_len = payload_capacity(id, payload_len)?;
    let payload = match method {
        Method::Raw => block.to_vec(),
        Method::Lz4 => {
            let mut out = vec![0u8; expected_len];
            let n = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| {
                Error::DecompressFailed {
                    id,
                    method,
                    detail: e.to_string(),
                }
            })?;
            out.truncate(n);
            out
        }
        Method::Zlib | Method::Solid => {
            return decode_zlib_stream(id, method, block, payload_len);
        }
    };
    check_len(id, payload, payload_len)
}

fn check_len(id: u32, payload: Vec<u8>, payload_len: u64) -> Result<Vec<u8>, Error> {
    if payload.len() as u64 != payload_len {
        return Err(Error::PayloadLengthMismatch {
            id,
            expected: payload_len,
            actual: payload.len() as u64,
        });
    }
    Ok(payload)
}

/// Like [`decode`] for a wire text given as its chunks. `lz4` chunks are 4-aligned slices of one
/// base64 text (PROTOCOL.md 2.3): each is base64-decoded on its own, so the wire text is never
/// copied whole; so are `solid` chunks, whose bytes are then one zlib stream. `zlib` chunks are
/// each a zlib stream of the next slice of the payload.
pub fn decode_chunks(
    id: u32,
    method: Method,
    chunks: &[&[u8]],
    payload_len: u64,
) -> Result<Vec<u8>, Error> {
    check_method_bound(id, method, payload_len)?;
    if method == Method::Zlib {
        return decode_zlib_chunks(id, chunks, payload_len);
    }
    if !method.is_base64()
        || chunks
            .iter()
            .rev()
            .skip(1)
            .any(|c| !c.len().is_multiple_of(4))
    {
        return decode(id, method, &chunks.concat(), payload_len);
    }
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let mut bytes = vec![0u8; total / 4 * 3 + 3];
    let mut n = 0;
    for (i, c) in chunks.iter().enumerate() {
        if i + 1 < chunks.len() && c.contains(&b'=') {
            return Err(Error::BadBase64 {
                id,
                detail: "padding before the end".into(),
            });
        }
        n += STANDARD
            .decode_slice(c, &mut bytes[n..])
            .map_err(|e| Error::BadBase64 {
                id,
                detail: e.to_string(),
            })?;
    }
    bytes.truncate(n);
    decode_bytes(id, method, &bytes, payload_len)
}

/// Inflates each chunk's stream in turn; together they may not exceed `payload_len`.
fn decode_zlib_chunks(id: u32, chunks: &[&[u8]], payload_len: u64) -> Result<Vec<u8>, Error> {
    let limit = payload_capacity(id, payload_len)?;
    // One buffer of the declared length (already within the receiver's limit): every stream
    // inflates straight into its place, with no per-chunk allocation or copy.
    let mut payload = vec![0u8; limit];
    let mut filled = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let stream = decode_base64(id, chunk)?;
        filled += inflate_into(&stream, &mut payload[filled..]).map_err(|why| {
            Error::DecompressFailed {
                id,
                method: Method::Zlib,
                detail: match why {
                    InflateFailure::TooLong => {
                        format!(
                            "chunk {} inflates past the payload length {payload_len}",
                            i + 1
                        )
                    }
                    InflateFailure::Invalid(status) => {
                        format!("chunk {} is not a zlib stream ({status:?})", i + 1)
                    }
                },
            }
        })?;
    }
    payload.truncate(filled);
    check_len(id, payload, payload_len)
}

enum InflateFailure {
    /// The stream has more output than the room left.
    TooLong,
    /// Not a valid zlib stream (header, data or Adler-32).
    Invalid(miniz_oxide::inflate::TINFLStatus),
}

/// Inflates one complete zlib stream into `out`, returning the bytes written.
fn inflate_into(stream: &[u8], out: &mut [u8]) -> Result<usize, InflateFailure> {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
    let mut state = Box::<DecompressorOxide>::default();
    let (status, _read, written) = decompress(&mut state, stream, out, 0, flags);
    match status {
        TINFLStatus::Done => Ok(written),
        TINFLStatus::HasMoreOutput => Err(InflateFailure::TooLong),
        other => Err(InflateFailure::Invalid(other)),
    }
}

/// One zlib stream that is the whole payload (a one-chunk `zlib` message, or `solid`), its
/// base64 already decoded.
fn decode_zlib_stream(
    id: u32,
    method: Method,
    stream: &[u8],
    payload_len: u64,
) -> Result<Vec<u8>, Error> {
    let mut payload = vec![0u8; payload_capacity(id, payload_len)?];
    let n = inflate_into(stream, &mut payload).map_err(|why| Error::DecompressFailed {
        id,
        method,
        detail: match why {
            InflateFailure::TooLong => format!("inflates to more than {payload_len} bytes"),
            InflateFailure::Invalid(status) => format!("invalid zlib stream ({status:?})"),
        },
    })?;
    payload.truncate(n);
    check_len(id, payload, payload_len)
}

fn decode_base64(id: u32, wire: &[u8]) -> Result<Vec<u8>, Error> {
    STANDARD.decode(wire).map_err(|e| Error::BadBase64 {
        id,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips() {
        let payload = br#"{"name":"alice","items":[["iron-plate",100],["iron-plate",100]]}"#;
        for m in Method::ALL {
            let wire = encode(m, payload, DEFAULT_ZLIB_LEVEL).unwrap();
            assert_eq!(
                decode(7, m, wire.as_bytes(), payload.len() as u64).unwrap(),
                payload
            );
        }
    }

    #[test]
    fn zlib_is_what_python_and_the_game_inflate() {
        // The wire text is a plain base64 zlib stream with its 2-byte header (0x78 ..).
        let wire = encode(Method::Zlib, b"hello hello hello", 9).unwrap();
        let stream = STANDARD.decode(&wire).unwrap();
        assert_eq!(stream[0], 0x78);
        assert_eq!((u16::from(stream[0]) << 8 | u16::from(stream[1])) % 31, 0);
    }

    #[test]
    fn decoded_length_must_match() {
        let wire = encode(Method::Lz4, b"abcabcabcabc", 9).unwrap();
        let short = decode(1, Method::Lz4, wire.as_bytes(), 13).unwrap_err();
        assert_eq!(short.name(), "PayloadLengthMismatch");
        let long = decode(1, Method::Lz4, wire.as_bytes(), 11).unwrap_err();
        assert_eq!(long.name(), "DecompressFailed");
        let wire = encode(Method::Zlib, b"abcabcabcabc", 9).unwrap();
        assert_eq!(
            decode(1, Method::Zlib, wire.as_bytes(), 13)
                .unwrap_err()
                .name(),
            "PayloadLengthMismatch"
        );
        assert_eq!(
            decode(1, Method::Zlib, wire.as_bytes(), 11)
                .unwrap_err()
                .name(),
            "DecompressFailed"
        );
    }

    #[test]
    fn base64_must_be_canonical() {
        // "AB==" has non-zero trailing bits; "AA=" is missing padding.
        for bad in ["AB==", "AA=", "A", "AA==AA=="] {
            assert_eq!(
                decode(1, Method::Lz4, bad.as_bytes(), 1)
                    .unwrap_err()
                    .name(),
                "BadBase64",
                "{bad}"
            );
        }
    }

    #[test]
    fn raw_refuses_non_text() {
        assert_eq!(
            encode(Method::Raw, b"a\nb", 9).unwrap_err().name(),
            "RawUnrepresentable"
        );
        assert_eq!(
            encode(Method::Raw, b"\xff", 9).unwrap_err().name(),
            "RawUnrepresentable"
        );
    }
}
