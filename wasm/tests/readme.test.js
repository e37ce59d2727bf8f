"use strict";
// Every ```js snippet of the READMEs runs, as a new user copies it, against the built package.
// A snippet uses names a host already has (an RCON client, the player data, a line read from
// the game's stdout, a handler): the test supplies them (`hostNames` below) and then checks what
// the snippet left behind: `frames` a list that decodes to the payload sent, every payload handed
// to `handle` the one the game sent, an `onLine` that hands the game's message over when fed the
// game's stdout lines.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { REPO, loadPackage } = require("./helpers");

const invsync = loadPackage();

const READMES = ["README.md", "wasm/README.md", "scenario/README.md"];

/** The ```js blocks of a Markdown file, with the line each starts on. */
function jsBlocks(file) {
  const lines = fs.readFileSync(path.join(REPO, file), "utf8").split("\n");
  const blocks = [];
  let current = null;
  lines.forEach((line, i) => {
    if (current === null && /^```(js|javascript)\s*$/.test(line)) {
      current = { file, line: i + 1, code: [] };
    } else if (current !== null && /^```\s*$/.test(line)) {
      blocks.push({ ...current, code: current.code.join("\n") });
      current = null;
    } else if (current !== null) {
      current.code.push(line);
    }
  });
  return blocks;
}

/** What a host has at hand where a snippet runs: names the snippets use without defining. */
function hostNames() {
  const gameRx = new invsync.Reassembler({ maxFrame: 8192 });
  const capsJson = JSON.stringify({ protocol: 1, ...JSON.parse(gameRx.capabilities()) });
  const playerData = { name: "alice", inventories: { main: [{ name: "iron-plate", count: 100 }] } };
  // a message from the game: one stdout frame
  const fromGame = JSON.stringify({ type: "upload", player: "alice", data: playerData });
  const gameFrames = invsync.encode(41, fromGame, { maxFrame: 3999 }).frames;
  assert.equal(gameFrames.length, 1, "the game's message is one stdout frame");
  const handled = [];
  return {
    names: {
      rcon: {
        async send(command) {
          assert.match(command, /remote\.call\("invsync","caps"\)/, "the snippet asks the game for caps");
          return capsJson;
        },
      },
      id: 7,
      playerData,
      payload: JSON.stringify(playerData),
      capsJsonFromGame: capsJson,
      lineWithoutMarker: gameFrames[0],
      handle: (p) => handled.push(Buffer.from(p).toString("utf8")),
    },
    handled,
    fromGame,
    gameLines: ["   1.234 Info some log line", "\f" + gameFrames[0] + "\r"],
  };
}

/** Runs a snippet as the body of an async function over `names`, returns its top-level values. */
async function run(block, names) {
  const declared = [...block.code.matchAll(/^(?:const|let|var|function)\s+\{?\s*([A-Za-z_$][\w$]*)/gm)].map(
    (m) => m[1],
  );
  const wanted = ["frames", "onLine", "rx", ...declared];
  const epilogue = `\nreturn { ${[...new Set(wanted)]
    .map((n) => `${JSON.stringify(n)}: typeof ${n} === "undefined" ? undefined : ${n}`)
    .join(", ")} };`;
  const hostRequire = (name) => (name === "invsync" ? invsync : require(name));
  const AsyncFunction = (async () => {}).constructor;
  const params = ["require", ...Object.keys(names)];
  let fn;
  try {
    fn = new AsyncFunction(...params, `"use strict";\n${block.code}${epilogue}`);
  } catch (e) {
    throw new Error(`${block.file}:${block.line}: the snippet does not parse: ${e.message}`);
  }
  return fn(hostRequire, ...Object.values(names));
}

const blocks = READMES.flatMap(jsBlocks);

test("the READMEs hold JavaScript snippets (the extraction works)", () => {
  assert.ok(blocks.some((b) => b.file === "README.md"), "the root README's example");
  assert.ok(blocks.some((b) => b.file === "wasm/README.md"), "wasm/README.md's example");
});

for (const block of blocks) {
  test(`${block.file}:${block.line} runs as written`, async () => {
    const host = hostNames();
    const left = await run(block, host.names);
    let checked = 0;
    if (left.frames !== undefined) {
      assert.ok(Array.isArray(left.frames), "`frames` is the list of frames");
      assert.ok(left.frames.length >= 1 && left.frames.every((f) => typeof f === "string"));
      const m = invsync.decodeMessage(left.frames);
      assert.equal(Buffer.from(m.payload).toString("utf8"), host.names.payload, "the frames carry the payload");
      checked++;
    }
    if (typeof left.onLine === "function") {
      host.gameLines.forEach((line, i) => left.onLine(line, i));
      checked++;
    }
    if (host.handled.length > 0 || left.onLine !== undefined || left.rx !== undefined) {
      assert.deepEqual(host.handled, [host.fromGame], "the game's message was handed to `handle` once");
      checked++;
    }
    assert.ok(checked > 0, "the test knows what this snippet should leave behind");
  });
}
