//! A game server's stdout, sans I/O: lines in, log lines and protocol messages out.
//!
//! * A **protocol line** is one that *starts* with the form feed marker followed by `IS`
//!   (PROTOCOL.md 5.1); the rest of the line is a frame and goes to the codec's [`Reassembler`].
//!   A marker anywhere else (`[CHAT] name: \fIS1 ...`: chat cannot start a line) leaves the line
//!   an ordinary one, and so does a form feed followed by something else: other programs use the
//!   same marker for their own lines (Clusterio's `\f$ipc:...`), which the host must still see.
//! * Every other line is a [`LogLine`], handed over as text: invalid UTF-8 is replaced by U+FFFD
//!   (`lossy` says so). Hosts show or parse the server log as text; a byte-exact copy of log
//!   lines has no use, while frames, which must be byte-exact, never go through this conversion.
//! * Over-long lines (default limit 1 MiB, PROTOCOL.md 5.1) are discarded to their end and
//!   reported once; the reassembler's own `max_frame` (3999 on stdout) rejects long frames
//!   before buffering them.
//! * A final line without `\n` is processed like any other line (see [`crate::line_splitter`]).
//!
//! Time: the reassembler ages messages in caller-supplied units; pass game ticks if known, or
//! any monotonic count (the tokio adapter passes wall time in ticks, `invsync_codec::ticks_in`).

use invsync_codec::{Error as CodecError, Message, Outcome, Reassembler, ReassemblerConfig};

use crate::line_splitter::{LineEvent, LineSplitter};

/// The marker that starts a protocol line: form feed, which chat cannot produce.
pub const MARKER: u8 = 0x0c;

/// Default maximum stdout line length (PROTOCOL.md 5.1).
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Settings of a [`StdoutReader`].
#[derive(Debug, Clone)]
pub struct StdoutReaderConfig {
    /// Longest line kept, in bytes without its terminator. Default 1 MiB.
    pub max_line: usize,
    /// The reassembler for frames on stdout. Default: the codec's defaults with
    /// `max_frame` = 3999 (PROTOCOL.md section 4, stdout).
    pub reassembler: ReassemblerConfig,
}

impl Default for StdoutReaderConfig {
    fn default() -> Self {
        StdoutReaderConfig {
            max_line: DEFAULT_MAX_LINE,
            reassembler: ReassemblerConfig {
                max_frame: invsync_codec::DEFAULT_MAX_FRAME_STDOUT,
                ..ReassemblerConfig::default()
            },
        }
    }
}

/// An ordinary (non-protocol) stdout line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 1-based line number.
    pub number: u64,
    /// The text; invalid UTF-8 replaced by U+FFFD.
    pub text: String,
    /// True if bytes were replaced.
    pub lossy: bool,
    /// False for a final line the stream ended without a newline.
    pub terminated: bool,
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdoutEvent {
    /// An ordinary log line.
    Log(LogLine),
    /// A complete, verified message.
    Message {
        /// Line of its last frame.
        line: u64,
        /// The message.
        message: Message,
    },
    /// A frame was stored; the message is not complete yet (for progress display).
    Progress {
        /// Line of the frame.
        line: u64,
        /// Message id.
        id: u32,
        /// Chunks held.
        have: u32,
        /// Chunks in the message.
        count: u32,
    },
    /// An exact duplicate or a late frame of a completed message, ignored.
    Duplicate {
        /// Line of the frame.
        line: u64,
        /// Message id.
        id: u32,
        /// Chunk number.
        index: u32,
    },
    /// A protocol line whose frame was rejected.
    FrameRejected {
        /// Line of the frame.
        line: u64,
        /// Why (named as in PROTOCOL.md 3.1).
        error: CodecError,
    },
    /// A message in progress was dropped for lack of progress (`Expired`).
    Expired(CodecError),
    /// A line over the limit, discarded.
    LineTooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        max: usize,
        /// True if it started with the protocol marker.
        protocol: bool,
    },
}

/// Splits stdout into lines and feeds protocol lines to a [`Reassembler`].
#[derive(Debug)]
pub struct StdoutReader {
    splitter: LineSplitter,
    reassembler: Reassembler,
}

impl StdoutReader {
    /// A reader with these settings.
    pub fn new(config: StdoutReaderConfig) -> Self {
        StdoutReader {
            splitter: LineSplitter::new(config.max_line),
            reassembler: Reassembler::new(config.reassembler),
        }
    }

    /// Processes received bytes at time `now`, appending what was found to `events`.
    pub fn push(&mut self, bytes: &[u8], now: u64, events: &mut Vec<StdoutEvent>) {
        let reassembler = &mut self.reassembler;
        self.splitter
            .push(bytes, |event| classify(reassembler, event, now, events));
    }

    /// Ends the stream: processes a final line without newline.
    pub fn finish(&mut self, now: u64, events: &mut Vec<StdoutEvent>) {
        let reassembler = &mut self.reassembler;
        self.splitter
            .finish(|event| classify(reassembler, event, now, events));
    }

    /// Drops messages that made no progress for the configured age at `now`.
    pub fn expire(&mut self, now: u64, events: &mut Vec<StdoutEvent>) {
        events.extend(
            self.reassembler
                .expire(now)
                .into_iter()
                .map(StdoutEvent::Expired),
        );
    }
}

fn classify(
    reassembler: &mut Reassembler,
    event: LineEvent<'_>,
    now: u64,
    events: &mut Vec<StdoutEvent>,
) {
    match event {
        LineEvent::TooLong {
            number,
            max,
            first_byte,
        } => events.push(StdoutEvent::LineTooLong {
            line: number,
            max,
            protocol: first_byte == MARKER,
        }),
        LineEvent::Line {
            number,
            bytes,
            terminated,
        } => match bytes.split_first() {
            Some((&MARKER, frame)) if frame.starts_with(b"IS") => {
                let result = reassembler.push(frame, now);
                events.extend(
                    reassembler
                        .take_expired()
                        .into_iter()
                        .map(StdoutEvent::Expired),
                );
                events.push(match result {
                    Ok(Outcome::Complete(message)) => StdoutEvent::Message {
                        line: number,
                        message,
                    },
                    Ok(Outcome::Stored {
                        id, have, count, ..
                    }) => StdoutEvent::Progress {
                        line: number,
                        id,
                        have,
                        count,
                    },
                    Ok(Outcome::Duplicate { id, index }) => StdoutEvent::Duplicate {
                        line: number,
                        id,
                        index,
                    },
                    Err(error) => StdoutEvent::FrameRejected {
                        line: number,
                        error,
                    },
                });
            }
            _ => {
                let text = String::from_utf8_lossy(bytes);
                let lossy = matches!(text, std::borrow::Cow::Owned(_));
                events.push(StdoutEvent::Log(LogLine {
                    number,
                    text: text.into_owned(),
                    lossy,
                    terminated,
                }));
            }
        },
    }
}
