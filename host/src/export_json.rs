//! The `export_json` transform of a `player_data` message (PROTOCOL.md 4.1): each export string
//! (`x`, `"0"` + base64(zlib(json))) of a format-2 stack is replaced by its JSON text (`xj`), so
//! that the framing's zlib compresses the blueprints together; the game rebuilds the export
//! natively (`"0" .. helpers.encode_string(xj)`) before `import_stack`.
//!
//! Only for a game that declares `export_json` ([`for_game`]). The data is untrusted (it comes
//! from the store, which took it from a game): an export that is not `"0"` + canonical base64 of
//! a zlib stream of UTF-8 JSON text, or that inflates past [`MAX_EXPORT_JSON`], stays `x` (the
//! game refuses and reports it as it does today), and so does every export once the data would
//! grow past the caller's bound. Every other value is kept as written, numbers included (the
//! objects and lists around a rewritten stack are written again, without whitespace).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use invsync_codec::Capabilities;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Longest JSON text one export may inflate to and still be sent as `xj`: the game rebuilds it
/// with one native deflate in one tick (the `bp` sample's largest is 325 kB).
pub const MAX_EXPORT_JSON: usize = 4 * 1024 * 1024;

/// Levels of item inventories (`i`) inside one another that are rewritten; the game module
/// reads three (player_data.lua's MAX_NESTING).
const MAX_NESTING: usize = 8;

/// Bytes kept free under the game's `max_message` for the `player_data` envelope around the
/// data (type, player name, generation).
const ENVELOPE_ROOM: u64 = 4096;

/// The stored data as the game should get it: rewritten when `caps` declares `export_json` and
/// some export could be rewritten within the game's `max_message`, else `data` unchanged.
pub fn for_game(caps: Option<&Capabilities>, data: Vec<u8>) -> Vec<u8> {
    let Some(caps) = caps.filter(|c| c.export_json) else {
        return data;
    };
    let max_len =
        usize::try_from(caps.max_message.saturating_sub(ENVELOPE_ROOM)).unwrap_or(usize::MAX);
    match rewrite_exports(&data, max_len) {
        Some(r) => {
            tracing::debug!(
                exports = r.rewritten,
                kept = r.kept,
                before = data.len(),
                after = r.data.len(),
                "export strings sent as their JSON"
            );
            r.data
        }
        None => data,
    }
}

/// What [`rewrite_exports`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The data with `xj` in place of the rewritten `x`.
    pub data: Vec<u8>,
    /// Exports sent as `xj`.
    pub rewritten: usize,
    /// Exports kept as `x` (malformed, too large, or past the size bound).
    pub kept: usize,
}

/// Rewrites every export of format-2 PLAYER_DATA `data` that decodes, while the data stays at
/// most `max_len` bytes. `None` when nothing was rewritten: not format-2 JSON, no export, or
/// none usable.
pub fn rewrite_exports(data: &[u8], max_len: usize) -> Option<Rewritten> {
    let text = std::str::from_utf8(data).ok()?;
    let top = members(text)?;
    if !top.iter().any(|(k, v)| k == "format" && v.get() == "2") {
        return None;
    }
    let mut w = Walk {
        room: max_len.saturating_sub(text.len()),
        rewritten: 0,
        kept: 0,
    };
    let out = w.object(&top, |w, key, value| match key {
        "inventories" => {
            let lists = members(value)?;
            let new = w.object(&lists, |w, _, list| Some((None, w.list(list, 0)?)))?;
            Some((None, new))
        }
        "cursor" => Some((None, w.stack(value, 0)?)),
        "unplaced" => Some((None, w.list(value, 0)?)),
        "crafting" => {
            let crafting = members(value)?;
            let new = w.object(&crafting, |w, key, list| match key {
                "ingredients" => Some((None, w.list(list, 0)?)),
                _ => None,
            })?;
            Some((None, new))
        }
        _ => None,
    })?;
    Some(Rewritten {
        data: out.into_bytes(),
        rewritten: w.rewritten,
        kept: w.kept,
    })
}

/// The JSON text inside export string `x`, if it is well formed and inflates to at most
/// [`MAX_EXPORT_JSON`] bytes of UTF-8 JSON.
pub fn export_json(x: &str) -> Option<String> {
    let b64 = x.strip_prefix('0')?;
    // a zlib stream is at most a little longer than what it holds (stored blocks: 5 bytes per
    // 64 KiB), so a longer string cannot inflate within the bound
    if b64.len() / 4 * 3 > MAX_EXPORT_JSON + MAX_EXPORT_JSON / 1024 + 64 {
        return None;
    }
    let z = STANDARD.decode(b64).ok()?;
    let json = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&z, MAX_EXPORT_JSON).ok()?;
    let json = String::from_utf8(json).ok()?;
    serde_json::from_str::<IgnoredAny>(&json).ok()?;
    Some(json)
}

/// The rewrite's state: bytes the data may still grow by, and counts.
struct Walk {
    room: usize,
    rewritten: usize,
    kept: usize,
}

impl Walk {
    /// The object of `members` with each member replaced where `f` returns a new one (its new
    /// key, or `None` to keep it, and value text); `None` when `f` changed nothing.
    fn object(
        &mut self,
        members: &[(String, &RawValue)],
        mut f: impl FnMut(&mut Self, &str, &str) -> Option<(Option<&'static str>, String)>,
    ) -> Option<String> {
        let mut changed = Vec::with_capacity(members.len());
        for (key, value) in members {
            changed.push(f(self, key, value.get()));
        }
        if changed.iter().all(Option::is_none) {
            return None;
        }
        let mut out = String::from("{");
        for (i, ((key, value), new)) in members.iter().zip(changed).enumerate() {
            if i > 0 {
                out.push(',');
            }
            match new {
                Some((new_key, new)) => push_member(&mut out, new_key.unwrap_or(key), &new),
                None => push_member(&mut out, key, value.get()),
            }
        }
        out.push('}');
        Some(out)
    }

    /// A list of stack entries, with the stacks that changed rewritten.
    fn list(&mut self, text: &str, depth: usize) -> Option<String> {
        let entries = elements(text)?;
        let changed: Vec<Option<String>> =
            entries.iter().map(|e| self.stack(e.get(), depth)).collect();
        if changed.iter().all(Option::is_none) {
            return None;
        }
        let mut out = String::from("[");
        for (i, (e, new)) in entries.iter().zip(changed).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(new.as_deref().unwrap_or(e.get()));
        }
        out.push(']');
        Some(out)
    }

    /// One stack entry: a plain stack (an array) never changes; an object stack has its `x`
    /// rewritten (as the whole `"xj":...` member) and its inventory `i` walked.
    fn stack(&mut self, text: &str, depth: usize) -> Option<String> {
        if !text.starts_with('{') || depth >= MAX_NESTING {
            return None;
        }
        let m = members(text)?;
        if m.iter().any(|(k, _)| k == "xj") {
            return None; // both keys: the game refuses the stack as it would anyway
        }
        self.object(&m, |w, key, value| match key {
            "x" => Some((Some("xj"), w.export(value)?)),
            "i" => Some((None, w.list(value, depth + 1)?)),
            _ => None,
        })
    }

    /// The value of the `xj` that replaces `"x":<value>` (the JSON text as a JSON string), if
    /// the export decodes and the data may grow by that much.
    fn export(&mut self, value: &str) -> Option<String> {
        let xj = serde_json::from_str::<String>(value)
            .ok()
            .and_then(|x| export_json(&x))
            .and_then(|json| serde_json::to_string(&json).ok());
        // `"xj":` is a byte longer than `"x":`
        let grows = xj
            .as_ref()
            .map(|xj| (xj.len() + 1).saturating_sub(value.len()));
        match (xj, grows) {
            (Some(xj), Some(grows)) if grows <= self.room => {
                self.room -= grows;
                self.rewritten += 1;
                Some(xj)
            }
            _ => {
                self.kept += 1;
                None
            }
        }
    }
}

fn push_member(out: &mut String, key: &str, value: &str) {
    out.push_str(&serde_json::to_string(key).unwrap_or_default());
    out.push(':');
    out.push_str(value);
}

/// The members of the JSON object `text` in order, each value as its text; `None` if `text`
/// is not one JSON object.
fn members(text: &str) -> Option<Vec<(String, &RawValue)>> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = de.deserialize_map(Members).ok()?;
    de.end().ok()?;
    Some(out)
}

/// The elements of the JSON array `text`, each as its text; `None` if it is not one array.
fn elements(text: &str) -> Option<Vec<&RawValue>> {
    serde_json::from_str(text).ok()
}
