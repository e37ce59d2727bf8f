//! `invsync host`: the program an operator runs beside one game server.
//!
//! It starts the game server as its child, logs its stdout, connects RCON once the server
//! announces it, and answers the player sync (docs/SYNC.md) from the store shared by every host
//! of the cluster. It heartbeats its server in the store, restarts a game server that exits on
//! its own, and stops the way the game stops:
//!
//! 1. every connected player is kicked, so the game uploads each of them, and the host waits
//!    until each upload is stored (or its hold released);
//! 2. `/quit` over RCON (the game saves and exits);
//! 3. the uploads still in flight are stored, then the host exits.
//!
//! It ends its players' sessions itself when it cannot reach the store for two thirds of the
//! lease timeout (it kicks them; the game uploads each as they leave, and the upload waits for
//! the store): past the timeout the store may give their leases to another server, and two
//! servers must never play one player (docs/SYNC.md, "Self-fencing").
//!
//! It never clears its server's leases at start: a game restarted from its autosave uploads
//! the players it had online under the epochs it held, and those uploads must be accepted
//! (clearing them at start, as HuskSync does, is how crash-recovery uploads get lost).

mod config;
mod game;
mod metrics_http;
mod service;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use invsync_host::{Incoming, Link, LinkOptions};
use invsync_rcon_transport::{ClientConfig, lua_long_string};
use invsync_sync::{PlayerStore, RedisOptions, Settings, StoreError, redact_url};
use metrics::counter;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

pub use config::HostArgs;
use config::{HostConfig, Restart};
use service::{Service, StoreSlot};

use crate::EXIT_BAD_INPUT;

/// How long the game server may take to announce RCON.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
/// A run this long resets the count of restarts in a row.
const STABLE_RUN: Duration = Duration::from_secs(600);
/// The command that makes every connected player leave (each is uploaded by the module).
const KICK_ALL: &str = "/silent-command for _, p in pairs(game.connected_players) do game.kick_player(p, \"the server is stopping\") end";
/// Players kicked by one self-fencing command (names are at most `MAX_PLAYER_NAME` bytes).
const FENCE_BATCH: usize = 32;

/// Runs `invsync host`.
pub fn run(args: &HostArgs) -> anyhow::Result<ExitCode> {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("invsync host: error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INVSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(host(config))
}

/// Opens the store now; if it cannot be reached, keeps trying in the background.
async fn open_store(
    config: &HostConfig,
    health: Arc<metrics_http::Health>,
) -> Result<StoreSlot, String> {
    let slot: StoreSlot = Arc::new(OnceLock::new());
    let settings = Settings {
        lease_timeout_ms: config.lease_timeout.as_millis() as u64,
        ..Settings::default()
    };
    let url = config.store.clone();
    let options = RedisOptions {
        cluster: config.cluster.clone(),
        replicas: config.redis_replicas,
        ..RedisOptions::default()
    };
    let open = {
        let (url, options) = (url.clone(), options.clone());
        move || invsync_sync::open(&url, options)
    };
    match tokio::task::spawn_blocking(open.clone())
        .await
        .expect("open task")
    {
        Ok(store) => {
            tracing::info!(store = %redact_url(&url), "player store open");
            let _ = slot.set(PlayerStore::new(store, settings));
            health.store.store(true, Ordering::Relaxed);
        }
        Err(e @ (StoreError::Config(_) | StoreError::Invalid(_))) => return Err(e.to_string()),
        Err(e) => {
            tracing::warn!(store = %redact_url(&url), "{e}; retrying in the background (joins are answered `error` meanwhile)");
            let slot = slot.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    match tokio::task::spawn_blocking(open.clone())
                        .await
                        .expect("open task")
                    {
                        Ok(store) => {
                            tracing::info!(store = %redact_url(&url), "player store reached");
                            let _ = slot.set(PlayerStore::new(store, settings));
                            return;
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
            });
        }
    }
    Ok(slot)
}

/// Heartbeats `server` in the store forever. `last_beat` gets the moment each heartbeat that
/// reached the store was sent (no later than the store's record of it).
fn heartbeat(
    slot: StoreSlot,
    server: String,
    every: Duration,
    health: Arc<metrics_http::Health>,
    last_beat: watch::Sender<Instant>,
) {
    tokio::spawn(async move {
        loop {
            if let Some(players) = slot.get().cloned() {
                let s = server.clone();
                let sent = Instant::now();
                let ok = tokio::task::spawn_blocking(move || players.heartbeat(&s))
                    .await
                    .map(|r| r.map_err(|e| e.to_string()))
                    .unwrap_or_else(|e| Err(e.to_string()));
                if let Err(e) = &ok {
                    counter!("invsync_heartbeat_failures_total").increment(1);
                    tracing::warn!(server, "heartbeat: {e}");
                }
                if ok.is_ok() {
                    last_beat.send_replace(sent);
                }
                health.store.store(ok.is_ok(), Ordering::Relaxed);
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// The longest a console command outside a stop waits, for the connection and for its reply.
const CONSOLE_WAIT: Duration = Duration::from_secs(30);

/// Sends a console command, again once if a fresh save refuses it with the achievements warning.
///
/// The whole call takes at most `within`, waiting for a lost RCON connection included. The RCON
/// client keeps a command queued until it can write it, so without this bound a host whose
/// game cannot be reached waited for ever at its stop. A command given up before it was written
/// is never sent later: the client drops requests nobody waits for.
async fn console(link: &Link, text: &str, within: Duration) -> Result<String, String> {
    let attempts = async {
        for _ in 0..2 {
            let reply = link
                .rcon()
                .command_with_timeout(text, within)
                .await
                .map_err(|e| e.to_string())?;
            let body = String::from_utf8_lossy(reply.as_bytes()).to_string();
            if !body.contains("achievements") {
                return Ok(body);
            }
        }
        Err("the game keeps refusing the command with the achievements warning".to_string())
    };
    tokio::time::timeout(within, attempts)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer within {within:?} (is RCON to the game down?)"
            ))
        })
}

enum Stopping {
    Running,
    /// Players kicked; waiting for their uploads until the deadline.
    Kicking(Instant),
    /// `/quit` sent; waiting for the process until the deadline.
    Quitting(Instant),
    /// Signalled; waiting for the process to end.
    Killing(Instant),
}

async fn host(config: HostConfig) -> anyhow::Result<ExitCode> {
    let health = Arc::new(metrics_http::Health::default());
    if let Some(bind) = config.metrics_bind {
        let handle = metrics_http::install()?;
        let health = health.clone();
        tokio::spawn(async move {
            if let Err(e) = metrics_http::serve(bind, handle, health).await {
                tracing::error!("{e}");
            }
        });
    }
    let slot = match open_store(&config, health.clone()).await {
        Ok(slot) => slot,
        Err(e) => {
            eprintln!("invsync host: error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    // a host that starts without the store holds no lease it could lose before its first beat
    let (last_beat_tx, last_beat) = watch::channel(Instant::now());
    heartbeat(
        slot.clone(),
        config.server_id.clone(),
        config.heartbeat,
        health.clone(),
        last_beat_tx,
    );
    let mut fenced: BTreeSet<String> = BTreeSet::new();

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let (link_tx, link_rx) = watch::channel::<Option<Link>>(None);
    let (give_up_tx, give_up_rx) = watch::channel::<Option<Instant>>(None);
    let mut service = Service::new(config.server_id.clone(), slot.clone(), link_rx, give_up_rx);
    let mut restarts = 0u32;
    let mut code = ExitCode::SUCCESS;
    let server = config.server_id.clone();

    'lifetime: loop {
        let started = Instant::now();
        tracing::info!(server, command = ?shown_command(&config), "starting the game server");
        let game = tokio::select! {
            g = game::start(&config.command, STARTUP_TIMEOUT) => g,
            _ = sigint.recv() => break 'lifetime,
            _ = sigterm.recv() => break 'lifetime,
        };
        let (mut child, link, mut incoming) = match game {
            Ok(g) => {
                let address = config
                    .rcon
                    .clone()
                    .or(g.announced)
                    .unwrap_or_else(|| "127.0.0.1:27015".into());
                let mut child = g.child;
                let rcon = ClientConfig::new(address.clone(), config.rcon_password.clone());
                match Link::connect(rcon, g.stdout, LinkOptions::default()).await {
                    Ok((link, incoming)) => {
                        tracing::info!(server, rcon = %address, "connected to the game server");
                        (child, link, incoming)
                    }
                    Err(e) => {
                        tracing::error!(server, rcon = %address, "{e}");
                        game::signal(&child, libc::SIGTERM);
                        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
                        let _ = child.kill().await;
                        if e.to_string().contains("password") {
                            code = ExitCode::from(EXIT_BAD_INPUT);
                            break 'lifetime;
                        }
                        if !restart_allowed(&config, &mut restarts, started) {
                            code = ExitCode::FAILURE;
                            break 'lifetime;
                        }
                        continue 'lifetime;
                    }
                }
            }
            Err(e) => {
                tracing::error!(server, "{e}");
                if !restart_allowed(&config, &mut restarts, started) {
                    code = ExitCode::FAILURE;
                    break 'lifetime;
                }
                backoff(restarts).await;
                continue 'lifetime;
            }
        };
        link_tx.send_replace(Some(link.clone()));
        health.game.store(true, Ordering::Relaxed);
        let mut rcon_status = link.rcon().watch_status();

        let mut stopping = Stopping::Running;
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        let status = loop {
            tokio::select! {
                event = incoming.recv() => match event {
                    Some(Incoming::Message(m)) => service.on_message(&m.payload),
                    Some(Incoming::Log(line)) => tracing::info!(target: "game", "{}", line.text),
                    Some(Incoming::Stopped(reason)) => tracing::warn!(server, "link to the game stopped: {reason}"),
                    Some(Incoming::ReceiveFailed(e)) => tracing::warn!(server, "a message from the game was lost: {e}"),
                    Some(Incoming::Problem(p)) => tracing::debug!(server, "{p}"),
                    Some(Incoming::StdoutClosed(_)) | Some(Incoming::CapsChanged(_)) => {}
                    None => {
                        // the link ended; keep waiting for the process
                        let status = child.wait().await?;
                        break status;
                    }
                },
                status = child.wait() => break status?,
                changed = rcon_status.changed() => {
                    if changed.is_ok() {
                        counter!("invsync_rcon_reconnects_total").increment(1);
                    }
                }
                _ = sigint.recv(), if matches!(stopping, Stopping::Running) => {
                    stopping = begin_stop(&link, &config).await;
                }
                _ = sigterm.recv(), if matches!(stopping, Stopping::Running) => {
                    stopping = begin_stop(&link, &config).await;
                }
                _ = poll.tick() => {
                    stopping = advance_stop(stopping, &service, &link, &child, &config).await;
                    fence(&service, &link, &config, *last_beat.borrow(), &mut fenced).await;
                }
            }
        };
        link_tx.send_replace(None);
        health.game.store(false, Ordering::Relaxed);
        drop(link);
        if !matches!(stopping, Stopping::Running) {
            tracing::info!(server, "game server stopped ({})", game::describe(status));
            break 'lifetime;
        }
        tracing::warn!(
            server,
            "game server exited on its own ({})",
            game::describe(status)
        );
        counter!("invsync_game_exits_total").increment(1);
        if !restart_allowed(&config, &mut restarts, started) {
            code = ExitCode::FAILURE;
            break 'lifetime;
        }
        tokio::select! {
            _ = backoff(restarts) => {}
            _ = sigint.recv() => break 'lifetime,
            _ = sigterm.recv() => break 'lifetime,
        }
    }
    // store what is in flight, then exit
    give_up_tx.send_replace(Some(Instant::now() + config.stop_timeout));
    service.drain().await;
    tracing::info!(server, "host stopped");
    Ok(code)
}

/// The game server command as it may be logged: the RCON password (which Factorio takes on its
/// command line) replaced by `***`.
fn shown_command(config: &HostConfig) -> Vec<String> {
    config
        .command
        .iter()
        .map(|a| {
            if a.contains(&config.rcon_password) && !config.rcon_password.is_empty() {
                a.replace(&config.rcon_password, "***")
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Counts a restart; false when no restart is allowed.
fn restart_allowed(config: &HostConfig, restarts: &mut u32, started: Instant) -> bool {
    if config.restart == Restart::Never {
        return false;
    }
    if started.elapsed() >= STABLE_RUN {
        *restarts = 0;
    }
    *restarts += 1;
    if *restarts > config.max_restarts {
        tracing::error!(
            "the game server failed {} times in a row; giving up",
            config.max_restarts
        );
        return false;
    }
    true
}

async fn backoff(restarts: u32) {
    let wait = Duration::from_millis(500u64 << restarts.min(6)).min(Duration::from_secs(30));
    tokio::time::sleep(wait).await;
}

/// Self-fencing: when no heartbeat has reached the store for two thirds of the lease timeout,
/// the players this host holds are kicked, each once while it lasts.
///
/// The store judges a lease by its holder's last heartbeat; once the timeout passes it may grant
/// the player to another server, which this host cannot learn while the store is unreachable.
/// `last_beat` is when the last successful heartbeat was sent, so this host's count runs ahead
/// of the store's and the kick lands a third of the timeout before the store could give the
/// lease away. The kicked players are uploaded as they leave (stored when the store is back); a
/// player who joins again meanwhile gets `error` (the store cannot be reached) and may play with
/// a temporary inventory.
async fn fence(
    service: &Service,
    link: &Link,
    config: &HostConfig,
    last_beat: Instant,
    kicked: &mut BTreeSet<String>,
) {
    let limit = config.lease_timeout * 2 / 3;
    if last_beat.elapsed() < limit {
        kicked.clear();
        return;
    }
    // a lease granted after the last heartbeat counts from its grant
    let due: Vec<String> = service
        .held_players()
        .into_iter()
        .filter(|(p, granted)| granted.max(&last_beat).elapsed() >= limit && !kicked.contains(p))
        .map(|(p, _)| p)
        .collect();
    if due.is_empty() {
        return;
    }
    tracing::warn!(
        server = %config.server_id,
        players = due.len(),
        silent = ?last_beat.elapsed(),
        "no heartbeat reached the store for two thirds of the lease timeout: kicking the players this server holds, before their leases can be given to another server"
    );
    counter!("invsync_fence_kicks_total").increment(due.len() as u64);
    for batch in due.chunks(FENCE_BATCH) {
        if let Err(e) = console(link, &fence_command(batch), CONSOLE_WAIT).await {
            tracing::warn!(server = %config.server_id, "self-fencing kick: {e}");
        }
    }
    kicked.extend(due);
}

/// The console command that kicks `players` if they are connected (names quoted as Lua long
/// strings, never spliced raw into the source).
fn fence_command(players: &[String]) -> String {
    let names: Vec<String> = players.iter().map(lua_long_string).collect();
    format!(
        "/silent-command for _, n in ipairs({{{}}}) do local p = game.get_player(n) if p and p.connected then game.kick_player(p, \"the inventory store cannot be reached; join again in a moment\") end end",
        names.join(",")
    )
}

async fn begin_stop(link: &Link, config: &HostConfig) -> Stopping {
    tracing::info!(server = %config.server_id, "stopping: every player leaves (and is uploaded), then /quit");
    let deadline = Instant::now() + config.stop_stage();
    match console(link, KICK_ALL, config.stop_stage()).await {
        Ok(reply) if !reply.trim().is_empty() => {
            tracing::warn!(
                "making the players leave: the game answered {:?}",
                reply.trim()
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not make the players leave: {e}"),
    }
    Stopping::Kicking(deadline)
}

async fn advance_stop(
    stopping: Stopping,
    service: &Service,
    link: &Link,
    child: &tokio::process::Child,
    config: &HostConfig,
) -> Stopping {
    let now = Instant::now();
    match stopping {
        Stopping::Kicking(deadline) if service.settled() || now >= deadline => {
            if !service.settled() {
                tracing::warn!(
                    held = service.held(),
                    "players still held at the stop deadline; quitting anyway (the game uploads them after its restart)"
                );
            }
            // the game saves and exits on /quit; a server without the command (the emulator)
            // does the same on SIGINT, as Factorio's headless server does on Ctrl-C
            match console(link, "/quit", config.stop_stage()).await {
                Ok(reply) if reply.contains("Unknown command") => {
                    game::signal(child, libc::SIGINT);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("/quit: {e}; SIGINT");
                    game::signal(child, libc::SIGINT);
                }
            }
            // counted from now: the /quit above may have waited for its answer
            Stopping::Quitting(Instant::now() + config.stop_stage())
        }
        Stopping::Quitting(deadline) if now >= deadline => {
            tracing::warn!("the game server did not quit in time; SIGTERM");
            game::signal(child, libc::SIGTERM);
            Stopping::Killing(now + Duration::from_secs(10))
        }
        Stopping::Killing(deadline) if now >= deadline => {
            tracing::warn!("the game server did not stop; SIGKILL");
            game::signal(child, libc::SIGKILL);
            Stopping::Killing(now + Duration::from_secs(3600))
        }
        other => other,
    }
}
