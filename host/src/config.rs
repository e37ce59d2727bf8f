//! Settings of a link's protocol logic.

use std::time::Duration;

use crate::crossing::{DeliveryConfig, PullConfig};
use crate::routing::DEFAULT_IN_FLIGHT;
use invsync_codec::{DEFAULT_ZLIB_LEVEL, MethodChoice};

/// Settings of a [`crate::LinkCore`] (and so of a [`crate::Link`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Commands into the game in flight at once: frames, status and caps queries, over all
    /// messages. Default [`DEFAULT_IN_FLIGHT`] (16; `routing` explains why). Frames are cut into
    /// a multiple of this many chunks.
    pub in_flight: usize,
    /// Messages to the game being delivered or awaiting confirmation at once; more wait in
    /// order. Default 8 (the game holds up to 64 messages in progress).
    pub max_active_sends: usize,
    /// Method for messages to the game: `auto` (default) picks the smallest on the wire among
    /// the methods the game declares.
    pub method: MethodChoice,
    /// zlib level for messages to the game. Default 9.
    pub zlib_level: u8,
    /// Frames as compact as the game allows (default true): the short header to a game that
    /// declares it, and a small message cut into as many frames as save a tick
    /// (PROTOCOL.md 2.4, 2.5). False: long headers and the 256-byte chunk floor, as hosts
    /// before them did (`invsync bench --entry command_long` measures the difference).
    pub compact_frames: bool,
    /// Retries and patience of the frame delivery (its `in_flight` is replaced by
    /// [`LinkConfig::in_flight`]).
    pub delivery: DeliveryConfig,
    /// With every chunk held and no outcome yet, ask `status(id)` after this long, and again
    /// after each further wait. Default 5 s: the `received` report normally comes on stdout
    /// within a few ticks; status is the fallback when it is lost.
    pub verify_after: Duration,
    /// Status queries that find the message still verifying before giving up. Default 12
    /// (a minute, the game's own `max_age`).
    pub max_verify_queries: u32,
    /// Times the chunks of a message the game no longer holds (dropped on a deferred check, or
    /// lost in a restart) are delivered again. Default 2.
    pub max_redeliveries: u32,
    /// Wait before asking `caps()` again after a useless answer. Default 1 s.
    pub caps_retry: Duration,
    /// `caps()` queries before assuming the protocol's default declaration. Default 5.
    pub max_caps_attempts: u32,
    /// Pulling staged messages: commands in flight (over all pulls), retries, limits.
    pub pull: PullConfig,
    /// Staged messages pulled at once; further announcements wait. Default 2.
    pub max_active_pulls: usize,
    /// Announcements that may wait; more are refused (reported). Default 256.
    pub max_queued_pulls: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            in_flight: DEFAULT_IN_FLIGHT,
            max_active_sends: 8,
            method: MethodChoice::Auto,
            zlib_level: DEFAULT_ZLIB_LEVEL,
            compact_frames: true,
            delivery: DeliveryConfig::default(),
            verify_after: Duration::from_secs(5),
            max_verify_queries: 12,
            max_redeliveries: 2,
            caps_retry: Duration::from_secs(1),
            max_caps_attempts: 5,
            pull: PullConfig::default(),
            max_active_pulls: 2,
            max_queued_pulls: 256,
        }
    }
}
