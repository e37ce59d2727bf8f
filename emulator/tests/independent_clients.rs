//! Independent RCON clients (npm `rcon-client`, PyPI `factorio-rcon-py`) against the emulator.
//!
//! Install them with `npm ci --prefix emulator/tests/peers` and
//! `pip install -r emulator/tests/peers/requirements.txt`. When a client is missing the test
//! prints a notice and passes, unless peers are required (`INVSYNC_REQUIRE_PEERS=1` or CI, the
//! workspace's one rule: `invsync_test_support::peers`), where it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Emulator, PASSWORD};

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// Skip (or fail where peers are required) when a peer is unavailable.
fn unavailable(test: &str, what: &str) {
    invsync_test_support::peers::missing(test, &format!("{what} is not installed"));
}

fn run_peer(mut cmd: Command) {
    let em = Emulator::start(&[]);
    let out = cmd
        .arg(em.addr.port().to_string())
        .arg(PASSWORD)
        .output()
        .expect("peer runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "peer failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("OK reply") && stdout.contains("OK refused"),
        "{stdout}"
    );
}

#[test]
fn npm_rcon_client() {
    let dir = peers_dir();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok || !dir.join("node_modules/rcon-client/package.json").is_file() {
        return unavailable(
            "npm_rcon_client",
            "node with npm rcon-client (npm ci --prefix emulator/tests/peers)",
        );
    }
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("node_client.mjs"));
    run_peer(cmd);
}

#[test]
fn pypi_factorio_rcon_py() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import factorio_rcon"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return unavailable(
            "pypi_factorio_rcon_py",
            "python3 with factorio-rcon-py (pip install -r emulator/tests/peers/requirements.txt)",
        );
    }
    let mut cmd = Command::new(python);
    cmd.arg(peers_dir().join("python_client.py"));
    run_peer(cmd);
}
