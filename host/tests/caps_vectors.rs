//! `tests/vectors/caps.json` (PROTOCOL.md 4, 5.2, 6): the declarations a host parses, and the
//! entry and command it then uses for a frame.

use invsync_codec::Capabilities;
use invsync_rcon_transport::RecvEntry;
use serde_json::Value;

#[test]
fn declarations_give_the_entry_and_command_of_the_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/caps.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let frame = doc["frame"].as_str().unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 8);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let parsed = Capabilities::from_json(v["declaration"].as_str().unwrap());
        if v["error"] == true {
            let e = parsed.expect_err(name).to_string();
            assert!(e.starts_with("bad capability declaration: "), "{name}: {e}");
            continue;
        }
        let caps = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            caps.recv_command.as_deref(),
            v["recv_command"].as_str(),
            "{name}"
        );
        assert_eq!(
            Some(caps.short_header),
            v["short_header"].as_bool(),
            "{name}"
        );
        let entry = RecvEntry::declared(caps.recv_command.as_deref());
        assert_eq!(
            entry.overhead() as u64,
            v["overhead"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            entry.command(frame),
            v["command"].as_str().unwrap(),
            "{name}"
        );
        // a declaration without it is a game that does not rebuild exports (PROTOCOL.md 4.1)
        assert_eq!(
            caps.export_json,
            v["export_json"].as_bool().unwrap_or(false),
            "{name}"
        );
        // what the host writes back is what it read
        assert_eq!(
            Capabilities::from_json(&caps.to_json()).unwrap(),
            caps,
            "{name}"
        );
    }
}
