//! Personal logistics travel with the player (issue 14, PLAYER_DATA.md `logistics`): the
//! requester point's settings and sections go A -> B byte for byte; a group the destination's
//! force has keeps its requests; a game without personal logistics carries them on untouched;
//! bad data is refused whole, with where and why, and nothing of it is applied.

mod support;

use serde_json::{Value, json};
use support::*;

fn server(name: &str) -> Server {
    server_with(name, 0, false)
}

/// A server with `peers` lockstep peers, in heavy mode if `heavy`.
fn server_with(name: &str, peers: usize, heavy: bool) -> Server {
    let mut s = Server::new(name, config(&control_with(""), peers, heavy));
    s.run(&mut Cluster::default(), 1);
    s
}

/// `name` joins `s`; `before` runs in the game right after the join (before the data comes).
fn join_and_play(s: &mut Server, c: &mut Cluster, name: &str, before: &str) {
    s.join(name);
    s.tick(c);
    if !before.is_empty() {
        s.eval::<()>(before);
    }
    s.run_until(c, 3000, &format!("{name} playing"), |s, _| {
        s.state(name) == "playing"
    });
}

fn leave_and_upload(s: &mut Server, c: &mut Cluster, name: &str, generation: u64) {
    s.leave(name);
    s.run_until(c, 3000, &format!("{name} uploaded"), |s, c| {
        s.state(name) == "idle" && c.stored().get(name).map(|d| d.generation) == Some(generation)
    });
}

fn with_logistics(logistics: Value) -> String {
    let colour = json!({"r": 1, "g": 0.5, "b": 0, "a": 1});
    json!({"format": 1, "name": "ann", "color": colour, "chat_color": colour, "logistics": logistics,
           "inventories": {"main": [{"slot": 1, "name": "coal", "count": 5}]}})
    .to_string()
}

/// Ann's requester point on `s`, as `enabled trash sections: group active multiplier
/// [slot name quality comparator min max]...`.
fn point(s: &Server) -> String {
    point_of(s, "game.get_player('ann').character")
}

/// The requester point of the character `character` (a Lua expression), as [`point`].
fn point_of(s: &Server, character: &str) -> String {
    s.eval(&format!(
        "local pt = {character}.get_requester_point() \
         local out = {{tostring(pt.enabled), tostring(pt.trash_not_requested)}} \
         for _, sec in ipairs(pt.sections) do \
           out[#out + 1] = '|' .. sec.group .. ' ' .. tostring(sec.active) .. ' ' .. sec.multiplier \
           for i, f in ipairs(sec.filters) do if f.value then \
             out[#out + 1] = table.concat({{i, f.value.name, tostring(f.value.quality), \
               tostring(f.value.comparator), f.min, tostring(f.max)}}, ' ') end end \
         end \
         return table.concat(out, ' ')"
    ))
}

fn carried() -> Value {
    json!({
        "enabled": false,
        "trash_not_requested": true,
        "sections": [
            {"active": false, "multiplier": 1.5, "filters": [
                {"slot": 1, "name": "iron-plate", "quality": "rare", "comparator": "≥", "min": 100, "max": 200},
                {"slot": 5, "name": "coal", "min": 50}
            ]},
            {"group": "mall", "filters": [{"slot": 2, "name": "iron-gear-wheel", "min": 10, "max": 20}]},
            {"filters": []}
        ]
    })
}

#[test]
fn requests_sections_and_trash_settings_go_a_to_b_byte_for_byte() {
    let mut c = Cluster::default();
    let given = with_logistics(carried());
    c.seed("ann", 1, given.clone());
    let mut a = server("alpha");
    join_and_play(&mut a, &mut c, "ann", "");
    let expected = "false true \
                    | false 1.5 1 iron-plate rare ≥ 100 200 5 coal nil nil 50 nil \
                    |mall true 1 2 iron-gear-wheel nil nil 10 20 \
                    | true 1";
    assert_eq!(point(&a), expected);
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let first = c.stored()["ann"].data.clone();
    let up: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(up["logistics"], carried(), "{up}");
    assert_same_player_data(&given, &first);
    let typed = invsync_player_data::PlayerData::from_json(first.as_bytes()).unwrap();
    let logistics = typed.logistics.as_ref().unwrap();
    assert_eq!(
        logistics.sections[0].filters[0].comparator.as_deref(),
        Some("≥")
    );
    // the Rust model writes the module's bytes
    assert!(first.contains(&serde_json::to_string(logistics).unwrap()));
    // beta checks lockstep and heavy mode every tick: writing and reading stay deterministic
    let mut b = server_with("beta", 1, true);
    join_and_play(&mut b, &mut c, "ann", "");
    assert_eq!(point(&b), expected);
    leave_and_upload(&mut b, &mut c, "ann", 3);
    assert_eq!(c.stored()["ann"].data, first);
}

#[test]
fn the_local_requests_are_replaced_and_absent_logistics_reset_them() {
    let mut c = Cluster::default();
    c.seed("ann", 1, with_logistics(carried()));
    let mut a = server("alpha");
    join_and_play(&mut a, &mut c, "ann", "");
    // played on: a section more
    a.eval::<()>(
        "game.get_player('ann').get_requester_point().add_section().set_slot(3, {value = 'stone', min = 7})",
    );
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    assert_eq!(
        up["logistics"]["sections"][3]["filters"],
        json!([{"slot": 3, "name": "stone", "min": 7}])
    );
    // data without logistics: the defaults, the local sections gone
    let without = json!({"format": 1, "name": "ann", "inventories": {}});
    c.seed("ann", 3, without.to_string());
    join_and_play(&mut a, &mut c, "ann", "");
    assert_eq!(point(&a), "true false");
    leave_and_upload(&mut a, &mut c, "ann", 4);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    assert!(up.get("logistics").is_none(), "{up}");
}

#[test]
fn a_group_the_destination_force_has_keeps_its_requests() {
    let mut c = Cluster::default();
    c.seed("ann", 1, with_logistics(carried()));
    let mut b = server("beta");
    // bob made the group "mall" on beta, with other requests
    join_and_play(&mut b, &mut c, "bob", "");
    b.eval::<()>(
        "game.get_player('bob').get_requester_point().add_section('mall')\
         .set_slot(1, {value = 'inserter', min = 4})",
    );
    join_and_play(&mut b, &mut c, "ann", "");
    let mall: String = b.eval(
        "local s = game.get_player('ann').get_requester_point().sections[2] \
         local f = s.filters return s.group .. ' ' .. #f .. ' ' .. f[1].value.name .. ' ' .. f[1].min",
    );
    assert_eq!(mall, "mall 1 inserter 4");
    leave_and_upload(&mut b, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    assert_eq!(
        up["logistics"]["sections"][1],
        json!({"group": "mall", "filters": [{"slot": 1, "name": "inserter", "min": 4}]})
    );
}

#[test]
fn a_game_without_personal_logistics_carries_them_on_untouched() {
    let mut c = Cluster::default();
    let given = with_logistics(carried());
    c.seed("ann", 1, given.clone());
    let mut b = server("beta");
    join_and_play(
        &mut b,
        &mut c,
        "ann",
        "game.get_player('ann').force.character_logistic_requests = false",
    );
    // set_slot would do nothing here: the point is left alone
    assert_eq!(point(&b), "true false");
    leave_and_upload(&mut b, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    assert_eq!(up["logistics"], carried(), "{up}");
}

#[test]
fn bad_logistics_are_refused_whole_with_where_and_why_and_nothing_is_applied() {
    let mut c = Cluster::default();
    let mut bad = carried();
    bad["sections"][1]["filters"][0]["max"] = json!(5);
    c.seed("ann", 1, with_logistics(bad));
    let mut a = server("alpha");
    a.join("ann");
    a.run_until(&mut c, 3000, "the data refused", |s, _| {
        s.state("ann") == "failed"
    });
    let index = a.index_of("ann");
    let told: Vec<&String> = a
        .player_messages
        .iter()
        .filter(|(p, _)| *p == index)
        .map(|(_, m)| m)
        .collect();
    let reason: String = a.eval(&format!(
        "return storage.invsync.sync.players[{index}].reason"
    ));
    assert!(
        reason.contains("logistics.sections[2].filters[1]: 'min' is greater than 'max'"),
        "{reason} {told:?}"
    );
    // nothing of it: the character kept for ann has the point's defaults and not the coal
    let kept = format!("storage.invsync.sync.players[{index}].character");
    assert_eq!(point_of(&a, &kept), "true false");
    let coal: u32 = a.eval(&format!("return {kept}.get_item_count('coal')"));
    assert_eq!(coal, 0);
    for (bad, why) in [
        (
            json!({"sections": [{"filters": [{"slot": 0, "name": "coal"}]}]}),
            "'slot' must be a whole number in 1..65535",
        ),
        (
            json!({"sections": [{"filters": [{"slot": 2, "name": "coal"}, {"slot": 2, "name": "stone"}]}]}),
            "filters[2]: 'slot'",
        ),
        (
            json!({"sections": [{"filters": [{"slot": 1, "name": "coal", "comparator": "~"}]}]}),
            "'comparator' must be one of",
        ),
        (
            json!({"sections": [{"multiplier": -1}]}),
            "multiplier must be a number >= 0",
        ),
        (
            json!({"enabled": "yes"}),
            "logistics.enabled must be a boolean",
        ),
        (
            json!({"sections": [{"filters": [{"slot": 1, "name": "coal", "min": 1.5}]}]}),
            "'min' must be a whole number",
        ),
    ] {
        let why_not: String = a.eval(&format!(
            "local d = helpers.json_to_table({:?}) local ok, err = require('invsync.player_data').check_logistics(d) \
             return ok and 'accepted' or err",
            bad.to_string()
        ));
        assert!(why_not.contains(why), "{bad}: {why_not}");
    }
}

#[test]
fn a_request_for_an_item_this_game_does_not_know_is_left_out_and_the_player_told() {
    let mut c = Cluster::default();
    let logistics = json!({"sections": [{"filters": [
        {"slot": 1, "name": "modded-widget", "min": 3},
        {"slot": 2, "name": "coal", "quality": "mythic", "comparator": "=", "min": 1},
        {"slot": 3, "name": "stone", "min": 9}
    ]}]});
    c.seed("ann", 1, with_logistics(logistics));
    let mut a = server("alpha");
    join_and_play(&mut a, &mut c, "ann", "");
    assert_eq!(point(&a), "true false | true 1 3 stone nil nil 9 nil");
    let index = a.index_of("ann");
    let told: Vec<&str> = a
        .player_messages
        .iter()
        .filter(|(p, _)| *p == index)
        .map(|(_, m)| m.as_str())
        .collect();
    for want in [
        "logistic request for modded-widget: the item modded-widget does not exist in this game",
        "logistic request for coal: the quality mythic does not exist in this game",
    ] {
        assert!(told.iter().any(|m| m.contains(want)), "{want}: {told:?}");
    }
    // a request is not an item: nothing of it is carried as one
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up: Value = serde_json::from_str(&c.stored()["ann"].data).unwrap();
    assert!(up.get("unplaced").is_none(), "{up}");
    assert_eq!(
        up["logistics"]["sections"][0]["filters"],
        json!([{"slot": 3, "name": "stone", "min": 9}])
    );
}
