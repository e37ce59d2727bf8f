//! A small Factorio-like game server for tests: RCON on 127.0.0.1, commands run as Lua 5.2
//! (mlua), and a pipe standing in for the server's stdout.
//!
//! * **RCON** ([`rcon_wire`](crate::rcon_wire), `connection`): written from the spec, not the
//!   crate's codec. Like Factorio it answers each command with exactly one packet, answers a
//!   wrong password with id -1 and closes, and ignores packets that are not commands (the empty
//!   `SERVERDATA_RESPONSE_VALUE` probe). Commands that arrive together are run in a shuffled
//!   (seeded) order, as the game may run a short command before a long one. Faults
//!   ([`Fault`]) are matched by a substring of the command and its occurrence: a lost reply, a
//!   dropped connection (the batch in hand runs, its replies are lost), a frame damaged in
//!   transit, a command never answered. Quirks: the achievements warning for the first Lua
//!   command, chat packets with id 0, a password changed for later connections.
//! * **Lua** (`game`): `/sc <code>` and `/silent-command <code>` run with `rcon.print`, a
//!   `remote` registry, `storage`, and `print` writing to stdout. A tick runs every few
//!   milliseconds. What answers `remote.call("invsync", ...)` is the [`Module`]:
//!   - [`Module::StandIn`]: `invsync_stand_in.lua`, the module side of PROTOCOL.md 5.3-5.5;
//!     `native` gives it the codec's frame checks, decoding and encoding, like the game's
//!     `helpers` (deferred verification happens on the tick).
//!   - [`Module::RecvModel`]: a model of `recv`/`status` that reads only the frame header and
//!     keeps every frame exactly as the Lua call received it, so a frame only arrives if the
//!     command text is valid Lua that yields the exact frame bytes.
//! * **stdout**: a pipe; [`MockGame::take_stdout`] hands its read end to the test.

mod connection;
mod game;
mod recv_model;
mod stand_in;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::PipeReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::xorshift::XorShift64;
use connection::Connection;
use game::Job;

/// What happens to a command a fault matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// It runs; its reply is never sent.
    LoseReply,
    /// It runs with the rest of its batch; then the connection closes without their replies.
    DropConnection,
    /// One character of its frame is changed on the way (the fcrc no longer matches). For
    /// `recv` commands of the form `...,[=*[frame]=*])`.
    Damage,
    /// It is neither run nor answered (a command the server swallowed).
    Ignore,
}

/// A fault: the commands whose text contains `matching`, all of them or only the `nth`.
///
/// Occurrences are counted per fault over all connections, in the order the commands run,
/// counting every command the mock reads (ignored ones included).
#[derive(Clone, Debug)]
pub struct Fault {
    pub matching: String,
    /// 1-based; `None`: every occurrence.
    pub nth: Option<usize>,
    pub action: FaultAction,
}

impl Fault {
    /// The `nth` (1-based) command whose text contains `matching`.
    pub fn new(matching: &str, nth: usize, action: FaultAction) -> Self {
        Fault {
            matching: matching.into(),
            nth: Some(nth),
            action,
        }
    }

    /// Every command whose text contains `matching`.
    pub fn every(matching: &str, action: FaultAction) -> Self {
        Fault {
            matching: matching.into(),
            nth: None,
            action,
        }
    }

    /// The `nth` (1-based) command of all.
    pub fn nth_command(nth: usize, action: FaultAction) -> Self {
        Fault::new("", nth, action)
    }
}

/// The stand-in module's settings (the table `mock_config` it reads; tests may change it in
/// the game with [`MockGame::eval`]).
#[derive(Clone, Debug)]
pub struct StandInSettings {
    /// Verify on the next tick and answer `ok n/n` for the last chunk.
    pub deferred: bool,
    /// Print `received` reports for messages verified on a tick.
    pub announce_received: bool,
    /// The declaration: methods it decodes, and its largest frame.
    pub decode: Vec<&'static str>,
    pub max_frame: usize,
    /// Frames the game prints or stages when it sends.
    pub max_frame_stdout: usize,
    pub max_frame_pull: usize,
    /// What the game produces when it sends (`auto` over these).
    pub send_methods: &'static str,
}

impl Default for StandInSettings {
    fn default() -> Self {
        StandInSettings {
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

/// What answers `remote.call("invsync", ...)`.
#[derive(Clone, Debug)]
pub enum Module {
    /// The Lua stand-in of the game module (PROTOCOL.md 5.3-5.5).
    StandIn(StandInSettings),
    /// The header-only model of `recv` and `status` (PROTOCOL.md 5.3), recording frames.
    RecvModel,
}

/// The mock's behaviour.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub password: String,
    /// Password required from the second connection on (a server restarted with a new one).
    pub password_after_first: Option<String>,
    /// Seed of the shuffle of each batch of commands that arrived together.
    pub shuffle_seed: u64,
    pub faults: Vec<Fault>,
    /// Answer the first Lua command with the achievements warning instead of running it.
    pub refuse_first_lua_command: bool,
    /// Send a packet with id 0 (like a chat line) before every reply.
    pub chatter_id0: bool,
    pub module: Module,
}

impl Behaviour {
    /// No faults or quirks, the stand-in module with its default settings.
    pub fn new(password: &str) -> Self {
        Behaviour {
            password: password.into(),
            password_after_first: None,
            shuffle_seed: 7,
            faults: Vec::new(),
            refuse_first_lua_command: false,
            chatter_id0: false,
            module: Module::StandIn(StandInSettings::default()),
        }
    }

    /// No faults or quirks, the `recv`/`status` model.
    pub fn recv_model(password: &str) -> Self {
        Behaviour {
            module: Module::RecvModel,
            ..Behaviour::new(password)
        }
    }
}

/// What the game saw and did, for assertions.
#[derive(Debug, Default)]
pub struct GameLog {
    pub connections: usize,
    /// Commands run (not those refused or ignored).
    pub commands: usize,
    /// Every remote call run, as `(function, arguments)`; `recv` arguments are `id index/count`.
    pub calls: Vec<(String, String)>,

    // Module::StandIn
    /// Host messages the module verified and decoded, by id.
    pub delivered: BTreeMap<u32, Vec<u8>>,
    /// How often each message was delivered (must be once).
    pub deliveries: HashMap<u32, usize>,

    // Module::RecvModel
    /// message id -> chunk index -> frame text exactly as the Lua call received it.
    pub frames: BTreeMap<u32, BTreeMap<u32, Vec<u8>>>,
    /// message id -> chunk count its frames declare.
    pub counts: HashMap<u32, u32>,
    /// (message id, chunk index) -> times `recv` was called with it.
    pub recv_calls: HashMap<(u32, u32), usize>,
    /// Messages all of whose chunks arrived.
    pub completed: BTreeSet<u32>,
}

impl GameLog {
    /// How many remote calls of `function` ran.
    pub fn count(&self, function: &str) -> usize {
        self.calls.iter().filter(|(f, _)| f == function).count()
    }

    /// The frames of message `id` in index order (recv model).
    pub fn message_frames(&self, id: u32) -> Vec<String> {
        self.frames
            .get(&id)
            .map(|m| {
                m.values()
                    .map(|f| String::from_utf8(f.clone()).expect("frames are text"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The running game; stops when dropped.
pub struct MockGame {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<GameLog>>,
    jobs: mpsc::Sender<Job>,
    stop: Arc<AtomicBool>,
    /// The read end of stdout until [`MockGame::take_stdout`] (unix only) takes it.
    #[cfg_attr(not(unix), allow(dead_code))]
    stdout: Option<PipeReader>,
}

impl Drop for MockGame {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

impl MockGame {
    pub fn start(behaviour: Behaviour) -> MockGame {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let log = Arc::new(Mutex::new(GameLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (stdout_reader, stdout_writer) = std::io::pipe().expect("stdout pipe");
        let game_log = log.clone();
        let module = behaviour.module.clone();
        let game_stop = stop.clone();
        thread::spawn(move || game::run(jobs_rx, game_log, module, stdout_writer, game_stop));
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
                    number,
                    rng: XorShift64(
                        behaviour.shuffle_seed
                            ^ (number as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                            | 1,
                    ),
                    behaviour: behaviour.clone(),
                    jobs: accept_jobs.clone(),
                    stop: accept_stop.clone(),
                    counters: counters.clone(),
                    refused: refused.clone(),
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
            stdout: Some(stdout_reader),
        }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The read end of the game's stdout (once). Must run inside a tokio runtime (the pipe
    /// registers with it).
    #[cfg(unix)]
    pub fn take_stdout(&mut self) -> tokio::net::unix::pipe::Receiver {
        let reader = self.stdout.take().expect("stdout taken once");
        tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())
            .expect("the stdout pipe registers with tokio")
    }

    /// The game sends `payload` to the host (`invsync_send`); returns its id and the path the
    /// stand-in chose (`stdout` or `pulled`). Stand-in module only.
    pub fn send_to_host(&self, payload: &[u8]) -> (u32, String) {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(Job::Send(payload.to_vec(), tx)).unwrap();
        rx.recv().expect("the game runs invsync_send")
    }

    /// Runs Lua in the game (like a console command) and returns what it `return`s, as text.
    pub fn eval(&self, lua: &str) -> String {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(Job::Eval(lua.into(), tx)).unwrap();
        rx.recv().expect("the game evaluates the Lua")
    }

    /// Writes raw bytes to the game's stdout (log lines, chat).
    pub fn write_stdout(&self, bytes: &[u8]) {
        self.jobs.send(Job::Stdout(bytes.to_vec())).unwrap();
    }
}
