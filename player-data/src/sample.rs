//! Deterministic samples of realistic player data, for tests and benchmarks.
//!
//! | kind | size (format 1 / format 2) | what |
//! |---|---|---|
//! | `small` | ~2 kB / ~1 kB | one ordinary character |
//! | `rep` | ~200 kB / ~14 kB | a (modded) character with a huge inventory of ordinary, sorted stacks: very compressible |
//! | `bp` | ~200 kB / ~200 kB | blueprints and books as the game exports them, `"0"` + base64(zlib(json)): nearly incompressible |
//! | `huge` | >= 1 MB / ~650 kB | both of the above at once |
//!
//! The samples are made to their format 1 sizes (the players they were before format 2) and
//! written in format 2 ([`generate`]); docs/PLAYER_DATA.md has the measured sizes.
//!
//! The generator uses its own SplitMix64 rather than `rand`, so a given seed yields the same bytes
//! across dependency upgrades (benchmarks stay comparable). Blueprint strings go through
//! `miniz_oxide` at level 9, as pinned by the lock file.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::player::{Color, Inventories, PlayerData, Stack};

/// Which sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleKind {
    /// ~2 kB (format 1), one ordinary character.
    Small,
    /// ~200 kB (format 1) of ordinary, repetitive stacks.
    Rep,
    /// ~200 kB (format 1, about as much in format 2), mostly blueprint and book strings.
    Bp,
    /// >= 1 MB (format 1), mixed.
    Huge,
}

impl SampleKind {
    /// Every kind, smallest first.
    pub const ALL: [SampleKind; 4] = [
        SampleKind::Small,
        SampleKind::Rep,
        SampleKind::Bp,
        SampleKind::Huge,
    ];

    /// The kind's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Small => "small",
            SampleKind::Rep => "rep",
            SampleKind::Bp => "bp",
            SampleKind::Huge => "huge",
        }
    }
}

impl fmt::Display for SampleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SampleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SampleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown sample kind `{s}` (expected small, rep, bp or huge)"))
    }
}

/// SplitMix64, the samples' random numbers: tiny, fast, and the same sequence for a seed forever
/// (no dependency upgrade can change it), so seeded tests, demos and benchmarks replay exactly.
/// Not for anything that needs unpredictability.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator whose sequence `seed` names.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (modulo, so very slightly biased for huge `n`); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, or `None` when there are none.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// One of the generator's own non-empty tables.
fn one_of<'a, T>(rng: &mut SplitMix64, table: &'a [T]) -> &'a T {
    &table[rng.below(table.len() as u64) as usize]
}

/// Ordinary items with their stack sizes (Factorio 2.0 base game).
const ITEMS: &[(&str, u32)] = &[
    ("iron-plate", 100),
    ("copper-plate", 100),
    ("steel-plate", 100),
    ("iron-gear-wheel", 100),
    ("copper-cable", 200),
    ("electronic-circuit", 200),
    ("advanced-circuit", 200),
    ("processing-unit", 100),
    ("plastic-bar", 100),
    ("battery", 200),
    ("engine-unit", 50),
    ("electric-engine-unit", 50),
    ("flying-robot-frame", 50),
    ("low-density-structure", 50),
    ("transport-belt", 100),
    ("fast-transport-belt", 100),
    ("express-transport-belt", 100),
    ("underground-belt", 50),
    ("fast-underground-belt", 50),
    ("splitter", 50),
    ("inserter", 50),
    ("fast-inserter", 50),
    ("long-handed-inserter", 50),
    ("bulk-inserter", 50),
    ("assembling-machine-2", 50),
    ("assembling-machine-3", 50),
    ("electric-mining-drill", 50),
    ("steel-furnace", 50),
    ("electric-furnace", 50),
    ("small-electric-pole", 50),
    ("medium-electric-pole", 50),
    ("big-electric-pole", 50),
    ("substation", 50),
    ("pipe", 100),
    ("pipe-to-ground", 50),
    ("pump", 50),
    ("solar-panel", 50),
    ("accumulator", 50),
    ("roboport", 10),
    ("construction-robot", 50),
    ("logistic-robot", 50),
    ("rail", 100),
    ("rail-signal", 50),
    ("rail-chain-signal", 50),
    ("train-stop", 10),
    ("stone-wall", 100),
    ("gun-turret", 10),
    ("laser-turret", 50),
    ("radar", 50),
    ("concrete", 100),
    ("refined-concrete", 100),
    ("landfill", 100),
    ("speed-module-2", 50),
    ("productivity-module-3", 50),
    ("efficiency-module", 50),
    ("beacon", 20),
    ("coal", 50),
    ("stone", 50),
    ("wood", 100),
    ("repair-pack", 100),
    ("cliff-explosives", 20),
];
const QUALITIES: &[&str] = &["uncommon", "rare", "epic", "legendary"];
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dmitri", "eve", "fjord", "grace", "hiro", "ines", "jun",
];

/// The sample's JSON bytes: `sample(kind, seed)` as the game writes it.
pub fn generate(kind: SampleKind, seed: u64) -> Vec<u8> {
    sample(kind, seed).to_json().into_bytes()
}

/// The sample of `kind` that `seed` names, as typed data.
pub fn sample(kind: SampleKind, seed: u64) -> PlayerData {
    let mut rng = SplitMix64::new(seed ^ (kind as u64).wrapping_mul(0x1000_0000_01b3));
    let mut p = base_player(&mut rng);
    match kind {
        SampleKind::Small => {
            fill_ordinary(&mut rng, &mut p, 1_700);
        }
        SampleKind::Rep => {
            fill_ordinary(&mut rng, &mut p, 200_000);
        }
        SampleKind::Bp => {
            fill_ordinary(&mut rng, &mut p, 6_000);
            fill_blueprints(&mut rng, &mut p, 200_000);
        }
        SampleKind::Huge => {
            fill_ordinary(&mut rng, &mut p, 420_000);
            fill_blueprints(&mut rng, &mut p, 1_050_000);
        }
    }
    let slots = last_main_slot(&p);
    if slots > 80 {
        // A character holds 80 slots; modded research adds the rest.
        p.bonuses.insert(
            "character_inventory_slots_bonus".into(),
            f64::from(slots - 80),
        );
    }
    p
}

fn base_player(rng: &mut SplitMix64) -> PlayerData {
    let name = format!("{}{}", one_of(rng, NAMES), rng.below(100));
    let channel = |rng: &mut SplitMix64| (rng.below(1000) as f64) / 1000.0;
    let color = Color {
        r: channel(rng),
        g: channel(rng),
        b: channel(rng),
        a: 1.0,
    };
    let mut bonuses = BTreeMap::new();
    bonuses.insert(
        "character_mining_speed_modifier".into(),
        0.5 * rng.below(5) as f64,
    );
    bonuses.insert(
        "character_crafting_speed_modifier".into(),
        0.25 * rng.below(4) as f64,
    );
    bonuses.insert("character_running_speed_modifier".into(), 0.0);
    bonuses.insert(
        "character_trash_slot_count_bonus".into(),
        10.0 * rng.below(4) as f64,
    );
    let mut inventories = Inventories::default();
    inventories.guns.push(Stack::plain(1, "submachine-gun", 1));
    inventories.guns.push(Stack::plain(2, "rocket-launcher", 1));
    inventories.ammo.push(Stack {
        ammo: Some(7.0),
        ..Stack::plain(1, "piercing-rounds-magazine", 183)
    });
    inventories.ammo.push(Stack::plain(2, "rocket", 200));
    let armor = if rng.chance(50) {
        "power-armor-mk2"
    } else {
        "modular-armor"
    };
    inventories.armor.push(Stack {
        health: Some(0.85),
        ..Stack::plain(1, armor, 1)
    });
    inventories.trash.push(Stack::plain(1, "wood", 37));
    PlayerData {
        name,
        color: Some(color),
        chat_color: Some(color),
        bonuses,
        mining_categories: Vec::new(),
        flashlight: None,
        tag: None,
        quick_bar: Vec::new(),
        logistics: None,
        inventories,
        filters: Default::default(),
        crafting: None,
        cursor: Some(Stack {
            slot: None,
            ..Stack::plain(0, "transport-belt", 42)
        }),
        unplaced: Vec::new(),
    }
}

/// The highest slot number used in the main inventory (0 when empty).
fn last_main_slot(p: &PlayerData) -> u32 {
    p.inventories
        .main
        .iter()
        .filter_map(|s| s.slot)
        .max()
        .unwrap_or(0)
}

/// Adds sorted runs of ordinary stacks to the main inventory until the JSON reaches `target` bytes.
/// Sizes here are format 1's: the samples are the same players as before format 2, which only
/// writes them shorter (docs/PLAYER_DATA.md has both sizes).
fn fill_ordinary(rng: &mut SplitMix64, p: &mut PlayerData, target: usize) {
    let mut size = p.to_json_format_1().len();
    let mut slot = last_main_slot(p);
    while size < target {
        // Players keep an item together: a run of full stacks, then a partial one.
        let (name, stack_size) = *one_of(rng, ITEMS);
        let run = 1 + rng.below(if target > 10_000 { 40 } else { 3 }) as u32;
        let quality = if rng.chance(10) {
            Some(one_of(rng, QUALITIES).to_string())
        } else {
            None
        };
        for i in 0..run {
            slot += 1;
            let count = if i + 1 == run {
                1 + rng.below(u64::from(stack_size)) as u32
            } else {
                stack_size
            };
            let mut s = Stack {
                quality: quality.clone(),
                ..Stack::plain(slot, name, count)
            };
            if name == "repair-pack" && i + 1 == run {
                s.durability = Some(0.25 * (1 + rng.below(3)) as f64);
            }
            if name.ends_with("turret") && rng.chance(20) {
                s.health = Some(0.5);
            }
            size += serde_json::to_string(&s).map_or(0, |j| j.len() + 1);
            p.inventories.main.push(s);
            if size >= target {
                break;
            }
        }
    }
}

/// Adds blueprints, books and planners (export strings) until the JSON reaches `target` bytes
/// (of format 1, as [`fill_ordinary`]).
fn fill_blueprints(rng: &mut SplitMix64, p: &mut PlayerData, target: usize) {
    let mut size = p.to_json_format_1().len();
    let mut slot = last_main_slot(p);
    while size < target {
        slot += 1;
        let roll = rng.below(10);
        let (item, exported) = if roll < 4 {
            let n = 2 + rng.below(6) as usize;
            ("blueprint-book", export(&book(rng, n)))
        } else if roll < 9 {
            ("blueprint", export(&json!({ "blueprint": blueprint(rng) })))
        } else {
            ("deconstruction-planner", export(&planner(rng)))
        };
        let s = Stack {
            export: Some(exported),
            ..Stack::plain(slot, item, 1)
        };
        size += serde_json::to_string(&s).map_or(0, |j| j.len() + 1);
        p.inventories.main.push(s);
    }
}

/// The game's export format: `"0"` + base64(zlib(json)).
fn export(v: &Value) -> String {
    let json = serde_json::to_vec(v).expect("json");
    let z = miniz_oxide::deflate::compress_to_vec_zlib(&json, 9);
    format!("0{}", base64::engine::general_purpose::STANDARD.encode(z))
}

const VERSION: u64 = 562_949_954_994_181; // 2.0.x as the game encodes it

fn book(rng: &mut SplitMix64, n: usize) -> Value {
    let blueprints: Vec<Value> = (0..n)
        .map(|i| json!({ "index": i, "blueprint": blueprint(rng) }))
        .collect();
    json!({ "blueprint_book": {
        "blueprints": blueprints,
        "item": "blueprint-book",
        "label": format!("Book {}", rng.below(1000)),
        "active_index": 0,
        "version": VERSION,
    }})
}

fn planner(rng: &mut SplitMix64) -> Value {
    let n = 1 + rng.below(8);
    let filters: Vec<Value> = (0..n)
        .map(|i| json!({ "index": i + 1, "name": one_of(rng, ITEMS).0 }))
        .collect();
    json!({ "deconstruction_planner": {
        "settings": { "entity_filters": filters, "trees_and_rocks_only": rng.chance(20) },
        "item": "deconstruction-planner",
        "label": "Cleanup",
        "version": VERSION,
    }})
}

/// A blueprint of repeated cells (machine, inserters, belt, pole) with the irregularities real
/// designs have: missing pieces, varied recipes and modules, occasional tiles.
fn blueprint(rng: &mut SplitMix64) -> Value {
    const MACHINES: &[(&str, &[&str])] = &[
        (
            "assembling-machine-3",
            &[
                "electronic-circuit",
                "iron-gear-wheel",
                "advanced-circuit",
                "processing-unit",
            ],
        ),
        ("electric-furnace", &[]),
        ("chemical-plant", &["plastic-bar", "sulfur", "battery"]),
        (
            "assembling-machine-2",
            &["copper-cable", "transport-belt", "inserter"],
        ),
    ];
    let (machine, recipes) = *one_of(rng, MACHINES);
    let belt = *one_of(
        rng,
        &[
            "transport-belt",
            "fast-transport-belt",
            "express-transport-belt",
        ],
    );
    let inserter = *one_of(
        rng,
        &[
            "inserter",
            "fast-inserter",
            "bulk-inserter",
            "long-handed-inserter",
        ],
    );
    let (rows, cols) = (1 + rng.below(12), 1 + rng.below(8));
    let mut entities = Vec::new();
    let mut push = |name: &str, x: f64, y: f64, extra: Value| {
        let mut e = json!({ "entity_number": entities.len() + 1, "name": name, "position": { "x": x, "y": y } });
        if let (Some(obj), Value::Object(more)) = (e.as_object_mut(), extra) {
            obj.extend(more);
        }
        entities.push(e);
    };
    for r in 0..rows {
        for c in 0..cols {
            if rng.chance(7) {
                continue; // a gap in the design
            }
            let (x0, y0) = (c as f64 * 7.0, r as f64 * 4.0);
            let mut m = serde_json::Map::new();
            if !recipes.is_empty() {
                m.insert("recipe".into(), json!(one_of(rng, recipes)));
            }
            if rng.chance(40) {
                let module = *one_of(
                    rng,
                    &[
                        "speed-module-2",
                        "productivity-module-3",
                        "efficiency-module",
                    ],
                );
                m.insert("items".into(), json!([{ "id": { "name": module }, "items": { "in_inventory": [{ "inventory": 4, "stack": 0 }] } }]));
            }
            push(machine, x0 + 1.5, y0 + 1.5, Value::Object(m));
            push(inserter, x0 + 3.5, y0 + 0.5, json!({ "direction": 12 }));
            push(inserter, x0 + 3.5, y0 + 2.5, json!({ "direction": 4 }));
            for dy in 0..4 {
                push(
                    belt,
                    x0 + 4.5,
                    y0 + dy as f64 + 0.5,
                    json!({ "direction": 8 }),
                );
            }
            if c % 2 == 0 {
                push("medium-electric-pole", x0 + 5.5, y0 + 1.5, json!({}));
            }
        }
    }
    let mut bp = json!({
        "icons": [{ "signal": { "name": machine }, "index": 1 }, { "signal": { "name": belt }, "index": 2 }],
        "entities": entities,
        "item": "blueprint",
        "label": format!("{machine} x{}", rows * cols),
        "version": VERSION,
    });
    if rng.chance(30) {
        let tile = *one_of(rng, &["refined-concrete", "concrete", "landfill"]);
        let tiles: Vec<Value> = (0..rows * 4)
            .flat_map(|y| (0..cols * 7).map(move |x| (x, y)))
            .map(|(x, y)| json!({ "name": tile, "position": { "x": x, "y": y } }))
            .collect();
        bp["tiles"] = Value::Array(tiles);
    }
    bp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_is_the_reference_sequence() {
        // The first outputs of SplitMix64 from seed 0 (Vigna's reference splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.below(0), 0);
        assert_eq!(r.pick::<u8>(&[]), None);
        assert!((0..1000).all(|_| r.below(7) < 7));
        assert_eq!(r.pick(&[5]), Some(&5));
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        for kind in SampleKind::ALL {
            assert_eq!(generate(kind, 1), generate(kind, 1), "{kind}");
            assert_ne!(generate(kind, 1), generate(kind, 2), "{kind}");
        }
    }

    #[test]
    fn sizes_match_their_kind() {
        // (kind, bytes of format 1, bytes of format 2): the same players, written shorter
        let ranges = [
            (SampleKind::Small, 1_500..=3_000, 800..=1_500),
            (SampleKind::Rep, 190_000..=215_000, 10_000..=20_000),
            (SampleKind::Bp, 190_000..=260_000, 180_000..=250_000),
            (SampleKind::Huge, 1_000_000..=1_200_000, 600_000..=800_000),
        ];
        for (kind, long, dense) in ranges {
            let p = sample(kind, 1);
            let (one, two) = (p.to_json_format_1().len(), generate(kind, 1).len());
            assert!(long.contains(&one), "{kind} in format 1: {one}");
            assert!(dense.contains(&two), "{kind} in format 2: {two}");
        }
    }

    #[test]
    fn samples_parse_as_player_data_and_exports_are_game_strings() {
        for kind in SampleKind::ALL {
            let bytes = generate(kind, 3);
            let p = PlayerData::from_json(&bytes).unwrap();
            for s in p.stacks() {
                if let Some(e) = &s.export {
                    assert!(e.starts_with('0'));
                    let z = base64::engine::general_purpose::STANDARD
                        .decode(&e[1..])
                        .unwrap();
                    let json = miniz_oxide::inflate::decompress_to_vec_zlib(&z).unwrap();
                    let v: Value = serde_json::from_slice(&json).unwrap();
                    assert!(
                        v.get("blueprint")
                            .or(v.get("blueprint_book"))
                            .or(v.get("deconstruction_planner"))
                            .is_some()
                    );
                }
            }
        }
    }
}
