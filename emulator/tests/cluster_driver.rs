//! The emulator for clusters (issue 12): the driver's steps as `/emulator` RCON commands
//! (`--driver-commands`), `/emulator items`, `/emulator crash`, `--save` loaded at start, the
//! leave events of the players who were online in a loaded save, and saves that a kill -9
//! cannot tear. The process tests run the real binary over loopback RCON.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Client, Emulator, config_with, ticks};
use invsync_emulator::{CommandHandle, Game, SaveState};

/// Records the join, leave and click events (with what the leaving player's character holds)
/// in `storage.events`; `remote.call('t', 'events')` prints them joined by `;`.
const CONTROL: &str = r#"
script.on_init(function() storage.events = {} end)
local function record(kind)
  return function(e)
    local p = game.get_player(e.player_index)
    local held = "-"
    if p.character then held = tostring(p.character.get_main_inventory().get_item_count("iron-plate")) end
    storage.events[#storage.events + 1] = string.format("%s %s connected=%s reason=%s held=%s tick=%d",
      kind, p.name, tostring(p.connected), tostring(e.reason), held, e.tick)
  end
end
script.on_event(defines.events.on_pre_player_left_game, record("pre_left"))
script.on_event(defines.events.on_player_left_game, record("left"))
script.on_event(defines.events.on_player_joined_game, function(e)
  record("joined")(e)
  local p = game.get_player(e.player_index)
  if not p.gui.screen.hello then p.gui.screen.add{type = "button", name = "hello"} end
end)
script.on_event(defines.events.on_gui_click, function(e)
  storage.events[#storage.events + 1] = "click " .. e.element.name
end)
remote.add_interface("t", { events = function() rcon.print(table.concat(storage.events, ";")) end })
"#;

fn scenario_folder(dir: &Path) -> String {
    let s = dir.join("scenario");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(s.join("control.lua"), CONTROL).unwrap();
    s.to_str().unwrap().to_string()
}

fn events(c: &mut Client) -> Vec<String> {
    let text = c.command("/sc remote.call('t', 'events')");
    text.trim_end()
        .split(';')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn items(c: &mut Client, name: &str) -> serde_json::Value {
    let reply = c.command(&format!("/emulator items {name}"));
    assert!(
        reply.ends_with('\n') && !reply.trim_end().contains('\n'),
        "{reply:?}"
    );
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{reply:?}: {e}"))
}

/// Waits for the child to exit; its status.
fn exit_status(em: &mut Emulator, timeout: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + timeout;
    loop {
        if let Some(s) = em.child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < end, "the emulator did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn driver_commands_play_a_session_over_rcon() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_folder(dir.path());
    let em = Emulator::start(&["--driver-commands", "--scenario", &scenario]);
    let mut c = em.client();
    assert_eq!(c.command("/emulator join ann"), "ok\n");
    assert_eq!(c.command("/emulator give ann iron-plate 50"), "ok\n");
    assert_eq!(c.command("/emulator give ann iron-plate 10 rare"), "ok\n");
    assert_eq!(c.command("/emulator take ann iron-plate 5"), "ok\n");
    assert_eq!(
        items(&mut c, "ann"),
        serde_json::json!({"player": "ann", "online": true,
            "items": {"iron-plate": {"normal": 45, "rare": 10}}})
    );
    // refused steps change nothing and say why
    let refused = [
        (
            "/emulator take ann iron-plate 46",
            "holds 45 iron-plate (normal)",
        ),
        ("/emulator give ann iron-plate 99999", "has room for"),
        (
            "/emulator give ann unobtainium 1",
            "unknown item \"unobtainium\"",
        ),
        (
            "/emulator give ann iron-plate 1 shiny",
            "unknown quality \"shiny\"",
        ),
        ("/emulator give bob iron-plate 1", "unknown player \"bob\""),
        ("/emulator give ann iron-plate x", "bad count \"x\""),
        ("/emulator give ann iron-plate 0", "bad count 0"),
        ("/emulator give ann iron-plate -3", "bad count \"-3\""),
        ("/emulator give ann", "give: missing item"),
        ("/emulator join ann", "already online"),
        (
            "/emulator leave ann sulking",
            "unknown disconnect reason \"sulking\"",
        ),
        (
            "/emulator click ann nothing",
            "no visible, enabled element named \"nothing\"",
        ),
        ("/emulator dance ann", "unknown subcommand \"dance\""),
        ("/emulator", "missing subcommand"),
        ("/emulator items", "items: expected one player name"),
        ("/emulator items nobody", "unknown player \"nobody\""),
        ("/emulator crash now", "crash: takes no arguments"),
    ];
    for (command, why) in refused {
        let reply = c.command(command);
        assert!(
            reply.starts_with("error: ") && reply.contains(why) && reply.ends_with('\n'),
            "{command}: {reply:?}"
        );
    }
    assert_eq!(
        items(&mut c, "ann")["items"],
        serde_json::json!({"iron-plate": {"normal": 45, "rare": 10}})
    );
    assert_eq!(c.command("/emulator chat ann hello # there"), "ok\n");
    em.wait_line("[CHAT] ann: hello # there", Duration::from_secs(5));
    assert_eq!(c.command("/emulator click ann hello"), "ok\n");
    assert_eq!(c.command("/emulator leave ann"), "ok\n");
    assert!(c.command("/emulator leave ann").contains("is not online"));
    assert!(
        c.command("/emulator give ann coal 1")
            .contains("is not online")
    );
    // an offline player's character keeps its items
    assert_eq!(items(&mut c, "ann")["online"], false);
    assert_eq!(items(&mut c, "ann")["items"]["iron-plate"]["normal"], 45);
    let ev = events(&mut c);
    assert!(ev[0].starts_with("joined ann"), "{ev:?}");
    assert_eq!(ev[1], "click hello");
    assert!(
        ev[2].starts_with("pre_left ann connected=true reason=0 held=45"),
        "{ev:?}"
    );
    assert!(ev[3].starts_with("left ann connected=false"), "{ev:?}");
    assert_eq!(ev.len(), 4, "refused steps raised nothing: {ev:?}");
}

#[test]
fn without_the_flag_emulator_is_an_unknown_command() {
    let em = Emulator::start(&[]);
    let mut c = em.client();
    assert_eq!(
        c.command("/emulator join ann"),
        "Unknown command \"emulator\"."
    );
    assert!(c.command("/emulator-stats").starts_with('{'));
    assert_eq!(c.command("/sc rcon.print(#game.players)"), "0\n");
}

#[test]
fn crash_exits_at_once_without_saving_or_answering() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("game.json");
    let mut em = Emulator::start(&["--driver-commands", "--save", save.to_str().unwrap()]);
    let mut c = em.client();
    assert_eq!(c.command("/emulator join ann"), "ok\n");
    c.send(
        9,
        invsync_rcon_transport::SERVERDATA_EXECCOMMAND,
        b"/emulator crash",
    );
    assert!(c.read().is_none(), "no reply: the connection closes");
    let status = exit_status(&mut em, Duration::from_secs(10));
    assert!(!status.success(), "{status:?}");
    em.wait_line(
        "the server crashed (/emulator crash)",
        Duration::from_secs(2),
    );
    assert!(!save.exists(), "a crash saves nothing");
    assert_eq!(em.count_lines("saved to"), 0);
}

#[test]
fn a_server_restarted_on_its_save_loads_it_and_its_online_players_leave() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_folder(dir.path());
    let save = dir.path().join("autosave.json");
    let args = [
        "--driver-commands",
        "--scenario",
        scenario.as_str(),
        "--save",
        save.to_str().unwrap(),
        "--autosave-interval",
        "300",
    ];
    let mut first = Emulator::start(&args);
    let mut c = first.client();
    assert_eq!(c.command("/emulator join ann"), "ok\n");
    assert_eq!(c.command("/emulator join bob"), "ok\n");
    assert_eq!(c.command("/emulator give ann iron-plate 7"), "ok\n");
    assert_eq!(c.command("/emulator leave bob"), "ok\n");
    // wait for an autosave after these steps, then give more, which the crash loses (the
    // next autosave is 300 ticks away)
    let end = Instant::now() + Duration::from_secs(20);
    while !save.exists() {
        assert!(Instant::now() < end, "no autosave");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(c.command("/emulator give ann iron-plate 100"), "ok\n");
    c.send(
        5,
        invsync_rcon_transport::SERVERDATA_EXECCOMMAND,
        b"/emulator crash",
    );
    assert!(!exit_status(&mut first, Duration::from_secs(10)).success());
    let saved: SaveState = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    let saved_tick = saved.world.tick;
    assert_eq!(first.count_lines("Saving finished"), 1, "one autosave");

    let second = Emulator::start(&args);
    second.wait_line("Loading map", Duration::from_secs(5));
    let mut c = second.client();
    let ev = events(&mut c);
    // the events of the first run up to the autosave, then the load's leave events for ann
    // (online in the save), raised in the first tick, with her character readable
    let load_events: Vec<&String> = ev
        .iter()
        .filter(|e| e.contains(&format!("tick={saved_tick}")))
        .collect();
    assert_eq!(load_events.len(), 2, "{ev:?}");
    assert_eq!(
        load_events[0],
        &format!("pre_left ann connected=true reason=1 held=7 tick={saved_tick}")
    );
    assert!(
        load_events[1].starts_with("left ann connected=false reason=1"),
        "{ev:?}"
    );
    assert!(
        !ev.iter()
            .any(|e| e.starts_with("pre_left bob") && e.contains(&format!("tick={saved_tick}"))),
        "bob was offline in the save: {ev:?}"
    );
    second.wait_line("[LEAVE] ann left the game", Duration::from_secs(5));
    let ann = items(&mut c, "ann");
    assert_eq!(ann["online"], false);
    assert_eq!(
        ann["items"],
        serde_json::json!({"iron-plate": {"normal": 7}})
    );
    // ann can come back
    assert_eq!(c.command("/emulator join ann"), "ok\n");
}

#[test]
fn a_kill_9_during_autosaves_never_leaves_a_torn_save() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("big");
    std::fs::create_dir_all(&scenario).unwrap();
    // a few MB of storage, so that every save takes a while to write
    std::fs::write(
        scenario.join("control.lua"),
        "script.on_init(function() storage.big = {} for i = 1, 32 do storage.big[i] = string.rep(string.char(65 + i % 26), 65536) end end)\n\
         script.on_nth_tick(1, function(e) storage.n = e.tick end)",
    )
    .unwrap();
    let save = dir.path().join("autosave.json");
    let args = [
        "--scenario",
        scenario.to_str().unwrap(),
        "--save",
        save.to_str().unwrap(),
        "--autosave-interval",
        "1",
    ];
    let mut loaded = 0;
    for round in 0..6u64 {
        let mut em = Emulator::start(&args);
        if round > 0 {
            em.wait_line("Loading map", Duration::from_secs(5));
            loaded += 1;
        }
        let end = Instant::now() + Duration::from_secs(30);
        while !save.exists() {
            assert!(Instant::now() < end, "no autosave");
            std::thread::sleep(Duration::from_millis(2));
        }
        // kill at a different moment of the save cycle each round
        std::thread::sleep(Duration::from_millis(20 + round * 37));
        em.child.kill().unwrap(); // SIGKILL
        em.child.wait().unwrap();
        let bytes = std::fs::read(&save).unwrap();
        let parsed: Result<SaveState, _> = serde_json::from_slice(&bytes);
        assert!(
            parsed.is_ok(),
            "round {round}: a torn save ({} bytes)",
            bytes.len()
        );
    }
    assert_eq!(loaded, 5);
}

/// The sans-I/O game: the load's leave events come in the first tick, before the driver's
/// steps of that tick, on every lockstep peer and in heavy mode alike.
#[test]
fn a_loaded_game_raises_the_leave_events_on_every_peer() {
    let mut cfg = config_with(&[("control.lua", CONTROL)]);
    cfg.lockstep_peers = 2;
    cfg.heavy = true;
    cfg.driver_commands = true;
    let mut g = Game::new(cfg.clone()).unwrap();
    let h = |id| CommandHandle { conn: 1, id };
    assert!(g.submit(h(1), "/emulator join ann".into()).is_none());
    assert!(
        g.submit(h(2), "/emulator give ann iron-plate 3".into())
            .is_none()
    );
    let r = g.step().unwrap();
    assert_eq!(
        r.replies,
        vec![(h(1), "ok\n".to_string()), (h(2), "ok\n".to_string())]
    );
    ticks(&mut g, 3);
    let save = g.save().unwrap();
    let mut g2 = Game::from_save(cfg, save).unwrap();
    // ann rejoins in the first tick: she leaves first, then joins
    assert!(g2.submit(h(3), "/emulator join ann".into()).is_none());
    let r = g2.step().unwrap();
    assert_eq!(r.replies, vec![(h(3), "ok\n".to_string())]);
    let ev = sc_events(&mut g2);
    let n = ev.len();
    assert!(
        ev[n - 3].starts_with("pre_left ann connected=true reason=1 held=3"),
        "{ev:?}"
    );
    assert!(ev[n - 2].starts_with("left ann connected=false"), "{ev:?}");
    assert!(ev[n - 1].starts_with("joined ann connected=true"), "{ev:?}");
}

fn sc_events(g: &mut Game) -> Vec<String> {
    common::sc(g, "remote.call('t', 'events')")
        .trim_end()
        .split(';')
        .map(str::to_string)
        .collect()
}

/// The text of a tick's stdout lines.
fn printed(r: &invsync_emulator::TickReport) -> Vec<String> {
    r.lines
        .iter()
        .map(|l| match l {
            invsync_emulator::Line::Raw(t)
            | invsync_emulator::Line::Log(t)
            | invsync_emulator::Line::Dated(t) => t.clone(),
        })
        .collect()
}

#[test]
fn stall_stdout_holds_the_lines_while_the_game_runs_then_lets_them_out_in_order() {
    let mut cfg = config_with(&[(
        "control.lua",
        "script.on_nth_tick(1, function(e) if storage.on then print('tick ' .. e.tick) end end)\nremote.add_interface('t', {on = function() storage.on = true end})",
    )]);
    cfg.driver_commands = true;
    let mut g = Game::new(cfg).unwrap();
    let h = |id| CommandHandle { conn: 1, id };
    for (text, why) in [
        ("/emulator stall-stdout", "expected one tick count"),
        ("/emulator stall-stdout 0", "expected one tick count"),
        ("/emulator stall-stdout 36001", "1 to 36000"),
        ("/emulator stall-stdout 5 6", "expected one tick count"),
        ("/emulator stall-stdout x", "expected one tick count"),
    ] {
        let reply = g.submit(h(1), text.into()).expect("answered at once");
        assert!(
            reply.starts_with("error: stall-stdout") && reply.contains(why),
            "{text}: {reply:?}"
        );
    }
    common::sc(&mut g, "remote.call('t', 'on')");
    let mut seen = Vec::new();
    while seen.is_empty() {
        seen.extend(printed(&g.step().unwrap()));
    }
    assert_eq!(
        g.submit(h(2), "/emulator stall-stdout 10".into()),
        Some("ok\n".into())
    );
    let first = g.tick();
    let mut during = Vec::new();
    for _ in 0..9 {
        during.extend(printed(&g.step().unwrap()));
    }
    assert!(during.is_empty(), "printed during the stall: {during:?}");
    let released = printed(&g.step().unwrap());
    let expected: Vec<String> = (first..first + 10).map(|t| format!("tick {t}")).collect();
    assert_eq!(
        released, expected,
        "the held lines, in order, the tick the stall ends"
    );
    assert_eq!(
        printed(&g.step().unwrap()),
        vec![format!("tick {}", first + 10)]
    );
}
