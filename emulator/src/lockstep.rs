//! Desync detection: comparing peers after each tick, and the report of a divergence.

use std::collections::BTreeMap;
use std::fmt;

use crate::instance::TickInput;
use crate::snapshot::{self, Snapshot};
use crate::world::World;

/// Most differing paths listed in a report.
pub(crate) const MAX_LISTED: usize = 40;

/// A divergence between the server and a peer (lockstep) or its reloaded copy (heavy mode).
#[derive(Debug, Clone)]
pub struct DesyncReport {
    /// The tick after which the states differed.
    pub tick: u64,
    /// Which comparison failed, e.g. `lockstep peer 2` or `heavy mode (save and reload)`.
    pub mode: String,
    /// The inputs of the last ticks, oldest first (the divergent tick last).
    pub inputs: Vec<TickInput>,
    /// `path: server=... other=...` lines.
    pub differences: Vec<String>,
}

impl fmt::Display for DesyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} diverged at tick {}", self.mode, self.tick)?;
        writeln!(f, "inputs of the preceding ticks:")?;
        for i in &self.inputs {
            let cmds: Vec<String> = i
                .commands
                .iter()
                .map(|c| {
                    let t: String = c.text.chars().take(120).collect();
                    format!("{t:?}")
                })
                .collect();
            writeln!(
                f,
                "  tick {}: actions {:?}; commands [{}]",
                i.tick,
                i.actions,
                cmds.join(", ")
            )?;
        }
        writeln!(f, "differences (server vs other):")?;
        for d in &self.differences {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

fn diff_maps(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, out: &mut Vec<String>) {
    let missing = "<absent>".to_string();
    for (k, va) in a {
        let vb = b.get(k).unwrap_or(&missing);
        if va != vb {
            out.push(format!("{k}: server={va} other={vb}"));
        }
    }
    for (k, vb) in b {
        if !a.contains_key(k) {
            out.push(format!("{k}: server={missing} other={vb}"));
        }
    }
}

fn flatten_json(v: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, e) in m {
                flatten_json(e, format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                flatten_json(e, format!("{path}[{i}]"), out);
            }
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

/// The differing paths of two states.
pub(crate) fn differences(server: (&Snapshot, &World), other: (&Snapshot, &World)) -> Vec<String> {
    let mut out = Vec::new();
    diff_maps(
        &snapshot::flatten(server.0),
        &snapshot::flatten(other.0),
        &mut out,
    );
    let mut wa = BTreeMap::new();
    let mut wb = BTreeMap::new();
    flatten_json(
        &serde_json::to_value(server.1).unwrap_or_default(),
        "world".into(),
        &mut wa,
    );
    flatten_json(
        &serde_json::to_value(other.1).unwrap_or_default(),
        "world".into(),
        &mut wb,
    );
    diff_maps(&wa, &wb, &mut out);
    if out.len() > MAX_LISTED {
        let more = out.len() - MAX_LISTED;
        out.truncate(MAX_LISTED);
        out.push(format!("... and {more} more"));
    }
    out
}
