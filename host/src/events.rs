//! What a link reports: messages from the game, log lines, outcomes of sends, problems.

use invsync_codec::{Capabilities, Error as CodecError, Method};
use invsync_stdout_transport::LogLine;
use thiserror::Error;

use crate::control::ControlError;
use crate::crossing::PullError;
use crate::error::SendError;
use crate::routing::Path;

/// A message from the game, complete and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The game's message id.
    pub id: u32,
    /// The payload, exactly as the game had it.
    pub payload: Vec<u8>,
    /// The method it travelled in.
    pub method: Method,
    /// Number of frames.
    pub count: u32,
    /// Wire bytes (all frames' data).
    pub wire_len: u64,
    /// Inline on stdout, or staged and pulled.
    pub path: Path,
}

/// How the game confirmed a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// A `recv` reply said `done`.
    Done,
    /// A `received` control message on stdout.
    Stdout,
    /// A `status` query answered `done` (asked after lost replies, while waiting for
    /// verification, or after a reconnect).
    Status,
}

/// A message the game holds, complete and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The host's message id.
    pub id: u32,
    /// The method chosen.
    pub method: Method,
    /// Frames (chunks) of the message.
    pub frames: u32,
    /// Payload bytes.
    pub payload_len: u64,
    /// Wire bytes (all frames' data).
    pub wire_len: u64,
    /// RCON commands sent for it (chunks, resends, status queries).
    pub commands: u64,
    /// Bytes of those commands: what the game had to stream in.
    pub command_bytes: u64,
    /// Chunk commands beyond the first of each chunk.
    pub chunks_resent: u64,
    /// How the outcome became known.
    pub confirmed_by: Confirmation,
}

/// Something went wrong that does not end a transfer of the host's own, or that concerns a
/// message the link cannot attribute. Reported so the host can log it; the link carries on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// A protocol line on stdout whose frame was rejected.
    #[error("stdout line {line}: frame rejected: {error} (protocol error {})", error.name())]
    StdoutFrameRejected {
        /// Line number.
        line: u64,
        /// Why.
        error: CodecError,
    },
    /// A message on stdout made no progress and was dropped.
    #[error("stdout: {0}")]
    StdoutMessageExpired(CodecError),
    /// A stdout line over the length limit, discarded.
    #[error("stdout line {line} is longer than {max} bytes and was discarded{}", if *protocol { " (it was a protocol line)" } else { "" })]
    LineTooLong {
        /// Line number.
        line: u64,
        /// The limit.
        max: usize,
        /// It started with the protocol marker.
        protocol: bool,
    },
    /// A message with a control `type` but invalid fields.
    #[error("message {id} from the game: {error}")]
    BadControlMessage {
        /// The game's message id.
        id: u32,
        /// What is wrong.
        error: ControlError,
    },
    /// A `received` report about a message this link is not sending.
    #[error(
        "the game reported on message {id}, which this link is not sending (a report of an earlier run, or a late duplicate)"
    )]
    UnknownReport {
        /// The message id in the report.
        id: u32,
    },
    /// The game's capabilities could not be read; the link assumes what PROTOCOL.md 4 says.
    #[error(
        "the game's capabilities could not be read after {attempts} attempts (last: {last}); assuming raw frames of at most 4000 bytes"
    )]
    CapsUnavailable {
        /// Queries sent.
        attempts: u32,
        /// The last problem.
        last: String,
    },
    /// A staged message arrived but its `ack` was not confirmed.
    #[error(
        "staged message {id} arrived, but its ack was not confirmed ({last}); the game frees it when it expires"
    )]
    AckUnconfirmed {
        /// The game's message id.
        id: u32,
        /// The last answer or failure.
        last: String,
    },
}

/// Everything a [`crate::LinkCore`] reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// An application message from the game.
    Received(ReceivedMessage),
    /// An ordinary stdout line (the server log, chat included).
    Log(LogLine),
    /// A message sent with [`crate::LinkCore::send`] is in the game, verified.
    Delivered(Delivered),
    /// A message sent with [`crate::LinkCore::send`] will not arrive.
    SendFailed(SendError),
    /// A staged message could not be pulled.
    ReceiveFailed(PullError),
    /// The game declared (new) capabilities; later messages are encoded for them.
    CapsChanged(Capabilities),
    /// See [`Problem`].
    Problem(Problem),
}
