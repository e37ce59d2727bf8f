//! Any byte stream, pushed in pieces, into the three Source RCON packet decoders (the host's
//! client, `rcon-transport`; the emulator's server, `emulator::rcon_codec`; the test mocks',
//! `test-support::rcon_wire`): none panics, each buffers at most one packet, and with the same
//! limit they agree on every packet and on where the stream breaks. Every packet re-encodes,
//! with each crate's encoder, to the bytes it came from.
#![no_main]
use invsync_emulator::rcon_codec;
use invsync_rcon_transport::packet::{Packet, PacketDecoder};
use invsync_test_support::rcon_wire;
use libfuzzer_sys::fuzz_target;

/// What a decoder made of the stream: its packets, then whether it stopped on an error.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    packets: Vec<(i32, i32, Vec<u8>)>,
    failed: bool,
}

fuzz_target!(|input: &[u8]| {
    let Some((&[mode, piece], stream)) = input.split_first_chunk::<2>() else {
        return;
    };
    // The length field's limit: the mocks' fixed one, a small one, or none at all (the
    // emulator's --max-request-size near usize::MAX).
    let (limit, emulator_cap) = match mode % 3 {
        0 => (
            rcon_wire::MAX_LENGTH,
            rcon_wire::MAX_LENGTH - rcon_codec::OVERHEAD,
        ),
        1 => {
            let l = 10 + usize::from(mode) * 4;
            (l, l - rcon_codec::OVERHEAD)
        }
        _ => (usize::MAX, usize::MAX),
    };
    let piece = usize::from(piece).max(1);

    let mut transport = PacketDecoder::new(limit);
    let mut got_transport = Decoded {
        packets: Vec::new(),
        failed: false,
    };
    let mut emulator = rcon_codec::Decoder::new(emulator_cap);
    let mut got_emulator = Decoded {
        packets: Vec::new(),
        failed: false,
    };
    let mut mock_buf = Vec::new();
    let mut got_mock = Decoded {
        packets: Vec::new(),
        failed: false,
    };
    for part in stream.chunks(piece) {
        transport.push(part);
        loop {
            match transport.next_packet() {
                Ok(Some(p)) => got_transport.packets.push((p.id, p.kind, p.body)),
                Ok(None) => break,
                Err(_) => {
                    got_transport.failed = true;
                    break;
                }
            }
        }
        assert!(transport.buffered() <= part.len() + limit.min(stream.len()) + 4);
        if !got_emulator.failed {
            emulator.push(part);
            loop {
                match emulator.next_packet() {
                    Ok(Some(p)) => got_emulator.packets.push((p.id, p.kind, p.body)),
                    Ok(None) => break,
                    Err(_) => {
                        got_emulator.failed = true;
                        break;
                    }
                }
            }
        }
        if !got_mock.failed {
            mock_buf.extend_from_slice(part);
            match rcon_wire::take_packets(&mut mock_buf) {
                Ok(ps) => got_mock
                    .packets
                    .extend(ps.into_iter().map(|p| (p.id, p.kind, p.body))),
                Err(_) => got_mock.failed = true,
            }
        }
    }
    assert_eq!(got_transport, got_emulator);
    if limit == rcon_wire::MAX_LENGTH {
        if got_mock.failed {
            // The mocks' `take_packets` returns an error alone: the packets before a framing
            // error in the same read are lost with the connection (the stream breaks at the same
            // place, but the mock may not run the last commands before it).
            assert!(got_transport.failed);
            assert!(got_transport.packets.starts_with(&got_mock.packets));
        } else {
            assert_eq!(got_transport, got_mock);
        }
    }

    // Round trips: the packets, encoded again by each crate, are the stream's first bytes.
    let mut by_transport = Vec::new();
    let mut by_emulator = Vec::new();
    let mut by_mock = Vec::new();
    for (id, kind, body) in &got_transport.packets {
        Packet::new(*id, *kind, body.clone())
            .encode_into(&mut by_transport, limit)
            .expect("a decoded packet is within the limit");
        by_emulator.extend(rcon_codec::encode(*id, *kind, body));
        rcon_wire::write_packet(&mut by_mock, *id, *kind, body).expect("writes to a Vec");
    }
    assert_eq!(&stream[..by_transport.len()], &by_transport[..]);
    assert_eq!(by_emulator, by_transport);
    assert_eq!(by_mock, by_transport);
});
