//! Capability declarations (PROTOCOL.md section 4) between JavaScript and
//! [`invsync_codec::Capabilities`], without `serde_json`.
//!
//! Why not [`Capabilities::from_json`] / [`Capabilities::to_json`]: they pull `serde_json` and,
//! through its error messages, the float formatter into the `.wasm`, about 45 kB of the 200 kB
//! budget. JavaScript parses JSON natively anyway, so the declaration is read from the parsed
//! object. The codec's rules are restated in [`from_fields`] and [`to_json`]; the tests below
//! check them against `from_json` / `to_json` on a table of declarations, so a change of the
//! codec's rules fails here rather than drifting silently.

use invsync_codec::{
    ASSUMED_MAX_FRAME, Capabilities, DEFAULT_MAX_CHUNKS, DEFAULT_MAX_MESSAGE, Method,
    PROTOCOL_VERSION,
};
use js_sys::{Array, JSON, Object};
use wasm_bindgen::{JsCast, JsValue};

use crate::js_error::{range_error, type_error};
use crate::options::{MAX_SAFE_INTEGER, to_uint, type_name};

/// The fields of a declaration, type-checked but not yet validated.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// `protocol`.
    pub protocol: u32,
    /// `decode`, as given (unknown method names included).
    pub decode: Vec<String>,
    /// `max_frame`, if given.
    pub max_frame: Option<usize>,
    /// `max_message`, if given.
    pub max_message: Option<u64>,
    /// `max_chunks`, if given.
    pub max_chunks: Option<u32>,
    /// `short_header` (false when absent).
    pub short_header: bool,
}

/// Validates a declaration as [`Capabilities::from_json`] does after parsing: the protocol must
/// be this one, unknown methods are ignored (duplicates dropped), `raw` is required, absent
/// limits take the protocol's defaults, and `max_frame` must leave room for a header.
pub(crate) fn from_fields(f: Fields) -> Result<Capabilities, String> {
    if f.protocol != PROTOCOL_VERSION {
        return Err(format!(
            "protocol {} (this side speaks {PROTOCOL_VERSION})",
            f.protocol
        ));
    }
    let mut decode = Vec::new();
    for name in &f.decode {
        if let Some(m) = Method::from_wire(name.as_bytes())
            && !decode.contains(&m)
        {
            decode.push(m);
        }
    }
    if !decode.contains(&Method::Raw) {
        return Err("`decode` must include raw".into());
    }
    let caps = Capabilities {
        protocol: f.protocol,
        decode,
        max_frame: f.max_frame.unwrap_or(ASSUMED_MAX_FRAME),
        max_message: f.max_message.unwrap_or(DEFAULT_MAX_MESSAGE),
        max_chunks: f.max_chunks.unwrap_or(DEFAULT_MAX_CHUNKS),
        // a custom console command is the game's, never a JavaScript receiver's
        recv_command: None,
        // as is rebuilding exports from their JSON
        export_json: false,
        short_header: f.short_header,
    };
    if caps.max_frame < 64 {
        return Err(format!(
            "max_frame {} leaves no room for a header",
            caps.max_frame
        ));
    }
    Ok(caps)
}

/// The declaration as one line of JSON, byte for byte what [`Capabilities::to_json`] writes.
pub(crate) fn to_json(c: &Capabilities) -> String {
    let decode: Vec<String> = c.decode.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        "{{\"protocol\":{},\"decode\":[{}],\"max_frame\":{},\"max_message\":{},\"max_chunks\":{}{}}}",
        c.protocol,
        decode.join(","),
        c.max_frame,
        c.max_message,
        c.max_chunks,
        if c.short_header {
            ",\"short_header\":true"
        } else {
            ""
        }
    )
}

/// A receiver's declaration from JavaScript: its JSON text (as the game's `caps()` answers) or
/// the parsed object. A declaration that cannot be used is a `RangeError` naming `what`.
pub(crate) fn from_js(value: &JsValue, what: &str) -> Result<Capabilities, JsValue> {
    let bad = |detail: &str| range_error(&format!("{what}: bad capability declaration: {detail}"));
    let object = if let Some(text) = value.as_string() {
        JSON::parse(&text).map_err(|e| {
            let detail = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_default();
            bad(&format!("not JSON ({detail})"))
        })?
    } else {
        value.clone()
    };
    if !object.is_object() || Array::is_array(&object) {
        return Err(if value.is_string() {
            bad(&format!(
                "expected a JSON object, got {}",
                type_name(&object)
            ))
        } else {
            type_error(&format!(
                "{what} must be a capability declaration (JSON text or object), got {}",
                type_name(value)
            ))
        });
    }
    let object: Object = object.unchecked_into();
    let field = |key: &str| -> Result<Option<JsValue>, JsValue> {
        let v = js_sys::Reflect::get(&object, &JsValue::from_str(key))?;
        Ok((!v.is_undefined() && !v.is_null()).then_some(v))
    };
    let number = |key: &str, max: u64| -> Result<Option<u64>, JsValue> {
        field(key)?
            .map(|v| {
                to_uint(&v, &format!("{what}.{key}"), max)
                    .map_err(|_| bad(&format!("`{key}` must be an integer in 0..={max}")))
            })
            .transpose()
    };
    let protocol =
        number("protocol", u64::from(u32::MAX))?.ok_or_else(|| bad("missing field `protocol`"))?;
    let decode = field("decode")?.ok_or_else(|| bad("missing field `decode`"))?;
    if !Array::is_array(&decode) {
        return Err(bad("`decode` must be an array of method names"));
    }
    let decode = Array::from(&decode)
        .iter()
        .map(|v| {
            v.as_string()
                .ok_or_else(|| bad("`decode` must be an array of method names"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fields = Fields {
        protocol: protocol as u32,
        decode,
        max_frame: number("max_frame", MAX_SAFE_INTEGER)?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        max_message: number("max_message", MAX_SAFE_INTEGER)?,
        max_chunks: number("max_chunks", u64::from(u32::MAX))?.map(|n| n as u32),
        short_header: match field("short_header")? {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad("`short_header` must be true or false"))?,
        },
    };
    from_fields(fields).map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a JSON declaration with the type rules `from_js` applies in JavaScript.
    fn fields_of(text: &str) -> Option<Fields> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let num = |k: &str| v.get(k).filter(|x| !x.is_null()).map(|x| x.as_u64());
        let protocol = u32::try_from(num("protocol")??).ok()?;
        let decode = v
            .get("decode")?
            .as_array()?
            .iter()
            .map(|m| m.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?;
        let opt = |k: &str| match num(k) {
            None => Some(None),
            Some(n) => n.map(Some),
        };
        let short_header = match v.get("short_header").filter(|x| !x.is_null()) {
            None => false,
            Some(b) => b.as_bool()?,
        };
        Some(Fields {
            protocol,
            decode,
            max_frame: opt("max_frame")?.map(|n| n as usize),
            max_message: opt("max_message")?,
            max_chunks: opt("max_chunks")?.map(u32::try_from).transpose().ok()?,
            short_header,
        })
    }

    const DECLARATIONS: &[&str] = &[
        r#"{"protocol":1,"decode":["zlib","raw","lz4"],"max_frame":8192,"max_message":16777216,"max_chunks":65536}"#,
        r#"{"protocol":1,"decode":["raw"]}"#,
        r#"{"protocol":1,"decode":["zstd","zlib","raw","zlib"],"max_frame":5000,"color":"red"}"#,
        r#"{"decode":["raw"],"protocol":1,"max_chunks":7,"max_message":100,"max_frame":64}"#,
        r#"{"protocol":2,"decode":["raw"]}"#,
        r#"{"protocol":1,"decode":["zlib"]}"#,
        r#"{"protocol":1,"decode":[]}"#,
        r#"{"protocol":1,"decode":["raw"],"max_frame":63}"#,
        r#"{"protocol":1,"decode":["raw"],"max_frame":null}"#,
        r#"{"protocol":1,"decode":["raw"],"max_frame":-1}"#,
        r#"{"protocol":1,"decode":["raw"],"max_chunks":4294967296}"#,
        r#"{"protocol":1,"decode":["raw", 3]}"#,
        r#"{"protocol":1,"decode":"raw"}"#,
        r#"{"decode":["raw"]}"#,
        r#"{"protocol":1}"#,
        r#"{"protocol":"1","decode":["raw"]}"#,
        r#"{"protocol":1,"decode":["raw"],"short_header":true}"#,
        r#"{"protocol":1,"decode":["raw"],"short_header":false}"#,
        r#"{"protocol":1,"decode":["raw"],"short_header":1}"#,
    ];

    #[test]
    fn validation_matches_the_codec() {
        for text in DECLARATIONS {
            let codec = Capabilities::from_json(text);
            let ours = fields_of(text).map(from_fields);
            match (&codec, &ours) {
                (Ok(c), Some(Ok(o))) => assert_eq!(c, o, "{text}"),
                (Err(_), None | Some(Err(_))) => {}
                _ => panic!("{text}: codec says {codec:?}, this crate says {ours:?}"),
            }
        }
    }

    #[test]
    fn rejection_reasons_match_the_codec() {
        for text in DECLARATIONS {
            if let (Err(codec), Some(Err(ours))) = (
                Capabilities::from_json(text),
                fields_of(text).map(from_fields),
            ) {
                assert_eq!(
                    codec.to_string(),
                    format!("bad capability declaration: {ours}")
                );
            }
        }
    }

    #[test]
    fn json_matches_the_codec_byte_for_byte() {
        let mut caps = vec![
            Capabilities::all(8192),
            Capabilities::assumed(),
            Capabilities::from_method_list("lz4,raw", 3999).unwrap(),
        ];
        caps[2].max_message = 1;
        caps[2].max_chunks = u32::MAX;
        caps[1].short_header = true;
        for c in &caps {
            assert_eq!(to_json(c), c.to_json());
        }
    }
}
