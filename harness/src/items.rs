//! Item counts, the ledger of what each player gained and spent, and the audit's arithmetic.

use std::collections::BTreeMap;

use serde_json::Value;

/// Items by (name, quality); quality `normal` when the data names none.
pub type Counts = BTreeMap<(String, String), i64>;

/// Adds `n` of `item` (`quality`) to `counts`, dropping entries that reach 0.
pub fn add(counts: &mut Counts, item: &str, quality: &str, n: i64) {
    let key = (item.to_string(), quality.to_string());
    let v = counts.entry(key.clone()).or_insert(0);
    *v += n;
    if *v == 0 {
        counts.remove(&key);
    }
}

/// `a + sign * b`.
pub(crate) fn merge(a: &mut Counts, b: &Counts, sign: i64) {
    for ((item, quality), n) in b {
        add(a, item, quality, sign * n);
    }
}

/// The total number of items.
pub fn total(counts: &Counts) -> i64 {
    counts.values().sum()
}

/// The items of a PLAYER_DATA document of either format: the five character inventories and
/// the cursor, the same places `/emulator items` counts (equipment inside armor grids and the
/// contents of items with an inventory are not counted, by either side), and the crafting
/// queue's ingredients and the stacks a game could not place, which are the player's items too
/// (PLAYER_DATA.md).
pub fn count_data(json: &[u8]) -> anyhow::Result<Counts> {
    let data = invsync_player_data::PlayerData::from_json(json)?;
    let mut counts = Counts::new();
    for s in data.stacks() {
        let quality = s.quality.as_deref().unwrap_or("normal");
        add(&mut counts, &s.name, quality, i64::from(s.count));
    }
    Ok(counts)
}

/// `{"item":{"quality":n}}` (the shape of `/emulator items` and `player_state`'s `kept`).
pub(crate) fn parse_counts(v: &Value) -> Counts {
    let mut counts = Counts::new();
    for (item, quals) in v.as_object().into_iter().flatten() {
        for (quality, n) in quals.as_object().into_iter().flatten() {
            add(&mut counts, item, quality, n.as_i64().unwrap_or(0));
        }
    }
    counts
}

/// The same shape back as JSON.
pub(crate) fn counts_json(counts: &Counts) -> Value {
    let mut out = serde_json::Map::new();
    for ((item, quality), n) in counts {
        let entry = out
            .entry(item.clone())
            .or_insert_with(|| Value::Object(Default::default()));
        entry[quality.as_str()] = Value::from(*n);
    }
    Value::Object(out)
}

/// Every item each player gained (seeded data, `give`) or spent (`take`).
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    players: BTreeMap<String, Counts>,
}

impl Ledger {
    /// `player` gained `n` of `item` at `quality`.
    pub(crate) fn gain(&mut self, player: &str, item: &str, quality: &str, n: i64) {
        add(
            self.players.entry(player.to_string()).or_default(),
            item,
            quality,
            n,
        );
    }

    /// Adds a whole inventory (an imported PLAYER_DATA).
    pub(crate) fn gain_all(&mut self, player: &str, counts: &Counts) {
        merge(
            self.players.entry(player.to_string()).or_default(),
            counts,
            1,
        );
    }

    /// What `player` should own now.
    pub fn expected(&self, player: &str) -> Counts {
        self.players.get(player).cloned().unwrap_or_default()
    }

    /// The players the ledger has seen, by name.
    pub fn players(&self) -> impl Iterator<Item = &String> {
        self.players.keys()
    }
}

/// One player's audit: the ledger against what the cluster holds.
#[derive(Debug, Clone)]
pub struct PlayerAudit {
    /// The player.
    pub player: String,
    /// Where the items were found: `store` (nobody holds the player) or the holding server.
    pub source: String,
    /// What the ledger says the player owns.
    pub expected: Counts,
    /// What the cluster holds for the player.
    pub found: Counts,
    /// Items the ledger has and the cluster does not.
    pub lost: i64,
    /// Items the cluster has beyond the ledger.
    pub duplicated: i64,
    /// Conflict snapshots counted (their difference from the generation they were built on).
    pub conflicts: usize,
}

impl PlayerAudit {
    /// The audit of `player`: what differs between `found` and `expected`.
    pub(crate) fn new(
        player: &str,
        source: String,
        expected: Counts,
        found: Counts,
        conflicts: usize,
    ) -> PlayerAudit {
        let mut diff = found.clone();
        merge(&mut diff, &expected, -1);
        let duplicated = diff.values().filter(|n| **n > 0).sum();
        let lost = -diff.values().filter(|n| **n < 0).sum::<i64>();
        PlayerAudit {
            player: player.to_string(),
            source,
            expected,
            found,
            lost,
            duplicated,
            conflicts,
        }
    }

    /// Nothing lost, nothing duplicated.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0
    }
}

/// The audit of every player.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// Every player of the ledger, by name.
    pub players: Vec<PlayerAudit>,
}

impl Audit {
    /// Items lost, over every player.
    pub fn lost(&self) -> i64 {
        self.players.iter().map(|p| p.lost).sum()
    }
    /// Items duplicated, over every player.
    pub fn duplicated(&self) -> i64 {
        self.players.iter().map(|p| p.duplicated).sum()
    }
    /// Nothing lost or duplicated for any player.
    pub fn ok(&self) -> bool {
        self.players.iter().all(PlayerAudit::ok)
    }
    /// A line per player that is off, for assertion messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for p in &self.players {
            out += &format!(
                "{}: {} expected {} found {} (lost {}, duplicated {}, conflicts {})\n",
                p.player,
                p.source,
                total(&p.expected),
                total(&p.found),
                p.lost,
                p.duplicated,
                p.conflicts
            );
            if !p.ok() {
                let mut diff = p.found.clone();
                merge(&mut diff, &p.expected, -1);
                out += &format!("  found - expected: {}\n", counts_json(&diff));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_item_lists_count_alike() {
        let data = br#"{"format":1,"name":"a","inventories":{"main":[{"slot":1,"name":"iron-plate","count":5},{"slot":2,"name":"iron-plate","count":3,"quality":"rare"}],"guns":[],"ammo":[{"slot":1,"name":"rocket","count":2}]},"cursor":{"name":"iron-plate","count":1}}"#;
        let c = count_data(data).unwrap();
        // the same stacks in format 2: a run, an array with a quality
        let dense = br#"{"format":2,"name":"a","inventories":{"main":[[1,"iron-plate",5],[2,"iron-plate",3,1,"rare"]],"ammo":[[1,"rocket",1,2]]},"cursor":[0,"iron-plate",1]}"#;
        let mut twice = count_data(dense).unwrap();
        merge(&mut twice, &c, 1);
        assert_eq!(
            twice,
            parse_counts(&serde_json::json!(
            {"iron-plate": {"normal": 12, "rare": 6}, "rocket": {"normal": 4}}))
        );
        let items: Value =
            serde_json::json!({"iron-plate": {"normal": 6, "rare": 3}, "rocket": {"normal": 2}});
        assert_eq!(c, parse_counts(&items));
        assert_eq!(counts_json(&c), items);
        let mut ledger = Ledger::default();
        ledger.gain_all("a", &c);
        ledger.gain("a", "rocket", "normal", -2);
        let audit = PlayerAudit::new("a", "store".into(), ledger.expected("a"), c, 0);
        assert_eq!((audit.lost, audit.duplicated), (0, 2));
    }
}
