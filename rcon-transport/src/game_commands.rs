//! The RCON commands that call the game module's remote interface (PROTOCOL.md section 5.3), and
//! the module's custom console command that takes a frame (PROTOCOL.md 5.2).
//!
//! Text goes into Lua only through [`lua_long_string`]; numbers are formatted from integers. A
//! custom command's parameter is not Lua: the frame goes after the name and one space as it is.

use crate::lua_string::lua_long_string;

/// Name of the game module's remote interface.
pub(crate) const INTERFACE: &str = "invsync";

/// `/sc remote.call("invsync","recv",[[<frame>]])`: deliver one frame.
pub fn recv_command(frame: &str) -> String {
    format!(
        "/sc remote.call(\"{INTERFACE}\",\"recv\",{})",
        lua_long_string(frame)
    )
}

/// Bytes a [`recv_command`] adds around a frame that needs no `=` in its long bracket: the
/// per-frame overhead of the RCON channel that `auto` method selection counts.
pub fn recv_overhead() -> usize {
    recv_command("").len()
}

/// How frames enter the game (PROTOCOL.md 5.2): what the game declared in its capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RecvEntry {
    /// `/sc remote.call("invsync","recv",[[<frame>]])`: every game module has it.
    #[default]
    RemoteCall,
    /// `/<name> <frame>`: the module's custom command (the capability `recv_command`), for
    /// frames that [`fits_command_parameter`] allows; the others take the remote call.
    Command(String),
}

impl RecvEntry {
    /// The entry for a declared `recv_command` (the codec's parser has checked the name).
    pub fn declared(recv_command: Option<&str>) -> RecvEntry {
        recv_command.map_or(RecvEntry::RemoteCall, |name| {
            RecvEntry::Command(name.to_owned())
        })
    }

    /// The command that delivers `frame`.
    pub fn command(&self, frame: &str) -> String {
        match self {
            RecvEntry::Command(name) if fits_command_parameter(frame) => format!("/{name} {frame}"),
            _ => recv_command(frame),
        }
    }

    /// Bytes the entry adds around a frame: the per-frame overhead that `auto` counts.
    pub fn overhead(&self) -> usize {
        match self {
            RecvEntry::RemoteCall => recv_overhead(),
            // the slash and the one space
            RecvEntry::Command(name) => name.len() + 2,
        }
    }
}

/// Whether `frame` can be a custom command's parameter unchanged: not empty, no control
/// character (a line end would end the command), and no space at either end, which a console
/// may trim (GAME_FACTS.md: not documented either way). Frames start with `IS1`, so only a `raw`
/// frame whose text ends in a space is left to the remote call.
pub fn fits_command_parameter(frame: &str) -> bool {
    !frame.is_empty()
        && !frame.starts_with(' ')
        && !frame.ends_with(' ')
        && !frame.chars().any(char::is_control)
}

/// `status(id)`: the outcome of a message, or which chunks the game still misses.
pub fn status_command(message_id: u32) -> String {
    format!("/sc remote.call(\"{INTERFACE}\",\"status\",{message_id})")
}

/// `pull(id, index)`: one frame of a message the game staged.
pub fn pull_command(message_id: u32, index: u32) -> String {
    format!("/sc remote.call(\"{INTERFACE}\",\"pull\",{message_id},{index})")
}

/// `ack(id)`: the host has every chunk of staged message `id`; the game frees it.
pub fn ack_command(message_id: u32) -> String {
    format!("/sc remote.call(\"{INTERFACE}\",\"ack\",{message_id})")
}

/// `caps()`: the game's capability JSON.
pub fn caps_command() -> String {
    format!("/sc remote.call(\"{INTERFACE}\",\"caps\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_have_the_documented_shape() {
        assert_eq!(
            recv_command("IS1 x"),
            "/sc remote.call(\"invsync\",\"recv\",[[IS1 x]])"
        );
        assert_eq!(
            status_command(42),
            "/sc remote.call(\"invsync\",\"status\",42)"
        );
        assert_eq!(
            pull_command(4294967295, 3),
            "/sc remote.call(\"invsync\",\"pull\",4294967295,3)"
        );
        assert_eq!(caps_command(), "/sc remote.call(\"invsync\",\"caps\")");
        assert_eq!(ack_command(12), "/sc remote.call(\"invsync\",\"ack\",12)");
        assert_eq!(recv_overhead(), 38);
    }

    #[test]
    fn the_custom_command_carries_the_frame_as_it_is() {
        let entry = RecvEntry::declared(Some("invsync-recv"));
        let frame = "IS1 0a1b2c3d 7 1/1 raw 4 4 00000000 a]]b";
        assert_eq!(entry.command(frame), format!("/invsync-recv {frame}"));
        assert_eq!(entry.overhead(), 14);
        assert_eq!(entry.command(frame).len(), frame.len() + entry.overhead());
        // what a console might trim or cut goes through the remote call instead
        for odd in ["IS1 x ", " IS1 x", "", "IS1 a\nb", "IS1 a\u{85}b"] {
            assert_eq!(entry.command(odd), recv_command(odd), "{odd:?}");
        }
        let old = RecvEntry::declared(None);
        assert_eq!(old, RecvEntry::RemoteCall);
        assert_eq!(old.command(frame), recv_command(frame));
        assert_eq!(old.overhead(), recv_overhead());
    }
}
