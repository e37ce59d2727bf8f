//! The `LuaItemStack` (`LuaItemCommon`) members of items that carry data of their own: tags
//! and a custom description (item-with-tags), a label, its colour and lock (item-with-label
//! and the types derived from it), and the inventory of an item-with-inventory. Each belongs
//! to some item types (`subclasses` in the API description); on another item it raises.

use mlua::{Lua, Table, Value};

use super::inventory::InvRef;
use super::item_stack::{read_stack, write_stack};
use super::refs::{InvId, StackId};
use super::{as_number, as_string, first, method, one};
use crate::inventory::{Inventory, InventoryKind, ItemStack};
use crate::items::{ITEM_INVENTORY_SLOTS, Prototypes};
use crate::lua_json::{lua_to_serde, serde_to_lua};
use crate::sandbox::rt;

/// Item types with tags (`ItemWithTags`).
const WITH_TAGS: &[&str] = &["item-with-tags"];
/// Item types whose label is kept here (`ItemWithLabel` and what derives from it, blueprints
/// and planners apart: theirs travels in their exported data).
const WITH_LABEL: &[&str] = &["item-with-label", "item-with-tags", "item-with-inventory"];

fn kind<'a>(p: &'a Prototypes, s: &ItemStack) -> &'a str {
    p.item(&s.name).map_or("", |p| p.kind)
}

/// Ok when the stack's item type is one of `family`, else the error the API's `what` gives.
fn require(p: &Prototypes, s: &ItemStack, family: &[&str], what: &str) -> mlua::Result<()> {
    if family.contains(&kind(p, s)) {
        Ok(())
    } else {
        Err(rt(format!("Item {} is not {what}.", s.name)))
    }
}

/// Whether the stack's label is one this module keeps (not a blueprint's).
pub(super) fn keeps_label(p: &Prototypes, s: &ItemStack) -> bool {
    WITH_LABEL.contains(&kind(p, s))
}

/// The attributes: `tags`, `custom_description`, `label_color`, `allow_manual_label_change`.
pub(super) fn item_data_field(lua: &Lua, id: StackId, key: &str) -> mlua::Result<Option<Value>> {
    let tags = |s: &ItemStack, p: &Prototypes| {
        require(p, s, WITH_TAGS, "an item with tags")?;
        Ok(serde_json::Value::Object(
            s.extra.tags.clone().unwrap_or_default(),
        ))
    };
    Ok(Some(match key {
        "tags" => {
            let v = read_stack(lua, id, tags)?;
            serde_to_lua(lua, &v)?
        }
        "custom_description" => {
            let v = read_stack(lua, id, |s, p| {
                require(p, s, WITH_TAGS, "an item with tags")?;
                Ok(s.extra.custom_description.clone())
            })?;
            match v {
                Some(v) => serde_to_lua(lua, &v)?,
                None => Value::String(lua.create_string("")?),
            }
        }
        "label_color" => {
            let c = read_stack(lua, id, |s, p| {
                require(p, s, WITH_LABEL, "an item with a label")?;
                Ok(s.extra.label_color)
            })?;
            match c {
                Some([r, g, b, a]) => {
                    let t = lua.create_table()?;
                    t.raw_set("r", r)?;
                    t.raw_set("g", g)?;
                    t.raw_set("b", b)?;
                    t.raw_set("a", a)?;
                    Value::Table(t)
                }
                None => Value::Nil,
            }
        }
        "allow_manual_label_change" => Value::Boolean(read_stack(lua, id, |s, p| {
            require(p, s, WITH_LABEL, "an item with a label")?;
            Ok(s.extra.manual_label_locked != Some(true))
        })?),
        _ => return Ok(None),
    }))
}

/// The methods: `get_tag`, `set_tag`, `remove_tag`, `get_inventory`.
pub(super) fn item_data_method(lua: &Lua, id: StackId, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "get_tag" => method(lua, move |lua, a| {
            let name = as_string(&first(&a), "get_tag: tag_name")?;
            let v = read_stack(lua, id, |s, p| {
                require(p, s, WITH_TAGS, "an item with tags")?;
                Ok(s.extra.tags.as_ref().and_then(|t| t.get(&name)).cloned())
            })?;
            match v {
                Some(v) => one(lua, serde_to_lua(lua, &v)?),
                None => one(lua, Value::Nil),
            }
        })?,
        "set_tag" => method(lua, move |lua, a| {
            let mut args = a.iter();
            let name = as_string(args.next().unwrap_or(&Value::Nil), "set_tag: tag_name")?;
            let value = args.next().cloned().unwrap_or(Value::Nil);
            if value.is_nil() {
                return Err(rt(
                    "set_tag: tag must be a string, boolean, number or table",
                ));
            }
            let value = lua_to_serde(&value).map_err(|e| rt(format!("set_tag: {e}")))?;
            write_stack(lua, id, |slot, p| {
                let s = occupied(slot)?;
                require(p, s, WITH_TAGS, "an item with tags")?;
                s.extra.tags.get_or_insert_default().insert(name, value);
                Ok(())
            })?;
            Ok(mlua::MultiValue::new())
        })?,
        "remove_tag" => method(lua, move |lua, a| {
            let name = as_string(&first(&a), "remove_tag: tag")?;
            let removed = write_stack(lua, id, |slot, p| {
                let s = occupied(slot)?;
                require(p, s, WITH_TAGS, "an item with tags")?;
                Ok(s.extra
                    .tags
                    .as_mut()
                    .is_some_and(|t| t.remove(&name).is_some()))
            })?;
            one(lua, removed)
        })?,
        "get_inventory" => method(lua, move |lua, a| {
            let index = as_number(&first(&a), "get_inventory: inventory")?;
            let made = write_stack(lua, id, |slot, p| {
                let s = occupied(slot)?;
                if index != f64::from(InventoryKind::ItemMain.define())
                    || kind(p, s) != "item-with-inventory"
                {
                    // no such inventory (a blueprint book's contents are its exported data)
                    return Ok(false);
                }
                s.extra.inventory.get_or_insert_with(|| {
                    Box::new(Inventory::new(
                        InventoryKind::ItemMain,
                        ITEM_INVENTORY_SLOTS,
                    ))
                });
                Ok(true)
            })?;
            if !made {
                return one(lua, Value::Nil);
            }
            let inv = match id {
                StackId::Slot {
                    inv: InvId::Character { unit, kind },
                    slot,
                } => InvId::Item { unit, kind, slot },
                StackId::Cursor { player } => InvId::CursorItem { player },
                _ => {
                    return Err(rt(
                        "get_inventory: the emulator models the inventories of items in a character's inventories and in the cursor only",
                    ));
                }
            };
            one(lua, InvRef(inv))
        })?,
        _ => return Ok(None),
    }))
}

fn occupied(slot: &mut Option<ItemStack>) -> mlua::Result<&mut ItemStack> {
    slot.as_mut()
        .ok_or_else(|| rt("LuaItemStack API call when LuaItemStack was invalid for read."))
}

/// Writes attribute `key` of the stack `s` if it is one of this file's; false when it is not.
pub(super) fn set_item_data(
    s: &mut ItemStack,
    p: &Prototypes,
    key: &str,
    v: &Value,
) -> mlua::Result<bool> {
    match key {
        "tags" => {
            require(p, s, WITH_TAGS, "an item with tags")?;
            let Value::Table(_) = v else {
                return Err(rt("LuaItemStack.tags: expected a table"));
            };
            s.extra.tags = match lua_to_serde(v).map_err(|e| rt(format!("tags: {e}")))? {
                serde_json::Value::Object(m) => Some(m).filter(|m| !m.is_empty()),
                // an empty table reads as a list
                serde_json::Value::Array(a) if a.is_empty() => None,
                _ => {
                    return Err(rt(
                        "LuaItemStack.tags: expected a dictionary of string keys",
                    ));
                }
            };
        }
        "custom_description" => {
            require(p, s, WITH_TAGS, "an item with tags")?;
            s.extra.custom_description = match v {
                Value::Nil => None,
                Value::String(t) if t.as_bytes().is_empty() => None,
                Value::String(_) | Value::Table(_) => {
                    Some(lua_to_serde(v).map_err(|e| rt(format!("custom_description: {e}")))?)
                }
                other => Some(serde_json::Value::String(as_string(
                    other,
                    "LuaItemStack.custom_description",
                )?)),
            };
        }
        "label_color" => {
            require(p, s, WITH_LABEL, "an item with a label")?;
            s.extra.label_color = match v {
                Value::Nil => None,
                Value::Table(t) => Some(color(t)?),
                _ => return Err(rt("LuaItemStack.label_color: expected a Color")),
            };
        }
        "allow_manual_label_change" => {
            require(p, s, WITH_LABEL, "an item with a label")?;
            let Value::Boolean(b) = v else {
                return Err(rt(
                    "LuaItemStack.allow_manual_label_change: expected a boolean",
                ));
            };
            s.extra.manual_label_locked = (!b).then_some(true);
        }
        "label" => {
            require(p, s, WITH_LABEL, "an item with a label")?;
            s.extra.label = match v {
                Value::Nil => None,
                other => Some(as_string(other, "LuaItemStack.label")?),
            };
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A `Color` table: `{r, g, b, a?}` (components 0..1; `a` defaults to 1).
fn color(t: &Table) -> mlua::Result<[f64; 4]> {
    let part = |k: &str, default: Option<f64>| -> mlua::Result<f64> {
        match (t.raw_get::<Value>(k)?, default) {
            (Value::Nil, Some(d)) => Ok(d),
            (v, _) => as_number(&v, "Color"),
        }
    };
    Ok([
        part("r", None)?,
        part("g", None)?,
        part("b", None)?,
        part("a", Some(1.0))?,
    ])
}
