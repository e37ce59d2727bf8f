//! Any bytes as a stored record of the sync store: a player's head (`decode_head`, its checksum
//! repaired first so that the JSON and the invariants behind it are reached) or a snapshot blob
//! (`decode_blob`, checked against a history entry that agrees with its header, so the LZ4
//! decoder and the checksum of the data are reached). Decoded or refused, never a panic or an
//! allocation beyond the limit; what decodes encodes to a record that decodes to the same.
#![no_main]
use invsync_sync::{Cause, SnapshotMeta, decode_blob, decode_head, encode_blob, encode_head};
use libfuzzer_sys::fuzz_target;

const MAX_BYTES: usize = 1 << 20;

fn meta(size: u64, checksum: u32) -> SnapshotMeta {
    SnapshotMeta {
        id: 1,
        generation: 1,
        epoch: 1,
        server: "s".into(),
        cause: Cause::Upload,
        time: 0,
        size,
        checksum,
        pinned: false,
        reason: None,
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, bytes)) = input.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let mut head = bytes.to_vec();
        if head.len() >= 12 && head.starts_with(b"h1:") && mode % 4 == 0 {
            let crc = crc32fast::hash(&head[12..]);
            head[3..11].copy_from_slice(format!("{crc:08x}").as_bytes());
        }
        // The player the record names, when it names one, so the invariants are checked too.
        let player = serde_json::from_slice::<serde_json::Value>(head.get(12..).unwrap_or(&[]))
            .ok()
            .and_then(|v| v.get("player")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "p".into());
        if let Ok(h) = decode_head(&player, &head) {
            let again = encode_head(&h);
            assert_eq!(decode_head(&player, &again), Ok(h));
        }
    } else {
        let declared = bytes.get(4..12).map(|h| {
            let size = u32::from_le_bytes(h[..4].try_into().unwrap());
            let crc = u32::from_le_bytes(h[4..].try_into().unwrap());
            (u64::from(size), crc)
        });
        let (size, crc) = declared.unwrap_or((0, 0));
        if let Ok(json) = decode_blob("p", &meta(size, crc), bytes, MAX_BYTES) {
            assert_eq!(json.len() as u64, size);
            assert_eq!(crc32fast::hash(&json), crc);
        }
        // The bytes as data: a blob of them decodes to them.
        let blob = encode_blob(bytes);
        let m = meta(bytes.len() as u64, crc32fast::hash(bytes));
        assert_eq!(decode_blob("p", &m, &blob, MAX_BYTES).as_deref(), Ok(bytes));
        if !bytes.is_empty() {
            let short = meta(bytes.len() as u64, crc32fast::hash(bytes));
            assert!(decode_blob("p", &short, &blob, bytes.len() - 1).is_err());
        }
    }
});
