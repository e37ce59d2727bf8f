//! The Rust codec against an independent implementation of PROTOCOL.md in Python
//! (tests/python/frames_peer.py: Python's zlib and base64, and PyPI `lz4`, the reference C LZ4).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use invsync_codec::{
    Capabilities, EncodeOptions, Method, MethodChoice, ReassemblerConfig, SOLID_MAX_PAYLOAD,
    decode_message, encode,
};
use invsync_player_data::{SampleKind, generate};

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/frames_peer.py")
}

/// Whether the peer can run here; when it cannot, the test fails under INVSYNC_REQUIRE_PEERS=1
/// (CI) and is skipped with a notice otherwise.
fn peer_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import lz4.block"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        invsync_test_support::peers::missing(
            "python peer",
            "python3 with PyPI lz4 is not available (pip install -r tests/requirements.txt)",
        );
    }
    ok
}

fn run_peer(args: &[&str], input: &[u8]) -> (bool, Vec<u8>) {
    let mut child = Command::new("python3")
        .arg(peer_script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (out.status.success(), out.stdout)
}

fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = [SampleKind::Small, SampleKind::Rep, SampleKind::Bp]
        .into_iter()
        .map(|k| (k.to_string(), generate(k, 9)))
        .collect();
    v.push(("empty".into(), Vec::new()));
    v.push(("utf8".into(), "Grüße 世界 🎮 ".repeat(50).into_bytes()));
    let mut x: u32 = 7;
    v.push((
        "noise".into(),
        (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect(),
    ));
    v
}

#[test]
fn python_decodes_what_rust_encodes() {
    if !peer_available() {
        return;
    }
    for (name, payload) in payloads() {
        for method in Method::ALL {
            for max_frame in [300, 8192] {
                let opts = EncodeOptions {
                    method: MethodChoice::Only(method),
                    receiver: Capabilities::all(max_frame),
                    ..EncodeOptions::default()
                };
                let Ok(e) = encode(42, &payload, &opts) else {
                    assert!(
                        (method == Method::Raw && name == "noise")
                            || (method == Method::Solid
                                && payload.len() as u64 > SOLID_MAX_PAYLOAD),
                        "{name}/{method} did not encode"
                    );
                    continue;
                };
                let input = e.frames.join("\n");
                let (ok, out) = run_peer(&["decode"], input.as_bytes());
                assert!(
                    ok,
                    "{name}/{method}/{max_frame}: {}",
                    String::from_utf8_lossy(&out)
                );
                let got: BTreeMap<String, String> = serde_json::from_slice(&out).unwrap();
                assert_eq!(
                    got.get("42").map(|h| hex::decode(h).unwrap()),
                    Some(payload.clone()),
                    "{name}/{method}"
                );
            }
        }
    }
}

#[test]
fn rust_decodes_what_python_encodes() {
    if !peer_available() {
        return;
    }
    for (name, payload) in payloads() {
        for method in ["raw", "lz4", "zlib", "solid"] {
            if method == "raw" && std::str::from_utf8(&payload).is_err() {
                continue;
            }
            if method == "solid" && payload.len() as u64 > SOLID_MAX_PAYLOAD {
                continue;
            }
            let (ok, out) = run_peer(&["encode", method, "700", "9"], &payload);
            assert!(ok, "{name}/{method}: {}", String::from_utf8_lossy(&out));
            let frames: Vec<&[u8]> = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            // Reversed: the order frames arrive in must not matter.
            let m = decode_message(frames.iter().rev(), ReassemblerConfig::default())
                .unwrap_or_else(|e| panic!("{name}/{method}: {e}"));
            assert_eq!(m.id, 9);
            assert_eq!(m.payload, payload, "{name}/{method}");
            assert!(frames.iter().all(|f| f.len() <= 700));
        }
    }
}

#[test]
fn python_decodes_every_good_vector() {
    if !peer_available() {
        return;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/good.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let frames: Vec<&str> = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let (ok, out) = run_peer(&["decode"], frames.join("\n").as_bytes());
        assert!(ok, "{}: {}", v["name"], String::from_utf8_lossy(&out));
        let got: BTreeMap<String, String> = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            got.get(&v["id"].to_string()),
            Some(&v["payload_hex"].as_str().unwrap().to_string()),
            "{}",
            v["name"]
        );
    }
}
