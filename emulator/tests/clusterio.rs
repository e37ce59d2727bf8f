//! Real scenario code runs in the emulator unmodified (issue 14): Clusterio's inventory_sync
//! module (clusterio/clusterio: plugins/inventory_sync/module and the `clusterio` lib module
//! from packages/host/modules) with the game's own `event_handler.lua` (wube/factorio-data:
//! core/lualib). Their code is not part of this repository: the test runs when
//! `INVSYNC_CLUSTERIO_DIR` names a checkout of clusterio/clusterio and
//! `INVSYNC_FACTORIO_DATA_DIR` one of wube/factorio-data, and says it is skipped otherwise.
//!
//! The control.lua is the loader Clusterio's save patcher writes (packages/host/src/patch.ts,
//! `generateLoader`). The game finds `event_handler` in its core lualib; the emulator has no
//! lualib, so the file goes to the top of the scenario folder, unchanged.

mod common;

use std::path::{Path, PathBuf};

use invsync_emulator::{Action, Game, GameConfig, Line, ScenarioFiles};

fn lua_files(root: &Path, under: &Path, into: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(under).unwrap() {
        let p = e.unwrap().path();
        let rel = p
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if p.is_dir() {
            lua_files(root, &p, into, out);
        } else if rel.ends_with(".lua") {
            out.push((format!("{into}/{rel}"), std::fs::read(&p).unwrap()));
        }
    }
}

const LOADER: &str = "clusterio_patch_number = 1\n\
local event_handler = require(\"event_handler\")\n\
event_handler.add_lib(require(\"modules/clusterio/impl\"))\n\
event_handler.add_lib(require(\"modules/clusterio/compat\"))\n\
event_handler.add_lib(require(\"modules/inventory_sync/inventory_sync\"))\n\
event_handler.add_lib(require(\"modules/inventory_sync/gui/dialog_failed_download\"))\n";

fn clusterio_game() -> Option<Game> {
    let (Ok(clusterio), Ok(data)) = (
        std::env::var("INVSYNC_CLUSTERIO_DIR"),
        std::env::var("INVSYNC_FACTORIO_DATA_DIR"),
    ) else {
        eprintln!(
            "skipped: set INVSYNC_CLUSTERIO_DIR and INVSYNC_FACTORIO_DATA_DIR to run Clusterio's module"
        );
        return None;
    };
    let clusterio = PathBuf::from(clusterio);
    let mut files = vec![
        ("control.lua".to_string(), LOADER.as_bytes().to_vec()),
        (
            "event_handler.lua".to_string(),
            std::fs::read(Path::new(&data).join("core/lualib/event_handler.lua")).unwrap(),
        ),
    ];
    let lib = clusterio.join("packages/host/modules/clusterio");
    lua_files(&lib, &lib, "modules/clusterio", &mut files);
    let module = clusterio.join("plugins/inventory_sync/module");
    lua_files(&module, &module, "modules/inventory_sync", &mut files);
    let config = GameConfig {
        scenario: ScenarioFiles::from_files("clusterio", files),
        ..GameConfig::default()
    };
    Some(Game::new(config).expect("Clusterio's module loads"))
}

fn step_lines(g: &mut Game, n: u64) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        for line in g.step().expect("no script error").lines {
            if let Line::Raw(t) | Line::Log(t) = line {
                out.push(t);
            }
        }
    }
    out
}

#[test]
fn clusterio_inventory_sync_uploads_a_player_with_its_crafting_queue() {
    let Some(mut g) = clusterio_game() else {
        return;
    };
    step_lines(&mut g, 2);
    g.act(Action::Join { name: "ann".into() });
    let lines = step_lines(&mut g, 3);
    assert!(
        lines.iter().any(|l| l.contains("inventory_sync_acquire")),
        "{lines:?}"
    );
    common::sc(
        &mut g,
        "inventory_sync.acquire_response('{\"player_name\":\"ann\",\"status\":\"acquired\",\
         \"generation\":0,\"has_data\":false,\"message\":\"ok\"}')",
    );
    common::sc(
        &mut g,
        "local p = game.get_player('ann') p.insert{name = 'iron-plate', count = 50} \
         p.insert{name = 'power-armor', count = 1} \
         p.begin_crafting{recipe = 'iron-gear-wheel', count = 5} p.set_quick_bar_slot(1, 'iron-plate')",
    );
    g.act(Action::Leave {
        name: "ann".into(),
        reason: "quit".into(),
    });
    let lines = step_lines(&mut g, 3);
    let upload = lines
        .iter()
        .find_map(|l| l.split_once("inventory_sync_upload?j").map(|(_, j)| j))
        .unwrap_or_else(|| panic!("no upload: {lines:?}"));
    let v: serde_json::Value = serde_json::from_str(upload).unwrap();
    assert_eq!(
        v["crafting_queue"]["crafting_queue"][0],
        serde_json::json!({"count": 5, "recipe": "iron-gear-wheel"})
    );
    assert_eq!(
        v["crafting_queue"]["ingredients"][0],
        serde_json::json!({"count": 10, "name": "iron-plate"})
    );
    assert_eq!(v["quick_bar"]["1"]["n"], "iron-plate");
    assert_eq!(
        v["character"]["inventories"]["main"]["i"][0],
        serde_json::json!({"c": 40, "n": "iron-plate"})
    );
    assert!(!lines.iter().any(|l| l.contains("ERROR")), "{lines:?}");
}
