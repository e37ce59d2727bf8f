//! Redis as a store that spans machines: with a password, over TLS (`rediss://`, a private CA
//! made here with the `openssl` CLI), and the password never in a message or a `Debug` view.
//! Also: the durability check at open warns about a server that would lose answered uploads.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use invsync_sync::{
    Acquired, PlayerStore, RedisOptions, RedisStore, Settings, Store, UploadOutcome,
};
use support::{free_port, missing, program, unique};

const PASSWORD: &str = "pw-Zq81-never-shown";
const WRONG: &str = "pw-wrong-Kx22-never-shown";

fn options(test: &str) -> RedisOptions {
    RedisOptions {
        cluster: unique(test),
        timeout: Duration::from_secs(3),
        ..RedisOptions::default()
    }
}

/// Neither password anywhere in `text`.
#[track_caller]
fn clean(text: &str) {
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG),
        "a password shows in: {text}"
    );
}

/// Display and Debug of a result's error (or value) carry no password.
#[track_caller]
fn clean_result<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(r: &Result<T, E>) {
    match r {
        Ok(v) => clean(&format!("{v:?}")),
        Err(e) => {
            clean(&e.to_string());
            clean(&format!("{e:?}"));
        }
    }
}

/// A whole sync cycle works through `store`.
fn works(store: RedisStore) {
    clean(&store.describe());
    clean(&format!("{store:?}"));
    let sync = PlayerStore::new(Arc::new(store), Settings::default());
    clean(&format!("{sync:?}"));
    let Acquired::Acquired {
        generation, epoch, ..
    } = sync.acquire("north", "alice", 1, 0, false, false).unwrap()
    else {
        panic!("alice is free")
    };
    let data = br#"{"format":1,"name":"alice"}"#;
    assert!(matches!(
        sync.upload("north", "alice", generation + 1, epoch, false, data)
            .unwrap(),
        UploadOutcome::Stored { .. }
    ));
    assert_eq!(sync.export("alice", None).unwrap(), data);
    // Redis TIME is the clock
    assert!(sync.now().unwrap() > 1_600_000_000_000);
}

#[test]
fn redis_with_a_password_works_and_the_password_never_shows() {
    let test = "password";
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = support::start_redis(test, dir.path(), &["--requirepass", PASSWORD])
    else {
        return;
    };
    let port = server.port;
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/0");
    works(RedisStore::open(&url, options(test)).unwrap());
    // the user:password form, and through the URL opener
    let url_user = format!("redis://default:{PASSWORD}@127.0.0.1:{port}/0");
    let store = invsync_sync::open(&url_user, options(test)).unwrap();
    clean(&store.describe());
    assert!(store.describe().contains("***@127.0.0.1"));
    // a wrong password, none, a URL that does not parse: errors without any password
    for bad in [
        format!("redis://:{WRONG}@127.0.0.1:{port}/0"),
        format!("redis://127.0.0.1:{port}/0"),
        format!("redis://:{WRONG}@127.0.0.1:notaport/0"),
        format!("redis://:{PASSWORD}@127.0.0.1:{port}/notadb"),
    ] {
        let r = RedisStore::open(&bad, options(test));
        assert!(r.is_err(), "{}", invsync_sync::redact_url(&bad));
        clean_result(&r.map(|_| ()));
        clean_result(&invsync_sync::open(&bad, options(test)).map(|_| ()));
    }
    // the server goes away: the errors of every operation name it without the password
    let store = RedisStore::open(&url, options(test)).unwrap();
    let sync = PlayerStore::new(Arc::new(store), Settings::default());
    server.kill9();
    let r = sync.acquire("north", "bob", 1, 0, false, false);
    assert!(r.is_err());
    clean_result(&r);
    clean_result(&sync.upload("north", "bob", 1, 1, false, b"{}"));
    clean_result(&sync.show("bob"));
    clean_result(&sync.list());
    clean_result(&sync.store().now());
    let r = RedisStore::open(&url, options(test));
    assert!(r.is_err());
    clean_result(&r.map(|_| ()));
}

/// A CA and a server certificate for 127.0.0.1 (IP SAN), made with the openssl CLI.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=invsync test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

#[test]
fn redis_over_tls_with_a_private_ca_works_and_the_password_never_shows() {
    let test = "tls";
    if program("openssl").is_none() {
        missing(test, "the openssl CLI is not installed");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let file = |name: &str| certs.path().join(name).to_str().unwrap().to_string();
    let tls_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let Some(_server) = support::start_redis(
        test,
        dir.path(),
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &file("server.crt"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.crt"),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
        ],
    ) else {
        return;
    };
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{tls_port}/0");
    let with_ca = RedisOptions {
        ca_file: Some(certs.path().join("ca.crt")),
        ..options(test)
    };
    let store = RedisStore::open(&url, with_ca.clone()).unwrap();
    assert!(store.describe().starts_with("rediss://"));
    works(store);
    // the web roots do not know the test CA: refused, and the error shows no password
    let r = RedisStore::open(&url, options(test));
    assert!(
        r.is_err(),
        "a server certificate from an unknown CA was accepted"
    );
    clean_result(&r.map(|_| ()));
    // plain Redis protocol on the TLS port does not work
    let plain = format!("redis://:{PASSWORD}@127.0.0.1:{tls_port}/0");
    let r = RedisStore::open(&plain, options(test));
    assert!(r.is_err());
    clean_result(&r.map(|_| ()));
    // a CA file that is not there is a configuration error naming the file
    let missing_ca = RedisOptions {
        ca_file: Some(certs.path().join("nope.crt")),
        ..options(test)
    };
    match RedisStore::open(&url, missing_ca) {
        Err(e) => {
            assert!(e.to_string().contains("nope.crt"), "{e}");
            clean(&e.to_string());
        }
        Ok(_) => panic!("opened with a missing CA file"),
    }
}

#[test]
fn a_redis_that_would_lose_answered_uploads_is_warned_about() {
    let test = "durability-warning";
    for extra in [["--appendonly", "no"], ["--appendfsync", "everysec"]] {
        let dir = tempfile::tempdir().unwrap();
        let Some(server) = support::start_redis(test, dir.path(), &extra) else {
            return;
        };
        let store = RedisStore::open(&server.url(), options(test)).unwrap();
        let warning = store.durability_warning().expect("a warning").to_string();
        assert!(warning.contains("appendfsync"), "{warning}");
        assert!(warning.contains(&server.url()), "{warning}");
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = support::start_redis(test, dir.path(), &[]) else {
        return;
    };
    let store = RedisStore::open(&server.url(), options(test)).unwrap();
    assert_eq!(store.durability_warning(), None);
}
