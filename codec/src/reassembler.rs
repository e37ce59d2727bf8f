//! The receiving side: frames in any order -> verified payloads (PROTOCOL.md section 3).
//!
//! The reassembler is a sans-I/O state machine. It never reads a clock: the caller passes `now`
//! (game ticks, or any monotonic count it likes) with every frame, and ages are measured in those
//! units or in frames pushed. Every buffer it holds is bounded by its [`ReassemblerConfig`]:
//! at most `max_messages` messages in progress, whose declared wire lengths add up to at most
//! `max_buffered` bytes (space is reserved when a message's first frame arrives, so a message
//! never runs out of room half way), and a fixed-size memory of recently completed messages that
//! turns late duplicates into no-ops.

use std::collections::{BTreeMap, VecDeque};

use crate::caps::{Capabilities, DEFAULT_MAX_CHUNKS, DEFAULT_MAX_FRAME_PULL, DEFAULT_MAX_MESSAGE};
use crate::error::Error;
use crate::frame::{Frame, Header};
use crate::method::Method;
use crate::wire;

/// Limits and policy of a [`Reassembler`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassemblerConfig {
    /// Longest frame accepted.
    pub max_frame: usize,
    /// Methods decoded, in order of preference (what [`ReassemblerConfig::capabilities`] declares).
    pub decode: Vec<Method>,
    /// Largest `plen` and `wlen` accepted.
    pub max_message: u64,
    /// Largest chunk count accepted.
    pub max_chunks: u32,
    /// Messages of two or more chunks in progress at once.
    pub max_messages: usize,
    /// Sum of the wire lengths of the messages in progress.
    pub max_buffered: u64,
    /// Drop a message that made no progress for this many `now` units.
    pub max_age_ticks: Option<u64>,
    /// Drop a message that made no progress while this many frames were pushed.
    pub max_age_frames: Option<u64>,
    /// How many completed messages to remember, to ignore their late duplicates (at least 64).
    pub remember_completed: usize,
}

impl Default for ReassemblerConfig {
    fn default() -> Self {
        ReassemblerConfig {
            max_frame: DEFAULT_MAX_FRAME_PULL,
            decode: Method::ALL.to_vec(),
            max_message: DEFAULT_MAX_MESSAGE,
            max_chunks: DEFAULT_MAX_CHUNKS,
            max_messages: 64,
            max_buffered: 64 * 1024 * 1024,
            max_age_ticks: Some(3600),
            max_age_frames: Some(100_000),
            remember_completed: 64,
        }
    }
}

impl ReassemblerConfig {
    /// The declaration a receiver with this configuration sends (PROTOCOL.md section 4).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            decode: self.decode.clone(),
            max_frame: self.max_frame,
            max_message: self.max_message,
            max_chunks: self.max_chunks,
            ..Capabilities::all(self.max_frame)
        }
    }
}

/// A complete, verified message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Message id.
    pub id: u32,
    /// The method it travelled in.
    pub method: Method,
    /// Number of chunks.
    pub count: u32,
    /// Length of its wire text.
    pub wire_len: u64,
    /// The payload, exactly as the sender had it.
    pub payload: Vec<u8>,
}

/// What happened to a pushed frame that was not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The chunk is stored; the message still misses `count - have` chunks.
    Stored {
        /// Message id.
        id: u32,
        /// This chunk's number.
        index: u32,
        /// Chunks held now.
        have: u32,
        /// Chunks in the message.
        count: u32,
    },
    /// An exact duplicate of a chunk held, or a frame of a message completed recently: ignored.
    Duplicate {
        /// Message id.
        id: u32,
        /// Chunk number.
        index: u32,
    },
    /// The message is complete and verified; it is delivered exactly once.
    Complete(Message),
}

/// Where a message in progress stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Message id.
    pub id: u32,
    /// Its method.
    pub method: Method,
    /// Chunks held.
    pub have: u32,
    /// Chunks in the message.
    pub count: u32,
    /// Wire bytes held.
    pub received_bytes: u64,
    /// Wire bytes in the message.
    pub wire_len: u64,
}

#[derive(Debug)]
struct Partial {
    /// The first frame's header (index is that frame's; the other fields are the message's).
    header: Header,
    chunks: BTreeMap<u32, Box<[u8]>>,
    received_bytes: u64,
    last_progress_tick: u64,
    last_progress_frame: u64,
}

/// Reassembles messages from frames of many messages, interleaved, in any order.
#[derive(Debug)]
pub struct Reassembler {
    config: ReassemblerConfig,
    partial: BTreeMap<u32, Partial>,
    reserved: u64,
    completed: VecDeque<(u32, u32)>,
    frames_pushed: u64,
    expired: Vec<Error>,
}

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(config: ReassemblerConfig) -> Self {
        Reassembler {
            config,
            partial: BTreeMap::new(),
            reserved: 0,
            completed: VecDeque::new(),
            frames_pushed: 0,
            expired: Vec::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &ReassemblerConfig {
        &self.config
    }

    /// Takes one frame line (no marker, no line end) received at time `now`.
    ///
    /// Messages that reached their age limit are dropped first; collect them with
    /// [`Reassembler::take_expired`]. On error the frame is dropped; for errors found when the
    /// last chunk arrives (checksum, decoding) the whole message is dropped.
    pub fn push(&mut self, line: &[u8], now: u64) -> Result<Outcome, Error> {
        self.frames_pushed += 1;
        let expired = self.expire(now);
        self.expired.extend(expired);
        if line.len() > self.config.max_frame {
            return Err(Error::FrameTooLong {
                len: line.len(),
                max: self.config.max_frame,
            });
        }
        let frame = Frame::parse(line)?;
        self.check_policy(&frame.header)?;
        self.accept(frame, now)
    }

    fn check_policy(&self, h: &Header) -> Result<(), Error> {
        let c = &self.config;
        if !c.decode.contains(&h.method) {
            return Err(Error::MethodNotAccepted {
                at: h.at(),
                method: h.method,
            });
        }
        for (what, len) in [("payload", h.payload_len), ("wire", h.wire_len)] {
            if len > c.max_message {
                return Err(Error::MessageTooLarge {
                    id: h.id,
                    what,
                    len,
                    max: c.max_message,
                });
            }
        }
        wire::check_method_bound(h.id, h.method, h.payload_len)?;
        if h.count > c.max_chunks {
            return Err(Error::TooManyChunks {
                id: h.id,
                count: h.count.into(),
                max: c.max_chunks.into(),
            });
        }
        if u64::from(h.count) > h.wire_len.max(1) {
            return Err(Error::TooManyChunks {
                id: h.id,
                count: h.count.into(),
                max: h.wire_len.max(1),
            });
        }
        Ok(())
    }

    fn accept(&mut self, frame: Frame<'_>, now: u64) -> Result<Outcome, Error> {
        let h = frame.header;
        if self.completed.contains(&(h.id, h.message_crc)) {
            return Ok(Outcome::Duplicate {
                id: h.id,
                index: h.index,
            });
        }
        if h.count == 1 {
            // Never held: decode at once (the in-progress limits do not apply).
            if let Some(p) = self.partial.get(&h.id) {
                return Err(Error::ConflictingFrame {
                    at: h.at(),
                    field: differing_field(&p.header, &h),
                });
            }
            return self.finish(h, &[frame.data]).map(Outcome::Complete);
        }
        let (frames_pushed, max_messages, max_buffered) = (
            self.frames_pushed,
            self.config.max_messages,
            self.config.max_buffered,
        );
        let partial = match self.partial.get_mut(&h.id) {
            Some(p) => {
                if !same_message(&p.header, &h) {
                    return Err(Error::ConflictingFrame {
                        at: h.at(),
                        field: differing_field(&p.header, &h),
                    });
                }
                p
            }
            None => {
                if self.partial.len() >= max_messages {
                    return Err(Error::TooManyMessages {
                        id: h.id,
                        limit: "max_messages",
                        max: max_messages as u64,
                    });
                }
                if self.reserved + h.wire_len > max_buffered {
                    return Err(Error::TooManyMessages {
                        id: h.id,
                        limit: "max_buffered",
                        max: max_buffered,
                    });
                }
                self.reserved += h.wire_len;
                self.partial.entry(h.id).or_insert(Partial {
                    header: h,
                    chunks: BTreeMap::new(),
                    received_bytes: 0,
                    last_progress_tick: now,
                    last_progress_frame: frames_pushed,
                })
            }
        };
        if let Some(held) = partial.chunks.get(&h.index) {
            return if **held == *frame.data {
                Ok(Outcome::Duplicate {
                    id: h.id,
                    index: h.index,
                })
            } else {
                Err(Error::ConflictingFrame {
                    at: h.at(),
                    field: "data",
                })
            };
        }
        let received = partial.received_bytes + frame.data.len() as u64;
        if received > h.wire_len {
            return Err(Error::WireLengthMismatch {
                id: h.id,
                expected: h.wire_len,
                actual: received,
            });
        }
        partial.received_bytes = received;
        partial.chunks.insert(h.index, frame.data.into());
        partial.last_progress_tick = now;
        partial.last_progress_frame = frames_pushed;
        let have = partial.chunks.len() as u32;
        if have < h.count {
            return Ok(Outcome::Stored {
                id: h.id,
                index: h.index,
                have,
                count: h.count,
            });
        }
        let done = self.partial.remove(&h.id).expect("message in progress");
        self.reserved -= h.wire_len;
        let chunks: Vec<&[u8]> = done.chunks.values().map(|c| &c[..]).collect();
        self.finish(h, &chunks).map(Outcome::Complete)
    }

    /// Verifies and decodes a complete set of chunks (in index order).
    fn finish(&mut self, h: Header, chunks: &[&[u8]]) -> Result<Message, Error> {
        let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        if total != h.wire_len {
            return Err(Error::WireLengthMismatch {
                id: h.id,
                expected: h.wire_len,
                actual: total,
            });
        }
        let mut crc = crc32fast::Hasher::new();
        for c in chunks {
            crc.update(c);
        }
        let actual = crc.finalize();
        if actual != h.message_crc {
            return Err(Error::MessageChecksumMismatch {
                id: h.id,
                expected: h.message_crc,
                actual,
            });
        }
        let payload = match chunks {
            // Every chunk was checked to be text, so the whole is text too.
            _ if h.method == Method::Raw => chunks.concat(),
            [one] => wire::decode(h.id, h.method, one, h.payload_len)?,
            _ => wire::decode_chunks(h.id, h.method, chunks, h.payload_len)?,
        };
        if self.completed.len() >= self.config.remember_completed.max(64) {
            self.completed.pop_front();
        }
        self.completed.push_back((h.id, h.message_crc));
        Ok(Message {
            id: h.id,
            method: h.method,
            count: h.count,
            wire_len: h.wire_len,
            payload,
        })
    }

    /// Drops the messages that made no progress for the configured age, returning an
    /// [`Error::Expired`] for each (by id).
    pub fn expire(&mut self, now: u64) -> Vec<Error> {
        let (ticks, frames) = (self.config.max_age_ticks, self.config.max_age_frames);
        let frames_pushed = self.frames_pushed;
        let stale: Vec<u32> = self
            .partial
            .iter()
            .filter(|(_, p)| {
                ticks.is_some_and(|t| now.saturating_sub(p.last_progress_tick) >= t)
                    || frames
                        .is_some_and(|f| frames_pushed.saturating_sub(p.last_progress_frame) >= f)
            })
            .map(|(id, _)| *id)
            .collect();
        stale
            .into_iter()
            .map(|id| {
                let missing = self.missing(id).unwrap_or_default();
                let p = self.partial.remove(&id).expect("stale message");
                self.reserved -= p.header.wire_len;
                Error::Expired {
                    id,
                    count: p.header.count,
                    missing,
                }
            })
            .collect()
    }

    /// Messages that expired during [`Reassembler::push`] since the last call.
    pub fn take_expired(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.expired)
    }

    /// The chunk numbers message `id` still misses, or `None` if it is not in progress.
    pub fn missing(&self, id: u32) -> Option<Vec<u32>> {
        let p = self.partial.get(&id)?;
        Some(
            (1..=p.header.count)
                .filter(|i| !p.chunks.contains_key(i))
                .collect(),
        )
    }

    /// Every message in progress, by id.
    pub fn progress(&self) -> Vec<Progress> {
        self.partial
            .iter()
            .map(|(&id, p)| Progress {
                id,
                method: p.header.method,
                have: p.chunks.len() as u32,
                count: p.header.count,
                received_bytes: p.received_bytes,
                wire_len: p.header.wire_len,
            })
            .collect()
    }

    /// Wire bytes reserved by the messages in progress.
    pub fn buffered_bytes(&self) -> u64 {
        self.reserved
    }

    /// Drops message `id` if it is in progress. Returns whether it was.
    pub fn forget(&mut self, id: u32) -> bool {
        match self.partial.remove(&id) {
            Some(p) => {
                self.reserved -= p.header.wire_len;
                true
            }
            None => false,
        }
    }

    /// Forgets everything, e.g. when the sender restarted and may reuse message ids.
    pub fn reset(&mut self) {
        self.partial.clear();
        self.completed.clear();
        self.reserved = 0;
    }
}

fn same_message(a: &Header, b: &Header) -> bool {
    differing_field(a, b).is_empty()
}

/// The first message-level field in which two headers of the same id differ ("" if none).
fn differing_field(a: &Header, b: &Header) -> &'static str {
    if a.count != b.count {
        "count"
    } else if a.method != b.method {
        "method"
    } else if a.payload_len != b.payload_len {
        "plen"
    } else if a.wire_len != b.wire_len {
        "wlen"
    } else if a.message_crc != b.message_crc {
        "mcrc"
    } else {
        ""
    }
}
