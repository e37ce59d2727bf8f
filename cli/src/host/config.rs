//! `invsync host`'s settings: flags, environment variables for secrets, and a TOML file whose
//! keys are the flags' names (`server_id`, `store`, ...). Flags win over the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// What to do when the game server exits on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Start it again (with backoff, at most `max_restarts` times in a row).
    OnCrash,
    /// Stop the host too.
    Never,
}

/// `invsync host [OPTIONS] -- GAME_SERVER_COMMAND [ARGS...]`
#[derive(Args, Debug)]
pub struct HostArgs {
    /// This game server's id in the cluster (unique per server; shown to players as the holder).
    #[arg(long)]
    server_id: Option<String>,
    /// The player store: sqlite:PATH (default sqlite:invsync.db), redis://[:PW@]HOST:PORT/DB,
    /// rediss://... Also INVSYNC_STORE, which keeps a password out of the process list.
    #[arg(long, env = "INVSYNC_STORE", hide_env_values = true)]
    store: Option<String>,
    /// The game server's RCON password (also INVSYNC_RCON_PASSWORD).
    #[arg(long, env = "INVSYNC_RCON_PASSWORD", hide_env_values = true)]
    rcon_password: Option<String>,
    /// The game server's RCON address. Default: the address the server announces in its
    /// "Starting RCON interface at ..." line, else 127.0.0.1:27015.
    #[arg(long)]
    rcon: Option<String>,
    /// Serve Prometheus metrics (/metrics) and /healthz here.
    #[arg(long)]
    metrics_bind: Option<SocketAddr>,
    /// Start the game server again when it exits on its own.
    #[arg(long, value_enum)]
    restart: Option<Restart>,
    /// Restarts in a row before the host gives up (a run of 10 minutes resets the count).
    #[arg(long)]
    max_restarts: Option<u32>,
    /// The cluster's name (the Redis key prefix).
    #[arg(long)]
    cluster: Option<String>,
    /// Redis replicas every store write waits for (`WAIT`) before the game is answered.
    #[arg(long)]
    redis_replicas: Option<u32>,
    /// Lease timeout in milliseconds; every host of a cluster must use the same (docs/SYNC.md).
    #[arg(long)]
    lease_timeout_ms: Option<u64>,
    /// Heartbeat interval in milliseconds.
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// Seconds to wait for the game server to stop and the uploads to be stored when stopping
    /// (at least 2: players leaving and the game quitting each have half).
    #[arg(long)]
    stop_timeout_s: Option<u64>,
    /// A TOML file with any of the settings above (keys as the flags, with underscores), and
    /// `command = ["factorio", "--start-server", ...]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The game server command and its arguments.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server_id: Option<String>,
    store: Option<String>,
    rcon_password: Option<String>,
    rcon: Option<String>,
    metrics_bind: Option<SocketAddr>,
    restart: Option<Restart>,
    max_restarts: Option<u32>,
    cluster: Option<String>,
    redis_replicas: Option<u32>,
    lease_timeout_ms: Option<u64>,
    heartbeat_ms: Option<u64>,
    stop_timeout_s: Option<u64>,
    command: Option<Vec<String>>,
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub server_id: String,
    pub store: String,
    pub rcon_password: String,
    pub rcon: Option<String>,
    pub metrics_bind: Option<SocketAddr>,
    pub restart: Restart,
    pub max_restarts: u32,
    pub cluster: String,
    pub redis_replicas: u32,
    pub lease_timeout: Duration,
    pub heartbeat: Duration,
    pub stop_timeout: Duration,
    pub command: Vec<String>,
}

impl HostConfig {
    /// How long each stage of a stop (players leave, the game quits) may take, its console
    /// command included: half the stop timeout.
    pub fn stop_stage(&self) -> Duration {
        self.stop_timeout / 2
    }
}

impl HostArgs {
    /// Merges the flags over the config file and checks the result. Errors name the setting.
    pub fn resolve(&self) -> Result<HostConfig, String> {
        let file = match &self.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| format!("config file {}: {}", path.display(), e.message()))?
            }
        };
        let server_id = self
            .server_id
            .clone()
            .or(file.server_id)
            .ok_or("--server-id is required (or server_id in the config file)")?;
        if server_id.is_empty()
            || server_id.len() > invsync_sync::MAX_SERVER_ID
            || server_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(format!(
                "--server-id {server_id:?} must be 1 to {} characters without spaces or control characters",
                invsync_sync::MAX_SERVER_ID
            ));
        }
        let rcon_password = self
            .rcon_password
            .clone()
            .or(file.rcon_password)
            .ok_or("--rcon-password is required (or INVSYNC_RCON_PASSWORD, or rcon_password in the config file)")?;
        let command = if self.command.is_empty() {
            file.command.unwrap_or_default()
        } else {
            self.command.clone()
        };
        if command.is_empty() {
            return Err(
                "no game server command: give it after `--` (or command = [...] in the config file)"
                    .into(),
            );
        }
        let lease_timeout_ms = self
            .lease_timeout_ms
            .or(file.lease_timeout_ms)
            .unwrap_or(invsync_sync::Settings::default().lease_timeout_ms);
        let heartbeat_ms = self.heartbeat_ms.or(file.heartbeat_ms).unwrap_or(5_000);
        if heartbeat_ms == 0 || heartbeat_ms * 2 > lease_timeout_ms {
            return Err(format!(
                "heartbeat every {heartbeat_ms} ms does not fit the lease timeout of {lease_timeout_ms} ms (at least two heartbeats per timeout)"
            ));
        }
        let stop_timeout_s = self.stop_timeout_s.or(file.stop_timeout_s).unwrap_or(60);
        if stop_timeout_s < 2 {
            return Err(format!(
                "stop timeout of {stop_timeout_s} s: at least 2 (players leaving and the game quitting each have half of it)"
            ));
        }
        Ok(HostConfig {
            server_id,
            store: self
                .store
                .clone()
                .or(file.store)
                .unwrap_or_else(|| "sqlite:invsync.db".into()),
            rcon_password,
            rcon: self.rcon.clone().or(file.rcon),
            metrics_bind: self.metrics_bind.or(file.metrics_bind),
            restart: self.restart.or(file.restart).unwrap_or(Restart::OnCrash),
            max_restarts: self.max_restarts.or(file.max_restarts).unwrap_or(5),
            cluster: self
                .cluster
                .clone()
                .or(file.cluster)
                .unwrap_or_else(|| "invsync".into()),
            redis_replicas: self.redis_replicas.or(file.redis_replicas).unwrap_or(0),
            lease_timeout: Duration::from_millis(lease_timeout_ms),
            heartbeat: Duration::from_millis(heartbeat_ms),
            stop_timeout: Duration::from_secs(stop_timeout_s),
            command,
        })
    }
}
