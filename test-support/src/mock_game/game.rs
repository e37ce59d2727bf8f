//! The game thread: owns the Lua state (not `Send`), runs commands one at a time like the
//! game's lockstep, and ticks.

use std::io::{PipeWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{GameLog, Module, recv_model, stand_in};

/// How often the game ticks.
const TICK: Duration = Duration::from_millis(5);

/// The console commands that run Lua.
const LUA_PREFIXES: [&str; 2] = ["/sc ", "/silent-command "];

/// Work for the game thread.
pub(super) enum Job {
    /// An RCON command; the reply body goes back.
    Command(Vec<u8>, mpsc::Sender<Vec<u8>>),
    /// The game sends a payload to the host (stand-in); its id and path go back.
    Send(Vec<u8>, mpsc::Sender<(u32, String)>),
    /// Lua to evaluate; what it returns goes back as text.
    Eval(String, mpsc::Sender<String>),
    /// Bytes to write to stdout.
    Stdout(Vec<u8>),
}

/// Whether an RCON command runs Lua.
pub(super) fn is_lua_command(command: &[u8]) -> bool {
    LUA_PREFIXES
        .iter()
        .any(|p| command.starts_with(p.as_bytes()))
}

/// The Lua of a console command that runs Lua.
fn lua_source(command: &str) -> Option<&str> {
    LUA_PREFIXES.iter().find_map(|p| command.strip_prefix(p))
}

pub(super) fn run(
    jobs: mpsc::Receiver<Job>,
    log: Arc<Mutex<GameLog>>,
    module: Module,
    stdout: PipeWriter,
    stop: Arc<AtomicBool>,
) {
    let lua = mlua::Lua::new();
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stdout = Arc::new(Mutex::new(stdout));
    install_game_api(&lua, &output, &stdout);
    let tick = match module {
        Module::StandIn(settings) => Some(stand_in::install(&lua, &log, &settings)),
        Module::RecvModel => {
            recv_model::install(&lua, &log, &output);
            None
        }
    };
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        match jobs.recv_timeout(TICK) {
            Ok(Job::Command(body, reply)) => {
                let _ = reply.send(run_command(&lua, &output, &log, &body));
            }
            Ok(Job::Send(payload, reply)) => {
                let send: mlua::Function = lua
                    .globals()
                    .get("invsync_send")
                    .expect("the stand-in module defines invsync_send");
                let (id, path): (u32, String) =
                    send.call(lua.create_string(&payload).unwrap()).unwrap();
                let _ = reply.send((id, path));
            }
            Ok(Job::Eval(source, reply)) => {
                let value: mlua::Value = lua.load(&source).eval().unwrap();
                let text = match value {
                    mlua::Value::String(s) => s.to_string_lossy(),
                    other => format!("{other:?}"),
                };
                let _ = reply.send(text);
            }
            Ok(Job::Stdout(bytes)) => {
                let mut out = stdout.lock().unwrap();
                let _ = out.write_all(&bytes);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            if let Some(tick) = &tick {
                tick.call::<()>(()).unwrap();
            }
        }
    }
}

/// Runs one console command; its reply body: what `rcon.print` wrote, then the error if any.
fn run_command(
    lua: &mlua::Lua,
    output: &Mutex<Vec<u8>>,
    log: &Mutex<GameLog>,
    body: &[u8],
) -> Vec<u8> {
    output.lock().unwrap().clear();
    let text = String::from_utf8_lossy(body).into_owned();
    {
        let mut log = log.lock().unwrap();
        log.commands += 1;
        if let Some(call) = describe_call(&text) {
            log.calls.push(call);
        }
    }
    match lua_source(&text) {
        Some(source) => {
            let result = lua.load(source).set_name("(command)").exec();
            let mut out = output.lock().unwrap().clone();
            if let Err(err) = result {
                out.extend_from_slice(format!("Cannot execute command. Error: {err}").as_bytes());
            }
            out
        }
        None => format!("Unknown command \"{text}\".").into_bytes(),
    }
}

/// `remote.call("invsync", ...)` in a command as `(function, arguments)`; `recv` arguments as
/// `id index/count` (the frame's header), others as written.
fn describe_call(command: &str) -> Option<(String, String)> {
    let rest = command.split_once("remote.call(\"invsync\",\"")?.1;
    let (function, args) = rest.split_once('"')?;
    let args = if function == "recv" {
        let frame = args.trim_start_matches(',').trim_start_matches('[');
        let frame = frame.trim_start_matches('=').trim_start_matches('[');
        let fields: Vec<&str> = frame.splitn(5, ' ').collect();
        fields.get(2..4).map(|f| f.join(" ")).unwrap_or_default()
    } else {
        args.trim_start_matches(',')
            .trim_end_matches(')')
            .to_owned()
    };
    Some((function.to_owned(), args))
}

/// What every module finds: `rcon.print`, `print` to stdout, `storage`, and a `remote`
/// registry (`add_interface`, `call`).
fn install_game_api(
    lua: &mlua::Lua,
    output: &Arc<Mutex<Vec<u8>>>,
    stdout: &Arc<Mutex<PipeWriter>>,
) {
    let g = lua.globals();
    let rcon = lua.create_table().unwrap();
    let out = output.clone();
    rcon.set(
        "print",
        lua.create_function(move |_, text: mlua::LuaString| {
            let mut out = out.lock().unwrap();
            out.extend_from_slice(&text.as_bytes());
            out.push(b'\n');
            Ok(())
        })
        .unwrap(),
    )
    .unwrap();
    g.set("rcon", rcon).unwrap();
    let pipe = stdout.clone();
    g.set(
        "print",
        lua.create_function(move |_, args: mlua::Variadic<mlua::LuaString>| {
            let mut line = Vec::new();
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    line.push(b'\t');
                }
                line.extend_from_slice(&a.as_bytes());
            }
            line.push(b'\n');
            pipe.lock()
                .unwrap()
                .write_all(&line)
                .map_err(mlua::Error::external)
        })
        .unwrap(),
    )
    .unwrap();
    g.set("storage", lua.create_table().unwrap()).unwrap();
    lua.load(
        r#"
        local interfaces = {}
        remote = {
          add_interface = function(name, functions) interfaces[name] = functions end,
          call = function(name, fn, ...)
            local i = interfaces[name]
            if not i then error("Unknown interface: " .. tostring(name)) end
            local f = i[fn]
            if not f then error("Unknown function: " .. tostring(fn)) end
            return f(...)
          end,
        }
        "#,
    )
    .exec()
    .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_commands_are_recognised_by_their_prefix() {
        assert!(is_lua_command(b"/sc rcon.print(1)"));
        assert!(is_lua_command(b"/silent-command x = 1"));
        assert!(!is_lua_command(b"/c x = 1"));
        assert!(!is_lua_command(b"/scx"));
        assert_eq!(lua_source("/silent-command x = 1"), Some("x = 1"));
        assert_eq!(lua_source("/help"), None);
    }

    #[test]
    fn calls_are_described_by_function_and_header() {
        assert_eq!(
            describe_call(r#"/sc remote.call("invsync","recv",[==[IS1 raw 12 3/16 rest]==])"#),
            Some(("recv".into(), "12 3/16".into()))
        );
        assert_eq!(
            describe_call(r#"/sc remote.call("invsync","status",12)"#),
            Some(("status".into(), "12".into()))
        );
        assert_eq!(describe_call("/sc rcon.print(1)"), None);
    }
}
