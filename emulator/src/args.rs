//! Command-line arguments (`invsync emulator ...`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// A password that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Run a stand-in for a headless Factorio 2.0 server: RCON, stdout and a Lua 5.2 scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address of the RCON server (use port 0 to pick a free port; the log line shows it).
    #[arg(long, default_value = "127.0.0.1:27015")]
    pub rcon_bind: SocketAddr,
    /// RCON password; without it RCON is off, as in the game.
    #[arg(long, env = "INVSYNC_EMULATOR_RCON_PASSWORD")]
    pub rcon_password: Option<Secret>,
    /// Scenario folder (holds control.lua); none runs an empty scenario.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Ticks at the game's rate in wall time (--ticks-per-second) instead of virtual time.
    #[arg(long)]
    pub realtime: bool,
    /// With --realtime: ticks per second of wall time (the game's 60 by default; a slow server
    /// runs fewer).
    #[arg(long, default_value_t = invsync_codec::TICKS_PER_SECOND, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub ticks_per_second: u32,
    /// Stop after running this many ticks.
    #[arg(long)]
    pub ticks: Option<u64>,
    /// Write the game here when stopping and at every autosave; start from it when it exists
    /// (unless --load names another save), as a server restarted on its autosave does.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Start from this save file instead of a new game.
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Accept the driver's steps as RCON commands: /emulator join|leave|chat|give|take|click|
    /// crash|items|stall-stdout ... (an emulator extension; the game has no such command).
    #[arg(long)]
    pub driver_commands: bool,
    /// Driver script (join/leave/chat/give/take/click/rcon/wait/crash/restart/quit).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Lockstep: run this many client peers beside the server and compare them every tick.
    #[arg(long, default_value_t = 0)]
    pub peers: usize,
    /// Heavy mode: save and reload before every tick and compare the results.
    #[arg(long)]
    pub heavy: bool,
    /// Autosave every N ticks.
    #[arg(long)]
    pub autosave_interval: Option<u64>,
    /// Seed of the game's math.random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Server setting maximum_segment_size (bytes per tick per command).
    #[arg(long, default_value_t = 100)]
    pub maximum_segment_size: u32,
    /// Server setting maximum_segment_size_peer_count.
    #[arg(long, default_value_t = 10)]
    pub maximum_segment_size_peer_count: u32,
    /// Server setting minimum_segment_size.
    #[arg(long, default_value_t = 25)]
    pub minimum_segment_size: u32,
    /// Server setting minimum_segment_size_peer_count.
    #[arg(long, default_value_t = 20)]
    pub minimum_segment_size_peer_count: u32,
    /// Fully streamed commands execute on ticks that are multiples of this.
    #[arg(long, default_value_t = 2)]
    pub command_interval: u64,
    /// Commands streaming at once (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub max_parallel_commands: usize,
    /// Largest RCON request body accepted, in bytes (longer packets close the connection).
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    pub max_request_size: usize,
    /// Refuse the first /c or /sc of a fresh game with the achievements warning.
    #[arg(long)]
    pub achievements_warning: bool,
    /// Virtual time: after replying, wait this long (ms, real time) for the client's next packet.
    #[arg(long, default_value_t = 50)]
    pub grace_ms: u64,
    /// Write a line per tick (Lua time, instructions, commands), per command arrival and per
    /// statistics reset to this file (see `TickLog`).
    #[arg(long, value_name = "FILE")]
    pub tick_log: Option<std::path::PathBuf>,
    /// Virtual time: after any packet, wait until its client has been quiet this long (µs, real
    /// time) before the next tick, so a burst of commands starts in one tick (0: do not wait).
    #[arg(long, default_value_t = 0)]
    pub settle_us: u64,
    /// Virtual time without --ticks: sleep this long (µs) between ticks while nothing is in flight.
    #[arg(long, default_value_t = 1000)]
    pub idle_tick_us: u64,
    /// Start with this many MiB of heap memory already touched, like a game server that has run
    /// for hours rather than a fresh process (glibc only; see `warm_heap`). 0: a fresh heap.
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    pub warm_heap: usize,
    /// Most RCON connections open at once; more are refused.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// A fault on purpose, for tests (repeatable): ACTION:TEXT:N does ACTION to the Nth command
    /// (1 for the first, * for every one) whose text contains TEXT (empty: any command), counted
    /// over all connections. ACTION: lose-reply (it runs, no reply), drop-connection (it runs,
    /// the connection closes at once, later commands on it are not read), damage (one character
    /// of its recv frame changes), ignore (neither run nor answered).
    #[arg(long = "rcon-fault", value_name = "ACTION:TEXT:N")]
    pub rcon_faults: Vec<crate::RconFault>,
    /// Send a chat packet with id 0 before every command reply, as a game may interleave its
    /// console output with replies.
    #[arg(long)]
    pub rcon_chat_packets: bool,
    /// From the second RCON connection on, require this password instead of --rcon-password
    /// (a server restarted with a new one).
    #[arg(long, value_name = "PW")]
    pub rcon_password_later: Option<Secret>,
}

impl EmulatorArgs {
    /// Defaults with a password, for tests and embedding.
    pub fn with_password(bind: SocketAddr, password: &str) -> EmulatorArgs {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            args: EmulatorArgs,
        }
        let mut a = Wrap::parse_from(["emulator"]).args;
        a.rcon_bind = bind;
        a.rcon_password = Some(Secret(password.to_string()));
        a
    }

    /// The stream settings these arguments describe.
    pub(crate) fn stream_settings(&self) -> crate::StreamSettings {
        crate::StreamSettings {
            maximum_segment_size: self.maximum_segment_size,
            maximum_segment_size_peer_count: self.maximum_segment_size_peer_count,
            minimum_segment_size: self.minimum_segment_size,
            minimum_segment_size_peer_count: self.minimum_segment_size_peer_count,
            exec_interval: self.command_interval.max(1),
            max_parallel: (self.max_parallel_commands > 0).then_some(self.max_parallel_commands),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_redacted() {
        let a = EmulatorArgs::with_password("127.0.0.1:0".parse().unwrap(), "hunter2");
        assert!(!format!("{a:?}").contains("hunter2"));
        assert_eq!(a.stream_settings(), crate::StreamSettings::default());
    }
}
