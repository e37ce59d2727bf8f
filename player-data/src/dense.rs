//! Lists of stacks in format 1 and format 2 (docs/PLAYER_DATA.md): each entry of a list read
//! into an [`Entry`] (a stack and its run), checked against the bounds before anything is
//! expanded, then expanded into one [`Stack`] per slot; and a list of stacks written as format 2
//! entries, equal stacks in consecutive slots merged into one.
//!
//! Errors are the part of the path below the list and why (`[3]: run 0 is not >= 1`,
//! `[2].i[1]: ...`); the caller puts the list's own path in front. Entries are counted from 1,
//! as the logistics errors and the Lua module count them.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::player::Stack;

/// Highest slot (and longest run) of a list of stacks.
pub const MAX_SLOT: u32 = 65_535;
/// The most stacks a whole payload may expand to (nested ones included): a payload claiming
/// more is refused before anything is expanded.
pub const MAX_STACKS: u64 = 65_535 * 8;

/// The short keys of a format 2 object stack with the [`Stack`] member each stands for (besides
/// `s` slot, `r` run and `i` the nested entries, which are not members of a stack as written).
const KEYS: [(&str, &str); 15] = [
    ("n", "name"),
    ("c", "count"),
    ("q", "quality"),
    ("h", "health"),
    ("d", "durability"),
    ("a", "ammo"),
    ("p", "spoil_percent"),
    ("x", "export"),
    ("xj", "export_json"),
    ("g", "grid"),
    ("l", "label"),
    ("lc", "label_color"),
    ("lm", "allow_manual_label_change"),
    ("t", "tags"),
    ("cd", "custom_description"),
];

/// Which format a payload is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// One object per stack, long keys.
    One,
    /// Dense: runs, plain stacks as arrays, short keys.
    Two,
}

/// Whether the stacks of a list have slots: an inventory's and an item's inventory's do; the
/// cursor, `unplaced` and the crafting ingredients do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slots {
    /// Slots 1..=65535, strictly increasing.
    Slotted,
    /// No slot (0 in a format 2 array) and no run.
    Slotless,
}

/// One entry of a list as read, before its run is expanded.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The stack of its first slot, without `inventory`.
    stack: Stack,
    /// Consecutive slots holding it, >= 1.
    run: u32,
    /// The entries of the item's inventory, when it has one.
    inner: Option<Vec<Entry>>,
}

impl Entry {
    /// Stacks this entry expands to, nested ones included (saturating: a count past
    /// [`MAX_STACKS`] only needs to be known as too many).
    pub(crate) fn expanded(&self) -> u64 {
        let inner = self.inner.as_deref().map_or(0, count);
        u64::from(self.run).saturating_mul(inner.saturating_add(1))
    }
}

/// Stacks `entries` expand to, nested ones included.
pub(crate) fn count(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .fold(0u64, |n, e| n.saturating_add(e.expanded()))
}

/// Reads a list of stacks (`{}` stands for an empty one) in `format`, every entry checked.
pub(crate) fn read_list(value: Value, format: Format, slots: Slots) -> Result<Vec<Entry>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(m) if m.is_empty() => Vec::new(),
        _ => return Err(": expected a list of stacks".into()),
    };
    let mut out = Vec::with_capacity(items.len());
    // The lowest slot the next entry may start at.
    let mut free = 1u32;
    for (i, item) in items.into_iter().enumerate() {
        let e = read_entry(item, format)
            .and_then(|e| check_entry(e, slots, &mut free))
            .map_err(|why| format!("[{}]{why}", i + 1))?;
        out.push(e);
    }
    Ok(out)
}

/// Reads the one stack of the cursor; its error is below the cursor's path.
pub(crate) fn read_one(value: Value, format: Format) -> Result<Entry, String> {
    read_entry(value, format).and_then(|e| check_entry(e, Slots::Slotless, &mut 1))
}

/// Reads one entry, its slot as written (an object's missing `s` or `slot` is `None`).
fn read_entry(value: Value, format: Format) -> Result<Entry, String> {
    match (format, value) {
        (Format::Two, Value::Array(a)) => read_array(a),
        (Format::Two, Value::Object(m)) => read_object(m),
        (Format::One, Value::Object(m)) => read_object_1(m),
        (Format::Two, _) => Err(": expected a stack, an array or an object".into()),
        (Format::One, _) => Err(": expected a stack object".into()),
    }
}

/// A format 1 stack: its long keys are the [`Stack`] members.
fn read_object_1(mut m: Map<String, Value>) -> Result<Entry, String> {
    let inner = read_inner(m.remove("inventory"), Format::One, ".inventory")?;
    let stack: Stack = serde_json::from_value(Value::Object(m)).map_err(|e| format!(": {e}"))?;
    Ok(Entry {
        stack,
        run: 1,
        inner,
    })
}

/// A format 2 plain stack, `[slot, name, count, run?, quality?]`.
fn read_array(a: Vec<Value>) -> Result<Entry, String> {
    if !(3..=5).contains(&a.len()) {
        return Err(format!(
            ": a plain stack is [slot, name, count, run?, quality?], not an array of {}",
            a.len()
        ));
    }
    let string = |v: &Value, what: &str| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!(": the {what} is {v}, not a string"))
    };
    let slot = whole(&a[0], "slot")?;
    let mut stack = Stack::plain(slot, &string(&a[1], "name")?, whole(&a[2], "count")?);
    let run = a.get(3).map(|v| whole(v, "run")).transpose()?.unwrap_or(1);
    stack.quality = a.get(4).map(|v| string(v, "quality")).transpose()?;
    Ok(Entry {
        stack,
        run,
        inner: None,
    })
}

/// A format 2 object stack: its short keys become the [`Stack`] members (other keys are
/// ignored, as format 1 ignores unknown members).
fn read_object(mut m: Map<String, Value>) -> Result<Entry, String> {
    for (short, what) in [("n", "name"), ("c", "count")] {
        if !m.contains_key(short) {
            return Err(format!(": an object stack without '{short}' ({what})"));
        }
    }
    let slot = m.remove("s").map(|v| whole(&v, "slot")).transpose()?;
    let run = m.remove("r").map(|v| whole(&v, "run")).transpose()?;
    let inner = read_inner(m.remove("i"), Format::Two, ".i")?;
    let mut long = Map::new();
    for (short, member) in KEYS {
        if let Some(v) = m.remove(short) {
            long.insert(member.into(), v);
        }
    }
    let mut stack: Stack =
        serde_json::from_value(Value::Object(long)).map_err(|e| format!(": {e}"))?;
    stack.slot = slot;
    Ok(Entry {
        stack,
        run: run.unwrap_or(1),
        inner,
    })
}

/// The nested list of an item's inventory, its errors below `key`.
fn read_inner(
    value: Option<Value>,
    format: Format,
    key: &str,
) -> Result<Option<Vec<Entry>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read_list(v, format, Slots::Slotted)
            .map(Some)
            .map_err(|why| format!("{key}{why}")),
    }
}

/// A whole number that fits a `u32`.
fn whole(v: &Value, what: &str) -> Result<u32, String> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!(": the {what} is {v}, not a whole number in 0..=4294967295"))
}

/// Checks an entry's slot, run and exports against the bounds and the entries before it
/// (`free`: the lowest slot it may start at), and leaves a slotless stack without a slot.
fn check_entry(mut e: Entry, slots: Slots, free: &mut u32) -> Result<Entry, String> {
    let s = &e.stack;
    if s.count == 0 {
        // the Lua module's words for it
        return Err(": expected a whole 'count' >= 1".into());
    }
    if s.export.is_some() && s.export_json.is_some() {
        return Err(": both x (export) and xj (export_json); a stack has one".into());
    }
    let run = e.run;
    if run == 0 {
        return Err(": run 0 is not >= 1".into());
    }
    if run > MAX_SLOT {
        return Err(format!(": run {run} is past {MAX_SLOT}"));
    }
    match (slots, s.slot) {
        (Slots::Slotless, None | Some(0)) if run == 1 => e.stack.slot = None,
        (Slots::Slotless, None | Some(0)) => {
            return Err(format!(": a slotless stack has no run (run {run})"));
        }
        (Slots::Slotless, Some(slot)) => {
            return Err(format!(": a slotless stack has no slot (slot {slot})"));
        }
        (Slots::Slotted, None) => return Err(": a stack of an inventory without a slot".into()),
        (Slots::Slotted, Some(slot)) => {
            if !(1..=MAX_SLOT).contains(&slot) {
                return Err(format!(": slot {slot} is not in 1..={MAX_SLOT}"));
            }
            if slot < *free {
                return Err(format!(
                    ": slot {slot} is not after slot {}, where the entry before ends",
                    *free - 1
                ));
            }
            let last = u64::from(slot) + u64::from(run) - 1;
            if last > u64::from(MAX_SLOT) {
                return Err(format!(
                    ": the run of {run} from slot {slot} goes past {MAX_SLOT}"
                ));
            }
            // at most 65536: after a run ending at the last slot nothing may follow
            *free = (last + 1) as u32;
        }
    }
    Ok(e)
}

/// The stacks `entries` stand for, one per slot, appended to `out`. Their count is checked
/// ([`count`]) before this is called.
pub(crate) fn expand(entries: Vec<Entry>, out: &mut Vec<Stack>) {
    for e in entries {
        let mut stack = e.stack;
        stack.inventory = e.inner.map(|inner| {
            let mut stacks = Vec::new();
            expand(inner, &mut stacks);
            stacks
        });
        let first = stack.slot;
        for k in 0..e.run - 1 {
            out.push(Stack {
                slot: first.map(|s| s + k),
                ..stack.clone()
            });
        }
        out.push(Stack {
            slot: first.map(|s| s + e.run - 1),
            ..stack
        });
    }
}

/// A list of stacks as format 2 writes it: equal stacks in consecutive slots as one entry with
/// a run (slotless lists are written one entry per stack).
pub(crate) struct DenseList<'a>(pub(crate) &'a [Stack], pub(crate) Slots);

impl Serialize for DenseList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let DenseList(stacks, slots) = *self;
        let mut seq = s.serialize_seq(None)?;
        let mut k = 0;
        while k < stacks.len() {
            let run = match slots {
                Slots::Slotted => run_at(stacks, k),
                Slots::Slotless => 1,
            };
            seq.serialize_element(&DenseStack {
                stack: &stacks[k],
                run: run as u32,
                slots,
            })?;
            k += run;
        }
        seq.end()
    }
}

/// How many stacks from `k` on are equal to `stacks[k]` in the slots right after it (at least
/// 1, at most [`MAX_SLOT`]).
fn run_at(stacks: &[Stack], k: usize) -> usize {
    let first = &stacks[k];
    let Some(slot) = first.slot else { return 1 };
    stacks[k..]
        .iter()
        .zip(slot..)
        .take(MAX_SLOT as usize)
        .take_while(|(s, expected)| s.slot == Some(*expected) && same_but_slot(s, first))
        .count()
        .max(1)
}

/// Whether two stacks are equal in everything but their slot.
fn same_but_slot(a: &Stack, b: &Stack) -> bool {
    // the cheap members first: neighbours mostly differ in them, and only the others are cloned
    a.name == b.name
        && a.count == b.count
        && a.quality == b.quality
        && *a
            == Stack {
                slot: a.slot,
                ..b.clone()
            }
}

/// One stack as a format 2 entry (the cursor is one with `run` 1).
pub(crate) struct DenseStack<'a> {
    pub(crate) stack: &'a Stack,
    pub(crate) run: u32,
    pub(crate) slots: Slots,
}

impl Serialize for DenseStack<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let Stack {
            slot,
            name,
            count,
            quality,
            health,
            durability,
            ammo,
            spoil_percent,
            export,
            export_json,
            grid,
            label,
            label_color,
            allow_manual_label_change,
            tags,
            custom_description,
            inventory,
        } = self.stack;
        let slot = match self.slots {
            Slots::Slotted => *slot,
            Slots::Slotless => None,
        };
        let run = (self.run > 1).then_some(self.run);
        // `normal` is what no quality means: never written
        let quality = quality.as_deref().filter(|q| *q != "normal");
        let plain = [health, durability, ammo, spoil_percent]
            .iter()
            .all(|v| v.is_none())
            && [export, export_json, label].iter().all(|v| v.is_none())
            && grid.is_none()
            && label_color.is_none()
            && allow_manual_label_change.is_none()
            && tags.is_none()
            && custom_description.is_none()
            && inventory.is_none();
        if plain {
            let mut seq = ser.serialize_seq(None)?;
            seq.serialize_element(&slot.unwrap_or(0))?;
            seq.serialize_element(name)?;
            seq.serialize_element(count)?;
            if run.is_some() || quality.is_some() {
                seq.serialize_element(&run.unwrap_or(1))?;
            }
            if let Some(q) = quality {
                seq.serialize_element(q)?;
            }
            return seq.end();
        }
        let mut m = ser.serialize_map(None)?;
        entry(&mut m, "s", slot.as_ref())?;
        entry(&mut m, "r", run.as_ref())?;
        entry(&mut m, "n", Some(name))?;
        entry(&mut m, "c", Some(count))?;
        entry(&mut m, "q", quality)?;
        entry(&mut m, "h", health.as_ref())?;
        entry(&mut m, "d", durability.as_ref())?;
        entry(&mut m, "a", ammo.as_ref())?;
        entry(&mut m, "p", spoil_percent.as_ref())?;
        entry(&mut m, "x", export.as_ref())?;
        entry(&mut m, "xj", export_json.as_ref())?;
        entry(&mut m, "g", grid.as_ref())?;
        entry(&mut m, "l", label.as_ref())?;
        entry(&mut m, "lc", label_color.as_ref())?;
        entry(&mut m, "lm", allow_manual_label_change.as_ref())?;
        entry(&mut m, "t", tags.as_ref())?;
        entry(&mut m, "cd", custom_description.as_ref())?;
        let inner = inventory.as_deref().map(|i| DenseList(i, Slots::Slotted));
        entry(&mut m, "i", inner.as_ref())?;
        m.end()
    }
}

/// Writes `key` when it has a value (defaults are omitted, as in format 1).
fn entry<M: SerializeMap, T: Serialize + ?Sized>(
    m: &mut M,
    key: &str,
    value: Option<&T>,
) -> Result<(), M::Error> {
    match value {
        Some(v) => m.serialize_entry(key, v),
        None => Ok(()),
    }
}
