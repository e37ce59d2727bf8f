//! `LuaInventory`, and the item parsing and inventory operations `LuaControl` shares.

use mlua::{Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};

use super::handle::{Handle, add_handle_metamethods};
use super::helpers::QualityProtoRef;
use super::item_stack::StackRef;
use super::refs::{InvId, StackId};
use super::{
    Members, as_number, as_string, as_uint, field_or, find_member, first, invalid, key_str, method,
    no_key, one,
};
use crate::context::shared;
use crate::inventory::{Inventory, InventoryKind, ItemStack, StackExtra, StackSpec};
use crate::items::{ItemProto, Prototypes};
use crate::sandbox::rt;
use crate::world::World;

/// `LuaInventory` handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvRef(pub InvId);

pub(crate) fn quality_name(protos: &Prototypes, v: &Value) -> mlua::Result<String> {
    let name = match v {
        Value::Nil => return Ok("normal".into()),
        Value::UserData(ud) => match ud.borrow::<QualityProtoRef>() {
            Ok(q) => q.0.clone(),
            Err(_) => {
                return Err(rt(
                    "quality: expected a quality name or LuaQualityPrototype",
                ));
            }
        },
        other => as_string(other, "quality")?,
    };
    if protos.quality(&name).is_none() {
        return Err(rt(format!("Unknown quality name: {name}")));
    }
    Ok(name)
}

fn known_item<'a>(protos: &'a Prototypes, name: &str) -> mlua::Result<&'a ItemProto> {
    protos
        .item(name)
        .ok_or_else(|| rt(format!("Unknown item name: {name}")))
}

/// Parse an `ItemStackIdentification` (string = a full stack, table = `ItemStackDefinition`,
/// or a `LuaItemStack`).
pub(crate) fn parse_spec(lua: &Lua, v: &Value) -> mlua::Result<StackSpec> {
    let sh = shared(lua);
    let protos = &sh.statics.protos;
    match v {
        Value::String(s) => {
            let name = s.to_string_lossy();
            let proto = known_item(protos, &name)?;
            Ok(StackSpec {
                count: proto.stack_size,
                quality: "normal".into(),
                health: 1.0,
                durability: proto.durability,
                ammo: proto.magazine_size,
                data: None,
                grid: None,
                extra: StackExtra {
                    spoil_tick: ItemStack::fresh_spoil_tick(protos, &name, sh.world.borrow().tick),
                    ..Default::default()
                },
                name,
            })
        }
        Value::Table(t) => stack_definition(protos, t, sh.world.borrow().tick),
        Value::UserData(ud) => {
            let Ok(r) = ud.borrow::<StackRef>() else {
                return Err(rt(
                    "expected an item name, an item stack definition or a LuaItemStack",
                ));
            };
            let w = sh.world.borrow();
            let Some(Some(s)) = r.0.get(&w) else {
                return Err(rt("the given LuaItemStack is empty"));
            };
            Ok(StackSpec {
                name: s.name.clone(),
                count: s.count,
                quality: s.quality.clone(),
                health: s.health,
                durability: s.durability,
                ammo: s.ammo,
                data: s.data.clone(),
                grid: s.grid.clone(),
                extra: s.extra.clone(),
            })
        }
        other => Err(rt(format!(
            "expected an item name, an item stack definition or a LuaItemStack, got {}",
            other.type_name()
        ))),
    }
}

/// Parse an `ItemStackDefinition` table, at game tick `now`.
fn stack_definition(protos: &Prototypes, t: &Table, now: u64) -> mlua::Result<StackSpec> {
    let name = as_string(
        &t.raw_get::<Value>("name")?,
        "item stack definition field 'name'",
    )?;
    let proto = known_item(protos, &name)?;
    let count = field_or(t, "count", 1, |c| {
        as_uint(&c, "item stack definition field 'count'")
    })?;
    let quality = quality_name(protos, &t.raw_get::<Value>("quality")?)?;
    let health = field_or(t, "health", 1.0, |h| {
        let h = as_number(&h, "item stack definition field 'health'")?;
        if !(0.0..=1.0).contains(&h) {
            return Err(rt(format!(
                "item stack definition: health {h} is outside [0, 1]"
            )));
        }
        Ok(h)
    })?;
    let durability = match (
        t.raw_get::<Value>("durability")?,
        protos.durability(&name, &quality),
    ) {
        (Value::Nil, d) => d,
        (d, Some(max)) => {
            let d = as_number(&d, "item stack definition field 'durability'")?;
            if !(d > 0.0 && d <= max) {
                return Err(rt(format!(
                    "item stack definition: durability {d} is outside (0, {max}]"
                )));
            }
            Some(d)
        }
        (_, None) => {
            return Err(rt(format!(
                "item stack definition: {name} has no durability"
            )));
        }
    };
    let ammo = match (t.raw_get::<Value>("ammo")?, proto.magazine_size) {
        (Value::Nil, a) => a,
        (a, Some(max)) => {
            let a = as_uint(&a, "item stack definition field 'ammo'")?;
            if a == 0 || a > max {
                return Err(rt(format!(
                    "item stack definition: ammo {a} is outside [1, {max}]"
                )));
            }
            Some(a)
        }
        (_, None) => return Err(rt(format!("item stack definition: {name} is not ammo"))),
    };
    let spoil_tick = spoil_tick_at(proto, &t.raw_get::<Value>("spoil_percent")?, now)?;
    Ok(StackSpec {
        name,
        count,
        quality,
        health,
        durability,
        ammo,
        data: None,
        grid: None,
        extra: StackExtra {
            spoil_tick,
            ..Default::default()
        },
    })
}

/// The spoil tick of an item of `proto` that is `percent` spoiled at tick `now` (`nil`: fresh);
/// None for an item that does not spoil, whose `spoil_percent` the game ignores.
pub(super) fn spoil_tick_at(
    proto: &ItemProto,
    percent: &Value,
    now: u64,
) -> mlua::Result<Option<u64>> {
    let Some(ticks) = proto.spoil_ticks else {
        return Ok(None);
    };
    let p = match percent {
        Value::Nil => 0.0,
        v => as_number(v, "spoil_percent")?,
    };
    if !(0.0..=1.0).contains(&p) {
        return Err(rt(format!("spoil_percent: {p} is outside [0, 1]")));
    }
    // the game keeps the tick, so a percentage comes back rounded to a whole tick
    Ok(Some(now + ((1.0 - p) * ticks as f64).round() as u64))
}

/// Parse an `ItemWithQualityID` filter for counting: (name, quality).
fn parse_filter(lua: &Lua, v: &Value) -> mlua::Result<(String, String)> {
    let sh = shared(lua);
    match v {
        Value::String(s) => {
            let name = s.to_string_lossy();
            known_item(&sh.statics.protos, &name)?;
            Ok((name, "normal".into()))
        }
        Value::Table(t) => {
            let name = as_string(&t.raw_get::<Value>("name")?, "item field 'name'")?;
            known_item(&sh.statics.protos, &name)?;
            Ok((
                name,
                quality_name(&sh.statics.protos, &t.raw_get::<Value>("quality")?)?,
            ))
        }
        other => Err(rt(format!(
            "expected an item name or {{name=, quality=}}, got {}",
            other.type_name()
        ))),
    }
}

/// After a write into inventory `id`: a character's armor slot changes its main inventory's
/// size (the armor's `inventory_size_bonus`).
pub(super) fn after_write(w: &mut World, protos: &Prototypes, id: InvId) {
    if let InvId::Character {
        unit,
        kind: InventoryKind::CharacterArmor,
    } = id
    {
        w.refresh_character(protos, unit);
    }
}

fn with_inv<R>(
    lua: &Lua,
    id: InvId,
    f: impl FnOnce(&mut World, &Prototypes) -> mlua::Result<R>,
) -> mlua::Result<R> {
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    if id.get(&w).is_none() {
        return Err(invalid("LuaInventory"));
    }
    let r = f(&mut w, &sh.statics.protos);
    after_write(&mut w, &sh.statics.protos, id);
    r
}

/// Insert into several inventories in order (LuaControl.insert).
pub(crate) fn insert_into(lua: &Lua, invs: &[InvId], spec: &StackSpec) -> mlua::Result<u32> {
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let mut left = spec.clone();
    let kind = sh.statics.protos.item(&spec.name).map_or("", |p| p.kind);
    for id in &insert_order(invs, kind) {
        if left.count == 0 {
            break;
        }
        if let Some(inv) = id.get_mut(&mut w) {
            left.count -= inv.insert(&sh.statics.protos, &left);
        }
        after_write(&mut w, &sh.statics.protos, *id);
    }
    Ok(spec.count - left.count)
}

/// The inventories of `invs` that `LuaControl.insert` fills with an item of prototype type
/// `kind`, in order, as the game's character does (like picking the item up): a gun into the
/// gun slots first, ammo into the ammo slots first, then the main inventory; never the armor
/// or the trash slots.
fn insert_order(invs: &[InvId], kind: &str) -> Vec<InvId> {
    let first = match kind {
        "gun" => Some(InventoryKind::CharacterGuns),
        "ammo" => Some(InventoryKind::CharacterAmmo),
        _ => None,
    };
    let character_kind = |id: &InvId| match id {
        InvId::Character { kind, .. } => Some(*kind),
        _ => None,
    };
    let mut out: Vec<InvId> = invs
        .iter()
        .filter(|id| first.is_some() && character_kind(id) == first)
        .copied()
        .collect();
    out.extend(invs.iter().filter(|id| match character_kind(id) {
        None => true,
        Some(k) => k == InventoryKind::CharacterMain,
    }));
    out
}

/// Remove from several inventories in order (LuaControl.remove_item).
pub(crate) fn remove_from(lua: &Lua, invs: &[InvId], spec: &StackSpec) -> mlua::Result<u32> {
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let mut removed = 0;
    for id in invs {
        if let Some(inv) = id.get_mut(&mut w) {
            removed += inv.remove(&spec.name, &spec.quality, spec.count - removed);
        }
        after_write(&mut w, &sh.statics.protos, *id);
    }
    Ok(removed)
}

/// Count in several inventories (LuaControl.get_item_count).
pub(crate) fn count_in(lua: &Lua, invs: &[InvId], filter: &Value) -> mlua::Result<f64> {
    let f = if filter.is_nil() {
        None
    } else {
        Some(parse_filter(lua, filter)?)
    };
    let sh = shared(lua);
    let w = sh.world.borrow();
    let mut n = 0u64;
    for id in invs {
        if let Some(inv) = id.get(&w) {
            n += match &f {
                Some((name, q)) => inv.count(Some(name), Some(q)),
                None => inv.count(None, None),
            };
        }
    }
    Ok(n as f64)
}

/// The control methods shared by `LuaPlayer` and `LuaEntity` (character).
pub(crate) fn control_method(
    lua: &Lua,
    key: &str,
    invs: Vec<InvId>,
) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "insert" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            one(lua, insert_into(lua, &invs, &spec)?)
        })?,
        "remove_item" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            one(lua, remove_from(lua, &invs, &spec)?)
        })?,
        "get_item_count" => method(lua, move |lua, a| {
            one(lua, count_in(lua, &invs, &first(&a))?)
        })?,
        "can_insert" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            let sh = shared(lua);
            let w = sh.world.borrow();
            let ok = invs.iter().filter_map(|id| id.get(&w)).any(|inv| {
                inv.insertable_count(
                    &sh.statics.protos,
                    &StackSpec {
                        count: 1,
                        ..spec.clone()
                    },
                ) > 0
            });
            one(lua, ok)
        })?,
        "clear_items_inside" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let mut w = sh.world.borrow_mut();
            for id in &invs {
                if let Some(inv) = id.get_mut(&mut w) {
                    inv.clear();
                }
                after_write(&mut w, &sh.statics.protos, *id);
            }
            Ok(MultiValue::new())
        })?,
        _ => return Ok(None),
    }))
}

fn contents_table(lua: &Lua, contents: Vec<(String, u64, String)>) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(contents.len(), 0)?;
    for (i, (name, count, quality)) in contents.into_iter().enumerate() {
        let e = lua.create_table()?;
        e.raw_set("name", name)?;
        e.raw_set("count", count as f64)?;
        e.raw_set("quality", quality)?;
        t.raw_set(i + 1, e)?;
    }
    Ok(t)
}

fn slot_index(v: &Value, len: usize) -> mlua::Result<Option<usize>> {
    let n = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => return Ok(None),
    };
    if n.fract() != 0.0 || n < 1.0 || n > len as f64 {
        return Err(rt(format!(
            "Index out of range: {n} (the inventory has {len} slots)"
        )));
    }
    Ok(Some(n as usize - 1))
}

/// Every `LuaInventory` member, by group (the groups' names are disjoint).
const INVENTORY_MEMBERS: [Members<InvId>; 4] = [
    inventory_field,
    inventory_write_method,
    inventory_read_method,
    inventory_filter_method,
];

/// The read-only attributes: `valid`, `object_name`, `index` and the owners.
fn inventory_field(lua: &Lua, id: InvId, key: &str) -> mlua::Result<Option<Value>> {
    let player = |p| {
        lua.create_userdata(super::player::PlayerRef(p))
            .map(Value::UserData)
    };
    Ok(Some(match key {
        "valid" => Value::Boolean(true),
        "object_name" => Value::String(lua.create_string("LuaInventory")?),
        "index" => match id {
            InvId::Character { kind, .. } => Value::Number(f64::from(kind.define())),
            InvId::God { .. } => Value::Number(2.0),
            InvId::Editor { .. } => Value::Number(f64::from(InventoryKind::EditorMain.define())),
            InvId::Item { .. } | InvId::CursorItem { .. } => Value::Number(1.0),
            InvId::Script { .. } => Value::Nil,
        },
        "player_owner" => match id {
            InvId::God { player: p } | InvId::Editor { player: p } => player(p)?,
            InvId::Character { unit, .. } => {
                let owner = shared(lua)
                    .world
                    .borrow()
                    .characters
                    .get(&unit)
                    .and_then(|c| c.player);
                match owner {
                    Some(p) => player(p)?,
                    None => Value::Nil,
                }
            }
            InvId::Script { .. } | InvId::Item { .. } | InvId::CursorItem { .. } => Value::Nil,
        },
        "entity_owner" => match id {
            InvId::Character { unit, .. } => lua
                .create_userdata(super::entity::EntityRef(unit))
                .map(Value::UserData)?,
            _ => Value::Nil,
        },
        _ => return Ok(None),
    }))
}

/// The methods that change what the inventory holds, or end it.
fn inventory_write_method(lua: &Lua, id: InvId, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "insert" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            with_inv(lua, id, |w, p| {
                one(lua, id.get_mut(w).map_or(0, |inv| inv.insert(p, &spec)))
            })
        })?,
        "remove" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            with_inv(lua, id, |w, _| {
                one(
                    lua,
                    id.get_mut(w)
                        .map_or(0, |inv| inv.remove(&spec.name, &spec.quality, spec.count)),
                )
            })
        })?,
        "clear" => method(lua, move |lua, _| {
            with_inv(lua, id, |w, _| {
                if let Some(inv) = id.get_mut(w) {
                    inv.clear();
                }
                Ok(MultiValue::new())
            })
        })?,
        "destroy" => method(lua, move |lua, _| {
            let InvId::Script { id: sid } = id else {
                return Err(rt(
                    "LuaInventory.destroy: only inventories from game.create_inventory can be destroyed",
                ));
            };
            shared(lua)
                .world
                .borrow_mut()
                .script_inventories
                .remove(&sid);
            Ok(MultiValue::new())
        })?,
        _ => return Ok(None),
    }))
}

/// The methods that read what the inventory holds and what it has room for.
fn inventory_read_method(lua: &Lua, id: InvId, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "get_contents" => method(lua, move |lua, _| {
            let contents = with_inv(lua, id, |w, p| {
                Ok(id.get(w).map(|inv| inv.contents(p)).unwrap_or_default())
            })?;
            one(lua, contents_table(lua, contents)?)
        })?,
        "get_item_count" => method(lua, move |lua, a| {
            one(lua, count_in(lua, &[id], &first(&a))?)
        })?,
        "is_empty" => method(lua, move |lua, _| {
            with_inv(lua, id, |w, _| {
                one(lua, id.get(w).is_none_or(|i| i.is_empty()))
            })
        })?,
        "is_full" => method(lua, move |lua, _| {
            with_inv(lua, id, |w, _| {
                one(lua, id.get(w).is_some_and(|i| i.empty_slots() == 0))
            })
        })?,
        "count_empty_stacks" => method(lua, move |lua, _| {
            with_inv(lua, id, |w, _| {
                one(lua, id.get(w).map_or(0, |i| i.empty_slots()) as f64)
            })
        })?,
        "can_insert" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            with_inv(lua, id, |w, p| {
                one(
                    lua,
                    id.get(w).is_some_and(|i| {
                        i.insertable_count(
                            p,
                            &StackSpec {
                                count: 1,
                                ..spec.clone()
                            },
                        ) > 0
                    }),
                )
            })
        })?,
        "get_insertable_count" => method(lua, move |lua, a| {
            let spec = parse_spec(lua, &first(&a))?;
            with_inv(lua, id, |w, p| {
                one(
                    lua,
                    id.get(w).map_or(0, |i| i.insertable_count(p, &spec)) as f64,
                )
            })
        })?,
        "find_item_stack" => method(lua, move |lua, a| {
            let (name, quality) = parse_filter(lua, &first(&a))?;
            let found = with_inv(lua, id, |w, _| {
                Ok(id.get(w).and_then(|i| {
                    i.slots.iter().position(|s| {
                        s.as_ref()
                            .is_some_and(|s| s.name == name && s.quality == quality)
                    })
                }))
            })?;
            match found {
                Some(slot) => Ok(MultiValue::from_iter([
                    Value::UserData(
                        lua.create_userdata(StackRef(StackId::Slot { inv: id, slot }))?,
                    ),
                    Value::Number(slot as f64 + 1.0),
                ])),
                None => Ok(MultiValue::new()),
            }
        })?,
        _ => return Ok(None),
    }))
}

/// The methods of slot filters (and of the inventory bar, which no modelled inventory has).
fn inventory_filter_method(lua: &Lua, id: InvId, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "supports_filters" => method(lua, move |lua, _| {
            with_inv(lua, id, |w, _| {
                one(lua, id.get(w).is_some_and(|i| i.kind.supports_filters()))
            })
        })?,
        "get_filter" => method(lua, move |lua, a| {
            let filter = with_inv(lua, id, |w, _| {
                let inv = id.get(w).expect("checked by with_inv");
                let i = slot_index(&first(&a), inv.slots.len())?.unwrap_or(usize::MAX);
                Ok(inv.filters.get(&i).cloned())
            })?;
            match filter {
                Some((name, quality)) => {
                    let t = lua.create_table()?;
                    t.raw_set("name", name)?;
                    t.raw_set("quality", quality)?;
                    one(lua, t)
                }
                None => one(lua, Value::Nil),
            }
        })?,
        "set_filter" => method(lua, move |lua, a| {
            let mut args = a.iter();
            let index = args.next().cloned().unwrap_or(Value::Nil);
            let filter = match args.next().cloned().unwrap_or(Value::Nil) {
                Value::Nil => None,
                v => Some(parse_filter(lua, &v)?),
            };
            with_inv(lua, id, |w, _| {
                set_filter(lua, id.get_mut(w), &index, filter)
            })
        })?,
        "is_filtered" => method(lua, move |lua, _| {
            with_inv(lua, id, |w, _| {
                one(lua, id.get(w).is_some_and(|i| !i.filters.is_empty()))
            })
        })?,
        // inventory bars exist on containers, which the emulator does not model
        "supports_bar" => method(lua, |lua, _| one(lua, false))?,
        _ => return Ok(None),
    }))
}

/// `LuaInventory::set_filter(index, filter)` on `inv` (None: the inventory is gone).
fn set_filter(
    lua: &Lua,
    inv: Option<&mut Inventory>,
    index: &Value,
    filter: Option<(String, String)>,
) -> mlua::Result<MultiValue> {
    let inv = inv.ok_or_else(|| invalid("LuaInventory"))?;
    if !inv.kind.supports_filters() {
        return Err(rt(
            "LuaInventory::set_filter: this inventory does not support filters.",
        ));
    }
    let i = slot_index(index, inv.slots.len())?
        .ok_or_else(|| rt("LuaInventory::set_filter: expected a slot index"))?;
    // the game refuses a filter the slot's current stack does not match
    if let (Some((n, q)), Some(st)) = (&filter, &inv.slots[i])
        && (st.name != *n || st.quality != *q)
    {
        return one(lua, false);
    }
    match filter {
        Some(f) => inv.filters.insert(i, f),
        None => inv.filters.remove(&i),
    };
    one(lua, true)
}

impl Handle for InvRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let id = self.0;
        {
            let sh = shared(lua);
            let w = sh.world.borrow();
            let Some(inv) = id.get(&w) else {
                if matches!(&key, Value::String(s) if s.to_string_lossy() == "valid") {
                    return Ok(Value::Boolean(false));
                }
                return Err(invalid("LuaInventory"));
            };
            if let Some(slot) = slot_index(&key, inv.slots.len())? {
                return lua
                    .create_userdata(StackRef(StackId::Slot { inv: id, slot }))
                    .map(Value::UserData);
            }
        }
        let k = key_str("LuaInventory", &key)?;
        find_member(&INVENTORY_MEMBERS, lua, id, &k)?.ok_or_else(|| no_key("LuaInventory", &key))
    }

    /// An inventory has no writable fields.
    fn newindex(&self, _: &Lua, key: Value, _: Value) -> mlua::Result<()> {
        Err(no_key("LuaInventory", &key))
    }

    fn describe(&self) -> String {
        "LuaInventory".into()
    }
}

impl UserData for InvRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
        m.add_meta_method(MetaMethod::Len, |lua, this, ()| {
            let sh = shared(lua);
            let w = sh.world.borrow();
            this.0
                .get(&w)
                .map(|i| i.slots.len() as f64)
                .ok_or_else(|| invalid("LuaInventory"))
        });
    }
}
