//! Speed of the pure-Lua codecs on PUC Lua 5.2 (the game's Lua, as vendored by mlua), on the
//! sample payloads of `invsync_player_data` (seed 1). A benchmark, not a test: it
//! prints a table and never fails on speed.
//!
//! Goals from issue 4: base64 decode >= 11 MB/s, LZ4 block decode >= 40 MB/s, CRC32 >= 7 MB/s
//! (published pure-Lua libraries: about 4, 7 and 3 MB/s).
//!
//! Run: `cargo bench -p invsync-scenario --bench lua_codecs` (release build). Each figure is
//! the median of 7 timed batches of a bounded number of runs, timed in CPU time of this thread,
//! so other processes on a busy machine distort it less than wall time would.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use invsync_codec::{Capabilities, EncodeOptions, Method, MethodChoice, encode};
use invsync_player_data::{SampleKind, generate};
use mlua::{Function, Lua, Table};
use std::time::Duration;

const BATCHES: usize = 7;
/// A batch lasts at least this long (runs are repeated inside Lua to get there).
const BATCH_TIME: Duration = Duration::from_millis(40);
/// ... but never more than this many runs.
const MAX_RUNS: u32 = 10_000;

/// Lua helpers: run `f(...)` `n` times in a loop, so Rust-to-Lua call overhead does not count.
const HELPERS: &str = r#"
local crc32 = require("invsync.crc32")
local base64 = require("invsync.base64")
local lz4 = require("invsync.lz4")
local R = require("invsync.reassembler")
local S = require("invsync.sender")
local h = {}
function h.crc(n, s) local r for _ = 1, n do r = crc32.of(s) end return r end
function h.crc_tables(n, s) local r for _ = 1, n do r = crc32.update_tables(0, s) end return r end
function h.crc_bit32(n, s) local r for _ = 1, n do r = crc32.update_bit32(0, s) end return r end
function h.b64(n, s) local r for _ = 1, n do r = base64.decode(s) end return #r end
function h.b64enc(n, s) local r for _ = 1, n do r = base64.encode(s) end return #r end
function h.lz4(n, s, plen) local r for _ = 1, n do r = lz4.decompress(s, plen) end return #r end
-- the whole receiver: push every frame, then step with the default budget until delivered
function h.receive(n, frames, budget)
  local got
  for _ = 1, n do
    local rx = R.new({ accept = { "raw", "lz4", "zlib" } })
    for i = 1, #frames do R.push(rx, frames[i], 0) end
    got = nil
    local steps = 0
    while not got do
      local ev = R.step(rx, budget, 0)
      steps = steps + 1
      for _, e in ipairs(ev) do
        if e.kind == "message" then got = e.payload elseif e.error then error(e.error.message) end
      end
    end
  end
  return #got
end
function h.send_raw(n, payload, max_frame)
  local f
  for i = 1, n do f = S.frames(payload, { id = i, method = "raw", max_frame = max_frame }) end
  return #f
end
-- Per-tick workloads at a budget (calibration): each returns the number of steps (ticks) it
-- took, so that Rust divides time and instructions by it. Setup happens in `prepare_*`,
-- outside the measured call.
local J = require("invsync.json")
local prepared = {}
function h.prepare_frames(name, frames) prepared[name] = frames end
function h.prepare_inflate(f) prepared.inflate = f end
function h.tick_crc(n, s, budget)
  local steps = 0
  for _ = 1, n do
    local pos = 1
    local c = 0
    while pos <= #s do
      local stop = math.min(pos + budget - 1, #s)
      c = crc32.update(c, s, pos, stop)
      pos = stop + 1
      steps = steps + 1
    end
  end
  return steps
end
function h.tick_stage(n, s, budget)
  local steps = 0
  for i = 1, n do
    local job = S.new(s, { id = i, method = "raw", max_frame = 262144 })
    while true do
      steps = steps + 1
      local done = S.step(job, budget)
      if done then break end
    end
  end
  return steps
end
function h.tick_receive(n, name, budget)
  -- as the adapter does it: the recv calls' cost is charged to the next tick (link's debt)
  local link, settings = require("invsync.link"), require("invsync.settings")
  local cfg = settings.resolve({})
  local steps = 0
  local env = { inflate_b64 = prepared.inflate, log = function() end }
  for _ = 1, n do
    local st = link.new(cfg)
    local frames = prepared[name]
    for i = 1, #frames do link.recv(st, frames[i], 0) end
    while R.busy(st.rx) do
      local left = budget - link.take_debt(st, budget)
      link.receive(st, cfg, 0, env, math.max(left, 0))
      steps = steps + 1
    end
  end
  return steps
end
function h.tick_json(n, s, budget)
  local steps = 0
  for _ = 1, n do
    local d = J.decoder(s)
    while true do
      steps = steps + 1
      if J.decode_step(d, math.ceil(budget / 20)) then break end
    end
    assert(not d.err, d.err)
  end
  return steps
end
-- Unit costs (see `unit_costs`): the pieces of work the receiver charges by size.
local F = require("invsync.frame")
function h.scan(n, line)
  local hd = F.parse_header(line, { max_frame = 1e9 })
  for _ = 1, n do assert(F.check_data(line, hd) == nil) end
  return n
end
function h.push(n, frames)
  for _ = 1, n do
    local rx = R.new({ accept = { "raw", "lz4", "zlib" }, max_queued = 1e9 })
    for i = 1, #frames do R.push(rx, frames[i], 0) end
  end
  return n
end
function h.inflate(n, chunks, inflate)
  local out = 0
  for _ = 1, n do
    for i = 1, #chunks do out = out + #inflate(chunks[i]) end
  end
  return out
end
local Jn = require("invsync.join")
function h.join(n, pieces)
  local r
  for _ = 1, n do r = Jn.strings(pieces) end
  return #r
end
return h
"#;

/// CPU time of the calling thread.
fn now() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

struct Bench<'a> {
    lua: &'a Lua,
    helpers: Table,
}

impl Bench<'_> {
    /// Median seconds per run of helper `name` with `args`.
    fn time(&self, name: &str, args: impl Fn(&Lua, u32) -> mlua::MultiValue) -> f64 {
        let f: Function = self.helpers.get(name).expect(name);
        // calibrate: double the runs until one batch takes BATCH_TIME
        let mut runs = 1u32;
        loop {
            let t = now();
            f.call::<mlua::Value>(args(self.lua, runs)).expect(name);
            if now() - t >= BATCH_TIME || runs >= MAX_RUNS {
                break;
            }
            runs = (runs * 2).min(MAX_RUNS);
        }
        let mut per_run: Vec<f64> = (0..BATCHES)
            .map(|_| {
                let t = now();
                f.call::<mlua::Value>(args(self.lua, runs)).expect(name);
                (now() - t).as_secs_f64() / f64::from(runs)
            })
            .collect();
        per_run.sort_by(f64::total_cmp);
        per_run[BATCHES / 2]
    }
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn frames_of(lua: &Lua, method: &str, payload: &[u8], wire: &[u8], max_frame: usize) -> Table {
    // frames built by the reference encoder's rules: cut the wire text into equal aligned chunks
    let room = max_frame - 80;
    let room = room - room % 4;
    let count = wire.len().div_ceil(room).max(1);
    let mcrc = crc32fast::hash(wire);
    let t = lua.create_table().unwrap();
    for k in 0..count {
        let data = &wire[k * room..((k + 1) * room).min(wire.len())];
        let mut body = format!(
            "1 {}/{count} {method} {} {} {mcrc:08x} ",
            k + 1,
            payload.len(),
            wire.len()
        )
        .into_bytes();
        body.extend_from_slice(data);
        let mut frame = format!("IS1 {:08x} ", crc32fast::hash(&body)).into_bytes();
        frame.extend_from_slice(&body);
        t.raw_set(k + 1, lua.create_string(&frame).unwrap())
            .unwrap();
    }
    t
}

fn main() {
    let lua = invsync_scenario::game_lua().expect("Lua");
    invsync_scenario::add_module(&lua, "bench", HELPERS).unwrap();
    let helpers: Table = invsync_scenario::require(&lua, "bench").unwrap();
    let bench = Bench { lua: &lua, helpers };
    println!(
        "pure-Lua codecs on {} (mlua vendored), samples of invsync_player_data (seed 1)",
        invsync_scenario::lua_version(&lua)
    );
    println!();
    println!(
        "{:<6} {:>9} | {:>9} {:>9} | {:>10} {:>10} | {:>10} {:>10} | {:>12} {:>12}",
        "sample",
        "payload",
        "CRC32",
        "b64 dec",
        "lz4 wire",
        "LZ4 dec",
        "b64 enc",
        "raw send",
        "recv lz4",
        "recv raw"
    );
    println!(
        "{:<6} {:>9} | {:>9} {:>9} | {:>10} {:>10} | {:>10} {:>10} | {:>12} {:>12}",
        "",
        "bytes",
        "MB/s",
        "MB/s in",
        "bytes",
        "MB/s out",
        "MB/s in",
        "MB/s",
        "MB/s payload",
        "MB/s payload"
    );
    let mut worst = [f64::MAX; 3];
    for kind in SampleKind::ALL {
        let payload = generate(kind, 1);
        let block = lz4_flex::block::compress(&payload);
        let b64 = STANDARD.encode(&block);
        let ls = |b: &[u8]| lua.create_string(b).unwrap();
        let crc = bench.time("crc", |l, n| {
            (n, l.create_string(&payload).unwrap()).into_lua_multi_unwrap(l)
        });
        let dec = bench.time("b64", |l, n| {
            (n, l.create_string(b64.as_bytes()).unwrap()).into_lua_multi_unwrap(l)
        });
        let lz = bench.time("lz4", |l, n| {
            (n, l.create_string(&block).unwrap(), payload.len()).into_lua_multi_unwrap(l)
        });
        let enc = bench.time("b64enc", |l, n| {
            (n, l.create_string(&block).unwrap()).into_lua_multi_unwrap(l)
        });
        let send = bench.time("send_raw", |l, n| {
            (n, l.create_string(&payload).unwrap(), 3999).into_lua_multi_unwrap(l)
        });
        let lz_frames = frames_of(&lua, "lz4", &payload, b64.as_bytes(), 8192);
        let raw_frames = frames_of(&lua, "raw", &payload, &payload, 8192);
        let recv_lz = bench.time("receive", |l, n| {
            (n, lz_frames.clone(), 16384).into_lua_multi_unwrap(l)
        });
        let recv_raw = bench.time("receive", |l, n| {
            (n, raw_frames.clone(), 16384).into_lua_multi_unwrap(l)
        });
        let _ = ls;
        let row = [
            mbps(payload.len(), crc),
            mbps(b64.len(), dec),
            mbps(payload.len(), lz),
        ];
        for (w, r) in worst.iter_mut().zip(row) {
            *w = w.min(r);
        }
        println!(
            "{:<6} {:>9} | {:>9.1} {:>9.1} | {:>10} {:>10.1} | {:>10.1} {:>10.1} | {:>12.1} {:>12.1}",
            kind.as_str(),
            payload.len(),
            row[0],
            row[1],
            b64.len(),
            row[2],
            mbps(block.len(), enc),
            mbps(payload.len(), send),
            mbps(payload.len(), recv_lz),
            mbps(payload.len(), recv_raw),
        );
    }
    println!();
    crc_paths(&bench);
    println!();
    calibrate(&lua, &bench);
    println!();
    unit_costs(&lua, &bench);
    println!();
    for (name, goal, got) in [
        ("CRC32", 7.0, worst[0]),
        ("base64 decode", 11.0, worst[1]),
        ("LZ4 block decode", 40.0, worst[2]),
    ] {
        let verdict = if got >= goal { "meets" } else { "BELOW" };
        println!("{name:<17} slowest sample {got:>6.1} MB/s, goal {goal:>4.0} MB/s: {verdict}");
    }
}

/// The two CRC-32 paths on the `huge` sample.
fn crc_paths(bench: &Bench) {
    let payload = generate(SampleKind::Huge, 1);
    let run = |name: &str| {
        bench.time(name, |l, n| {
            (n, l.create_string(&payload).unwrap()).into_lua_multi_unwrap(l)
        })
    };
    let fast = run("crc_bit32");
    let tables = run("crc_tables");
    println!(
        "CRC-32 of the huge sample: bit32 slice-by-16 {:.1} MB/s, byte tables (no bit32) {:.1} MB/s",
        mbps(payload.len(), fast),
        mbps(payload.len(), tables)
    );
}

/// The adapter's default `tick_budget` (settings.lua).
const TICK_BUDGET: u32 = 20480;

/// Instructions and CPU time per tick of each kind of work at the default tick budget, on
/// the `huge` sample: the calibration of the instruction budget the tests check.
fn calibrate(lua: &Lua, bench: &Bench) {
    let payload = generate(SampleKind::Huge, 1);
    let lz4_b64 = STANDARD.encode(lz4_flex::block::compress(&payload));
    let prepare: Function = bench.helpers.get("prepare_frames").unwrap();
    // zlib: the reference encoder's frames (one stream per chunk), inflated as in the emulator
    let zlib_frames = lua.create_table().unwrap();
    for (i, f) in encode_frames(&payload, Method::Zlib).iter().enumerate() {
        zlib_frames
            .raw_set(i + 1, lua.create_string(f).unwrap())
            .unwrap();
    }
    prepare.call::<()>(("zlib", zlib_frames)).unwrap();
    let prepare_inflate: Function = bench.helpers.get("prepare_inflate").unwrap();
    prepare_inflate.call::<()>(inflate_fn(lua)).unwrap();
    prepare
        .call::<()>((
            "lz4",
            frames_of(lua, "lz4", &payload, lz4_b64.as_bytes(), 8192),
        ))
        .unwrap();
    println!(
        "calibration: one tick of each kind of work at tick_budget {TICK_BUDGET} units, on the huge sample"
    );
    println!(
        "{:<26} {:>6} {:>12} {:>9} {:>13}",
        "work", "ticks", "instr/tick", "ms/tick", "instr per ms"
    );
    let ls = |b: &[u8]| lua.create_string(b).unwrap();
    let works: [(&str, &str, mlua::Value); 5] = [
        (
            "CRC-32 (bit32)",
            "tick_crc",
            mlua::Value::String(ls(&payload)),
        ),
        (
            "staging raw (all of it)",
            "tick_stage",
            mlua::Value::String(ls(&payload)),
        ),
        (
            "receiving zlib frames",
            "tick_receive",
            mlua::Value::String(ls(b"zlib")),
        ),
        (
            "receiving lz4 frames",
            "tick_receive",
            mlua::Value::String(ls(b"lz4")),
        ),
        (
            "JSON decoding",
            "tick_json",
            mlua::Value::String(ls(&payload)),
        ),
    ];
    let mut fastest = 0f64;
    for (label, helper, arg) in works {
        let f: Function = bench.helpers.get(helper).unwrap();
        // instructions: one run under a count hook
        let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let c = count.clone();
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(100),
            move |_, _| {
                c.set(c.get() + 100);
                Ok(mlua::VmState::Continue)
            },
        )
        .unwrap();
        let ticks: f64 = f.call((1, arg.clone(), TICK_BUDGET)).unwrap();
        lua.remove_hook();
        let instructions = count.get() as f64;
        // time: the median of the batches, without the hook
        let secs = bench.time(helper, |l, n| {
            (n, arg.clone(), TICK_BUDGET).into_lua_multi_unwrap(l)
        });
        let per_tick = instructions / ticks;
        let ms = secs * 1000.0 / ticks;
        let per_ms = per_tick / ms;
        fastest = fastest.max(per_ms);
        println!("{label:<26} {ticks:>6} {per_tick:>12.0} {ms:>9.3} {per_ms:>13.0}");
    }
    println!(
        "instruction budget: {fastest:.0} instructions = 1 ms of the work that runs the most instructions per ms"
    );
}

/// CPU time of the pieces of work the receiver charges by size, in work units (one unit: the
/// time to checksum one byte with the `bit32` CRC, measured here too): what `limits.lua`'s
/// `scan_bytes`, `inflate_*` and `join_bytes` and link.lua's `recv` charge are set from.
/// The inflate is the emulator's `helpers.decode_string` (Rust base64 + miniz_oxide); the
/// game's is native code as well.
fn unit_costs(lua: &Lua, bench: &Bench) {
    let huge = generate(SampleKind::Huge, 1);
    let rep = generate(SampleKind::Rep, 1);
    let unit_ns = bench.time("crc", |l, n| {
        (n, l.create_string(&huge).unwrap()).into_lua_multi_unwrap(l)
    }) * 1e9
        / huge.len() as f64;
    println!("unit costs (one unit = one byte of bit32 CRC-32 = {unit_ns:.1} ns here)");
    println!("{:<44} {:>12} {:>14}", "work", "ns", "units");
    let row = |label: &str, ns: f64, per: &str| {
        println!(
            "{label:<44} {ns:>12.1} {:>14}",
            format!("{:.3} {per}", ns / unit_ns)
        );
    };
    // the deferred data check of one 8 kB frame (zlib: base64 alphabet; raw: UTF-8 text)
    let huge_zlib = encode_frames(&huge, Method::Zlib);
    let rep_zlib = encode_frames(&rep, Method::Zlib);
    let huge_raw = encode_frames(&huge, Method::Raw);
    for (label, frame) in [
        ("check_data, zlib frame, per byte", &huge_zlib[0]),
        ("check_data, raw frame, per byte", &huge_raw[0]),
    ] {
        let secs = bench.time("scan", |l, n| {
            (n, l.create_string(frame).unwrap()).into_lua_multi_unwrap(l)
        });
        row(label, secs * 1e9 / frame.len() as f64, "/byte");
    }
    // recv's work: the header only, whatever the frame's length
    let frames = lua.create_table().unwrap();
    for (i, f) in huge_zlib.iter().take(64).enumerate() {
        frames
            .raw_set(i + 1, lua.create_string(f).unwrap())
            .unwrap();
    }
    let n_frames = frames.raw_len() as f64;
    let secs = bench.time("push", |l, n| (n, frames.clone()).into_lua_multi_unwrap(l));
    row(
        "push (recv) of an 8 kB frame, per frame",
        secs * 1e9 / n_frames,
        "/frame",
    );
    // what the game does before recv runs: compile the command that carries the frame
    let cmd = format!("remote.call(\"invsync\",\"recv\",[[{}]])", huge_zlib[0]);
    let runs = 2000;
    let t = now();
    for _ in 0..runs {
        lua.load(cmd.as_str()).into_function().expect("compiles");
    }
    let ns = (now() - t).as_secs_f64() * 1e9 / f64::from(runs);
    row(
        "compiling the recv command, per byte",
        ns / cmd.len() as f64,
        "/byte",
    );
    // inflating zlib chunks with the emulator's helpers.decode_string
    let inflate = inflate_fn(lua);
    for (label, frames, payload_len) in [
        ("inflate, huge chunks", &huge_zlib, huge.len()),
        ("inflate, rep chunks", &rep_zlib, rep.len()),
    ] {
        let chunks = lua.create_table().unwrap();
        let mut chars = 0;
        for (i, f) in frames.iter().enumerate() {
            let data = f.rsplit(' ').next().unwrap();
            chars += data.len();
            chunks.raw_set(i + 1, data).unwrap();
        }
        let secs = bench.time("inflate", |l, n| {
            (n, chunks.clone(), inflate.clone()).into_lua_multi_unwrap(l)
        });
        let ns = secs * 1e9;
        row(
            &format!("{label}: per output byte ({} chunks)", frames.len()),
            ns / payload_len as f64,
            "/byte",
        );
        row(
            &format!("{label}: per input character"),
            ns / chars as f64,
            "/char",
        );
    }
    // joining a completed payload from its pieces
    for (label, piece) in [
        ("join 1 MB from 8 kB pieces, per byte", 8192usize),
        ("join 1 MB from 64 KiB pieces, per byte", 65536),
        ("join 200 kB from 12.5 kB pieces, per byte", 12500),
    ] {
        let total = if piece == 12500 { 200_000 } else { huge.len() };
        let pieces = lua.create_table().unwrap();
        for (i, c) in huge[..total].chunks(piece).enumerate() {
            pieces
                .raw_set(i + 1, lua.create_string(c).unwrap())
                .unwrap();
        }
        let secs = bench.time("join", |l, n| (n, pieces.clone()).into_lua_multi_unwrap(l));
        row(label, secs * 1e9 / total as f64, "/byte");
    }
}

/// The frames the host sends into the game: the reference encoder, 8 kB frames, 16 in flight.
fn encode_frames(payload: &[u8], method: Method) -> Vec<String> {
    let opts = EncodeOptions {
        method: MethodChoice::Only(method),
        receiver: Capabilities::all(8192),
        parallelism: 16,
        ..EncodeOptions::default()
    };
    encode(1, payload, &opts).expect("encode").frames
}

/// `helpers.decode_string` as the emulator implements it (base64, then miniz_oxide).
fn inflate_fn(lua: &Lua) -> Function {
    lua.create_function(|l, s: mlua::LuaString| {
        let out = invsync_emulator::decode_string(&s.as_bytes()).expect("zlib");
        l.create_string(out)
    })
    .unwrap()
}

/// `IntoLuaMulti` with the error unwrapped (benchmark setup cannot fail halfway).
trait IntoLuaMultiUnwrap {
    fn into_lua_multi_unwrap(self, lua: &Lua) -> mlua::MultiValue;
}

impl<T: mlua::IntoLuaMulti> IntoLuaMultiUnwrap for T {
    fn into_lua_multi_unwrap(self, lua: &Lua) -> mlua::MultiValue {
        self.into_lua_multi(lua).expect("arguments")
    }
}
