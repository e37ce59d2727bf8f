//! `game` (LuaGameScript) and `game.players`.

use mlua::{Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value};

use super::inventory::InvRef;
use super::player::{PlayerRef, print_to};
use super::refs::InvId;
use super::{as_uint, first, key_str, method, no_key, one};
use crate::context::shared;
use crate::inventory::{Inventory, InventoryKind};
use crate::sandbox::rt;

/// The `game` object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GameRef;

/// `game.players` (a LuaCustomTable indexed by player index or name; `game.connected_players`
/// is a plain array instead).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlayersTable;

/// Resolve a player by index or name.
pub(crate) fn find_player(lua: &Lua, key: &Value) -> mlua::Result<Option<u32>> {
    let sh = shared(lua);
    let w = sh.world.borrow();
    Ok(match key {
        Value::Integer(i) => w.player(*i as u32).map(|p| p.index),
        Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 => w.player(*n as u32).map(|p| p.index),
        Value::Number(_) => None,
        Value::String(s) => w.player_by_name(&s.to_string_lossy()).map(|p| p.index),
        other => {
            return Err(rt(format!(
                "expected a player index or name, got {}",
                other.type_name()
            )));
        }
    })
}

impl UserData for PlayersTable {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, _, key: Value| {
            Ok(match find_player(lua, &key)? {
                Some(i) => Value::UserData(lua.create_userdata(PlayerRef(i))?),
                None => Value::Nil,
            })
        });
        m.add_meta_method(MetaMethod::Len, |lua, _, ()| {
            Ok(shared(lua).world.borrow().players.len() as f64)
        });
        // Lua 5.2 honours __pairs: iterate in index order.
        m.add_meta_method(MetaMethod::Pairs, |lua, _, ()| {
            let next = lua.create_function(|lua, (_t, k): (Value, Value)| {
                let i = match k {
                    Value::Nil => 1,
                    Value::Integer(i) => i as u32 + 1,
                    Value::Number(n) => n as u32 + 1,
                    _ => return Ok(MultiValue::new()),
                };
                if shared(lua).world.borrow().player(i).is_none() {
                    return Ok(MultiValue::from_iter([Value::Nil]));
                }
                Ok(MultiValue::from_iter([
                    Value::Number(f64::from(i)),
                    Value::UserData(lua.create_userdata(PlayerRef(i))?),
                ]))
            })?;
            Ok((next, Value::Nil, Value::Nil))
        });
    }
}

impl UserData for GameRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, _, key: Value| {
            let k = key_str("LuaGameScript", &key)?;
            let sh = shared(lua);
            Ok(match k.as_str() {
                "tick" | "ticks_played" => Value::Number(sh.world.borrow().tick as f64),
                "tick_paused" => Value::Boolean(false),
                "speed" => Value::Number(1.0),
                "object_name" => Value::String(lua.create_string("LuaGameScript")?),
                "player" => Value::Nil,
                "players" => Value::UserData(lua.create_userdata(PlayersTable)?),
                "connected_players" => {
                    let t = lua.create_table()?;
                    let w = sh.world.borrow();
                    for (i, p) in w.players.iter().filter(|p| p.connected).enumerate() {
                        t.raw_set(i + 1, PlayerRef(p.index))?;
                    }
                    Value::Table(t)
                }
                "get_player" => method(lua, |lua, a| {
                    let key = a.iter().next().cloned().unwrap_or(Value::Nil);
                    Ok(MultiValue::from_iter([match find_player(lua, &key)? {
                        Some(i) => Value::UserData(lua.create_userdata(PlayerRef(i))?),
                        None => Value::Nil,
                    }]))
                })?,
                "kick_player" => method(lua, |lua, a| {
                    kick_player(lua, &first(&a))?;
                    Ok(MultiValue::new())
                })?,
                "is_multiplayer" => method(lua, |_, _| {
                    Ok(MultiValue::from_iter([Value::Boolean(true)]))
                })?,
                // replays are not modelled: disabling them changes nothing the emulator keeps
                "disable_replay" => method(lua, |_, _| Ok(MultiValue::new()))?,
                "print" => method(lua, |lua, a| {
                    let msg = a.iter().next().cloned().unwrap_or(Value::Nil);
                    let players: Vec<u32> = shared(lua)
                        .world
                        .borrow()
                        .players
                        .iter()
                        .filter(|p| p.connected)
                        .map(|p| p.index)
                        .collect();
                    for p in players {
                        print_to(lua, p, &msg)?;
                    }
                    Ok(MultiValue::new())
                })?,
                "create_inventory" => method(lua, |lua, a| {
                    let inv = create_inventory(lua, &first(&a))?;
                    one(lua, inv)
                })?,
                _ => return Err(no_key("LuaGameScript", &key)),
            })
        });
        m.add_meta_method(
            MetaMethod::NewIndex,
            |_, _, (key, _v): (Value, Value)| -> mlua::Result<()> {
                Err(no_key("LuaGameScript", &key))
            },
        );
    }
}

/// `LuaGameScript::kick_player(player, reason?)`: the player leaves once this tick's commands
/// have run (`on_pre_player_left_game` with reason kicked).
fn kick_player(lua: &Lua, player: &Value) -> mlua::Result<()> {
    // PlayerIdentification: an index, a name or a LuaPlayer
    let found = match player {
        Value::UserData(ud) => match ud.borrow::<PlayerRef>() {
            Ok(p) => Some(p.0),
            Err(_) => return Err(rt("kick_player: expected a LuaPlayer")),
        },
        other => find_player(lua, other)?,
    };
    let sh = shared(lua);
    let name = {
        let w = sh.world.borrow();
        let p = found
            .and_then(|i| w.player(i))
            .ok_or_else(|| rt("kick_player: no such player"))?;
        if !p.connected {
            return Err(rt(format!("kick_player: {} is not connected", p.name)));
        }
        p.name.clone()
    };
    let mut kicks = sh.kicks.borrow_mut();
    if !kicks.contains(&name) {
        kicks.push(name);
    }
    Ok(())
}

/// `LuaGameScript::create_inventory(size)`: a script inventory of `size` slots.
fn create_inventory(lua: &Lua, size: &Value) -> mlua::Result<InvRef> {
    let size = as_uint(size, "game.create_inventory size")?;
    if size > 65535 {
        return Err(rt(format!(
            "game.create_inventory: size {size} is over 65535"
        )));
    }
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let id = w.next_script_inventory;
    w.next_script_inventory += 1;
    w.script_inventories
        .insert(id, Inventory::new(InventoryKind::Script, size as usize));
    Ok(InvRef(InvId::Script { id }))
}
