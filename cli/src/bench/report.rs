//! The table `invsync bench` prints at the end.

use std::fmt::Write;

use super::Run;
use super::goals::{Goal, direction_name};

/// A fixed-width table of the runs, with the goals of the transfer path beneath.
pub fn table(runs: &[Run], goals: &[Goal]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<7} {:>3} {:<5} {:>9} {:>9} {:>6} {:>7} {:>9} {:>8} {:>7} {:>6} {:>6} {:>7} {:>7} {:>5}",
        "kind",
        "dir",
        "k",
        "meth",
        "payload",
        "wire",
        "frames",
        "ticks",
        "baseline",
        "speedup",
        "limit",
        "of lim",
        "maxms",
        "p99ms",
        "b.maxms",
        "ok"
    );
    for r in runs {
        let dir = direction_name(r.direction);
        let _ = writeln!(
            out,
            "{:<6} {:<7} {:>3} {:<5} {:>9} {:>9} {:>6} {:>7} {:>9} {:>8} {:>7.1} {:>5.0}% {:>6.3} {:>7.3} {:>7} {:>5}",
            r.kind,
            dir,
            r.in_flight,
            r.method,
            r.payload_bytes,
            r.wire_bytes,
            r.frames,
            r.ticks,
            r.baseline_ticks.map_or("-".to_string(), |t| t.to_string()),
            r.speedup.map_or("-".to_string(), |s| format!("{s:.1}x")),
            r.limit_ticks,
            r.limit_fraction * 100.0,
            r.max_tick_lua_ms,
            r.p99_tick_lua_ms,
            r.baseline_max_tick_lua_ms
                .map_or("-".to_string(), |ms| format!("{ms:.3}")),
            if r.verified { "yes" } else { "NO" },
        );
    }
    let _ = writeln!(
        out,
        "\nticks: game ticks from the first byte into the game to the end of the transfer; baseline: \
         Clusterio's way (1000-character escaped JSON chunks, one command at a time; out of the game \
         one IPC line); limit: wire bytes / (k x 100 bytes per tick); maxms, p99ms: the scenario's \
         Lua time per tick (budget 1 ms); b.maxms: the same for the baseline's worst tick; ok: the \
         bytes arrived intact."
    );
    if !goals.is_empty() {
        let _ = writeln!(out, "\ngoals:");
        for g in goals {
            let verdict = if g.met { "met" } else { "NOT MET" };
            let _ = writeln!(out, "  {verdict:<7}  {:<68} {}", g.goal, g.value);
        }
    }
    out
}
