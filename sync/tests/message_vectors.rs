//! The sync-message vectors (tests/vectors/sync.json) against this crate's parser and writers.

use invsync_player_data::Delta;
use invsync_sync::{
    GameMessage, acquired_message, busy_message, error_message, is_sync_message,
    parse_game_message, player_data_message, player_delta_message, upload_refused_message,
    uploaded_message,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/sync.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("vectors JSON")
}

fn as_json(m: &GameMessage) -> Value {
    match m {
        GameMessage::Acquire {
            player,
            request,
            generation,
            unchanged,
            delta,
        } => serde_json::json!({
            "type": "acquire", "player": player, "request": request,
            "generation": generation, "unchanged": unchanged, "delta": delta}),
        GameMessage::Upload {
            player,
            generation,
            upload,
            epoch,
            recovered,
            data,
        } => serde_json::json!({
            "type": "upload", "player": player, "generation": generation, "upload": upload,
            "epoch": epoch, "recovered": recovered,
            "data": String::from_utf8(data.clone()).unwrap()}),
        GameMessage::Release {
            player,
            request,
            epoch,
        } => serde_json::json!({
            "type": "release", "player": player, "request": request, "epoch": epoch}),
    }
}

#[test]
fn game_to_host_vectors_parse_to_their_meaning() {
    let v = vectors();
    let good = v["game_to_host"].as_array().unwrap();
    assert!(good.len() >= 8);
    for case in good {
        let text = case["text"].as_str().unwrap();
        assert!(is_sync_message(text.as_bytes()), "{}", case["name"]);
        let parsed =
            parse_game_message(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
        assert_eq!(as_json(&parsed), case["parsed"], "{}", case["name"]);
    }
}

#[test]
fn bad_game_to_host_vectors_are_refused_with_their_reason() {
    let v = vectors();
    for case in v["bad_game_to_host"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let err = parse_game_message(text.as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", case["name"]))
            .to_string();
        let want = case["error"].as_str().unwrap();
        assert!(
            err.contains(want),
            "{}: {err:?} lacks {want:?}",
            case["name"]
        );
    }
}

#[test]
fn host_to_game_vectors_are_written_exactly() {
    let v = vectors();
    for case in v["host_to_game"].as_array().unwrap() {
        let f = &case["fields"];
        let s = |k: &str| f[k].as_str().unwrap();
        let n = |k: &str| f[k].as_u64().unwrap();
        let text = match s("type") {
            "acquired" => acquired_message(
                s("player"),
                n("request"),
                n("generation"),
                n("epoch"),
                f["has_data"].as_bool().unwrap(),
                f["message"]
                    .as_u64()
                    .map(|m| (m as u32, n("bytes") as usize)),
                f["base"].as_u64(),
            ),
            "busy" => busy_message(s("player"), n("request"), s("holder"), n("since")),
            "error" => error_message(s("player"), n("request"), s("message")),
            "player_data" => String::from_utf8(player_data_message(
                s("player"),
                n("generation"),
                f["data"].to_string().as_bytes(),
            ))
            .unwrap(),
            "player_delta" => {
                let delta = serde_json::json!({"cleared": f["cleared"], "data": f["data"]});
                let delta = Delta::from_json(delta.to_string().as_bytes()).unwrap();
                let checksum = u32::from_str_radix(s("checksum"), 16).unwrap();
                let message = player_delta_message(
                    s("player"),
                    n("generation"),
                    n("base"),
                    checksum,
                    n("length"),
                    &delta,
                );
                String::from_utf8(message).unwrap()
            }
            "uploaded" => uploaded_message(s("player"), n("generation"), n("upload")),
            "upload_refused" => {
                upload_refused_message(s("player"), n("generation"), n("upload"), s("message"))
            }
            other => panic!("unknown vector type {other}"),
        };
        assert_eq!(text, case["text"].as_str().unwrap(), "{}", case["name"]);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, f, "{}", case["name"]);
    }
}
