//! A small Factorio-like game server for tests of the link: RCON on 127.0.0.1, commands run as
//! Lua 5.2 (mlua), and a real pipe standing in for the server's stdout.
//!
//! * **RCON**: written here from the spec (not the crate's codec). Exactly one reply packet per
//!   command; a wrong password gets id -1. Commands that arrive together are run in a shuffled
//!   (seeded) order, as the game may run a short command before a long one. Faults, matched by
//!   a substring of the command and its occurrence: a lost reply, a dropped connection (the
//!   batch in hand runs, its replies are lost), a frame damaged in transit.
//! * **Lua**: `/sc <code>` runs with `rcon.print`, a `remote` registry, `storage`, and `print`
//!   writing to stdout. The module side is `invsync_stand_in.lua` (PROTOCOL.md 5.3-5.5);
//!   `native` gives it the codec's frame checks, decoding and encoding, like the game's
//!   `helpers`. A tick runs every few milliseconds (deferred verification happens there).
//! * **stdout**: a pipe; the test hands its read end to the link.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use invsync_codec::{
    Capabilities, EncodeOptions, Frame, Method, MethodChoice, ReassemblerConfig, decode_message,
    encode,
};

const STAND_IN: &str = include_str!("invsync_stand_in.lua");
const TICK: Duration = Duration::from_millis(5);

/// What happens to a command a fault matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// It runs; its reply is never sent.
    LoseReply,
    /// It runs with the rest of its batch; then the connection closes without their replies.
    DropConnection,
    /// One character of its frame is changed on the way (the fcrc no longer matches).
    Damage,
}

/// A fault: the `nth` (1-based) command whose text contains `matching`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub matching: String,
    pub nth: usize,
    pub action: FaultAction,
}

impl Fault {
    pub fn new(matching: &str, nth: usize, action: FaultAction) -> Self {
        Fault {
            matching: matching.into(),
            nth,
            action,
        }
    }
}

/// The mock's behaviour and the stand-in module's settings.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub password: String,
    pub shuffle_seed: u64,
    pub faults: Vec<Fault>,
    /// Answer the first Lua command with the achievements warning instead of running it.
    pub refuse_first_lua_command: bool,
    pub deferred: bool,
    pub announce_received: bool,
    pub decode: Vec<&'static str>,
    pub max_frame: usize,
    pub max_frame_stdout: usize,
    pub max_frame_pull: usize,
    pub send_methods: &'static str,
}

impl Behaviour {
    pub fn new(password: &str) -> Self {
        Behaviour {
            password: password.into(),
            shuffle_seed: 7,
            faults: Vec::new(),
            refuse_first_lua_command: false,
            deferred: false,
            announce_received: true,
            decode: vec!["zlib", "raw", "lz4"],
            max_frame: 8192,
            max_frame_stdout: 3999,
            max_frame_pull: 262_144,
            send_methods: "raw,zlib",
        }
    }
}

/// What the game saw and did, for assertions.
#[derive(Debug, Default)]
pub struct GameLog {
    /// Host messages the module verified and decoded, by id.
    pub delivered: BTreeMap<u32, Vec<u8>>,
    /// How often each message was delivered (must be once).
    pub deliveries: HashMap<u32, usize>,
    /// Every remote call run, as `(function, arguments)`; `recv` arguments are `id index/count`.
    pub calls: Vec<(String, String)>,
    pub connections: usize,
    pub commands: usize,
}

impl GameLog {
    pub fn count(&self, function: &str) -> usize {
        self.calls.iter().filter(|(f, _)| f == function).count()
    }
}

enum Job {
    Command(Vec<u8>, mpsc::Sender<Vec<u8>>),
    Send(Vec<u8>, mpsc::Sender<(u32, String)>),
    Eval(String, mpsc::Sender<String>),
    Stdout(Vec<u8>),
}

pub struct MockGame {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<GameLog>>,
    jobs: mpsc::Sender<Job>,
    stop: Arc<AtomicBool>,
    stdout: Option<tokio::net::unix::pipe::Receiver>,
}

impl Drop for MockGame {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

impl MockGame {
    /// Starts the game. Must run inside a tokio runtime (the stdout pipe registers with it).
    pub fn start(behaviour: Behaviour) -> MockGame {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(GameLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (writer, reader) = tokio::net::unix::pipe::pipe().unwrap();
        let stdout = File::from(writer.into_blocking_fd().unwrap());
        let game_log = log.clone();
        let game_behaviour = behaviour.clone();
        let game_stop = stop.clone();
        thread::spawn(move || run_game(jobs_rx, game_log, game_behaviour, stdout, game_stop));
        let accept_log = log.clone();
        let accept_stop = stop.clone();
        let accept_jobs = jobs_tx.clone();
        thread::spawn(move || {
            let counters = Arc::new(Mutex::new(HashMap::<usize, usize>::new()));
            let refused = Arc::new(AtomicBool::new(!behaviour.refuse_first_lua_command));
            for stream in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let number = {
                    let mut log = accept_log.lock().unwrap();
                    log.connections += 1;
                    log.connections
                };
                let connection = Connection {
                    behaviour: behaviour.clone(),
                    jobs: accept_jobs.clone(),
                    log: accept_log.clone(),
                    stop: accept_stop.clone(),
                    counters: counters.clone(),
                    refused: refused.clone(),
                    rng: behaviour.shuffle_seed
                        ^ (number as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                        | 1,
                };
                thread::spawn(move || {
                    let _ = connection.serve(stream);
                });
            }
        });
        MockGame {
            addr,
            log,
            jobs: jobs_tx,
            stop,
            stdout: Some(reader),
        }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The read end of the game's stdout (once).
    pub fn take_stdout(&mut self) -> tokio::net::unix::pipe::Receiver {
        self.stdout.take().expect("stdout taken once")
    }

    /// The game sends `payload` to the host (`invsync_send`); returns its id and the path the
    /// stand-in chose (`stdout` or `pulled`).
    pub fn send_to_host(&self, payload: &[u8]) -> (u32, String) {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(Job::Send(payload.to_vec(), tx)).unwrap();
        rx.recv().unwrap()
    }

    /// Runs Lua in the game (like a console command) and returns what it `return`s, as text.
    pub fn eval(&self, lua: &str) -> String {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(Job::Eval(lua.into(), tx)).unwrap();
        rx.recv().unwrap()
    }

    /// Writes raw bytes to the game's stdout (log lines, chat).
    pub fn write_stdout(&self, bytes: &[u8]) {
        self.jobs.send(Job::Stdout(bytes.to_vec())).unwrap();
    }
}

struct Connection {
    behaviour: Behaviour,
    jobs: mpsc::Sender<Job>,
    log: Arc<Mutex<GameLog>>,
    stop: Arc<AtomicBool>,
    /// Occurrences per fault (shared by all connections).
    counters: Arc<Mutex<HashMap<usize, usize>>>,
    /// Whether the first Lua command was refused already.
    refused: Arc<AtomicBool>,
    rng: u64,
}

fn read_packets(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    wait: Duration,
) -> std::io::Result<Vec<(i32, i32, Vec<u8>)>> {
    stream.set_read_timeout(Some(wait))?;
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk) {
        Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
        Ok(n) => buf.extend_from_slice(&chunk[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => return Err(e),
    }
    let mut packets = Vec::new();
    while buf.len() >= 4 {
        let len = i32::from_le_bytes(buf[0..4].try_into().unwrap());
        assert!((10..=16 << 20).contains(&len), "mock: bad length {len}");
        let len = len as usize;
        if buf.len() < 4 + len {
            break;
        }
        let id = i32::from_le_bytes(buf[4..8].try_into().unwrap());
        let kind = i32::from_le_bytes(buf[8..12].try_into().unwrap());
        assert_eq!(&buf[4 + len - 2..4 + len], b"\0\0", "mock: no terminator");
        let body = buf[12..4 + len - 2].to_vec();
        buf.drain(..4 + len);
        packets.push((id, kind, body));
    }
    Ok(packets)
}

fn write_packet(stream: &mut TcpStream, id: i32, kind: i32, body: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 14);
    out.extend_from_slice(&((body.len() + 10) as i32).to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&[0, 0]);
    stream.write_all(&out)
}

/// Changes one data character of the frame in a `recv` command, keeping it printable and the
/// long bracket intact: the command still runs, and the frame fails its checksum.
fn damage(body: &mut [u8]) {
    // The command ends with `]` `=`* `])`; the frame's data ends just before it.
    let mut end = body.len() - 2;
    while body[end - 1] == b'=' {
        end -= 1;
    }
    let at = end - 2;
    body[at] = if body[at] == b'A' { b'B' } else { b'A' };
}

impl Connection {
    fn serve(mut self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut authenticated = false;
        while !self.stop.load(Ordering::SeqCst) {
            let mut batch = read_packets(&mut stream, &mut buf, Duration::from_millis(100))?;
            if batch.is_empty() {
                continue;
            }
            // Gather what else is on the way, like a game collecting a tick's input.
            loop {
                let more = read_packets(&mut stream, &mut buf, Duration::from_millis(2))?;
                if more.is_empty() {
                    break;
                }
                batch.extend(more);
            }
            if !authenticated {
                let (id, kind, body) = batch.remove(0);
                assert_eq!(kind, 3, "mock: the first packet must be auth");
                if body != self.behaviour.password.as_bytes() {
                    write_packet(&mut stream, -1, 2, b"")?;
                    return Ok(());
                }
                write_packet(&mut stream, id, 2, b"")?;
                authenticated = true;
            }
            for i in (1..batch.len()).rev() {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                batch.swap(i, (self.rng % (i as u64 + 1)) as usize);
            }
            let mut replies = Vec::new();
            let mut drop_now = false;
            for (id, kind, mut body) in batch {
                if kind != 2 {
                    continue; // not a command (Factorio ignores the sentinel probe)
                }
                let mut lose = false;
                for action in self.faults_for(&body) {
                    match action {
                        FaultAction::LoseReply => lose = true,
                        FaultAction::DropConnection => drop_now = true,
                        FaultAction::Damage => damage(&mut body),
                    }
                }
                let reply = if body.starts_with(b"/sc ")
                    && !self.refused.swap(true, Ordering::SeqCst)
                {
                    b"Lua console commands will disable achievements. Please repeat the command to proceed.".to_vec()
                } else {
                    let (tx, rx) = mpsc::channel();
                    self.jobs.send(Job::Command(body, tx)).unwrap();
                    rx.recv().unwrap()
                };
                if !lose {
                    replies.push((id, reply));
                }
            }
            if drop_now {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            for (id, reply) in replies {
                write_packet(&mut stream, id, 0, &reply)?;
            }
        }
        Ok(())
    }

    fn faults_for(&self, body: &[u8]) -> Vec<FaultAction> {
        let text = String::from_utf8_lossy(body);
        let mut counters = self.counters.lock().unwrap();
        let mut actions = Vec::new();
        for (i, fault) in self.behaviour.faults.iter().enumerate() {
            if text.contains(&fault.matching) {
                let n = counters.entry(i).or_default();
                *n += 1;
                if *n == fault.nth {
                    actions.push(fault.action);
                }
            }
        }
        actions
    }
}

/// `recv` arguments as `id index/count` (the frame's header), others as written.
fn describe_call(command: &str) -> Option<(String, String)> {
    let rest = command.split_once("remote.call(\"invsync\",\"")?.1;
    let (function, args) = rest.split_once('"')?;
    let args = if function == "recv" {
        let frame = args.trim_start_matches(',').trim_start_matches('[');
        let frame = frame.trim_start_matches('=').trim_start_matches('[');
        let fields: Vec<&str> = frame.splitn(5, ' ').collect();
        fields.get(2..4).map(|f| f.join(" ")).unwrap_or_default()
    } else {
        args.trim_start_matches(',')
            .trim_end_matches(')')
            .to_owned()
    };
    Some((function.to_owned(), args))
}

fn run_game(
    jobs: mpsc::Receiver<Job>,
    log: Arc<Mutex<GameLog>>,
    behaviour: Behaviour,
    stdout: File,
    stop: Arc<AtomicBool>,
) {
    let lua = mlua::Lua::new();
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stdout = Arc::new(Mutex::new(stdout));
    install_game_api(&lua, &output, &stdout, &log, &behaviour);
    lua.load(STAND_IN)
        .set_name("invsync_stand_in.lua")
        .exec()
        .unwrap();
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        match jobs.recv_timeout(TICK) {
            Ok(Job::Command(body, reply)) => {
                output.lock().unwrap().clear();
                let text = String::from_utf8_lossy(&body).into_owned();
                {
                    let mut log = log.lock().unwrap();
                    log.commands += 1;
                    if let Some(call) = describe_call(&text) {
                        log.calls.push(call);
                    }
                }
                let body = match text.strip_prefix("/sc ") {
                    Some(source) => match lua.load(source).set_name("(command)").exec() {
                        Ok(()) => output.lock().unwrap().clone(),
                        Err(err) => {
                            let mut out = output.lock().unwrap().clone();
                            out.extend_from_slice(
                                format!("Cannot execute command. Error: {err}").as_bytes(),
                            );
                            out
                        }
                    },
                    None => format!("Unknown command \"{text}\".").into_bytes(),
                };
                let _ = reply.send(body);
            }
            Ok(Job::Send(payload, reply)) => {
                let send: mlua::Function = lua.globals().get("invsync_send").unwrap();
                let (id, path): (u32, String) =
                    send.call(lua.create_string(&payload).unwrap()).unwrap();
                let _ = reply.send((id, path));
            }
            Ok(Job::Eval(source, reply)) => {
                let value: mlua::Value = lua.load(&source).eval().unwrap();
                let text = match value {
                    mlua::Value::String(s) => s.to_string_lossy(),
                    other => format!("{other:?}"),
                };
                let _ = reply.send(text);
            }
            Ok(Job::Stdout(bytes)) => {
                let mut out = stdout.lock().unwrap();
                let _ = out.write_all(&bytes);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let tick: mlua::Function = lua.globals().get("invsync_on_tick").unwrap();
            tick.call::<()>(()).unwrap();
        }
    }
}

fn method_list(text: &str) -> Vec<Method> {
    text.split(',').map(|m| m.parse().unwrap()).collect()
}

fn install_game_api(
    lua: &mlua::Lua,
    output: &Arc<Mutex<Vec<u8>>>,
    stdout: &Arc<Mutex<File>>,
    log: &Arc<Mutex<GameLog>>,
    behaviour: &Behaviour,
) {
    let g = lua.globals();
    let rcon = lua.create_table().unwrap();
    let out = output.clone();
    rcon.set(
        "print",
        lua.create_function(move |_, text: mlua::LuaString| {
            let mut out = out.lock().unwrap();
            out.extend_from_slice(&text.as_bytes());
            out.push(b'\n');
            Ok(())
        })
        .unwrap(),
    )
    .unwrap();
    g.set("rcon", rcon).unwrap();
    let pipe = stdout.clone();
    g.set(
        "print",
        lua.create_function(move |_, args: mlua::Variadic<mlua::LuaString>| {
            let mut line = Vec::new();
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    line.push(b'\t');
                }
                line.extend_from_slice(&a.as_bytes());
            }
            line.push(b'\n');
            pipe.lock()
                .unwrap()
                .write_all(&line)
                .map_err(mlua::Error::external)
        })
        .unwrap(),
    )
    .unwrap();
    g.set("storage", lua.create_table().unwrap()).unwrap();
    lua.load(
        r#"
        local interfaces = {}
        remote = {
          add_interface = function(name, functions) interfaces[name] = functions end,
          call = function(name, fn, ...)
            local i = interfaces[name]
            if not i then error("Unknown interface: " .. tostring(name)) end
            local f = i[fn]
            if not f then error("Unknown function: " .. tostring(fn)) end
            return f(...)
          end,
        }
        "#,
    )
    .exec()
    .unwrap();

    let config = lua.create_table().unwrap();
    config.set("deferred", behaviour.deferred).unwrap();
    config
        .set("announce_received", behaviour.announce_received)
        .unwrap();
    let decode = lua.create_table().unwrap();
    for (i, m) in behaviour.decode.iter().enumerate() {
        decode.set(i + 1, *m).unwrap();
    }
    config.set("decode", decode).unwrap();
    config.set("max_frame", behaviour.max_frame).unwrap();
    config
        .set("max_frame_stdout", behaviour.max_frame_stdout)
        .unwrap();
    config
        .set("max_frame_pull", behaviour.max_frame_pull)
        .unwrap();
    config.set("send_methods", behaviour.send_methods).unwrap();
    g.set("mock_config", config).unwrap();

    let native = lua.create_table().unwrap();
    // check(frame, verify): the receiver's checks of PROTOCOL.md 3 up to the policy step,
    // against the declaration in `mock_config` (read at call time).
    native
        .set(
            "check",
            lua.create_function(|lua, (frame, verify): (mlua::LuaString, bool)| {
                let config: mlua::Table = lua.globals().get("mock_config")?;
                let max_frame: usize = config.get("max_frame")?;
                let decode: Vec<String> = config.get("decode")?;
                let bytes = frame.as_bytes();
                let t = lua.create_table()?;
                let fail =
                    |name: &str, detail: String, id: Option<u32>| -> mlua::Result<mlua::Table> {
                        t.set("ok", false)?;
                        t.set("name", name)?;
                        t.set("detail", detail)?;
                        if let Some(id) = id {
                            t.set("id", id)?;
                        }
                        Ok(t.clone())
                    };
                if bytes.len() > max_frame {
                    return fail("FrameTooLong", format!("{} bytes", bytes.len()), None);
                }
                let parsed = if verify {
                    Frame::parse(&bytes)
                } else {
                    Frame::parse_unverified(&bytes)
                };
                let h = match parsed {
                    Ok(f) => f.header,
                    Err(e) => return fail(e.name(), e.to_string(), e.message_id()),
                };
                if !decode.iter().any(|m| m == h.method.as_str()) {
                    return fail(
                        "MethodNotAccepted",
                        format!("{} is not declared", h.method),
                        Some(h.id),
                    );
                }
                t.set("ok", true)?;
                t.set("id", h.id)?;
                t.set("index", h.index)?;
                t.set("count", h.count)?;
                t.set("method", h.method.as_str())?;
                t.set("wlen", h.wire_len)?;
                t.set("plen", h.payload_len)?;
                Ok(t)
            })
            .unwrap(),
        )
        .unwrap();
    // decode(frames, count): the whole message, every check of PROTOCOL.md 3.
    native
        .set(
            "decode",
            lua.create_function(|lua, (frames, count): (mlua::Table, u32)| {
                let mut list = Vec::new();
                for i in 1..=count {
                    let f: mlua::LuaString = frames.get(i)?;
                    list.push(f.as_bytes().to_vec());
                }
                let config = ReassemblerConfig {
                    max_frame: 1 << 20,
                    ..ReassemblerConfig::default()
                };
                match decode_message(list, config) {
                    Ok(m) => Ok((
                        true,
                        mlua::Value::String(lua.create_string(&m.payload)?),
                        None,
                    )),
                    Err(e) => Ok((
                        false,
                        mlua::Value::String(lua.create_string(e.name())?),
                        Some(e.to_string()),
                    )),
                }
            })
            .unwrap(),
        )
        .unwrap();
    let deliver_log = log.clone();
    native
        .set(
            "deliver",
            lua.create_function(move |_, (id, payload): (u32, mlua::LuaString)| {
                let mut log = deliver_log.lock().unwrap();
                log.delivered.insert(id, payload.as_bytes().to_vec());
                *log.deliveries.entry(id).or_default() += 1;
                Ok(())
            })
            .unwrap(),
        )
        .unwrap();
    // encode(id, payload, max_frame, "raw,zlib"): `auto` over those methods; returns the
    // frames, the method, the wire length and the payload length.
    native
        .set(
            "encode",
            lua.create_function(
                |lua, (id, payload, max_frame, methods): (u32, mlua::LuaString, usize, String)| {
                    let options = EncodeOptions {
                        method: MethodChoice::Auto,
                        receiver: Capabilities {
                            decode: method_list(&methods),
                            ..Capabilities::all(max_frame)
                        },
                        ..EncodeOptions::default()
                    };
                    let e =
                        encode(id, &payload.as_bytes(), &options).map_err(mlua::Error::external)?;
                    let frames = lua.create_sequence_from(e.frames)?;
                    Ok((frames, e.method.as_str(), e.wire_len, e.payload_len))
                },
            )
            .unwrap(),
        )
        .unwrap();
    native
        .set(
            "json_string",
            lua.create_function(|_, text: mlua::LuaString| {
                Ok(serde_json::to_string(&text.to_string_lossy()).unwrap())
            })
            .unwrap(),
        )
        .unwrap();
    g.set("native", native).unwrap();
}
