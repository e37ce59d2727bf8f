//! `invsync chaos`: a randomized run over a cluster on this machine (issue 13): emulated game
//! servers under `invsync host`, players moving between them, faults injected, invariants
//! checked; exit 1 on any violation, with the seed and the history written to a file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use invsync_harness::{ChaosOptions, StoreChoice, run_chaos};

use crate::EXIT_BAD_INPUT;

#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// How long to run (minutes; fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub minutes: f64,
    /// The seed of the run's choices (default: from the clock, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// `sqlite` (a file in the run's folder), `redis` (a redis-server the run starts and kills),
    /// or a `redis://` URL (not killed by the run).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Game servers.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// Players.
    #[arg(long, default_value_t = 4)]
    pub players: usize,
    /// Chance per step of a fault, per mille.
    #[arg(long, default_value_t = 120)]
    pub fault_per_mille: u64,
    /// Longest outage of a store, paused game or stalled connection (seconds).
    #[arg(long, default_value_t = 8)]
    pub max_outage_s: u64,
    /// How long the store stays away in a long store outage (seconds; past the lease timeout).
    #[arg(long, default_value_t = 60)]
    pub long_outage_s: u64,
    /// Write the history here (default: invsync-chaos-SEED-PID.history.jsonl in the temporary folder).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ChaosArgs) -> anyhow::Result<ExitCode> {
    let store = match args.store.as_str() {
        "sqlite" => StoreChoice::Sqlite,
        "redis" => StoreChoice::OwnRedis,
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            StoreChoice::Redis(url.to_string())
        }
        other => {
            eprintln!("invsync chaos: error: --store {other:?}: sqlite, redis or a redis:// URL");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    if !(args.minutes > 0.0 && args.minutes <= 24.0 * 60.0) || args.servers < 2 {
        eprintln!("invsync chaos: error: --minutes in (0, 1440] and --servers >= 2");
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut o = ChaosOptions::new(
        std::env::current_exe()?,
        seed,
        Duration::from_secs_f64(args.minutes * 60.0),
    );
    o.store = store;
    o.servers = args.servers;
    o.players = args.players.max(1);
    o.fault_per_mille = args.fault_per_mille.min(1000);
    o.max_outage = Duration::from_secs(args.max_outage_s.max(1));
    o.long_outage = Duration::from_secs(args.long_outage_s.max(1));
    o.history = args.history.clone();
    if !args.json {
        eprintln!("invsync chaos: seed {seed}, {} minutes", args.minutes);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run_chaos(o))?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        let j = report.to_json();
        println!(
            "seed {}: {} operations, faults {}, {} items moved, joins synced by {}, {} checks, {} answered uploads checked, {} conflicts, lost {}, duplicated {}",
            report.seed,
            report.operations,
            j["faults"],
            report.items_moved,
            j["synced_by"],
            report.checks,
            report.uploads_checked,
            report.conflicts,
            report.lost,
            report.duplicated
        );
        for v in &report.violations {
            println!("VIOLATION: {v}");
        }
        if let Some(e) = &report.error {
            println!("ERROR: {e}");
        }
        if let Some(h) = &report.history {
            println!("history: {}", h.display());
        }
        if let Some(l) = &report.logs {
            println!("logs: {}", l.display());
        }
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
