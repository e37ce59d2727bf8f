//! The shared test vectors of docs/PROTOCOL.md section 6 (tests/vectors/ at the repository
//! root, written by the reference codec) run through the Lua receiver and sender.

mod common;

use common::{bytes_of, err_name, func, lstr};
use mlua::{Function, Lua, Table, Value};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct File<T> {
    vectors: Vec<T>,
}

#[derive(Deserialize)]
struct Good {
    name: String,
    /// `long` or `short` (PROTOCOL.md 2.5); the module writes only the long one.
    header: String,
    method: String,
    max_frame: usize,
    id: u32,
    payload_hex: String,
    #[serde(default)]
    frames: Vec<String>,
    /// Frames that are not UTF-8 are given in hex instead.
    #[serde(default)]
    frames_hex: Vec<String>,
}

#[derive(Deserialize)]
struct Bad {
    name: String,
    #[serde(default)]
    frames: Vec<String>,
    #[serde(default)]
    frames_hex: Vec<String>,
    error: String,
    #[serde(default)]
    receiver: serde_json::Map<String, serde_json::Value>,
}

/// tests/vectors/ of the repository, found from this crate's manifest directory upwards
/// (the portability crate lives one level deeper).
fn vectors_dir() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("tests/vectors");
        if candidate.join("good.json").is_file() {
            return candidate;
        }
        assert!(
            dir.pop(),
            "tests/vectors/good.json not found above {} (the reference codec writes it)",
            env!("CARGO_MANIFEST_DIR")
        );
    }
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: File<T> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        !file.vectors.is_empty(),
        "{} holds no vectors",
        path.display()
    );
    file.vectors
}

/// The frames of a vector as bytes, from `frames` or `frames_hex`.
fn frame_bytes(name: &str, frames: &[String], frames_hex: &[String]) -> Vec<Vec<u8>> {
    let out: Vec<Vec<u8>> = if frames_hex.is_empty() {
        frames.iter().map(|f| f.as_bytes().to_vec()).collect()
    } else {
        frames_hex.iter().map(|h| unhex(h)).collect()
    };
    assert!(!out.is_empty(), "{name}: no frames");
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Orders in which every good vector's frames are delivered.
fn orders(frames: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    let mut out = vec![frames.to_vec()];
    let mut rev = frames.to_vec();
    rev.reverse();
    out.push(rev);
    if frames.len() > 2 {
        let mut rot = frames.to_vec();
        rot.rotate_left(frames.len() / 2);
        out.push(rot);
        // interleaved halves
        let (a, b) = frames.split_at(frames.len() / 2);
        out.push(
            b.iter()
                .zip(a.iter())
                .flat_map(|(x, y)| [x.clone(), y.clone()])
                .chain(b[a.len()..].iter().cloned())
                .collect(),
        );
    }
    // every frame twice
    out.push(frames.iter().flat_map(|f| [f.clone(), f.clone()]).collect());
    out
}

#[test]
fn every_good_vector_decodes_in_any_order() {
    let lua = common::lua();
    let vectors: Vec<Good> = load("good.json");
    for v in &vectors {
        let payload = unhex(&v.payload_hex);
        let frames = frame_bytes(&v.name, &v.frames, &v.frames_hex);
        for (n, order) in orders(&frames).into_iter().enumerate() {
            for budget in [1e9, 200.0] {
                let rx = common::Receiver::new(&lua, &[("max_frame", 262_144.0)]);
                let d = rx.deliver(&order, budget);
                assert_eq!(
                    d.errors,
                    Vec::<String>::new(),
                    "{} order {n} budget {budget}",
                    v.name
                );
                assert_eq!(
                    d.messages.len(),
                    1,
                    "{} order {n} budget {budget}: one delivery",
                    v.name
                );
                assert_eq!(d.messages[0].0, v.id, "{}", v.name);
                assert!(
                    d.messages[0].1 == payload,
                    "{} order {n} budget {budget}: payload differs",
                    v.name
                );
                assert!(d.idle, "{}: state left behind", v.name);
            }
        }
    }
}

/// The same message with the long and the short header (PROTOCOL.md 2.5): its chunks mix in
/// any order, and a chunk held in one form is a duplicate in the other.
#[test]
fn long_and_short_frames_of_one_message_mix() {
    let lua = common::lua();
    let parse = func(&lua, "invsync.frame", "parse");
    let vectors: Vec<Good> = load("good.json");
    let mut mixed = 0;
    for short in vectors.iter().filter(|v| v.header == "short") {
        let name = short.name.trim_start_matches("short/");
        let Some(long) = vectors.iter().find(|v| v.name == name) else {
            continue;
        };
        let long_frames = frame_bytes(&long.name, &long.frames, &long.frames_hex);
        let short_frames = frame_bytes(&short.name, &short.frames, &short.frames_hex);
        // each chunk's data, as the module's frame.parse reads it
        let data = |f: &Vec<u8>| {
            let opts = lua.create_table().unwrap();
            opts.set("max_frame", 262_144).unwrap();
            let h: Table = parse.call((lstr(&lua, f), opts)).unwrap();
            h.get::<mlua::LuaString>("data")
                .unwrap()
                .as_bytes()
                .to_vec()
        };
        let same_chunks = long_frames.len() == short_frames.len()
            && long_frames
                .iter()
                .map(data)
                .eq(short_frames.iter().map(data));
        if !same_chunks || long_frames.len() < 2 {
            continue; // the headers' lengths cut this one differently
        }
        // odd chunks long, even chunks short, then every chunk again in the other form
        let alternate: Vec<Vec<u8>> = (0..long_frames.len())
            .map(|i| [&long_frames, &short_frames][i % 2][i].clone())
            .collect();
        let other: Vec<Vec<u8>> = (0..long_frames.len())
            .map(|i| [&short_frames, &long_frames][i % 2][i].clone())
            .collect();
        for order in [
            alternate.clone(),
            alternate.iter().chain(&other).cloned().collect(),
        ] {
            let rx = common::Receiver::new(&lua, &[("max_frame", 262_144.0)]);
            let d = rx.deliver(&order, 1e9);
            assert_eq!(d.errors, Vec::<String>::new(), "{name}");
            assert_eq!(d.messages.len(), 1, "{name}: one delivery");
            assert!(d.messages[0].1 == unhex(&long.payload_hex), "{name}");
        }
        mixed += 1;
    }
    assert!(mixed >= 3, "only {mixed} messages cut alike in both forms");
}

#[test]
fn the_lua_sender_reproduces_the_raw_and_zlib_vectors() {
    let lua = common::lua();
    let frames_fn = func(&lua, "invsync.sender", "frames");
    let vectors: Vec<Good> = load("good.json");
    let mut compared = 0;
    for v in vectors.iter().filter(|v| {
        (v.method == "raw" || v.method == "zlib") && v.frames_hex.is_empty() && v.header == "long"
    }) {
        let opts = lua.create_table().unwrap();
        opts.set("id", v.id).unwrap();
        opts.set("method", v.method.as_str()).unwrap();
        opts.set("max_frame", v.max_frame).unwrap();
        // the reference encoder uses miniz_oxide at level 9, and so does this deflate_b64
        opts.set("deflate_b64", common::deflate_fn(&lua)).unwrap();
        let (frames, err): (Value, Value) = frames_fn
            .call((lstr(&lua, &unhex(&v.payload_hex)), opts))
            .unwrap();
        assert_eq!(err_name(&err), None, "{}", v.name);
        let frames: Vec<String> = match frames {
            Value::Table(t) => t.sequence_values::<String>().map(|s| s.unwrap()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            frames, v.frames,
            "{}: the Lua sender's frames differ from the reference",
            v.name
        );
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} raw/zlib vectors");
}

/// A canonical dump of the receiver state without the frame counter (which every push moves).
fn dump(lua: &Lua, rx: &Table) -> String {
    let dump_fn = func(lua, "testlib", "dump");
    let skip = lua.create_table().unwrap();
    skip.set("pushed", true).unwrap();
    dump_fn.call((rx, skip)).unwrap()
}

#[test]
fn every_bad_vector_gives_its_error_and_leaves_no_partial_state() {
    let lua = common::lua();
    let vectors: Vec<Bad> = load("bad.json");
    let r = common::module(&lua, "invsync.reassembler");
    let new: Function = r.get("new").unwrap();
    let push: Function = r.get("push").unwrap();
    let step: Function = r.get("step").unwrap();
    let idle: Function = r.get("idle").unwrap();
    let env = common::zlib_env(&lua);
    for v in &vectors {
        let cfg = lua.create_table().unwrap();
        cfg.set("max_frame", 262_144).unwrap();
        cfg.set(
            "accept",
            lua.create_sequence_from(["raw", "lz4", "zlib", "solid"])
                .unwrap(),
        )
        .unwrap();
        for (key, value) in &v.receiver {
            match (key.as_str(), value) {
                ("decode", serde_json::Value::Array(list)) => {
                    let names: Vec<&str> = list
                        .iter()
                        .map(|m| m.as_str().expect("method name"))
                        .collect();
                    cfg.set("accept", lua.create_sequence_from(names).unwrap())
                        .unwrap();
                }
                (k, serde_json::Value::Number(n)) => cfg.set(k, n.as_f64().unwrap()).unwrap(),
                (k, other) => panic!("{}: receiver setting {k} = {other}", v.name),
            }
        }
        let rx: Table = new.call(cfg).unwrap();
        let frames = frame_bytes(&v.name, &v.frames, &v.frames_hex);
        let last = frames.len() - 1;
        let mut before = String::new();
        for (i, frame) in frames.iter().enumerate() {
            if i == last {
                before = dump(&lua, &rx);
            }
            let res: Table = push.call((&rx, lstr(&lua, frame), 0)).unwrap();
            let mut errors: Vec<(String, &str)> = Vec::new();
            if res.get::<String>("status").unwrap() == "error" {
                errors.push((err_name(&res.get("error").unwrap()).unwrap(), "frame"));
            }
            let events: Table = step.call((&rx, 1e9, 0, &env)).unwrap();
            let mut delivered = false;
            for ev in events.sequence_values::<Table>() {
                let ev = ev.unwrap();
                match ev.get::<String>("kind").unwrap().as_str() {
                    "message" => {
                        delivered = true;
                        let _ = bytes_of(&ev.get("payload").unwrap());
                    }
                    "duplicate" => {}
                    _ => {
                        let scope: String = ev.get("scope").unwrap_or_default();
                        errors.push((
                            err_name(&ev.get("error").unwrap()).unwrap(),
                            if scope == "message" {
                                "message"
                            } else {
                                "frame"
                            },
                        ));
                    }
                }
            }
            assert!(
                !delivered,
                "{}: frame {} delivered a message",
                v.name,
                i + 1
            );
            if i < last {
                assert!(
                    errors.is_empty(),
                    "{}: earlier frame {} failed: {errors:?}",
                    v.name,
                    i + 1
                );
                continue;
            }
            assert_eq!(
                errors.len(),
                1,
                "{}: expected exactly one error, got {errors:?}",
                v.name
            );
            assert_eq!(errors[0].0, v.error, "{}", v.name);
            let after = dump(&lua, &rx);
            if errors[0].1 == "frame" {
                assert_eq!(
                    after, before,
                    "{}: a rejected frame changed the receiver's state",
                    v.name
                );
            } else {
                // a failed message is dropped whole; the vectors hold one message each
                assert!(
                    idle.call::<bool>(&rx).unwrap(),
                    "{}: the failed message left state behind",
                    v.name
                );
            }
        }
    }
}
