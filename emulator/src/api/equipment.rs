//! `LuaEquipmentGrid` and `LuaEquipment`: the grid of an armor item stack and its equipment.
//!
//! Modelled after the runtime API description (2.0.45): the grid's `width`, `height`,
//! `equipment`, `put{name, position?, quality?}` (nil when it does not fit), `take{position}`,
//! `get(position)`, `clear()`; equipment `name`, `quality`, `position`, `energy` and `shield`
//! (read-write, at most the maximum), `max_energy`, `max_shield`, `shape`.

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};

use super::handle::{Handle, add_handle_metamethods, gone};
use super::helpers::QualityProtoRef;
use super::refs::StackId;
use super::{as_number, as_string, as_uint, first, invalid, key_str, method, no_key, one};
use crate::context::shared;
use crate::inventory::{Equipment, Grid};
use crate::items::Prototypes;
use crate::sandbox::rt;
use crate::world::World;

/// `LuaEquipmentGrid` handle: the grid of the item in a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GridRef(pub StackId);

/// `LuaEquipment` handle: the equipment whose top-left cell is (x, y) in a stack's grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EquipmentRef {
    pub stack: StackId,
    pub x: u32,
    pub y: u32,
}

fn grid_of(w: &World, id: StackId) -> Option<&Grid> {
    id.get(w)
        .and_then(|s| s.as_ref())
        .and_then(|s| s.grid.as_ref())
}

fn grid_of_mut(w: &mut World, id: StackId) -> Option<&mut Grid> {
    id.get_mut(w)
        .and_then(|s| s.as_mut())
        .and_then(|s| s.grid.as_mut())
}

fn position_of(v: &Value, what: &str) -> mlua::Result<(u32, u32)> {
    let Value::Table(t) = v else {
        return Err(rt(format!(
            "{what}: expected an EquipmentPosition {{x=, y=}}"
        )));
    };
    let x: Value = t.raw_get("x")?;
    let x = if x.is_nil() { t.raw_get(1)? } else { x };
    let y: Value = t.raw_get("y")?;
    let y = if y.is_nil() { t.raw_get(2)? } else { y };
    Ok((as_uint(&x, what)?, as_uint(&y, what)?))
}

fn position_value(lua: &Lua, x: u32, y: u32) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("x", x)?;
    t.raw_set("y", y)?;
    Ok(Value::Table(t))
}

fn equipment_value(lua: &Lua, stack: StackId, e: &Equipment) -> mlua::Result<Value> {
    lua.create_userdata(EquipmentRef {
        stack,
        x: e.x,
        y: e.y,
    })
    .map(Value::UserData)
}

/// `put{name=, position=?, quality=?}`: the placed equipment, or nil when it does not fit.
fn put(lua: &Lua, id: StackId, spec: &Table) -> mlua::Result<MultiValue> {
    let sh = shared(lua);
    let protos: &Prototypes = &sh.statics.protos;
    let name = as_string(&spec.raw_get::<Value>("name")?, "put: 'name'")?;
    let proto = protos
        .equipment(&name)
        .ok_or_else(|| rt(format!("Unknown equipment name: {name}")))?;
    let quality = match spec.raw_get::<Value>("quality")? {
        Value::Nil => "normal".to_string(),
        v => {
            let q = as_string(&v, "put: 'quality'")?;
            if protos.quality(&q).is_none() {
                return Err(rt(format!("Unknown quality name: {q}")));
            }
            q
        }
    };
    let at = match spec.raw_get::<Value>("position")? {
        Value::Nil => None,
        v => Some(position_of(&v, "put: 'position'")?),
    };
    let mut w = sh.world.borrow_mut();
    let grid = grid_of_mut(&mut w, id).ok_or_else(|| invalid("LuaEquipmentGrid"))?;
    let place = match at {
        Some((x, y)) => {
            Some((x, y)).filter(|&(x, y)| grid.fits(protos, x, y, proto.width, proto.height))
        }
        None => grid.free_place(protos, proto.width, proto.height),
    };
    let Some((x, y)) = place else {
        return Ok(MultiValue::from_iter([Value::Nil]));
    };
    let e = Equipment {
        name,
        quality,
        x,
        y,
        energy: 0.0,
        shield: 0.0,
    };
    grid.equipment.push(e.clone());
    drop(w);
    one(lua, equipment_value(lua, id, &e)?)
}

impl Handle for GridRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let id = self.0;
        let k = key_str("LuaEquipmentGrid", &key)?;
        let sh = shared(lua);
        let grid = match grid_of(&sh.world.borrow(), id) {
            Some(g) => g.clone(),
            None => return gone("LuaEquipmentGrid", &k),
        };
        Ok(match k.as_str() {
            "valid" => Value::Boolean(true),
            "object_name" => Value::String(lua.create_string("LuaEquipmentGrid")?),
            "width" => Value::Number(f64::from(grid.width)),
            "height" => Value::Number(f64::from(grid.height)),
            "equipment" => {
                let t = lua.create_table()?;
                for (i, e) in grid.equipment.iter().enumerate() {
                    t.raw_set(i + 1, equipment_value(lua, id, e)?)?;
                }
                Value::Table(t)
            }
            "put" => method(lua, move |lua, a| {
                let Value::Table(spec) = first(&a) else {
                    return Err(rt("put: expected a table {name=, position=?, quality=?}"));
                };
                put(lua, id, &spec)
            })?,
            "get" => method(lua, move |lua, a| {
                let (x, y) = position_of(&first(&a), "get: position")?;
                let sh = shared(lua);
                let w = sh.world.borrow();
                let g = grid_of(&w, id).ok_or_else(|| invalid("LuaEquipmentGrid"))?;
                match g.at(&sh.statics.protos, x, y) {
                    Some(i) => one(lua, equipment_value(lua, id, &g.equipment[i])?),
                    None => one(lua, Value::Nil),
                }
            })?,
            "take" => method(lua, move |lua, a| {
                let Value::Table(spec) = first(&a) else {
                    return Err(rt("take: expected a table {position=}"));
                };
                let (x, y) = position_of(&spec.raw_get::<Value>("position")?, "take: position")?;
                let sh = shared(lua);
                let mut w = sh.world.borrow_mut();
                let g = grid_of_mut(&mut w, id).ok_or_else(|| invalid("LuaEquipmentGrid"))?;
                match g.at(&sh.statics.protos, x, y) {
                    Some(i) => {
                        let e = g.equipment.remove(i);
                        let t = lua.create_table()?;
                        t.raw_set("name", e.name)?;
                        t.raw_set("quality", e.quality)?;
                        t.raw_set("count", 1)?;
                        one(lua, t)
                    }
                    None => one(lua, Value::Nil),
                }
            })?,
            "clear" => method(lua, move |lua, _| {
                let sh = shared(lua);
                let mut w = sh.world.borrow_mut();
                let g = grid_of_mut(&mut w, id).ok_or_else(|| invalid("LuaEquipmentGrid"))?;
                g.equipment.clear();
                Ok(MultiValue::new())
            })?,
            _ => return Err(no_key("LuaEquipmentGrid", &key)),
        })
    }

    fn newindex(&self, _: &Lua, key: Value, _: Value) -> mlua::Result<()> {
        Err(no_key("LuaEquipmentGrid", &key))
    }

    fn describe(&self) -> String {
        "LuaEquipmentGrid".into()
    }
}

impl UserData for GridRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}

impl EquipmentRef {
    /// The equipment, if it is still in its grid at its place.
    fn get(&self, w: &World) -> Option<Equipment> {
        grid_of(w, self.stack)?
            .equipment
            .iter()
            .find(|e| e.x == self.x && e.y == self.y)
            .cloned()
    }
}

impl Handle for EquipmentRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let k = key_str("LuaEquipment", &key)?;
        let sh = shared(lua);
        let Some(e) = self.get(&sh.world.borrow()) else {
            return gone("LuaEquipment", &k);
        };
        let proto = sh
            .statics
            .protos
            .equipment(&e.name)
            .ok_or_else(|| invalid("LuaEquipment"))?;
        Ok(match k.as_str() {
            "valid" => Value::Boolean(true),
            "object_name" => Value::String(lua.create_string("LuaEquipment")?),
            "name" => Value::String(lua.create_string(&e.name)?),
            "quality" => Value::UserData(lua.create_userdata(QualityProtoRef(e.quality))?),
            "position" => position_value(lua, e.x, e.y)?,
            "shape" => {
                let t = lua.create_table()?;
                t.raw_set("width", proto.width)?;
                t.raw_set("height", proto.height)?;
                Value::Table(t)
            }
            "energy" => Value::Number(e.energy),
            "shield" => Value::Number(e.shield),
            "max_energy" => Value::Number(proto.max_energy),
            "max_shield" => Value::Number(proto.max_shield),
            _ => return Err(no_key("LuaEquipment", &key)),
        })
    }

    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let k = key_str("LuaEquipment", &key)?;
        let sh = shared(lua);
        let mut w = sh.world.borrow_mut();
        let (x, y) = (self.x, self.y);
        let g = grid_of_mut(&mut w, self.stack).ok_or_else(|| invalid("LuaEquipment"))?;
        let e = g
            .equipment
            .iter_mut()
            .find(|e| e.x == x && e.y == y)
            .ok_or_else(|| invalid("LuaEquipment"))?;
        let proto = sh
            .statics
            .protos
            .equipment(&e.name)
            .ok_or_else(|| invalid("LuaEquipment"))?;
        let n = as_number(&v, &format!("LuaEquipment.{k}"))?;
        match k.as_str() {
            // never above the maximum (the description: "Can't be set higher than max_shield")
            "energy" => e.energy = n.clamp(0.0, proto.max_energy),
            "shield" => e.shield = n.clamp(0.0, proto.max_shield),
            _ => return Err(no_key("LuaEquipment", &key)),
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "LuaEquipment".into()
    }
}

impl UserData for EquipmentRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}
