//! Speed of the pure-Lua codecs on PUC Lua 5.2 (the game's Lua, as vendored by mlua), on the
//! codec's sample payloads (`invsync_codec::sample`, seed 1). A benchmark, not a test: it
//! prints a table and never fails on speed.
//!
//! Goals from issue 4: base64 decode >= 11 MB/s, LZ4 block decode >= 40 MB/s, CRC32 >= 7 MB/s
//! (published pure-Lua libraries: about 4, 7 and 3 MB/s).
//!
//! Run: `cargo bench -p invsync-scenario --bench lua_codecs` (release build). Each figure is
//! the median of 7 timed batches of a bounded number of runs, timed in CPU time of this thread
//! (on Unix), so other processes on a busy machine distort it less than wall time would.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use invsync_codec::sample::{SampleKind, generate};
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
return h
"#;

/// CPU time of the calling thread (wall time where that is not available).
#[cfg(unix)]
fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn now() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
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
        "pure-Lua codecs on {} (mlua vendored), samples of invsync_codec::sample (seed 1)",
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
    for (name, goal, got) in [
        ("CRC32", 7.0, worst[0]),
        ("base64 decode", 11.0, worst[1]),
        ("LZ4 block decode", 40.0, worst[2]),
    ] {
        let verdict = if got >= goal { "meets" } else { "BELOW" };
        println!("{name:<17} slowest sample {got:>6.1} MB/s, goal {goal:>4.0} MB/s: {verdict}");
    }
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
