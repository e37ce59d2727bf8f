//! [`Module::StandIn`](super::Module::StandIn): `invsync_stand_in.lua`, the module side of
//! PROTOCOL.md 5.3-5.5, with `native` standing in for the game's `helpers`: the codec's frame
//! checks, decoding and encoding.

use std::sync::{Arc, Mutex};

use invsync_codec::{
    Capabilities, EncodeOptions, Frame, Method, MethodChoice, ReassemblerConfig, decode_message,
    encode,
};

use super::{GameLog, StandInSettings};

const STAND_IN: &str = include_str!("invsync_stand_in.lua");

/// Sets `mock_config` and `native`, loads the stand-in; returns its tick function.
pub(super) fn install(
    lua: &mlua::Lua,
    log: &Arc<Mutex<GameLog>>,
    settings: &StandInSettings,
) -> mlua::Function {
    let g = lua.globals();
    g.set("mock_config", config_table(lua, settings)).unwrap();
    g.set("native", native_table(lua, log)).unwrap();
    lua.load(STAND_IN)
        .set_name("invsync_stand_in.lua")
        .exec()
        .unwrap();
    g.get("invsync_on_tick").unwrap()
}

fn config_table(lua: &mlua::Lua, settings: &StandInSettings) -> mlua::Table {
    let config = lua.create_table().unwrap();
    config.set("deferred", settings.deferred).unwrap();
    config
        .set("announce_received", settings.announce_received)
        .unwrap();
    let decode = lua
        .create_sequence_from(settings.decode.iter().copied())
        .unwrap();
    config.set("decode", decode).unwrap();
    config.set("max_frame", settings.max_frame).unwrap();
    config
        .set("max_frame_stdout", settings.max_frame_stdout)
        .unwrap();
    config
        .set("max_frame_pull", settings.max_frame_pull)
        .unwrap();
    config.set("send_methods", settings.send_methods).unwrap();
    config
}

fn method_list(text: &str) -> mlua::Result<Vec<Method>> {
    text.split(',')
        .map(|m| m.parse().map_err(mlua::Error::runtime))
        .collect()
}

fn native_table(lua: &mlua::Lua, log: &Arc<Mutex<GameLog>>) -> mlua::Table {
    let native = lua.create_table().unwrap();
    // check(frame, verify): the receiver's checks of PROTOCOL.md 3 up to the policy step,
    // against the declaration in `mock_config` (read at call time).
    native
        .set(
            "check",
            lua.create_function(|lua, (frame, verify): (mlua::LuaString, bool)| {
                let config: mlua::Table = lua.globals().get("mock_config")?;
                let max_frame: usize = config.get("max_frame")?;
                let decode: Vec<String> = config.get("decode")?;
                let bytes = frame.as_bytes();
                let t = lua.create_table()?;
                let fail =
                    |name: &str, detail: String, id: Option<u32>| -> mlua::Result<mlua::Table> {
                        t.set("ok", false)?;
                        t.set("name", name)?;
                        t.set("detail", detail)?;
                        if let Some(id) = id {
                            t.set("id", id)?;
                        }
                        Ok(t.clone())
                    };
                if bytes.len() > max_frame {
                    return fail("FrameTooLong", format!("{} bytes", bytes.len()), None);
                }
                let parsed = if verify {
                    Frame::parse(&bytes)
                } else {
                    Frame::parse_unverified(&bytes)
                };
                let h = match parsed {
                    Ok(f) => f.header,
                    Err(e) => return fail(e.name(), e.to_string(), e.message_id()),
                };
                if !decode.iter().any(|m| m == h.method.as_str()) {
                    return fail(
                        "MethodNotAccepted",
                        format!("{} is not declared", h.method),
                        Some(h.id),
                    );
                }
                t.set("ok", true)?;
                t.set("id", h.id)?;
                t.set("index", h.index)?;
                t.set("count", h.count)?;
                t.set("method", h.method.as_str())?;
                t.set("wlen", h.wire_len)?;
                t.set("plen", h.payload_len)?;
                Ok(t)
            })
            .unwrap(),
        )
        .unwrap();
    // decode(frames, count): the whole message, every check of PROTOCOL.md 3.
    native
        .set(
            "decode",
            lua.create_function(|lua, (frames, count): (mlua::Table, u32)| {
                let mut list = Vec::new();
                for i in 1..=count {
                    let f: mlua::LuaString = frames.get(i)?;
                    list.push(f.as_bytes().to_vec());
                }
                let config = ReassemblerConfig {
                    max_frame: 1 << 20,
                    ..ReassemblerConfig::default()
                };
                match decode_message(list, config) {
                    Ok(m) => Ok((
                        true,
                        mlua::Value::String(lua.create_string(&m.payload)?),
                        None,
                    )),
                    Err(e) => Ok((
                        false,
                        mlua::Value::String(lua.create_string(e.name())?),
                        Some(e.to_string()),
                    )),
                }
            })
            .unwrap(),
        )
        .unwrap();
    let deliver_log = log.clone();
    native
        .set(
            "deliver",
            lua.create_function(move |_, (id, payload): (u32, mlua::LuaString)| {
                let mut log = deliver_log.lock().unwrap();
                log.delivered.insert(id, payload.as_bytes().to_vec());
                *log.deliveries.entry(id).or_default() += 1;
                Ok(())
            })
            .unwrap(),
        )
        .unwrap();
    // encode(id, payload, max_frame, "raw,zlib"): `auto` over those methods; returns the
    // frames, the method, the wire length and the payload length.
    native
        .set(
            "encode",
            lua.create_function(
                |lua, (id, payload, max_frame, methods): (u32, mlua::LuaString, usize, String)| {
                    let options = EncodeOptions {
                        method: MethodChoice::Auto,
                        receiver: Capabilities {
                            decode: method_list(&methods)?,
                            ..Capabilities::all(max_frame)
                        },
                        ..EncodeOptions::default()
                    };
                    let e =
                        encode(id, &payload.as_bytes(), &options).map_err(mlua::Error::external)?;
                    let frames = lua.create_sequence_from(e.frames)?;
                    Ok((frames, e.method.as_str(), e.wire_len, e.payload_len))
                },
            )
            .unwrap(),
        )
        .unwrap();
    native
        .set(
            "json_string",
            lua.create_function(|_, text: mlua::LuaString| {
                serde_json::to_string(&text.to_string_lossy()).map_err(mlua::Error::external)
            })
            .unwrap(),
        )
        .unwrap();
    native
}
