//! `LuaItemStack`: a slot of an inventory, or a player's cursor.

use mlua::{Lua, MultiValue, UserData, UserDataMethods, Value};

use super::handle::{Handle, add_handle_metamethods};
use super::helpers::{ItemProtoRef, QualityProtoRef};
use super::inventory::{after_write, parse_spec, spoil_tick_at};
use super::refs::{InvId, StackId};
use super::{
    Members, as_number, as_string, as_uint, find_member, first, invalid, key_str, method, no_key,
    one,
};
use crate::context::shared;
use crate::game_strings;
use crate::inventory::ItemStack;
use crate::items::{ItemProto, Prototypes};
use crate::sandbox::rt;

/// `LuaItemStack` handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StackRef(pub StackId);

fn stack_inv(id: StackId) -> Option<InvId> {
    match id {
        StackId::Slot { inv, .. } => Some(inv),
        StackId::Cursor { .. } => None,
    }
}

pub(super) fn read_stack<R>(
    lua: &Lua,
    id: StackId,
    f: impl FnOnce(&ItemStack, &Prototypes) -> mlua::Result<R>,
) -> mlua::Result<R> {
    let sh = shared(lua);
    let w = sh.world.borrow();
    match id.get(&w) {
        None => Err(invalid("LuaItemStack")),
        Some(None) => Err(rt(
            "LuaItemStack API call when LuaItemStack was invalid for read.",
        )),
        Some(Some(s)) => f(s, &sh.statics.protos),
    }
}

pub(super) fn write_stack<R>(
    lua: &Lua,
    id: StackId,
    f: impl FnOnce(&mut Option<ItemStack>, &Prototypes) -> mlua::Result<R>,
) -> mlua::Result<R> {
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let r = match id.get_mut(&mut w) {
        None => Err(invalid("LuaItemStack")),
        Some(slot) => f(slot, &sh.statics.protos),
    };
    if let Some(inv) = stack_inv(id) {
        after_write(&mut w, &sh.statics.protos, inv);
    }
    r
}

/// Whether the stack `s` may go into the slot `id`.
fn slot_accepts(protos: &Prototypes, id: StackId, s: &ItemStack) -> bool {
    let Some(proto) = protos.item(&s.name) else {
        return false;
    };
    let limit = if s.data.is_some() {
        1
    } else {
        proto.stack_size
    };
    let kind_ok = id.inventory_kind().is_none_or(|k| k.accepts(proto.kind));
    kind_ok && s.count >= 1 && s.count <= limit
}

/// `LuaItemStack.spoil_percent` at tick `now`: 0 for an item that does not spoil. The emulator
/// does not turn a spoiled item into its spoil result: past its spoil tick it stays at 1.
fn spoil_percent(protos: &Prototypes, s: &ItemStack, now: u64) -> f64 {
    match (
        s.extra.spoil_tick,
        protos.item(&s.name).and_then(|p| p.spoil_ticks),
    ) {
        (Some(at), Some(ticks)) => 1.0 - at.saturating_sub(now) as f64 / ticks as f64,
        _ => 0.0,
    }
}

fn exportable<'a>(protos: &'a Prototypes, s: &ItemStack) -> Option<&'a ItemProto> {
    protos.item(&s.name).filter(|p| p.is_exportable())
}

/// Every `LuaItemStack` member of a valid slot, by group (the groups' names are disjoint).
const STACK_MEMBERS: [Members<StackId>; 6] = [
    stack_field,
    stack_kind_predicate,
    stack_write_method,
    stack_exchange_method,
    super::item_data::item_data_field,
    super::item_data::item_data_method,
];

/// The attributes of the stack in the slot (an empty slot raises "invalid for read").
fn stack_field(lua: &Lua, id: StackId, key: &str) -> mlua::Result<Option<Value>> {
    let text = |s: String| lua.create_string(s).map(Value::String);
    Ok(Some(match key {
        "name" => text(read_stack(lua, id, |s, _| Ok(s.name.clone()))?)?,
        "count" => Value::Number(f64::from(read_stack(lua, id, |s, _| Ok(s.count))?)),
        "quality" => Value::UserData(lua.create_userdata(QualityProtoRef(read_stack(
            lua,
            id,
            |s, _| Ok(s.quality.clone()),
        )?))?),
        "health" => Value::Number(read_stack(lua, id, |s, _| Ok(s.health))?),
        "durability" => read_stack(lua, id, |s, _| {
            s.durability
                .map(Value::Number)
                .ok_or_else(|| rt(format!("Item {} is not a tool.", s.name)))
        })?,
        "ammo" => read_stack(lua, id, |s, _| {
            s.ammo
                .map(|a| Value::Number(f64::from(a)))
                .ok_or_else(|| rt(format!("Item {} is not ammo.", s.name)))
        })?,
        "type" => text(read_stack(lua, id, |s, p| {
            Ok(p.item(&s.name).map_or("item", |p| p.kind).to_string())
        })?)?,
        "prototype" => Value::UserData(lua.create_userdata(ItemProtoRef(read_stack(
            lua,
            id,
            |s, _| Ok(s.name.clone()),
        )?))?),
        "label" => read_stack(lua, id, |s, p| {
            if super::item_data::keeps_label(p, s) {
                return Ok(s.extra.label.clone());
            }
            if exportable(p, s).is_none() {
                return Err(rt(format!("Item {} can not have a label.", s.name)));
            }
            Ok(s.data
                .as_ref()
                .and_then(|d| d.get("label"))
                .and_then(|l| l.as_str())
                .map(str::to_string))
        })?
        .map(text)
        .transpose()?
        .unwrap_or(Value::Nil),
        "spoil_percent" => {
            let now = shared(lua).world.borrow().tick;
            Value::Number(read_stack(lua, id, |s, p| Ok(spoil_percent(p, s, now)))?)
        }
        "spoil_tick" => Value::Number(read_stack(lua, id, |s, _| {
            Ok(s.extra.spoil_tick.unwrap_or(0) as f64)
        })?),
        "grid" => {
            if read_stack(lua, id, |s, _| Ok(s.grid.is_some()))? {
                Value::UserData(lua.create_userdata(super::equipment::GridRef(id))?)
            } else {
                Value::Nil
            }
        }
        _ => return Ok(None),
    }))
}

/// The `is_*` predicates of `LuaItemStack`: true when the item's prototype type is one of
/// these. The prototype families of the 2.0 item types (data/base): a blueprint is a
/// selection tool, which is an item with label; a book is an item with inventory.
const KIND_PREDICATES: [(&str, &[&str]); 12] = [
    ("is_blueprint", &["blueprint"]),
    ("is_blueprint_book", &["blueprint-book"]),
    ("is_deconstruction_item", &["deconstruction-item"]),
    ("is_upgrade_item", &["upgrade-item"]),
    ("is_armor", &["armor"]),
    ("is_item_with_tags", &["item-with-tags"]),
    (
        "is_item_with_inventory",
        &["item-with-inventory", "blueprint-book"],
    ),
    (
        "is_selection_tool",
        &[
            "selection-tool",
            "blueprint",
            "deconstruction-item",
            "upgrade-item",
        ],
    ),
    (
        "is_item_with_label",
        &[
            "item-with-label",
            "item-with-tags",
            "item-with-inventory",
            "blueprint-book",
            "selection-tool",
            "blueprint",
            "deconstruction-item",
            "upgrade-item",
        ],
    ),
    ("is_tool", &["tool", "repair-tool"]),
    ("is_repair_tool", &["repair-tool"]),
    // no modelled item carries entity data
    ("is_item_with_entity_data", &[]),
];

/// One of [`KIND_PREDICATES`].
fn stack_kind_predicate(lua: &Lua, id: StackId, key: &str) -> mlua::Result<Option<Value>> {
    let Some((_, family)) = KIND_PREDICATES.iter().find(|(name, _)| *name == key) else {
        return Ok(None);
    };
    let is = read_stack(lua, id, |s, p| {
        Ok(p.item(&s.name).is_some_and(|p| family.contains(&p.kind)))
    })?;
    Ok(Some(Value::Boolean(is)))
}

/// The methods that change the slot: `create_grid`, `clear`, `set_stack`, `can_set_stack`
/// (which only checks) and `swap_stack`.
fn stack_write_method(lua: &Lua, id: StackId, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "create_grid" => method(lua, move |lua, _| {
            write_stack(lua, id, |slot, p| {
                let s = slot.as_mut().ok_or_else(|| {
                    rt("LuaItemStack API call when LuaItemStack was invalid for read.")
                })?;
                let (w, h) = p.item(&s.name).and_then(|p| p.grid).ok_or_else(|| {
                    rt(format!("Item {} does not support equipment grids.", s.name))
                })?;
                s.grid
                    .get_or_insert_with(|| crate::inventory::Grid::new(w, h));
                Ok(())
            })?;
            one(lua, super::equipment::GridRef(id))
        })?,
        "clear" => method(lua, move |lua, _| {
            write_stack(lua, id, |slot, _| {
                *slot = None;
                Ok(MultiValue::new())
            })
        })?,
        "set_stack" | "can_set_stack" => {
            let only_check = key == "can_set_stack";
            method(lua, move |lua, a| {
                let arg = first(&a);
                let new = if arg.is_nil() {
                    None
                } else {
                    let spec = parse_spec(lua, &arg)?;
                    Some(spec.to_stack(spec.count))
                };
                write_stack(lua, id, |slot, p| {
                    let ok = match &new {
                        None => true,
                        Some(s) => slot_accepts(p, id, s),
                    };
                    if ok && !only_check {
                        *slot = new;
                    }
                    one(lua, ok)
                })
            })?
        }
        "swap_stack" => method(lua, move |lua, a| swap_stack(lua, id, &first(&a)))?,
        _ => return Ok(None),
    }))
}

/// `LuaItemStack::swap_stack(other)` on the stack in slot `id`: false (nothing moves) when
/// either stack may not go into the other's slot.
fn swap_stack(lua: &Lua, id: StackId, other: &Value) -> mlua::Result<MultiValue> {
    let Value::UserData(ud) = other else {
        return Err(rt("swap_stack: expected a LuaItemStack"));
    };
    let other = ud
        .borrow::<StackRef>()
        .map_err(|_| rt("swap_stack: expected a LuaItemStack"))?
        .0;
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let a_stack = id.get(&w).ok_or_else(|| invalid("LuaItemStack"))?.clone();
    let b_stack = other
        .get(&w)
        .ok_or_else(|| invalid("LuaItemStack"))?
        .clone();
    let fits = |target: StackId, s: &Option<ItemStack>| {
        s.as_ref()
            .is_none_or(|s| slot_accepts(&sh.statics.protos, target, s))
    };
    if !(fits(id, &b_stack) && fits(other, &a_stack)) {
        return one(lua, false);
    }
    *id.get_mut(&mut w).expect("checked above") = b_stack;
    *other.get_mut(&mut w).expect("checked above") = a_stack;
    for inv in [stack_inv(id), stack_inv(other)].into_iter().flatten() {
        after_write(&mut w, &sh.statics.protos, inv);
    }
    one(lua, true)
}

/// The methods of blueprints and exchange strings: `is_blueprint_setup`, `export_stack`,
/// `import_stack`.
fn stack_exchange_method(lua: &Lua, id: StackId, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "is_blueprint_setup" => method(lua, move |lua, _| {
            let setup = read_stack(lua, id, |s, p| {
                if p.item(&s.name).is_none_or(|p| p.kind != "blueprint") {
                    return Err(rt(format!("Item {} is not a blueprint.", s.name)));
                }
                Ok(s.data
                    .as_ref()
                    .and_then(|d| d.get("entities"))
                    .and_then(|e| e.as_array())
                    .is_some_and(|e| !e.is_empty()))
            })?;
            one(lua, setup)
        })?,
        "export_stack" => method(lua, move |lua, _| {
            let text = read_stack(lua, id, |s, p| {
                let proto = exportable(p, s)
                    .ok_or_else(|| rt(format!("Item {} can not be exported.", s.name)))?;
                game_strings::export_exchange_string(&s.name, proto.kind, s.data.as_ref())
                    .ok_or_else(|| rt(format!("Item {} can not be exported.", s.name)))
            })?;
            one(lua, text)
        })?,
        "import_stack" => method(lua, move |lua, a| {
            let Value::String(text) = first(&a) else {
                return Err(rt("import_stack: expected a string"));
            };
            let bytes = text.as_bytes().to_vec();
            write_stack(lua, id, |slot, p| {
                // The game's codes: 0 success, -1 success with errors, 1 failure.
                let code = match game_strings::import_exchange_string(p, &bytes) {
                    Ok(imp) => {
                        let code = if imp.with_errors { -1 } else { 0 };
                        let mut s = ItemStack::new(p, &imp.item, 1, "normal");
                        s.data = Some(imp.data);
                        *slot = Some(s);
                        code
                    }
                    Err(_) => 1,
                };
                one(lua, code)
            })
        })?,
        _ => return Ok(None),
    }))
}

impl Handle for StackRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let id = self.0;
        let k = key_str("LuaItemStack", &key)?;
        let sh = shared(lua);
        let exists = id.exists(&sh.world.borrow());
        match k.as_str() {
            "valid" => return Ok(Value::Boolean(exists)),
            "object_name" => return Ok(Value::String(lua.create_string("LuaItemStack")?)),
            _ if !exists => return Err(invalid("LuaItemStack")),
            "valid_for_read" => {
                return Ok(Value::Boolean(matches!(
                    id.get(&sh.world.borrow()),
                    Some(Some(_))
                )));
            }
            _ => {}
        }
        find_member(&STACK_MEMBERS, lua, id, &k)?.ok_or_else(|| no_key("LuaItemStack", &key))
    }
    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let id = self.0;
        let k = key_str("LuaItemStack", &key)?;
        let now = shared(lua).world.borrow().tick;
        write_stack(lua, id, |slot, p| {
            let Some(s) = slot.as_mut() else {
                return Err(rt(
                    "LuaItemStack API call when LuaItemStack was invalid for read.",
                ));
            };
            match k.as_str() {
                "count" => {
                    let n = as_uint(&v, "LuaItemStack.count")?;
                    let limit = if s.data.is_some() {
                        1
                    } else {
                        p.item(&s.name).map_or(1, |p| p.stack_size)
                    };
                    if n > limit {
                        return Err(rt(format!(
                            "LuaItemStack.count: {n} is more than the stack size {limit} of {}",
                            s.name
                        )));
                    }
                    if n == 0 {
                        *slot = None;
                    } else {
                        s.count = n;
                    }
                }
                "health" => {
                    let h = as_number(&v, "LuaItemStack.health")?;
                    if !(0.0..=1.0).contains(&h) {
                        return Err(rt(format!("LuaItemStack.health: {h} is outside [0, 1]")));
                    }
                    s.health = h;
                }
                "durability" => {
                    let max = p
                        .durability(&s.name, &s.quality)
                        .ok_or_else(|| rt(format!("Item {} is not a tool.", s.name)))?;
                    let d = as_number(&v, "LuaItemStack.durability")?;
                    if !(d > 0.0 && d <= max) {
                        return Err(rt(format!(
                            "LuaItemStack.durability: {d} is outside (0, {max}]"
                        )));
                    }
                    s.durability = Some(d);
                }
                "ammo" => {
                    let max = p
                        .item(&s.name)
                        .and_then(|p| p.magazine_size)
                        .ok_or_else(|| rt(format!("Item {} is not ammo.", s.name)))?;
                    let a = as_uint(&v, "LuaItemStack.ammo")?;
                    if a == 0 || a > max {
                        return Err(rt(format!("LuaItemStack.ammo: {a} is outside [1, {max}]")));
                    }
                    s.ammo = Some(a);
                }
                "spoil_percent" => {
                    let proto = p.item(&s.name).filter(|p| p.spoil_ticks.is_some());
                    let proto =
                        proto.ok_or_else(|| rt(format!("Item {} does not spoil.", s.name)))?;
                    s.extra.spoil_tick = spoil_tick_at(proto, &v, now)?;
                }
                "spoil_tick" => {
                    if p.item(&s.name).and_then(|p| p.spoil_ticks).is_none() {
                        return Err(rt(format!("Item {} does not spoil.", s.name)));
                    }
                    let at = as_number(&v, "LuaItemStack.spoil_tick")?;
                    if at.fract() != 0.0 || at < now as f64 {
                        // the game spoils the item at once; the emulator does not model spoiling
                        return Err(rt(format!(
                            "LuaItemStack.spoil_tick: {at} is not a whole tick from now ({now}) on"
                        )));
                    }
                    s.extra.spoil_tick = Some(at as u64);
                }
                "label" if exportable(p, s).is_some() => {
                    let data = s
                        .data
                        .get_or_insert_with(|| serde_json::Value::Object(Default::default()));
                    if let serde_json::Value::Object(m) = data {
                        match &v {
                            Value::Nil => {
                                m.remove("label");
                            }
                            other => {
                                m.insert(
                                    "label".into(),
                                    serde_json::Value::String(as_string(
                                        other,
                                        "LuaItemStack.label",
                                    )?),
                                );
                            }
                        }
                    }
                }
                other => {
                    if !super::item_data::set_item_data(s, p, other, &v)? {
                        return Err(no_key("LuaItemStack", &key));
                    }
                }
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        "LuaItemStack".into()
    }
}

impl UserData for StackRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}
