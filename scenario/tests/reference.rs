//! Checks against the reference codec itself (`invsync_codec`): its error names, and its
//! sample payloads (small, rep, bp, huge) through the Lua receiver and sender, with the
//! per-tick budget. (Not part of the portability crate, which does not build the codec.)

mod common;

use common::lstr;
use invsync_codec::{
    Capabilities, EncodeOptions, Method, MethodChoice, Outcome, Reassembler, ReassemblerConfig,
    encode,
};
use invsync_player_data::{SampleKind, generate};
use mlua::{Function, Table, Value};

/// The default per-tick budget of the module (limits.step_budget).
const BUDGET: f64 = 16384.0;
/// A step may overrun its budget by the unit of work in hand: a CRC combination (256 units),
/// a frame header's CRC (< 100), a frame's character scan (8 kB / limits.scan_bytes), one
/// LZ4 sequence (up to ~5 kB of output in `huge`, a C-speed copy that costs far less than its
/// units suggest) or one inflate; or by the join of a completed payload, which cannot be
/// split (checked separately, from limits.join_bytes).
const OVERRUN: f64 = 8192.0;

fn rust_frames(kind: SampleKind, method: Method, id: u32) -> (Vec<u8>, Vec<String>) {
    let payload = generate(kind, 1);
    let opts = EncodeOptions {
        method: MethodChoice::Only(method),
        receiver: Capabilities::all(8192),
        ..EncodeOptions::default()
    };
    let encoded = encode(id, &payload, &opts).expect("reference encoder");
    (payload, encoded.frames)
}

#[test]
fn the_lua_error_names_are_the_codecs() {
    let lua = common::lua();
    let names: Vec<String> = common::module(&lua, "invsync.errors")
        .get::<Table>("NAMES")
        .unwrap()
        .sequence_values::<String>()
        .map(|n| n.unwrap())
        .collect();
    assert_eq!(names, invsync_codec::ERROR_NAMES.to_vec());
}

#[test]
fn reference_frames_of_every_sample_decode_in_lua_within_the_budget() {
    let lua = common::lua();
    let r = common::module(&lua, "invsync.reassembler");
    let new: Function = r.get("new").unwrap();
    let push: Function = r.get("push").unwrap();
    let step: Function = r.get("step").unwrap();
    let env = common::zlib_env(&lua);
    let join_bytes: f64 = common::module(&lua, "invsync.limits")
        .get("join_bytes")
        .unwrap();
    for kind in SampleKind::ALL {
        for method in [Method::Raw, Method::Lz4, Method::Zlib] {
            let (payload, mut frames) = rust_frames(kind, method, 9);
            let join = 16.0 + (payload.len() as f64 / join_bytes).floor();
            frames.reverse();
            let cfg = lua.create_table().unwrap();
            cfg.set(
                "accept",
                lua.create_sequence_from(["raw", "lz4", "zlib"]).unwrap(),
            )
            .unwrap();
            let rx: Table = new.call(cfg).unwrap();
            let mut got = None;
            let mut steps = 0u32;
            let mut most = 0f64;
            // frames arrive one per tick, as over RCON, while the receiver steps every tick
            let mut pending = frames.into_iter();
            while got.is_none() {
                if let Some(f) = pending.next() {
                    let res: Table = push.call((&rx, lstr(&lua, f.as_bytes()), steps)).unwrap();
                    assert_eq!(res.get::<String>("status").unwrap(), "queued");
                }
                let (events, spent): (Table, f64) = step.call((&rx, BUDGET, steps, &env)).unwrap();
                most = most.max(spent);
                steps += 1;
                assert!(steps < 100_000, "{kind} {method:?} does not finish");
                for ev in events.sequence_values::<Table>() {
                    let ev = ev.unwrap();
                    match ev.get::<String>("kind").unwrap().as_str() {
                        "message" => {
                            got = Some(common::bytes_of(&ev.get::<Value>("payload").unwrap()))
                        }
                        other => panic!("{kind} {method:?}: unexpected {other} event"),
                    }
                }
            }
            assert!(
                got.unwrap() == payload,
                "{kind} {method:?}: payload differs"
            );
            assert!(
                most <= BUDGET + OVERRUN.max(join),
                "{kind} {method:?}: a step spent {most} units"
            );
        }
    }
}

#[test]
fn lua_frames_of_every_sample_decode_in_the_reference_reassembler() {
    let lua = common::lua();
    let s = common::module(&lua, "invsync.sender");
    let new: Function = s.get("new").unwrap();
    let step: Function = s.get("step").unwrap();
    // what staging charges per KiB checksummed (limits.lua)
    let crc_units_per_kib: f64 = common::module(&lua, "invsync.limits")
        .get("staging_crc_units_per_kib")
        .unwrap();
    for kind in SampleKind::ALL {
        let payload = generate(kind, 1);
        for (method, max_frame) in [
            ("raw", 3999),
            ("zlib", 3999),
            ("raw", 262_144),
            ("zlib", 262_144),
        ] {
            let opts = lua.create_table().unwrap();
            opts.set("id", 77).unwrap();
            opts.set("method", method).unwrap();
            opts.set("max_frame", max_frame).unwrap();
            opts.set("deflate_b64", common::deflate_fn(&lua)).unwrap();
            let (job, err): (Value, Value) = new.call((lstr(&lua, &payload), opts)).unwrap();
            assert_eq!(common::err_name(&err), None, "{kind} {method}");
            let Value::Table(job) = job else {
                panic!("no job")
            };
            let mut calls = 0;
            loop {
                let (done, err): (Value, Value) = step.call((&job, BUDGET)).unwrap();
                assert_eq!(common::err_name(&err), None, "{kind} {method}");
                calls += 1;
                assert!(calls < 100_000);
                if matches!(done, Value::Boolean(true)) {
                    break;
                }
            }
            let frames: Table = job.get("frames").unwrap();
            let mut rx = Reassembler::new(ReassemblerConfig {
                max_frame,
                ..ReassemblerConfig::default()
            });
            let mut delivered = None;
            for f in frames.sequence_values::<mlua::LuaString>() {
                match rx
                    .push(&f.unwrap().as_bytes(), 0)
                    .unwrap_or_else(|e| panic!("{kind} {method}: {e}"))
                {
                    Outcome::Complete(m) => delivered = Some(m.payload),
                    Outcome::Stored { .. } => {}
                    Outcome::Duplicate { .. } => panic!("duplicate"),
                }
            }
            assert!(
                delivered.expect("complete") == payload,
                "{kind} {method} {max_frame}"
            );
            // each wire byte is checksummed once: that alone needs the units of wlen bytes
            // of CRC, divided by the budget, calls
            let wlen: f64 = job.get("wlen").unwrap();
            assert!(
                f64::from(calls) >= wlen * crc_units_per_kib / 1024.0 / BUDGET,
                "{kind} {method}: {wlen} wire bytes staged in {calls} calls"
            );
        }
    }
}

#[test]
fn the_lua_zlib_sender_makes_the_reference_encoders_frames() {
    // the same slicing rule as codec/src/encode.rs (`encode_zlib`), with the same deflate
    // (miniz_oxide level 9): byte-identical frames, or the same FrameTooSmall
    let lua = common::lua();
    let frames_fn: Function = common::func(&lua, "invsync.sender", "frames");
    let mut compared = 0;
    for kind in [SampleKind::Small, SampleKind::Rep, SampleKind::Bp] {
        let sample = generate(kind, 3);
        for len in [0usize, 1, 100, 5000, 70_000, 150_000] {
            let payload = &sample[..len.min(sample.len())];
            for max_frame in [90usize, 100, 140, 400, 3999, 8192, 262_144] {
                if len > 5000 && max_frame < 400 {
                    // thousands of tiny streams: slow, and nothing the smaller cases miss
                    continue;
                }
                let id = 4_000_000_007u32;
                let opts = EncodeOptions {
                    method: MethodChoice::Only(Method::Zlib),
                    receiver: Capabilities::all(max_frame),
                    ..EncodeOptions::default()
                };
                let rust = encode(id, payload, &opts);
                let lopts = lua.create_table().unwrap();
                lopts.set("id", id).unwrap();
                lopts.set("method", "zlib").unwrap();
                lopts.set("max_frame", max_frame).unwrap();
                lopts.set("deflate_b64", common::deflate_fn(&lua)).unwrap();
                let (frames, err): (Value, Value) =
                    frames_fn.call((lstr(&lua, payload), lopts)).unwrap();
                let what = format!("{kind} {len} bytes at max_frame {max_frame}");
                match (rust, frames) {
                    (Ok(e), Value::Table(t)) => {
                        let lua_frames: Vec<String> =
                            t.sequence_values::<String>().map(|f| f.unwrap()).collect();
                        assert_eq!(lua_frames, e.frames, "{what}");
                        compared += 1;
                    }
                    (Err(e), _) => assert_eq!(
                        common::err_name(&err).as_deref(),
                        Some(e.name()),
                        "{what}: the reference says {e}"
                    ),
                    (Ok(e), _) => panic!(
                        "{what}: Lua failed with {:?}, the reference made {} frames",
                        common::err_name(&err),
                        e.frames.len()
                    ),
                }
            }
        }
    }
    assert!(compared >= 60, "only {compared} cases compared");
}
