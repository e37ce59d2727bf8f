//! `class Reassembler`: frames of many messages, in any order, into verified payloads
//! ([`invsync_codec::Reassembler`]).
//!
//! Options (all optional; camelCase forms of [`ReassemblerConfig`]'s fields, same defaults):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `maxFrame` | 262144 | longest frame accepted, in bytes (3999 suits stdout lines) |
//! | `decode` | `["raw","zlib","solid","lz4"]` | methods decoded, in order of preference |
//! | `maxMessage` | 16 MiB | largest `plen` / `wlen` |
//! | `maxChunks` | 65536 | largest chunk count |
//! | `maxMessages` | 64 | messages of two or more chunks in progress at once |
//! | `maxBuffered` | 64 MiB | sum of the wire lengths of the messages in progress |
//! | `maxAgeTicks` | 3600 | drop a message without progress for this many `now` units (`null`: never) |
//! | `maxAgeFrames` | 100000 | ... or while this many frames were pushed (`null`: never) |
//! | `rememberCompleted` | 64 | completed messages remembered to ignore late duplicates (at least 64) |
//!
//! `now` is optional in every method. Left out, it stays at the last value given (0 at first),
//! so a caller that never passes it ages messages by frames only.

use invsync_codec::{Error, ReassemblerConfig};
use js_sys::Array;
use wasm_bindgen::prelude::*;

use crate::caps;
use crate::input::{Measured, bytes_within};
use crate::js_error::{numbers, protocol_error};
use crate::options::{JsOptions, MAX_SAFE_INTEGER, to_uint};
use crate::output;
use crate::typescript::{ReassemblerOptionsArg, TicksArg};

const KEYS: &[&str] = &[
    "maxFrame",
    "decode",
    "maxMessage",
    "maxChunks",
    "maxMessages",
    "maxBuffered",
    "maxAgeTicks",
    "maxAgeFrames",
    "rememberCompleted",
];

/// Reads reassembler options (see the module documentation) over the codec's defaults.
pub(crate) fn config(value: &JsValue) -> Result<ReassemblerConfig, JsValue> {
    let o = JsOptions::new(value, "options", KEYS)?;
    let mut c = ReassemblerConfig::default();
    if let Some(n) = o.len("maxFrame")? {
        c.max_frame = n;
    }
    if let Some(m) = o.methods("decode")? {
        c.decode = m;
    }
    if let Some(n) = o.uint("maxMessage", MAX_SAFE_INTEGER)? {
        c.max_message = n;
    }
    if let Some(n) = o.uint("maxChunks", u64::from(u32::MAX))? {
        c.max_chunks = n as u32;
    }
    if let Some(n) = o.len("maxMessages")? {
        c.max_messages = n;
    }
    if let Some(n) = o.uint("maxBuffered", MAX_SAFE_INTEGER)? {
        c.max_buffered = n;
    }
    if let Some(n) = o.uint_or_null("maxAgeTicks", MAX_SAFE_INTEGER)? {
        c.max_age_ticks = n;
    }
    if let Some(n) = o.uint_or_null("maxAgeFrames", MAX_SAFE_INTEGER)? {
        c.max_age_frames = n;
    }
    if let Some(n) = o.len("rememberCompleted")? {
        c.remember_completed = n;
    }
    Ok(c)
}

/// Reassembles messages from frames of many messages, interleaved, in any order, duplicated.
#[wasm_bindgen]
pub struct Reassembler {
    inner: invsync_codec::Reassembler,
    /// The last `now` a caller gave: what a call without `now` uses.
    now: u64,
    /// Messages that expired while an over-long frame was refused (see `push`).
    expired: Vec<Error>,
}

#[wasm_bindgen]
impl Reassembler {
    /// A reassembler with these limits (see `ReassemblerOptions`).
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<ReassemblerOptionsArg>) -> Result<Reassembler, JsValue> {
        Ok(Reassembler {
            inner: invsync_codec::Reassembler::new(config(
                &options.map_or(JsValue::UNDEFINED, JsValue::from),
            )?),
            now: 0,
            expired: Vec::new(),
        })
    }

    /// Takes one frame (no stdout marker, no line end), received at time `now` (ticks).
    ///
    /// Returns `{kind: "stored" | "duplicate" | "complete", ...}`; a `complete` outcome carries
    /// the message, handed over exactly once. Throws an `Error` named as in PROTOCOL.md 3.1 when
    /// the frame is refused (the frame is dropped; for errors found on completion, the message).
    #[wasm_bindgen(unchecked_return_type = "PushOutcome")]
    pub fn push(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] frame: JsValue,
        now: Option<TicksArg>,
    ) -> Result<JsValue, JsValue> {
        let now = self.now(now)?;
        let max = self.inner.config().max_frame;
        match bytes_within(&frame, max, "frame")? {
            Measured::Bytes(line) => self
                .inner
                .push(&line, now)
                .map(|o| output::outcome(&o))
                .map_err(|e| protocol_error(&e)),
            Measured::TooLong(len) => {
                // The codec would age messages first, then refuse the frame unread; the frame
                // was not copied in, so do both here.
                let expired = self.inner.expire(now);
                self.expired.extend(expired);
                Err(protocol_error(&Error::FrameTooLong { len, max }))
            }
        }
    }

    /// The chunk numbers message `id` still misses, or `undefined` if it is not in progress.
    #[wasm_bindgen(unchecked_return_type = "number[] | undefined")]
    pub fn missing(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue,
    ) -> Result<JsValue, JsValue> {
        let id = to_uint(&id, "id", u64::from(u32::MAX))? as u32;
        Ok(self
            .inner
            .missing(id)
            .map_or(JsValue::UNDEFINED, |m| numbers(&m).into()))
    }

    /// Every message in progress: `{id, method, have, count, receivedBytes, wireLen}`, by id.
    #[wasm_bindgen(unchecked_return_type = "Progress[]")]
    pub fn progress(&self) -> Array {
        self.inner.progress().iter().map(output::progress).collect()
    }

    /// Drops the messages that made no progress for the configured age at time `now`, and
    /// returns an `Expired` error for each (with `messageId`, `count` and `missing`).
    #[wasm_bindgen(unchecked_return_type = "InvsyncError[]")]
    pub fn expire(&mut self, now: Option<TicksArg>) -> Result<Array, JsValue> {
        let now = self.now(now)?;
        Ok(errors(&self.inner.expire(now)))
    }

    /// The messages that expired during `push` since the last call, as `Expired` errors.
    #[wasm_bindgen(js_name = takeExpired, unchecked_return_type = "InvsyncError[]")]
    pub fn take_expired(&mut self) -> Array {
        let mut all = std::mem::take(&mut self.expired);
        all.extend(self.inner.take_expired());
        errors(&all)
    }

    /// Drops message `id` if it is in progress; returns whether it was.
    pub fn forget(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue,
    ) -> Result<bool, JsValue> {
        let id = to_uint(&id, "id", u64::from(u32::MAX))? as u32;
        Ok(self.inner.forget(id))
    }

    /// Forgets everything, e.g. when the sender restarted and may reuse message ids.
    pub fn reset(&mut self) {
        self.inner.reset();
        self.expired.clear();
    }

    /// The capability declaration (JSON text, PROTOCOL.md 4) a receiver with these limits sends.
    pub fn capabilities(&self) -> String {
        caps::to_json(&self.inner.config().capabilities())
    }

    /// Wire bytes reserved by the messages in progress.
    #[wasm_bindgen(getter, js_name = bufferedBytes)]
    pub fn buffered_bytes(&self) -> f64 {
        self.inner.buffered_bytes() as f64
    }

    fn now(&mut self, now: Option<TicksArg>) -> Result<u64, JsValue> {
        if let Some(v) = now {
            self.now = to_uint(&v, "now", MAX_SAFE_INTEGER)?;
        }
        Ok(self.now)
    }
}

fn errors(list: &[Error]) -> Array {
    list.iter().map(protocol_error).collect()
}
