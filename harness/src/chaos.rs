//! Randomized runs (issue 13): players join, gain, spend, leave and join elsewhere while faults
//! hit the cluster; the invariants ([`crate::invariants`]) are checked after every step (one
//! player, one game) and at every quiescent moment (the rest); the first violation stops the
//! run with the seed, the history written to a file, and the invariant that broke.
//!
//! The seed fixes the sequence of random draws: every step draws the same four numbers, so the
//! same seed makes the same choices in the same order. What a choice meets (a join answered
//! busy, a fault on a server that is down) depends on the processes' timing, so two runs of
//! one seed are alike, not identical.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use invsync_player_data::SplitMix64;
use serde_json::{Value, json};

use crate::history::{History, Kind};
use crate::invariants::{Checker, check_one_game};
use crate::proxy::{Mode, Proxy};
use crate::{Cluster, Options, StoreChoice, items};

/// The slow server's ticks per second (the others run the game's 60).
const SLOW_TPS: u64 = 5;

/// Fault kinds, as counted in the report.
pub(crate) const FAULTS: &[&str] = &[
    "kill9_game",
    "kill9_host",
    "kill9_store",
    "store_outage",
    "store_outage_long",
    "rcon_cut",
    "rcon_delay",
    "rcon_stall",
    "stdout_stall",
    "game_pause",
    "slow_game",
    "join_two_servers",
    "join_while_online",
    "admin_import_online",
    "admin_restore_online",
];

/// How to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// The `invsync` binary the hosts and emulators run.
    pub binary: PathBuf,
    /// Seed of every choice (the same seed makes the same choices).
    pub seed: u64,
    /// How long the run goes on.
    pub duration: Duration,
    /// The store the cluster shares.
    pub store: StoreChoice,
    /// Game servers.
    pub servers: usize,
    /// Players.
    pub players: usize,
    /// Chance (per mille) that a step injects a fault.
    pub fault_per_mille: u64,
    /// A quiescent check after this many steps.
    pub check_every: u64,
    /// The longest outage (store, host down, pause, stall).
    pub max_outage: Duration,
    /// How long the store stays away in a `store_outage_long` (a minute by default: past the
    /// lease timeout, so the hosts' self-fencing is what keeps one player in one game).
    pub long_outage: Duration,
    /// Where the history goes (else `invsync-chaos-SEED-PID.history.jsonl` in the temporary
    /// folder).
    pub history: Option<PathBuf>,
    /// Run one server at 5 ticks per second.
    pub slow_server: bool,
}

impl ChaosOptions {
    /// A run of `duration` with `seed`: 3 servers (one of them slow), 4 players, SQLite.
    pub fn new(binary: impl Into<PathBuf>, seed: u64, duration: Duration) -> ChaosOptions {
        ChaosOptions {
            binary: binary.into(),
            seed,
            duration,
            store: StoreChoice::Sqlite,
            servers: 3,
            players: 4,
            fault_per_mille: 120,
            check_every: 30,
            max_outage: Duration::from_secs(8),
            long_outage: Duration::from_secs(60),
            history: None,
            slow_server: true,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct ChaosReport {
    /// The run's seed.
    pub seed: u64,
    /// The store: `sqlite`, `redis` or `redis (own redis-server)`.
    pub store: String,
    /// How long the run took.
    pub seconds: f64,
    /// Joins and leaves.
    pub operations: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Items the players held when a join ended in playing, summed over the joins.
    pub items_moved: i64,
    /// Joins that ended in playing, by how the game got the data (`synced_by` of PROTOCOL.md
    /// 5.3: `local`, `data` or `delta`), so a run shows which paths the faults met.
    pub synced_by: BTreeMap<String, u64>,
    /// Quiescent checks of the invariants.
    pub checks: u64,
    /// Uploads the games were told were stored, checked against the store at the last check.
    pub uploads_checked: usize,
    /// Conflict snapshots folded (their difference taken out of the ledger).
    pub conflicts: usize,
    /// Items the audit found missing.
    pub lost: i64,
    /// Items the audit found twice.
    pub duplicated: i64,
    /// The invariants that failed, each with what was seen.
    pub violations: Vec<String>,
    /// Where the history was written.
    pub history: Option<PathBuf>,
    /// The cluster's folder (host logs), kept when a violation or error stopped the run.
    pub logs: Option<PathBuf>,
    /// An error of the harness itself (not an invariant), which also stops the run.
    pub error: Option<String>,
}

impl ChaosReport {
    /// The report as one JSON object (every fault named, zero when not injected).
    pub fn to_json(&self) -> Value {
        let mut faults = serde_json::Map::new();
        for k in FAULTS {
            faults.insert(
                (*k).to_string(),
                json!(self.faults.get(*k).copied().unwrap_or(0)),
            );
        }
        json!({
            "seed": self.seed,
            "store": self.store,
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "operations": self.operations,
            "faults": faults,
            "items_moved": self.items_moved,
            "synced_by": self.synced_by,
            "checks": self.checks,
            "uploads_checked": self.uploads_checked,
            "conflicts": self.conflicts,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "violations": self.violations,
            "history": self.history.as_ref().map(|p| p.display().to_string()),
            "logs": self.logs.as_ref().map(|p| p.display().to_string()),
            "error": self.error,
        })
    }

    /// No violation and no harness error.
    pub fn ok(&self) -> bool {
        self.violations.is_empty() && self.error.is_none()
    }
}

const ITEMS: &[(&str, &str)] = &[
    ("iron-plate", "normal"),
    ("copper-plate", "normal"),
    ("coal", "normal"),
    ("stone", "normal"),
    ("steel-plate", "rare"),
];

struct Run {
    c: Cluster,
    o: ChaosOptions,
    h: History,
    checker: Checker,
    players: Vec<String>,
    proxies: Vec<Option<Proxy>>,
    /// A paused game resumes at this instant.
    paused: Vec<Option<Instant>>,
    /// A killed host starts again at this instant.
    down: Vec<Option<Instant>>,
    /// A proxy's delay or stall ends at this instant.
    proxy_until: Vec<Option<Instant>>,
    store_down: Option<Instant>,
    slow: Option<usize>,
    r: ChaosReport,
}

/// Runs a randomized run; the report says what it did and what broke.
pub async fn run(o: ChaosOptions) -> anyhow::Result<ChaosReport> {
    let mut options = Options::new(&o.binary, "chaos");
    options.servers = o.servers.max(2);
    options.store = o.store.clone();
    let c = Cluster::start(options).await?;
    let store = match &o.store {
        StoreChoice::Sqlite => "sqlite".to_string(),
        StoreChoice::Redis(_) => "redis".to_string(),
        StoreChoice::OwnRedis => "redis (own redis-server)".to_string(),
    };
    let n = c.nodes.len();
    let mut run = Run {
        c,
        h: History::new(o.seed),
        checker: Checker::default(),
        players: (0..o.players.max(1)).map(|k| format!("p{k}")).collect(),
        proxies: (0..n).map(|_| None).collect(),
        paused: vec![None; n],
        down: vec![None; n],
        proxy_until: vec![None; n],
        store_down: None,
        slow: None,
        r: ChaosReport {
            seed: o.seed,
            store,
            ..ChaosReport::default()
        },
        o,
    };
    let started = Instant::now();
    let outcome = run.go().await;
    run.r.seconds = started.elapsed().as_secs_f64();
    if let Err(e) = outcome {
        run.h.push(Kind::Violation, format!("harness error: {e:#}"));
        run.r.error = Some(format!("{e:#}"));
    }
    let failed = !run.r.ok();
    let path = match &run.o.history {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!(
            "invsync-chaos-{}-{}.history.jsonl",
            run.o.seed,
            std::process::id()
        )),
    };
    run.h.write(&path)?;
    run.r.history = Some(path);
    if failed {
        run.r.logs = Some(run.c.keep_dir());
    }
    Ok(run.r)
}

impl Run {
    fn fault(&mut self, kind: &str, text: String) {
        *self.r.faults.entry(kind.to_string()).or_insert(0) += 1;
        self.h.push(Kind::Fault, format!("{kind}: {text}"));
    }

    fn owns_redis(&self) -> bool {
        matches!(self.o.store, StoreChoice::OwnRedis)
    }

    /// A node the driver can talk to now.
    fn usable(&mut self, i: usize) -> bool {
        self.paused[i].is_none() && self.down[i].is_none() && self.c.nodes[i].running()
    }

    /// The online player draw `c` picks, with the server they are on.
    fn pick_online(&self, c: u64) -> Option<(String, usize)> {
        let online: Vec<(&String, &usize)> = self.c.online.iter().collect();
        let (p, k) = online.get((c as usize) % online.len().max(1))?;
        Some(((*p).clone(), **k))
    }

    async fn go(&mut self) -> anyhow::Result<()> {
        let n = self.c.nodes.len();
        // every host talks to its game through a proxy; one server is slow
        for i in 0..n {
            let p = self.c.proxy_rcon(i).await?;
            self.proxies[i] = Some(p);
        }
        if self.o.slow_server {
            let i = n - 1;
            self.c.slow_game(i, SLOW_TPS as u32).await?;
            self.slow = Some(i);
            self.fault(
                "slow_game",
                format!("{} runs 5 ticks per second", self.c.nodes[i].id),
            );
        }
        // half the players start with a rich inventory
        for (k, p) in self.players.clone().into_iter().enumerate() {
            if k % 2 == 0 {
                let data = crate::rich_data(self.o.seed.wrapping_add(k as u64), &p);
                self.c.seed(&p, data).await?;
                self.h.push(Kind::Op, format!("import {p} (seed data)"));
            } else {
                // in the ledger with nothing, so that the audit covers them
                self.c.ledger.gain_all(&p, &items::Counts::new());
            }
        }
        let end = Instant::now() + self.o.duration;
        let mut rng = SplitMix64::new(self.o.seed);
        let mut step = 0u64;
        while Instant::now() < end {
            step += 1;
            // four draws per step, whatever they are used for
            let (roll, a, b, c) = (
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            );
            self.end_faults(false).await?;
            if roll % 1000 < self.o.fault_per_mille {
                self.inject(a, b, c).await?;
            } else {
                self.operate(a, b, c).await?;
            }
            if !self.r.violations.is_empty() {
                return Ok(());
            }
            let poll: Vec<bool> = (0..n).map(|i| self.usable(i)).collect();
            let v =
                check_one_game(&mut self.c, &self.players, &poll, Duration::from_secs(20)).await;
            if !v.is_empty() {
                return self.violated(v);
            }
            if step.is_multiple_of(self.o.check_every) {
                self.quiescent_check().await?;
                if !self.r.violations.is_empty() {
                    return Ok(());
                }
            }
        }
        self.quiescent_check().await
    }

    fn violated(&mut self, v: Vec<String>) -> anyhow::Result<()> {
        for x in &v {
            self.h.push(Kind::Violation, x.clone());
        }
        self.r.violations.extend(v);
        Ok(())
    }

    /// Ends faults whose time is up (all of them when `all`).
    async fn end_faults(&mut self, all: bool) -> anyhow::Result<()> {
        let now = Instant::now();
        let due = |t: &Option<Instant>| t.is_some_and(|t| all || t <= now);
        for i in 0..self.c.nodes.len() {
            if due(&self.paused[i]) {
                self.paused[i] = None;
                self.c.pause_game(i, false)?;
                self.h.push(
                    Kind::Fault,
                    format!("game_pause ends on {}", self.c.nodes[i].id),
                );
            }
            if due(&self.proxy_until[i]) {
                self.proxy_until[i] = None;
                if let Some(p) = &self.proxies[i] {
                    p.set(Mode::Pass);
                }
                self.h.push(
                    Kind::Fault,
                    format!("rcon proxy passes again on {}", self.c.nodes[i].id),
                );
            }
            if due(&self.down[i]) {
                self.down[i] = None;
                self.c.nodes[i].start()?;
                self.c.nodes[i].wait_ready(crate::WAIT).await?;
                self.h.push(
                    Kind::Fault,
                    format!("host {} started again", self.c.nodes[i].id),
                );
            }
        }
        if due(&self.store_down) {
            self.store_down = None;
            self.c.start_store()?;
            self.h.push(
                Kind::Fault,
                "store_outage ends: redis-server started on its AOF",
            );
        }
        Ok(())
    }

    /// Heals every fault, waits for quiescence, checks invariants 1, 3, 4 and folds conflicts.
    async fn quiescent_check(&mut self) -> anyhow::Result<()> {
        self.end_faults(true).await?;
        // nobody left in a failed or temporary state
        for p in self.players.clone() {
            if let Some(&i) = self.c.online.get(&p) {
                let s = self.c.state(i, &p).await?;
                if s.state() != "playing" {
                    self.leave(i, &p).await?;
                }
            }
        }
        let settle = Duration::from_secs(90) + self.o.max_outage.max(self.o.long_outage) * 2;
        if let Err(e) = self.c.settle(&self.players, settle).await {
            return self.violated(vec![format!("quiescence: a player is stuck: {e:#}")]);
        }
        let (audit, v) = self.checker.quiescent(&mut self.c).await?;
        self.r.checks += 1;
        self.r.lost = audit.lost();
        self.r.duplicated = audit.duplicated();
        self.r.uploads_checked = self.checker.uploads_checked;
        self.h.push(
            Kind::Check,
            format!(
                "quiescent: {} players, lost {}, duplicated {}, {} answered uploads",
                audit.players.len(),
                audit.lost(),
                audit.duplicated(),
                self.checker.uploads_checked
            ),
        );
        if !v.is_empty() {
            return self.violated(v);
        }
        let folded = self.checker.fold_conflicts(&mut self.c).await?;
        self.r.conflicts += folded;
        if folded > 0 {
            self.h.push(
                Kind::Check,
                format!("{folded} conflict snapshots settled (unpinned, out of the ledger)"),
            );
        }
        Ok(())
    }

    async fn leave(&mut self, i: usize, p: &str) -> anyhow::Result<()> {
        let r = self.c.step(i, &format!("/emulator leave {p}")).await?;
        self.h
            .push(Kind::Op, format!("leave {p} {} -> {r}", self.c.nodes[i].id));
        if self.c.online.get(p) == Some(&i) {
            self.c.online.remove(p);
        }
        self.r.operations += 1;
        Ok(())
    }

    /// How long a join on node `i` may take to end in playing, failed or temporary: the
    /// module gives up an unanswered acquire after 600 game ticks, which the slow server (5
    /// ticks per second) takes 120 s to run.
    fn state_timeout(&self, i: usize) -> Duration {
        if Some(i) == self.slow {
            Duration::from_secs(180)
        } else {
            Duration::from_secs(60)
        }
    }

    /// After a join: playing, or the player leaves again.
    async fn after_join(&mut self, i: usize, p: &str) -> anyhow::Result<()> {
        let timeout = self.state_timeout(i);
        match self
            .c
            .wait_state(i, p, &["playing", "failed", "temporary"], timeout)
            .await
        {
            Ok((_, s)) if s.state() == "playing" => {
                let held = items::total(&self.c.items(i, p).await?);
                self.r.items_moved += held;
                let by = s.synced_by().unwrap_or("unknown").to_string();
                self.h.push(
                    Kind::Op,
                    format!(
                        "{p} plays on {} with {held} items (synced by {by})",
                        self.c.nodes[i].id
                    ),
                );
                *self.r.synced_by.entry(by).or_default() += 1;
                Ok(())
            }
            Ok((_, s)) => {
                let gui = self.c.gui_text(i, p).await.unwrap_or_default();
                self.h.push(
                    Kind::Op,
                    format!("{p} is {} on {}: {gui}", s.state(), self.c.nodes[i].id),
                );
                self.leave(i, p).await
            }
            Err(e) => {
                self.h
                    .push(Kind::Op, format!("{p} on {}: {e:#}", self.c.nodes[i].id));
                self.leave(i, p).await
            }
        }
    }

    async fn operate(&mut self, a: u64, b: u64, c: u64) -> anyhow::Result<()> {
        let p = self.players[(a % self.players.len() as u64) as usize].clone();
        let n = self.c.nodes.len();
        match self.c.online.get(&p).copied() {
            None => {
                let i = (b % n as u64) as usize;
                if !self.usable(i) {
                    return Ok(());
                }
                let r = self.c.step(i, &format!("/emulator join {p}")).await?;
                self.h
                    .push(Kind::Op, format!("join {p} {} -> {r}", self.c.nodes[i].id));
                self.r.operations += 1;
                if r == "ok" {
                    self.c.online.insert(p.clone(), i);
                    self.after_join(i, &p).await?;
                }
            }
            Some(i) => {
                if !self.usable(i) {
                    return Ok(());
                }
                let s = self.c.state(i, &p).await?;
                if s.state() != "playing" {
                    return self.leave(i, &p).await;
                }
                let (item, quality) = ITEMS[(c % ITEMS.len() as u64) as usize];
                let count = 1 + (c >> 8) % 60;
                let verb = match b % 10 {
                    0..=3 => "give",
                    4..=5 => "take",
                    _ => return self.leave(i, &p).await,
                };
                let r = self
                    .c
                    .step(i, &format!("/emulator {verb} {p} {item} {count} {quality}"))
                    .await?;
                self.h.push(
                    Kind::Op,
                    format!(
                        "{verb} {p} {item} {count} {quality} {} -> {r}",
                        self.c.nodes[i].id
                    ),
                );
                self.r.operations += 1;
                if r == "ok" {
                    let sign = if verb == "take" { -1 } else { 1 };
                    self.c.ledger.gain(&p, item, quality, sign * count as i64);
                }
            }
        }
        Ok(())
    }

    async fn inject(&mut self, a: u64, b: u64, c: u64) -> anyhow::Result<()> {
        let n = self.c.nodes.len();
        let kind = FAULTS[(a % FAULTS.len() as u64) as usize];
        let i = (b % n as u64) as usize;
        let id = self.c.nodes[i].id.clone();
        let outage = Duration::from_millis(500 + c % (self.o.max_outage.as_millis() as u64).max(1));
        match kind {
            "kill9_game" if self.usable(i) && Some(i) != self.slow => {
                // right after an autosave: the save holds every step the ledger counted
                self.c.wait_autosave(i).await?;
                let old = self.c.nodes[i].kill9_game()?;
                self.fault(kind, format!("{id} game pid {old}"));
                self.c.online.retain(|_, v| *v != i);
                self.c.nodes[i].wait_new_game(old, crate::WAIT).await?;
                self.h.push(
                    Kind::Fault,
                    format!("{id}: the host started its game again"),
                );
            }
            "kill9_host" if self.usable(i) && Some(i) != self.slow => {
                self.c.wait_autosave(i).await?;
                self.c.nodes[i].kill9();
                self.c.online.retain(|_, v| *v != i);
                // down for up to a few lease timeouts: others may take its players meanwhile
                let lease = Duration::from_millis(self.c.options.lease_timeout_ms);
                let down = lease * (1 + (c % 3) as u32) / 2;
                self.down[i] = Some(Instant::now() + down);
                self.fault(kind, format!("{id} host and game, down {down:?}"));
            }
            "kill9_store" if self.owns_redis() && self.store_down.is_none() => {
                self.c.stop_store()?;
                self.fault(kind, "redis-server".into());
                self.c.start_store()?;
                self.h
                    .push(Kind::Fault, "redis-server started again on its AOF");
            }
            "store_outage" | "store_outage_long"
                if self.owns_redis() && self.store_down.is_none() =>
            {
                let outage = if kind == "store_outage" {
                    outage
                } else {
                    self.o.long_outage
                };
                self.c.stop_store()?;
                self.store_down = Some(Instant::now() + outage);
                self.fault(kind, format!("redis-server down {outage:?}"));
            }
            "rcon_cut" if self.proxies[i].is_some() => {
                self.proxies[i].as_ref().expect("checked").cut();
                self.fault(
                    kind,
                    format!("{id}: every RCON connection of its host closed"),
                );
            }
            "rcon_delay" if self.proxies[i].is_some() && self.proxy_until[i].is_none() => {
                let d = Duration::from_millis(10 + c % 300);
                self.proxies[i]
                    .as_ref()
                    .expect("checked")
                    .set(Mode::Delay(d));
                self.proxy_until[i] = Some(Instant::now() + outage);
                self.fault(kind, format!("{id}: every chunk {d:?} late for {outage:?}"));
            }
            "rcon_stall" if self.proxies[i].is_some() && self.proxy_until[i].is_none() => {
                self.proxies[i].as_ref().expect("checked").set(Mode::Stall);
                self.proxy_until[i] = Some(Instant::now() + outage);
                self.fault(kind, format!("{id}: RCON stalled for {outage:?}"));
            }
            "stdout_stall" if self.usable(i) => {
                // the stall is counted in game ticks: as many as the outage at this game's rate
                let tps = if Some(i) == self.slow {
                    SLOW_TPS
                } else {
                    u64::from(invsync_codec::TICKS_PER_SECOND)
                };
                let ticks = (outage.as_millis() as u64 * tps / 1000).max(1);
                self.c.stall_stdout(i, ticks).await?;
                self.fault(
                    kind,
                    format!("{id}: the game's stdout held for {ticks} ticks (~{outage:?})"),
                );
            }
            "game_pause" if self.usable(i) => {
                let pid = self.c.pause_game(i, true)?;
                self.paused[i] = Some(Instant::now() + outage);
                self.fault(
                    kind,
                    format!(
                        "{id}: game pid {pid} stopped (SIGSTOP: ticks, RCON, stdout) for {outage:?}"
                    ),
                );
            }
            "join_two_servers" => {
                let j = other_server(i, c, n);
                let offline: Vec<String> = self
                    .players
                    .iter()
                    .filter(|p| !self.c.online.contains_key(*p))
                    .cloned()
                    .collect();
                if offline.is_empty() || !self.usable(i) || !self.usable(j) {
                    return Ok(());
                }
                let p = offline[(c >> 16) as usize % offline.len()].clone();
                let (ra, rb) = self.c.join_both(i, j, &p).await?;
                let jd = self.c.nodes[j].id.clone();
                self.fault(
                    kind,
                    format!("{p} joins {id} ({ra}) and {jd} ({rb}) at once"),
                );
                // both are online as far as the games go; keep the one that plays
                let mut on = Vec::new();
                for (k, r) in [(i, ra), (j, rb)] {
                    if r == "ok" {
                        on.push(k);
                    }
                }
                let mut playing = None;
                for k in on {
                    let (_, s) = self
                        .c
                        .wait_state(
                            k,
                            &p,
                            &["playing", "failed", "temporary"],
                            self.state_timeout(k),
                        )
                        .await?;
                    self.h.push(
                        Kind::Op,
                        format!("{p} is {} on {}", s.state(), self.c.nodes[k].id),
                    );
                    if s.state() == "playing" && playing.is_none() {
                        playing = Some(k);
                    } else {
                        let r = self.c.step(k, &format!("/emulator leave {p}")).await?;
                        self.h
                            .push(Kind::Op, format!("leave {p} {} -> {r}", self.c.nodes[k].id));
                    }
                }
                match playing {
                    Some(k) => {
                        self.c.online.insert(p.clone(), k);
                    }
                    None => {
                        self.c.online.remove(&p);
                    }
                }
            }
            "join_while_online" => {
                // one account on two servers: the second must wait (busy) while the first
                // holds the player; it may play only once the first session has ended (after a
                // store outage past the lease timeout, the first host kicked it: self-fencing)
                let Some((p, k)) = self.pick_online(c).filter(|_| n >= 2) else {
                    return Ok(());
                };
                let j = other_server(k, c, n);
                if !self.usable(k) || !self.usable(j) {
                    return Ok(());
                }
                let r = self.c.step(j, &format!("/emulator join {p}")).await?;
                let (kd, jd) = (self.c.nodes[k].id.clone(), self.c.nodes[j].id.clone());
                self.fault(kind, format!("{p}, online on {kd}, joins {jd} too ({r})"));
                if r != "ok" {
                    return Ok(());
                }
                let (_, s) = self
                    .c
                    .wait_state(
                        j,
                        &p,
                        &["playing", "failed", "temporary"],
                        self.state_timeout(j),
                    )
                    .await?;
                self.h
                    .push(Kind::Op, format!("{p} is {} on {jd}", s.state()));
                if s.state() == "playing" {
                    let first = self.c.state(k, &p).await?;
                    self.h
                        .push(Kind::Op, format!("{p} is {} on {kd}", first.state()));
                    if first.state() == "playing" {
                        return self.violated(vec![format!(
                            "one player, one game: {p} is playing on {kd} and {jd} at once"
                        )]);
                    }
                    self.c.online.insert(p.clone(), j);
                    let r = self.c.step(k, &format!("/emulator leave {p}")).await?;
                    self.h.push(Kind::Op, format!("leave {p} {kd} -> {r}"));
                } else {
                    let r = self.c.step(j, &format!("/emulator leave {p}")).await?;
                    self.h.push(Kind::Op, format!("leave {p} {jd} -> {r}"));
                }
            }
            "admin_import_online" | "admin_restore_online" => {
                let Some((p, k)) = self.pick_online(c) else {
                    return Ok(());
                };
                if !self.usable(k) || self.c.state(k, &p).await?.state() != "playing" {
                    return Ok(());
                }
                let g = if kind == "admin_import_online" {
                    let data = crate::rich_data(c, &p);
                    self.c.import_online(&p, data).await
                } else {
                    let head = self.c.head(&p).await?;
                    let Some(snap) = head.and_then(|h| {
                        h.history
                            .iter()
                            .find(|m| m.cause != invsync_sync::Cause::Conflict)
                            .map(|m| m.id)
                    }) else {
                        return Ok(());
                    };
                    self.c.restore_online(&p, snap).await
                };
                match g {
                    Ok(g) => {
                        self.fault(
                            kind,
                            format!(
                                "{p}, online on {}: stored as generation {g} (forced)",
                                self.c.nodes[k].id
                            ),
                        );
                        // the old holder's next upload is refused and kept as a conflict
                        self.leave(k, &p).await?;
                    }
                    Err(e) => self
                        .h
                        .push(Kind::Fault, format!("{kind} {p}: not done: {e:#}")),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The server draw `c` picks among the `n - 1` other than `i` (`n` at least 2).
fn other_server(i: usize, c: u64, n: usize) -> usize {
    (i + 1 + (c % (n as u64 - 1)) as usize) % n
}
