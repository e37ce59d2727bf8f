//! `defines`: the subset of the game's constants the emulator models.

use mlua::{Lua, Table};

use crate::world::Controller;

/// Event ids: every `defines.events` entry of runtime-api.json 2.0.45 (values are the
/// emulator's; scenarios must use the names). The emulator raises only some of them.
pub(crate) const EVENTS: &[(&str, u32)] = &[
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
    // the other events of runtime-api.json 2.0.45 (defines.events), in its order
    ("on_achievement_gained", 17),
    ("on_ai_command_completed", 18),
    ("on_area_cloned", 19),
    ("on_biter_base_built", 20),
    ("on_brush_cloned", 21),
    ("on_build_base_arrived", 22),
    ("on_built_entity", 23),
    ("on_cancelled_deconstruction", 24),
    ("on_cancelled_upgrade", 25),
    ("on_cargo_pod_delivered_cargo", 26),
    ("on_cargo_pod_finished_ascending", 27),
    ("on_cargo_pod_finished_descending", 28),
    ("on_character_corpse_expired", 29),
    ("on_chart_tag_added", 30),
    ("on_chart_tag_modified", 31),
    ("on_chart_tag_removed", 32),
    ("on_chunk_charted", 33),
    ("on_chunk_deleted", 34),
    ("on_chunk_generated", 35),
    ("on_combat_robot_expired", 36),
    ("on_cutscene_cancelled", 37),
    ("on_cutscene_finished", 38),
    ("on_cutscene_started", 39),
    ("on_cutscene_waypoint_reached", 40),
    ("on_entity_cloned", 41),
    ("on_entity_color_changed", 42),
    ("on_entity_damaged", 43),
    ("on_entity_died", 44),
    ("on_entity_logistic_slot_changed", 45),
    ("on_entity_renamed", 46),
    ("on_entity_settings_pasted", 47),
    ("on_entity_spawned", 48),
    ("on_equipment_inserted", 49),
    ("on_equipment_removed", 50),
    ("on_force_cease_fire_changed", 51),
    ("on_force_created", 52),
    ("on_force_friends_changed", 53),
    ("on_force_reset", 54),
    ("on_forces_merged", 55),
    ("on_forces_merging", 56),
    ("on_game_created_from_scenario", 57),
    ("on_gui_checked_state_changed", 58),
    ("on_gui_confirmed", 59),
    ("on_gui_elem_changed", 60),
    ("on_gui_hover", 61),
    ("on_gui_leave", 62),
    ("on_gui_location_changed", 63),
    ("on_gui_selected_tab_changed", 64),
    ("on_gui_selection_state_changed", 65),
    ("on_gui_switch_state_changed", 66),
    ("on_gui_text_changed", 67),
    ("on_gui_value_changed", 68),
    ("on_land_mine_armed", 69),
    ("on_lua_shortcut", 70),
    ("on_marked_for_deconstruction", 71),
    ("on_marked_for_upgrade", 72),
    ("on_market_item_purchased", 73),
    ("on_mod_item_opened", 74),
    ("on_multiplayer_init", 75),
    ("on_object_destroyed", 76),
    ("on_permission_group_added", 77),
    ("on_permission_group_deleted", 78),
    ("on_permission_group_edited", 79),
    ("on_permission_string_imported", 80),
    ("on_picked_up_item", 81),
    ("on_player_alt_reverse_selected_area", 82),
    ("on_player_alt_selected_area", 83),
    ("on_player_ammo_inventory_changed", 84),
    ("on_player_armor_inventory_changed", 85),
    ("on_player_banned", 86),
    ("on_player_built_tile", 87),
    ("on_player_cancelled_crafting", 88),
    ("on_player_changed_force", 89),
    ("on_player_changed_surface", 90),
    ("on_player_cheat_mode_disabled", 91),
    ("on_player_cheat_mode_enabled", 92),
    ("on_player_clicked_gps_tag", 93),
    ("on_player_configured_blueprint", 94),
    ("on_player_crafted_item", 95),
    ("on_player_deconstructed_area", 96),
    ("on_player_demoted", 97),
    ("on_player_display_density_scale_changed", 98),
    ("on_player_display_resolution_changed", 99),
    ("on_player_display_scale_changed", 100),
    ("on_player_driving_changed_state", 101),
    ("on_player_dropped_item", 102),
    ("on_player_fast_transferred", 103),
    ("on_player_flipped_entity", 104),
    ("on_player_flushed_fluid", 105),
    ("on_player_gun_inventory_changed", 106),
    ("on_player_input_method_changed", 107),
    ("on_player_kicked", 108),
    ("on_player_locale_changed", 109),
    ("on_player_mined_entity", 110),
    ("on_player_mined_item", 111),
    ("on_player_mined_tile", 112),
    ("on_player_muted", 113),
    ("on_player_pipette", 114),
    ("on_player_placed_equipment", 115),
    ("on_player_promoted", 116),
    ("on_player_removed_equipment", 117),
    ("on_player_repaired_entity", 118),
    ("on_player_reverse_selected_area", 119),
    ("on_player_rotated_entity", 120),
    ("on_player_selected_area", 121),
    ("on_player_set_quick_bar_slot", 122),
    ("on_player_setup_blueprint", 123),
    ("on_player_toggled_alt_mode", 124),
    ("on_player_toggled_map_editor", 125),
    ("on_player_trash_inventory_changed", 126),
    ("on_player_unbanned", 127),
    ("on_player_unmuted", 128),
    ("on_player_used_capsule", 129),
    ("on_player_used_spidertron_remote", 130),
    ("on_post_entity_died", 131),
    ("on_pre_build", 132),
    ("on_pre_chunk_deleted", 133),
    ("on_pre_entity_settings_pasted", 134),
    ("on_pre_ghost_deconstructed", 135),
    ("on_pre_ghost_upgraded", 136),
    ("on_pre_permission_group_deleted", 137),
    ("on_pre_permission_string_imported", 138),
    ("on_pre_player_crafted_item", 139),
    ("on_pre_player_died", 140),
    ("on_pre_player_mined_item", 141),
    ("on_pre_player_removed", 142),
    ("on_pre_player_toggled_map_editor", 143),
    ("on_pre_robot_exploded_cliff", 144),
    ("on_pre_scenario_finished", 145),
    ("on_pre_script_inventory_resized", 146),
    ("on_pre_surface_cleared", 147),
    ("on_pre_surface_deleted", 148),
    ("on_redo_applied", 149),
    ("on_research_cancelled", 150),
    ("on_research_finished", 151),
    ("on_research_moved", 152),
    ("on_research_reversed", 153),
    ("on_research_started", 154),
    ("on_resource_depleted", 155),
    ("on_robot_built_entity", 156),
    ("on_robot_built_tile", 157),
    ("on_robot_exploded_cliff", 158),
    ("on_robot_mined", 159),
    ("on_robot_mined_entity", 160),
    ("on_robot_mined_tile", 161),
    ("on_robot_pre_mined", 162),
    ("on_rocket_launch_ordered", 163),
    ("on_rocket_launched", 164),
    ("on_runtime_mod_setting_changed", 165),
    ("on_script_inventory_resized", 166),
    ("on_script_path_request_finished", 167),
    ("on_script_trigger_effect", 168),
    ("on_sector_scanned", 169),
    ("on_segment_entity_created", 170),
    ("on_selected_entity_changed", 171),
    ("on_singleplayer_init", 172),
    ("on_space_platform_built_entity", 173),
    ("on_space_platform_built_tile", 174),
    ("on_space_platform_changed_state", 175),
    ("on_space_platform_mined_entity", 176),
    ("on_space_platform_mined_item", 177),
    ("on_space_platform_mined_tile", 178),
    ("on_space_platform_pre_mined", 179),
    ("on_spider_command_completed", 180),
    ("on_string_translated", 181),
    ("on_surface_cleared", 182),
    ("on_surface_created", 183),
    ("on_surface_deleted", 184),
    ("on_surface_imported", 185),
    ("on_surface_renamed", 186),
    ("on_technology_effects_reset", 187),
    ("on_train_changed_state", 188),
    ("on_train_created", 189),
    ("on_train_schedule_changed", 190),
    ("on_trigger_created_entity", 191),
    ("on_trigger_fired_artillery", 192),
    ("on_undo_applied", 193),
    ("on_unit_added_to_group", 194),
    ("on_unit_group_created", 195),
    ("on_unit_group_finished_gathering", 196),
    ("on_unit_removed_from_group", 197),
    ("on_worker_robot_expired", 198),
    ("script_raised_built", 199),
    ("script_raised_destroy", 200),
    ("script_raised_revive", 201),
    ("script_raised_set_tiles", 202),
    ("script_raised_teleported", 203),
];

/// Ids from `script.generate_event_name` start here.
pub(crate) const FIRST_CUSTOM_EVENT: u32 = 1000;

pub(crate) fn event_id(name: &str) -> u32 {
    EVENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| *id)
        .expect("event names used by the emulator are listed in EVENTS")
}

pub(crate) fn event_name(id: u32) -> Option<&'static str> {
    EVENTS.iter().find(|(_, i)| *i == id).map(|(n, _)| *n)
}

/// `defines.disconnect_reason`.
pub(crate) const DISCONNECT_REASONS: &[(&str, u32)] = &[
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

pub(crate) fn create(lua: &Lua) -> mlua::Result<Table> {
    let d = lua.create_table()?;
    d.raw_set("events", table_of(lua, EVENTS)?)?;
    d.raw_set(
        "inventory",
        table_of(
            lua,
            &[
                ("character_main", 1),
                ("god_main", 2),
                ("editor_main", 1),
                ("character_guns", 3),
                ("character_ammo", 4),
                ("character_armor", 5),
                ("character_trash", 8),
                ("item_main", 1),
            ],
        )?,
    )?;
    let controllers: Vec<(&str, u32)> = Controller::ALL.iter().map(|(_, n, v)| (*n, *v)).collect();
    d.raw_set("controllers", table_of(lua, &controllers)?)?;
    d.raw_set("disconnect_reason", table_of(lua, DISCONNECT_REASONS)?)?;
    d.raw_set(
        "logistic_mode",
        table_of(lua, super::logistics::LOGISTIC_MODES)?,
    )?;
    d.raw_set(
        "logistic_section_type",
        table_of(lua, super::logistics::SECTION_TYPES)?,
    )?;
    d.raw_set(
        "mouse_button_type",
        table_of(
            lua,
            &[("none", 1), ("left", 2), ("right", 4), ("middle", 8)],
        )?,
    )?;
    Ok(d)
}
