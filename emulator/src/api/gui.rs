//! `LuaGuiElement`: frame, label, progressbar, button, flow and empty-widget.

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};

use super::handle::{Handle, add_handle_metamethods, gone};
use super::player::GuiHolder;
use super::{as_bool, as_number, as_string, field_or, invalid, key_str, method, no_key};
use crate::context::shared;
use crate::lua_json::{lua_to_serde, serde_to_lua};
use crate::sandbox::rt;
use crate::world::{GUI_TYPES, GuiElement};

/// `LuaGuiElement` handle, by element index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuiRef(pub u32);

fn localised(v: &Value, what: &str) -> mlua::Result<serde_json::Value> {
    match v {
        Value::Nil => Ok(serde_json::Value::String(String::new())),
        Value::String(s) => Ok(serde_json::Value::String(s.to_string_lossy())),
        Value::Integer(_) | Value::Number(_) | Value::Boolean(_) | Value::Table(_) => {
            lua_to_serde(v).map_err(|e| rt(format!("{what}: not a valid LocalisedString: {e}")))
        }
        other => Err(rt(format!(
            "{what}: expected a LocalisedString, got {}",
            other.type_name()
        ))),
    }
}

fn add(lua: &Lua, parent: u32, spec: Table) -> mlua::Result<Value> {
    let kind = as_string(&spec.raw_get::<Value>("type")?, "LuaGuiElement.add type")?;
    if !GUI_TYPES.contains(&kind.as_str()) {
        return Err(rt(format!(
            "LuaGuiElement.add: unknown or unmodelled element type '{kind}' (the emulator has {})",
            GUI_TYPES.join(", ")
        )));
    }
    let name = field_or(&spec, "name", String::new(), |v| {
        as_string(&v, "LuaGuiElement.add name")
    })?;
    let caption = localised(
        &spec.raw_get::<Value>("caption")?,
        "LuaGuiElement.add caption",
    )?;
    let tooltip = localised(
        &spec.raw_get::<Value>("tooltip")?,
        "LuaGuiElement.add tooltip",
    )?;
    let value = field_or(&spec, "value", 0.0, |v| {
        let n = as_number(&v, "LuaGuiElement.add value")?;
        if kind != "progressbar" {
            return Err(rt(format!(
                "LuaGuiElement.add: 'value' is only valid for progressbar, not {kind}"
            )));
        }
        if !(0.0..=1.0).contains(&n) {
            return Err(rt(format!(
                "LuaGuiElement.add: progressbar value {n} is outside [0, 1]"
            )));
        }
        Ok(n)
    })?;
    let visible = field_or(&spec, "visible", true, |v| {
        as_bool(&v, "LuaGuiElement.add visible")
    })?;
    let enabled = field_or(&spec, "enabled", true, |v| {
        as_bool(&v, "LuaGuiElement.add enabled")
    })?;
    let direction = field_or(&spec, "direction", "horizontal".to_string(), |v| {
        let d = as_string(&v, "LuaGuiElement.add direction")?;
        if d != "horizontal" && d != "vertical" {
            return Err(rt(format!(
                "LuaGuiElement.add: direction must be horizontal or vertical, got {d}"
            )));
        }
        Ok(d)
    })?;
    let style = field_or(&spec, "style", String::new(), |v| {
        as_string(&v, "LuaGuiElement.add style")
    })?;
    let tags = field_or(
        &spec,
        "tags",
        serde_json::Value::Object(Default::default()),
        |v| match v {
            Value::Table(_) => {
                lua_to_serde(&v).map_err(|e| rt(format!("LuaGuiElement.add tags: {e}")))
            }
            other => Err(rt(format!(
                "LuaGuiElement.add tags: expected a table, got {}",
                other.type_name()
            ))),
        },
    )?;
    let sh = shared(lua);
    let mut w = sh.world.borrow_mut();
    let Some(p) = w.gui.get(&parent) else {
        return Err(invalid("LuaGuiElement"));
    };
    let player = p.player;
    if !name.is_empty()
        && p.children
            .iter()
            .any(|c| w.gui.get(c).is_some_and(|e| e.name == name))
    {
        return Err(rt(format!(
            "Gui element with name {name} already present in the parent element."
        )));
    }
    let id = w.alloc_gui(player, Some(parent), &kind, &name);
    let e = w.gui.get_mut(&id).expect("just allocated");
    e.caption = caption;
    e.tooltip = tooltip;
    e.value = value;
    e.visible = visible;
    e.enabled = enabled;
    e.direction = direction;
    e.style = style;
    e.tags = tags;
    drop(w);
    Ok(Value::UserData(lua.create_userdata(GuiRef(id))?))
}

/// The element types a member belongs to, where the description restricts it
/// (`subclasses` in runtime-api.json 2.0.45); the game refuses it on the others.
fn element_types(key: &str) -> Option<&'static [&'static str]> {
    Some(match key {
        "value" => &["progressbar"],
        "direction" => &["frame", "flow", "line"],
        "force_auto_center" => &["frame"],
        _ => return None,
    })
}

/// Refuses member `key` on an element of type `kind` that it does not belong to.
fn only_on(key: &str, kind: &str) -> mlua::Result<()> {
    match element_types(key) {
        Some(types) if !types.contains(&kind) => Err(rt(format!(
            "LuaGuiElement::{key} is only usable on {} elements, not on a {kind}.",
            types.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// The attributes of element `id` (`e`, read at the access).
fn gui_field(lua: &Lua, id: u32, e: &GuiElement, key: &str) -> mlua::Result<Option<Value>> {
    let s = |v: &str| lua.create_string(v).map(Value::String);
    Ok(Some(match key {
        "valid" => Value::Boolean(true),
        "object_name" => s("LuaGuiElement")?,
        "index" => Value::Number(f64::from(id)),
        "name" => s(&e.name)?,
        "type" => s(&e.kind)?,
        "caption" => serde_to_lua(lua, &e.caption)?,
        "tooltip" => serde_to_lua(lua, &e.tooltip)?,
        "value" => {
            if e.kind != "progressbar" {
                return Err(rt(format!(
                    "LuaGuiElement.value: not available for {}",
                    e.kind
                )));
            }
            Value::Number(e.value)
        }
        "visible" => Value::Boolean(e.visible),
        "enabled" => Value::Boolean(e.enabled),
        "direction" => s(&e.direction)?,
        "style" => s(&e.style)?,
        "auto_center" => Value::Boolean(e.auto_center),
        "tags" => serde_to_lua(lua, &e.tags)?,
        "player_index" => Value::Number(f64::from(e.player)),
        "gui" => Value::UserData(lua.create_userdata(GuiHolder(e.player))?),
        "parent" => match e.parent {
            Some(p) => Value::UserData(lua.create_userdata(GuiRef(p))?),
            None => Value::Nil,
        },
        "children" => {
            let t = lua.create_table()?;
            for (i, c) in e.children.iter().enumerate() {
                t.raw_set(i + 1, GuiRef(*c))?;
            }
            Value::Table(t)
        }
        "children_names" => {
            let sh = shared(lua);
            let w = sh.world.borrow();
            let t = lua.create_table()?;
            for (i, c) in e.children.iter().enumerate() {
                t.raw_set(
                    i + 1,
                    w.gui.get(c).map(|c| c.name.clone()).unwrap_or_default(),
                )?;
            }
            Value::Table(t)
        }
        _ => return Ok(None),
    }))
}

/// The methods of element `id`.
fn gui_method(lua: &Lua, id: u32, key: &str) -> mlua::Result<Option<Value>> {
    Ok(Some(match key {
        "add" => method(lua, move |lua, a| {
            let Some(Value::Table(spec)) = a.iter().next().cloned() else {
                return Err(rt(
                    "LuaGuiElement.add: expected a table {type=..., name=...}",
                ));
            };
            Ok(MultiValue::from_iter([add(lua, id, spec)?]))
        })?,
        "destroy" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let mut w = sh.world.borrow_mut();
            match w.gui.get(&id) {
                None => return Err(invalid("LuaGuiElement")),
                Some(e) if e.parent.is_none() => {
                    return Err(rt(
                        "LuaGuiElement.destroy: root elements can't be destroyed",
                    ));
                }
                _ => {}
            }
            w.destroy_gui(id);
            Ok(MultiValue::new())
        })?,
        "clear" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let mut w = sh.world.borrow_mut();
            let children = w
                .gui
                .get(&id)
                .ok_or_else(|| invalid("LuaGuiElement"))?
                .children
                .clone();
            for c in children {
                w.destroy_gui(c);
            }
            Ok(MultiValue::new())
        })?,
        "force_auto_center" => method(lua, move |lua, _| {
            let sh = shared(lua);
            let mut w = sh.world.borrow_mut();
            w.gui
                .get_mut(&id)
                .ok_or_else(|| invalid("LuaGuiElement"))?
                .auto_center = true;
            Ok(MultiValue::new())
        })?,
        "bring_to_front" | "focus" => method(lua, move |lua, _| {
            let sh = shared(lua);
            if !sh.world.borrow().gui.contains_key(&id) {
                return Err(invalid("LuaGuiElement"));
            }
            Ok(MultiValue::new())
        })?,
        _ => return Ok(None),
    }))
}

impl Handle for GuiRef {
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value> {
        let id = self.0;
        let k = key_str("LuaGuiElement", &key)?;
        let sh = shared(lua);
        let e = {
            let w = sh.world.borrow();
            match w.gui.get(&id) {
                Some(e) => e.clone(),
                None => return gone("LuaGuiElement", &k),
            }
        };
        only_on(&k, &e.kind)?;
        if let Some(v) = gui_field(lua, id, &e, &k)? {
            return Ok(v);
        }
        if let Some(v) = gui_method(lua, id, &k)? {
            return Ok(v);
        }
        // Like the game: a child can be reached by its name; a missing one is nil.
        let w = sh.world.borrow();
        match e
            .children
            .iter()
            .find(|c| w.gui.get(c).is_some_and(|c| c.name == k))
        {
            Some(c) => Ok(Value::UserData(lua.create_userdata(GuiRef(*c))?)),
            None => Ok(Value::Nil),
        }
    }
    fn newindex(&self, lua: &Lua, key: Value, v: Value) -> mlua::Result<()> {
        let k = key_str("LuaGuiElement", &key)?;
        let caption = matches!(k.as_str(), "caption" | "tooltip")
            .then(|| localised(&v, &format!("LuaGuiElement.{k}")))
            .transpose()?;
        let tags = if k == "tags" {
            Some(lua_to_serde(&v).map_err(|e| rt(format!("LuaGuiElement.tags: {e}")))?)
        } else {
            None
        };
        let sh = shared(lua);
        let mut w = sh.world.borrow_mut();
        let e = w
            .gui
            .get_mut(&self.0)
            .ok_or_else(|| invalid("LuaGuiElement"))?;
        only_on(&k, &e.kind)?;
        match k.as_str() {
            "caption" => e.caption = caption.expect("computed above"),
            "tooltip" => e.tooltip = caption.expect("computed above"),
            "tags" => e.tags = tags.expect("computed above"),
            "value" => {
                if e.kind != "progressbar" {
                    return Err(rt(format!(
                        "LuaGuiElement.value: not available for {}",
                        e.kind
                    )));
                }
                let n = as_number(&v, "LuaGuiElement.value")?;
                if !(0.0..=1.0).contains(&n) {
                    return Err(rt(format!(
                        "LuaGuiElement.value: progressbar value {n} is outside [0, 1]"
                    )));
                }
                e.value = n;
            }
            "visible" => e.visible = as_bool(&v, "LuaGuiElement.visible")?,
            "enabled" => e.enabled = as_bool(&v, "LuaGuiElement.enabled")?,
            "auto_center" => e.auto_center = as_bool(&v, "LuaGuiElement.auto_center")?,
            "style" => e.style = as_string(&v, "LuaGuiElement.style")?,
            "name" => e.name = as_string(&v, "LuaGuiElement.name")?,
            _ => return Err(no_key("LuaGuiElement", &key)),
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("LuaGuiElement: {}", self.0)
    }
}

impl UserData for GuiRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        add_handle_metamethods(m);
    }
}
