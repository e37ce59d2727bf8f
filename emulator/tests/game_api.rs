//! The Lua API surface and the console-command behaviour, driven through the sans-I/O core.

mod common;

use common::{game, sc, ticks};
use invsync_emulator::{Action, CommandHandle, Game, GameConfig, Line};

/// Does what a player does and runs the tick that handles it.
fn act_and_step(g: &mut Game, action: Action) {
    g.act(action);
    g.step().unwrap();
}

fn join(g: &mut Game, name: &str) {
    act_and_step(g, Action::Join { name: name.into() });
}

/// A game with no scenario code and the player "ann" joined.
fn game_with_ann() -> Game {
    let mut g = game("");
    join(&mut g, "ann");
    g
}

/// Runs `code` with `/sc` and asserts its whole reply.
#[track_caller]
fn assert_reply(g: &mut Game, code: &str, expected: &str) {
    assert_eq!(sc(g, code), expected, "reply to {code}");
}

/// Runs `code` with `/sc` and asserts that its reply (mostly an error) contains `needle`.
#[track_caller]
fn assert_reply_contains(g: &mut Game, code: &str, needle: &str) {
    let reply = sc(g, code);
    assert!(reply.contains(needle), "reply to {code}: {reply}");
}

#[test]
fn rcon_print_reply_empty_reply_and_lua_errors() {
    let mut g = game("");
    assert_reply(&mut g, "rcon.print('a') rcon.print(42)", "a\n42\n");
    assert_reply(&mut g, "local x = 1", "");
    let err = sc(&mut g, "rcon.print('before') error('boom')");
    assert!(
        err.starts_with("before\nCannot execute command. Error: (command):1: boom"),
        "{err}"
    );
    let syntax = sc(&mut g, "this is not lua");
    assert!(
        syntax.starts_with("Cannot execute command. Error: "),
        "{syntax}"
    );
    let tick = g
        .run_command("/silent-command rcon.print(game.tick)", 100)
        .unwrap()
        .0;
    assert!(tick.trim().parse::<u64>().is_ok(), "{tick}");
}

#[test]
fn plain_console_commands() {
    let mut g = game("");
    let (reply, report) = g.run_command("hello from the console", 10).unwrap();
    assert_eq!(reply, "");
    assert!(report.lines.contains(&Line::Dated(
        "[CHAT] <server>: hello from the console".into()
    )));
    assert_eq!(
        g.run_command("/nosuchcommand x", 10).unwrap().0,
        "Unknown command \"nosuchcommand\"."
    );
    let (reply, report) = g.run_command("/c rcon.print(1+1)", 10).unwrap();
    assert_eq!(reply, "2\n");
    assert!(report.lines.contains(&Line::Dated(
        "[COMMAND] <server> (command): rcon.print(1+1)".into()
    )));
    assert!(
        g.run_command("/players", 10)
            .unwrap()
            .0
            .starts_with("Players (0):")
    );
}

#[test]
fn custom_commands_get_their_parameter() {
    let mut g = game(
        r#"commands.add_command("greet", "says hello", function(cmd) rcon.print("hello " .. cmd.parameter .. " at " .. cmd.tick) end)"#,
    );
    let reply = g.run_command("/greet bob", 10).unwrap().0;
    assert!(reply.starts_with("hello bob at "), "{reply}");
    assert_reply_contains(
        &mut g,
        "commands.add_command('greet', '', function() end)",
        "already exists",
    );
}

/// The tick a command submitted now is answered at, and its reply.
fn answered_at(g: &mut Game, id: i32, text: &str) -> (u64, String) {
    g.submit(CommandHandle { conn: 1, id }, text.to_string());
    for _ in 0..1000 {
        let r = g.step().unwrap();
        if let Some((_, body)) = r.replies.into_iter().find(|(h, _)| h.id == id) {
            return (r.tick, body);
        }
    }
    panic!("{text:.40}: no reply");
}

#[test]
fn a_custom_command_is_game_input_like_sc_but_its_text_is_never_lua() {
    // as the game documents CustomCommandData: no player_index from RCON, parameter nil when
    // the command has no text after its name
    let control = r#"commands.add_command("take", nil, function(cmd)
  rcon.print(cmd.name .. " " .. tostring(cmd.player_index) .. " " .. type(cmd.tick) .. " [" .. tostring(cmd.parameter) .. "]")
end)"#;
    let mut g = Game::new(GameConfig {
        achievements_warning: true,
        ..common::config_with(&[("control.lua", control)])
    })
    .unwrap();
    // not Lua: text that does not compile, brackets, quotes arrive as they are; and a custom
    // command does not meet the achievements warning that the first /sc does
    let text = "]] x = \"unfinished -- [=[ é";
    let (_, reply) = answered_at(&mut g, 1, &format!("/take {text}"));
    assert_eq!(reply, format!("take nil number [{text}]\n"));
    assert_eq!(answered_at(&mut g, 2, "/take").1, "take nil number [nil]\n");
    let (_, warned) = answered_at(&mut g, 3, "/sc rcon.print(1)");
    assert!(warned.contains("achievements"), "{warned}");
    // streamed as any command: sent together, one of the same length executes in the same
    // tick, 1000 bytes at 100 a tick
    let start = g.tick();
    let custom = format!("/take {}", "y".repeat(994));
    let sc_text = format!("/sc local s = [[{}]]", "y".repeat(982));
    assert_eq!((custom.len(), sc_text.len()), (1000, 1000));
    g.submit(CommandHandle { conn: 1, id: 4 }, custom);
    g.submit(CommandHandle { conn: 1, id: 5 }, sc_text);
    let mut at = Vec::new();
    while at.len() < 2 {
        let r = g.step().unwrap();
        at.extend(r.replies.iter().map(|(h, _)| (h.id, r.tick)));
        assert!(r.tick < start + 100, "no replies");
    }
    assert_eq!(at[0].1, at[1].1, "{at:?}");
    // ticks start..=start+9 stream it, it runs at the first even tick from start+9
    let last = start + 9;
    assert_eq!(at[0].1, last + last % 2, "{at:?} from {start}");
    // both tables list what the game documents
    let names = sc(
        &mut g,
        "rcon.print(tostring(commands.commands.take ~= nil) .. tostring(commands.game_commands.sc ~= nil) .. tostring(commands.commands.sc == nil))",
    );
    assert_eq!(names, "truetruetrue\n");
}

#[test]
fn commands_stream_at_the_segment_rate_and_short_ones_overtake() {
    let mut g = game("");
    ticks(&mut g, 1); // start at an odd tick
    let start = g.tick();
    let long = format!(
        "/sc local pad = [[{}]] rcon.print('long')",
        "x".repeat(1000)
    );
    g.submit(CommandHandle { conn: 1, id: 1 }, long.clone());
    g.submit(
        CommandHandle { conn: 1, id: 2 },
        "/sc rcon.print('short')".into(),
    );
    let mut order = Vec::new();
    let mut done_at = Vec::new();
    for _ in 0..100 {
        let r = g.step().unwrap();
        for (h, body) in r.replies {
            order.push((h.id, body));
            done_at.push(r.tick);
        }
        if order.len() == 2 {
            break;
        }
    }
    assert_eq!(order[0], (2, "short\n".to_string()));
    assert_eq!(order[1], (1, "long\n".to_string()));
    // ceil(len / 100) ticks of streaming, executed at the next even tick.
    let stream_ticks = long.len().div_ceil(100) as u64;
    let last_streamed = start + stream_ticks - 1;
    let expect = last_streamed + last_streamed % 2;
    assert_eq!(done_at[1], expect);
    assert_eq!(done_at[0] % 2, 0);
    assert_eq!(
        g.stats().bytes_streamed,
        (long.len() + "/sc rcon.print('short')".len()) as u64
    );
    // The first tick with bytes streaming in, and the last with a command executed.
    assert_eq!(g.stats().first_command_tick, Some(start));
    assert_eq!(g.stats().last_command_tick, Some(done_at[1]));
    g.reset_stats();
    assert_eq!(g.stats().first_command_tick, None);
}

#[test]
fn segment_size_falls_with_many_players() {
    let mut g = game("");
    for i in 0..20 {
        g.act(Action::Join {
            name: format!("p{i}"),
        });
    }
    ticks(&mut g, 1);
    if g.tick() % 2 == 1 {
        ticks(&mut g, 1);
    }
    let start = g.tick();
    let cmd = format!("/sc --[[{}]]", "y".repeat(240));
    assert_eq!(cmd.len(), 250);
    g.submit(CommandHandle { conn: 1, id: 9 }, cmd);
    let mut at = None;
    for _ in 0..100 {
        let r = g.step().unwrap();
        if !r.replies.is_empty() {
            at = Some(r.tick);
            break;
        }
    }
    // 25 bytes per tick at 20 players: 10 ticks of streaming.
    assert_eq!(at, Some(start + 10));
}

#[test]
fn achievements_warning_refuses_the_first_lua_command_once() {
    let cfg = GameConfig {
        achievements_warning: true,
        ..GameConfig::default()
    };
    let mut g = Game::new(cfg).unwrap();
    let first = sc(&mut g, "rcon.print('x')");
    assert!(first.contains("achievements"), "{first}");
    assert_reply(&mut g, "rcon.print('x')", "x\n");
    let save = g.save().unwrap();
    let mut g2 = Game::from_save(g.config().clone(), save).unwrap();
    assert_reply(&mut g2, "rcon.print('y')", "y\n");
}

#[test]
fn sandbox_has_only_the_games_libraries() {
    let mut g = game("");
    assert_reply(
        &mut g,
        "rcon.print(type(io), type(os), type(coroutine), type(debug), type(loadfile), type(dofile), type(package), type(bit32), type(string.dump))",
        "nil\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(tostring(io) .. tostring(os) .. tostring(coroutine) .. type(debug) .. tostring(loadfile) .. tostring(dofile) .. type(bit32) .. tostring(string.dump))",
        "nilnilniltablenilniltablenil\n",
    );
    // the game's `debug` has getinfo and traceback (its event_handler.lua uses getinfo); the
    // emulator offers only those two
    assert_reply(
        &mut g,
        "local n = 0 for _ in pairs(debug) do n = n + 1 end \
         rcon.print(n .. ' ' .. debug.getinfo(1, 'S').short_src .. ' ' .. type(debug.traceback()))",
        "2 (command) string\n",
    );
    assert_reply(&mut g, "rcon.print(load('return 1+1')())", "2\n");
    assert_reply_contains(
        &mut g,
        "load(function() return nil end)",
        "only string chunks",
    );
    assert_reply_contains(&mut g, "rcon.print(load(string.char(27) .. 'Lua'))", "nil");
    assert_reply_contains(&mut g, "require('x')", "control.lua is being loaded");
    assert_reply(&mut g, "rcon.print(table_size({a=1, b=2, 3}))", "3\n");
    assert_reply(&mut g, "rcon.print(bit32.band(12, 10))", "8\n");
}

#[test]
fn errors_from_the_api_are_strings_for_pcall() {
    let mut g = game_with_ann();
    let r = sc(
        &mut g,
        "local ok, e = pcall(function() return game.players[1].no_such_key end) rcon.print(type(e), e)",
    );
    assert_eq!(r, "string\n", "rcon.print prints its first argument only");
    assert_reply(
        &mut g,
        "local ok, e = pcall(function() return game.players[1].no_such_key end) rcon.print(e)",
        "LuaPlayer doesn't contain key no_such_key.\n",
    );
    assert_reply(
        &mut g,
        "local ok, e = xpcall(function() game.players[1].get_main_inventory().insert{name='bogus'} end, function(m) return 'handled: ' .. m end) rcon.print(e)",
        "handled: Unknown item name: bogus\n",
    );
    assert_reply_contains(
        &mut g,
        "game.no_such_thing()",
        "LuaGameScript doesn't contain key no_such_thing.",
    );
}

#[test]
fn require_loads_scenario_modules_only() {
    let mut g = common::game_with(&[
        (
            "control.lua",
            "local m = require('lib.mod') local same = require('lib/mod') assert(m == same) storage_value = m.value",
        ),
        ("lib/mod.lua", "return { value = 41 + 1 }"),
    ]);
    assert_reply(&mut g, "rcon.print(storage_value)", "42\n");
    let err = Game::new(common::config_with(&[(
        "control.lua",
        "require('../etc/passwd')",
    )]))
    .unwrap_err();
    assert!(err.to_string().contains("invalid module name"), "{err}");
    let err = Game::new(common::config_with(&[(
        "control.lua",
        "require('missing')",
    )]))
    .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn math_random_is_deterministic_per_seed() {
    let draw = |seed| {
        let mut cfg = common::config_with(&[]);
        cfg.seed = seed;
        let mut g = Game::new(cfg).unwrap();
        sc(
            &mut g,
            "local t = {} for i = 1, 5 do t[i] = math.random(100) end rcon.print(table.concat(t, ','))",
        )
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    let mut g = game("");
    assert_reply(
        &mut g,
        "local x = math.random() local y = math.random(3, 4) rcon.print(x >= 0 and x < 1 and (y == 3 or y == 4))",
        "true\n",
    );
    assert_reply_contains(&mut g, "math.random(5, 1)", "interval is empty");
}

#[test]
fn players_characters_and_controllers() {
    let mut g = game(
        r#"script.on_event(defines.events.on_player_created, function(e) storage.created = (storage.created or 0) + 1 end)
           script.on_event(defines.events.on_player_joined_game, function(e) storage.joined = e.player_index end)
           script.on_event(defines.events.on_player_left_game, function(e) storage.left = e.reason end)"#,
    );
    join(&mut g, "ann");
    assert_reply(
        &mut g,
        "local p = game.players['ann'] rcon.print(p.index .. p.name .. tostring(p.connected) .. p.controller_type .. (p.character.name))",
        "1anntrue1character\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(storage.created .. ',' .. storage.joined)",
        "1,1\n",
    );
    assert_reply(
        &mut g,
        "local p = game.get_player(1) local c = p.character p.set_controller{type=defines.controllers.spectator} rcon.print(tostring(p.character) .. p.controller_type .. tostring(p.get_main_inventory()) .. tostring(c.valid)) storage.c = c",
        "nil5niltrue\n",
    );
    assert_reply(
        &mut g,
        "local p = game.get_player(1) p.set_controller{type=defines.controllers.character, character=storage.c} rcon.print(p.character == storage.c)",
        "true\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(game.get_player(1).create_character())",
        "false\n",
    );
    assert_reply(
        &mut g,
        "local p = game.get_player(1) p.character.destroy() rcon.print(p.create_character() and p.character.valid)",
        "true\n",
    );
    assert_reply_contains(
        &mut g,
        "game.get_player(1).set_controller{type=defines.controllers.cutscene}",
        "does not model",
    );
    act_and_step(
        &mut g,
        Action::Leave {
            name: "ann".into(),
            reason: "dropped".into(),
        },
    );
    assert_reply(
        &mut g,
        "rcon.print(storage.left .. tostring(game.players[1].connected) .. #game.connected_players)",
        "1false0\n",
    );
    assert_reply(
        &mut g,
        "local n = 0 for i, p in pairs(game.players) do n = n + i end rcon.print(n .. #game.players)",
        "11\n",
    );
}

#[test]
fn inventories_stacks_and_quality() {
    let mut g = game_with_ann();
    assert_reply(
        &mut g,
        r#"
        local inv = game.players[1].get_main_inventory()
        local a = inv.insert{name="iron-plate", count=150}
        local b = inv.insert{name="iron-plate", count=5, quality="rare"}
        local c = inv.insert("copper-cable")
        local removed = inv.remove{name="iron-plate", count=20}
        local parts = {a, b, c, removed, #inv, inv.get_item_count("iron-plate"), inv.get_item_count{name="iron-plate", quality="rare"}}
        for _, e in ipairs(inv.get_contents()) do parts[#parts + 1] = e.name .. ":" .. e.count .. ":" .. e.quality end
        rcon.print(table.concat(parts, " "))"#,
        "150 5 200 20 80 130 5 copper-cable:200:normal iron-plate:130:normal iron-plate:5:rare\n",
    );
    assert_reply(
        &mut g,
        r#"
        local inv = game.players[1].get_main_inventory()
        inv.clear()
        inv.insert{name="repair-pack", count=3, durability=120}
        inv.insert{name="firearm-magazine", count=10, ammo=4}
        inv.insert{name="stone-furnace", count=2, health=0.5}
        local s1, s2, s3 = inv[1], inv[2], inv[3]
        rcon.print(s1.durability .. " " .. s2.ammo .. " " .. s3.health .. " " .. s3.quality.name .. " " .. s3.prototype.stack_size .. " " .. tostring(inv[4].valid_for_read))"#,
        "120 4 0.5 normal 50 false\n",
    );
    // 2.0's prototype getters: full durability, times 1 + level of the quality (rare: 3)
    assert_reply(
        &mut g,
        "local p = game.players[1].get_main_inventory()[1].prototype \
         rcon.print(p.get_durability() .. ' ' .. p.get_durability('rare') .. ' ' .. tostring(prototypes.item['iron-plate'].get_durability()) \
         .. ' ' .. prototypes.item['gun-turret'].stack_size)",
        "300 900 nil 10\n",
    );
    assert_reply_contains(
        &mut g,
        "local _ = game.players[1].get_main_inventory()[1].ammo",
        "is not ammo",
    );
    assert_reply_contains(
        &mut g,
        "local _ = game.players[1].get_main_inventory()[81]",
        "Index out of range",
    );
    assert_reply_contains(
        &mut g,
        "local _ = game.players[1].get_main_inventory()[80].name",
        "invalid for read",
    );
    assert_reply_contains(
        &mut g,
        "game.players[1].get_main_inventory().insert{name='iron-plate', quality='mythic'}",
        "Unknown quality name: mythic",
    );
    assert_reply(
        &mut g,
        "rcon.print(prototypes.item['removed-mod-item'] == nil and prototypes.item['iron-plate'].stack_size == 100 and prototypes.quality.legendary.level == 5)",
        "true\n",
    );
    assert_reply(
        &mut g,
        r#"
        local p = game.players[1]
        local guns = p.get_inventory(defines.inventory.character_guns)
        local ok1 = guns.insert("iron-plate")
        local ok2 = guns.insert{name="pistol"}
        p.cursor_stack.set_stack{name="blueprint"}
        rcon.print(ok1 .. ok2 .. #p.get_inventory(defines.inventory.character_trash) .. tostring(p.cursor_stack.is_blueprint) .. p.get_item_count("pistol"))"#,
        "0110true1\n",
    );
}

#[test]
fn character_bonuses_resize_the_inventory() {
    let mut g = game_with_ann();
    assert_reply(
        &mut g,
        r#"
        local p = game.players[1]
        p.character_inventory_slots_bonus = 10
        p.character_mining_speed_modifier = 0.5
        p.character_running_speed_modifier = 0.25
        p.character_reach_distance_bonus = 3
        rcon.print(#p.get_main_inventory() .. " " .. p.character.character_mining_speed_modifier .. " " .. p.character_reach_distance_bonus)"#,
        "90 0.5 3\n",
    );
    assert_reply_contains(
        &mut g,
        "game.players[1].character_inventory_slots_bonus = 1.5",
        "whole number",
    );
    sc(
        &mut g,
        "game.players[1].set_controller{type=defines.controllers.spectator}",
    );
    assert_reply_contains(
        &mut g,
        "local _ = game.players[1].character_crafting_speed_modifier",
        "doesn't have a character",
    );
    assert_reply(
        &mut g,
        "local p = game.players[1] p.color = {r=1, g=0, b=0} rcon.print(p.color.r .. p.color.a)",
        "11\n",
    );
}

#[test]
fn blueprint_export_import_validates_strings() {
    let mut g = game_with_ann();
    assert_reply(
        &mut g,
        r#"
        local inv = game.players[1].get_main_inventory()
        inv.insert{name="blueprint"}
        local bp = inv[1]
        bp.label = "smelting"
        local s = bp.export_stack()
        local code = inv[2].import_stack(s)
        rcon.print(string.sub(s, 1, 1) .. " " .. code .. " " .. inv[2].label .. " " .. inv[2].import_stack("0garbage") .. " " .. inv[3].import_stack("") .. " " .. tostring(inv[2].is_blueprint))"#,
        "0 0 smelting 1 1 true\n",
    );
    assert_reply_contains(
        &mut g,
        "local inv = game.players[1].get_main_inventory() inv.insert{name='coal'} inv[3].export_stack()",
        "can not be exported",
    );
    // A book string with one broken entry imports "with errors".
    let book = r#"{"blueprint_book":{"item":"blueprint-book","blueprints":[{"index":0,"blueprint":{"item":"blueprint"}},{"index":1,"car":{}}]}}"#;
    let code = format!(
        "local s = '0' .. helpers.encode_string('{book}') rcon.print(game.players[1].cursor_stack.import_stack(s))"
    );
    assert_eq!(sc(&mut g, &code), "-1\n");
}

#[test]
fn helpers_match_the_game_formats() {
    let mut g = game("");
    assert_reply(
        &mut g,
        "rcon.print(helpers.table_to_json({b=1, a={1, 2, 'x'}, c={}}))",
        "{\"a\":[1,2,\"x\"],\"b\":1,\"c\":[]}\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(helpers.json_to_table('{\"a\":[1,2]}').a[2])",
        "2\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(helpers.json_to_table('{oops') == nil)",
        "true\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(helpers.decode_string(helpers.encode_string('hello')))",
        "hello\n",
    );
    assert_reply(
        &mut g,
        "rcon.print(helpers.decode_string('!!') == nil)",
        "true\n",
    );
    assert_reply_contains(&mut g, "helpers.table_to_json({f=print})", "root.f");
    assert_reply_contains(
        &mut g,
        "helpers.write_file('x', 'y')",
        "LuaHelpers doesn't contain key write_file.",
    );
}

#[test]
fn gui_elements_and_click_events() {
    let mut g = game(
        r#"script.on_event(defines.events.on_gui_click, function(e)
             storage.clicked = e.element.name .. "@" .. e.player_index .. ":" .. e.element.parent.name
           end)"#,
    );
    join(&mut g, "ann");
    assert_reply(
        &mut g,
        r#"
        local screen = game.players[1].gui.screen
        local f = screen.add{type="frame", name="sync", caption="Downloading", direction="vertical"}
        local l = f.add{type="label", name="text", caption={"", "12 of 100 kB"}}
        local b = f.add{type="progressbar", name="bar", value=0.12}
        f.add{type="button", name="retry", caption="Retry"}
        b.value = 0.5
        f.force_auto_center()
        rcon.print(screen.sync.bar.value .. " " .. #f.children .. " " .. screen.sync.caption .. " " .. tostring(screen.nothing_here))"#,
        "0.5 3 Downloading nil\n",
    );
    assert_reply_contains(
        &mut g,
        "game.players[1].gui.screen.sync.add{type='label', name='text'}",
        "already present",
    );
    assert_reply_contains(
        &mut g,
        "game.players[1].gui.screen.add{type='camera'}",
        "unknown or unmodelled",
    );
    assert_reply_contains(
        &mut g,
        "game.players[1].gui.screen.sync.bar.value = 2",
        "outside [0, 1]",
    );
    act_and_step(
        &mut g,
        Action::Click {
            name: "ann".into(),
            element: "retry".into(),
        },
    );
    assert_reply(&mut g, "rcon.print(storage.clicked)", "retry@1:sync\n");
    assert_reply(
        &mut g,
        "local f = game.players[1].gui.screen.sync local b = f.bar f.destroy() rcon.print(tostring(b.valid) .. tostring(game.players[1].gui.screen.sync))",
        "falsenil\n",
    );
}

#[test]
fn remote_interfaces() {
    let mut g = game(
        r#"remote.add_interface("invsync", { recv = function(frame) rcon.print("ok " .. #frame) return 7 end })"#,
    );
    assert_reply(
        &mut g,
        "local r = remote.call('invsync', 'recv', [==[IS1 abc]==]) rcon.print(r)",
        "ok 7\n7\n",
    );
    assert_reply_contains(
        &mut g,
        "remote.call('nope', 'x')",
        "Unknown interface: nope",
    );
    assert_reply_contains(&mut g, "remote.call('invsync', 'x')", "No such function: x");
    assert_reply(
        &mut g,
        "rcon.print(remote.interfaces.invsync.recv)",
        "true\n",
    );
}

#[test]
fn print_log_and_player_messages() {
    let mut g = game_with_ann();
    let (_, report) = g.run_command("/sc print('plain', 1, nil) log('logged') game.players[1].print('hi ann') game.print('all')", 10).unwrap();
    assert!(report.lines.contains(&Line::Raw("plain\t1\tnil".into())));
    assert!(
        report
            .lines
            .iter()
            .any(|l| matches!(l, Line::Log(s) if s.starts_with("Script (command):1: logged"))),
        "{:?}",
        report.lines
    );
    assert_eq!(
        report.player_messages,
        vec![(1, "hi ann".to_string()), (1, "all".to_string())]
    );
}

#[test]
fn save_and_load_keep_storage_world_and_run_on_load() {
    let control = r#"
        local cache
        script.on_init(function() storage.n = 1 storage.shared = {x = 1} storage.alias = storage.shared end)
        script.on_load(function() cache = "rebuilt" end)
        script.on_event(defines.events.on_player_joined_game, function(e) storage.player = game.get_player(e.player_index) end)
        remote.add_interface("t", { cache = function() rcon.print(tostring(cache)) end })"#;
    let mut g = game(control);
    join(&mut g, "ann");
    sc(
        &mut g,
        "storage.n = storage.n + 41 game.players[1].get_main_inventory().insert{name='coal', count=7}",
    );
    let save = g.save().unwrap();
    let text = serde_json::to_string(&save).unwrap();
    let save2: invsync_emulator::SaveState = serde_json::from_str(&text).unwrap();
    let mut g2 = Game::from_save(g.config().clone(), save2).unwrap();
    assert_reply(
        &mut g2,
        "rcon.print(storage.n .. ' ' .. tostring(storage.alias == storage.shared) .. ' ' .. storage.player.name)",
        "42 true ann\n",
    );
    // the offline player's character (which the API does not show while offline) kept its items
    let coal: u64 = g2
        .world()
        .characters
        .values()
        .map(|c| c.main.count(Some("coal"), None))
        .sum();
    assert_eq!(coal, 7);
    assert_reply(&mut g2, "remote.call('t', 'cache')", "rebuilt\n");
    assert_eq!(
        sc(&mut g2, "rcon.print(tostring(game.players[1].connected))"),
        "false\n",
        "players are offline after a load"
    );
    // on_load may not change storage.
    let bad = format!("{control}\nscript.on_load(function() storage.n = 0 end)");
    let mut g3 = game(&bad);
    let err = Game::from_save(g3.config().clone(), g3.save().unwrap()).unwrap_err();
    assert!(err.to_string().contains("on_load changed storage"), "{err}");
    assert!(sc(&mut g3, "storage.f = function() end").is_empty());
    assert!(g3.save().unwrap_err().to_string().contains("storage.f"));
}

#[test]
fn crash_and_restart_from_the_last_autosave() {
    let mut cfg = common::config_with(&[(
        "control.lua",
        "script.on_init(function() storage.n = 0 end) script.on_nth_tick(1, function() storage.n = storage.n + 1 end)",
    )]);
    cfg.autosave_interval = Some(10);
    let mut g = Game::new(cfg).unwrap();
    join(&mut g, "ann");
    ticks(&mut g, 14);
    g.submit(CommandHandle { conn: 3, id: 1 }, "/sc rcon.print(1)".into());
    let lost = g.crash();
    assert_eq!(lost, vec![CommandHandle { conn: 3, id: 1 }]);
    assert!(g.step().is_err());
    g.restart().unwrap();
    assert_eq!(g.tick(), 10);
    // The autosave was taken after tick 9 ran (10 increments); the command runs before tick 10's handlers.
    assert_reply(
        &mut g,
        "rcon.print(storage.n .. tostring(game.players[1].connected))",
        "10false\n",
    );
}
