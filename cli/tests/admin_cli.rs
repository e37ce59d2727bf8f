//! `invsync admin` over a real SQLite store file: what it shows, what it changes, and that bad
//! input is one line on stderr, exit status 2, and no change.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use invsync_sync::{Acquired, PlayerStore, Settings, SqliteStore, UploadOutcome};
use serde_json::Value;

fn admin(store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invsync"))
        .args(["admin", "--store", store])
        .args(args)
        .output()
        .expect("run invsync")
}

fn ok_json(store: &str, args: &[&str]) -> Value {
    let out = admin(store, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Exit status 2 and one line on stderr containing `want`.
fn refused(store: &str, args: &[&str], want: &str) -> String {
    let out = admin(store, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
    err
}

fn sample(seed: u64) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_invsync"))
        .args(["sample", "--kind", "small", "--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.trim_ascii().to_vec()
}

fn players(path: &Path) -> PlayerStore {
    PlayerStore::new(
        Arc::new(SqliteStore::open(path).unwrap()),
        Settings::default(),
    )
}

#[test]
fn admin_reads_imports_restores_and_keeps_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let url = format!("sqlite:{}", db.display());
    let p = players(&db);
    let first = sample(1);
    // north holds ann and uploads generation 1
    let Acquired::Acquired { epoch, .. } = p.acquire("north", "ann", 1, 0, false, false).unwrap()
    else {
        panic!("acquire")
    };
    assert!(matches!(
        p.upload("north", "ann", 1, epoch, false, &first).unwrap(),
        UploadOutcome::Stored { .. }
    ));
    assert_eq!(
        ok_json(&url, &["--json", "list"]),
        serde_json::json!(["ann"])
    );
    let shown = ok_json(&url, &["--json", "show", "ann"]);
    assert_eq!(shown["generation"], 1);
    assert_eq!(shown["lease"]["held"], false);

    // north takes ann again: an import is refused while its lease is live
    let Acquired::Acquired { epoch: held, .. } =
        p.acquire("north", "ann", 2, 1, true, false).unwrap()
    else {
        panic!("acquire")
    };
    p.heartbeat("north").unwrap();
    let file = dir.path().join("ann.json");
    let second = sample(2);
    std::fs::write(&file, &second).unwrap();
    let file = file.to_str().unwrap();
    refused(&url, &["import", "ann", file], "held by north");
    assert_eq!(ok_json(&url, &["--json", "show", "ann"])["generation"], 1);
    let out = admin(&url, &["import", "ann", file, "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ok_json(&url, &["--json", "show", "ann"])["generation"], 2);

    // north's later upload is refused and kept, never stored over the admin's data
    let stale = sample(3);
    let UploadOutcome::Refused { conflict, .. } =
        p.upload("north", "ann", 2, held, false, &stale).unwrap()
    else {
        panic!("the stale holder's upload must be refused")
    };
    let history = ok_json(&url, &["--json", "history", "ann"]);
    let kept = history
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == conflict)
        .expect("the conflict is in the history");
    assert_eq!(kept["cause"], "conflict");
    assert_eq!(kept["pinned"], true);
    let out = admin(
        &url,
        &["export", "ann", "--snapshot", &conflict.to_string()],
    );
    assert!(out.status.success());
    assert_eq!(
        out.stdout.trim_ascii(),
        &stale[..],
        "the refused data is kept byte for byte"
    );
    let out = admin(&url, &["export", "ann"]);
    assert_eq!(
        out.stdout.trim_ascii(),
        &second[..],
        "the admin's import is current"
    );

    // restore generation 1's snapshot as generation 3
    let first_id = history[0]["id"].as_u64().unwrap().to_string();
    let out = admin(&url, &["restore", "ann", &first_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ok_json(&url, &["--json", "show", "ann"])["generation"], 3);
    assert_eq!(
        admin(&url, &["export", "ann"]).stdout.trim_ascii(),
        &first[..]
    );

    // pin and unpin
    assert!(
        admin(&url, &["unpin", "ann", &conflict.to_string()])
            .status
            .success()
    );
    let history = ok_json(&url, &["--json", "history", "ann"]);
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["pinned"] == false)
    );
    let servers = ok_json(&url, &["--json", "servers"]);
    assert_eq!(servers[0]["server"], "north");
}

#[test]
fn bad_input_is_one_line_exit_two_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let url = format!("sqlite:{}", db.display());
    refused(
        &format!("sqlite:{}", dir.path().join("missing.db").display()),
        &["list"],
        "does not exist",
    );
    assert!(
        !dir.path().join("missing.db").exists(),
        "reading created no store"
    );
    let p = players(&db);
    let data = sample(1);
    p.import("ann", &data, false).unwrap();
    let before = ok_json(&url, &["--json", "history", "ann"]);

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        br#"{"format":1,"name":"ann","inventories":{"main":[{"name":5}]}}"#,
    )
    .unwrap();
    refused(
        &url,
        &["import", "ann", bad.to_str().unwrap()],
        "not valid PLAYER_DATA",
    );
    refused(
        &url,
        &["import", "ann", "/nonexistent/file.json"],
        "cannot read",
    );
    refused(&url, &["show", "nobody"], "no player \"nobody\"");
    refused(&url, &["restore", "ann", "99"], "has no snapshot 99");
    refused(
        &url,
        &["export", "ann", "--snapshot", "99"],
        "has no snapshot 99",
    );
    refused(&url, &["pin", "ann", "99"], "has no snapshot 99");
    refused(&url, &["release", "nobody"], "no player");
    assert_eq!(ok_json(&url, &["--json", "history", "ann"]), before);

    let err = refused(
        "postgres://admin:hunter2@127.0.0.1/x",
        &["list"],
        "is not sqlite:PATH",
    );
    assert!(!err.contains("hunter2"), "{err}");
    // a Redis that does not answer (nothing listens on port 1 of loopback)
    let err = refused("redis://:hunter2@127.0.0.1:1/0", &["list"], "unavailable");
    assert!(!err.contains("hunter2"), "{err}");
}
