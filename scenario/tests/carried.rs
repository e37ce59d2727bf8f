//! What a player carries survives the game's rules (issue 14): armor with an equipment grid
//! and the main slots it adds; no stack overwritten by a fallback; a leaving player's
//! inventory read in the leave event; no character creatable now (dead) retried; a character
//! kept aside that died replaced; `helpers.encode_string` failing; slot filters, spoiling
//! items, items with tags, labels and inventories; and all of it at once, A -> B -> A with the
//! lockstep peers and heavy mode checking every tick.

mod support;

use invsync_emulator::GameConfig;
use serde_json::{Value, json};
use support::*;

fn server_with(name: &str, config: GameConfig) -> Server {
    let mut s = Server::new(name, config);
    s.run(&mut Cluster::default(), 1);
    s
}

fn server(name: &str) -> Server {
    server_with(name, config(&control_with(""), 0, false))
}

#[test]
fn power_armor_with_its_grid_and_the_slots_it_adds_comes_back_the_same() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let given = data(
        "ann",
        json!({
            "main": [
                {"slot": 1, "name": "coal", "count": 5},
                {"slot": 85, "name": "iron-plate", "count": 100},
                {"slot": 110, "name": "copper-plate", "count": 7}
            ],
            "armor": [{"slot": 1, "name": "power-armor-mk2", "count": 1, "grid": [
                {"name": "energy-shield-equipment", "x": 0, "y": 0, "quality": "rare", "energy": 100, "shield": 30},
                {"name": "battery-equipment", "x": 2, "y": 0, "energy": 5000},
                {"name": "exoskeleton-equipment", "x": 0, "y": 2}
            ]}]
        }),
    );
    c.seed("ann", 1, given.clone());
    play(&mut a, &mut c, "ann");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    assert_same_player_data(&given, &c.stored()["ann"].data);
    // and on a second server, byte for byte
    let first = c.stored()["ann"].data.clone();
    let mut b = server("beta");
    play(&mut b, &mut c, "ann");
    leave_and_upload(&mut b, &mut c, "ann", 3);
    assert_eq!(c.stored()["ann"].data, first);
}

#[test]
fn a_stack_that_misses_its_slot_never_lands_where_a_later_one_is_written() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    // not in slot order, and two armors for one armor slot: the fallbacks wait for the end
    c.seed(
        "ann",
        1,
        data(
            "ann",
            json!({
                "main": [
                    {"slot": 500, "name": "iron-plate", "count": 100},
                    {"slot": 1, "name": "coal", "count": 5},
                    {"slot": 2, "name": "stone", "count": 9}
                ],
                "armor": [
                    {"slot": 1, "name": "modular-armor", "count": 1},
                    {"slot": 2, "name": "heavy-armor", "count": 1}
                ]
            }),
        ),
    );
    play(&mut a, &mut c, "ann");
    for (item, n) in [
        ("iron-plate", 100),
        ("coal", 5),
        ("stone", 9),
        ("modular-armor", 1),
        ("heavy-armor", 1),
    ] {
        assert_eq!(item_count(&a, "ann", item), n, "{item}");
    }
}

#[test]
fn the_inventory_of_a_leaving_player_is_read_in_the_leave_event() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let given = sample(invsync_player_data::SampleKind::Rep, 5);
    let name = serde_json::from_str::<Value>(&given).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    c.seed(&name, 1, given.clone());
    play(&mut a, &mut c, &name);
    a.leave(&name);
    a.tick(&mut c);
    // the character left behind dies right after: what the player left with is uploaded all the same
    a.eval::<()>(&format!(
        "local r = storage.invsync.sync.players[{}] if r.character.valid then r.character.die() end",
        a.index_of(&name)
    ));
    a.run_until(&mut c, 3000, "uploaded", |s, c| {
        s.state(&name) == "idle" && c.stored().get(&name).is_some_and(|d| d.generation == 2)
    });
    assert_same_player_data(&given, &c.stored()[&name].data);
}

#[test]
fn a_dead_player_gets_the_inventory_when_they_respawn_and_nothing_raises() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    c.seed(
        "ann",
        1,
        data(
            "ann",
            json!({"main": [{"slot": 1, "name": "coal", "count": 5}]}),
        ),
    );
    play(&mut a, &mut c, "ann");
    a.sc(&mut c, "game.get_player('ann').character.die()");
    leave_and_upload_nothing(&mut a, &mut c, "ann");
    // back while still dead: no character can be made until the respawn
    a.join("ann");
    a.run_until(&mut c, 600, "waiting for a character", |s, _| {
        s.state("ann") == "no_character"
    });
    let index = a.index_of("ann");
    assert!(
        a.player_messages
            .iter()
            .any(|(p, m)| *p == index && m.contains("respawn")),
        "the player is told: {:?}",
        a.player_messages
    );
    play(&mut a, &mut c, "ann");
    assert_eq!(item_count(&a, "ann", "coal"), 5);
}

/// Ann, uploaded from `a` at generation 2 as `first`, plays on a fresh server beta and then on
/// `a` again (where the local copy is replaced by B's): both upload `first` byte for byte.
fn b_and_back_to_a(c: &mut Cluster, a: &mut Server, first: &str) {
    let mut b = server("beta");
    play(&mut b, c, "ann");
    leave_and_upload(&mut b, c, "ann", 3);
    assert_eq!(c.stored()["ann"].data, first);
    play(a, c, "ann");
    leave_and_upload(a, c, "ann", 4);
    assert_eq!(c.stored()["ann"].data, first);
}

fn leave_and_upload_nothing(s: &mut Server, c: &mut Cluster, name: &str) {
    s.leave(name);
    s.run(c, 5);
    assert_eq!(s.state(name), "idle");
}

#[test]
fn a_character_kept_aside_that_died_is_replaced_and_the_player_told() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    a.join("ann");
    a.tick(&mut c);
    assert_eq!(a.state("ann"), "acquiring");
    a.eval::<()>("storage.invsync.sync.players[1].character.die()");
    play(&mut a, &mut c, "ann");
    assert!(
        a.player_messages
            .iter()
            .any(|(_, m)| m.contains("Your character was lost")),
        "{:?}",
        a.player_messages
    );
    let has: bool = a.eval("return game.get_player('ann').character.valid");
    assert!(has);
}

#[test]
fn a_failing_encode_string_sends_raw_and_raises_nothing() {
    let mut c = Cluster::default();
    let mut a = server_with(
        "alpha",
        GameConfig {
            encode_string_fails_above: Some(0),
            ..config(&control_with(""), 0, false)
        },
    );
    // a few kB: too long for one raw stdout line, the size that is deflated first
    let main: Vec<Value> = (1..=80)
        .map(|i| json!({"slot": i, "name": "iron-plate", "count": i, "health": 0.5}))
        .collect();
    let given = data("ann", json!({ "main": main }));
    c.seed("ann", 1, given.clone());
    play(&mut a, &mut c, "ann");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    assert_same_player_data(&given, &c.stored()["ann"].data);
}

#[test]
fn the_crafting_queue_travels_with_its_items_even_from_a_full_inventory() {
    let mut c = Cluster::default();
    let mut a = server("alpha");
    let mut main: Vec<Value> = vec![
        json!({"slot": 1, "name": "iron-plate", "count": 95}),
        json!({"slot": 2, "name": "copper-cable", "count": 30}),
    ];
    main.extend((3..=80).map(|i| json!({"slot": i, "name": "stone", "count": 50})));
    c.seed("ann", 1, data("ann", json!({ "main": main })));
    play(&mut a, &mut c, "ann");
    // queue crafts that take every plate and half the cables, then fill the freed slot: the
    // inventory is full, so cancelling the queue needs room made for its ingredients
    let queued: (u32, u32) = a.eval(
        "local p = game.get_player('ann') \
         local g = p.begin_crafting{recipe = 'iron-gear-wheel', count = 45} \
         local e = p.begin_crafting{recipe = 'electronic-circuit', count = 5} \
         p.crafting_queue_progress = 0.25 \
         p.insert{name = 'stone', count = 50} \
         return g, e",
    );
    assert_eq!(queued, (45, 5));
    assert_eq!(item_count(&a, "ann", "iron-plate"), 0);
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    assert_eq!(
        up["crafting"],
        json!({"queue": [{"recipe": "iron-gear-wheel", "count": 45}, {"recipe": "electronic-circuit", "count": 5}],
               "progress": 0.25,
               "ingredients": [[0, "copper-cable", 15], [0, "iron-plate", 95]]}),
        "{up}"
    );
    // the character left behind still has its queue, and nothing went to the ground
    let left_behind: (u32, f64) = a.eval(
        "local c = storage.invsync.sync.players[1].character \
         return c.crafting_queue_size, c.crafting_queue_progress",
    );
    assert_eq!(left_behind, (2, 0.25));
    assert!(
        a.game.world().ground.is_empty(),
        "{:?}",
        a.game.world().ground
    );
    let first = c.stored()["ann"].data.clone();
    let typed = invsync_player_data::PlayerData::from_json(first.as_bytes()).unwrap();
    assert_eq!(typed.crafting.as_ref().unwrap().queue.len(), 2);
    assert!(
        typed
            .stacks()
            .any(|s| s.name == "iron-plate" && s.count == 95)
    );
    let mut b = server("beta");
    play(&mut b, &mut c, "ann");
    let there: (u32, u32, u32, f64) = b.eval(
        "local p = game.get_player('ann') local q = p.crafting_queue \
         return #q, q[1].count, q[2].count, p.crafting_queue_progress",
    );
    assert_eq!(there, (2, 45, 5, 0.25));
    assert_eq!(item_count(&b, "ann", "iron-plate"), 0);
    assert_eq!(item_count(&b, "ann", "copper-cable"), 15);
    assert_eq!(item_count(&b, "ann", "stone"), 79 * 50);
    assert!(b.game.world().ground.is_empty());
    leave_and_upload(&mut b, &mut c, "ann", 3);
    assert_eq!(c.stored()["ann"].data, first);
}

#[test]
fn every_character_bonus_and_the_players_own_settings_go_a_to_b_to_a() {
    let mut c = Cluster::default();
    let colour = json!({"r": 1, "g": 0.5, "b": 0, "a": 1});
    let bonuses: serde_json::Map<String, Value> = BONUSES
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let v = if b.ends_with("_modifier") || *b == "character_health_bonus" {
                json!(0.25 + i as f64)
            } else {
                json!(i + 1)
            };
            ((*b).to_string(), v)
        })
        .collect();
    let given = json!({
        "format": 1, "name": "ann", "color": colour, "chat_color": colour,
        "bonuses": bonuses,
        "mining_categories": ["hard-solid", "basic-fluid"],
        "flashlight": false,
        "tag": "[builder]",
        "quick_bar": [
            {"slot": 1, "name": "transport-belt"},
            {"slot": 12, "name": "iron-chest", "quality": "rare"},
            {"slot": 100, "name": "inserter"}
        ],
        "inventories": {"main": [{"slot": 1, "name": "coal", "count": 5}]}
    })
    .to_string();
    c.seed("ann", 1, given.clone());
    let mut a = server("alpha");
    play(&mut a, &mut c, "ann");
    let seen: (String, bool, String, f64) = a.eval(
        "local p = game.get_player('ann') \
         return p.tag, p.is_flashlight_enabled(), p.get_quick_bar_slot(12).quality, \
         p.character_health_bonus",
    );
    assert_eq!(
        seen,
        ("[builder]".to_string(), false, "rare".to_string(), 2.25)
    );
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    let want: Value = serde_json::from_str(&given).unwrap();
    for key in ["mining_categories", "flashlight", "tag", "quick_bar"] {
        assert_eq!(up[key], want[key], "{key}: {up}");
    }
    assert_same_player_data(&given, &c.stored()["ann"].data);
    let first = c.stored()["ann"].data.clone();
    let typed = invsync_player_data::PlayerData::from_json(first.as_bytes()).unwrap();
    assert_eq!(typed.quick_bar.len(), 3);
    b_and_back_to_a(&mut c, &mut a, &first);
}

#[test]
fn slot_filters_bonus_slots_included_go_a_to_b_to_a_and_replace_the_local_ones() {
    let mut c = Cluster::default();
    let colour = json!({"r": 1, "g": 0.5, "b": 0, "a": 1});
    // slot 100 exists only with the armor on: its filter is written after the armor
    let given = json!({
        "format": 1, "name": "ann", "color": colour, "chat_color": colour,
        "inventories": {
            "main": [{"slot": 1, "name": "coal", "count": 5}, {"slot": 100, "name": "copper-plate", "count": 3, "quality": "rare"}],
            "armor": [{"slot": 1, "name": "power-armor-mk2", "count": 1}]
        },
        "filters": {"main": [
            {"slot": 2, "name": "iron-plate"},
            {"slot": 100, "name": "copper-plate", "quality": "rare"}
        ]}
    })
    .to_string();
    c.seed("ann", 1, given.clone());
    let mut a = server("alpha");
    play(&mut a, &mut c, "ann");
    let seen: (String, String, u32) = a.eval(
        "local m = game.get_player('ann').get_inventory(defines.inventory.character_main) \
         local f = m.get_filter(100) \
         return m.get_filter(2).name, f.quality, m.insert{name = 'stone', count = 1}",
    );
    assert_eq!(seen, ("iron-plate".into(), "rare".into(), 1));
    let stone_slot: u32 = a.eval(
        "local m = game.get_player('ann').get_inventory(defines.inventory.character_main) \
         local _, i = m.find_item_stack('stone') m.remove{name = 'stone', count = 1} return i",
    );
    assert_eq!(stone_slot, 3, "the filtered slot 2 refuses stone");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    assert_same_player_data(&given, &c.stored()["ann"].data);
    let typed =
        invsync_player_data::PlayerData::from_json(c.stored()["ann"].data.as_bytes()).unwrap();
    assert_eq!(typed.filters.main.len(), 2);
    // on B the player takes a filter off: back on A, A's own filter goes too
    let mut b = server("beta");
    play(&mut b, &mut c, "ann");
    b.sc(
        &mut c,
        "game.get_player('ann').get_inventory(defines.inventory.character_main).set_filter(2, nil)",
    );
    leave_and_upload(&mut b, &mut c, "ann", 3);
    let from_b = c.stored()["ann"].data.clone();
    let up: Value = serde_json::from_str(&from_b).unwrap();
    assert_eq!(
        up["filters"],
        json!({"main": [{"slot": 100, "name": "copper-plate", "quality": "rare"}]})
    );
    play(&mut a, &mut c, "ann");
    let gone: bool = a.eval(
        "return game.get_player('ann').get_inventory(defines.inventory.character_main).get_filter(2) == nil",
    );
    assert!(gone);
    leave_and_upload(&mut a, &mut c, "ann", 4);
    assert_eq!(c.stored()["ann"].data, from_b);
}

/// The spoil percent of `item` in `slot` of ann's main inventory on `s`.
fn spoil_percent(s: &Server, slot: u32) -> f64 {
    s.eval(&format!(
        "return game.get_player('ann').get_inventory(defines.inventory.character_main)[{slot}].spoil_percent"
    ))
}

#[test]
fn spoiling_items_keep_their_spoilage_and_spoil_on_while_played() {
    let mut c = Cluster::default();
    let given = data(
        "ann",
        json!({"main": [
            {"slot": 1, "name": "nutrients", "count": 50, "spoil_percent": 0.5},
            {"slot": 2, "name": "yumako", "count": 3, "spoil_percent": 0.25},
            {"slot": 3, "name": "nutrients", "count": 7}
        ]}),
    );
    c.seed("ann", 1, given.clone());
    let mut a = server("alpha");
    play(&mut a, &mut c, "ann");
    let (at, first) = (a.eval::<u64>("return game.tick"), spoil_percent(&a, 1));
    assert!((0.5..0.52).contains(&first), "{first}");
    // fresh nutrients merged into the half-spoiled stack: the stack spoils at the mean
    let merged: f64 = a.eval(
        "local p = game.get_player('ann') p.insert{name = 'nutrients', count = 50} \
         return p.get_inventory(defines.inventory.character_main)[1].spoil_percent",
    );
    assert!((merged - first / 2.0).abs() < 1e-3, "{merged}");
    a.sc(
        &mut c,
        "game.get_player('ann').get_inventory(defines.inventory.character_main)[1].count = 50 \
         game.get_player('ann').get_inventory(defines.inventory.character_main)[1].spoil_percent = 0.5",
    );
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    let main = up["inventories"]["main"].as_array().unwrap();
    // it spoiled on while played: by the ticks played, no more
    let played = (a.eval::<u64>("return game.tick") - at) as f64;
    let nutrients = main[0]["p"].as_f64().unwrap();
    assert!(
        nutrients >= 0.5 && nutrients <= 0.5 + played / 18000.0 + 1e-9,
        "{up}"
    );
    let yumako = main[1]["p"].as_f64().unwrap();
    assert!(yumako > 0.25 && yumako < 0.26, "{up}");
    assert!(main[2]["p"].as_f64().is_some_and(|p| p > 0.0), "{up}");
    let typed =
        invsync_player_data::PlayerData::from_json(c.stored()["ann"].data.as_bytes()).unwrap();
    assert_eq!(typed.inventories.main[1].spoil_percent, Some(yumako));
    // B gets them exactly as uploaded: read back in the tick they are written
    let mut b = server("beta");
    b.join("ann");
    b.run_until(&mut c, 3000, "ann playing", |s, _| {
        s.state("ann") == "playing"
    });
    let there = spoil_percent(&b, 2);
    assert!(
        there >= yumako && there - yumako < 100.0 / 216000.0,
        "{there} {yumako}"
    );
    let refused: bool = b.eval(
        "local st = game.get_player('ann').get_inventory(defines.inventory.character_main)[3] \
         st.set_stack{name = 'coal', count = 1} \
         return not pcall(function() st.spoil_percent = 0.5 end) and st.spoil_percent == 0",
    );
    assert!(refused, "coal does not spoil");
}

#[test]
fn items_with_tags_labels_and_inventories_go_a_to_b_to_a_byte_for_byte() {
    let mut c = Cluster::default();
    let given = data(
        "ann",
        json!({"main": [
            {"slot": 1, "name": "item-with-tags", "count": 1,
             "tags": {"owner": "ann", "level": 3, "route": [1, 2, 3], "flags": {"on": true}},
             "custom_description": "the key to the vault"},
            {"slot": 2, "name": "item-with-label", "count": 1, "label": "fuel",
             "label_color": {"r": 1, "g": 0.5, "b": 0, "a": 1}, "allow_manual_label_change": false},
            {"slot": 3, "name": "item-with-inventory", "count": 1, "label": "bag", "inventory": [
                {"slot": 1, "name": "coal", "count": 50},
                {"slot": 4, "name": "item-with-tags", "count": 1, "tags": {"inner": true}},
                {"slot": 10, "name": "repair-pack", "count": 3, "durability": 100}
            ]}
        ]}),
    );
    c.seed("ann", 1, given.clone());
    let mut a = server("alpha");
    play(&mut a, &mut c, "ann");
    let seen: (String, String, bool, u32) = a.eval(
        "local m = game.get_player('ann').get_main_inventory() \
         local bag = m[3].get_inventory(defines.inventory.item_main) \
         return m[1].get_tag('owner'), m[2].label, m[2].allow_manual_label_change, bag.get_item_count('coal')",
    );
    assert_eq!(seen, ("ann".into(), "fuel".into(), false, 50));
    leave_and_upload(&mut a, &mut c, "ann", 2);
    assert_same_player_data(&given, &c.stored()["ann"].data);
    let first = c.stored()["ann"].data.clone();
    let typed = invsync_player_data::PlayerData::from_json(first.as_bytes()).unwrap();
    assert_eq!(
        typed.inventories.main[2].inventory.as_ref().unwrap().len(),
        3
    );
    b_and_back_to_a(&mut c, &mut a, &first);
}

/// `data` without its spoilage members (they grow while the player plays: `"spoil_percent"`
/// in format 1, `"p"` in format 2), and their values in order.
fn without_spoilage(data: &str) -> (String, Vec<f64>) {
    let key = if data.contains("\"format\":1,") {
        ",\"spoil_percent\":"
    } else {
        ",\"p\":"
    };
    let (mut rest, mut out, mut values) = (data, String::new(), Vec::new());
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at]);
        let tail = &rest[at + key.len()..];
        let end = tail.find([',', '}']).expect("a number ends");
        values.push(tail[..end].parse().expect("a number"));
        rest = &tail[end..];
    }
    out.push_str(rest);
    (out, values)
}

/// A full 10 x 10 grid: shields, exoskeletons, batteries (issue 14, "a full grid").
fn full_grid() -> Vec<Value> {
    let mut grid = vec![
        json!({"name": "energy-shield-equipment", "x": 0, "y": 0, "quality": "rare", "shield": 30, "energy": 100}),
        json!({"name": "energy-shield-equipment", "x": 0, "y": 2, "shield": 50}),
    ];
    for y in [0, 4] {
        for x in [2, 4, 6, 8] {
            grid.push(json!({"name": "exoskeleton-equipment", "x": x, "y": y}));
        }
    }
    grid.push(json!({"name": "personal-roboport-equipment", "x": 0, "y": 4}));
    grid.push(json!({"name": "night-vision-equipment", "x": 0, "y": 6}));
    for x in 0..10 {
        grid.push(json!({"name": "battery-equipment", "x": x, "y": 8, "energy": 1000 + x}));
    }
    grid.sort_by_key(|q| (q["y"].as_u64(), q["x"].as_u64()));
    grid
}

#[test]
fn everything_a_player_carries_goes_a_to_b_to_a_in_lockstep_and_heavy_mode() {
    let mut c = Cluster::default();
    let sampled = invsync_player_data::PlayerData::from_json(
        sample(invsync_player_data::SampleKind::Bp, 1).as_bytes(),
    )
    .unwrap();
    let book = sampled
        .stacks()
        .find(|s| s.name == "blueprint-book")
        .and_then(|s| s.export.clone())
        .expect("the bp sample has a book");
    let colour = json!({"r": 1, "g": 0.5, "b": 0, "a": 1});
    let given = json!({
        "format": 1, "name": "ann", "color": colour, "chat_color": colour,
        "inventories": {
            "main": [
                {"slot": 1, "name": "blueprint-book", "count": 1, "export": book},
                {"slot": 2, "name": "iron-plate", "count": 100},
                {"slot": 3, "name": "nutrients", "count": 50, "spoil_percent": 0.5},
                {"slot": 4, "name": "item-with-tags", "count": 1, "tags": {"owner": "ann", "route": [1, 2]},
                 "custom_description": "the vault"},
                {"slot": 5, "name": "item-with-label", "count": 1, "label": "fuel", "label_color": colour},
                {"slot": 6, "name": "item-with-inventory", "count": 1, "inventory": [
                    {"slot": 1, "name": "yumako", "count": 10, "spoil_percent": 0.25},
                    {"slot": 2, "name": "item-with-tags", "count": 1, "tags": {"inner": true}}
                ]},
                // a rare tool lasts three times as long: more durability than a normal one has
                {"slot": 7, "name": "repair-pack", "count": 3, "quality": "rare", "durability": 750},
                {"slot": 100, "name": "copper-plate", "count": 50},
                {"slot": 110, "name": "coal", "count": 5}
            ],
            "guns": [{"slot": 1, "name": "submachine-gun", "count": 1}],
            "ammo": [{"slot": 1, "name": "piercing-rounds-magazine", "count": 20, "ammo": 7}],
            "armor": [{"slot": 1, "name": "power-armor-mk2", "count": 1, "grid": full_grid()}]
        },
        "filters": {"main": [
            {"slot": 2, "name": "iron-plate"},
            {"slot": 105, "name": "copper-plate", "quality": "rare"}
        ]}
    })
    .to_string();
    c.seed("ann", 1, given.clone());
    // two lockstep peers replay every tick and heavy mode checks the world after each
    let checked = || config(&control_with(""), 2, true);
    let mut a = server_with("alpha", checked());
    play(&mut a, &mut c, "ann");
    // 2 shields and 2 others of 2 x 2, 8 exoskeletons of 2 x 4, 10 batteries of 1 x 2: 100 cells
    let placed: u32 = a.eval(
        "return #game.get_player('ann').get_inventory(defines.inventory.character_armor)[1].grid.equipment",
    );
    assert_eq!(placed, 22, "the grid is full");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let first = c.stored()["ann"].data.clone();
    let (first_rest, first_spoil) = without_spoilage(&first);
    let (given_rest, given_spoil) = without_spoilage(&given);
    assert_same_player_data(&given_rest, &first_rest);
    assert_eq!(first_spoil.len(), 2, "{first}");
    for (now, was) in first_spoil.iter().zip(&given_spoil) {
        assert!(now >= was && now - was < 0.05, "{now} from {was}");
    }
    let mut b = server_with("beta", checked());
    play(&mut b, &mut c, "ann");
    leave_and_upload(&mut b, &mut c, "ann", 3);
    play(&mut a, &mut c, "ann");
    leave_and_upload(&mut a, &mut c, "ann", 4);
    let last = c.stored()["ann"].data.clone();
    let (last_rest, last_spoil) = without_spoilage(&last);
    assert_eq!(last_rest, first_rest, "byte for byte but for the spoilage");
    for (now, was) in last_spoil.iter().zip(&first_spoil) {
        assert!(now >= was && now - was < 0.05, "{now} from {was}");
    }
    assert!(a.game.world().ground.is_empty() && b.game.world().ground.is_empty());
}

#[test]
fn leaving_in_the_remote_view_uploads_the_character_it_left_behind() {
    let mut c = Cluster::default();
    let given = data(
        "ann",
        json!({"main": [
            {"slot": 1, "name": "coal", "count": 5},
            {"slot": 2, "name": "item-with-tags", "count": 1, "tags": {"a": 1}}
        ]}),
    );
    c.seed("ann", 1, given.clone());
    let mut a = server("alpha");
    play(&mut a, &mut c, "ann");
    // the map view: no inventory of the player's own (Clusterio #892), the character its body
    a.sc(
        &mut c,
        "game.get_player('ann').set_controller{type = defines.controllers.remote}",
    );
    let seen: (bool, bool, bool) = a.eval(
        "local p = game.get_player('ann') \
         return p.get_main_inventory() == nil, p.character ~= nil, \
         p.physical_controller_type == defines.controllers.character",
    );
    assert_eq!(seen, (true, true, true));
    leave_and_upload(&mut a, &mut c, "ann", 2);
    assert_same_player_data(&given, &c.stored()["ann"].data);
    let mut b = server("beta");
    play(&mut b, &mut c, "ann");
    assert_eq!(item_count(&b, "ann", "coal"), 5);
    assert_eq!(item_count(&b, "ann", "item-with-tags"), 1);
}
