//! Any bytes as a player delta (`{"cleared":...,"data":...}`, PLAYER_DATA.md "Deltas") applied
//! to a base with runs, an item with an inventory and a cursor: refused with a reason or
//! applied, never a panic; an applied result is data the model writes and reads back, and the
//! writer's own delta from the base to it gives it again.
#![no_main]
use std::sync::OnceLock;

use invsync_player_data::{Delta, PlayerData, apply, diff};
use libfuzzer_sys::fuzz_target;

fn base() -> &'static PlayerData {
    static BASE: OnceLock<PlayerData> = OnceLock::new();
    BASE.get_or_init(|| {
        let text = br#"{"format":2,"name":"ann","inventories":{
            "main":[[1,"iron-plate",100,5],[7,"coal",50],{"s":9,"n":"bag","c":1,"i":[[1,"wood",4,2]]}],
            "ammo":[[1,"firearm-magazine",10,3]]},"cursor":[0,"coal",5]}"#;
        PlayerData::from_json(text).expect("the base parses")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(delta) = Delta::from_json(bytes) else {
        return;
    };
    let base = base();
    match apply(base, &delta) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(result) => {
            let again =
                PlayerData::from_json(result.to_json().as_bytes()).expect("own output parses");
            assert_eq!(again, result);
            assert_eq!(
                apply(base, &diff(base, &result)).expect("own delta applies"),
                result
            );
        }
    }
});
