//! `LuaEntity` for characters (the only entity the emulator models).

use mlua::{Lua, MultiValue, UserData, UserDataMethods, Value};

use super::handle::{Handle, add_handle_metamethods, gone};
use super::inventory::{InvRef, control_method};
use super::player::PlayerRef;
use super::refs::InvId;
use super::{as_number, as_uint, first, invalid, key_str, method, no_key, one, position_table};
use crate::context::shared;
use crate::inventory::InventoryKind;
use crate::items::Prototypes;
use crate::sandbox::rt;
use crate::world::{Bonuses, Controller, World};

/// Ticks a player whose character died waits before respawning (the game's default respawn
/// time of a character, 10 s).
pub(crate) const RESPAWN_TICKS: u32 = 600;

/// `LuaEntity` handle of a character, by unit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntityRef(pub u32);

/// The character's inventories in the order `LuaControl.insert` fills them.
pub(crate) fn character_invs(unit: u32) -> Vec<InvId> {
    InventoryKind::CHARACTER
        .into_iter()
        .map(|kind| InvId::Character { unit, kind })
        .collect()
}

/// Read a bonus field of a character.
pub(crate) fn get_bonus(w: &World, unit: u32, name: &str) -> Option<f64> {
    w.characters.get(&unit).and_then(|c| c.bonuses.get(name))
}

/// Write a bonus field of a character (validating whole numbers where the game wants them).
pub(crate) fn set_bonus(
    w: &mut World,
    protos: &Prototypes,
    unit: u32,
    name: &str,
    v: &Value,
) -> mlua::Result<()> {
    let n = if Bonuses::is_integer(name) {
        f64::from(as_uint(v, name)?)
    } else {
        as_number(v, name)?
    };
    let c = w
        .characters
        .get_mut(&unit)
        .ok_or_else(|| invalid("LuaEntity"))?;
    c.bonuses.set(name, n);
    w.refresh_character(protos, unit);
    Ok(())
}

impl Handle for EntityRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let unit = self.0;
        let k = key_str("LuaEntity", &key)?;
        let sh = shared(lua);
        let (player, position, health) = {
            let w = sh.world.borrow();
            let Some(c) = w.characters.get(&unit) else {
                return gone("LuaEntity", &k);
            };
            if let Some(b) = c.bonuses.get(&k) {
                return Ok(Value::Number(b));
            }
            (c.player, c.position, c.health)
        };
        if let Some(m) = control_method(lua, &k, character_invs(unit))? {
            return Ok(m);
        }
        if super::control::handles(&k) {
            return super::control::get(lua, unit, &k);
        }
        Ok(match k.as_str() {
            "valid" => Value::Boolean(true),
            "object_name" => Value::String(lua.create_string("LuaEntity")?),
            "name" | "type" => Value::String(lua.create_string("character")?),
            "unit_number" => Value::Number(f64::from(unit)),
            "player" | "associated_player" => match player {
                Some(p) => Value::UserData(lua.create_userdata(PlayerRef(p))?),
                None => Value::Nil,
            },
            "position" => position_table(lua, position)?,
            "surface" => Value::UserData(lua.create_userdata(super::player::SurfaceRef(1))?),
            "health" => Value::Number(health),
            "get_requester_point" => super::logistics::get_requester_point(lua, Some(unit))?,
            "get_inventory" => method(lua, move |lua, a| {
                let n = as_uint(&first(&a), "get_inventory index")?;
                let kind = InventoryKind::character_from_define(n);
                one(
                    lua,
                    kind.map(|kind| InvRef(InvId::Character { unit, kind })),
                )
            })?,
            "get_main_inventory" => method(lua, move |lua, _| {
                one(
                    lua,
                    InvRef(InvId::Character {
                        unit,
                        kind: InventoryKind::CharacterMain,
                    }),
                )
            })?,
            "die" => method(lua, move |lua, _| {
                shared(lua)
                    .world
                    .borrow_mut()
                    .kill_character(unit, RESPAWN_TICKS);
                one(lua, true)
            })?,
            "destroy" => method(lua, move |lua, _| {
                let sh = shared(lua);
                let mut w = sh.world.borrow_mut();
                let removed = w.characters.remove(&unit);
                if let Some(p) = removed.as_ref().and_then(|c| c.player)
                    && let Some(pl) = w.player_mut(p)
                {
                    pl.character = None;
                    pl.controller = Controller::Ghost;
                }
                Ok(MultiValue::from_iter([Value::Boolean(removed.is_some())]))
            })?,
            _ => return Err(no_key("LuaEntity", &key)),
        })
    }

    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let k = key_str("LuaEntity", &key)?;
        let sh = shared(lua);
        let mut w = sh.world.borrow_mut();
        if !w.characters.contains_key(&self.0) {
            return Err(invalid("LuaEntity"));
        }
        if Bonuses::NAMES.contains(&k.as_str()) {
            return set_bonus(&mut w, &sh.statics.protos, self.0, &k, &v);
        }
        drop(w);
        if let Some(r) = super::control::set(lua, self.0, &k, &v) {
            return r;
        }
        let mut w = sh.world.borrow_mut();
        match k.as_str() {
            "health" => {
                let h = as_number(&v, "LuaEntity.health")?;
                if h < 0.0 {
                    return Err(rt("LuaEntity.health: must not be negative"));
                }
                if let Some(c) = w.characters.get_mut(&self.0) {
                    c.health = h;
                }
                Ok(())
            }
            _ => Err(no_key("LuaEntity", &key)),
        }
    }

    fn describe(&self) -> String {
        format!("LuaEntity: character {}", self.0)
    }
}

impl UserData for EntityRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}
