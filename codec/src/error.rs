//! Every error a sender or receiver reports, by the names of PROTOCOL.md section 3.1.

use thiserror::Error;

use crate::Method;

/// Where a frame-level problem was found, when the header got far enough to tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef {
    /// Message id.
    pub id: u32,
    /// Chunk number, 1-based.
    pub index: u32,
    /// Number of chunks of the message.
    pub count: u32,
}

impl std::fmt::Display for FrameRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message {} chunk {}/{}", self.id, self.index, self.count)
    }
}

/// An invsync protocol error. [`Error::name`] is the protocol's name for it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not start with `IS` and a version digit.
    #[error("not a frame: {reason}")]
    NotAFrame {
        /// What the text starts with instead.
        reason: String,
    },
    /// A frame of another protocol version.
    #[error("unsupported protocol version `IS{version}` (this receiver speaks IS1)")]
    UnsupportedVersion {
        /// The version digits found.
        version: String,
    },
    /// The frame is longer than the receiver's `max_frame`.
    #[error("frame of {len} bytes is longer than the maximum of {max}")]
    FrameTooLong {
        /// Length of the frame.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// A byte that is not allowed at that position.
    #[error("byte 0x{byte:02x} at offset {offset} is not allowed in the frame's {part}")]
    ForbiddenCharacter {
        /// Byte offset within the frame.
        offset: usize,
        /// The offending byte.
        byte: u8,
        /// Which part of the frame: `header`, `base64 data` or `raw data`.
        part: &'static str,
    },
    /// `raw` data that is not valid UTF-8.
    #[error("raw data is not valid UTF-8 at offset {offset}")]
    InvalidUtf8 {
        /// Byte offset within the frame.
        offset: usize,
    },
    /// A header field is missing, not canonical, or inconsistent.
    #[error("malformed header field `{field}`: {reason}")]
    MalformedHeader {
        /// The field's name in PROTOCOL.md's grammar.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `index` is 0 or greater than `count`.
    #[error("chunk index {index} is outside 1..={count} (message {id})")]
    IndexOutOfRange {
        /// Message id.
        id: u32,
        /// The chunk number found.
        index: u32,
        /// The chunk count found.
        count: u32,
    },
    /// A method name not in the specification.
    #[error("unknown method `{method}` (expected raw, lz4 or zlib)")]
    UnknownMethod {
        /// The name found (lossy UTF-8).
        method: String,
    },
    /// A known method the receiver did not declare.
    #[error("{at}: method `{method}` is not one this receiver decodes")]
    MethodNotAccepted {
        /// The frame.
        at: FrameRef,
        /// The method.
        method: Method,
    },
    /// `fcrc` does not match the frame's body.
    #[error(
        "{at}: frame checksum is {actual:08x}, header says {expected:08x} (corrupted or truncated)"
    )]
    FrameChecksumMismatch {
        /// The frame, as its (unverified) header claims.
        at: FrameRef,
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the body received.
        actual: u32,
    },
    /// `plen` or `wlen` over the limit.
    #[error("message {id}: {what} length {len} is over the limit of {max} bytes")]
    MessageTooLarge {
        /// Message id (0 when a sender has not assigned one).
        id: u32,
        /// `payload` or `wire` (against `max_message`), or `solid payload` (against the
        /// method's own bound, PROTOCOL.md 2.3).
        what: &'static str,
        /// The length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// `count` over the limit, or more chunks than wire bytes.
    #[error("message {id}: {count} chunks is over the limit of {max}")]
    TooManyChunks {
        /// Message id (0 when a sender has not assigned one).
        id: u32,
        /// Chunk count.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// Same id (and index) as held data, but different content.
    #[error("{at}: conflicts with the message in progress under that id ({field} differs)")]
    ConflictingFrame {
        /// The frame.
        at: FrameRef,
        /// The header field or `data` that differs.
        field: &'static str,
    },
    /// `max_messages` or `max_buffered` reached.
    #[error("message {id} refused: {limit} limit of {max} reached")]
    TooManyMessages {
        /// Message id of the refused frame.
        id: u32,
        /// `max_messages` or `max_buffered`.
        limit: &'static str,
        /// The limit's value.
        max: u64,
    },
    /// A base64 chunk other than the last with a length that is not a multiple of 4.
    #[error("{at}: base64 chunk of {len} characters is not a multiple of 4")]
    MisalignedChunk {
        /// The frame.
        at: FrameRef,
        /// Its data length.
        len: usize,
    },
    /// The chunks' data does not add up to `wlen`.
    #[error("message {id}: chunks hold {actual} bytes of wire text, header says {expected}")]
    WireLengthMismatch {
        /// Message id.
        id: u32,
        /// `wlen` from the header.
        expected: u64,
        /// What the chunks add up to (so far).
        actual: u64,
    },
    /// `mcrc` does not match the reassembled wire text.
    #[error("message {id}: message checksum is {actual:08x}, header says {expected:08x}")]
    MessageChecksumMismatch {
        /// Message id.
        id: u32,
        /// The checksum in the headers.
        expected: u32,
        /// The checksum of the reassembled wire text.
        actual: u32,
    },
    /// The wire text is not canonical padded base64.
    #[error("message {id}: bad base64: {detail}")]
    BadBase64 {
        /// Message id.
        id: u32,
        /// What the decoder found.
        detail: String,
    },
    /// The LZ4 block or zlib stream is invalid or larger than `plen`.
    #[error("message {id}: {method} data does not decompress: {detail}")]
    DecompressFailed {
        /// Message id.
        id: u32,
        /// `lz4` or `zlib`.
        method: Method,
        /// What the decompressor found.
        detail: String,
    },
    /// The decoded payload is not `plen` bytes.
    #[error("message {id}: decoded payload is {actual} bytes, header says {expected}")]
    PayloadLengthMismatch {
        /// Message id.
        id: u32,
        /// `plen` from the header.
        expected: u64,
        /// What decoding produced.
        actual: u64,
    },
    /// A message made no progress for `max_age` and was dropped.
    #[error("message {id} expired with {} of {count} chunks missing: {}", missing.len(), list(missing))]
    Expired {
        /// Message id.
        id: u32,
        /// Chunk count.
        count: u32,
        /// The chunk numbers still missing.
        missing: Vec<u32>,
    },
    /// A whole-message decode was given frames that do not complete a message.
    #[error("message {id} is incomplete: {} of {count} chunks missing: {}", missing.len(), list(missing))]
    Incomplete {
        /// Message id (0 if no frame was given).
        id: u32,
        /// Chunk count (0 if no frame was given).
        count: u32,
        /// The chunk numbers missing.
        missing: Vec<u32>,
    },
    /// `raw` was asked for a payload that is not frame text.
    #[error("payload cannot be sent raw: {reason} at byte {offset}")]
    RawUnrepresentable {
        /// Byte offset in the payload.
        offset: usize,
        /// `control character 0x..` or `invalid UTF-8`.
        reason: String,
    },
    /// The receiver declares no method the sender can use.
    #[error("no acceptable method: {detail}")]
    NoAcceptableMethod {
        /// What was offered and asked.
        detail: String,
    },
    /// `max_frame` leaves no room for data after the header.
    #[error(
        "max_frame {max_frame} is too small: a frame of this message needs at least {needed} bytes"
    )]
    FrameTooSmall {
        /// The limit asked for.
        max_frame: usize,
        /// The smallest workable limit.
        needed: usize,
    },
}

fn list(v: &[u32]) -> String {
    const SHOWN: usize = 16;
    let mut s: Vec<String> = v.iter().take(SHOWN).map(u32::to_string).collect();
    if v.len() > SHOWN {
        s.push(format!("... ({} more)", v.len() - SHOWN));
    }
    s.join(",")
}

impl Error {
    /// The protocol's name for this error (PROTOCOL.md 3.1), shared with the Lua and JS sides.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// What kind of error this is, without its details.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotAFrame { .. } => ErrorKind::NotAFrame,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::FrameTooLong { .. } => ErrorKind::FrameTooLong,
            Error::ForbiddenCharacter { .. } => ErrorKind::ForbiddenCharacter,
            Error::InvalidUtf8 { .. } => ErrorKind::InvalidUtf8,
            Error::MalformedHeader { .. } => ErrorKind::MalformedHeader,
            Error::IndexOutOfRange { .. } => ErrorKind::IndexOutOfRange,
            Error::UnknownMethod { .. } => ErrorKind::UnknownMethod,
            Error::MethodNotAccepted { .. } => ErrorKind::MethodNotAccepted,
            Error::FrameChecksumMismatch { .. } => ErrorKind::FrameChecksumMismatch,
            Error::MessageTooLarge { .. } => ErrorKind::MessageTooLarge,
            Error::TooManyChunks { .. } => ErrorKind::TooManyChunks,
            Error::ConflictingFrame { .. } => ErrorKind::ConflictingFrame,
            Error::TooManyMessages { .. } => ErrorKind::TooManyMessages,
            Error::MisalignedChunk { .. } => ErrorKind::MisalignedChunk,
            Error::WireLengthMismatch { .. } => ErrorKind::WireLengthMismatch,
            Error::MessageChecksumMismatch { .. } => ErrorKind::MessageChecksumMismatch,
            Error::BadBase64 { .. } => ErrorKind::BadBase64,
            Error::DecompressFailed { .. } => ErrorKind::DecompressFailed,
            Error::PayloadLengthMismatch { .. } => ErrorKind::PayloadLengthMismatch,
            Error::Expired { .. } => ErrorKind::Expired,
            Error::Incomplete { .. } => ErrorKind::Incomplete,
            Error::RawUnrepresentable { .. } => ErrorKind::RawUnrepresentable,
            Error::NoAcceptableMethod { .. } => ErrorKind::NoAcceptableMethod,
            Error::FrameTooSmall { .. } => ErrorKind::FrameTooSmall,
        }
    }

    /// The message this error is about, when known.
    pub fn message_id(&self) -> Option<u32> {
        match self {
            Error::MethodNotAccepted { at, .. }
            | Error::FrameChecksumMismatch { at, .. }
            | Error::ConflictingFrame { at, .. }
            | Error::MisalignedChunk { at, .. } => Some(at.id),
            Error::IndexOutOfRange { id, .. }
            | Error::TooManyMessages { id, .. }
            | Error::WireLengthMismatch { id, .. }
            | Error::MessageChecksumMismatch { id, .. }
            | Error::BadBase64 { id, .. }
            | Error::DecompressFailed { id, .. }
            | Error::PayloadLengthMismatch { id, .. }
            | Error::Expired { id, .. } => Some(*id),
            Error::Incomplete { id, .. } if *id != 0 => Some(*id),
            Error::MessageTooLarge { id, .. } | Error::TooManyChunks { id, .. } if *id != 0 => {
                Some(*id)
            }
            _ => None,
        }
    }
}

/// Declares [`ErrorKind`], its names and [`ERROR_NAMES`] from one list, so they cannot differ.
macro_rules! error_kinds {
    ($($kind:ident),* $(,)?) => {
        /// The kind of an [`Error`] without its details: what a peer names when it reports one
        /// (the game's reply to a rejected frame), matched as a type instead of a string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $(
                #[doc = concat!("[`Error::", stringify!($kind), "`]")]
                $kind,
            )*
        }

        impl ErrorKind {
            /// Every kind, in the order of PROTOCOL.md 3.1.
            pub const ALL: [ErrorKind; 25] = [$(ErrorKind::$kind),*];

            /// The protocol's name of this kind (PROTOCOL.md 3.1).
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => stringify!($kind),)*
                }
            }

            /// The kind a peer names `name`; `None` for a name the codec does not define (a
            /// module's own, such as `BadArgument`).
            pub fn from_name(name: &str) -> Option<ErrorKind> {
                ErrorKind::ALL.into_iter().find(|k| k.name() == name)
            }
        }

        /// Every error name of PROTOCOL.md 3.1, in the order the table lists them.
        pub const ERROR_NAMES: [&str; 25] = [$(stringify!($kind)),*];
    };
}

error_kinds![
    NotAFrame,
    UnsupportedVersion,
    FrameTooLong,
    ForbiddenCharacter,
    InvalidUtf8,
    MalformedHeader,
    IndexOutOfRange,
    UnknownMethod,
    MethodNotAccepted,
    FrameChecksumMismatch,
    MessageTooLarge,
    TooManyChunks,
    ConflictingFrame,
    TooManyMessages,
    MisalignedChunk,
    WireLengthMismatch,
    MessageChecksumMismatch,
    BadBase64,
    DecompressFailed,
    PayloadLengthMismatch,
    Expired,
    Incomplete,
    RawUnrepresentable,
    NoAcceptableMethod,
    FrameTooSmall,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name_and_nothing_else_is() {
        assert_eq!(ErrorKind::ALL.len(), ERROR_NAMES.len());
        for (kind, name) in ErrorKind::ALL.into_iter().zip(ERROR_NAMES) {
            assert_eq!(kind.name(), name);
            assert_eq!(ErrorKind::from_name(name), Some(kind));
        }
        for other in ["BadArgument", "", "notaframe", "NotAFrame "] {
            assert_eq!(ErrorKind::from_name(other), None, "{other:?}");
        }
        let e = Error::TooManyMessages {
            id: 3,
            limit: "max_messages",
            max: 4,
        };
        assert_eq!(e.kind(), ErrorKind::TooManyMessages);
        assert_eq!(e.name(), "TooManyMessages");
    }
}
