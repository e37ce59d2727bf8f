"use strict";
/**
 * invsync in a Clusterio-style instance plugin: send payloads into the game over RCON, and
 * receive the payloads the game prints on its stdout.
 *
 * Host -> game (PROTOCOL.md 5.2): `encode` cuts the payload into frames, in the densest method
 * the game declared it decodes. Each frame travels as one command: the module's custom command
 * `/invsync-recv <frame>` when the game declares it (`recv_command`), else
 * `/sc remote.call("invsync","recv",[==[<frame>]==])`. The server streams a command into the
 * game at about 100 bytes per tick, so several commands are kept in flight at once; they may
 * finish in any order, and the game reassembles the message whatever the order.
 *
 * Game -> host (PROTOCOL.md 5.1, 5.4): a protocol line on stdout is a form feed followed by a
 * frame. A form feed cannot come from chat, so any other line is an ordinary log line. A message
 * too large for stdout lines is staged in the game, announced with a small `staged` message, and
 * pulled frame by frame through RCON replies.
 *
 * RCON: any client shaped like npm `rcon-client`, `await rcon.send(command)` -> reply text.
 * In Clusterio, `this.sendRcon(command)` of BaseInstancePlugin plays that part.
 */
const invsync = require("invsync");

/** Commands in flight at once (Clusterio allows 5 by default). */
const IN_FLIGHT = 5;
/** Bytes the remote call's wrapper adds to a frame, which `auto` counts when it compares methods. */
const RCON_WRAPPER_BYTES = 40;
/** A `recv_command` a host may use (PROTOCOL.md 4); any other value is not a command name. */
const COMMAND_NAME = /^[a-z0-9_-]{1,64}$/;
/** Longest protocol line the game prints (PROTOCOL.md 4: 3999, plus the marker). */
const STDOUT_MAX_FRAME = 3999;
/** Longest frame the game puts in one RCON reply when the host pulls a staged message. */
const PULL_MAX_FRAME = 262144;

/**
 * `frame` as a Lua long-bracket string (PROTOCOL.md 5.2): the smallest level n such that
 * "]" .. ("="):rep(n) .. "]" does not occur in frame .. "]" .. ("="):rep(n). Nothing is escaped.
 */
function longBracket(frame) {
  for (let level = 0; ; level++) {
    const eq = "=".repeat(level);
    if (!`${frame}]${eq}`.includes(`]${eq}]`)) return `[${eq}[${frame}]${eq}]`;
  }
}

/**
 * The RCON command that delivers one frame to the game: the custom command `name` when the game
 * declared one, with the frame as it is, unless the frame starts or ends with a space (a console
 * may trim those; PROTOCOL.md 5.2); else the remote call.
 */
function recvCommand(frame, name) {
  if (name && frame.length > 0 && !frame.startsWith(" ") && !frame.endsWith(" ")) return `/${name} ${frame}`;
  return `/sc remote.call("invsync","recv",${longBracket(frame)})`;
}

/** Runs `task(item)` for every item, at most `limit` at a time. */
async function inFlight(items, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

class InvsyncInstancePlugin /* extends BaseInstancePlugin, in Clusterio */ {
  /**
   * @param {{ send(command: string): Promise<string> }} rcon  an rcon-client `Rcon`
   * @param {{ onMessage?: (payload: Uint8Array, message: object) => void, logger?: Console }} [hooks]
   */
  constructor(rcon, hooks = {}) {
    this.rcon = rcon;
    this.onMessage = hooks.onMessage ?? (() => {});
    this.logger = hooks.logger ?? console;
    this.nextId = 1;
    this.gameCaps = undefined;
    this.recvName = undefined;
    // Frames from stdout lines, and frames pulled through RCON replies.
    this.fromStdout = new invsync.Reassembler({ maxFrame: STDOUT_MAX_FRAME });
    this.pulled = new invsync.Reassembler({ maxFrame: PULL_MAX_FRAME });
  }

  /** Clusterio calls init() when the instance starts: ask the game what it decodes. */
  async init() {
    // On a fresh save the first /sc is refused with an achievements warning: ask again.
    for (let attempt = 1; attempt <= 2 && this.gameCaps === undefined; attempt++) {
      const reply = (await this.rcon.send('/sc remote.call("invsync","caps")')).trim();
      if (reply.startsWith("{")) this.gameCaps = reply;
    }
    if (this.gameCaps !== undefined) {
      const name = JSON.parse(this.gameCaps).recv_command;
      this.recvName = typeof name === "string" && COMMAND_NAME.test(name) ? name : undefined;
    }
  }

  /** Sends one payload (string or bytes) into the game; resolves once the game has all of it. */
  async send(payload) {
    const id = this.nextId;
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    const { frames } = invsync.encode(id, payload, {
      receiver: this.gameCaps, // until init() ran: what the protocol says to assume (raw only)
      perFrameOverhead: this.recvName ? this.recvName.length + 2 : RCON_WRAPPER_BYTES,
      parallelism: IN_FLIGHT, // so the last round of commands uses every stream
    });
    let pending = frames;
    for (let attempt = 1; attempt <= 3; attempt++) {
      let done = false;
      await inFlight(pending, IN_FLIGHT, async (frame) => {
        const reply = (await this.rcon.send(recvCommand(frame, this.recvName))).trim();
        if (reply === `done ${id}`) done = true;
        else if (reply.startsWith("err ")) this.logger.warn(`game refused a frame of message ${id}: ${reply}`);
      });
      if (done) return id;
      // Every frame was sent but the game is not done: ask which chunks it misses, resend those.
      const status = (await this.rcon.send(`/sc remote.call("invsync","status",${id})`)).trim();
      if (status === `done ${id}`) return id;
      const missing = /^missing \d+ ([\d,]+)$/.exec(status);
      if (!missing) throw new Error(`message ${id}: unexpected status reply \`${status}\``);
      pending = missing[1].split(",").map((i) => frames[Number(i) - 1]);
    }
    throw new Error(`message ${id}: the game still misses chunks after 3 attempts`);
  }

  /**
   * One line of the server's stdout (Clusterio reads the same stream), at game tick `tick` if
   * known (without it, unfinished messages age by frames). Returns the pull it started, if any.
   */
  onStdoutLine(line, tick) {
    if (!line.startsWith("\f")) return undefined; // an ordinary log line, chat included
    const frame = line.slice(1).replace(/\r$/, "");
    let started;
    try {
      const outcome = this.fromStdout.push(frame, tick);
      if (outcome.kind === "complete") started = this.deliver(outcome.message);
    } catch (err) {
      // A frame that fails its checks is dropped; err.name is the protocol's error name.
      this.logger.warn(`dropped a protocol line: ${err.name}: ${err.message}`);
    }
    for (const expired of this.fromStdout.takeExpired()) this.logger.warn(expired.message);
    return started;
  }

  deliver(message) {
    const control = controlMessage(message.payload);
    if (control?.type !== "staged") return void this.onMessage(message.payload, message);
    return this.pull(control).catch((err) => this.logger.error(`pulling message ${control.id}: ${err.message}`));
  }

  /** Pulls a staged message frame by frame through RCON replies, then lets the game free it. */
  async pull({ id, count }) {
    const indices = Array.from({ length: count }, (_, i) => i + 1);
    let message;
    await inFlight(indices, IN_FLIGHT, async (index) => {
      const reply = (await this.rcon.send(`/sc remote.call("invsync","pull",${id},${index})`)).trim();
      if (reply.startsWith("err ")) throw new Error(`pull ${id}/${index}: ${reply}`);
      const outcome = this.pulled.push(reply);
      if (outcome.kind === "complete") message = outcome.message;
    });
    if (!message) throw new Error(`message ${id} incomplete after pulling ${count} frames`);
    await this.send(JSON.stringify({ type: "pulled", id }));
    this.onMessage(message.payload, message);
  }
}

/** The control message (PROTOCOL.md 5.5) a payload holds, if it is one. */
function controlMessage(payload) {
  if (payload.length > 200 || payload[0] !== 0x7b /* { */) return undefined;
  try {
    const value = JSON.parse(Buffer.from(payload).toString("utf8"));
    return typeof value?.type === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

module.exports = { InvsyncInstancePlugin, longBracket, recvCommand };

// Standalone: node clusterio-instance-plugin.js HOST PORT PASSWORD FILE < server-stdout
// sends FILE into the game and prints the payloads found on the server output piped in.
if (require.main === module) {
  const [host, port, password, file] = process.argv.slice(2);
  (async () => {
    const { Rcon } = require("rcon-client");
    const rcon = await Rcon.connect({ host, port: Number(port), password });
    const plugin = new InvsyncInstancePlugin(rcon, {
      onMessage: (payload) => console.log(Buffer.from(payload).toString("utf8")),
    });
    await plugin.init();
    const lines = require("node:readline").createInterface({ input: process.stdin });
    lines.on("line", (line) => plugin.onStdoutLine(line));
    if (file) console.error(`sent message ${await plugin.send(require("node:fs").readFileSync(file))}`);
  })().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
