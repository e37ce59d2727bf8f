//! The distributed store: Redis (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, `rediss://` for TLS),
//! for clusters whose hosts run on several machines.
//!
//! * Atomicity: a commit is one Lua script (compare the head's revision, write the head and
//!   the blobs, delete the pruned blobs), which Redis runs without interleaving.
//! * Redis Cluster: one player's keys share a hash tag (`{...}` around the escaped player
//!   name), so the script's keys live in one slot. Keys start with the cluster name.
//! * Durability: a reply comes after Redis has written the change to its append-only file;
//!   with `appendonly yes` and `appendfsync always` that is on disk. [`RedisStore::open`]
//!   checks the two settings and warns when they are otherwise (a managed Redis may not let
//!   it look). With [`RedisOptions::replicas`] > 0 each commit also waits (`WAIT`) for that
//!   many replicas, and fails as unavailable if they do not confirm in time; the caller then
//!   does not answer the game, which sends the upload again (an idempotent repeat).
//! * Clock: Redis `TIME`, one clock for every host.
//! * No password in any message: URLs are shown redacted.

use std::sync::Mutex;
use std::time::Duration;

use crate::open::redact_url;
use crate::record::Millis;
use crate::store::{Commit, Heartbeat, Revision, Store, StoreError, StoredHead};

/// Options of a Redis store beyond its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prefix of every key: the cluster's name (no `{`, `}` or whitespace). Default `invsync`.
    pub cluster: String,
    /// Replicas each commit waits for (`WAIT`); 0 (the default) waits for none.
    pub replicas: u32,
    /// How long a commit waits for the replicas.
    pub replica_timeout: Duration,
    /// Connect, read and write timeout of each connection.
    pub timeout: Duration,
    /// For `rediss://`: a PEM file of the certificate authorities to trust instead of the
    /// built-in web roots (a private CA, as most self-hosted Redis TLS setups use).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            cluster: "invsync".to_string(),
            replicas: 0,
            replica_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }
}

/// Compare-and-set of a player's head with its blobs.
/// KEYS: head, the blobs to put, the blobs to delete.
/// ARGV: expected revision ("" for none), head bytes, number of blobs to put, the blobs.
const COMMIT_SCRIPT: &str = r"
local cur = redis.call('HGET', KEYS[1], 'rev')
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
local nextrev = (cur and tonumber(cur) or 0) + 1
redis.call('HSET', KEYS[1], 'rev', nextrev, 'head', ARGV[2])
local np = tonumber(ARGV[3])
for i = 1, np do redis.call('SET', KEYS[1 + i], ARGV[3 + i]) end
for i = 2 + np, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
";

/// A heartbeat never moves back: KEYS[1] the servers hash, ARGV server id and time.
const HEARTBEAT_SCRIPT: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
";

/// A store in a Redis server.
pub struct RedisStore {
    client: redis::Client,
    shown: String,
    options: RedisOptions,
    idle: Mutex<Vec<redis::Connection>>,
    commit_script: redis::Script,
    heartbeat_script: redis::Script,
    warning: Option<String>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown)
            .field("options", &self.options)
            .finish()
    }
}

fn classify(shown: &str, e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::Unavailable(format!("Redis at {shown}: {e}"))
    } else {
        StoreError::Backend(format!("Redis at {shown}: {e}"))
    }
}

/// Escapes a player name for use inside a hash tag: `{`, `}`, `%` and control characters as
/// `%XX`, so that the tag covers the whole name.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '{' | '}' | '%') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape`].
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl RedisStore {
    /// Connects to the Redis server at `url` and checks its durability settings.
    pub fn open(url: &str, options: RedisOptions) -> Result<RedisStore, StoreError> {
        let shown = redact_url(url);
        if options.cluster.is_empty()
            || options
                .cluster
                .chars()
                .any(|c| matches!(c, '{' | '}') || c.is_whitespace() || c.is_control())
        {
            return Err(StoreError::Config(format!(
                "cluster name {:?} must be non-empty, without braces or whitespace",
                options.cluster
            )));
        }
        if url.starts_with("rediss://") {
            // rustls needs a process-wide crypto provider; another part may have installed one.
            // ring, not aws-lc-rs: it builds with the C compiler alone (no cmake). Its provider
            // lacks post-quantum key exchange, hence the deprecation.
            #[allow(deprecated)]
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match &options.ca_file {
            None => redis::Client::open(url),
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| StoreError::Config(format!("CA file {}: {e}", path.display())))?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(url, certs)
            }
        }
        .map_err(|e| StoreError::Config(format!("store URL {shown}: {e}")))?;
        let mut store = RedisStore {
            client,
            shown,
            options,
            idle: Mutex::new(Vec::new()),
            commit_script: redis::Script::new(COMMIT_SCRIPT),
            heartbeat_script: redis::Script::new(HEARTBEAT_SCRIPT),
            warning: None,
        };
        // the server must answer (and accept the password) before anything else: otherwise
        // the durability check below would take a refusal for "CONFIG is disabled" and open
        // a store that cannot serve a single request
        store.now()?;
        store.warning = store.check_durability()?;
        if let Some(w) = &store.warning {
            tracing::warn!(store = %store.shown, "{w}");
        }
        Ok(store)
    }

    /// What is wrong with the server's durability settings, if anything (checked at open).
    pub fn durability_warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    fn check_durability(&self) -> Result<Option<String>, StoreError> {
        let (aof, fsync): (Vec<String>, Vec<String>) = self
            .with(|c| {
                let aof = redis::cmd("CONFIG").arg("GET").arg("appendonly").query(c)?;
                let fsync = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("appendfsync")
                    .query(c)?;
                Ok((aof, fsync))
            })
            .or_else(|e| match e {
                StoreError::Backend(m) => {
                    // CONFIG is often disabled on managed servers: say we could not check
                    Ok((vec![String::new(), format!("unknown ({m})")], vec![]))
                }
                other => Err(other),
            })?;
        let aof = aof.get(1).cloned().unwrap_or_default();
        let fsync = fsync.get(1).cloned().unwrap_or_default();
        if aof == "yes" && fsync == "always" {
            Ok(None)
        } else {
            Ok(Some(format!(
                "Redis at {} is not configured to make every write durable before it answers \
                 (appendonly {aof:?}, appendfsync {fsync:?}; need yes and always): an answered \
                 upload can be lost if the server dies",
                self.shown
            )))
        }
    }

    /// Runs `f` on a pooled connection; a connection that failed is not returned to the pool.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = self
                    .client
                    .get_connection_with_timeout(self.options.timeout)
                    .map_err(|e| classify(&self.shown, e))?;
                c.set_read_timeout(Some(self.options.timeout))
                    .and_then(|()| c.set_write_timeout(Some(self.options.timeout)))
                    .map_err(|e| classify(&self.shown, e))?;
                c
            }
        };
        match f(&mut conn) {
            Ok(v) => {
                self.idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(conn);
                Ok(v)
            }
            Err(e) => Err(classify(&self.shown, e)),
        }
    }

    fn player_key(&self, player: &str) -> String {
        format!("{}:p:{{{}}}", self.options.cluster, escape(player))
    }

    fn head_key(&self, player: &str) -> String {
        format!("{}:head", self.player_key(player))
    }

    fn blob_key(&self, player: &str, id: u64) -> String {
        format!("{}:s:{id}", self.player_key(player))
    }

    fn players_key(&self) -> String {
        format!("{}:players", self.options.cluster)
    }

    fn servers_key(&self) -> String {
        format!("{}:servers", self.options.cluster)
    }
}

impl Store for RedisStore {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn now(&self) -> Result<Millis, StoreError> {
        let (secs, micros): (u64, u64) = self.with(|c| redis::cmd("TIME").query(c))?;
        Ok(secs * 1000 + micros / 1000)
    }

    fn load(&self, player: &str) -> Result<Option<StoredHead>, StoreError> {
        let key = self.head_key(player);
        let (rev, head): (Option<Vec<u8>>, Option<Vec<u8>>) = self.with(|c| {
            redis::cmd("HMGET")
                .arg(&key)
                .arg("rev")
                .arg("head")
                .query(c)
        })?;
        match (rev, head) {
            (None, None) => Ok(None),
            (Some(rev), Some(bytes)) => {
                match std::str::from_utf8(&rev).ok().and_then(|r| r.parse().ok()) {
                    Some(revision) => Ok(Some(StoredHead { revision, bytes })),
                    // damaged like any other part of the record: reported by player
                    None => Err(crate::record::RecordError::CorruptHead {
                        player: player.to_string(),
                        problem: format!(
                            "revision {:?} is not a number",
                            String::from_utf8_lossy(&rev)
                        ),
                    }
                    .into()),
                }
            }
            _ => Err(crate::record::RecordError::CorruptHead {
                player: player.to_string(),
                problem: "the head hash lacks its revision or its record".into(),
            }
            .into()),
        }
    }

    fn commit(
        &self,
        player: &str,
        expected: Option<Revision>,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let players = self.players_key();
        // listed first (idempotent), so that `players` never misses one that has a record
        self.with(|c| {
            redis::cmd("SADD")
                .arg(&players)
                .arg(escape(player))
                .query::<i64>(c)
        })?;
        let mut inv = self.commit_script.prepare_invoke();
        inv.key(self.head_key(player));
        for (id, _) in &commit.put {
            inv.key(self.blob_key(player, *id));
        }
        for id in &commit.delete {
            inv.key(self.blob_key(player, *id));
        }
        inv.arg(expected.map(|r| r.to_string()).unwrap_or_default())
            .arg(&commit.head[..])
            .arg(commit.put.len());
        for (_, blob) in &commit.put {
            inv.arg(&blob[..]);
        }
        let written: i64 = self.with(|c| inv.invoke(c))?;
        if written == 1 && self.options.replicas > 0 {
            let acked: u64 = self.with(|c| {
                redis::cmd("WAIT")
                    .arg(self.options.replicas)
                    .arg(self.options.replica_timeout.as_millis() as u64)
                    .query(c)
            })?;
            if acked < u64::from(self.options.replicas) {
                return Err(StoreError::Unavailable(format!(
                    "Redis at {}: written, but only {acked} of {} replicas confirmed in time",
                    self.shown, self.options.replicas
                )));
            }
        }
        Ok(written == 1)
    }

    fn blob(&self, player: &str, snapshot: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.blob_key(player, snapshot);
        self.with(|c| redis::cmd("GET").arg(&key).query(c))
    }

    fn players(&self) -> Result<Vec<String>, StoreError> {
        let key = self.players_key();
        let raw: Vec<String> = self.with(|c| redis::cmd("SMEMBERS").arg(&key).query(c))?;
        let mut out = Vec::with_capacity(raw.len());
        for r in raw {
            let name = unescape(&r).ok_or_else(|| {
                StoreError::Backend(format!("player list holds an undecodable name {r:?}"))
            })?;
            // listed before its first commit; only players with a record count (a damaged
            // one too: it is listed, so that an admin sees it)
            let head = self.head_key(&name);
            let exists: bool = self.with(|c| redis::cmd("EXISTS").arg(&head).query(c))?;
            if exists {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn heartbeat(&self, server: &str, at: Millis) -> Result<(), StoreError> {
        let key = self.servers_key();
        self.with(|c| {
            self.heartbeat_script
                .key(&key)
                .arg(server)
                .arg(at)
                .invoke::<i64>(c)
        })?;
        Ok(())
    }

    fn heartbeat_of(&self, server: &str) -> Result<Option<Millis>, StoreError> {
        let key = self.servers_key();
        self.with(|c| redis::cmd("HGET").arg(&key).arg(server).query(c))
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        let key = self.servers_key();
        let all: Vec<(String, u64)> = self.with(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
        let mut out: Vec<Heartbeat> = all
            .into_iter()
            .map(|(server, at)| Heartbeat { server, at })
            .collect();
        out.sort_by(|a, b| a.server.cmp(&b.server));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escape_into_one_hash_tag_and_back() {
        for name in ["alice", "a{b}c", "%41", "x}y{", "tab\there", "ünï"] {
            let e = escape(name);
            assert!(!e.contains('{') && !e.contains('}'), "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(name));
        }
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%zz"), None);
    }
}
