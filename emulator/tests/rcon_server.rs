//! The emulator over real TCP and a real stdout pipe (the binary runs as a child process).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{Client, Emulator, PASSWORD, scenario_dir};
use invsync_rcon_transport::{Packet, SERVERDATA_EXECCOMMAND, SERVERDATA_RESPONSE_VALUE};

#[test]
fn auth_commands_and_single_replies() {
    let em = Emulator::start(&[]);
    em.wait_line("Factorio 2.0", Duration::from_secs(5));
    // Wrong password: id -1, then the server closes.
    let mut bad = Client::connect(em.addr);
    assert_eq!(bad.auth("nope"), Ok(false));
    assert!(
        bad.read().is_none(),
        "connection closed after a wrong password"
    );
    em.wait_line(
        "authentication failed (wrong password)",
        Duration::from_secs(5),
    );

    let mut c = em.client();
    assert_eq!(c.command("/sc rcon.print('hello')"), "hello\n");
    assert_eq!(c.command("/sc local x = 1"), "");
    assert!(
        c.command("/sc error('bad')")
            .contains("Cannot execute command. Error: (command):1: bad")
    );
    // A 300 kB reply arrives as exactly one packet.
    let big = c.command("/sc rcon.print(string.rep('z', 300000))");
    assert_eq!(big.len(), 300_001);
    // The empty sentinel packet is not answered: the next packet is the next command's reply.
    c.send(50, SERVERDATA_EXECCOMMAND, b"/sc rcon.print('one')");
    c.send(51, SERVERDATA_RESPONSE_VALUE, b"");
    c.send(52, SERVERDATA_EXECCOMMAND, b"/sc rcon.print('two')");
    let a = c.read().unwrap();
    let b = c.read().unwrap();
    assert_eq!((a.id, b.id), (50, 52));
    c.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(c.read().is_none(), "nothing else arrives");
}

#[test]
fn extension_stats_command() {
    let em = Emulator::start(&[]);
    let mut c = em.client();
    c.command("/sc local s = 0 for i = 1, 100000 do s = s + i end");
    let stats: serde_json::Value = serde_json::from_str(&c.command("/emulator-stats")).unwrap();
    assert!(stats["ticks"].as_u64().unwrap() > 0);
    assert!(
        stats["instructions"].as_u64().unwrap() >= 200_000,
        "{stats}"
    );
    assert!(stats["bytes_streamed"].as_u64().unwrap() >= 50);
    assert!(stats["max_tick_lua_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(c.command("/emulator-stats reset"), "{\"reset\":true}");
    let after: serde_json::Value = serde_json::from_str(&c.command("/emulator-stats")).unwrap();
    assert_eq!(after["instructions"].as_u64(), Some(0));
}

#[test]
fn bad_input_is_logged_and_other_clients_keep_working() {
    let em = Emulator::start(&[]);
    let mut good = em.client();
    // Garbage bytes.
    let mut g = TcpStream::connect(em.addr).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // A length field of 2 GB.
    let mut big = TcpStream::connect(em.addr).unwrap();
    big.write_all(&0x7fff_fff0i32.to_le_bytes()).unwrap();
    big.write_all(&[1, 0, 0, 0, 2, 0, 0, 0]).unwrap();
    // Half a packet, then close.
    {
        let mut half = TcpStream::connect(em.addr).unwrap();
        let p = Packet::new(5, SERVERDATA_EXECCOMMAND, &b"/sc rcon.print('never')"[..])
            .to_bytes()
            .unwrap();
        half.write_all(&p[..p.len() / 2]).unwrap();
    }
    em.wait_line(
        "over the limit of 104857610 bytes; refusing to buffer it (--max-request-size is 104857600",
        Duration::from_secs(10),
    );
    em.wait_line("in the middle of a packet", Duration::from_secs(10));
    assert!(
        em.count_lines("closed: bad packet") >= 2,
        "garbage and the 2 GB length are both refused"
    );
    assert_eq!(good.command("/sc rcon.print('still here')"), "still here\n");
    // 1000 connections, one after another, each authenticating.
    for i in 0..1000 {
        let mut c = Client::connect(em.addr);
        if i % 100 == 0 {
            assert_eq!(c.auth(PASSWORD), Ok(true));
        }
    }
    assert_eq!(good.command("/sc rcon.print(1+1)"), "2\n");
    let mut fresh = em.client();
    assert_eq!(fresh.command("/sc rcon.print('fresh')"), "fresh\n");
    em.wait_line("New RCON connection", Duration::from_secs(5));
    assert!(em.count_lines("New RCON connection") >= 1000);
}

#[test]
fn max_request_size_bounds_the_body_exactly() {
    let em = Emulator::start(&["--max-request-size", "30"]);
    let mut c = em.client();
    // 30 bytes of body: accepted.
    let at_limit = "/sc rcon.print('0123456789ab')";
    assert_eq!(at_limit.len(), 30);
    assert_eq!(c.command(at_limit), "0123456789ab\n");
    // 31 bytes: the connection closes, from the length field alone.
    c.send(
        9,
        SERVERDATA_EXECCOMMAND,
        b"/sc rcon.print('0123456789abc')",
    );
    assert!(c.read().is_none(), "no reply: the connection closes");
    em.wait_line(
        "length field is 41 bytes, over the limit of 40 bytes; refusing to buffer it \
         (--max-request-size is 30 bytes of body)",
        Duration::from_secs(10),
    );
}

/// Ticks between replies for a fixed conversation (each command sent after the previous reply).
fn conversation_ticks(extra: &[&str]) -> Vec<u64> {
    let em = Emulator::start(extra);
    let mut c = em.client();
    let mut ticks = Vec::new();
    for len in [10usize, 450, 1, 2000, 99, 101, 3000] {
        let pad = "p".repeat(len);
        let r = c.command(&format!("/sc local _ = [[{pad}]] rcon.print(game.tick)"));
        ticks.push(r.trim().parse::<u64>().unwrap());
    }
    ticks.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn virtual_time_gives_the_same_tick_counts_every_run() {
    let a = conversation_ticks(&[]);
    let b = conversation_ticks(&[]);
    eprintln!("ticks between replies: {a:?}");
    assert_eq!(a, b);
    // 450 bytes + wrapper stream for 5 ticks at 100 B/tick; the next command waits for it.
    assert!(a.iter().all(|d| *d >= 1), "{a:?}");
    assert!(a[2] >= 20, "a 2 kB command needs >= 20 ticks: {a:?}");
}

#[test]
fn stdout_has_chat_print_and_join_lines_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    std::fs::write(
        &script,
        "join alice\nwait 2\nchat alice hello there\nwait 60\n",
    )
    .unwrap();
    let save = dir.path().join("save.json");
    let scenario = scenario_dir("basic");
    let em = Emulator::start(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--script",
        script.to_str().unwrap(),
        "--ticks",
        "120",
        "--save",
        save.to_str().unwrap(),
    ]);
    em.wait_line("basic scenario: on_init at tick 0", Duration::from_secs(10));
    let join = em.wait_line("[JOIN] alice joined the game", Duration::from_secs(10));
    assert!(join.starts_with("2000-01-01 00:00:00 "), "{join}");
    em.wait_line(
        "2000-01-01 00:00:00 [CHAT] alice: hello there",
        Duration::from_secs(10),
    );
    em.wait_line(
        "Script @__level__/control.lua:14: joined alice#1",
        Duration::from_secs(10),
    );
    em.wait_line("quitting after 120 ticks", Duration::from_secs(20));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    assert_eq!(saved["world"]["tick"], 120);
    assert_eq!(saved["world"]["players"][0]["name"], "alice");
}

#[test]
fn rcon_faults_and_quirks_from_the_command_line() {
    let em = Emulator::start(&[
        "--rcon-fault",
        "lose-reply:'lost':1",
        "--rcon-fault",
        "ignore:/hang:*",
        "--rcon-fault",
        "damage:[[abc]]:1",
        "--rcon-fault",
        "drop-connection:-- drop:1",
        "--rcon-chat-packets",
        "--rcon-password-later",
        "rotated",
    ]);
    let mut c = em.client();
    let quiet = |c: &mut Client| {
        c.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let got = c.read();
        c.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        got
    };
    // Every reply comes after a chat packet with id 0.
    c.send(1, SERVERDATA_EXECCOMMAND, b"/sc rcon.print('hi')");
    let chat = c.read().unwrap();
    assert_eq!(
        (chat.id, chat.body.as_slice()),
        (0, &b"[CHAT] someone: hello"[..])
    );
    assert_eq!(c.read().unwrap().body, b"hi\n");
    let command = |c: &mut Client, id: i32, text: &str| {
        c.send(id, SERVERDATA_EXECCOMMAND, text.as_bytes());
        assert_eq!(c.read().map(|p| p.id), Some(0), "the chat packet");
        let p = c.read().unwrap();
        assert_eq!(p.id, id);
        String::from_utf8(p.body).unwrap()
    };
    // lose-reply: the first command with 'lost' runs, unanswered; the second is answered.
    c.send(
        2,
        SERVERDATA_EXECCOMMAND,
        b"/sc storage.lost = 1 rcon.print('lost')",
    );
    assert!(quiet(&mut c).is_none(), "the reply is lost");
    assert_eq!(
        command(&mut c, 3, "/sc rcon.print(storage.lost, 'lost')"),
        "1\n"
    );
    // ignore: neither run nor answered, every time.
    for id in [4, 5] {
        c.send(id, SERVERDATA_EXECCOMMAND, b"/sc storage.hung = 1 -- /hang");
        assert!(quiet(&mut c).is_none(), "no reply");
    }
    assert_eq!(
        command(&mut c, 6, "/sc rcon.print(tostring(storage.hung))"),
        "nil\n"
    );
    // damage: the frame's last character changes, the bracket stays.
    assert_eq!(command(&mut c, 7, "/sc rcon.print([[abc]])"), "abA\n");
    assert_eq!(command(&mut c, 8, "/sc rcon.print([[abc]])"), "abc\n");
    // drop-connection: it runs, the connection closes without its reply.
    c.send(
        9,
        SERVERDATA_EXECCOMMAND,
        b"/sc storage.dropped = 1 -- drop",
    );
    assert!(c.read().is_none(), "the connection closes");
    em.wait_line(
        "closed: closed by the server (--rcon-fault drop-connection)",
        Duration::from_secs(10),
    );
    // The password changed for every later connection.
    assert_eq!(Client::connect(em.addr).auth(PASSWORD), Ok(false));
    let mut later = Client::connect(em.addr);
    assert_eq!(later.auth("rotated"), Ok(true));
    assert_eq!(
        command(&mut later, 1, "/sc rcon.print(storage.dropped)"),
        "1\n"
    );
}

#[test]
fn a_bad_rcon_fault_is_refused_at_start() {
    for (spec, why) in [
        ("lose:x:1", "unknown action \"lose\""),
        ("ignore:x:0", "occurrence \"0\""),
        ("ignore", "expected ACTION:TEXT:N"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_invsync-emulator"))
            .args(["--rcon-fault", spec])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--rcon-fault"), "{err}");
        assert!(err.contains(why), "{spec}: {err}");
    }
}
