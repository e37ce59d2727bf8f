//! Parsing the game module's reply lines (PROTOCOL.md section 5.3), kept in this one module
//! because their exact text may still change.
//!
//! A reply is the body of one RCON reply packet: one `rcon.print` line, so one trailing `\n`
//! (or `\r\n`) is removed. Chunk lists (`missing`) are `<ranges>`: comma-separated chunk
//! numbers and inclusive ranges (`1-40,97`), expanded here into a list bounded by the caller. Anything that is not exactly one of the documented lines is
//! [`GameReply::Unrecognized`] (for example the game's "repeat the command to proceed" warning on
//! the first `/sc` of a fresh save, or a Lua error when the module is not installed): the caller
//! decides what that means for the command it sent.

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GameReply {
    /// `ok <id> <have>/<count>`: the frame is held (duplicates too); `have` counts chunks held,
    /// verified or not yet, so `have == count` means "held", not "verified".
    Stored {
        /// Message id.
        id: u32,
        /// Chunks held.
        have: u32,
        /// Chunks of the message.
        count: u32,
    },
    /// `ok <id>`: the answer to `ack(id)`: the game freed staged message `id`.
    Acknowledged {
        /// Staged message id.
        id: u32,
    },
    /// `done <id>`: the message is complete and verified.
    Done {
        /// Message id.
        id: u32,
    },
    /// `failed <id> <ErrorName> <detail>` (to `status`): the game dropped the message.
    Failed {
        /// Message id.
        id: u32,
        /// Protocol error name.
        name: String,
        /// The game's text.
        detail: String,
    },
    /// `err <id or -> <ErrorName> <detail>`: the frame or message was rejected.
    Rejected {
        /// Message id; `None` for `-` (the frame was not readable enough to tell).
        id: Option<u32>,
        /// Protocol error name, or the module's own (`BadArgument`).
        name: String,
        /// The game's text.
        detail: String,
    },
    /// `missing <id> <ranges>`: the chunk numbers the game still lacks, expanded and in the
    /// order given. An empty list means every chunk is held and verification is under way.
    Missing {
        /// Message id.
        id: u32,
        /// Chunk numbers missing.
        indices: Vec<u32>,
    },
    /// `unknown <id>`: the game holds nothing of this message.
    Unknown {
        /// Message id.
        id: u32,
    },
    /// Anything else, kept (truncated) for error messages.
    Unrecognized {
        /// The reply, cut to a bounded excerpt.
        text: String,
    },
}

/// Longest excerpt of an unrecognised reply kept for error messages.
const EXCERPT: usize = 200;

/// Parses a reply body. `max_indices` bounds the list of a `missing` reply (pass the message's
/// chunk count): a list that names more chunks, or a chunk number above it, is unrecognised, so
/// a range such as `1-4000000000` is refused before anything is allocated for it.
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
    /// `unknown <id>`: no such staged message or chunk (expired, acknowledged, or never staged).
    Unknown {
        /// Staged message id.
        id: u32,
    },
    /// Neither.
    Unrecognized {
        /// The reply, cut to a bounded excerpt.
        text: String,
    },
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
        Some(GameReply::Unknown { id }) => PullReply::Unknown { id },
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
        "ok" => match rest.split_once(' ') {
            Some((id, progress)) => {
                let (have, count) = progress.split_once('/')?;
                Some(GameReply::Stored {
                    id: number(id)?,
                    have: number0(have)?,
                    count: number(count)?,
                })
            }
            None => Some(GameReply::Acknowledged { id: number(rest)? }),
        },
        "done" => Some(GameReply::Done { id: number(rest)? }),
        "unknown" => Some(GameReply::Unknown { id: number(rest)? }),
        "missing" => {
            let (id, list) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(GameReply::Missing {
                id: number(id)?,
                indices: parse_ranges(list, max_indices)?,
            })
        }
        "failed" => {
            let (id, rest) = rest.split_once(' ')?;
            let (name, detail) = error_name(rest)?;
            Some(GameReply::Failed {
                id: number(id)?,
                name,
                detail,
            })
        }
        "err" => {
            let (id, rest) = rest.split_once(' ')?;
            let id = if id == "-" { None } else { Some(number(id)?) };
            let (name, detail) = error_name(rest)?;
            Some(GameReply::Rejected { id, name, detail })
        }
        _ => None,
    }
}

/// `<ErrorName> <detail>`: a name of ASCII letters, then free text to the end of the line.
fn error_name(text: &str) -> Option<(String, String)> {
    let (name, detail) = text.split_once(' ').unwrap_or((text, ""));
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    Some((name.to_owned(), detail.to_owned()))
}

/// Expands `<ranges>` (`1-40,97`; empty for none). `None` if an item is not a canonical number
/// or `lo-hi` with `lo <= hi`, if a number is above `max`, or if the list names more than `max`
/// chunks in total (duplicates included).
fn parse_ranges(list: &str, max: usize) -> Option<Vec<u32>> {
    let mut indices = Vec::new();
    if list.is_empty() {
        return Some(indices);
    }
    let max32 = u32::try_from(max).unwrap_or(u32::MAX);
    for item in list.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => {
                let n = number(item)?;
                (n, n)
            }
        };
        if lo > hi || hi > max32 || indices.len() + (hi - lo) as usize + 1 > max {
            return None;
        }
        indices.extend(lo..=hi);
    }
    Some(indices)
}

/// Writes chunk numbers as `<ranges>`: runs of consecutive numbers become `lo-hi`. The inverse
/// of the parsing above, for game stand-ins and tests.
pub fn format_ranges(indices: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < indices.len() {
        let lo = indices[i];
        let mut hi = lo;
        while i + 1 < indices.len() && indices[i + 1] == hi.wrapping_add(1) && hi < u32::MAX {
            hi += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if hi == lo {
            out.push_str(&lo.to_string());
        } else {
            out.push_str(&format!("{lo}-{hi}"));
        }
        i += 1;
    }
    out
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
            parse_reply(b"missing 7 1-3,7,9-10\n", 10),
            GameReply::Missing {
                id: 7,
                indices: vec![1, 2, 3, 7, 9, 10]
            }
        );
        assert_eq!(
            parse_reply(b"ok 7\n", 10),
            GameReply::Acknowledged { id: 7 }
        );
        assert_eq!(
            parse_reply(
                b"failed 7 MessageChecksumMismatch mcrc is 1, data has 2\n",
                10
            ),
            GameReply::Failed {
                id: 7,
                name: "MessageChecksumMismatch".into(),
                detail: "mcrc is 1, data has 2".into()
            }
        );
        assert_eq!(
            parse_reply(b"failed 7 Expired\n", 10),
            GameReply::Failed {
                id: 7,
                name: "Expired".into(),
                detail: String::new()
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
            b"missing 7 1-4",
            b"missing 7 3-2",
            b"missing 7 1-3,1-3",
            b"missing 7 0-2",
            b"missing 7 1-4000000000",
            b"missing 7 1-",
            b"missing 7 -2",
            b"missing 7 1,",
            b"ok 7 ",
            b"ok 07",
            b"failed 7",
            b"failed 7 Bad-Name x",
            b"failed - Expired",
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
        assert_eq!(
            parse_pull_reply(b"unknown 3\n"),
            PullReply::Unknown { id: 3 }
        );
    }

    #[test]
    fn ranges_round_trip() {
        assert_eq!(format_ranges(&[]), "");
        assert_eq!(format_ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(
            format_ranges(&[4294967294, 4294967295]),
            "4294967294-4294967295"
        );
        for list in [
            vec![1],
            vec![1, 2],
            vec![2, 4, 5, 6, 9],
            (1..=40).chain([97]).collect(),
        ] {
            let text = format!("missing 7 {}", format_ranges(&list));
            assert_eq!(
                parse_reply(text.as_bytes(), 100),
                GameReply::Missing {
                    id: 7,
                    indices: list.clone()
                },
                "{text}"
            );
        }
    }
}
