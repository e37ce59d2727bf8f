//! Splitting a byte stream into lines with a bounded buffer, sans I/O.
//!
//! Like tokio-util's `LinesCodec` with a maximum length, but on bytes and with a callback, so a
//! line that lies wholly inside one pushed buffer is handed over without copying:
//! * A line ends at `\n`; one `\r` before it is removed (CRLF tolerated). A lone `\r` elsewhere
//!   is part of the line.
//! * A line longer than `max_line` bytes (not counting its terminator) is discarded up to its
//!   end and reported **once**, as soon as it is known to be too long, as
//!   [`LineEvent::TooLong`]. The lines around it are unaffected.
//! * At the end of the stream, a final line without `\n` is delivered with
//!   `terminated: false` (a process may exit without a final newline; a protocol frame cut short
//!   fails its checksum downstream, so delivering it cannot yield a wrong payload).
//! * Bytes are not interpreted: UTF-8 is the caller's business.
//!
//! Memory: at most `max_line + 1` bytes of one unfinished line are held between pushes.

/// One line or one report, borrowed from the splitter or the pushed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent<'a> {
    /// A complete line without its terminator.
    Line {
        /// 1-based line number in the stream (over-long lines count too).
        number: u64,
        /// The line's bytes, CR/LF removed.
        bytes: &'a [u8],
        /// False only for a final line that the stream ended without `\n`.
        terminated: bool,
    },
    /// Line `number` exceeded `max` bytes and is being discarded up to its end.
    TooLong {
        /// 1-based line number.
        number: u64,
        /// The limit.
        max: usize,
        /// The line's first byte (tells whether it claimed to be a protocol line).
        first_byte: u8,
    },
}

/// A bounded line splitter.
#[derive(Debug, Clone)]
pub struct LineSplitter {
    max_line: usize,
    partial: Vec<u8>,
    discarding: bool,
    /// Number of the line being read.
    number: u64,
}

impl LineSplitter {
    /// A splitter that discards lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineSplitter {
            max_line,
            partial: Vec::new(),
            discarding: false,
            number: 1,
        }
    }

    /// Bytes of the current unfinished line held (at most `max_line + 1`).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Splits `input`, calling `emit` for every line completed and every over-long line found.
    pub fn push(&mut self, input: &[u8], mut emit: impl FnMut(LineEvent<'_>)) {
        let mut rest = input;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let piece = &rest[..end];
                    rest = &rest[end + 1..];
                    self.finish_line(piece, true, &mut emit);
                }
                None => {
                    self.extend_partial(rest, &mut emit);
                    return;
                }
            }
        }
    }

    /// Ends the stream: delivers a final unterminated line, if any, and resets.
    pub fn finish(&mut self, mut emit: impl FnMut(LineEvent<'_>)) {
        if self.discarding {
            self.discarding = false;
            self.number += 1;
        } else if !self.partial.is_empty() {
            self.finish_line(&[], false, &mut emit);
        }
        self.partial.clear();
    }

    fn extend_partial(&mut self, bytes: &[u8], emit: &mut impl FnMut(LineEvent<'_>)) {
        if self.discarding {
            return;
        }
        // One byte of slack: a line of exactly `max_line` bytes may still be followed by a CR.
        if self.partial.len() + bytes.len() > self.max_line.saturating_add(1) {
            let first_byte = self.partial.first().or(bytes.first()).copied().unwrap_or(0);
            self.start_discarding(first_byte, emit);
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// The current line is too long and its end has not arrived: drop what is held and skip
    /// input up to the next `\n`.
    fn start_discarding(&mut self, first_byte: u8, emit: &mut impl FnMut(LineEvent<'_>)) {
        self.discarding = true;
        self.partial = Vec::new();
        self.report_too_long(first_byte, emit);
    }

    fn report_too_long(&self, first_byte: u8, emit: &mut impl FnMut(LineEvent<'_>)) {
        emit(LineEvent::TooLong {
            number: self.number,
            max: self.max_line,
            first_byte,
        });
    }

    fn finish_line(
        &mut self,
        piece: &[u8],
        terminated: bool,
        emit: &mut impl FnMut(LineEvent<'_>),
    ) {
        let number = self.number;
        if self.discarding {
            self.discarding = false;
            self.number += 1;
            return;
        }
        if self.partial.is_empty() {
            let line = strip_cr(piece);
            if line.len() > self.max_line {
                self.report_too_long(line[0], emit);
            } else {
                emit(LineEvent::Line {
                    number,
                    bytes: line,
                    terminated,
                });
            }
        } else {
            if strip_cr_len(&self.partial, piece) > self.max_line {
                self.report_too_long(self.partial[0], emit);
            } else {
                self.partial.extend_from_slice(piece);
                let line = strip_cr(&self.partial);
                emit(LineEvent::Line {
                    number,
                    bytes: line,
                    terminated,
                });
            }
            self.partial.clear();
        }
        self.number += 1;
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Length of `a ++ b` after removing one trailing CR.
fn strip_cr_len(a: &[u8], b: &[u8]) -> usize {
    let last = b.last().or(a.last());
    a.len() + b.len() - usize::from(last == Some(&b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Line(u64, Vec<u8>, bool),
        TooLong(u64, u8),
    }

    fn collect(splitter: &mut LineSplitter, pieces: &[&[u8]], finish: bool) -> Vec<Owned> {
        let mut out = Vec::new();
        let mut record = |e: LineEvent<'_>| {
            out.push(match e {
                LineEvent::Line {
                    number,
                    bytes,
                    terminated,
                } => Owned::Line(number, bytes.to_vec(), terminated),
                LineEvent::TooLong {
                    number, first_byte, ..
                } => Owned::TooLong(number, first_byte),
            })
        };
        for piece in pieces {
            splitter.push(piece, &mut record);
        }
        if finish {
            splitter.finish(&mut record);
        }
        out
    }

    #[test]
    fn splits_on_lf_and_strips_one_cr() {
        let mut s = LineSplitter::new(100);
        let got = collect(&mut s, &[b"a\r\nb\n\r\r\nc\rd\n"], false);
        assert_eq!(
            got,
            [
                Owned::Line(1, b"a".to_vec(), true),
                Owned::Line(2, b"b".to_vec(), true),
                Owned::Line(3, b"\r".to_vec(), true),
                Owned::Line(4, b"c\rd".to_vec(), true),
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_max_bytes_passes_even_with_crlf_split_anywhere() {
        let mut s = LineSplitter::new(4);
        let got = collect(&mut s, &[b"ab", b"cd", b"\r", b"\nabcde\n"], false);
        assert_eq!(
            got,
            [
                Owned::Line(1, b"abcd".to_vec(), true),
                Owned::TooLong(2, b'a')
            ]
        );
    }

    #[test]
    fn an_over_long_line_is_reported_once_and_skipped_to_its_end() {
        let mut s = LineSplitter::new(4);
        let got = collect(
            &mut s,
            &[b"ok\n\x0cIS1 very", b" long", b" line\nnext\n"],
            false,
        );
        assert_eq!(
            got,
            [
                Owned::Line(1, b"ok".to_vec(), true),
                Owned::TooLong(2, 0x0c),
                Owned::Line(3, b"next".to_vec(), true),
            ]
        );
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn the_stream_may_end_mid_line() {
        let mut s = LineSplitter::new(10);
        let got = collect(&mut s, &[b"one\ntw", b"o\r"], true);
        assert_eq!(
            got,
            [
                Owned::Line(1, b"one".to_vec(), true),
                Owned::Line(2, b"two".to_vec(), false)
            ]
        );
        // Ending inside an over-long line reports it once and delivers nothing more.
        let mut s = LineSplitter::new(2);
        assert_eq!(
            collect(&mut s, &[b"abcdef"], true),
            [Owned::TooLong(1, b'a')]
        );
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut s = LineSplitter::new(10);
        let got = collect(&mut s, &[b"\n\r\n"], true);
        assert_eq!(
            got,
            [Owned::Line(1, vec![], true), Owned::Line(2, vec![], true)]
        );
    }
}
