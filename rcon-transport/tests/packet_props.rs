//! Property tests of the packet framing, both ends' decoders (the client's of replies, the
//! server's of requests with the game's body limit): round trips under any segmentation, the
//! limit is exact, and arbitrary (hostile) bytes never panic and never grow the buffer past one
//! packet plus one push.

use invsync_rcon_transport::{Packet, PacketDecoder};
use proptest::prelude::*;

fn packet() -> impl Strategy<Value = Packet> {
    (
        any::<i32>(),
        prop_oneof![Just(0), Just(2), Just(3), any::<i32>()],
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(id, kind, body)| Packet::new(id, kind, body))
}

proptest! {
    #[test]
    fn packets_survive_any_segmentation(
        packets in proptest::collection::vec(packet(), 0..10),
        cuts in proptest::collection::vec(1usize..50, 1..20),
    ) {
        let mut stream = Vec::new();
        for p in &packets {
            p.encode_into(&mut stream, 4096).unwrap();
        }
        let mut decoder = PacketDecoder::new(4096);
        let mut got = Vec::new();
        let mut position = 0;
        let mut cut = cuts.iter().cycle();
        while position < stream.len() {
            let end = (position + cut.next().unwrap()).min(stream.len());
            decoder.push(&stream[position..end]);
            while let Some(p) = decoder.next_packet().unwrap() {
                got.push(p);
            }
            position = end;
        }
        prop_assert_eq!(got, packets);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics_or_allocations(
        pushes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..30),
    ) {
        let max = 64;
        let mut decoder = PacketDecoder::new(max);
        for bytes in &pushes {
            decoder.push(bytes);
            while let Ok(Some(p)) = decoder.next_packet() {
                prop_assert!(p.body.len() <= max - 10);
            }
            // At most one incomplete packet (4 + max) plus the bytes of this push.
            prop_assert!(decoder.buffered() <= 4 + max + bytes.len());
        }
    }

    #[test]
    fn a_request_decoder_takes_bodies_up_to_its_limit_exactly(
        id in any::<i32>(),
        kind in prop_oneof![Just(0), Just(2), Just(3), any::<i32>()],
        body in proptest::collection::vec(any::<u8>(), 0..300),
        slack in 0usize..3,
    ) {
        let mut stream = Vec::new();
        Packet::new(id, kind, body.clone()).encode_into(&mut stream, usize::MAX).unwrap();
        // A limit at or above the body's size: the packet comes through whole.
        let mut decoder = PacketDecoder::for_requests(body.len() + slack);
        decoder.push(&stream);
        prop_assert_eq!(decoder.next_packet().unwrap(), Some(Packet::new(id, kind, body.clone())));
        prop_assert_eq!(decoder.buffered(), 0);
        // A limit under the body's size: refused from the length field alone, nothing buffered after.
        if let Some(limit) = body.len().checked_sub(1 + slack) {
            let mut decoder = PacketDecoder::for_requests(limit);
            decoder.push(&stream[..4]);
            prop_assert!(decoder.next_packet().is_err());
            decoder.push(&stream[4..]);
            prop_assert_eq!(decoder.buffered(), 0);
        }
    }
}
