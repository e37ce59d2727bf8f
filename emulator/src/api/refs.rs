//! Handles to world objects, and their save form.

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, InventoryKind, ItemStack};
use crate::world::World;

/// Which inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InvId {
    Character {
        unit: u32,
        kind: InventoryKind,
    },
    God {
        player: u32,
    },
    /// The editor controller's main inventory of a player.
    Editor {
        player: u32,
    },
    Script {
        id: u32,
    },
    /// The inventory of the item with inventory in 0-based `slot` of a character's inventory.
    Item {
        unit: u32,
        kind: InventoryKind,
        slot: usize,
    },
    /// The inventory of the item with inventory in a player's cursor.
    CursorItem {
        player: u32,
    },
}

/// Which item stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StackId {
    /// `slot` is 0-based.
    Slot {
        inv: InvId,
        slot: usize,
    },
    Cursor {
        player: u32,
    },
}

/// Any object a Lua value can refer to (the save form of API userdata found in `storage`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ObjRef {
    Player(u32),
    Entity(u32),
    Inventory(InvId),
    ItemStack(StackId),
    Gui(u32),
    GuiHolder(u32),
    ItemProto(String),
    QualityProto(String),
    Surface(u32),
    /// A character's requester point, by unit number.
    LogisticPoint(u32),
    /// A section of a character's requester point, by unit number and section identity.
    LogisticSection {
        unit: u32,
        id: u32,
    },
}

impl InvId {
    pub(crate) fn get<'a>(&self, w: &'a World) -> Option<&'a Inventory> {
        match *self {
            InvId::Character { unit, kind } => {
                w.characters.get(&unit).and_then(|c| c.inventory(kind))
            }
            InvId::God { player } => w.player(player).map(|p| &p.god_main),
            InvId::Editor { player } => w.player(player).map(|p| &p.editor_main),
            InvId::Script { id } => w.script_inventories.get(&id),
            InvId::Item { unit, kind, slot } => w
                .characters
                .get(&unit)
                .and_then(|c| c.inventory(kind))
                .and_then(|i| i.slots.get(slot))
                .and_then(|s| s.as_ref())
                .and_then(|s| s.extra.inventory.as_deref()),
            InvId::CursorItem { player } => w
                .player(player)
                .and_then(|p| p.cursor.as_ref())
                .and_then(|s| s.extra.inventory.as_deref()),
        }
    }

    pub(crate) fn get_mut<'a>(&self, w: &'a mut World) -> Option<&'a mut Inventory> {
        match *self {
            InvId::Character { unit, kind } => w
                .characters
                .get_mut(&unit)
                .and_then(|c| c.inventory_mut(kind)),
            InvId::God { player } => w.player_mut(player).map(|p| &mut p.god_main),
            InvId::Editor { player } => w.player_mut(player).map(|p| &mut p.editor_main),
            InvId::Script { id } => w.script_inventories.get_mut(&id),
            InvId::Item { unit, kind, slot } => w
                .characters
                .get_mut(&unit)
                .and_then(|c| c.inventory_mut(kind))
                .and_then(|i| i.slots.get_mut(slot))
                .and_then(|s| s.as_mut())
                .and_then(|s| s.extra.inventory.as_deref_mut()),
            InvId::CursorItem { player } => w
                .player_mut(player)
                .and_then(|p| p.cursor.as_mut())
                .and_then(|s| s.extra.inventory.as_deref_mut()),
        }
    }
}

impl StackId {
    /// Whether the slot exists.
    pub(crate) fn exists(&self, w: &World) -> bool {
        match *self {
            StackId::Slot { inv, slot } => inv.get(w).is_some_and(|i| slot < i.slots.len()),
            StackId::Cursor { player } => w.player(player).is_some(),
        }
    }

    pub(crate) fn get<'a>(&self, w: &'a World) -> Option<&'a Option<ItemStack>> {
        match *self {
            StackId::Slot { inv, slot } => inv.get(w).and_then(|i| i.slots.get(slot)),
            StackId::Cursor { player } => w.player(player).map(|p| &p.cursor),
        }
    }

    pub(crate) fn get_mut<'a>(&self, w: &'a mut World) -> Option<&'a mut Option<ItemStack>> {
        match *self {
            StackId::Slot { inv, slot } => inv.get_mut(w).and_then(|i| i.slots.get_mut(slot)),
            StackId::Cursor { player } => w.player_mut(player).map(|p| &mut p.cursor),
        }
    }

    /// The inventory kind the slot belongs to (the cursor accepts everything).
    pub(crate) fn inventory_kind(&self) -> Option<InventoryKind> {
        match *self {
            StackId::Slot {
                inv: InvId::Character { kind, .. },
                ..
            } => Some(kind),
            StackId::Slot {
                inv: InvId::Item { .. } | InvId::CursorItem { .. },
                ..
            } => Some(InventoryKind::ItemMain),
            _ => None,
        }
    }
}
