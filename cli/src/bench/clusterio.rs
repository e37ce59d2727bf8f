//! Our model of the player data Clusterio's inventory_sync moves: the JSON its controller sends
//! back into a game (`JSON.stringify` of what the game's `serialize_player` uploaded), for the
//! same player the invsync samples describe.
//!
//! Written from reading Clusterio's Lua (plugins/inventory_sync/module/serialize.lua and the
//! item library it uses, packages/host/modules/clusterio/serialize.lua); none of its code is
//! here. What it stores, for what our player data holds:
//!
//! * the player: `generation`, `controller`, `name`, `color`, `chat_color`, `tag`, `force`,
//!   `cheat_mode`, `flashlight`; `character` with the 14 character properties it keeps and
//!   `inventories` (armor, main, guns, ammo, trash); `crafting_queue` (empty here).
//! * an inventory: `{"i": [entries]}`, one entry per run of identical slots: `r` counts the
//!   slots after the first that repeat it, `s` is its slot when that is not the slot after the
//!   previous entry's last (and every entry after an empty slot has one, as Clusterio forgets
//!   the previous slot there).
//! * an entry: `e` (the export string) for blueprints, books and planners; otherwise `n`
//!   (name), `c` (count), `q` (quality, unless normal), `h` (health, below 1), `d` (durability,
//!   items of type `tool` only), `a` (ammo, every `ammo` item, full or not).
//!
//! Left out because the samples have none of it (each would make Clusterio's form larger):
//! quick bar, personal logistics, labels, equipment grids, item inventories, slot filters,
//! `recipe_notifications` (Factorio 2.0.67 and later: a deflated list of recipe names). The
//! cursor stack is not in Clusterio's form at all.

use invsync_emulator::{Bonuses, Prototypes};
use invsync_player_data::{Inventories, PlayerData, Stack};
use serde_json::{Map, Value, json};

/// The one character property Clusterio stores (define_player_stat_keys.lua, Factorio 2.0)
/// beyond the bonuses the emulator models (`Bonuses::NAMES`, the same 13): a list of names.
pub const MINING_CATEGORIES: &str = "character_additional_mining_categories";

/// A number as JavaScript's `JSON.stringify` writes it: whole numbers without a fraction.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// One slot's entry, without `s` and `r`.
fn entry(stack: &Stack, protos: &Prototypes) -> Map<String, Value> {
    let mut e = Map::new();
    let proto = protos.item(&stack.name);
    if let Some(export) = &stack.export {
        e.insert("e".into(), json!(export));
        return e;
    }
    e.insert("n".into(), json!(stack.name));
    e.insert("c".into(), json!(stack.count));
    if let Some(q) = stack.quality.as_deref().filter(|q| *q != "normal") {
        e.insert("q".into(), json!(q));
    }
    if let Some(h) = stack.health.filter(|h| *h < 1.0) {
        e.insert("h".into(), number(h));
    }
    match proto.map(|p| p.kind) {
        Some("tool") => {
            let full = proto.and_then(|p| p.durability).unwrap_or(1.0);
            e.insert("d".into(), number(stack.durability.unwrap_or(full)));
        }
        Some("ammo") => {
            let full = proto.and_then(|p| p.magazine_size).unwrap_or(1);
            e.insert("a".into(), number(stack.ammo.unwrap_or(f64::from(full))));
        }
        _ => {}
    }
    e
}

/// `{"i": [...]}` for the stacks of one inventory (each with its slot).
pub fn inventory(stacks: &[Stack], protos: &Prototypes) -> Value {
    let mut sorted: Vec<&Stack> = stacks.iter().collect();
    sorted.sort_by_key(|s| s.slot.unwrap_or(0));
    let mut entries: Vec<Map<String, Value>> = Vec::new();
    let mut previous: Option<Map<String, Value>> = None;
    let mut previous_index = 0u32;
    let mut last_slot = 0u32;
    for stack in sorted {
        let slot = stack.slot.unwrap_or(last_slot + 1);
        if slot != last_slot + 1 {
            // an empty slot before this one
            previous = None;
            previous_index = 0;
        }
        last_slot = slot;
        let item = entry(stack, protos);
        if previous.as_ref() == Some(&item) {
            let run = entries.last_mut().expect("a previous entry");
            let r = run.get("r").and_then(Value::as_u64).unwrap_or(0);
            run.insert("r".into(), json!(r + 1));
        } else {
            let mut placed = item.clone();
            if slot != previous_index + 1 {
                placed.insert("s".into(), json!(slot));
            }
            entries.push(placed);
            previous = Some(item);
        }
        previous_index = slot;
    }
    json!({ "i": entries })
}

fn color(c: Option<&invsync_player_data::Color>) -> Value {
    let c = c.copied().unwrap_or(invsync_player_data::Color {
        r: 1.0,
        g: 1.0,
        b: 1.0,
        a: 1.0,
    });
    json!({ "r": number(c.r), "g": number(c.g), "b": number(c.b), "a": number(c.a) })
}

/// The player as Clusterio's controller sends it into a game (one line of JSON).
pub fn player_json(p: &PlayerData, protos: &Prototypes) -> String {
    let Inventories {
        main,
        guns,
        ammo,
        armor,
        trash,
    } = &p.inventories;
    let mut character = Map::new();
    character.insert(MINING_CATEGORIES.into(), json!([]));
    for key in Bonuses::NAMES {
        let value = number(p.bonuses.get(key).copied().unwrap_or(0.0));
        character.insert(key.into(), value);
    }
    character.insert(
        "inventories".into(),
        json!({
            "armor": inventory(armor, protos),
            "main": inventory(main, protos),
            "guns": inventory(guns, protos),
            "ammo": inventory(ammo, protos),
            "trash": inventory(trash, protos),
        }),
    );
    json!({
        "generation": 1,
        "controller": "character",
        "name": p.name,
        "color": color(p.color.as_ref()),
        "chat_color": color(p.chat_color.as_ref()),
        "tag": "",
        "force": "player",
        "cheat_mode": false,
        "flashlight": true,
        "character": character,
        "crafting_queue": { "crafting_queue": [], "crafting_queue_progress": 0, "ingredients": [] },
    })
    .to_string()
}

/// Items in the player's five inventories (what the game should hold once either form is
/// applied; the cursor is not among them).
pub fn items(p: &PlayerData) -> u64 {
    let i = &p.inventories;
    [&i.main, &i.guns, &i.ammo, &i.armor, &i.trash]
        .into_iter()
        .flatten()
        .map(|s| u64::from(s.count))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use invsync_player_data::{SampleKind, sample};

    fn stack(slot: u32, name: &str, count: u32) -> Stack {
        Stack::plain(slot, name, count)
    }

    #[test]
    fn runs_of_identical_slots_become_one_entry() {
        let protos = Prototypes::default();
        let stacks = [
            stack(1, "iron-plate", 100),
            stack(2, "iron-plate", 100),
            stack(3, "iron-plate", 100),
            stack(4, "iron-plate", 37),
            // slot 5 empty
            stack(6, "iron-plate", 100),
            stack(7, "iron-plate", 100),
            Stack {
                quality: Some("rare".into()),
                ..stack(8, "iron-plate", 100)
            },
        ];
        let got = inventory(&stacks, &protos);
        let want = json!({ "i": [
            { "n": "iron-plate", "c": 100, "r": 2 },
            { "n": "iron-plate", "c": 37 },
            { "n": "iron-plate", "c": 100, "s": 6, "r": 1 },
            { "n": "iron-plate", "c": 100, "q": "rare" },
        ]});
        assert_eq!(got, want);
    }

    #[test]
    fn a_run_starting_after_a_gap_names_its_slot_even_at_the_start() {
        let protos = Prototypes::default();
        let got = inventory(&[stack(3, "coal", 50), stack(4, "stone", 50)], &protos);
        assert_eq!(
            got,
            json!({ "i": [{ "n": "coal", "c": 50, "s": 3 }, { "n": "stone", "c": 50 }] })
        );
    }

    #[test]
    fn ammo_always_and_tools_carry_their_charge_exports_only_the_string() {
        let protos = Prototypes::default();
        let stacks = [
            stack(1, "piercing-rounds-magazine", 10),
            Stack {
                ammo: Some(7.0),
                ..stack(2, "piercing-rounds-magazine", 10)
            },
            stack(3, "automation-science-pack", 5),
            Stack {
                durability: Some(150.0),
                health: Some(0.5),
                ..stack(4, "repair-pack", 5)
            },
            Stack {
                export: Some("0eNqrVkrKKMnPU7KqVsrPzE3MyaxSgjDVQlJqUgAAgoAJmQ==".into()),
                ..stack(5, "blueprint", 1)
            },
        ];
        let magazine = protos
            .item("piercing-rounds-magazine")
            .and_then(|p| p.magazine_size)
            .expect("a magazine");
        let got = inventory(&stacks, &protos);
        let want = json!({ "i": [
            { "n": "piercing-rounds-magazine", "c": 10, "a": magazine },
            { "n": "piercing-rounds-magazine", "c": 10, "a": 7 },
            { "n": "automation-science-pack", "c": 5, "d": 1 },
            // repair packs are `repair-tool`, not `tool`: Clusterio keeps no durability
            { "n": "repair-pack", "c": 5, "h": 0.5 },
            { "e": "0eNqrVkrKKMnPU7KqVsrPzE3MyaxSgjDVQlJqUgAAgoAJmQ==" },
        ]});
        assert_eq!(got, want);
    }

    #[test]
    fn the_rep_sample_shrinks_to_a_tenth_and_keeps_every_item() {
        let protos = Prototypes::default();
        let p = sample(SampleKind::Rep, 1);
        let long = p.to_json_format_1().len();
        let text = player_json(&p, &protos);
        assert!(
            text.len() * 5 < long,
            "runs of full stacks compress: {} of {long} bytes",
            text.len()
        );
        // and format 2, with runs of its own, is smaller still
        let dense = p.to_json().len();
        assert!(
            dense < text.len(),
            "format 2: {dense} of {} bytes",
            text.len()
        );
        // every item is in the form: count the slots each entry stands for
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut total = 0u64;
        for inv in v["character"]["inventories"].as_object().unwrap().values() {
            for e in inv["i"].as_array().unwrap() {
                let repeats = 1 + e.get("r").and_then(Value::as_u64).unwrap_or(0);
                let count = e.get("c").and_then(Value::as_u64).unwrap_or(1);
                total += repeats * count;
            }
        }
        assert_eq!(total, items(&p));
        assert_eq!(v["name"], p.name);
    }
}
