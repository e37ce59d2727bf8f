//! What the sync tests share: the three stores behind one [`Backend`] trait (with a way to
//! damage their records directly), real `redis-server` processes on loopback ports, and a
//! manual clock.
//!
//! Redis: the shared server is the one `tests/run.sh` starts and names in `INVSYNC_TEST_REDIS`;
//! without it a test starts its own `redis-server`. Without `redis-server` at all, a test that
//! needs it prints a notice and passes, unless `CI=true` or `INVSYNC_REQUIRE_PEERS=1`, where it
//! fails. Each test uses its own key prefix (`RedisOptions::cluster`), so tests sharing one
//! server never see each other's keys.

#![allow(dead_code)] // each test binary uses a part

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use invsync_sync::{
    Clock, MemoryStore, PlayerStore, RedisOptions, RedisStore, Settings, SqliteStore, Store,
};

/// The manual clock's start: a plausible cluster time, far from 0.
pub const T0: u64 = 1_700_000_000_000;

#[allow(unused_imports)] // each test binary uses a part
pub use invsync_harness::{
    RedisServer, find_program as program, free_port, peers_missing as missing,
    peers_required as required,
};

/// A key prefix no other test (or earlier run) uses.
pub fn unique(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Starts a `redis-server` of `test`'s own in `dir` with `extra` arguments; `None` (with the
/// notice or failure of [`missing`]) when `redis-server` is not installed.
pub fn start_redis(test: &str, dir: &Path, extra: &[&str]) -> Option<RedisServer> {
    if program("redis-server").is_none() {
        missing(test, "redis-server is not installed");
        return None;
    }
    Some(RedisServer::start_with(dir, extra).unwrap_or_else(|e| panic!("{test}: {e:#}")))
}

/// A Redis for one test: the shared server of `tests/run.sh`, or one of its own.
pub struct TestRedis {
    /// The server's URL.
    pub url: String,
    /// This test's key prefix.
    pub cluster: String,
    _own: Option<(RedisServer, tempfile::TempDir)>,
}

impl TestRedis {
    /// The Redis this test uses, or `None` (skipped with a notice) when there is none.
    pub fn get(test: &str) -> Option<TestRedis> {
        if let Ok(url) = std::env::var("INVSYNC_TEST_REDIS")
            && !url.is_empty()
        {
            return Some(TestRedis {
                url,
                cluster: unique(test),
                _own: None,
            });
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let server = start_redis(test, dir.path(), &[])?;
        Some(TestRedis {
            url: server.url(),
            cluster: unique(test),
            _own: Some((server, dir)),
        })
    }

    /// The options with this test's prefix.
    pub fn options(&self) -> RedisOptions {
        RedisOptions {
            cluster: self.cluster.clone(),
            ..RedisOptions::default()
        }
    }

    /// A new store (its own connections) over this test's keys.
    pub fn store(&self) -> RedisStore {
        RedisStore::open(&self.url, self.options()).expect("open the Redis store")
    }

    /// A plain connection, for damaging records.
    pub fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection())
            .expect("connect to Redis")
    }

    /// The key of a player's head (the store's layout, for a name that needs no escaping).
    pub fn head_key(&self, player: &str) -> String {
        format!("{}:p:{{{player}}}:head", self.cluster)
    }

    /// The key of a snapshot blob.
    pub fn blob_key(&self, player: &str, snapshot: u64) -> String {
        format!("{}:p:{{{player}}}:s:{snapshot}", self.cluster)
    }
}

// the three stores behind one interface ---------------------------------------------------

/// One of the three stores, with a back door to damage its records as a bad disk would.
pub trait Backend {
    /// "memory", "sqlite" or "redis".
    fn name(&self) -> &'static str;
    /// A store over this backend's data (a new connection for SQLite and Redis).
    fn store(&self) -> Arc<dyn Store>;
    /// Replaces a player's head record bytes, bypassing every check.
    fn overwrite_head(&self, player: &str, bytes: &[u8]);
    /// Replaces a snapshot blob's bytes, bypassing every check.
    fn overwrite_blob(&self, player: &str, snapshot: u64, bytes: &[u8]);
    /// Replaces a head's revision with `text`; false where the store cannot hold such a
    /// thing (in memory it is typed).
    fn overwrite_revision(&self, player: &str, text: &str) -> bool;
}

/// The in-memory store.
pub struct Memory(pub Arc<MemoryStore>);

impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn store(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
    fn overwrite_head(&self, player: &str, bytes: &[u8]) {
        self.0.corrupt_head(player, bytes.to_vec());
    }
    fn overwrite_blob(&self, player: &str, snapshot: u64, bytes: &[u8]) {
        self.0.corrupt_blob(player, snapshot, bytes.to_vec());
    }
    fn overwrite_revision(&self, _player: &str, _text: &str) -> bool {
        false
    }
}

/// A SQLite file in a temp dir.
pub struct Sqlite {
    /// The file.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    /// A new, empty file.
    pub fn new() -> Sqlite {
        let dir = tempfile::tempdir().expect("temp dir");
        Sqlite {
            path: dir.path().join("invsync.db"),
            _dir: dir,
        }
    }

    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("open the SQLite file")
    }
}

impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).expect("open the SQLite store"))
    }
    fn overwrite_head(&self, player: &str, bytes: &[u8]) {
        let n = self
            .raw()
            .execute(
                "UPDATE players SET head = ?1 WHERE name = ?2",
                rusqlite::params![bytes, player],
            )
            .expect("damage the head");
        assert_eq!(n, 1, "no head row for {player}");
    }
    fn overwrite_blob(&self, player: &str, snapshot: u64, bytes: &[u8]) {
        let n = self
            .raw()
            .execute(
                "UPDATE snapshots SET blob = ?1 WHERE player = ?2 AND id = ?3",
                rusqlite::params![bytes, player, snapshot as i64],
            )
            .expect("damage the blob");
        assert_eq!(n, 1, "no blob row for {player}/{snapshot}");
    }
    fn overwrite_revision(&self, player: &str, text: &str) -> bool {
        let n = self
            .raw()
            .execute(
                "UPDATE players SET revision = ?1 WHERE name = ?2",
                rusqlite::params![text, player],
            )
            .expect("damage the revision");
        n == 1
    }
}

/// A real Redis, under this test's own key prefix.
pub struct Redis(pub TestRedis);

impl Backend for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.0.store())
    }
    fn overwrite_head(&self, player: &str, bytes: &[u8]) {
        let key = self.0.head_key(player);
        let mut c = self.0.raw();
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query(&mut c)
            .expect("EXISTS");
        assert!(exists, "no head key {key}");
        let _: i64 = redis::cmd("HSET")
            .arg(&key)
            .arg("head")
            .arg(bytes)
            .query(&mut c)
            .expect("damage the head");
    }
    fn overwrite_blob(&self, player: &str, snapshot: u64, bytes: &[u8]) {
        let key = self.0.blob_key(player, snapshot);
        let mut c = self.0.raw();
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query(&mut c)
            .expect("EXISTS");
        assert!(exists, "no blob key {key}");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(bytes)
            .query(&mut c)
            .expect("damage the blob");
    }
    fn overwrite_revision(&self, player: &str, text: &str) -> bool {
        let key = self.0.head_key(player);
        let n: i64 = redis::cmd("HSET")
            .arg(&key)
            .arg("rev")
            .arg(text)
            .query(&mut self.0.raw())
            .expect("damage the revision");
        n == 0 // the field existed and was replaced
    }
}

/// The in-memory backend.
pub fn memory(_test: &str) -> Option<Box<dyn Backend>> {
    Some(Box::new(Memory(Arc::new(MemoryStore::new()))))
}

/// A SQLite backend in a new temp file.
pub fn sqlite(_test: &str) -> Option<Box<dyn Backend>> {
    Some(Box::new(Sqlite::new()))
}

/// A Redis backend, or `None` when the test is skipped.
pub fn redis(test: &str) -> Option<Box<dyn Backend>> {
    Some(Box::new(Redis(TestRedis::get(test)?)))
}

/// The sync over `store` on a manual clock at [`T0`], and the handle that moves the clock.
pub fn on_manual_clock(store: Arc<dyn Store>, settings: Settings) -> (PlayerStore, Arc<AtomicU64>) {
    let (clock, at) = Clock::manual(T0);
    (PlayerStore::new(store, settings).with_clock(clock), at)
}

/// Some PLAYER_DATA JSON, distinct per `tag`: the count of slot 1 (0 makes it data a game
/// would refuse); the rest, a run of plates and a blueprint, is the same for every tag, so the
/// data of one tag is a small delta against another's.
pub fn player_data(player: &str, tag: u64) -> Vec<u8> {
    let export = format!("0eNq{}", "AbCd".repeat(60));
    format!(
        r#"{{"format":2,"name":"{player}","inventories":{{"main":[[1,"iron-plate",{tag}],[2,"copper-plate",100,20],{{"s":30,"n":"blueprint","c":1,"x":"{export}"}}]}}}}"#
    )
    .into_bytes()
}

// a test binary as its own child process ----------------------------------------------------

/// The environment variable that tells a child run of a test binary which role to play.
pub const ROLE: &str = "INVSYNC_SYNC_TEST_ROLE";

/// Runs this test binary again as a child that runs only the test `entry` (which plays the
/// role named by `env`), with piped stdin and stdout.
pub fn spawn_role(entry: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args([entry, "--exact", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn the test binary as a child")
}

/// Reads the child's stdout lines until one starts with `prefix` (bounded by the child's
/// output: EOF ends it). Returns it, or `None` at EOF.
pub fn read_until(out: &mut BufReader<impl Read>, prefix: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.starts_with(prefix) {
            return Some(line.trim_end().to_string());
        }
    }
}

/// The role a child run plays (its environment), or `None` in a normal run.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// In a child role: the value of `key` from the parent.
pub fn arg(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("child role without {key}"))
}

/// In a child role: one line from the parent (the start signal).
pub fn wait_for_parent() {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .expect("read the start signal");
}
