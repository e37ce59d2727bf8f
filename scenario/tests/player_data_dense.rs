//! PLAYER_DATA format 2 in the Lua module: what the writer (the side that applies a payload)
//! makes of dense stacks, and what the reader's serializer writes for stack tables, on the
//! shared vectors of `tests/vectors/player_data.json` and on cases of this file.

/// The vectors shared with the Rust model (player-data/tests/vectors.rs).
const VECTORS: &str = include_str!("../../tests/vectors/player_data.json");

mod common;
mod support;

use common::from_lua;
use mlua::{Function, Lua, Table};
use serde_json::{Value, json};

/// Test helpers in Lua: the writer's view of a payload, and the reader's serializer.
const HELPERS: &str = r#"
local player_data = require("invsync.player_data")
local json = require("invsync.json")
local t = {}

--- A stack table as the members of a format-1 stack (`more` spread out), nested ones too.
local function flat(e)
  local out = {}
  for k, v in pairs(e) do
    if k ~= "more" then out[k] = v end
  end
  for k, v in pairs(e.more or {}) do out[k] = v end
  if out.inventory then
    local list = {}
    for i = 1, #out.inventory do list[i] = flat(out.inventory[i]) end
    out.inventory = list
  end
  return out
end

--- The stacks the writer places for payload `text` (every run expanded as write_step expands
--- it: the stack of each slot), or nil and why the writer refuses the payload.
function t.expand(text)
  local data, err = json.decode(text)
  if data == nil then return nil, "JSON: " .. err end
  local job, why = player_data.writer(nil, nil, data, {})
  if not job then return nil, why end
  local dense = nil
  if job.check then
    -- write_step's first phase, at once
    local done, err = player_data.check_step(job.check, math.huge)
    if not done then return nil, err end
    dense = job.check.dense
  end
  local src = dense or data
  local out = { inventories = {}, unplaced = {}, ingredients = {} }
  for i = 1, #player_data.INVENTORIES do
    local key = player_data.INVENTORIES[i].key
    local list = src.inventories and src.inventories[key] or {}
    local runs = dense and dense.runs[key] or {}
    local got = {}
    for k = 1, #list do
      for r = 0, (runs[k] or 1) - 1 do got[#got + 1] = flat(assert(player_data.run_stack(list[k], r, key))) end
    end
    out.inventories[key] = got
  end
  if src.cursor then out.cursor = flat(assert(player_data.check_stack(src.cursor, "cursor"))) end
  for i, e in ipairs(src.unplaced or {}) do out.unplaced[i] = flat(assert(player_data.check_stack(e, "unplaced"))) end
  local ingredients = type(src.crafting) == "table" and src.crafting.ingredients or {}
  for i, e in ipairs(ingredients) do out.ingredients[i] = flat(assert(player_data.check_stack(e, "ingredients"))) end
  return out
end

--- The format-2 check of payload `text` alone (write_step's first phase): the stack tables
--- it made for `main`, or nil and why it refuses the payload.
function t.check(text)
  local job = player_data.checker(assert(json.decode(text)))
  local done, err = player_data.check_step(job, math.huge)
  if not done then return nil, err end
  local n = 0
  for _ in pairs(job.dense.inventories.main) do n = n + 1 end
  return n
end

--- The reader's format-2 JSON of a list of format-1 stacks (the JSON text of a list): the
--- stacks as the reader keeps them (`check_stack`'s tables), written with their runs merged;
--- slotless when `slotless`.
function t.dense(text, slotless)
  local list = assert(json.decode(text))
  local stacks = {}
  for i = 1, #list do stacks[i] = assert(player_data.check_stack(list[i], "stack")) end
  return "[" .. player_data.list_json(stacks, not slotless) .. "]"
end

return t
"#;

fn helpers(lua: &Lua) -> Table {
    invsync_scenario::add_module(lua, "dense_test", HELPERS).expect("helpers");
    common::module(lua, "dense_test")
}

/// What the Lua writer makes of `text`: `Ok(stacks)` in the shape of [`expected`], or the
/// error that refuses the payload.
fn expand(lua: &Lua, text: &str) -> Result<Value, String> {
    let f: Function = helpers(lua).get("expand").unwrap();
    let (v, err): (mlua::Value, Option<String>) = f.call(text).unwrap();
    match err {
        Some(e) => Err(e),
        None => Ok(canonical(&from_lua(&v))),
    }
}

/// The stacks of a format-1 payload (the vectors' `expanded`) in the shape `expand` gives:
/// every list present (empty when absent), numbers as doubles.
fn expected(data: &Value) -> Value {
    let list = |v: &Value| if v.is_null() { json!([]) } else { v.clone() };
    let mut inventories = serde_json::Map::new();
    for key in ["main", "guns", "ammo", "armor", "trash"] {
        inventories.insert(key.into(), list(&data["inventories"][key]));
    }
    let mut out = json!({
        "inventories": inventories,
        "unplaced": list(&data["unplaced"]),
        "ingredients": list(&data["crafting"]["ingredients"]),
    });
    if !data["cursor"].is_null() {
        out["cursor"] = data["cursor"].clone();
    }
    canonical(&out)
}

/// Numbers as doubles, empty objects as empty lists (Lua cannot tell them apart).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        Value::Object(m) if m.is_empty() => json!([]),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

/// The Lua reader's format-2 JSON of a list of format-1 stacks.
fn dense(lua: &Lua, stacks: &Value, slotless: bool) -> String {
    let f: Function = helpers(lua).get("dense").unwrap();
    f.call((stacks.to_string(), slotless)).unwrap()
}

fn payload(inventories: Value) -> String {
    json!({"format": 2, "name": "ann", "inventories": inventories}).to_string()
}

#[test]
fn runs_arrays_and_objects_expand_to_the_stacks_of_format_1() {
    let lua = common::lua();
    let text = json!({
        "format": 2, "name": "ann",
        "inventories": {
            "main": [
                [1, "iron-plate", 100, 3],
                [4, "copper-plate", 50],
                [5, "coal", 7, 1, "rare"],
                {"s": 6, "r": 2, "n": "repair-pack", "c": 3, "q": "epic", "d": 0.5},
                {"s": 9, "n": "iron-plate", "c": 100},
                {"s": 10, "n": "item-with-inventory", "c": 1, "l": "bag",
                 "lc": {"r": 1, "g": 0, "b": 0}, "lm": false,
                 "i": [[1, "coal", 50, 2], {"s": 4, "n": "item-with-tags", "c": 1, "t": {"k": [1, 2]}, "cd": "note"}]},
                {"s": 11, "n": "blueprint", "c": 1, "x": "0eNq"},
                {"s": 12, "n": "nutrients", "c": 5, "p": 0.25, "h": 0.5},
            ],
            "ammo": [{"s": 1, "n": "firearm-magazine", "c": 10, "a": 7}],
            "armor": [{"s": 1, "n": "power-armor-mk2", "c": 1, "g": [{"name": "fusion-reactor-equipment", "x": 0, "y": 0}]}],
        },
        "cursor": [0, "transport-belt", 42, 1, "uncommon"],
        "unplaced": [[0, "modded-thing", 3], {"n": "modded-gun", "c": 1, "h": 0.25}],
        "crafting": {"queue": [{"recipe": "iron-gear-wheel", "count": 2}], "ingredients": [[0, "iron-plate", 4]]},
    })
    .to_string();
    let want = expected(&json!({
        "inventories": {
            "main": [
                {"slot": 1, "name": "iron-plate", "count": 100},
                {"slot": 2, "name": "iron-plate", "count": 100},
                {"slot": 3, "name": "iron-plate", "count": 100},
                {"slot": 4, "name": "copper-plate", "count": 50},
                {"slot": 5, "name": "coal", "count": 7, "quality": "rare"},
                {"slot": 6, "name": "repair-pack", "count": 3, "quality": "epic", "durability": 0.5},
                {"slot": 7, "name": "repair-pack", "count": 3, "quality": "epic", "durability": 0.5},
                {"slot": 9, "name": "iron-plate", "count": 100},
                {"slot": 10, "name": "item-with-inventory", "count": 1, "label": "bag",
                 "label_color": {"r": 1, "g": 0, "b": 0, "a": 1}, "allow_manual_label_change": false,
                 "inventory": [
                    {"slot": 1, "name": "coal", "count": 50},
                    {"slot": 2, "name": "coal", "count": 50},
                    {"slot": 4, "name": "item-with-tags", "count": 1, "tags": {"k": [1, 2]}, "custom_description": "note"},
                 ]},
                {"slot": 11, "name": "blueprint", "count": 1, "export": "0eNq"},
                {"slot": 12, "name": "nutrients", "count": 5, "health": 0.5, "spoil_percent": 0.25},
            ],
            "ammo": [{"slot": 1, "name": "firearm-magazine", "count": 10, "ammo": 7}],
            "armor": [{"slot": 1, "name": "power-armor-mk2", "count": 1, "grid": [{"name": "fusion-reactor-equipment", "x": 0, "y": 0}]}],
        },
        "cursor": {"name": "transport-belt", "count": 42, "quality": "uncommon"},
        "unplaced": [{"name": "modded-thing", "count": 3}, {"name": "modded-gun", "count": 1, "health": 0.25}],
        "crafting": {"ingredients": [{"name": "iron-plate", "count": 4}]},
    }));
    assert_eq!(expand(&lua, &text).unwrap(), want);
}

#[test]
fn a_malformed_payload_is_refused_whole_naming_where() {
    let lua = common::lua();
    let main = |list: Value| payload(json!({"main": list}));
    // beyond the shared vectors' bad cases
    let cases: Vec<(String, &str)> = vec![
        (
            main(json!([[1, "coal", 5, 1e12]])),
            "inventories.main[1]: the run is 1000000000000, not a whole number in 0..=4294967295",
        ),
        (
            main(json!([[1.5, "coal", 5]])),
            "inventories.main[1]: the slot is 1.5, not a whole number",
        ),
        (
            main(json!([[1, "coal", 5, null, "rare"]])),
            "not an array of 5",
        ),
        (
            main(json!([{"s": 1, "n": "coal"}])),
            "inventories.main[1]: an object stack without 'c' (count)",
        ),
        (
            main(json!([{"s": 1, "n": "repair-pack", "c": 1, "d": "full"}])),
            "inventories.main[1] (repair-pack): 'durability' must be a number",
        ),
        (
            main(
                json!([{"s": 1, "n": "item-with-inventory", "c": 1, "i": [{"s": 1, "n": "item-with-inventory", "c": 1, "i": [
            {"s": 1, "n": "item-with-inventory", "c": 1, "i": [[1, "coal", 1]]}]}]}]),
            ),
            "items with an inventory nested deeper than 3 levels",
        ),
        // the bound counts an item's contents once per slot of its run, before expanding either
        (
            main(
                json!([{"s": 1, "r": 65535, "n": "item-with-inventory", "c": 1, "i": [[1, "coal", 1, 8]]}]),
            ),
            "inventories.main[1].i[1]: the payload expands to more than 524280 stacks",
        ),
    ];
    for (text, error) in cases {
        match expand(&lua, &text) {
            Ok(v) => panic!("{text}: accepted as {v}"),
            Err(e) => assert!(
                e.contains(error),
                "{text}: {e:?} does not contain {error:?}"
            ),
        }
    }
}

#[test]
fn the_expansion_bound_is_the_specs_and_checking_expands_no_run() {
    let lua = common::lua();
    let check: Function = helpers(&lua).get("check").unwrap();
    // a run of 65535 items holding 7 stacks each: exactly 65535 * 8 stacks, checked without
    // expanding the run (the 7 stacks inside are expanded once)
    let bag =
        json!({"s": 1, "r": 65535, "n": "item-with-inventory", "c": 1, "i": [[1, "coal", 1, 7]]});
    let mut data = json!({"format": 2, "name": "ann", "inventories": {"main": [bag]}});
    let (stacks, err): (Option<u32>, Option<String>) = check.call(data.to_string()).unwrap();
    assert_eq!((stacks, err), (Some(1), None));
    data["cursor"] = json!([0, "wood", 1]);
    let (stacks, err): (Option<u32>, Option<String>) = check.call(data.to_string()).unwrap();
    assert_eq!(stacks, None);
    assert_eq!(
        err.unwrap(),
        "cursor: the payload expands to more than 524280 stacks"
    );
}

#[test]
fn every_shared_vector_holds_for_the_lua_module() {
    let lua = common::lua();
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = |list: &str| vectors[list].as_array().unwrap().clone();
    let text = |v: &Value, key: &str| v[key].as_str().unwrap().to_string();
    // good: the writer places the stacks of `expanded`, one per slot
    for v in cases("good") {
        let want = expected(&serde_json::from_str(&text(&v, "expanded")).unwrap());
        let got = expand(&lua, &text(&v, "text")).unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        assert_eq!(got, want, "{}", v["name"]);
    }
    // dense: the reader writes the stacks of `expanded` as `text`, byte for byte
    for v in cases("dense") {
        let stacks: Value = serde_json::from_str(&text(&v, "expanded")).unwrap();
        let slotless = v["slotless"] == json!(true);
        assert_eq!(
            dense(&lua, &stacks, slotless),
            text(&v, "text"),
            "{}",
            v["name"]
        );
    }
    // bad: refused whole, naming where and why
    for v in cases("bad") {
        let want = text(&v, "error_contains");
        match expand(&lua, &text(&v, "text")) {
            Ok(got) => panic!("{}: accepted as {got}", v["name"]),
            Err(e) => assert!(
                e.contains(&want),
                "{}: {e:?} does not contain {want:?}",
                v["name"]
            ),
        }
    }
    assert!(cases("good").len() >= 12 && cases("dense").len() >= 4 && cases("bad").len() >= 26);
}

/// In the game: a format-2 payload whose last entry is malformed is checked over several ticks
/// within the tick budget, and refused before anything of it is written.
#[test]
fn a_malformed_payload_is_refused_in_the_game_before_anything_is_written() {
    let mut c = support::Cluster::default();
    let mut a = support::Server::new(
        "alpha",
        support::config(&support::control_with(""), 0, false),
    );
    a.run(&mut c, 1);
    c.seed(
        "ann",
        1,
        support::data(
            "ann",
            json!({"main": [{"slot": 1, "name": "coal", "count": 5}]}),
        ),
    );
    support::play(&mut a, &mut c, "ann");
    // she leaves holding 7 gears: the cursor of the copy this game keeps
    a.sc(
        &mut c,
        "game.get_player('ann').cursor_stack.set_stack{name='iron-gear-wheel', count=7}",
    );
    support::leave_and_upload(&mut a, &mut c, "ann", 2);
    // 3000 entries (more than a tick checks), the last with run 0
    let mut main: Vec<Value> = (1..3000)
        .map(|slot| json!([slot, if slot % 2 == 0 { "iron-plate" } else { "stone" }, 1]))
        .collect();
    main.push(json!([3000, "copper-plate", 1, 0]));
    c.seed("ann", 3, payload(json!({"main": main})));
    a.join("ann");
    a.run_until(&mut c, 3000, "the data refused", |s, _| {
        s.state("ann") == "failed"
    });
    let index = a.index_of("ann");
    let reason: String = a.eval(&format!(
        "return storage.invsync.sync.players[{index}].reason"
    ));
    assert!(
        reason.contains("inventories.main[3000]: run 0 is not >= 1"),
        "{reason}"
    );
    // the character kept for ann is as it was: nothing of the payload, nothing cleared
    let items = a.items("ann");
    assert_eq!(
        items.into_iter().collect::<Vec<_>>(),
        [(("coal".to_string(), "normal".to_string()), 5)]
    );
    // and so is its cursor, kept in the record while she is in the sync
    let cursor: String = a.eval(&format!(
        "local e = storage.invsync.sync.players[{index}].cursor return e and (e.name .. ' ' .. e.count) or 'none'"
    ));
    assert_eq!(cursor, "iron-gear-wheel 7");
    assert!(a.over_budget.is_empty(), "{:?}", a.over_budget);
}

/// In the game: the later slots of a run take the first slot's definition as it is, and a
/// slot that is taken or does not exist (the run passes the end of the inventory) sends that
/// stack to the leftovers, placed anywhere: nothing lost.
#[test]
fn a_run_passing_the_inventorys_end_loses_nothing() {
    let mut c = support::Cluster::default();
    let mut a = support::Server::new(
        "alpha",
        support::config(&support::control_with(""), 0, false),
    );
    a.run(&mut c, 1);
    // a character's main inventory (the emulator's, as the game's) without a bonus
    let size = 80;
    let data = json!({
        "format": 2, "name": "ann",
        "inventories": {"main": [[1, "iron-plate", 100, 5], [size - 2, "stone", 50, 6]]}
    });
    c.seed("ann", 1, data.to_string());
    support::play(&mut a, &mut c, "ann");
    let main = "game.get_player('ann').get_inventory(defines.inventory.character_main)";
    assert_eq!(
        a.eval::<u32>(&format!("return #{main}")),
        size,
        "the character's main inventory"
    );
    let slot = |a: &support::Server, i: u32| -> String {
        a.eval(&format!(
            "local s = {main}[{i}] return s.valid_for_read and (s.name .. ' ' .. s.count) or 'empty'"
        ))
    };
    for i in 1..=5 {
        assert_eq!(slot(&a, i), "iron-plate 100", "slot {i}");
    }
    // the three stones past the end went to the first empty slots
    for i in 6..=8 {
        assert_eq!(slot(&a, i), "stone 50", "slot {i}");
    }
    assert_eq!(slot(&a, 9), "empty");
    for i in size - 2..=size {
        assert_eq!(slot(&a, i), "stone 50", "slot {i}");
    }
    assert_eq!(support::item_count(&a, "ann", "iron-plate"), 500);
    assert_eq!(support::item_count(&a, "ann", "stone"), 300);
}
