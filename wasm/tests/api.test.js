"use strict";
// The JavaScript surface: errors, options, ageing by ticks and by frames, and the bookkeeping
// methods of the Reassembler.

const test = require("node:test");
const assert = require("node:assert/strict");
const { loadPackage, buildFrames } = require("./helpers");

const invsync = loadPackage();
const ALL = { protocol: 1, decode: ["raw", "zlib", "lz4"], max_frame: 8192 };

/** Frames of a raw message of `count` chunks of 10 characters. */
function rawMessage(id, count) {
  const wire = "0123456789".repeat(count);
  return buildFrames({ id, method: "raw", plen: wire.length, wire, chunk: 10 });
}

test("protocol version and error names", () => {
  assert.equal(invsync.protocolVersion(), 1);
  const names = invsync.errorNames();
  assert.equal(names.length, 25);
  assert.equal(names[0], "NotAFrame");
  assert.ok(names.includes("FrameChecksumMismatch") && names.includes("FrameTooSmall"));
});

test("errors carry the protocol name, the Rust message and the message id", () => {
  const frames = rawMessage(42, 3);
  assert.equal(frames.length, 3);
  const rx = new invsync.Reassembler();
  rx.push(frames[0]);
  const conflicting = frames[1].replace(/ 42 2\/3 /, " 42 2/4 ");
  let err;
  try {
    rx.push(conflicting);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error);
  // The frame checksum catches the edit first (PROTOCOL.md 3, step 6 before step 8).
  assert.equal(err.name, "FrameChecksumMismatch");
  assert.equal(err.messageId, 42);
  assert.match(err.message, /^message 42 chunk 2\/4: frame checksum is [0-9a-f]{8}, header says [0-9a-f]{8}/);

  assert.throws(() => invsync.decodeMessage(["hello"]), {
    name: "NotAFrame",
    message: /^not a frame: /,
  });
  assert.throws(() => invsync.encode(1, "x", { receiver: ALL, maxFrame: 30 }), (e) => {
    assert.equal(e.name, "FrameTooSmall");
    assert.match(e.message, /^max_frame 30 is too small: a frame of this message needs at least \d+ bytes$/);
    return true;
  });
  assert.throws(() => invsync.encode(0, "x"), { name: "MalformedHeader", message: /`id`/ });
  assert.throws(() => invsync.encode(7, new Uint8Array([0xff]), { method: "raw", receiver: ALL }), {
    name: "RawUnrepresentable",
    message: "payload cannot be sent raw: invalid UTF-8 at byte 0",
  });
});

test("decodeMessage reports Incomplete with the missing chunks", () => {
  const frames = rawMessage(8, 5);
  assert.throws(() => invsync.decodeMessage([frames[0], frames[3]]), (e) => {
    assert.equal(e.name, "Incomplete");
    assert.equal(e.messageId, 8);
    assert.equal(e.count, 5);
    assert.deepEqual(e.missing, [2, 3, 5]);
    assert.equal(e.message, "message 8 is incomplete: 3 of 5 chunks missing: 2,3,5");
    return true;
  });
  assert.throws(() => invsync.decodeMessage([]), { name: "Incomplete" });
  assert.throws(() => invsync.decodeMessage(new Set(frames.slice(1))), { name: "Incomplete" });
  assert.equal(Buffer.from(invsync.decodeMessage(new Set(frames)).payload).length, 50);
});

test("the default receiver is what PROTOCOL.md 4 says to assume: raw only, frames of 4000 bytes", () => {
  const text = "x".repeat(20000);
  const e = invsync.encode(1, text);
  assert.equal(e.method, "raw");
  assert.ok(e.frames.every((f) => Buffer.byteLength(f) <= 4000));
  assert.throws(() => invsync.encode(1, new Uint8Array([1, 2, 3])), { name: "NoAcceptableMethod" });
  assert.throws(() => invsync.encode(1, text, { method: "zlib" }), { name: "NoAcceptableMethod" });
  // Given as the game's caps() answers it: JSON text.
  const z = invsync.encode(1, text, { receiver: '{"protocol":1,"decode":["zlib","raw"],"max_frame":8192}' });
  assert.equal(z.method, "zlib");
});

test("the short header for a receiver that declares it, and a small message cut to the streams", () => {
  const payload = "x".repeat(1000);
  const options = { method: "raw", parallelism: 16, perFrameOverhead: 14 };
  const long = invsync.encode(7, payload, { ...options, receiver: ALL });
  const short = invsync.encode(7, payload, { ...options, receiver: { ...ALL, short_header: true } });
  assert.ok(long.frames.every((f) => f.startsWith("IS1 ")));
  assert.ok(short.frames.every((f) => f.startsWith("~")));
  assert.equal(short.frames.length, long.frames.length);
  // every receiver reads both: one of each form per chunk is one message
  const mixed = short.frames.map((f, i) => (i % 2 ? f : long.frames[i]));
  assert.equal(Buffer.from(invsync.decodeMessage(mixed).payload).toString(), payload);
  // 1000 bytes in 3 frames of about 360 stream in 4 ticks at 100 bytes a tick; with the model,
  // the fewest frames that stream in the fewest ticks: 2 (1 would take 18 frames, over 16)
  assert.equal(long.frames.length, 3);
  const cut = invsync.encode(7, payload, { ...options, segment: 100, receiver: { ...ALL, short_header: true } });
  assert.ok(cut.frames.length > 3 && cut.frames.length <= 16, `${cut.frames.length} frames`);
  assert.ok(cut.frames.every((f) => f.length + 14 <= 200), cut.frames.map((f) => f.length).join(","));
  assert.throws(() => invsync.encode(7, payload, { receiver: { ...ALL, short_header: "yes" } }), {
    name: "RangeError",
    message: /short_header/,
  });
});

test("bad capability declarations are RangeErrors naming the problem", () => {
  const cases = [
    ['{"protocol":2,"decode":["raw"]}', /protocol 2 \(this side speaks 1\)/],
    ['{"protocol":1,"decode":["zlib"]}', /`decode` must include raw/],
    ['{"protocol":1,"decode":["raw"],"max_frame":10}', /max_frame 10 leaves no room for a header/],
    ['{"decode":["raw"]}', /missing field `protocol`/],
    ["not json", /not JSON/],
    ["[1]", /expected a JSON object/],
    [{ protocol: 1, decode: "raw" }, /`decode` must be an array/],
    [{ protocol: 1, decode: ["raw"], max_frame: -5 }, /`max_frame` must be an integer/],
  ];
  for (const [receiver, message] of cases) {
    assert.throws(() => invsync.encode(1, "x", { receiver }), (e) => {
      assert.ok(e instanceof RangeError, `${JSON.stringify(receiver)}: ${e}`);
      assert.match(e.message, /^options\.receiver: bad capability declaration: /);
      assert.match(e.message, message);
      return true;
    });
  }
  // Unknown keys and methods are ignored, so later versions can add some.
  const e = invsync.encode(1, "x".repeat(500), {
    receiver: { protocol: 1, decode: ["zstd", "zlib", "raw"], max_frame: 500, color: "red" },
  });
  assert.equal(e.method, "zlib");
});

test("wrong arguments are TypeErrors and RangeErrors that name the argument", () => {
  assert.throws(() => invsync.encode(1, 42), { name: "TypeError", message: /payload must be a string or a Uint8Array, got number/ });
  assert.throws(() => invsync.encode(-1, "x"), { name: "RangeError", message: /^id must be an integer in 0\.\.=4294967295, got -1$/ });
  assert.throws(() => invsync.encode(1.5, "x"), { name: "RangeError", message: /got 1\.5$/ });
  assert.throws(() => invsync.encode(2 ** 32, "x"), { name: "RangeError" });
  assert.throws(() => invsync.encode("1", "x"), { name: "TypeError", message: /id must be a number, got string/ });
  assert.throws(() => invsync.encode(1, "x", { max_frame: 100 }), {
    name: "TypeError",
    message: /options has an unknown key `max_frame` \(expected one of: method, receiver, maxFrame/,
  });
  assert.throws(() => invsync.encode(1, "x", { method: "gzip" }), { name: "RangeError", message: /options\.method: unknown method `gzip`/ });
  assert.throws(() => invsync.encode(1, "x", { zlibLevel: 11 }), { name: "RangeError", message: /options\.zlibLevel must be an integer in 0\.\.=10, got 11/ });
  assert.throws(() => invsync.encode(1, "x", []), { name: "TypeError", message: /options must be an object, got array/ });
  assert.throws(() => new invsync.Reassembler({ maxAge: 5 }), { name: "TypeError", message: /unknown key `maxAge`/ });
  assert.throws(() => new invsync.Reassembler({ decode: ["raw", "brotli"] }), { name: "RangeError", message: /options\.decode: unknown method `brotli`/ });
  assert.throws(() => new invsync.Reassembler({ decode: [] }), { name: "RangeError", message: /names no method/ });
  assert.throws(() => new invsync.Reassembler({ maxFrame: "big" }), { name: "TypeError", message: /options\.maxFrame must be a number, got string/ });
  const rx = new invsync.Reassembler();
  assert.throws(() => rx.push({}), { name: "TypeError", message: /frame must be a string or a Uint8Array, got object/ });
  assert.throws(() => rx.push("IS1", -3), { name: "RangeError", message: /^now must be an integer/ });
  assert.throws(() => invsync.decodeMessage(5), { name: "TypeError", message: /frames must be an array \(or iterable\)/ });
  assert.throws(() => invsync.decodeMessage([5]), { name: "TypeError", message: /each frame must be a string or a Uint8Array/ });
});

test("an over-long frame is refused from its length, strings and bytes alike, with its UTF-8 length", () => {
  const rx = new invsync.Reassembler({ maxFrame: 100 });
  assert.throws(() => rx.push("é".repeat(60)), { name: "FrameTooLong", message: "frame of 120 bytes is longer than the maximum of 100" });
  assert.throws(() => rx.push("x".repeat(5_000_000)), { name: "FrameTooLong", message: "frame of 5000000 bytes is longer than the maximum of 100" });
  assert.throws(() => rx.push(new Uint8Array(101)), { name: "FrameTooLong", message: "frame of 101 bytes is longer than the maximum of 100" });
  assert.throws(() => invsync.decodeMessage(["x".repeat(101)], { maxFrame: 100 }), { name: "FrameTooLong" });
  // Exactly at the limit it is read (and here fails as what it is).
  assert.throws(() => rx.push("x".repeat(100)), { name: "NotAFrame" });
});

test("ageing by ticks (now) and by frames", () => {
  const frames = rawMessage(5, 3);
  const rx = new invsync.Reassembler({ maxAgeTicks: 100, maxAgeFrames: null });
  assert.equal(rx.push(frames[0], 1000).kind, "stored");
  assert.deepEqual(rx.expire(1099), []);
  const expired = rx.expire(1100);
  assert.equal(expired.length, 1);
  assert.equal(expired[0].name, "Expired");
  assert.equal(expired[0].messageId, 5);
  assert.deepEqual(expired[0].missing, [2, 3]);
  assert.equal(expired[0].message, "message 5 expired with 2 of 3 chunks missing: 2,3");
  assert.equal(rx.missing(5), undefined);

  // Expiry during push is collected by takeExpired; a push without `now` keeps the last one.
  assert.equal(rx.push(frames[0], 2000).kind, "stored");
  rx.push(rawMessage(6, 2)[0]); // still tick 2000
  assert.deepEqual(rx.takeExpired(), []);
  rx.push(rawMessage(7, 2)[0], 2100);
  assert.deepEqual(rx.takeExpired().map((e) => e.messageId), [5, 6]);

  // Without `now` at all, messages age by frames pushed only.
  const byFrames = new invsync.Reassembler({ maxAgeFrames: 3 });
  byFrames.push(frames[0]);
  byFrames.push(rawMessage(9, 2)[0]);
  byFrames.push(rawMessage(10, 2)[0]);
  assert.deepEqual(byFrames.takeExpired(), []);
  byFrames.push(rawMessage(11, 2)[0]);
  assert.deepEqual(byFrames.takeExpired().map((e) => e.messageId), [5]);
  // An over-long frame counts as time passing too.
  const tooLong = new invsync.Reassembler({ maxAgeTicks: 10, maxFrame: 200 });
  tooLong.push(frames[0], 0);
  assert.throws(() => tooLong.push("x".repeat(500), 50), { name: "FrameTooLong" });
  assert.deepEqual(tooLong.takeExpired().map((e) => e.name), ["Expired"]);
});

test("missing, progress, forget, reset, limits and capabilities", () => {
  const a = rawMessage(1, 4);
  const b = rawMessage(2, 3);
  const rx = new invsync.Reassembler({ maxMessages: 2, decode: "raw,zlib", maxFrame: 3999 });
  rx.push(a[1]);
  rx.push(a[3]);
  rx.push(b[0]);
  assert.deepEqual(rx.missing(1), [1, 3]);
  assert.deepEqual(rx.missing(2), [2, 3]);
  assert.equal(rx.missing(3), undefined);
  assert.deepEqual(rx.progress(), [
    { id: 1, method: "raw", have: 2, count: 4, receivedBytes: 20, wireLen: 40 },
    { id: 2, method: "raw", have: 1, count: 3, receivedBytes: 10, wireLen: 30 },
  ]);
  assert.equal(rx.bufferedBytes, 70);
  assert.throws(() => rx.push(rawMessage(3, 2)[0]), { name: "TooManyMessages", messageId: 3 });
  assert.equal(rx.forget(2), true);
  assert.equal(rx.forget(2), false);
  assert.equal(rx.bufferedBytes, 40);
  assert.equal(rx.push(rawMessage(3, 2)[0]).kind, "stored");
  rx.reset();
  assert.deepEqual(rx.progress(), []);
  assert.equal(rx.bufferedBytes, 0);
  assert.equal(
    rx.capabilities(),
    '{"protocol":1,"decode":["raw","zlib"],"max_frame":3999,"max_message":16777216,"max_chunks":65536}',
  );
  assert.throws(() => rx.push(invsync.encode(1, "x".repeat(300), { receiver: ALL, method: "lz4" }).frames[0]), {
    name: "MethodNotAccepted",
  });
  // The declaration is one the encoder reads.
  const e = invsync.encode(1, "y".repeat(3000), { receiver: rx.capabilities() });
  assert.equal(e.method, "zlib");
});

test("a complete message is handed over once, as a fresh Uint8Array", () => {
  const frames = buildFrames({ id: 12, method: "raw", plen: 9, wire: "abcdefghi", chunk: 3 });
  const rx = new invsync.Reassembler();
  const outcomes = frames.map((f) => rx.push(f));
  assert.deepEqual(outcomes.slice(0, 2), [
    { kind: "stored", id: 12, index: 1, have: 1, count: 3 },
    { kind: "stored", id: 12, index: 2, have: 2, count: 3 },
  ]);
  const done = outcomes[2];
  assert.equal(done.kind, "complete");
  assert.equal(done.id, 12);
  assert.ok(done.message.payload instanceof Uint8Array);
  assert.equal(Buffer.from(done.message.payload).toString(), "abcdefghi");
  assert.deepEqual(
    { ...done.message, payload: undefined },
    { id: 12, method: "raw", count: 3, wireLen: 9, payload: undefined },
  );
  assert.deepEqual(rx.push(frames[1]), { kind: "duplicate", id: 12, index: 2 });
});
