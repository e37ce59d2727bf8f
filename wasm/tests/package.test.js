"use strict";
// The built folder is an npm package that `npm install <folder>` accepts, that works from
// another project, and whose TypeScript declarations type-check a strict caller.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { PKG, loadPackage } = require("./helpers");

loadPackage(); // fails early, with the build command, if wasm/pkg/ is missing
const manifest = JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8"));
const TSC = path.join(__dirname, "..", "node_modules", ".bin", "tsc");

function npm(args, cwd) {
  return execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** A scratch project with the package installed from its folder. */
function scratchProject() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "invsync-pkg-"));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "scratch", private: true }));
  npm(["install", "--offline", PKG], dir);
  return dir;
}

test("package.json names the entry points, and they and every listed file exist", () => {
  assert.equal(manifest.name, "invsync");
  assert.match(manifest.version, /^\d+\.\d+\.\d+/);
  for (const key of ["main", "types"]) {
    assert.ok(fs.existsSync(path.join(PKG, manifest[key])), `${key}: ${manifest[key]}`);
  }
  for (const file of manifest.files) {
    assert.ok(fs.existsSync(path.join(PKG, file)), `files: ${file}`);
  }
  const wasm = fs.statSync(path.join(PKG, "invsync_bg.wasm")).size;
  assert.ok(wasm < 200_000, `the .wasm is ${wasm} bytes`);
  // What `npm pack` would publish: the code, the wasm, the declarations and the snippets.
  const [packed] = JSON.parse(npm(["pack", "--dry-run", "--json"], PKG));
  const packedFiles = packed.files.map((f) => f.path);
  for (const f of ["invsync.js", "invsync.d.ts", "invsync_bg.wasm", "package.json", "README.md"]) {
    assert.ok(packedFiles.includes(f), `${f} in ${packedFiles.join(", ")}`);
  }
  assert.ok(packedFiles.some((f) => f.startsWith("snippets/")), "the inline JS snippets are packed");
});

test("npm install <folder> works and the package runs from another project", () => {
  const dir = scratchProject();
  try {
    const script = `
      const invsync = require("invsync");
      const caps = { protocol: 1, decode: ["zlib", "raw"], max_frame: 500 };
      const e = invsync.encode(3, JSON.stringify({ items: Array(200).fill("iron-plate") }), { receiver: caps });
      const m = invsync.decodeMessage(e.frames.reverse());
      console.log(JSON.stringify({ method: e.method, frames: e.frames.length, text: Buffer.from(m.payload).toString() }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: dir, encoding: "utf8" }));
    assert.equal(out.method, "zlib");
    assert.deepEqual(JSON.parse(out.text), { items: Array(200).fill("iron-plate") });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the TypeScript declarations type-check a strict caller and reject misuse", () => {
  assert.ok(fs.existsSync(TSC), "TypeScript is installed by `npm ci` in wasm/ (bash wasm/build.sh does it)");
  const dir = scratchProject();
  try {
    fs.writeFileSync(
      path.join(dir, "check.ts"),
      `
import { encode, decodeMessage, Reassembler, protocolVersion, errorNames } from "invsync";
import type { Encoded, Message, PushOutcome, Progress, InvsyncError, Capabilities } from "invsync";

const caps: Capabilities = { protocol: 1, decode: ["raw", "zlib"], max_frame: 8192 };
const e: Encoded = encode(1, new Uint8Array([1, 2, 3]), { method: "auto", receiver: caps, parallelism: 5 });
const frames: string[] = e.frames;
const m: Message = decodeMessage(frames);
const bytes: Uint8Array = m.payload;
const rx = new Reassembler({ maxFrame: 3999, maxAgeTicks: null });
const o: PushOutcome = rx.push(frames[0]);
if (o.kind === "complete") { const done: Message = o.message; }
else if (o.kind === "stored") { const left: number = o.count - o.have; }
rx.push(frames[0], 120);
const p: Progress[] = rx.progress();
const missing: number[] | undefined = rx.missing(1);
const expired: InvsyncError[] = rx.takeExpired();
const n: number = protocolVersion() + errorNames().length + rx.bufferedBytes;
encode(2, "text");
new Reassembler();
decodeMessage(new Set(frames), { decode: ["raw"] });

// @ts-expect-error a payload is a string or bytes
encode(1, 42);
// @ts-expect-error methods are raw, lz4, zlib or auto
encode(1, "x", { method: "gzip" });
// @ts-expect-error options are camelCase
new Reassembler({ max_frame: 10 });
// @ts-expect-error a push outcome of kind "duplicate" carries no message
if (o.kind === "duplicate") { o.message; }
`,
    );
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "esnext.disposable"], types: [] },
        files: ["check.ts"],
      }),
    );
    try {
      execFileSync(TSC, ["-p", dir], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      assert.fail(`tsc found errors:\n${err.stdout}${err.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
