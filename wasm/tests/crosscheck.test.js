"use strict";
// The package checked against independent implementations: Node's zlib (deflate, inflate and
// CRC-32), Buffer's base64, and the LZ4 block decoder of helpers.js.

const test = require("node:test");
const assert = require("node:assert/strict");
const zlib = require("node:zlib");
const { loadPackage, rng, hex8, crc32, parseFrame, buildFrames, lz4BlockDecode } = require("./helpers");

const invsync = loadPackage();
const ALL = { protocol: 1, decode: ["raw", "zlib", "lz4"], max_frame: 8192 };
const ALL_SOLID = { protocol: 1, decode: ["raw", "zlib", "solid", "lz4"], max_frame: 8192 };

/** Payloads of several shapes: JSON-like text, repetitive, random bytes, non-ASCII text. */
function payloads(seed) {
  const r = rng(seed);
  const items = ["iron-plate", "copper-cable", "transport-belt", "inserter", "é世🎮"];
  const json = JSON.stringify(
    Array.from({ length: 300 }, (_, i) => ({ slot: i, name: r.pick(items), count: r.int(1, 200) })),
  );
  const random = Buffer.alloc(3000);
  for (let i = 0; i < random.length; i++) random[i] = r.int(0, 255);
  return [
    ["json", Buffer.from(json)],
    ["repetitive", Buffer.from("abc".repeat(5000))],
    ["random", random],
    ["short", Buffer.from("hi")],
    ["empty", Buffer.alloc(0)],
  ];
}

/** The wire text of an encoded message, checking each frame's header and checksum on the way. */
function wireOf(encoded) {
  let wire = "";
  encoded.frames.forEach((frame, i) => {
    const f = parseFrame(frame);
    assert.equal(f.fcrc, hex8(crc32(Buffer.from(f.body, "utf8"))), "fcrc is the CRC-32 of the body");
    assert.equal(f.id, encoded.id);
    assert.equal(f.index, i + 1);
    assert.equal(f.count, encoded.frames.length);
    assert.equal(f.method, encoded.method);
    assert.equal(f.plen, encoded.payloadLen);
    assert.equal(f.wlen, encoded.wireLen);
    assert.equal(f.mcrc, encoded.messageCrc);
    wire += f.data;
  });
  assert.equal(Buffer.byteLength(wire, "utf8"), encoded.wireLen);
  assert.equal(hex8(crc32(Buffer.from(wire, "utf8"))), encoded.messageCrc, "mcrc is the CRC-32 of the wire text");
  return wire;
}

test("solid carries at most 64 KiB (PROTOCOL.md 2.3): one byte more is refused by name", () => {
  const at = Buffer.alloc(65536, "iron-plate ");
  assert.deepEqual(invsync.decodeMessage(invsync.encode(7, at, { method: "solid", receiver: ALL_SOLID }).frames).payload, new Uint8Array(at));
  const over = Buffer.alloc(65537, "iron-plate ");
  assert.throws(() => invsync.encode(7, over, { method: "solid", receiver: ALL_SOLID }), { name: "MessageTooLarge" });
  // auto passes over it: the same receiver gets zlib
  assert.equal(invsync.encode(7, over, { receiver: ALL_SOLID }).method, "zlib");
});

for (const [name, payload] of payloads(11)) {
  test(`zlib frames of ${name} inflate with Node's zlib`, () => {
    for (const level of [0, 1, 6, 9, 10]) {
      const e = invsync.encode(5, payload, { method: "zlib", receiver: ALL, maxFrame: 300, zlibLevel: level });
      wireOf(e);
      // One zlib stream per chunk (PROTOCOL.md 2.3): each chunk inflates on its own.
      const slices = e.frames.map((f) => {
        const data = parseFrame(f).data;
        const bytes = Buffer.from(data, "base64");
        assert.equal(bytes.toString("base64"), data, "each chunk is canonical padded base64");
        return zlib.inflateSync(bytes);
      });
      assert.deepEqual(Buffer.concat(slices), payload);
    }
  });

  test(`solid frames of ${name} are one stream that Node's zlib inflates`, () => {
    const e = invsync.encode(7, payload, { method: "solid", receiver: ALL_SOLID, maxFrame: 300, parallelism: 4 });
    const wire = wireOf(e);
    const bytes = Buffer.from(wire, "base64");
    assert.equal(bytes.toString("base64"), wire, "canonical padded base64");
    assert.deepEqual(zlib.inflateSync(bytes), payload);
    // Cut as lz4's base64 is: every chunk but the last 4-aligned, padding only at the end.
    const chunks = e.frames.map((f) => parseFrame(f).data);
    chunks.slice(0, -1).forEach((c) => assert.ok(c.length % 4 === 0 && !c.includes("=")));
  });

  test(`lz4 frames of ${name} decode with an independent LZ4 block decoder`, () => {
    const e = invsync.encode(6, payload, { method: "lz4", receiver: ALL, maxFrame: 300 });
    const wire = wireOf(e);
    const bytes = Buffer.from(wire, "base64");
    assert.equal(bytes.toString("base64"), wire, "canonical padded base64");
    assert.deepEqual(lz4BlockDecode(bytes, payload.length), payload);
    // Every chunk but the last is 4-aligned, so each decodes on its own (PROTOCOL.md 2.3).
    const chunks = e.frames.map((f) => parseFrame(f).data);
    chunks.slice(0, -1).forEach((c) => assert.equal(c.length % 4, 0));
    assert.deepEqual(Buffer.concat(chunks.map((c) => Buffer.from(c, "base64"))), bytes);
  });

  test(`frames built by Node's zlib and Buffer decode to ${name}`, () => {
    // As the game sends: streams of another deflate implementation, one per chunk, with
    // checksums computed by Node.
    for (const level of [1, 6, 9]) {
      const chunks = [];
      for (let at = 0; at < payload.length || chunks.length === 0; at += 200) {
        chunks.push(zlib.deflateSync(payload.subarray(at, at + 200), { level }).toString("base64"));
      }
      const frames = buildFrames({ id: 77, method: "zlib", plen: payload.length, chunks });
      const m = invsync.decodeMessage(rng(level).shuffle(frames));
      assert.deepEqual(Buffer.from(m.payload), payload);
      assert.equal(m.method, "zlib");
    }
  });
}

test("raw frames are the payload itself, and a framer written from the grammar agrees", () => {
  const text = "{\"name\":\"alice\",\"note\":\"é世🎮 [[ ]] ]==]\"}".repeat(40);
  const e = invsync.encode(9, text, { method: "raw", receiver: ALL, maxFrame: 8192 });
  assert.equal(e.frames.length, 1);
  assert.equal(wireOf(e), text);
  assert.deepEqual(
    e.frames,
    buildFrames({ id: 9, method: "raw", plen: Buffer.byteLength(text), wire: text, chunk: 1e9 }),
  );
  // Chunked raw frames never split a character: each chunk is valid UTF-8 on its own.
  const small = invsync.encode(9, text, { method: "raw", receiver: ALL, maxFrame: 97 });
  for (const frame of small.frames) {
    const data = parseFrame(frame).data;
    assert.equal(Buffer.from(data, "utf8").toString("utf8"), data);
    assert.ok(Buffer.byteLength(frame) <= 97);
  }
  assert.equal(wireOf(small), text);
});

test("a frame whose checksum Node computes differently is refused with both values named", () => {
  const frame = buildFrames({ id: 3, method: "raw", plen: 5, wire: "hello", chunk: 99 })[0];
  const tampered = frame.replace(/hello$/, "jello");
  const f = parseFrame(tampered);
  const actual = hex8(crc32(Buffer.from(f.body, "utf8")));
  assert.throws(() => invsync.decodeMessage([tampered]), {
    name: "FrameChecksumMismatch",
    message: `message 3 chunk 1/1: frame checksum is ${actual}, header says ${f.fcrc} (corrupted or truncated)`,
  });
});
