//! Game -> host transport of invsync over the game server's stdout (PROTOCOL.md section 5.1).
//!
//! The game prints protocol lines, `"\f" frame "\n"`, among its ordinary log and chat lines.
//! This crate splits the stream into bounded lines ([`LineSplitter`]), recognises protocol
//! lines only by the marker at the first byte and feeds their frames to the codec's
//! `Reassembler` ([`StdoutReader`], sans I/O), and offers a thin tokio adapter with
//! backpressure over any `AsyncRead`, such as a child process's stdout ([`StdoutStream`]).
//!
//! ```
//! use invsync_stdout_transport::{StdoutEvent, StdoutReader, StdoutReaderConfig};
//!
//! let message = invsync_codec::encode(7, b"hello", &invsync_codec::EncodeOptions::default()).unwrap();
//! let mut stdout = Vec::new();
//! stdout.extend_from_slice(b"2024-01-01 12:00:00 [CHAT] eve: \x0cIS1 forged\n");
//! for frame in &message.frames {
//!     stdout.extend_from_slice(format!("\x0c{frame}\r\n").as_bytes());
//! }
//! let mut reader = StdoutReader::new(StdoutReaderConfig::default());
//! let mut events = Vec::new();
//! reader.push(&stdout, 0, &mut events);
//! assert!(matches!(&events[0], StdoutEvent::Log(line) if line.text.contains("[CHAT]")));
//! assert!(matches!(&events[1], StdoutEvent::Message { message, .. } if message.payload == b"hello"));
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod line_splitter;
mod stdout_reader;
mod stdout_stream;

pub use line_splitter::{LineEvent, LineSplitter};
pub use stdout_reader::{
    DEFAULT_MAX_LINE, LogLine, MARKER, StdoutEvent, StdoutReader, StdoutReaderConfig,
};
pub use stdout_stream::{StdoutStream, StdoutStreamConfig};
