//! Running the Python test peers in `tests/peers/`.
//!
//! A test that needs a peer asks [`python_with`] first. When the interpreter or a module is
//! missing, the test is skipped with a notice on stderr, unless `INVSYNC_REQUIRE_PEERS=1`, in
//! which case it fails: CI sets it so a missing install cannot pass silently. The interpreter is
//! `$INVSYNC_PYTHON`, else `python3`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The interpreter to use, if it has `modules`; `None` means: skip this test.
pub fn python_with(modules: &[&str], test: &str) -> Option<String> {
    let python = std::env::var("INVSYNC_PYTHON").unwrap_or_else(|_| "python3".into());
    let imports = if modules.is_empty() {
        "pass".to_string()
    } else {
        format!("import {}", modules.join(", "))
    };
    let ok = Command::new(&python)
        .args(["-c", &imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return Some(python);
    }
    let install = "pip install -r rcon-transport/tests/peers/requirements.txt";
    let what = format!("`{python}` with modules {modules:?} is not available (install: {install})");
    invsync_test_support::peers::missing(test, &what);
    None
}

/// A peer process; killed when dropped.
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Peer {
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tests/peers/<script>` and waits for its `READY <port>` line.
pub fn spawn_peer(python: &str, script: &str, args: &[&str]) -> Peer {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "peers", script]
        .iter()
        .collect();
    let mut child = Command::new(python)
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("{script} did not print READY within 30 s");
        }
    };
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{script} printed {line:?} instead of READY <port>")
        });
    Peer { child, port }
}
