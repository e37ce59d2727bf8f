//! The player-sync messages (docs/PROTOCOL.md section 7): parsing what the game sends, writing
//! what the host answers. The game's text is untrusted: every field is checked, and an error
//! names the field.

use invsync_player_data::Delta;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::player_store::MAX_PLAYER_NAME;

/// A sync message from the game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GameMessage {
    /// Give this server exclusive access to the player.
    Acquire {
        /// The player.
        player: String,
        /// The game's request number (answers carry it back).
        request: u64,
        /// The generation of the game's local copy (0: none).
        generation: u64,
        /// The local copy is the one this server uploaded at `generation`, unchanged since.
        unchanged: bool,
        /// The game applies a `player_delta` against its local copy (absent: false).
        delta: bool,
    },
    /// Store this as the player's next generation.
    Upload {
        /// The player.
        player: String,
        /// The generation to store (acquired + 1).
        generation: u64,
        /// The game's upload number (answers carry it back).
        upload: u64,
        /// The lease epoch the game was granted.
        epoch: u64,
        /// Sent after a restart from an autosave for a player online before it.
        recovered: bool,
        /// The PLAYER_DATA JSON, byte for byte as the game wrote it.
        data: Vec<u8>,
    },
    /// Drop this server's hold without storing anything.
    Release {
        /// The player.
        player: String,
        /// The game's request number.
        request: u64,
        /// The lease epoch of the hold to drop (`None`: the game had no answer yet).
        epoch: Option<u64>,
    },
}

impl GameMessage {
    /// The player the message is about.
    pub fn player(&self) -> &str {
        match self {
            GameMessage::Acquire { player, .. }
            | GameMessage::Upload { player, .. }
            | GameMessage::Release { player, .. } => player,
        }
    }
}

/// A sync message from the game that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad sync message: {0}")]
pub struct MessageError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: String,
    player: String,
    request: Option<u64>,
    generation: Option<u64>,
    unchanged: Option<bool>,
    delta: Option<bool>,
    upload: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    epoch: Option<Option<u64>>,
    recovered: Option<bool>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// True when `payload` is a sync message from the game (starts with `{"type":"<name>"` for one
/// of the three game -> host types), so the host routes it to the sync and not elsewhere.
pub fn is_sync_message(payload: &[u8]) -> bool {
    sync_type(payload).is_some()
}

fn sync_type(payload: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(payload.get(..payload.len().min(64))?).ok()?;
    let rest = text.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix("\"type\"")?
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start();
    ["acquire", "upload", "release"]
        .into_iter()
        .find(|t| rest.starts_with(&format!("\"{t}\"")))
}

/// A field that may be present as `null` (`Some(None)`) or absent (`None`).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

fn need<T>(v: Option<T>, field: &str, kind: &str) -> Result<T, MessageError> {
    v.ok_or_else(|| MessageError(format!("{kind}: missing field {field:?}")))
}

/// Parses a game -> host sync message.
pub fn parse_game_message(payload: &[u8]) -> Result<GameMessage, MessageError> {
    let wire: Wire<'_> = serde_json::from_slice(payload)
        .map_err(|e| MessageError(format!("not a sync message object: {e}")))?;
    let kind = wire.kind.as_str();
    if wire.player.is_empty()
        || wire.player.len() > MAX_PLAYER_NAME
        || wire.player.chars().any(char::is_control)
    {
        return Err(MessageError(format!(
            "{kind}: player name {:?} is empty, longer than {MAX_PLAYER_NAME} bytes or has control characters",
            wire.player
        )));
    }
    let unexpected = |present: bool, field: &str| {
        if present {
            Err(MessageError(format!("{kind}: unexpected field {field:?}")))
        } else {
            Ok(())
        }
    };
    match kind {
        "acquire" => {
            unexpected(wire.upload.is_some(), "upload")?;
            unexpected(wire.data.is_some(), "data")?;
            unexpected(wire.epoch.is_some(), "epoch")?;
            Ok(GameMessage::Acquire {
                request: need(wire.request, "request", kind)?,
                generation: need(wire.generation, "generation", kind)?,
                unchanged: need(wire.unchanged, "unchanged", kind)?,
                delta: wire.delta.unwrap_or(false),
                player: wire.player,
            })
        }
        "upload" => {
            unexpected(wire.request.is_some(), "request")?;
            unexpected(wire.delta.is_some(), "delta")?;
            let data = need(wire.data, "data", kind)?.get();
            if !data.starts_with('{') {
                return Err(MessageError(format!(
                    "upload: data is not a JSON object (player {:?})",
                    wire.player
                )));
            }
            // the raw text is stored as it is, so it must be what every reader can read: a
            // number out of range (8e2000) is valid JSON syntax but no reader takes it
            if let Err(e) = serde_json::from_str::<serde_json::Value>(data) {
                return Err(MessageError(format!(
                    "upload: data is not readable JSON (player {:?}): {e}",
                    wire.player
                )));
            }
            let generation = need(wire.generation, "generation", kind)?;
            if generation == 0 {
                return Err(MessageError(
                    "upload: generation 0 (must be at least 1)".into(),
                ));
            }
            Ok(GameMessage::Upload {
                generation,
                upload: need(wire.upload, "upload", kind)?,
                epoch: need(need(wire.epoch, "epoch", kind)?, "epoch (not null)", kind)?,
                recovered: wire.recovered.unwrap_or(false),
                data: data.as_bytes().to_vec(),
                player: wire.player,
            })
        }
        "release" => {
            unexpected(wire.data.is_some(), "data")?;
            unexpected(wire.delta.is_some(), "delta")?;
            Ok(GameMessage::Release {
                request: need(wire.request, "request", kind)?,
                epoch: need(wire.epoch, "epoch", kind)?,
                player: wire.player,
            })
        }
        other => Err(MessageError(format!("unknown sync message type {other:?}"))),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// `acquired`, keeping the local copy (`data_message` `None`) or naming the `player_data`
/// message (its id and wire length) that carries the stored data, or the `player_delta` against
/// the game's generation `base`.
pub fn acquired_message(
    player: &str,
    request: u64,
    generation: u64,
    epoch: u64,
    has_data: bool,
    data_message: Option<(u32, usize)>,
    base: Option<u64>,
) -> String {
    let (message, bytes) = match data_message {
        Some((id, wlen)) => (id.to_string(), wlen),
        None => ("null".to_string(), 0),
    };
    let base = base.map_or(String::new(), |b| format!(r#","base":{b}"#));
    format!(
        r#"{{"type":"acquired","player":{},"request":{request},"generation":{generation},"epoch":{epoch},"has_data":{has_data},"message":{message},"bytes":{bytes}{base}}}"#,
        quote(player)
    )
}

/// `busy`: `holder` holds the player (since `since`, cluster time in ms).
pub fn busy_message(player: &str, request: u64, holder: &str, since: u64) -> String {
    format!(
        r#"{{"type":"busy","player":{},"request":{request},"holder":{},"since":{since}}}"#,
        quote(player),
        quote(holder)
    )
}

/// `error`: the host cannot serve the player now.
pub fn error_message(player: &str, request: u64, message: &str) -> String {
    format!(
        r#"{{"type":"error","player":{},"request":{request},"message":{}}}"#,
        quote(player),
        quote(message)
    )
}

/// `player_data`: the stored data (PLAYER_DATA JSON, inserted byte for byte).
pub fn player_data_message(player: &str, generation: u64, data: &[u8]) -> Vec<u8> {
    let mut out = format!(
        r#"{{"type":"player_data","player":{},"generation":{generation},"data":"#,
        quote(player)
    )
    .into_bytes();
    out.extend_from_slice(data);
    out.push(b'}');
    out
}

/// `player_delta`: generation `generation` as what changed since the game's generation `base`
/// (`delta`: PLAYER_DATA.md "Deltas"); `checksum` and `length` are the CRC-32 and byte length
/// of the stored data of `generation`, which the game compares with its result.
pub fn player_delta_message(
    player: &str,
    generation: u64,
    base: u64,
    checksum: u32,
    length: u64,
    delta: &Delta,
) -> Vec<u8> {
    format!(
        r#"{{"type":"player_delta","player":{},"generation":{generation},"base":{base},"checksum":"{checksum:08x}","length":{length},"cleared":{},"data":{}}}"#,
        quote(player),
        delta.cleared_json(),
        delta.data.to_json()
    )
    .into_bytes()
}

/// `uploaded`: upload `upload` is stored as `generation`.
pub fn uploaded_message(player: &str, generation: u64, upload: u64) -> String {
    format!(
        r#"{{"type":"uploaded","player":{},"generation":{generation},"upload":{upload}}}"#,
        quote(player)
    )
}

/// `upload_refused`: not stored (the data is kept as a conflict snapshot).
pub fn upload_refused_message(player: &str, generation: u64, upload: u64, message: &str) -> String {
    format!(
        r#"{{"type":"upload_refused","player":{},"generation":{generation},"upload":{upload},"message":{}}}"#,
        quote(player),
        quote(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type_and_keeps_upload_data_byte_for_byte() {
        let m = parse_game_message(
            br#"{"type":"acquire","player":"al\"ice","request":3,"generation":2,"unchanged":true}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            GameMessage::Acquire {
                player: "al\"ice".into(),
                request: 3,
                generation: 2,
                unchanged: true,
                delta: false
            }
        );
        let data = r#"{"format":1, "x":[1.50,2e3]}"#;
        let text = format!(
            r#"{{"type":"upload","player":"b","generation":4,"upload":9,"epoch":7,"data":{data}}}"#
        );
        match parse_game_message(text.as_bytes()).unwrap() {
            GameMessage::Upload {
                data: got,
                epoch: 7,
                generation: 4,
                upload: 9,
                recovered: false,
                ..
            } => assert_eq!(got, data.as_bytes()),
            other => panic!("{other:?}"),
        }
        assert!(is_sync_message(text.as_bytes()));
        assert!(is_sync_message(
            b" { \"type\" : \"release\",\"player\":\"x\"}"
        ));
        assert!(!is_sync_message(br#"{"type":"acquired","player":"x"}"#));
        assert!(!is_sync_message(br#"{"player":"x","type":"acquire"}"#));
    }

    #[test]
    fn bad_messages_name_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "not a sync message object"),
            (br#"{"type":"acquire","player":"a","request":1,"generation":0}"#, "\"unchanged\""),
            (br#"{"type":"release","player":"a","request":1}"#, "\"epoch\""),
            (br#"{"type":"upload","player":"a","generation":1,"upload":1,"epoch":null,"data":{}}"#, "epoch (not null)"),
            (br#"{"type":"upload","player":"a","generation":1,"upload":1,"epoch":1,"data":[1]}"#, "not a JSON object"),
            (br#"{"type":"upload","player":"a","generation":0,"upload":1,"epoch":1,"data":{}}"#, "generation 0"),
            (br#"{"type":"acquire","player":"","request":1,"generation":0,"unchanged":false}"#, "player name"),
            (br#"{"type":"acquire","player":"a","request":-1,"generation":0,"unchanged":false}"#, "not a sync message object"),
            (br#"{"type":"steal","player":"a"}"#, "unknown sync message type"),
            (br#"{"type":"acquire","player":"a","request":1,"generation":0,"unchanged":false,"epoch":3}"#, "unexpected field \"epoch\""),
            (br#"{"type":"acquire","player":"a","request":1,"generation":0,"unchanged":false,"zzz":1}"#, "unknown field"),
        ];
        for (text, want) in cases {
            let err = parse_game_message(text).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn answers_are_json_with_type_first() {
        for text in [
            acquired_message("a\"b", 1, 2, 3, true, Some((77, 1234)), None),
            acquired_message("a", 1, 0, 1, false, None, None),
            acquired_message("a", 1, 9, 4, true, Some((5, 321)), Some(7)),
            busy_message("a", 1, "s\u{1}", 5),
            error_message("a", 1, "store down"),
            uploaded_message("a", 2, 3),
            upload_refused_message("a", 2, 3, "epoch 1 is not the current epoch 2"),
        ] {
            let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
            assert!(text.starts_with(r#"{"type":""#), "{text}");
            assert_eq!(v["player"].as_str().unwrap().chars().next(), Some('a'));
        }
        let pd = player_data_message("p", 3, br#"{"format":1}"#);
        let v: serde_json::Value = serde_json::from_slice(&pd).unwrap();
        assert_eq!(v["data"]["format"], 1);
    }
}
