//! Frames and payloads coming in from JavaScript: a `string` or a `Uint8Array` (a Node `Buffer`
//! is one).
//!
//! A string is taken as its UTF-8 encoding (a lone surrogate becomes U+FFFD, as `TextEncoder`
//! does). Every input is measured before it is copied into wasm memory: a linear memory grows but
//! never shrinks, so one oversized line from a peer must not pin megabytes for the life of the
//! host. Over the limit, only its exact UTF-8 length is computed (by the JavaScript engine, which
//! holds the string already) for the error message.

use js_sys::{JsString, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::js_error::type_error;
use crate::options::type_name;

#[wasm_bindgen(inline_js = r#"
export function utf8_length(s) {
  return typeof Buffer === "function" ? Buffer.byteLength(s, "utf8") : new TextEncoder().encode(s).length;
}
"#)]
extern "C" {
    fn utf8_length(s: &JsString) -> f64;
}

/// Input measured against a limit.
pub(crate) enum Measured {
    /// Within the limit: its bytes, copied into wasm memory.
    Bytes(Vec<u8>),
    /// Over the limit: its length in bytes. Nothing was copied.
    TooLong(usize),
}

/// The bytes of `value` (a string or a `Uint8Array`) if they are at most `limit`.
///
/// `what` names the argument in the `TypeError` thrown for any other kind of value.
pub(crate) fn bytes_within(value: &JsValue, limit: usize, what: &str) -> Result<Measured, JsValue> {
    if let Some(s) = value.dyn_ref::<JsString>() {
        // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit is too long.
        if s.length() as usize > limit {
            return Ok(Measured::TooLong(utf8_length(s) as usize));
        }
        let text = value.as_string().unwrap_or_default();
        return Ok(if text.len() > limit {
            Measured::TooLong(text.len())
        } else {
            Measured::Bytes(text.into_bytes())
        });
    }
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        let len = array.length() as usize;
        return Ok(if len > limit {
            Measured::TooLong(len)
        } else {
            Measured::Bytes(array.to_vec())
        });
    }
    Err(type_error(&format!(
        "{what} must be a string or a Uint8Array, got {}",
        type_name(value)
    )))
}
