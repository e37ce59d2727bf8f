//! The game world outside Lua: players, characters, inventories, GUI and the random generator.
//!
//! Everything here is saved, checksummed in lockstep mode and compared in heavy mode, so all maps
//! are ordered (`BTreeMap`) and the whole struct serialises deterministically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, InventoryKind, ItemStack};
use crate::items::Prototypes;
use crate::logistics::{Filters, RequesterPoint};

/// Base size of a character's main inventory (Factorio 2.0 character prototype).
pub(crate) const CHARACTER_MAIN_SLOTS: usize = 80;
/// Gun and ammo slots of a character.
pub(crate) const CHARACTER_GUN_SLOTS: usize = 3;
/// Armor slot.
pub(crate) const CHARACTER_ARMOR_SLOTS: usize = 1;
/// Trash slots; in the game they come with research, the emulator gives them from the start.
pub(crate) const CHARACTER_TRASH_SLOTS: usize = 10;
/// Main inventory of the god controller.
pub(crate) const GOD_MAIN_SLOTS: usize = 80;

/// A new editor main inventory (as large as the god's: the emulator's choice).
fn editor_main() -> Inventory {
    Inventory::new(InventoryKind::EditorMain, GOD_MAIN_SLOTS)
}

/// A map position (`MapPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Position {
    /// East-west, in tiles.
    pub x: f64,
    /// North-south, in tiles (south is positive).
    pub y: f64,
}

/// A colour (`Color`), each component from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Color {
    /// Red, 0 to 1.
    pub r: f64,
    /// Green, 0 to 1.
    pub g: f64,
    /// Blue, 0 to 1.
    pub b: f64,
    /// Alpha, 0 to 1.
    pub a: f64,
}

impl Default for Color {
    fn default() -> Self {
        // The game's default player colour (orange).
        Color {
            r: 0.869,
            g: 0.5,
            b: 0.13,
            a: 0.5,
        }
    }
}

/// `defines.controllers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Controller {
    /// `defines.controllers.ghost`.
    Ghost,
    /// `defines.controllers.character`.
    Character,
    /// `defines.controllers.god`.
    God,
    /// `defines.controllers.editor`.
    Editor,
    /// `defines.controllers.cutscene`.
    Cutscene,
    /// `defines.controllers.spectator`.
    Spectator,
    /// `defines.controllers.remote`.
    Remote,
}

impl Controller {
    pub(crate) const ALL: [(Controller, &'static str, u32); 7] = [
        (Controller::Ghost, "ghost", 0),
        (Controller::Character, "character", 1),
        (Controller::God, "god", 2),
        (Controller::Editor, "editor", 3),
        (Controller::Cutscene, "cutscene", 4),
        (Controller::Spectator, "spectator", 5),
        (Controller::Remote, "remote", 6),
    ];

    pub(crate) fn define(self) -> u32 {
        Self::ALL.iter().find(|c| c.0 == self).map_or(0, |c| c.2)
    }

    pub(crate) fn from_define(v: u32) -> Option<Controller> {
        Self::ALL.iter().find(|c| c.2 == v).map(|c| c.0)
    }
}

/// Character bonuses and modifiers (`LuaControl` fields of the game).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Bonuses {
    pub(crate) character_crafting_speed_modifier: f64,
    pub(crate) character_mining_speed_modifier: f64,
    pub(crate) character_running_speed_modifier: f64,
    pub(crate) character_build_distance_bonus: f64,
    pub(crate) character_item_drop_distance_bonus: f64,
    pub(crate) character_reach_distance_bonus: f64,
    pub(crate) character_resource_reach_distance_bonus: f64,
    pub(crate) character_item_pickup_distance_bonus: f64,
    pub(crate) character_loot_pickup_distance_bonus: f64,
    pub(crate) character_inventory_slots_bonus: f64,
    pub(crate) character_trash_slot_count_bonus: f64,
    pub(crate) character_maximum_following_robot_count_bonus: f64,
    pub(crate) character_health_bonus: f64,
}

impl Bonuses {
    /// Names of the bonus fields, as the Lua API spells them.
    pub const NAMES: [&'static str; 13] = [
        "character_crafting_speed_modifier",
        "character_mining_speed_modifier",
        "character_running_speed_modifier",
        "character_build_distance_bonus",
        "character_item_drop_distance_bonus",
        "character_reach_distance_bonus",
        "character_resource_reach_distance_bonus",
        "character_item_pickup_distance_bonus",
        "character_loot_pickup_distance_bonus",
        "character_inventory_slots_bonus",
        "character_trash_slot_count_bonus",
        "character_maximum_following_robot_count_bonus",
        "character_health_bonus",
    ];

    /// Whether the field only takes whole non-negative numbers.
    pub(crate) fn is_integer(name: &str) -> bool {
        // runtime-api.json 2.0.45: the `_bonus` fields are `uint`, except the health bonus (float)
        name.ends_with("_bonus") && name != "character_health_bonus"
    }

    pub(crate) fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "character_crafting_speed_modifier" => self.character_crafting_speed_modifier,
            "character_mining_speed_modifier" => self.character_mining_speed_modifier,
            "character_running_speed_modifier" => self.character_running_speed_modifier,
            "character_build_distance_bonus" => self.character_build_distance_bonus,
            "character_item_drop_distance_bonus" => self.character_item_drop_distance_bonus,
            "character_reach_distance_bonus" => self.character_reach_distance_bonus,
            "character_resource_reach_distance_bonus" => {
                self.character_resource_reach_distance_bonus
            }
            "character_item_pickup_distance_bonus" => self.character_item_pickup_distance_bonus,
            "character_loot_pickup_distance_bonus" => self.character_loot_pickup_distance_bonus,
            "character_inventory_slots_bonus" => self.character_inventory_slots_bonus,
            "character_trash_slot_count_bonus" => self.character_trash_slot_count_bonus,
            "character_maximum_following_robot_count_bonus" => {
                self.character_maximum_following_robot_count_bonus
            }
            "character_health_bonus" => self.character_health_bonus,
            _ => return None,
        })
    }

    pub(crate) fn set(&mut self, name: &str, v: f64) -> bool {
        let slot = match name {
            "character_crafting_speed_modifier" => &mut self.character_crafting_speed_modifier,
            "character_mining_speed_modifier" => &mut self.character_mining_speed_modifier,
            "character_running_speed_modifier" => &mut self.character_running_speed_modifier,
            "character_build_distance_bonus" => &mut self.character_build_distance_bonus,
            "character_item_drop_distance_bonus" => &mut self.character_item_drop_distance_bonus,
            "character_reach_distance_bonus" => &mut self.character_reach_distance_bonus,
            "character_resource_reach_distance_bonus" => {
                &mut self.character_resource_reach_distance_bonus
            }
            "character_item_pickup_distance_bonus" => {
                &mut self.character_item_pickup_distance_bonus
            }
            "character_loot_pickup_distance_bonus" => {
                &mut self.character_loot_pickup_distance_bonus
            }
            "character_inventory_slots_bonus" => &mut self.character_inventory_slots_bonus,
            "character_trash_slot_count_bonus" => &mut self.character_trash_slot_count_bonus,
            "character_maximum_following_robot_count_bonus" => {
                &mut self.character_maximum_following_robot_count_bonus
            }
            "character_health_bonus" => &mut self.character_health_bonus,
            _ => return false,
        };
        *slot = v;
        true
    }
}

/// A character entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Character {
    /// `LuaEntity.unit_number`.
    pub unit_number: u32,
    /// Index of the player controlling it, if any.
    pub player: Option<u32>,
    /// Where it stands.
    pub position: Position,
    /// Hit points.
    pub health: f64,
    /// `defines.inventory.character_main`.
    pub main: Inventory,
    /// `defines.inventory.character_guns`.
    pub guns: Inventory,
    /// `defines.inventory.character_ammo`.
    pub ammo: Inventory,
    /// `defines.inventory.character_armor`.
    pub armor: Inventory,
    /// `defines.inventory.character_trash`.
    pub trash: Inventory,
    /// Its `LuaControl` bonuses and modifiers.
    pub bonuses: Bonuses,
    /// `LuaControl.crafting_queue`, first entry in progress.
    #[serde(default)]
    pub crafting_queue: Vec<CraftingQueueItem>,
    /// `LuaControl.crafting_queue_progress`, 0..1 (0 when the queue is empty).
    #[serde(default)]
    pub crafting_progress: f64,
    /// `LuaControl.character_additional_mining_categories`.
    #[serde(default)]
    pub additional_mining_categories: Vec<String>,
    /// `LuaControl.is_flashlight_enabled()` (on for a new character).
    #[serde(default = "flashlight_on")]
    pub flashlight: bool,
    /// `LuaControl.get_requester_point()`: personal logistic requests and trash settings.
    #[serde(default)]
    pub requester: RequesterPoint,
}

fn flashlight_on() -> bool {
    true
}

fn requests_on() -> bool {
    true
}

/// One entry of a crafting queue (`CraftingQueueItem`; its `index` is its place in the list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CraftingQueueItem {
    /// The recipe.
    pub recipe: String,
    /// `CraftingQueueItem.count`: crafts of the recipe in this entry.
    pub count: u32,
    /// Always false in the emulator: it queues no intermediate crafts.
    pub prerequisite: bool,
}

impl Character {
    pub(crate) fn new(unit_number: u32, player: Option<u32>, position: Position) -> Character {
        Character {
            unit_number,
            player,
            position,
            health: 250.0,
            main: Inventory::new(InventoryKind::CharacterMain, CHARACTER_MAIN_SLOTS),
            guns: Inventory::new(InventoryKind::CharacterGuns, CHARACTER_GUN_SLOTS),
            ammo: Inventory::new(InventoryKind::CharacterAmmo, CHARACTER_GUN_SLOTS),
            armor: Inventory::new(InventoryKind::CharacterArmor, CHARACTER_ARMOR_SLOTS),
            trash: Inventory::new(InventoryKind::CharacterTrash, CHARACTER_TRASH_SLOTS),
            bonuses: Bonuses::default(),
            crafting_queue: Vec::new(),
            crafting_progress: 0.0,
            additional_mining_categories: Vec::new(),
            flashlight: true,
            requester: RequesterPoint::default(),
        }
    }

    pub(crate) fn inventory(&self, kind: InventoryKind) -> Option<&Inventory> {
        match kind {
            InventoryKind::CharacterMain => Some(&self.main),
            InventoryKind::CharacterGuns => Some(&self.guns),
            InventoryKind::CharacterAmmo => Some(&self.ammo),
            InventoryKind::CharacterArmor => Some(&self.armor),
            InventoryKind::CharacterTrash => Some(&self.trash),
            _ => None,
        }
    }

    pub(crate) fn inventory_mut(&mut self, kind: InventoryKind) -> Option<&mut Inventory> {
        match kind {
            InventoryKind::CharacterMain => Some(&mut self.main),
            InventoryKind::CharacterGuns => Some(&mut self.guns),
            InventoryKind::CharacterAmmo => Some(&mut self.ammo),
            InventoryKind::CharacterArmor => Some(&mut self.armor),
            InventoryKind::CharacterTrash => Some(&mut self.trash),
            _ => None,
        }
    }

    /// Apply the slot bonuses (the character's and its armor's) to the inventory sizes;
    /// returns the stacks of slots that no longer exist (the game spills them on the ground).
    pub(crate) fn apply_slot_bonuses(&mut self, protos: &Prototypes) -> Vec<ItemStack> {
        let armor = self.armor.slots.iter().flatten().next().map_or(0, |s| {
            protos
                .item(&s.name)
                .map_or(0, |p| p.inventory_size_bonus as usize)
        });
        let main = CHARACTER_MAIN_SLOTS
            + self.bonuses.character_inventory_slots_bonus.max(0.0) as usize
            + armor;
        let mut spilled = self.main.resize(main);
        let trash =
            CHARACTER_TRASH_SLOTS + self.bonuses.character_trash_slot_count_bonus.max(0.0) as usize;
        spilled.extend(self.trash.resize(trash));
        spilled
    }
}

/// A player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// `LuaPlayer.index` (1-based, in joining order).
    pub index: u32,
    /// `LuaPlayer.name`.
    pub name: String,
    /// Whether the player is online.
    pub connected: bool,
    /// `LuaPlayer.admin`.
    pub admin: bool,
    /// `LuaPlayer.controller_type`.
    pub controller: Controller,
    /// Unit number of the character the player controls, kept while offline.
    pub character: Option<u32>,
    /// Where the player is.
    pub position: Position,
    /// `LuaPlayer.color`.
    pub color: Color,
    /// `LuaPlayer.chat_color`.
    pub chat_color: Color,
    /// `LuaPlayer.cursor_stack`.
    pub cursor: Option<ItemStack>,
    /// The main inventory of the god controller.
    pub god_main: Inventory,
    /// The editor controller's own main inventory (the game keeps it apart from the god's and
    /// the character's).
    #[serde(default = "editor_main")]
    pub editor_main: Inventory,
    /// Root GUI elements: screen, top, left, center, goal, relative.
    pub gui_roots: BTreeMap<String, u32>,
    /// `LuaPlayer.online_time`, in ticks.
    pub online_ticks: u64,
    /// `LuaPlayer.last_online`: the tick the player last left the game.
    pub last_online: u64,
    /// `LuaPlayer.tag`.
    pub tag: String,
    /// Ticks until a dead player respawns (`LuaPlayer.ticks_to_respawn`); None when not dead.
    #[serde(default)]
    pub ticks_to_respawn: Option<u32>,
    /// Quick bar slots (`get_quick_bar_slot`, 1..=100) holding an item filter: name, quality.
    #[serde(default)]
    pub quick_bar: BTreeMap<u32, (String, String)>,
    /// `LuaControl.cheat_mode`.
    #[serde(default)]
    pub cheat_mode: bool,
    /// `LuaControl.opened`: the GUI element the player has open (only elements are modelled).
    #[serde(default)]
    pub opened: Option<u32>,
    /// The requester point of a character that died, given to the next character the player
    /// gets (the game keeps the requests on a player waiting to respawn).
    #[serde(default)]
    pub requester_while_dead: Option<RequesterPoint>,
}

/// Quick bar slots of a player (10 pages of 10).
pub(crate) const QUICK_BAR_SLOTS: u32 = 100;

/// Kinds of GUI element the emulator models.
pub(crate) const GUI_TYPES: [&str; 6] = [
    "frame",
    "label",
    "progressbar",
    "button",
    "flow",
    "empty-widget",
];
/// Names of the GUI roots of `LuaGui`.
pub(crate) const GUI_ROOTS: [&str; 6] = ["screen", "top", "left", "center", "goal", "relative"];

/// A GUI element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuiElement {
    /// `LuaGuiElement.index`.
    pub index: u32,
    /// Index of the player it belongs to.
    pub player: u32,
    /// Index of its parent; None for a root.
    pub parent: Option<u32>,
    /// `LuaGuiElement.type`.
    pub kind: String,
    /// `LuaGuiElement.name`.
    pub name: String,
    /// `LuaGuiElement.caption` (a LocalisedString).
    pub caption: serde_json::Value,
    /// `LuaGuiElement.tooltip` (a LocalisedString).
    pub tooltip: serde_json::Value,
    /// `LuaGuiElement.value` (progressbars).
    pub value: f64,
    /// `LuaGuiElement.visible`.
    pub visible: bool,
    /// `LuaGuiElement.enabled`.
    pub enabled: bool,
    /// `LuaGuiElement.direction` (frames and flows).
    pub direction: String,
    /// `LuaGuiElement.style`, by name.
    pub style: String,
    /// `LuaGuiElement.tags`.
    pub tags: serde_json::Value,
    /// `LuaGuiElement.auto_center`.
    pub auto_center: bool,
    /// Indexes of its children, in order.
    pub children: Vec<u32>,
}

/// The world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct World {
    /// The tick the game is at (`game.tick`).
    pub tick: u64,
    /// State of the deterministic `math.random` generator.
    pub(crate) rng: u64,
    /// Every player who ever joined, by index - 1.
    pub players: Vec<Player>,
    /// Characters by unit number, with or without a player.
    pub characters: BTreeMap<u32, Character>,
    pub(crate) next_unit_number: u32,
    /// GUI elements by index.
    pub gui: BTreeMap<u32, GuiElement>,
    pub(crate) next_gui_index: u32,
    /// Inventories of `game.create_inventory`, by id.
    pub script_inventories: BTreeMap<u32, Inventory>,
    pub(crate) next_script_inventory: u32,
    /// Set once the first console Lua command was refused with the achievements warning.
    pub(crate) achievements_disabled: bool,
    /// Stacks that left every inventory without being destroyed: spilled on the ground when
    /// an inventory shrank, or left in the corpse of a character that died.
    #[serde(default)]
    pub ground: Vec<ItemStack>,
    /// Logistic groups of the force `player` by name: the filters its sections in that group
    /// share.
    #[serde(default)]
    pub logistic_groups: BTreeMap<String, Filters>,
    /// `LuaForce.character_logistic_requests` of the force `player`: without it `set_slot`
    /// does nothing, as the game's does before research. On from the start, like trash slots.
    #[serde(default = "requests_on")]
    pub character_logistic_requests: bool,
}

impl World {
    pub(crate) fn new(seed: u64) -> World {
        World {
            rng: seed,
            next_unit_number: 1,
            next_gui_index: 1,
            next_script_inventory: 1,
            character_logistic_requests: true,
            ..World::default()
        }
    }

    pub(crate) fn player(&self, index: u32) -> Option<&Player> {
        index
            .checked_sub(1)
            .and_then(|i| self.players.get(i as usize))
    }

    pub(crate) fn player_mut(&mut self, index: u32) -> Option<&mut Player> {
        index
            .checked_sub(1)
            .and_then(|i| self.players.get_mut(i as usize))
    }

    /// The player named `name`, online or not.
    pub fn player_by_name(&self, name: &str) -> Option<&Player> {
        self.players.iter().find(|p| p.name == name)
    }

    pub(crate) fn connected_count(&self) -> usize {
        self.players.iter().filter(|p| p.connected).count()
    }

    /// Create a player with its GUI roots (no character yet).
    pub(crate) fn create_player(&mut self, name: &str) -> u32 {
        let index = self.players.len() as u32 + 1;
        let mut roots = BTreeMap::new();
        for root in GUI_ROOTS {
            let id = self.alloc_gui(index, None, "empty-widget", root);
            roots.insert(root.to_string(), id);
        }
        self.players.push(Player {
            index,
            name: name.to_string(),
            connected: false,
            admin: false,
            controller: Controller::Ghost,
            character: None,
            position: Position::default(),
            color: Color::default(),
            chat_color: Color::default(),
            cursor: None,
            god_main: Inventory::new(InventoryKind::GodMain, GOD_MAIN_SLOTS),
            editor_main: editor_main(),
            gui_roots: roots,
            online_ticks: 0,
            last_online: 0,
            tag: String::new(),
            ticks_to_respawn: None,
            quick_bar: BTreeMap::new(),
            cheat_mode: false,
            opened: None,
            requester_while_dead: None,
        });
        index
    }

    /// Create a character and attach it to the player.
    pub(crate) fn create_character_for(&mut self, player: u32) -> u32 {
        let unit = self.next_unit_number;
        self.next_unit_number += 1;
        let pos = self.player(player).map(|p| p.position).unwrap_or_default();
        let mut c = Character::new(unit, Some(player), pos);
        if let Some(p) = self.player_mut(player) {
            p.character = Some(unit);
            p.controller = Controller::Character;
            if let Some(r) = p.requester_while_dead.take() {
                c.requester = r;
            }
        }
        self.characters.insert(unit, c);
        unit
    }

    /// Resize character `unit`'s inventories after a change of its bonuses or armor; what no
    /// longer fits goes to the ground.
    pub(crate) fn refresh_character(&mut self, protos: &Prototypes, unit: u32) {
        if let Some(c) = self.characters.get_mut(&unit) {
            let spilled = c.apply_slot_bonuses(protos);
            self.ground.extend(spilled);
        }
    }

    /// Kill character `unit` (`LuaEntity.die`): its items go to its corpse (the ground here),
    /// and a player controlling it waits `respawn` ticks to respawn, without a character.
    pub(crate) fn kill_character(&mut self, unit: u32, respawn: u32) -> Option<u32> {
        let c = self.characters.remove(&unit)?;
        for inv in [c.main, c.guns, c.ammo, c.armor, c.trash] {
            self.ground.extend(inv.slots.into_iter().flatten());
        }
        // the ingredients of the crafting queue go to the corpse too
        self.ground
            .extend(crate::crafting::queue_ingredients(&c.crafting_queue));
        let player = c.player?;
        let p = self.player_mut(player)?;
        p.character = None;
        p.controller = Controller::Ghost;
        p.ticks_to_respawn = Some(respawn);
        p.requester_while_dead = Some(c.requester);
        Some(player)
    }

    /// Detach the player's character (it stays in the world, like the game's spectator switch).
    pub(crate) fn detach_character(&mut self, player: u32) {
        let unit = self.player_mut(player).and_then(|p| p.character.take());
        if let Some(unit) = unit
            && let Some(c) = self.characters.get_mut(&unit)
        {
            c.player = None;
        }
    }

    pub(crate) fn alloc_gui(
        &mut self,
        player: u32,
        parent: Option<u32>,
        kind: &str,
        name: &str,
    ) -> u32 {
        let index = self.next_gui_index;
        self.next_gui_index += 1;
        self.gui.insert(
            index,
            GuiElement {
                index,
                player,
                parent,
                kind: kind.to_string(),
                name: name.to_string(),
                caption: serde_json::Value::String(String::new()),
                tooltip: serde_json::Value::String(String::new()),
                value: 0.0,
                visible: true,
                enabled: true,
                direction: "horizontal".to_string(),
                style: String::new(),
                tags: serde_json::Value::Object(Default::default()),
                auto_center: false,
                children: Vec::new(),
            },
        );
        if let Some(p) = parent
            && let Some(pe) = self.gui.get_mut(&p)
        {
            pe.children.push(index);
        }
        index
    }

    /// Destroy a GUI element and its subtree.
    pub(crate) fn destroy_gui(&mut self, index: u32) {
        let Some(el) = self.gui.remove(&index) else {
            return;
        };
        if let Some(p) = el.parent
            && let Some(pe) = self.gui.get_mut(&p)
        {
            pe.children.retain(|c| *c != index);
        }
        let mut stack = el.children;
        while let Some(c) = stack.pop() {
            if let Some(ch) = self.gui.remove(&c) {
                stack.extend(ch.children);
            }
        }
    }

    /// Next value of the deterministic generator (splitmix64), as a float in [0, 1).
    pub(crate) fn next_random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
