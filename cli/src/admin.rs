//! `invsync admin`: look at and repair the player store (docs/SYNC.md, "Admin").
//!
//! Every failure is one line on stderr and exit status 2, and changes nothing: an unknown
//! player or snapshot, a file that is not PLAYER_DATA, a store URL that does not parse or
//! answer, a live lease without `--force`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use invsync_player_data::PlayerData;
use invsync_sync::{
    AdminError, PlayerStore, PlayerView, RedisOptions, Settings, SnapshotMeta, StoreError,
    redact_url,
};
use serde_json::json;

use crate::EXIT_BAD_INPUT;

/// `invsync admin`.
#[derive(Args)]
pub struct AdminArgs {
    /// The store: sqlite:PATH, redis://[:PASSWORD@]HOST:PORT/DB or rediss://... (or the
    /// INVSYNC_STORE environment variable, which keeps a password out of the process list).
    #[arg(
        long,
        env = "INVSYNC_STORE",
        default_value = "sqlite:invsync.db",
        hide_env_values = true
    )]
    store: String,
    /// The cluster name (the Redis key prefix).
    #[arg(long, default_value = "invsync")]
    cluster: String,
    /// Print JSON instead of a table (commands that read).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

/// The admin commands.
#[derive(Subcommand)]
enum AdminCommand {
    /// Every player in the store.
    List,
    /// One player's record: generation, lease, epoch.
    Show { player: String },
    /// One player's snapshot history.
    History { player: String },
    /// A snapshot's PLAYER_DATA JSON on stdout (the current generation by default).
    Export {
        player: String,
        #[arg(long)]
        snapshot: Option<u64>,
    },
    /// Store a PLAYER_DATA file as the player's next generation.
    Import {
        player: String,
        file: PathBuf,
        /// End a live lease (the holder's later upload is refused and kept as a conflict).
        #[arg(long)]
        force: bool,
    },
    /// Store an older snapshot's data as the player's next generation.
    Restore {
        player: String,
        snapshot: u64,
        /// End a live lease (the holder's later upload is refused and kept as a conflict).
        #[arg(long)]
        force: bool,
    },
    /// End a dead or stuck lease.
    Release {
        player: String,
        /// End a live lease too.
        #[arg(long)]
        force: bool,
    },
    /// Keep a snapshot however long the history grows.
    Pin { player: String, snapshot: u64 },
    /// Let a snapshot leave the history in its turn.
    Unpin { player: String, snapshot: u64 },
    /// Every server's heartbeat and the players it holds.
    Servers,
}

/// Runs `invsync admin`.
pub fn run(args: &AdminArgs) -> anyhow::Result<ExitCode> {
    match execute(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            // a store that fails mid-way is exit 1; everything the admin can fix is exit 2
            let bad_input = matches!(
                &e,
                Failure::Input(_)
                    | Failure::Admin(AdminError::Refused(_))
                    | Failure::Admin(AdminError::Store(
                        StoreError::Config(_)
                            | StoreError::Invalid(_)
                            | StoreError::Unavailable(_)
                            | StoreError::Corrupt(_)
                    ))
            );
            eprintln!("invsync admin: error: {e}");
            Ok(ExitCode::from(if bad_input { EXIT_BAD_INPUT } else { 1 }))
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Admin(AdminError::Store(e))
    }
}

fn open(args: &AdminArgs) -> Result<PlayerStore, Failure> {
    // reading must not create an empty store where the admin mistyped a path
    if let Some(path) = args.store.strip_prefix("sqlite:")
        && !std::path::Path::new(path.strip_prefix("//").unwrap_or(path)).exists()
    {
        return Err(Failure::Input(format!(
            "no store at {}: the file does not exist",
            args.store
        )));
    }
    let options = RedisOptions {
        cluster: args.cluster.clone(),
        ..RedisOptions::default()
    };
    let store = invsync_sync::open(&args.store, options).map_err(|e| {
        Failure::Admin(AdminError::Store(match e {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("{m} (store {})", redact_url(&args.store)))
            }
            other => other,
        }))
    })?;
    // a store that does not answer is found now, before anything is read or written
    store.now()?;
    Ok(PlayerStore::new(store, Settings::default()))
}

fn snapshot_json(s: &SnapshotMeta) -> serde_json::Value {
    json!({
        "id": s.id, "generation": s.generation, "epoch": s.epoch, "server": s.server,
        "cause": s.cause.name(), "time": s.time, "size": s.size,
        "checksum": format!("{:08x}", s.checksum), "pinned": s.pinned, "reason": s.reason,
    })
}

fn view_json(v: &PlayerView) -> serde_json::Value {
    let h = &v.head;
    json!({
        "player": h.player, "generation": h.generation, "current_snapshot": h.current,
        "epoch": h.epoch,
        "lease": h.lease.as_ref().map(|l| json!({
            "holder": l.holder, "epoch": l.epoch, "granted_at": l.granted_at,
            "renewed_at": l.renewed_at, "ended_at": l.ended_at,
            "held": l.is_held(), "live": v.live && l.is_held(),
        })),
        "snapshots": h.history.len(),
        "conflicts": h.history.iter().filter(|s| s.cause == invsync_sync::Cause::Conflict).count(),
        "now": v.now,
    })
}

fn print_json(v: &serde_json::Value) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::other)?;
    writeln!(out)?;
    Ok(())
}

fn execute(args: &AdminArgs) -> Result<(), Failure> {
    let players = open(args)?;
    let mut out = std::io::stdout().lock();
    match &args.command {
        AdminCommand::List => {
            let list = players.list()?;
            if args.json {
                return print_json(&json!(list));
            }
            for p in list {
                writeln!(out, "{p}")?;
            }
        }
        AdminCommand::Show { player } => {
            let v = players.show(player)?;
            if args.json {
                return print_json(&view_json(&v));
            }
            let h = &v.head;
            writeln!(out, "player      {}", h.player)?;
            writeln!(out, "generation  {}", h.generation)?;
            writeln!(out, "epoch       {}", h.epoch)?;
            match &h.lease {
                Some(l) if l.is_held() => writeln!(
                    out,
                    "lease       held by {} (epoch {}, granted {} ms ago, {})",
                    l.holder,
                    l.epoch,
                    v.now.saturating_sub(l.granted_at),
                    if v.live { "live" } else { "expired" }
                )?,
                Some(l) => writeln!(
                    out,
                    "lease       none (last: {}, epoch {})",
                    l.holder, l.epoch
                )?,
                None => writeln!(out, "lease       none")?,
            }
            writeln!(out, "snapshots   {}", h.history.len())?;
        }
        AdminCommand::History { player } => {
            let v = players.show(player)?;
            if args.json {
                return print_json(&json!(
                    v.head.history.iter().map(snapshot_json).collect::<Vec<_>>()
                ));
            }
            writeln!(
                out,
                "{:>6} {:>6} {:>6}  {:<16} {:<14} {:>10} {:<8} {:<6} reason",
                "id", "gen", "epoch", "server", "cause", "bytes", "crc", "pinned"
            )?;
            for s in &v.head.history {
                writeln!(
                    out,
                    "{:>6} {:>6} {:>6}  {:<16} {:<14} {:>10} {:08x} {:<6} {}",
                    s.id,
                    s.generation,
                    s.epoch,
                    s.server,
                    s.cause.name(),
                    s.size,
                    s.checksum,
                    if s.pinned { "yes" } else { "" },
                    s.reason.as_deref().unwrap_or("")
                )?;
            }
        }
        AdminCommand::Export { player, snapshot } => {
            let data = players.export(player, *snapshot)?;
            out.write_all(&data)?;
            writeln!(out)?;
        }
        AdminCommand::Import {
            player,
            file,
            force,
        } => {
            let data = std::fs::read(file)
                .map_err(|e| Failure::Input(format!("cannot read {}: {e}", file.display())))?;
            let data = data.trim_ascii().to_vec();
            PlayerData::from_json(&data).map_err(|e| {
                Failure::Input(format!("{} is not valid PLAYER_DATA: {e}", file.display()))
            })?;
            let id = players.import(player, &data, *force)?;
            writeln!(out, "imported {player} as snapshot {id}")?;
        }
        AdminCommand::Restore {
            player,
            snapshot,
            force,
        } => {
            let id = players.restore(player, *snapshot, *force)?;
            writeln!(
                out,
                "restored snapshot {snapshot} of {player} as snapshot {id}"
            )?;
        }
        AdminCommand::Release { player, force } => {
            if players.admin_release(player, *force)? {
                writeln!(out, "released {player}")?;
            } else {
                writeln!(out, "{player} was not held")?;
            }
        }
        AdminCommand::Pin { player, snapshot } | AdminCommand::Unpin { player, snapshot } => {
            let pin = matches!(args.command, AdminCommand::Pin { .. });
            players.set_pinned(player, *snapshot, pin)?;
            writeln!(
                out,
                "{} snapshot {snapshot} of {player}",
                if pin { "pinned" } else { "unpinned" }
            )?;
        }
        AdminCommand::Servers => {
            let servers = players.servers()?;
            let now = players.now()?;
            if args.json {
                return print_json(&json!(servers.iter().map(|(h, held)| json!({
                    "server": h.server, "heartbeat": h.at, "age_ms": now.saturating_sub(h.at),
                    "holds": held,
                })).collect::<Vec<_>>()));
            }
            for (h, held) in servers {
                writeln!(
                    out,
                    "{:<20} heartbeat {} ms ago, holds {}: {}",
                    h.server,
                    now.saturating_sub(h.at),
                    held.len(),
                    held.join(", ")
                )?;
            }
        }
    }
    Ok(())
}
