"use strict";
// Shared by the tests: the built package, the shared vectors, a seeded PRNG, and small
// independent implementations (a frame builder on Node's zlib.crc32, an LZ4 block decoder) that
// the package is checked against.

const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");

const PKG = path.join(__dirname, "..", "pkg");
const REPO = path.join(__dirname, "..", "..");

function loadPackage() {
  if (!fs.existsSync(path.join(PKG, "package.json"))) {
    throw new Error(`wasm/pkg/ is not built: run \`bash wasm/build.sh\` first (looked in ${PKG})`);
  }
  return require(PKG);
}

function readVectors(name) {
  return JSON.parse(fs.readFileSync(path.join(REPO, "tests", "vectors", name), "utf8"));
}

/** mulberry32: a small seeded PRNG, so every run tests the same cases. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    shuffle(list) {
      const a = list.slice();
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
      }
      return a;
    },
  };
}

const hex8 = (n) => (n >>> 0).toString(16).padStart(8, "0");
const crc32 = (bytes) => zlib.crc32(Buffer.from(bytes));

/** The parts of a frame, split by the grammar of PROTOCOL.md 2 (no validation). */
function parseFrame(frame) {
  const m = /^IS1 ([0-9a-f]{8}) ((\d+) (\d+)\/(\d+) ([a-z0-9]+) (\d+) (\d+) ([0-9a-f]{8}) ([^]*))$/.exec(frame);
  if (!m) throw new Error(`not a frame: ${frame.slice(0, 60)}`);
  return {
    fcrc: m[1],
    body: m[2],
    id: Number(m[3]),
    index: Number(m[4]),
    count: Number(m[5]),
    method: m[6],
    plen: Number(m[7]),
    wlen: Number(m[8]),
    mcrc: m[9],
    data: m[10],
  };
}

/** Builds frames independently of the package: header by the grammar, CRCs by Node's zlib. */
function buildFrames({ id, method, plen, wire, chunk, chunks }) {
  // Either a wire text cut every `chunk` characters, or the chunks themselves.
  if (!chunks) {
    chunks = [];
    for (let at = 0; at < wire.length || chunks.length === 0; at += chunk) {
      chunks.push(wire.slice(at, at + chunk));
    }
  }
  wire = chunks.join("");
  const mcrc = hex8(crc32(Buffer.from(wire, "utf8")));
  const wlen = Buffer.byteLength(wire, "utf8");
  return chunks.map((data, i) => {
    const body = `${id} ${i + 1}/${chunks.length} ${method} ${plen} ${wlen} ${mcrc} ${data}`;
    return `IS1 ${hex8(crc32(Buffer.from(body, "utf8")))} ${body}`;
  });
}

/** Decodes one LZ4 block (the format lz4_flex writes), written from the LZ4 block spec. */
function lz4BlockDecode(src, outLen) {
  const out = Buffer.alloc(outLen);
  let s = 0;
  let d = 0;
  const length = (n) => {
    if (n !== 15) return n;
    let b;
    do {
      b = src[s++];
      n += b;
    } while (b === 255);
    return n;
  };
  while (s < src.length) {
    const token = src[s++];
    const lit = length(token >> 4);
    src.copy(out, d, s, s + lit);
    s += lit;
    d += lit;
    if (s >= src.length) break;
    const offset = src[s] | (src[s + 1] << 8);
    s += 2;
    const len = length(token & 15) + 4;
    for (let i = 0; i < len; i++, d++) out[d] = out[d - offset];
  }
  if (d !== outLen) throw new Error(`lz4 block decoded to ${d} bytes, expected ${outLen}`);
  return out;
}

module.exports = {
  loadPackage,
  readVectors,
  rng,
  hex8,
  crc32,
  parseFrame,
  buildFrames,
  lz4BlockDecode,
  PKG,
  REPO,
};
