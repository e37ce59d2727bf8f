//! Any bytes as player data JSON: parsed or refused, and a parsed one round-trips.
#![no_main]
use invsync_player_data::PlayerData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(p) = PlayerData::from_json(bytes) {
        let again = PlayerData::from_json(p.to_json().as_bytes()).expect("own output parses");
        assert_eq!(again.to_json(), p.to_json());
    }
});
