//! A receiver's capability declaration (PROTOCOL.md section 4) and the protocol's default limits.

use serde::{Deserialize, Serialize};

use crate::Method;
use crate::frame::{HeaderFormat, PROTOCOL_VERSION};

/// Longest frame into the game over RCON, by default (PROTOCOL.md section 8 gives the measurement).
pub const DEFAULT_MAX_FRAME_RCON: usize = 8192;
/// Longest frame on a stdout line, by default: lines over ~4000 bytes make consoles stutter, and the
/// marker takes one byte.
pub const DEFAULT_MAX_FRAME_STDOUT: usize = 3999;
/// Longest frame the game puts in one RCON reply when the host pulls a staged message.
pub const DEFAULT_MAX_FRAME_PULL: usize = 262_144;
/// Largest payload (and wire text) a receiver accepts by default.
pub const DEFAULT_MAX_MESSAGE: u64 = 16 * 1024 * 1024;
/// Largest chunk count a receiver accepts by default.
pub const DEFAULT_MAX_CHUNKS: u32 = 65_536;
/// What a sender assumes before it has a declaration: `raw` only, in stdout-sized frames.
pub const ASSUMED_MAX_FRAME: usize = 4000;

/// What a receiver accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Protocol version, 1.
    pub protocol: u32,
    /// Methods it decodes, in its order of preference.
    pub decode: Vec<Method>,
    /// Longest frame it accepts, in bytes.
    pub max_frame: usize,
    /// Largest `plen`/`wlen` it accepts.
    pub max_message: u64,
    /// Largest chunk count it accepts.
    pub max_chunks: u32,
    /// The game's custom console command that takes a frame as its parameter (PROTOCOL.md 5.2),
    /// e.g. `invsync-recv`; `None`: frames go in through `remote.call`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recv_command: Option<String>,
    /// The game rebuilds export strings from their JSON (`xj`, PROTOCOL.md 4.1), so a host may
    /// send a `player_data` message's exports that way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub export_json: bool,
    /// Whether it reads frames with the short header (PROTOCOL.md 2.5); a sender writes the long
    /// one to a receiver that does not say so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub short_header: bool,
}

/// Longest name a `recv_command` may have.
pub const MAX_RECV_COMMAND_LEN: usize = 64;

/// Whether `name` is a usable `recv_command` (PROTOCOL.md section 4): 1 to 64 of `a-z`, `0-9`,
/// `-` and `_`, so it can never be read as anything but a command name on a console line.
pub fn is_recv_command_name(name: &str) -> bool {
    (1..=MAX_RECV_COMMAND_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A capability declaration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("bad capability declaration: {0}")]
pub struct CapsError(String);

#[derive(Deserialize)]
struct Wire {
    protocol: u32,
    decode: Vec<String>,
    max_frame: Option<usize>,
    max_message: Option<u64>,
    max_chunks: Option<u32>,
    recv_command: Option<String>,
    #[serde(default)]
    export_json: bool,
    short_header: Option<bool>,
}

impl Capabilities {
    /// A receiver that decodes every method with the default limits and this `max_frame`.
    pub fn all(max_frame: usize) -> Self {
        Capabilities {
            protocol: PROTOCOL_VERSION,
            decode: Method::ALL.to_vec(),
            max_frame,
            max_message: DEFAULT_MAX_MESSAGE,
            max_chunks: DEFAULT_MAX_CHUNKS,
            recv_command: None,
            export_json: false,
            short_header: false,
        }
    }

    /// What a sender must assume before the receiver has declared anything.
    pub fn assumed() -> Self {
        Capabilities {
            decode: vec![Method::Raw],
            ..Capabilities::all(ASSUMED_MAX_FRAME)
        }
    }

    /// The header format a sender writes to this receiver.
    pub fn header_format(&self) -> HeaderFormat {
        if self.short_header {
            HeaderFormat::Short
        } else {
            HeaderFormat::Long
        }
    }

    /// Whether the receiver decodes `method`.
    pub fn accepts(&self, method: Method) -> bool {
        self.decode.contains(&method)
    }

    /// The declaration as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("capabilities serialize")
    }

    /// Parses a declaration. Methods this version does not know are ignored, as are unknown keys.
    pub fn from_json(text: &str) -> Result<Self, CapsError> {
        let w: Wire = serde_json::from_str(text).map_err(|e| CapsError(e.to_string()))?;
        if w.protocol != PROTOCOL_VERSION {
            return Err(CapsError(format!(
                "protocol {} (this side speaks {PROTOCOL_VERSION})",
                w.protocol
            )));
        }
        let mut decode = Vec::new();
        for name in &w.decode {
            if let Some(m) = Method::from_wire(name.as_bytes())
                && !decode.contains(&m)
            {
                decode.push(m);
            }
        }
        if !decode.contains(&Method::Raw) {
            return Err(CapsError("`decode` must include raw".into()));
        }
        let caps = Capabilities {
            protocol: w.protocol,
            decode,
            max_frame: w.max_frame.unwrap_or(ASSUMED_MAX_FRAME),
            max_message: w.max_message.unwrap_or(DEFAULT_MAX_MESSAGE),
            max_chunks: w.max_chunks.unwrap_or(DEFAULT_MAX_CHUNKS),
            recv_command: w.recv_command,
            export_json: w.export_json,
            short_header: w.short_header.unwrap_or(false),
        };
        if let Some(name) = &caps.recv_command
            && !is_recv_command_name(name)
        {
            return Err(CapsError(format!(
                "recv_command {name:?} is not a command name (1 to {MAX_RECV_COMMAND_LEN} of a-z, 0-9, - and _)"
            )));
        }
        if caps.max_frame < 64 {
            return Err(CapsError(format!(
                "max_frame {} leaves no room for a header",
                caps.max_frame
            )));
        }
        Ok(caps)
    }

    /// Parses a comma-separated method list (`raw,zlib`) into a declaration with default limits.
    pub fn from_method_list(list: &str, max_frame: usize) -> Result<Self, CapsError> {
        let mut decode = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let m: Method = name.parse().map_err(CapsError)?;
            if !decode.contains(&m) {
                decode.push(m);
            }
        }
        if decode.is_empty() {
            return Err(CapsError("the method list is empty".into()));
        }
        Ok(Capabilities {
            decode,
            ..Capabilities::all(max_frame)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_the_unknown() {
        let caps = Capabilities::all(8192);
        assert_eq!(Capabilities::from_json(&caps.to_json()).unwrap(), caps);
        let future =
            r#"{"protocol":1,"decode":["zstd","zlib","raw"],"max_frame":5000,"color":"red"}"#;
        let parsed = Capabilities::from_json(future).unwrap();
        assert_eq!(parsed.decode, vec![Method::Zlib, Method::Raw]);
        assert_eq!(parsed.max_frame, 5000);
        assert_eq!(parsed.max_chunks, DEFAULT_MAX_CHUNKS);
        assert!(!parsed.short_header);
        let short = r#"{"protocol":1,"decode":["raw"],"short_header":true}"#;
        let parsed = Capabilities::from_json(short).unwrap();
        assert_eq!(parsed.header_format(), HeaderFormat::Short);
        assert_eq!(Capabilities::from_json(&parsed.to_json()).unwrap(), parsed);
    }

    #[test]
    fn rejects_what_cannot_work() {
        for bad in [
            r#"{"protocol":2,"decode":["raw"]}"#,
            r#"{"protocol":1,"decode":["zlib"]}"#,
            r#"{"protocol":1,"decode":["raw"],"max_frame":10}"#,
            r#"{"protocol":1,"decode":["raw"],"recv_command":"recv frame"}"#,
            r#"{"protocol":1,"decode":["raw"],"recv_command":""}"#,
            r#"{"protocol":1,"decode":["raw"],"recv_command":7}"#,
            r#"{"protocol":1,"decode":["raw"],"short_header":1}"#,
            r#"{"protocol":1,"decode":["raw"],"short_header":"yes"}"#,
            r#"{"decode":["raw"]}"#,
            "not json",
        ] {
            assert!(Capabilities::from_json(bad).is_err(), "{bad}");
        }
    }
}
