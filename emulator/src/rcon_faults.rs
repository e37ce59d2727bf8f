//! RCON faults on purpose (`--rcon-fault ACTION:TEXT:N`), for tests and the fault harness: what a
//! network or a busy server may do to a command, chosen by a piece of its text and its
//! occurrence.
//!
//! Occurrences are counted per fault over all connections, in the order the commands reach the
//! game loop, counting every command read (ignored ones included).

use std::fmt;
use std::str::FromStr;

/// What happens to a command a fault matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// `lose-reply`: it runs; its reply is never sent.
    LoseReply,
    /// `drop-connection`: it runs, like the commands of its connection read before it; the
    /// connection closes at once, so their replies are lost, and what the client sent after it
    /// is never read.
    DropConnection,
    /// `damage`: one character of its frame is changed on the way, so the frame's checksum no
    /// longer matches. For `recv` commands, which end in `[=*[frame]=*])`; a command of another
    /// shape is left alone.
    Damage,
    /// `ignore`: it is neither run nor answered (a command the server swallowed).
    Ignore,
}

impl FaultAction {
    const NAMES: [(&'static str, FaultAction); 4] = [
        ("lose-reply", FaultAction::LoseReply),
        ("drop-connection", FaultAction::DropConnection),
        ("damage", FaultAction::Damage),
        ("ignore", FaultAction::Ignore),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("?", |(n, _)| n)
    }
}

/// A fault: the commands whose text contains `matching`, all of them or only the `nth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RconFault {
    /// What happens to a matched command.
    pub action: FaultAction,
    /// A piece of the command's text; empty matches every command.
    pub matching: String,
    /// 1-based occurrence; `None`: every occurrence.
    pub nth: Option<usize>,
}

impl RconFault {
    /// The `nth` (1-based) command whose text contains `matching`.
    pub fn new(action: FaultAction, matching: &str, nth: usize) -> RconFault {
        RconFault {
            action,
            matching: matching.into(),
            nth: Some(nth),
        }
    }

    /// Every command whose text contains `matching`.
    pub fn every(action: FaultAction, matching: &str) -> RconFault {
        RconFault {
            action,
            matching: matching.into(),
            nth: None,
        }
    }
}

impl FromStr for RconFault {
    type Err = String;

    /// `ACTION:TEXT:N`: ACTION is lose-reply, drop-connection, damage or ignore; TEXT a piece of
    /// the command (may be empty, may hold `:`); N the occurrence (1 for the first) or `*` for
    /// every one.
    fn from_str(spec: &str) -> Result<RconFault, String> {
        let usage = "expected ACTION:TEXT:N with ACTION one of lose-reply, drop-connection, \
                     damage, ignore; TEXT a piece of the command (may be empty); N the occurrence \
                     (1 for the first) or * for every one, e.g. lose-reply:\"recv\":3";
        let (Some((action, rest)), Some((matching, nth))) =
            (spec.split_once(':'), spec.rsplit_once(':'))
        else {
            return Err(format!("bad RCON fault {spec:?}: {usage}"));
        };
        if rest.len() < nth.len() + 1 {
            return Err(format!("bad RCON fault {spec:?}: {usage}"));
        }
        let matching = &matching[action.len() + 1..];
        let action = FaultAction::NAMES
            .iter()
            .find(|(n, _)| *n == action)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                format!("bad RCON fault {spec:?}: unknown action {action:?}; {usage}")
            })?;
        let nth = match nth {
            "*" => None,
            n => match n.parse::<usize>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    return Err(format!(
                        "bad RCON fault {spec:?}: occurrence {n:?} is not a number >= 1 or *; {usage}"
                    ));
                }
            },
        };
        Ok(RconFault {
            action,
            matching: matching.to_string(),
            nth,
        })
    }
}

impl fmt::Display for RconFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.action.name(), self.matching)?;
        match self.nth {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("*"),
        }
    }
}

/// What the faults do to one command.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) lose_reply: bool,
    pub(crate) drop_connection: bool,
    pub(crate) damage: bool,
    pub(crate) ignore: bool,
}

/// The faults and how often each has matched.
#[derive(Debug, Default)]
pub(crate) struct FaultCounter {
    faults: Vec<RconFault>,
    seen: Vec<usize>,
}

impl FaultCounter {
    pub(crate) fn new(faults: Vec<RconFault>) -> FaultCounter {
        let seen = vec![0; faults.len()];
        FaultCounter { faults, seen }
    }

    /// Counts the occurrence of every fault `command` matches; what is due now.
    pub(crate) fn judge(&mut self, command: &str) -> Verdict {
        let mut verdict = Verdict::default();
        for (fault, seen) in self.faults.iter().zip(&mut self.seen) {
            if !command.contains(&fault.matching) {
                continue;
            }
            *seen += 1;
            if fault.nth.is_some_and(|n| n != *seen) {
                continue;
            }
            match fault.action {
                FaultAction::LoseReply => verdict.lose_reply = true,
                FaultAction::DropConnection => verdict.drop_connection = true,
                FaultAction::Damage => verdict.damage = true,
                FaultAction::Ignore => verdict.ignore = true,
            }
        }
        verdict
    }
}

/// Changes the last character of the frame in a `recv` command (`...[=*[frame]=*])`, or a custom
/// command whose parameter is a frame, `/<name> IS...` or with the short header `/<name> ~...`)
/// to `A`, or to `B` when it is `A`: the command still runs, the long bracket stays intact and
/// the frame fails its checksum. A command of another shape is left as it is.
pub(crate) fn damage(command: &mut String) {
    if let Some((name, frame)) = command.split_once(' ')
        && (matches!(frame.as_bytes(), [b'I', b'S', digit, b' ', ..] if digit.is_ascii_digit())
            || frame.starts_with('~'))
        && !matches!(name, "/sc" | "/silent-command" | "/c" | "/command")
    {
        let at = command.len() - frame.chars().next_back().map_or(0, char::len_utf8);
        let with = if command.ends_with('A') { "B" } else { "A" };
        command.replace_range(at.., with);
        return;
    }
    let Some(body) = command.strip_suffix("])") else {
        return;
    };
    let level = body.len() - body.trim_end_matches('=').len();
    let close = format!("]{}", "=".repeat(level));
    let Some(frame) = body.strip_suffix(&close) else {
        return;
    };
    let Some((at, last)) = frame.char_indices().next_back() else {
        return;
    };
    if last == '[' {
        return; // an empty frame: nothing to damage
    }
    let with = if last == 'A' { "B" } else { "A" };
    command.replace_range(at..at + last.len_utf8(), with);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for (spec, want) in [
            (
                "lose-reply:recv:3",
                RconFault::new(FaultAction::LoseReply, "recv", 3),
            ),
            (
                "drop-connection::1",
                RconFault::new(FaultAction::DropConnection, "", 1),
            ),
            (
                "ignore:/hang:*",
                RconFault::every(FaultAction::Ignore, "/hang"),
            ),
            (
                "damage:\" 12 3:4\":2",
                RconFault::new(FaultAction::Damage, "\" 12 3:4\"", 2),
            ),
        ] {
            let got: RconFault = spec.parse().unwrap();
            assert_eq!(got, want, "{spec}");
            assert_eq!(got.to_string(), spec);
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, why) in [
            ("lose-reply", "expected ACTION:TEXT:N"),
            ("lose-reply:3", "expected ACTION:TEXT:N"),
            ("lose:recv:3", "unknown action \"lose\""),
            ("ignore:recv:0", "occurrence \"0\""),
            ("ignore:recv:", "occurrence \"\""),
            ("ignore:recv:x", "occurrence \"x\""),
        ] {
            let err = spec.parse::<RconFault>().unwrap_err();
            assert!(err.contains(why), "{spec}: {err}");
            assert!(err.contains(&format!("{spec:?}")), "{err}");
        }
    }

    #[test]
    fn occurrences_are_counted_per_fault() {
        let mut faults = FaultCounter::new(vec![
            RconFault::new(FaultAction::LoseReply, "recv", 2),
            RconFault::every(FaultAction::Ignore, "/hang"),
            RconFault::new(FaultAction::DropConnection, "", 4),
        ]);
        let verdicts: Vec<Verdict> = ["recv 1", "/hang", "recv 2", "other", "/hang"]
            .iter()
            .map(|c| faults.judge(c))
            .collect();
        assert_eq!(verdicts[0], Verdict::default());
        assert!(verdicts[1].ignore && !verdicts[1].lose_reply);
        assert!(verdicts[2].lose_reply && !verdicts[2].ignore);
        assert!(verdicts[3].drop_connection, "the 4th command of all");
        assert!(verdicts[4].ignore && !verdicts[4].drop_connection);
    }

    #[test]
    fn damage_changes_the_frame_and_keeps_the_bracket() {
        let mut c = r#"/sc remote.call("invsync","recv",[==[IS1 raw 1 1/1 x]]x]==])"#.to_string();
        damage(&mut c);
        assert_eq!(
            c,
            r#"/sc remote.call("invsync","recv",[==[IS1 raw 1 1/1 x]]A]==])"#
        );
        damage(&mut c);
        assert!(c.ends_with("]]B]==])"), "{c}");
        // A multi-byte last character is replaced whole.
        let mut c = "/sc f([[été]])".to_string();
        damage(&mut c);
        assert_eq!(c, "/sc f([[étA]])");
        // a frame as a custom command's parameter
        let mut c = "/invsync-recv IS1 raw 1 1/1 x]]é".to_string();
        damage(&mut c);
        assert_eq!(c, "/invsync-recv IS1 raw 1 1/1 x]]A");
        damage(&mut c);
        assert_eq!(c, "/invsync-recv IS1 raw 1 1/1 x]]B");
        for shape in [
            "/sc rcon.print(1)",
            "/hang",
            "/sc f([[]])",
            "/players IS",
            "/sc IS1 (x)",
        ] {
            let mut c = shape.to_string();
            damage(&mut c);
            assert_eq!(c, shape);
        }
    }
}
