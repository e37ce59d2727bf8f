//! The RCON commands that call the game module's remote interface (PROTOCOL.md section 5.3).
//!
//! Text goes into Lua only through [`lua_long_string`]; numbers are formatted from integers.

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
}
