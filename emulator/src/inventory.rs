//! Inventories and item stacks: pure Rust rules, no Lua.
//!
//! Stacking follows the game in spirit: items merge into an existing stack when name, quality,
//! health, durability and ammo are equal and they carry no exported data (blueprints never stack);
//! then empty slots are filled in slot order. Removal takes from the first matching slots.

use serde::{Deserialize, Serialize};

use crate::items::Prototypes;

/// One non-empty item stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemStack {
    /// The item's name.
    pub name: String,
    /// How many (at least 1).
    pub count: u32,
    /// The quality's name.
    pub quality: String,
    /// Health of the top item, in `[0, 1]`.
    pub health: f64,
    /// Remaining durability of the top item, for tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durability: Option<f64>,
    /// Remaining rounds of the top magazine, for ammo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ammo: Option<u32>,
    /// Contents of blueprints, books and planners (the JSON object under the item's top key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// The equipment grid of an armor item, once it has one (`LuaItemStack.grid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<Grid>,
    /// What items of some types carry besides: spoilage, tags, a label, an inventory.
    #[serde(flatten)]
    pub extra: StackExtra,
}

/// What an item stack carries when its prototype has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackExtra {
    /// The tick its top item spoils (`LuaItemStack.spoil_tick`), for an item that spoils.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoil_tick: Option<u64>,
    /// `tags` of an item with tags (a JSON object), once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Map<String, serde_json::Value>>,
    /// `custom_description` of an item with tags (a LocalisedString as JSON), once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_description: Option<serde_json::Value>,
    /// `label` of an item with a label that is not exported (blueprints keep theirs in `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `label_color`: r, g, b, a.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_color: Option<[f64; 4]>,
    /// `allow_manual_label_change` when set to false (true otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_label_locked: Option<bool>,
    /// The inventory of an item with inventory (`get_inventory(defines.inventory.item_main)`),
    /// made when first asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Box<Inventory>>,
}

/// An equipment grid (`LuaEquipmentGrid`) and what is placed in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Placed equipment, in the order it was put.
    pub equipment: Vec<Equipment>,
}

/// One piece of equipment in a grid (`LuaEquipment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Equipment {
    /// The equipment prototype.
    pub name: String,
    /// Its quality.
    pub quality: String,
    /// Top-left cell, 0-based.
    pub x: u32,
    /// Top row of its cells, 0-based (`x` is the column).
    pub y: u32,
    /// `LuaEquipment.energy`.
    pub energy: f64,
    /// `LuaEquipment.shield`.
    pub shield: f64,
}

impl Grid {
    pub(crate) fn new(width: u32, height: u32) -> Grid {
        Grid {
            width,
            height,
            equipment: Vec::new(),
        }
    }

    /// The index of the equipment covering cell (x, y).
    pub(crate) fn at(&self, protos: &Prototypes, x: u32, y: u32) -> Option<usize> {
        self.equipment.iter().position(|e| {
            protos
                .equipment(&e.name)
                .is_some_and(|p| x >= e.x && x < e.x + p.width && y >= e.y && y < e.y + p.height)
        })
    }

    /// Whether equipment of `w` x `h` fits with its top-left cell at (x, y).
    pub(crate) fn fits(&self, protos: &Prototypes, x: u32, y: u32, w: u32, h: u32) -> bool {
        if x + w > self.width || y + h > self.height {
            return false;
        }
        (y..y + h).all(|cy| (x..x + w).all(|cx| self.at(protos, cx, cy).is_none()))
    }

    /// The first free place for `w` x `h`, row by row.
    pub(crate) fn free_place(&self, protos: &Prototypes, w: u32, h: u32) -> Option<(u32, u32)> {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .find(|&(x, y)| self.fits(protos, x, y, w, h))
    }
}

impl ItemStack {
    /// A fresh stack of `count` items with full health, durability and ammo.
    pub(crate) fn new(protos: &Prototypes, name: &str, count: u32, quality: &str) -> ItemStack {
        let proto = protos.item(name);
        ItemStack {
            name: name.to_string(),
            count,
            quality: quality.to_string(),
            health: 1.0,
            durability: protos.durability(name, quality),
            ammo: proto.and_then(|p| p.magazine_size),
            data: None,
            grid: None,
            extra: StackExtra::default(),
        }
    }

    /// The tick a fresh item of `name` made at tick `now` spoils, if its prototype spoils.
    pub(crate) fn fresh_spoil_tick(protos: &Prototypes, name: &str, now: u64) -> Option<u64> {
        protos
            .item(name)
            .and_then(|p| p.spoil_ticks)
            .map(|t| now + t)
    }

    /// Adds `n` items spoiling at `tick` to this stack's `count`: the stack spoils at the
    /// count-weighted mean of both, as the game averages spoilage when stacks merge.
    fn merge_spoil(&mut self, n: u32, tick: Option<u64>) {
        if let (Some(a), Some(b)) = (self.extra.spoil_tick, tick) {
            let (ca, cb) = (u128::from(self.count), u128::from(n));
            let mean = (u128::from(a) * ca + u128::from(b) * cb + (ca + cb) / 2) / (ca + cb);
            self.extra.spoil_tick = Some(mean as u64);
        }
    }

    fn merges_with(&self, other: &ItemStack) -> bool {
        self.name == other.name
            && self.quality == other.quality
            && self.health == other.health
            && self.durability == other.durability
            && self.ammo == other.ammo
            && self.data.is_none()
            && other.data.is_none()
            && self.grid.is_none()
            && other.grid.is_none()
    }
}

/// Which inventory of its owner an inventory is (the `defines.inventory` value it answers to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryKind {
    /// `defines.inventory.character_main`.
    CharacterMain,
    /// `defines.inventory.character_guns`.
    CharacterGuns,
    /// `defines.inventory.character_ammo`.
    CharacterAmmo,
    /// `defines.inventory.character_armor`.
    CharacterArmor,
    /// `defines.inventory.character_trash`.
    CharacterTrash,
    /// `defines.inventory.god_main`.
    GodMain,
    /// `defines.inventory.editor_main`: the editor controller's own main inventory.
    EditorMain,
    /// An inventory of `game.create_inventory` (no `defines.inventory` value).
    Script,
    /// `defines.inventory.item_main`: the inventory of an item with inventory.
    ItemMain,
}

impl InventoryKind {
    /// The `defines.inventory` number the Lua side sees.
    pub(crate) fn define(self) -> u32 {
        match self {
            InventoryKind::CharacterMain => 1,
            InventoryKind::CharacterGuns => 3,
            InventoryKind::CharacterAmmo => 4,
            InventoryKind::CharacterArmor => 5,
            InventoryKind::CharacterTrash => 8,
            InventoryKind::GodMain => 2,
            // as the character's main: the editor's inventories are numbered like a character's
            InventoryKind::EditorMain => 1,
            InventoryKind::Script => 0,
            InventoryKind::ItemMain => 1,
        }
    }

    /// The inventories a character has, in the order `LuaControl.insert` fills them.
    pub(crate) const CHARACTER: [InventoryKind; 5] = [
        InventoryKind::CharacterMain,
        InventoryKind::CharacterGuns,
        InventoryKind::CharacterAmmo,
        InventoryKind::CharacterArmor,
        InventoryKind::CharacterTrash,
    ];

    /// Inverse of [`InventoryKind::define`] for the inventories a character has.
    pub(crate) fn character_from_define(v: u32) -> Option<InventoryKind> {
        Self::CHARACTER.into_iter().find(|k| k.define() == v)
    }

    /// Item types a slot of this inventory accepts (None = all).
    /// Whether its slots take filters (`LuaInventory.supports_filters`): the main inventories.
    pub(crate) fn supports_filters(self) -> bool {
        matches!(
            self,
            InventoryKind::CharacterMain | InventoryKind::GodMain | InventoryKind::EditorMain
        )
    }

    pub(crate) fn accepts(self, kind: &str) -> bool {
        match self {
            InventoryKind::CharacterGuns => kind == "gun",
            InventoryKind::CharacterAmmo => kind == "ammo",
            InventoryKind::CharacterArmor => kind == "armor",
            // no item with an inventory inside another: the nesting stops at one level
            InventoryKind::ItemMain => kind != "item-with-inventory",
            _ => true,
        }
    }
}

/// A fixed-size list of slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Which inventory it is.
    pub kind: InventoryKind,
    /// The slots, `None` when empty.
    pub slots: Vec<Option<ItemStack>>,
    /// Slot filters (`LuaInventory.set_filter`): 0-based slot -> item name, quality.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub filters: std::collections::BTreeMap<usize, (String, String)>,
}

/// What to insert or remove: the parsed form of an `ItemStackIdentification`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StackSpec {
    pub name: String,
    pub count: u32,
    pub quality: String,
    pub health: f64,
    pub durability: Option<f64>,
    pub ammo: Option<u32>,
    pub data: Option<serde_json::Value>,
    pub grid: Option<Grid>,
    pub extra: StackExtra,
}

impl StackSpec {
    pub(crate) fn to_stack(&self, count: u32) -> ItemStack {
        ItemStack {
            name: self.name.clone(),
            count,
            quality: self.quality.clone(),
            health: self.health,
            durability: self.durability,
            ammo: self.ammo,
            data: self.data.clone(),
            grid: self.grid.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl Inventory {
    pub(crate) fn new(kind: InventoryKind, size: usize) -> Inventory {
        Inventory {
            kind,
            slots: vec![None; size],
            filters: Default::default(),
        }
    }

    /// Change the size. Stacks in slots past the new end are taken out and returned (the game
    /// spills them on the ground).
    pub(crate) fn resize(&mut self, size: usize) -> Vec<ItemStack> {
        let spilled = if size < self.slots.len() {
            self.slots.drain(size..).flatten().collect()
        } else {
            Vec::new()
        };
        self.slots.resize(size, None);
        self.filters.retain(|i, _| *i < size);
        spilled
    }

    fn stack_limit(protos: &Prototypes, spec: &ItemStack) -> u32 {
        if spec.data.is_some() {
            return 1;
        }
        protos.item(&spec.name).map_or(1, |p| p.stack_size)
    }

    /// Whether a slot of this inventory may hold the item at all.
    pub(crate) fn accepts(&self, protos: &Prototypes, name: &str) -> bool {
        protos.item(name).is_some_and(|p| self.kind.accepts(p.kind))
    }

    /// How many of `spec` would fit.
    pub(crate) fn insertable_count(&self, protos: &Prototypes, spec: &StackSpec) -> u32 {
        if !self.accepts(protos, &spec.name) {
            return 0;
        }
        let probe = spec.to_stack(0);
        let limit = Self::stack_limit(protos, &probe);
        let mut room: u64 = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let allowed = self
                .filters
                .get(&i)
                .is_none_or(|(n, q)| *n == spec.name && *q == spec.quality);
            room += match slot {
                Some(s) if s.merges_with(&probe) => u64::from(limit.saturating_sub(s.count)),
                Some(_) => 0,
                None if allowed => u64::from(limit),
                None => 0,
            };
        }
        room.min(u64::from(spec.count)) as u32
    }

    /// Insert as many as fit; returns the number inserted.
    pub(crate) fn insert(&mut self, protos: &Prototypes, spec: &StackSpec) -> u32 {
        if !self.accepts(protos, &spec.name) {
            return 0;
        }
        let probe = spec.to_stack(0);
        let limit = Self::stack_limit(protos, &probe);
        let mut left = spec.count;
        for s in self.slots.iter_mut().flatten() {
            if left == 0 {
                break;
            }
            if s.merges_with(&probe) && s.count < limit {
                let n = left.min(limit - s.count);
                s.merge_spoil(n, spec.extra.spoil_tick);
                s.count += n;
                left -= n;
            }
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            let allowed = self
                .filters
                .get(&i)
                .is_none_or(|(n, q)| *n == spec.name && *q == spec.quality);
            if slot.is_none() && allowed {
                let n = left.min(limit);
                *slot = Some(spec.to_stack(n));
                left -= n;
            }
        }
        spec.count - left
    }

    /// Remove up to `count` items of `name` and `quality`; returns the number removed.
    pub(crate) fn remove(&mut self, name: &str, quality: &str, count: u32) -> u32 {
        let mut left = count;
        for slot in self.slots.iter_mut() {
            if left == 0 {
                break;
            }
            if let Some(s) = slot
                && s.name == name
                && s.quality == quality
            {
                let n = left.min(s.count);
                s.count -= n;
                left -= n;
                if s.count == 0 {
                    *slot = None;
                }
            }
        }
        count - left
    }

    /// Count items; `None` filters match everything.
    pub fn count(&self, name: Option<&str>, quality: Option<&str>) -> u64 {
        self.slots
            .iter()
            .flatten()
            .filter(|s| name.is_none_or(|n| s.name == n) && quality.is_none_or(|q| s.quality == q))
            .map(|s| u64::from(s.count))
            .sum()
    }

    /// `get_contents()` of Factorio 2.0: one entry per (name, quality), sorted by name then quality level.
    pub(crate) fn contents(&self, protos: &Prototypes) -> Vec<(String, u64, String)> {
        let mut totals: std::collections::BTreeMap<(String, u32, String), u64> = Default::default();
        for s in self.slots.iter().flatten() {
            *totals
                .entry((
                    s.name.clone(),
                    protos.quality_level(&s.quality),
                    s.quality.clone(),
                ))
                .or_default() += u64::from(s.count);
        }
        totals
            .into_iter()
            .map(|((name, _, quality), count)| (name, count, quality))
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.is_none())
    }

    pub(crate) fn empty_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, count: u32) -> StackSpec {
        StackSpec {
            name: name.into(),
            count,
            quality: "normal".into(),
            health: 1.0,
            durability: None,
            ammo: None,
            data: None,
            grid: None,
            extra: StackExtra::default(),
        }
    }

    #[test]
    fn insert_fills_existing_stacks_then_empty_slots() {
        let p = Prototypes::default();
        let mut inv = Inventory::new(InventoryKind::CharacterMain, 3);
        assert_eq!(inv.insert(&p, &spec("iron-plate", 150)), 150);
        assert_eq!(inv.slots[0].as_ref().unwrap().count, 100);
        assert_eq!(inv.slots[1].as_ref().unwrap().count, 50);
        assert_eq!(inv.insert(&p, &spec("iron-plate", 200)), 150);
        assert_eq!(inv.count(Some("iron-plate"), None), 300);
        assert_eq!(inv.insert(&p, &spec("coal", 1)), 0);
    }

    #[test]
    fn qualities_do_not_merge_and_contents_are_sorted() {
        let p = Prototypes::default();
        let mut inv = Inventory::new(InventoryKind::CharacterMain, 5);
        let mut rare = spec("iron-plate", 5);
        rare.quality = "rare".into();
        inv.insert(&p, &rare);
        inv.insert(&p, &spec("iron-plate", 7));
        inv.insert(&p, &spec("coal", 2));
        assert_eq!(
            inv.contents(&p),
            vec![
                ("coal".to_string(), 2, "normal".to_string()),
                ("iron-plate".to_string(), 7, "normal".to_string()),
                ("iron-plate".to_string(), 5, "rare".to_string()),
            ]
        );
        assert_eq!(inv.remove("iron-plate", "rare", 10), 5);
        assert_eq!(inv.count(Some("iron-plate"), Some("rare")), 0);
    }

    #[test]
    fn special_inventories_refuse_wrong_types() {
        let p = Prototypes::default();
        let mut guns = Inventory::new(InventoryKind::CharacterGuns, 3);
        assert_eq!(guns.insert(&p, &spec("iron-plate", 1)), 0);
        assert_eq!(guns.insert(&p, &spec("pistol", 1)), 1);
        assert_eq!(guns.insertable_count(&p, &spec("unknown-item", 1)), 0);
    }

    #[test]
    fn merging_spoiling_stacks_averages_their_spoil_ticks_by_count() {
        let p = Prototypes::default();
        let mut inv = Inventory::new(InventoryKind::CharacterMain, 2);
        let mut old = spec("nutrients", 30);
        old.extra.spoil_tick = ItemStack::fresh_spoil_tick(&p, "nutrients", 0);
        assert_eq!(old.extra.spoil_tick, Some(18000));
        inv.insert(&p, &old);
        let mut fresh = spec("nutrients", 10);
        fresh.extra.spoil_tick = ItemStack::fresh_spoil_tick(&p, "nutrients", 4000);
        assert_eq!(inv.insert(&p, &fresh), 10);
        let s = inv.slots[0].as_ref().unwrap();
        assert_eq!((s.count, s.extra.spoil_tick), (40, Some(19000)));
        assert_eq!(ItemStack::fresh_spoil_tick(&p, "coal", 5), None);
    }

    #[test]
    fn resize_spills_what_no_longer_fits() {
        let p = Prototypes::default();
        let mut inv = Inventory::new(InventoryKind::CharacterMain, 4);
        inv.slots[3] = Some(ItemStack::new(&p, "coal", 1, "normal"));
        let spilled = inv.resize(2);
        assert_eq!(inv.slots.len(), 2);
        assert_eq!(spilled.len(), 1);
        assert!(inv.resize(10).is_empty());
        assert_eq!(inv.slots.len(), 10);
    }
}
