//! Errors of sending a message into the game.

use crate::crossing::DeliveryError;
use invsync_codec::Error as CodecError;
use thiserror::Error;

/// Why a message sent to the game did not arrive. Every variant names the message, and
/// [`SendError::protocol_error`] gives the protocol error involved, if any.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The payload cannot be encoded for what the game declared (too large, no method...).
    #[error("message {id}: cannot be encoded for the game: {source} (protocol error {})", source.name())]
    Encode {
        /// Message id.
        id: u32,
        /// The codec's error.
        source: CodecError,
    },
    /// Delivery of the frames failed: the game rejected a frame (`err`), the replies made no
    /// sense, or nothing got through.
    #[error("message {id}: delivery failed: {source}")]
    Delivery {
        /// Message id.
        id: u32,
        /// The delivery's error.
        source: DeliveryError,
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
    #[error("message {id}: the link closed: {reason}")]
    LinkClosed {
        /// Message id (0 if none was assigned).
        id: u32,
        /// Why.
        reason: String,
    },
}

impl SendError {
    /// The message's id.
    pub fn message_id(&self) -> u32 {
        match self {
            SendError::Encode { id, .. }
            | SendError::Delivery { id, .. }
            | SendError::Failed { id, .. }
            | SendError::Unconfirmed { id, .. }
            | SendError::Lost { id, .. }
            | SendError::LinkClosed { id, .. } => *id,
        }
    }

    /// The protocol error name (PROTOCOL.md 3.1) behind the failure, if there is one.
    pub fn protocol_error(&self) -> Option<&str> {
        match self {
            SendError::Encode { source, .. } => Some(source.name()),
            SendError::Delivery {
                source: DeliveryError::Rejected { name, .. },
                ..
            } => Some(name),
            SendError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}
