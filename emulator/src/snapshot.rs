//! `storage` as data: save, restore, canonical checksum and path listing.
//!
//! The snapshot is a graph of tables (so shared references and cycles survive a save/load like in
//! the game). It is canonical: tables are numbered in the order a traversal meets them, visiting
//! each table's entries sorted by key (booleans, numbers, strings, object references, then tables
//! ordered by a content digest), so two Lua states holding equal data produce byte-identical
//! snapshots whatever their internal `pairs` order. API objects (`LuaPlayer`, ...) are saved as
//! references; functions, coroutines and foreign userdata cannot be saved, as in the game.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::c_void;
use std::hash::{DefaultHasher, Hash, Hasher};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mlua::{AnyUserData, Lua, Table, Value};
use serde::{Deserialize, Serialize};

use crate::api::entity::EntityRef;
use crate::api::gui::GuiRef;
use crate::api::helpers::{ItemProtoRef, QualityProtoRef};
use crate::api::inventory::InvRef;
use crate::api::item_stack::StackRef;
use crate::api::logistics::{PointRef, SectionRef};
use crate::api::player::{GuiHolder, PlayerRef, SurfaceRef};
use crate::api::refs::ObjRef;

/// One saved value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SVal {
    Bool(bool),
    Num(f64),
    /// A non-finite number, by its bit pattern.
    NumBits(u64),
    Str(String),
    /// A string that is not valid UTF-8, in base64.
    Bytes(String),
    Table(u32),
    Ref(ObjRef),
}

/// A saved table graph; `tables[root]` is `storage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct Snapshot {
    pub root: u32,
    pub tables: Vec<Vec<(SVal, SVal)>>,
}

/// Deepest table nesting a snapshot follows.
pub(crate) const MAX_DEPTH: usize = 10_000;

fn userdata_ref(ud: &AnyUserData) -> Option<ObjRef> {
    if let Ok(r) = ud.borrow::<PlayerRef>() {
        return Some(ObjRef::Player(r.0));
    }
    if let Ok(r) = ud.borrow::<EntityRef>() {
        return Some(ObjRef::Entity(r.0));
    }
    if let Ok(r) = ud.borrow::<InvRef>() {
        return Some(ObjRef::Inventory(r.0));
    }
    if let Ok(r) = ud.borrow::<StackRef>() {
        return Some(ObjRef::ItemStack(r.0));
    }
    if let Ok(r) = ud.borrow::<GuiRef>() {
        return Some(ObjRef::Gui(r.0));
    }
    if let Ok(r) = ud.borrow::<GuiHolder>() {
        return Some(ObjRef::GuiHolder(r.0));
    }
    if let Ok(r) = ud.borrow::<ItemProtoRef>() {
        return Some(ObjRef::ItemProto(r.0.clone()));
    }
    if let Ok(r) = ud.borrow::<QualityProtoRef>() {
        return Some(ObjRef::QualityProto(r.0.clone()));
    }
    if let Ok(r) = ud.borrow::<SurfaceRef>() {
        return Some(ObjRef::Surface(r.0));
    }
    if let Ok(r) = ud.borrow::<PointRef>() {
        return Some(ObjRef::LogisticPoint(r.0));
    }
    if let Ok(r) = ud.borrow::<SectionRef>() {
        return Some(ObjRef::LogisticSection {
            unit: r.unit,
            id: r.id,
        });
    }
    None
}

/// Create the userdata for a reference.
pub(crate) fn ref_to_lua(lua: &Lua, r: &ObjRef) -> mlua::Result<Value> {
    let ud = match r {
        ObjRef::Player(i) => lua.create_userdata(PlayerRef(*i))?,
        ObjRef::Entity(u) => lua.create_userdata(EntityRef(*u))?,
        ObjRef::Inventory(id) => lua.create_userdata(InvRef(*id))?,
        ObjRef::ItemStack(id) => lua.create_userdata(StackRef(*id))?,
        ObjRef::Gui(i) => lua.create_userdata(GuiRef(*i))?,
        ObjRef::GuiHolder(i) => lua.create_userdata(GuiHolder(*i))?,
        ObjRef::ItemProto(n) => lua.create_userdata(ItemProtoRef(n.clone()))?,
        ObjRef::QualityProto(n) => lua.create_userdata(QualityProtoRef(n.clone()))?,
        ObjRef::Surface(i) => lua.create_userdata(SurfaceRef(*i))?,
        ObjRef::LogisticPoint(u) => lua.create_userdata(PointRef(*u))?,
        ObjRef::LogisticSection { unit, id } => lua.create_userdata(SectionRef {
            unit: *unit,
            id: *id,
        })?,
    };
    Ok(Value::UserData(ud))
}

/// Order class of a key.
#[derive(Debug, PartialEq, PartialOrd)]
enum KeyOrder {
    Bool(bool),
    Num(f64),
    Str(Vec<u8>),
    Ref(ObjRef),
    Table(u64),
}

fn scalar(v: &Value, path: &str) -> Result<Option<SVal>, String> {
    Ok(Some(match v {
        Value::Boolean(b) => SVal::Bool(*b),
        Value::Integer(i) => SVal::Num(*i as f64),
        Value::Number(n) if n.is_finite() => SVal::Num(*n),
        Value::Number(n) => SVal::NumBits(n.to_bits()),
        Value::String(s) => {
            let b = s.as_bytes();
            match std::str::from_utf8(&b) {
                Ok(s) => SVal::Str(s.to_string()),
                Err(_) => SVal::Bytes(STANDARD.encode(&*b)),
            }
        }
        Value::UserData(ud) => SVal::Ref(userdata_ref(ud).ok_or_else(|| {
            format!("{path}: userdata that is not a game object cannot be saved")
        })?),
        Value::Table(_) => return Ok(None),
        other => {
            return Err(format!(
                "{path}: a value of type {} cannot be saved",
                other.type_name()
            ));
        }
    }))
}

fn digest(v: &Value, depth: usize, h: &mut DefaultHasher) {
    match v {
        Value::Table(t) if depth > 0 => {
            let mut parts: Vec<u64> = Vec::new();
            for (k, val) in t.pairs::<Value, Value>().flatten() {
                let mut eh = DefaultHasher::new();
                digest(&k, depth - 1, &mut eh);
                digest(&val, depth - 1, &mut eh);
                parts.push(eh.finish());
            }
            parts.sort_unstable();
            5u8.hash(h);
            parts.hash(h);
        }
        Value::Table(_) => 6u8.hash(h),
        other => match scalar(other, "") {
            Ok(Some(s)) => serde_json::to_string(&s).unwrap_or_default().hash(h),
            _ => 7u8.hash(h),
        },
    }
}

fn key_order(k: &Value) -> KeyOrder {
    match k {
        Value::Boolean(b) => KeyOrder::Bool(*b),
        Value::Integer(i) => KeyOrder::Num(*i as f64),
        Value::Number(n) => KeyOrder::Num(*n),
        Value::String(s) => KeyOrder::Str(s.as_bytes().to_vec()),
        Value::UserData(ud) => userdata_ref(ud)
            .map(KeyOrder::Ref)
            .unwrap_or(KeyOrder::Table(0)),
        other => {
            let mut h = DefaultHasher::new();
            digest(other, 4, &mut h);
            KeyOrder::Table(h.finish())
        }
    }
}

fn rank(k: &KeyOrder) -> u8 {
    match k {
        KeyOrder::Bool(_) => 0,
        KeyOrder::Num(_) => 1,
        KeyOrder::Str(_) => 2,
        KeyOrder::Ref(_) => 3,
        KeyOrder::Table(_) => 4,
    }
}

fn cmp_keys(a: &KeyOrder, b: &KeyOrder) -> std::cmp::Ordering {
    rank(a)
        .cmp(&rank(b))
        .then_with(|| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
}

fn key_path(path: &str, k: &Value) -> String {
    match k {
        Value::String(s) => format!("{path}.{}", s.to_string_lossy()),
        Value::Integer(i) => format!("{path}[{i}]"),
        Value::Number(n) => format!("{path}[{n}]"),
        other => format!("{path}[<{}>]", other.type_name()),
    }
}

/// Take a canonical snapshot of `root`.
pub(crate) fn take(root: &Table) -> Result<Snapshot, String> {
    let mut ids: HashMap<*const c_void, u32> = HashMap::new();
    let mut tables: Vec<Vec<(SVal, SVal)>> = Vec::new();
    let mut queue: VecDeque<(Table, u32, String, usize)> = VecDeque::new();
    ids.insert(root.to_pointer(), 0);
    tables.push(Vec::new());
    queue.push_back((root.clone(), 0, "storage".to_string(), 0));
    while let Some((t, id, path, depth)) = queue.pop_front() {
        if depth > MAX_DEPTH {
            return Err(format!("{path}: tables nested deeper than {MAX_DEPTH}"));
        }
        let mut entries: Vec<(KeyOrder, Value, Value)> = Vec::new();
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(|e| format!("{path}: {e}"))?;
            entries.push((key_order(&k), k, v));
        }
        entries.sort_by(|a, b| cmp_keys(&a.0, &b.0));
        let mut out = Vec::with_capacity(entries.len());
        for (_, k, v) in entries {
            let kp = key_path(&path, &k);
            let mut conv = |v: &Value, p: &str| -> Result<SVal, String> {
                if let Some(s) = scalar(v, p)? {
                    return Ok(s);
                }
                let Value::Table(child) = v else {
                    return Err(format!("{p}: cannot be saved"));
                };
                let ptr = child.to_pointer();
                if let Some(id) = ids.get(&ptr) {
                    return Ok(SVal::Table(*id));
                }
                let nid = tables.len() as u32;
                ids.insert(ptr, nid);
                tables.push(Vec::new());
                queue.push_back((child.clone(), nid, p.to_string(), depth + 1));
                Ok(SVal::Table(nid))
            };
            let ks = conv(&k, &format!("{kp} (key)"))?;
            let vs = conv(&v, &kp)?;
            out.push((ks, vs));
        }
        tables[id as usize] = out;
    }
    Ok(Snapshot { root: 0, tables })
}

/// Rebuild the table graph in `lua`; returns the root.
pub(crate) fn restore(lua: &Lua, snap: &Snapshot) -> mlua::Result<Table> {
    let tables: Vec<Table> = (0..snap.tables.len())
        .map(|_| lua.create_table())
        .collect::<mlua::Result<_>>()?;
    let conv =
        |v: &SVal| -> mlua::Result<Value> {
            Ok(match v {
                SVal::Bool(b) => Value::Boolean(*b),
                SVal::Num(n) => Value::Number(*n),
                SVal::NumBits(b) => Value::Number(f64::from_bits(*b)),
                SVal::Str(s) => Value::String(lua.create_string(s)?),
                SVal::Bytes(b) => {
                    Value::String(lua.create_string(STANDARD.decode(b).map_err(|e| {
                        crate::sandbox::rt(format!("save: bad bytes value: {e}"))
                    })?)?)
                }
                SVal::Table(i) => {
                    Value::Table(tables.get(*i as usize).cloned().ok_or_else(|| {
                        crate::sandbox::rt(format!("save: table {i} does not exist"))
                    })?)
                }
                SVal::Ref(r) => ref_to_lua(lua, r)?,
            })
        };
    for (t, entries) in tables.iter().zip(&snap.tables) {
        for (k, v) in entries {
            t.raw_set(conv(k)?, conv(v)?)?;
        }
    }
    tables
        .get(snap.root as usize)
        .cloned()
        .ok_or_else(|| crate::sandbox::rt("save: the storage root table is missing"))
}

fn show(v: &SVal) -> String {
    match v {
        SVal::Bool(b) => b.to_string(),
        SVal::Num(n) => n.to_string(),
        SVal::NumBits(b) => f64::from_bits(*b).to_string(),
        SVal::Str(s) if s.len() <= 60 => format!("{s:?}"),
        SVal::Str(s) => {
            let mut h = DefaultHasher::new();
            s.hash(&mut h);
            let cut: String = s.chars().take(40).collect();
            format!("{cut:?}... ({} bytes, hash {:016x})", s.len(), h.finish())
        }
        SVal::Bytes(b) => format!("<{} base64 bytes>", b.len()),
        SVal::Table(_) => "<table>".into(),
        SVal::Ref(r) => format!("{r:?}"),
    }
}

fn show_key(k: &SVal) -> String {
    match k {
        SVal::Str(s) => format!(".{s}"),
        SVal::Num(n) => format!("[{n}]"),
        other => format!("[{}]", show(other)),
    }
}

/// Every leaf as `path -> value` (shared tables are listed once, at their first path).
pub(crate) fn flatten(snap: &Snapshot) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut seen = vec![false; snap.tables.len()];
    let mut stack = vec![(snap.root, "storage".to_string())];
    while let Some((id, path)) = stack.pop() {
        let Some(entries) = snap.tables.get(id as usize) else {
            continue;
        };
        if std::mem::replace(&mut seen[id as usize], true) {
            out.insert(path, format!("<same table as elsewhere, #{id}>"));
            continue;
        }
        if entries.is_empty() {
            out.insert(path.clone(), "{}".into());
        }
        for (k, v) in entries {
            let p = format!("{path}{}", show_key(k));
            match v {
                SVal::Table(c) => stack.push((*c, p)),
                other => {
                    out.insert(p, show(other));
                }
            }
        }
    }
    out
}

/// Hash of any serialisable value (stable within one build).
pub(crate) fn hash_of<T: Serialize>(v: &T) -> u64 {
    struct W(DefaultHasher);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.write(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = W(DefaultHasher::new());
    let _ = serde_json::to_writer(&mut w, v);
    w.0.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_data_gives_equal_snapshots_regardless_of_insertion_order() {
        let lua = Lua::new();
        let a: Table = lua.load("local t = {} for i = 1, 200 do t['k'..i] = i end t.shared = {x=1} t.again = t.shared return t").eval().unwrap();
        let b: Table = lua.load("local t = {} for i = 200, 1, -1 do t['k'..i] = i end local s = {x=1} t.again = s t.shared = s return t").eval().unwrap();
        assert_eq!(take(&a).unwrap(), take(&b).unwrap());
    }

    #[test]
    fn round_trip_keeps_sharing_cycles_and_bytes() {
        let lua = Lua::new();
        let t: Table = lua.load("local t = {s='\\255\\0x', n=1.5, inf=1/0, [3]=true} t.self = t t.a = {} t.b = t.a return t").eval().unwrap();
        let snap = take(&t).unwrap();
        let back = restore(&lua, &snap).unwrap();
        lua.globals().set("r", back.clone()).unwrap();
        let ok: bool = lua.load("return r.self == r and r.a == r.b and r.s == '\\255\\0x' and r.inf == 1/0 and r[3] == true and r.n == 1.5").eval().unwrap();
        assert!(ok);
        assert_eq!(take(&back).unwrap(), snap);
    }

    #[test]
    fn functions_cannot_be_saved_and_error_names_the_path() {
        let lua = Lua::new();
        let t: Table = lua.load("return {a={b=print}}").eval().unwrap();
        let e = take(&t).unwrap_err();
        assert!(e.contains("storage.a.b"), "{e}");
    }

    #[test]
    fn flatten_lists_paths() {
        let lua = Lua::new();
        let t: Table = lua
            .load("return {a={b=1, c='x'}, [2]=false}")
            .eval()
            .unwrap();
        let f = flatten(&take(&t).unwrap());
        assert_eq!(f.get("storage.a.b").map(String::as_str), Some("1"));
        assert_eq!(f.get("storage[2]").map(String::as_str), Some("false"));
    }
}
