//! A `redis-server` child on a loopback port (durable: append-only file, fsync always), for a
//! cluster whose store must be stopped and started again.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether a test that needs an outside program (a Python or Node peer, `redis-server`) must
/// fail rather than skip without it: `INVSYNC_REQUIRE_PEERS=1` (`tests/run.sh` sets it) or `CI`
/// `true` or `1`; any other value, or none, lets it pass with a notice. One rule for every suite.
pub fn required() -> bool {
    let set = |name: &str, values: &[&str]| {
        std::env::var(name).is_ok_and(|v| values.contains(&v.as_str()))
    };
    set("INVSYNC_REQUIRE_PEERS", &["1"]) || set("CI", &["true", "1"])
}

/// Reports that `test` cannot run because `what` is missing: panics when peers are
/// [`required`], else prints a notice straight to stderr (the test harness would hide an
/// `eprintln!` of a passing test) so the skip is visible.
pub fn missing(test: &str, what: &str) {
    if required() {
        panic!("{test}: {what}, and INVSYNC_REQUIRE_PEERS=1 (or CI) requires it");
    }
    let notice = format!(
        "NOTICE: skipping {test}: {what}; set INVSYNC_REQUIRE_PEERS=1 to make this a failure\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
}

/// `name` on the PATH.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A loopback port nobody listens on right now, below the kernel's range of ephemeral ports
/// (so that no outgoing connection takes it before it is used), never the same twice in one
/// process. Another process may still take it; callers that bind it fail loudly then.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    static N: AtomicU64 = AtomicU64::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 {
        (10_000u64, u64::from(low))
    } else {
        (u64::from(low), 65_535)
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 32);
    for _ in 0..1000 {
        let mut x = seed.wrapping_add(
            N.fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        x = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 29;
        let port = (from + x % (to - from)) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// A `redis-server` child with its own directory; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    /// Its loopback port.
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` in `dir` on a free port; an error when it is not installed or
    /// does not start.
    pub fn start(dir: &Path) -> anyhow::Result<RedisServer> {
        RedisServer::start_with(dir, &[])
    }

    /// [`RedisServer::start`] with `extra` arguments (a password, TLS ports...).
    pub fn start_with(dir: &Path, extra: &[&str]) -> anyhow::Result<RedisServer> {
        if program("redis-server").is_none() {
            anyhow::bail!("redis-server is not installed");
        }
        let mut last = String::new();
        for _ in 0..8 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: dir.to_path_buf(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        anyhow::bail!("redis-server did not start: {last}")
    }

    fn spawn(&mut self) -> Result<(), String> {
        // ready when its own log says so (not merely when something answers on the port: that
        // could be another server that took the port first) and it answers PING (-NOAUTH
        // counts)
        let log = self.dir.join("redis.log");
        let readies = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("Ready to accept connections")
                .count()
        };
        let before = readies();
        let mut child = Command::new("redis-server")
            .current_dir(&self.dir)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--daemonize", "no"])
            .args(["--logfile", "redis.log"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        for _ in 0..400 {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                return Err(format!(
                    "exited with {status} on port {}: {}",
                    self.port,
                    tail.join(" | ")
                ));
            }
            if readies() > before && ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("no answer on port {}", self.port))
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `kill -9`, and reaped.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (it reads its append-only file).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9();
        let mut last = String::new();
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("redis-server did not restart: {last}")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(s.read(&mut byte), Ok(1))
}
