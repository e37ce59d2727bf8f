//! The driver: scripted sessions (join, leave, chat, items, crashes...) for tests, demos and the
//! command line.
//!
//! Script format: one step per line; `#` starts a comment; words are separated by spaces.
//!
//! | line | effect |
//! |---|---|
//! | `autosave N` | autosave every N ticks (0 = off) |
//! | `join NAME` | NAME joins (created with a character on first join) |
//! | `leave NAME [REASON]` | NAME leaves (`defines.disconnect_reason` name, default `quit`) |
//! | `chat NAME TEXT...` | NAME says TEXT |
//! | `give NAME ITEM COUNT [QUALITY]` | items appear in NAME's main inventory |
//! | `take NAME ITEM COUNT [QUALITY]` | items leave NAME's main inventory |
//! | `click NAME ELEMENT` | NAME clicks their GUI element named ELEMENT |
//! | `rcon TEXT...` | run a console command as if from RCON; the reply is logged |
//! | `wait N` | let N ticks pass |
//! | `crash` | the server dies without saving (RCON connections drop) |
//! | `restart` | the server starts again from its last autosave |
//! | `quit` | stop the emulator (it saves to `--save` if given) |

use thiserror::Error;

use crate::api::defines::DISCONNECT_REASONS;
use crate::instance::Action;

/// One script step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Act(Action),
    Autosave(u64),
    Rcon(String),
    Wait(u64),
    Crash,
    Restart,
    Quit,
}

/// A script syntax error.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("script line {line}: {message}")]
pub(crate) struct ScriptError {
    pub line: usize,
    pub message: String,
}

/// Longest script accepted.
pub(crate) const MAX_SCRIPT_BYTES: usize = 16 * 1024 * 1024;

/// Parse a script.
pub(crate) fn parse(text: &str) -> Result<Vec<(usize, Step)>, ScriptError> {
    if text.len() > MAX_SCRIPT_BYTES {
        return Err(ScriptError {
            line: 0,
            message: format!("script is over {MAX_SCRIPT_BYTES} bytes"),
        });
    }
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let step = parse_step(content).map_err(|message| ScriptError { line, message })?;
        steps.push((line, step));
    }
    Ok(steps)
}

fn count(word: Option<&str>, what: &str) -> Result<u64, String> {
    let w = word.ok_or_else(|| format!("missing {what}"))?;
    w.parse::<u64>()
        .map_err(|_| format!("bad {what} {w:?} (a whole number)"))
}

/// Parse one step (a script line without its comment, or the text of an `/emulator`
/// command); the error names what is wrong.
pub(crate) fn parse_step(content: &str) -> Result<Step, String> {
    let content = content.trim();
    let mut words = content.split_whitespace();
    let verb = words.next().unwrap_or("");
    let name = |w: Option<&str>| -> Result<String, String> {
        w.map(str::to_string)
            .ok_or_else(|| format!("{verb}: missing player name"))
    };
    let rest_after = |n: usize| -> String {
        let mut s = content;
        for _ in 0..n {
            s = s.trim_start();
            s = s.find(char::is_whitespace).map_or("", |i| &s[i..]);
        }
        s.trim_start().to_string()
    };
    let step = match verb {
        "autosave" => Step::Autosave(count(words.next(), "autosave interval")?),
        "join" => Step::Act(Action::Join {
            name: name(words.next())?,
        }),
        "leave" => {
            let n = name(words.next())?;
            let reason = words.next().unwrap_or("quit");
            if !DISCONNECT_REASONS.iter().any(|(r, _)| *r == reason) {
                return Err(format!("leave: unknown disconnect reason {reason:?}"));
            }
            Step::Act(Action::Leave {
                name: n,
                reason: reason.to_string(),
            })
        }
        "chat" => {
            let n = name(words.next())?;
            Step::Act(Action::Chat {
                name: n,
                text: rest_after(2),
            })
        }
        "give" | "take" => {
            let n = name(words.next())?;
            let item = words
                .next()
                .ok_or_else(|| format!("{verb}: missing item"))?
                .to_string();
            let c = count(words.next(), "count")?;
            let c = u32::try_from(c)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| format!("bad count {c} (1 to {})", u32::MAX))?;
            let quality = words.next().unwrap_or("normal").to_string();
            if let Some(extra) = words.next() {
                return Err(format!("{verb}: unexpected {extra:?} after the quality"));
            }
            if verb == "give" {
                Step::Act(Action::Give {
                    name: n,
                    item,
                    count: c,
                    quality,
                })
            } else {
                Step::Act(Action::Take {
                    name: n,
                    item,
                    count: c,
                    quality,
                })
            }
        }
        "click" => {
            let n = name(words.next())?;
            let element = words
                .next()
                .ok_or_else(|| "click: missing element name".to_string())?;
            Step::Act(Action::Click {
                name: n,
                element: element.to_string(),
            })
        }
        "rcon" => {
            let t = rest_after(1);
            if t.is_empty() {
                return Err("rcon: missing command text".into());
            }
            Step::Rcon(t)
        }
        "wait" => Step::Wait(count(words.next(), "tick count")?),
        "crash" => Step::Crash,
        "restart" => Step::Restart,
        "quit" => Step::Quit,
        other => return Err(format!("unknown step {other:?}")),
    };
    Ok(step)
}

/// Hands out a script's steps as ticks pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScriptRunner {
    steps: Vec<(usize, Step)>,
    pos: usize,
    resume_at: Option<u64>,
}

impl ScriptRunner {
    pub(crate) fn new(steps: Vec<(usize, Step)>) -> ScriptRunner {
        ScriptRunner {
            steps,
            pos: 0,
            resume_at: None,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.pos >= self.steps.len()
    }

    /// Steps to perform before running `tick`. `crashed` makes `wait` steps pass at once (no
    /// ticks run while the server is down).
    pub(crate) fn due(&mut self, tick: u64, crashed: bool) -> Vec<Step> {
        let mut out = Vec::new();
        if let Some(t) = self.resume_at {
            if tick < t && !crashed {
                return out;
            }
            self.resume_at = None;
        }
        while let Some((_, step)) = self.steps.get(self.pos) {
            self.pos += 1;
            match step {
                Step::Wait(n) if !crashed && *n > 0 => {
                    self.resume_at = Some(tick + n);
                    break;
                }
                Step::Wait(_) => {}
                other => {
                    let stop = matches!(other, Step::Crash | Step::Restart | Step::Quit);
                    out.push(other.clone());
                    if stop {
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_step() {
        let s = parse(
            "# demo\nautosave 600\njoin alice\nchat alice hello  there # hi\ngive alice iron-plate 50 rare\ntake alice iron-plate 5\nclick alice retry\nrcon /sc rcon.print(game.tick)\nwait 10\nleave alice dropped\ncrash\nrestart\nquit\n",
        )
        .unwrap();
        assert_eq!(s.len(), 12);
        assert_eq!(
            s[2].1,
            Step::Act(Action::Chat {
                name: "alice".into(),
                text: "hello  there".into()
            })
        );
        assert_eq!(
            s[3].1,
            Step::Act(Action::Give {
                name: "alice".into(),
                item: "iron-plate".into(),
                count: 50,
                quality: "rare".into()
            })
        );
        assert_eq!(s[6].1, Step::Rcon("/sc rcon.print(game.tick)".into()));
        assert_eq!(
            s[8].1,
            Step::Act(Action::Leave {
                name: "alice".into(),
                reason: "dropped".into()
            })
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("join a\nwait x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("dance a").unwrap_err().message.contains("dance"));
        assert!(parse("give a iron-plate").is_err());
    }

    #[test]
    fn runner_waits() {
        let mut r = ScriptRunner::new(parse("join a\nwait 3\njoin b\n").unwrap());
        assert_eq!(r.due(0, false).len(), 1);
        assert!(r.due(1, false).is_empty());
        assert!(r.due(2, false).is_empty());
        assert_eq!(r.due(3, false).len(), 1);
        assert!(r.finished());
    }
}
