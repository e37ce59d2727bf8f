//! The module against the game's API description (issue 14): every game API the Lua module
//! calls exists in `runtime-api.json` (Factorio 2.0.45, trimmed copy in `tests/api/`) in the
//! form the module uses it (read, written, called with positional arguments or with a table
//! of the keys it passes), every API member name the module's code touches is listed here, and
//! the emulator refuses to write what the description marks read-only.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::*;

const DESCRIPTION: &str = include_str!("api/runtime-api-2.0.45.trimmed.json");

/// How the module uses a member.
#[derive(Debug, Clone, Copy)]
enum Use {
    /// Reads an attribute.
    Read,
    /// Writes an attribute.
    Write,
    /// Calls a method with this many positional arguments.
    Call(usize),
    /// Calls a method with one table holding these keys.
    Table(&'static [&'static str]),
    /// Uses an operator (`#`, `[i]`).
    Op(&'static str),
}

use Use::*;

/// Every game API the module (scenario/invsync/*.lua) uses, by class.
const USED: &[(&str, &str, Use)] = &[
    ("LuaBootstrap", "on_init", Call(1)),
    ("LuaBootstrap", "on_load", Call(1)),
    ("LuaBootstrap", "on_event", Call(2)),
    ("LuaGameScript", "get_player", Call(1)),
    ("LuaGameScript", "tick", Read),
    ("LuaRemote", "add_interface", Call(2)),
    ("LuaRCON", "print", Call(1)),
    ("LuaCommandProcessor", "add_command", Call(3)),
    ("LuaHelpers", "encode_string", Call(1)),
    ("LuaHelpers", "decode_string", Call(1)),
    ("LuaHelpers", "json_to_table", Call(1)),
    ("LuaHelpers", "table_to_json", Call(1)),
    ("LuaPrototypes", "item", Read),
    ("LuaPrototypes", "quality", Read),
    ("LuaItemPrototype", "get_durability", Call(1)),
    ("LuaItemPrototype", "magazine_size", Read),
    ("LuaItemPrototype", "stack_size", Read),
    ("LuaQualityPrototype", "name", Read),
    ("LuaPlayer", "valid", Read),
    ("LuaPlayer", "name", Read),
    ("LuaPlayer", "index", Read),
    ("LuaPlayer", "connected", Read),
    ("LuaPlayer", "character", Read),
    ("LuaPlayer", "controller_type", Read),
    ("LuaPlayer", "ticks_to_respawn", Read),
    ("LuaPlayer", "color", Read),
    ("LuaPlayer", "color", Write),
    ("LuaPlayer", "chat_color", Read),
    ("LuaPlayer", "chat_color", Write),
    ("LuaPlayer", "tag", Read),
    ("LuaPlayer", "tag", Write),
    ("LuaPlayer", "gui", Read),
    ("LuaPlayer", "print", Call(1)),
    ("LuaPlayer", "set_controller", Table(&["type", "character"])),
    ("LuaPlayer", "create_character", Call(0)),
    ("LuaPlayer", "get_quick_bar_slot", Call(1)),
    ("LuaPlayer", "set_quick_bar_slot", Call(2)),
    ("LuaControl", "cursor_stack", Read),
    ("LuaControl", "get_inventory", Call(1)),
    ("LuaControl", "insert", Call(1)),
    ("LuaControl", "character_inventory_slots_bonus", Read),
    ("LuaControl", "character_inventory_slots_bonus", Write),
    ("LuaControl", "character_additional_mining_categories", Read),
    (
        "LuaControl",
        "character_additional_mining_categories",
        Write,
    ),
    ("LuaControl", "crafting_queue", Read),
    ("LuaControl", "crafting_queue_size", Read),
    ("LuaControl", "crafting_queue_progress", Read),
    ("LuaControl", "crafting_queue_progress", Write),
    (
        "LuaControl",
        "begin_crafting",
        Table(&["recipe", "count", "silent"]),
    ),
    ("LuaControl", "cancel_crafting", Table(&["index", "count"])),
    ("LuaControl", "is_flashlight_enabled", Call(0)),
    ("LuaControl", "get_requester_point", Call(0)),
    ("LuaPlayer", "force", Read),
    ("LuaForce", "character_logistic_requests", Read),
    ("LuaLogisticPoint", "enabled", Read),
    ("LuaLogisticPoint", "enabled", Write),
    ("LuaLogisticPoint", "trash_not_requested", Read),
    ("LuaLogisticPoint", "trash_not_requested", Write),
    ("LuaLogisticPoint", "sections", Read),
    ("LuaLogisticPoint", "sections_count", Read),
    ("LuaLogisticPoint", "add_section", Call(1)),
    ("LuaLogisticPoint", "remove_section", Call(1)),
    ("LuaLogisticSection", "group", Read),
    ("LuaLogisticSection", "active", Read),
    ("LuaLogisticSection", "active", Write),
    ("LuaLogisticSection", "multiplier", Read),
    ("LuaLogisticSection", "multiplier", Write),
    ("LuaLogisticSection", "filters", Read),
    ("LuaLogisticSection", "filters_count", Read),
    ("LuaLogisticSection", "set_slot", Call(2)),
    ("LuaControl", "enable_flashlight", Call(0)),
    ("LuaControl", "disable_flashlight", Call(0)),
    ("LuaEntity", "valid", Read),
    ("LuaEntity", "player", Read),
    ("LuaEntity", "destroy", Call(0)),
    ("LuaInventory", "clear", Call(0)),
    ("LuaInventory", "insert", Call(1)),
    ("LuaInventory", "get_contents", Call(0)),
    ("LuaInventory", "length", Op("length")),
    ("LuaInventory", "index", Op("index")),
    ("LuaInventory", "supports_filters", Call(0)),
    ("LuaInventory", "is_filtered", Call(0)),
    ("LuaInventory", "get_filter", Call(1)),
    ("LuaInventory", "set_filter", Call(2)),
    ("LuaItemStack", "valid_for_read", Read),
    ("LuaItemStack", "count", Read),
    ("LuaItemStack", "count", Write),
    ("LuaItemStack", "set_stack", Call(1)),
    ("LuaItemStack", "swap_stack", Call(1)),
    ("LuaItemStack", "clear", Call(0)),
    ("LuaItemStack", "name", Read),
    ("LuaItemStack", "quality", Read),
    ("LuaItemStack", "health", Read),
    ("LuaItemStack", "type", Read),
    ("LuaItemStack", "prototype", Read),
    ("LuaItemStack", "durability", Read),
    ("LuaItemStack", "ammo", Read),
    ("LuaItemStack", "spoil_percent", Read),
    ("LuaItemStack", "label", Read),
    ("LuaItemStack", "label", Write),
    ("LuaItemStack", "label_color", Read),
    ("LuaItemStack", "label_color", Write),
    ("LuaItemStack", "allow_manual_label_change", Read),
    ("LuaItemStack", "allow_manual_label_change", Write),
    ("LuaItemStack", "tags", Read),
    ("LuaItemStack", "tags", Write),
    ("LuaItemStack", "custom_description", Read),
    ("LuaItemStack", "custom_description", Write),
    ("LuaItemStack", "get_inventory", Call(1)),
    ("LuaItemStack", "export_stack", Call(0)),
    ("LuaItemStack", "import_stack", Call(1)),
    ("LuaItemStack", "grid", Read),
    ("LuaItemStack", "create_grid", Call(0)),
    ("LuaEquipmentGrid", "equipment", Read),
    (
        "LuaEquipmentGrid",
        "put",
        Table(&["name", "position", "quality"]),
    ),
    ("LuaEquipment", "name", Read),
    ("LuaEquipment", "position", Read),
    ("LuaEquipment", "quality", Read),
    ("LuaEquipment", "energy", Read),
    ("LuaEquipment", "energy", Write),
    ("LuaEquipment", "shield", Read),
    ("LuaEquipment", "shield", Write),
    ("LuaGui", "screen", Read),
    ("LuaGui", "top", Read),
    (
        "LuaGuiElement",
        "add",
        Table(&["type", "name", "caption", "direction", "tooltip"]),
    ),
    ("LuaGuiElement", "valid", Read),
    ("LuaGuiElement", "name", Read),
    ("LuaGuiElement", "caption", Write),
    ("LuaGuiElement", "tooltip", Write),
    ("LuaGuiElement", "visible", Write),
    ("LuaGuiElement", "value", Write),
    ("LuaGuiElement", "destroy", Call(0)),
    ("LuaGuiElement", "force_auto_center", Call(0)),
    ("LuaGuiElement", "index", Op("index")),
];

/// `defines` the module uses.
const DEFINES: &[(&str, &str)] = &[
    ("controllers", "character"),
    ("controllers", "god"),
    ("controllers", "spectator"),
    ("controllers", "editor"),
    ("controllers", "remote"),
    ("inventory", "character_main"),
    ("inventory", "character_guns"),
    ("inventory", "character_ammo"),
    ("inventory", "character_armor"),
    ("inventory", "character_trash"),
    ("inventory", "item_main"),
    ("events", "on_tick"),
    ("events", "on_player_joined_game"),
    ("events", "on_pre_player_left_game"),
    ("events", "on_gui_click"),
];

/// Names in the module's code after a `.` that are also API member names, but that the
/// module uses on its own tables (JSON data, records, events), not on game objects.
const OWN_FIELDS: &[&str] = &[
    "count",
    "name",
    "quality",
    "index",
    "type",
    "position",
    "health",
    "durability",
    "ammo",
    "valid",
    "tick",
    "player_index",
    "element",
    "x",
    "y",
    "energy",
    "shield",
    "grid",
    "data",
    "text",
    "parameter",
    "player",
    "character",
    "progress",
    "recipe",
    "prerequisite",
    "items",
    "color",
    "chat_color",
    "tag",
    "cursor",
    "size",
    "status",
    "value",
    "visible",
    "caption",
    "detail",
    "state",
    "generation",
    "reason",
    "message",
    "label",
    "version",
    "order",
    "equipment",
    "filters",
    "group",
    "enabled",
    "active",
    "mode",
    "id",
    "request",
    "bytes",
    "error",
    "sync",
    "print",
    "log",
    "insert",
    "remove",
    "clear",
    "sort",
    "concat",
    "format",
    "find",
    "next",
    "number",
    "players",
    "stack",
    "spectator",
    "editor",
    "remote",
    "god",
];

struct Api {
    classes: BTreeMap<String, Value>,
}

impl Api {
    fn load() -> Api {
        let v: Value = serde_json::from_str(DESCRIPTION).unwrap();
        assert_eq!(v["application_version"], "2.0.45");
        let classes = v["classes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Api { classes }
    }

    /// The class and its ancestors.
    fn chain(&self, class: &str) -> Vec<&Value> {
        let mut out = Vec::new();
        let mut at = Some(class.to_string());
        while let Some(c) = at {
            let v = self
                .classes
                .get(&c)
                .unwrap_or_else(|| panic!("class {c} not in the description"));
            out.push(v);
            at = v["parent"].as_str().map(str::to_string);
        }
        out
    }

    /// "r", "w", "rw" of an attribute.
    fn attribute(&self, class: &str, name: &str) -> Option<String> {
        self.chain(class).into_iter().find_map(|c| {
            c["attributes"].as_array().unwrap().iter().find_map(|a| {
                let (n, rw) = a.as_str().unwrap().split_once(':').unwrap();
                (n == name).then(|| rw.to_string())
            })
        })
    }

    /// (takes a table, parameters as (name, optional)); a table that may be left out counts
    /// as positional parameters (none given, or the table).
    fn method(&self, class: &str, name: &str) -> Option<(bool, Vec<(String, bool)>)> {
        self.chain(class).into_iter().find_map(|c| {
            c["methods"].as_array().unwrap().iter().find_map(|m| {
                let m = m.as_str().unwrap();
                let open = m.find(['(', '{']).unwrap();
                if &m[..open] != name {
                    return None;
                }
                if let Some(m) = m.strip_suffix('?') {
                    return Some((false, vec![(m[open..].to_string(), true)]));
                }
                let table = m[open..].starts_with('{');
                let params = m[open + 1..m.len() - 1]
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| (p.trim_end_matches('?').to_string(), p.ends_with('?')))
                    .collect();
                Some((table, params))
            })
        })
    }

    fn operators(&self, class: &str) -> Vec<String> {
        self.chain(class)
            .into_iter()
            .flat_map(|c| c["operators"].as_array().cloned().unwrap_or_default())
            .map(|o| o.as_str().unwrap().to_string())
            .collect()
    }

    /// Every member name of the classes in USED.
    fn member_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (class, _, _) in USED {
            for c in self.chain(class) {
                for a in c["attributes"].as_array().unwrap() {
                    out.insert(a.as_str().unwrap().split(':').next().unwrap().to_string());
                }
                for m in c["methods"].as_array().unwrap() {
                    let m = m.as_str().unwrap();
                    out.insert(m[..m.find(['(', '{']).unwrap()].to_string());
                }
            }
        }
        out
    }
}

#[test]
fn every_api_the_module_uses_exists_in_the_form_it_is_used() {
    let api = Api::load();
    let mut wrong = Vec::new();
    for (class, member, usage) in USED {
        let problem = match usage {
            Read => match api.attribute(class, member) {
                Some(rw) if rw.contains('r') => None,
                Some(_) => Some("is not readable".to_string()),
                None => Some("is not an attribute".to_string()),
            },
            Write => match api.attribute(class, member) {
                Some(rw) if rw.contains('w') => None,
                Some(_) => Some("is read-only".to_string()),
                None => Some("is not an attribute".to_string()),
            },
            Call(n) => match api.method(class, member) {
                Some((false, params)) => {
                    let required = params.iter().filter(|p| !p.1).count();
                    (*n < required || *n > params.len()).then(|| {
                        format!(
                            "takes {required}..{} arguments, called with {n}",
                            params.len()
                        )
                    })
                }
                Some((true, _)) => Some("takes a table".to_string()),
                None => Some("is not a method".to_string()),
            },
            Table(keys) => match api.method(class, member) {
                Some((true, params)) => {
                    let known: BTreeSet<&str> = params.iter().map(|p| p.0.as_str()).collect();
                    let unknown: Vec<_> = keys.iter().filter(|k| !known.contains(*k)).collect();
                    let missing: Vec<_> = params
                        .iter()
                        .filter(|p| !p.1 && !keys.contains(&p.0.as_str()))
                        .collect();
                    (!unknown.is_empty() || !missing.is_empty()).then(|| {
                        format!("unknown keys {unknown:?}, required keys not passed {missing:?}")
                    })
                }
                Some((false, params)) if params.len() == 1 => None,
                Some((false, _)) => Some("does not take a table".to_string()),
                None => Some("is not a method".to_string()),
            },
            Op(op) => (!api.operators(class).iter().any(|o| o == op))
                .then(|| format!("has no {op} operator")),
        };
        if let Some(p) = problem {
            wrong.push(format!("{class}.{member} ({usage:?}) {p}"));
        }
    }
    let v: Value = serde_json::from_str(DESCRIPTION).unwrap();
    for (group, name) in DEFINES {
        let ok = v["defines"][group]
            .as_array()
            .is_some_and(|l| l.iter().any(|n| n == name));
        if !ok {
            wrong.push(format!("defines.{group}.{name} does not exist"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not as the description says:\n{}",
        wrong.join("\n")
    );
}

/// The module's code without comments and string literals (roughly: enough for names).
fn module_code() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("invsync");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lua"))
        .collect();
    files.sort();
    let mut out = String::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let code = line.split("--").next().unwrap();
            out.push_str(code);
            out.push('\n');
        }
    }
    out
}

#[test]
fn every_api_member_name_in_the_module_is_listed_and_checked() {
    let api = Api::load();
    let members = api.member_names();
    let listed: BTreeSet<&str> = USED.iter().map(|u| u.1).collect();
    let code = module_code();
    let bytes = code.as_bytes();
    let mut unlisted = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' && (i == 0 || bytes[i - 1] != b'.') {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            let word = &code[start..end];
            if members.contains(word) && !listed.contains(word) && !OWN_FIELDS.contains(&word) {
                unlisted.insert(word.to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    assert!(
        unlisted.is_empty(),
        "the module touches API members this test does not check (add them to USED, or to \
         OWN_FIELDS if they are the module's own fields): {unlisted:?}"
    );
}

/// Lua that tries to write every read-only attribute of `class` that `object` (a Lua
/// expression) can read, and returns those the emulator accepted, comma-joined.
fn try_read_only(api: &Api, class: &str, object: &str) -> String {
    let mut names = Vec::new();
    for c in api.chain(class) {
        for a in c["attributes"].as_array().unwrap() {
            let (n, rw) = a.as_str().unwrap().split_once(':').unwrap();
            if rw == "r" {
                names.push(format!("{n:?}"));
            }
        }
    }
    format!(
        "local o = {object} local accepted = {{}} \
         for _, k in ipairs({{{}}}) do \
           local readable, v = pcall(function() return o[k] end) \
           if readable and pcall(function() o[k] = v end) then accepted[#accepted + 1] = k end \
         end \
         return table.concat(accepted, ',')",
        names.join(",")
    )
}

#[test]
fn the_emulator_refuses_to_write_what_the_description_marks_read_only() {
    let api = Api::load();
    let mut c = Cluster::default();
    let mut s = Server::new("alpha", config(&control_with(""), 0, false));
    s.run(&mut c, 1);
    s.join("ann");
    s.run_until(&mut c, 3000, "ann playing", |s, _| {
        s.state("ann") == "playing"
    });
    s.eval::<()>(
        "local p = game.get_player('ann') \
         local armor = p.get_inventory(defines.inventory.character_armor)[1] \
         armor.set_stack{name = 'power-armor', count = 1} \
         armor.create_grid().put{name = 'battery-equipment'} \
         p.insert{name = 'iron-plate', count = 5} \
         p.get_requester_point().add_section().set_slot(1, {value = 'coal', min = 1}) \
         p.gui.screen.add{type = 'label', name = 'probe'}",
    );
    let p = "game.get_player('ann')";
    let objects = [
        ("LuaPlayer", p.to_string()),
        ("LuaEntity", format!("{p}.character")),
        ("LuaInventory", format!("{p}.get_main_inventory()")),
        ("LuaItemStack", format!("{p}.get_main_inventory()[1]")),
        (
            "LuaEquipmentGrid",
            format!("{p}.get_inventory(defines.inventory.character_armor)[1].grid"),
        ),
        (
            "LuaEquipment",
            format!("{p}.get_inventory(defines.inventory.character_armor)[1].grid.equipment[1]"),
        ),
        ("LuaGuiElement", format!("{p}.gui.screen.probe")),
        ("LuaLogisticPoint", format!("{p}.get_requester_point()")),
        (
            "LuaLogisticSection",
            format!("{p}.get_requester_point().sections[1]"),
        ),
        ("LuaGui", format!("{p}.gui")),
        ("LuaGameScript", "game".to_string()),
        ("LuaBootstrap", "script".to_string()),
        ("LuaHelpers", "helpers".to_string()),
        (
            "LuaItemPrototype",
            "prototypes.item['iron-plate']".to_string(),
        ),
        (
            "LuaQualityPrototype",
            "prototypes.quality.normal".to_string(),
        ),
    ];
    let mut accepted = Vec::new();
    for (class, object) in objects {
        let got: String = s.eval(&try_read_only(&api, class, &object));
        if !got.is_empty() {
            accepted.push(format!("{class}: {got}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "the emulator let scripts write read-only attributes:\n{}",
        accepted.join("\n")
    );
}
