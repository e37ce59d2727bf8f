//! `defines`: the subset of the game's constants the emulator models.

use mlua::{Lua, Table};

use crate::world::Controller;

/// Event ids (values are the emulator's; scenarios must use the names).
pub const EVENTS: &[(&str, u32)] = &[
    ("on_tick", 0),
    ("on_player_created", 1),
    ("on_player_joined_game", 2),
    ("on_player_left_game", 3),
    ("on_pre_player_left_game", 4),
    ("on_gui_click", 5),
    ("on_console_chat", 6),
    ("on_console_command", 7),
    ("on_player_main_inventory_changed", 8),
    ("on_player_cursor_stack_changed", 9),
    ("on_player_removed", 10),
    ("on_player_died", 11),
    ("on_player_respawned", 12),
    ("on_gui_opened", 13),
    ("on_gui_closed", 14),
    ("on_player_changed_position", 15),
    ("on_player_controller_changed", 16),
];

/// Ids from `script.generate_event_name` start here.
pub const FIRST_CUSTOM_EVENT: u32 = 1000;

pub fn event_id(name: &str) -> u32 {
    EVENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| *id)
        .expect("event names used by the emulator are listed in EVENTS")
}

pub fn event_name(id: u32) -> Option<&'static str> {
    EVENTS.iter().find(|(_, i)| *i == id).map(|(n, _)| *n)
}

/// `defines.disconnect_reason`.
pub const DISCONNECT_REASONS: &[(&str, u32)] = &[
    ("quit", 0),
    ("dropped", 1),
    ("reconnect", 2),
    ("wrong_input", 3),
    ("desync_limit_reached", 4),
    ("cannot_keep_up", 5),
    ("afk", 6),
    ("kicked", 7),
    ("kicked_and_deleted", 8),
    ("banned", 9),
    ("switching_servers", 11),
];

fn table_of(lua: &Lua, entries: &[(&str, u32)]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (n, v) in entries {
        t.raw_set(*n, *v)?;
    }
    Ok(t)
}

pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let d = lua.create_table()?;
    d.raw_set("events", table_of(lua, EVENTS)?)?;
    d.raw_set(
        "inventory",
        table_of(
            lua,
            &[
                ("character_main", 1),
                ("god_main", 2),
                ("character_guns", 3),
                ("character_ammo", 4),
                ("character_armor", 5),
                ("character_trash", 8),
            ],
        )?,
    )?;
    let controllers: Vec<(&str, u32)> = Controller::ALL.iter().map(|(_, n, v)| (*n, *v)).collect();
    d.raw_set("controllers", table_of(lua, &controllers)?)?;
    d.raw_set("disconnect_reason", table_of(lua, DISCONNECT_REASONS)?)?;
    d.raw_set(
        "mouse_button_type",
        table_of(
            lua,
            &[("none", 1), ("left", 2), ("right", 4), ("middle", 8)],
        )?,
    )?;
    Ok(d)
}
