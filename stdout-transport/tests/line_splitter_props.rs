//! Property tests of the line splitter against a simple model: whatever the segmentation of
//! the stream, the same lines come out, over-long ones are reported once, and the buffer stays
//! bounded.

use invsync_stdout_transport::{LineEvent, LineSplitter};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Line(u64, Vec<u8>, bool),
    TooLong(u64, u8),
}

fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Any byte but LF, with CR and the form feed marker made common.
    proptest::collection::vec(
        prop_oneof![
            3 => any::<u8>().prop_filter("no LF", |b| *b != b'\n'),
            1 => Just(b'\r'),
            1 => Just(0x0c),
        ],
        0..24,
    )
}

fn strip_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

proptest! {
    #[test]
    fn any_segmentation_yields_the_model_lines(
        lines in proptest::collection::vec((line_bytes(), any::<bool>()), 0..12),
        last_terminated in any::<bool>(),
        max_line in 0usize..20,
        cuts in proptest::collection::vec(1usize..9, 1..30),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, (line, crlf)) in lines.iter().enumerate() {
            let number = i as u64 + 1;
            let last = i + 1 == lines.len();
            let terminated = !last || last_terminated;
            let mut content = line.clone();
            stream.extend_from_slice(line);
            if terminated {
                if *crlf {
                    stream.push(b'\r');
                    content.push(b'\r');
                }
                stream.push(b'\n');
            }
            let content = strip_cr(content);
            if !terminated && line.is_empty() {
                continue; // nothing after the last newline: no line
            }
            if content.len() > max_line {
                expected.push(Seen::TooLong(number, line.first().copied().unwrap_or(b'\r')));
            } else {
                expected.push(Seen::Line(number, content, terminated));
            }
        }

        let mut splitter = LineSplitter::new(max_line);
        let mut seen = Vec::new();
        let mut record = |event: LineEvent<'_>| seen.push(match event {
            LineEvent::Line { number, bytes, terminated } => Seen::Line(number, bytes.to_vec(), terminated),
            LineEvent::TooLong { number, first_byte, .. } => Seen::TooLong(number, first_byte),
        });
        let mut position = 0;
        let mut cut = cuts.iter().cycle();
        while position < stream.len() {
            let end = (position + cut.next().unwrap()).min(stream.len());
            splitter.push(&stream[position..end], &mut record);
            assert!(splitter.buffered() <= max_line + 1, "buffer bound exceeded");
            position = end;
        }
        splitter.finish(&mut record);
        prop_assert_eq!(seen, expected);
    }
}
