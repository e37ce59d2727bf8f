//! Any bytes as a player-sync message from the game (`invsync_sync::parse_game_message`): parsed or
//! refused with a reason, never a panic; a parsed message, written again in the canonical form,
//! is recognised as a sync message and parses to the same message, and upload data is a JSON
//! object, kept byte for byte.
#![no_main]
use invsync_sync::{GameMessage, is_sync_message, parse_game_message};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn write(m: &GameMessage) -> Vec<u8> {
    let mut out = match m {
        GameMessage::Acquire {
            player,
            request,
            generation,
            unchanged,
            delta,
        } => json!({
            "type": "acquire", "player": player, "request": request,
            "generation": generation, "unchanged": unchanged, "delta": delta,
        }),
        GameMessage::Upload {
            player,
            generation,
            upload,
            epoch,
            recovered,
            ..
        } => json!({
            "type": "upload", "player": player, "generation": generation, "upload": upload,
            "epoch": epoch, "recovered": recovered,
        }),
        GameMessage::Release {
            player,
            request,
            epoch,
        } => json!({
            "type": "release", "player": player, "request": request, "epoch": epoch,
        }),
    }
    .to_string()
    .into_bytes();
    // serde_json writes keys in order (no preserve_order): `"type"` is not first, so move it.
    if let GameMessage::Upload { data, .. } = m {
        out.pop();
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data);
        out.push(b'}');
    }
    let text = String::from_utf8(out).expect("JSON is UTF-8");
    let kind = match m {
        GameMessage::Acquire { .. } => "acquire",
        GameMessage::Upload { .. } => "upload",
        GameMessage::Release { .. } => "release",
    };
    let tag = format!("\"type\":\"{kind}\"");
    let without = text
        .replacen(&format!(",{tag}"), "", 1)
        .replacen(&format!("{tag},"), "", 1);
    format!("{{{tag},{}", &without[1..]).into_bytes()
}

fuzz_target!(|bytes: &[u8]| {
    let _ = is_sync_message(bytes);
    match parse_game_message(bytes) {
        Err(e) => assert!(!e.0.is_empty()),
        Ok(m) => {
            if let GameMessage::Upload { data, .. } = &m {
                let v: serde_json::Value =
                    serde_json::from_slice(data).expect("upload data is JSON");
                assert!(v.is_object());
            }
            let again = write(&m);
            assert!(
                is_sync_message(&again),
                "{}",
                String::from_utf8_lossy(&again)
            );
            assert_eq!(parse_game_message(&again), Ok(m));
        }
    }
});
