//! The command stream model: RCON commands are game input that the server streams into the
//! simulation in segments.
//!
//! Numbers (server-settings keys, see `docs/EMULATOR.md`): `maximum_segment_size` 100 bytes per
//! tick per command up to `maximum_segment_size_peer_count` 10 peers, falling linearly to
//! `minimum_segment_size` 25 at `minimum_segment_size_peer_count` 20 peers and beyond. Commands
//! stream in parallel (optionally at most `max_parallel` at once, the rest wait in arrival order).
//! A command whose last byte arrived executes at the first tick that is a multiple of
//! `exec_interval`, so a short command sent after a long one can execute first.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Identifies a command and where its reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommandHandle {
    /// Connection number (0 is used by the driver script and tests).
    pub conn: u64,
    /// RCON request id.
    pub id: i32,
}

/// Settings of the stream model.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// Bytes per tick per command with up to `maximum_segment_size_peer_count` peers (server
    /// setting `maximum_segment_size`).
    pub maximum_segment_size: u32,
    /// Up to this many peers, commands stream at `maximum_segment_size`.
    pub maximum_segment_size_peer_count: u32,
    /// Bytes per tick per command with `minimum_segment_size_peer_count` peers or more.
    pub minimum_segment_size: u32,
    /// From this many peers on, commands stream at `minimum_segment_size`.
    pub minimum_segment_size_peer_count: u32,
    /// Ready commands execute on ticks that are multiples of this (>= 1).
    pub exec_interval: u64,
    /// At most this many commands stream at once (`None` = no limit).
    pub max_parallel: Option<usize>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            maximum_segment_size: 100,
            maximum_segment_size_peer_count: 10,
            minimum_segment_size: 25,
            minimum_segment_size_peer_count: 20,
            exec_interval: 2,
            max_parallel: None,
        }
    }
}

impl StreamSettings {
    /// Bytes per tick per command for a number of connected peers.
    pub(crate) fn segment_size(&self, peers: u32) -> u32 {
        let (hi, lo) = (self.maximum_segment_size, self.minimum_segment_size);
        let (p_hi, p_lo) = (
            self.maximum_segment_size_peer_count,
            self.minimum_segment_size_peer_count,
        );
        let size = if peers <= p_hi {
            hi
        } else if peers >= p_lo || p_lo <= p_hi {
            lo
        } else {
            let span = f64::from(p_lo - p_hi);
            let frac = f64::from(peers - p_hi) / span;
            (f64::from(hi) - (f64::from(hi) - f64::from(lo)) * frac).round() as u32
        };
        size.max(1)
    }
}

#[derive(Debug, Clone)]
struct Streaming {
    handle: CommandHandle,
    text: String,
    remaining: u64,
}

/// A command ready to run, in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyCommand {
    /// Where its reply goes.
    pub handle: CommandHandle,
    /// The command line.
    pub text: String,
}

/// The sans-I/O stream model.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamModel {
    settings: StreamSettings,
    streaming: VecDeque<Streaming>,
    ready: Vec<ReadyCommand>,
    bytes_streamed: u64,
}

impl StreamModel {
    pub(crate) fn new(settings: StreamSettings) -> StreamModel {
        StreamModel {
            settings,
            ..StreamModel::default()
        }
    }

    /// A command arrived; it starts streaming at the next [`StreamModel::step`].
    pub(crate) fn enqueue(&mut self, handle: CommandHandle, text: String) {
        let remaining = text.len() as u64;
        self.streaming.push_back(Streaming {
            handle,
            text,
            remaining,
        });
    }

    /// Commands streaming or waiting to execute.
    pub(crate) fn in_flight(&self) -> usize {
        self.streaming.len() + self.ready.len()
    }

    /// Total bytes streamed into the game so far.
    pub(crate) fn bytes_streamed(&self) -> u64 {
        self.bytes_streamed
    }

    /// Drop everything in flight (the server crashed).
    pub(crate) fn clear(&mut self) -> Vec<CommandHandle> {
        self.streaming
            .drain(..)
            .map(|s| s.handle)
            .chain(self.ready.drain(..).map(|r| r.handle))
            .collect()
    }

    /// Stream one tick's segments and return the commands that execute at this tick.
    pub(crate) fn step(&mut self, tick: u64, peers: u32) -> Vec<ReadyCommand> {
        let seg = u64::from(self.settings.segment_size(peers));
        let limit = self.settings.max_parallel.unwrap_or(usize::MAX).max(1);
        let mut i = 0;
        let mut active = 0;
        while i < self.streaming.len() && active < limit {
            let s = &mut self.streaming[i];
            let n = s.remaining.min(seg);
            s.remaining -= n;
            self.bytes_streamed += n;
            active += 1;
            if s.remaining == 0 {
                let done = self.streaming.remove(i).expect("index checked above");
                self.ready.push(ReadyCommand {
                    handle: done.handle,
                    text: done.text,
                });
            } else {
                i += 1;
            }
        }
        if tick.is_multiple_of(self.settings.exec_interval.max(1)) {
            std::mem::take(&mut self.ready)
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(id: i32) -> CommandHandle {
        CommandHandle { conn: 1, id }
    }

    #[test]
    fn segment_size_scales_with_peers() {
        let s = StreamSettings::default();
        assert_eq!(s.segment_size(0), 100);
        assert_eq!(s.segment_size(10), 100);
        assert_eq!(s.segment_size(15), 63);
        assert_eq!(s.segment_size(20), 25);
        assert_eq!(s.segment_size(500), 25);
    }

    #[test]
    fn long_command_takes_len_over_segment_ticks_and_waits_for_even_tick() {
        let mut m = StreamModel::new(StreamSettings::default());
        m.enqueue(h(1), "x".repeat(250));
        assert!(m.step(1, 0).is_empty());
        assert!(m.step(2, 0).is_empty());
        // Third segment completes it at tick 3, which is odd: it waits for tick 4.
        assert!(m.step(3, 0).is_empty());
        let ready = m.step(4, 0);
        assert_eq!(ready.len(), 1);
        assert_eq!(m.bytes_streamed(), 250);
    }

    #[test]
    fn short_command_overtakes_long_one() {
        let mut m = StreamModel::new(StreamSettings::default());
        m.enqueue(h(1), "x".repeat(1000));
        m.enqueue(h(2), "y".repeat(10));
        let first = m.step(0, 0);
        assert_eq!(
            first.iter().map(|c| c.handle.id).collect::<Vec<_>>(),
            vec![2]
        );
        let mut t = 1;
        loop {
            let r = m.step(t, 0);
            if !r.is_empty() {
                assert_eq!(r[0].handle.id, 1);
                break;
            }
            t += 1;
        }
        assert_eq!(t, 10);
    }

    #[test]
    fn parallel_limit_queues_commands() {
        let mut m = StreamModel::new(StreamSettings {
            max_parallel: Some(1),
            ..StreamSettings::default()
        });
        m.enqueue(h(1), "x".repeat(100));
        m.enqueue(h(2), "y".repeat(100));
        assert_eq!(m.step(0, 0).len(), 1);
        assert_eq!(m.step(1, 0).len(), 0);
        assert_eq!(m.step(2, 0).len(), 1);
    }
}
