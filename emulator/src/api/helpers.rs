//! `helpers` and `prototypes`.

use mlua::{Lua, MetaMethod, Table, UserData, UserDataMethods, Value};

use super::handle::add_eq;
use super::{key_str, no_key, set_index_metamethod};
use crate::context::shared;
use crate::game_strings;
use crate::lua_json;
use crate::sandbox::rt;

pub(crate) fn create_helpers(lua: &Lua) -> mlua::Result<Table> {
    let h = lua.create_table()?;
    h.raw_set(
        "table_to_json",
        lua.create_function(|_, v: Value| {
            if !matches!(v, Value::Table(_)) {
                return Err(rt(format!(
                    "helpers.table_to_json: expected a table, got {}",
                    v.type_name()
                )));
            }
            lua_json::lua_to_json(&v).map_err(|e| rt(format!("helpers.table_to_json: {e}")))
        })?,
    )?;
    h.raw_set(
        "json_to_table",
        lua.create_function(|lua, s: mlua::LuaString| lua_json::json_to_lua(lua, &s.as_bytes()))?,
    )?;
    h.raw_set(
        "encode_string",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            // "The encoded string or nil if the encode failed." (LuaHelpers, 2.0.45)
            let limit = crate::context::shared(lua)
                .statics
                .encode_string_fails_above;
            if limit.is_some_and(|max| bytes.len() > max) {
                return Ok(Value::Nil);
            }
            Ok(Value::String(
                lua.create_string(game_strings::encode_string(&bytes))?,
            ))
        })?,
    )?;
    h.raw_set(
        "decode_string",
        lua.create_function(|lua, s: mlua::LuaString| {
            match game_strings::decode_string(&s.as_bytes()) {
                Some(bytes) => Ok(Value::String(lua.create_string(bytes)?)),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    set_index_metamethod(lua, &h, |_, (_t, k): (Table, Value)| -> mlua::Result<()> {
        Err(no_key("LuaHelpers", &k))
    })?;
    Ok(h)
}

/// `LuaItemPrototype` handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemProtoRef(pub String);

/// `LuaQualityPrototype` handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QualityProtoRef(pub String);

impl UserData for ItemProtoRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            let sh = shared(lua);
            let Some(p) = sh.statics.protos.item(&this.0) else {
                return Err(super::invalid("LuaItemPrototype"));
            };
            let k = key_str("LuaItemPrototype", &key)?;
            Ok(match k.as_str() {
                "name" => Value::String(lua.create_string(p.name)?),
                "type" => Value::String(lua.create_string(p.kind)?),
                "stack_size" => Value::Number(f64::from(p.stack_size)),
                "valid" => Value::Boolean(true),
                "object_name" => Value::String(lua.create_string("LuaItemPrototype")?),
                "durability" => p.durability.map(Value::Number).unwrap_or(Value::Nil),
                // 2.0: `get_durability(quality?)`, the durability at that quality
                "get_durability" => {
                    let name = p.name;
                    super::method(lua, move |lua, args| {
                        let protos = &shared(lua).statics.protos;
                        let quality = super::inventory::quality_name(
                            protos,
                            &args.into_iter().next().unwrap_or(Value::Nil),
                        )?;
                        Ok(mlua::MultiValue::from_iter([protos
                            .durability(name, &quality)
                            .map(Value::Number)
                            .unwrap_or(Value::Nil)]))
                    })?
                }
                "magazine_size" => p
                    .magazine_size
                    .map(|m| Value::Number(f64::from(m)))
                    .unwrap_or(Value::Nil),
                _ => return Err(no_key("LuaItemPrototype", &key)),
            })
        });
        add_eq(m);
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("LuaItemPrototype: {}", this.0))
        });
    }
}

impl UserData for QualityProtoRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            let sh = shared(lua);
            let Some(q) = sh.statics.protos.quality(&this.0) else {
                return Err(super::invalid("LuaQualityPrototype"));
            };
            let k = key_str("LuaQualityPrototype", &key)?;
            Ok(match k.as_str() {
                "name" => Value::String(lua.create_string(q.name)?),
                "level" => Value::Number(f64::from(q.level)),
                "valid" => Value::Boolean(true),
                "object_name" => Value::String(lua.create_string("LuaQualityPrototype")?),
                _ => return Err(no_key("LuaQualityPrototype", &key)),
            })
        });
        add_eq(m);
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("LuaQualityPrototype: {}", this.0))
        });
    }
}

pub(crate) fn create_prototypes(lua: &Lua) -> mlua::Result<Table> {
    let sh = shared(lua);
    let p = lua.create_table()?;
    let items = lua.create_table()?;
    for proto in sh.statics.protos.items() {
        items.raw_set(proto.name, ItemProtoRef(proto.name.to_string()))?;
    }
    p.raw_set("item", items)?;
    let qualities = lua.create_table()?;
    for q in crate::items::QUALITIES.iter() {
        qualities.raw_set(q.name, QualityProtoRef(q.name.to_string()))?;
    }
    p.raw_set("quality", qualities)?;
    set_index_metamethod(lua, &p, |_, (_t, k): (Table, Value)| -> mlua::Result<()> {
        Err(rt(format!(
            "LuaPrototypes doesn't contain key {}. (the emulator models prototypes.item and prototypes.quality)",
            match &k {
                Value::String(s) => s.to_string_lossy(),
                other => other.type_name().to_string(),
            }
        )))
    })?;
    Ok(p)
}
