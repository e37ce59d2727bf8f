//! Errors as JavaScript sees them.
//!
//! A codec error becomes an `Error` with `name` = the protocol name (`"FrameChecksumMismatch"`)
//! and `message` = the Rust `Display` text, so logs read the same on both sides. Extra
//! properties carry what a host acts on: `messageId` (when the error is about one message),
//! and for `Expired` / `Incomplete` the chunk `count` and the `missing` chunk numbers.
//!
//! Mistakes in the arguments a JavaScript caller passes are not protocol errors: they are thrown
//! as the built-in `TypeError` (wrong kind of value) or `RangeError` (right kind, bad value).

use invsync_codec::Error;
use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;

/// The JavaScript `Error` for a codec error.
pub(crate) fn protocol_error(error: &Error) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name(error.name());
    if let Some(id) = error.message_id() {
        set(&js, "messageId", id.into());
    }
    if let Error::Expired { count, missing, .. } | Error::Incomplete { count, missing, .. } = error
    {
        set(&js, "count", (*count).into());
        set(&js, "missing", numbers(missing).into());
    }
    js.into()
}

/// A `TypeError`: the caller passed the wrong kind of value.
pub(crate) fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// A `RangeError`: the caller passed a value of the right kind but out of range.
pub(crate) fn range_error(message: &str) -> JsValue {
    js_sys::RangeError::new(message).into()
}

/// A JavaScript array of numbers.
pub(crate) fn numbers(values: &[u32]) -> Array {
    values.iter().map(|&v| JsValue::from(v)).collect()
}

fn set(target: &js_sys::Error, key: &str, value: JsValue) {
    // Setting a plain data property on a fresh Error object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), &value);
}
