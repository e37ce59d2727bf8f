//! The desync checkers catch the deliberately desync-prone scenarios and pass the sound ones.

mod common;

use invsync_emulator::{Action, EmulatorError, Game, GameConfig, ScenarioFiles};

fn config(scenario: &str) -> GameConfig {
    GameConfig {
        scenario: ScenarioFiles::read_dir(&common::scenario_dir(scenario))
            .expect("scenario folder"),
        ..GameConfig::default()
    }
}

fn run(mut g: Game, ticks: u64) -> Result<(), EmulatorError> {
    for t in 0..ticks {
        if t == 3 {
            g.act(Action::Join { name: "ann".into() });
        }
        if t == 30 {
            g.act(Action::Chat {
                name: "ann".into(),
                text: "hi".into(),
            });
        }
        if t == 50 {
            g.submit(
                invsync_emulator::CommandHandle { conn: 1, id: 1 },
                "/sc remote.call('basic', 'echo', 'x')".into(),
            );
        }
        g.step()?;
    }
    Ok(())
}

#[test]
fn lockstep_catches_pairs_order_dependence() {
    // Several peers and 64 keys: the chance that every peer's hash seed orders the first key the
    // same way as the server is negligible, and the test repeats the attempt to rule out luck.
    for attempt in 0..3 {
        let mut cfg = config("desync_pairs");
        cfg.lockstep_peers = 4;
        let err =
            run(Game::new(cfg).unwrap(), 200).expect_err("the pairs-order scenario must desync");
        let EmulatorError::Desync(report) = err else {
            panic!("attempt {attempt}: expected a desync, got {err}");
        };
        assert_eq!(
            report.tick, 0,
            "the first nth_tick(10) handler runs at tick 0"
        );
        assert!(report.mode.starts_with("lockstep peer"), "{}", report.mode);
        assert!(
            report
                .differences
                .iter()
                .any(|d| d.starts_with("storage.picked[1]") || d.starts_with("storage.pool.item-")),
            "{:#?}",
            report.differences
        );
        let text = report.to_string();
        assert!(text.contains("diverged at tick 0"), "{text}");
    }
}

#[test]
fn heavy_mode_catches_state_kept_in_upvalues() {
    let mut cfg = config("desync_upvalue");
    cfg.heavy = true;
    let err =
        run(Game::new(cfg).unwrap(), 100).expect_err("the upvalue scenario must fail heavy mode");
    let EmulatorError::Desync(report) = err else {
        panic!("expected a desync, got {err}");
    };
    // Tick 0: the shadow's counter starts at 0 like the server's; tick 5 is the first time the
    // server's upvalue (1) and the reloaded one (0) differ.
    assert_eq!(report.tick, 5);
    assert!(report.mode.starts_with("heavy mode"));
    assert!(
        report
            .differences
            .iter()
            .any(|d| d.contains("storage.values[2]: server=2 other=1")),
        "{:#?}",
        report.differences
    );
    assert!(!report.inputs.is_empty());
}

#[test]
fn lockstep_alone_does_not_flag_the_upvalue_scenario() {
    // Every peer loses nothing when nobody reloads: only heavy mode (or a joining peer) sees it.
    let mut cfg = config("desync_upvalue");
    cfg.lockstep_peers = 2;
    run(Game::new(cfg).unwrap(), 100).unwrap();
}

#[test]
fn sound_scenario_passes_lockstep_and_heavy_mode() {
    let mut cfg = config("basic");
    cfg.lockstep_peers = 3;
    cfg.heavy = true;
    run(Game::new(cfg).unwrap(), 150).unwrap();
}

#[test]
fn loading_a_save_with_peers_checks_them_too() {
    let mut g = Game::new(config("basic")).unwrap();
    g.act(Action::Join { name: "ann".into() });
    for _ in 0..70 {
        g.step().unwrap();
    }
    let save = g.save().unwrap();
    let mut cfg = config("basic");
    cfg.lockstep_peers = 2;
    run(Game::from_save(cfg, save).unwrap(), 70).unwrap();
}
