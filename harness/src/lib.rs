//! A cluster of real processes for tests and tools (issues 12 and 13): S nodes, each an
//! `invsync host` child process running an `invsync emulator` child on a loopback port the
//! harness picks, all sharing one store (an SQLite file in a temporary folder, a Redis URL, or a
//! `redis-server` child of the harness that can be killed and started again).
//!
//! The driver makes players join, leave, gain and spend items through the emulator's driver
//! commands over RCON, and keeps a [`Ledger`] of every item each player gained or spent. The
//! [`Cluster::audit`] counts each player's items once across the cluster (the stored data when
//! nobody holds the player, else the holding server's live inventory; plus what the module
//! keeps aside in every game, and what conflict snapshots changed against the generation they
//! were built on) and compares them with the ledger.
//!
//! Every wait is bounded; everything listens on loopback; every child is killed on drop.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod chaos;
mod faults;
mod history;
mod invariants;
mod items;
mod proxy;
mod redis;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use invsync_rcon_transport::{ClientConfig, RconClient};
use invsync_sync::{Cause, PlayerHead, PlayerStore, RedisOptions, Settings, Store};
use serde_json::Value;

pub use chaos::{ChaosOptions, ChaosReport, run as run_chaos};
pub use items::{
    Audit, Counts, Ledger, PlayerAudit, add as add_items, count_data as count_items,
    total as total_items,
};
pub use proxy::{Mode as ProxyMode, Proxy};
pub use redis::{
    RedisServer, free_port, missing as peers_missing, program as find_program,
    required as peers_required,
};

/// Where the cluster keeps its players.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// An SQLite file in the cluster's temporary folder.
    Sqlite,
    /// A Redis server outside the harness (such as the one `tests/run.sh` starts), used under a
    /// key prefix of this cluster's own.
    Redis(String),
    /// A `redis-server` child of the harness, which [`Cluster::stop_store`] kills.
    OwnRedis,
}

/// How to build a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `invsync` binary (hosts and emulators both run it).
    pub binary: PathBuf,
    /// Number of game servers.
    pub servers: usize,
    /// The store every host shares.
    pub store: StoreChoice,
    /// `--lease-timeout-ms` of every host.
    pub lease_timeout_ms: u64,
    /// `--heartbeat-ms` of every host.
    pub heartbeat_ms: u64,
    /// The emulators' `--autosave-interval` (ticks).
    pub autosave_ticks: u64,
    /// A label for the cluster's key prefix and server ids.
    pub name: String,
}

impl Options {
    /// Defaults for tests: 2 servers, SQLite, a 3 s lease timeout, 500 ms heartbeats, an
    /// autosave every second.
    pub fn new(binary: impl Into<PathBuf>, name: &str) -> Options {
        Options {
            binary: binary.into(),
            servers: 2,
            store: StoreChoice::Sqlite,
            lease_timeout_ms: 3_000,
            heartbeat_ms: 500,
            autosave_ticks: 60,
            name: name.to_string(),
        }
    }
}

/// The longest any single wait of the harness takes unless the caller says otherwise.
pub const WAIT: Duration = Duration::from_secs(60);

/// Sync states in which the module is working on a player (not quiescent).
const BUSY_STATES: &[&str] = &[
    "reading",
    "waiting",
    "acquiring",
    "downloading",
    "applying",
    "merging",
    "saving",
    "no_character",
];

/// One game server and its host.
pub struct Node {
    /// Its place in [`Cluster::nodes`].
    pub index: usize,
    /// The server id in the cluster.
    pub id: String,
    /// The game's RCON address.
    pub rcon: String,
    /// The host's metrics address (`/metrics`, `/healthz`).
    pub metrics: String,
    /// The game's save file (loaded at start when it exists).
    pub save: PathBuf,
    /// The host's stdout and stderr (with the game's log lines), appended across restarts.
    pub log: PathBuf,
    binary: PathBuf,
    args: Vec<OsString>,
    password: String,
    host: Option<Child>,
    client: Option<RconClient>,
}

impl Node {
    /// Starts the host (which starts its game); see [`Node::wait_ready`].
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.running() {
            bail!("{}: the host is running already", self.id);
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.host = Some(child);
        self.client = None;
        Ok(())
    }

    /// Whether the host process runs (reaps it when it ended).
    pub fn running(&mut self) -> bool {
        match &mut self.host {
            None => false,
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                _ => {
                    self.host = None;
                    false
                }
            },
        }
    }

    /// The host's pid.
    pub fn host_pid(&self) -> Option<u32> {
        self.host.as_ref().map(Child::id)
    }

    /// The game server's pid: the host's child process.
    pub fn game_pid(&self) -> Option<u32> {
        children(self.host_pid()?).into_iter().next()
    }

    /// Waits until the game answers RCON (the host has started it).
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let end = Instant::now() + timeout;
        loop {
            if !self.running() {
                bail!(
                    "{}: the host exited while starting; log {}",
                    self.id,
                    self.log.display()
                );
            }
            if let Ok(text) = self.try_command("/sc rcon.print(game.tick)").await
                && text.trim().parse::<u64>().is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= end {
                bail!("{}: the game did not answer RCON in time", self.id);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn connect(&mut self) -> anyhow::Result<RconClient> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let mut config = ClientConfig::new(self.rcon.clone(), self.password.clone());
        config.connect_timeout = Duration::from_secs(2);
        let client = tokio::time::timeout(Duration::from_secs(5), RconClient::connect(config))
            .await
            .map_err(|_| anyhow!("{}: RCON connect timed out", self.id))??;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// One attempt at a console command (a connection is made if there is none).
    pub async fn try_command(&mut self, text: &str) -> anyhow::Result<String> {
        let client = self.connect().await?;
        match client
            .command_with_timeout(text.to_string(), Duration::from_secs(30))
            .await
        {
            Ok(reply) => Ok(reply.text().into_owned()),
            Err(e) => {
                self.client = None;
                Err(anyhow!("{}: {text:?}: {e}", self.id))
            }
        }
    }

    /// A command that changes nothing, tried again (reconnecting) until it is answered or
    /// `timeout` passes.
    pub async fn query(&mut self, text: &str, timeout: Duration) -> anyhow::Result<String> {
        let end = Instant::now() + timeout;
        loop {
            match self.try_command(text).await {
                Ok(reply) => return Ok(reply),
                Err(e) if Instant::now() >= end => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Sends SIGTERM to the host and waits for it to exit.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let Some(pid) = self.host_pid() else {
            bail!("{}: the host is not running", self.id);
        };
        signal(pid, libc::SIGTERM);
        let end = Instant::now() + timeout;
        loop {
            if let Some(child) = &mut self.host
                && let Some(status) = child.try_wait()?
            {
                self.host = None;
                self.client = None;
                return Ok(status);
            }
            if Instant::now() >= end {
                self.kill9();
                bail!("{}: the host did not stop within {timeout:?}", self.id);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9` of the host and of its game (the game first seen, then both killed).
    pub fn kill9(&mut self) {
        let game = self.game_pid();
        if let Some(mut child) = self.host.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = game {
            signal(pid, libc::SIGKILL);
        }
        self.client = None;
    }

    /// `kill -9` of the game server only (its host starts it again); its pid.
    pub fn kill9_game(&mut self) -> anyhow::Result<u32> {
        let pid = self
            .game_pid()
            .ok_or_else(|| anyhow!("{}: no game server process", self.id))?;
        signal(pid, libc::SIGKILL);
        self.client = None;
        Ok(pid)
    }

    /// Waits until the host runs a game other than `old` and it answers RCON.
    pub async fn wait_new_game(&mut self, old: u32, timeout: Duration) -> anyhow::Result<()> {
        let end = Instant::now() + timeout;
        loop {
            if !self.running() {
                bail!("{}: the host exited; log {}", self.id, self.log.display());
            }
            if self.game_pid().is_some_and(|p| p != old) {
                break;
            }
            if Instant::now() >= end {
                bail!("{}: the host did not start the game again", self.id);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.client = None;
        self.wait_ready(end.saturating_duration_since(Instant::now()))
            .await
    }

    /// The save file's modification time.
    pub fn save_time(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.save)
            .and_then(|m| m.modified())
            .ok()
    }

    /// The host's `/metrics` text.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&self.metrics),
        )
        .await??;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut body = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut body)).await??;
        let text = String::from_utf8_lossy(&body).into_owned();
        Ok(match text.split_once("\r\n\r\n") {
            Some((_, b)) => b.to_string(),
            None => text,
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The sum of a metric's samples whose label set contains every `labels` pair.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match key.split_once('{') {
                Some((m, r)) => (m, r),
                None => (key, ""),
            };
            if metric != name {
                return None;
            }
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this harness started (or its host's child); no memory involved.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// The child pids of `pid` (every thread's `children` list).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A player's sync state on one server, from the module's `player_state`.
#[derive(Debug, Clone)]
pub struct PlayerState {
    /// The answer as the module wrote it.
    pub json: Value,
}

impl PlayerState {
    /// The sync state (`playing`, `acquiring`, ...; `none` when absent).
    pub fn state(&self) -> &str {
        self.json["state"].as_str().unwrap_or("none")
    }
    /// Whether the module still has an upload of the player to send.
    pub fn upload_pending(&self) -> bool {
        self.json["upload_pending"].as_bool().unwrap_or(false)
    }
    /// While `playing`: the game ticks from the start of the sync to the player getting their
    /// synced character (PROTOCOL.md 5.3 `sync_ticks`).
    pub fn sync_ticks(&self) -> Option<u64> {
        self.json["sync_ticks"].as_u64()
    }
    /// While `playing`: how that sync got the data (`local`, `data` or `delta`; PROTOCOL.md
    /// 5.3 `synced_by`).
    pub fn synced_by(&self) -> Option<&str> {
        self.json["synced_by"].as_str()
    }
    /// The items the module keeps aside for the player in this game.
    pub fn kept(&self) -> Counts {
        items::parse_counts(&self.json["kept"])
    }
}

/// The cluster: its nodes, its store, the driver's ledger.
pub struct Cluster {
    /// The game servers with their hosts.
    pub nodes: Vec<Node>,
    /// The store URL every host uses.
    pub store_url: String,
    /// The key prefix (`--cluster`).
    pub cluster: String,
    /// Every item the driver gave or took, by player.
    pub ledger: Ledger,
    /// Where the driver has each player online.
    pub online: BTreeMap<String, usize>,
    /// What the cluster was started with.
    pub options: Options,
    store: PlayerStore,
    redis: Option<RedisServer>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Writes the scenario, opens the store, starts every host and waits for every game.
    pub async fn start(options: Options) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("invsync-{}-", options.name))
            .tempdir()?;
        let scenario = dir.path().join("scenario");
        for (path, contents) in invsync_scenario::scenario_files(None) {
            let path = scenario.join(path);
            std::fs::create_dir_all(path.parent().expect("in a folder"))?;
            std::fs::write(&path, contents)?;
        }
        let cluster = format!(
            "{}-{}-{}",
            options.name,
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let mut redis = None;
        let store_url = match &options.store {
            StoreChoice::Sqlite => format!("sqlite:{}", dir.path().join("store.db").display()),
            StoreChoice::Redis(url) => url.clone(),
            StoreChoice::OwnRedis => {
                let rdir = dir.path().join("redis");
                std::fs::create_dir_all(&rdir)?;
                let server = RedisServer::start(&rdir)?;
                let url = server.url();
                redis = Some(server);
                url
            }
        };
        let store = open_store(&store_url, &cluster, options.lease_timeout_ms)?;
        let mut nodes = Vec::new();
        for index in 0..options.servers {
            let id = format!("{}-{}", options.name, (b'a' + index as u8) as char);
            let rcon = format!("127.0.0.1:{}", redis::free_port());
            let metrics = format!("127.0.0.1:{}", redis::free_port());
            let save = dir.path().join(format!("{id}.save.json"));
            let password = format!("pw-{}-{index}", std::process::id());
            let mut args: Vec<OsString> = Vec::new();
            let mut arg = |s: &dyn AsRef<std::ffi::OsStr>| args.push(s.as_ref().to_os_string());
            arg(&"host");
            for (flag, value) in [
                ("--server-id", id.clone()),
                ("--store", store_url.clone()),
                ("--cluster", cluster.clone()),
                ("--rcon-password", password.clone()),
                ("--rcon", rcon.clone()),
                ("--metrics-bind", metrics.clone()),
                ("--lease-timeout-ms", options.lease_timeout_ms.to_string()),
                ("--heartbeat-ms", options.heartbeat_ms.to_string()),
                ("--max-restarts", "20".to_string()),
            ] {
                arg(&flag);
                arg(&value);
            }
            arg(&"--");
            arg(&options.binary);
            arg(&"emulator");
            for (flag, value) in [
                ("--rcon-bind", OsString::from(&rcon)),
                ("--rcon-password", OsString::from(&password)),
                ("--scenario", scenario.clone().into_os_string()),
                ("--save", save.clone().into_os_string()),
                (
                    "--autosave-interval",
                    OsString::from(options.autosave_ticks.to_string()),
                ),
            ] {
                arg(&flag);
                arg(&value);
            }
            arg(&"--realtime");
            arg(&"--driver-commands");
            nodes.push(Node {
                index,
                log: dir.path().join(format!("{id}.log")),
                id,
                rcon,
                metrics,
                save,
                binary: options.binary.clone(),
                args,
                password,
                host: None,
                client: None,
            });
        }
        let mut c = Cluster {
            nodes,
            store_url,
            cluster,
            ledger: Ledger::default(),
            online: BTreeMap::new(),
            options,
            store,
            redis,
            dir,
        };
        for n in &mut c.nodes {
            n.start()?;
        }
        for i in 0..c.nodes.len() {
            if let Err(e) = c.nodes[i].wait_ready(WAIT).await {
                bail!("{e:#}\n{}", c.logs_tail(30));
            }
        }
        Ok(c)
    }

    /// The cluster's temporary folder (logs, saves, the SQLite file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the temporary folder after the cluster is dropped (for a failed run's logs).
    pub fn keep_dir(self) -> PathBuf {
        let Cluster { dir, nodes, .. } = self;
        drop(nodes);
        dir.keep()
    }

    /// The store, as the harness reads it.
    pub fn store(&self) -> &PlayerStore {
        &self.store
    }

    /// The tail of every host log, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            out += &format!("--- {} ({})\n", n.id, n.log.display());
            for l in &all[all.len().saturating_sub(lines)..] {
                out += l;
                out.push('\n');
            }
        }
        out
    }

    // the store ---------------------------------------------------------------------------

    /// Runs a store call on the blocking pool.
    /// Runs `f` on the store; while the store is unavailable (killed and restarting, in an
    /// outage) it tries again, for up to [`WAIT`].
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl Fn(&PlayerStore) -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> anyhow::Result<T> {
        let f = Arc::new(f);
        let deadline = Instant::now() + WAIT;
        loop {
            let (store, g) = (self.store.clone(), f.clone());
            let result = tokio::task::spawn_blocking(move || g(&store)).await?;
            let unavailable = result.as_ref().err().is_some_and(|e| {
                matches!(
                    e.downcast_ref::<invsync_sync::StoreError>(),
                    Some(invsync_sync::StoreError::Unavailable(_))
                ) || matches!(
                    e.downcast_ref::<invsync_sync::AdminError>(),
                    Some(invsync_sync::AdminError::Store(
                        invsync_sync::StoreError::Unavailable(_)
                    ))
                )
            });
            if !unavailable || Instant::now() >= deadline {
                return result;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stores `data` as `player`'s next generation (an admin import) and adds its items to the
    /// ledger.
    pub async fn seed(&mut self, player: &str, data: Vec<u8>) -> anyhow::Result<()> {
        let counts = items::count_data(&data)?;
        let p = player.to_string();
        self.with_store(move |s| Ok(s.import(&p, &data, false)?))
            .await?;
        self.ledger.gain_all(player, &counts);
        Ok(())
    }

    /// The player's head, `None` when the store has no record of them.
    pub async fn head(&self, player: &str) -> anyhow::Result<Option<PlayerHead>> {
        let p = player.to_string();
        self.with_store(move |s| {
            if !s.list()?.contains(&p) {
                return Ok(None);
            }
            Ok(Some(s.show(&p)?.head))
        })
        .await
    }

    /// A snapshot's data (the current one for `None`).
    pub async fn export(&self, player: &str, snapshot: Option<u64>) -> anyhow::Result<Vec<u8>> {
        let p = player.to_string();
        self.with_store(move |s| Ok(s.export(&p, snapshot)?)).await
    }

    /// `kill -9` of the cluster's own `redis-server`.
    pub fn stop_store(&mut self) -> anyhow::Result<()> {
        self.redis
            .as_mut()
            .ok_or_else(|| anyhow!("the store is not the harness's own redis-server"))?
            .kill9();
        Ok(())
    }

    /// Starts the cluster's own `redis-server` again on its append-only file.
    pub fn start_store(&mut self) -> anyhow::Result<()> {
        self.redis
            .as_mut()
            .ok_or_else(|| anyhow!("the store is not the harness's own redis-server"))?
            .restart()
    }

    // the driver --------------------------------------------------------------------------

    /// A driver step (`/emulator ...`) on node `i`: its reply, trimmed.
    pub async fn step(&mut self, i: usize, text: &str) -> anyhow::Result<String> {
        Ok(self.nodes[i]
            .try_command(text)
            .await?
            .trim_end()
            .to_string())
    }

    fn expect_ok(&self, i: usize, what: &str, reply: String) -> anyhow::Result<()> {
        if reply == "ok" {
            Ok(())
        } else {
            bail!("{}: {what}: {reply}", self.nodes[i].id)
        }
    }

    /// `player` joins server `i` (the reply must be `ok`).
    pub async fn join(&mut self, i: usize, player: &str) -> anyhow::Result<()> {
        let reply = self.step(i, &format!("/emulator join {player}")).await?;
        self.expect_ok(i, &format!("join {player}"), reply)?;
        self.online.insert(player.to_string(), i);
        Ok(())
    }

    /// `player` leaves server `i`.
    pub async fn leave(&mut self, i: usize, player: &str) -> anyhow::Result<()> {
        let reply = self.step(i, &format!("/emulator leave {player}")).await?;
        self.expect_ok(i, &format!("leave {player}"), reply)?;
        if self.online.get(player) == Some(&i) {
            self.online.remove(player);
        }
        Ok(())
    }

    /// Gives `player` items on server `i`; the ledger counts them when the game says `ok`.
    pub async fn give(
        &mut self,
        i: usize,
        player: &str,
        item: &str,
        count: u32,
        quality: &str,
    ) -> anyhow::Result<()> {
        self.change(i, "give", player, item, count, quality).await
    }

    /// Takes items from `player` on server `i`; the ledger counts them when the game says `ok`.
    pub async fn take(
        &mut self,
        i: usize,
        player: &str,
        item: &str,
        count: u32,
        quality: &str,
    ) -> anyhow::Result<()> {
        self.change(i, "take", player, item, count, quality).await
    }

    async fn change(
        &mut self,
        i: usize,
        verb: &str,
        player: &str,
        item: &str,
        count: u32,
        quality: &str,
    ) -> anyhow::Result<()> {
        let step = format!("{verb} {player} {item} {count} {quality}");
        let reply = self.step(i, &format!("/emulator {step}")).await?;
        self.expect_ok(i, &step, reply)?;
        let sign = if verb == "take" { -1 } else { 1 };
        self.ledger
            .gain(player, item, quality, sign * i64::from(count));
        Ok(())
    }

    /// The module's `player_state` of `player` on server `i` (`none` for a player the game does
    /// not know).
    pub async fn state(&mut self, i: usize, player: &str) -> anyhow::Result<PlayerState> {
        Ok(self.tick_state(i, player).await?.1)
    }

    /// The game tick and `player`'s state, read in one command.
    pub async fn tick_state(
        &mut self,
        i: usize,
        player: &str,
    ) -> anyhow::Result<(u64, PlayerState)> {
        let text = self.nodes[i]
            .query(
                &format!(
                    "/sc rcon.print(game.tick) remote.call('invsync', 'player_state', '{player}')"
                ),
                WAIT,
            )
            .await?;
        let mut lines = text.lines();
        let tick = lines
            .next()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .ok_or_else(|| anyhow!("{}: no tick in {text:?}", self.nodes[i].id))?;
        let line = lines.next().unwrap_or("");
        let json = if line.starts_with("err - UnknownPlayer") {
            serde_json::json!({"player": player, "state": "none"})
        } else {
            serde_json::from_str(line)
                .with_context(|| format!("{}: player_state {line:?}", self.nodes[i].id))?
        };
        Ok((tick, PlayerState { json }))
    }

    /// Polls `player`'s state on server `i` until it is one of `states`.
    pub async fn wait_state(
        &mut self,
        i: usize,
        player: &str,
        states: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<(u64, PlayerState)> {
        let end = Instant::now() + timeout;
        loop {
            let (tick, s) = self.tick_state(i, player).await?;
            if states.contains(&s.state()) {
                return Ok((tick, s));
            }
            if Instant::now() >= end {
                bail!(
                    "{}: {player} is {} after {timeout:?}, not {states:?}: {}",
                    self.nodes[i].id,
                    s.state(),
                    s.json
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `player` joins server `i` and the harness waits until they play there: the game ticks
    /// from the join to playing as the module counts them (`sync_ticks`), and whether the data
    /// came as a delta (`synced_by`).
    pub async fn join_and_play(
        &mut self,
        i: usize,
        player: &str,
        timeout: Duration,
    ) -> anyhow::Result<(u64, bool)> {
        self.join(i, player).await?;
        let (_, s) = self
            .wait_state(i, player, &["playing", "failed", "temporary"], timeout)
            .await?;
        if s.state() != "playing" {
            let gui = self.gui_text(i, player).await.unwrap_or_default();
            bail!(
                "{}: {player} joined and is {}: {} ({})",
                self.nodes[i].id,
                s.state(),
                s.json,
                gui
            );
        }
        let ticks = s
            .sync_ticks()
            .with_context(|| format!("{player} plays without sync_ticks: {}", s.json))?;
        Ok((ticks, s.synced_by() == Some("delta")))
    }

    /// `player`, joined on server `i`, clicks Retry until they play there (answered busy or
    /// error meanwhile); an error when they do not by `timeout`.
    pub async fn play_with_retries(
        &mut self,
        i: usize,
        player: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let end = Instant::now() + timeout;
        loop {
            let (_, s) = self
                .wait_state(i, player, &["playing", "failed"], timeout)
                .await?;
            if s.state() == "playing" {
                return Ok(());
            }
            if Instant::now() >= end {
                bail!(
                    "{}: {player} still does not play: {}",
                    self.nodes[i].id,
                    s.json
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let reply = self
                .step(i, &format!("/emulator click {player} invsync_retry"))
                .await?;
            self.expect_ok(i, &format!("{player} clicks Retry"), reply)?;
        }
    }

    /// What the player's character on server `i` holds (`/emulator items`).
    pub async fn items(&mut self, i: usize, player: &str) -> anyhow::Result<Counts> {
        let text = self.nodes[i]
            .query(&format!("/emulator items {player}"), WAIT)
            .await?;
        if text.starts_with("error: unknown player") {
            return Ok(Counts::new());
        }
        let v: Value = serde_json::from_str(text.trim())
            .with_context(|| format!("{}: items {text:?}", self.nodes[i].id))?;
        Ok(items::parse_counts(&v["items"]))
    }

    /// The sync window's status and detail lines for `player` on server `i` (empty when none).
    pub async fn gui_text(&mut self, i: usize, player: &str) -> anyhow::Result<String> {
        self.nodes[i]
            .query(
                &format!(
                    "/sc local p = game.get_player('{player}') local w = p and p.gui.screen.invsync_sync \
                     if w then rcon.print(tostring(w.invsync_status.caption) .. ' | ' .. tostring(w.invsync_detail.caption)) else rcon.print('') end"
                ),
                WAIT,
            )
            .await
            .map(|t| t.trim_end().to_string())
    }

    /// Waits until server `i` has written its save at least once after this call.
    pub async fn wait_autosave(&mut self, i: usize) -> anyhow::Result<()> {
        let before = self.nodes[i].save_time();
        let end = Instant::now() + WAIT;
        // two writes: the first may have been under way when the caller's last step ran
        for _ in 0..2 {
            let start = self.nodes[i].save_time();
            loop {
                let now = self.nodes[i].save_time();
                if now.is_some() && now != start && now != before {
                    break;
                }
                if Instant::now() >= end {
                    bail!("{}: no autosave within {WAIT:?}", self.nodes[i].id);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// The server index of a server id.
    pub fn node_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Why `player` is not quiescent, or `None` when they are: held by a running server on
    /// which they play, or held by nobody and idle everywhere, with no upload pending.
    pub async fn unsettled(&mut self, player: &str) -> anyhow::Result<Option<String>> {
        let head = self.head(player).await?;
        let holder = head
            .as_ref()
            .and_then(|h| h.held())
            .map(|l| l.holder.clone());
        for i in 0..self.nodes.len() {
            if !self.nodes[i].running() {
                continue;
            }
            let s = self.state(i, player).await?;
            let id = self.nodes[i].id.clone();
            if s.upload_pending() {
                return Ok(Some(format!("{id}: upload pending")));
            }
            if BUSY_STATES.contains(&s.state()) {
                return Ok(Some(format!("{id}: {}", s.state())));
            }
            let holds = holder.as_deref() == Some(id.as_str());
            match (holds, s.state()) {
                (true, "playing") => {}
                (true, other) => return Ok(Some(format!("{id} holds the player, who is {other}"))),
                (false, "playing" | "failed" | "temporary") => {
                    return Ok(Some(format!(
                        "{id}: {} without holding the player (holder {holder:?})",
                        s.state()
                    )));
                }
                _ => {}
            }
        }
        if let Some(h) = &holder
            && !self.node_of(h).is_some_and(|i| self.nodes[i].running())
        {
            return Ok(Some(format!("held by {h}, which does not run")));
        }
        Ok(None)
    }

    /// Waits until every player in `players` is quiescent.
    pub async fn settle(&mut self, players: &[String], timeout: Duration) -> anyhow::Result<()> {
        let end = Instant::now() + timeout;
        loop {
            let mut why = None;
            for p in players {
                // a store or game that is down (or just came back) is not quiescent yet
                match self.unsettled(p).await {
                    Ok(None) => {}
                    Ok(Some(w)) => why = Some(format!("{p}: {w}")),
                    Err(e) => why = Some(format!("{p}: {e:#}")),
                }
                if why.is_some() {
                    break;
                }
            }
            let Some(why) = why else { return Ok(()) };
            if Instant::now() >= end {
                bail!("not quiescent after {timeout:?}: {why}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Audits every player of the ledger (call it when they are quiescent, [`Cluster::settle`]).
    pub async fn audit(&mut self) -> anyhow::Result<Audit> {
        let players: Vec<String> = self.ledger.players().cloned().collect();
        let mut audit = Audit::default();
        for p in players {
            audit.players.push(self.audit_player(&p).await?);
        }
        Ok(audit)
    }

    /// One player's audit.
    pub async fn audit_player(&mut self, player: &str) -> anyhow::Result<PlayerAudit> {
        let head = self.head(player).await?;
        self.audit_head(player, head.as_ref(), false).await
    }

    /// `player`'s audit against `head`: the holder's live inventory (or the stored data when
    /// nobody holds them), what every game keeps aside, and the conflict snapshots' deltas (only
    /// the pinned ones with `pinned_only`: the chaos run folds the others out of the ledger).
    pub(crate) async fn audit_head(
        &mut self,
        player: &str,
        head: Option<&PlayerHead>,
        pinned_only: bool,
    ) -> anyhow::Result<PlayerAudit> {
        let holder = head.and_then(|h| h.held()).map(|l| l.holder.clone());
        let mut found = Counts::new();
        let source = match holder.as_deref().and_then(|h| self.node_of(h)) {
            Some(i) if self.nodes[i].running() => {
                items::merge(&mut found, &self.items(i, player).await?, 1);
                self.nodes[i].id.clone()
            }
            _ => {
                if head.is_some_and(|h| h.current.is_some()) {
                    let data = self.export(player, None).await?;
                    items::merge(&mut found, &items::count_data(&data)?, 1);
                }
                "store".to_string()
            }
        };
        for i in 0..self.nodes.len() {
            if self.nodes[i].running() {
                let s = self.state(i, player).await?;
                items::merge(&mut found, &s.kept(), 1);
            }
        }
        let mut conflicts = 0;
        if let Some(head) = head {
            let counted = head
                .history
                .iter()
                .filter(|m| m.cause == Cause::Conflict && (m.pinned || !pinned_only));
            for meta in counted {
                conflicts += 1;
                let delta =
                    invariants::conflict_delta(self, player, head, meta.id, meta.generation)
                        .await?;
                items::merge(&mut found, &delta, 1);
            }
        }
        Ok(PlayerAudit::new(
            player,
            source,
            self.ledger.expected(player),
            found,
            conflicts,
        ))
    }
}

/// Opens the store the way the hosts do.
pub fn open_store(url: &str, cluster: &str, lease_timeout_ms: u64) -> anyhow::Result<PlayerStore> {
    let store: Arc<dyn Store> = invsync_sync::open(
        url,
        RedisOptions {
            cluster: cluster.to_string(),
            ..RedisOptions::default()
        },
    )?;
    Ok(PlayerStore::new(
        store,
        Settings {
            lease_timeout_ms,
            ..Settings::default()
        },
    ))
}

/// A sample inventory (`invsync_player_data::sample`) as `player`'s PLAYER_DATA (the sample's name
/// replaced by the player's).
pub fn sample_data(kind: invsync_player_data::SampleKind, seed: u64, player: &str) -> Vec<u8> {
    let mut p = invsync_player_data::sample(kind, seed);
    p.name = player.to_string();
    p.to_json().into_bytes()
}

/// The small sample with a blueprint book (the `bp` sample's largest), a repair pack with
/// durability, a stack of a better quality and a damaged turret added: items with qualities,
/// health, durability, ammo, a blueprint book and armor in one PLAYER_DATA of `player`.
pub fn rich_data(seed: u64, player: &str) -> Vec<u8> {
    use invsync_player_data::Stack;
    use invsync_player_data::{SampleKind, sample};
    let mut p = sample(SampleKind::Small, seed);
    p.name = player.to_string();
    let mut slot = p
        .inventories
        .main
        .iter()
        .filter_map(|s| s.slot)
        .max()
        .unwrap_or(0);
    // the largest book (20 to 33 kB of export string): a kept copy whose exports outweigh its
    // stacks, so a player returning to a server that keeps it is sent a delta (PLAYER_DATA.md
    // "Deltas"), and the fault runs meet that path too
    let book = sample(SampleKind::Bp, seed)
        .inventories
        .main
        .into_iter()
        .filter(|s| s.name == "blueprint-book")
        .max_by_key(|s| s.export.as_ref().map_or(0, String::len))
        .expect("the bp sample holds a blueprint book");
    let mut add = |s: Stack| {
        slot += 1;
        p.inventories.main.push(Stack {
            slot: Some(slot),
            ..s
        });
    };
    add(book);
    add(Stack {
        durability: Some(0.5),
        ..Stack::plain(0, "repair-pack", 17)
    });
    add(Stack {
        quality: Some("epic".into()),
        ..Stack::plain(0, "iron-gear-wheel", 33)
    });
    add(Stack {
        health: Some(0.5),
        ..Stack::plain(0, "gun-turret", 3)
    });
    p.to_json().into_bytes()
}
