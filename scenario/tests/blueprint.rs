//! `blueprint.lua` (PROTOCOL.md 4.1): an export rebuilt from its JSON (`xj`) with the game's
//! `helpers.encode_string` imports to the same content as the export itself, for every
//! blueprint, book and planner of the `bp` sample and an upgrade planner; what cannot be
//! rebuilt is refused with the reason.

mod support;

use invsync_emulator::GameConfig;
use invsync_player_data::{SampleKind, sample};
use support::*;

/// A server whose control.lua also exposes blueprint.lua (it is loaded only while control.lua
/// runs) and a script inventory to import into.
fn server_with(config: impl FnOnce(String) -> GameConfig) -> Server {
    let control = control_with("")
        + r#"
invsync_test_blueprint = require("invsync.blueprint")
"#;
    let mut s = Server::new("alpha", config(control));
    s.run(&mut Cluster::default(), 1);
    s
}

/// The JSON text inside export `x`, as a host sends it in `xj`.
fn json_of(x: &str) -> String {
    use base64::Engine as _;
    let z = base64::engine::general_purpose::STANDARD
        .decode(&x[1..])
        .expect("base64");
    String::from_utf8(miniz_oxide::inflate::decompress_to_vec_zlib(&z).expect("zlib"))
        .expect("UTF-8")
}

/// `import_stack` of `x` and of the export rebuilt from `json` in two slots: their codes and
/// the exports the game makes of what it imported.
fn import_both(s: &Server, x: &str, json: &str) -> (i64, i64, String, String) {
    s.eval(&format!(
        r#"
local bp = invsync_test_blueprint
local inv = game.create_inventory(2)
local a = inv[1].import_stack({x})
local rebuilt = assert(bp.export_of({json}, helpers.encode_string))
local b = inv[2].import_stack(rebuilt)
local ea, eb = inv[1].export_stack(), inv[2].export_stack()
inv.destroy()
return a, b, ea, eb
"#,
        x = long_string(x),
        json = long_string(json),
    ))
}

/// Every message the players of `s` were told, a line each.
fn told(s: &Server) -> String {
    s.player_messages
        .iter()
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_blueprint_book_and_planner_of_bp_imports_the_same_through_its_json() {
    let s = server_with(|control| config(&control, 0, false));
    let p = sample(SampleKind::Bp, 1);
    let mut kinds = std::collections::BTreeMap::new();
    let mut exports: Vec<(String, String)> = p
        .inventories
        .main
        .iter()
        .filter_map(|st| Some((st.name.clone(), st.export.clone()?)))
        .collect();
    let upgrade = r#"{"upgrade_planner":{"item":"upgrade-planner","label":"Belts","settings":{"mappers":[{"from":{"name":"transport-belt","type":"entity"},"index":0,"to":{"name":"fast-transport-belt","type":"entity"}}]},"version":562949954994181}}"#;
    exports.push((
        "upgrade-planner".into(),
        format!(
            "0{}",
            s.eval::<String>(&format!(
                "return helpers.encode_string({})",
                long_string(upgrade)
            ))
        ),
    ));
    for (name, x) in &exports {
        let json = json_of(x);
        let (a, b, ea, eb) = import_both(&s, x, &json);
        assert_eq!((a, b), (0, 0), "{name}");
        assert_eq!(ea, eb, "{name}: the same content, exported the same");
        assert_eq!(exchange_json(&eb), exchange_json(x), "{name}");
        *kinds.entry(name.clone()).or_insert(0) += 1;
    }
    for kind in [
        "blueprint",
        "blueprint-book",
        "deconstruction-planner",
        "upgrade-planner",
    ] {
        assert!(kinds.contains_key(kind), "{kind} in {kinds:?}");
    }
}

#[test]
fn what_cannot_be_rebuilt_is_refused_with_the_reason() {
    // the game's encode_string may fail ("nil if the encode failed")
    let s = server_with(|control| GameConfig {
        encode_string_fails_above: Some(100),
        ..config(&control, 0, false)
    });
    let long = format!(r#"{{"blueprint":{{"label":"{}"}}}}"#, "z".repeat(200));
    let code = |json: &str| {
        s.eval::<(Option<String>, Option<String>)>(&format!(
            "return invsync_test_blueprint.export_of({json}, helpers.encode_string)"
        ))
    };
    assert_eq!(
        code(&long_string(&long)),
        (None, Some("helpers.encode_string refused 'xj'".into()))
    );
    assert_eq!(code("7"), (None, Some("'xj' must be a string".into())));
    assert_eq!(code("''"), (None, Some("'xj' is empty".into())));
    assert_eq!(
        code("string.rep('a', 4 * 1024 * 1024 + 1)"),
        (None, Some("'xj' is 4194305 bytes, over 4194304".into()))
    );
    // a short one is rebuilt; JSON the game cannot import is refused by import_stack (code 1)
    let (text, why): (Option<String>, Option<String>) =
        s.eval(r#"return invsync_test_blueprint.export_of('{"car":{}}', helpers.encode_string)"#);
    assert_eq!(why, None);
    let text = text.unwrap();
    assert_eq!(exchange_json(&text), serde_json::json!({"car": {}}));
    let refused: i64 = s.eval(&format!(
        "local inv = game.create_inventory(1) local c = inv[1].import_stack({}) inv.destroy() return c",
        long_string(&text)
    ));
    assert_eq!(refused, 1);
}

#[test]
fn the_module_declares_export_json_only_when_set() {
    for (settings, declared) in [
        ("", false),
        ("export_json = false", false),
        ("export_json = true", true),
    ] {
        let mut c = Cluster::default();
        let mut a = Server::new("alpha", config(&control_with(settings), 0, false));
        a.run(&mut c, 1);
        let announced = a.caps.clone().expect("announced at start");
        assert_eq!(
            announced.get("export_json").is_some(),
            declared,
            "{settings}: {announced}"
        );
        let answer = a.command(&mut c, &call_command("caps", &[]));
        let caps = invsync_codec::Capabilities::from_json(answer.trim_end())
            .unwrap_or_else(|e| panic!("{settings}: {e}: {answer}"));
        assert_eq!(caps.export_json, declared, "{settings}: {answer}");
    }
}

/// Format-2 player data holding `stacks` in `main`.
fn format2(name: &str, stacks: Vec<serde_json::Value>) -> String {
    serde_json::json!({"format": 2, "name": name, "inventories": {"main": stacks}}).to_string()
}

/// The `bp` sample's exports as (item, export string).
fn bp_exports() -> Vec<(String, String)> {
    sample(SampleKind::Bp, 1)
        .inventories
        .main
        .iter()
        .filter_map(|st| Some((st.name.clone(), st.export.clone()?)))
        .collect()
}

/// `name`'s stored upload.
fn upload(c: &Cluster, name: &str) -> invsync_player_data::PlayerData {
    invsync_player_data::PlayerData::from_json(c.stored()[name].data.as_bytes())
        .unwrap_or_else(|e| panic!("{name}'s upload: {e}"))
}

#[test]
fn through_xj_every_export_of_bp_arrives_as_through_x() {
    xj_arrives_as_x(&bp_exports(), 0, false);
}

#[test]
fn through_xj_exports_arrive_as_through_x_with_lockstep_peers_and_heavy_mode() {
    // the smallest of each kind: heavy mode checks every tick of a 2.8 MB payload for minutes
    let mut exports = bp_exports();
    exports.sort_by_key(|(_, x)| x.len());
    let mut one_each = Vec::new();
    for (item, x) in exports {
        if !one_each.iter().any(|(i, _): &(String, String)| *i == item) {
            one_each.push((item, x));
        }
    }
    assert_eq!(one_each.len(), 3, "{one_each:?}");
    xj_arrives_as_x(&one_each, 2, true);
}

/// Two players with the same `exports`, one as `x` and one as `xj`, play and leave `peers`
/// lockstep peers (in heavy mode or not): their uploads hold the same stacks.
fn xj_arrives_as_x(exports: &[(String, String)], peers: usize, heavy: bool) {
    let stacks = |json: bool| -> Vec<serde_json::Value> {
        let mut v = vec![serde_json::json!([1, "iron-plate", 10])];
        for (i, (item, x)) in exports.iter().enumerate() {
            let mut st = serde_json::json!({"s": i + 2, "n": item, "c": 1});
            st[if json { "xj" } else { "x" }] = if json { json_of(x) } else { x.clone() }.into();
            v.push(st);
        }
        v
    };
    let mut c = Cluster::default();
    c.seed("ann", 1, format2("ann", stacks(false)));
    c.seed("bob", 1, format2("bob", stacks(true)));
    let mut a = Server::new(
        "alpha",
        config(&control_with("export_json = true"), peers, heavy),
    );
    for name in ["ann", "bob"] {
        play(&mut a, &mut c, name);
        leave_and_upload(&mut a, &mut c, name, 2);
    }
    let (ann, bob) = (upload(&c, "ann"), upload(&c, "bob"));
    assert!(bob.unplaced.is_empty(), "{:?}", bob.unplaced);
    // the same stacks, exported by the game the same, whichever way they came
    assert_eq!(bob.inventories.main, ann.inventories.main);
    let got: Vec<_> = bob
        .inventories
        .main
        .iter()
        .filter_map(|s| s.export.as_deref())
        .collect();
    assert_eq!(got.len(), exports.len());
    for (x, (item, sent)) in got.iter().zip(exports) {
        assert_eq!(exchange_json(x), exchange_json(sent), "{item}");
    }
}

#[test]
fn a_malformed_x_and_an_xj_the_game_refuses_are_reported_and_kept() {
    let mut c = Cluster::default();
    let data = format2(
        "ann",
        vec![
            serde_json::json!([1, "iron-plate", 10]),
            serde_json::json!({"s": 2, "n": "blueprint", "c": 1, "x": "0notbase64!!"}),
            serde_json::json!({"s": 3, "n": "blueprint", "c": 1, "xj": r#"{"car":{}}"#}),
            serde_json::json!({"s": 4, "n": "blueprint", "c": 1, "xj": r#"{"blueprint":{"label":"fine"}}"#}),
        ],
    );
    c.seed("ann", 1, data);
    let mut a = Server::new(
        "alpha",
        config(&control_with("export_json = true"), 2, true),
    );
    play(&mut a, &mut c, "ann");
    let told = told(&a);
    assert!(told.contains("2 stack(s)"), "{told}");
    assert_eq!(told.matches("export string").count(), 2, "{told}");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up = upload(&c, "ann");
    let placed: Vec<_> = up
        .inventories
        .main
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(placed, ["iron-plate", "blueprint"]);
    let label = exchange_json(up.inventories.main[1].export.as_deref().unwrap());
    assert_eq!(label["blueprint"]["label"], "fine");
    // both carried on: the malformed export as it came, the refused JSON as its export
    let carried: Vec<_> = up
        .unplaced
        .iter()
        .map(|s| s.export.clone().unwrap())
        .collect();
    assert_eq!(carried.len(), 2, "{:?}", up.unplaced);
    assert_eq!(carried[0], "0notbase64!!");
    assert_eq!(exchange_json(&carried[1]), serde_json::json!({"car": {}}));
}

#[test]
fn an_xj_encode_string_refuses_is_reported_and_carried_on() {
    let mut c = Cluster::default();
    let json = format!(r#"{{"blueprint":{{"label":"{}"}}}}"#, "z".repeat(300));
    let data = format2(
        "ann",
        vec![serde_json::json!({"s": 1, "n": "blueprint", "c": 1, "xj": json})],
    );
    c.seed("ann", 1, data);
    let mut a = Server::new(
        "alpha",
        GameConfig {
            encode_string_fails_above: Some(200),
            ..config(&control_with("export_json = true"), 0, false)
        },
    );
    play(&mut a, &mut c, "ann");
    let told = told(&a);
    assert!(told.contains("export string"), "{told}");
    leave_and_upload(&mut a, &mut c, "ann", 2);
    let up = upload(&c, "ann");
    assert!(up.inventories.main.is_empty(), "{:?}", up.inventories.main);
    assert_eq!(up.unplaced.len(), 1, "{:?}", up.unplaced);
    let kept = &up.unplaced[0];
    assert_eq!(kept.export_json.as_deref(), Some(json.as_str()), "{kept:?}");
    // a game that can rebuild it places it
    let mut b = Server::new("beta", config(&control_with(""), 0, false));
    play(&mut b, &mut c, "ann");
    leave_and_upload(&mut b, &mut c, "ann", 3);
    let up = upload(&c, "ann");
    assert!(up.unplaced.is_empty(), "{:?}", up.unplaced);
    let x = up.inventories.main[0]
        .export
        .as_deref()
        .expect("placed with its export");
    assert_eq!(exchange_json(x)["blueprint"]["label"], "z".repeat(300));
}
