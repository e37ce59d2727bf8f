//! Results handed to JavaScript as plain objects (their TypeScript shapes are in `typescript.rs`).
//!
//! Plain objects rather than wasm-bindgen classes: they own no wasm memory, so a caller never has
//! to `free()` them, and they print and serialise like any other value. Lengths are numbers
//! (the protocol caps them at 2^53 - 1, which a number holds exactly); a payload is a fresh
//! `Uint8Array`, copied out of wasm memory once.

use invsync_codec::{Encoded, Message, Outcome, Progress};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;

/// Builds a plain object field by field.
struct Fields(Object);

impl Fields {
    fn new() -> Self {
        Fields(Object::new())
    }

    fn with(self, key: &str, value: impl Into<JsValue>) -> Self {
        // Defining a data property on a fresh plain object cannot fail.
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    fn done(self) -> JsValue {
        self.0.into()
    }
}

/// `{ id, method, payloadLen, wireLen, messageCrc, frames }`.
pub(crate) fn encoded(e: &Encoded) -> JsValue {
    let frames: Array = e.frames.iter().map(|f| JsValue::from_str(f)).collect();
    Fields::new()
        .with("id", e.id)
        .with("method", e.method.as_str())
        .with("payloadLen", e.payload_len as f64)
        .with("wireLen", e.wire_len as f64)
        .with("messageCrc", format!("{:08x}", e.message_crc))
        .with("frames", frames)
        .done()
}

/// `{ id, method, count, wireLen, payload }`.
pub(crate) fn message(m: &Message) -> JsValue {
    Fields::new()
        .with("id", m.id)
        .with("method", m.method.as_str())
        .with("count", m.count)
        .with("wireLen", m.wire_len as f64)
        .with("payload", Uint8Array::from(&m.payload[..]))
        .done()
}

/// `{ kind: "stored", id, index, have, count }`, `{ kind: "duplicate", id, index }` or
/// `{ kind: "complete", id, message }`.
pub(crate) fn outcome(o: &Outcome) -> JsValue {
    match o {
        Outcome::Stored {
            id,
            index,
            have,
            count,
        } => Fields::new()
            .with("kind", "stored")
            .with("id", *id)
            .with("index", *index)
            .with("have", *have)
            .with("count", *count),
        Outcome::Duplicate { id, index } => Fields::new()
            .with("kind", "duplicate")
            .with("id", *id)
            .with("index", *index),
        Outcome::Complete(m) => Fields::new()
            .with("kind", "complete")
            .with("id", m.id)
            .with("message", message(m)),
    }
    .done()
}

/// `{ id, method, have, count, receivedBytes, wireLen }`.
pub(crate) fn progress(p: &Progress) -> JsValue {
    Fields::new()
        .with("id", p.id)
        .with("method", p.method.as_str())
        .with("have", p.have)
        .with("count", p.count)
        .with("receivedBytes", p.received_bytes as f64)
        .with("wireLen", p.wire_len as f64)
        .done()
}
