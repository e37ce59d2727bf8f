"use strict";
// Every shared vector of tests/vectors/ (format: docs/PROTOCOL.md section 6).

const test = require("node:test");
const assert = require("node:assert/strict");
const { loadPackage, readVectors, rng } = require("./helpers");

const invsync = loadPackage();
const good = readVectors("good.json");
const bad = readVectors("bad.json");

/** The protocol's snake_case receiver settings as this package's camelCase options. */
function receiverOptions(settings) {
  const keys = {
    max_frame: "maxFrame",
    decode: "decode",
    max_message: "maxMessage",
    max_chunks: "maxChunks",
    max_messages: "maxMessages",
    max_buffered: "maxBuffered",
  };
  const options = {};
  for (const [key, value] of Object.entries(settings)) {
    assert.ok(key in keys, `unexpected receiver setting ${key}`);
    options[keys[key]] = value;
  }
  return options;
}

test("the vector files are the ones this test expects", () => {
  assert.equal(good.protocol, invsync.protocolVersion());
  assert.equal(bad.protocol, invsync.protocolVersion());
  assert.ok(good.vectors.length >= 20, `${good.vectors.length} good vectors`);
  assert.ok(bad.vectors.length >= 40, `${bad.vectors.length} bad vectors`);
  // Every receiver-side error but Expired and Incomplete has a vector (PROTOCOL.md 6).
  const covered = new Set(bad.vectors.map((v) => v.error));
  const receiverSide = invsync
    .errorNames()
    .filter(
      (n) =>
        !["Expired", "Incomplete", "RawUnrepresentable", "NoAcceptableMethod", "FrameTooSmall"].includes(n),
    );
  assert.deepEqual(receiverSide.filter((n) => !covered.has(n)), []);
});

for (const v of good.vectors) {
  test(`good: ${v.name}`, () => {
    const payload = Buffer.from(v.payload_hex, "hex");
    assert.equal(payload.length, v.payload_len);

    // Whole-message decode, in order and reversed.
    for (const frames of [v.frames, v.frames.slice().reverse()]) {
      const m = invsync.decodeMessage(frames);
      assert.equal(Buffer.from(m.payload).toString("hex"), v.payload_hex);
      assert.equal(m.id, v.id);
      assert.equal(m.method, v.method);
      assert.equal(m.count, v.frames.length);
    }

    // A reassembler fed the frames shuffled, with duplicates, completes exactly once.
    const r = rng(v.name.length * 7919 + v.frames.length);
    const fed = r.shuffle([...v.frames, ...v.frames.filter(() => r.next() < 0.5)]);
    const rx = new invsync.Reassembler();
    const completed = [];
    for (const frame of fed) {
      const outcome = rx.push(frame);
      assert.ok(["stored", "duplicate", "complete"].includes(outcome.kind), outcome.kind);
      assert.equal(outcome.id, v.id);
      if (outcome.kind === "complete") completed.push(outcome.message);
    }
    assert.equal(completed.length, 1);
    assert.equal(Buffer.from(completed[0].payload).toString("hex"), v.payload_hex);
    // A late duplicate of a completed message is recognised, not delivered again.
    assert.equal(rx.push(v.frames[0]).kind, "duplicate");
    assert.deepEqual(rx.progress(), []);

    // Frames given as bytes decode the same.
    const asBytes = v.frames.map((f) => new Uint8Array(Buffer.from(f, "utf8")));
    assert.equal(Buffer.from(invsync.decodeMessage(asBytes).payload).toString("hex"), v.payload_hex);

    // The encoder reproduces the vector's frames (same method, max_frame, id and header; zlib
    // level 9): the short header for a receiver that declares it (PROTOCOL.md 2.5).
    const short_header = v.header === "short";
    assert.ok(short_header || v.header === "long", v.header);
    const encoded = invsync.encode(v.id, payload, {
      method: v.method,
      receiver: { protocol: 1, decode: ["raw", "zlib", "solid", "lz4"], max_frame: 8192, short_header },
      maxFrame: v.max_frame,
    });
    assert.deepEqual(encoded.frames, v.frames);
    assert.equal(encoded.method, v.method);
    assert.equal(encoded.payloadLen, v.payload_len);
  });
}

for (const v of bad.vectors) {
  test(`bad: ${v.name} -> ${v.error}`, () => {
    const options = receiverOptions({ ...bad.default_receiver, ...v.receiver });
    const frames = v.frames_hex
      ? v.frames_hex.map((h) => new Uint8Array(Buffer.from(h, "hex")))
      : v.frames;
    assert.ok(frames.length >= 1);
    const rx = new invsync.Reassembler(options);
    for (const frame of frames.slice(0, -1)) {
      const outcome = rx.push(frame);
      assert.ok(["stored", "duplicate"].includes(outcome.kind), `accepted without completing: ${outcome.kind}`);
    }
    assert.throws(
      () => rx.push(frames[frames.length - 1]),
      (err) => {
        assert.ok(err instanceof Error, "an Error object");
        assert.equal(err.name, v.error, err.message);
        assert.ok(err.message.length > 10, `a message that says what was wrong: ${err.message}`);
        return true;
      },
    );
    // The same frames as one whole-message decode fail with the same error, in order.
    assert.throws(() => invsync.decodeMessage(frames, options), { name: v.error });
  });
}
