//! `invsync bench-store`: the player store's sync cycles per second, beside the bare store.
//!
//! Every worker thread (one per player, 64 by default, all in flight at once from this one
//! host) runs the cycle a game runs when a player moves between servers: `acquire` from the
//! server the player joins (the stored data comes back, as for a transfer), then `upload` of
//! the 200 kB `rep` sample as generation + 1 under the granted epoch, which ends the hold (no
//! `release`: the game sends none after an upload). The player alternates between two server
//! ids, so every grant is a new epoch and every acquire after the first hands over the data.
//!
//! Beside it, in the same run and from the same number of threads, the same store does the bare
//! work with the same bytes: SQLite inserts them in an immediate transaction into a table of the
//! same file (WAL, `synchronous=FULL`, one connection shared as the store shares its own);
//! Redis runs a plain `SET`. The goals are judged on the figures, never asserted: the sync keeps
//! at least half the bare store's throughput, and on loopback Redis an acquire's p99 is under
//! 2 ms.
//!
//! Bounded: a fixed number of cycles or seconds, loopback Redis only. Redis runs use their own
//! key prefix (a cluster name of their own) and delete their keys at the end; a SQLite file must
//! hold no players (a scratch file), and the bare table is dropped at the end.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use invsync_player_data::{SampleKind, generate};
use invsync_sync::{
    Acquired, PlayerStore, RedisOptions, RedisStore, Settings, SqliteStore, Store, StoreError,
    UploadOutcome, redact_url,
};
use serde_json::{Value, json};

/// The share of the bare store's throughput the sync must keep.
const GOAL_RATIO: f64 = 0.5;
/// Acquire p99 on loopback Redis, in ms.
const GOAL_REDIS_ACQUIRE_P99_MS: f64 = 2.0;
/// The two servers every player moves between.
const SERVERS: [&str; 2] = ["bench-north", "bench-south"];
/// Longest run `--seconds` accepts, and the cap on a `--cycles` run.
const MAX_SECONDS: f64 = 600.0;

#[derive(Args)]
pub struct BenchStoreArgs {
    /// Store URL: sqlite:PATH (a scratch file) or redis://127.0.0.1:PORT[/DB] (loopback only).
    /// Repeat it to measure several stores in one run.
    #[arg(long, required = true)]
    store: Vec<String>,
    /// Players in flight at once (one worker thread each).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    players: u32,
    /// Sync cycles per store (and as many bare writes).
    #[arg(long, conflicts_with = "seconds", value_parser = clap::value_parser!(u64).range(1..))]
    cycles: Option<u64>,
    /// Seconds per store for the sync cycles, and as many for the bare writes (default 5).
    #[arg(long)]
    seconds: Option<f64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// How long a phase runs.
#[derive(Clone, Copy)]
enum Budget {
    Cycles(u64),
    Seconds(f64),
}

/// Hands out work to the workers until the budget is spent.
struct Work {
    budget: Budget,
    taken: AtomicU64,
    start: Instant,
}

impl Work {
    fn new(budget: Budget) -> Work {
        Work {
            budget,
            taken: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    fn take(&self) -> bool {
        let elapsed = self.start.elapsed().as_secs_f64();
        match self.budget {
            Budget::Cycles(n) => {
                elapsed < MAX_SECONDS && self.taken.fetch_add(1, Ordering::Relaxed) < n
            }
            Budget::Seconds(s) => elapsed < s,
        }
    }
}

/// Latencies of one operation, sorted.
struct Latencies(Vec<Duration>);

impl Latencies {
    fn new(mut all: Vec<Duration>) -> Latencies {
        all.sort_unstable();
        Latencies(all)
    }

    /// Nearest-rank percentile in ms.
    fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1].as_secs_f64() * 1e3
    }

    fn json(&self) -> Value {
        json!({
            "count": self.0.len(),
            "p50_ms": round3(self.ms(50.0)),
            "p99_ms": round3(self.ms(99.0)),
            "max_ms": round3(self.ms(100.0)),
        })
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One store's figures.
struct Measured {
    shown: String,
    kind: &'static str,
    warning: Option<String>,
    data_bytes: usize,
    stored_bytes: usize,
    cycles: u64,
    seconds: f64,
    acquire: Latencies,
    upload: Latencies,
    bare_work: &'static str,
    bare_ops: u64,
    bare_seconds: f64,
    bare: Latencies,
}

impl Measured {
    fn cycles_per_sec(&self) -> f64 {
        self.cycles as f64 / self.seconds.max(1e-9)
    }

    fn bare_per_sec(&self) -> f64 {
        self.bare_ops as f64 / self.bare_seconds.max(1e-9)
    }

    fn ratio(&self) -> f64 {
        self.cycles_per_sec() / self.bare_per_sec().max(1e-9)
    }

    fn ratio_met(&self) -> bool {
        self.ratio() >= GOAL_RATIO
    }

    /// Judged on Redis only.
    fn acquire_met(&self) -> Option<bool> {
        (self.kind == "redis").then(|| self.acquire.ms(99.0) < GOAL_REDIS_ACQUIRE_P99_MS)
    }

    fn json(&self) -> Value {
        json!({
            "store": self.shown,
            "kind": self.kind,
            "durability_warning": self.warning,
            "data_bytes": self.data_bytes,
            "stored_bytes": self.stored_bytes,
            "cycles": self.cycles,
            "seconds": round3(self.seconds),
            "cycles_per_sec": round3(self.cycles_per_sec()),
            "acquire": self.acquire.json(),
            "upload": self.upload.json(),
            "bare": {
                "work": self.bare_work,
                "ops": self.bare_ops,
                "seconds": round3(self.bare_seconds),
                "ops_per_sec": round3(self.bare_per_sec()),
                "latency": self.bare.json(),
            },
            "ratio": round3(self.ratio()),
            "goals": {
                "ratio_min": GOAL_RATIO,
                "ratio_met": self.ratio_met(),
                "acquire_p99_max_ms": (self.kind == "redis").then_some(GOAL_REDIS_ACQUIRE_P99_MS),
                "acquire_p99_met": self.acquire_met(),
            },
        })
    }
}

/// A store as the bench opens it.
enum Target {
    Sqlite { url: String, path: String },
    Redis { url: String },
}

/// Checks a URL before anything is opened: SQLite, or Redis on a loopback address.
fn target(url: &str) -> Result<Target, String> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err("store URL \"sqlite:\" names no file (expected sqlite:PATH)".into());
        }
        return Ok(Target::Sqlite {
            url: url.to_string(),
            path: path.to_string(),
        });
    }
    let Some(rest) = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
    else {
        return Err(format!(
            "store URL {:?} is not sqlite:PATH or redis://127.0.0.1:PORT[/DB]",
            redact_url(url)
        ));
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let hostport = &authority[authority.rfind('@').map_or(0, |at| at + 1)..];
    let host = match hostport.strip_prefix('[') {
        Some(v6) => &v6[..v6.find(']').unwrap_or(v6.len())],
        None => &hostport[..hostport.find(':').unwrap_or(hostport.len())],
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "store URL {}: bench-store runs on loopback addresses only (127.0.0.1, ::1, localhost)",
            redact_url(url)
        ));
    }
    Ok(Target::Redis {
        url: url.to_string(),
    })
}

pub fn run(args: &BenchStoreArgs) -> anyhow::Result<ExitCode> {
    let budget = match (args.cycles, args.seconds) {
        (Some(n), _) => Budget::Cycles(n),
        (None, Some(s)) if s > 0.0 && s <= MAX_SECONDS => Budget::Seconds(s),
        (None, Some(s)) => {
            eprintln!("invsync: error: --seconds {s} is not in (0, {MAX_SECONDS}]");
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
        (None, None) => Budget::Seconds(5.0),
    };
    let mut targets = Vec::new();
    for url in &args.store {
        match target(url) {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("invsync: error: {e}");
                return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
            }
        }
    }
    let players = args.players as usize;
    // a sample per player, the same bytes for the sync and the bare work
    let samples: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..players)
            .map(|i| generate(SampleKind::Rep, i as u64 + 1))
            .collect(),
    );
    let mut measured = Vec::new();
    for t in &targets {
        let m = match measure(t, budget, &samples) {
            Ok(m) => m,
            Err(e) => match e.downcast_ref::<StoreError>() {
                Some(StoreError::Config(_) | StoreError::Invalid(_)) => {
                    eprintln!("invsync: error: {e:#}");
                    return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
                }
                _ => return Err(e),
            },
        };
        measured.push(m);
    }
    if args.json {
        let doc = json!({
            "players": players,
            "sample": "rep",
            "budget": match budget {
                Budget::Cycles(n) => json!({ "cycles": n }),
                Budget::Seconds(s) => json!({ "seconds": s }),
            },
            "stores": measured.iter().map(Measured::json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(players, &measured);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(players: usize, measured: &[Measured]) {
    println!(
        "sync cycle: acquire (data handed over) + upload of the 200 kB rep sample; \
         {players} players in flight"
    );
    println!(
        "{:<32} {:>7} {:>9} {:>9} {:>6} {:>17} {:>17}",
        "store", "cycles", "cycles/s", "bare/s", "ratio", "acquire p50/p99", "upload p50/p99"
    );
    for m in measured {
        println!(
            "{:<32} {:>7} {:>9.1} {:>9.1} {:>6.2} {:>17} {:>17}",
            m.shown,
            m.cycles,
            m.cycles_per_sec(),
            m.bare_per_sec(),
            m.ratio(),
            format!("{:.2}/{:.2} ms", m.acquire.ms(50.0), m.acquire.ms(99.0)),
            format!("{:.2}/{:.2} ms", m.upload.ms(50.0), m.upload.ms(99.0)),
        );
    }
    println!();
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    for m in measured {
        println!(
            "{}: throughput >= {:.0} % of bare ({}): {} ({:.0} %)",
            m.shown,
            GOAL_RATIO * 100.0,
            m.bare_work,
            verdict(m.ratio_met()),
            m.ratio() * 100.0
        );
        if let Some(met) = m.acquire_met() {
            println!(
                "{}: acquire p99 < {GOAL_REDIS_ACQUIRE_P99_MS} ms on loopback Redis: {} ({:.2} ms)",
                m.shown,
                verdict(met),
                m.acquire.ms(99.0)
            );
        }
        if let Some(w) = &m.warning {
            println!("{}: warning: {w}", m.shown);
        }
    }
}

/// Runs `job(worker, &work)` on one thread per player until the budget is spent; returns the
/// elapsed seconds and each worker's result.
fn on_threads<T: Send>(
    players: usize,
    budget: Budget,
    job: impl Fn(usize, &Work) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<(f64, Vec<T>)> {
    let work = Work::new(budget);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..players)
            .map(|i| {
                let (job, work) = (&job, &work);
                s.spawn(move || job(i, work))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench worker panicked"))
            .collect::<Vec<_>>()
    });
    let seconds = work.start.elapsed().as_secs_f64();
    Ok((seconds, results.into_iter().collect::<Result<_, _>>()?))
}

/// The sync cycles of one store: (acquire, upload) latencies per cycle.
fn sync_cycles(
    players: &PlayerStore,
    prefix: &str,
    budget: Budget,
    samples: &[Vec<u8>],
) -> anyhow::Result<(f64, Vec<Duration>, Vec<Duration>)> {
    let (seconds, per_worker) = on_threads(samples.len(), budget, |i, work| {
        let name = format!("{prefix}{i}");
        let data = &samples[i];
        let (mut acquire, mut upload) = (Vec::new(), Vec::new());
        let mut generation = 0u64;
        let mut cycle = 0u64;
        while work.take() {
            cycle += 1;
            let server = SERVERS[(cycle % 2) as usize];
            let t0 = Instant::now();
            let answer = players.acquire(server, &name, cycle, 0, false, false)?;
            let t1 = Instant::now();
            let Acquired::Acquired {
                generation: stored,
                epoch,
                data: handed,
                ..
            } = answer
            else {
                bail!("player {name}: acquire by {server} answered {answer:?}");
            };
            if stored != generation || handed.is_some() != (generation > 0) {
                bail!("player {name}: acquired generation {stored}, expected {generation}");
            }
            let out = players.upload(server, &name, stored + 1, epoch, false, data)?;
            let t2 = Instant::now();
            if !matches!(out, UploadOutcome::Stored { .. }) {
                bail!(
                    "player {name}: upload of generation {} answered {out:?}",
                    stored + 1
                );
            }
            generation = stored + 1;
            acquire.push(t1 - t0);
            upload.push(t2 - t1);
        }
        Ok((acquire, upload))
    })?;
    let (acquire, upload) =
        per_worker
            .into_iter()
            .fold((Vec::new(), Vec::new()), |(mut a, mut u), (wa, wu)| {
                a.extend(wa);
                u.extend(wu);
                (a, u)
            });
    Ok((seconds, acquire, upload))
}

/// The bare work: `write(worker, bytes)` from every worker until the budget is spent.
fn bare_writes(
    budget: Budget,
    samples: &[Vec<u8>],
    write: impl Fn(usize, u64, &[u8]) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let (seconds, per_worker) = on_threads(samples.len(), budget, |i, work| {
        let mut lat = Vec::new();
        let mut n = 0u64;
        while work.take() {
            let t0 = Instant::now();
            write(i, n, &samples[i])?;
            lat.push(t0.elapsed());
            n += 1;
        }
        Ok(lat)
    })?;
    Ok((seconds, per_worker.into_iter().flatten().collect()))
}

fn measure(t: &Target, budget: Budget, samples: &[Vec<u8>]) -> anyhow::Result<Measured> {
    let (shown, kind, warning, bare_work, (seconds, acquire, upload), bare) = match t {
        Target::Sqlite { url, path } => {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path)?);
            let players = PlayerStore::new(store, Settings::default());
            if !players.list()?.is_empty() {
                return Err(StoreError::Config(format!(
                    "{url} holds players: bench-store writes players of its own, give it a \
                     scratch file"
                ))
                .into());
            }
            let cycles = sync_cycles(&players, "bench-", budget, samples)?;
            drop(players);
            let bare = bare_sqlite(path, budget, samples)?;
            let work = "INSERT in a transaction, same file";
            (url.clone(), "sqlite", None, work, cycles, bare)
        }
        Target::Redis { url } => {
            // a cluster name of its own: nothing of another cluster is touched, and every key
            // of the run goes at the end
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let cluster = format!("invsync-bench-{}-{nanos}", std::process::id());
            let options = RedisOptions {
                cluster: cluster.clone(),
                ..RedisOptions::default()
            };
            let store = Arc::new(RedisStore::open(url, options)?);
            let warning = store.durability_warning().map(str::to_string);
            let players = PlayerStore::new(store, Settings::default());
            let client = redis::Client::open(url.as_str()).context("Redis client")?;
            let result = (|| {
                let cycles = sync_cycles(&players, "bench-", budget, samples)?;
                let bare = bare_redis(&client, &cluster, budget, samples)?;
                Ok::<_, anyhow::Error>((cycles, bare))
            })();
            let cleaned = delete_keys(&client, &cluster);
            let (cycles, bare) = result?;
            cleaned?;
            (
                redact_url(url),
                "redis",
                warning,
                "SET, same bytes",
                cycles,
                bare,
            )
        }
    };
    Ok(Measured {
        shown,
        kind,
        warning,
        data_bytes: samples[0].len(),
        stored_bytes: invsync_sync::encode_blob(&samples[0]).len(),
        cycles: acquire.len() as u64,
        seconds,
        acquire: Latencies::new(acquire),
        upload: Latencies::new(upload),
        bare_work,
        bare_ops: bare.1.len() as u64,
        bare_seconds: bare.0,
        bare: Latencies::new(bare.1),
    })
}

/// SQLite's bare work: the same bytes inserted in an immediate transaction into a table of the
/// same file, on one connection shared by the workers (as [`SqliteStore`] shares its own). A
/// worker's rows cycle through 16 slots, as a player's history keeps 16 snapshots.
fn bare_sqlite(
    path: &str,
    budget: Budget,
    samples: &[Vec<u8>],
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let conn = rusqlite::Connection::open(path).context("SQLite bare connection")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("SQLite file {path} cannot use the WAL journal (got {mode})");
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         CREATE TABLE IF NOT EXISTS invsync_bench_bare (slot INTEGER PRIMARY KEY, data BLOB NOT NULL);",
    )?;
    let conn = Mutex::new(conn);
    let result = bare_writes(budget, samples, |worker, n, bytes| {
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO invsync_bench_bare (slot, data) VALUES (?1, ?2)",
            rusqlite::params![(worker as i64) * 16 + (n % 16) as i64, bytes],
        )?;
        tx.commit()?;
        Ok(())
    });
    let conn = conn.into_inner().unwrap_or_else(|e| e.into_inner());
    conn.execute_batch("DROP TABLE invsync_bench_bare")?;
    result
}

/// Redis's bare work: a plain `SET` of the same bytes, one connection per worker.
fn bare_redis(
    client: &redis::Client,
    cluster: &str,
    budget: Budget,
    samples: &[Vec<u8>],
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let conns = (0..samples.len())
        .map(|_| client.get_connection().map(Mutex::new))
        .collect::<Result<Vec<_>, _>>()
        .context("Redis bare connections")?;
    bare_writes(budget, samples, |worker, n, bytes| {
        let mut conn = conns[worker].lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{cluster}:bare:{worker}:{}", n % 16);
        redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .query::<()>(&mut *conn)?;
        Ok(())
    })
}

/// Deletes every key under the run's own prefix.
fn delete_keys(client: &redis::Client, cluster: &str) -> anyhow::Result<()> {
    let mut conn = client.get_connection().context("Redis clean-up")?;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{cluster}:*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(keys).query::<()>(&mut conn)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
