//! The game under test: `invsync emulator` as a child process with a real stdout pipe and a real
//! loopback RCON port, running the bench scenario (the reference module plus a small control.lua).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use invsync_host::{Incoming, Link, LinkConfig, LinkOptions};
use invsync_rcon_transport::{ClientConfig, RconClient};

use super::Entry;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

/// The bench scenario's control.lua (next to a copy of the module's files).
const BENCH_CONTROL: &str = include_str!("bench_control.lua");

/// The module's setup in the bench control.lua, and the same without the custom command.
const SETUP: &str = "invsync.setup({ sync = false }";
const SETUP_WITHOUT_COMMAND: &str = "invsync.setup({ sync = false, recv_command = false }";
/// ... and with export_json declared (PROTOCOL.md 4.1).
const SETUP_EXPORT_JSON: &str = "invsync.setup({ sync = false, export_json = true }";
/// ... and without `solid` among the methods it decodes (PROTOCOL.md 2.3), as before it.
const SETUP_WITHOUT_SOLID: &str =
    r#"invsync.setup({ sync = false, decode = { "zlib", "raw", "lz4" } }"#;

/// The emulator's driver script: the player the bench writes inventories into joins first.
const JOIN_SCRIPT: &str = "join bench\n";

/// Writes the module and the bench control.lua into a fresh scenario folder (and the driver
/// script beside it, `join.txt`), the module set up for `entry`: with its custom command
/// (the default), without, as a module from before it, declaring export_json too, or not
/// declaring solid.
pub fn write_scenario(dir: &Path, entry: Entry) -> anyhow::Result<PathBuf> {
    let (name, control) = match entry {
        Entry::Command => ("invsync-bench-command", BENCH_CONTROL.to_string()),
        // the same module: the host decides the frames (GameProcess::start's `compact`)
        Entry::CommandLong => ("invsync-bench-command-long", BENCH_CONTROL.to_string()),
        Entry::RemoteCall => (
            "invsync-bench-remote-call",
            BENCH_CONTROL.replacen(SETUP, SETUP_WITHOUT_COMMAND, 1),
        ),
        Entry::ExportJson => (
            "invsync-bench-export-json",
            BENCH_CONTROL.replacen(SETUP, SETUP_EXPORT_JSON, 1),
        ),
        Entry::CommandZlib => (
            "invsync-bench-command-zlib",
            BENCH_CONTROL.replacen(SETUP, SETUP_WITHOUT_SOLID, 1),
        ),
    };
    if !matches!(entry, Entry::Command | Entry::CommandLong) && control == BENCH_CONTROL {
        bail!("bench_control.lua no longer calls {SETUP:?}");
    }
    let root = dir.join(name).join("invsync-bench");
    for (path, contents) in invsync_scenario::scenario_files(Some(&control)) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("scenario files sit in a folder"))?;
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(script_of(&root), JOIN_SCRIPT)?;
    Ok(root)
}

fn script_of(scenario: &Path) -> PathBuf {
    scenario.with_file_name("join.txt")
}

/// A running emulator and the host's link to it.
pub struct GameProcess {
    child: Child,
    pub link: Link,
}

impl GameProcess {
    /// Starts the emulator in virtual time on a free loopback port and connects a [`Link`]
    /// (`compact`: its [`LinkConfig::compact_frames`]).
    pub async fn start(
        scenario: &Path,
        in_flight: usize,
        compact: bool,
        tick_log: Option<&Path>,
    ) -> anyhow::Result<(GameProcess, mpsc::Receiver<Incoming>)> {
        let password = format!("bench-{}", std::process::id());
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("emulator");
        if let Some(path) = tick_log {
            command.arg("--tick-log").arg(path);
        }
        // A game server has run for hours; the emulator is a fresh process whose first megabyte
        // strings would pay for page faults the game does not (emulator/src/warm_heap.rs; glibc
        // only: elsewhere the bench measures a fresh heap).
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            command.args(["--warm-heap", "256"]);
        }
        let mut child = command
            .args(["--rcon-bind", "127.0.0.1:0", "--scenario"])
            .arg(scenario)
            .arg("--script")
            .arg(script_of(scenario))
            // The host answers within microseconds on loopback; a generous grace keeps tick counts
            // exact even when the host spends milliseconds encoding (virtual time, EMULATOR.md).
            .args(["--grace-ms", "250"])
            // The host writes the commands of one decision in a burst: start them in one tick.
            .args(["--settle-us", "2000"])
            .env("INVSYNC_EMULATOR_RCON_PASSWORD", &password)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the emulator")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (port, stdout) = wait_for_rcon(stdout).await?;
        let rcon = ClientConfig::new(format!("127.0.0.1:{port}"), password);
        let mut options = LinkOptions {
            link: LinkConfig {
                in_flight,
                compact_frames: compact,
                ..LinkConfig::default()
            },
            ..LinkOptions::default()
        };
        // Clusterio's upload (the baseline) is one line of the whole JSON.
        options.stdout.reader.max_line = 8 * 1024 * 1024;
        let (link, incoming) = Link::connect(rcon, stdout, options)
            .await
            .context("connecting the link")?;
        // A host asks for the game's capabilities once per connection, and the first message
        // waits for that answer: send one small message first so no timed transfer pays for it.
        tokio::time::timeout(
            Duration::from_secs(60),
            link.send(&b"{\"warm-up\":true}"[..]),
        )
        .await
        .context("the warm-up message did not arrive within 60 s")?
        .context("sending the warm-up message")?;
        Ok((GameProcess { child, link }, incoming))
    }

    pub fn rcon(&self) -> &RconClient {
        self.link.rcon()
    }

    /// Runs a console command and returns its reply text.
    pub async fn command(&self, text: &str) -> anyhow::Result<String> {
        let reply = self
            .rcon()
            .command_with_timeout(text.to_string(), Duration::from_secs(120))
            .await?;
        Ok(reply.text().into_owned())
    }

    /// Calls the bench scenario's remote interface and returns the trimmed reply.
    pub async fn bench_call(&self, function: &str, args: &str) -> anyhow::Result<String> {
        let reply = self
            .command(&format!(
                "/sc remote.call(\"invsync_bench\",\"{function}\"{args})"
            ))
            .await?;
        let reply = reply.trim().to_string();
        if reply.is_empty() || reply.contains("Error") || reply.contains("error") {
            bail!("bench scenario `{function}` answered {reply:?}");
        }
        Ok(reply)
    }

    /// Calls a function of the bench scenario that answers with JSON (whose text may name an
    /// error without being one).
    pub async fn bench_json<T: serde::de::DeserializeOwned>(
        &self,
        function: &str,
    ) -> anyhow::Result<T> {
        let reply = self
            .command(&format!(
                "/sc remote.call(\"invsync_bench\",\"{function}\")"
            ))
            .await?;
        serde_json::from_str(reply.trim())
            .with_context(|| format!("bench scenario `{function}` answered {reply:?}"))
    }

    /// The emulator's per-tick accounting (an emulator extension, docs/EMULATOR.md).
    pub async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        let text = self.command("/emulator-stats").await?;
        serde_json::from_str(&text).with_context(|| format!("emulator stats: {text:?}"))
    }

    pub async fn reset_stats(&self) -> anyhow::Result<()> {
        self.command("/emulator-stats reset").await.map(|_| ())
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Reads the emulator's log until it says where RCON listens (as the game does, and as
/// Clusterio waits for), and hands back the rest of the stream.
async fn wait_for_rcon(stdout: ChildStdout) -> anyhow::Result<(u16, BufReader<ChildStdout>)> {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    for _ in 0..200 {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            bail!("the emulator ended before starting RCON");
        }
        // "Starting RCON interface at IP ADDR:({127.0.0.1:PORT})"
        if let Some(rest) = line.split("Starting RCON interface at IP ADDR:({").nth(1) {
            let port = rest
                .split('}')
                .next()
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .with_context(|| format!("no port in {line:?}"))?;
            return Ok((port, reader));
        }
    }
    bail!("the emulator did not start RCON within its first 200 log lines")
}
