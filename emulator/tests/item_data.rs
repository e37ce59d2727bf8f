//! What items carry besides their count (issue 14), as strict as the API description: tags
//! and a custom description on items with tags only, a label and its colour and lock on items
//! with a label, the inventory of an item with inventory (no such item inside another), and
//! spoilage on the items that spoil.

mod common;

use common::{game, sc};
use invsync_emulator::{Action, Game};

fn game_with_ann() -> Game {
    let mut g = game("");
    g.act(Action::Join { name: "ann".into() });
    g.step().unwrap();
    g
}

/// `code` runs after `local m = <ann's main inventory>`; its reply.
fn run(g: &mut Game, code: &str) -> String {
    sc(
        g,
        &format!(
            "local m = game.get_player('ann').get_main_inventory() \
             local function p(...) local t = {{}} for i = 1, select('#', ...) do \
             t[i] = tostring((select(i, ...))) end rcon.print(table.concat(t, '\t')) end {code}"
        ),
    )
}

#[test]
fn tags_and_descriptions_belong_to_items_with_tags() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "m[1].set_stack{name = 'item-with-tags'} local s = m[1] \
         s.set_tag('b', {x = 1, list = {1, 2}}) s.set_tag('a', 'text') \
         p(helpers.table_to_json(s.tags)) \
         p(s.get_tag('a'), tostring(s.remove_tag('a')), tostring(s.remove_tag('a'))) \
         s.tags = {only = true} s.custom_description = 'mine' \
         p(helpers.table_to_json(s.tags), s.custom_description)",
    );
    assert_eq!(
        reply,
        "{\"a\":\"text\",\"b\":{\"list\":[1,2],\"x\":1}}\ntext\ttrue\tfalse\n{\"only\":true}\tmine\n"
    );
    for code in [
        "m[2].set_stack{name = 'iron-plate'} local _ = m[2].tags",
        "m[2].set_stack{name = 'item-with-label'} m[2].set_tag('a', 1)",
        "m[2].set_stack{name = 'item-with-inventory'} m[2].custom_description = 'x'",
        "m[2].set_stack{name = 'item-with-label'} local _ = m[2].get_tag('a')",
    ] {
        let reply = run(&mut g, code);
        assert!(
            reply.contains("is not an item with tags"),
            "{code}: {reply}"
        );
    }
}

#[test]
fn labels_belong_to_items_with_a_label() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "m[1].set_stack{name = 'item-with-label'} local s = m[1] \
         p(tostring(s.label), tostring(s.label_color), tostring(s.allow_manual_label_change)) \
         s.label = 'fuel' s.label_color = {r = 1, g = 0.5, b = 0} s.allow_manual_label_change = false \
         local c = s.label_color \
         p(s.label, c.r, c.g, c.b, c.a, tostring(s.allow_manual_label_change))",
    );
    assert_eq!(reply, "nil\tnil\ttrue\nfuel\t1\t0.5\t0\t1\tfalse\n");
    for code in [
        "m[2].set_stack{name = 'iron-plate'} m[2].label = 'x'",
        "m[2].set_stack{name = 'coal'} local _ = m[2].label_color",
    ] {
        let reply = run(&mut g, code);
        assert!(reply.contains("Error"), "{code}: {reply}");
    }
    // read-only members of the description are refused
    let reply = run(
        &mut g,
        "m[2].set_stack{name = 'item-with-tags'} m[2].is_item_with_tags = false",
    );
    assert!(reply.contains("Error"), "{reply}");
}

#[test]
fn an_item_inventory_holds_stacks_but_no_item_with_an_inventory() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "m[1].set_stack{name = 'item-with-inventory'} \
         local inv = m[1].get_inventory(defines.inventory.item_main) \
         p(#inv, inv.index, inv.insert{name = 'coal', count = 60}, \
           tostring(inv[3].set_stack{name = 'item-with-inventory'}), inv.insert{name = 'item-with-inventory'}, \
           tostring(inv[3].set_stack{name = 'item-with-tags'})) \
         m[2].set_stack{name = 'coal'} p(tostring(m[2].get_inventory(defines.inventory.item_main))) \
         m[2].set_stack{name = 'blueprint-book'} \
         p(tostring(m[2].get_inventory(defines.inventory.item_main)), \
           game.get_player('ann').get_item_count('coal'))",
    );
    // the bag's coal is the bag's, not the player's main inventory's
    assert_eq!(reply, "10\t1\t60\tfalse\t0\ttrue\nnil\nnil\t0\n");
    // the contents move with the item, and the old handle goes invalid
    let reply = run(
        &mut g,
        "local inv = m[1].get_inventory(defines.inventory.item_main) \
         m[1].swap_stack(m[5]) \
         p(tostring(inv.valid), m[5].get_inventory(defines.inventory.item_main).get_item_count('coal'))",
    );
    assert_eq!(reply, "false\t60\n");
}

#[test]
fn spoilage_follows_the_tick_and_is_refused_on_what_does_not_spoil() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "m[1].set_stack{name = 'nutrients', count = 10, spoil_percent = 0.25} \
         m[2].set_stack{name = 'coal', count = 1, spoil_percent = 0.5} \
         p(m[1].spoil_percent, m[1].spoil_tick - game.tick, m[2].spoil_percent, m[2].spoil_tick, \
           tostring(pcall(function() m[2].spoil_percent = 0.1 end)), \
           tostring(pcall(function() m[1].spoil_percent = 2 end)))",
    );
    assert_eq!(reply, "0.25\t13500\t0\t0\tfalse\tfalse\n");
    for _ in 0..1800 {
        g.step().unwrap();
    }
    let reply = run(
        &mut g,
        "p(m[1].spoil_percent == 1 - (m[1].spoil_tick - game.tick) / 18000, \
         m[1].spoil_percent >= 0.35, m[1].spoil_percent < 0.36)",
    );
    assert_eq!(reply, "true\ttrue\ttrue\n");
}

/// 2.0: a tool's durability grows with its quality (`QualityPrototype::tool_durability_multiplier`,
/// `1 + level` by default): `get_durability(quality)`, a fresh stack, and the bound on writes.
#[test]
fn durability_depends_on_quality() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "local r = prototypes.item['repair-pack'] \
         p(r.durability, r.get_durability(), r.get_durability('uncommon'), \
           r.get_durability(prototypes.quality.legendary), prototypes.item['iron-plate'].get_durability()) \
         m.insert{name = 'repair-pack', count = 1, quality = 'rare'} \
         m.insert{name = 'repair-pack', count = 1} \
         p(m[1].quality.name, m[1].durability, m[2].quality.name, m[2].durability) \
         m[1].durability = 600 p(m[1].durability) \
         m[3].set_stack{name = 'repair-pack', quality = 'epic', durability = 1100} p(m[3].durability)",
    );
    assert_eq!(
        reply,
        "300\t300\t600\t1800\tnil\nrare\t900\tnormal\t300\n600\n1100\n"
    );
    for code in [
        "m[1].set_stack{name = 'repair-pack'} m[1].durability = 301",
        "m[1].set_stack{name = 'repair-pack', quality = 'uncommon', durability = 601}",
    ] {
        let reply = run(&mut g, code);
        assert!(reply.contains("is outside (0, "), "{code}: {reply}");
    }
    let reply = run(
        &mut g,
        "prototypes.item['repair-pack'].get_durability('shiny')",
    );
    assert!(reply.contains("Unknown quality name: shiny"), "{reply}");
}
