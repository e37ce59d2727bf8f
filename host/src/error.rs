//! Errors of sending a message into the game.
//!
//! Each error prints its cause in its own text and does not return it again from
//! `Error::source`, so a report that walks the chain (`{:#}` of `anyhow`) names it once.

use invsync_codec::Error as CodecError;
use thiserror::Error;

use crate::crossing::DeliveryError;

/// Why a message sent to the game did not arrive. Every variant names the message as `id`
/// (`None` only where the link ended before it assigned one), and
/// [`SendError::protocol_error`] gives the protocol error involved, if any.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The payload cannot be encoded for what the game declared (too large, no method...).
    #[error("message {id}: cannot be encoded for the game: {error} (protocol error {})", error.name())]
    Encode {
        /// Message id.
        id: u32,
        /// The codec's error.
        error: CodecError,
    },
    /// The task that encodes the message panicked (a bug, not a property of the payload), so
    /// the message has no frames.
    #[error("message {id}: the encoder task failed: {reason}")]
    EncoderPanicked {
        /// Message id.
        id: u32,
        /// What the task runtime reported.
        reason: String,
    },
    /// Delivery of the frames failed: the game rejected a frame (`err`), the replies made no
    /// sense, or nothing got through. The delivery's error names the message.
    #[error("{error}")]
    Delivery {
        /// Message id.
        id: u32,
        /// The delivery's error.
        error: DeliveryError,
    },
    /// The game had every chunk and then dropped the message (`received` with status `failed`,
    /// or `status` answered `failed`).
    #[error("message {id}: the game dropped it: {error} {detail}")]
    Failed {
        /// Message id.
        id: u32,
        /// Protocol error name.
        error: String,
        /// The game's text.
        detail: String,
    },
    /// Every chunk was held, but no outcome came within the status queries allowed.
    #[error(
        "message {id}: the game holds every chunk but confirmed nothing after {queries} status queries"
    )]
    Unconfirmed {
        /// Message id.
        id: u32,
        /// Status queries sent while waiting.
        queries: u32,
    },
    /// The game lost chunks it had confirmed (it restarted from a save?) more often than
    /// redeliveries allow.
    #[error("message {id}: the game lost chunks it had held, {redeliveries} times")]
    Lost {
        /// Message id.
        id: u32,
        /// Redeliveries made.
        redeliveries: u32,
    },
    /// The link closed (the RCON client stopped, or the link was dropped).
    #[error("{}the link closed: {reason}", id.map(|id| format!("message {id}: ")).unwrap_or_default())]
    LinkClosed {
        /// Message id, `None` if the link ended before it assigned one.
        id: Option<u32>,
        /// Why.
        reason: String,
    },
}

impl SendError {
    /// The message's id, `None` if the link ended before it assigned one.
    pub fn message_id(&self) -> Option<u32> {
        match self {
            SendError::Encode { id, .. }
            | SendError::EncoderPanicked { id, .. }
            | SendError::Delivery { id, .. }
            | SendError::Failed { id, .. }
            | SendError::Unconfirmed { id, .. }
            | SendError::Lost { id, .. } => Some(*id),
            SendError::LinkClosed { id, .. } => *id,
        }
    }

    /// The protocol error name (PROTOCOL.md 3.1) behind the failure, if there is one.
    pub fn protocol_error(&self) -> Option<&str> {
        match self {
            SendError::Encode { error, .. } => Some(error.name()),
            SendError::Delivery {
                error: DeliveryError::Rejected { name, .. },
                ..
            } => Some(name),
            SendError::Delivery {
                error: DeliveryError::UnreadableFrame { error, .. },
                ..
            } => Some(error.name()),
            SendError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}
