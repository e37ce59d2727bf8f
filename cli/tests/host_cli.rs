//! `invsync host`'s settings: bad input is one line and exit status 2 before anything starts;
//! a config file gives every flag as a key, and flags win; no password reaches the log.

use std::process::{Command, Output};

fn host(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_invsync"));
    c.arg("host")
        .args(args)
        .env_remove("INVSYNC_STORE")
        .env_remove("INVSYNC_RCON_PASSWORD");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run invsync host")
}

fn refused(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(want), "{err:?} lacks {want:?}");
}

#[test]
fn bad_settings_are_refused_by_name() {
    refused(
        &host(&["--rcon-password", "pw", "--", "true"], &[]),
        "--server-id is required",
    );
    refused(
        &host(&["--server-id", "a"], &[]),
        "--rcon-password is required",
    );
    refused(
        &host(&["--server-id", "a", "--rcon-password", "pw"], &[]),
        "no game server command",
    );
    refused(
        &host(
            &["--server-id", "a b", "--rcon-password", "pw", "--", "true"],
            &[],
        ),
        "without spaces",
    );
    refused(
        &host(
            &[
                "--server-id",
                "a",
                "--rcon-password",
                "pw",
                "--heartbeat-ms",
                "20000",
                "--",
                "true",
            ],
            &[],
        ),
        "does not fit the lease timeout",
    );
    refused(
        &host(
            &[
                "--server-id",
                "a",
                "--rcon-password",
                "pw",
                "--stop-timeout-s",
                "1",
                "--",
                "true",
            ],
            &[],
        ),
        "stop timeout of 1 s: at least 2",
    );
    refused(
        &host(
            &[
                "--server-id",
                "a",
                "--store",
                "postgres://u:hunter2@h/x",
                "--",
                "true",
            ],
            &[("INVSYNC_RCON_PASSWORD", "pw")],
        ),
        "is not sqlite:PATH",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("host.toml");
    std::fs::write(&file, "server_id = \"a\"\nrcon_pasword = \"typo\"\n").unwrap();
    refused(
        &host(&["--config", file.to_str().unwrap(), "--", "true"], &[]),
        "unknown field `rcon_pasword`",
    );
}

#[test]
fn a_config_file_gives_the_settings_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("host.toml");
    // the game server "exits" at once: with restart never the host stops, status 1
    std::fs::write(
        &file,
        format!(
            "server_id = \"from-file\"\nrcon_password = \"s3cret-pw\"\nstore = \"sqlite:{}\"\nrestart = \"never\"\ncommand = [\"sh\", \"-c\", \"echo s3cret-pw; exit 3\"]\n",
            db.display()
        ),
    )
    .unwrap();
    let out = host(
        &[
            "--config",
            file.to_str().unwrap(),
            "--server-id",
            "from-flag",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("from-flag"), "{err}");
    assert!(!err.contains("from-file"), "{err}");
    assert!(err.contains("before announcing RCON"), "{err}");
    // the password is neither in the logged command line nor anywhere else the host wrote
    assert!(err.contains("***"), "{err}");
    let logged_by_host: Vec<&str> = err.lines().filter(|l| !l.contains(" game: ")).collect();
    assert!(
        logged_by_host.iter().all(|l| !l.contains("s3cret-pw")),
        "{logged_by_host:#?}"
    );
}
