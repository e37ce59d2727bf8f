//! `encode(id, payload, options?)`: a payload into frames, by [`invsync_codec::encode`].
//!
//! The receiver defaults to what PROTOCOL.md section 4 tells a sender to assume before it has a
//! declaration (`raw` only, frames of at most 4000 bytes), not to "everything": a host that has
//! not asked the game for its `caps()` must not send it frames it may not decode.

use invsync_codec::{Capabilities, EncodeOptions, Error, MethodChoice};
use wasm_bindgen::prelude::*;

use crate::caps;
use crate::input::{Measured, bytes_within};
use crate::js_error::{protocol_error, range_error};
use crate::options::{JsOptions, to_uint};
use crate::output;
use crate::typescript::EncodeOptionsArg;

const KEYS: &[&str] = &[
    "method",
    "receiver",
    "maxFrame",
    "zlibLevel",
    "parallelism",
    "minChunkData",
    "perFrameOverhead",
    "segment",
];

/// Encodes `payload` (a string, taken as UTF-8, or a `Uint8Array`) as message `id` (1 ..= 2^32-1)
/// and returns its frames. Throws an `Error` named as in PROTOCOL.md 3.1 (`RawUnrepresentable`,
/// `NoAcceptableMethod`, `MessageTooLarge`, `TooManyChunks`, `FrameTooSmall`, ...).
#[wasm_bindgen(unchecked_return_type = "Encoded")]
pub fn encode(
    #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] payload: JsValue,
    options: Option<EncodeOptionsArg>,
) -> Result<JsValue, JsValue> {
    let id = to_uint(&id, "id", u64::from(u32::MAX))? as u32;
    let opts = encode_options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
    let limit = usize::try_from(opts.receiver.max_message).unwrap_or(usize::MAX);
    let payload = match bytes_within(&payload, limit, "payload")? {
        Measured::Bytes(bytes) => bytes,
        // The codec checks the id first; keep its order so the same input names the same error.
        Measured::TooLong(len) if id != 0 => {
            return Err(protocol_error(&Error::MessageTooLarge {
                id,
                what: "payload",
                len: len as u64,
                max: opts.receiver.max_message,
            }));
        }
        Measured::TooLong(_) => Vec::new(),
    };
    invsync_codec::encode(id, &payload, &opts)
        .map(|e| output::encoded(&e))
        .map_err(|e| protocol_error(&e))
}

fn encode_options(value: &JsValue) -> Result<EncodeOptions, JsValue> {
    let o = JsOptions::new(value, "options", KEYS)?;
    let mut opts = EncodeOptions {
        receiver: match o.get("receiver")? {
            None => Capabilities::assumed(),
            Some(r) => caps::from_js(&r, "options.receiver")?,
        },
        ..EncodeOptions::default()
    };
    if let Some(m) = o.string("method")? {
        opts.method = m
            .parse::<MethodChoice>()
            .map_err(|e| range_error(&format!("options.method: {e}")))?;
    }
    if let Some(max) = o.len("maxFrame")? {
        // A sender may cut smaller frames than the receiver allows, never larger ones.
        opts.receiver.max_frame = opts.receiver.max_frame.min(max);
    }
    if let Some(level) = o.uint("zlibLevel", 10)? {
        opts.zlib_level = level as u8;
    }
    if let Some(p) = o.uint("parallelism", u64::from(u32::MAX))? {
        opts.parallelism = (p as u32).max(1);
    }
    if let Some(n) = o.len("minChunkData")? {
        opts.min_chunk_data = n;
    }
    if let Some(n) = o.len("perFrameOverhead")? {
        opts.per_frame_overhead = n;
    }
    if let Some(n) = o.len("segment")? {
        opts.segment = n;
    }
    Ok(opts)
}
