//! Transfers through the module in the emulator: the `huge` sample (1 MB) in both directions,
//! as the scenario's own message and as player data, with no tick over the instruction
//! budget; the capability declaration; the remote interface's answers to bad calls.

mod support;

use invsync_player_data::SampleKind;
use serde_json::Value;
use support::*;

#[test]
fn the_huge_sample_crosses_both_ways_as_a_scenario_message_within_budget() {
    let mut c = Cluster::default();
    let mut a = Server::new("alpha", config(&control_with(""), 0, false));
    a.run(&mut c, 2);
    let huge = sample(SampleKind::Huge, 1);
    // host -> game: the scenario's handler echoes it back with invsync.send
    let id = a.send(format!("echo:{huge}").as_bytes());
    a.run_until(&mut c, 3000, "the echo", |s, _| !s.app_messages.is_empty());
    assert!(
        a.received
            .iter()
            .any(|(m, status, _)| *m == id && status == "done"),
        "the game reported the message done: {:?}",
        a.received
    );
    assert_eq!(a.app_messages[0], huge.as_bytes(), "byte for byte");
    // game -> host: from the tick the scenario called send to the tick the host has it all
    let sent_at: u64 = a.eval("return storage.test_messages[1].tick");
    let took = a.app_ticks[0] - sent_at;
    // staging checks the text, checksums it and builds its frames (about 1.1 million units at
    // tick_budget 24576: some 44 ticks), then the host pulls 17 frames of 64 KiB
    assert!(took < 80, "game -> host of 1 MB took {took} ticks");
    assert_eq!(a.staged_announced, 1, "staged and pulled, not printed");
    assert!(a.over_budget.is_empty(), "over budget: {:?}", a.over_budget);
    eprintln!(
        "huge game -> host: {took} ticks; max tick instructions {}",
        a.max_tick_instructions()
    );
}

#[test]
fn the_huge_sample_syncs_both_ways_within_budget() {
    let mut c = Cluster::default();
    let data = sample(SampleKind::Huge, 1);
    let name = serde_json::from_str::<Value>(&data).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    c.seed(&name, 1, data.clone());
    let mut a = Server::new("alpha", config(&control_with(""), 0, false));
    a.run(&mut c, 1);
    a.join(&name);
    let down = a.run_until(&mut c, 5000, "playing", |s, _| s.state(&name) == "playing");
    assert!(a.over_budget.is_empty(), "over budget: {:?}", a.over_budget);
    let before_leave = a.now;
    a.leave(&name);
    let up = a.run_until(&mut c, 5000, "uploaded", |s, c| {
        s.state(&name) == "idle" && c.stored()[&name].generation == 2
    });
    assert_same_player_data(&data, &c.stored()[&name].data);
    // The one tick that may exceed the budget is the leave event's: the game does not promise
    // a departed player's character is readable later, so every stack is read inside
    // on_pre_player_left_game (docs: scenario/README.md); only encoding and sending are spread.
    assert!(
        a.over_budget.len() <= 1 && a.over_budget.iter().all(|(t, _)| *t == before_leave + 1),
        "over budget outside the leave event's tick ({}): {:?}",
        before_leave + 1,
        a.over_budget
    );
    eprintln!(
        "huge sync: download and apply {down} ticks, read and upload {up} ticks, max tick instructions {}",
        a.max_tick_instructions()
    );
}

#[test]
fn the_game_declares_its_capabilities_and_answers_bad_calls_by_name() {
    let mut c = Cluster::default();
    let mut a = Server::new("alpha", config(&control_with(""), 0, false));
    a.run(&mut c, 1);
    let caps = a.caps.clone().expect("announced at start");
    assert_eq!(caps["type"], "caps");
    assert_eq!(
        declared_methods(&caps),
        [
            invsync_codec::Method::Zlib,
            invsync_codec::Method::Solid,
            invsync_codec::Method::Raw,
            invsync_codec::Method::Lz4
        ]
    );
    assert_eq!(caps["max_frame"], 8192);
    let answer = a.command(&mut c, &call_command("caps", &[]));
    let declared: Value = serde_json::from_str(answer.trim_end()).unwrap();
    assert_eq!(declared["protocol"], 1);
    assert_eq!(declared["decode"], caps["decode"]);
    for (call, want) in [
        (call_command("status", &[4242]), "unknown 4242\n"),
        (call_command("pull", &[7, 1]), "unknown 7\n"),
        (call_command("ack", &[7]), "unknown 7\n"),
        (
            "/sc remote.call(\"invsync\",\"recv\",123)".to_string(),
            "err - NotAFrame expected the frame as a string, got a number\n",
        ),
    ] {
        assert_eq!(a.command(&mut c, &call), want, "{call}");
    }
    let garbage = a.command(&mut c, &recv_command("hello world"));
    assert!(garbage.starts_with("err - NotAFrame "), "{garbage}");
    let other = a.command(&mut c, &recv_command("IS2 whatever"));
    assert!(other.starts_with("err - UnsupportedVersion "), "{other}");
    let bad = a.command(&mut c, "/sc remote.call(\"invsync\",\"status\",\"x\")");
    assert!(bad.starts_with("err - BadArgument "), "{bad}");
}

#[test]
fn the_download_shows_its_progress_and_the_time_left() {
    let mut c = Cluster::default();
    let data = sample(SampleKind::Bp, 5);
    let name = serde_json::from_str::<Value>(&data).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    c.seed(&name, 1, data);
    let mut cfg = config(&control_with(""), 0, false);
    // five commands streaming at once, as Clusterio sends them: the frames arrive in turns
    cfg.stream.max_parallel = Some(5);
    let mut a = Server::new("alpha", cfg);
    a.run(&mut c, 1);
    a.join(&name);
    let mut seen = Vec::new();
    a.run_until(&mut c, 5000, "playing", |s, _| {
        if s.state(&name) == "downloading"
            && let Some(v) = s.gui_value(&name, "invsync_progress")
        {
            let status = s.gui_caption(&name, "invsync_status").unwrap_or_default();
            let detail = s.gui_caption(&name, "invsync_detail").unwrap_or_default();
            seen.push((v, status, detail));
        }
        s.state(&name) == "playing"
    });
    let partial: Vec<_> = seen
        .iter()
        .filter(|(v, _, _)| *v > 0.0 && *v < 1.0)
        .collect();
    assert!(partial.len() > 10, "the bar moves: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1].0 >= w[0].0),
        "and never goes back"
    );
    let (_, status, detail) = partial[partial.len() / 2];
    assert!(
        status.contains(" of ") && status.contains("KiB"),
        "{status}"
    );
    assert!(
        detail.starts_with("About ") && detail.ends_with(" s left"),
        "{detail}"
    );
    assert!(!a.gui_visible(&name, "invsync_sync"), "closed when done");
}

/// Frames of `payload` for the game: `raw`, cut small so that several frames carry it.
fn raw_frames(id: u32, payload: &[u8], max_frame: usize) -> Vec<String> {
    let options = invsync_codec::EncodeOptions {
        method: invsync_codec::MethodChoice::Only(invsync_codec::Method::Raw),
        receiver: invsync_codec::Capabilities::all(max_frame),
        ..invsync_codec::EncodeOptions::default()
    };
    invsync_codec::encode(id, payload, &options).unwrap().frames
}

#[test]
fn a_frame_through_the_custom_command_arrives_byte_for_byte() {
    let mut c = Cluster::default();
    let mut a = Server::new("alpha", config(&control_with(""), 0, false));
    a.run(&mut c, 1);
    let caps = a.caps.clone().expect("announced at start");
    assert_eq!(caps["recv_command"], "invsync-recv");
    // byte for byte the declaration of the shared vectors (tests/vectors/caps.json)
    let vectors: Value =
        serde_json::from_str(include_str!("../../tests/vectors/caps.json")).unwrap();
    let answer = a.command(&mut c, &call_command("caps", &[]));
    assert_eq!(
        answer.trim_end(),
        vectors["vectors"][0]["declaration"],
        "{answer}"
    );
    // text a long bracket would need `=` for, inner runs of spaces, quotes, backslashes,
    // multi-byte characters: a parameter carries all of it as it is
    let payload = format!("echo:{}", "a]]b]=]  \"q\\ é€𝄞 x ".repeat(40)) + "end";
    let frames = raw_frames(900, payload.as_bytes(), 200);
    assert!(frames.len() > 5, "{} frames", frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let reply = a.command(&mut c, &format!("/invsync-recv {frame}"));
        let mut words = reply.split(' ');
        assert!(
            matches!(words.next(), Some("ok" | "done")) && words.next() == Some("900"),
            "frame {}: {reply:?}",
            i + 1
        );
    }
    a.run_until(&mut c, 300, "the echo", |s, _| !s.app_messages.is_empty());
    assert_eq!(a.app_messages[0], payload.as_bytes()[5..], "byte for byte");
    assert_reported_done(&a, 900);
}

#[test]
fn the_custom_command_refuses_what_is_not_a_frame_by_name_and_never_raises() {
    let mut c = Cluster::default();
    let mut a = Server::new("alpha", config(&control_with(""), 0, false));
    a.run(&mut c, 1);
    let long = format!("IS1 {}", "x".repeat(9000));
    for (command, want) in [
        (
            "/invsync-recv".to_string(),
            "err - NotAFrame the command carried no frame",
        ),
        ("/invsync-recv hello world".to_string(), "err - NotAFrame "),
        (
            "/invsync-recv IS2 whatever".to_string(),
            "err - UnsupportedVersion ",
        ),
        (format!("/invsync-recv {long}"), "err - FrameTooLong "),
    ] {
        let reply = a.command(&mut c, &command);
        assert!(
            reply.starts_with(want) && reply.ends_with('\n') && reply.lines().count() == 1,
            "{:.60}: {reply:?}",
            command
        );
        assert!(!reply.contains("Cannot execute"), "{reply:?}");
    }
}

#[test]
fn a_module_without_the_command_declares_none() {
    // a scenario that turned it off, and one whose name another script took first: neither
    // declares it, and the taken name raises nothing
    for (settings, before) in [
        ("recv_command = false", ""),
        (
            "",
            "commands.add_command(\"invsync-recv\", nil, function() end)\n",
        ),
    ] {
        let mut c = Cluster::default();
        let control = format!("{before}{}", control_with(settings));
        let mut a = Server::new("alpha", config(&control, 0, false));
        a.run(&mut c, 1);
        let caps = a.caps.clone().expect("announced at start");
        assert!(
            caps.get("recv_command").is_none(),
            "{settings:?} {before:?}: {caps}"
        );
        let answer = a.command(&mut c, &call_command("caps", &[]));
        assert!(!answer.contains("recv_command"), "{answer}");
    }
}

/// The game reported message `id` done to the host (a `received` control message).
fn assert_reported_done(a: &Server, id: u32) {
    assert!(
        a.received
            .iter()
            .any(|(m, status, _)| *m == id && status == "done"),
        "message {id}: {:?}",
        a.received
    );
}

/// The module's `on_message` keeps every payload it delivers, with its id.
const CRC_CONTROL: &str = r#"
local invsync = require("invsync.factorio")
invsync.setup({})
invsync.on_message(function(payload, id)
  storage.got = storage.got or {}
  table.insert(storage.got, { id = id, payload = payload })
end)
"#;

/// What the module delivered, as `id length crc` lines (the CRC taken here: in the game it
/// would be Lua work in the delivering tick, which the module's budget does not cover).
fn delivered(a: &Server) -> Vec<String> {
    let got: Vec<mlua::Table> = a.eval("return storage.got or {}");
    got.iter()
        .map(|m| {
            let id: u32 = m.get("id").unwrap();
            let bytes = m
                .get::<mlua::LuaString>("payload")
                .unwrap()
                .as_bytes()
                .to_vec();
            format!("{id} {} {:08x}", bytes.len(), crc32fast::hash(&bytes))
        })
        .collect()
}

/// The frames a host cuts for this game (what `invsync_host` does with the game's declaration:
/// `auto`, 16 in flight, the custom command's wrapper, the stream model's 100 bytes a tick).
fn host_frames(a: &Server, id: u32, payload: &[u8]) -> invsync_codec::Encoded {
    let caps = a.caps.clone().expect("announced at start");
    let receiver = invsync_codec::Capabilities::from_json(&caps.to_string()).unwrap();
    let options = invsync_codec::EncodeOptions {
        receiver,
        parallelism: 16,
        per_frame_overhead: 14,
        segment: 100,
        ..invsync_codec::EncodeOptions::default()
    };
    invsync_codec::encode(id, payload, &options).unwrap()
}

/// Sends every frame through the custom command; the answers, in order.
fn send_frames(a: &mut Server, c: &mut Cluster, frames: &[String]) -> Vec<String> {
    frames
        .iter()
        .map(|f| a.command(c, &format!("/invsync-recv {f}")))
        .collect()
}

#[test]
fn a_rep_sized_player_arrives_with_solid_byte_for_byte() {
    let mut c = Cluster::default();
    let mut a = Server::new("alpha", config(CRC_CONTROL, 0, false));
    a.run(&mut c, 1);
    let rep = sample(SampleKind::Rep, 1);
    let e = host_frames(&a, 31, rep.as_bytes());
    assert_eq!(e.method, invsync_codec::Method::Solid, "auto takes solid");
    assert!(e.frames.len() > 1, "{} frames", e.frames.len());
    assert!(e.frames.iter().all(|f| f.starts_with("~")), "short headers");
    // the frames in reverse: the one inflate waits for the whole wire text, in any order
    let mut frames = e.frames.clone();
    frames.reverse();
    let answers = send_frames(&mut a, &mut c, &frames);
    assert!(
        answers.iter().all(|r| r.starts_with("ok 31 ")),
        "{answers:?}"
    );
    a.run_until(&mut c, 300, "the delivery", |s, _| !delivered(s).is_empty());
    let want = format!("31 {} {:08x}", rep.len(), crc32fast::hash(rep.as_bytes()));
    assert_eq!(delivered(&a), vec![want], "byte for byte, by checksum");
    assert_reported_done(&a, 31);
    assert!(a.over_budget.is_empty(), "over budget: {:?}", a.over_budget);
}

#[test]
fn a_solid_frame_over_the_bound_is_refused_at_once_and_nothing_else_breaks() {
    let mut c = Cluster::default();
    let mut a = Server::new("alpha", config(CRC_CONTROL, 0, false));
    a.run(&mut c, 1);
    // a chunk of a message that claims one byte more than solid carries (PROTOCOL.md 2.3),
    // in both header forms
    let over = invsync_codec::Header {
        id: 40,
        index: 1,
        count: 2,
        method: invsync_codec::Method::Solid,
        payload_len: invsync_codec::SOLID_MAX_PAYLOAD + 1,
        wire_len: 8,
        message_crc: crc32fast::hash(b"eJwDAAAA"),
    };
    for format in [
        invsync_codec::HeaderFormat::Long,
        invsync_codec::HeaderFormat::Short,
    ] {
        let reply = a.command(
            &mut c,
            &format!("/invsync-recv {}", over.build_as(format, "eJwD")),
        );
        assert!(
            reply.starts_with("err 40 MessageTooLarge ") && reply.contains("65537"),
            "{format:?}: {reply:?}"
        );
    }
    assert_eq!(
        a.command(&mut c, &call_command("status", &[40])),
        "unknown 40\n",
        "nothing held"
    );
    // the bound itself is fine, and the next message arrives as any other
    let payload: Vec<u8> = br#"{"stack":["iron-plate",100]},"#
        .iter()
        .copied()
        .cycle()
        .take(invsync_codec::SOLID_MAX_PAYLOAD as usize)
        .collect();
    let e = host_frames(&a, 41, &payload);
    assert_eq!(e.method, invsync_codec::Method::Solid);
    send_frames(&mut a, &mut c, &e.frames);
    a.run_until(&mut c, 300, "the delivery", |s, _| !delivered(s).is_empty());
    let want = format!("41 65536 {:08x}", crc32fast::hash(&payload));
    assert_eq!(delivered(&a), vec![want]);
    assert!(a.over_budget.is_empty(), "over budget: {:?}", a.over_budget);
}
