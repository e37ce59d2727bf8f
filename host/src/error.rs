//! Errors of sending a message into the game.
//!
//! Each error prints its cause in its own text and does not return it again from
//! `Error::source`, so a report that walks the chain (`{:#}` of `anyhow`) names it once.

use invsync_codec::Error as CodecError;
use thiserror::Error;

use crate::crossing::DeliveryFailure;

/// Why a message sent to the game did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{failure}", id.map(|id| format!("message {id}: ")).unwrap_or_default())]
pub struct SendError {
    /// The message id; `None` only when the link ended before it assigned one
    /// ([`SendFailure::LinkClosed`]).
    pub id: Option<u32>,
    /// What went wrong.
    pub failure: SendFailure,
}

impl SendError {
    /// The protocol error name (PROTOCOL.md 3.1) behind the failure, if there is one.
    pub fn protocol_error(&self) -> Option<&str> {
        match &self.failure {
            SendFailure::Encode(error) => Some(error.name()),
            SendFailure::Delivery(failure) => failure.protocol_error(),
            SendFailure::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What went wrong in a [`SendError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendFailure {
    /// The payload cannot be encoded for what the game declared (too large, no method...).
    #[error("cannot be encoded for the game: {0} (protocol error {name})", name = .0.name())]
    Encode(CodecError),
    /// The task that encodes the message panicked (a bug, not a property of the payload), so
    /// the message has no frames.
    #[error("the encoder task failed: {reason}")]
    EncoderPanicked {
        /// What the task runtime reported.
        reason: String,
    },
    /// Delivery of the frames failed: the game rejected a frame (`err`), the replies made no
    /// sense, or nothing got through.
    #[error("{0}")]
    Delivery(DeliveryFailure),
    /// The game had every chunk and then dropped the message (`received` with status `failed`,
    /// or `status` answered `failed`).
    #[error("the game dropped it: {error} {detail}")]
    Failed {
        /// Protocol error name.
        error: String,
        /// The game's text.
        detail: String,
    },
    /// Every chunk was held, but no outcome came within the status queries allowed.
    #[error("the game holds every chunk but confirmed nothing after {queries} status queries")]
    Unconfirmed {
        /// Status queries sent while waiting.
        queries: u32,
    },
    /// The game no longer held chunks it had confirmed (it dropped them on its deferred check,
    /// or restarted from a save) more often than redeliveries allow.
    #[error("the game lost chunks it had held, {redeliveries} times")]
    Lost {
        /// Redeliveries made.
        redeliveries: u32,
    },
    /// The link closed (the RCON client stopped, or the link was dropped).
    #[error("the link closed: {reason}")]
    LinkClosed {
        /// Why.
        reason: String,
    },
}
