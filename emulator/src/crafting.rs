//! Hand crafting (`LuaControl.begin_crafting`, `cancel_crafting`, `crafting_queue`): pure Rust
//! rules, no Lua.
//!
//! Checked against runtime-api.json 2.0.45 (`LuaControl`, concept `CraftingQueueItem`). The
//! emulator's simplifications: a craft takes its ingredients from the main inventory only and
//! needs them all there (it queues no intermediate "prerequisite" crafts); the queue does not
//! progress with time (`crafting_queue_progress` changes only when a script sets it); cancelled
//! ingredients go into the main inventory, and what does not fit to the ground, as the game
//! spills them.

use crate::inventory::{InventoryKind, ItemStack, StackSpec};
use crate::items::{Prototypes, RECIPES, RecipeProto};
use crate::world::{CraftingQueueItem, World};

fn recipe(name: &str) -> Option<&'static RecipeProto> {
    RECIPES.iter().find(|r| r.name == name)
}

fn plain(name: &str, count: u32) -> ItemStack {
    ItemStack {
        name: name.to_string(),
        count,
        quality: "normal".to_string(),
        health: 1.0,
        durability: None,
        ammo: None,
        data: None,
        grid: None,
        // no modelled recipe makes an item that spoils
        extra: Default::default(),
    }
}

/// What `insert` takes to put `count` plain `name`.
pub(crate) fn plain_spec(name: &str, count: u32) -> StackSpec {
    let st = plain(name, count);
    StackSpec {
        name: st.name,
        count,
        quality: st.quality,
        health: 1.0,
        durability: None,
        ammo: None,
        data: None,
        grid: None,
        extra: Default::default(),
    }
}

/// The ingredients locked in a queue, as stacks (what a dead character's corpse receives).
pub(crate) fn queue_ingredients(queue: &[CraftingQueueItem]) -> Vec<ItemStack> {
    let mut out = Vec::new();
    for q in queue {
        if let Some(r) = recipe(&q.recipe) {
            for (name, n) in r.ingredients {
                out.push(plain(name, n * q.count));
            }
        }
    }
    out
}

/// Errors of the crafting calls, worded after the game's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CraftError {
    UnknownRecipe(String),
    NoCharacter,
    BadIndex(u32),
}

impl std::fmt::Display for CraftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CraftError::UnknownRecipe(r) => write!(f, "Invalid RecipeID: {r}"),
            CraftError::NoCharacter => write!(f, "LuaEntity API call when LuaEntity was invalid."),
            CraftError::BadIndex(i) => write!(f, "Invalid crafting queue index: {i}"),
        }
    }
}

/// `begin_crafting{count, recipe}` on character `unit`: queues as many crafts as the main
/// inventory's items pay for, up to `count`, taking the ingredients; returns how many.
pub(crate) fn begin(w: &mut World, unit: u32, name: &str, count: u32) -> Result<u32, CraftError> {
    let r = recipe(name).ok_or_else(|| CraftError::UnknownRecipe(name.to_string()))?;
    let c = w.characters.get_mut(&unit).ok_or(CraftError::NoCharacter)?;
    let main = c
        .inventory_mut(InventoryKind::CharacterMain)
        .expect("characters have a main inventory");
    let mut made = 0;
    while made < count {
        let affordable = r
            .ingredients
            .iter()
            .all(|(item, n)| main.count(Some(item), Some("normal")) >= u64::from(*n));
        if !affordable {
            break;
        }
        for (item, n) in r.ingredients {
            main.remove(item, "normal", *n);
        }
        made += 1;
    }
    if made > 0 {
        match c.crafting_queue.last_mut() {
            Some(last) if last.recipe == name => last.count += made,
            _ => c.crafting_queue.push(CraftingQueueItem {
                recipe: name.to_string(),
                count: made,
                prerequisite: false,
            }),
        }
    }
    Ok(made)
}

/// `cancel_crafting{index, count}` on character `unit` (index 1-based): the ingredients of the
/// cancelled crafts go back into the main inventory; what does not fit is spilled.
pub(crate) fn cancel(
    w: &mut World,
    protos: &Prototypes,
    unit: u32,
    index: u32,
    count: u32,
) -> Result<(), CraftError> {
    let c = w.characters.get_mut(&unit).ok_or(CraftError::NoCharacter)?;
    let at = (index as usize)
        .checked_sub(1)
        .filter(|i| *i < c.crafting_queue.len())
        .ok_or(CraftError::BadIndex(index))?;
    let entry = &mut c.crafting_queue[at];
    let n = count.min(entry.count);
    entry.count -= n;
    let name = entry.recipe.clone();
    if entry.count == 0 {
        c.crafting_queue.remove(at);
        if at == 0 {
            c.crafting_progress = 0.0;
        }
    }
    let mut spilled = Vec::new();
    if let Some(r) = recipe(&name) {
        let main = c
            .inventory_mut(InventoryKind::CharacterMain)
            .expect("characters have a main inventory");
        for (item, per) in r.ingredients {
            let total = per * n;
            let spec = plain_spec(item, total);
            let put = main.insert(protos, &spec);
            if put < total {
                spilled.push(plain(item, total - put));
            }
        }
    }
    w.ground.extend(spilled);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_takes_ingredients_and_cancel_gives_them_back() {
        let protos = Prototypes::default();
        let mut w = World::new(0);
        let p = w.create_player("ann");
        let unit = w.create_character_for(p);
        let main = &mut w.characters.get_mut(&unit).unwrap().main;
        main.insert(&protos, &plain_spec("iron-plate", 11));
        assert_eq!(begin(&mut w, unit, "iron-gear-wheel", 10).unwrap(), 5);
        assert_eq!(begin(&mut w, unit, "iron-gear-wheel", 1).unwrap(), 0);
        assert_eq!(begin(&mut w, unit, "pipe", 1).unwrap(), 1);
        let c = &w.characters[&unit];
        assert_eq!(c.crafting_queue.len(), 2);
        assert_eq!(c.main.count(Some("iron-plate"), None), 0);
        cancel(&mut w, &protos, unit, 1, 2).unwrap();
        assert_eq!(w.characters[&unit].main.count(Some("iron-plate"), None), 4);
        assert!(cancel(&mut w, &protos, unit, 3, 1).is_err());
        assert!(begin(&mut w, unit, "nope", 1).is_err());
    }
}
