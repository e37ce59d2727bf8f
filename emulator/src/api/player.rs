//! `LuaPlayer`, `LuaGui` and a minimal `LuaSurface`.

use mlua::{Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};

use super::entity::{EntityRef, character_invs, get_bonus, set_bonus};
use super::gui::GuiRef;
use super::handle::{Handle, add_eq, add_handle_metamethods, gone};
use super::inventory::{InvRef, control_method};
use super::item_stack::StackRef;
use super::refs::{InvId, StackId};
use super::{
    Members, as_bool, as_number, as_string, as_uint, find_member, first, invalid, key_str, method,
    no_key, one, position_table,
};
use crate::context::shared;
use crate::inventory::InventoryKind;
use crate::sandbox::{rt, to_display};
use crate::world::{
    Bonuses, Color, Controller, GUI_ROOTS, Player, Position, QUICK_BAR_SLOTS, World,
};

/// `LuaPlayer` handle, by player index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlayerRef(pub u32);

/// `LuaGui` handle of a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuiHolder(pub u32);

/// `LuaSurface` handle (only `nauvis`, index 1, exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SurfaceRef(pub u32);

fn color_table(lua: &Lua, c: Color) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("r", c.r)?;
    t.raw_set("g", c.g)?;
    t.raw_set("b", c.b)?;
    t.raw_set("a", c.a)?;
    Ok(Value::Table(t))
}

fn parse_color(v: &Value) -> mlua::Result<Color> {
    let Value::Table(t) = v else {
        return Err(rt(
            "color: expected a table {r=, g=, b=, a=} or {r, g, b, a}",
        ));
    };
    let get = |named: &str, pos: usize, default: f64| -> mlua::Result<f64> {
        let v: Value = t.raw_get(named)?;
        let v = if v.is_nil() { t.raw_get(pos)? } else { v };
        if v.is_nil() {
            Ok(default)
        } else {
            as_number(&v, &format!("color.{named}"))
        }
    };
    let (r, g, b, a) = (
        get("r", 1, 0.0)?,
        get("g", 2, 0.0)?,
        get("b", 3, 0.0)?,
        get("a", 4, 1.0)?,
    );
    // Like the game: components above 1 are on the 0-255 scale.
    let scale = if r > 1.0 || g > 1.0 || b > 1.0 || a > 1.0 {
        255.0
    } else {
        1.0
    };
    Ok(Color {
        r: r / scale,
        g: g / scale,
        b: b / scale,
        a: a / scale,
    })
}

/// Send a message to one player's console.
pub(crate) fn print_to(lua: &Lua, player: u32, msg: &Value) -> mlua::Result<()> {
    let text = to_display(lua, msg)?;
    shared(lua)
        .out
        .borrow_mut()
        .player_messages
        .push((player, text));
    Ok(())
}

fn no_character(key: &str) -> mlua::Error {
    rt(format!(
        "LuaPlayer::{key}: the player doesn't have a character."
    ))
}

/// The player's character as the API shows it: none while the player is disconnected (the
/// character stays in the world).
fn live_character(p: &Player) -> Option<u32> {
    p.character.filter(|_| p.connected)
}

/// Inventories `LuaControl.insert` uses for a player.
fn player_invs(w: &World, index: u32) -> Vec<InvId> {
    match w.player(index) {
        Some(p) => match (p.controller, live_character(p)) {
            (Controller::Character, Some(unit)) => character_invs(unit),
            (Controller::God, _) => vec![InvId::God { player: index }],
            (Controller::Editor, _) => vec![InvId::Editor { player: index }],
            _ => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// A quick bar slot index, 1..=100 (the game raises outside).
fn quick_bar_index(v: &Value) -> mlua::Result<u32> {
    super::index_in(v, "the quick bar", QUICK_BAR_SLOTS)
}

/// Respawns player `index` now if it is waiting to respawn: a new character, controlled.
/// Returns whether it respawned.
pub(crate) fn respawn(w: &mut World, index: u32) -> bool {
    let waiting = w.player_mut(index).and_then(|p| p.ticks_to_respawn.take());
    if waiting.is_none() {
        return false;
    }
    w.create_character_for(index);
    true
}

fn set_controller(lua: &Lua, index: u32, spec: Table) -> mlua::Result<()> {
    let kind = as_uint(&spec.raw_get::<Value>("type")?, "set_controller type")?;
    let controller = Controller::from_define(kind)
        .ok_or_else(|| rt(format!("set_controller: unknown controller type {kind}")))?;
    let character = match spec.raw_get::<Value>("character")? {
        Value::Nil => None,
        Value::UserData(ud) => Some(
            ud.borrow::<EntityRef>()
                .map_err(|_| rt("set_controller: 'character' must be a character LuaEntity"))?
                .0,
        ),
        other => {
            return Err(rt(format!(
                "set_controller: 'character' must be a LuaEntity, got {}",
                other.type_name()
            )));
        }
    };
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    match controller {
        Controller::Spectator | Controller::God | Controller::Ghost => {
            w.detach_character(index);
            if let Some(p) = w.player_mut(index) {
                p.controller = controller;
            }
            Ok(())
        }
        Controller::Character => {
            let unit = character.ok_or_else(|| {
                rt("set_controller: 'character' must be given for defines.controllers.character")
            })?;
            let owner = w
                .characters
                .get(&unit)
                .ok_or_else(|| invalid("LuaEntity"))?
                .player;
            if owner.is_some_and(|o| o != index) {
                return Err(rt(
                    "set_controller: the character is controlled by another player",
                ));
            }
            w.detach_character(index);
            if let Some(c) = w.characters.get_mut(&unit) {
                c.player = Some(index);
            }
            if let Some(p) = w.player_mut(index) {
                p.character = Some(unit);
                p.controller = Controller::Character;
            }
            Ok(())
        }
        Controller::Editor => {
            // the game stashes the character (it stays in the world; `character` is nil
            // meanwhile), gives the editor its own inventory, and makes the player an admin
            // with cheat mode on (runtime-api 2.0.73, `set_controller`)
            w.detach_character(index);
            let p = w.player_mut(index).ok_or_else(|| invalid("LuaPlayer"))?;
            p.controller = Controller::Editor;
            p.admin = true;
            p.cheat_mode = true;
            Ok(())
        }
        Controller::Remote => {
            // the remote view (the map, a platform): the character stays the player's physical
            // body, reachable as `character`, but the player holds no inventory of its own
            let p = w.player_mut(index).ok_or_else(|| invalid("LuaPlayer"))?;
            if !matches!(p.controller, Controller::Character | Controller::Remote) {
                return Err(rt(
                    "set_controller: the emulator models the remote view from a character only",
                ));
            }
            p.controller = Controller::Remote;
            Ok(())
        }
        other => Err(rt(format!(
            "set_controller: the emulator does not model the {other:?} controller"
        ))),
    }
}

/// The attributes of player `index` (`p`, read at the access).
fn player_field(lua: &Lua, index: u32, p: &Player, key: &str) -> mlua::Result<Option<Value>> {
    let s = |v: &str| lua.create_string(v).map(Value::String);
    let surface = || lua.create_userdata(SurfaceRef(1)).map(Value::UserData);
    Ok(Some(match key {
        "valid" => Value::Boolean(true),
        "object_name" => s("LuaPlayer")?,
        "index" => Value::Number(f64::from(index)),
        "name" => s(&p.name)?,
        "connected" => Value::Boolean(p.connected),
        "admin" => Value::Boolean(p.admin),
        "tag" => s(&p.tag)?,
        "force" => Value::UserData(lua.create_userdata(ForceRef)?),
        "cheat_mode" => Value::Boolean(p.cheat_mode),
        "opened" => {
            let open = p
                .opened
                .filter(|g| shared(lua).world.borrow().gui.contains_key(g));
            match open {
                Some(g) => Value::UserData(lua.create_userdata(GuiRef(g))?),
                None => Value::Nil,
            }
        }
        "controller_type" => Value::Number(f64::from(p.controller.define())),
        // in the remote view the physical body is the character; the place is the player's
        "physical_controller_type" => Value::Number(f64::from(
            match p.controller {
                Controller::Remote => Controller::Character,
                c => c,
            }
            .define(),
        )),
        "physical_position" => position_table(lua, p.position)?,
        "physical_surface" => surface()?,
        "physical_surface_index" => Value::Number(1.0),
        "ticks_to_respawn" => p
            .ticks_to_respawn
            .map_or(Value::Nil, |t| Value::Number(f64::from(t))),
        "get_requester_point" => super::logistics::get_requester_point(lua, live_character(p))?,
        "character" => match live_character(p) {
            Some(u) => Value::UserData(lua.create_userdata(EntityRef(u))?),
            None => Value::Nil,
        },
        "position" => position_table(lua, p.position)?,
        "surface" => surface()?,
        "surface_index" => Value::Number(1.0),
        "color" => color_table(lua, p.color)?,
        "chat_color" => color_table(lua, p.chat_color)?,
        "online_time" => Value::Number(p.online_ticks as f64),
        "last_online" => Value::Number(p.last_online as f64),
        "gui" => Value::UserData(lua.create_userdata(GuiHolder(index))?),
        "cursor_stack" => match p.controller {
            Controller::Spectator | Controller::Ghost => Value::Nil,
            _ => Value::UserData(lua.create_userdata(StackRef(StackId::Cursor { player: index }))?),
        },
        _ => return Ok(None),
    }))
}

/// The `LuaPlayer` methods beyond `LuaControl`'s, by group (the groups' names are disjoint).
const PLAYER_METHODS: [Members<u32>; 2] = [player_item_method, player_body_method];

/// The methods of what the player holds: inventories, cursor and quick bar.
fn player_item_method(lua: &Lua, index: u32, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "get_inventory" => method(lua, move |lua, a| {
            let n = as_uint(&first(&a), "get_inventory index")?;
            let sh = shared(lua);
            let w = sh.world.borrow();
            let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
            let id = match (n, p.controller, live_character(p)) {
                (2, Controller::God, _) => Some(InvId::God { player: index }),
                (n, Controller::Editor, _) if n == InventoryKind::EditorMain.define() => {
                    Some(InvId::Editor { player: index })
                }
                (n, _, Some(unit)) => InventoryKind::character_from_define(n)
                    .map(|kind| InvId::Character { unit, kind }),
                _ => None,
            };
            drop(w);
            one(lua, id.map(InvRef))
        })?,
        "get_main_inventory" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let w = sh.world.borrow();
            let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
            let id = match (p.controller, live_character(p)) {
                (Controller::God, _) => Some(InvId::God { player: index }),
                (Controller::Editor, _) => Some(InvId::Editor { player: index }),
                (Controller::Character, Some(unit)) => Some(InvId::Character {
                    unit,
                    kind: InventoryKind::CharacterMain,
                }),
                _ => None,
            };
            drop(w);
            one(lua, id.map(InvRef))
        })?,
        "clear_cursor" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let mut w = sh.world.borrow_mut();
            let p = w.player_mut(index).ok_or_else(|| invalid("LuaPlayer"))?;
            p.cursor = None;
            one(lua, true)
        })?,
        "is_cursor_empty" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let w = sh.world.borrow();
            let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
            one(lua, p.cursor.is_none())
        })?,
        "get_quick_bar_slot" => method(lua, move |lua, a| {
            let i = quick_bar_index(&first(&a))?;
            let sh = shared(lua);
            let w = sh.world.borrow();
            let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
            match p.quick_bar.get(&i) {
                Some((name, quality)) => {
                    let t = lua.create_table()?;
                    t.raw_set("name", name.as_str())?;
                    t.raw_set("quality", quality.as_str())?;
                    one(lua, t)
                }
                None => one(lua, Value::Nil),
            }
        })?,
        "set_quick_bar_slot" => method(lua, move |lua, a| {
            set_quick_bar_slot(lua, index, a)?;
            Ok(MultiValue::new())
        })?,
        _ => return Ok(None),
    }))
}

/// `LuaPlayer::set_quick_bar_slot(index, filter)`: an item, a `LuaItemStack` (its item) or nil.
fn set_quick_bar_slot(lua: &Lua, index: u32, args: MultiValue) -> mlua::Result<()> {
    let mut args = args.iter();
    let i = quick_bar_index(args.next().unwrap_or(&Value::Nil))?;
    let filter = match args.next().cloned().unwrap_or(Value::Nil) {
        Value::Nil => None,
        Value::UserData(ud) => {
            let st = ud.borrow::<StackRef>().map_err(|_| {
                rt("set_quick_bar_slot: filter must be an item, a LuaItemStack or nil")
            })?;
            let sh = shared(lua);
            let w = sh.world.borrow();
            st.0.get(&w)
                .and_then(Option::as_ref)
                .map(|s| (s.name.clone(), s.quality.clone()))
        }
        v => {
            let spec = super::inventory::parse_spec(lua, &v)?;
            Some((spec.name, spec.quality))
        }
    };
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let p = w.player_mut(index).ok_or_else(|| invalid("LuaPlayer"))?;
    match filter {
        Some(f) => p.quick_bar.insert(i, f),
        None => p.quick_bar.remove(&i),
    };
    Ok(())
}

/// The methods of the player's controller, body and console: `set_controller`,
/// `create_character`, `teleport`, `print`.
fn player_body_method(lua: &Lua, index: u32, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "print" => method(lua, move |lua, a| {
            print_to(lua, index, &first(&a))?;
            Ok(MultiValue::new())
        })?,
        "set_controller" => method(lua, move |lua, a| {
            let Some(Value::Table(spec)) = a.iter().next().cloned() else {
                return Err(rt(
                    "set_controller: expected a table {type=defines.controllers..., character=?}",
                ));
            };
            set_controller(lua, index, spec)?;
            Ok(MultiValue::new())
        })?,
        "create_character" => method(lua, move |lua, a| {
            one(lua, create_character(lua, index, a.iter().next())?)
        })?,
        "teleport" => method(lua, move |lua, a| {
            let Some(Value::Table(t)) = a.iter().next().cloned() else {
                return Err(rt("teleport: expected a position {x=, y=}"));
            };
            teleport(lua, index, &t)?;
            one(lua, true)
        })?,
        _ => return Ok(None),
    }))
}

/// `LuaPlayer::create_character(prototype?)`: whether a character was created.
fn create_character(lua: &Lua, index: u32, prototype: Option<&Value>) -> mlua::Result<bool> {
    if let Some(v) = prototype
        && !v.is_nil()
        && as_string(v, "create_character")? != "character"
    {
        return Err(rt(
            "create_character: the emulator only has the 'character' prototype",
        ));
    }
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
    // The game: the player must be online and without a character. The emulator is as strict
    // as Clusterio assumes: only from the god (or ghost) controller, never while dead (waiting
    // to respawn).
    if !p.connected
        || p.character.is_some()
        || !matches!(p.controller, Controller::God | Controller::Ghost)
        || p.ticks_to_respawn.is_some()
    {
        return Ok(false);
    }
    w.create_character_for(index);
    Ok(true)
}

/// `LuaPlayer::teleport(position)`: the player and their character move there.
fn teleport(lua: &Lua, index: u32, t: &Table) -> mlua::Result<()> {
    let x: Value = t.raw_get("x")?;
    let x = if x.is_nil() { t.raw_get(1)? } else { x };
    let y: Value = t.raw_get("y")?;
    let y = if y.is_nil() { t.raw_get(2)? } else { y };
    let pos = Position {
        x: as_number(&x, "position.x")?,
        y: as_number(&y, "position.y")?,
    };
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let p = w.player_mut(index).ok_or_else(|| invalid("LuaPlayer"))?;
    p.position = pos;
    if let Some(unit) = p.character
        && let Some(c) = w.characters.get_mut(&unit)
    {
        c.position = pos;
    }
    Ok(())
}

impl Handle for PlayerRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let index = self.0;
        let k = key_str("LuaPlayer", &key)?;
        let sh = shared(lua);
        let p = {
            let w = sh.world.borrow();
            match w.player(index) {
                Some(p) => p.clone(),
                None => return gone("LuaPlayer", &k),
            }
        };
        if Bonuses::NAMES.contains(&k.as_str()) {
            let unit = live_character(&p).ok_or_else(|| no_character(&k))?;
            return Ok(get_bonus(&sh.world.borrow(), unit, &k)
                .map(Value::Number)
                .unwrap_or(Value::Nil));
        }
        let invs = player_invs(&sh.world.borrow(), index);
        if let Some(m) = control_method(lua, &k, invs)? {
            return Ok(m);
        }
        if super::control::handles(&k) {
            let unit = live_character(&p).ok_or_else(|| no_character(&k))?;
            return super::control::get(lua, unit, &k);
        }
        if let Some(v) = player_field(lua, index, &p, &k)? {
            return Ok(v);
        }
        find_member(&PLAYER_METHODS, lua, index, &k)?.ok_or_else(|| no_key("LuaPlayer", &key))
    }
    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let index = self.0;
        let k = key_str("LuaPlayer", &key)?;
        if k == "character" {
            return match &v {
                Value::Nil => {
                    let sh = shared(lua);
                    let mut w = sh.world.borrow_mut();
                    w.detach_character(index);
                    if let Some(p) = w.player_mut(index) {
                        p.controller = Controller::Ghost;
                    }
                    Ok(())
                }
                other => {
                    let spec = lua.create_table()?;
                    spec.raw_set("type", Controller::Character.define())?;
                    spec.raw_set("character", other.clone())?;
                    set_controller(lua, index, spec)
                }
            };
        }
        let sh = shared(lua);
        if super::control::handles(&k) {
            let unit = {
                let w = sh.world.borrow();
                let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
                live_character(p).ok_or_else(|| no_character(&k))?
            };
            if let Some(r) = super::control::set(lua, unit, &k, &v) {
                return r;
            }
        }
        let mut w = sh.world.borrow_mut();
        let p = w.player(index).ok_or_else(|| invalid("LuaPlayer"))?;
        if Bonuses::NAMES.contains(&k.as_str()) {
            let unit = live_character(p).ok_or_else(|| no_character(&k))?;
            return set_bonus(&mut w, &sh.statics.protos, unit, &k, &v);
        }
        if k == "ticks_to_respawn" {
            match &v {
                Value::Nil => {
                    respawn(&mut w, index);
                }
                other => {
                    let n = as_uint(other, "LuaPlayer.ticks_to_respawn")?;
                    match w.player(index).and_then(|p| p.character) {
                        Some(unit) => {
                            w.kill_character(unit, n);
                        }
                        None => {
                            let p = w.player_mut(index).expect("checked above");
                            p.ticks_to_respawn = Some(n);
                            p.controller = Controller::Ghost;
                        }
                    }
                }
            }
            return Ok(());
        }
        let p = w.player_mut(index).expect("checked above");
        match k.as_str() {
            "color" => p.color = parse_color(&v)?,
            "chat_color" => p.chat_color = parse_color(&v)?,
            "admin" => p.admin = as_bool(&v, "LuaPlayer.admin")?,
            "tag" => p.tag = as_string(&v, "LuaPlayer.tag")?,
            "cheat_mode" => p.cheat_mode = as_bool(&v, "LuaPlayer.cheat_mode")?,
            "force" => {
                let name = match &v {
                    Value::UserData(ud) if ud.is::<ForceRef>() => FORCE.to_string(),
                    other => as_string(other, "LuaPlayer.force")?,
                };
                if name != FORCE {
                    return Err(rt(format!(
                        "LuaPlayer.force: unknown force {name} (the emulator has only '{FORCE}')"
                    )));
                }
            }
            "opened" => {
                p.opened = match &v {
                    Value::Nil => None,
                    Value::UserData(ud) if ud.is::<GuiRef>() => Some(ud.borrow::<GuiRef>()?.0),
                    other => {
                        return Err(rt(format!(
                            "LuaPlayer.opened: the emulator models only GUI elements, got {}",
                            other.type_name()
                        )));
                    }
                }
            }
            _ => return Err(no_key("LuaPlayer", &key)),
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("LuaPlayer: {}", self.0)
    }
}

impl UserData for PlayerRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}

impl UserData for GuiHolder {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            let k = key_str("LuaGui", &key)?;
            let sh = shared(lua);
            let w = sh.world.borrow();
            let Some(p) = w.player(this.0) else {
                return gone("LuaGui", &k);
            };
            if GUI_ROOTS.contains(&k.as_str()) {
                let id = p
                    .gui_roots
                    .get(&k)
                    .copied()
                    .ok_or_else(|| invalid("LuaGui"))?;
                return Ok(Value::UserData(lua.create_userdata(GuiRef(id))?));
            }
            Ok(match k.as_str() {
                "valid" => Value::Boolean(true),
                "object_name" => Value::String(lua.create_string("LuaGui")?),
                "player" => Value::UserData(lua.create_userdata(PlayerRef(this.0))?),
                _ => return Err(no_key("LuaGui", &key)),
            })
        });
        add_eq(m);
    }
}

/// The one force the emulator has (the game's default force of players).
pub(crate) const FORCE: &str = "player";

/// `LuaForce` handle of the force `player` (forces, research and technologies are not
/// modelled: `name`, `index`, `valid`, `object_name`, and `technologies`, empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForceRef;

impl UserData for ForceRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, _, key: Value| {
            let k = key_str("LuaForce", &key)?;
            Ok(match k.as_str() {
                "valid" => Value::Boolean(true),
                "object_name" => Value::String(lua.create_string("LuaForce")?),
                "name" => Value::String(lua.create_string(FORCE)?),
                "index" => Value::Number(1.0),
                // research is not modelled: no technology is listed
                "technologies" => Value::Table(lua.create_table()?),
                "character_logistic_requests" => {
                    Value::Boolean(shared(lua).world.borrow().character_logistic_requests)
                }
                _ => return Err(no_key("LuaForce", &key)),
            })
        });
        m.add_meta_method(
            MetaMethod::NewIndex,
            |lua, _, (key, v): (Value, Value)| match key_str("LuaForce", &key)?.as_str() {
                "character_logistic_requests" => {
                    let on = as_bool(&v, "LuaForce.character_logistic_requests")?;
                    shared(lua).world.borrow_mut().character_logistic_requests = on;
                    Ok(())
                }
                _ => Err(no_key("LuaForce", &key)),
            },
        );
        add_eq(m);
    }
}

impl UserData for SurfaceRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            let k = key_str("LuaSurface", &key)?;
            Ok(match k.as_str() {
                "valid" => Value::Boolean(true),
                "object_name" => Value::String(lua.create_string("LuaSurface")?),
                "name" => Value::String(lua.create_string("nauvis")?),
                "index" => Value::Number(f64::from(this.0)),
                _ => return Err(no_key("LuaSurface", &key)),
            })
        });
        add_eq(m);
    }
}
