//! Deltas for returning players (docs/PLAYER_DATA.md "Deltas", the `player_delta` message of
//! docs/PROTOCOL.md section 7): what changed in a player's inventories between the generation a
//! game holds (the base) and the stored one, so that a player whose big library did not change
//! is not sent it again.
//!
//! A [`Delta`] is `data`, the new data in full except that each inventory holds only the stacks
//! of the slots whose stack differs from the base's, and `cleared`, the slot ranges that hold a
//! stack in the base and none in the new data. [`apply`] rebuilds the new data from the base;
//! every bound of the delta is checked first ([`Delta::check`]), whatever the base.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::dense::{MAX_SLOT, MAX_STACKS};
use crate::document::{INVENTORIES, inventory, inventory_mut};
use crate::player::{Inventories, PlayerData, Stack};

/// Per inventory, the slot ranges `(from, to)` (inclusive) a delta clears: ascending, apart
/// (not overlapping, not adjacent), within 1..=65535.
pub type Cleared = Inventories<(u32, u32)>;

/// What changed from a base to a new [`PlayerData`] (docs/PLAYER_DATA.md "Deltas").
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    /// The slots that hold a stack in the base and none in the new data.
    pub cleared: Cleared,
    /// The new data, except that its inventories hold only the stacks that differ from the
    /// base's at their slot (changed or added).
    pub data: PlayerData,
}

/// A delta that cannot be applied: where and why (`cleared.main[2]: ...`,
/// `data.inventories.ammo: slot 3 ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaError(String);

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeltaError {}

fn fail<T>(why: String) -> Result<T, DeltaError> {
    Err(DeltaError(why))
}

/// The delta that turns `base` into `new`: `apply(base, &diff(base, new)) == new` for data
/// within the bounds of PLAYER_DATA.md (what [`PlayerData::from_json`] gives).
pub fn diff(base: &PlayerData, new: &PlayerData) -> Delta {
    let mut data = new.clone();
    let mut cleared = Cleared::default();
    for name in INVENTORIES {
        let before = by_slot(inventory(&base.inventories, name));
        let now = inventory(&new.inventories, name);
        let changed = now
            .iter()
            .filter(|s| before.get(&slot_of(s)).copied() != Some(*s))
            .cloned()
            .collect();
        *inventory_mut(&mut data.inventories, name) = changed;
        let kept: BTreeSet<u32> = now.iter().map(slot_of).collect();
        let gone = before.keys().filter(|s| **s != 0 && !kept.contains(s));
        *inventory_mut(&mut cleared, name) = ranges(gone.copied());
    }
    Delta { cleared, data }
}

/// The new data `delta` stands for on `base`: for each inventory the base's stacks, minus the
/// cleared slots, with the delta's stacks at their slots; every other member the delta's.
pub fn apply(base: &PlayerData, delta: &Delta) -> Result<PlayerData, DeltaError> {
    delta.check()?;
    let mut out = delta.data.clone();
    for name in INVENTORIES {
        let mut slots = by_slot(inventory(&base.inventories, name));
        for &(from, to) in inventory(&delta.cleared, name) {
            // keys from..=to cut out: `to + 1` is at most 65536
            let mut tail = slots.split_off(&from);
            slots.append(&mut tail.split_off(&(to + 1)));
        }
        for s in inventory(&delta.data.inventories, name) {
            slots.insert(slot_of(s), s);
        }
        *inventory_mut(&mut out.inventories, name) = slots.into_values().cloned().collect();
    }
    let total = out.stacks().map(expanded).fold(0, u64::saturating_add);
    if total > MAX_STACKS {
        return fail(format!(
            "the result holds more than {MAX_STACKS} stacks ({total})"
        ));
    }
    Ok(out)
}

impl Delta {
    /// Reads the `cleared` and `data` members of a JSON object (a `player_delta` message is
    /// one; its other members are not read), checked as [`Delta::check`] does. `data` must be
    /// format 2.
    pub fn from_json(bytes: &[u8]) -> Result<Delta, DeltaError> {
        let Ok(Value::Object(mut doc)) = serde_json::from_slice(bytes) else {
            return fail("a delta is a JSON object with 'cleared' and 'data'".into());
        };
        let cleared = read_cleared(doc.remove("cleared"))?;
        let data = match doc.remove("data") {
            Some(data @ Value::Object(_)) => data,
            _ => return fail("data: missing, or not an object".into()),
        };
        match data.get("format") {
            Some(f) if f.as_u64() == Some(2) => {}
            Some(f) => return fail(format!("data: format {f}, a delta's data is format 2")),
            None => return fail("data: player data without a format".into()),
        }
        let data = PlayerData::from_json(data.to_string().as_bytes())
            .map_err(|e| DeltaError(format!("data: {e}")))?;
        let delta = Delta { cleared, data };
        delta.check()?;
        Ok(delta)
    }

    /// `{"cleared":...,"data":...}`, as [`Delta::cleared_json`] and [`PlayerData::to_json`]
    /// write them.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"cleared":{},"data":{}}}"#,
            self.cleared_json(),
            self.data.to_json()
        )
    }

    /// The `cleared` member: an object with the inventories that clear something, in the order
    /// main, guns, ammo, armor, trash, each a list of `[from, to]`.
    pub fn cleared_json(&self) -> String {
        let members: Vec<String> = INVENTORIES
            .iter()
            .map(|name| (name, inventory(&self.cleared, name)))
            .filter(|(_, ranges)| !ranges.is_empty())
            .map(|(name, ranges)| {
                let list = serde_json::to_string(ranges).expect("pairs of numbers serialize");
                format!(r#""{name}":{list}"#)
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    /// Why a game would not write this delta in place over `base` (PLAYER_DATA.md "Deltas",
    /// written in place), or `None` when it would: the armor changes (a worn armor's bonus
    /// slots move the main inventory's), the inventory slot bonus shrinks (slots with stacks
    /// would go), or a crafting queue is in the base or the new data (its ingredients live in
    /// the inventory). The host sends the full data instead, which the game would ask for.
    pub fn not_in_place(&self, base: &PlayerData) -> Option<&'static str> {
        if !self.data.inventories.armor.is_empty() || !self.cleared.armor.is_empty() {
            return Some("the armor changes");
        }
        let slots = |p: &PlayerData| {
            p.bonuses
                .get("character_inventory_slots_bonus")
                .copied()
                .unwrap_or(0.0)
        };
        if slots(&self.data) < slots(base) {
            return Some("the inventory shrinks");
        }
        if base.crafting.is_some() || self.data.crafting.is_some() {
            return Some("a crafting queue");
        }
        None
    }

    /// True when the delta clears nothing and sets no slot (the inventories are the base's).
    pub fn keeps_every_slot(&self) -> bool {
        self.cleared.is_empty() && self.data.inventories.is_empty()
    }

    /// Checks the bounds a reader checks before applying (docs/PLAYER_DATA.md "Deltas"): each
    /// inventory's ranges within 1..=65535, `from <= to`, ascending and apart; the delta's
    /// stacks at slots in 1..=65535, increasing, none in a cleared range.
    pub fn check(&self) -> Result<(), DeltaError> {
        for name in INVENTORIES {
            let ranges = inventory(&self.cleared, name);
            let mut end = 0u32;
            for (i, &(from, to)) in ranges.iter().enumerate() {
                let at = format!("cleared.{name}[{}]", i + 1);
                if from < 1 || from > to || to > MAX_SLOT {
                    return fail(format!(
                        "{at}: [{from}, {to}] is not a range from <= to in 1..={MAX_SLOT}"
                    ));
                }
                if i > 0 && from <= end.saturating_add(1) {
                    return fail(format!(
                        "{at}: [{from}, {to}] is not apart from the range before, which ends at slot {end}"
                    ));
                }
                end = to;
            }
            let mut last = 0u32;
            for s in inventory(&self.data.inventories, name) {
                let at = format!("data.inventories.{name}");
                let slot = match s.slot {
                    Some(slot) if (1..=MAX_SLOT).contains(&slot) => slot,
                    other => return fail(format!("{at}: a stack at slot {other:?}")),
                };
                if slot <= last {
                    return fail(format!("{at}: slot {slot} is not after slot {last}"));
                }
                last = slot;
                // the first range that ends at or after the slot
                let k = ranges.partition_point(|r| r.1 < slot);
                if ranges.get(k).is_some_and(|r| r.0 <= slot) {
                    return fail(format!("{at}: slot {slot} has a stack and is cleared"));
                }
            }
        }
        Ok(())
    }
}

/// The `cleared` member as read: its shape only (the bounds are [`Delta::check`]'s).
fn read_cleared(value: Option<Value>) -> Result<Cleared, DeltaError> {
    let members = match value {
        Some(Value::Object(m)) => m,
        // an empty Lua table is written `[]` or `{}`
        Some(Value::Array(a)) if a.is_empty() => Default::default(),
        _ => return fail("cleared: missing, or not an object of slot ranges".into()),
    };
    let mut cleared = Cleared::default();
    for (name, list) in members {
        let Some(&name) = INVENTORIES.iter().find(|n| **n == name) else {
            return fail(format!(
                "cleared: {name:?} is not an inventory ({})",
                INVENTORIES.join(", ")
            ));
        };
        let items = match list {
            Value::Array(items) => items,
            Value::Object(m) if m.is_empty() => Vec::new(),
            _ => return fail(format!("cleared.{name}: expected a list of [from, to]")),
        };
        let ranges = inventory_mut(&mut cleared, name);
        for (i, item) in items.iter().enumerate() {
            let pair = item.as_array().filter(|a| a.len() == 2).and_then(|a| {
                let whole = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
                Some((whole(&a[0])?, whole(&a[1])?))
            });
            match pair {
                Some(pair) => ranges.push(pair),
                None => {
                    return fail(format!(
                        "cleared.{name}[{}]: expected [from, to] (whole numbers), found {item}",
                        i + 1
                    ));
                }
            }
        }
    }
    Ok(cleared)
}

/// A stack's slot (0 for a stack of an inventory without one, which no payload holds).
fn slot_of(s: &Stack) -> u32 {
    s.slot.unwrap_or(0)
}

fn by_slot(stacks: &[Stack]) -> BTreeMap<u32, &Stack> {
    stacks.iter().map(|s| (slot_of(s), s)).collect()
}

/// Ascending slots as ranges of consecutive slots.
fn ranges(slots: impl Iterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for slot in slots {
        match out.last_mut() {
            Some(last) if last.1 + 1 == slot => last.1 = slot,
            _ => out.push((slot, slot)),
        }
    }
    out
}

/// A stack and the stacks inside it.
fn expanded(s: &Stack) -> u64 {
    let inner = s.inventory.iter().flatten().map(expanded);
    inner.fold(1, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(text: &str) -> PlayerData {
        PlayerData::from_json(text.as_bytes()).unwrap()
    }

    #[test]
    fn ranges_merge_consecutive_slots_only() {
        assert_eq!(
            ranges([1, 2, 3, 5, 7, 8].into_iter()),
            [(1, 3), (5, 5), (7, 8)]
        );
        assert_eq!(ranges(std::iter::empty()), []);
    }

    #[test]
    fn a_delta_built_in_code_is_checked_as_a_parsed_one() {
        let base = player(r#"{"format":2,"name":"a","inventories":{"main":[[1,"coal",5,4]]}}"#);
        let mut delta = diff(&base, &base);
        assert!(delta.keeps_every_slot());
        delta.cleared.main = vec![(2, 3)];
        delta.data.inventories.main = vec![Stack::plain(3, "coal", 1)];
        let err = apply(&base, &delta).unwrap_err().to_string();
        assert_eq!(
            err,
            "data.inventories.main: slot 3 has a stack and is cleared"
        );
        delta.data.inventories.main = vec![Stack {
            slot: None,
            ..Stack::plain(0, "coal", 1)
        }];
        let err = apply(&base, &delta).unwrap_err().to_string();
        assert_eq!(err, "data.inventories.main: a stack at slot None");
        delta.data.inventories.main = vec![Stack::plain(5, "coal", 1), Stack::plain(5, "coal", 2)];
        let err = apply(&base, &delta).unwrap_err().to_string();
        assert_eq!(err, "data.inventories.main: slot 5 is not after slot 5");
        delta.data.inventories.main.clear();
        delta.cleared.trash = vec![(1, 65_536)];
        let err = apply(&base, &delta).unwrap_err().to_string();
        assert!(
            err.starts_with("cleared.trash[1]: [1, 65536] is not a range"),
            "{err}"
        );
    }

    #[test]
    fn the_result_is_held_to_the_payload_bound() {
        // a base of 8 bags of 65534 stacks each is exactly the bound; a delta adding one more
        // stack makes the result one too many
        let base = player(
            r#"{"format":2,"name":"a","inventories":{"main":[
                {"s":1,"r":8,"n":"bag","c":1,"i":[[1,"coal",1,65534]]}]}}"#,
        );
        let more = br#"{"cleared":{},"data":{"format":2,"name":"a","inventories":{"guns":[[1,"pistol",1]]}}}"#;
        let delta = Delta::from_json(more).unwrap();
        let err = apply(&base, &delta).unwrap_err().to_string();
        assert_eq!(err, "the result holds more than 524280 stacks (524281)");
    }

    #[test]
    fn cleared_is_written_in_inventory_order_without_empty_lists() {
        let mut delta = diff(
            &player(r#"{"format":2,"name":"a"}"#),
            &player(r#"{"format":2,"name":"a"}"#),
        );
        assert_eq!(delta.cleared_json(), "{}");
        delta.cleared.trash = vec![(2, 2)];
        delta.cleared.main = vec![(1, 3), (7, 7)];
        assert_eq!(
            delta.cleared_json(),
            r#"{"main":[[1,3],[7,7]],"trash":[[2,2]]}"#
        );
        let back = Delta::from_json(delta.to_json().as_bytes()).unwrap();
        assert_eq!(back, delta);
    }

    #[test]
    fn malformed_deltas_are_refused_saying_why() {
        for (text, want) in [
            (r#"[1]"#, "a delta is a JSON object"),
            (r#"{"data":{"format":2,"name":"a"}}"#, "cleared: missing"),
            (
                r#"{"cleared":{},"data":[]}"#,
                "data: missing, or not an object",
            ),
            (
                r#"{"cleared":{},"data":{"name":"a"}}"#,
                "data: player data without a format",
            ),
            (
                r#"{"cleared":{"main":[[1]]},"data":{"format":2,"name":"a"}}"#,
                "cleared.main[1]: expected [from, to]",
            ),
            (
                r#"{"cleared":{"main":[[1,-2]]},"data":{"format":2,"name":"a"}}"#,
                "cleared.main[1]: expected [from, to]",
            ),
            (
                r#"{"cleared":{"main":{"a":1}},"data":{"format":2,"name":"a"}}"#,
                "cleared.main: expected a list",
            ),
            (
                r#"{"cleared":{"belt":[]},"data":{"format":2,"name":"a"}}"#,
                r#"cleared: "belt" is not an inventory"#,
            ),
            (
                r#"{"cleared":{},"data":{"format":2,"name":"a","inventories":{"main":[[0,"coal",1]]}}}"#,
                "data: inventories.main[1]: slot 0",
            ),
        ] {
            let err = Delta::from_json(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        // `[]` and `{}` both stand for nothing cleared
        for empty in ["[]", "{}"] {
            let text = format!(r#"{{"cleared":{empty},"data":{{"format":2,"name":"a"}}}}"#);
            assert!(
                Delta::from_json(text.as_bytes())
                    .unwrap()
                    .cleared
                    .is_empty()
            );
        }
    }
}
