//! Source RCON packets and their sans-I/O framing.
//!
//! On the wire a packet is `length: i32 LE`, then `length` bytes: `id: i32 LE`, `type: i32 LE`,
//! the body, and two NUL bytes. The length comes from the peer, so the decoder checks it against
//! a configured maximum *before* buffering anything for it: a lying length is an error, never an
//! allocation. The decoder only ever holds bytes the caller actually pushed.

use thiserror::Error;

/// Bytes of `id` + `type` + the two terminating NULs: the smallest legal `length` field.
pub const MIN_PACKET_LENGTH: usize = 10;
/// Bytes of the length prefix itself.
pub const LENGTH_PREFIX: usize = 4;

/// Packet type of a command reply (and of the SRCDS "empty sentinel" probe).
pub const SERVERDATA_RESPONSE_VALUE: i32 = 0;
/// Packet type of a command request; also the type of an auth reply (the protocol reuses 2).
pub const SERVERDATA_EXECCOMMAND: i32 = 2;
/// Packet type of an auth reply.
pub const SERVERDATA_AUTH_RESPONSE: i32 = 2;
/// Packet type of an auth request.
pub const SERVERDATA_AUTH: i32 = 3;

/// One Source RCON packet.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    /// Request id chosen by the client and echoed by the server.
    pub id: i32,
    /// Packet type (see the `SERVERDATA_*` constants).
    pub kind: i32,
    /// Body without the two terminating NULs.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Packet {
    // Bodies can be auth packets carrying the password, or megabytes of frames: show sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A framing error. After one, the byte stream can no longer be trusted: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// The length field is smaller than a packet can be (or negative).
    #[error(
        "RCON packet at stream offset {offset}: length field is {length}, but a packet has at least \
         {MIN_PACKET_LENGTH} bytes (id, type, two NULs)"
    )]
    LengthTooSmall {
        /// Stream offset of the length field.
        offset: u64,
        /// The length field as received.
        length: i32,
    },
    /// The length field exceeds the configured maximum; nothing was buffered for it.
    #[error(
        "RCON packet at stream offset {offset}: length field is {length} bytes, over the limit of \
         {max} bytes; refusing to buffer it"
    )]
    LengthTooLarge {
        /// Stream offset of the length field.
        offset: u64,
        /// The length field as received.
        length: i32,
        /// The largest length field the decoder accepts.
        max: usize,
    },
    /// The packet does not end with two NUL bytes.
    #[error(
        "RCON packet at stream offset {offset} (id {id}): expected two NUL bytes at its end, found \
         {found:02x?}"
    )]
    MissingTerminator {
        /// Stream offset of the packet's length field.
        offset: u64,
        /// The packet's request id.
        id: i32,
        /// The packet's last two bytes.
        found: [u8; 2],
    },
    /// A packet to send is larger than the limit (or than the format can express).
    #[error("RCON packet body of {body_len} bytes is over the limit of {max} bytes")]
    BodyTooLong {
        /// Bytes of the body to send.
        body_len: usize,
        /// The largest body the limit allows.
        max: usize,
    },
}

impl Packet {
    /// Builds a packet.
    pub fn new(id: i32, kind: i32, body: impl Into<Vec<u8>>) -> Self {
        Packet {
            id,
            kind,
            body: body.into(),
        }
    }

    /// Appends the encoded packet to `out`. `max_packet_length` bounds the `length` field.
    pub fn encode_into(
        &self,
        out: &mut Vec<u8>,
        max_packet_length: usize,
    ) -> Result<(), PacketError> {
        let length = MIN_PACKET_LENGTH + self.body.len();
        let max = max_packet_length.min(i32::MAX as usize);
        if length > max {
            return Err(PacketError::BodyTooLong {
                body_len: self.body.len(),
                max: max.saturating_sub(MIN_PACKET_LENGTH),
            });
        }
        out.reserve(LENGTH_PREFIX + length);
        out.extend_from_slice(&(length as i32).to_le_bytes());
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.kind.to_le_bytes());
        out.extend_from_slice(&self.body);
        out.extend_from_slice(&[0, 0]);
        Ok(())
    }

    /// The encoded packet, bounded only by what the format can express (a body over
    /// `i32::MAX - 10` bytes is [`PacketError::BodyTooLong`]): for a server's replies, which the
    /// game never splits or caps.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PacketError> {
        let mut out = Vec::new();
        self.encode_into(&mut out, usize::MAX)?;
        Ok(out)
    }
}

/// Splits a byte stream into packets. Holds at most one incomplete packet plus the bytes of the
/// last push, and never allocates from a length field.
pub struct PacketDecoder {
    max_packet_length: usize,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// Stream offset of `buf[start]`, for error messages.
    offset: u64,
    failed: Option<PacketError>,
}

impl std::fmt::Debug for PacketDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("max_packet_length", &self.max_packet_length)
            .field("buffered", &(self.buf.len() - self.start))
            .field("offset", &self.offset)
            .field("failed", &self.failed)
            .finish()
    }
}

impl PacketDecoder {
    /// A decoder that rejects packets whose `length` field exceeds `max_packet_length`.
    pub fn new(max_packet_length: usize) -> Self {
        PacketDecoder {
            max_packet_length: max_packet_length.max(MIN_PACKET_LENGTH),
            buf: Vec::new(),
            start: 0,
            offset: 0,
            failed: None,
        }
    }

    /// The server side (the game, the emulator): a decoder of requests whose body may have up
    /// to `max_body` bytes, the game's request size limit (the emulator's
    /// `--max-request-size`); a length field over `max_body + 10` closes the connection before
    /// anything of it is buffered. Saturating: a limit near `usize::MAX` means no limit, it
    /// must not wrap around to a tiny one.
    pub fn for_requests(max_body: usize) -> Self {
        PacketDecoder::new(max_body.saturating_add(MIN_PACKET_LENGTH))
    }

    /// Bytes received but not yet returned as packets.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends received bytes. Call [`PacketDecoder::next_packet`] until it returns `None`
    /// before pushing more, so the buffer stays bounded. After an error, bytes are dropped.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            // The stream has lost its framing: keep nothing more.
            self.buf = Vec::new();
            self.start = 0;
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete packet, `None` if more bytes are needed. After an error the decoder
    /// keeps returning that error.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, PacketError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let head = &self.buf[self.start..];
        if head.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let length = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let checked = self.check_length(length)?;
        let available = &self.buf[self.start..];
        if available.len() < LENGTH_PREFIX + checked {
            return Ok(None);
        }
        let packet_bytes = &available[LENGTH_PREFIX..LENGTH_PREFIX + checked];
        let id = i32::from_le_bytes([
            packet_bytes[0],
            packet_bytes[1],
            packet_bytes[2],
            packet_bytes[3],
        ]);
        let kind = i32::from_le_bytes([
            packet_bytes[4],
            packet_bytes[5],
            packet_bytes[6],
            packet_bytes[7],
        ]);
        let terminator = [packet_bytes[checked - 2], packet_bytes[checked - 1]];
        let body = packet_bytes[8..checked - 2].to_vec();
        if terminator != [0, 0] {
            return Err(self.fail(PacketError::MissingTerminator {
                offset: self.offset,
                id,
                found: terminator,
            }));
        }
        self.start += LENGTH_PREFIX + checked;
        self.offset += (LENGTH_PREFIX + checked) as u64;
        Ok(Some(Packet { id, kind, body }))
    }

    fn check_length(&mut self, length: i32) -> Result<usize, PacketError> {
        if length < MIN_PACKET_LENGTH as i32 {
            return Err(self.fail(PacketError::LengthTooSmall {
                offset: self.offset,
                length,
            }));
        }
        if length as usize > self.max_packet_length {
            return Err(self.fail(PacketError::LengthTooLarge {
                offset: self.offset,
                length,
                max: self.max_packet_length,
            }));
        }
        Ok(length as usize)
    }

    fn fail(&mut self, err: PacketError) -> PacketError {
        self.failed = Some(err.clone());
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(packet: &Packet) -> Vec<u8> {
        let mut out = Vec::new();
        packet.encode_into(&mut out, 1 << 20).unwrap();
        out
    }

    #[test]
    fn encodes_the_documented_layout() {
        let bytes = encode(&Packet::new(7, SERVERDATA_EXECCOMMAND, b"hi".to_vec()));
        assert_eq!(
            bytes,
            [12, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, b'h', b'i', 0, 0],
            "length 12 = id 4 + type 4 + body 2 + NUL NUL"
        );
    }

    #[test]
    fn decodes_packets_split_at_every_byte() {
        let packets = [
            Packet::new(1, SERVERDATA_RESPONSE_VALUE, b"first".to_vec()),
            Packet::new(-1, SERVERDATA_AUTH_RESPONSE, Vec::new()),
            Packet::new(i32::MAX, SERVERDATA_RESPONSE_VALUE, vec![b'x'; 300]),
        ];
        let stream: Vec<u8> = packets.iter().flat_map(encode).collect();
        let mut decoder = PacketDecoder::new(4096);
        let mut got = Vec::new();
        for byte in &stream {
            decoder.push(std::slice::from_ref(byte));
            while let Some(packet) = decoder.next_packet().unwrap() {
                got.push(packet);
            }
        }
        assert_eq!(got, packets);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_huge_length_is_rejected_before_any_body_arrives() {
        let mut decoder = PacketDecoder::new(4096);
        decoder.push(&i32::MAX.to_le_bytes());
        let err = decoder.next_packet().unwrap_err();
        assert_eq!(
            err,
            PacketError::LengthTooLarge {
                offset: 0,
                length: i32::MAX,
                max: 4096
            }
        );
        assert!(err.to_string().contains("over the limit of 4096"), "{err}");
        // Poisoned: more bytes do not resynchronise a stream that has lost its framing.
        decoder.push(&[0; 16]);
        assert!(decoder.next_packet().is_err());
    }

    #[test]
    fn negative_and_tiny_lengths_are_rejected() {
        for length in [-1i32, 0, 9, i32::MIN] {
            let mut decoder = PacketDecoder::new(4096);
            decoder.push(&length.to_le_bytes());
            assert_eq!(
                decoder.next_packet().unwrap_err(),
                PacketError::LengthTooSmall { offset: 0, length }
            );
        }
    }

    #[test]
    fn a_missing_terminator_names_the_packet_and_its_offset() {
        let mut stream = encode(&Packet::new(1, 0, b"ok".to_vec()));
        let mut bad = encode(&Packet::new(5, 0, b"abc".to_vec()));
        let n = bad.len();
        bad[n - 1] = b'!';
        stream.extend_from_slice(&bad);
        let mut decoder = PacketDecoder::new(4096);
        decoder.push(&stream);
        assert!(decoder.next_packet().unwrap().is_some());
        assert_eq!(
            decoder.next_packet().unwrap_err(),
            PacketError::MissingTerminator {
                offset: 16,
                id: 5,
                found: [0, b'!']
            }
        );
    }

    #[test]
    fn a_request_body_may_be_exactly_the_limit_and_no_more() {
        let at_limit = encode(&Packet::new(3, SERVERDATA_EXECCOMMAND, vec![b'x'; 100]));
        let mut decoder = PacketDecoder::for_requests(100);
        decoder.push(&at_limit);
        assert_eq!(decoder.next_packet().unwrap().unwrap().body.len(), 100);
        let over = encode(&Packet::new(4, SERVERDATA_EXECCOMMAND, vec![b'x'; 101]));
        let mut decoder = PacketDecoder::for_requests(100);
        // Only the length field: refused before the body arrives.
        decoder.push(&over[..LENGTH_PREFIX]);
        assert_eq!(
            decoder.next_packet().unwrap_err(),
            PacketError::LengthTooLarge {
                offset: 0,
                length: 111,
                max: 110
            }
        );
        // What follows is dropped, not buffered.
        decoder.push(&over[LENGTH_PREFIX..]);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_request_limit_near_usize_max_accepts_packets() {
        // `max_body + 10` would overflow: the limit saturates instead of wrapping to a tiny one.
        for max_body in [
            usize::MAX,
            usize::MAX - MIN_PACKET_LENGTH + 1,
            usize::MAX - 1,
        ] {
            let mut decoder = PacketDecoder::for_requests(max_body);
            decoder.push(&encode(&Packet::new(
                7,
                SERVERDATA_EXECCOMMAND,
                b"/c 1".to_vec(),
            )));
            let p = decoder.next_packet().unwrap().unwrap();
            assert_eq!((p.id, p.body.as_slice()), (7, &b"/c 1"[..]));
        }
    }

    #[test]
    fn a_request_limit_of_zero_accepts_empty_bodies_only() {
        let mut decoder = PacketDecoder::for_requests(0);
        decoder.push(&encode(&Packet::new(
            1,
            SERVERDATA_RESPONSE_VALUE,
            Vec::new(),
        )));
        assert!(decoder.next_packet().unwrap().is_some());
        decoder.push(&encode(&Packet::new(
            2,
            SERVERDATA_EXECCOMMAND,
            b"x".to_vec(),
        )));
        assert!(matches!(
            decoder.next_packet(),
            Err(PacketError::LengthTooLarge { length: 11, .. })
        ));
    }

    #[test]
    fn to_bytes_is_the_documented_layout() {
        assert_eq!(
            Packet::new(7, SERVERDATA_EXECCOMMAND, b"hi".to_vec())
                .to_bytes()
                .unwrap(),
            [12, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, b'h', b'i', 0, 0]
        );
    }

    #[test]
    fn encoding_refuses_bodies_over_the_limit() {
        let mut out = Vec::new();
        let err = Packet::new(1, 2, vec![b'a'; 100])
            .encode_into(&mut out, 50)
            .unwrap_err();
        assert_eq!(
            err,
            PacketError::BodyTooLong {
                body_len: 100,
                max: 40
            }
        );
        assert!(out.is_empty());
    }

    #[test]
    fn debug_shows_no_body_bytes() {
        let shown = format!("{:?}", Packet::new(1, SERVERDATA_AUTH, b"hunter2".to_vec()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("body_len: 7"), "{shown}");
    }
}
