//! Per-tick accounting of the scenario's Lua work (an emulator extension for benchmarks).

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

/// At most this many per-tick samples are kept for the percentile (older ones are dropped).
pub(crate) const MAX_SAMPLES: usize = 1 << 22;

/// Running statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    ticks: u64,
    lua_ms: Vec<f64>,
    tick_instructions: Vec<u64>,
    max_ms: f64,
    total_ms: f64,
    instructions: u64,
    max_instructions: u64,
    commands: u64,
    bytes_base: u64,
    first_command_tick: Option<u64>,
    last_command_tick: Option<u64>,
}

/// What `/emulator-stats` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// Ticks run since the last reset.
    pub ticks: u64,
    /// The game's current tick.
    pub game_tick: u64,
    /// Largest Lua time (thread CPU time) of one tick (server peer only), in ms.
    pub max_tick_lua_ms: f64,
    /// 99th percentile of the per-tick Lua time, in ms.
    pub p99_tick_lua_ms: f64,
    /// Sum of the Lua time, in ms.
    pub total_lua_ms: f64,
    /// VM instructions executed (counted in steps of 1000 by a hook).
    pub instructions: u64,
    /// Largest instruction count of one tick.
    pub max_tick_instructions: u64,
    /// 99th percentile of the per-tick instruction count.
    pub p99_tick_instructions: u64,
    /// Command bytes the stream model delivered into the game.
    pub bytes_streamed: u64,
    /// Console commands executed.
    pub commands_executed: u64,
    /// The first tick since the reset in which a command was streaming into the game: when a
    /// transfer's first byte entered. `null` if none.
    pub first_command_tick: Option<u64>,
    /// The last tick since the reset in which a command executed. `null` if none.
    pub last_command_tick: Option<u64>,
}

impl Stats {
    /// Notes that commands were streaming into the game during `tick`.
    pub(crate) fn record_streaming(&mut self, tick: u64) {
        self.first_command_tick.get_or_insert(tick);
    }

    /// Notes that commands executed during `tick`.
    pub(crate) fn record_executed(&mut self, tick: u64) {
        self.last_command_tick = Some(tick);
    }

    pub(crate) fn record_tick(&mut self, lua: Duration, instructions: u64, commands: usize) {
        let ms = lua.as_secs_f64() * 1000.0;
        self.ticks += 1;
        if self.lua_ms.len() >= MAX_SAMPLES {
            self.lua_ms.remove(0);
            self.tick_instructions.remove(0);
        }
        self.lua_ms.push(ms);
        self.tick_instructions.push(instructions);
        self.max_ms = self.max_ms.max(ms);
        self.total_ms += ms;
        self.instructions += instructions;
        self.max_instructions = self.max_instructions.max(instructions);
        self.commands += commands as u64;
    }

    /// Forget everything; `bytes_now` becomes the new zero of the byte counter.
    pub(crate) fn reset(&mut self, bytes_now: u64) {
        *self = Stats {
            bytes_base: bytes_now,
            ..Stats::default()
        };
    }

    pub(crate) fn snapshot(&self, game_tick: u64, bytes_now: u64) -> StatsSnapshot {
        let mut sorted = self.lua_ms.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let mut instructions = self.tick_instructions.clone();
        instructions.sort_unstable();
        StatsSnapshot {
            ticks: self.ticks,
            game_tick,
            max_tick_lua_ms: self.max_ms,
            p99_tick_lua_ms: p99(&sorted).unwrap_or(0.0),
            total_lua_ms: self.total_ms,
            instructions: self.instructions,
            max_tick_instructions: self.max_instructions,
            p99_tick_instructions: p99(&instructions).unwrap_or(0),
            bytes_streamed: bytes_now - self.bytes_base,
            commands_executed: self.commands,
            first_command_tick: self.first_command_tick,
            last_command_tick: self.last_command_tick,
        }
    }
}

/// The 99th percentile of `sorted` (ascending), nearest rank; `None` if empty.
fn p99<T: Copy>(sorted: &[T]) -> Option<T> {
    let idx = ((sorted.len() as f64) * 0.99).ceil() as usize;
    sorted.get(idx.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// A per-tick trace for finding where a transfer's ticks and milliseconds go (`--tick-log`):
/// one line per event, space-separated, so `sort -k3 -n` and `awk` read it.
///
/// ```text
/// tick <tick> <lua_ms> <instructions> <commands executed> <KiB the Lua state holds after it>
/// command <tick> <bytes> <the command's first 60 characters, escaped>
/// reset <tick>
/// ```
///
/// Write errors are ignored: the trace must never stop the game.
pub(crate) struct TickLog {
    // Line by line: the emulator may be killed at any moment (the bench does so).
    out: std::io::LineWriter<Box<dyn Write>>,
}

impl TickLog {
    /// A trace written to `out`.
    pub(crate) fn new(out: Box<dyn Write>) -> TickLog {
        TickLog {
            out: std::io::LineWriter::new(out),
        }
    }

    pub(crate) fn tick(
        &mut self,
        tick: u64,
        lua: Duration,
        instructions: u64,
        commands: usize,
        lua_memory: usize,
    ) {
        let ms = lua.as_secs_f64() * 1000.0;
        let kib = lua_memory / 1024;
        let _ = writeln!(
            self.out,
            "tick {tick} {ms:.3} {instructions} {commands} {kib}"
        );
    }

    pub(crate) fn command(&mut self, tick: u64, text: &str) {
        let head: String = text
            .chars()
            .take(60)
            .flat_map(char::escape_default)
            .collect();
        let _ = writeln!(self.out, "command {tick} {} {head}", text.len());
    }

    pub(crate) fn reset(&mut self, tick: u64) {
        let _ = writeln!(self.out, "reset {tick}");
        let _ = self.out.flush();
    }
}

impl Drop for TickLog {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_and_reset() {
        let mut s = Stats::default();
        for i in 1..=100 {
            s.record_tick(Duration::from_millis(i), 1000 * i, 1);
        }
        let snap = s.snapshot(7, 500);
        assert_eq!(snap.ticks, 100);
        assert!((snap.max_tick_lua_ms - 100.0).abs() < 1e-9);
        assert!((snap.p99_tick_lua_ms - 99.0).abs() < 1e-9);
        assert_eq!(snap.instructions, 5_050_000);
        assert_eq!(snap.max_tick_instructions, 100_000);
        assert_eq!(snap.p99_tick_instructions, 99_000);
        assert_eq!(snap.bytes_streamed, 500);
        s.reset(500);
        let snap = s.snapshot(7, 600);
        assert_eq!((snap.ticks, snap.bytes_streamed), (0, 100));
    }
}
