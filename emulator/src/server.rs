//! The tokio shell: RCON over TCP, stdout, tick pacing, the driver script, save files.
//!
//! Runs on one thread (the Lua states are not `Send`): [`run`] builds a current-thread runtime
//! and a `LocalSet`; [`serve`] and [`serve_until`] must be awaited inside a `LocalSet`.
//! Connection tasks decode packets and answer authentication themselves; commands go to the
//! game loop over a bounded channel, replies come back over a per-connection channel.
//!
//! Virtual time (no `--realtime`): ticks run as fast as possible, except that after a tick that
//! sent replies the loop does not advance until every connection that got a reply has sent a new
//! packet or been quiet for `--grace-ms` (default 50 ms real time). With `--settle-us`, every
//! packet also holds the loop until its connection has been quiet for so long, so a burst of
//! commands starts streaming in one tick, not spread over the next few. A host
//! that answers a reply with its next commands therefore sees the same tick counts on every run,
//! whatever the OS scheduling. With nothing in flight and no `--ticks` limit, the loop sleeps `--idle-tick-us`
//! between ticks so an idle emulator does not burn a core.
//!
//! RCON faults on purpose (`--rcon-fault`, [`RconFault`](crate::RconFault)) are applied by the
//! game loop as commands arrive; `--rcon-chat-packets` and `--rcon-password-later` are the game's
//! quirks.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use invsync_rcon_transport::{
    Packet, PacketDecoder, PacketError, SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE,
    SERVERDATA_EXECCOMMAND, SERVERDATA_RESPONSE_VALUE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::args::{EmulatorArgs, Secret};
use crate::context::{Line, ScenarioFiles};
use crate::driver::{ScriptRunner, Step};
use crate::error::EmulatorError;
use crate::game::{Game, GameConfig, TickReport};
use crate::instance::SaveState;
use crate::logfmt::Clock;
use crate::rcon_faults::{self, FaultCounter};
use crate::stream::CommandHandle;

/// Read buffer per connection.
const READ_CHUNK: usize = 64 * 1024;
/// What `--rcon-chat-packets` sends with id 0 before every reply.
const CHAT_PACKET: &[u8] = b"[CHAT] someone: hello";
/// The game's log line when it is running.
const IN_GAME_LINE: &str = "Info ServerMultiplayerManager.cpp:808: updateTick(0) changing state from(CreatingGame) to(InGame)";

/// What a connection task tells the game loop.
enum NetEvent {
    Opened {
        conn: u64,
        writer: mpsc::UnboundedSender<Outgoing>,
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

/// What goes out on a connection.
enum Outgoing {
    Bytes(Vec<u8>),
    /// Close the connection now (`--rcon-fault drop-connection`).
    Close,
}

/// One packet to send, encoded. A body too long for the format (over 2 GiB) is replaced by an
/// error text: the client gets an answer it can read rather than none.
fn reply_bytes(id: i32, kind: i32, body: &[u8]) -> Outgoing {
    Outgoing::Bytes(Packet::new(id, kind, body).to_bytes().unwrap_or_else(|e| {
        let text = format!("invsync-emulator: reply not sent: {e}");
        Packet::new(id, kind, text)
            .to_bytes()
            .expect("a short text fits a packet")
    }))
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

/// What every connection task shares.
#[derive(Clone)]
struct ConnectionContext {
    password: Rc<Secret>,
    /// `--rcon-password-later`: the password from the second connection on.
    password_later: Option<Rc<Secret>>,
    max_request_size: usize,
    events: mpsc::Sender<NetEvent>,
    stop: watch::Receiver<u64>,
    writers: Rc<RefCell<Vec<JoinHandle<()>>>>,
}

impl ConnectionContext {
    fn password_for(&self, conn: u64) -> &Secret {
        match &self.password_later {
            Some(later) if conn > 1 => later,
            _ => &self.password,
        }
    }

    fn log(&self, text: String) -> NetEvent {
        NetEvent::Log(format!("Info RemoteCommandProcessor.cpp: {text}"))
    }
}

/// Accepts connections until the server stops; at most `max_conns` open at once.
async fn accept_loop(listener: TcpListener, ctx: ConnectionContext, max_conns: usize) {
    let open = Rc::new(Cell::new(0usize));
    let mut next = 0u64;
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            continue;
        };
        next += 1;
        if open.get() >= max_conns {
            let _ = ctx
                .events
                .send(NetEvent::Log(format!(
                    "Warning RemoteCommandProcessor.cpp: refusing RCON connection from {}: {max_conns} connections are open",
                    addr_text(&peer)
                )))
                .await;
            drop(sock);
            continue;
        }
        open.set(open.get() + 1);
        let (ctx, open) = (ctx.clone(), open.clone());
        tokio::task::spawn_local(async move {
            connection(sock, peer, next, ctx).await;
            open.set(open.get().saturating_sub(1));
        });
    }
}

/// The writer task of a connection: sends what the channel brings until it closes or is told
/// to close the connection, then wakes the reader (`closed`).
fn spawn_writer(
    mut wr: OwnedWriteHalf,
    writers: &RefCell<Vec<JoinHandle<()>>>,
) -> (mpsc::UnboundedSender<Outgoing>, Rc<Notify>) {
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Outgoing>();
    let closed = Rc::new(Notify::new());
    let wake = closed.clone();
    writers
        .borrow_mut()
        .push(tokio::task::spawn_local(async move {
            while let Some(out) = wrx.recv().await {
                match out {
                    Outgoing::Bytes(b) => {
                        if wr.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    Outgoing::Close => {
                        wake.notify_one();
                        break;
                    }
                }
            }
            let _ = wr.shutdown().await;
        }));
    (wtx, closed)
}

/// One RCON connection: authentication, then commands to the game loop until it ends.
async fn connection(sock: TcpStream, addr: SocketAddr, conn: u64, mut ctx: ConnectionContext) {
    let (rd, wr) = sock.into_split();
    let (wtx, closed) = spawn_writer(wr, &ctx.writers);
    let opened = NetEvent::Opened {
        conn,
        writer: wtx.clone(),
    };
    if ctx.events.send(opened).await.is_err() {
        return;
    }
    let greeting = ctx.log(format!("New RCON connection from {}", addr_text(&addr)));
    let _ = ctx.events.send(greeting).await;
    let reason = read_packets(rd, conn, &mut ctx, &wtx, &closed).await;
    drop(wtx);
    let bye = ctx.log(format!(
        "RCON connection from {} closed: {reason}",
        addr_text(&addr)
    ));
    let _ = ctx.events.send(bye).await;
    let _ = ctx.events.send(NetEvent::Closed { conn }).await;
}

/// Reads and handles packets until the connection ends; why it ended.
async fn read_packets(
    mut rd: OwnedReadHalf,
    conn: u64,
    ctx: &mut ConnectionContext,
    wtx: &mpsc::UnboundedSender<Outgoing>,
    closed: &Notify,
) -> String {
    let mut decoder = PacketDecoder::for_requests(ctx.max_request_size);
    let mut authed = false;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) if decoder.buffered() > 0 => return format!("the client closed the connection in the middle of a packet ({} bytes of it received)", decoder.buffered()),
                Ok(0) => return "the client closed the connection".into(),
                Ok(n) => n,
                Err(e) => return format!("read error: {e}"),
            },
            _ = ctx.stop.changed() => return "the server stopped".into(),
            _ = closed.notified() => return "closed by the server (--rcon-fault drop-connection)".into(),
        };
        decoder.push(&buf[..n]);
        loop {
            let p = match decoder.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e @ PacketError::LengthTooLarge { .. }) => {
                    return format!(
                        "bad packet: {e} (--max-request-size is {} bytes of body)",
                        ctx.max_request_size
                    );
                }
                Err(e) => return format!("bad packet: {e}"),
            };
            if let Err(reason) = handle_packet(p, conn, ctx, wtx, &mut authed).await {
                return reason;
            }
        }
    }
}

/// One packet from the client; `Err(why)` closes the connection.
async fn handle_packet(
    p: Packet,
    conn: u64,
    ctx: &ConnectionContext,
    wtx: &mpsc::UnboundedSender<Outgoing>,
    authed: &mut bool,
) -> Result<(), String> {
    match p.kind {
        SERVERDATA_AUTH => {
            if ctx.password_for(conn).0.as_bytes() == p.body.as_slice() {
                *authed = true;
                let _ = wtx.send(reply_bytes(p.id, SERVERDATA_AUTH_RESPONSE, b""));
                let _ = ctx.events.send(NetEvent::Packet { conn }).await;
                Ok(())
            } else {
                let _ = wtx.send(reply_bytes(-1, SERVERDATA_AUTH_RESPONSE, b""));
                Err("authentication failed (wrong password)".into())
            }
        }
        SERVERDATA_EXECCOMMAND if !*authed => {
            let _ = wtx.send(reply_bytes(-1, SERVERDATA_AUTH_RESPONSE, b""));
            Err("command before authentication".into())
        }
        SERVERDATA_EXECCOMMAND => {
            let text = String::from_utf8_lossy(&p.body).into_owned();
            let command = NetEvent::Command {
                conn,
                id: p.id,
                text,
            };
            ctx.events
                .send(command)
                .await
                .map_err(|_| "the server stopped".to_string())
        }
        // The empty "sentinel" packet some clients send: the game does not answer it.
        SERVERDATA_RESPONSE_VALUE => {
            let _ = ctx.events.send(NetEvent::Packet { conn }).await;
            Ok(())
        }
        other => Err(format!("unknown packet type {other}")),
    }
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

/// Serve until `--ticks`, `quit`, Ctrl-C or a fatal error. Must run inside a
/// `tokio::task::LocalSet`. `ready` receives the bound RCON address once the game is running.
pub async fn serve(
    args: EmulatorArgs,
    out: Box<dyn Write>,
    ready: Option<oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // no signal handler: never stop for one
            std::future::pending::<()>().await;
        }
    };
    serve_until(args, out, ready, ctrl_c).await
}

/// [`serve`], stopping (and saving, as `quit` does) when `stop` completes instead of on Ctrl-C:
/// for an emulator embedded in a test or another program.
pub async fn serve_until(
    args: EmulatorArgs,
    out: Box<dyn Write>,
    ready: Option<oneshot::Sender<SocketAddr>>,
    stop: impl Future<Output = ()> + 'static,
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
    let runner = script_runner(&args)?;
    out.lines(&banner(&args, &config, &out.clock), 0)?;
    let game = open_game(&args, config, &mut out)?;
    let t0 = game.tick();
    out.log(IN_GAME_LINE, t0)?;

    let (tx, rx) = mpsc::channel::<NetEvent>(1024);
    let (stop_tx, stop_rx) = watch::channel(0u64);
    let writers: Rc<RefCell<Vec<JoinHandle<()>>>> = Rc::default();
    let bound = match &args.rcon_password {
        Some(pw) => {
            let ctx = ConnectionContext {
                password: Rc::new(pw.clone()),
                password_later: args.rcon_password_later.clone().map(Rc::new),
                max_request_size: args.max_request_size,
                events: tx.clone(),
                stop: stop_rx,
                writers: writers.clone(),
            };
            Some(start_rcon(&args, ctx, &mut out, t0).await?)
        }
        None => {
            out.log("Info Emulator: no --rcon-password, RCON is off", t0)?;
            None
        }
    };
    {
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            stop.await;
            let _ = tx.send(NetEvent::Quit).await;
        });
    }
    if let (Some(r), Some(a)) = (ready, bound) {
        let _ = r.send(a);
    }

    let mut shell = Shell {
        args: &args,
        game,
        out,
        runner,
        stop: stop_tx,
        bound,
        conns: HashMap::new(),
        awaiting: HashMap::new(),
        grace: Duration::from_millis(args.grace_ms),
        settle: Duration::from_micros(args.settle_us),
        ticks_run: 0,
        quit: false,
        script_ids: 0,
        faults: FaultCounter::new(args.rcon_faults.clone()),
        lost: HashSet::new(),
        dropped: HashSet::new(),
    };
    let result = shell.run(rx).await;
    shell.finish(result.is_ok())?;
    // Let pending replies reach their clients.
    shell.stop.send_modify(|e| *e += 1);
    drop(shell);
    drop(tx);
    let handles: Vec<JoinHandle<()>> = writers.borrow_mut().drain(..).collect();
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
    }
    result
}

fn script_runner(args: &EmulatorArgs) -> anyhow::Result<ScriptRunner> {
    Ok(match &args.script {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading script {}", p.display()))?;
            ScriptRunner::new(crate::driver::parse(&text)?)
        }
        None => ScriptRunner::default(),
    })
}

/// The first log lines: the version and what this emulator runs.
fn banner(args: &EmulatorArgs, config: &GameConfig, clock: &Clock) -> [Line; 2] {
    [
        Line::Log(format!(
            "{}; Factorio {} (build 0, invsync-emulator {}, headless)",
            clock.date(0),
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
    ]
}

/// The game: from `--load`, else from `--save` when the file exists (a server restarted on its
/// autosave), else new; with its tick log.
fn open_game(args: &EmulatorArgs, config: GameConfig, out: &mut Out) -> anyhow::Result<Game> {
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
    Ok(game)
}

/// Binds the RCON listener and accepts connections in a task; the bound address.
async fn start_rcon(
    args: &EmulatorArgs,
    ctx: ConnectionContext,
    out: &mut Out,
    tick: u64,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(args.rcon_bind)
        .await
        .with_context(|| format!("binding RCON to {}", args.rcon_bind))?;
    let addr = listener.local_addr()?;
    out.log(rcon_line(&addr), tick)?;
    tokio::task::spawn_local(accept_loop(listener, ctx, args.max_connections));
    Ok(addr)
}

fn rcon_line(addr: &SocketAddr) -> String {
    format!(
        "Info RemoteCommandProcessor.cpp:133: Starting RCON interface at {}",
        addr_text(addr)
    )
}

/// What the next step of the loop is, after the driver script ran.
enum Flow {
    Tick,
    /// Back to the top of the loop.
    Again,
    Stop,
}

/// The game loop's state.
struct Shell<'a> {
    args: &'a EmulatorArgs,
    game: Game,
    out: Out,
    runner: ScriptRunner,
    /// Bumped to stop every connection task.
    stop: watch::Sender<u64>,
    bound: Option<SocketAddr>,
    conns: HashMap<u64, mpsc::UnboundedSender<Outgoing>>,
    /// Connections the loop waits for, until the instant given (virtual time).
    awaiting: HashMap<u64, Instant>,
    grace: Duration,
    settle: Duration,
    ticks_run: u64,
    quit: bool,
    script_ids: i32,
    faults: FaultCounter,
    /// Commands whose reply a fault loses.
    lost: HashSet<CommandHandle>,
    /// Connections a fault closed: what they sent after it is not read.
    dropped: HashSet<u64>,
}

impl Shell<'_> {
    async fn run(&mut self, mut rx: mpsc::Receiver<NetEvent>) -> anyhow::Result<()> {
        let mut interval = tokio::time::interval(Duration::from_micros(
            1_000_000 / u64::from(self.args.ticks_per_second.max(1)),
        ));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            // Everything that arrived.
            while let Ok(ev) = rx.try_recv() {
                self.handle_event(ev)?;
            }
            if self.quit || self.args.ticks.is_some_and(|n| self.ticks_run >= n) {
                return Ok(());
            }
            match self.run_script()? {
                Flow::Stop => return Ok(()),
                Flow::Again => continue,
                Flow::Tick => {}
            }
            if self.args.realtime {
                if self.wait_for_tick(&mut rx, &mut interval).await? {
                    continue;
                }
            } else if self.wait_for_clients(&mut rx).await? {
                continue;
            }
            self.tick()?;
            self.pace().await;
        }
    }

    /// The driver script's steps due now.
    fn run_script(&mut self) -> anyhow::Result<Flow> {
        let mut restarted = false;
        for step in self.runner.due(self.game.tick(), self.game.is_crashed()) {
            match step {
                Step::Act(a) => self.game.act(a),
                Step::Autosave(n) => self.game.set_autosave_interval((n > 0).then_some(n)),
                Step::Rcon(text) => {
                    self.script_ids = self.script_ids.wrapping_add(1).max(1);
                    let h = CommandHandle {
                        conn: 0,
                        id: self.script_ids,
                    };
                    if let Some(r) = self.game.submit(h, text) {
                        let tick = self.game.tick();
                        self.out
                            .log(format!("Info Emulator: script rcon reply: {r}"), tick)?;
                    }
                }
                Step::Crash => {
                    self.game.crash();
                    self.out.log(
                        "Error Emulator: the server crashed (scripted); nothing was saved",
                        self.game.tick(),
                    )?;
                    self.stop.send_modify(|e| *e += 1);
                    self.conns.clear();
                    self.awaiting.clear();
                }
                Step::Restart => {
                    self.game.restart()?;
                    restarted = true;
                    let tick = self.game.tick();
                    self.out.log(IN_GAME_LINE, tick)?;
                    if let Some(a) = self.bound {
                        self.out.log(rcon_line(&a), tick)?;
                    }
                }
                Step::Quit => self.quit = true,
                Step::Wait(_) => {}
            }
        }
        if self.quit {
            return Ok(Flow::Stop);
        }
        if restarted {
            return Ok(Flow::Again);
        }
        if self.game.is_crashed() {
            if self.runner.finished() {
                anyhow::bail!("the server crashed and the script does not restart it");
            }
            return Ok(Flow::Again);
        }
        Ok(Flow::Tick)
    }

    /// Virtual time: waits for a packet from the clients that just got a reply, or until their
    /// deadline. True when it waited (the loop starts again).
    async fn wait_for_clients(
        &mut self,
        rx: &mut mpsc::Receiver<NetEvent>,
    ) -> anyhow::Result<bool> {
        if self.awaiting.is_empty() {
            return Ok(false);
        }
        let now = Instant::now();
        self.awaiting.retain(|_, deadline| *deadline > now);
        let Some(earliest) = self.awaiting.values().min().copied() else {
            return Ok(false);
        };
        tokio::select! {
            ev = rx.recv() => if let Some(ev) = ev {
                self.handle_event(ev)?;
            },
            _ = tokio::time::sleep_until(earliest.into()) => {}
        }
        Ok(true)
    }

    /// Real time: waits for the next tick or an event. True when an event came first (the loop
    /// starts again).
    async fn wait_for_tick(
        &mut self,
        rx: &mut mpsc::Receiver<NetEvent>,
        interval: &mut tokio::time::Interval,
    ) -> anyhow::Result<bool> {
        tokio::select! {
            _ = interval.tick() => Ok(false),
            ev = rx.recv() => {
                if let Some(ev) = ev {
                    self.handle_event(ev)?;
                }
                Ok(true)
            }
        }
    }

    /// Runs one tick and delivers what it produced.
    fn tick(&mut self) -> anyhow::Result<()> {
        let report = match self.game.step() {
            Ok(r) => r,
            Err(e) => {
                let tick = self.game.tick();
                for line in e.to_string().lines() {
                    self.out.log(format!("Error Emulator: {line}"), tick)?;
                }
                return Err(anyhow::Error::new(e));
            }
        };
        self.ticks_run += 1;
        self.deliver(&report)?;
        if report.autosaved
            && let (Some(path), Some(save)) = (&self.args.save, self.game.last_autosave())
        {
            write_save(path, save)?;
        }
        Ok(())
    }

    /// Virtual time: yields between busy ticks, sleeps `--idle-tick-us` between idle ones.
    async fn pace(&self) {
        if self.args.realtime {
            return;
        }
        let busy = self.args.ticks.is_some()
            || self.game.commands_in_flight() > 0
            || self.args.idle_tick_us == 0;
        if busy {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_micros(self.args.idle_tick_us)).await;
        }
    }

    /// A packet from `conn`: with `settle`, wait until its connection has been quiet that long;
    /// without, stop waiting for that connection.
    fn heard(&mut self, conn: u64) {
        if self.settle.is_zero() {
            self.awaiting.remove(&conn);
        } else {
            self.awaiting.insert(conn, Instant::now() + self.settle);
        }
    }

    fn handle_event(&mut self, ev: NetEvent) -> anyhow::Result<()> {
        match ev {
            NetEvent::Opened { conn, writer, .. } => {
                if !self.game.is_crashed() {
                    self.conns.insert(conn, writer);
                }
            }
            NetEvent::Packet { conn } => self.heard(conn),
            NetEvent::Command { conn, id, text } => self.command(conn, id, text)?,
            NetEvent::Closed { conn } => {
                self.conns.remove(&conn);
                self.awaiting.remove(&conn);
                self.dropped.remove(&conn);
            }
            NetEvent::Log(s) => self.out.log(s, self.game.tick())?,
            NetEvent::Quit => self.quit = true,
        }
        Ok(())
    }

    /// A command arrived: the faults judge it, then the game takes it.
    fn command(&mut self, conn: u64, id: i32, mut text: String) -> anyhow::Result<()> {
        if self.dropped.contains(&conn) {
            return Ok(()); // sent after the connection was closed: never read
        }
        self.heard(conn);
        if self.game.is_crash_command(&text) {
            // a crash: no reply, no save; `serve` returns the error at once
            self.out.log(
                "Error Emulator: the server crashed (/emulator crash); nothing was saved",
                self.game.tick(),
            )?;
            return Err(anyhow::Error::new(EmulatorError::CrashCommand));
        }
        let verdict = self.faults.judge(&text);
        if verdict.ignore {
            return Ok(());
        }
        if verdict.damage {
            rcon_faults::damage(&mut text);
        }
        let handle = CommandHandle { conn, id };
        if verdict.lose_reply {
            self.lost.insert(handle);
        }
        if let Some(reply) = self.game.submit(handle, text) {
            self.reply(handle, &reply);
        }
        if verdict.drop_connection
            && let Some(w) = self.conns.remove(&conn)
        {
            let _ = w.send(Outgoing::Close);
            self.awaiting.remove(&conn);
            self.dropped.insert(conn);
        }
        Ok(())
    }

    /// Sends the reply of a command to its connection, unless a fault loses it. True when sent.
    fn reply(&mut self, handle: CommandHandle, body: &str) -> bool {
        if self.lost.remove(&handle) {
            return false;
        }
        let Some(w) = self.conns.get(&handle.conn) else {
            return false;
        };
        if self.args.rcon_chat_packets {
            let _ = w.send(reply_bytes(0, SERVERDATA_RESPONSE_VALUE, CHAT_PACKET));
        }
        w.send(reply_bytes(
            handle.id,
            SERVERDATA_RESPONSE_VALUE,
            body.as_bytes(),
        ))
        .is_ok()
    }

    /// A tick's stdout lines and replies.
    fn deliver(&mut self, report: &TickReport) -> anyhow::Result<()> {
        self.out.lines(&report.lines, report.tick)?;
        let now = Instant::now();
        for (h, body) in &report.replies {
            if h.conn == 0 {
                self.out.log(
                    format!("Info Emulator: script rcon reply: {}", body.trim_end()),
                    report.tick,
                )?;
                continue;
            }
            if self.reply(*h, body) {
                self.awaiting.insert(h.conn, now + self.grace);
            }
        }
        Ok(())
    }

    /// After the loop: the final save and log line, unless it failed or crashed.
    fn finish(&mut self, ok: bool) -> anyhow::Result<()> {
        let tick = self.game.tick();
        if !ok || self.game.is_crashed() {
            return Ok(());
        }
        if let Some(path) = &self.args.save {
            write_save(path, &self.game.save()?)?;
            self.out
                .log(format!("Info Emulator: saved to {}", path.display()), tick)?;
        }
        self.out.log(
            format!(
                "Info Emulator: quitting after {} ticks at tick {tick}",
                self.ticks_run
            ),
            tick,
        )
    }
}
