//! [`Module::RecvModel`](super::Module::RecvModel): the module's `recv` and `status` replies
//! (PROTOCOL.md 5.3) from the frame header alone. The real module checks much more; this
//! model keeps every frame exactly as the Lua call received it, in the [`GameLog`], so a test
//! can compare it byte for byte with what was sent.

use std::sync::{Arc, Mutex};

use super::GameLog;

/// Registers the `invsync` remote interface; replies go where `rcon.print` writes (`output`).
pub(super) fn install(lua: &mlua::Lua, log: &Arc<Mutex<GameLog>>, output: &Arc<Mutex<Vec<u8>>>) {
    let interface = lua.create_table().unwrap();
    let (recv_log, recv_out) = (log.clone(), output.clone());
    interface
        .set(
            "recv",
            lua.create_function(move |_, frame: mlua::Value| {
                let mlua::Value::String(frame) = frame else {
                    return Err(mlua::Error::runtime(format!(
                        "bad remote call recv: expected the frame as a string, got {}",
                        frame.type_name()
                    )));
                };
                let line = recv(&mut recv_log.lock().unwrap(), &frame.as_bytes());
                print_line(&recv_out, &line);
                Ok(())
            })
            .unwrap(),
        )
        .unwrap();
    let (status_log, status_out) = (log.clone(), output.clone());
    interface
        .set(
            "status",
            lua.create_function(move |_, id: mlua::Value| {
                let id = match id {
                    mlua::Value::Integer(id) => id as u32,
                    mlua::Value::Number(id) => id as u32,
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "bad remote call status: expected the message id, got {}",
                            other.type_name()
                        )));
                    }
                };
                let line = status(&status_log.lock().unwrap(), id);
                print_line(&status_out, &line);
                Ok(())
            })
            .unwrap(),
        )
        .unwrap();
    let remote: mlua::Table = lua.globals().get("remote").unwrap();
    let add_interface: mlua::Function = remote.get("add_interface").unwrap();
    add_interface.call::<()>(("invsync", interface)).unwrap();
}

fn print_line(output: &Mutex<Vec<u8>>, line: &str) {
    let mut out = output.lock().unwrap();
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

/// The model of the module's `recv`: header fields only.
fn recv(log: &mut GameLog, frame: &[u8]) -> String {
    let text = String::from_utf8_lossy(frame);
    let fields: Vec<&str> = text.splitn(9, ' ').collect();
    let parsed = (|| {
        if fields.len() < 8 || fields[0] != "IS1" {
            return None;
        }
        let id: u32 = fields[2].parse().ok()?;
        let (index, count) = fields[3].split_once('/')?;
        Some((id, index.parse::<u32>().ok()?, count.parse::<u32>().ok()?))
    })();
    let Some((id, index, count)) = parsed else {
        return "err - NotAFrame not an IS1 frame".into();
    };
    *log.recv_calls.entry((id, index)).or_default() += 1;
    if log.completed.contains(&id) {
        return format!("done {id}");
    }
    log.counts.insert(id, count);
    let chunks = log.frames.entry(id).or_default();
    chunks.insert(index, frame.to_vec());
    let have = chunks.len() as u32;
    if have == count {
        log.completed.insert(id);
        format!("done {id}")
    } else {
        format!("ok {id} {have}/{count}")
    }
}

/// The model of the module's `status`.
fn status(log: &GameLog, id: u32) -> String {
    if log.completed.contains(&id) {
        return format!("done {id}");
    }
    match (log.frames.get(&id), log.counts.get(&id)) {
        (Some(chunks), Some(&count)) => {
            let missing: Vec<String> = (1..=count)
                .filter(|i| !chunks.contains_key(i))
                .map(|i| i.to_string())
                .collect();
            format!("missing {id} {}", missing.join(","))
        }
        _ => format!("unknown {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u32, index: u32, count: u32) -> Vec<u8> {
        format!("IS1 raw {id} {index}/{count} 5 5 abcd01 hello").into_bytes()
    }

    #[test]
    fn recv_and_status_follow_the_chunks_held() {
        let mut log = GameLog::default();
        assert_eq!(status(&log, 4), "unknown 4");
        assert_eq!(recv(&mut log, &frame(4, 2, 3)), "ok 4 1/3");
        assert_eq!(status(&log, 4), "missing 4 1,3");
        assert_eq!(recv(&mut log, &frame(4, 2, 3)), "ok 4 1/3");
        assert_eq!(recv(&mut log, &frame(4, 1, 3)), "ok 4 2/3");
        assert_eq!(recv(&mut log, &frame(4, 3, 3)), "done 4");
        assert_eq!(recv(&mut log, &frame(4, 3, 3)), "done 4");
        assert_eq!(status(&log, 4), "done 4");
        assert_eq!(log.recv_calls[&(4, 2)], 2);
        assert_eq!(log.recv_calls[&(4, 3)], 2);
        assert_eq!(log.message_frames(4)[0].as_bytes(), frame(4, 1, 3));
        assert_eq!(recv(&mut log, b"hello"), "err - NotAFrame not an IS1 frame");
    }
}
