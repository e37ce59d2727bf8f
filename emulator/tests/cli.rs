//! The command line: exit codes, desync reports, save/load and real-time pacing.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::scenario_dir;

fn emulator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_invsync-emulator"))
}

#[test]
fn lockstep_desync_stops_the_run_with_a_report() {
    let out = emulator()
        .args([
            "--scenario",
            scenario_dir("desync_pairs").to_str().unwrap(),
            "--peers",
            "4",
            "--ticks",
            "100",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a desync must fail the run:\n{stdout}"
    );
    assert!(
        stdout.contains("Error Emulator: desync detected: lockstep peer"),
        "{stdout}"
    );
    assert!(
        stdout.contains("differences (server vs other):"),
        "{stdout}"
    );
    assert!(stdout.contains("storage."), "{stdout}");
}

#[test]
fn heavy_mode_from_the_command_line() {
    let bad = emulator()
        .args([
            "--scenario",
            scenario_dir("desync_upvalue").to_str().unwrap(),
            "--heavy",
            "--ticks",
            "20",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stdout)
            .contains("heavy mode (save and reload before the tick) diverged at tick 5")
    );
    let good = emulator()
        .args([
            "--scenario",
            scenario_dir("basic").to_str().unwrap(),
            "--heavy",
            "--peers",
            "2",
            "--ticks",
            "130",
        ])
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
}

#[test]
fn save_then_load_continues_the_game() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("game.json");
    let script = dir.path().join("s.txt");
    std::fs::write(
        &script,
        "join bob\ngive bob iron-plate 42\nwait 5\nleave bob\n",
    )
    .unwrap();
    let scenario = scenario_dir("basic");
    let first = emulator()
        .args([
            "--scenario",
            scenario.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
            "--ticks",
            "130",
        ])
        .args(["--save", save.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let check = dir.path().join("check.txt");
    std::fs::write(&check, "join bob\nwait 1\nrcon /sc rcon.print(storage.ticks .. ' ' .. game.players.bob.get_item_count('iron-plate') .. ' ' .. game.tick)\nwait 4\nquit\n").unwrap();
    let second = emulator()
        .args([
            "--scenario",
            scenario.to_str().unwrap(),
            "--load",
            save.to_str().unwrap(),
            "--script",
            check.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(stdout.contains("Loading map"), "{stdout}");
    // nth_tick(60) ran at ticks 0, 60 and 120 before the save; the game continues at tick 130.
    assert!(stdout.contains("script rcon reply: 3 42 13"), "{stdout}");
}

#[test]
fn a_broken_save_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("bad.json");
    std::fs::write(&save, b"{\"format\": 1").unwrap();
    let out = emulator()
        .args(["--load", save.to_str().unwrap(), "--ticks", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("save file") && stderr.contains("bad.json") && stderr.contains("line 1"),
        "{stderr}"
    );
}

/// `--warm-heap`: with glibc the game runs as usual on the warmed heap; elsewhere the flag is
/// refused with a message naming what is missing.
#[test]
fn warm_heap_runs_the_game_or_says_why_not() {
    let out = emulator()
        .args(["--warm-heap", "16", "--ticks", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(out.status.success(), "{stderr}");
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("changing state from(CreatingGame) to(InGame)")
        );
    } else {
        assert!(!out.status.success());
        assert!(
            stderr.contains("--warm-heap 16") && stderr.contains("glibc"),
            "{stderr}"
        );
    }
}

#[test]
fn crash_and_restart_in_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    std::fs::write(
        &script,
        "autosave 60\njoin ann\nwait 70\ncrash\nrestart\nwait 10\nquit\n",
    )
    .unwrap();
    let out = emulator()
        .args([
            "--scenario",
            scenario_dir("basic").to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Saving to _autosave1"), "{stdout}");
    assert!(stdout.contains("the server crashed"), "{stdout}");
    assert!(
        stdout.contains("restarted from the last autosave"),
        "{stdout}"
    );
    assert!(
        stdout.contains("quitting after 80 ticks at tick 70"),
        "{stdout}"
    );
}

#[test]
fn realtime_runs_sixty_ticks_per_second() {
    let t = Instant::now();
    let out = emulator()
        .args(["--realtime", "--ticks", "30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // A lower bound only (correctness of the pacing, not a speed target): 30 ticks take 0.5 s.
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
}
