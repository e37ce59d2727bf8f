//! Source RCON packets as a mock server reads and writes them, written from the spec (not taken
//! from the crate under test, so the two cannot share a mistake): a 4-byte little-endian length,
//! then the request id, the type, the body and two NULs.
//!
//! Blocking I/O on a `TcpStream`: the mock runs one thread per connection.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A reply; also the type of Srcds' empty "sentinel" probe, which Factorio ignores.
pub const SERVERDATA_RESPONSE_VALUE: i32 = 0;
/// A command.
pub const SERVERDATA_EXECCOMMAND: i32 = 2;
/// The answer to an auth packet (the same number as a command).
pub const SERVERDATA_AUTH_RESPONSE: i32 = 2;
/// The login packet; its body is the password.
pub const SERVERDATA_AUTH: i32 = 3;

/// The largest length field a mock accepts (id, type, body and NULs). Factorio's own cap is
/// 100 MiB; tests stay far below this.
pub const MAX_LENGTH: usize = 64 << 20;
/// The smallest length field: id, type and the two NULs of an empty body.
const MIN_LENGTH: usize = 10;

/// One packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub id: i32,
    pub kind: i32,
    pub body: Vec<u8>,
}

/// Waits up to `wait` for bytes, adds them to `buf`, and takes every complete packet out of it.
///
/// Returns no packet when nothing complete arrived in time. A closed stream is
/// `UnexpectedEof`; a length outside 10..=[`MAX_LENGTH`] or a packet without its two NULs is
/// `InvalidData` (checked as soon as the length is in, so `buf` never grows past one packet
/// and one read).
pub fn read_packets(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    wait: Duration,
) -> io::Result<Vec<Packet>> {
    stream.set_read_timeout(Some(wait))?;
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk) {
        Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
        Ok(n) => buf.extend_from_slice(&chunk[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => return Err(e),
    }
    take_packets(buf)
}

/// Takes every complete packet out of the front of `buf`, leaving a partial one in place.
pub fn take_packets(buf: &mut Vec<u8>) -> io::Result<Vec<Packet>> {
    let mut packets = Vec::new();
    while let Some(head) = buf.first_chunk::<4>() {
        let len = i32::from_le_bytes(*head);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (MIN_LENGTH..=MAX_LENGTH).contains(l))
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "mock: the client sent a packet length of {len} (expected {MIN_LENGTH} to {MAX_LENGTH})"
                    ),
                )
            })?;
        let Some(packet) = buf.get(4..4 + len) else {
            break;
        };
        let (fields, rest) = packet.split_at(8);
        let (body, terminator) = rest.split_at(rest.len() - 2);
        if terminator != b"\0\0" {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("mock: a packet of length {len} does not end with two NULs"),
            ));
        }
        let field = |at: usize| i32::from_le_bytes(fields[at..at + 4].try_into().expect("4 bytes"));
        packets.push(Packet {
            id: field(0),
            kind: field(4),
            body: body.to_vec(),
        });
        buf.drain(..4 + len);
    }
    Ok(packets)
}

/// Writes one packet.
pub fn write_packet(stream: &mut impl Write, id: i32, kind: i32, body: &[u8]) -> io::Result<()> {
    let len = i32::try_from(body.len() + MIN_LENGTH)
        .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "mock: reply body over 2 GiB"))?;
    let mut out = Vec::with_capacity(body.len() + 14);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&[0, 0]);
    stream.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(id: i32, kind: i32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_packet(&mut out, id, kind, body).unwrap();
        out
    }

    #[test]
    fn writes_the_spec_layout() {
        assert_eq!(
            bytes(7, SERVERDATA_EXECCOMMAND, b"hi"),
            [12, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, b'h', b'i', 0, 0]
        );
    }

    #[test]
    fn takes_complete_packets_and_keeps_a_partial_one() {
        let mut buf = bytes(1, SERVERDATA_AUTH, b"pw");
        buf.extend(bytes(-1, SERVERDATA_RESPONSE_VALUE, b""));
        let third = bytes(3, SERVERDATA_EXECCOMMAND, b"/sc rcon.print(1)");
        buf.extend_from_slice(&third[..9]);
        let packets = take_packets(&mut buf).unwrap();
        assert_eq!(
            packets,
            [
                Packet {
                    id: 1,
                    kind: SERVERDATA_AUTH,
                    body: b"pw".to_vec()
                },
                Packet {
                    id: -1,
                    kind: SERVERDATA_RESPONSE_VALUE,
                    body: Vec::new()
                },
            ]
        );
        assert_eq!(buf, third[..9]);
        buf.extend_from_slice(&third[9..]);
        let packets = take_packets(&mut buf).unwrap();
        assert_eq!(packets[0].body, b"/sc rcon.print(1)");
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_lengths_and_terminators_are_errors_before_buffering() {
        for len in [-1i32, 0, 9, (MAX_LENGTH + 1) as i32] {
            let mut buf = len.to_le_bytes().to_vec();
            let err = take_packets(&mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData);
            assert!(err.to_string().contains(&len.to_string()), "{err}");
        }
        let mut buf = bytes(1, SERVERDATA_EXECCOMMAND, b"x");
        let end = buf.len() - 1;
        buf[end] = b'!';
        let err = take_packets(&mut buf).unwrap_err();
        assert!(err.to_string().contains("two NULs"), "{err}");
    }
}
