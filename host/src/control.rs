//! Control messages (PROTOCOL.md 5.5): `staged`, `received` and `caps`, told apart from the
//! application's own messages.
//!
//! Control messages travel as ordinary messages (usually one stdout frame), so every completed
//! message is classified: a small JSON object whose `type` is one of the three names above is a
//! control message and is consumed by the link; anything else goes to the application. The
//! application must therefore not use these three `type` names for its own messages.
//!
//! Only payloads of at most [`MAX_CONTROL_LEN`] bytes that start with `{` are parsed at all, so
//! classifying a multi-megabyte player payload costs nothing. A message that claims a control
//! type but does not have the documented fields is [`Classified::Malformed`]: neither acted on
//! nor handed to the application.

use invsync_codec::{Capabilities, MAX_LEN, Method};
use serde::Deserialize;
use thiserror::Error;

/// Longest payload considered for a control message. A `staged` announcement is about 100
/// bytes and a capability declaration about 120; 4096 is one stdout frame.
pub(crate) const MAX_CONTROL_LEN: usize = 4096;

/// Longest error detail kept from a `received` report (longer text is cut at a character).
const MAX_DETAIL: usize = 512;

/// A message announced as staged in the game, to be pulled (`staged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedAnnouncement {
    /// The staged message's id (the game's id space).
    pub id: u32,
    /// Number of frames to pull.
    pub count: u32,
    /// Wire bytes in all frames' data.
    pub wire_len: u64,
    /// The method its frames use.
    pub method: Method,
    /// Payload bytes after decoding.
    pub payload_len: u64,
}

/// The game's report on a message the host sent (`received`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedReport {
    /// The host's message id.
    pub id: u32,
    /// What became of it.
    pub outcome: ReceivedOutcome,
}

/// Outcome in a [`ReceivedReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceivedOutcome {
    /// Complete and verified.
    Done,
    /// Dropped by the game with this protocol error.
    Failed {
        /// Protocol error name (PROTOCOL.md 3.1).
        error: String,
        /// Human-readable text, control characters replaced by spaces.
        detail: String,
    },
}

/// A control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// `{"type":"staged",...}`.
    Staged(StagedAnnouncement),
    /// `{"type":"received",...}`.
    Received(ReceivedReport),
    /// `{"type":"caps",...}`: the game's capability declaration.
    Caps(Capabilities),
}

/// A message that claims to be a control message but cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed `{kind}` control message: {reason}")]
pub struct ControlError {
    /// The claimed `type`.
    pub kind: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// What a completed message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A control message for the link.
    Control(ControlMessage),
    /// An application message.
    Application,
    /// A control `type` with missing or invalid fields.
    Malformed(ControlError),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StagedWire {
    id: u64,
    count: u64,
    wlen: u64,
    method: String,
    bytes: u64,
}

#[derive(Deserialize)]
struct ReceivedWire {
    id: u64,
    status: String,
    error: Option<String>,
    detail: Option<String>,
}

/// Classifies a completed message's payload.
pub fn classify(payload: &[u8]) -> Classified {
    if payload.len() > MAX_CONTROL_LEN || payload.first() != Some(&b'{') {
        return Classified::Application;
    }
    let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(payload) else {
        return Classified::Application;
    };
    let result = match envelope.kind.as_deref() {
        Some("staged") => parse_staged(payload).map(ControlMessage::Staged),
        Some("received") => parse_received(payload).map(ControlMessage::Received),
        Some("caps") => std::str::from_utf8(payload)
            .map_err(|e| e.to_string())
            .and_then(|text| Capabilities::from_json(text).map_err(|e| e.to_string()))
            .map(ControlMessage::Caps)
            .map_err(|reason| ControlError {
                kind: "caps",
                reason,
            }),
        _ => return Classified::Application,
    };
    match result {
        Ok(control) => Classified::Control(control),
        Err(error) => Classified::Malformed(error),
    }
}

fn id_field(kind: &'static str, id: u64) -> Result<u32, ControlError> {
    match u32::try_from(id) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ControlError {
            kind,
            reason: format!("id {id} is outside 1..=4294967295"),
        }),
    }
}

fn parse_staged(payload: &[u8]) -> Result<StagedAnnouncement, ControlError> {
    let bad = |reason: String| ControlError {
        kind: "staged",
        reason,
    };
    let w: StagedWire = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
    let id = id_field("staged", w.id)?;
    let count = match u32::try_from(w.count) {
        Ok(c) if c > 0 => c,
        _ => return Err(bad(format!("count {} is outside 1..=4294967295", w.count))),
    };
    let method = Method::from_wire(w.method.as_bytes())
        .ok_or_else(|| bad(format!("unknown method {:?}", truncate(&w.method, 32))))?;
    for (field, value) in [("wlen", w.wlen), ("bytes", w.bytes)] {
        if value > MAX_LEN {
            return Err(bad(format!("{field} {value} is over 2^53-1")));
        }
    }
    Ok(StagedAnnouncement {
        id,
        count,
        wire_len: w.wlen,
        method,
        payload_len: w.bytes,
    })
}

fn parse_received(payload: &[u8]) -> Result<ReceivedReport, ControlError> {
    let bad = |reason: String| ControlError {
        kind: "received",
        reason,
    };
    let w: ReceivedWire = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
    let id = id_field("received", w.id)?;
    let outcome = match w.status.as_str() {
        "done" => ReceivedOutcome::Done,
        "failed" => {
            let error = w.error.unwrap_or_default();
            if error.is_empty()
                || error.len() > 64
                || !error.bytes().all(|b| b.is_ascii_alphabetic())
            {
                return Err(bad(format!(
                    "status failed needs an error name of letters, got {:?}",
                    truncate(&error, 64)
                )));
            }
            ReceivedOutcome::Failed {
                error,
                detail: printable(&w.detail.unwrap_or_default()),
            }
        }
        other => {
            return Err(bad(format!(
                "status {:?} (expected done or failed)",
                truncate(other, 32)
            )));
        }
    };
    Ok(ReceivedReport { id, outcome })
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Text from the game for error messages: one line, bounded.
pub(crate) fn printable(text: &str) -> String {
    truncate(text, MAX_DETAIL)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_three_control_messages() {
        assert_eq!(
            classify(br#"{"type":"staged","id":9,"count":3,"wlen":600000,"method":"zlib","bytes":1000000}"#),
            Classified::Control(ControlMessage::Staged(StagedAnnouncement {
                id: 9,
                count: 3,
                wire_len: 600_000,
                method: Method::Zlib,
                payload_len: 1_000_000
            }))
        );
        assert_eq!(
            classify(br#"{"id":4,"status":"done","type":"received"}"#),
            Classified::Control(ControlMessage::Received(ReceivedReport {
                id: 4,
                outcome: ReceivedOutcome::Done
            }))
        );
        assert_eq!(
            classify(
                br#"{"type":"received","id":4,"status":"failed","error":"MessageChecksumMismatch","detail":"a\nb"}"#
            ),
            Classified::Control(ControlMessage::Received(ReceivedReport {
                id: 4,
                outcome: ReceivedOutcome::Failed {
                    error: "MessageChecksumMismatch".into(),
                    detail: "a b".into()
                }
            }))
        );
        let Classified::Control(ControlMessage::Caps(caps)) = classify(
            br#"{"type":"caps","protocol":1,"decode":["zlib","raw"],"max_frame":8192,"max_message":1000,"max_chunks":10}"#,
        ) else {
            panic!("caps not recognised")
        };
        assert_eq!(caps.decode, vec![Method::Zlib, Method::Raw]);
        assert_eq!(
            (caps.max_frame, caps.max_message, caps.max_chunks),
            (8192, 1000, 10)
        );
    }

    #[test]
    fn application_messages_pass_through() {
        for payload in [
            &br#"{"type":"player","name":"staged"}"#[..],
            br#"{"name":"alice"}"#,
            br#"["staged"]"#,
            b"not json",
            br#"{"type":"staged""#,
            b"",
        ] {
            assert_eq!(classify(payload), Classified::Application, "{payload:?}");
        }
        // Large payloads are never parsed, whatever they say.
        let mut big =
            br#"{"type":"staged","id":1,"count":1,"wlen":1,"method":"raw","bytes":1,"x":""#
                .to_vec();
        big.resize(MAX_CONTROL_LEN + 10, b'x');
        big.extend_from_slice(b"\"}");
        assert_eq!(classify(&big), Classified::Application);
    }

    #[test]
    fn malformed_control_messages_are_neither_acted_on_nor_delivered() {
        for payload in [
            &br#"{"type":"staged","id":0,"count":3,"wlen":6,"method":"zlib","bytes":10}"#[..],
            br#"{"type":"staged","id":1,"count":0,"wlen":6,"method":"zlib","bytes":10}"#,
            br#"{"type":"staged","id":1,"count":3,"wlen":6,"method":"zstd","bytes":10}"#,
            br#"{"type":"staged","id":4294967296,"count":3,"wlen":6,"method":"raw","bytes":10}"#,
            br#"{"type":"staged","id":1,"count":3,"wlen":9007199254740992,"method":"raw","bytes":1}"#,
            br#"{"type":"staged","id":1,"count":3}"#,
            br#"{"type":"received","id":1,"status":"maybe"}"#,
            br#"{"type":"received","id":1,"status":"failed"}"#,
            br#"{"type":"received","id":1,"status":"failed","error":"Bad Name"}"#,
            br#"{"type":"caps","protocol":2,"decode":["raw"]}"#,
        ] {
            assert!(
                matches!(classify(payload), Classified::Malformed(_)),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
