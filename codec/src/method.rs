//! The encodings a message can travel in (PROTOCOL.md section 2.3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a message's payload is turned into its wire text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The payload itself, which must be frame text (UTF-8 without control characters).
    Raw,
    /// base64 of one LZ4 block.
    Lz4,
    /// base64 of one zlib stream per chunk, which the game inflates natively
    /// (`helpers.decode_string`) chunk by chunk.
    Zlib,
    /// base64 of one zlib stream of the whole payload (at most [`SOLID_MAX_PAYLOAD`] bytes),
    /// cut into chunks as `lz4`'s base64 is; inflated once, when the message is complete.
    Solid,
}

/// The largest payload a `solid` message may carry (PROTOCOL.md 2.3): one native inflate of it
/// costs the game about what one `zlib` chunk's does.
pub const SOLID_MAX_PAYLOAD: u64 = 65536;

impl Method {
    /// Every method, in the order an all-capable receiver prefers them when sizes tie.
    pub const ALL: [Method; 4] = [Method::Raw, Method::Zlib, Method::Solid, Method::Lz4];

    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Raw => "raw",
            Method::Lz4 => "lz4",
            Method::Zlib => "zlib",
            Method::Solid => "solid",
        }
    }

    /// Whether the wire text is base64 (and so chunked on 4-character boundaries).
    pub fn is_base64(self) -> bool {
        !matches!(self, Method::Raw)
    }

    /// The largest `plen` this method carries, where the protocol bounds it (`solid`).
    pub fn max_payload(self) -> Option<u64> {
        match self {
            Method::Solid => Some(SOLID_MAX_PAYLOAD),
            _ => None,
        }
    }

    /// Parses a wire name; `None` for names this version does not know.
    pub fn from_wire(name: &[u8]) -> Option<Method> {
        match name {
            b"raw" => Some(Method::Raw),
            b"lz4" => Some(Method::Lz4),
            b"zlib" => Some(Method::Zlib),
            b"solid" => Some(Method::Solid),
            _ => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::from_wire(s.as_bytes())
            .ok_or_else(|| format!("unknown method `{s}` (expected raw, lz4, zlib or solid)"))
    }
}

/// What a sender is asked to use: one method, or the smallest on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MethodChoice {
    /// The method with the smallest total wire size among those the receiver decodes.
    #[default]
    Auto,
    /// Exactly this method (an error if the receiver does not decode it).
    Only(Method),
}

impl FromStr for MethodChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            Ok(MethodChoice::Auto)
        } else {
            s.parse::<Method>().map(MethodChoice::Only).map_err(|_| {
                format!("unknown method `{s}` (expected auto, raw, lz4, zlib or solid)")
            })
        }
    }
}

impl fmt::Display for MethodChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodChoice::Auto => f.write_str("auto"),
            MethodChoice::Only(m) => m.fmt(f),
        }
    }
}
