"use strict";
// The example plugin (wasm/examples/) is valid JavaScript, builds RCON commands by the
// long-bracket rule of PROTOCOL.md 5.2, and works end to end against a simulated game server
// (tests/fixtures/example-driver.js), requiring `invsync` as a host project would.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { PKG, loadPackage } = require("./helpers");

loadPackage();
const EXAMPLE = path.join(__dirname, "..", "examples", "clusterio-instance-plugin.js");

/** Runs `script` with NODE_PATH holding `invsync` (a link to wasm/pkg/), returns its stdout. */
function runWithPackage(script) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "invsync-example-"));
  try {
    fs.mkdirSync(path.join(dir, "node_modules"));
    fs.symlinkSync(PKG, path.join(dir, "node_modules", "invsync"), "dir");
    return execFileSync(process.execPath, [script], {
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: path.join(dir, "node_modules") },
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("the example is syntactically valid (node --check)", () => {
  execFileSync(process.execPath, ["--check", EXAMPLE]);
});

test("long brackets: the smallest level that the frame cannot close early", () => {
  const out = runWithPackage(
    (() => {
      const f = path.join(os.tmpdir(), `invsync-brackets-${process.pid}.js`);
      fs.writeFileSync(
        f,
        `const { longBracket, recvCommand } = require(${JSON.stringify(EXAMPLE)});
         const cases = ["abc", "a]]b", "a]=]b]]", "ends with ]", "ends with ]=", "]==]]=]]]", ""];
         console.log(JSON.stringify({ brackets: cases.map(longBracket), command: recvCommand("IS1 x"),
           custom: [recvCommand("IS1 a]]b", "invsync-recv"), recvCommand("IS1 ends with a space ", "invsync-recv")] }));`,
      );
      return f;
    })(),
  );
  const { brackets, command, custom } = JSON.parse(out);
  assert.deepEqual(brackets, [
    "[[abc]]",
    "[=[a]]b]=]",
    "[==[a]=]b]]]==]",
    "[=[ends with ]]=]",
    "[[ends with ]=]]",
    "[===[]==]]=]]]]===]",
    "[[]]",
  ]);
  assert.equal(command, '/sc remote.call("invsync","recv",[[IS1 x]])');
  // the game's custom command when it declares one; a frame ending in a space keeps the remote call
  assert.deepEqual(custom, [
    "/invsync-recv IS1 a]]b",
    '/sc remote.call("invsync","recv",[[IS1 ends with a space ]])',
  ]);
});

test("the example plugin against a simulated game: commands in flight, stdout, pulls", () => {
  const out = JSON.parse(runWithPackage(path.join(__dirname, "fixtures", "example-driver.js")));
  const { log } = out;
  assert.deepEqual(log.errors.filter((e) => !e.startsWith("FrameChecksumMismatch")), []);

  // Host -> game: both payloads arrived whole, plus the acknowledgement of the pulled message.
  assert.equal(out.gameMessages[0], '{"note":"brackets ]] and ]=] inside"}');
  assert.equal(out.gameMessages[1], out.big);
  assert.deepEqual(JSON.parse(out.gameMessages[2]), { type: "pulled", id: 901 });
  assert.equal(out.gameMessages.length, 3);
  // The first command was refused (fresh save) and asked again; a lost frame was found by
  // asking for the message's status, and resent.
  assert.equal(log.refused, 1);
  assert.equal(log.lost, 1);
  assert.equal(log.statusQueries, 1);
  // Brackets: level 2 for the frame holding "]]" and "]=]", level 0 for base64 frames.
  assert.ok(log.levels.includes(2) && log.levels.includes(0), `levels ${log.levels}`);
  // Several commands in flight, never more than five.
  assert.ok(log.maxInFlight >= 2 && log.maxInFlight <= 5, `max in flight ${log.maxInFlight}`);

  // Game -> host: the chat line was ignored, the corrupted line dropped with its error name,
  // the two-frame message delivered once, and the staged message pulled frame by frame.
  assert.deepEqual(out.hostMessages, [out.small, out.stagedPayload]);
  assert.equal(log.pulls, out.stagedCount);
  assert.ok(out.stagedCount >= 3);
  assert.equal(out.warnings.length, 1, out.warnings.join("\n"));
  assert.match(out.warnings[0], /^dropped a protocol line: FrameChecksumMismatch: /);
});
