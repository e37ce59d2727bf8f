//! The invariants of issue 13, checked over a running [`Cluster`]:
//!
//! 1. **ledger**: at a quiescent moment, each player's items counted once (the stored data when
//!    nobody holds the player, else the holder's live inventory; what every game keeps aside
//!    for them: temporary characters, overflow stashes, cursors; and what each pinned conflict
//!    snapshot changed against the generation it was built on) equal the ledger;
//! 2. **one player, one game**: at no polled moment do two servers have the same player
//!    `playing` (with a synced inventory; a temporary inventory is not synced);
//! 3. **generations**: a player's stored generation never decreases;
//! 4. **answered uploads**: every upload a host logged as stored (`upload stored`, logged after
//!    the commit returned and before the game is answered `uploaded`) is still the stored
//!    generation, or a later generation superseded it, and no other snapshot took its
//!    generation.
//!
//! [`Checker::fold_conflicts`] then ends the conflicts counted (unpinned, their difference
//! taken out of the ledger, as an admin who settled them), so that a long run's history can
//! be pruned without breaking the arithmetic.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;
use invsync_sync::{Cause, PlayerHead};

use crate::items::{self, Audit, Counts};
use crate::{Cluster, PlayerState};

/// An upload a host logged as stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Answered {
    pub server: String,
    pub player: String,
    pub generation: u64,
    pub epoch: u64,
    pub snapshot: u64,
}

/// `key=value` of a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Every `upload stored` (and `upload repeat`) line of the cluster's host logs.
pub(crate) fn answered_uploads(c: &Cluster) -> Vec<Answered> {
    let mut out = Vec::new();
    for n in &c.nodes {
        let text = std::fs::read_to_string(&n.log).unwrap_or_default();
        for line in text.lines() {
            if !(line.contains("upload stored") || line.contains("upload repeat")) {
                continue;
            }
            let num = |k: &str| field(line, k).and_then(|v| v.parse::<u64>().ok());
            if let (Some(player), Some(generation), Some(epoch), Some(snapshot)) = (
                field(line, "player"),
                num("generation"),
                num("epoch"),
                num("snapshot"),
            ) {
                out.push(Answered {
                    server: n.id.clone(),
                    player: player.trim_matches('"').to_string(),
                    generation,
                    epoch,
                    snapshot,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What goes wrong, in words, for an answered upload against the player's head.
pub(crate) fn answered_problem(a: &Answered, head: Option<&PlayerHead>) -> Option<String> {
    let Some(head) = head else {
        return Some(format!("{a:?}: the store has no record of the player"));
    };
    if head.generation < a.generation {
        return Some(format!(
            "{a:?}: answered uploaded, but the stored generation is {}",
            head.generation
        ));
    }
    if let Some(s) = head.snapshot(a.snapshot)
        && (s.generation != a.generation || s.epoch != a.epoch || s.cause == Cause::Conflict)
    {
        return Some(format!("{a:?}: snapshot {} is now {s:?}", a.snapshot));
    }
    if let Some(other) = head
        .history
        .iter()
        .find(|s| s.generation == a.generation && s.cause != Cause::Conflict && s.id != a.snapshot)
    {
        return Some(format!(
            "{a:?}: generation {} is stored as snapshot {other:?}",
            a.generation
        ));
    }
    if head.generation == a.generation && head.current != Some(a.snapshot) {
        return Some(format!(
            "{a:?}: the stored generation is {} but its current snapshot is {:?}",
            a.generation, head.current
        ));
    }
    None
}

/// The invariant checker of one run.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    /// The highest stored generation seen per player.
    pub generations: BTreeMap<String, u64>,
    /// Conflict snapshots counted and folded into the ledger so far.
    pub conflicts_folded: usize,
    /// Answered uploads checked so far (at the last check).
    pub uploads_checked: usize,
}

impl Checker {
    /// Invariant 3 for one head: the violation, if any.
    pub(crate) fn generation(&mut self, player: &str, head: Option<&PlayerHead>) -> Option<String> {
        let g = head.map_or(0, |h| h.generation);
        let last = self.generations.entry(player.to_string()).or_insert(0);
        if g < *last {
            return Some(format!(
                "generations: {player}'s stored generation went from {last} to {g}"
            ));
        }
        *last = g;
        None
    }

    /// Invariant 2 on states read from every node (`None`: a node not polled).
    pub(crate) fn one_game(
        ids: &[String],
        players: &[String],
        states: &[Option<Vec<PlayerState>>],
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (k, p) in players.iter().enumerate() {
            let playing: Vec<&str> = states
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let s = s.as_ref()?.get(k)?;
                    (s.state() == "playing").then_some(ids[i].as_str())
                })
                .collect();
            if playing.len() > 1 {
                out.push(format!(
                    "one player, one game: {p} is playing on {playing:?} at once"
                ));
            }
        }
        out
    }

    /// Invariants 1, 3 and 4 (call when every player is quiescent): the violations.
    pub(crate) async fn quiescent(
        &mut self,
        c: &mut Cluster,
    ) -> anyhow::Result<(Audit, Vec<String>)> {
        let mut violations = Vec::new();
        let players: Vec<String> = c.ledger.players().cloned().collect();
        let mut heads = BTreeMap::new();
        for p in &players {
            heads.insert(p.clone(), c.head(p).await?);
        }
        let mut audit = Audit::default();
        for p in &players {
            let a = c.audit_head(p, heads[p].as_ref(), true).await?;
            if !a.ok() {
                let mut diff = a.found.clone();
                items::merge(&mut diff, &a.expected, -1);
                violations.push(format!(
                    "ledger: {p} ({}): lost {}, duplicated {}; found - expected = {}",
                    a.source,
                    a.lost,
                    a.duplicated,
                    items::counts_json(&diff)
                ));
            }
            audit.players.push(a);
            if let Some(v) = self.generation(p, heads[p].as_ref()) {
                violations.push(v);
            }
        }
        let answered = answered_uploads(c);
        for a in &answered {
            let head = match heads.get(&a.player) {
                Some(h) => h.clone(),
                None => c.head(&a.player).await?,
            };
            if let Some(problem) = answered_problem(a, head.as_ref()) {
                violations.push(format!("answered uploads: {problem}"));
            }
        }
        self.uploads_checked = answered.len();
        Ok((audit, violations))
    }

    /// Ends every pinned conflict counted by the last audit: unpinned, and its difference taken
    /// out of the ledger. The number folded.
    pub(crate) async fn fold_conflicts(&mut self, c: &mut Cluster) -> anyhow::Result<usize> {
        let players: Vec<String> = c.ledger.players().cloned().collect();
        let mut n = 0;
        for p in players {
            let Some(head) = c.head(&p).await? else {
                continue;
            };
            for meta in pinned_conflicts(&head) {
                let delta = conflict_delta(c, &p, &head, meta.id, meta.generation).await?;
                let mut minus = Counts::new();
                items::merge(&mut minus, &delta, -1);
                c.ledger.gain_all(&p, &minus);
                let (pl, id) = (p.clone(), meta.id);
                c.store()
                    .set_pinned(&pl, id, false)
                    .map_err(|e| anyhow!("unpinning {pl} {id}: {e}"))?;
                n += 1;
            }
        }
        self.conflicts_folded += n;
        Ok(n)
    }
}

fn pinned_conflicts(head: &PlayerHead) -> Vec<invsync_sync::SnapshotMeta> {
    head.history
        .iter()
        .filter(|m| m.cause == Cause::Conflict && m.pinned)
        .cloned()
        .collect()
}

/// A conflict snapshot's items minus those of the generation it was built on (what the
/// refused upload added or took; the audit counts it beside the stored data).
pub(crate) async fn conflict_delta(
    c: &Cluster,
    player: &str,
    head: &PlayerHead,
    id: u64,
    generation: u64,
) -> anyhow::Result<Counts> {
    let mut delta = items::count_data(&c.export(player, Some(id)).await?)?;
    let base_generation = generation.saturating_sub(1);
    if base_generation > 0 {
        let base = head
            .history
            .iter()
            .find(|m| m.generation == base_generation && m.cause != Cause::Conflict)
            .ok_or_else(|| {
                anyhow!(
                    "{player}: conflict snapshot {id} was built on generation {base_generation}, which the history no longer has"
                )
            })?;
        let data = c.export(player, Some(base.id)).await?;
        items::merge(&mut delta, &items::count_data(&data)?, -1);
    }
    Ok(delta)
}

/// Polls every node in `poll` for `players`' states (a node that does not answer within
/// `timeout` is skipped) and returns invariant 2's violations.
pub(crate) async fn check_one_game(
    c: &mut Cluster,
    players: &[String],
    poll: &[bool],
    timeout: Duration,
) -> Vec<String> {
    let mut states = Vec::new();
    for (i, &on) in poll.iter().enumerate() {
        if on && c.nodes[i].running() {
            states.push(c.states(i, players, timeout).await.ok());
        } else {
            states.push(None);
        }
    }
    let ids: Vec<String> = c.nodes.iter().map(|n| n.id.clone()).collect();
    Checker::one_game(&ids, players, &states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_fields_are_read() {
        let line = "2025-01-01T00:00:00Z  INFO invsync::host::service: upload stored server=x-a player=ann generation=3 epoch=4 snapshot=7 bytes=100";
        assert_eq!(field(line, "player"), Some("ann"));
        assert_eq!(field(line, "epoch"), Some("4"));
        assert_eq!(field(line, "snapshot"), Some("7"));
    }
}
