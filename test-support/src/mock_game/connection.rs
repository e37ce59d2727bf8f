//! One RCON connection of the mock: authentication, batches of commands shuffled like game
//! input, faults, and exactly one reply packet per command.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::game::{Job, is_lua_command};
use super::{Behaviour, FaultAction};
use crate::rcon_wire::{
    Packet, SERVERDATA_AUTH, SERVERDATA_AUTH_RESPONSE, SERVERDATA_EXECCOMMAND,
    SERVERDATA_RESPONSE_VALUE, read_packets, write_packet,
};
use crate::xorshift::XorShift64;

/// How long a read waits before the stop flag is looked at again.
const POLL: Duration = Duration::from_millis(100);
/// How long the mock waits for more of a batch, like a game collecting a tick's input.
const GATHER: Duration = Duration::from_millis(2);

/// Factorio's answer to the first Lua command on a fresh save.
const ACHIEVEMENTS_WARNING: &[u8] =
    b"Lua console commands will disable achievements. Please repeat the command to proceed.";
/// What the mock sends with id 0 when `chatter_id0` is on.
const CHAT_LINE: &[u8] = b"[CHAT] someone: hello";

pub(super) struct Connection {
    /// 1 for the first connection to the game.
    pub number: usize,
    pub behaviour: Behaviour,
    pub jobs: mpsc::Sender<Job>,
    pub stop: Arc<AtomicBool>,
    /// Occurrences per fault (shared by all connections).
    pub counters: Arc<Mutex<HashMap<usize, usize>>>,
    /// Whether the first Lua command was refused already (shared by all connections).
    pub refused: Arc<AtomicBool>,
    /// Shuffles batches.
    pub rng: XorShift64,
}

impl Connection {
    pub fn serve(mut self, mut stream: TcpStream) -> io::Result<()> {
        let password = match (&self.behaviour.password_after_first, self.number) {
            (Some(later), n) if n > 1 => later.clone(),
            _ => self.behaviour.password.clone(),
        };
        let mut buf = Vec::new();
        let mut authenticated = false;
        while !self.stop.load(Ordering::SeqCst) {
            let mut batch = read_packets(&mut stream, &mut buf, POLL)?;
            if batch.is_empty() {
                continue;
            }
            loop {
                let more = read_packets(&mut stream, &mut buf, GATHER)?;
                if more.is_empty() {
                    break;
                }
                batch.extend(more);
            }
            if !authenticated {
                let auth = batch.remove(0);
                if auth.kind != SERVERDATA_AUTH {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!("mock: the first packet must be auth (type 3), not {auth:?}"),
                    ));
                }
                if auth.body != password.as_bytes() {
                    write_packet(&mut stream, -1, SERVERDATA_AUTH_RESPONSE, b"")?;
                    return Ok(());
                }
                write_packet(&mut stream, auth.id, SERVERDATA_AUTH_RESPONSE, b"")?;
                authenticated = true;
            }
            self.shuffle(&mut batch);
            let mut replies = Vec::new();
            let mut drop_now = false;
            for Packet { id, kind, mut body } in batch {
                if kind != SERVERDATA_EXECCOMMAND {
                    continue; // Factorio ignores the sentinel probe
                }
                let (mut lose, mut ignore) = (false, false);
                for action in self.faults_for(&body) {
                    match action {
                        FaultAction::LoseReply => lose = true,
                        FaultAction::DropConnection => drop_now = true,
                        FaultAction::Damage => damage(&mut body),
                        FaultAction::Ignore => ignore = true,
                    }
                }
                if ignore {
                    continue;
                }
                let reply = if is_lua_command(&body) && !self.refused.swap(true, Ordering::SeqCst) {
                    ACHIEVEMENTS_WARNING.to_vec()
                } else {
                    let (tx, rx) = mpsc::channel();
                    let reply = self
                        .jobs
                        .send(Job::Command(body, tx))
                        .ok()
                        .and_then(|()| rx.recv().ok());
                    let Some(reply) = reply else {
                        return Ok(()); // the game has stopped
                    };
                    reply
                };
                if !lose {
                    replies.push((id, reply));
                }
            }
            if drop_now {
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            for (id, reply) in replies {
                if self.behaviour.chatter_id0 {
                    write_packet(&mut stream, 0, SERVERDATA_RESPONSE_VALUE, CHAT_LINE)?;
                }
                write_packet(&mut stream, id, SERVERDATA_RESPONSE_VALUE, &reply)?;
            }
        }
        Ok(())
    }

    /// Fisher-Yates with the connection's generator.
    fn shuffle(&mut self, batch: &mut [Packet]) {
        for i in (1..batch.len()).rev() {
            batch.swap(i, (self.rng.next_u64() % (i as u64 + 1)) as usize);
        }
    }

    /// Counts the occurrence for every fault `body` matches; the actions now due.
    fn faults_for(&self, body: &[u8]) -> Vec<FaultAction> {
        let text = String::from_utf8_lossy(body);
        let mut counters = self.counters.lock().unwrap();
        let mut actions = Vec::new();
        for (i, fault) in self.behaviour.faults.iter().enumerate() {
            if text.contains(&fault.matching) {
                let n = counters.entry(i).or_default();
                *n += 1;
                if fault.nth.is_none_or(|nth| nth == *n) {
                    actions.push(fault.action);
                }
            }
        }
        actions
    }
}

/// Changes one data character of the frame in a `recv` command, keeping it printable and the
/// long bracket intact: the command still runs, and the frame fails its checksum.
fn damage(body: &mut [u8]) {
    // The command ends with `]` `=`* `])`; the frame's data ends just before it.
    let Some(mut end) = body.len().checked_sub(2) else {
        return;
    };
    while end > 0 && body[end - 1] == b'=' {
        end -= 1;
    }
    let Some(at) = end.checked_sub(2) else {
        return;
    };
    body[at] = if body[at] == b'A' { b'B' } else { b'A' };
}
