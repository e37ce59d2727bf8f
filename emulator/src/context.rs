//! State shared between one Lua state and the Rust API functions it calls.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use mlua::Lua;

use crate::error::{EmulatorError, Result};
use crate::items::Prototypes;
use crate::world::World;

/// Largest scenario folder accepted (all files together).
pub(crate) const MAX_SCENARIO_BYTES: u64 = 64 * 1024 * 1024;

/// The scenario's files, read once so that every peer and every reload sees the same bytes.
#[derive(Debug, Clone, Default)]
pub struct ScenarioFiles {
    /// Display name (the folder name).
    pub name: String,
    /// Relative path with `/` separators -> contents; only `.lua` files are kept.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl ScenarioFiles {
    /// A scenario made of in-memory files (tests).
    pub fn from_files<I, K, V>(name: &str, files: I) -> ScenarioFiles
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        ScenarioFiles {
            name: name.to_string(),
            files: files
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Read every `.lua` file under `dir`.
    pub fn read_dir(dir: &Path) -> Result<ScenarioFiles> {
        let err = |message: String| EmulatorError::Scenario {
            path: dir.display().to_string(),
            message,
        };
        if !dir.join("control.lua").is_file() {
            return Err(err("no control.lua in the folder".into()));
        }
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((path, rel)) = stack.pop() {
            let entries =
                std::fs::read_dir(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            for entry in entries {
                let entry = entry.map_err(|e| err(e.to_string()))?;
                let name = entry.file_name().to_string_lossy().to_string();
                let rel_name = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                let ft = entry.file_type().map_err(|e| err(e.to_string()))?;
                if ft.is_dir() {
                    if stack.len() < 1000 {
                        stack.push((entry.path(), rel_name));
                    }
                } else if name.ends_with(".lua") {
                    let len = entry.metadata().map_err(|e| err(e.to_string()))?.len();
                    total += len;
                    if total > MAX_SCENARIO_BYTES {
                        return Err(err(format!("more than {MAX_SCENARIO_BYTES} bytes of Lua")));
                    }
                    let bytes =
                        std::fs::read(entry.path()).map_err(|e| err(format!("{rel_name}: {e}")))?;
                    files.insert(rel_name, bytes);
                }
            }
        }
        Ok(ScenarioFiles {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "scenario".into()),
            files,
        })
    }
}

/// Things every Lua state of one game shares read-only.
#[derive(Debug, Default)]
pub(crate) struct Statics {
    pub protos: Prototypes,
    pub scenario: ScenarioFiles,
    /// Refuse the first console Lua command of a fresh save with the achievements warning.
    pub achievements_warning: bool,
    /// See `GameConfig::encode_string_fails_above`.
    pub encode_string_fails_above: Option<usize>,
}

/// Where the Lua state is in its life cycle (the game restricts what each phase may do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Running `control.lua` and its `require`s: `game` is not available.
    MainChunk,
    /// Running `on_load`: `game` is not available and `storage` must not change.
    OnLoad,
    /// `on_init` and everything after.
    Running,
}

/// One line of output, formatted by [`crate::logfmt`] with the game's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Written verbatim (`print`).
    Raw(String),
    /// A log line: `<seconds> <text>` (the text carries its level, e.g. `Info ...` or `Script ...`).
    Log(String),
    /// A dated console line: `<date> <time> <text>` (chat, join, leave, command echo).
    Dated(String),
}

/// Output collected while Lua runs.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub lines: Vec<Line>,
    /// Messages shown to players (`player.print`, `game.print`): (player index, text).
    pub player_messages: Vec<(u32, String)>,
}

/// Shared by a Lua state (as app data) and its [`crate::instance::Instance`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub statics: Rc<Statics>,
    pub world: RefCell<World>,
    pub out: RefCell<Outputs>,
    pub phase: Cell<Phase>,
    /// `Some(buffer)` while an RCON command runs: `rcon.print` appends to it.
    pub rcon: RefCell<Option<String>>,
    /// Instructions executed (counted by the hook, in steps of [`crate::sandbox::HOOK_STEP`]).
    pub instructions: Cell<u64>,
    /// Next id handed out by `script.generate_event_name`.
    pub next_custom_event: Cell<u32>,
    /// Players `game.kick_player` disconnects once the tick's commands have run (names).
    pub kicks: RefCell<Vec<String>>,
}

impl Shared {
    pub(crate) fn new(statics: Rc<Statics>, world: World) -> Rc<Shared> {
        Rc::new(Shared {
            statics,
            world: RefCell::new(world),
            out: RefCell::new(Outputs::default()),
            phase: Cell::new(Phase::MainChunk),
            rcon: RefCell::new(None),
            instructions: Cell::new(0),
            next_custom_event: Cell::new(crate::api::defines::FIRST_CUSTOM_EVENT),
            kicks: RefCell::new(Vec::new()),
        })
    }

    pub(crate) fn line(&self, line: Line) {
        self.out.borrow_mut().lines.push(line);
    }
}

/// The [`Shared`] of a Lua state.
pub(crate) fn shared(lua: &Lua) -> Rc<Shared> {
    lua.app_data_ref::<Rc<Shared>>()
        .map(|s| s.clone())
        .expect("every emulator Lua state carries its Shared as app data")
}
