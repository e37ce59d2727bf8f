//! `invsync demo`: inventories following players across a cluster, end to end (issue 12).
//!
//! S emulated game servers, each under its own `invsync host` process (real child processes,
//! real RCON, real stdout pipes), one store (an SQLite file in a temporary folder, or
//! `--store redis://...`), and a seeded session of P players whose inventories come from the
//! sample generator (`small`, `rep`, `bp`: ordinary stacks with qualities, blueprint books,
//! armor, ammo): they join, gain and spend items, leave and join another server; one player
//! joins two servers at once; one server's game is killed mid-session and started again from its
//! autosave by its host. At the end: join-to-playing ticks per inventory size, bytes each way,
//! store operations, and the audit of every player's items (the session's own ledger against
//! the store and the games). Exit status 1 when anything was lost or duplicated.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use invsync_harness::{Cluster, Options, StoreChoice, WAIT, metric_sum, total_items};
use invsync_player_data::{SampleKind, SplitMix64};
use serde_json::{Value, json};

/// `invsync demo [--seed N] [--servers S] [--players P] [--joins N] [--store URL] [--json]`
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Seed of the session's choices (the same seed plays the same session).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Emulated game servers, each under its own `invsync host`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=26))]
    servers: u64,
    /// Players.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=500))]
    players: u64,
    /// Joins in the session.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    joins: u64,
    /// The store: an SQLite file in a temporary folder when absent, or redis://HOST:PORT/DB
    /// (used under a key prefix of its own).
    #[arg(long)]
    store: Option<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

const SIZES: [SampleKind; 3] = [SampleKind::Small, SampleKind::Rep, SampleKind::Bp];
/// Items the session gives (with a quality now and then).
const GIFTS: &[&str] = &[
    "iron-plate",
    "copper-plate",
    "steel-plate",
    "electronic-circuit",
    "coal",
    "stone",
];
const QUALITIES: &[&str] = &["normal", "normal", "normal", "uncommon", "rare"];

/// The session's counts.
#[derive(Default)]
struct Session {
    joins: u64,
    crashes: u64,
    double_joins: u64,
    busy: u64,
    refused_steps: u64,
    gains: u64,
    spends: u64,
    /// Join-to-playing ticks by size, and again by size for the joins played from a delta
    /// (`"<size> delta"`).
    ticks: BTreeMap<String, Vec<u64>>,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(demo(args))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut options = Options::new(std::env::current_exe()?, "demo");
    options.servers = args.servers as usize;
    options.lease_timeout_ms = 10_000;
    options.heartbeat_ms = 2_000;
    options.autosave_ticks = 120;
    options.store = match &args.store {
        None => StoreChoice::Sqlite,
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            StoreChoice::Redis(url.clone())
        }
        Some(other) => {
            eprintln!(
                "invsync demo: error: --store {other:?}: give redis://HOST:PORT/DB (without it the demo uses an SQLite file of its own)"
            );
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    let bar = ProgressBar::new(args.joins);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("template"),
    );
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_message(format!("starting {} servers", args.servers));
    let mut c = Cluster::start(options).await?;
    let result = session(&mut c, args, &bar).await;
    bar.finish_and_clear();
    let session = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", c.logs_tail(20));
            let kept = c.keep_dir();
            anyhow::bail!("{e:#} (the servers' logs are kept in {})", kept.display());
        }
    };

    // the figures: metrics of every host, then the audit, then every host stopped
    let mut metrics = String::new();
    for n in &c.nodes {
        metrics += &n.metrics_text().await.unwrap_or_default();
    }
    let audit = c.audit().await?;
    for i in 0..c.nodes.len() {
        let _ = c.nodes[i].stop(WAIT).await;
    }
    let m = |name: &str, labels: &[(&str, &str)]| metric_sum(&metrics, name, labels) as u64;
    let sizes: BTreeMap<String, &'static str> = (0..args.players)
        .map(|i| (player_name(i), SIZES[i as usize % SIZES.len()].as_str()))
        .collect();
    let mut join_ticks = serde_json::Map::new();
    for (size, ticks) in &session.ticks {
        let mut t = ticks.clone();
        t.sort_unstable();
        join_ticks.insert(
            size.to_string(),
            json!({"n": t.len(), "p50": percentile(&t, 50.0), "p99": percentile(&t, 99.0), "max": t.last().copied().unwrap_or(0)}),
        );
    }
    let players: Vec<Value> = audit
        .players
        .iter()
        .map(|p| {
            json!({
                "player": p.player,
                "size": sizes.get(&p.player).copied().unwrap_or("-"),
                "expected": total_items(&p.expected),
                "found": total_items(&p.found),
                "lost": p.lost,
                "duplicated": p.duplicated,
                "conflicts": p.conflicts,
                "where": p.source,
            })
        })
        .collect();
    let store_ops = json!({
        "acquire": m("invsync_store_seconds_count", &[("op", "acquire")]),
        "upload": m("invsync_store_seconds_count", &[("op", "upload")]),
        "release": m("invsync_store_seconds_count", &[("op", "release")]),
        "errors": m("invsync_store_errors_total", &[]),
        "upload_retries": m("invsync_upload_retries_total", &[]),
    });
    let report = json!({
        "seed": args.seed,
        "servers": args.servers,
        "store": if args.store.is_some() { "redis" } else { "sqlite" },
        "joins": session.joins,
        "double_joins": session.double_joins,
        "busy": session.busy,
        "crashes": session.crashes,
        "gains": session.gains,
        "spends": session.spends,
        "refused_steps": session.refused_steps,
        "lost": audit.lost(),
        "duplicated": audit.duplicated(),
        "join_ticks": join_ticks,
        "bytes": {
            "to_game": m("invsync_bytes_total", &[("direction", "to_game")]),
            "to_host": m("invsync_bytes_total", &[("direction", "to_host")]),
        },
        "store_ops": store_ops,
        "uploads": {
            "stored": m("invsync_uploads_total", &[("result", "stored")]),
            "repeat": m("invsync_uploads_total", &[("result", "repeat")]),
            "refused": m("invsync_uploads_total", &[("result", "refused")]),
        },
        "seconds": started.elapsed().as_secs_f64().round(),
        "players": players,
    });
    if args.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    Ok(if audit.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn player_name(i: u64) -> String {
    format!("p{:02}", i + 1)
}

fn print_table(r: &Value) {
    println!(
        "invsync demo: {} servers under invsync host, store {}, {} players, seed {} ({} s)",
        r["servers"],
        r["store"].as_str().unwrap_or(""),
        r["players"].as_array().map_or(0, Vec::len),
        r["seed"],
        r["seconds"]
    );
    println!(
        "joins {}  double joins {} (the other server said busy {} times)  crashes {}  items gained {} / spent {} times  steps the game refused {}",
        r["joins"],
        r["double_joins"],
        r["busy"],
        r["crashes"],
        r["gains"],
        r["spends"],
        r["refused_steps"]
    );
    println!();
    println!(
        "join to playing (game ticks, as the module counts them: from the join to the synced character in hand)"
    );
    println!("size           n   p50   p99   max");
    for (size, t) in r["join_ticks"].as_object().into_iter().flatten() {
        let [n, p50, p99, max] = ["n", "p50", "p99", "max"].map(|k| t[k].to_string());
        println!("{size:<10} {n:>5} {p50:>5} {p99:>5} {max:>5}");
    }
    println!();
    println!(
        "bytes to the games {}  to the hosts {}",
        r["bytes"]["to_game"], r["bytes"]["to_host"]
    );
    let s = &r["store_ops"];
    println!(
        "store operations: acquire {}  upload {}  release {}  (errors {}, upload retries {}); uploads stored {}, repeated {}, refused {}",
        s["acquire"],
        s["upload"],
        s["release"],
        s["errors"],
        s["upload_retries"],
        r["uploads"]["stored"],
        r["uploads"]["repeat"],
        r["uploads"]["refused"]
    );
    println!();
    println!("player size  expected    found  lost  dup  conflicts  where");
    for p in r["players"].as_array().into_iter().flatten() {
        let [expected, found, lost, dup, conflicts] =
            ["expected", "found", "lost", "duplicated", "conflicts"].map(|k| p[k].to_string());
        println!(
            "{:<6} {:<5} {expected:>8} {found:>8} {lost:>5} {dup:>4} {conflicts:>10}  {}",
            p["player"].as_str().unwrap_or(""),
            p["size"].as_str().unwrap_or(""),
            p["where"].as_str().unwrap_or("")
        );
    }
    println!();
    println!("lost {}  duplicated {}", r["lost"], r["duplicated"]);
}

/// A few gains and spends for a player who plays on server `i`.
async fn play(
    c: &mut Cluster,
    rng: &mut SplitMix64,
    s: &mut Session,
    i: usize,
    player: &str,
) -> anyhow::Result<()> {
    for _ in 0..1 + rng.below(3) {
        let item = GIFTS[rng.below(GIFTS.len() as u64) as usize];
        let quality = QUALITIES[rng.below(QUALITIES.len() as u64) as usize];
        let count = 1 + rng.below(60) as u32;
        match c.give(i, player, item, count, quality).await {
            Ok(()) => s.gains += 1,
            // a full inventory refuses it whole; the ledger counts only what the game did
            Err(_) => s.refused_steps += 1,
        }
    }
    let held = c.items(i, player).await?;
    if !held.is_empty() {
        for _ in 0..1 + rng.below(2) {
            let k = rng.below(held.len() as u64) as usize;
            let ((item, quality), n) = held.iter().nth(k).expect("in range");
            let count = 1 + rng.below((*n).clamp(1, 50) as u64) as u32;
            match c.take(i, player, item, count, quality).await {
                Ok(()) => s.spends += 1,
                Err(_) => s.refused_steps += 1,
            }
        }
    }
    Ok(())
}

async fn session(c: &mut Cluster, args: &DemoArgs, bar: &ProgressBar) -> anyhow::Result<Session> {
    let mut rng = SplitMix64::new(args.seed); // the session's dice
    let mut s = Session::default();
    let names: Vec<String> = (0..args.players).map(player_name).collect();
    let size_of = |p: &str| -> &'static str {
        let i = names.iter().position(|n| n == p).unwrap_or(0);
        SIZES[i % SIZES.len()].as_str()
    };
    bar.set_message("seeding the players' inventories");
    for (i, name) in names.iter().enumerate() {
        let kind = SIZES[i % SIZES.len()];
        let data = invsync_harness::sample_data(kind, args.seed.wrapping_add(i as u64), name);
        c.seed(name, data).await?;
    }
    let servers = c.nodes.len();
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    let crash_at = args.joins / 2;
    let double_at = args.joins / 3;
    // at most this many players online at once
    let online_max = (args.players as usize).div_ceil(2).max(1);
    while s.joins < args.joins {
        let online: Vec<String> = c.online.keys().cloned().collect();
        let offline: Vec<String> = names
            .iter()
            .filter(|n| !c.online.contains_key(*n))
            .cloned()
            .collect();
        if !online.is_empty()
            && (offline.is_empty() || online.len() >= online_max || rng.below(3) == 0)
        {
            // someone leaves
            let p = &online[rng.below(online.len() as u64) as usize];
            let i = c.online[p];
            bar.set_message(format!("{p} leaves {}", c.nodes[i].id));
            c.leave(i, p).await?;
            continue;
        }
        let p = offline[rng.below(offline.len() as u64) as usize].clone();
        // their last server's upload is stored first (else the next server says busy)
        c.settle(std::slice::from_ref(&p), WAIT).await?;
        let mut i = rng.below(servers as u64) as usize;
        if last.get(&p) == Some(&i) {
            i = (i + 1) % servers;
        }
        if s.joins == double_at {
            // the same player joins two servers at once: one plays, the other says busy
            let j = (i + 1) % servers;
            bar.set_message(format!(
                "{p} joins {} and {} at once",
                c.nodes[i].id, c.nodes[j].id
            ));
            c.join(i, &p).await?;
            c.join(j, &p).await?;
            let (_, a) = c.wait_state(i, &p, &["playing", "failed"], WAIT).await?;
            let (_, b) = c.wait_state(j, &p, &["playing", "failed"], WAIT).await?;
            let (won, lost) = match (a.state(), b.state()) {
                ("playing", "failed") => (i, j),
                ("failed", "playing") => (j, i),
                (x, y) => anyhow::bail!("{p} joined two servers at once: {x} and {y}"),
            };
            s.double_joins += 1;
            s.busy += 1;
            s.joins += 2;
            bar.inc(2);
            c.leave(lost, &p).await?;
            c.online.insert(p.clone(), won);
            last.insert(p.clone(), won);
            play(c, &mut rng, &mut s, won, &p).await?;
            continue;
        }
        bar.set_message(format!("{p} ({}) joins {}", size_of(&p), c.nodes[i].id));
        let (ticks, delta) = c.join_and_play(i, &p, WAIT).await?;
        s.ticks
            .entry(size_of(&p).to_string())
            .or_default()
            .push(ticks);
        if delta {
            s.ticks
                .entry(format!("{} delta", size_of(&p)))
                .or_default()
                .push(ticks);
        }
        s.joins += 1;
        bar.inc(1);
        last.insert(p.clone(), i);
        play(c, &mut rng, &mut s, i, &p).await?;
        if s.joins >= crash_at && s.crashes == 0 {
            // the game of the server with the most players online dies; its host starts it
            // again from its autosave, and the game uploads the players who were online
            let k = (0..servers)
                .max_by_key(|k| c.online.values().filter(|v| *v == k).count())
                .unwrap_or(0);
            bar.set_message(format!("{}: the game is killed (kill -9)", c.nodes[k].id));
            c.wait_autosave(k).await?;
            let on: Vec<String> = c
                .online
                .iter()
                .filter(|(_, v)| **v == k)
                .map(|(p, _)| p.clone())
                .collect();
            let old = c.nodes[k].kill9_game()?;
            for p in &on {
                c.online.remove(p);
            }
            c.nodes[k].wait_new_game(old, WAIT).await?;
            c.settle(&on, WAIT).await?;
            s.crashes += 1;
        }
    }
    bar.set_message("everyone leaves");
    let online: Vec<(String, usize)> = c.online.iter().map(|(p, i)| (p.clone(), *i)).collect();
    for (p, i) in online {
        c.leave(i, &p).await?;
    }
    c.settle(&names, Duration::from_secs(120)).await?;
    Ok(s)
}
