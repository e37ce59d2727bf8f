//! The player data document (docs/PLAYER_DATA.md): its `format` member and where in it the
//! lists of stacks are. The stacks are read and written by `dense.rs`; every other member by
//! the model's serde derive, so a new member of [`PlayerData`] needs nothing here.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::dense::{self, DenseList, DenseStack, Entry, Format, MAX_STACKS, Slots};
use crate::player::{Inventories, PLAYER_DATA_FORMAT, PlayerData};

/// The members of `inventories`, each a list of stacks with slots.
pub(crate) const INVENTORIES: [&str; 5] = ["main", "guns", "ammo", "armor", "trash"];

pub(crate) fn inventory<'a, T>(i: &'a Inventories<T>, name: &str) -> &'a [T] {
    match name {
        "main" => &i.main,
        "guns" => &i.guns,
        "ammo" => &i.ammo,
        "armor" => &i.armor,
        _ => &i.trash,
    }
}

pub(crate) fn inventory_mut<'a, T>(i: &'a mut Inventories<T>, name: &str) -> &'a mut Vec<T> {
    match name {
        "main" => &mut i.main,
        "guns" => &mut i.guns,
        "ammo" => &mut i.ammo,
        "armor" => &mut i.armor,
        _ => &mut i.trash,
    }
}

fn error(why: impl std::fmt::Display) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(why)
}

/// Parses a payload of format 1 or 2: its lists of stacks are taken out of the document and
/// read (every bound checked, the expanded count too) before any run is expanded, the rest is
/// the model's serde derive.
pub(crate) fn parse(bytes: &[u8]) -> Result<PlayerData, serde_json::Error> {
    let Value::Object(mut doc) = serde_json::from_slice(bytes)? else {
        return Err(error("player data is not a JSON object"));
    };
    let format = match doc.remove("format") {
        None => return Err(error("player data without a format")),
        Some(v) => match v.as_u64() {
            Some(1) => Format::One,
            Some(2) => Format::Two,
            _ => {
                return Err(error(format!(
                    "format {v} is not one this reader reads (1, 2)"
                )));
            }
        },
    };
    let lists = Lists::take(&mut doc, format).map_err(error)?;
    let total = lists.count();
    if total > MAX_STACKS {
        return Err(error(format!(
            "the payload expands to more than {MAX_STACKS} stacks ({total})"
        )));
    }
    let mut p: PlayerData = serde_json::from_value(Value::Object(doc))?;
    lists.put(&mut p);
    Ok(p)
}

/// The lists of stacks of a document, read and checked but not yet expanded (`None` where the
/// document has no such member).
struct Lists {
    inventories: [Option<Vec<Entry>>; 5],
    ingredients: Option<Vec<Entry>>,
    cursor: Option<Entry>,
    unplaced: Option<Vec<Entry>>,
}

impl Lists {
    /// Takes the lists out of `doc` (a member of another type than expected stays, for the
    /// derive to refuse).
    fn take(doc: &mut Map<String, Value>, format: Format) -> Result<Self, String> {
        let list = |v: Option<Value>, path: &str, slots| match v {
            None => Ok(None),
            Some(v) => dense::read_list(v, format, slots)
                .map(Some)
                .map_err(|why| format!("{path}{why}")),
        };
        let mut inventories = [None, None, None, None, None];
        if let Some(Value::Object(invs)) = doc.get_mut("inventories") {
            for (slot, name) in inventories.iter_mut().zip(INVENTORIES) {
                *slot = list(
                    invs.remove(name),
                    &format!("inventories.{name}"),
                    Slots::Slotted,
                )?;
            }
        }
        let ingredients = match doc.get_mut("crafting") {
            Some(Value::Object(c)) => list(
                c.remove("ingredients"),
                "crafting.ingredients",
                Slots::Slotless,
            )?,
            _ => None,
        };
        let cursor = match doc.remove("cursor") {
            None | Some(Value::Null) => None,
            Some(v) => Some(dense::read_one(v, format).map_err(|why| format!("cursor{why}"))?),
        };
        let unplaced = list(doc.remove("unplaced"), "unplaced", Slots::Slotless)?;
        Ok(Lists {
            inventories,
            ingredients,
            cursor,
            unplaced,
        })
    }

    /// The stacks the lists expand to.
    fn count(&self) -> u64 {
        let lists = self
            .inventories
            .iter()
            .chain([&self.ingredients, &self.unplaced]);
        lists
            .flatten()
            .map(|l| dense::count(l))
            .chain(self.cursor.iter().map(Entry::expanded))
            .fold(0, u64::saturating_add)
    }

    /// Puts the expanded stacks into `p`, parsed without them.
    fn put(self, p: &mut PlayerData) {
        for (entries, name) in self.inventories.into_iter().zip(INVENTORIES) {
            if let Some(entries) = entries {
                dense::expand(entries, inventory_mut(&mut p.inventories, name));
            }
        }
        if let (Some(entries), Some(c)) = (self.ingredients, p.crafting.as_mut()) {
            dense::expand(entries, &mut c.ingredients);
        }
        if let Some(entry) = self.cursor {
            let mut one = Vec::with_capacity(1);
            dense::expand(vec![entry], &mut one);
            p.cursor = one.pop();
        }
        if let Some(entries) = self.unplaced {
            dense::expand(entries, &mut p.unplaced);
        }
    }
}

/// `p` in format 2: the members the derive writes, with the stacks among them dense.
pub(crate) fn write(p: &PlayerData) -> String {
    let Value::Object(members) = serde_json::to_value(p).expect("player data serializes") else {
        unreachable!("a struct serializes to an object");
    };
    let object = |key: &str| members.get(key).and_then(Value::as_object);
    let mut parts = Vec::new();
    if let Some(invs) = object("inventories") {
        let lists = INVENTORIES.map(|name| {
            let list = DenseList(inventory(&p.inventories, name), Slots::Slotted);
            (name, Part::List(list))
        });
        parts.push(("inventories", Part::Members(Members::new(invs, lists))));
    }
    if let (Some(members), Some(c)) = (object("crafting"), &p.crafting) {
        let ingredients = Part::List(DenseList(&c.ingredients, Slots::Slotless));
        let crafting = Members::new(members, [("ingredients", ingredients)]);
        parts.push(("crafting", Part::Members(crafting)));
    }
    if let Some(stack) = &p.cursor {
        let one = DenseStack {
            stack,
            run: 1,
            slots: Slots::Slotless,
        };
        parts.push(("cursor", Part::One(one)));
    }
    parts.push((
        "unplaced",
        Part::List(DenseList(&p.unplaced, Slots::Slotless)),
    ));
    let doc = Members {
        format: Some(PLAYER_DATA_FORMAT),
        ..Members::new(&members, parts)
    };
    serde_json::to_string(&doc).expect("player data serializes")
}

/// `p` in format 1: what the derive writes, after the format.
pub(crate) fn write_format_1(p: &PlayerData) -> String {
    #[derive(Serialize)]
    struct Versioned<'a> {
        format: u32,
        #[serde(flatten)]
        data: &'a PlayerData,
    }
    serde_json::to_string(&Versioned { format: 1, data: p }).expect("player data serializes")
}

/// An object written as `members` has it, except the members `parts` names, written from the
/// model (and `format` first, when given).
struct Members<'a> {
    format: Option<u32>,
    members: &'a Map<String, Value>,
    parts: Vec<(&'static str, Part<'a>)>,
}

impl<'a> Members<'a> {
    fn new(
        members: &'a Map<String, Value>,
        parts: impl IntoIterator<Item = (&'static str, Part<'a>)>,
    ) -> Self {
        Members {
            format: None,
            members,
            parts: parts.into_iter().collect(),
        }
    }
}

/// A member of the document that holds stacks.
enum Part<'a> {
    List(DenseList<'a>),
    One(DenseStack<'a>),
    Members(Members<'a>),
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(format) = self.format {
            m.serialize_entry("format", &format)?;
        }
        for (key, value) in self.members {
            match self.parts.iter().find(|(k, _)| k == key) {
                Some((_, Part::List(list))) => m.serialize_entry(key, list)?,
                Some((_, Part::One(one))) => m.serialize_entry(key, one)?,
                Some((_, Part::Members(inner))) => m.serialize_entry(key, inner)?,
                None => m.serialize_entry(key, value)?,
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    /// Stacks the lists of `doc` stand for, counted without expanding them.
    fn claimed(doc: Value) -> u64 {
        let Value::Object(mut doc) = doc else {
            panic!("an object")
        };
        Lists::take(&mut doc, Format::Two).unwrap().count()
    }

    #[test]
    fn the_expansion_bound_counts_nested_stacks_and_is_checked_before_expanding() {
        // 8 bags, each with a run of 65534 inside: 8 * (1 + 65534) = 65535 * 8 exactly
        let bags = |inner_run: u32| {
            serde_json::json!({"format": 2, "name": "a", "inventories": {"main": [
                {"s": 1, "r": 8, "n": "bag", "c": 1, "i": [[1, "coal", 1, inner_run]]}
            ]}})
        };
        assert_eq!(claimed(bags(65_534)), MAX_STACKS);
        let err = PlayerData::from_json(&payload(bags(65_535))).unwrap_err();
        assert!(
            err.to_string()
                .contains("the payload expands to more than 524280 stacks (524288)"),
            "{err}"
        );
        // 65535 bags of 65535 each: over four billion stacks claimed, refused at once
        let huge = serde_json::json!({"format": 2, "name": "a", "inventories": {"main": [
            {"s": 1, "r": 65_535, "n": "bag", "c": 1, "i": [[1, "coal", 1, 65_535]]}
        ]}, "cursor": [0, "coal", 1]});
        assert_eq!(claimed(huge.clone()), 65_535 * 65_536 + 1);
        assert!(PlayerData::from_json(&payload(huge)).is_err());
    }

    #[test]
    fn format_1_is_checked_too_with_its_own_keys_in_the_path() {
        let nested = serde_json::json!({"format": 1, "name": "a", "inventories": {"main": [
            {"slot": 1, "name": "bag", "count": 1, "inventory": [
                {"slot": 2, "name": "coal", "count": 1}, {"slot": 2, "name": "coal", "count": 1}
            ]}
        ]}});
        let err = PlayerData::from_json(&payload(nested)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("inventories.main[1].inventory[2]: slot 2 is not after slot 2"),
            "{err}"
        );
        let both = serde_json::json!({"format": 1, "name": "a", "cursor":
            {"name": "blueprint", "count": 1, "export": "0eNq", "export_json": "{}"}});
        let err = PlayerData::from_json(&payload(both)).unwrap_err();
        assert!(err.to_string().starts_with("cursor: both x"), "{err}");
        let typed = serde_json::json!({"format": 1, "name": "a", "unplaced": [
            {"name": "coal", "count": 1}, {"name": "coal", "count": "many"}
        ]});
        let err = PlayerData::from_json(&payload(typed)).unwrap_err();
        assert!(
            err.to_string().starts_with("unplaced[2]: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn a_slotless_stack_at_slot_0_has_no_slot_and_normal_quality_is_not_written() {
        let p = PlayerData::from_json(&payload(serde_json::json!({"format": 1, "name": "a",
            "cursor": {"slot": 0, "name": "coal", "count": 1, "quality": "normal"}})))
        .unwrap();
        let cursor = p.cursor.as_ref().unwrap();
        assert_eq!(cursor.slot, None);
        assert_eq!(cursor.quality.as_deref(), Some("normal"));
        assert!(
            p.to_json().contains(r#""cursor":[0,"coal",1]"#),
            "{}",
            p.to_json()
        );
    }

    #[test]
    fn the_format_is_required_and_only_1_and_2_are_read() {
        for (text, why) in [
            (r#"{"name":"a"}"#, "player data without a format"),
            (
                r#"{"format":"2","name":"a"}"#,
                "format \"2\" is not one this reader reads",
            ),
            (r#"{"format":2.5,"name":"a"}"#, "format 2.5 is not"),
            (r#"[1]"#, "player data is not a JSON object"),
        ] {
            let err = PlayerData::from_json(text.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
    }
}
