//! Any text as a capability declaration: parsed or refused, and a parsed one round-trips.
#![no_main]
use invsync_codec::Capabilities;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(caps) = Capabilities::from_json(text) {
        assert_eq!(Capabilities::from_json(&caps.to_json()).unwrap(), caps);
    }
});
