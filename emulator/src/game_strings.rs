//! The game's string formats: `helpers.encode_string` / `decode_string` and the blueprint exchange
//! strings of `export_stack` / `import_stack`.
//!
//! * `encode_string`: base64 (standard alphabet, padded) of a zlib stream (RFC 1950, with header).
//! * Exchange strings: the version byte `0` followed by base64 of a zlib stream of the item's JSON,
//!   e.g. `{"blueprint":{"item":"blueprint",...}}` (the wiki's "Blueprint string format" page).
//!
//! Inflation is bounded ([`MAX_INFLATED`]) so a small hostile string cannot make us allocate gigabytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::items::Prototypes;

/// Largest decompressed size accepted by `decode_string` and `import_stack`.
pub(crate) const MAX_INFLATED: usize = 256 * 1024 * 1024;

/// The game's blueprint-string version byte.
pub(crate) const EXCHANGE_VERSION: char = '0';

/// Map-version number written into exported items (2.0.x encoded as the game does: 4 x 16 bits).
#[allow(clippy::identity_op)]
pub(crate) const MAP_VERSION: u64 = (2 << 48) | (0 << 32) | (28 << 16);

/// Top-level keys of an exchange string and the item type each belongs to.
pub(crate) const EXCHANGE_KEYS: [(&str, &str); 4] = [
    ("blueprint", "blueprint"),
    ("blueprint_book", "blueprint-book"),
    ("deconstruction_planner", "deconstruction-item"),
    ("upgrade_planner", "upgrade-item"),
];

/// `helpers.encode_string`.
pub(crate) fn encode_string(data: &[u8]) -> String {
    STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(data, 9))
}

/// `helpers.decode_string`: `None` on any malformed input.
pub fn decode_string(text: &[u8]) -> Option<Vec<u8>> {
    let raw = STANDARD.decode(text).ok()?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&raw, MAX_INFLATED).ok()
}

/// Outcome of [`import_exchange_string`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Imported {
    /// Item name to put into the stack.
    pub item: String,
    /// The object under the top-level key.
    pub data: serde_json::Value,
    /// Some parts were invalid and skipped (the game's `-1`, "succeeded with errors").
    pub with_errors: bool,
}

/// Why an exchange string was refused (the game's `1`, "import failed").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("the string does not start with the version byte 0")]
    Version,
    #[error("the string is not valid base64")]
    Base64,
    #[error("the data is not a valid zlib stream (or inflates past the limit)")]
    Inflate,
    #[error("the data is not a JSON object")]
    Json,
    #[error("the JSON has no single known top-level key (blueprint, blueprint_book, ...)")]
    Key,
    #[error("the item named in the string ({0}) is not an item of the right type")]
    Item(String),
}

/// Key of the exchange JSON for an item type, if the type is exportable.
pub(crate) fn exchange_key(item_kind: &str) -> Option<&'static str> {
    EXCHANGE_KEYS
        .iter()
        .find(|(_, k)| *k == item_kind)
        .map(|(key, _)| *key)
}

/// Build the exchange string for an exportable item with the given contents.
pub(crate) fn export_exchange_string(
    item_name: &str,
    item_kind: &str,
    data: Option<&serde_json::Value>,
) -> Option<String> {
    let key = exchange_key(item_kind)?;
    let mut inner = match data {
        Some(serde_json::Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    inner.insert(
        "item".into(),
        serde_json::Value::String(item_name.to_string()),
    );
    inner
        .entry("version")
        .or_insert(serde_json::Value::from(MAP_VERSION));
    let mut top = serde_json::Map::new();
    top.insert(key.to_string(), serde_json::Value::Object(inner));
    let json = crate::lua_json::to_sorted_json(&serde_json::Value::Object(top));
    let z = miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 9);
    Some(format!("{EXCHANGE_VERSION}{}", STANDARD.encode(z)))
}

/// Validate and decode an exchange string.
pub(crate) fn import_exchange_string(
    protos: &Prototypes,
    text: &[u8],
) -> Result<Imported, ImportError> {
    let Some((&b'0', rest)) = text.split_first() else {
        return Err(ImportError::Version);
    };
    let raw = STANDARD.decode(rest).map_err(|_| ImportError::Base64)?;
    let json = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&raw, MAX_INFLATED)
        .map_err(|_| ImportError::Inflate)?;
    let value: serde_json::Value = serde_json::from_slice(&json).map_err(|_| ImportError::Json)?;
    let serde_json::Value::Object(top) = value else {
        return Err(ImportError::Json);
    };
    if top.len() != 1 {
        return Err(ImportError::Key);
    }
    let (key, inner) = top.into_iter().next().ok_or(ImportError::Key)?;
    let Some((_, kind)) = EXCHANGE_KEYS.iter().find(|(k, _)| *k == key) else {
        return Err(ImportError::Key);
    };
    let serde_json::Value::Object(mut inner) = inner else {
        return Err(ImportError::Json);
    };
    let item = match inner.get("item") {
        Some(serde_json::Value::String(s)) => s.clone(),
        None => default_item(kind).to_string(),
        Some(_) => return Err(ImportError::Item("<not a string>".into())),
    };
    if protos.item(&item).is_none_or(|p| p.kind != *kind) {
        return Err(ImportError::Item(item));
    }
    let mut with_errors = false;
    if key == "blueprint_book"
        && let Some(list) = inner.get_mut("blueprints")
    {
        match list {
            serde_json::Value::Array(entries) => {
                let before = entries.len();
                entries.retain(|e| valid_book_entry(protos, e));
                with_errors = entries.len() != before;
            }
            _ => {
                inner.remove("blueprints");
                with_errors = true;
            }
        }
    }
    inner.remove("item");
    Ok(Imported {
        item,
        data: serde_json::Value::Object(inner),
        with_errors,
    })
}

fn default_item(kind: &str) -> &'static str {
    match kind {
        "blueprint" => "blueprint",
        "blueprint-book" => "blueprint-book",
        "deconstruction-item" => "deconstruction-planner",
        _ => "upgrade-planner",
    }
}

fn valid_book_entry(protos: &Prototypes, entry: &serde_json::Value) -> bool {
    let serde_json::Value::Object(m) = entry else {
        return false;
    };
    if !m.get("index").is_some_and(|i| i.is_u64()) {
        return false;
    }
    EXCHANGE_KEYS.iter().any(|(key, kind)| match m.get(*key) {
        Some(serde_json::Value::Object(inner)) => match inner.get("item") {
            Some(serde_json::Value::String(item)) => {
                protos.item(item).is_some_and(|p| p.kind == *kind)
            }
            None => true,
            Some(_) => false,
        },
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_zlib_header() {
        let s = encode_string(b"hello hello hello");
        let raw = STANDARD.decode(&s).unwrap();
        assert_eq!(raw[0] & 0x0f, 8, "zlib CM=deflate header");
        assert_eq!((u16::from(raw[0]) << 8 | u16::from(raw[1])) % 31, 0);
        assert_eq!(decode_string(s.as_bytes()).unwrap(), b"hello hello hello");
        assert_eq!(decode_string(b"not base64!"), None);
        assert_eq!(decode_string(STANDARD.encode(b"plain").as_bytes()), None);
    }

    #[test]
    fn exchange_string_round_trip() {
        let p = Prototypes::default();
        let data = serde_json::json!({"label": "smelting", "entities": [{"entity_number": 1, "name": "stone-furnace"}]});
        let s = export_exchange_string("blueprint", "blueprint", Some(&data)).unwrap();
        assert!(s.starts_with('0'));
        let back = import_exchange_string(&p, s.as_bytes()).unwrap();
        assert_eq!(back.item, "blueprint");
        assert!(!back.with_errors);
        assert_eq!(back.data["label"], "smelting");
        assert_eq!(back.data["version"], MAP_VERSION);
    }

    #[test]
    fn exchange_string_errors() {
        let p = Prototypes::default();
        assert_eq!(import_exchange_string(&p, b""), Err(ImportError::Version));
        assert_eq!(
            import_exchange_string(&p, b"1abc"),
            Err(ImportError::Version)
        );
        assert_eq!(
            import_exchange_string(&p, b"0!!!"),
            Err(ImportError::Base64)
        );
        let not_zlib = format!("0{}", STANDARD.encode(b"{}"));
        assert_eq!(
            import_exchange_string(&p, not_zlib.as_bytes()),
            Err(ImportError::Inflate)
        );
        let wrong_key = format!("0{}", encode_string(br#"{"car":{}}"#));
        assert_eq!(
            import_exchange_string(&p, wrong_key.as_bytes()),
            Err(ImportError::Key)
        );
        let wrong_item = format!(
            "0{}",
            encode_string(br#"{"blueprint":{"item":"iron-plate"}}"#)
        );
        assert!(matches!(
            import_exchange_string(&p, wrong_item.as_bytes()),
            Err(ImportError::Item(_))
        ));
    }

    #[test]
    fn book_with_bad_entry_imports_with_errors() {
        let p = Prototypes::default();
        let s = format!(
            "0{}",
            encode_string(
                br#"{"blueprint_book":{"item":"blueprint-book","blueprints":[{"index":0,"blueprint":{"item":"blueprint"}},{"index":1,"car":{}}]}}"#
            )
        );
        let back = import_exchange_string(&p, s.as_bytes()).unwrap();
        assert!(back.with_errors);
        assert_eq!(back.data["blueprints"].as_array().unwrap().len(), 1);
    }
}
