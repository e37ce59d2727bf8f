//! The sending side: payload -> frames (PROTOCOL.md sections 2.3 and 2.4).

use crate::caps::{Capabilities, DEFAULT_MAX_FRAME_RCON};
use crate::error::Error;
use crate::frame::Header;
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
    let wire_text = wire::encode(method, payload, opts.zlib_level)?;
    frame_wire_text(id, method, payload.len() as u64, &wire_text, opts)
}

/// Cuts an already encoded wire text into frames.
pub fn frame_wire_text(
    id: u32,
    method: Method,
    payload_len: u64,
    wire_text: &str,
    opts: &EncodeOptions,
) -> Result<Encoded, Error> {
    let wire = wire_text.as_bytes();
    let wire_len = wire.len() as u64;
    let caps = &opts.receiver;
    if wire_len > caps.max_message {
        return Err(Error::MessageTooLarge {
            id,
            what: "wire",
            len: wire_len,
            max: caps.max_message,
        });
    }
    let message_crc = crc32fast::hash(wire);
    let template = Header {
        id,
        index: 1,
        count: 1,
        method,
        payload_len,
        wire_len,
        message_crc,
    };
    let ends = split(wire, &template, opts)?;
    let count = u32::try_from(ends.len()).map_err(|_| Error::TooManyChunks {
        id,
        count: ends.len() as u64,
        max: u64::from(caps.max_chunks),
    })?;
    if count > caps.max_chunks {
        return Err(Error::TooManyChunks {
            id,
            count: u64::from(count),
            max: u64::from(caps.max_chunks),
        });
    }
    let mut frames = Vec::with_capacity(ends.len());
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        let header = Header {
            index: i as u32 + 1,
            count,
            ..template
        };
        frames.push(header.build(&wire_text[start..end]));
        start = end;
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

/// Room for data in a frame of a message cut into `count` chunks (headers grow with `count`).
fn room(template: &Header, count: u32, max_frame: usize) -> usize {
    // `index <= count`, so a header with index = count is the longest.
    let header_len = Header {
        index: count,
        count,
        ..*template
    }
    .frame_len(0);
    max_frame.saturating_sub(header_len)
}

/// The end offsets of the chunks of `wire`.
fn split(wire: &[u8], template: &Header, opts: &EncodeOptions) -> Result<Vec<usize>, Error> {
    let n = wire.len();
    let max_frame = opts.receiver.max_frame;
    // The smallest unit a chunk can hold: 4 base64 characters, or the widest UTF-8 character.
    let unit = 4;
    let too_small = |count: u32| Error::FrameTooSmall {
        max_frame,
        needed: Header {
            index: count,
            count,
            ..*template
        }
        .frame_len(unit),
    };
    if n == 0 {
        return if template.frame_len(0) > max_frame {
            Err(too_small(1))
        } else {
            Ok(vec![0])
        };
    }
    let aligned_room = |count: u32| {
        let r = room(template, count, max_frame);
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
    count = count.max(rounded.min(by_min_size));
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
                assert!(max - min <= 4, "{method} {max_frame}: unbalanced {lens:?}");
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
        let repetitive = crate::sample::generate(crate::sample::SampleKind::Rep, 1);
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
