//! Personal logistics as strict as the runtime API description 2.0.45: a character's
//! requester point (`LuaLogisticPoint`) and its sections (`LuaLogisticSection`), the force's
//! logistic groups, the checks on slots, filters and types, and saves and the desync checks
//! keeping all of it.

mod common;

use common::{config_with, game, sc};
use invsync_emulator::{Action, Game};

const SAY: &str = "function say(...) local t = {} for i = 1, select('#', ...) do \
                   t[i] = tostring((select(i, ...))) end rcon.print(table.concat(t, '\\t')) end";

fn game_with_ann() -> Game {
    let mut g = game(SAY);
    g.act(Action::Join { name: "ann".into() });
    g.step().unwrap();
    g
}

/// `/sc` with `pt` bound to ann's requester point.
fn run(g: &mut Game, code: &str) -> String {
    sc(
        g,
        &format!("local p = game.get_player('ann') local pt = p.get_requester_point() {code}"),
    )
}

#[track_caller]
fn refused(g: &mut Game, code: &str, why: &str) {
    let reply = run(g, code);
    assert!(
        reply.starts_with("Cannot execute command. Error:") && reply.contains(why),
        "{code}: {reply}"
    );
}

#[test]
fn a_new_character_has_an_enabled_point_without_sections() {
    let mut g = game_with_ann();
    assert_eq!(
        run(
            &mut g,
            "say(pt.object_name, pt.enabled, pt.trash_not_requested, pt.sections_count, #pt.sections, \
             pt.owner == p.character, pt.mode == defines.logistic_mode.requester)"
        ),
        "LuaLogisticPoint\ttrue\tfalse\t0\t0\ttrue\ttrue\n"
    );
    // the same point through the character
    assert_eq!(
        run(&mut g, "say(p.character.get_requester_point() == pt)"),
        "true\n"
    );
}

#[test]
fn sections_hold_filters_with_quality_comparators_and_bounds() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "local s = pt.add_section() \
         s.set_slot(1, {value = 'iron-plate', min = 100, max = 200}) \
         s.set_slot(3, {value = {type = 'item', name = 'coal', quality = 'rare', comparator = '>='}, min = 5}) \
         s.multiplier = 0.1 s.active = false \
         local f = s.filters local one, three = s.get_slot(1), s.get_slot(3) \
         say(#f, next(f[2]) == nil, one.value.name, one.min, one.max, three.value.quality, \
             three.value.comparator, tostring(three.max), s.filters_count, s.index, s.is_manual, \
             s.multiplier == 0.1, s.multiplier, s.active, next(s.get_slot(2)) == nil)",
    );
    assert_eq!(
        reply,
        "3\ttrue\tiron-plate\t100\t200\trare\t≥\tnil\t2\t1\ttrue\tfalse\t0.10000000149012\tfalse\ttrue\n"
    );
    run(&mut g, "pt.sections[1].clear_slot(1)");
    assert_eq!(
        run(
            &mut g,
            "say(pt.sections[1].filters_count, #pt.sections[1].filters)"
        ),
        "1\t3\n"
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(0, {value = 'coal'})",
        "Index out of range: 0",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(65536, {value = 'coal'})",
        "Index out of range: 65536",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = 'coal', min = 10, max = 5})",
        "min (10) must not be greater than max (5)",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = 'no-such-item'})",
        "Unknown item name: no-such-item",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = {name = 'coal', quality = 'shiny'}})",
        "Unknown quality name: shiny",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = {name = 'coal', comparator = '~'}})",
        "unknown comparator ~",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = {type = 'fluid', name = 'water'}})",
        "requests items",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = 'coal', min = 1.5})",
        "whole number",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, {value = 'coal', max = -1})",
        "whole number",
    );
    refused(
        &mut g,
        "pt.sections[1].set_slot(1, 'coal')",
        "expected a table",
    );
    refused(&mut g, "pt.sections[1].active = 1", "expected a boolean");
    refused(
        &mut g,
        "pt.sections[1].multiplier = 'x'",
        "expected a number",
    );
    refused(
        &mut g,
        "pt.sections[1].multiplier = -1",
        "expected a float >= 0",
    );
    refused(&mut g, "pt.enabled = 'yes'", "expected a boolean");
    refused(&mut g, "pt.trash_not_requested = nil", "expected a boolean");
    // nothing of the refused calls was applied
    assert_eq!(
        run(
            &mut g,
            "local s = pt.sections[1] say(s.filters_count, s.get_slot(3).min, s.active)"
        ),
        "1\t5\tfalse\n"
    );
}

#[test]
fn read_only_and_unknown_members_are_refused() {
    let mut g = game_with_ann();
    run(&mut g, "pt.add_section()");
    for (object, key) in [
        ("pt", "sections_count"),
        ("pt", "sections"),
        ("pt", "owner"),
        ("pt", "mode"),
        ("pt.sections[1]", "index"),
        ("pt.sections[1]", "filters_count"),
        ("pt.sections[1]", "is_manual"),
        ("pt.sections[1]", "type"),
    ] {
        refused(
            &mut g,
            &format!("{object}.{key} = {object}.{key}"),
            "is read-only",
        );
    }
    refused(
        &mut g,
        "say(pt.nope)",
        "LuaLogisticPoint doesn't contain key nope.",
    );
    refused(
        &mut g,
        "say(pt.sections[1].nope)",
        "LuaLogisticSection doesn't contain key nope.",
    );
}

#[test]
fn sections_are_added_removed_and_their_handles_follow_them() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "local a, b, c = pt.add_section(), pt.add_section(), pt.add_section() \
         a.set_slot(1, {value = 'coal'}) c.set_slot(1, {value = 'stone'}) \
         local removed, outside = pt.remove_section(2), pt.remove_section(3) \
         say(removed, outside, b.valid, c.index, pt.get_section(2) == c, pt.sections_count, \
             pt.get_section(2).get_slot(1).value.name)",
    );
    assert_eq!(reply, "true\tfalse\tfalse\t2\ttrue\t2\tstone\n");
    refused(&mut g, "pt.get_section(3)", "Index out of range: 3");
    // at most MAX_SECTIONS sections: add_section gives nil beyond
    let reply = run(
        &mut g,
        "for i = 1, 200 do pt.add_section() end say(pt.sections_count, pt.add_section() == nil)",
    );
    assert_eq!(reply, format!("{}\ttrue\n", invsync_emulator::MAX_SECTIONS));
}

#[test]
fn groups_are_the_forces_and_a_missing_group_is_created_empty() {
    let mut g = game(SAY);
    for name in ["ann", "bob"] {
        g.act(Action::Join { name: name.into() });
        g.step().unwrap();
    }
    let reply = run(
        &mut g,
        "local s = pt.add_section('mall') \
         local empty = s.filters_count \
         s.set_slot(2, {value = 'iron-gear-wheel', min = 50}) \
         local b = game.get_player('bob').get_requester_point().add_section('mall') \
         say(empty, s.group, b.group, b.get_slot(2).min)",
    );
    assert_eq!(reply, "0\tmall\tmall\t50\n");
    // an edit through bob's section is ann's too; leaving the group keeps what it showed
    let reply = run(
        &mut g,
        "local b = game.get_player('bob').get_requester_point().sections[1] \
         b.set_slot(2, {value = 'iron-gear-wheel', min = 70}) \
         local s = pt.sections[1] local seen = s.get_slot(2).min \
         s.group = '' s.set_slot(2, {value = 'iron-gear-wheel', min = 1}) \
         say(seen, s.get_slot(2).min, b.get_slot(2).min)",
    );
    assert_eq!(reply, "70\t1\t70\n");
    // joining a group that does not exist yet creates it with what the section showed
    let reply = run(
        &mut g,
        "local s = pt.sections[1] s.group = 'new' \
         local b = game.get_player('bob').get_requester_point().add_section('new') \
         say(b.get_slot(2).min)",
    );
    assert_eq!(reply, "1\n");
}

#[test]
fn set_slot_does_nothing_without_character_logistic_requests() {
    let mut g = game_with_ann();
    let reply = run(
        &mut g,
        "local was = p.force.character_logistic_requests \
         p.force.character_logistic_requests = false \
         local s = pt.add_section() s.set_slot(1, {value = 'coal'}) \
         local without = s.filters_count \
         p.force.character_logistic_requests = true s.set_slot(1, {value = 'coal'}) \
         say(was, without, s.filters_count)",
    );
    assert_eq!(reply, "true\t0\t1\n");
}

#[test]
fn a_player_without_a_character_has_no_point_and_a_dead_one_keeps_its_requests() {
    let mut g = game_with_ann();
    run(
        &mut g,
        "pt.trash_not_requested = true pt.add_section().set_slot(4, {value = 'coal', min = 9}) \
         p.character.die()",
    );
    assert_eq!(run(&mut g, "say(tostring(pt))"), "nil\n");
    let reply = run(
        &mut g,
        "p.ticks_to_respawn = nil local q = p.get_requester_point() \
         say(q.trash_not_requested, q.sections[1].get_slot(4).min)",
    );
    assert_eq!(reply, "true\t9\n");
}

#[test]
fn saves_keep_the_point_and_the_desync_checks_hold() {
    let control = format!(
        "{SAY} script.on_event(defines.events.on_player_joined_game, function(e) \
         local pt = game.get_player(e.player_index).get_requester_point() \
         pt.trash_not_requested = true \
         local s = pt.add_section('kit') s.multiplier = 1.5 \
         s.set_slot(7, {{value = {{name = 'coal', quality = 'epic', comparator = '<'}}, min = 3, max = 8}}) \
         storage.c = game.get_player(e.player_index).character storage.pt, storage.s = pt, s end)"
    );
    let mut cfg = config_with(&[("control.lua", &control)]);
    cfg.lockstep_peers = 2;
    cfg.heavy = true;
    let mut g = Game::new(cfg.clone()).unwrap();
    g.act(Action::Join { name: "ann".into() });
    for _ in 0..5 {
        g.step().expect("no divergence");
    }
    let before = g.world().clone();
    let save = g.save().unwrap();
    let mut again = Game::from_save(cfg, save).unwrap();
    assert_eq!(again.world().characters, before.characters);
    assert_eq!(again.world().logistic_groups, before.logistic_groups);
    let reply = sc(
        &mut again,
        // ann left when the save was loaded: her character is still in the world
        "local s = storage.c.get_requester_point().sections[1] \
         local f = s.get_slot(7) say(s.group, s.multiplier, f.value.comparator, f.max)",
    );
    assert_eq!(reply, "kit\t1.5\t<\t8\n");
    // the point and the section kept in storage are the same objects after the load
    let reply = sc(
        &mut again,
        "say(storage.pt == storage.c.get_requester_point(), storage.s.get_slot(7).min, \
         storage.pt.trash_not_requested)",
    );
    assert_eq!(reply, "true\t3\ttrue\n");
}
