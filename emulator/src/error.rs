//! Errors of the emulator core and its shell.

use thiserror::Error;

/// Everything that can go wrong while loading a scenario, running ticks or (re)loading a save.
#[derive(Debug, Error)]
pub enum EmulatorError {
    /// The scenario folder could not be read.
    #[error("cannot read scenario folder {path}: {message}")]
    Scenario {
        /// The folder.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The scenario's main chunk (`control.lua`) failed to load or run.
    #[error("scenario failed while loading {file}: {message}")]
    MainChunk {
        /// The file that failed.
        file: String,
        /// The Lua error.
        message: String,
    },
    /// A scenario event handler raised an error; the real game ends the session in this case.
    #[error("script error in {context} at tick {tick}: {message}")]
    Script {
        /// The handler: an event name, `on_init`, `on_load`, `on_nth_tick(n)`...
        context: String,
        /// The tick it ran in.
        tick: u64,
        /// The Lua error.
        message: String,
    },
    /// A save file could not be read, parsed or applied.
    #[error("save file {path}: {message}")]
    Save {
        /// The save file (`<save>` for one in memory).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// `storage` held something the game cannot save (a function, a coroutine...).
    #[error("cannot save storage: {0}")]
    Unsaveable(String),
    /// Lockstep or heavy-mode divergence.
    #[error("desync detected: {0}")]
    Desync(Box<crate::lockstep::DesyncReport>),
    /// A driver action named something that does not exist.
    #[error("driver action {action}: {message}")]
    Driver {
        /// The action or command, as given.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// The game is crashed and waits for `restart`.
    #[error("the server is crashed; restart it first")]
    Crashed,
    /// `/emulator crash` (with `--driver-commands`): the process ends at once, without saving.
    #[error("the server crashed (/emulator crash); nothing was saved")]
    CrashCommand,
    /// An internal Lua error that is not attributable to the scenario.
    #[error("lua runtime: {0}")]
    Lua(String),
}

impl From<mlua::Error> for EmulatorError {
    fn from(e: mlua::Error) -> Self {
        EmulatorError::Lua(crate::sandbox::error_message(&e))
    }
}

pub(crate) type Result<T, E = EmulatorError> = std::result::Result<T, E>;
