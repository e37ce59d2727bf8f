// Independent client check: npm `rcon-client` (used by Clusterio) against the emulator.
// Usage: node node_client.mjs PORT PASSWORD
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Rcon } = require("rcon-client");

const [port, password] = process.argv.slice(2);
const host = "127.0.0.1";

const rcon = await Rcon.connect({ host, port: Number(port), password, timeout: 10000 });
const reply = await rcon.send('/sc rcon.print("hello from " .. "node")');
if (reply !== "hello from node\n") {
  console.error(`unexpected reply ${JSON.stringify(reply)}`);
  process.exit(1);
}
const empty = await rcon.send("/sc local x = 1");
if (empty !== "") {
  console.error(`expected an empty reply, got ${JSON.stringify(empty)}`);
  process.exit(1);
}
await rcon.end();
console.log("OK reply");

try {
  await Rcon.connect({ host, port: Number(port), password: password + "-wrong", timeout: 10000 });
  console.error("a wrong password was accepted");
  process.exit(1);
} catch (e) {
  if (!String(e.message).includes("Authentication failed")) {
    console.error(`unexpected error for a wrong password: ${e.message}`);
    process.exit(1);
  }
}
console.log("OK refused");
