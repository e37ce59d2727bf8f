//! The deterministic game: the sans-I/O core the shell drives.
//!
//! Time is only the tick counter. Inputs are RCON commands ([`Game::submit`], streamed by the
//! [`StreamModel`]) and driver actions ([`Game::act`]); [`Game::step`] runs one tick and returns
//! what it printed and which commands it answered. Lockstep peers and heavy mode are checked
//! inside `step`.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::context::{Line, ScenarioFiles, Statics};
use crate::error::{EmulatorError, Result};
use crate::instance::{Action, Instance, SaveState, TickInput};
use crate::lockstep::{DesyncReport, differences};
use crate::stats::{Stats, StatsSnapshot, TickLog};
use crate::stream::{CommandHandle, StreamModel, StreamSettings};
use crate::world::World;

/// Name of the emulator's own RCON command (an extension, not a game command).
pub(crate) const STATS_COMMAND: &str = "/emulator-stats";

/// The driver's steps as RCON commands (`--driver-commands`; not a game command).
pub(crate) const DRIVER_COMMAND: &str = "/emulator";

/// The disconnect reason of the players who were online in a save when it is loaded
/// (*unconfirmed*: the game raises the leave events then, with a reason we have not seen).
pub(crate) const LOAD_LEAVE_REASON: &str = "dropped";

/// How many ticks of input a desync report shows.
pub(crate) const REPORT_INPUT_TICKS: usize = 4;

/// Settings of a game.
#[derive(Debug, Clone)]
pub struct GameConfig {
    /// The scenario the game runs.
    pub scenario: ScenarioFiles,
    /// Seed of `math.random`.
    pub seed: u64,
    /// How RCON commands stream into the game.
    pub stream: StreamSettings,
    /// The first console Lua command of a fresh save is refused with the achievements
    /// warning (`--achievements-warning`).
    pub achievements_warning: bool,
    /// Client peers run in lockstep with the server (0 = none).
    pub lockstep_peers: usize,
    /// Save and reload after every tick and compare.
    pub heavy: bool,
    /// Autosave every this many ticks.
    pub autosave_interval: Option<u64>,
    /// Measure Lua time and count instructions on the server peer.
    pub measure: bool,
    /// `helpers.encode_string` returns nil (the game's "encode failed") for strings longer
    /// than this many bytes. The game documents that it can fail, not when; tests use this to
    /// make it fail. None: it never fails.
    pub encode_string_fails_above: Option<usize>,
    /// Accept the driver's steps as `/emulator ...` console commands (`--driver-commands`).
    pub driver_commands: bool,
}

impl Default for GameConfig {
    fn default() -> Self {
        GameConfig {
            scenario: ScenarioFiles::default(),
            seed: 0,
            stream: StreamSettings::default(),
            achievements_warning: false,
            lockstep_peers: 0,
            heavy: false,
            autosave_interval: None,
            measure: true,
            encode_string_fails_above: None,
            driver_commands: false,
        }
    }
}

/// What one tick produced.
#[derive(Debug, Default)]
pub struct TickReport {
    /// The tick that ran.
    pub tick: u64,
    /// What the game printed (stdout and log lines).
    pub lines: Vec<Line>,
    /// Replies to commands that executed in this tick.
    pub replies: Vec<(CommandHandle, String)>,
    /// Messages shown to players.
    pub player_messages: Vec<(u32, String)>,
    /// An autosave was taken after this tick.
    pub autosaved: bool,
}

/// The emulated server.
pub struct Game {
    statics: Rc<Statics>,
    config: GameConfig,
    server: Instance,
    peers: Vec<Instance>,
    stream: StreamModel,
    pending: Vec<Action>,
    /// Per pending action: the `/emulator` command to answer once it is done.
    pending_replies: Vec<Option<CommandHandle>>,
    stats: Stats,
    last_autosave: Option<SaveState>,
    crashed: bool,
    history: VecDeque<TickInput>,
    carry: Vec<Line>,
    carry_messages: Vec<(u32, String)>,
    /// `/emulator stall-stdout` while it lasts.
    stdout_stall: Option<StdoutStall>,
    tick_log: Option<TickLog>,
}

impl std::fmt::Debug for Game {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Game")
            .field("tick", &self.tick())
            .field("crashed", &self.crashed)
            .finish()
    }
}

impl Game {
    fn statics(config: &GameConfig) -> Rc<Statics> {
        Rc::new(Statics {
            protos: Default::default(),
            scenario: config.scenario.clone(),
            achievements_warning: config.achievements_warning,
            encode_string_fails_above: config.encode_string_fails_above,
        })
    }

    /// Start a new game (runs `on_init` on every peer).
    pub fn new(config: GameConfig) -> Result<Game> {
        let statics = Self::statics(&config);
        let server = Instance::new_game(statics.clone(), config.seed, config.measure)?;
        let peers = (0..config.lockstep_peers)
            .map(|_| Instance::new_game(statics.clone(), config.seed, false))
            .collect::<Result<Vec<_>>>()?;
        Self::assemble(statics, config, server, peers)
    }

    /// Continue from a save (runs `on_load` on every peer). The players who were online in the
    /// save leave in the first tick, before anything else (`on_pre_player_left_game`, then
    /// `on_player_left_game`, reason [`LOAD_LEAVE_REASON`]), as in the game: nobody is connected
    /// to a server that just started.
    pub fn from_save(config: GameConfig, save: SaveState) -> Result<Game> {
        if save.format != crate::instance::SAVE_FORMAT {
            return Err(EmulatorError::Save {
                path: "<save>".into(),
                message: format!("unknown format {:?}", save.format),
            });
        }
        let leaving: Vec<Action> = save
            .world
            .players
            .iter()
            .filter(|p| p.connected)
            .map(|p| Action::Leave {
                name: p.name.clone(),
                reason: LOAD_LEAVE_REASON.into(),
            })
            .collect();
        let statics = Self::statics(&config);
        let server = Instance::load(statics.clone(), &save, config.measure)?;
        let peers = (0..config.lockstep_peers)
            .map(|_| Instance::load(statics.clone(), &save, false))
            .collect::<Result<Vec<_>>>()?;
        let mut g = Self::assemble(statics, config, server, peers)?;
        g.last_autosave = Some(save);
        for a in leaving {
            g.act(a);
        }
        Ok(g)
    }

    fn assemble(
        statics: Rc<Statics>,
        config: GameConfig,
        server: Instance,
        peers: Vec<Instance>,
    ) -> Result<Game> {
        let out = server.take_outputs();
        for p in &peers {
            p.take_outputs();
        }
        let mut g = Game {
            statics,
            stream: StreamModel::new(config.stream.clone()),
            config,
            server,
            peers,
            pending: Vec::new(),
            pending_replies: Vec::new(),
            stats: Stats::default(),
            last_autosave: None,
            crashed: false,
            history: VecDeque::new(),
            carry: out.lines,
            carry_messages: out.player_messages,
            stdout_stall: None,
            tick_log: None,
        };
        g.check_peers(&TickInput::default(), "start")?;
        Ok(g)
    }

    /// The next tick to run (`game.tick` as the next command will see it).
    pub fn tick(&self) -> u64 {
        self.server.world().tick
    }

    /// The settings the game runs with.
    pub fn config(&self) -> &GameConfig {
        &self.config
    }

    /// The server's world.
    pub fn world(&self) -> std::cell::Ref<'_, World> {
        self.server.world()
    }

    /// The server's Lua state (tests).
    pub fn server_lua(&self) -> &mlua::Lua {
        self.server.lua()
    }

    pub(crate) fn is_crashed(&self) -> bool {
        self.crashed
    }

    /// Commands in flight in the stream model.
    pub(crate) fn commands_in_flight(&self) -> usize {
        self.stream.in_flight()
    }

    /// Writes every tick's Lua time, instruction count and commands, every command's arrival
    /// and every statistics reset to `log` (for `--tick-log`).
    pub(crate) fn set_tick_log(&mut self, log: TickLog) {
        self.tick_log = Some(log);
    }

    /// A console command arrived. Returns `Some(reply)` for emulator extension commands, which
    /// are answered at once and are not game input.
    pub fn submit(&mut self, handle: CommandHandle, text: String) -> Option<String> {
        if let Some(arg) = text.strip_prefix(STATS_COMMAND)
            && (arg.is_empty() || arg.starts_with(' '))
        {
            let reply = match arg.trim() {
                "" => serde_json::to_string(&self.stats()).unwrap_or_default(),
                "reset" => {
                    let tick = self.tick();
                    if let Some(log) = &mut self.tick_log {
                        log.reset(tick);
                    }
                    self.stats.reset(self.stream.bytes_streamed());
                    "{\"reset\":true}".to_string()
                }
                other => format!(
                    "Unknown {STATS_COMMAND} argument {other:?} (use no argument or 'reset')"
                ),
            };
            return Some(reply);
        }
        if self.config.driver_commands && is_driver_command(&text) {
            return self.driver_command(handle, &text[DRIVER_COMMAND.len()..]);
        }
        let tick = self.tick();
        if let Some(log) = &mut self.tick_log {
            log.command(tick, &text);
        }
        if !self.crashed {
            self.stream.enqueue(handle, text);
        }
        None
    }

    /// Queue a driver action for the next tick.
    pub fn act(&mut self, action: Action) {
        self.pending.push(action);
        self.pending_replies.push(None);
    }

    /// Whether `text` is `/emulator crash` and driver commands are on: the shell then ends the
    /// process at once, without saving (the game cannot do that itself).
    pub(crate) fn is_crash_command(&self, text: &str) -> bool {
        self.config.driver_commands
            && is_driver_command(text)
            && text[DRIVER_COMMAND.len()..].trim() == "crash"
    }

    /// An `/emulator` command (`args`: the text after `/emulator`). Steps are queued for the
    /// next tick and answered (`ok` or `error: ...`) in the report of the tick that ran them;
    /// `items` and malformed commands are answered at once.
    fn driver_command(&mut self, handle: CommandHandle, args: &str) -> Option<String> {
        let args = args.trim();
        let verb = args.split_whitespace().next().unwrap_or("");
        match verb {
            "join" | "leave" | "chat" | "give" | "take" | "click" => {
                match crate::driver::parse_step(args) {
                    Ok(crate::driver::Step::Act(action)) => {
                        if self.crashed {
                            return None;
                        }
                        self.pending.push(action);
                        self.pending_replies.push(Some(handle));
                        None
                    }
                    Ok(_) => Some(format!("error: {verb}: not a player action\n")),
                    Err(why) => Some(format!("error: {why}\n")),
                }
            }
            "items" => {
                let mut words = args.split_whitespace().skip(1);
                match (words.next(), words.next()) {
                    (Some(name), None) => Some(match self.player_items(name) {
                        Some(v) => format!("{v}\n"),
                        None => format!("error: unknown player {name:?}\n"),
                    }),
                    _ => Some("error: items: expected one player name\n".into()),
                }
            }
            "stall-stdout" => {
                let mut words = args.split_whitespace().skip(1);
                let ticks = match (words.next(), words.next()) {
                    (Some(n), None) => n
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=MAX_STDOUT_STALL_TICKS).contains(n)),
                    _ => None,
                };
                Some(match ticks {
                    Some(n) => {
                        let until = self.tick() + n;
                        // a second stall restarts the count and keeps what is held
                        let stall = self.stdout_stall.get_or_insert_with(StdoutStall::default);
                        stall.until = until;
                        "ok\n".to_string()
                    }
                    None => format!(
                        "error: stall-stdout: expected one tick count, 1 to {MAX_STDOUT_STALL_TICKS}\n"
                    ),
                })
            }
            // handled by the shell (`is_crash_command`); here only with words after it
            "crash" => Some("error: crash: takes no arguments\n".into()),
            "" => Some(format!(
                "error: missing subcommand (use {DRIVER_SUBCOMMANDS})\n"
            )),
            other => Some(format!(
                "error: unknown subcommand {other:?} (use {DRIVER_SUBCOMMANDS})\n"
            )),
        }
    }

    /// What player `name`'s character holds in every inventory (main, guns, ammo, armor,
    /// trash), the god controller's main inventory and the cursor, as
    /// `{"player", "online", "items": {name: {quality: count}}}`; None for an unknown player.
    /// The `/emulator items` answer (docs/EMULATOR.md says what is not counted).
    pub(crate) fn player_items(&self, name: &str) -> Option<serde_json::Value> {
        use std::collections::BTreeMap;
        let w = self.world();
        let p = w.player_by_name(name)?;
        let mut items: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut add = |s: &crate::inventory::ItemStack| {
            *items
                .entry(s.name.clone())
                .or_default()
                .entry(s.quality.clone())
                .or_default() += u64::from(s.count);
        };
        if let Some(c) = p.character.and_then(|u| w.characters.get(&u)) {
            for kind in crate::inventory::InventoryKind::CHARACTER {
                if let Some(inv) = c.inventory(kind) {
                    inv.slots.iter().flatten().for_each(&mut add);
                }
            }
        }
        p.god_main.slots.iter().flatten().for_each(&mut add);
        if let Some(s) = &p.cursor {
            add(s);
        }
        Some(serde_json::json!({
            "player": p.name,
            "online": p.connected,
            "items": items,
        }))
    }

    /// The statistics since the start or the last reset (`/emulator-stats`).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats
            .snapshot(self.tick(), self.stream.bytes_streamed())
    }

    /// Starts the statistics afresh (`/emulator-stats reset`).
    pub fn reset_stats(&mut self) {
        self.stats.reset(self.stream.bytes_streamed());
    }

    /// Save the server's state.
    pub fn save(&self) -> Result<SaveState> {
        self.server.save()
    }

    /// The last autosave (or the save the game was loaded from).
    pub(crate) fn last_autosave(&self) -> Option<&SaveState> {
        self.last_autosave.as_ref()
    }

    /// Crash without saving: everything in flight is lost. Returns the commands that will never
    /// be answered.
    pub fn crash(&mut self) -> Vec<CommandHandle> {
        self.crashed = true;
        self.pending.clear();
        let mut lost: Vec<CommandHandle> = self.pending_replies.drain(..).flatten().collect();
        lost.extend(self.stream.clear());
        lost
    }

    /// Change the autosave interval (`None` = off).
    pub fn set_autosave_interval(&mut self, every: Option<u64>) {
        self.config.autosave_interval = every;
    }

    /// Restart from the last autosave (a fresh game if there was none).
    pub fn restart(&mut self) -> Result<()> {
        let config = self.config.clone();
        let fresh = match self.last_autosave.clone() {
            Some(save) => Game::from_save(config, save)?,
            None => Game::new(config)?,
        };
        *self = fresh;
        self.carry.push(Line::Log(
            "Info Emulator: restarted from the last autosave".into(),
        ));
        Ok(())
    }

    fn check_peers(&mut self, input: &TickInput, when: &str) -> Result<()> {
        if self.peers.is_empty() {
            return Ok(());
        }
        let (sh, wh, snap) = self.server.checksum()?;
        for (i, p) in self.peers.iter().enumerate() {
            let (ph, pwh, psnap) = p.checksum()?;
            if (ph, pwh) != (sh, wh) {
                let diffs = differences((&snap, &self.server.world()), (&psnap, &p.world()));
                let mut inputs: Vec<TickInput> = self.history.iter().cloned().collect();
                if when != "start" {
                    inputs.push(input.clone());
                }
                return Err(EmulatorError::Desync(Box::new(DesyncReport {
                    tick: input.tick,
                    mode: format!("lockstep peer {} ({when})", i + 1),
                    inputs,
                    differences: diffs,
                })));
            }
        }
        Ok(())
    }

    /// Run one tick.
    pub fn step(&mut self) -> Result<TickReport> {
        if self.crashed {
            return Err(EmulatorError::Crashed);
        }
        let tick = self.tick();
        let peers = self.server.world().connected_count() as u32;
        if self.stream.in_flight() > 0 {
            self.stats.record_streaming(tick);
        }
        let commands = self.stream.step(tick, peers);
        if !commands.is_empty() {
            self.stats.record_executed(tick);
        }
        let input = TickInput {
            tick,
            actions: std::mem::take(&mut self.pending),
            commands,
        };
        let action_replies = std::mem::take(&mut self.pending_replies);
        // Heavy mode: a copy reloaded from the state before this tick must end it identically.
        let shadow = if self.config.heavy {
            Some(Instance::load(
                self.statics.clone(),
                &self.server.save()?,
                false,
            )?)
        } else {
            None
        };
        let mut effects = self.server.apply_tick(&input)?;
        // the `/emulator` steps of this tick are answered before its commands
        let mut replies: Vec<(CommandHandle, String)> = action_replies
            .iter()
            .zip(&effects.refusals)
            .filter_map(|(h, refused)| {
                let reply = match refused {
                    None => "ok\n".to_string(),
                    Some(why) => format!("error: {why}\n"),
                };
                h.map(|h| (h, reply))
            })
            .collect();
        replies.append(&mut effects.replies);
        effects.replies = replies;
        for p in &self.peers {
            p.apply_tick(&input)?;
            p.take_outputs();
        }
        if let Some(shadow) = shadow {
            self.check_shadow(&shadow, &input)?;
        }
        self.check_peers(&input, "after tick")?;
        if let Some(log) = &mut self.tick_log {
            log.tick(
                tick,
                effects.lua_time,
                effects.instructions,
                input.commands.len(),
                effects.lua_memory,
            );
        }
        self.stats
            .record_tick(effects.lua_time, effects.instructions, input.commands.len());
        let out = self.server.take_outputs();
        let mut lines = std::mem::take(&mut self.carry);
        lines.extend(out.lines);
        let mut player_messages = std::mem::take(&mut self.carry_messages);
        player_messages.extend(out.player_messages);
        self.history.push_back(input);
        while self.history.len() >= REPORT_INPUT_TICKS {
            self.history.pop_front();
        }
        let autosaved = self.autosave_after(tick, &mut lines)?;
        self.hold_stdout(tick, &mut lines);
        Ok(TickReport {
            tick,
            lines,
            replies: effects.replies,
            player_messages,
            autosaved,
        })
    }

    /// `/emulator stall-stdout`: while the stall lasts the tick's lines are kept back (the game
    /// runs on, as behind a pipe nobody reads); the tick it ends, they come out first, in order.
    /// At most [`MAX_STALLED_STDOUT`] bytes are held: past that the stall ends early.
    fn hold_stdout(&mut self, tick: u64, lines: &mut Vec<Line>) {
        let Some(stall) = &mut self.stdout_stall else {
            return;
        };
        stall.bytes += lines
            .iter()
            .map(|l| match l {
                Line::Raw(t) | Line::Log(t) | Line::Dated(t) => t.len(),
            })
            .sum::<usize>();
        stall.lines.append(lines);
        if (tick + 1 >= stall.until || stall.bytes > MAX_STALLED_STDOUT)
            && let Some(stall) = self.stdout_stall.take()
        {
            *lines = stall.lines;
        }
    }

    /// Heavy mode: `shadow`, reloaded from the state before the tick, runs it too and must end
    /// it as the server did.
    fn check_shadow(&self, shadow: &Instance, input: &TickInput) -> Result<()> {
        shadow.apply_tick(input)?;
        let (sh, wh, snap) = self.server.checksum()?;
        let (h, w, ssnap) = shadow.checksum()?;
        if (sh, wh) == (h, w) {
            return Ok(());
        }
        let mut inputs: Vec<TickInput> = self.history.iter().cloned().collect();
        inputs.push(input.clone());
        Err(EmulatorError::Desync(Box::new(DesyncReport {
            tick: input.tick,
            mode: "heavy mode (save and reload before the tick)".into(),
            inputs,
            differences: differences((&snap, &self.server.world()), (&ssnap, &shadow.world())),
        })))
    }

    /// Takes the autosave due after `tick`, if one is, with the game's log lines; whether it did.
    fn autosave_after(&mut self, tick: u64, lines: &mut Vec<Line>) -> Result<bool> {
        let Some(n) = self.config.autosave_interval else {
            return Ok(false);
        };
        if n == 0 || !(tick + 1).is_multiple_of(n) {
            return Ok(false);
        }
        lines.push(Line::Log(
            "Info AppManager.cpp: Saving to _autosave1 (blocking).".into(),
        ));
        self.last_autosave = Some(self.server.save()?);
        lines.push(Line::Log(
            "Info AppManagerStates.cpp: Saving finished".into(),
        ));
        Ok(true)
    }

    /// Submit a command and run ticks until it is answered (tests and the driver); `max_ticks` bounds the wait.
    pub fn run_command(&mut self, text: &str, max_ticks: u64) -> Result<(String, TickReport)> {
        let handle = CommandHandle {
            conn: 0,
            id: i32::MAX,
        };
        if let Some(r) = self.submit(handle, text.to_string()) {
            return Ok((r, TickReport::default()));
        }
        let mut all = TickReport::default();
        for _ in 0..max_ticks {
            let mut r = self.step()?;
            all.tick = r.tick;
            all.lines.append(&mut r.lines);
            all.player_messages.append(&mut r.player_messages);
            if let Some(i) = r.replies.iter().position(|(h, _)| *h == handle) {
                let reply = r.replies.swap_remove(i).1;
                all.replies.append(&mut r.replies);
                return Ok((reply, all));
            }
            all.replies.append(&mut r.replies);
        }
        Err(EmulatorError::Driver {
            action: text.chars().take(60).collect(),
            message: format!("no reply within {max_ticks} ticks"),
        })
    }
}

/// The subcommands of `/emulator`, for error messages.
const DRIVER_SUBCOMMANDS: &str = "join, leave, chat, give, take, click, crash, items, stall-stdout";
/// What `/emulator stall-stdout` holds back: until which tick, the lines, and their bytes.
#[derive(Debug, Default)]
struct StdoutStall {
    until: u64,
    lines: Vec<Line>,
    bytes: usize,
}

/// The longest `/emulator stall-stdout` (ten minutes of game time).
const MAX_STDOUT_STALL_TICKS: u64 = 36_000;
/// The most stdout a stall holds back before it ends early.
const MAX_STALLED_STDOUT: usize = 64 << 20;

fn is_driver_command(text: &str) -> bool {
    text.strip_prefix(DRIVER_COMMAND)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}
