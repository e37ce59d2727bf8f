//! A small Factorio-like RCON server on 127.0.0.1 for tests of the tokio client and the
//! delivery driver (the emulator crate replaces it for end-to-end runs).
//!
//! Independent of the code under test: its packet framing is written here from the spec, and
//! commands are *executed as Lua* (mlua, Lua 5.2): `/sc <lua>` runs with `rcon.print` and a
//! `remote.call("invsync", ...)` that models the game module's `recv`/`status` replies
//! (PROTOCOL.md 5.3). So a frame only arrives if the command text is valid Lua that yields the
//! exact frame bytes.
//!
//! Like Factorio it answers each command with exactly one packet, answers a wrong password with
//! id -1 and closes, and ignores empty `SERVERDATA_RESPONSE_VALUE` probes. Commands that arrive
//! together are executed in a shuffled order (seeded), as the game may run a short command
//! before a long one. Faults are configurable: lost replies, a dropped connection, commands that
//! are never answered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Faults and quirks of the mock.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub password: String,
    /// Password required from the second connection on (a server restarted with a new one).
    pub password_after_first: Option<String>,
    /// Shuffle each batch of commands that arrived together (seed).
    pub shuffle_seed: u64,
    /// Commands with these numbers (counting from 1 over all connections, in execution order)
    /// run but get no reply.
    pub lose_replies: Vec<usize>,
    /// After this many commands in total, close the connection once: the batch in hand runs
    /// but gets no replies.
    pub drop_connection_after: Option<usize>,
    /// Commands starting with this are never answered.
    pub never_answer_prefix: Option<String>,
    /// Send a packet with id 0 (like a chat line) before every reply.
    pub chatter_id0: bool,
}

impl Behaviour {
    pub fn new(password: &str) -> Self {
        Behaviour {
            password: password.into(),
            password_after_first: None,
            shuffle_seed: 1,
            lose_replies: Vec::new(),
            drop_connection_after: None,
            never_answer_prefix: None,
            chatter_id0: false,
        }
    }
}

/// What the game received, for assertions.
#[derive(Debug, Default)]
pub struct GameState {
    /// message id -> chunk index -> frame text exactly as the Lua call received it.
    pub frames: BTreeMap<u32, BTreeMap<u32, Vec<u8>>>,
    pub counts: HashMap<u32, u32>,
    /// (message id, chunk index) -> times `recv` was called with it.
    pub recv_calls: HashMap<(u32, u32), usize>,
    pub completed: BTreeSet<u32>,
    pub status_calls: usize,
    pub commands: usize,
    pub connections: usize,
    pub dropped_connection: bool,
}

impl GameState {
    /// The frames of message `id` in index order.
    pub fn message_frames(&self, id: u32) -> Vec<String> {
        self.frames
            .get(&id)
            .map(|m| {
                m.values()
                    .map(|f| String::from_utf8(f.clone()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub struct MockGame {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<GameState>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for MockGame {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

type Job = (Vec<u8>, mpsc::Sender<Vec<u8>>);

impl MockGame {
    pub fn start(behaviour: Behaviour) -> MockGame {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(GameState::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let game_state = state.clone();
        thread::spawn(move || run_game(jobs_rx, game_state));
        let accept_state = state.clone();
        let accept_stop = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let connection_number = {
                    let mut s = accept_state.lock().unwrap();
                    s.connections += 1;
                    s.connections
                };
                let behaviour = behaviour.clone();
                let jobs = jobs_tx.clone();
                let state = accept_state.clone();
                let stop = accept_stop.clone();
                thread::spawn(move || {
                    let _ = serve(stream, connection_number, behaviour, jobs, state, stop);
                });
            }
        });
        MockGame { addr, state, stop }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

fn read_packets(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    wait: Option<Duration>,
) -> std::io::Result<Vec<(i32, i32, Vec<u8>)>> {
    stream.set_read_timeout(wait)?;
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk) {
        Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
        Ok(n) => buf.extend_from_slice(&chunk[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => return Err(e),
    }
    let mut packets = Vec::new();
    loop {
        if buf.len() < 4 {
            break;
        }
        let len = i32::from_le_bytes(buf[0..4].try_into().unwrap());
        assert!(
            (10..=64 << 20).contains(&len),
            "mock: client sent a bad length {len}"
        );
        let len = len as usize;
        if buf.len() < 4 + len {
            break;
        }
        let id = i32::from_le_bytes(buf[4..8].try_into().unwrap());
        let kind = i32::from_le_bytes(buf[8..12].try_into().unwrap());
        assert_eq!(
            &buf[4 + len - 2..4 + len],
            b"\0\0",
            "mock: packet without terminator"
        );
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

fn serve(
    mut stream: TcpStream,
    connection_number: usize,
    behaviour: Behaviour,
    jobs: mpsc::Sender<Job>,
    state: Arc<Mutex<GameState>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut authenticated = false;
    let password = match (&behaviour.password_after_first, connection_number) {
        (Some(later), n) if n > 1 => later.clone(),
        _ => behaviour.password.clone(),
    };
    let mut rng =
        behaviour.shuffle_seed ^ (connection_number as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let mut batch = read_packets(&mut stream, &mut buf, Some(Duration::from_millis(200)))?;
        if batch.is_empty() {
            continue;
        }
        // Gather what else is already on the way, like a game collecting a tick's input.
        loop {
            let more = read_packets(&mut stream, &mut buf, Some(Duration::from_millis(3)))?;
            if more.is_empty() {
                break;
            }
            batch.extend(more);
        }
        if !authenticated {
            let (id, kind, body) = batch.remove(0);
            assert_eq!(kind, 3, "mock: first packet must be auth");
            if body == password.as_bytes() {
                write_packet(&mut stream, id, 2, b"")?;
                authenticated = true;
            } else {
                write_packet(&mut stream, -1, 2, b"")?;
                return Ok(());
            }
        }
        // Shuffle (Fisher-Yates, xorshift).
        for i in (1..batch.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            batch.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let mut replies = Vec::new();
        let mut drop_now = false;
        for (id, kind, body) in batch {
            if kind == 0 {
                continue; // Factorio ignores the sentinel probe
            }
            if let Some(prefix) = &behaviour.never_answer_prefix
                && body.starts_with(prefix.as_bytes())
            {
                continue;
            }
            let number = {
                let mut s = state.lock().unwrap();
                s.commands += 1;
                s.commands
            };
            let (reply_tx, reply_rx) = mpsc::channel();
            jobs.send((body, reply_tx)).unwrap();
            let reply = reply_rx.recv().unwrap();
            let lose = behaviour.lose_replies.contains(&number);
            if let Some(limit) = behaviour.drop_connection_after {
                let mut s = state.lock().unwrap();
                if number >= limit && !s.dropped_connection {
                    s.dropped_connection = true;
                    drop_now = true;
                }
            }
            if !lose {
                replies.push((id, reply));
            }
        }
        if drop_now {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        for (id, reply) in replies {
            if behaviour.chatter_id0 {
                write_packet(&mut stream, 0, 0, b"[CHAT] someone: hello")?;
            }
            write_packet(&mut stream, id, 0, &reply)?;
        }
    }
    Ok(())
}

/// The game thread: owns the Lua state (not `Send`) and the module model.
fn run_game(jobs: mpsc::Receiver<Job>, state: Arc<Mutex<GameState>>) {
    let lua = mlua::Lua::new();
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let print_out = output.clone();
    let rcon = lua.create_table().unwrap();
    rcon.set(
        "print",
        lua.create_function(move |_, text: mlua::LuaString| {
            let mut out = print_out.lock().unwrap();
            out.extend_from_slice(&text.as_bytes());
            out.push(b'\n');
            Ok(())
        })
        .unwrap(),
    )
    .unwrap();
    lua.globals().set("rcon", rcon).unwrap();
    let module_out = output.clone();
    let module_state = state.clone();
    let remote = lua.create_table().unwrap();
    remote
        .set(
            "call",
            lua.create_function(
                move |_,
                      (interface, function, args): (
                    String,
                    String,
                    mlua::Variadic<mlua::Value>,
                )| {
                    if interface != "invsync" {
                        return Err(mlua::Error::runtime(format!(
                            "Unknown interface: {interface}"
                        )));
                    }
                    let mut state = module_state.lock().unwrap();
                    let line = match (function.as_str(), args.first()) {
                        ("recv", Some(mlua::Value::String(frame))) => {
                            recv(&mut state, &frame.as_bytes())
                        }
                        ("status", Some(mlua::Value::Integer(id))) => {
                            state.status_calls += 1;
                            status(&state, *id as u32)
                        }
                        ("status", Some(mlua::Value::Number(id))) => {
                            state.status_calls += 1;
                            status(&state, *id as u32)
                        }
                        _ => {
                            return Err(mlua::Error::runtime(format!(
                                "bad remote call {function}"
                            )));
                        }
                    };
                    let mut out = module_out.lock().unwrap();
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                    Ok(())
                },
            )
            .unwrap(),
        )
        .unwrap();
    lua.globals().set("remote", remote).unwrap();

    for (command, reply) in jobs {
        output.lock().unwrap().clear();
        let text = String::from_utf8_lossy(&command).into_owned();
        let lua_source = text
            .strip_prefix("/sc ")
            .or_else(|| text.strip_prefix("/silent-command "));
        let body = match lua_source {
            Some(source) => match lua.load(source).exec() {
                Ok(()) => output.lock().unwrap().clone(),
                Err(err) => format!("Cannot execute command. Error: {err}").into_bytes(),
            },
            None => format!("Unknown command \"{text}\".").into_bytes(),
        };
        let _ = reply.send(body);
    }
}

/// The model of the module's `recv`: header fields only (the real module checks much more).
fn recv(state: &mut GameState, frame: &[u8]) -> String {
    let text = String::from_utf8_lossy(frame);
    let fields: Vec<&str> = text.splitn(9, ' ').collect();
    let parsed = (|| {
        if fields.len() < 8 || fields[0] != "IS1" {
            return None;
        }
        let id: u32 = fields[2].parse().ok()?;
        let (index, count) = fields[3].split_once('/')?;
        Some((id, index.parse::<u32>().ok()?, count.parse::<u32>().ok()?))
    })();
    let Some((id, index, count)) = parsed else {
        return "err - NotAFrame not an IS1 frame".into();
    };
    *state.recv_calls.entry((id, index)).or_default() += 1;
    if state.completed.contains(&id) {
        return format!("done {id}");
    }
    state.counts.insert(id, count);
    let chunks = state.frames.entry(id).or_default();
    chunks.insert(index, frame.to_vec());
    let have = chunks.len() as u32;
    if have == count {
        state.completed.insert(id);
        format!("done {id}")
    } else {
        format!("ok {id} {have}/{count}")
    }
}

fn status(state: &GameState, id: u32) -> String {
    if state.completed.contains(&id) {
        return format!("done {id}");
    }
    match (state.frames.get(&id), state.counts.get(&id)) {
        (Some(chunks), Some(&count)) => {
            let missing: Vec<String> = (1..=count)
                .filter(|i| !chunks.contains_key(i))
                .map(|i| i.to_string())
                .collect();
            format!("missing {id} {}", missing.join(","))
        }
        _ => format!("unknown {id}"),
    }
}
