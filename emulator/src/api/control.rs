//! `LuaControl` members of a character that are not inventories or bonuses: the crafting
//! queue (`crafting_queue`, `crafting_queue_size`, `crafting_queue_progress`, `begin_crafting`,
//! `cancel_crafting`) and `character_additional_mining_categories` (runtime-api.json 2.0.45).
//! Shared by `LuaEntity` (a character) and `LuaPlayer` (through its character).

use mlua::{Lua, Table, Value};

use super::{as_number, as_string, as_uint, field_or, first, invalid, method, one};
use crate::context::shared;
use crate::crafting;
use crate::sandbox::rt;
use crate::world::Character;

/// Whether `key` is one of the members handled here.
pub(crate) fn handles(key: &str) -> bool {
    matches!(
        key,
        "crafting_queue"
            | "crafting_queue_size"
            | "crafting_queue_progress"
            | "begin_crafting"
            | "cancel_crafting"
            | "character_additional_mining_categories"
            | "is_flashlight_enabled"
            | "enable_flashlight"
            | "disable_flashlight"
    )
}

fn table_arg(args: &mlua::MultiValue, what: &str) -> mlua::Result<Table> {
    match first(args) {
        Value::Table(t) => Ok(t),
        other => Err(rt(format!(
            "{what}: expected a table, got {}",
            other.type_name()
        ))),
    }
}

/// `f` of character `unit`, or the invalid-entity error.
fn read<T>(lua: &Lua, unit: u32, f: impl FnOnce(&Character) -> T) -> mlua::Result<T> {
    let sh = shared(lua);
    let w = sh.world.borrow();
    let c = w
        .characters
        .get(&unit)
        .ok_or_else(|| invalid("LuaEntity"))?;
    Ok(f(c))
}

/// `f` of character `unit` for writing, or the invalid-entity error.
fn write<T>(lua: &Lua, unit: u32, f: impl FnOnce(&mut Character) -> T) -> mlua::Result<T> {
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let c = w
        .characters
        .get_mut(&unit)
        .ok_or_else(|| invalid("LuaEntity"))?;
    Ok(f(c))
}

/// Reads member `key` of character `unit`.
pub(crate) fn get(lua: &Lua, unit: u32, key: &str) -> mlua::Result<Value> {
    Ok(match key {
        "crafting_queue" => {
            let queue = read(lua, unit, |c| c.crafting_queue.clone())?;
            let t = lua.create_table()?;
            for (i, q) in queue.into_iter().enumerate() {
                let e = lua.create_table()?;
                e.raw_set("index", (i + 1) as f64)?;
                e.raw_set("recipe", q.recipe)?;
                e.raw_set("count", f64::from(q.count))?;
                e.raw_set("prerequisite", q.prerequisite)?;
                t.raw_set(i + 1, e)?;
            }
            Value::Table(t)
        }
        "crafting_queue_size" => Value::Number(read(lua, unit, |c| c.crafting_queue.len())? as f64),
        "crafting_queue_progress" => Value::Number(read(lua, unit, |c| c.crafting_progress)?),
        "character_additional_mining_categories" => {
            let list = read(lua, unit, |c| c.additional_mining_categories.clone())?;
            Value::Table(lua.create_sequence_from(list)?)
        }
        "is_flashlight_enabled" => method(lua, move |lua, _| {
            one(lua, read(lua, unit, |c| c.flashlight)?)
        })?,
        "enable_flashlight" | "disable_flashlight" => {
            let on = key == "enable_flashlight";
            method(lua, move |lua, _| {
                write(lua, unit, |c| c.flashlight = on)?;
                Ok(mlua::MultiValue::new())
            })?
        }
        "begin_crafting" => method(lua, move |lua, a| {
            let t = table_arg(&a, "begin_crafting")?;
            let count = as_uint(&t.raw_get::<Value>("count")?, "begin_crafting count")?;
            let recipe = match t.raw_get::<Value>("recipe")? {
                Value::UserData(ud) => {
                    use mlua::ObjectLike;
                    ud.get::<String>("name")?
                }
                v => as_string(&v, "begin_crafting recipe")?,
            };
            field_or(&t, "silent", false, |v| super::as_bool(&v, "silent"))?;
            let sh = shared(lua);
            let made = crafting::begin(&mut sh.world.borrow_mut(), unit, &recipe, count)
                .map_err(|e| rt(e.to_string()))?;
            one(lua, f64::from(made))
        })?,
        "cancel_crafting" => method(lua, move |lua, a| {
            let t = table_arg(&a, "cancel_crafting")?;
            let index = as_uint(&t.raw_get::<Value>("index")?, "cancel_crafting index")?;
            let count = as_uint(&t.raw_get::<Value>("count")?, "cancel_crafting count")?;
            let sh = shared(lua);
            crafting::cancel(
                &mut sh.world.borrow_mut(),
                &sh.statics.protos,
                unit,
                index,
                count,
            )
            .map_err(|e| rt(e.to_string()))?;
            Ok(mlua::MultiValue::new())
        })?,
        _ => Value::Nil,
    })
}

/// Writes member `key` of character `unit`; `None` when `key` is not writable here.
pub(crate) fn set(lua: &Lua, unit: u32, key: &str, v: &Value) -> Option<mlua::Result<()>> {
    match key {
        "crafting_queue_progress" => Some((|| {
            let p = as_number(v, "crafting_queue_progress")?;
            write(lua, unit, |c| {
                c.crafting_progress = if c.crafting_queue.is_empty() {
                    0.0
                } else {
                    p.clamp(0.0, 1.0)
                };
            })
        })()),
        "character_additional_mining_categories" => Some((|| {
            let Value::Table(t) = v else {
                return Err(rt(
                    "character_additional_mining_categories: expected an array of strings",
                ));
            };
            let mut list = Vec::new();
            for i in 1..=t.raw_len() {
                list.push(as_string(
                    &t.raw_get::<Value>(i)?,
                    "character_additional_mining_categories",
                )?);
            }
            write(lua, unit, |c| c.additional_mining_categories = list)
        })()),
        "crafting_queue"
        | "crafting_queue_size"
        | "begin_crafting"
        | "cancel_crafting"
        | "is_flashlight_enabled"
        | "enable_flashlight"
        | "disable_flashlight" => Some(Err(rt(format!("LuaControl::{key} is read-only.")))),
        _ => None,
    }
}
