"use strict";
// Benchmark (not a test): encode and decode MB/s of the invsync package for the codec's sample
// kinds, beside Node's native zlib and Buffer base64 doing the comparable work.
//
//   bash wasm/build.sh && node wasm/bench/bench.js [--seconds S] [--json]
//
// MB/s are payload bytes (10^6) per second; each figure is the best of 5 rounds of S/5 seconds
// (default S = 1), so a busy machine shows its least disturbed round. The samples come from the
// CLI (`invsync sample --kind K`): set INVSYNC_BIN to a built binary, or it runs `cargo run`.
// Goal (issue 6): decoding `rep` at >= 400 MB/s.

const { execFileSync } = require("node:child_process");
const path = require("node:path");
const zlib = require("node:zlib");

const invsync = require(path.join(__dirname, "..", "pkg"));

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1]) || 1;
const asJson = args.includes("--json");
const KINDS = ["small", "rep", "bp", "huge"];
const RECEIVER = { protocol: 1, decode: ["raw", "zlib", "lz4"], max_frame: 8192 };
const RCON_WRAPPER = 40;

function sample(kind) {
  const repo = path.join(__dirname, "..", "..");
  const [cmd, pre] = process.env.INVSYNC_BIN
    ? [process.env.INVSYNC_BIN, []]
    : ["cargo", ["run", "--quiet", "-p", "invsync", "--"]];
  return execFileSync(cmd, [...pre, "sample", "--kind", kind], { cwd: repo, maxBuffer: 1 << 28 });
}

/** Best rate of `fn` (which handles `bytes` payload bytes per call), in MB/s. */
function rate(bytes, fn) {
  const rounds = 5;
  const budget = (seconds / rounds) * 1e9;
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    do {
      fn();
      calls++;
      elapsed = Number(process.hrtime.bigint() - start);
    } while (elapsed < budget && calls < 1e6);
    best = Math.max(best, (bytes * calls) / (elapsed / 1e9) / 1e6);
  }
  return Math.round(best);
}

const rows = [];
for (const kind of KINDS) {
  const payload = sample(kind);
  const auto = invsync.encode(1, payload, { receiver: RECEIVER, perFrameOverhead: RCON_WRAPPER });
  for (const method of ["raw", "zlib", "lz4"]) {
    const opts = { method, receiver: RECEIVER, perFrameOverhead: RCON_WRAPPER };
    let encoded;
    try {
      encoded = invsync.encode(1, payload, opts);
    } catch (err) {
      rows.push({ kind, impl: "invsync", method, error: err.name });
      continue;
    }
    rows.push({
      kind,
      impl: "invsync",
      method: method === auto.method ? `${method} (auto)` : method,
      payload: payload.length,
      wire: encoded.frames.reduce((n, f) => n + Buffer.byteLength(f) + RCON_WRAPPER, 0),
      frames: encoded.frames.length,
      encode: rate(payload.length, () => invsync.encode(1, payload, opts)),
      decode: rate(payload.length, () => invsync.decodeMessage(encoded.frames)),
    });
  }
  // Node natively: zlib level 9 + base64 (what the zlib method does, without framing or CRCs),
  // and base64 alone (the floor of any text encoding).
  const deflated = zlib.deflateSync(payload, { level: 9 }).toString("base64");
  rows.push({
    kind,
    impl: "node",
    method: "zlib-9+base64",
    payload: payload.length,
    wire: deflated.length,
    encode: rate(payload.length, () => zlib.deflateSync(payload, { level: 9 }).toString("base64")),
    decode: rate(payload.length, () => zlib.inflateSync(Buffer.from(deflated, "base64"))),
  });
  const b64 = payload.toString("base64");
  rows.push({
    kind,
    impl: "node",
    method: "base64",
    payload: payload.length,
    wire: b64.length,
    encode: rate(payload.length, () => payload.toString("base64")),
    decode: rate(payload.length, () => Buffer.from(b64, "base64")),
  });
}

if (asJson) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  const header = ["sample", "impl", "method", "payload B", "wire B", "frames", "encode MB/s", "decode MB/s"];
  const table = rows.map((r) => [
    r.kind,
    r.impl,
    r.method,
    r.payload ?? "",
    r.wire ?? r.error,
    r.frames ?? "",
    r.encode ?? "",
    r.decode ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  console.log(line(header));
  for (const row of table) console.log(line(row));
  const rep = rows.find((r) => r.kind === "rep" && r.impl === "invsync" && r.method.endsWith("(auto)"));
  console.log(`\nrep decode (${rep.method}): ${rep.decode} MB/s, goal >= 400 MB/s`);
}
