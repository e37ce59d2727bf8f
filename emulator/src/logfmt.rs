//! The game's stdout line shapes.
//!
//! * Log lines: seconds since start, right-aligned to 8 characters with 3 decimals, then the
//!   level and source: `   0.016 Info ServerMultiplayerManager.cpp:...`.
//! * Console lines: `YYYY-MM-DD HH:MM:SS [CHAT] name: text` (also `[JOIN]`, `[LEAVE]`, `[COMMAND]`).
//! * `print` output: verbatim.
//!
//! In virtual time the clock is the tick counter (`TICKS_PER_SECOND` ticks = 1 s) and dates start at
//! 2000-01-01 00:00:00, so output is reproducible; in real time the wall clock (UTC) is used.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use invsync_codec::TICKS_PER_SECOND;

use crate::context::Line;

/// Which clock stamps the lines.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    Virtual,
    Real { start: Instant },
}

/// Unix time of 2000-01-01 00:00:00 UTC.
const VIRTUAL_EPOCH: u64 = 946_684_800;

fn civil(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

impl Clock {
    /// Seconds since start for log lines.
    pub(crate) fn seconds(&self, tick: u64) -> f64 {
        match self {
            Clock::Virtual => tick as f64 / f64::from(TICKS_PER_SECOND),
            Clock::Real { start } => start.elapsed().as_secs_f64(),
        }
    }

    /// Date and time for console lines.
    pub(crate) fn date(&self, tick: u64) -> String {
        match self {
            Clock::Virtual => civil(VIRTUAL_EPOCH + tick / u64::from(TICKS_PER_SECOND)),
            Clock::Real { .. } => civil(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            ),
        }
    }

    /// Format one line.
    pub(crate) fn format(&self, line: &Line, tick: u64) -> String {
        match line {
            Line::Raw(s) => s.clone(),
            Line::Log(s) => format!("{:8.3} {s}", self.seconds(tick)),
            Line::Dated(s) => format!("{} {s}", self.date(tick)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let c = Clock::Virtual;
        assert_eq!(c.format(&Line::Log("Info X".into()), 1), "   0.017 Info X");
        assert_eq!(
            c.format(
                &Line::Dated("[CHAT] a: b".into()),
                u64::from(TICKS_PER_SECOND) * 3661
            ),
            "2000-01-01 01:01:01 [CHAT] a: b"
        );
        assert_eq!(civil(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(c.format(&Line::Raw("\u{c}IS1 x".into()), 0), "\u{c}IS1 x");
    }
}
