//! Source RCON framing, server side, sans-I/O.
//!
//! A packet is `length: i32 LE` followed by `length` bytes: `id: i32 LE`, `type: i32 LE`, the body,
//! and two NUL bytes. The decoder never allocates from the length field: it only buffers bytes that
//! actually arrived, and a length over the configured cap is an error before any of its body is
//! read. (Written here rather than taken from a crate: the emulator needs the server side, exact
//! control over the cap and Factorio's single-reply semantics; the host-side client lives in
//! `rcon-transport`.)

use thiserror::Error;

/// SERVERDATA_AUTH.
pub const TYPE_AUTH: i32 = 3;
/// SERVERDATA_EXECCOMMAND (same number as SERVERDATA_AUTH_RESPONSE).
pub const TYPE_EXEC: i32 = 2;
/// SERVERDATA_AUTH_RESPONSE.
pub const TYPE_AUTH_RESPONSE: i32 = 2;
/// SERVERDATA_RESPONSE_VALUE.
pub const TYPE_RESPONSE: i32 = 0;
/// Bytes of a packet besides its body: id, type, two NULs.
pub const OVERHEAD: usize = 10;

/// One decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub id: i32,
    pub kind: i32,
    pub body: Vec<u8>,
}

/// Why a connection's byte stream is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("packet length field {0} is below the minimum of 10 bytes")]
    TooShort(i64),
    #[error("packet length field {len} exceeds the request size cap of {cap} bytes")]
    TooLong { len: i64, cap: usize },
    #[error("packet of {len} bytes does not end with two NUL bytes")]
    MissingTerminator { len: usize },
}

/// Incremental decoder with a size cap.
#[derive(Debug)]
pub struct Decoder {
    cap: usize,
    buf: Vec<u8>,
    failed: bool,
}

impl Decoder {
    /// `cap` is the largest accepted body (request size cap); the length field may be `cap + 10`.
    pub fn new(cap: usize) -> Decoder {
        Decoder {
            cap,
            buf: Vec::new(),
            failed: false,
        }
    }

    /// Bytes buffered towards an incomplete packet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Next complete packet, `Ok(None)` if more bytes are needed. After an error the decoder stays failed.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, FrameError> {
        if self.failed {
            return Ok(None);
        }
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = i64::from(i32::from_le_bytes([
            self.buf[0],
            self.buf[1],
            self.buf[2],
            self.buf[3],
        ]));
        if len < OVERHEAD as i64 {
            self.failed = true;
            self.buf = Vec::new();
            return Err(FrameError::TooShort(len));
        }
        // Saturating: a cap near usize::MAX means "no cap" and must not wrap to a tiny one.
        let max_len = self.cap.saturating_add(OVERHEAD);
        if len as u64 > max_len as u64 {
            self.failed = true;
            self.buf = Vec::new();
            return Err(FrameError::TooLong { len, cap: max_len });
        }
        let len = len as usize;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let packet: Vec<u8> = self.buf.drain(..4 + len).collect();
        let payload = &packet[4..];
        if payload[len - 2] != 0 || payload[len - 1] != 0 {
            self.failed = true;
            self.buf = Vec::new();
            return Err(FrameError::MissingTerminator { len });
        }
        let id = i32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
        let kind = i32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
        Ok(Some(Packet {
            id,
            kind,
            body: payload[8..len - 2].to_vec(),
        }))
    }
}

/// Encode one packet.
pub fn encode(id: i32, kind: i32, body: &[u8]) -> Vec<u8> {
    let len = (body.len() + OVERHEAD) as u32;
    let mut out = Vec::with_capacity(4 + len as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&[0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_split_packets() {
        let mut d = Decoder::new(1000);
        let bytes = [
            encode(5, TYPE_EXEC, b"/sc rcon.print(1)"),
            encode(6, TYPE_AUTH, b"pw"),
        ]
        .concat();
        d.push(&bytes[..7]);
        assert_eq!(d.next_packet().unwrap(), None);
        d.push(&bytes[7..]);
        let p = d.next_packet().unwrap().unwrap();
        assert_eq!(
            (p.id, p.kind, p.body.as_slice()),
            (5, TYPE_EXEC, &b"/sc rcon.print(1)"[..])
        );
        assert_eq!(d.next_packet().unwrap().unwrap().kind, TYPE_AUTH);
        assert_eq!(d.next_packet().unwrap(), None);
    }

    #[test]
    fn lying_length_is_rejected_without_buffering() {
        let mut d = Decoder::new(100 * 1024 * 1024);
        d.push(&0x7fff_ffffi32.to_le_bytes());
        assert!(matches!(d.next_packet(), Err(FrameError::TooLong { .. })));
        d.push(&[0; 1000]);
        assert_eq!(d.pending(), 0);
        let mut d = Decoder::new(10);
        d.push(&(-5i32).to_le_bytes());
        assert_eq!(d.next_packet(), Err(FrameError::TooShort(-5)));
    }

    #[test]
    fn a_cap_near_usize_max_accepts_packets() {
        for cap in [usize::MAX, usize::MAX - OVERHEAD + 1, usize::MAX - 1] {
            let mut d = Decoder::new(cap);
            d.push(&encode(7, TYPE_EXEC, b"/c 1"));
            let p = d.next_packet().unwrap().unwrap();
            assert_eq!((p.id, p.body.as_slice()), (7, &b"/c 1"[..]));
        }
    }

    #[test]
    fn missing_terminator_is_an_error() {
        let mut d = Decoder::new(100);
        let mut bytes = encode(1, TYPE_EXEC, b"abc");
        let n = bytes.len();
        bytes[n - 1] = b'x';
        d.push(&bytes);
        assert!(matches!(
            d.next_packet(),
            Err(FrameError::MissingTerminator { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut d = Decoder::new(256);
            for c in chunks {
                d.push(&c);
                while let Ok(Some(p)) = d.next_packet() {
                    prop_assert!(p.body.len() <= 256);
                }
            }
            prop_assert!(d.pending() <= 16 * 64);
        }

        #[test]
        fn round_trip(id in any::<i32>(), kind in any::<i32>(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = Decoder::new(300);
            d.push(&encode(id, kind, &body));
            let p = d.next_packet().unwrap().unwrap();
            prop_assert_eq!(p, Packet { id, kind, body });
        }
    }
}
