//! The emulator is as strict as the game (runtime API description 2.0.45) where the player sync
//! depends on it: a disconnected player has no `character`; `create_character` needs an online
//! player without a character (and, as Clusterio assumes, the god controller, alive); death
//! and respawn; armor adds main inventory slots and what no longer fits is spilled; armor
//! stacks carry an equipment grid; `helpers.encode_string` can fail; the editor controller
//! stashes the character and has an inventory of its own.

mod common;

use common::{config_with, game, sc, ticks};
use invsync_emulator::{Action, Game, GameConfig};

fn act_and_step(g: &mut Game, action: Action) {
    g.act(action);
    g.step().unwrap();
}

/// Scenario code giving commands `say(...)`: its arguments as text, joined by tabs (the
/// game's `rcon.print` takes one).
const SAY: &str = "function say(...) local t = {} for i = 1, select('#', ...) do \
                   t[i] = tostring((select(i, ...))) end rcon.print(table.concat(t, '\\t')) end";

fn game_with_ann() -> Game {
    let mut g = game(SAY);
    act_and_step(&mut g, Action::Join { name: "ann".into() });
    g
}

#[track_caller]
fn assert_reply(g: &mut Game, code: &str, expected: &str) {
    assert_eq!(sc(g, code), expected, "reply to {code}");
}

#[test]
fn a_disconnected_player_has_no_character_and_cannot_get_one() {
    let mut g = game_with_ann();
    assert_reply(
        &mut g,
        "local p = game.get_player('ann') storage.c = p.character say(p.character ~= nil)",
        "true\n",
    );
    act_and_step(
        &mut g,
        Action::Leave {
            name: "ann".into(),
            reason: "quit".into(),
        },
    );
    assert_reply(
        &mut g,
        "local p = game.get_player('ann') say(tostring(p.character), p.get_main_inventory() == nil, \
         storage.c.valid, p.create_character())",
        "nil\ttrue\ttrue\tfalse\n",
    );
}

#[test]
fn create_character_needs_the_god_controller_no_character_and_a_living_player() {
    let mut g = game_with_ann();
    let p = "local p = game.get_player('ann') ";
    // with a character already
    assert_reply(&mut g, &format!("{p} say(p.create_character())"), "false\n");
    // as a spectator (Clusterio switches to god first because this fails)
    assert_reply(
        &mut g,
        &format!(
            "{p} p.set_controller{{type=defines.controllers.spectator}} say(p.create_character())"
        ),
        "false\n",
    );
    assert_reply(
        &mut g,
        &format!(
            "{p} p.set_controller{{type=defines.controllers.god}} say(p.create_character(), \
             p.controller_type == defines.controllers.character)"
        ),
        "true\ttrue\n",
    );
}

#[test]
fn a_dead_player_has_no_character_until_respawn() {
    let mut g = game_with_ann();
    let p = "local p = game.get_player('ann') ";
    assert_reply(
        &mut g,
        &format!(
            "{p} p.insert{{name='coal', count=5}} local c = p.character say(c.die(), c.valid, \
             tostring(p.character), p.ticks_to_respawn, p.controller_type == defines.controllers.ghost)"
        ),
        "true\tfalse\tnil\t600\ttrue\n",
    );
    assert_reply(
        &mut g,
        &format!("{p} p.set_controller{{type=defines.controllers.god}} say(p.create_character())"),
        "false\n",
    );
    // the items are in the corpse, not destroyed
    assert_eq!(g.world().ground.len(), 1);
    ticks(&mut g, 602);
    assert_reply(
        &mut g,
        &format!("{p} say(p.character ~= nil, tostring(p.ticks_to_respawn))"),
        "true\tnil\n",
    );
    // ticks_to_respawn = nil respawns at once
    assert_reply(
        &mut g,
        &format!("{p} p.character.die() p.ticks_to_respawn = nil say(p.character ~= nil)"),
        "true\n",
    );
}

#[test]
fn armor_adds_main_slots_and_taking_it_off_spills_them() {
    let mut g = game_with_ann();
    let p = "local p = game.get_player('ann') local main = p.get_main_inventory() \
             local armor = p.get_inventory(defines.inventory.character_armor) ";
    assert_reply(
        &mut g,
        &format!(
            "{p} say(#main) armor.insert{{name='power-armor-mk2'}} say(#main) \
             main[105].set_stack{{name='coal', count=50}} armor.clear() say(#main)"
        ),
        "80\n110\n80\n",
    );
    assert_eq!(g.world().ground.len(), 1, "the coal was spilled");
}

#[test]
fn armor_stacks_carry_an_equipment_grid() {
    let mut g = game_with_ann();
    let p = "local p = game.get_player('ann') local st = p.get_main_inventory()[1] ";
    assert_reply(
        &mut g,
        &format!(
            "{p} st.set_stack{{name='modular-armor'}} say(tostring(st.grid)) \
             local grid = st.create_grid() say(grid.width, grid.height, #grid.equipment) \
             local e = grid.put{{name='energy-shield-equipment', position={{1, 2}}, quality='rare'}} \
             e.shield = 1000 e.energy = 5 \
             say(e.name, e.quality.name, e.position.x, e.position.y, e.shield, e.energy) \
             say(tostring(grid.put{{name='battery-equipment', position={{2, 3}}}})) \
             say(grid.put{{name='battery-equipment'}}.position.x) \
             say(pcall(grid.put, {{name='no-such-equipment'}}))"
        ),
        "nil\n5\t5\t0\nenergy-shield-equipment\trare\t1\t2\t50\t5\nnil\n0\n\
         false\tUnknown equipment name: no-such-equipment\n",
    );
    // the grid moves with the item
    assert_reply(
        &mut g,
        "local p = game.get_player('ann') local inv = p.get_main_inventory() \
         inv[2].swap_stack(inv[1]) say(#inv[2].grid.equipment, inv[2].grid.equipment[1].shield) \
         local ok = pcall(function() return inv[1].grid end) say(ok)",
        "2\t50\nfalse\n",
    );
    assert_reply(
        &mut g,
        "local st = game.get_player('ann').get_main_inventory()[3] st.set_stack{name='iron-plate'} \
         say(pcall(st.create_grid))",
        "false\tItem iron-plate does not support equipment grids.\n",
    );
}

#[test]
fn encode_string_can_fail_as_the_description_says() {
    let mut g = Game::new(GameConfig {
        encode_string_fails_above: Some(10),
        ..config_with(&[("control.lua", SAY)])
    })
    .unwrap();
    assert_reply(
        &mut g,
        "say(type(helpers.encode_string('short')), tostring(helpers.encode_string(string.rep('x', 11))))",
        "string\tnil\n",
    );
}

#[test]
fn insert_fills_gun_and_ammo_slots_first_then_main_and_never_trash_or_armor() {
    let mut g = game_with_ann();
    let p = "local p = game.get_player('ann') local function n(i) \
             return p.get_inventory(defines.inventory[i]).get_item_count() end ";
    assert_reply(
        &mut g,
        &format!(
            "{p}p.insert{{name = 'pistol', count = 1}} p.insert{{name = 'firearm-magazine', count = 10}} \
             p.insert{{name = 'heavy-armor', count = 1}} \
             say(n('character_guns'), n('character_ammo'), n('character_armor'), n('character_main'))"
        ),
        "1\t10\t0\t1\n",
    );
    // a full main inventory takes nothing more: the trash slots are not a fallback
    assert_reply(
        &mut g,
        &format!(
            "{p}local put = p.insert{{name = 'stone', count = 50 * 80}} \
             say(put, p.insert{{name = 'iron-plate', count = 5}}, n('character_trash'))"
        ),
        "3950\t0\t0\n",
    );
}

#[test]
fn gui_members_of_some_element_types_are_refused_on_the_others() {
    let mut g = game_with_ann();
    let p = "local s = game.get_player('ann').gui.screen \
             local f = s.add{type = 'frame', name = 'f', direction = 'vertical'} \
             local l = s.add{type = 'label', name = 'l'} \
             local function e(f) local ok, m = pcall(f) return ok and 'accepted' or m end ";
    assert_reply(
        &mut g,
        &format!(
            "{p}f.force_auto_center() say(f.direction, e(function() return l.direction end), \
             e(function() l.force_auto_center() end), e(function() l.value = 0.5 end))"
        ),
        "vertical\tLuaGuiElement::direction is only usable on frame, flow, line elements, not on a label.\t\
         LuaGuiElement::force_auto_center is only usable on frame elements, not on a label.\t\
         LuaGuiElement::value is only usable on progressbar elements, not on a label.\n",
    );
}

#[test]
fn what_clusterio_reaches_for_exists_as_the_description_says() {
    let mut g = game_with_ann();
    // every defines.events entry of runtime-api 2.0.45, e.g. those Clusterio's module registers
    assert_reply(
        &mut g,
        "local e = defines.events local n = 0 for _ in pairs(e) do n = n + 1 end \
         say(n, type(e.on_pre_player_removed), type(e.on_cutscene_cancelled), type(e.on_player_banned), \
         script.get_event_id(e.on_player_promoted) == e.on_player_promoted, \
         script.get_event_id('on_player_demoted') == e.on_player_demoted)",
        "204\tnumber\tnumber\tnumber\ttrue\ttrue\n",
    );
    assert_reply(
        &mut g,
        "game.disable_replay() local p = game.get_player('ann') \
         p.force = 'player' p.cheat_mode = true \
         local f = p.gui.screen.add{type = 'frame', name = 'f'} p.opened = f \
         say(p.force.name, p.cheat_mode, p.opened == f, pcall(function() p.force = 'enemy' end))",
        "player\ttrue\ttrue\tfalse\tLuaPlayer.force: unknown force enemy (the emulator has only 'player')\n",
    );
}

#[test]
fn require_finds_a_module_next_to_the_requiring_file_first() {
    let mut g = common::game_with(&[
        (
            "control.lua",
            "found = require('lib/a') top = require('b') function say(x) rcon.print(x) end",
        ),
        (
            "lib/a.lua",
            "return require('b') .. '+' .. require('lib.c')",
        ),
        ("lib/b.lua", "return 'lib/b'"),
        ("lib/c.lua", "return 'lib/c'"),
        ("b.lua", "return 'top b'"),
    ]);
    assert_reply(&mut g, "say(found .. ', ' .. top)", "lib/b+lib/c, top b\n");
}

#[test]
fn slot_filters_hold_their_slot_for_their_item() {
    let mut g = game_with_ann();
    assert_reply(
        &mut g,
        "local inv = game.get_player('ann').get_main_inventory() \
         local set = inv.set_filter(1, 'iron-plate') \
         inv.insert{name = 'coal', count = 10} inv.insert{name = 'iron-plate', count = 5} \
         local refused = inv.set_filter(2, 'stone') \
         say(set, inv.supports_filters(), inv.get_filter(1).name, inv[1].name, inv[2].name, refused, \
         inv.supports_bar(), inv.is_filtered())",
        "true\ttrue\tiron-plate\tiron-plate\tcoal\tfalse\tfalse\ttrue\n",
    );
}

#[test]
fn the_editor_stashes_the_character_and_has_an_inventory_of_its_own() {
    let mut g = game_with_ann();
    let p = "local p = game.get_player('ann') ";
    assert_reply(
        &mut g,
        &format!(
            "{p} storage.c = p.character p.insert{{name = 'coal', count = 5}} \
             p.set_controller{{type = defines.controllers.editor}} \
             say(p.character == nil, storage.c.valid, p.admin, p.cheat_mode, \
             p.insert{{name = 'iron-plate', count = 50}}, \
             p.get_main_inventory().get_item_count('iron-plate'), \
             p.get_inventory(defines.inventory.editor_main).get_item_count('iron-plate'), \
             storage.c.get_item_count('coal'), storage.c.get_item_count('iron-plate'), \
             p.create_character())"
        ),
        "true\ttrue\ttrue\ttrue\t50\t50\t50\t5\t0\tfalse\n",
    );
    // the god's inventory is another one; the editor's is there again on coming back
    assert_reply(
        &mut g,
        &format!(
            "{p} p.set_controller{{type = defines.controllers.god}} \
             local god = p.get_main_inventory().get_item_count('iron-plate') \
             p.set_controller{{type = defines.controllers.editor}} \
             say(god, p.get_main_inventory().get_item_count('iron-plate'))"
        ),
        "0\t50\n",
    );
    // leaving the editor for the stashed character
    assert_reply(
        &mut g,
        &format!(
            "{p} p.set_controller{{type = defines.controllers.character, character = storage.c}} \
             say(p.character == storage.c, p.get_main_inventory().get_item_count('coal'))"
        ),
        "true\t5\n",
    );
}
