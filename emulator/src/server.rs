//! The tokio shell: RCON over TCP, stdout, tick pacing, the driver script, save files.
//!
//! Runs on one thread (the Lua states are not `Send`): [`run`] builds a current-thread runtime
//! and a `LocalSet`; [`serve`] must be awaited inside a `LocalSet`. Connection tasks decode
//! packets and answer authentication themselves; commands go to the game loop over a bounded
//! channel, replies come back over a per-connection channel.
//!
//! Virtual time (no `--realtime`): ticks run as fast as possible, except that after a tick that
//! sent replies the loop does not advance until every connection that got a reply has sent a new
//! packet or been quiet for `--grace-ms` (default 50 ms real time). With `--settle-us`, every
//! packet also holds the loop until its connection has been quiet for so long, so a burst of
//! commands starts streaming in one tick, not spread over the next few. A host
//! that answers a reply with its next commands therefore sees the same tick counts on every run,
//! whatever the OS scheduling. With nothing in flight and no `--ticks` limit, the loop sleeps `--idle-tick-us`
//! between ticks so an idle emulator does not burn a core.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use invsync_rcon_transport::packet::{
    Packet, PacketDecoder, PacketError, SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE,
    SERVERDATA_EXECCOMMAND, SERVERDATA_RESPONSE_VALUE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::args::{EmulatorArgs, Secret};
use crate::context::{Line, ScenarioFiles};
use crate::driver::{ScriptRunner, Step};
use crate::error::EmulatorError;
use crate::game::{Game, GameConfig, TickReport};
use crate::instance::SaveState;
use crate::logfmt::Clock;
use crate::stream::CommandHandle;

/// Read buffer per connection.
const READ_CHUNK: usize = 64 * 1024;

enum NetEvent {
    Opened {
        conn: u64,
        writer: mpsc::UnboundedSender<Vec<u8>>,
    },
    Packet {
        conn: u64,
    },
    Command {
        conn: u64,
        id: i32,
        text: String,
    },
    Closed {
        conn: u64,
    },
    Log(String),
    Quit,
}

/// One packet to send, encoded. A body too long for the format (over 2 GiB) is replaced by an
/// error text: the client gets an answer it can read rather than none.
fn reply_bytes(id: i32, kind: i32, body: &[u8]) -> Vec<u8> {
    Packet::new(id, kind, body).to_bytes().unwrap_or_else(|e| {
        let text = format!("invsync-emulator: reply not sent: {e}");
        Packet::new(id, kind, text)
            .to_bytes()
            .expect("a short text fits a packet")
    })
}

fn addr_text(a: &SocketAddr) -> String {
    format!("IP ADDR:({{{a}}})")
}

/// Run the emulator until `--ticks`, `quit`, Ctrl-C or a fatal error; writes to stdout.
pub fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    // Before anything else allocates, on the thread that will run the Lua states.
    crate::warm_heap::warm_heap(args.warm_heap)
        .map_err(|why| anyhow::anyhow!("--warm-heap {}: {why}", args.warm_heap))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(args, Box::new(std::io::stdout()), None))
}

fn load_save(path: &Path) -> anyhow::Result<SaveState> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading save file {}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::Error::new(EmulatorError::Save {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    })
}

/// Writes the save to `FILE.tmp`, flushes it to disk, then renames it over `FILE`: a process
/// killed at any moment leaves either the old save or the new one, never a torn file.
fn write_save(path: &Path, save: &SaveState) -> anyhow::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let bytes = serde_json::to_vec(save).context("serialising the save")?;
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

struct Out {
    w: Box<dyn Write>,
    clock: Clock,
}

impl Out {
    fn lines(&mut self, lines: &[Line], tick: u64) -> anyhow::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        for l in lines {
            writeln!(self.w, "{}", self.clock.format(l, tick)).context("writing stdout")?;
        }
        self.w.flush().context("flushing stdout")
    }

    fn log(&mut self, text: impl Into<String>, tick: u64) -> anyhow::Result<()> {
        self.lines(&[Line::Log(text.into())], tick)
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    sock: TcpStream,
    addr: SocketAddr,
    conn: u64,
    password: Option<Rc<Secret>>,
    cap: usize,
    tx: mpsc::Sender<NetEvent>,
    mut stop: watch::Receiver<u64>,
    writers: Rc<RefCell<Vec<JoinHandle<()>>>>,
) {
    let (mut rd, mut wr) = sock.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    writers
        .borrow_mut()
        .push(tokio::task::spawn_local(async move {
            while let Some(b) = wrx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        }));
    let log = |s: String| NetEvent::Log(format!("Info RemoteCommandProcessor.cpp: {s}"));
    if tx
        .send(NetEvent::Opened {
            conn,
            writer: wtx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let _ = tx
        .send(log(format!(
            "New RCON connection from {}",
            addr_text(&addr)
        )))
        .await;
    let mut decoder = PacketDecoder::for_requests(cap);
    let mut authed = false;
    let mut buf = vec![0u8; READ_CHUNK];
    let reason: String = 'outer: loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) if decoder.buffered() > 0 => break 'outer format!("the client closed the connection in the middle of a packet ({} bytes of it received)", decoder.buffered()),
                Ok(0) => break 'outer "the client closed the connection".into(),
                Ok(n) => n,
                Err(e) => break 'outer format!("read error: {e}"),
            },
            _ = stop.changed() => break 'outer "the server stopped".into(),
        };
        decoder.push(&buf[..n]);
        loop {
            let p = match decoder.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e @ PacketError::LengthTooLarge { .. }) => {
                    break 'outer format!(
                        "bad packet: {e} (--max-request-size is {cap} bytes of body)"
                    );
                }
                Err(e) => break 'outer format!("bad packet: {e}"),
            };
            match p.kind {
                SERVERDATA_AUTH => {
                    let ok = password
                        .as_ref()
                        .is_some_and(|pw| pw.0.as_bytes() == p.body.as_slice());
                    if ok {
                        authed = true;
                        let _ = wtx.send(reply_bytes(p.id, SERVERDATA_AUTH_RESPONSE, b""));
                        let _ = tx.send(NetEvent::Packet { conn }).await;
                    } else {
                        let _ = wtx.send(reply_bytes(-1, SERVERDATA_AUTH_RESPONSE, b""));
                        break 'outer "authentication failed (wrong password)".into();
                    }
                }
                SERVERDATA_EXECCOMMAND if !authed => {
                    let _ = wtx.send(reply_bytes(-1, SERVERDATA_AUTH_RESPONSE, b""));
                    break 'outer "command before authentication".into();
                }
                SERVERDATA_EXECCOMMAND => {
                    let text = String::from_utf8_lossy(&p.body).into_owned();
                    if tx
                        .send(NetEvent::Command {
                            conn,
                            id: p.id,
                            text,
                        })
                        .await
                        .is_err()
                    {
                        break 'outer "the server stopped".into();
                    }
                }
                // The empty "sentinel" packet some clients send: the game does not answer it.
                SERVERDATA_RESPONSE_VALUE => {
                    let _ = tx.send(NetEvent::Packet { conn }).await;
                }
                other => break 'outer format!("unknown packet type {other}"),
            }
        }
    };
    drop(wtx);
    let _ = tx
        .send(log(format!(
            "RCON connection from {} closed: {reason}",
            addr_text(&addr)
        )))
        .await;
    let _ = tx.send(NetEvent::Closed { conn }).await;
}

fn game_config(args: &EmulatorArgs) -> anyhow::Result<GameConfig> {
    let scenario = match &args.scenario {
        Some(dir) => ScenarioFiles::read_dir(dir)?,
        None => ScenarioFiles::default(),
    };
    Ok(GameConfig {
        scenario,
        seed: args.seed,
        stream: args.stream_settings(),
        achievements_warning: args.achievements_warning,
        lockstep_peers: args.peers,
        heavy: args.heavy,
        autosave_interval: args.autosave_interval,
        measure: true,
        encode_string_fails_above: None,
        driver_commands: args.driver_commands,
    })
}

/// Serve until stopped. Must run inside a `tokio::task::LocalSet`. `ready` receives the bound
/// RCON address once the game is running.
pub async fn serve(
    args: EmulatorArgs,
    out: Box<dyn Write>,
    ready: Option<oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let clock = if args.realtime {
        Clock::Real {
            start: Instant::now(),
        }
    } else {
        Clock::Virtual
    };
    let mut out = Out { w: out, clock };
    let config = game_config(&args)?;
    let mut runner = match &args.script {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading script {}", p.display()))?;
            ScriptRunner::new(crate::driver::parse(&text)?)
        }
        None => ScriptRunner::default(),
    };
    out.lines(
        &[
            Line::Log(format!(
                "{}; Factorio {} (build 0, invsync-emulator {}, headless)",
                out.clock.date(0),
                crate::GAME_VERSION,
                env!("CARGO_PKG_VERSION")
            )),
            Line::Log(format!(
                "Info Emulator: scenario {} ({} Lua files), {}, lockstep peers {}, heavy mode {}",
                if config.scenario.name.is_empty() {
                    "<none>"
                } else {
                    &config.scenario.name
                },
                config.scenario.files.len(),
                if args.realtime {
                    format!("real time ({} ticks/s)", args.ticks_per_second)
                } else {
                    "virtual time".to_string()
                },
                args.peers,
                if args.heavy { "on" } else { "off" }
            )),
        ],
        0,
    )?;
    // --load, else --save when the file exists (a server restarted on its autosave)
    let load = args
        .load
        .as_ref()
        .or(args.save.as_ref().filter(|p| p.exists()));
    let mut game = match load {
        Some(p) => {
            out.log(format!("Info Emulator: Loading map {}", p.display()), 0)?;
            Game::from_save(config, load_save(p)?)?
        }
        None => Game::new(config)?,
    };
    if let Some(path) = &args.tick_log {
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating the tick log {}", path.display()))?;
        game.set_tick_log(crate::stats::TickLog::new(Box::new(file)));
    }
    let t0 = game.tick();
    out.log("Info ServerMultiplayerManager.cpp:808: updateTick(0) changing state from(CreatingGame) to(InGame)", t0)?;

    let (tx, mut rx) = mpsc::channel::<NetEvent>(1024);
    let (stop_tx, stop_rx) = watch::channel(0u64);
    let writers: Rc<RefCell<Vec<JoinHandle<()>>>> = Rc::default();
    let open = Rc::new(Cell::new(0usize));
    let mut bound = None;
    if let Some(pw) = &args.rcon_password {
        let listener = TcpListener::bind(args.rcon_bind)
            .await
            .with_context(|| format!("binding RCON to {}", args.rcon_bind))?;
        let addr = listener.local_addr()?;
        bound = Some(addr);
        out.log(
            format!(
                "Info RemoteCommandProcessor.cpp:133: Starting RCON interface at {}",
                addr_text(&addr)
            ),
            t0,
        )?;
        let pw = Rc::new(pw.clone());
        let (tx2, writers2, open2) = (tx.clone(), writers.clone(), open.clone());
        let (cap, max_conns) = (args.max_request_size, args.max_connections);
        tokio::task::spawn_local(async move {
            let mut next = 0u64;
            loop {
                let Ok((sock, peer)) = listener.accept().await else {
                    continue;
                };
                next += 1;
                if open2.get() >= max_conns {
                    let _ = tx2
                        .send(NetEvent::Log(format!(
                            "Warning RemoteCommandProcessor.cpp: refusing RCON connection from {}: {max_conns} connections are open",
                            addr_text(&peer)
                        )))
                        .await;
                    drop(sock);
                    continue;
                }
                open2.set(open2.get() + 1);
                let (tx3, stop3, w3, o3, pw3) = (
                    tx2.clone(),
                    stop_rx.clone(),
                    writers2.clone(),
                    open2.clone(),
                    pw.clone(),
                );
                tokio::task::spawn_local(async move {
                    connection(sock, peer, next, Some(pw3), cap, tx3, stop3, w3).await;
                    o3.set(o3.get().saturating_sub(1));
                });
            }
        });
    } else {
        out.log("Info Emulator: no --rcon-password, RCON is off", t0)?;
    }
    {
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(NetEvent::Quit).await;
            }
        });
    }
    if let (Some(r), Some(a)) = (ready, bound) {
        let _ = r.send(a);
    }

    let grace = Duration::from_millis(args.grace_ms);
    let settle = Duration::from_micros(args.settle_us);
    let mut conns: HashMap<u64, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    let mut awaiting: HashMap<u64, Instant> = HashMap::new();
    let mut ticks_run = 0u64;
    let mut quit = false;
    let mut script_ids = 0i32;
    let mut interval = tokio::time::interval(Duration::from_micros(
        1_000_000 / u64::from(args.ticks_per_second.max(1)),
    ));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let result: anyhow::Result<()> = async {
        loop {
            // Everything that arrived.
            loop {
                let ev = match rx.try_recv() {
                    Ok(ev) => ev,
                    Err(_) => break,
                };
                handle_event(ev, &mut game, &mut out, &mut conns, &mut awaiting, settle, &mut quit)?;
            }
            if quit || args.ticks.is_some_and(|n| ticks_run >= n) {
                break;
            }
            // Driver script.
            let mut restarted = false;
            for step in runner.due(game.tick(), game.is_crashed()) {
                match step {
                    Step::Act(a) => game.act(a),
                    Step::Autosave(n) => game.set_autosave_interval((n > 0).then_some(n)),
                    Step::Rcon(text) => {
                        script_ids = script_ids.wrapping_add(1).max(1);
                        let h = CommandHandle { conn: 0, id: script_ids };
                        if let Some(r) = game.submit(h, text) {
                            out.log(format!("Info Emulator: script rcon reply: {r}"), game.tick())?;
                        }
                    }
                    Step::Crash => {
                        game.crash();
                        out.log("Error Emulator: the server crashed (scripted); nothing was saved", game.tick())?;
                        stop_tx.send_modify(|e| *e += 1);
                        conns.clear();
                        awaiting.clear();
                    }
                    Step::Restart => {
                        game.restart()?;
                        restarted = true;
                        out.log("Info ServerMultiplayerManager.cpp:808: updateTick(0) changing state from(CreatingGame) to(InGame)", game.tick())?;
                        if let Some(a) = bound {
                            out.log(format!("Info RemoteCommandProcessor.cpp:133: Starting RCON interface at {}", addr_text(&a)), game.tick())?;
                        }
                    }
                    Step::Quit => quit = true,
                    Step::Wait(_) => {}
                }
            }
            if quit {
                break;
            }
            if restarted {
                continue;
            }
            if game.is_crashed() {
                if runner.finished() {
                    anyhow::bail!("the server crashed and the script does not restart it");
                }
                continue;
            }
            // Virtual time: wait for clients that just got a reply.
            if !args.realtime && !awaiting.is_empty() {
                let now = Instant::now();
                awaiting.retain(|_, deadline| *deadline > now);
                if let Some(earliest) = awaiting.values().min().copied() {
                    tokio::select! {
                        ev = rx.recv() => if let Some(ev) = ev {
                            handle_event(ev, &mut game, &mut out, &mut conns, &mut awaiting, settle, &mut quit)?;
                        },
                        _ = tokio::time::sleep_until(earliest.into()) => {}
                    }
                    continue;
                }
            }
            if args.realtime {
                tokio::select! {
                    _ = interval.tick() => {}
                    ev = rx.recv() => {
                        if let Some(ev) = ev {
                            handle_event(ev, &mut game, &mut out, &mut conns, &mut awaiting, settle, &mut quit)?;
                        }
                        continue;
                    }
                }
            }
            let report = match game.step() {
                Ok(r) => r,
                Err(e) => {
                    let tick = game.tick();
                    for line in e.to_string().lines() {
                        out.log(format!("Error Emulator: {line}"), tick)?;
                    }
                    return Err(anyhow::Error::new(e));
                }
            };
            ticks_run += 1;
            deliver(&report, &mut out, &conns, &mut awaiting, grace)?;
            if report.autosaved
                && let (Some(path), Some(save)) = (&args.save, game.last_autosave())
            {
                write_save(path, save)?;
            }
            if !args.realtime {
                let busy = args.ticks.is_some() || game.commands_in_flight() > 0 || args.idle_tick_us == 0;
                if busy {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(Duration::from_micros(args.idle_tick_us)).await;
                }
            }
        }
        Ok(())
    }
    .await;

    let tick = game.tick();
    if result.is_ok() && !game.is_crashed() {
        if let Some(path) = &args.save {
            write_save(path, &game.save()?)?;
            out.log(format!("Info Emulator: saved to {}", path.display()), tick)?;
        }
        out.log(
            format!("Info Emulator: quitting after {ticks_run} ticks at tick {tick}"),
            tick,
        )?;
    }
    // Let pending replies reach their clients.
    stop_tx.send_modify(|e| *e += 1);
    drop(conns);
    drop(tx);
    let handles: Vec<JoinHandle<()>> = writers.borrow_mut().drain(..).collect();
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
    }
    result
}

fn handle_event(
    ev: NetEvent,
    game: &mut Game,
    out: &mut Out,
    conns: &mut HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>,
    awaiting: &mut HashMap<u64, Instant>,
    settle: Duration,
    quit: &mut bool,
) -> anyhow::Result<()> {
    // A packet: with `settle`, wait until its connection has been quiet that long; without,
    // stop waiting for that connection.
    let heard = |awaiting: &mut HashMap<u64, Instant>, conn: u64| {
        if settle.is_zero() {
            awaiting.remove(&conn);
        } else {
            awaiting.insert(conn, Instant::now() + settle);
        }
    };
    match ev {
        NetEvent::Opened { conn, writer, .. } => {
            if game.is_crashed() {
                return Ok(());
            }
            conns.insert(conn, writer);
        }
        NetEvent::Packet { conn } => heard(awaiting, conn),
        NetEvent::Command { conn, id, text } => {
            heard(awaiting, conn);
            if game.is_crash_command(&text) {
                // a crash: no reply, no save; `serve` returns the error at once
                out.log(
                    "Error Emulator: the server crashed (/emulator crash); nothing was saved",
                    game.tick(),
                )?;
                return Err(anyhow::Error::new(EmulatorError::CrashCommand));
            }
            if let Some(reply) = game.submit(CommandHandle { conn, id }, text)
                && let Some(w) = conns.get(&conn)
            {
                let _ = w.send(reply_bytes(id, SERVERDATA_RESPONSE_VALUE, reply.as_bytes()));
            }
        }
        NetEvent::Closed { conn } => {
            conns.remove(&conn);
            awaiting.remove(&conn);
        }
        NetEvent::Log(s) => out.log(s, game.tick())?,
        NetEvent::Quit => *quit = true,
    }
    Ok(())
}

fn deliver(
    report: &TickReport,
    out: &mut Out,
    conns: &HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>,
    awaiting: &mut HashMap<u64, Instant>,
    grace: Duration,
) -> anyhow::Result<()> {
    out.lines(&report.lines, report.tick)?;
    let now = Instant::now();
    for (h, body) in &report.replies {
        if h.conn == 0 {
            out.log(
                format!("Info Emulator: script rcon reply: {}", body.trim_end()),
                report.tick,
            )?;
            continue;
        }
        if let Some(w) = conns.get(&h.conn) {
            let _ = w.send(reply_bytes(
                h.id,
                SERVERDATA_RESPONSE_VALUE,
                body.as_bytes(),
            ));
            awaiting.insert(h.conn, now + grace);
        }
    }
    Ok(())
}
