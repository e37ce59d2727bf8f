//! The table `invsync bench` prints at the end.

use std::fmt::Write;

use super::Run;
use super::goals::{Goal, TICK_INSTRUCTION_BUDGET, direction_name};

/// `-` for what a run did not measure.
fn or_dash<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or("-".to_string(), f)
}

/// A fixed-width table of the runs, with the goals of the transfer path beneath.
pub fn table(runs: &[Run], goals: &[Goal]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<7} {:<5} {:>3} {:>2} {:<4} {:>7} {:>7} {:>3} {:>5} {:>5} {:>7} {:>5} {:>7} {:>6} {:>5} {:>6} {:>6} {:>7} {:>5} {:>5} {:>6} {:>3}",
        "kind",
        "dir",
        "entry",
        "fmt",
        "k",
        "meth",
        "payload",
        "wire",
        "fr",
        "ticks",
        "hand",
        "b.bytes",
        "b.hand",
        "speedup",
        "limit",
        "oflim",
        "maxki",
        "p99ki",
        "b.maxki",
        "maxms",
        "p99ms",
        "b.maxms",
        "ok"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<5} {:<7} {:<5} {:>3} {:>2} {:<4} {:>7} {:>7} {:>3} {:>5} {:>5} {:>7} {:>5} {:>7} {:>6.1} {:>4.0}% {:>6.1} {:>6.1} {:>7} {:>5.2} {:>5.2} {:>6} {:>3}",
            r.kind,
            direction_name(r.direction),
            r.entry.short(),
            r.player_format,
            r.in_flight,
            r.method,
            r.payload_bytes,
            r.wire_bytes,
            r.frames,
            r.ticks,
            r.in_hand_ticks,
            or_dash(r.baseline_payload_bytes, |b| b.to_string()),
            or_dash(r.baseline_ticks, |t| t.to_string()),
            or_dash(r.speedup, |s| format!("{s:.1}x")),
            r.limit_ticks,
            r.limit_fraction * 100.0,
            r.max_tick_instructions as f64 / 1000.0,
            r.p99_tick_instructions as f64 / 1000.0,
            or_dash(r.baseline_max_tick_instructions, |i| format!(
                "{:.1}",
                i as f64 / 1000.0
            )),
            r.max_tick_lua_ms,
            r.p99_tick_lua_ms,
            or_dash(r.baseline_max_tick_lua_ms, |ms| format!("{ms:.2}")),
            if r.verified { "yes" } else { "NO" },
        );
    }
    let _ = writeln!(
        out,
        "\nentry: how frames went into the game, `call` the `recv` remote call in a /sc command, \
         `cmd` the module's custom command /invsync-recv (PROTOCOL.md 5.2; to_host: the same \
         game), `cmd-zlib` the command to a module that does not decode `solid` (a zlib stream \
         per chunk), `cmd-long` the command with long headers and the 256-byte chunk floor (before \
         PROTOCOL.md 2.4's cut to idle streams and 2.5's short header), `xj` the command with each export sent as its JSON (PROTOCOL.md 4.1); wire: the bytes of the commands that carried the frames, wrappers included \
         (to_host: the frames' bytes); ticks: game ticks from the first byte into the game to the module delivering the verified \
         payload (to_host: from the command asking for it to the host holding it); hand: to the \
         player having it in hand (decoded and written into the character); b.bytes, b.hand: \
         Clusterio's serialized form of the same player and its ticks to the same end, its way \
         (1000-character escaped JSON chunks, one command at a time; out of the game one IPC \
         line); speedup: b.hand / hand; limit: the stream model's fewest ticks for the wire bytes, \
         max(wire / (k x 100 bytes per tick), 1) + 0.5 (the wait for an execution tick); oflim: \
         limit / ticks; maxki, p99ki: thousands of the scenario's VM instructions per tick (budget \
         {TICK_INSTRUCTION_BUDGET}); maxms, p99ms: its Lua CPU time per tick, for information; \
         b.: the baseline's; ok: the game's CRC-32 of what it received (or sent) equals the \
         host's, and the character holds every item; fmt: the PLAYER_DATA format the same player \
         was sent in, 1 an object per slot, 2 dense (docs/PLAYER_DATA.md; `xj` rewrites format 2 \
         only), the goals judge format 2."
    );
    if !goals.is_empty() {
        let _ = writeln!(out, "\ngoals:");
        for g in goals {
            let verdict = if g.met { "met" } else { "NOT MET" };
            let _ = writeln!(out, "  {verdict:<7}  {:<72} {}", g.goal, g.value);
        }
    }
    out
}
