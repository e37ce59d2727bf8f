//! One peer of the game: a Lua state running the scenario plus its world.

use cpu_time::ThreadTime;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, Table, Value};
use serde::{Deserialize, Serialize};

use crate::api::defines::{DISCONNECT_REASONS, event_id, event_name};
use crate::api::game::GameRef;
use crate::api::gui::GuiRef;
use crate::api::refs::InvId;
use crate::context::{Line, Outputs, Phase, Shared, Statics};
use crate::error::{EmulatorError, Result};
use crate::inventory::{Inventory, InventoryKind, ItemStack, StackExtra, StackSpec};
use crate::items::ItemProto;
use crate::sandbox::{error_message, new_state, reg};
use crate::snapshot::{self, Snapshot};
use crate::stream::{CommandHandle, ReadyCommand};
use crate::world::{Controller, World};

/// Text of the refusal of the first console Lua command on a fresh save (configurable
/// `--achievements-warning`; wording from public reports of the game's reply, unconfirmed).
pub(crate) const ACHIEVEMENTS_WARNING: &str =
    "Lua console commands will disable achievements. Please repeat the command to proceed.";

/// A driver action: something players do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A player connects (created, with a character, on their first join).
    Join {
        /// The player.
        name: String,
    },
    /// An online player disconnects.
    Leave {
        /// The player.
        name: String,
        /// A `defines.disconnect_reason` name (`quit`, `dropped`, `kicked`...).
        reason: String,
    },
    /// An online player says something in the chat.
    Chat {
        /// The player.
        name: String,
        /// What they say.
        text: String,
    },
    /// Items appear in an online player's main inventory: all of them, or none.
    Give {
        /// The player.
        name: String,
        /// The item.
        item: String,
        /// How many (at least 1).
        count: u32,
        /// The item's quality.
        quality: String,
    },
    /// Items leave an online player's main inventory: all of them, or none.
    Take {
        /// The player.
        name: String,
        /// The item.
        item: String,
        /// How many (at least 1).
        count: u32,
        /// The item's quality.
        quality: String,
    },
    /// An online player clicks their visible, enabled GUI element.
    Click {
        /// The player.
        name: String,
        /// The element's name.
        element: String,
    },
}

impl Action {
    /// The driver verb of the action (`join`, `give`...).
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Action::Join { .. } => "join",
            Action::Leave { .. } => "leave",
            Action::Chat { .. } => "chat",
            Action::Give { .. } => "give",
            Action::Take { .. } => "take",
            Action::Click { .. } => "click",
        }
    }
}

/// Everything that goes into one tick, identical for every peer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TickInput {
    /// The tick.
    pub tick: u64,
    /// The driver actions, in order.
    pub actions: Vec<Action>,
    /// The commands that execute in it, in order.
    pub commands: Vec<ReadyCommand>,
}

/// What one tick produced on one peer.
#[derive(Debug, Default)]
pub(crate) struct TickEffects {
    pub replies: Vec<(CommandHandle, String)>,
    pub lua_time: Duration,
    pub instructions: u64,
    /// Bytes the Lua state holds at the end of the tick.
    pub lua_memory: usize,
    /// Per driver action of the tick, in order: None if it was done, or why it was refused
    /// (nothing changed).
    pub refusals: Vec<Option<String>>,
}

/// The save form of a game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveState {
    /// Format marker.
    pub(crate) format: String,
    /// The world outside Lua.
    pub world: World,
    /// The scenario's `storage` table.
    pub(crate) storage: Snapshot,
    /// The next id `script.generate_event_name` gives.
    pub(crate) next_custom_event: u32,
}

/// Save-file format marker.
pub(crate) const SAVE_FORMAT: &str = "invsync-emulator-save-1";

/// Why a driver action did not happen.
enum ActionError {
    /// The action is refused and nothing changed (the driver reports it).
    Refused(String),
    /// An event handler it raised failed.
    Script(EmulatorError),
}

impl From<String> for ActionError {
    fn from(why: String) -> Self {
        ActionError::Refused(why)
    }
}

impl From<EmulatorError> for ActionError {
    fn from(e: EmulatorError) -> Self {
        ActionError::Script(e)
    }
}

type ActionResult = std::result::Result<(), ActionError>;

/// A give or take: `count` of `item` of `quality` into or out of `player`'s main inventory.
struct Transfer<'a> {
    player: &'a str,
    item: &'a str,
    count: u32,
    quality: &'a str,
}

impl<'a> Transfer<'a> {
    fn new(player: &'a str, item: &'a str, count: u32, quality: &'a str) -> Self {
        Transfer {
            player,
            item,
            count,
            quality,
        }
    }
}

/// A Lua state plus world.
pub(crate) struct Instance {
    lua: Lua,
    shared: Rc<Shared>,
    measure: bool,
    lua_time: Cell<Duration>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("tick", &self.shared.world.borrow().tick)
            .finish()
    }
}

fn script_err(context: &str, tick: u64, e: &mlua::Error) -> EmulatorError {
    EmulatorError::Script {
        context: context.to_string(),
        tick,
        message: error_message(e),
    }
}

impl Instance {
    fn create(statics: Rc<Statics>, world: World, measure: bool) -> Result<Instance> {
        let shared = Shared::new(statics, world);
        let lua = new_state(shared.clone(), measure)?;
        let inst = Instance {
            lua,
            shared,
            measure,
            lua_time: Cell::new(Duration::ZERO),
        };
        inst.run_main_chunk()?;
        Ok(inst)
    }

    /// Start a new game: main chunk, then `on_init`.
    pub(crate) fn new_game(statics: Rc<Statics>, seed: u64, measure: bool) -> Result<Instance> {
        let inst = Self::create(statics, World::new(seed), measure)?;
        inst.enter_running()?;
        inst.call_hook("on_init")?;
        Ok(inst)
    }

    /// Load a save into a fresh Lua state: main chunk, restore `storage`, then `on_load`.
    pub(crate) fn load(statics: Rc<Statics>, save: &SaveState, measure: bool) -> Result<Instance> {
        let inst = Self::create(statics, save.world.clone(), measure)?;
        inst.shared.next_custom_event.set(save.next_custom_event);
        let storage =
            snapshot::restore(&inst.lua, &save.storage).map_err(|e| EmulatorError::Save {
                path: "<save>".into(),
                message: error_message(&e),
            })?;
        inst.lua.globals().raw_set("storage", storage)?;
        inst.shared.phase.set(Phase::OnLoad);
        inst.call_hook("on_load")?;
        let after = inst.storage_snapshot()?;
        if after != save.storage {
            return Err(EmulatorError::Script {
                context: "on_load".into(),
                tick: save.world.tick,
                message: "on_load changed storage; the game forbids this (on_load may only rebuild locals and metatables)".into(),
            });
        }
        inst.enter_running()?;
        Ok(inst)
    }

    fn enter_running(&self) -> Result<()> {
        self.lua.globals().raw_set("game", GameRef)?;
        self.shared.phase.set(Phase::Running);
        Ok(())
    }

    fn run_main_chunk(&self) -> Result<()> {
        self.shared.phase.set(Phase::MainChunk);
        let Some(src) = self
            .shared
            .statics
            .scenario
            .files
            .get("control.lua")
            .cloned()
        else {
            return Ok(());
        };
        let loaded: Table = self.lua.named_registry_value(reg::LOADED)?;
        let result = self.timed(|| {
            self.lua
                .load(src)
                .set_name("@__level__/control.lua")
                .set_mode(ChunkMode::Text)
                .exec()
        });
        result.map_err(|e| EmulatorError::MainChunk {
            file: "control.lua".into(),
            message: error_message(&e),
        })?;
        loaded.raw_set("control.lua", true)?;
        Ok(())
    }

    fn timed<R>(&self, f: impl FnOnce() -> R) -> R {
        if !self.measure {
            return f();
        }
        // CPU time of this thread (user and system, so page faults count), not wall time: on a
        // busy machine the OS runs other processes (the host, under `invsync bench`) in the
        // middle of a tick, and that is not the scenario's time.
        let t = ThreadTime::now();
        let r = f();
        self.lua_time.set(self.lua_time.get() + t.elapsed());
        r
    }

    /// Runs console command code, timed: its reply is what it `rcon.print`ed, then the
    /// game's error line if it failed.
    fn console_reply(&self, run: impl FnOnce() -> mlua::Result<()>) -> String {
        *self.shared.rcon.borrow_mut() = Some(String::new());
        let result = self.timed(run);
        let mut reply = self.shared.rcon.borrow_mut().take().unwrap_or_default();
        if let Err(e) = result {
            reply.push_str(&format!(
                "Cannot execute command. Error: {}",
                error_message(&e)
            ));
        }
        reply
    }

    fn call_hook(&self, name: &str) -> Result<()> {
        let hooks: Table = self.lua.named_registry_value(reg::HOOKS)?;
        if let Value::Function(f) = hooks.raw_get::<Value>(name)? {
            let tick = self.shared.world.borrow().tick;
            self.timed(|| f.call::<()>(()))
                .map_err(|e| script_err(name, tick, &e))?;
        }
        Ok(())
    }

    /// The world (read).
    pub(crate) fn world(&self) -> std::cell::Ref<'_, World> {
        self.shared.world.borrow()
    }

    /// The Lua state (tests inspect it).
    pub(crate) fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Take everything printed since the last call.
    pub(crate) fn take_outputs(&self) -> Outputs {
        std::mem::take(&mut *self.shared.out.borrow_mut())
    }

    pub(crate) fn storage_snapshot(&self) -> Result<Snapshot> {
        let storage: Value = self.lua.globals().raw_get("storage")?;
        let Value::Table(t) = storage else {
            return Err(EmulatorError::Unsaveable(format!(
                "the global 'storage' is a {}, not a table",
                storage.type_name()
            )));
        };
        snapshot::take(&t).map_err(EmulatorError::Unsaveable)
    }

    /// Save this instance.
    pub(crate) fn save(&self) -> Result<SaveState> {
        Ok(SaveState {
            format: SAVE_FORMAT.into(),
            world: self.shared.world.borrow().clone(),
            storage: self.storage_snapshot()?,
            next_custom_event: self.shared.next_custom_event.get(),
        })
    }

    /// (storage hash, world hash, snapshot) for lockstep comparison.
    pub(crate) fn checksum(&self) -> Result<(u64, u64, Snapshot)> {
        let snap = self.storage_snapshot()?;
        let world_hash = snapshot::hash_of(&*self.shared.world.borrow());
        Ok((snapshot::hash_of(&snap), world_hash, snap))
    }

    fn raise(&self, id: u32, fill: impl FnOnce(&Lua, &Table) -> mlua::Result<()>) -> Result<()> {
        let events: Table = self.lua.named_registry_value(reg::EVENTS)?;
        let Value::Function(f) = events.raw_get::<Value>(id)? else {
            return Ok(());
        };
        let tick = self.shared.world.borrow().tick;
        let ev = self.lua.create_table()?;
        ev.raw_set("name", id)?;
        ev.raw_set("tick", tick as f64)?;
        fill(&self.lua, &ev)?;
        let name = event_name(id).unwrap_or("custom event");
        self.timed(|| f.call::<()>(ev))
            .map_err(|e| script_err(name, tick, &e))
    }

    fn warn(&self, text: String) {
        self.shared
            .line(Line::Log(format!("Warning Emulator: {text}")));
    }

    /// The player named `name` who is online, or why there is none.
    fn online_player(&self, name: &str) -> std::result::Result<u32, String> {
        let w = self.shared.world.borrow();
        match w.player_by_name(name) {
            None => Err(format!("unknown player {name:?}")),
            Some(p) if !p.connected => Err(format!("player {name:?} is not online")),
            Some(p) => Ok(p.index),
        }
    }

    /// Apply one driver action. `Ok(Err(why))`: refused, nothing changed (the driver reports
    /// it); `Err`: a script error in an event handler it raised.
    fn apply_action(&self, action: &Action) -> Result<std::result::Result<(), String>> {
        let done = match action {
            Action::Join { name } => self.join(name),
            Action::Leave { name, reason } => self.leave(name, reason),
            Action::Chat { name, text } => self.chat(name, text),
            Action::Give {
                name,
                item,
                count,
                quality,
            } => self.give(&Transfer::new(name, item, *count, quality)),
            Action::Take {
                name,
                item,
                count,
                quality,
            } => self.take(&Transfer::new(name, item, *count, quality)),
            Action::Click { name, element } => self.click(name, element),
        };
        match done {
            Ok(()) => Ok(Ok(())),
            Err(ActionError::Refused(why)) => Ok(Err(why)),
            Err(ActionError::Script(e)) => Err(e),
        }
    }

    /// Player `name` connects: created (with a character) on the first join.
    fn join(&self, name: &str) -> ActionResult {
        let existing = self
            .shared
            .world
            .borrow()
            .player_by_name(name)
            .map(|p| (p.index, p.connected));
        let (index, created) = match existing {
            Some((_, true)) => return Err(format!("player {name:?} is already online").into()),
            Some((i, false)) => (i, false),
            None => {
                let mut w = self.shared.world.borrow_mut();
                let i = w.create_player(name);
                w.create_character_for(i);
                (i, true)
            }
        };
        if let Some(p) = self.shared.world.borrow_mut().player_mut(index) {
            p.connected = true;
        }
        self.shared
            .line(Line::Dated(format!("[JOIN] {name} joined the game")));
        if created {
            self.raise_for_player("on_player_created", index)?;
        }
        self.raise_for_player("on_player_joined_game", index)?;
        Ok(())
    }

    /// Player `name` disconnects with `reason` (a `defines.disconnect_reason` name).
    fn leave(&self, name: &str, reason: &str) -> ActionResult {
        let index = self.online_player(name)?;
        let Some(reason_id) = DISCONNECT_REASONS
            .iter()
            .find(|(n, _)| *n == reason)
            .map(|(_, v)| *v)
        else {
            return Err(format!("unknown disconnect reason {reason:?}").into());
        };
        let fill = |_: &Lua, ev: &Table| {
            ev.raw_set("player_index", index)?;
            ev.raw_set("reason", reason_id)
        };
        self.raise(event_id("on_pre_player_left_game"), fill)?;
        {
            let mut w = self.shared.world.borrow_mut();
            let tick = w.tick;
            if let Some(p) = w.player_mut(index) {
                p.connected = false;
                p.last_online = tick;
            }
        }
        self.shared
            .line(Line::Dated(format!("[LEAVE] {name} left the game")));
        self.raise(event_id("on_player_left_game"), fill)?;
        Ok(())
    }

    /// Player `name` says `text` in the chat.
    fn chat(&self, name: &str, text: &str) -> ActionResult {
        let index = self.online_player(name)?;
        self.shared
            .line(Line::Dated(format!("[CHAT] {name}: {text}")));
        self.raise(event_id("on_console_chat"), |lua, ev| {
            ev.raw_set("player_index", index)?;
            ev.raw_set("message", lua.create_string(text)?)
        })?;
        Ok(())
    }

    /// All of `t` goes into the player's main inventory, or nothing does.
    fn give(&self, t: &Transfer<'_>) -> ActionResult {
        let index = self.online_player(t.player)?;
        let protos = &self.shared.statics.protos;
        let proto = self.checked_item(t)?;
        let spec = StackSpec {
            name: t.item.to_string(),
            count: t.count,
            quality: t.quality.to_string(),
            health: 1.0,
            durability: protos.durability(t.item, t.quality),
            ammo: proto.magazine_size,
            data: None,
            grid: None,
            extra: StackExtra {
                spoil_tick: ItemStack::fresh_spoil_tick(
                    protos,
                    t.item,
                    self.shared.world.borrow().tick,
                ),
                ..Default::default()
            },
        };
        let given = self.with_main_inventory(index, t, |inv| {
            let room = inv.insertable_count(protos, &spec);
            if room < t.count {
                return Err(format!(
                    "player {:?} has room for {room} of {} {} ({}) in the main inventory; nothing given",
                    t.player, t.count, t.item, t.quality
                ));
            }
            Ok(inv.insert(protos, &spec))
        })?;
        self.main_inventory_changed(index, given)
    }

    /// All of `t` leaves the player's main inventory, or nothing does.
    fn take(&self, t: &Transfer<'_>) -> ActionResult {
        let index = self.online_player(t.player)?;
        self.checked_item(t)?;
        let taken = self.with_main_inventory(index, t, |inv| {
            let held = inv.count(Some(t.item), Some(t.quality));
            if held < u64::from(t.count) {
                return Err(format!(
                    "player {:?} holds {held} {} ({}) in the main inventory, not {}; nothing taken",
                    t.player, t.item, t.quality, t.count
                ));
            }
            Ok(inv.remove(t.item, t.quality, t.count))
        })?;
        self.main_inventory_changed(index, taken)
    }

    /// The prototype of the item `t` moves, or why the give or take is refused: an unknown
    /// item or quality, a count of 0.
    fn checked_item(&self, t: &Transfer<'_>) -> std::result::Result<&ItemProto, String> {
        let protos = &self.shared.statics.protos;
        let Some(proto) = protos.item(t.item) else {
            return Err(format!("unknown item {:?}", t.item));
        };
        if protos.quality(t.quality).is_none() {
            return Err(format!("unknown quality {:?}", t.quality));
        }
        if t.count == 0 {
            return Err("bad count 0 (at least 1)".into());
        }
        Ok(proto)
    }

    /// Runs `f` on the main inventory of player `index` (the character's, or the god
    /// controller's); refused when the player has none now.
    fn with_main_inventory(
        &self,
        index: u32,
        t: &Transfer<'_>,
        f: impl FnOnce(&mut Inventory) -> std::result::Result<u32, String>,
    ) -> std::result::Result<u32, String> {
        let mut w = self.shared.world.borrow_mut();
        let inv = match w.player(index).map(|p| (p.controller, p.character)) {
            Some((Controller::Character, Some(unit))) => Some(InvId::Character {
                unit,
                kind: InventoryKind::CharacterMain,
            }),
            Some((Controller::God, _)) => Some(InvId::God { player: index }),
            Some((Controller::Editor, _)) => Some(InvId::Editor { player: index }),
            _ => None,
        };
        match inv.and_then(|id| id.get_mut(&mut w)) {
            Some(inv) => f(inv),
            None => Err(format!(
                "player {:?} has no main inventory now (no character)",
                t.player
            )),
        }
    }

    /// Raises `on_player_main_inventory_changed` if `changed` items moved.
    fn main_inventory_changed(&self, index: u32, changed: u32) -> ActionResult {
        if changed > 0 {
            self.raise_for_player("on_player_main_inventory_changed", index)?;
        }
        Ok(())
    }

    /// Player `name` clicks their visible, enabled GUI element named `element`.
    fn click(&self, name: &str, element: &str) -> ActionResult {
        let index = self.online_player(name)?;
        let found = {
            let w = self.shared.world.borrow();
            w.gui
                .values()
                .find(|e| e.player == index && e.name == element && e.visible && e.enabled)
                .map(|e| e.index)
        };
        let Some(id) = found else {
            return Err(format!(
                "player {name:?} has no visible, enabled element named {element:?}"
            )
            .into());
        };
        self.raise(event_id("on_gui_click"), |lua, ev| {
            ev.raw_set("player_index", index)?;
            ev.raw_set("element", lua.create_userdata(GuiRef(id))?)?;
            ev.raw_set("button", 2)?;
            ev.raw_set("alt", false)?;
            ev.raw_set("control", false)?;
            ev.raw_set("shift", false)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Raises event `name` whose only field (beyond `name` and `tick`) is `player_index`.
    fn raise_for_player(&self, name: &str, index: u32) -> Result<()> {
        self.raise(event_id(name), |_, ev| ev.raw_set("player_index", index))
    }

    /// Run a console command the way the game's server console does; returns the RCON reply.
    fn run_command(&self, text: &str) -> Result<String> {
        let tick = self.shared.world.borrow().tick;
        let Some(rest) = text.strip_prefix('/') else {
            // Plain text is chat from the server.
            if !text.is_empty() {
                self.shared
                    .line(Line::Dated(format!("[CHAT] <server>: {text}")));
                self.raise(event_id("on_console_chat"), |lua, ev| {
                    ev.raw_set("message", lua.create_string(text)?)
                })?;
            }
            return Ok(String::new());
        };
        let (name, param) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        match name {
            "c" | "command" | "sc" | "silent-command" => {
                if self.shared.statics.achievements_warning
                    && !self.shared.world.borrow().achievements_disabled
                {
                    self.shared.world.borrow_mut().achievements_disabled = true;
                    return Ok(ACHIEVEMENTS_WARNING.to_string());
                }
                if matches!(name, "c" | "command") {
                    self.shared.line(Line::Dated(format!(
                        "[COMMAND] <server> (command): {param}"
                    )));
                }
                Ok(self.console_reply(|| {
                    self.lua
                        .load(param.as_bytes())
                        .set_name("=(command)")
                        .set_mode(ChunkMode::Text)
                        .exec()
                }))
            }
            "help" | "h" => {
                let cmds: Table = self.lua.named_registry_value(reg::COMMANDS)?;
                let mut names: Vec<String> = crate::api::script::BUILTIN_COMMANDS
                    .iter()
                    .map(|s| format!("/{s}"))
                    .collect();
                for pair in cmds.pairs::<String, Value>() {
                    names.push(format!("/{}", pair?.0));
                }
                names.sort();
                Ok(format!("Available commands:\n{}\n", names.join("\n")))
            }
            "players" | "p" => {
                let w = self.shared.world.borrow();
                let mut out = format!("Players ({}):\n", w.players.len());
                for p in &w.players {
                    out.push_str(&format!(
                        "  {}{}\n",
                        p.name,
                        if p.connected { " (online)" } else { "" }
                    ));
                }
                Ok(out)
            }
            "version" => Ok(format!("{}\n", crate::GAME_VERSION)),
            "time" => Ok(format!("{} ticks\n", tick)),
            "seed" => Ok(format!("{}\n", self.shared.world.borrow().rng)),
            _ => {
                let cmds: Table = self.lua.named_registry_value(reg::COMMANDS)?;
                let Value::Table(entry) = cmds.raw_get::<Value>(name)? else {
                    return Ok(format!("Unknown command \"{name}\"."));
                };
                let f: Function = entry.raw_get("fn")?;
                let ev = self.lua.create_table()?;
                ev.raw_set("name", name)?;
                ev.raw_set("tick", tick as f64)?;
                if !param.is_empty() {
                    ev.raw_set("parameter", param)?;
                }
                Ok(self.console_reply(|| f.call::<()>(ev)))
            }
        }
    }

    /// Run one tick.
    pub(crate) fn apply_tick(&self, input: &TickInput) -> Result<TickEffects> {
        self.lua_time.set(Duration::ZERO);
        let instr_before = self.shared.instructions.get();
        {
            let mut w = self.shared.world.borrow_mut();
            w.tick = input.tick;
            for p in w.players.iter_mut().filter(|p| p.connected) {
                p.online_ticks += 1;
            }
        }
        // dead players online count down to their respawn
        let respawned: Vec<u32> = {
            let mut w = self.shared.world.borrow_mut();
            let mut due = Vec::new();
            for p in w.players.iter_mut().filter(|p| p.connected) {
                match p.ticks_to_respawn.as_mut() {
                    Some(0) => due.push(p.index),
                    Some(t) => *t -= 1,
                    None => {}
                }
            }
            due.retain(|&i| crate::api::player::respawn(&mut w, i));
            due
        };
        for index in respawned {
            self.raise(event_id("on_player_respawned"), |_, ev| {
                ev.raw_set("player_index", index)
            })?;
        }
        let mut refusals = Vec::with_capacity(input.actions.len());
        for a in &input.actions {
            let refused = self.apply_action(a)?.err();
            if let Some(why) = &refused {
                self.warn(format!("{}: {why}", a.verb()));
            }
            refusals.push(refused);
        }
        let mut replies = Vec::with_capacity(input.commands.len());
        for c in &input.commands {
            replies.push((c.handle, self.run_command(&c.text)?));
        }
        // players kicked by a script or command leave as if they had quit, with reason kicked
        let kicks = std::mem::take(&mut *self.shared.kicks.borrow_mut());
        for name in kicks {
            let leave = Action::Leave {
                name,
                reason: "kicked".into(),
            };
            if let Err(why) = self.apply_action(&leave)? {
                self.warn(format!("kick: {why}"));
            }
        }
        self.raise(event_id("on_tick"), |_, _| Ok(()))?;
        let nth: Table = self.lua.named_registry_value(reg::NTH)?;
        let mut due: Vec<(u32, Function)> = Vec::new();
        for pair in nth.pairs::<u32, Function>() {
            let (n, f) = pair?;
            if input.tick.is_multiple_of(u64::from(n)) {
                due.push((n, f));
            }
        }
        due.sort_by_key(|(n, _)| *n);
        for (n, f) in due {
            let ev = self.lua.create_table()?;
            ev.raw_set("tick", input.tick as f64)?;
            ev.raw_set("nth_tick", n)?;
            self.timed(|| f.call::<()>(ev))
                .map_err(|e| script_err(&format!("on_nth_tick({n})"), input.tick, &e))?;
        }
        self.shared.world.borrow_mut().tick = input.tick + 1;
        Ok(TickEffects {
            replies,
            lua_time: self.lua_time.get(),
            instructions: self.shared.instructions.get() - instr_before,
            lua_memory: self.lua.used_memory(),
            refusals,
        })
    }
}
