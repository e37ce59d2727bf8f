//! Encode and decode throughput per method on every sample kind, beside the raw throughput of the
//! components (lz4_flex, base64, crc32fast) on the same data, in the same group.
//!
//! Throughput is counted in *payload* bytes for every entry, so the rows of a group compare
//! directly: the framing's cost is `decode/lz4` against the sum of `lz4_flex/decompress`,
//! `base64/decode` and twice `crc32fast` (frame and message checksums).
//! Goal on `rep`: lz4 encode >= 1 GB/s and decode >= 2 GB/s.
//!
//! `cargo bench -p invsync-codec` (add `-- rep` to run one kind).

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use invsync_codec::{
    Capabilities, DEFAULT_MAX_FRAME_RCON, EncodeOptions, Frame, Method, MethodChoice,
    ReassemblerConfig, decode_message, decode_wire, encode, encode_wire,
};
use invsync_player_data::{SampleKind, generate};

fn codec(c: &mut Criterion) {
    for kind in SampleKind::ALL {
        let payload = generate(kind, 1);
        let mut g = c.benchmark_group(format!("{kind}"));
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.measurement_time(Duration::from_secs(3));
        g.warm_up_time(Duration::from_millis(500));
        g.sample_size(20);
        for method in Method::ALL {
            let opts = EncodeOptions {
                method: MethodChoice::Only(method),
                receiver: Capabilities::all(DEFAULT_MAX_FRAME_RCON),
                ..EncodeOptions::default()
            };
            let Ok(message) = encode(1, &payload, &opts) else {
                continue;
            };
            g.bench_function(format!("encode/{method}"), |b| {
                b.iter(|| encode(1, black_box(&payload), &opts))
            });
            let config = ReassemblerConfig::default();
            if method == Method::Lz4 {
                g.bench_function("frame/parse+verify (lz4 frames)", |b| {
                    b.iter(|| {
                        for f in &message.frames {
                            black_box(Frame::parse(black_box(f.as_bytes())).unwrap());
                        }
                    })
                });
            }
            g.bench_function(format!("decode/{method}"), |b| {
                b.iter(|| decode_message(black_box(&message.frames), config.clone()).unwrap())
            });
        }
        let block = lz4_flex::block::compress(&payload);
        let text = STANDARD.encode(&block);
        let mut out = vec![0u8; payload.len()];
        g.bench_function("lz4_flex/compress", |b| {
            b.iter(|| lz4_flex::block::compress(black_box(&payload)))
        });
        g.bench_function("lz4_flex/decompress", |b| {
            b.iter(|| lz4_flex::block::decompress_into(black_box(&block), &mut out).unwrap())
        });
        g.bench_function("base64/encode (lz4 block)", |b| {
            b.iter(|| STANDARD.encode(black_box(&block)))
        });
        g.bench_function("base64/decode (lz4 block)", |b| {
            b.iter(|| STANDARD.decode(black_box(&text)).unwrap())
        });
        g.bench_function("crc32fast (lz4 wire text)", |b| {
            b.iter(|| crc32fast::hash(black_box(text.as_bytes())))
        });
        if kind == SampleKind::Rep {
            let z = encode_wire(Method::Zlib, &payload, 9).unwrap();
            g.bench_function("miniz/inflate (zlib wire)", |b| {
                b.iter(|| {
                    decode_wire(
                        1,
                        Method::Zlib,
                        black_box(z.as_bytes()),
                        payload.len() as u64,
                    )
                    .unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
