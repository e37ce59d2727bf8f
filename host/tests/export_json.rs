//! The `export_json` rewrite of a `player_data` message's data (PROTOCOL.md 4.1): which
//! exports become `xj`, what stays `x`, and that nothing else changes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use invsync_codec::Capabilities;
use invsync_host::{MAX_EXPORT_JSON, export_json, for_game, rewrite_exports};
use invsync_player_data::{SampleKind, sample};
use serde_json::{Value, json};

fn export_of(json: &[u8]) -> String {
    format!(
        "0{}",
        STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(json, 9))
    )
}

/// A format-2 document with the `bp` sample's exports as object stacks of `main`.
fn bp_format2() -> (String, Vec<String>) {
    let p = sample(SampleKind::Bp, 1);
    let exports: Vec<String> = p
        .inventories
        .main
        .iter()
        .filter_map(|s| s.export.clone())
        .collect();
    assert!(exports.len() >= 20, "{}", exports.len());
    let main: Vec<Value> = exports
        .iter()
        .enumerate()
        .map(|(i, x)| json!({"s": i + 1, "n": "blueprint", "c": 1, "x": x}))
        .collect();
    let doc = json!({"format": 2, "inventories": {"main": main}});
    (serde_json::to_string(&doc).unwrap(), exports)
}

#[test]
fn the_bp_sample_as_stored_has_every_export_rewritten() {
    let p = sample(SampleKind::Bp, 1);
    let stored = p.to_json();
    let r = rewrite_exports(stored.as_bytes(), usize::MAX).expect("format 2 with exports");
    let exports = p.stacks().filter(|s| s.export.is_some()).count();
    assert!(exports >= 20, "{exports}");
    assert_eq!((r.rewritten, r.kept), (exports, 0));
    // the same player, each export's JSON in its place
    let mut back = invsync_player_data::PlayerData::from_json(&r.data).unwrap();
    assert_eq!(
        back.stacks().filter(|s| s.export_json.is_some()).count(),
        exports
    );
    for s in back.inventories.main.iter_mut() {
        if let Some(json) = s.export_json.take() {
            s.export = Some(export_of(json.as_bytes()));
        }
    }
    for (got, want) in back.inventories.main.iter().zip(&p.inventories.main) {
        let mut got = got.clone();
        if let (Some(g), Some(w)) = (&got.export, &want.export) {
            assert_eq!(export_json(g), export_json(w));
            got.export = want.export.clone();
        }
        assert_eq!(&got, want);
    }
    assert_eq!(back.inventories.main.len(), p.inventories.main.len());
}

#[test]
fn every_export_of_the_bp_sample_becomes_its_json() {
    let (doc, exports) = bp_format2();
    let r = rewrite_exports(doc.as_bytes(), usize::MAX).expect("rewritten");
    assert_eq!((r.rewritten, r.kept), (exports.len(), 0));
    let v: Value = serde_json::from_slice(&r.data).unwrap();
    let main = v["inventories"]["main"].as_array().unwrap();
    assert_eq!(main.len(), exports.len());
    for (stack, x) in main.iter().zip(&exports) {
        assert!(stack.get("x").is_none(), "{stack}");
        let xj = stack["xj"].as_str().unwrap();
        let z = STANDARD.decode(&x[1..]).unwrap();
        let json = miniz_oxide::inflate::decompress_to_vec_zlib(&z).unwrap();
        assert_eq!(xj.as_bytes(), json.as_slice());
        // the game's rebuild, "0" .. encode_string(xj), imports the same JSON
        assert_eq!(export_json(&export_of(xj.as_bytes())).unwrap(), xj);
    }
}

#[test]
fn everything_else_is_kept_byte_for_byte_and_only_stack_exports_change() {
    let x = export_of(br#"{"blueprint":{"item":"blueprint","label":"A \"b\""}}"#);
    let doc = format!(
        concat!(
            r#"{{"format":2,"name":"p","color":{{"r":0.50,"g":1e0,"b":0,"a":1}},"#,
            r#""inventories":{{"main":[[1,"iron-plate",100,3],{{"s":4,"n":"blueprint","c":1,"x":"{x}","l":"keep"}},"#,
            r#"{{"s":5,"n":"item-with-tags","c":1,"t":{{"x":"{x}"}},"i":[{{"s":1,"n":"blueprint","c":1,"x":"{x}"}}]}}],"#,
            r#""x":[{{"s":1,"n":"blueprint","c":1,"x":"{x}"}}]}},"#,
            r#""cursor":{{"n":"blueprint-book","c":1,"x":"{x}"}},"unplaced":[{{"n":"blueprint","c":1,"x":"{x}"}}],"#,
            r#""crafting":{{"progress":0.25,"ingredients":[{{"n":"upgrade-planner","c":1,"x":"{x}"}}]}},"x":"{x}"}}"#
        ),
        x = x
    );
    let r = rewrite_exports(doc.as_bytes(), usize::MAX).expect("rewritten");
    // main (2: one in an item's inventory), an inventory named x, cursor, unplaced, crafting
    assert_eq!((r.rewritten, r.kept), (6, 0));
    let text = String::from_utf8(r.data).unwrap();
    let xj = r#""xj":"{\"blueprint\":{\"item\":\"blueprint\",\"label\":\"A \\\"b\\\"\"}}""#;
    assert_eq!(text.matches(xj).count(), 6, "{text}");
    // numbers as written, plain stacks, tags and a top-level "x" untouched
    for kept in [
        r#""color":{"r":0.50,"g":1e0,"b":0,"a":1}"#,
        r#"[1,"iron-plate",100,3]"#,
        &format!(r#""t":{{"x":"{x}"}}"#),
        &format!(r#","x":"{x}"}}"#),
        r#""l":"keep""#,
        r#""progress":0.25"#,
    ] {
        assert!(text.contains(kept), "{kept} in {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["inventories"]["x"][0]["xj"].is_string());
}

#[test]
fn a_malformed_export_stays_x() {
    let good = export_of(br#"{"blueprint":{"a":1}}"#);
    assert!(good.ends_with('='), "{good}");
    let z = miniz_oxide::deflate::compress_to_vec_zlib(br#"{"blueprint":{}}"#, 9);
    // the last character before the padding with its unused bits set
    let mut bits = good.trim_end_matches('=').to_string();
    let last = bits.pop().unwrap();
    bits.push(if last == '/' {
        '+'
    } else {
        (last as u8 + 1) as char
    });
    let bad = [
        ("no version byte", good[1..].to_string()),
        ("another version", format!("1{}", &good[1..])),
        ("not base64", "0!!!!".to_string()),
        ("no padding", good.trim_end_matches('=').to_string()),
        ("unused bits set", format!("{bits}=")),
        (
            "not zlib",
            format!("0{}", STANDARD.encode(b"not a zlib stream")),
        ),
        (
            "a cut stream",
            format!("0{}", STANDARD.encode(&z[..z.len() - 3])),
        ),
        ("not JSON", export_of(b"{\"blueprint\":")),
        ("not UTF-8", export_of(b"\"\xff\"")),
        ("empty", "0".to_string()),
    ];
    for (what, x) in &bad {
        assert_eq!(export_json(x), None, "{what}");
        let doc = json!({"format": 2, "inventories": {"main": [
            {"s": 1, "n": "blueprint", "c": 1, "x": x},
            {"s": 2, "n": "blueprint", "c": 1, "x": good},
        ]}})
        .to_string();
        let r = rewrite_exports(doc.as_bytes(), usize::MAX).expect(what);
        assert_eq!((r.rewritten, r.kept), (1, 1), "{what}");
        let v: Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(v["inventories"]["main"][0]["x"], x.as_str(), "{what}");
        assert!(v["inventories"]["main"][1]["xj"].is_string(), "{what}");
        // not a string at all
        let doc = json!({"format": 2, "cursor": {"n": "blueprint", "c": 1, "x": 7}}).to_string();
        assert_eq!(rewrite_exports(doc.as_bytes(), usize::MAX), None);
    }
}

#[test]
fn an_export_that_inflates_past_the_bound_stays_x() {
    let mut json = Vec::with_capacity(MAX_EXPORT_JSON + 3);
    json.push(b'"');
    json.resize(MAX_EXPORT_JSON + 1, b'a');
    json.push(b'"');
    let x = export_of(&json);
    assert!(x.len() < 10_000, "compresses well: {}", x.len());
    assert_eq!(export_json(&x), None);
    json.truncate(MAX_EXPORT_JSON - 1);
    json.push(b'"');
    assert_eq!(
        export_json(&export_of(&json)).map(|j| j.len()),
        Some(MAX_EXPORT_JSON)
    );
}

#[test]
fn the_data_grows_no_further_than_the_bound() {
    let x = export_of(
        &[
            b"{\"blueprint\":{\"label\":\"".as_slice(),
            &[b'z'; 3000],
            b"\"}}",
        ]
        .concat(),
    );
    let doc = json!({"format": 2, "inventories": {"main": [
        {"s": 1, "n": "blueprint", "c": 1, "x": x},
        {"s": 2, "n": "blueprint", "c": 1, "x": x},
    ]}})
    .to_string();
    let one = rewrite_exports(doc.as_bytes(), usize::MAX)
        .unwrap()
        .data
        .len();
    let grows = one - doc.len();
    assert_eq!(
        rewrite_exports(doc.as_bytes(), doc.len() + grows / 2 - 1),
        None
    );
    let r = rewrite_exports(doc.as_bytes(), doc.len() + grows / 2).unwrap();
    assert_eq!((r.rewritten, r.kept), (1, 1));
    assert_eq!(r.data.len(), doc.len() + grows / 2);
}

#[test]
fn nothing_is_rewritten_outside_format_2_stacks() {
    let x = export_of(br#"{"blueprint":{}}"#);
    for doc in [
        json!({"format": 1, "inventories": {"main": [{"slot": 1, "name": "blueprint", "count": 1, "export": x}]}}).to_string(),
        json!({"format": 1, "inventories": {"main": [{"s": 1, "n": "blueprint", "c": 1, "x": x}]}}).to_string(),
        json!({"format": "2", "cursor": {"n": "blueprint", "c": 1, "x": x}}).to_string(),
        json!({"format": 2, "cursor": {"n": "blueprint", "c": 1, "x": x, "xj": "{}"}}).to_string(),
        json!({"format": 2, "inventories": {"main": {"x": x}}}).to_string(),
        json!({"format": 2, "x": x}).to_string(),
        format!(r#"{{"format":2,"cursor":{{"n":"blueprint","c":1,"x":"{x}"}}"#),
        "not json".to_string(),
    ] {
        assert_eq!(rewrite_exports(doc.as_bytes(), usize::MAX), None, "{doc}");
    }
    assert_eq!(rewrite_exports(b"\xff", usize::MAX), None);
}

#[test]
fn only_a_game_that_declares_it_gets_xj() {
    let x = export_of(br#"{"blueprint":{}}"#);
    let doc =
        format!(r#"{{"format":2,"cursor":{{"n":"blueprint","c":1,"x":"{x}"}}}}"#).into_bytes();
    let mut caps = Capabilities::all(8192);
    assert_eq!(for_game(None, doc.clone()), doc);
    assert_eq!(for_game(Some(&caps), doc.clone()), doc);
    caps.export_json = true;
    let sent = for_game(Some(&caps), doc.clone());
    assert_eq!(
        sent,
        br#"{"format":2,"cursor":{"n":"blueprint","c":1,"xj":"{\"blueprint\":{}}"}}"#
    );
    // a game whose max_message leaves no room keeps x
    let x = export_of(
        &[
            b"{\"blueprint\":{\"label\":\"".as_slice(),
            &[b'z'; 3000],
            b"\"}}",
        ]
        .concat(),
    );
    let doc =
        format!(r#"{{"format":2,"cursor":{{"n":"blueprint","c":1,"x":"{x}"}}}}"#).into_bytes();
    assert_ne!(for_game(Some(&caps), doc.clone()), doc);
    caps.max_message = 4096 + doc.len() as u64;
    assert_eq!(for_game(Some(&caps), doc.clone()), doc);
}
