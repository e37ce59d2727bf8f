//! A scripted host for the player-sync tests: it drives emulated game servers (the sans-I/O
//! `invsync_emulator::Game`) running the module, reads their stdout frames, pulls staged
//! messages, answers `acquire`/`upload`/`release` with the product's host half of the sync
//! (`invsync_sync::PlayerStore` over an in-memory store), and sends
//! its answers as frames through the game's command stream model, with faults on the way
//! (shuffled, duplicated, dropped-then-resent, damaged frames).
//!
//! Independent of the Lua side: frames are encoded and decoded with `invsync_codec`, the
//! remote calls are formatted and their replies parsed here from PROTOCOL.md 5.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use invsync_codec::{
    Capabilities, EncodeOptions, Method, MethodChoice, Outcome, Reassembler, ReassemblerConfig,
    encode,
};
use invsync_emulator::{Action, CommandHandle, Game, GameConfig, Line, ScenarioFiles};
use invsync_player_data::{SampleKind, generate};
use invsync_sync::{
    Acquired, GameMessage, MemoryStore, PlayerStore, Settings as SyncSettings, UploadOutcome,
    acquired_message, busy_message, error_message, parse_game_message, player_data_message,
    upload_refused_message, uploaded_message,
};
use serde_json::{Value, json};

/// The instruction budget of one tick of the module, calibrated by the Lua benchmark to about
/// 0.8 ms of PUC Lua 5.2 (scenario/README.md, "Budgets"). Includes the test host's own console
/// commands, which are tiny.
pub const TICK_INSTRUCTION_BUDGET: u64 = 150_000;

/// Bytes the command wrapper adds to a frame (`/sc remote.call("invsync","recv",[[...]])`).
pub const RECV_OVERHEAD: usize = 38;

// Randomness -------------------------------------------------------------------------------

/// Deterministic test randomness: the samples' SplitMix64.
pub type Rng = invsync_player_data::SplitMix64;

/// Fisher-Yates with `rng`.
pub fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

// Commands and replies (PROTOCOL.md 5.2, 5.3) ----------------------------------------------

/// A Lua long-bracket literal of `text` (PROTOCOL.md 5.2: the smallest level that works).
pub fn long_string(text: &str) -> String {
    let mut level = 0;
    loop {
        let eq = "=".repeat(level);
        let close = format!("]{eq}]");
        if !format!("{text}]{eq}").contains(&close) {
            return format!("[{eq}[{text}]{eq}]");
        }
        level += 1;
    }
}

pub fn recv_command(frame: &str) -> String {
    format!(
        "/sc remote.call(\"invsync\",\"recv\",{})",
        long_string(frame)
    )
}

pub fn call_command(function: &str, args: &[u64]) -> String {
    let mut s = format!("/sc remote.call(\"invsync\",\"{function}\"");
    for a in args {
        s.push_str(&format!(",{a}"));
    }
    s.push(')');
    s
}

/// Chunk numbers from `<ranges>` (`1-3,7`).
pub fn parse_ranges(list: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for item in list.split(',').filter(|s| !s.is_empty()) {
        match item.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => out.push(item.parse().unwrap()),
        }
    }
    out
}

// The scenario -----------------------------------------------------------------------------

/// The module's files plus `control` (or the example control.lua).
pub fn scenario(control: Option<&str>) -> ScenarioFiles {
    ScenarioFiles::from_files("invsync-test", invsync_scenario::scenario_files(control))
}

/// A control.lua with settings (a Lua table constructor's body) and test hooks: the
/// scenario's own messages are echoed back to the host as `echo:<payload>` and recorded, and
/// `remote.call("test", "send", text)` sends a payload to the host.
pub fn control_with(settings: &str) -> String {
    format!(
        r#"
local invsync = require("invsync.factorio")
invsync.setup({{ {settings} }})
invsync.on_message(function(payload, id)
  storage.test_messages = storage.test_messages or {{}}
  table.insert(storage.test_messages, {{ id = id, len = #payload, tick = game.tick }})
  if payload:sub(1, 5) == "echo:" then invsync.send(payload:sub(6)) end
end)
local player_data = require("invsync.player_data")
remote.add_interface("test", {{
  send = function(text) rcon.print(tostring(invsync.send(text))) end,
  state = function(index) rcon.print(tostring((invsync.player_state(index)))) end,
  -- one reading step of a player's character: "done spent stacks"
  read = function(index, budget)
    local p = game.get_player(index)
    local job = player_data.reader(p, p.character, nil, invsync.settings().bonuses)
    local done, err, spent = player_data.read_step(job, budget)
    rcon.print(tostring(done) .. " " .. spent .. " " .. job.stacks .. " " .. tostring(err))
  end,
}})
"#
    )
}

pub fn config(control: &str, peers: usize, heavy: bool) -> GameConfig {
    GameConfig {
        scenario: scenario(Some(control)),
        lockstep_peers: peers,
        heavy,
        ..GameConfig::default()
    }
}

// Faults -----------------------------------------------------------------------------------

/// What happens to host -> game frames on the way.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Send the frames of a message in random order.
    pub shuffle: bool,
    /// Percent of frames sent twice.
    pub duplicate: u64,
    /// Percent of frames dropped on their first sending (resent after `status`).
    pub drop: u64,
    /// Percent of frames damaged on their first sending (one byte of data changed).
    pub damage: u64,
}

impl Faults {
    pub fn all() -> Faults {
        Faults {
            shuffle: true,
            duplicate: 20,
            drop: 20,
            damage: 10,
        }
    }
}

// The cluster's storage ----------------------------------------------------------------------

/// What the host does with an `acquire` of a player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// As the storage says (the normal case).
    Normal,
    /// Never answer (the game times out).
    Silent,
    /// `busy` with this holder.
    Busy(String),
    /// `error` with this message.
    Error(String),
}

/// A sync message with `type` as its first key (the module recognises its own messages by
/// their start, scenario/README.md).
pub fn typed(kind: &str, fields: Value) -> String {
    let rest = fields.to_string();
    let inner = &rest[1..rest.len() - 1];
    if inner.is_empty() {
        format!("{{\"type\":\"{kind}\"}}")
    } else {
        format!("{{\"type\":\"{kind}\",{inner}}}")
    }
}

/// One player's record in the cluster's storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub generation: u64,
    /// The player data JSON exactly as uploaded (or seeded).
    pub data: String,
}

/// The cluster: the product's host half of the sync ([`PlayerStore`] over an in-memory store),
/// with scripted faults around it.
#[derive(Debug)]
pub struct Cluster {
    pub players: PlayerStore,
    pub answers: BTreeMap<String, Answer>,
    /// Every sync message received, as (server, JSON) in order.
    pub log: Vec<(String, Value)>,
    /// Upload payloads received, byte for byte: (server, player, generation, data JSON).
    pub uploads: Vec<(String, String, u64, String)>,
    /// Uploads to leave unanswered (lost answers), counted down.
    pub ignore_uploads: usize,
    /// Deltas sent with a wrong checksum of their result (a delta against the wrong base).
    pub tamper_deltas: bool,
}

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster {
            players: PlayerStore::new(Arc::new(MemoryStore::new()), SyncSettings::default()),
            answers: BTreeMap::new(),
            log: Vec::new(),
            uploads: Vec::new(),
            ignore_uploads: 0,
            tamper_deltas: false,
        }
    }
}

impl Cluster {
    /// Stores `data` for `player` at `generation` (admin imports up to it).
    pub fn seed(&mut self, player: &str, generation: u64, data: String) {
        let now = self.stored().get(player).map_or(0, |s| s.generation);
        assert!(
            now < generation,
            "seeding {player} back to generation {generation}"
        );
        for _ in now..generation {
            self.players
                .import(player, data.as_bytes(), true)
                .expect("seed");
        }
    }

    /// Every player's stored generation and data.
    pub fn stored(&self) -> BTreeMap<String, Stored> {
        let mut out = BTreeMap::new();
        for player in self.players.list().expect("list") {
            let view = self.players.show(&player).expect("show");
            if view.head.generation > 0 {
                let data = self.players.export(&player, None).expect("export");
                out.insert(
                    player,
                    Stored {
                        generation: view.head.generation,
                        data: String::from_utf8(data).expect("UTF-8"),
                    },
                );
            }
        }
        out
    }

    /// The server holding each held player.
    pub fn holder(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for player in self.players.list().expect("list") {
            let view = self.players.show(&player).expect("show");
            if let Some(lease) = view.head.held() {
                out.insert(player, lease.holder.clone());
            }
        }
        out
    }

    pub fn count(&self, server: &str, kind: &str) -> usize {
        self.log
            .iter()
            .filter(|(s, v)| s == server && v["type"] == kind)
            .count()
    }

    pub fn count_all(&self, kind: &str) -> usize {
        self.log.iter().filter(|(_, v)| v["type"] == kind).count()
    }

    /// The answers to a sync message from `server`. An `acquired` that names a data message
    /// has `@ID@` and `@WLEN@` where its id and wire length go (the link knows them only once
    /// the data is encoded).
    fn handle(&mut self, server: &str, payload: &[u8]) -> Vec<String> {
        let v: Value = serde_json::from_slice(payload).expect("sync messages are JSON");
        self.log.push((server.to_string(), v));
        let msg = parse_game_message(payload)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(payload)));
        match msg {
            GameMessage::Acquire {
                player,
                request,
                generation,
                unchanged,
                delta,
            } => {
                match self.answers.get(&player).cloned().unwrap_or(Answer::Normal) {
                    Answer::Silent => return vec![],
                    Answer::Busy(holder) => {
                        return vec![busy_message(&player, request, &holder, 0)];
                    }
                    Answer::Error(message) => {
                        return vec![error_message(&player, request, &message)];
                    }
                    Answer::Normal => {}
                }
                match self
                    .players
                    .acquire(server, &player, request, generation, unchanged, delta)
                    .expect("the memory store does not fail")
                {
                    Acquired::Busy { holder, since } => {
                        vec![busy_message(&player, request, &holder, since)]
                    }
                    Acquired::Acquired {
                        generation,
                        epoch,
                        data: None,
                        ..
                    } => vec![acquired_message(
                        &player,
                        request,
                        generation,
                        epoch,
                        generation > 0,
                        None,
                        None,
                    )],
                    Acquired::Acquired {
                        generation,
                        epoch,
                        data: Some(data),
                        delta,
                    } => {
                        // the delta, when the store makes one, goes instead of the data
                        let base = delta.as_ref().map(|d| d.base);
                        let message = match delta {
                            Some(d) if self.tamper_deltas => {
                                let text = String::from_utf8(d.message).expect("UTF-8");
                                let at = text.find(r#""checksum":""#).expect("a checksum") + 12;
                                format!("{}00000000{}", &text[..at], &text[at + 8..]).into_bytes()
                            }
                            Some(d) => d.message,
                            None => player_data_message(&player, generation, &data),
                        };
                        if let Err(e) = serde_json::from_slice::<Value>(&message) {
                            panic!(
                                "the store's message is not JSON: {e}: {}",
                                String::from_utf8_lossy(&message)
                            );
                        }
                        vec![
                            acquired_message(
                                &player,
                                request,
                                generation,
                                epoch,
                                true,
                                Some((0, 0)),
                                base,
                            )
                            .replace(
                                r#""message":0,"bytes":0"#,
                                r#""message":@ID@,"bytes":@WLEN@"#,
                            ),
                            String::from_utf8(message).expect("UTF-8"),
                        ]
                    }
                }
            }
            GameMessage::Upload {
                player,
                generation,
                upload,
                epoch,
                recovered,
                data,
            } => {
                let text = String::from_utf8(data.clone()).expect("UTF-8");
                serde_json::from_str::<Value>(&text).expect("the data is JSON");
                self.uploads
                    .push((server.into(), player.clone(), generation, text));
                let outcome = self
                    .players
                    .upload(server, &player, generation, epoch, recovered, &data)
                    .expect("the memory store does not fail");
                if self.ignore_uploads > 0 {
                    // stored, but the answer is lost
                    self.ignore_uploads -= 1;
                    return vec![];
                }
                match outcome {
                    UploadOutcome::Stored { .. } | UploadOutcome::Repeat { .. } => {
                        vec![uploaded_message(&player, generation, upload)]
                    }
                    UploadOutcome::Refused { reason, .. } => {
                        vec![upload_refused_message(&player, generation, upload, &reason)]
                    }
                }
            }
            GameMessage::Release {
                player,
                request,
                epoch,
            } => {
                self.players
                    .release(server, &player, request, epoch)
                    .expect("the memory store does not fail");
                vec![]
            }
        }
    }
}

// One server and the host's link to it ----------------------------------------------------------

#[derive(Debug, Clone)]
enum Purpose {
    Recv { msg: u32, index: u32 },
    Status { msg: u32 },
    Pull { msg: u32, index: u32 },
    Ack,
    Other,
}

#[derive(Debug)]
struct OutMessage {
    frames: Vec<String>,
    answered: BTreeSet<u32>,
    done: bool,
    last_activity: u64,
    resends: u32,
}

#[derive(Debug)]
struct Pulling {
    count: u32,
    have: BTreeSet<u32>,
}

/// One emulated server running the module, with the host's end of the link.
pub struct Server {
    pub name: String,
    pub game: Game,
    rx: Reassembler,
    next_handle: i32,
    pending: BTreeMap<i32, Purpose>,
    next_msg: u32,
    out: BTreeMap<u32, OutMessage>,
    pulling: BTreeMap<u32, Pulling>,
    pub faults: Faults,
    pub rng: Rng,
    /// The game's declared capabilities (from the `caps` control message).
    pub caps: Option<Value>,
    /// Application messages from the game (not control, not sync), in order.
    pub app_messages: Vec<Vec<u8>>,
    /// `received` reports: (host message id, status, error).
    pub received: Vec<(u32, String, Option<String>)>,
    /// Messages shown to players: (player index, text).
    pub player_messages: Vec<(u32, String)>,
    /// Log lines of the module (`invsync:` lines).
    pub logs: Vec<String>,
    /// Staged messages announced, and pulled completely.
    pub staged_announced: usize,
    pub staged_pulled: usize,
    /// Ticks that printed a protocol line longer than the stdout limit (must stay 0).
    pub long_lines: usize,
    /// Resends done after `status` said chunks were missing.
    pub resent_frames: usize,
    /// Ticks to wait without progress before asking `status`.
    pub status_after: u64,
    /// Ticks whose Lua instruction count exceeded [`TICK_INSTRUCTION_BUDGET`]: (tick, count).
    pub over_budget: Vec<(u64, u64)>,
    /// `type` of every sync message the host sent to this server, in order.
    pub host_sent: Vec<String>,
    /// Sync message types the host's answers of lose on the way (never arrive, never resent).
    pub lose_types: Vec<String>,
    /// The ticks at which `upload` messages arrived from this server.
    pub upload_ticks: Vec<u64>,
    /// The ticks at which application messages arrived (parallel to `app_messages`).
    pub app_ticks: Vec<u64>,
    /// The tick being handled.
    pub now: u64,
}

impl Server {
    pub fn new(name: &str, config: GameConfig) -> Server {
        let game = Game::new(config).unwrap_or_else(|e| panic!("{name}: the scenario starts: {e}"));
        Server::around(name, game)
    }

    pub fn around(name: &str, game: Game) -> Server {
        Server {
            name: name.into(),
            game,
            rx: Reassembler::new(ReassemblerConfig {
                max_age_ticks: None,
                ..ReassemblerConfig::default()
            }),
            next_handle: 1,
            pending: BTreeMap::new(),
            next_msg: 1,
            out: BTreeMap::new(),
            pulling: BTreeMap::new(),
            faults: Faults::default(),
            rng: Rng::new(0x5eed ^ name.len() as u64),
            caps: None,
            app_messages: Vec::new(),
            received: Vec::new(),
            player_messages: Vec::new(),
            logs: Vec::new(),
            staged_announced: 0,
            staged_pulled: 0,
            long_lines: 0,
            resent_frames: 0,
            status_after: 120,
            over_budget: Vec::new(),
            host_sent: Vec::new(),
            lose_types: Vec::new(),
            upload_ticks: Vec::new(),
            app_ticks: Vec::new(),
            now: 0,
        }
    }

    fn submit(&mut self, text: String, purpose: Purpose) {
        let id = self.next_handle;
        self.next_handle += 1;
        self.pending.insert(id, purpose);
        let handle = CommandHandle { conn: 1, id };
        if let Some(reply) = self.game.submit(handle, text) {
            panic!("unexpected immediate reply {reply:?}");
        }
    }

    /// Runs a console command to completion (ticks run meanwhile, and their output is handled).
    pub fn command(&mut self, cluster: &mut Cluster, text: &str) -> String {
        let id = self.next_handle;
        self.next_handle += 1;
        self.pending.insert(id, Purpose::Other);
        self.game
            .submit(CommandHandle { conn: 1, id }, text.to_string());
        for _ in 0..10_000 {
            if let Some(reply) = self.tick_collect(cluster, Some(id)) {
                return reply;
            }
        }
        panic!("{}: no reply to {text:?}", self.name);
    }

    /// `/sc <code>`, answered.
    pub fn sc(&mut self, cluster: &mut Cluster, code: &str) -> String {
        self.command(cluster, &format!("/sc {code}"))
    }

    /// Sends `payload` to the game as a message (auto method, the game's capabilities).
    pub fn send(&mut self, payload: &[u8]) -> u32 {
        let id = self.next_msg;
        self.next_msg += 1;
        self.send_as(id, payload);
        id
    }

    fn receiver_caps(&self) -> Capabilities {
        match &self.caps {
            Some(v) => Capabilities::from_json(&v.to_string()).expect("the game's caps parse"),
            None => Capabilities::assumed(),
        }
    }

    fn send_as(&mut self, id: u32, payload: &[u8]) {
        let opts = EncodeOptions {
            method: MethodChoice::Auto,
            receiver: self.receiver_caps(),
            per_frame_overhead: RECV_OVERHEAD,
            ..EncodeOptions::default()
        };
        let encoded = encode(id, payload, &opts).expect("the host encodes");
        let tick = self.game.tick();
        self.out.insert(
            id,
            OutMessage {
                frames: encoded.frames.clone(),
                answered: BTreeSet::new(),
                done: false,
                last_activity: tick,
                resends: 0,
            },
        );
        let mut order: Vec<u32> = (1..=encoded.frames.len() as u32).collect();
        if self.faults.shuffle {
            shuffle(&mut self.rng, &mut order);
        }
        for index in order {
            let frame = encoded.frames[index as usize - 1].clone();
            if self.rng.chance(self.faults.drop) {
                continue; // lost: found missing by `status` later
            }
            let text = if self.rng.chance(self.faults.damage) {
                damage(&frame, &mut self.rng)
            } else {
                frame.clone()
            };
            self.submit(recv_command(&text), Purpose::Recv { msg: id, index });
            if self.rng.chance(self.faults.duplicate) {
                self.submit(recv_command(&frame), Purpose::Recv { msg: id, index });
            }
        }
    }

    /// Sends the answers of the cluster (fills in the player-data message id and size).
    fn send_answers(&mut self, answers: Vec<String>) {
        let mut data_ref: Option<(u32, u64)> = None;
        // the data message first (to know its id and wire length), the acquired answer after
        // it (the stream model delivers the short one first anyway)
        let is_data = |a: &str| {
            a.starts_with("{\"type\":\"player_data\"")
                || a.starts_with("{\"type\":\"player_delta\"")
        };
        if let Some(data) = answers.iter().find(|a| is_data(a)) {
            let id = self.next_msg;
            self.next_msg += 1;
            let opts = EncodeOptions {
                receiver: self.receiver_caps(),
                per_frame_overhead: RECV_OVERHEAD,
                ..EncodeOptions::default()
            };
            let wlen = encode(id, data.as_bytes(), &opts).unwrap().wire_len;
            data_ref = Some((id, wlen));
        }
        for a in &answers {
            let kind: Value = serde_json::from_str(&a.replace("@ID@", "0").replace("@WLEN@", "0"))
                .expect("answers are JSON");
            let kind = kind["type"].as_str().unwrap_or("?").to_string();
            self.host_sent.push(kind.clone());
            if self.lose_types.contains(&kind) {
                continue;
            }
            if is_data(a) {
                let (id, _) = data_ref.unwrap();
                self.send_as(id, a.as_bytes());
            } else if let Some((id, wlen)) = data_ref
                && a.contains("@ID@")
            {
                let text = a
                    .replace("@ID@", &id.to_string())
                    .replace("@WLEN@", &wlen.to_string());
                self.send(text.as_bytes());
            } else {
                self.send(a.as_bytes());
            }
        }
    }

    /// One tick: the game runs it, the host handles its output and sends what follows.
    pub fn tick(&mut self, cluster: &mut Cluster) {
        self.tick_collect(cluster, None);
    }

    fn tick_collect(&mut self, cluster: &mut Cluster, want: Option<i32>) -> Option<String> {
        let before = self.game.stats().instructions;
        let report = self
            .game
            .step()
            .unwrap_or_else(|e| panic!("{}: the game stopped: {e}", self.name));
        let used = self.game.stats().instructions - before;
        if used > TICK_INSTRUCTION_BUDGET {
            self.over_budget.push((report.tick, used));
        }
        let tick = report.tick;
        self.now = tick;
        let mut wanted = None;
        for line in report.lines {
            match line {
                Line::Raw(text) => {
                    if let Some(frame) = text.strip_prefix('\u{c}') {
                        if frame.len() > 3999 {
                            self.long_lines += 1;
                        }
                        self.on_frame(cluster, frame.as_bytes(), tick);
                    }
                }
                Line::Log(text) | Line::Dated(text) => {
                    if text.contains("invsync") {
                        self.logs.push(text);
                    }
                }
            }
        }
        self.player_messages.extend(report.player_messages);
        for (handle, reply) in report.replies {
            let purpose = self.pending.remove(&handle.id).unwrap_or(Purpose::Other);
            if Some(handle.id) == want {
                wanted = Some(reply.clone());
            }
            self.on_reply(cluster, purpose, &reply, tick);
        }
        self.tend(tick);
        wanted
    }

    fn on_frame(&mut self, cluster: &mut Cluster, frame: &[u8], tick: u64) {
        match self.rx.push(frame, tick) {
            Ok(Outcome::Complete(m)) => self.on_message(cluster, &m.payload),
            Ok(_) => {}
            Err(e) => panic!(
                "{}: a frame from the game does not decode: {e}: {:?}",
                self.name,
                String::from_utf8_lossy(&frame[..frame.len().min(200)])
            ),
        }
    }

    fn on_message(&mut self, cluster: &mut Cluster, payload: &[u8]) {
        let parsed: Option<Value> = if payload.first() == Some(&b'{') {
            serde_json::from_slice(payload).ok()
        } else {
            None
        };
        let kind = parsed
            .as_ref()
            .and_then(|v| v["type"].as_str().map(str::to_string));
        match kind.as_deref() {
            Some("caps") => self.caps = parsed,
            Some("staged") => {
                let v = parsed.unwrap();
                let id = v["id"].as_u64().unwrap() as u32;
                let count = v["count"].as_u64().unwrap() as u32;
                self.staged_announced += 1;
                if self.pulling.contains_key(&id) {
                    return;
                }
                self.pulling.insert(
                    id,
                    Pulling {
                        count,
                        have: BTreeSet::new(),
                    },
                );
                let mut order: Vec<u32> = (1..=count).collect();
                if self.faults.shuffle {
                    shuffle(&mut self.rng, &mut order);
                }
                for index in order {
                    self.submit(
                        call_command("pull", &[u64::from(id), u64::from(index)]),
                        Purpose::Pull { msg: id, index },
                    );
                }
            }
            Some("received") => {
                let v = parsed.unwrap();
                let id = v["id"].as_u64().unwrap() as u32;
                let status = v["status"].as_str().unwrap().to_string();
                let error = v["error"].as_str().map(str::to_string);
                if let Some(m) = self.out.get_mut(&id) {
                    m.done = true;
                }
                self.received.push((id, status, error));
            }
            Some("acquire" | "upload" | "release") => {
                if kind.as_deref() == Some("upload") {
                    self.upload_ticks.push(self.now);
                }
                let name = self.name.clone();
                let answers = cluster.handle(&name, payload);
                self.send_answers(answers);
            }
            _ => {
                self.app_messages.push(payload.to_vec());
                self.app_ticks.push(self.now);
            }
        }
    }

    fn on_reply(&mut self, cluster: &mut Cluster, purpose: Purpose, reply: &str, tick: u64) {
        let line = reply.strip_suffix('\n').unwrap_or(reply);
        match purpose {
            Purpose::Recv { msg, index } => {
                let m = self.out.get_mut(&msg).expect("a message we sent");
                m.last_activity = tick;
                let word = line.split(' ').next().unwrap_or("");
                match word {
                    "ok" | "done" => {
                        m.answered.insert(index);
                    }
                    "err" => {
                        let name = line.split(' ').nth(2).unwrap_or("");
                        let retryable = [
                            "FrameChecksumMismatch",
                            "ForbiddenCharacter",
                            "InvalidUtf8",
                            "NotAFrame",
                            "TooManyMessages",
                        ];
                        assert!(
                            retryable.contains(&name),
                            "{}: final error for a frame of message {msg}: {line}",
                            self.name
                        );
                    }
                    _ => panic!("{}: unexpected recv reply {line:?}", self.name),
                }
            }
            Purpose::Status { msg } => {
                let parts: Vec<&str> = line.splitn(3, ' ').collect();
                match parts[0] {
                    "missing" => {
                        let list = parse_ranges(parts.get(2).copied().unwrap_or(""));
                        let frames: Vec<(u32, String)> = {
                            let m = self.out.get_mut(&msg).unwrap();
                            m.last_activity = tick;
                            m.resends += 1;
                            list.iter()
                                .map(|i| (*i, m.frames[*i as usize - 1].clone()))
                                .collect()
                        };
                        for (index, frame) in frames {
                            self.resent_frames += 1;
                            self.submit(recv_command(&frame), Purpose::Recv { msg, index });
                        }
                    }
                    "done" => {
                        if let Some(m) = self.out.get_mut(&msg) {
                            m.done = true;
                        }
                    }
                    "unknown" => {
                        // nothing of it arrived: send it all again
                        let frames = self.out[&msg].frames.clone();
                        let m = self.out.get_mut(&msg).unwrap();
                        m.last_activity = tick;
                        m.resends += 1;
                        for (i, frame) in frames.into_iter().enumerate() {
                            self.resent_frames += 1;
                            self.submit(
                                recv_command(&frame),
                                Purpose::Recv {
                                    msg,
                                    index: i as u32 + 1,
                                },
                            );
                        }
                    }
                    _ => panic!("{}: status of {msg}: {line}", self.name),
                }
            }
            Purpose::Pull { msg, index } => {
                if line.starts_with("IS") {
                    if let Some(p) = self.pulling.get_mut(&msg) {
                        p.have.insert(index);
                    }
                    match self.rx.push(line.as_bytes(), tick) {
                        Ok(Outcome::Complete(m)) => {
                            self.staged_pulled += 1;
                            self.pulling.remove(&msg);
                            self.submit(call_command("ack", &[u64::from(msg)]), Purpose::Ack);
                            self.on_message(cluster, &m.payload);
                        }
                        Ok(_) => {}
                        Err(e) => panic!("{}: pulled frame of {msg} is bad: {e}", self.name),
                    }
                } else {
                    // unknown: freed already (a repeated announcement raced the ack)
                    self.pulling.remove(&msg);
                }
            }
            Purpose::Ack | Purpose::Other => {}
        }
    }

    /// Resend logic: a message without a `received` report and without activity for a while
    /// gets a `status` query.
    fn tend(&mut self, tick: u64) {
        let due: Vec<u32> = self
            .out
            .iter()
            .filter(|(_, m)| !m.done && tick >= m.last_activity + self.status_after)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let m = self.out.get_mut(&id).unwrap();
            m.last_activity = tick;
            assert!(
                m.resends < 50,
                "{}: message {id} never completes",
                self.name
            );
            self.submit(
                call_command("status", &[u64::from(id)]),
                Purpose::Status { msg: id },
            );
        }
        self.out
            .retain(|_, m| !(m.done && tick > m.last_activity + 10_000));
    }

    /// The server crashes (no save) and starts again from its last autosave: commands in
    /// flight are lost, pulls in progress are forgotten (the game announces again).
    pub fn crash_and_restart(&mut self) {
        self.game.crash();
        self.pending.clear();
        self.pulling.clear();
        self.game
            .restart()
            .unwrap_or_else(|e| panic!("{}: restart: {e}", self.name));
    }

    /// Messages sent to the game that have not completed yet.
    pub fn unfinished(&self) -> usize {
        self.out.values().filter(|m| !m.done).count()
    }

    // players and their state --------------------------------------------------------------

    pub fn join(&mut self, name: &str) {
        self.game.act(Action::Join { name: name.into() });
    }

    pub fn leave(&mut self, name: &str) {
        self.game.act(Action::Leave {
            name: name.into(),
            reason: "quit".into(),
        });
    }

    pub fn click(&mut self, name: &str, element: &str) {
        self.game.act(Action::Click {
            name: name.into(),
            element: element.into(),
        });
    }

    /// The player index of `name`.
    pub fn index_of(&self, name: &str) -> u32 {
        self.game
            .world()
            .player_by_name(name)
            .map(|p| p.index)
            .unwrap_or_else(|| panic!("no player {name}"))
    }

    /// The sync state of `name` as the module has it (read straight from the Lua state).
    pub fn state(&self, name: &str) -> String {
        let Some(index) = self.game.world().player_by_name(name).map(|p| p.index) else {
            return "none".into();
        };
        let lua = self.game.server_lua();
        let f = lua
            .load(format!(
                "local r = storage.invsync.sync.players[{index}] return r and r.state or 'none'"
            ))
            .eval::<String>();
        f.unwrap_or_else(|e| panic!("reading the state: {e}"))
    }

    /// Evaluates Lua in the server's state (read-only inspection).
    pub fn eval<T: mlua::FromLuaMulti>(&self, code: &str) -> T {
        self.game
            .server_lua()
            .load(code)
            .eval::<T>()
            .unwrap_or_else(|e| panic!("eval {code:?}: {e}"))
    }

    /// Whether the named GUI element of player `name` exists and is visible.
    pub fn gui_visible(&self, name: &str, element: &str) -> bool {
        let w = self.game.world();
        let Some(p) = w.player_by_name(name) else {
            return false;
        };
        w.gui
            .values()
            .any(|e| e.player == p.index && e.name == element && e.visible)
    }

    /// The value of a progress bar element of player `name`, if it exists.
    pub fn gui_value(&self, name: &str, element: &str) -> Option<f64> {
        let w = self.game.world();
        let p = w.player_by_name(name)?;
        w.gui
            .values()
            .find(|e| e.player == p.index && e.name == element)
            .map(|e| e.value)
    }

    pub fn gui_caption(&self, name: &str, element: &str) -> Option<String> {
        let w = self.game.world();
        let p = w.player_by_name(name)?;
        w.gui
            .values()
            .find(|e| e.player == p.index && e.name == element)
            .map(|e| e.caption.as_str().unwrap_or("").to_string())
    }

    /// Items of player `name` by (item, quality): in the character the player controls, or
    /// else in the character the module keeps for them, plus the cursor.
    pub fn items(&self, name: &str) -> BTreeMap<(String, String), u64> {
        let (index, controlled) = {
            let w = self.game.world();
            let p = w.player_by_name(name).expect("player");
            (p.index, p.character)
        };
        let unit = controlled.or_else(|| {
            self.eval::<Option<u32>>(&format!(
                "local r = storage.invsync.sync.players[{index}] \
                 return r and r.character and r.character.valid and r.character.unit_number or nil"
            ))
        });
        let w = self.game.world();
        let p = w.player_by_name(name).expect("player");
        let mut out = BTreeMap::new();
        let mut add = |s: &invsync_emulator::ItemStack| {
            *out.entry((s.name.clone(), s.quality.clone())).or_insert(0) += u64::from(s.count);
        };
        if let Some(c) = unit.and_then(|u| w.characters.get(&u)) {
            for inv in [&c.main, &c.guns, &c.ammo, &c.armor, &c.trash] {
                inv.slots.iter().flatten().for_each(&mut add);
            }
        }
        if let Some(c) = &p.cursor {
            add(c);
        }
        out
    }

    /// Items of every character of the world (all players', kept or temporary), plus cursors.
    pub fn all_items(&self) -> BTreeMap<(String, String), u64> {
        let w = self.game.world();
        let mut out = BTreeMap::new();
        let mut add = |s: &invsync_emulator::ItemStack| {
            *out.entry((s.name.clone(), s.quality.clone())).or_insert(0) += u64::from(s.count);
        };
        for c in w.characters.values() {
            for inv in [&c.main, &c.guns, &c.ammo, &c.armor, &c.trash] {
                inv.slots.iter().flatten().for_each(&mut add);
            }
        }
        for p in &w.players {
            if let Some(c) = &p.cursor {
                add(c);
            }
        }
        out
    }

    /// Ticks until `cond` holds (panics after `max` ticks, naming `what`).
    pub fn run_until(
        &mut self,
        cluster: &mut Cluster,
        max: u64,
        what: &str,
        mut cond: impl FnMut(&Server, &Cluster) -> bool,
    ) -> u64 {
        for n in 0..max {
            if cond(self, cluster) {
                return n;
            }
            self.tick(cluster);
        }
        let states: Vec<String> = self
            .game
            .world()
            .players
            .iter()
            .map(|p| format!("{}={}", p.name, self.state(&p.name)))
            .collect();
        panic!(
            "{}: {what} did not happen within {max} ticks; states {states:?}\nhost saw: {:?}\nlogs:\n{}",
            self.name,
            cluster
                .log
                .iter()
                .map(|(s, v)| format!("{s}: {v}"))
                .collect::<Vec<_>>(),
            self.logs.join("\n")
        );
    }

    pub fn run(&mut self, cluster: &mut Cluster, ticks: u64) {
        for _ in 0..ticks {
            self.tick(cluster);
        }
    }

    /// Largest instruction count of a tick so far.
    pub fn max_tick_instructions(&self) -> u64 {
        self.game.stats().max_tick_instructions
    }
}

/// Changes one data byte of a frame (a frame damaged in transit, still one line of text).
pub fn damage(frame: &str, rng: &mut Rng) -> String {
    let mut bytes = frame.as_bytes().to_vec();
    // one of the last bytes is data in every non-empty frame; change a letter or digit into
    // another letter, so the frame stays valid text and only its checksum tells
    let i = bytes.len() - 1 - rng.below(4) as usize;
    if i < 40 || !bytes[i].is_ascii_alphanumeric() {
        return frame.to_string();
    }
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("still text")
}

// Player data ------------------------------------------------------------------------------------

/// A sample's JSON as a string.
pub fn sample(kind: SampleKind, seed: u64) -> String {
    String::from_utf8(generate(kind, seed)).unwrap()
}

/// The JSON inside an exchange string (`"0"` + base64(zlib(json))), for comparing blueprints
/// by content: the game's encoder may compress differently.
pub fn exchange_json(s: &str) -> Value {
    use base64::Engine as _;
    assert!(s.starts_with('0'), "exchange strings start with 0");
    let z = base64::engine::general_purpose::STANDARD
        .decode(&s[1..])
        .expect("base64");
    let json = miniz_oxide::inflate::decompress_to_vec_zlib(&z).expect("zlib");
    serde_json::from_slice(&json).expect("json")
}

/// Player data normalised for comparing what the game wrote with what it was given: in format
/// 1 (the game writes format 2, tests give either: the model reads both and writes format 1
/// with every run expanded), export strings replaced by their JSON content, bonuses the game
/// writes as 0 when absent.
pub fn normalised(data: &str, bonuses: &[&str]) -> Value {
    let model = invsync_player_data::PlayerData::from_json(data.as_bytes()).expect("player data");
    let mut v: Value = serde_json::from_str(&model.to_json_format_1()).expect("player data JSON");
    for inv in ["main", "guns", "ammo", "armor", "trash"] {
        if let Some(list) = v["inventories"][inv].as_array_mut() {
            for s in list {
                if let Some(e) = s.get("export").and_then(Value::as_str).map(str::to_string) {
                    s["export"] = exchange_json(&e);
                }
            }
        } else {
            v["inventories"][inv] = json!([]);
        }
    }
    if let Some(c) = v.get_mut("cursor")
        && let Some(e) = c.get("export").and_then(Value::as_str).map(str::to_string)
    {
        c["export"] = exchange_json(&e);
    }
    let b = v["bonuses"].as_object().cloned().unwrap_or_default();
    let mut all = serde_json::Map::new();
    for name in bonuses {
        all.insert(
            (*name).to_string(),
            b.get(*name).cloned().unwrap_or(json!(0)),
        );
    }
    v["bonuses"] = Value::Object(all);
    floats(&mut v);
    v
}

/// Every number as a double (the game writes 7 where serde writes 7.0).
fn floats(v: &mut Value) {
    match v {
        Value::Number(n) => *v = json!(n.as_f64().unwrap()),
        Value::Array(a) => a.iter_mut().for_each(floats),
        Value::Object(m) => m.values_mut().for_each(floats),
        _ => {}
    }
}

/// The bonuses the module syncs by default (settings.lua).
pub const BONUSES: [&str; 13] = [
    "character_build_distance_bonus",
    "character_crafting_speed_modifier",
    "character_health_bonus",
    "character_inventory_slots_bonus",
    "character_item_drop_distance_bonus",
    "character_item_pickup_distance_bonus",
    "character_loot_pickup_distance_bonus",
    "character_maximum_following_robot_count_bonus",
    "character_mining_speed_modifier",
    "character_reach_distance_bonus",
    "character_resource_reach_distance_bonus",
    "character_running_speed_modifier",
    "character_trash_slot_count_bonus",
];

/// A queue of (tick, action) for scripted sessions.
pub type Schedule = VecDeque<(u64, Action)>;

/// Asserts the sample's player data survives being applied by the game and read back.
pub fn assert_same_player_data(given: &str, written: &str) {
    let a = normalised(given, &BONUSES);
    let mut b = normalised(written, &BONUSES);
    // the name is the player's in the game
    b["name"] = a["name"].clone();
    if a != b {
        let sa = serde_json::to_string_pretty(&a).unwrap();
        let sb = serde_json::to_string_pretty(&b).unwrap();
        let first = sa
            .lines()
            .zip(sb.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        let ctx = |s: &str| {
            s.lines()
                .skip(first.saturating_sub(5))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "player data differs from line {first}:\ngiven:\n{}\nwritten:\n{}",
            ctx(&sa),
            ctx(&sb)
        );
    }
}

/// Methods in the order the game declares them.
pub fn declared_methods(caps: &Value) -> Vec<Method> {
    caps["decode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().parse().unwrap())
        .collect()
}

// players as the carried-items tests drive them -------------------------------------------

/// `name` joins `s` and plays (the sync done).
pub fn play(s: &mut Server, c: &mut Cluster, name: &str) {
    s.join(name);
    s.run_until(c, 3000, &format!("{name} playing"), |s, _| {
        s.state(name) == "playing"
    });
}

/// `name` leaves `s`, and the upload is stored at `generation`.
pub fn leave_and_upload(s: &mut Server, c: &mut Cluster, name: &str, generation: u64) {
    s.leave(name);
    s.run_until(c, 3000, &format!("{name} uploaded"), |s, c| {
        s.state(name) == "idle"
            && c.stored()
                .get(name)
                .is_some_and(|d| d.generation == generation)
    });
}

/// Player data of `name` with these inventories (and colours).
pub fn data(name: &str, inventories: Value) -> String {
    let colour = json!({"r": 1, "g": 0.5, "b": 0, "a": 1});
    json!({"format": 1, "name": name, "color": colour, "chat_color": colour, "inventories": inventories})
        .to_string()
}

/// How many `item` player `name` has (see [`Server::items`]).
pub fn item_count(s: &Server, name: &str, item: &str) -> u64 {
    s.items(name)
        .iter()
        .filter(|((n, _), _)| n == item)
        .map(|(_, c)| *c)
        .sum()
}
