//! `LuaLogisticPoint` (a character's requester point) and `LuaLogisticSection`, after the
//! runtime API description 2.0.45: the point's `enabled` and `trash_not_requested`
//! (read-write), `sections`, `sections_count`, `add_section(group?)` (nil when full),
//! `get_section(i)`, `remove_section(i)`; a section's `group`, `active`, `multiplier` (a
//! `float`) and `filters` (read-write), `filters_count`, `index`, `type`, `is_manual`,
//! `get_slot(i)`, `set_slot(i, filter)`, `clear_slot(i)`. A filter is a `LogisticFilter`:
//! `value` (an item name, or `{type = "item", name, quality?, comparator?}`), `min` (an `int`,
//! default 0), `max` (a `uint`, nil for infinite), `min <= max`.

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};

use super::entity::EntityRef;
use super::handle::{Handle, add_handle_metamethods, gone};
use super::inventory::quality_name;
use super::player::ForceRef;
use super::{as_bool, as_number, as_string, as_uint, first, invalid, key_str, method, no_key, one};
use crate::context::shared;
use crate::logistics::{
    self, COMPARATORS, LogisticFilter, LogisticSection, MAX_SLOT, RequesterPoint,
};
use crate::sandbox::rt;
use crate::world::World;

/// `defines.logistic_mode` (the values are the emulator's).
pub(crate) const LOGISTIC_MODES: &[(&str, u32)] = &[
    ("none", 0),
    ("active_provider", 1),
    ("storage", 2),
    ("requester", 3),
    ("passive_provider", 4),
    ("buffer", 5),
];
/// `defines.logistic_section_type` (the values are the emulator's).
pub(crate) const SECTION_TYPES: &[(&str, u32)] = &[
    ("manual", 0),
    ("circuit_controlled", 1),
    ("request_missing_materials_controlled", 2),
    ("transitional_request_controlled", 3),
];
const MODE_REQUESTER: u32 = 3;
const SECTION_MANUAL: u32 = 0;

/// `LuaLogisticPoint` handle: the requester point of the character with this unit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PointRef(pub u32);

/// `LuaLogisticSection` handle: the section with identity `id` of a character's point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionRef {
    pub unit: u32,
    pub id: u32,
}

fn point(w: &World, unit: u32) -> Option<&RequesterPoint> {
    w.characters.get(&unit).map(|c| &c.requester)
}

fn read_only(class: &str, key: &str) -> mlua::Error {
    rt(format!("{class}::{key} is read-only."))
}

/// A slot index of a section, 1..=65535 (the game raises outside).
fn slot_index(v: &Value) -> mlua::Result<u32> {
    super::index_in(v, "a logistic section", MAX_SLOT)
}

/// A whole number in `lo..=hi`.
fn whole(v: &Value, what: &str, lo: f64, hi: f64) -> mlua::Result<f64> {
    let n = as_number(v, what)?;
    if n.fract() != 0.0 || n < lo || n > hi {
        return Err(rt(format!(
            "{what}: expected a whole number in {lo}..{hi}, got {n}"
        )));
    }
    Ok(n)
}

/// Parses a `LogisticFilter`; None for one without `value` (an empty slot).
fn parse_filter(lua: &Lua, v: &Value) -> mlua::Result<Option<LogisticFilter>> {
    let Value::Table(t) = v else {
        return Err(rt(format!(
            "LogisticFilter: expected a table, got {}",
            v.type_name()
        )));
    };
    let (name, quality, comparator) = match t.raw_get::<Value>("value")? {
        Value::Nil => return Ok(None),
        Value::String(s) => (s.to_string_lossy(), None, None),
        Value::Table(sig) => {
            match sig.raw_get::<Value>("type")? {
                Value::Nil => {}
                kind => {
                    let kind = as_string(&kind, "LogisticFilter.value.type")?;
                    if kind != "item" {
                        return Err(rt(format!(
                            "LogisticFilter.value.type: a requester point requests items, not {kind}"
                        )));
                    }
                }
            }
            let name = as_string(&sig.raw_get::<Value>("name")?, "LogisticFilter.value.name")?;
            let sh = shared(lua);
            let quality = match sig.raw_get::<Value>("quality")? {
                Value::Nil => None,
                q => Some(quality_name(&sh.statics.protos, &q)?),
            };
            let comparator = match sig.raw_get::<Value>("comparator")? {
                Value::Nil => None,
                c => {
                    let c = as_string(&c, "LogisticFilter.value.comparator")?;
                    let read = COMPARATORS.iter().find(|(given, _)| *given == c);
                    Some(
                        read.ok_or_else(|| {
                            rt(format!(
                                "LogisticFilter.value.comparator: unknown comparator {c}"
                            ))
                        })?
                        .1
                        .to_string(),
                    )
                }
            };
            // a quality without a comparator means that quality exactly
            let comparator = comparator.or_else(|| quality.as_ref().map(|_| "=".to_string()));
            (name, quality, comparator)
        }
        other => {
            return Err(rt(format!(
                "LogisticFilter.value: expected an item name or a SignalFilter table, got {}",
                other.type_name()
            )));
        }
    };
    if shared(lua).statics.protos.item(&name).is_none() {
        return Err(rt(format!("Unknown item name: {name}")));
    }
    let min = match t.raw_get::<Value>("min")? {
        Value::Nil => 0,
        v => whole(
            &v,
            "LogisticFilter.min",
            f64::from(i32::MIN),
            f64::from(i32::MAX),
        )? as i32,
    };
    let max = match t.raw_get::<Value>("max")? {
        Value::Nil => None,
        v => Some(whole(&v, "LogisticFilter.max", 0.0, f64::from(u32::MAX))? as u32),
    };
    if let Some(max) = max
        && i64::from(min) > i64::from(max)
    {
        return Err(rt(format!(
            "LogisticFilter: min ({min}) must not be greater than max ({max})"
        )));
    }
    Ok(Some(LogisticFilter {
        name,
        quality,
        comparator,
        min,
        max,
    }))
}

/// A `LogisticFilter` table (`{}` for an empty slot).
fn filter_table(lua: &Lua, f: Option<&LogisticFilter>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    if let Some(f) = f {
        let value = lua.create_table()?;
        value.raw_set("type", "item")?;
        value.raw_set("name", f.name.as_str())?;
        if let Some(q) = &f.quality {
            value.raw_set("quality", q.as_str())?;
        }
        if let Some(c) = &f.comparator {
            value.raw_set("comparator", c.as_str())?;
        }
        t.raw_set("value", value)?;
        t.raw_set("min", f.min)?;
        if let Some(max) = f.max {
            t.raw_set("max", max)?;
        }
    }
    Ok(t)
}

/// `f(groups, section)` for section `s`, or the invalid-section error.
fn with_section<T>(
    lua: &Lua,
    s: SectionRef,
    f: impl FnOnce(
        &mut std::collections::BTreeMap<String, logistics::Filters>,
        &mut LogisticSection,
    ) -> T,
) -> mlua::Result<T> {
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let World {
        characters,
        logistic_groups,
        ..
    } = &mut *w;
    let section = characters
        .get_mut(&s.unit)
        .and_then(|c| c.requester.sections.iter_mut().find(|x| x.id == s.id))
        .ok_or_else(|| invalid("LuaLogisticSection"))?;
    Ok(f(logistic_groups, section))
}

fn section_value(lua: &Lua, unit: u32, id: u32) -> mlua::Result<Value> {
    lua.create_userdata(SectionRef { unit, id })
        .map(Value::UserData)
}

/// `LuaLogisticPoint::add_section(group?)`.
fn add_section(lua: &Lua, unit: u32, group: &Value) -> mlua::Result<MultiValue> {
    let group = match group {
        Value::Nil => String::new(),
        v => as_string(v, "add_section: group")?,
    };
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let c = w
        .characters
        .get_mut(&unit)
        .ok_or_else(|| invalid("LuaLogisticPoint"))?;
    let Some(id) = c.requester.add(&group) else {
        return one(lua, Value::Nil);
    };
    if !group.is_empty() {
        // a group this force does not have yet is created, empty
        w.logistic_groups.entry(group).or_default();
    }
    drop(w);
    one(lua, section_value(lua, unit, id)?)
}

/// The 1-based section index argument, checked against the point's sections.
fn section_at(lua: &Lua, unit: u32, v: &Value) -> mlua::Result<Option<(usize, u32)>> {
    let i = as_uint(v, "section_index")?;
    let sh = shared(lua);
    let w = sh.world.borrow();
    let p = point(&w, unit).ok_or_else(|| invalid("LuaLogisticPoint"))?;
    Ok((i as usize)
        .checked_sub(1)
        .and_then(|k| p.sections.get(k).map(|s| (k, s.id))))
}

impl Handle for PointRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let unit = self.0;
        let k = key_str("LuaLogisticPoint", &key)?;
        let sh = shared(lua);
        let p = match point(&sh.world.borrow(), unit) {
            Some(p) => p.clone(),
            None => return gone("LuaLogisticPoint", &k),
        };
        Ok(match k.as_str() {
            "valid" => Value::Boolean(true),
            "object_name" => Value::String(lua.create_string("LuaLogisticPoint")?),
            "owner" => Value::UserData(lua.create_userdata(EntityRef(unit))?),
            "force" => Value::UserData(lua.create_userdata(ForceRef)?),
            "enabled" => Value::Boolean(p.enabled),
            "trash_not_requested" => Value::Boolean(p.trash_not_requested),
            "exact" => Value::Boolean(false),
            "mode" => Value::Number(f64::from(MODE_REQUESTER)),
            // no logistic networks are modelled
            "logistic_network" => Value::Nil,
            "targeted_items_pickup" | "targeted_items_deliver" => Value::Table(lua.create_table()?),
            "sections_count" => Value::Number(p.sections.len() as f64),
            "sections" => {
                let t = lua.create_table()?;
                for (i, s) in p.sections.iter().enumerate() {
                    t.raw_set(i + 1, section_value(lua, unit, s.id)?)?;
                }
                Value::Table(t)
            }
            "add_section" => method(lua, move |lua, a| add_section(lua, unit, &first(&a)))?,
            "get_section" => method(lua, move |lua, a| {
                // the description's result is not optional: an index outside raises
                let count = p_count(lua, unit)? as u32;
                let i = super::index_in(&first(&a), "the point's sections", count)?;
                let id = section_at(lua, unit, &Value::Number(f64::from(i)))?.map(|s| s.1);
                one(lua, id.map(|id| SectionRef { unit, id }))
            })?,
            "remove_section" => method(lua, move |lua, a| {
                let Some((k, _)) = section_at(lua, unit, &first(&a))? else {
                    return one(lua, false);
                };
                let sh = shared(lua);
                let mut w = sh.world.borrow_mut();
                if let Some(c) = w.characters.get_mut(&unit) {
                    c.requester.sections.remove(k);
                }
                drop(w);
                one(lua, true)
            })?,
            _ => return Err(no_key("LuaLogisticPoint", &key)),
        })
    }

    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let k = key_str("LuaLogisticPoint", &key)?;
        let sh = shared(lua);
        let mut w = sh.world.borrow_mut();
        let c = w
            .characters
            .get_mut(&self.0)
            .ok_or_else(|| invalid("LuaLogisticPoint"))?;
        match k.as_str() {
            "enabled" => c.requester.enabled = as_bool(&v, "LuaLogisticPoint.enabled")?,
            "trash_not_requested" => {
                c.requester.trash_not_requested =
                    as_bool(&v, "LuaLogisticPoint.trash_not_requested")?
            }
            "valid"
            | "object_name"
            | "owner"
            | "force"
            | "exact"
            | "mode"
            | "logistic_network"
            | "targeted_items_pickup"
            | "targeted_items_deliver"
            | "sections_count"
            | "sections"
            | "filters"
            | "logistic_member_index" => {
                return Err(read_only("LuaLogisticPoint", &k));
            }
            _ => return Err(no_key("LuaLogisticPoint", &key)),
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("LuaLogisticPoint: character {}", self.0)
    }
}

fn p_count(lua: &Lua, unit: u32) -> mlua::Result<usize> {
    let sh = shared(lua);
    let w = sh.world.borrow();
    Ok(point(&w, unit).map_or(0, |p| p.sections.len()))
}

impl UserData for PointRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}

impl Handle for SectionRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let s = *self;
        let k = key_str("LuaLogisticSection", &key)?;
        let sh = shared(lua);
        let (index, section, filters) = {
            let w = sh.world.borrow();
            let found = point(&w, s.unit).and_then(|p| {
                let i = p.position(s.id)?;
                let section = p.sections[i].clone();
                let filters = logistics::shown(&w.logistic_groups, &section)
                    .cloned()
                    .unwrap_or_default();
                Some((i + 1, section, filters))
            });
            match found {
                Some(f) => f,
                None => return gone("LuaLogisticSection", &k),
            }
        };
        Ok(match k.as_str() {
            "valid" => Value::Boolean(true),
            "object_name" => Value::String(lua.create_string("LuaLogisticSection")?),
            "owner" => Value::UserData(lua.create_userdata(EntityRef(s.unit))?),
            "index" => Value::Number(index as f64),
            "type" => Value::Number(f64::from(SECTION_MANUAL)),
            "is_manual" => Value::Boolean(true),
            "group" => Value::String(lua.create_string(&section.group)?),
            "active" => Value::Boolean(section.active),
            "multiplier" => Value::Number(section.multiplier),
            "filters_count" => Value::Number(filters.len() as f64),
            "filters" => {
                // one entry per slot up to the last used one, `{}` for an empty slot
                let t = lua.create_table()?;
                let last = filters.keys().next_back().copied().unwrap_or(0);
                for i in 1..=last {
                    t.raw_set(i, filter_table(lua, filters.get(&i))?)?;
                }
                Value::Table(t)
            }
            "get_slot" => method(lua, move |lua, a| {
                let i = slot_index(&first(&a))?;
                let f = with_section(lua, s, |groups, sec| {
                    logistics::shown(groups, sec)
                        .and_then(|f| f.get(&i))
                        .cloned()
                })?;
                one(lua, filter_table(lua, f.as_ref())?)
            })?,
            "set_slot" => method(lua, move |lua, a| {
                let mut args = a.iter();
                let i = slot_index(args.next().unwrap_or(&Value::Nil))?;
                let filter = parse_filter(lua, args.next().unwrap_or(&Value::Nil))?;
                // "This will silently fail if personal logistics are not researched yet."
                if !shared(lua).world.borrow().character_logistic_requests {
                    return Ok(MultiValue::new());
                }
                with_section(lua, s, |groups, sec| {
                    let edited = logistics::edited(groups, sec);
                    match filter {
                        Some(f) => edited.insert(i, f),
                        None => edited.remove(&i),
                    };
                })?;
                Ok(MultiValue::new())
            })?,
            "clear_slot" => method(lua, move |lua, a| {
                let i = slot_index(&first(&a))?;
                with_section(lua, s, |groups, sec| {
                    logistics::edited(groups, sec).remove(&i);
                })?;
                Ok(MultiValue::new())
            })?,
            _ => return Err(no_key("LuaLogisticSection", &key)),
        })
    }

    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let k = key_str("LuaLogisticSection", &key)?;
        match k.as_str() {
            "group" => {
                let group = as_string(&v, "LuaLogisticSection.group")?;
                with_section(lua, *self, |groups, sec| {
                    logistics::regroup(groups, sec, &group)
                })
            }
            "active" => {
                let on = as_bool(&v, "LuaLogisticSection.active")?;
                with_section(lua, *self, |_, sec| sec.active = on)
            }
            "multiplier" => {
                let m = as_number(&v, "LuaLogisticSection.multiplier")?;
                if !m.is_finite() || m < 0.0 || m > f64::from(f32::MAX) {
                    return Err(rt(format!(
                        "LuaLogisticSection.multiplier: expected a float >= 0, got {m}"
                    )));
                }
                // a `float`: single precision, as the game keeps it
                with_section(lua, *self, |_, sec| sec.multiplier = f64::from(m as f32))
            }
            "filters" => {
                let Value::Table(t) = &v else {
                    return Err(rt(format!(
                        "LuaLogisticSection.filters: expected an array of LogisticFilter, got {}",
                        v.type_name()
                    )));
                };
                let n = t.raw_len();
                if n > MAX_SLOT as usize {
                    return Err(rt(format!(
                        "LuaLogisticSection.filters: {n} filters, a section has at most {MAX_SLOT}"
                    )));
                }
                let mut filters = logistics::Filters::new();
                for i in 1..=n {
                    if let Some(f) = parse_filter(lua, &t.raw_get::<Value>(i)?)? {
                        filters.insert(i as u32, f);
                    }
                }
                with_section(lua, *self, |groups, sec| {
                    *logistics::edited(groups, sec) = filters;
                })
            }
            "valid" | "object_name" | "owner" | "index" | "type" | "is_manual"
            | "filters_count" => Err(read_only("LuaLogisticSection", &k)),
            _ => Err(no_key("LuaLogisticSection", &key)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "LuaLogisticSection: character {} section {}",
            self.unit, self.id
        )
    }
}

impl UserData for SectionRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}

/// `LuaControl::get_requester_point()` of character `unit` as a method value.
pub(crate) fn get_requester_point(lua: &Lua, unit: Option<u32>) -> mlua::Result<Value> {
    method(lua, move |lua, _| one(lua, unit.map(PointRef)))
}
