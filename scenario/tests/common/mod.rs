//! Helpers shared by the integration tests: a game-like Lua state with the test helper
//! module, calls into the Lua modules, and an independent Rust reference for frames
//! (following docs/PROTOCOL.md with crc32fast, base64, lz4_flex and miniz_oxide).
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mlua::{Function, Lua, Table, Value};
use serde_json::{Map as JsonMap, Number as JsonNumber, Value as Json};

/// A game-like Lua state with `require("testlib")` available.
pub fn lua() -> Lua {
    let lua = invsync_scenario::game_lua().expect("Lua state");
    invsync_scenario::add_module(&lua, "testlib", include_str!("../lua/testlib.lua"))
        .expect("testlib");
    lua
}

/// `require(name)` as a table.
pub fn module(lua: &Lua, name: &str) -> Table {
    invsync_scenario::require(lua, name).unwrap_or_else(|e| panic!("{e}"))
}

/// A function of a module.
pub fn func(lua: &Lua, module_name: &str, name: &str) -> Function {
    module(lua, module_name)
        .get(name)
        .unwrap_or_else(|e| panic!("{module_name}.{name}: {e}"))
}

/// A Lua string of these bytes.
pub fn lstr(lua: &Lua, bytes: &[u8]) -> mlua::LuaString {
    lua.create_string(bytes).expect("string")
}

/// The bytes of a Lua string value (panics on other types).
pub fn bytes_of(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => panic!("expected a string, got {other:?}"),
    }
}

/// The `name` field of an error table (None for nil).
pub fn err_name(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::Table(t) => Some(t.get::<String>("name").expect("error name")),
        other => panic!("expected an error table, got {other:?}"),
    }
}

/// `{ inflate_b64 = ... }` backed by miniz_oxide, limited to `limit` bytes of output.
pub fn zlib_env(lua: &Lua) -> Table {
    let env = lua.create_table().unwrap();
    let inflate = lua
        .create_function(|lua, text: mlua::LuaString| {
            let Ok(raw) = STANDARD.decode(&*text.as_bytes()) else {
                return Ok(Value::Nil);
            };
            match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&raw, 1 << 26) {
                Ok(out) => Ok(Value::String(lua.create_string(&out)?)),
                Err(_) => Ok(Value::Nil),
            }
        })
        .unwrap();
    env.set("inflate_b64", inflate).unwrap();
    env
}

/// `deflate_b64` backed by miniz_oxide (zlib level 9, then base64).
pub fn deflate_fn(lua: &Lua) -> Function {
    lua.create_function(|_, payload: mlua::LuaString| {
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&payload.as_bytes(), 9);
        Ok(STANDARD.encode(z))
    })
    .unwrap()
}

/// The wire methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Raw,
    Lz4,
    Zlib,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Raw => "raw",
            Method::Lz4 => "lz4",
            Method::Zlib => "zlib",
        }
    }
}

/// The wire text of a payload for `raw` or `lz4` (reference implementation; `zlib` is one
/// stream per chunk, see [`chunks_of`]).
pub fn wire_text(method: Method, payload: &[u8]) -> Vec<u8> {
    match method {
        Method::Raw => payload.to_vec(),
        Method::Lz4 => STANDARD
            .encode(lz4_flex::block::compress(payload))
            .into_bytes(),
        Method::Zlib => panic!("zlib has no single wire text: one stream per chunk (chunks_of)"),
    }
}

/// One `zlib` chunk: the padded base64 of a complete zlib stream (level 9) of `slice`.
pub fn zlib_chunk(slice: &[u8]) -> Vec<u8> {
    STANDARD
        .encode(miniz_oxide::deflate::compress_to_vec_zlib(slice, 9))
        .into_bytes()
}

/// The chunks of a message (PROTOCOL.md 2.3, 2.4), cut at about `size`: for `raw` and `lz4`
/// the wire text cut by [`chunk_lengths`]; for `zlib` the payload cut into slices of
/// `4 * size` bytes (text compresses about that much), each compressed into a chunk of its own.
pub fn chunks_of(method: Method, payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    if method == Method::Zlib {
        if payload.is_empty() {
            return vec![zlib_chunk(payload)];
        }
        return payload.chunks(4 * size.max(1)).map(zlib_chunk).collect();
    }
    let wire = wire_text(method, payload);
    let mut pos = 0;
    chunk_lengths(method, &wire, size)
        .into_iter()
        .map(|len| {
            pos += len;
            wire[pos - len..pos].to_vec()
        })
        .collect()
}

/// Frames of a message whose chunks are given (reference encoder, PROTOCOL.md 2).
pub fn frames_of_chunks(id: u32, method: Method, plen: usize, chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let lengths: Vec<usize> = chunks.iter().map(Vec::len).collect();
    frames_for(id, method, plen, &chunks.concat(), &lengths)
}

/// Chunk lengths of about `size` bytes for a wire text: multiples of 4 for base64, cut
/// between characters for raw (which must then be UTF-8).
pub fn chunk_lengths(method: Method, wire: &[u8], size: usize) -> Vec<usize> {
    if wire.is_empty() {
        return vec![0];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < wire.len() {
        let mut end = (start + size.max(1)).min(wire.len());
        match method {
            Method::Raw => {
                let text = std::str::from_utf8(wire).expect("raw wire is text");
                while end < wire.len() && !text.is_char_boundary(end) {
                    end -= 1;
                }
                if end == start {
                    end = start + 1;
                    while end < wire.len() && !text.is_char_boundary(end) {
                        end += 1;
                    }
                }
            }
            _ => {
                let size4 = (size.max(4) / 4) * 4;
                end = (start + size4).min(wire.len());
            }
        }
        out.push(end - start);
        start = end;
    }
    out
}

/// Frames of a wire text cut at these lengths (reference encoder, PROTOCOL.md 2).
pub fn frames_for(
    id: u32,
    method: Method,
    plen: usize,
    wire: &[u8],
    lengths: &[usize],
) -> Vec<Vec<u8>> {
    let mcrc = crc32fast::hash(wire);
    let count = lengths.len();
    let mut frames = Vec::with_capacity(count);
    let mut pos = 0;
    for (k, len) in lengths.iter().enumerate() {
        let data = &wire[pos..pos + len];
        pos += len;
        let mut body = format!(
            "{id} {}/{count} {} {plen} {} {mcrc:08x} ",
            k + 1,
            method.name(),
            wire.len()
        )
        .into_bytes();
        body.extend_from_slice(data);
        let mut frame = format!("IS1 {:08x} ", crc32fast::hash(&body)).into_bytes();
        frame.extend_from_slice(&body);
        frames.push(frame);
    }
    frames
}

/// A parsed frame (reference decoder, checks fcrc).
#[derive(Debug, Clone)]
pub struct RefFrame {
    pub id: u32,
    pub index: usize,
    pub count: usize,
    pub method: String,
    pub plen: usize,
    pub wlen: usize,
    pub mcrc: u32,
    pub data: Vec<u8>,
}

/// Parses a frame as PROTOCOL.md 2 describes, checking fcrc (panics when wrong: only for
/// frames that must be right).
pub fn parse_ref(frame: &[u8]) -> RefFrame {
    assert!(frame.starts_with(b"IS1 "), "magic");
    let fcrc = u32::from_str_radix(std::str::from_utf8(&frame[4..12]).unwrap(), 16).unwrap();
    assert_eq!(frame[12], b' ');
    let body = &frame[13..];
    assert_eq!(
        crc32fast::hash(body),
        fcrc,
        "fcrc of {:?}",
        String::from_utf8_lossy(frame)
    );
    let mut fields = body.splitn(7, |b| *b == b' ');
    let mut next = || {
        std::str::from_utf8(fields.next().unwrap())
            .unwrap()
            .to_owned()
    };
    let id = next().parse().unwrap();
    let pos = next();
    let (index, count) = pos.split_once('/').unwrap();
    let method = next();
    let plen = next().parse().unwrap();
    let wlen = next().parse().unwrap();
    let mcrc = u32::from_str_radix(&next(), 16).unwrap();
    let data = fields.next().unwrap().to_vec();
    RefFrame {
        id,
        index: index.parse().unwrap(),
        count: count.parse().unwrap(),
        method,
        plen,
        wlen,
        mcrc,
        data,
    }
}

/// Decodes a complete set of frames with the reference decoder; checks mcrc and plen.
pub fn decode_ref(frames: &[Vec<u8>]) -> Vec<u8> {
    let parsed: Vec<RefFrame> = frames.iter().map(|f| parse_ref(f)).collect();
    let first = &parsed[0];
    assert_eq!(parsed.len(), first.count, "all frames present");
    let mut wire = Vec::new();
    for (k, f) in parsed.iter().enumerate() {
        assert_eq!(f.index, k + 1, "frames in order");
        assert_eq!(
            (f.id, f.count, f.plen, f.wlen, f.mcrc),
            (first.id, first.count, first.plen, first.wlen, first.mcrc)
        );
        assert_eq!(f.method, first.method);
        wire.extend_from_slice(&f.data);
    }
    assert_eq!(wire.len(), first.wlen, "wlen");
    assert_eq!(crc32fast::hash(&wire), first.mcrc, "mcrc");
    let payload = match first.method.as_str() {
        "raw" => wire,
        "lz4" => lz4_flex::block::decompress(&STANDARD.decode(&wire).unwrap(), first.plen).unwrap(),
        // one stream per chunk, inflated on its own
        "zlib" => parsed
            .iter()
            .flat_map(|f| {
                miniz_oxide::inflate::decompress_to_vec_zlib(&STANDARD.decode(&f.data).unwrap())
                    .unwrap()
            })
            .collect(),
        other => panic!("method {other}"),
    };
    assert_eq!(payload.len(), first.plen, "plen");
    payload
}

/// Result of feeding frames to a Lua receiver.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Delivered payloads as (id, payload), in delivery order.
    pub messages: Vec<(u32, Vec<u8>)>,
    /// Error names reported by push or step, in order.
    pub errors: Vec<String>,
    /// Whether the receiver holds no partial state at the end.
    pub idle: bool,
}

/// A Lua receiver accepting every method, with zlib through miniz_oxide.
pub struct Receiver<'a> {
    pub lua: &'a Lua,
    pub rx: Table,
    push: Function,
    step: Function,
    idle: Function,
    busy: Function,
    env: Table,
}

impl<'a> Receiver<'a> {
    pub fn new(lua: &'a Lua, config: &[(&str, f64)]) -> Self {
        let r = module(lua, "invsync.reassembler");
        let cfg = lua.create_table().unwrap();
        let accept = lua
            .create_sequence_from(["raw", "lz4", "zlib", "solid"])
            .unwrap();
        cfg.set("accept", accept).unwrap();
        for (k, v) in config {
            cfg.set(*k, *v).unwrap();
        }
        let new: Function = r.get("new").unwrap();
        Receiver {
            lua,
            rx: new.call(cfg).unwrap(),
            push: r.get("push").unwrap(),
            step: r.get("step").unwrap(),
            idle: r.get("idle").unwrap(),
            busy: r.get("busy").unwrap(),
            env: zlib_env(lua),
        }
    }

    /// Pushes frames, then steps with `budget` until there is no work; errors from Lua
    /// itself (runtime errors) fail the test.
    pub fn deliver(&self, frames: &[Vec<u8>], budget: f64) -> Delivery {
        let mut d = Delivery::default();
        for f in frames {
            let res: Table = self
                .push
                .call((&self.rx, lstr(self.lua, f), 0))
                .unwrap_or_else(|e| panic!("push raised: {e}"));
            if res.get::<String>("status").unwrap() == "error" {
                d.errors.push(err_name(&res.get("error").unwrap()).unwrap());
            }
        }
        self.drain(budget, &mut d);
        d
    }

    /// Steps until no work is left.
    pub fn drain(&self, budget: f64, d: &mut Delivery) {
        for _ in 0..1_000_000 {
            let events: Table = self
                .step
                .call((&self.rx, budget, 0, &self.env))
                .unwrap_or_else(|e| panic!("step raised: {e}"));
            for ev in events.sequence_values::<Table>() {
                let ev = ev.unwrap();
                match ev.get::<String>("kind").unwrap().as_str() {
                    "message" => d
                        .messages
                        .push((ev.get("id").unwrap(), bytes_of(&ev.get("payload").unwrap()))),
                    "duplicate" => {}
                    _ => d.errors.push(err_name(&ev.get("error").unwrap()).unwrap()),
                }
            }
            if !self.busy.call::<bool>(&self.rx).unwrap() {
                break;
            }
        }
        d.idle = self.idle.call::<bool>(&self.rx).unwrap();
    }
}

/// Lua value -> serde value: a table with keys exactly 1..n (n > 0) is an array, any other
/// table an object (so an empty one is `{}`).
pub fn from_lua(v: &Value) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => JsonNumber::from_f64(*i as f64).map_or(Json::Null, Json::Number),
        Value::Number(n) => JsonNumber::from_f64(*n).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.to_str().expect("UTF-8").to_string()),
        Value::Table(t) => {
            let n = t.raw_len();
            let count = t.clone().pairs::<Value, Value>().count();
            if n > 0 && count == n {
                Json::Array((1..=n).map(|i| from_lua(&t.raw_get(i).unwrap())).collect())
            } else {
                let mut m = JsonMap::new();
                for pair in t.clone().pairs::<String, Value>() {
                    let (k, v) = pair.unwrap();
                    m.insert(k, from_lua(&v));
                }
                Json::Object(m)
            }
        }
        other => panic!("unexpected {other:?}"),
    }
}
