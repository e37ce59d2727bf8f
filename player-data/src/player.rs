//! The player data that the Lua module writes and reads (`docs/PLAYER_DATA.md`).
//!
//! This is a typed view of the JSON payload, kept apart from the framing, which carries any bytes.
//! The game writes it with `helpers.table_to_json`, which cannot tell an empty object from an
//! empty array, so every list and map here accepts both `[]` and `{}` when empty.
//!
//! The serde derives here are format 1's members (stacks with long keys, no `format`);
//! [`PlayerData::from_json`] and [`PlayerData::to_json`] handle the document and its format
//! (`document.rs`), and the dense stacks of format 2 (`dense.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::logistics::Logistics;

/// The format version of [`PlayerData`] this crate writes ([`PlayerData::to_json`]); it reads
/// this one and format 1.
pub const PLAYER_DATA_FORMAT: u32 = 2;

/// One player's synced data: what a payload of either format means (its stacks one per slot,
/// runs expanded). The format is a property of the text, not of the data: [`PlayerData::to_json`]
/// writes [`PLAYER_DATA_FORMAT`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerData {
    /// The player's name.
    pub name: String,
    /// Player colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// Chat colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_color: Option<Color>,
    /// Character bonuses by the game's property name (e.g. `character_inventory_slots_bonus`).
    #[serde(default, deserialize_with = "map_or_empty_array")]
    pub bonuses: BTreeMap<String, f64>,
    /// `character_additional_mining_categories`; empty when absent.
    #[serde(
        default,
        deserialize_with = "list_or_empty_object",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mining_categories: Vec<String>,
    /// Whether the flashlight is on; absent means on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flashlight: Option<bool>,
    /// The player's tag; absent means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Quick bar slots holding an item, by slot (1..=100).
    #[serde(
        default,
        deserialize_with = "list_or_empty_object",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub quick_bar: Vec<QuickBarSlot>,
    /// Personal logistic requests and trash settings; absent means the defaults (enabled, no
    /// trashing of what is not requested, no section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistics: Option<Logistics>,
    /// The inventories.
    #[serde(default)]
    pub inventories: Inventories,
    /// The inventories' slot filters; absent when no slot is filtered.
    #[serde(default, skip_serializing_if = "Filters::is_empty")]
    pub filters: Filters,
    /// The character's crafting queue and the items it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crafting: Option<Crafting>,
    /// What the player holds in the cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Stack>,
    /// Stacks a game could not place (an item or quality it does not know, an export string it
    /// refused), carried on unchanged until a game that can place them does.
    #[serde(
        default,
        deserialize_with = "list_or_empty_object",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unplaced: Vec<Stack>,
}

/// One quick bar slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuickBarSlot {
    /// 1-based slot, 1..=100.
    pub slot: u32,
    /// Item prototype name.
    pub name: String,
    /// Quality prototype name; absent means `normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
}

/// A crafting queue, cancelled into its ingredients to travel and started again on arrival.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Crafting {
    /// The queued recipes, first in progress (prerequisite crafts are not listed: queuing a
    /// recipe queues them again).
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub queue: Vec<QueuedCraft>,
    /// Progress of the first craft, 0..1; absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// The items the queue holds (no `slot`).
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub ingredients: Vec<Stack>,
}

/// One entry of a crafting queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedCraft {
    /// Recipe prototype name.
    pub recipe: String,
    /// Crafts queued, >= 1.
    pub count: u32,
}

/// An RGBA colour, components 0..=1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Color {
    /// Red.
    pub r: f64,
    /// Green.
    pub g: f64,
    /// Blue.
    pub b: f64,
    /// Alpha.
    #[serde(default = "one")]
    pub a: f64,
}

fn one() -> f64 {
    1.0
}

/// The character's inventories, each a list of the slots that hold something (their stacks,
/// or for [`Filters`] their filters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Inventories<T = Stack> {
    /// Main inventory.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub main: Vec<T>,
    /// Guns.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub guns: Vec<T>,
    /// Ammunition.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub ammo: Vec<T>,
    /// Armour.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub armor: Vec<T>,
    /// Logistic trash.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub trash: Vec<T>,
}

impl<T> Default for Inventories<T> {
    fn default() -> Self {
        Inventories {
            main: Vec::new(),
            guns: Vec::new(),
            ammo: Vec::new(),
            armor: Vec::new(),
            trash: Vec::new(),
        }
    }
}

/// The slot filters of the character's inventories (`LuaInventory.get_filter`): for each
/// inventory, its filtered slots.
pub type Filters = Inventories<SlotFilter>;

impl<T> Inventories<T> {
    /// Every list empty.
    pub fn is_empty(&self) -> bool {
        [&self.main, &self.guns, &self.ammo, &self.armor, &self.trash]
            .iter()
            .all(|l| l.is_empty())
    }
}

/// The filter of one inventory slot: only this item (and quality) may go there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotFilter {
    /// 1-based slot.
    pub slot: u32,
    /// Item prototype name.
    pub name: String,
    /// Quality prototype name; absent means `normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
}

/// One item stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    /// 1-based slot in its inventory (absent for the cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// Item prototype name.
    pub name: String,
    /// Item count, >= 1.
    pub count: u32,
    /// Quality prototype name; absent means `normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// Health 0..1; absent means full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<f64>,
    /// Durability of the top item (tools, repair packs); absent means full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durability: Option<f64>,
    /// Rounds left in the top magazine; absent means full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ammo: Option<f64>,
    /// How far the items have spoiled, 0..=1, for items that spoil; absent means fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoil_percent: Option<f64>,
    /// `export_stack` string of a blueprint, book or planner item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<String>,
    /// The JSON text of a blueprint-like item, for the game to make its export string from
    /// (format 2's `xj`, host -> game only, issue 16 part 3). Never together with `export`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_json: Option<String>,
    /// The equipment in the grid of an armor item, by position (row, then column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<Vec<Equipment>>,
    /// The label of an item with a label (not a blueprint's: that travels in `export`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The label's colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_color: Option<Color>,
    /// `false` when the label may be changed only by scripts; absent means true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_manual_label_change: Option<bool>,
    /// The tags of an item with tags: any JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Map<String, serde_json::Value>>,
    /// The custom description of an item with tags: a string or a localised string (a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_description: Option<serde_json::Value>,
    /// What the inventory of an item with inventory holds: stacks with their slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Vec<Stack>>,
}

/// One piece of equipment in an armor's grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Equipment {
    /// Equipment prototype name.
    pub name: String,
    /// Column of its top-left cell, 0-based.
    pub x: u32,
    /// Row of its top-left cell, 0-based.
    pub y: u32,
    /// Quality prototype name; absent means `normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// Energy in its buffer, joules; absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<f64>,
    /// Shield hit points; absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shield: Option<f64>,
}

impl Stack {
    /// A plain stack of `count` normal-quality `name` in `slot`.
    pub fn plain(slot: u32, name: &str, count: u32) -> Self {
        Stack {
            slot: Some(slot),
            name: name.into(),
            count,
            quality: None,
            health: None,
            durability: None,
            ammo: None,
            spoil_percent: None,
            export: None,
            export_json: None,
            grid: None,
            label: None,
            label_color: None,
            allow_manual_label_change: None,
            tags: None,
            custom_description: None,
            inventory: None,
        }
    }
}

impl PlayerData {
    /// Parses player data of format 1 or 2, checked against the bounds of docs/PLAYER_DATA.md;
    /// an error names where and why (`inventories.main[3]: run 0 is not >= 1`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        crate::document::parse(bytes)
    }

    /// Writes compact JSON in format 2 ([`PLAYER_DATA_FORMAT`]): equal stacks in consecutive
    /// slots as one entry with a run, plain stacks as arrays. Data outside the bounds (a stack
    /// of an inventory without a slot, slots out of order) is written as it is, and
    /// [`PlayerData::from_json`] refuses the text.
    pub fn to_json(&self) -> String {
        crate::document::write(self)
    }

    /// Writes compact JSON in format 1 (one object per stack, long keys), which stores written
    /// before format 2 hold: for comparisons, and for tools that need the old form.
    pub fn to_json_format_1(&self) -> String {
        crate::document::write_format_1(self)
    }

    /// Every stack, inventory by inventory, then the crafting queue's ingredients, then the
    /// cursor.
    pub fn stacks(&self) -> impl Iterator<Item = &Stack> {
        let i = &self.inventories;
        i.main
            .iter()
            .chain(&i.guns)
            .chain(&i.ammo)
            .chain(&i.armor)
            .chain(&i.trash)
            .chain(self.crafting.iter().flat_map(|c| &c.ingredients))
            .chain(&self.cursor)
            .chain(&self.unplaced)
    }
}

/// A list, or `{}` standing for an empty one.
pub(crate) fn list_or_empty_object<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Map(BTreeMap<String, serde_json::Value>),
    }
    match Either::<T>::deserialize(d)? {
        Either::List(v) => Ok(v),
        Either::Map(m) if m.is_empty() => Ok(Vec::new()),
        Either::Map(_) => Err(serde::de::Error::custom(
            "expected a list of stacks, found an object",
        )),
    }
}

/// A map, or `[]` standing for an empty one.
fn map_or_empty_array<'de, D>(d: D) -> Result<BTreeMap<String, f64>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Map(BTreeMap<String, f64>),
        List(Vec<serde_json::Value>),
    }
    match Either::deserialize(d)? {
        Either::Map(m) => Ok(m),
        Either::List(v) if v.is_empty() => Ok(BTreeMap::new()),
        Either::List(_) => Err(serde::de::Error::custom(
            "expected an object of bonuses, found a list",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_game_writes_for_empty_tables() {
        let json = br#"{"format":1,"name":"bob","bonuses":[],"inventories":{"main":{},"guns":[]}}"#;
        let p = PlayerData::from_json(json).unwrap();
        assert!(p.bonuses.is_empty() && p.inventories.main.is_empty());
        assert_eq!(p.stacks().count(), 0);
    }

    #[test]
    fn round_trips() {
        let mut p = PlayerData {
            name: "alice".into(),
            color: Some(Color {
                r: 1.0,
                g: 0.5,
                b: 0.0,
                a: 1.0,
            }),
            chat_color: None,
            bonuses: BTreeMap::from([("character_inventory_slots_bonus".into(), 10.0)]),
            mining_categories: vec!["hard-solid".into()],
            flashlight: Some(false),
            tag: Some("builder".into()),
            quick_bar: vec![QuickBarSlot {
                slot: 11,
                name: "transport-belt".into(),
                quality: None,
            }],
            logistics: Some(crate::Logistics {
                enabled: false,
                trash_not_requested: true,
                sections: vec![crate::LogisticSection {
                    group: "mall".into(),
                    active: true,
                    multiplier: 2.0,
                    filters: vec![crate::LogisticRequest {
                        slot: 4,
                        name: "iron-gear-wheel".into(),
                        quality: Some("rare".into()),
                        comparator: Some("≥".into()),
                        min: 50,
                        max: Some(100),
                    }],
                }],
            }),
            inventories: Inventories::default(),
            filters: Filters {
                main: vec![SlotFilter {
                    slot: 3,
                    name: "iron-plate".into(),
                    quality: Some("rare".into()),
                }],
                ..Filters::default()
            },
            crafting: Some(Crafting {
                queue: vec![QueuedCraft {
                    recipe: "iron-gear-wheel".into(),
                    count: 10,
                }],
                progress: Some(0.25),
                ingredients: vec![Stack {
                    slot: None,
                    ..Stack::plain(0, "iron-plate", 20)
                }],
            }),
            cursor: Some(Stack {
                slot: None,
                ..Stack::plain(0, "blueprint", 1)
            }),
            unplaced: vec![Stack {
                slot: None,
                quality: Some("mythic".into()),
                ..Stack::plain(0, "modded-widget", 3)
            }],
        };
        p.inventories.main.push(Stack {
            spoil_percent: Some(0.75),
            ..Stack::plain(1, "nutrients", 10)
        });
        p.inventories.main.push(Stack {
            label: Some("bag".into()),
            label_color: p.color,
            allow_manual_label_change: Some(false),
            inventory: Some(vec![Stack {
                tags: serde_json::from_str(r#"{"a":[1,{"b":true}]}"#).unwrap(),
                custom_description: Some(serde_json::json!(["item-description.key", "x"])),
                ..Stack::plain(4, "item-with-tags", 1)
            }]),
            ..Stack::plain(2, "item-with-inventory", 1)
        });
        p.inventories.main.push(Stack {
            quality: Some("rare".into()),
            ..Stack::plain(3, "iron-plate", 100)
        });
        p.inventories.armor.push(Stack {
            grid: Some(vec![Equipment {
                name: "energy-shield-equipment".into(),
                x: 0,
                y: 2,
                quality: Some("rare".into()),
                energy: Some(100.0),
                shield: Some(30.5),
            }]),
            ..Stack::plain(1, "power-armor-mk2", 1)
        });
        let back = PlayerData::from_json(p.to_json().as_bytes()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn numbers_round_trip_exactly() {
        // Found by the `player_data` fuzzer: without serde_json's `float_roundtrip` this `b`
        // came back one unit in the last place off after parse -> write -> parse.
        let json = br#"{"format":1,"name":"","color":{"r":1,"g":5,"b":133333333333933333}}"#;
        let p = PlayerData::from_json(json).unwrap();
        assert_eq!(p.color.as_ref().unwrap().b, 133333333333933333.0);
        let again = PlayerData::from_json(p.to_json().as_bytes()).unwrap();
        assert_eq!(again, p);
        assert_eq!(again.to_json(), p.to_json());
        let bonuses = br#"{"format":1,"name":"x","bonuses":{"a":0.30000000000000004,"b":1.7976931348623157e308,"c":5e-324}}"#;
        let p = PlayerData::from_json(bonuses).unwrap();
        assert_eq!(PlayerData::from_json(p.to_json().as_bytes()).unwrap(), p);
        assert_eq!(p.bonuses["c"], 5e-324);
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(
            PlayerData::from_json(br#"{"format":1,"name":"x","inventories":{"main":{"a":1}}}"#)
                .is_err()
        );
        assert!(PlayerData::from_json(br#"{"format":1}"#).is_err());
        assert!(
            PlayerData::from_json(br#"{"format":1,"name":"x","filters":{"main":[{"slot":1}]}}"#)
                .is_err()
        );
    }
}
