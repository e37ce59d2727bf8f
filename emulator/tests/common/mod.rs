//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use invsync_emulator::{Game, GameConfig, ScenarioFiles};

/// The folder of a test scenario.
pub fn scenario_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// A game running a scenario made of in-memory files.
pub fn game_with(files: &[(&str, &str)]) -> Game {
    Game::new(config_with(files)).expect("scenario loads")
}

pub fn config_with(files: &[(&str, &str)]) -> GameConfig {
    GameConfig {
        scenario: ScenarioFiles::from_files(
            "test",
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
        ),
        ..GameConfig::default()
    }
}

/// A game running only `control.lua`.
pub fn game(control: &str) -> Game {
    game_with(&[("control.lua", control)])
}

/// Run `/sc <code>` and return the reply.
pub fn sc(g: &mut Game, code: &str) -> String {
    g.run_command(&format!("/sc {code}"), 100_000)
        .expect("command answered")
        .0
}

/// Run ticks.
pub fn ticks(g: &mut Game, n: u64) {
    for _ in 0..n {
        g.step().expect("tick runs");
    }
}

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use invsync_rcon_transport::{
    Packet, PacketDecoder, SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE, SERVERDATA_EXECCOMMAND,
    SERVERDATA_RESPONSE_VALUE,
};

/// The emulator binary running as a child process, with its stdout collected.
pub struct Emulator {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
}

pub const PASSWORD: &str = "test-password";

impl Emulator {
    pub fn start(extra: &[&str]) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_invsync-emulator"))
            .args(["--rcon-bind", "127.0.0.1:0", "--rcon-password", PASSWORD])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("emulator binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut em = Emulator {
            child,
            lines,
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        let line = em.wait_line(
            "Starting RCON interface at IP ADDR:({",
            Duration::from_secs(20),
        );
        let inner = line
            .split("({")
            .nth(1)
            .and_then(|s| s.split("})").next())
            .expect("address in the log line");
        em.addr = inner.parse().expect("socket address");
        em
    }

    /// Wait until a stdout line contains `needle`; returns it.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "no stdout line containing {needle:?}; got:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn count_lines(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    pub fn client(&self) -> Client {
        let mut c = Client::connect(self.addr);
        c.auth(PASSWORD).expect("authenticates");
        c
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking RCON client for tests.
pub struct Client {
    pub stream: TcpStream,
    decoder: PacketDecoder,
    next_id: i32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream,
            decoder: PacketDecoder::new(64 * 1024 * 1024),
            next_id: 1,
        }
    }

    pub fn send(&mut self, id: i32, kind: i32, body: &[u8]) {
        self.stream
            .write_all(
                &Packet::new(id, kind, body)
                    .to_bytes()
                    .expect("a test packet fits"),
            )
            .expect("writes");
    }

    /// Next packet, or None on EOF / timeout.
    pub fn read(&mut self) -> Option<Packet> {
        let mut buf = [0u8; 65536];
        loop {
            if let Ok(Some(p)) = self.decoder.next_packet() {
                return Some(p);
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.push(&buf[..n]),
            }
        }
    }

    /// Ok(true) on success, Ok(false) when refused.
    pub fn auth(&mut self, password: &str) -> Result<bool, String> {
        self.send(77, SERVERDATA_AUTH, password.as_bytes());
        let p = self.read().ok_or("no auth answer")?;
        if p.kind != SERVERDATA_AUTH_RESPONSE {
            return Err(format!("auth answered with type {}", p.kind));
        }
        Ok(p.id == 77)
    }

    pub fn command(&mut self, text: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        self.send(id, SERVERDATA_EXECCOMMAND, text.as_bytes());
        let p = self.read().expect("a reply");
        assert_eq!(p.id, id, "reply for the command just sent");
        assert_eq!(p.kind, SERVERDATA_RESPONSE_VALUE);
        String::from_utf8(p.body).expect("utf-8 reply")
    }
}
