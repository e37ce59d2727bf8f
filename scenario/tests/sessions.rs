//! Long randomized sessions under the emulator's desync checks: several players joining,
//! leaving (also in the middle of their sync), chatting, getting items, and messages both
//! ways, with lockstep peers (every peer's `storage` and world compared after every tick) and
//! in heavy mode (every tick also run on a copy saved and reloaded just before it). A
//! divergence stops the game, which fails the test with the emulator's report.

mod support;

use invsync_emulator::Action;
use support::*;

const NAMES: [&str; 4] = ["ann", "bob", "cyd", "dee"];
const ITEMS: [&str; 6] = [
    "iron-plate",
    "coal",
    "transport-belt",
    "repair-pack",
    "piercing-rounds-magazine",
    "blueprint",
];

fn session(peers: usize, heavy: bool, ticks: u64, seed: u64) -> (Server, Cluster) {
    let mut c = Cluster::default();
    let settings = "acquire_timeout = 90, download_timeout = 90, upload_retry_ticks = 40";
    let mut a = Server::new("alpha", config(&control_with(settings), peers, heavy));
    a.faults = Faults::all();
    a.rng = Rng::new(seed);
    a.status_after = 40;
    let mut rng = Rng::new(seed ^ 0xabcdef);
    let mut online = [false; 4];
    let mut echoes_sent = 0usize;
    for t in 0..ticks {
        if rng.chance(4) {
            let i = rng.below(4) as usize;
            if online[i] {
                a.leave(NAMES[i]);
            } else {
                a.join(NAMES[i]);
            }
            online[i] = !online[i];
        }
        if rng.chance(3) {
            let i = rng.below(4) as usize;
            if online[i] {
                a.game.act(Action::Chat {
                    name: NAMES[i].into(),
                    text: format!("hello at {t}"),
                });
            }
        }
        if rng.chance(5) {
            let i = rng.below(4) as usize;
            if online[i] {
                let item = ITEMS[rng.below(ITEMS.len() as u64) as usize];
                a.game.act(Action::Give {
                    name: NAMES[i].into(),
                    item: item.into(),
                    count: 1 + rng.below(150) as u32,
                    quality: if rng.chance(20) { "rare" } else { "normal" }.into(),
                });
            }
        }
        if rng.chance(2) {
            // the scenario's own messages: echoed back by the game
            let len = rng.below(12_000) as usize;
            let body: String = (0..len)
                .map(|k| (b'a' + ((k as u64 * 7 + t) % 26) as u8) as char)
                .collect();
            a.send(format!("echo:{body}").as_bytes());
            echoes_sent += 1;
        }
        if t % 500 == 250 {
            // a player's lock is taken elsewhere for a while
            c.answers.insert(
                NAMES[(t / 500 % 4) as usize].into(),
                Answer::Busy("beta".into()),
            );
        }
        if t % 500 == 400 {
            c.answers.clear();
        }
        a.tick(&mut c);
    }
    // wind down: everyone leaves, every upload and message completes
    c.answers.clear();
    for (i, on) in online.iter().enumerate() {
        if *on {
            a.leave(NAMES[i]);
        }
    }
    a.faults = Faults::default();
    a.run_until(
        &mut c,
        3000,
        "every player idle and every message through",
        |s, _| {
            NAMES.iter().all(|n| {
                let st = s.state(n);
                st == "idle" || st == "none"
            }) && s.unfinished() == 0
                && s.app_messages.len() == echoes_sent
        },
    );
    (a, c)
}

fn check(a: &Server, c: &Cluster) {
    eprintln!(
        "{}: {} ticks, acquires {}, uploads {}, releases {}, echoes {}, resent frames {}, max tick instructions {}",
        a.name,
        a.game.tick(),
        c.count_all("acquire"),
        c.count_all("upload"),
        c.count_all("release"),
        a.app_messages.len(),
        a.resent_frames,
        a.max_tick_instructions()
    );
    assert!(
        a.over_budget.is_empty(),
        "ticks over budget: {:?}",
        a.over_budget
    );
    assert!(
        c.count_all("acquire") > 3,
        "players synced: {:?}",
        c.log.len()
    );
    assert!(c.count_all("upload") > 0, "players uploaded");
    let uploads_confirmed = c.stored().values().filter(|s| s.generation > 0).count();
    assert!(uploads_confirmed > 0);
}

#[test]
fn lockstep_peers_agree_over_a_long_randomized_session() {
    let (a, c) = session(2, false, 3000, 11);
    check(&a, &c);
}

#[test]
fn heavy_mode_finds_no_state_outside_storage_over_a_randomized_session() {
    let (a, c) = session(0, true, 900, 23);
    check(&a, &c);
}
