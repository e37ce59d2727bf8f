//! The game stand-in for the RCON transport's and the host's tests: the emulator
//! (`invsync-emulator`) in-process, running the real scenario module (`invsync-scenario`) under
//! a small test `control.lua`, with RCON on 127.0.0.1.
//!
//! * **Faults and quirks** are the emulator's own (`--rcon-fault`, `--rcon-chat-packets`,
//!   `--rcon-password-later`, `--achievements-warning`): set them in [`GameSetup::args`].
//! * **stdout** is recorded line by line ([`TestGame::stdout_lines`]) and handed once, from its
//!   first line, to the test as a pipe ([`TestGame::take_stdout`]), optionally filtered: a test
//!   may lose lines on the way, as a broken pipe would.
//! * **What the game read**: the emulator's tick log names every command the game loop took
//!   (after faults: an ignored command is not there, a damaged one is, damaged), so
//!   [`TestGame::calls`] lists the module's remote calls as they reached the game.
//! * **The test's own commands** ([`TestGame::command`], [`TestGame::eval`]) go over one extra
//!   RCON connection, opened on first use with [`GameSetup`]'s password: they count as commands
//!   for the faults, and as a connection.
//!
//! The test `control.lua` ([`control`]) records the messages the module hands to the scenario
//! and lets the test send payloads to the host (`remote.call("test", "send", text)`).

use std::io::{BufRead, BufReader, PipeReader, PipeWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use invsync_emulator::EmulatorArgs;
use invsync_rcon_transport::lua_long_string;
use invsync_rcon_transport::{
    Packet, PacketDecoder, SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE, SERVERDATA_EXECCOMMAND,
};

/// A test `control.lua`: the module set up with `settings` (the body of a Lua table
/// constructor, e.g. `decode = { "raw" }, max_frame = 3000`), every message it hands to the
/// scenario kept in `storage.test_received[id]` and counted in `storage.test_deliveries[id]`,
/// and a remote interface `test` with `send(text)` (sends `text` to the host, prints its id)
/// and `redeclare(methods, max_frame)` (changes what the module declares it decodes, as an
/// updated module would, and announces it with `caps`).
pub fn control(settings: &str) -> String {
    format!(
        r#"
local invsync = require("invsync.factorio")
invsync.setup({{ {settings} }})
invsync.on_message(function(payload, id)
  storage.test_received = storage.test_received or {{}}
  storage.test_deliveries = storage.test_deliveries or {{}}
  storage.test_received[id] = payload
  storage.test_deliveries[id] = (storage.test_deliveries[id] or 0) + 1
end)
remote.add_interface("test", {{
  send = function(text) rcon.print(tostring(invsync.send(text))) end,
  redeclare = function(methods, max_frame)
    local rx = storage.invsync.link.rx
    rx.accept, rx.accept_list = {{}}, {{}}
    for m in string.gmatch(methods, "[^,]+") do
      rx.accept[m] = true
      table.insert(rx.accept_list, m)
    end
    rx.max_frame = max_frame
    remote.call("invsync", "caps")
  end,
}})
"#
    )
}

/// What to start.
#[derive(Debug, Clone)]
pub struct GameSetup {
    /// The emulator's settings. [`GameSetup::new`] binds RCON to 127.0.0.1 on a free port with
    /// the password; the scenario and the tick log are set by [`TestGame::start`].
    pub args: EmulatorArgs,
    /// The scenario's `control.lua`; the module's files go beside it.
    pub control: String,
    /// The password of the test's own connection ([`TestGame::command`]).
    pub password: String,
}

impl GameSetup {
    /// The module with its default settings, no faults or quirks.
    pub fn new(password: &str) -> GameSetup {
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        GameSetup {
            args: EmulatorArgs::with_password(bind, password),
            control: control(""),
            password: password.into(),
        }
    }

    /// The module with these settings (see [`control`]).
    pub fn with_settings(password: &str, settings: &str) -> GameSetup {
        GameSetup {
            control: control(settings),
            ..GameSetup::new(password)
        }
    }
}

/// Which stdout lines reach the test's pipe.
type LineFilter = Box<dyn Fn(&[u8]) -> bool + Send>;

/// Where the emulator's stdout goes: every line, and the test's pipe once taken.
#[derive(Default)]
struct Stdout {
    lines: Vec<Vec<u8>>,
    sink: Option<(PipeWriter, LineFilter)>,
}

impl Stdout {
    /// Writes `line` to the test's pipe if taken and kept; a closed pipe is let go.
    fn forward(&mut self, line: &[u8]) {
        if let Some((pipe, keep)) = &mut self.sink
            && keep(line)
            && pipe.write_all(line).is_err()
        {
            self.sink = None;
        }
    }
}

/// The running emulator; stops when dropped.
pub struct TestGame {
    addr: SocketAddr,
    password: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    stdout: Arc<Mutex<Stdout>>,
    tick_log: PathBuf,
    console: Mutex<Option<Console>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestGame {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TestGame {
    /// Starts the emulator and waits until RCON listens. Panics if it cannot start (a test
    /// setup error, with the emulator's error).
    pub fn start(setup: GameSetup) -> TestGame {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let scenario = dir.path().join("scenario");
        for (path, bytes) in invsync_scenario::scenario_files(Some(&setup.control)) {
            let file = scenario.join(path);
            std::fs::create_dir_all(file.parent().expect("a file in a folder")).unwrap();
            std::fs::write(file, bytes).unwrap();
        }
        let tick_log = dir.path().join("ticks.log");
        let mut args = setup.args;
        args.scenario = Some(scenario);
        args.tick_log = Some(tick_log.clone());
        let (reader, writer) = std::io::pipe().expect("a stdout pipe");
        let stdout = Arc::new(Mutex::new(Stdout::default()));
        spawn_stdout_reader(reader, stdout.clone());
        // A std channel for the address: the test may start the game from async code.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
            let stop = async {
                let _ = stop_rx.await;
            };
            let serve = invsync_emulator::serve_until(args, Box::new(writer), Some(bound_tx), stop);
            let tell = async {
                if let Ok(addr) = bound_rx.await {
                    let _ = ready_tx.send(addr);
                }
            };
            let (served, ()) =
                tokio::task::LocalSet::new().block_on(&rt, async { tokio::join!(serve, tell) });
            if let Err(e) = served {
                eprintln!("the emulator stopped with an error: {e:#}");
            }
        });
        let Ok(addr) = ready_rx.recv() else {
            let _ = thread.join();
            panic!("the emulator did not start (its error is above)");
        };
        TestGame {
            addr,
            password: setup.password,
            stop: Some(stop_tx),
            thread: Some(thread),
            stdout,
            tick_log,
            console: Mutex::new(None),
            _dir: dir,
        }
    }

    /// The RCON address, `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The game's stdout from its first line, as a pipe (once). Must run inside a tokio
    /// runtime (the pipe registers with it).
    #[cfg(unix)]
    pub fn take_stdout(&self) -> tokio::net::unix::pipe::Receiver {
        self.take_stdout_filtered(|_| true)
    }

    /// [`TestGame::take_stdout`] without the lines `keep` refuses (each with its `\n`).
    #[cfg(unix)]
    pub fn take_stdout_filtered(
        &self,
        keep: impl Fn(&[u8]) -> bool + Send + 'static,
    ) -> tokio::net::unix::pipe::Receiver {
        let (reader, writer) = std::io::pipe().expect("a stdout pipe");
        let mut stdout = self.stdout.lock().unwrap();
        assert!(stdout.sink.is_none(), "stdout is taken once");
        stdout.sink = Some((writer, Box::new(keep)));
        // Lines written so far, then the rest as they come.
        let earlier = stdout.lines.clone();
        for line in &earlier {
            stdout.forward(line);
        }
        tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())
            .expect("the stdout pipe registers with tokio")
    }

    /// Every stdout line so far, without its `\n`.
    pub fn stdout_lines(&self) -> Vec<String> {
        let stdout = self.stdout.lock().unwrap();
        stdout
            .lines
            .iter()
            .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\n").unwrap_or(l)).into_owned())
            .collect()
    }

    /// How many stdout lines so far contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        self.stdout_lines()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// RCON connections the game accepted so far (the test's own included, once used).
    pub fn rcon_connections(&self) -> usize {
        self.count_lines("New RCON connection from")
    }

    /// Runs a console command over the test's own connection; its reply.
    pub fn command(&self, text: &str) -> String {
        let mut console = self.console.lock().unwrap();
        let console = console.get_or_insert_with(|| Console::open(self.addr, &self.password));
        console.command(text)
    }

    /// Runs `lua` as the body of a function in the game; what it returns, as text (`tostring`).
    pub fn eval(&self, lua: &str) -> String {
        let reply = self.command(&format!(
            "/sc rcon.print(tostring((function() {lua} end)()))"
        ));
        reply.strip_suffix('\n').unwrap_or(&reply).to_string()
    }

    /// Polls the game until `lua` (a function body) returns true; panics after 30 s.
    pub fn wait_until(&self, lua: &str) {
        let end = Instant::now() + Duration::from_secs(30);
        while self.eval(lua) != "true" {
            assert!(Instant::now() < end, "the game never reached: {lua}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The game sends `payload` to the host through the module (`invsync.send`); its id.
    pub fn send_to_host(&self, payload: &[u8]) -> u32 {
        let text = std::str::from_utf8(payload).expect("a test payload is text");
        let reply = self.command(&format!(
            "/sc remote.call(\"test\",\"send\",{})",
            lua_long_string(text)
        ));
        reply
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the module did not send: {reply:?}"))
    }

    /// The payload of message `id` as the module handed it to the scenario, if it did.
    pub fn received(&self, id: u32) -> Option<Vec<u8>> {
        let reply = self.command(&format!(
            "/sc local p = (storage.test_received or {{}})[{id}] if p then rcon.print(p) end"
        ));
        let bytes = reply.into_bytes();
        bytes.strip_suffix(b"\n").map(<[u8]>::to_vec)
    }

    /// Asserts that the module handed `payload` to the scenario as message `id`, once.
    pub fn assert_received_once(&self, id: u32, payload: &[u8]) {
        assert_eq!(self.received(id).as_deref(), Some(payload), "message {id}");
        assert_eq!(self.deliveries(id), 1, "message {id} handed over once");
    }

    /// How often the module handed message `id` to the scenario.
    pub fn deliveries(&self, id: u32) -> usize {
        let n = self.eval(&format!(
            "return (storage.test_deliveries or {{}})[{id}] or 0"
        ));
        n.parse().expect("a count")
    }

    /// Every command the game took so far, as the tick log names it: its first 60 characters,
    /// escaped (`"` is `\"`).
    pub fn commands(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.tick_log).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.strip_prefix("command "))
            .filter_map(|l| l.splitn(3, ' ').nth(2))
            .map(str::to_string)
            .collect()
    }

    /// The module's remote calls of `function` the game took so far, by their arguments: for
    /// `recv` the frame's `id index/count` (frames through the module's custom command,
    /// `/invsync-recv <frame>`, included), for the others the text between the function's
    /// name and the closing parenthesis (`12,3` for `pull(12, 3)`).
    pub fn calls(&self, function: &str) -> Vec<String> {
        let prefix = format!("/sc remote.call(\\\"invsync\\\",\\\"{function}\\\"");
        self.commands()
            .iter()
            .filter_map(|c| {
                c.strip_prefix(&prefix).or_else(|| {
                    (function == "recv")
                        .then(|| c.strip_prefix("/invsync-recv "))
                        .flatten()
                })
            })
            .map(|args| {
                let args = args.strip_prefix(',').unwrap_or(args);
                if function == "recv" {
                    let frame = args.trim_start_matches(['[', '=']);
                    if frame.starts_with('~') {
                        short_id_and_chunk(frame)
                    } else {
                        let header: Vec<&str> = args.split(' ').collect();
                        header.get(2..4).map(|f| f.join(" ")).unwrap_or_default()
                    }
                } else {
                    args.split(')').next().unwrap_or("").to_string()
                }
            })
            .collect()
    }
}

/// `<id> <index>/<count>` of a frame with the short header (PROTOCOL.md 2.5): `~`, fcrc and
/// the kind letter, the id in 6 base-64 digits; a chunk of several (an upper-case kind) then
/// has its mcrc and `<index>.<count>.`. Empty if the header is not that.
fn short_id_and_chunk(frame: &str) -> String {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let value = |digits: &str| {
        digits.bytes().try_fold(0u64, |v, b| {
            Some(v << 6 | DIGITS.iter().position(|&d| d == b)? as u64)
        })
    };
    let kind = frame.as_bytes().get(7).copied().unwrap_or(b' ');
    let id = frame.get(8..14).and_then(value);
    let chunk = if kind.is_ascii_uppercase() {
        let mut numbers = frame.get(20..).unwrap_or("").split('.').map(value);
        numbers.next().flatten().zip(numbers.next().flatten())
    } else {
        Some((1, 1))
    };
    match (id, chunk) {
        (Some(id), Some((index, count))) => format!("{id} {index}/{count}"),
        _ => String::new(),
    }
}

/// Reads the game's stdout line by line into `stdout`.
fn spawn_stdout_reader(reader: PipeReader, stdout: Arc<Mutex<Stdout>>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let mut stdout = stdout.lock().unwrap();
                    stdout.forward(&line);
                    stdout.lines.push(line);
                }
            }
        }
    });
}

/// The test's own blocking RCON connection.
struct Console {
    stream: TcpStream,
    decoder: PacketDecoder,
    next_id: i32,
}

impl Console {
    fn open(addr: SocketAddr, password: &str) -> Console {
        let stream = TcpStream::connect(addr).expect("the test connects to the game");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut console = Console {
            stream,
            decoder: PacketDecoder::new(64 << 20),
            next_id: 1,
        };
        console.send(SERVERDATA_AUTH, password);
        let auth = console.read();
        assert_eq!(
            (auth.kind, auth.id),
            (SERVERDATA_AUTH_RESPONSE, 0),
            "the test's connection authenticates"
        );
        console
    }

    fn send(&mut self, kind: i32, body: &str) -> i32 {
        let id = if kind == SERVERDATA_AUTH {
            0
        } else {
            self.next_id += 1;
            self.next_id
        };
        let bytes = Packet::new(id, kind, body)
            .to_bytes()
            .expect("a test command fits a packet");
        self.stream.write_all(&bytes).expect("the game reads");
        id
    }

    fn read(&mut self) -> Packet {
        let mut buf = [0u8; 65536];
        loop {
            match self.decoder.next_packet() {
                Ok(Some(p)) => return p,
                Ok(None) => {}
                Err(e) => panic!("the game's reply does not decode: {e}"),
            }
            let n = self
                .stream
                .read(&mut buf)
                .expect("the game replies in time");
            assert!(n > 0, "the game closed the test's connection");
            self.decoder.push(&buf[..n]);
        }
    }

    /// The reply to `text`; packets of other ids (`--rcon-chat-packets`) are passed over.
    fn command(&mut self, text: &str) -> String {
        let id = self.send(SERVERDATA_EXECCOMMAND, text);
        loop {
            let p = self.read();
            if p.id == id {
                return String::from_utf8_lossy(&p.body).into_owned();
            }
        }
    }
}
