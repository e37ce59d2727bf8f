//! Any byte stream, pushed in pieces of sizes from the input, through the stdout line splitter:
//! the lines and over-long reports are exactly those of a plain split of the whole stream (one
//! CR before LF removed, a last line without LF delivered unterminated), whatever the piece
//! boundaries, and the splitter never holds more than `max_line + 1` bytes.
#![no_main]
use invsync_stdout_transport::{LineEvent, LineSplitter};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Line(u64, Vec<u8>, bool),
    TooLong(u64, u8),
}

/// The splitter's contract, on the whole stream at once.
fn expected(stream: &[u8], max_line: usize) -> Vec<Event> {
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let last = pieces.pop().expect("split yields at least one piece");
    let mut number = 0;
    let mut one = |piece: &[u8], terminated: bool, out: &mut Vec<Event>| {
        number += 1;
        let line = piece.strip_suffix(b"\r").unwrap_or(piece);
        if line.len() > max_line {
            out.push(Event::TooLong(number, piece[0]));
        } else {
            out.push(Event::Line(number, line.to_vec(), terminated));
        }
    };
    for piece in pieces {
        one(piece, true, &mut out);
    }
    if !last.is_empty() {
        one(last, false, &mut out);
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&[max, cut], stream)) = input.split_first_chunk::<2>() else {
        return;
    };
    let max_line = usize::from(max % 64);
    let mut splitter = LineSplitter::new(max_line);
    let mut got = Vec::new();
    let mut emit = |e: LineEvent<'_>| match e {
        LineEvent::Line {
            number,
            bytes,
            terminated,
        } => got.push(Event::Line(number, bytes.to_vec(), terminated)),
        LineEvent::TooLong {
            number,
            max,
            first_byte,
        } => {
            assert_eq!(max, max_line);
            got.push(Event::TooLong(number, first_byte))
        }
    };
    // Piece sizes cycle through the bits of `cut`: 1 to 8 bytes, or the rest at once.
    let mut rest = stream;
    let mut i = 0u32;
    while !rest.is_empty() {
        let n = if cut == 0 {
            rest.len()
        } else {
            1 + ((cut.rotate_left(i) & 7) as usize)
        };
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        splitter.push(piece, &mut emit);
        assert!(splitter.buffered() <= max_line + 1);
        rest = tail;
        i += 1;
    }
    splitter.finish(&mut emit);
    assert_eq!(splitter.buffered(), 0);
    assert_eq!(got, expected(stream, max_line));
});
