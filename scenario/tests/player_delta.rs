//! Deltas in the Lua module (PLAYER_DATA.md "Deltas"): the shared vectors of
//! `tests/vectors/player_delta.json` written into a character of the emulator, the base whole
//! and then the delta in place (`player_data.writer` with `cleared`), and the character read
//! back; and the deltas the module refuses to patch in place (it then asks for the whole data,
//! PROTOCOL.md 7).

mod support;

use invsync_player_data::PlayerData;
use serde_json::Value;
use support::*;

const VECTORS: &str = include_str!("../../tests/vectors/player_delta.json");

/// Writes `base` whole into ann's character, then `delta` in place, and reads the character
/// back: the JSON read, or `refused: <why>`.
fn patch(s: &Server, base: &Value, delta: &Value) -> String {
    let code = format!(
        r#"
local pd = require("invsync.player_data")
local bonuses = require("invsync.factorio").settings().bonuses
local p = game.get_player("ann")
local ch = p.character
local function run(job, step)
  while true do
    local done, err = step(job, 1e9)
    if done == nil then return nil, err end
    if done then return job end
  end
end
local job = assert(run(assert(pd.writer(p, ch, helpers.json_to_table([==[{base}]==]), bonuses)), pd.write_step))
local d = helpers.json_to_table([==[{delta}]==])
local patch, why = pd.writer(p, ch, d.data, bonuses, d.cleared == nil and {{}} or d.cleared)
if not patch then return "refused: " .. why end
patch, why = run(patch, pd.write_step)
if not patch then return "refused: " .. why end
local read = assert(run(pd.reader(p, ch, patch.cursor, bonuses), pd.read_step))
return read.text
"#
    );
    s.eval(&code)
}

fn server() -> (Server, Cluster) {
    let mut c = Cluster::default();
    let mut s = Server::new("alpha", config(&control_with("sync = false"), 0, false));
    s.join("ann");
    s.run(&mut c, 2);
    (s, c)
}

/// The data of `v`, each export string as the JSON it holds: the game exports again what it
/// imported in its own bytes.
fn model(v: &Value) -> PlayerData {
    let mut p =
        PlayerData::from_json(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{v}: {e}"));
    let i = &mut p.inventories;
    let lists = [
        &mut i.main,
        &mut i.guns,
        &mut i.ammo,
        &mut i.armor,
        &mut i.trash,
    ];
    for stack in lists.into_iter().flatten().chain(p.cursor.as_mut()) {
        if let Some(x) = &stack.export {
            stack.export = Some(export_content(x).to_string());
        }
    }
    p
}

fn export_content(x: &str) -> Value {
    use base64::Engine;
    let zlib = base64::engine::general_purpose::STANDARD
        .decode(&x[1..])
        .unwrap_or_else(|e| panic!("{x}: {e}"));
    let json = miniz_oxide::inflate::decompress_to_vec_zlib(&zlib).expect("zlib");
    serde_json::from_slice(&json).expect("JSON")
}

/// Why the module refuses to patch these in place (the host sends none of them: SYNC.md).
fn refused_in_place(name: &str) -> Option<&'static str> {
    if name.contains("a changed armor") {
        Some("the delta changes the armor")
    } else {
        None
    }
}

#[test]
fn every_delta_vector_written_in_place_reads_back_as_its_result() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let (s, _c) = server();
    let mut checked = 0;
    for case in vectors["deltas"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let got = patch(&s, &case["base"], &case["delta"]);
        if let Some(why) = refused_in_place(name) {
            assert_eq!(got, format!("refused: {why}"), "{name}");
            continue;
        }
        let got =
            model(&serde_json::from_str(&got).unwrap_or_else(|e| panic!("{name}: {e}: {got}")));
        let want = model(&case["result"]);
        assert_eq!(got.inventories, want.inventories, "{name}");
        assert_eq!(got.cursor, want.cursor, "{name}");
        if want.color.is_some() {
            assert_eq!(got.color, want.color, "{name}");
        }
        for (bonus, value) in &want.bonuses {
            assert_eq!(got.bonuses.get(bonus), Some(value), "{name}: {bonus}");
        }
        checked += 1;
    }
    assert!(checked >= 6, "{checked} vectors checked");
}

#[test]
fn every_bad_delta_is_refused_naming_what_is_wrong() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let (s, _c) = server();
    for case in vectors["bad"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = case["error_contains"].as_str().unwrap();
        let got = patch(&s, &case["base"], &case["delta"]);
        assert!(
            got.starts_with("refused: ") && got.contains(want),
            "{name}: {got:?} does not name {want:?}"
        );
    }
}
