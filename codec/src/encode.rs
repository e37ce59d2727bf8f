//! The sending side: payload -> frames (PROTOCOL.md sections 2.3 and 2.4).

use crate::caps::{Capabilities, DEFAULT_MAX_FRAME_RCON};
use crate::error::Error;
use crate::frame::{Header, HeaderFormat};
use crate::method::{Method, MethodChoice};
use crate::text::utf8_floor;
use crate::wire;

/// How to encode one message.
#[derive(Clone, Debug)]
pub struct EncodeOptions {
    /// One method, or `auto` (the smallest on the wire among those the receiver decodes).
    pub method: MethodChoice,
    /// What the receiver declared: the methods it decodes, its `max_frame` and limits.
    pub receiver: Capabilities,
    /// zlib level, 0..=10 (miniz; 10 is its slowest and smallest). Default 9.
    pub zlib_level: u8,
    /// Round the chunk count up to a multiple of this (the number of commands the sender keeps in
    /// flight), so the last round of a transfer uses every stream. Default 1.
    pub parallelism: u32,
    /// ... but never make chunks smaller than this many bytes of data to do so. Default 256.
    pub min_chunk_data: usize,
    /// Bytes the channel adds to every frame (e.g. the RCON command wrapper), counted by `auto`.
    pub per_frame_overhead: usize,
    /// Bytes a command streams into the receiver per tick (the game's stream model, PROTOCOL.md
    /// 8), or 0 for a channel without one. With it, a message that would leave some of the
    /// `parallelism` streams idle is cut into more chunks where that saves a tick, instead of
    /// keeping `min_chunk_data` (each method so; `auto` then still takes the fewest bytes).
    pub segment: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            method: MethodChoice::Auto,
            receiver: Capabilities::all(DEFAULT_MAX_FRAME_RCON),
            zlib_level: wire::DEFAULT_ZLIB_LEVEL,
            parallelism: 1,
            min_chunk_data: 256,
            per_frame_overhead: 0,
            segment: 0,
        }
    }
}

/// A message ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Message id.
    pub id: u32,
    /// The method used.
    pub method: Method,
    /// Payload length.
    pub payload_len: u64,
    /// Wire text length.
    pub wire_len: u64,
    /// CRC-32 of the wire text.
    pub message_crc: u32,
    /// One frame per chunk, in index order.
    pub frames: Vec<String>,
}

impl Encoded {
    /// Total length of all frames.
    pub fn frame_bytes(&self) -> usize {
        self.frames.iter().map(String::len).sum()
    }

    /// Total bytes on the channel, counting `per_frame_overhead` for every frame.
    pub fn wire_size(&self, per_frame_overhead: usize) -> usize {
        self.frame_bytes() + self.frames.len() * per_frame_overhead
    }

    /// Ticks the frames take to stream in with `opts`' stream model: each round of
    /// `parallelism` commands takes as long as its longest one. 0 without a model (`segment` 0).
    pub fn stream_ticks(&self, opts: &EncodeOptions) -> usize {
        if opts.segment == 0 {
            return 0;
        }
        self.frames
            .chunks(opts.parallelism.max(1) as usize)
            .map(|round| {
                let longest = round.iter().map(String::len).max().unwrap_or(0);
                command_ticks(longest, opts)
            })
            .sum()
    }
}

/// Ticks one command carrying a frame of `frame_len` bytes streams for (at least one).
fn command_ticks(frame_len: usize, opts: &EncodeOptions) -> usize {
    (frame_len + opts.per_frame_overhead)
        .div_ceil(opts.segment.max(1))
        .max(1)
}

/// Encodes `payload` as message `id` (>= 1).
///
/// With [`MethodChoice::Auto`] every method the receiver decodes is tried and the smallest total
/// wire size wins; ties go to the method the receiver lists first. `raw` is skipped (not an
/// error) when the payload is not frame text.
pub fn encode(id: u32, payload: &[u8], opts: &EncodeOptions) -> Result<Encoded, Error> {
    if id == 0 {
        return Err(Error::MalformedHeader {
            field: "id",
            reason: "message ids start at 1".into(),
        });
    }
    let limit = opts.receiver.max_message;
    if payload.len() as u64 > limit {
        return Err(Error::MessageTooLarge {
            id,
            what: "payload",
            len: payload.len() as u64,
            max: limit,
        });
    }
    match opts.method {
        MethodChoice::Only(m) => {
            if !opts.receiver.accepts(m) {
                return Err(Error::NoAcceptableMethod {
                    detail: format!(
                        "asked for {m}, the receiver decodes {}",
                        list(&opts.receiver.decode)
                    ),
                });
            }
            encode_with(id, payload, m, opts)
        }
        MethodChoice::Auto => {
            let mut best: Option<Encoded> = None;
            let mut last_err = None;
            for &m in &opts.receiver.decode {
                let attempt = encode_with(id, payload, m, opts);
                match attempt {
                    Ok(e) => {
                        let size = e.wire_size(opts.per_frame_overhead);
                        if best
                            .as_ref()
                            .is_none_or(|b| size < b.wire_size(opts.per_frame_overhead))
                        {
                            best = Some(e);
                        }
                    }
                    // A payload that is not text simply rules `raw` out.
                    Err(Error::RawUnrepresentable { .. }) => {}
                    Err(e) => last_err = Some(e),
                }
            }
            best.ok_or_else(|| {
                last_err.unwrap_or_else(|| Error::NoAcceptableMethod {
                    detail: format!(
                        "the payload is not text, and the receiver decodes only {}",
                        list(&opts.receiver.decode)
                    ),
                })
            })
        }
    }
}

fn list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Encodes with one method.
pub fn encode_with(
    id: u32,
    payload: &[u8],
    method: Method,
    opts: &EncodeOptions,
) -> Result<Encoded, Error> {
    if method == Method::Zlib {
        return encode_zlib(id, payload, opts);
    }
    // Before compressing: `auto` so drops `solid` for a payload over its bound at no cost.
    wire::check_method_bound(id, method, payload.len() as u64)?;
    let wire_text = wire::encode(method, payload, opts.zlib_level)?;
    frame_wire_text(id, method, payload.len() as u64, &wire_text, opts)
}

/// Cuts an already encoded wire text into frames. A `zlib` wire text is one stream, so it
/// becomes a message of one chunk ([`encode_with`] cuts a payload into one stream per chunk);
/// `solid`'s one stream is cut into aligned chunks as `lz4`'s base64 is.
pub fn frame_wire_text(
    id: u32,
    method: Method,
    payload_len: u64,
    wire_text: &str,
    opts: &EncodeOptions,
) -> Result<Encoded, Error> {
    wire::check_method_bound(id, method, payload_len)?;
    let wire = wire_text.as_bytes();
    let caps = &opts.receiver;
    if wire.len() as u64 > caps.max_message {
        return Err(Error::MessageTooLarge {
            id,
            what: "wire",
            len: wire.len() as u64,
            max: caps.max_message,
        });
    }
    let template = Header {
        id,
        index: 1,
        count: 1,
        method,
        payload_len,
        wire_len: wire.len() as u64,
        // Only sizes headers here (every CRC is 8 hex digits); `assemble` computes the real one.
        message_crc: 0,
    };
    // (`assemble` refuses a frame longer than `max_frame`, the one zlib chunk's included.)
    let ends = if method == Method::Zlib {
        vec![wire.len()]
    } else {
        split(wire, &template, opts)?
    };
    let mut start = 0;
    let chunks: Vec<&str> = ends
        .iter()
        .map(|&end| {
            let chunk = &wire_text[start..end];
            start = end;
            chunk
        })
        .collect();
    assemble(id, method, payload_len, &chunks, opts)
}

/// Frames for chunks that are already cut.
fn assemble(
    id: u32,
    method: Method,
    payload_len: u64,
    chunks: &[&str],
    opts: &EncodeOptions,
) -> Result<Encoded, Error> {
    let caps = &opts.receiver;
    let wire_len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    if wire_len > caps.max_message {
        return Err(Error::MessageTooLarge {
            id,
            what: "wire",
            len: wire_len,
            max: caps.max_message,
        });
    }
    let too_many = || Error::TooManyChunks {
        id,
        count: chunks.len() as u64,
        max: u64::from(caps.max_chunks),
    };
    let count = u32::try_from(chunks.len()).map_err(|_| too_many())?;
    if count > caps.max_chunks {
        return Err(too_many());
    }
    let mut crc = crc32fast::Hasher::new();
    for c in chunks {
        crc.update(c.as_bytes());
    }
    let message_crc = crc.finalize();
    let frames: Vec<String> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            Header {
                id,
                index: i as u32 + 1,
                count,
                method,
                payload_len,
                wire_len,
                message_crc,
            }
            .build_as(caps.header_format(), chunk)
        })
        .collect();
    if let Some(long) = frames.iter().find(|f| f.len() > caps.max_frame) {
        return Err(Error::FrameTooSmall {
            max_frame: caps.max_frame,
            needed: long.len(),
        });
    }
    Ok(Encoded {
        id,
        method,
        payload_len,
        wire_len,
        message_crc,
        frames,
    })
}

/// `zlib`: the payload cut into slices, each compressed as its own stream into one chunk
/// (PROTOCOL.md 2.3), so the receiver inflates chunk by chunk. Slices are sized to fill a frame
/// and are at most [`wire::ZLIB_MAX_SLICE`]; the first guess comes from compressing the whole
/// payload once, and a slice that compresses too big is shrunk and compressed again.
fn encode_zlib(id: u32, payload: &[u8], opts: &EncodeOptions) -> Result<Encoded, Error> {
    let level = opts.zlib_level;
    let n = payload.len();
    let max_frame = opts.receiver.max_frame;
    // The whole payload as one stream: its length sizes the first guess, and it is the chunk
    // itself when the payload fits one.
    let whole = wire::zlib_chunk(payload, level);
    let whole_len = whole.len();
    // The smallest zlib chunk, of one byte or of nothing, is 12 base64 characters.
    const SMALLEST: usize = 12;
    // Headers widen with the chunk count and the wire length, which are known only at the end:
    // assume bounds, and widen them if the result outgrows them.
    // (Small frames cut compressible data into many small streams, each costing its own zlib
    // header and checksum, so the wire can grow far past the whole payload's deflate.)
    let mut count_bound = (whole_len / 64 + 16) as u32;
    let mut wire_bound = (whole_len as u64 + 1024) * 4;
    loop {
        let widest = Header {
            id,
            index: count_bound,
            count: count_bound,
            method: Method::Zlib,
            payload_len: n as u64,
            wire_len: wire_bound,
            message_crc: 0,
        };
        let format = opts.receiver.header_format();
        let header_len = widest.frame_len_as(format, 0);
        let room = max_frame.saturating_sub(header_len) / 4 * 4;
        if room < SMALLEST {
            return Err(Error::FrameTooSmall {
                max_frame,
                needed: widest.frame_len_as(format, SMALLEST),
            });
        }
        let chunks = zlib_slices(payload, level, room, header_len, &whole, opts);
        let wire_len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let count_fits = chunks.len() as u64 <= u64::from(count_bound);
        if count_fits && wire_len <= wire_bound {
            let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
            return assemble(id, Method::Zlib, n as u64, &refs, opts);
        }
        if !count_fits {
            count_bound = count_bound.saturating_mul(10);
        }
        if wire_len > wire_bound {
            wire_bound = wire_bound.saturating_mul(10);
        }
    }
}

/// The chunks of a `zlib` message: each a stream of the next slice, at most `room` characters.
/// `header_len` bounds a frame's header, for the stream model.
fn zlib_slices(
    payload: &[u8],
    level: u8,
    room: usize,
    header_len: usize,
    whole: &str,
    opts: &EncodeOptions,
) -> Vec<String> {
    let n = payload.len();
    if n == 0 {
        return vec![whole.to_owned()];
    }
    let whole_len = whole.len();
    // How many chunks: enough for the frames, the slice limit and the commands in flight.
    let mut target = whole_len
        .div_ceil(room)
        .max(n.div_ceil(wire::ZLIB_MAX_SLICE))
        .max(1);
    let p = opts.parallelism.max(1) as usize;
    let rounded = target.div_ceil(p) * p;
    let by_min_size = whole_len / opts.min_chunk_data.max(1);
    let floored = target.max(rounded.min(by_min_size));
    let mut chunks = if opts.segment > 0 && floored < p {
        // `min_chunk_data` would leave streams idle: as many chunks as save a tick instead. A
        // slice's stream is guessed at its share of the whole one plus 16 characters of its
        // own (zlib header, checksum, a block); small slices compress worse than that, so the
        // guess is checked against the cut it gives, and all streams tried once if it missed.
        let guess = |c: usize| header_len + (whole_len.div_ceil(c) + 16).div_ceil(4) * 4;
        let fewest = fewest_ticks(target, p, |c| command_ticks(guess(c), opts));
        let cut = cut_zlib(payload, level, room, fewest, whole);
        let longest = |cs: &[(usize, String)]| cs.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
        let ticks = |cs: &[(usize, String)]| command_ticks(header_len + longest(cs), opts);
        if fewest < p && ticks(&cut) > command_ticks(guess(fewest), opts) {
            let all = cut_zlib(payload, level, room, p, whole);
            if ticks(&all) < ticks(&cut) { all } else { cut }
        } else {
            cut
        }
    } else {
        target = floored;
        cut_zlib(payload, level, room, target, whole)
    };
    // A slice that compressed worse than the average adds a chunk; aim again at a multiple of
    // the parallelism (a few times at most) so that the last round still fills every stream.
    for _ in 0..3 {
        if !target.is_multiple_of(p) || chunks.len().is_multiple_of(p) {
            break;
        }
        target = chunks.len().div_ceil(p) * p;
        chunks = cut_zlib(payload, level, room, target, whole);
    }
    if p > 1 {
        // Frames in flight stream side by side and the longest one finishes last.
        for _ in 0..2 {
            match rebalance(payload, level, room, &chunks) {
                Some(better) => chunks = better,
                None => break,
            }
        }
    }
    chunks.into_iter().map(|(_, c)| c).collect()
}

/// Cuts the payload again into as many slices, so that each compresses to about the same
/// length: the payload is assumed as dense inside each old slice as that slice was (linear
/// interpolation of the compressed length). `None` unless the longest chunk got shorter and
/// every chunk still fits `room` and the slice limit.
fn rebalance(
    payload: &[u8],
    level: u8,
    room: usize,
    chunks: &[(usize, String)],
) -> Option<Vec<(usize, String)>> {
    let count = chunks.len();
    if count < 2 {
        return None;
    }
    let total: usize = chunks.iter().map(|(_, c)| c.len()).sum();
    let longest = chunks.iter().map(|(_, c)| c.len()).max()?;
    // Payload offsets where the cumulative compressed length reaches k * total / count.
    let mut cuts = Vec::with_capacity(count + 1);
    cuts.push(0usize);
    let (mut start, mut done) = (0usize, 0usize);
    let mut old = chunks.iter();
    let mut cur = old.next()?;
    for k in 1..count {
        let want = total * k / count;
        while done + cur.1.len() < want {
            done += cur.1.len();
            start += cur.0;
            cur = old.next()?;
        }
        let within = (want - done) as f64 / cur.1.len() as f64;
        let at = start + (within * cur.0 as f64) as usize;
        let prev = *cuts.last()?;
        if prev >= payload.len() {
            return None;
        }
        cuts.push(at.clamp(prev + 1, payload.len()));
    }
    cuts.push(payload.len());
    let mut out = Vec::with_capacity(count);
    for w in cuts.windows(2) {
        let len = w[1].checked_sub(w[0]).filter(|&l| l > 0)?;
        if len > wire::ZLIB_MAX_SLICE {
            return None;
        }
        let chunk = wire::zlib_chunk(&payload[w[0]..w[1]], level);
        if chunk.len() > room {
            return None;
        }
        out.push((len, chunk));
    }
    let new_longest = out.iter().map(|(_, c)| c.len()).max()?;
    (new_longest < longest).then_some(out)
}

/// Cuts `payload` into about `target` slices of balanced size, each compressed into at most
/// `room` characters. `whole` is the whole payload's stream, reused when it is the one slice.
fn cut_zlib(
    payload: &[u8],
    level: u8,
    room: usize,
    target: usize,
    whole: &str,
) -> Vec<(usize, String)> {
    let n = payload.len();
    let mut chunks: Vec<(usize, String)> = Vec::with_capacity(target);
    let mut pos = 0;
    while pos < n {
        let left = target.saturating_sub(chunks.len()).max(1);
        let mut len = (n - pos).div_ceil(left).clamp(1, wire::ZLIB_MAX_SLICE);
        loop {
            let chunk = if len == n {
                whole.to_owned()
            } else {
                wire::zlib_chunk(&payload[pos..pos + len], level)
            };
            if chunk.len() <= room || len == 1 {
                chunks.push((len, chunk));
                pos += len;
                break;
            }
            // Too big: shrink by the overshoot, with a margin, and try again.
            let scaled = (len as f64 * room as f64 / chunk.len() as f64 * 0.95) as usize;
            len = scaled.clamp(1, len - 1);
        }
    }
    chunks
}

/// The fewest chunks from `from` to `to` whose frames stream in the fewest `ticks`.
fn fewest_ticks(from: usize, to: usize, ticks: impl Fn(usize) -> usize) -> usize {
    (from..=to.max(from))
        .min_by_key(|&c| (ticks(c), c))
        .unwrap_or(from)
}

/// Room for data in a frame of a message cut into `count` chunks (headers grow with `count`).
fn room(template: &Header, format: HeaderFormat, count: u32, max_frame: usize) -> usize {
    // `index <= count`, so a header with index = count is the longest.
    let header_len = Header {
        index: count,
        count,
        ..*template
    }
    .frame_len_as(format, 0);
    max_frame.saturating_sub(header_len)
}

/// The end offsets of the chunks of `wire`.
fn split(wire: &[u8], template: &Header, opts: &EncodeOptions) -> Result<Vec<usize>, Error> {
    let n = wire.len();
    let max_frame = opts.receiver.max_frame;
    let format = opts.receiver.header_format();
    // The smallest unit a chunk can hold: 4 base64 characters, or the widest UTF-8 character.
    let unit = 4;
    let too_small = |count: u32| Error::FrameTooSmall {
        max_frame,
        needed: Header {
            index: count,
            count,
            ..*template
        }
        .frame_len_as(format, unit),
    };
    if n == 0 {
        return if template.frame_len_as(format, 0) > max_frame {
            Err(too_small(1))
        } else {
            Ok(vec![0])
        };
    }
    let aligned_room = |count: u32| {
        let r = room(template, format, count, max_frame);
        if template.method.is_base64() {
            r / 4 * 4
        } else {
            r
        }
    };
    // Fewest chunks that fit; the header widens as the count gains digits, so iterate.
    let mut count: u32 = 1;
    loop {
        let r = aligned_room(count);
        if r < unit {
            return Err(too_small(count));
        }
        let need = u32::try_from(n.div_ceil(r)).unwrap_or(u32::MAX);
        if need <= count {
            break;
        }
        count = need;
    }
    // Round up towards a multiple of the parallelism, keeping chunks of min_chunk_data or more.
    let p = opts.parallelism.max(1);
    let rounded = count.div_ceil(p).saturating_mul(p);
    let by_min_size = u32::try_from(n / opts.min_chunk_data.max(1)).unwrap_or(u32::MAX);
    let floored = count.max(rounded.min(by_min_size));
    if opts.segment > 0 && floored < p {
        // That would leave streams idle: as many chunks as save a tick of streaming instead.
        let longest = |c: usize| {
            let data = n.div_ceil(c);
            let data = if template.method.is_base64() {
                data.div_ceil(4) * 4
            } else {
                data
            };
            let c = c as u32;
            Header {
                index: c,
                count: c,
                ..*template
            }
            .frame_len_as(format, data)
        };
        count = fewest_ticks(count as usize, p as usize, |c| {
            command_ticks(longest(c), opts)
        }) as u32;
    } else {
        count = floored;
    }
    loop {
        let r = aligned_room(count);
        if r < unit {
            return Err(too_small(count));
        }
        if let Some(ends) = split_into(wire, count, r, template.method.is_base64()) {
            return Ok(ends);
        }
        // Cutting raw text between characters wasted room; one more chunk always ends this.
        count += 1;
    }
}

/// Cuts `wire` into at most `count` nearly equal chunks of at most `room` bytes, or `None`.
fn split_into(wire: &[u8], count: u32, room: usize, base64: bool) -> Option<Vec<usize>> {
    let n = wire.len();
    let mut ends = Vec::with_capacity(count as usize);
    let mut start = 0;
    for left in (1..=count as usize).rev() {
        if start == n {
            break;
        }
        let remaining = n - start;
        let end = if left == 1 {
            n
        } else if base64 {
            // n is a multiple of 4 for padded base64, and so is every cut.
            start + remaining.div_ceil(4).div_ceil(left) * 4
        } else {
            let target = start + remaining.div_ceil(left).min(room);
            let mut end = utf8_floor(wire, target);
            if end <= start {
                // A character wider than the target: take it whole.
                end = utf8_floor(wire, start + 4).max(start + 1);
                while end < n && (wire[end] & 0xc0) == 0x80 {
                    end += 1;
                }
            }
            end
        };
        let end = end.min(n);
        if end - start > room {
            return None;
        }
        ends.push(end);
        start = end;
    }
    Some(ends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    fn opts(max_frame: usize) -> EncodeOptions {
        EncodeOptions {
            receiver: Capabilities::all(max_frame),
            ..EncodeOptions::default()
        }
    }

    #[test]
    fn frames_respect_max_frame_and_are_balanced() {
        let payload: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
        for method in Method::ALL {
            for max_frame in [80, 81, 100, 333, 1000, 8192] {
                let o = EncodeOptions {
                    method: MethodChoice::Only(method),
                    ..opts(max_frame)
                };
                let e = encode(9, &payload, &o).unwrap();
                let lens: Vec<usize> = e
                    .frames
                    .iter()
                    .map(|f| Frame::parse(f.as_bytes()).unwrap().data.len())
                    .collect();
                assert!(
                    e.frames.iter().all(|f| f.len() <= max_frame),
                    "{method} {max_frame}"
                );
                let (min, max) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                // zlib chunks are separate streams, so their sizes follow the data.
                if method != Method::Zlib {
                    assert!(max - min <= 4, "{method} {max_frame}: unbalanced {lens:?}");
                }
                assert_eq!(lens.iter().sum::<usize>() as u64, e.wire_len);
            }
        }
    }

    #[test]
    fn raw_chunks_never_split_a_character() {
        let payload = "é世🎮a".repeat(300);
        let o = EncodeOptions {
            method: MethodChoice::Only(Method::Raw),
            ..opts(90)
        };
        let e = encode(3, payload.as_bytes(), &o).unwrap();
        let mut joined = Vec::new();
        for f in &e.frames {
            let data = Frame::parse(f.as_bytes()).unwrap().data;
            assert!(std::str::from_utf8(data).is_ok());
            joined.extend_from_slice(data);
        }
        assert_eq!(joined, payload.as_bytes());
    }

    #[test]
    fn zlib_chunks_are_streams_and_their_count_follows_the_parallelism() {
        let payload = invsync_player_data::generate(invsync_player_data::SampleKind::Bp, 2);
        for p in [1, 3, 5, 16] {
            let o = EncodeOptions {
                method: MethodChoice::Only(Method::Zlib),
                parallelism: p,
                ..opts(4000)
            };
            let e = encode(1, &payload, &o).unwrap();
            assert_eq!(
                e.frames.len() % p as usize,
                0,
                "parallelism {p}: {} chunks",
                e.frames.len()
            );
            let mut joined = Vec::new();
            for f in &e.frames {
                let data = Frame::parse(f.as_bytes()).unwrap().data;
                let stream =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data)
                        .unwrap();
                let slice = miniz_oxide::inflate::decompress_to_vec_zlib(&stream).unwrap();
                assert!(slice.len() <= wire::ZLIB_MAX_SLICE);
                joined.extend(slice);
            }
            assert_eq!(joined, payload);
        }
    }

    #[test]
    fn parallelism_rounds_the_count_up() {
        let payload = vec![b'x'; 10_000];
        let raw = MethodChoice::Only(Method::Raw);
        let one = encode(
            1,
            &payload,
            &EncodeOptions {
                method: raw,
                ..opts(4000)
            },
        )
        .unwrap();
        assert_eq!(one.frames.len(), 3);
        let five = EncodeOptions {
            method: raw,
            parallelism: 5,
            ..opts(4000)
        };
        assert_eq!(encode(1, &payload, &five).unwrap().frames.len(), 5);
        // Not below min_chunk_data per chunk: 1000 bytes make at most 3 chunks of 256+.
        let small = encode(1, &payload[..1000], &five).unwrap();
        assert_eq!(small.frames.len(), 3);
    }

    #[test]
    fn auto_picks_the_smallest_and_skips_raw_for_binary() {
        let repetitive = invsync_player_data::generate(invsync_player_data::SampleKind::Rep, 1);
        let e = encode(1, &repetitive, &EncodeOptions::default()).unwrap();
        assert_eq!(e.method, Method::Zlib);
        let binary: Vec<u8> = (0..=255).collect();
        let o = EncodeOptions {
            receiver: Capabilities::from_method_list("raw,lz4", 8192).unwrap(),
            ..opts(8192)
        };
        assert_eq!(encode(1, &binary, &o).unwrap().method, Method::Lz4);
        let raw_only = EncodeOptions {
            receiver: Capabilities::from_method_list("raw", 8192).unwrap(),
            ..opts(8192)
        };
        assert_eq!(
            encode(1, &binary, &raw_only).unwrap_err().name(),
            "NoAcceptableMethod"
        );
        // Short text: raw beats base64 of anything.
        assert_eq!(
            encode(1, b"hi", &EncodeOptions::default()).unwrap().method,
            Method::Raw
        );
    }

    #[test]
    fn limits_are_enforced_by_the_sender() {
        let mut o = opts(100);
        o.receiver.max_message = 10;
        assert_eq!(
            encode(1, &[b'a'; 11], &o).unwrap_err().name(),
            "MessageTooLarge"
        );
        let mut o = opts(100);
        o.receiver.max_chunks = 2;
        o.method = MethodChoice::Only(Method::Raw);
        assert_eq!(
            encode(1, &[b'a'; 1000], &o).unwrap_err().name(),
            "TooManyChunks"
        );
        assert_eq!(
            encode(1, b"abc", &opts(30)).unwrap_err().name(),
            "FrameTooSmall"
        );
        assert_eq!(
            encode(0, b"abc", &opts(400)).unwrap_err().name(),
            "MalformedHeader"
        );
    }

    #[test]
    fn the_short_header_goes_only_to_a_receiver_that_declares_it() {
        let payload = vec![b'x'; 3000];
        let long = encode(7, &payload, &opts(1000)).unwrap();
        let short_caps = EncodeOptions {
            receiver: Capabilities {
                short_header: true,
                ..Capabilities::all(1000)
            },
            ..opts(1000)
        };
        let short = encode(7, &payload, &short_caps).unwrap();
        assert!(long.frames.iter().all(|f| f.starts_with("IS1 ")));
        assert!(short.frames.iter().all(|f| f.starts_with('~')));
        assert!(short.frame_bytes() < long.frame_bytes());
        // Either alone, or the two forms of each chunk mixed: one delivery, the rest duplicates.
        assert_eq!(long.frames.len(), short.frames.len());
        let mixed: Vec<&String> = long
            .frames
            .iter()
            .zip(&short.frames)
            .flat_map(|(l, s)| [s, l])
            .collect();
        for frames in [
            long.frames.iter().collect(),
            short.frames.iter().collect(),
            mixed,
        ] {
            let mut rx = crate::Reassembler::new(crate::ReassemblerConfig::default());
            let done: Vec<Vec<u8>> = frames
                .iter()
                .filter_map(|f| match rx.push(f.as_bytes(), 0).unwrap() {
                    crate::Outcome::Complete(m) => Some(m.payload),
                    _ => None,
                })
                .collect();
            assert_eq!(done, vec![payload.clone()]);
        }
    }

    #[test]
    fn idle_streams_take_more_chunks_only_where_that_saves_a_tick() {
        let model = |segment: usize| EncodeOptions {
            receiver: Capabilities {
                short_header: true,
                ..Capabilities::all(8192)
            },
            parallelism: 16,
            per_frame_overhead: 14,
            segment,
            ..EncodeOptions::default()
        };
        let small = invsync_player_data::generate(invsync_player_data::SampleKind::Small, 1);
        let before = encode(1, &small, &model(0)).unwrap();
        let after = encode(1, &small, &model(100)).unwrap();
        let o = model(100);
        assert!(
            after.stream_ticks(&o) < before.stream_ticks(&o),
            "{} frames stream in {} ticks, {} frames in {}",
            after.frames.len(),
            after.stream_ticks(&o),
            before.frames.len(),
            before.stream_ticks(&o)
        );
        assert!(after.frames.len() <= 16);
        // One frame fewer would take longer: no more frames than the ticks need.
        for m in Method::ALL {
            let only = EncodeOptions {
                method: MethodChoice::Only(m),
                ..model(100)
            };
            if let Ok(e) = encode(1, &small, &only)
                && e.frames.len() > 1
                && m != Method::Zlib
            {
                let fewer = EncodeOptions {
                    parallelism: e.frames.len() as u32 - 1,
                    ..only.clone()
                };
                let f = encode(1, &small, &fewer).unwrap();
                assert!(f.stream_ticks(&only) > e.stream_ticks(&only), "{m}");
            }
        }
        // A message that streams in one tick whole stays one frame.
        let tiny = br#"{"type":"uploaded","player":"p01","generation":3,"upload":7}"#;
        assert_eq!(encode(1, tiny, &model(100)).unwrap().frames.len(), 1);
    }

    #[test]
    fn empty_payload_is_one_empty_chunk() {
        for m in Method::ALL {
            let o = EncodeOptions {
                method: MethodChoice::Only(m),
                ..opts(100)
            };
            let e = encode(5, b"", &o).unwrap();
            assert_eq!(e.frames.len(), 1, "{m}");
            assert!(Frame::parse(e.frames[0].as_bytes()).is_ok());
        }
    }
}
