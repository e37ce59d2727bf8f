//! Parsing the game module's reply lines (PROTOCOL.md section 5.3), kept in this one module
//! because their exact text may still change.
//!
//! A reply is the body of one RCON reply packet: one `rcon.print` line, so one trailing `\n`
//! (or `\r\n`) is removed. Anything that is not exactly one of the documented lines is
//! [`GameReply::Unrecognized`] (for example the game's "repeat the command to proceed" warning on
//! the first `/sc` of a fresh save, or a Lua error when the module is not installed): the caller
//! decides what that means for the command it sent.

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GameReply {
    /// `ok <id> <have>/<count>`: the frame is stored (duplicates too).
    Stored { id: u32, have: u32, count: u32 },
    /// `done <id>`: the message is complete.
    Done { id: u32 },
    /// `err <id or -> <ErrorName> <detail>`: the frame or message was rejected.
    Rejected {
        id: Option<u32>,
        name: String,
        detail: String,
    },
    /// `missing <id> <i,j,...>`: the chunk numbers the game still lacks (possibly none).
    Missing { id: u32, indices: Vec<u32> },
    /// `unknown <id>`: the game holds nothing of this message.
    Unknown { id: u32 },
    /// Anything else, kept (truncated) for error messages.
    Unrecognized { text: String },
}

/// Longest excerpt of an unrecognised reply kept for error messages.
const EXCERPT: usize = 200;

/// Parses a reply body. `max_indices` bounds the list of a `missing` reply (pass the message's
/// chunk count); a longer list is unrecognised.
pub fn parse_reply(body: &[u8], max_indices: usize) -> GameReply {
    let Some(line) = single_line(body) else {
        return unrecognized(body);
    };
    parse_line(line, max_indices).unwrap_or_else(|| unrecognized(body))
}

/// A reply to `pull(id, index)`: a frame, or a rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullReply<'a> {
    /// The frame text (to be checked by the reassembler).
    Frame(&'a str),
    /// `err ...` as in [`GameReply::Rejected`].
    Rejected(GameReply),
    /// Neither.
    Unrecognized { text: String },
}

/// Parses a reply to `pull`.
pub fn parse_pull_reply(body: &[u8]) -> PullReply<'_> {
    let Some(line) = single_line(body) else {
        return PullReply::Unrecognized {
            text: excerpt(body),
        };
    };
    if line.starts_with("IS") {
        return PullReply::Frame(line);
    }
    match parse_line(line, 0) {
        Some(rejected @ GameReply::Rejected { .. }) => PullReply::Rejected(rejected),
        _ => PullReply::Unrecognized {
            text: excerpt(body),
        },
    }
}

fn single_line(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.contains(['\n', '\r']) {
        return None;
    }
    Some(text)
}

fn parse_line(line: &str, max_indices: usize) -> Option<GameReply> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "ok" => {
            let (id, progress) = rest.split_once(' ')?;
            let (have, count) = progress.split_once('/')?;
            Some(GameReply::Stored {
                id: number(id)?,
                have: number0(have)?,
                count: number(count)?,
            })
        }
        "done" => Some(GameReply::Done { id: number(rest)? }),
        "unknown" => Some(GameReply::Unknown { id: number(rest)? }),
        "missing" => {
            let (id, list) = rest.split_once(' ').unwrap_or((rest, ""));
            let indices = if list.is_empty() {
                Vec::new()
            } else {
                let mut indices = Vec::new();
                for item in list.split(',') {
                    if indices.len() >= max_indices {
                        return None;
                    }
                    indices.push(number(item)?);
                }
                indices
            };
            Some(GameReply::Missing {
                id: number(id)?,
                indices,
            })
        }
        "err" => {
            let (id, rest) = rest.split_once(' ')?;
            let id = if id == "-" { None } else { Some(number(id)?) };
            let (name, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
                return None;
            }
            Some(GameReply::Rejected {
                id,
                name: name.to_owned(),
                detail: detail.to_owned(),
            })
        }
        _ => None,
    }
}

/// A canonical decimal in `1..=u32::MAX` (no sign, no leading zero).
fn number(text: &str) -> Option<u32> {
    match number0(text)? {
        0 => None,
        n => Some(n),
    }
}

/// A canonical decimal in `0..=u32::MAX`.
fn number0(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.len() <= 10
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

fn unrecognized(body: &[u8]) -> GameReply {
    GameReply::Unrecognized {
        text: excerpt(body),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(EXCERPT).collect();
    if cut.len() < text.len() {
        cut.push_str("...");
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_line() {
        assert_eq!(
            parse_reply(b"ok 7 3/10\n", 10),
            GameReply::Stored {
                id: 7,
                have: 3,
                count: 10
            }
        );
        assert_eq!(parse_reply(b"done 7\n", 10), GameReply::Done { id: 7 });
        assert_eq!(
            parse_reply(b"unknown 4294967295\n", 10),
            GameReply::Unknown { id: u32::MAX }
        );
        assert_eq!(
            parse_reply(b"missing 7 1,4,9\r\n", 10),
            GameReply::Missing {
                id: 7,
                indices: vec![1, 4, 9]
            }
        );
        assert_eq!(
            parse_reply(b"missing 7\n", 10),
            GameReply::Missing {
                id: 7,
                indices: vec![]
            }
        );
        assert_eq!(
            parse_reply(
                b"err 7 FrameChecksumMismatch fcrc is 00000000, body has 1234abcd\n",
                10
            ),
            GameReply::Rejected {
                id: Some(7),
                name: "FrameChecksumMismatch".into(),
                detail: "fcrc is 00000000, body has 1234abcd".into()
            }
        );
        assert_eq!(
            parse_reply(b"err - NotAFrame\n", 10),
            GameReply::Rejected {
                id: None,
                name: "NotAFrame".into(),
                detail: String::new()
            }
        );
    }

    #[test]
    fn anything_else_is_unrecognized() {
        for body in [
            &b""[..],
            b"Using Lua console commands will disable achievements, please repeat the command to proceed.",
            b"ok 07 1/2\n",
            b"ok 0 1/2",
            b"ok 7 1/2\nok 8 1/2\n",
            b"done 4294967296",
            b"missing 7 1,,2",
            b"missing 7 1,2,3,4",
            b"err 7 Bad-Name x",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_reply(body, 3), GameReply::Unrecognized { .. }),
                "{:?} was accepted",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn unrecognized_text_is_truncated() {
        let body = vec![b'x'; 10_000];
        let GameReply::Unrecognized { text } = parse_reply(&body, 1) else {
            panic!("accepted")
        };
        assert_eq!(text.len(), EXCERPT + 3);
    }

    #[test]
    fn pull_replies() {
        assert_eq!(parse_pull_reply(b"IS1 abc\n"), PullReply::Frame("IS1 abc"));
        assert!(matches!(
            parse_pull_reply(b"err 3 Expired gone\n"),
            PullReply::Rejected(_)
        ));
        assert!(matches!(
            parse_pull_reply(b"nope"),
            PullReply::Unrecognized { .. }
        ));
    }
}
