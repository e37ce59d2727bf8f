//! The history of a run (issue 13): every operation, fault and check with its time since the
//! start, written as JSON lines when a run ends or an invariant breaks.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A driver step (join, leave, give, take).
    Op,
    /// A fault injected or ended.
    Fault,
    /// An invariant check and its outcome.
    Check,
    /// An invariant that broke.
    Violation,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Op => "op",
            Kind::Fault => "fault",
            Kind::Check => "check",
            Kind::Violation => "violation",
        }
    }
}

/// One entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Milliseconds since the run started.
    pub ms: u64,
    pub kind: Kind,
    pub text: String,
}

/// Every entry of a run, in order.
#[derive(Debug, Clone)]
pub(crate) struct History {
    start: Instant,
    pub seed: u64,
    pub entries: Vec<Entry>,
}

impl History {
    pub(crate) fn new(seed: u64) -> History {
        History {
            start: Instant::now(),
            seed,
            entries: Vec::new(),
        }
    }

    /// Adds an entry stamped now.
    pub(crate) fn push(&mut self, kind: Kind, text: impl Into<String>) {
        self.entries.push(Entry {
            ms: self.start.elapsed().as_millis() as u64,
            kind,
            text: text.into(),
        });
    }

    /// The entries as JSON lines (the first names the seed).
    pub(crate) fn to_lines(&self) -> String {
        let mut out = json!({"seed": self.seed, "entries": self.entries.len()}).to_string();
        out.push('\n');
        for e in &self.entries {
            let v: Value = json!({"ms": e.ms, "kind": e.kind.name(), "text": e.text});
            out += &v.to_string();
            out.push('\n');
        }
        out
    }

    /// Writes [`History::to_lines`] to `path`.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(self.to_lines().as_bytes())?;
        f.sync_all()
    }
}
