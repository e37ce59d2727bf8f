//! Any byte stream, pushed in pieces, into the one Source RCON packet decoder
//! (`rcon-transport::packet`), as the host's client and as the emulator's server
//! (`PacketDecoder::for_requests`, whose limit saturates near `usize::MAX`): it never panics,
//! buffers at most one packet plus one push, and every packet re-encodes to the bytes it came
//! from. Where it stops, the bytes there justify the error it names: a length field out of
//! bounds, or a packet without its two NULs.
#![no_main]
use invsync_rcon_transport::{
    LENGTH_PREFIX, MIN_PACKET_LENGTH, Packet, PacketDecoder, PacketError,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&[mode, piece], stream)) = input.split_first_chunk::<2>() else {
        return;
    };
    // The length field's limit: a small one, the client's 64 MiB, or a server's body limit
    // near usize::MAX (the emulator's --max-request-size), where `max_body + 10` must not wrap.
    let (mut decoder, limit) = match mode % 3 {
        0 => {
            let l = MIN_PACKET_LENGTH + usize::from(mode) * 4;
            (PacketDecoder::new(l), l)
        }
        1 => (PacketDecoder::new(64 << 20), 64 << 20),
        _ => {
            let max_body = usize::MAX - usize::from(mode) % 16;
            (PacketDecoder::for_requests(max_body), usize::MAX)
        }
    };
    let piece = usize::from(piece).max(1);

    let mut packets = Vec::new();
    let mut failure = None;
    for part in stream.chunks(piece) {
        decoder.push(part);
        loop {
            match decoder.next_packet() {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        assert!(decoder.buffered() <= part.len() + limit.min(stream.len()) + LENGTH_PREFIX);
        if failure.is_some() {
            break;
        }
    }

    // Round trip: the packets, encoded again, are the stream's first bytes.
    let mut encoded = Vec::new();
    for p in &packets {
        Packet::new(p.id, p.kind, p.body.clone())
            .encode_into(&mut encoded, limit)
            .expect("a decoded packet is within the limit");
    }
    assert_eq!(&stream[..encoded.len()], &encoded[..]);

    // Where the decoder stopped, the bytes say why.
    let rest = &stream[encoded.len()..];
    let length = rest
        .first_chunk::<4>()
        .map(|head| i64::from(i32::from_le_bytes(*head)));
    match failure {
        None => {
            // Only an incomplete packet is left: too short for its length field or its body.
            if let Some(length) = length {
                assert!(
                    (MIN_PACKET_LENGTH as i64..=limit.min(i32::MAX as usize) as i64)
                        .contains(&length)
                );
                assert!(rest.len() < LENGTH_PREFIX + length as usize);
            }
        }
        Some(PacketError::LengthTooSmall { offset, length: l }) => {
            assert_eq!(offset, encoded.len() as u64);
            assert_eq!(Some(i64::from(l)), length);
            assert!(i64::from(l) < MIN_PACKET_LENGTH as i64);
        }
        Some(PacketError::LengthTooLarge {
            offset,
            length: l,
            max,
        }) => {
            assert_eq!(offset, encoded.len() as u64);
            assert_eq!(Some(i64::from(l)), length);
            assert_eq!(max, limit);
            assert!(l as usize > limit);
        }
        Some(PacketError::MissingTerminator { offset, id, found }) => {
            assert_eq!(offset, encoded.len() as u64);
            let l = length.expect("a length field") as usize;
            let packet = &rest[LENGTH_PREFIX..LENGTH_PREFIX + l];
            assert_eq!(id, i32::from_le_bytes(packet[..4].try_into().unwrap()));
            assert_eq!(found, [packet[l - 2], packet[l - 1]]);
            assert_ne!(found, [0, 0]);
        }
        Some(other @ PacketError::BodyTooLong { .. }) => panic!("a decoder never says {other}"),
    }
});
