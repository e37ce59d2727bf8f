"use strict";
// Round trips of random payloads through encode and the Reassembler, several messages
// interleaved, shuffled and duplicated (a seeded PRNG: every run tests the same cases).

const test = require("node:test");
const assert = require("node:assert/strict");
const { loadPackage, rng, parseFrame } = require("./helpers");

const invsync = loadPackage();
const ALL = { protocol: 1, decode: ["raw", "zlib", "lz4"], max_frame: 8192 };

/** Frame text: any UTF-8 without control characters (C0, DEL, C1). */
const TEXT_CHARS = ["a", "Z", "0", " ", "{", "]", "=", "\"", "é", "ß", "世", "🎮", "\u00a0", "\u{10ffff}"];

function randomPayload(r) {
  const kind = r.pick(["bytes", "text", "repetitive", "empty"]);
  const n = r.int(0, 6000);
  switch (kind) {
    case "bytes":
      return { kind, bytes: Buffer.from(Array.from({ length: n }, () => r.int(0, 255))) };
    case "text":
      return { kind, bytes: Buffer.from(Array.from({ length: n }, () => r.pick(TEXT_CHARS)).join("")) };
    case "repetitive":
      return { kind, bytes: Buffer.from(Array.from({ length: n }, (_, i) => "xyz"[(i >> 4) % 3]).join("")) };
    default:
      return { kind, bytes: Buffer.alloc(0) };
  }
}

test("random payloads survive encode and reassembly, interleaved, shuffled and duplicated", () => {
  const r = rng(2024);
  const rx = new invsync.Reassembler({ maxFrame: 8192 });
  let checked = 0;
  for (let round = 0; round < 60; round++) {
    const messages = [];
    for (let k = 0; k < r.int(1, 4); k++) {
      const { kind, bytes } = randomPayload(r);
      const method = r.pick(["auto", "raw", "lz4", "zlib"]);
      // zlib frames need room for a stream of at least 12 characters beside the header.
      const maxFrame = r.int(100, 1500);
      const parallelism = r.int(1, 5);
      const id = round * 10 + k + 1;
      let e;
      try {
        e = invsync.encode(id, bytes, { method, receiver: ALL, maxFrame, parallelism, minChunkData: 16 });
      } catch (err) {
        // Only bytes that are not frame text may be refused, and only by raw.
        assert.equal(err.name, "RawUnrepresentable", `${kind}/${method}: ${err.message}`);
        assert.equal(kind, "bytes");
        assert.equal(method, "raw");
        continue;
      }
      for (const frame of e.frames) assert.ok(Buffer.byteLength(frame) <= maxFrame, "within maxFrame");
      if (method !== "auto") assert.equal(e.method, method);
      // (zlib chunks are separate streams whose count follows their compressed sizes; the Rust
      // codec's tests check its rounding on realistic payloads.)
      if (e.method !== "zlib" && e.frames.length > 1 && e.wireLen >= parallelism * 16 * 2) {
        assert.equal(e.frames.length % parallelism, 0, "the count is a multiple of the parallelism");
      }
      messages.push({ e, bytes });
    }
    const frames = messages.flatMap(({ e }) => [...e.frames, ...e.frames.filter(() => r.next() < 0.2)]);
    const delivered = new Map();
    for (const frame of r.shuffle(frames)) {
      const outcome = rx.push(frame);
      if (outcome.kind === "complete") {
        assert.ok(!delivered.has(outcome.id), "delivered once");
        delivered.set(outcome.id, Buffer.from(outcome.message.payload));
      }
    }
    for (const { e, bytes } of messages) {
      assert.deepEqual(delivered.get(e.id), bytes, `message ${e.id} (${e.method}, ${e.frames.length} frames)`);
      checked++;
    }
    assert.deepEqual(rx.progress(), [], "nothing left in progress");
    assert.equal(rx.bufferedBytes, 0);
  }
  assert.ok(checked > 100, `${checked} messages checked`);
});

test("auto picks the smallest wire size among the methods the receiver decodes", () => {
  const r = rng(99);
  for (let i = 0; i < 40; i++) {
    const { bytes } = randomPayload(r);
    const overhead = r.int(0, 60);
    const opts = { receiver: ALL, maxFrame: r.int(100, 3000), perFrameOverhead: overhead };
    const size = (e) => e.frames.reduce((n, f) => n + Buffer.byteLength(f) + overhead, 0);
    const sizes = [];
    for (const method of ["raw", "zlib", "lz4"]) {
      try {
        sizes.push(size(invsync.encode(1, bytes, { ...opts, method })));
      } catch (err) {
        assert.equal(err.name, "RawUnrepresentable");
      }
    }
    assert.equal(size(invsync.encode(1, bytes, opts)), Math.min(...sizes));
  }
});

test("a string payload and its UTF-8 bytes give the same frames", () => {
  const text = "inventory: é世🎮 ".repeat(500);
  for (const method of ["raw", "lz4", "zlib"]) {
    const a = invsync.encode(3, text, { method, receiver: ALL, maxFrame: 700 });
    const b = invsync.encode(3, new Uint8Array(Buffer.from(text)), { method, receiver: ALL, maxFrame: 700 });
    assert.deepEqual(a.frames, b.frames);
    assert.equal(a.payloadLen, Buffer.byteLength(text));
    assert.equal(parseFrame(a.frames[0]).method, method);
  }
});
