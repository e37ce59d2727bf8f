//! What the fuzz targets share: repairing checksums so that mutated input gets past them, and
//! counting which outcomes a run reached (printed when `INVSYNC_FUZZ_STATS` is set).
//!
//! A random mutation almost never leaves a valid CRC-32 behind, so a target that feeds mutated
//! frames as they are tests little beyond the checksum check. The `*_repaired` targets rewrite
//! the checksums of their input first, and so reach what lies behind them: base64, LZ4, zlib
//! and the length checks.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Byte offsets of the first `n` spaces of `line`.
fn spaces(line: &[u8], n: usize) -> Vec<usize> {
    line.iter()
        .enumerate()
        .filter(|(_, b)| **b == b' ')
        .map(|(i, _)| i)
        .take(n)
        .collect()
}

/// The fields a repair rewrites, when `line` has the shape of a frame: the `mcrc` field's range
/// (none in a one-chunk frame with the short header), the data's start and where `fcrc`'s body
/// starts. A checksum is rewritten only where its field already has its length (8 hex digits,
/// or 6 base-64 digits in the short header), so a repair never changes a line's shape.
struct Layout {
    fcrc: std::ops::Range<usize>,
    body: usize,
    mcrc: Option<std::ops::Range<usize>>,
    data: usize,
    short: bool,
}

fn layout(line: &[u8]) -> Option<Layout> {
    if line.starts_with(b"~") {
        return short_layout(line);
    }
    if !line.starts_with(b"IS1 ") {
        return None;
    }
    let s = spaces(line, 8);
    if s.len() < 8 {
        return None;
    }
    Some(Layout {
        fcrc: s[0] + 1..s[1],
        body: s[1] + 1,
        mcrc: Some(s[6] + 1..s[7]),
        data: s[7] + 1,
        short: false,
    })
}

/// [`layout`] of a line with the short header (PROTOCOL.md 2.5): `~`, fcrc, the kind letter and
/// the id; a chunk of several (upper-case kind) then its mcrc and three numbers each ended by
/// `.`; `plen.` for lz4 and zlib.
fn short_layout(line: &[u8]) -> Option<Layout> {
    let kind = *line.get(7)?;
    let several = kind.is_ascii_uppercase();
    let (mcrc, fixed_end) = if several {
        (Some(14..20), 20)
    } else {
        (None, 14)
    };
    let dots = usize::from(several) * 3 + usize::from(!matches!(kind, b'r' | b'R'));
    let data = if dots == 0 {
        fixed_end
    } else {
        let dot = line
            .iter()
            .enumerate()
            .skip(fixed_end)
            .filter(|(_, b)| **b == b'.')
            .nth(dots - 1)?
            .0;
        dot + 1
    };
    (line.len() >= data).then_some(Layout {
        fcrc: 1..7,
        body: 7,
        mcrc,
        data,
        short: true,
    })
}

fn write_crc(line: &mut [u8], at: std::ops::Range<usize>, crc: u32, short: bool) {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if short && at.len() == 6 {
        for (i, b) in line[at].iter_mut().enumerate() {
            *b = DIGITS[(u64::from(crc) >> (6 * (5 - i))) as usize & 63];
        }
    } else if !short && at.len() == 8 {
        line[at].copy_from_slice(format!("{crc:08x}").as_bytes());
    }
}

/// Rewrites `fcrc` (and, with `mcrc` given, the message checksum first) of a frame-shaped line.
pub fn repair_frame(line: &mut [u8], mcrc: Option<u32>) {
    let Some(l) = layout(line) else { return };
    if let (Some(crc), Some(at)) = (mcrc, l.mcrc.clone()) {
        write_crc(line, at, crc, l.short);
    }
    let crc = crc32fast::hash(&line[l.body..]);
    write_crc(line, l.fcrc, crc, l.short);
}

/// A frame-shaped line's data (everything after the 8th space, or after the short header).
pub fn frame_data(line: &[u8]) -> Option<&[u8]> {
    layout(line).map(|l| &line[l.data..])
}

/// Repairs a stream of frame lines: every message's `mcrc` becomes the CRC-32 of its chunks'
/// data in index order (first frame of each index wins, as in the reassembler), then every
/// `fcrc` is recomputed. Lines that do not parse as far as their header are left alone.
pub fn repair_stream(lines: &mut [Vec<u8>]) {
    // (id) -> (count, index -> data)
    let mut messages: HashMap<u32, (u32, BTreeMap<u32, Vec<u8>>)> = HashMap::new();
    for line in lines.iter() {
        if let Ok(f) = invsync_codec::Frame::parse_unverified(line) {
            let h = f.header;
            let entry = messages.entry(h.id).or_insert((h.count, BTreeMap::new()));
            entry.1.entry(h.index).or_insert_with(|| f.data.to_vec());
        }
    }
    let crcs: HashMap<u32, u32> = messages
        .into_iter()
        .map(|(id, (_, chunks))| {
            let mut crc = crc32fast::Hasher::new();
            for data in chunks.values() {
                crc.update(data);
            }
            (id, crc.finalize())
        })
        .collect();
    for line in lines.iter_mut() {
        let id = invsync_codec::Frame::parse_unverified(line)
            .ok()
            .map(|f| f.header.id);
        repair_frame(line, id.and_then(|id| crcs.get(&id).copied()));
    }
}

/// The reassembler the stream targets feed: small limits, so that they are reached.
pub fn small_reassembler() -> invsync_codec::Reassembler {
    invsync_codec::Reassembler::new(invsync_codec::ReassemblerConfig {
        max_frame: 512,
        max_message: SMALL_MAX_MESSAGE as u64,
        max_chunks: 64,
        max_messages: 4,
        max_buffered: SMALL_MAX_BUFFERED,
        max_age_ticks: Some(50),
        max_age_frames: Some(20),
        ..invsync_codec::ReassemblerConfig::default()
    })
}

/// [`small_reassembler`]'s largest message.
pub const SMALL_MAX_MESSAGE: usize = 4096;
/// [`small_reassembler`]'s bound on the bytes held.
pub const SMALL_MAX_BUFFERED: u64 = 8192;

static RUNS: AtomicU64 = AtomicU64::new(0);
static COUNTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Counts one outcome; with `INVSYNC_FUZZ_STATS` set, prints the tally every 100 000 runs.
pub fn count(outcome: &'static str) {
    *COUNTS.lock().unwrap().entry(outcome).or_default() += 1;
}

/// Marks the end of one run (for the periodic tally).
pub fn run_done() {
    let n = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_multiple_of(100_000) && std::env::var_os("INVSYNC_FUZZ_STATS").is_some() {
        eprintln!("outcomes after {n} runs: {:?}", COUNTS.lock().unwrap());
    }
}
