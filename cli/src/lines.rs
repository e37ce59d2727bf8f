//! Reading lines of untrusted length: a line longer than the limit is skipped up to its end and
//! reported, never buffered whole.

use std::io::BufRead;

/// One line read by [`BoundedLines`].
pub enum Line {
    /// A line (without `\n`, and without a `\r` before it).
    Text(Vec<u8>),
    /// A line that was longer than the limit; its length in bytes.
    TooLong(usize),
}

/// Iterates over the lines of a reader, holding at most `max` bytes of one line.
pub struct BoundedLines<R> {
    reader: R,
    max: usize,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(reader: R, max: usize) -> Self {
        BoundedLines { reader, max }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = std::io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Vec::new();
        let mut len = 0usize;
        let mut seen_any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if buf.is_empty() {
                if !seen_any {
                    return None;
                }
                break;
            }
            seen_any = true;
            let (chunk, found_end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            if len + chunk.len() <= self.max + 1 {
                line.extend_from_slice(chunk);
            }
            len += chunk.len();
            let consumed = chunk.len() + usize::from(found_end);
            self.reader.consume(consumed);
            if found_end {
                break;
            }
        }
        if line.last() == Some(&b'\r') && len <= self.max + 1 {
            line.pop();
            len -= 1;
        }
        Some(Ok(if len > self.max {
            Line::TooLong(len)
        } else {
            Line::Text(line)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], max: usize) -> Vec<Result<String, usize>> {
        BoundedLines::new(std::io::BufReader::with_capacity(3, input), max)
            .map(|l| match l.unwrap() {
                Line::Text(t) => Ok(String::from_utf8(t).unwrap()),
                Line::TooLong(n) => Err(n),
            })
            .collect()
    }

    #[test]
    fn splits_bounds_and_strips_crlf() {
        assert_eq!(
            read(b"ab\r\ncd\n\nef", 5),
            vec![
                Ok("ab".into()),
                Ok("cd".into()),
                Ok("".into()),
                Ok("ef".into())
            ]
        );
        assert_eq!(read(b"0123456789\nok\n", 5), vec![Err(10), Ok("ok".into())]);
        assert_eq!(read(b"12345\r\n", 5), vec![Ok("12345".into())]);
        assert_eq!(read(b"", 5), Vec::<Result<String, usize>>::new());
    }
}
