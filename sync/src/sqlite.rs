//! The embedded store: one SQLite file (`sqlite:PATH`), shared by the host processes of one
//! machine.
//!
//! * Durability: WAL journal with `synchronous=FULL`, so a commit is on disk when it returns.
//! * Several processes: every write is an immediate transaction (it takes the write lock
//!   first, so the revision it checks cannot change under it), and a busy file is waited for
//!   (`busy_timeout`) rather than failed.
//! * Clock: the machine's. Every process sharing the file runs on that machine, so they all
//!   read the same clock.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::record::Millis;
use crate::store::{Commit, Heartbeat, Revision, Store, StoreError, StoredHead, system_millis};

/// How long a write waits for another process's transaction before failing as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The schema this code writes; a file with another is refused.
const SCHEMA_VERSION: i64 = 1;

/// A store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("SQLite file busy: {e}"))
        }
        Some(rusqlite::ErrorCode::CannotOpen) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(format!("SQLite: {e}")),
    }
}

fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is over SQLite's range")))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| {
            StoreError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "SQLite file {} cannot use the WAL journal (got {mode})",
                path.display()
            )));
        }
        conn.execute_batch(
            "PRAGMA synchronous=FULL;
             PRAGMA foreign_keys=ON;
             CREATE TABLE IF NOT EXISTS invsync_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS players (
                 name TEXT PRIMARY KEY,
                 revision INTEGER NOT NULL,
                 head BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS snapshots (
                 player TEXT NOT NULL,
                 id INTEGER NOT NULL,
                 blob BLOB NOT NULL,
                 PRIMARY KEY (player, id));
             CREATE TABLE IF NOT EXISTS servers (
                 id TEXT PRIMARY KEY,
                 heartbeat INTEGER NOT NULL);
             INSERT OR IGNORE INTO invsync_meta (key, value) VALUES ('schema', 1);",
        )
        .map_err(|e| {
            let e = backend(e);
            StoreError::Config(format!("SQLite file {}: {e}", path.display()))
        })?;
        let schema: i64 = conn
            .query_row(
                "SELECT value FROM invsync_meta WHERE key = 'schema'",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if schema != SCHEMA_VERSION {
            return Err(StoreError::Config(format!(
                "SQLite file {} has invsync schema {schema}; this version reads {SCHEMA_VERSION}",
                path.display()
            )));
        }
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // a panic inside a transaction rolls it back when the Transaction drops
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn now(&self) -> Result<Millis, StoreError> {
        Ok(system_millis())
    }

    fn load(&self, player: &str) -> Result<Option<StoredHead>, StoreError> {
        use rusqlite::types::Value;
        let row: Option<(Value, Value)> = self
            .conn()
            .query_row(
                "SELECT revision, head FROM players WHERE name = ?1",
                params![player],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        // a damaged row is reported by player like any other damaged record
        match row {
            None => Ok(None),
            Some((Value::Integer(revision), Value::Blob(bytes))) if revision > 0 => {
                Ok(Some(StoredHead {
                    revision: revision as u64,
                    bytes,
                }))
            }
            Some((revision, head)) => Err(crate::record::RecordError::CorruptHead {
                player: player.to_string(),
                problem: format!(
                    "the row holds revision {revision:?} and a head of type {:?}",
                    head.data_type()
                ),
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
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT revision FROM players WHERE name = ?1",
                params![player],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        if current.map(|r| r as u64) != expected {
            return Ok(false);
        }
        let next = to_i64(expected.unwrap_or(0) + 1, "revision")?;
        tx.execute(
            "INSERT INTO players (name, revision, head) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, head = excluded.head",
            params![player, next, commit.head],
        )
        .map_err(backend)?;
        for (id, blob) in &commit.put {
            tx.execute(
                "INSERT OR REPLACE INTO snapshots (player, id, blob) VALUES (?1, ?2, ?3)",
                params![player, to_i64(*id, "snapshot id")?, blob],
            )
            .map_err(backend)?;
        }
        for id in &commit.delete {
            tx.execute(
                "DELETE FROM snapshots WHERE player = ?1 AND id = ?2",
                params![player, to_i64(*id, "snapshot id")?],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(true)
    }

    fn blob(&self, player: &str, snapshot: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .query_row(
                "SELECT blob FROM snapshots WHERE player = ?1 AND id = ?2",
                params![player, to_i64(snapshot, "snapshot id")?],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn players(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name FROM players ORDER BY name")
            .map_err(backend)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn heartbeat(&self, server: &str, at: Millis) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO servers (id, heartbeat) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET heartbeat = max(heartbeat, excluded.heartbeat)",
                params![server, to_i64(at, "time")?],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn heartbeat_of(&self, server: &str) -> Result<Option<Millis>, StoreError> {
        self.conn()
            .query_row(
                "SELECT heartbeat FROM servers WHERE id = ?1",
                params![server],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.map(|v| v as u64))
            .map_err(backend)
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, heartbeat FROM servers ORDER BY id")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Heartbeat {
                    server: r.get(0)?,
                    at: r.get::<_, i64>(1)? as u64,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }
}
