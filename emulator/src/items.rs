//! Item and quality prototypes known to the emulated game.
//!
//! A fixed subset of Factorio 2.0's base game items (names, types, stack sizes, tool durability and
//! magazine sizes as listed on the game's wiki / in `data/base` prototypes). Items not listed here are
//! "unknown to the game", like items of a removed mod: inserting them fails as in the game.

use std::collections::BTreeMap;

/// One item prototype.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemProto {
    /// The item name.
    pub name: &'static str,
    /// The prototype type as the game names it (`item`, `ammo`, `tool`, `blueprint`...).
    pub kind: &'static str,
    /// Items per stack.
    pub stack_size: u32,
    /// Durability per item for `tool` and `repair-tool` items.
    pub durability: Option<f64>,
    /// Rounds per magazine for `ammo` items.
    pub magazine_size: Option<u32>,
    /// Main inventory slots an `armor` item adds while worn (`inventory_size_bonus` of the
    /// armor prototype).
    pub inventory_size_bonus: u32,
    /// Width and height of the equipment grid of an `armor` item, if it has one.
    pub grid: Option<(u32, u32)>,
    /// Ticks a fresh item takes to spoil, for an item that spoils (`get_spoil_ticks`).
    pub spoil_ticks: Option<u64>,
}

impl ItemProto {
    /// True for the items whose contents travel through `export_stack` / `import_stack`.
    pub(crate) fn is_exportable(&self) -> bool {
        matches!(
            self.kind,
            "blueprint" | "blueprint-book" | "deconstruction-item" | "upgrade-item"
        )
    }
}

/// One quality prototype (Factorio 2.0).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QualityProto {
    pub name: &'static str,
    pub level: u32,
}

/// The five base-game qualities.
pub(crate) const QUALITIES: [QualityProto; 5] = [
    QualityProto {
        name: "normal",
        level: 0,
    },
    QualityProto {
        name: "uncommon",
        level: 1,
    },
    QualityProto {
        name: "rare",
        level: 2,
    },
    QualityProto {
        name: "epic",
        level: 3,
    },
    QualityProto {
        name: "legendary",
        level: 5,
    },
];

const fn item(name: &'static str, kind: &'static str, stack_size: u32) -> ItemProto {
    ItemProto {
        name,
        kind,
        stack_size,
        durability: None,
        magazine_size: None,
        inventory_size_bonus: 0,
        grid: None,
        spoil_ticks: None,
    }
}

const fn tool(
    name: &'static str,
    kind: &'static str,
    stack_size: u32,
    durability: f64,
) -> ItemProto {
    ItemProto {
        name,
        kind,
        stack_size,
        durability: Some(durability),
        magazine_size: None,
        inventory_size_bonus: 0,
        grid: None,
        spoil_ticks: None,
    }
}

const fn ammo(name: &'static str, stack_size: u32, magazine: u32) -> ItemProto {
    ItemProto {
        name,
        kind: "ammo",
        stack_size,
        durability: None,
        magazine_size: Some(magazine),
        inventory_size_bonus: 0,
        grid: None,
        spoil_ticks: None,
    }
}

const fn armor(
    name: &'static str,
    inventory_size_bonus: u32,
    grid: Option<(u32, u32)>,
) -> ItemProto {
    ItemProto {
        name,
        kind: "armor",
        stack_size: 1,
        durability: None,
        magazine_size: None,
        inventory_size_bonus,
        grid,
        spoil_ticks: None,
    }
}

/// An item that spoils in `spoil_ticks` (Space Age).
const fn spoiling(
    name: &'static str,
    kind: &'static str,
    stack_size: u32,
    spoil_ticks: u64,
) -> ItemProto {
    ItemProto {
        spoil_ticks: Some(spoil_ticks),
        ..item(name, kind, stack_size)
    }
}

/// The item prototypes of the emulated game.
pub(crate) const ITEMS: &[ItemProto] = &[
    item("wood", "item", 100),
    item("coal", "item", 50),
    item("stone", "item", 50),
    item("iron-ore", "item", 50),
    item("copper-ore", "item", 50),
    item("uranium-ore", "item", 50),
    item("iron-plate", "item", 100),
    item("copper-plate", "item", 100),
    item("steel-plate", "item", 100),
    item("plastic-bar", "item", 100),
    item("stone-brick", "item", 100),
    item("iron-gear-wheel", "item", 100),
    item("iron-stick", "item", 100),
    item("copper-cable", "item", 200),
    item("electronic-circuit", "item", 200),
    item("advanced-circuit", "item", 200),
    item("processing-unit", "item", 100),
    item("engine-unit", "item", 50),
    item("electric-engine-unit", "item", 50),
    item("battery", "item", 200),
    item("sulfur", "item", 50),
    item("explosives", "item", 50),
    item("low-density-structure", "item", 50),
    item("flying-robot-frame", "item", 50),
    item("rocket-fuel", "item", 20),
    item("solid-fuel", "item", 50),
    item("uranium-235", "item", 100),
    item("uranium-238", "item", 100),
    item("pipe", "item", 100),
    item("pipe-to-ground", "item", 50),
    item("pump", "item", 50),
    item("transport-belt", "item", 100),
    item("fast-transport-belt", "item", 100),
    item("express-transport-belt", "item", 100),
    item("underground-belt", "item", 50),
    item("fast-underground-belt", "item", 50),
    item("express-underground-belt", "item", 50),
    item("splitter", "item", 50),
    item("burner-inserter", "item", 50),
    item("inserter", "item", 50),
    item("long-handed-inserter", "item", 50),
    item("fast-inserter", "item", 50),
    item("bulk-inserter", "item", 50),
    item("wooden-chest", "item", 50),
    item("iron-chest", "item", 50),
    item("steel-chest", "item", 50),
    item("stone-furnace", "item", 50),
    item("steel-furnace", "item", 50),
    item("electric-furnace", "item", 50),
    item("burner-mining-drill", "item", 50),
    item("electric-mining-drill", "item", 50),
    item("assembling-machine-1", "item", 50),
    item("assembling-machine-2", "item", 50),
    item("assembling-machine-3", "item", 50),
    item("small-electric-pole", "item", 50),
    item("medium-electric-pole", "item", 50),
    item("big-electric-pole", "item", 50),
    item("substation", "item", 50),
    item("boiler", "item", 50),
    item("steam-engine", "item", 10),
    item("offshore-pump", "item", 20),
    item("solar-panel", "item", 50),
    item("accumulator", "item", 50),
    item("lab", "item", 10),
    item("radar", "item", 50),
    item("stone-wall", "item", 100),
    item("gate", "item", 50),
    item("gun-turret", "item", 10),
    item("laser-turret", "item", 50),
    item("roboport", "item", 10),
    item("logistic-robot", "item", 50),
    item("construction-robot", "item", 50),
    item("concrete", "item", 100),
    item("refined-concrete", "item", 100),
    item("landfill", "item", 100),
    item("rail", "rail-planner", 100),
    item("rail-signal", "item", 50),
    item("rail-chain-signal", "item", 50),
    item("train-stop", "item", 10),
    item("locomotive", "item-with-entity-data", 5),
    item("cargo-wagon", "item-with-entity-data", 5),
    item("car", "item-with-entity-data", 1),
    item("tank", "item-with-entity-data", 1),
    item("speed-module", "module", 50),
    item("efficiency-module", "module", 50),
    item("productivity-module", "module", 50),
    item("speed-module-2", "module", 50),
    item("efficiency-module-2", "module", 50),
    item("productivity-module-2", "module", 50),
    item("speed-module-3", "module", 50),
    item("efficiency-module-3", "module", 50),
    item("productivity-module-3", "module", 50),
    item("beacon", "item", 20),
    item("pistol", "gun", 5),
    item("submachine-gun", "gun", 5),
    item("shotgun", "gun", 5),
    item("rocket-launcher", "gun", 5),
    item("flamethrower", "gun", 5),
    ammo("firearm-magazine", 200, 10),
    ammo("piercing-rounds-magazine", 200, 10),
    ammo("uranium-rounds-magazine", 200, 10),
    ammo("shotgun-shell", 200, 10),
    ammo("rocket", 200, 1),
    ammo("flamethrower-ammo", 100, 100),
    // inventory_size_bonus and equipment_grid of data/base (small 5x5, medium 7x7, large 10x10)
    armor("light-armor", 0, None),
    armor("heavy-armor", 0, None),
    armor("modular-armor", 10, Some((5, 5))),
    armor("power-armor", 20, Some((7, 7))),
    armor("power-armor-mk2", 30, Some((10, 10))),
    item("solar-panel-equipment", "item", 20),
    item("battery-equipment", "item", 20),
    item("exoskeleton-equipment", "item", 20),
    item("personal-roboport-equipment", "item", 20),
    item("energy-shield-equipment", "item", 20),
    item("night-vision-equipment", "item", 20),
    tool("automation-science-pack", "tool", 200, 1.0),
    tool("logistic-science-pack", "tool", 200, 1.0),
    tool("military-science-pack", "tool", 200, 1.0),
    tool("chemical-science-pack", "tool", 200, 1.0),
    tool("production-science-pack", "tool", 200, 1.0),
    tool("utility-science-pack", "tool", 200, 1.0),
    tool("space-science-pack", "tool", 2000, 1.0),
    tool("repair-pack", "repair-tool", 100, 300.0),
    item("grenade", "capsule", 100),
    item("cliff-explosives", "capsule", 20),
    item("raw-fish", "capsule", 100),
    item("poison-capsule", "capsule", 100),
    item("defender-capsule", "capsule", 100),
    item("blueprint", "blueprint", 1),
    item("blueprint-book", "blueprint-book", 1),
    item("deconstruction-planner", "deconstruction-item", 1),
    item("upgrade-planner", "upgrade-item", 1),
    // Space Age's spoiling items (the base game has none): spoil times are round figures
    // (minutes x 3600 ticks), not checked against the game's data
    item("spoilage", "item", 50),
    spoiling("nutrients", "item", 200, 5 * 3600),
    spoiling("yumako", "capsule", 50, 60 * 3600),
    spoiling("bioflux", "capsule", 100, 120 * 3600),
    // the item types of mods that carry data (the base game has no item of them to hold),
    // named after their types
    item("item-with-tags", "item-with-tags", 1),
    item("item-with-label", "item-with-label", 1),
    item("item-with-inventory", "item-with-inventory", 1),
];

/// Slots of the inventory of an `item-with-inventory` (`inventory_size` of its prototype).
pub(crate) const ITEM_INVENTORY_SLOTS: usize = 10;

/// One equipment prototype: its shape in a grid and its energy buffer and shield.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EquipmentProto {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    /// Joules the equipment's buffer holds (0 for equipment without one).
    pub max_energy: f64,
    /// Shield hit points (0 for equipment that is not a shield).
    pub max_shield: f64,
}

const fn equipment(
    name: &'static str,
    width: u32,
    height: u32,
    max_energy: f64,
    max_shield: f64,
) -> EquipmentProto {
    EquipmentProto {
        name,
        width,
        height,
        max_energy,
        max_shield,
    }
}

/// The equipment of the emulated game (base game shapes; each is placed by the item of the
/// same name). Buffers and shields are round figures of the base game's.
pub(crate) const EQUIPMENT: &[EquipmentProto] = &[
    equipment("solar-panel-equipment", 1, 1, 0.0, 0.0),
    equipment("battery-equipment", 1, 2, 20e6, 0.0),
    equipment("exoskeleton-equipment", 2, 4, 4.5e5, 0.0),
    equipment("personal-roboport-equipment", 2, 2, 3.5e7, 0.0),
    equipment("energy-shield-equipment", 2, 2, 1.2e5, 50.0),
    equipment("night-vision-equipment", 2, 2, 1.2e5, 0.0),
];

/// A hand-craftable recipe (`LuaRecipePrototype`, data/base): one product.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecipeProto {
    pub name: &'static str,
    /// Ingredients per craft: item name and count.
    pub ingredients: &'static [(&'static str, u32)],
    /// The product and its count per craft.
    pub result: (&'static str, u32),
}

const fn recipe(
    name: &'static str,
    ingredients: &'static [(&'static str, u32)],
    count: u32,
) -> RecipeProto {
    RecipeProto {
        name,
        ingredients,
        result: (name, count),
    }
}

/// A few base-game hand-craftable recipes (Factorio 2.0 data/base, normal difficulty).
pub(crate) const RECIPES: &[RecipeProto] = &[
    recipe("iron-gear-wheel", &[("iron-plate", 2)], 1),
    recipe("copper-cable", &[("copper-plate", 1)], 2),
    recipe(
        "electronic-circuit",
        &[("iron-plate", 1), ("copper-cable", 3)],
        1,
    ),
    recipe(
        "transport-belt",
        &[("iron-plate", 1), ("iron-gear-wheel", 1)],
        2,
    ),
    recipe(
        "inserter",
        &[
            ("electronic-circuit", 1),
            ("iron-gear-wheel", 1),
            ("iron-plate", 1),
        ],
        1,
    ),
    recipe("pipe", &[("iron-plate", 1)], 1),
    recipe("iron-stick", &[("iron-plate", 1)], 2),
    recipe("wooden-chest", &[("wood", 2)], 1),
    recipe("iron-chest", &[("iron-plate", 8)], 1),
    recipe("stone-furnace", &[("stone", 5)], 1),
    recipe(
        "small-electric-pole",
        &[("wood", 1), ("copper-cable", 2)],
        2,
    ),
];

/// Lookup tables over [`ITEMS`] and [`QUALITIES`].
#[derive(Debug)]
pub struct Prototypes {
    items: BTreeMap<&'static str, ItemProto>,
}

impl Default for Prototypes {
    fn default() -> Self {
        Prototypes {
            items: ITEMS.iter().map(|p| (p.name, p.clone())).collect(),
        }
    }
}

impl Prototypes {
    pub(crate) fn equipment(&self, name: &str) -> Option<&'static EquipmentProto> {
        EQUIPMENT.iter().find(|e| e.name == name)
    }

    /// The item named `name`, if the game has it.
    pub fn item(&self, name: &str) -> Option<&ItemProto> {
        self.items.get(name)
    }

    pub(crate) fn items(&self) -> impl Iterator<Item = &ItemProto> {
        self.items.values()
    }

    pub(crate) fn quality(&self, name: &str) -> Option<&'static QualityProto> {
        QUALITIES.iter().find(|q| q.name == name)
    }

    /// A tool's full durability at `quality`: the prototype's times the quality's tool
    /// durability multiplier, `1 + level` by default in 2.0 (`QualityPrototype::
    /// tool_durability_multiplier`): an uncommon repair pack lasts twice as long, a legendary
    /// one six times. `None` for an item without durability (or an unknown item or quality).
    pub(crate) fn durability(&self, name: &str, quality: &str) -> Option<f64> {
        let base = self.item(name)?.durability?;
        Some(base * f64::from(1 + self.quality(quality)?.level))
    }

    /// Level used to sort contents by quality.
    pub(crate) fn quality_level(&self, name: &str) -> u32 {
        self.quality(name).map(|q| q.level).unwrap_or(u32::MAX)
    }
}
