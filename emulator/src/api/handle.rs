//! The metamethods API handles share, registered in one place.
//!
//! A handle (`LuaPlayer`, `LuaEntity`, ...) reads and writes its fields through `__index` and
//! `__newindex`, compares equal to a handle of the same type naming the same thing, and shows a
//! short description through `tostring`. Handles that only read (`LuaGui`, `LuaSurface`,
//! prototypes) register their own `__index` and use [`add_eq`].

use mlua::{AnyUserData, Lua, MetaMethod, UserDataMethods, Value};

use super::invalid;

/// An API object handle with readable and writable fields.
pub(crate) trait Handle: PartialEq + Sized + 'static {
    /// `handle.key`.
    fn index(&self, lua: &Lua, key: Value) -> mlua::Result<Value>;
    /// `handle.key = value`.
    fn newindex(&self, lua: &Lua, key: Value, value: Value) -> mlua::Result<()>;
    /// What `tostring(handle)` gives.
    fn describe(&self) -> String;
}

/// Registers `__index`, `__newindex`, `__eq` and `__tostring` of a [`Handle`].
pub(crate) fn add_handle_metamethods<T: Handle, M: UserDataMethods<T>>(m: &mut M) {
    m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
        this.index(lua, key)
    });
    m.add_meta_method(
        MetaMethod::NewIndex,
        |lua, this, (key, value): (Value, Value)| this.newindex(lua, key, value),
    );
    add_eq(m);
    m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.describe()));
}

/// Registers `__eq`: equal when the other operand is a handle of the same type naming the same
/// thing.
pub(crate) fn add_eq<T: PartialEq + 'static, M: UserDataMethods<T>>(m: &mut M) {
    m.add_meta_method(MetaMethod::Eq, |_, this, other: AnyUserData| {
        Ok(other.borrow::<T>().map(|o| *o == *this).unwrap_or(false))
    });
}

/// What reading `key` of a handle whose object is gone gives, like the game: `valid` is false,
/// anything else is the "<Class> API call when <Class> was invalid." error.
pub(crate) fn gone(class: &str, key: &str) -> mlua::Result<Value> {
    if key == "valid" {
        Ok(Value::Boolean(false))
    } else {
        Err(invalid(class))
    }
}
