//! Which path a message takes, by direction and size (PROTOCOL.md 5.2-5.4).
//!
//! * **host -> game** always goes over RCON, one frame per `recv` command. The frames are encoded
//!   with `auto` over the methods the game declared ([`to_game_options`]), counting the RCON
//!   wrapper as per-frame overhead and rounding the chunk count to the number of commands in
//!   flight, so the last round of a transfer uses every stream. A message too small to fill
//!   every stream is cut into as many frames as save a tick of streaming at
//!   [`STREAM_SEGMENT`] bytes a tick, and goes with the short header to a game that declares it.
//! * **game -> host** goes inline on stdout when the message fits **one** stdout frame
//!   ([`DEFAULT_MAX_FRAME_STDOUT`], 3999 bytes plus the marker: consoles stutter on lines over
//!   ~4000 bytes); otherwise the game stages it, frames built for the much larger pull limit
//!   ([`DEFAULT_MAX_FRAME_PULL`]), announces it on stdout with a `staged` control message, and the
//!   host pulls the frames through RCON replies, which bypass the game's input stream. The game
//!   makes this choice; [`plan_to_host`] is the rule in Rust, for tests that predict a route.
//!   [`ToHostPolicy::default`] is what the protocol allows (pull frames up to
//!   [`DEFAULT_MAX_FRAME_PULL`], deflate at any size); the reference module chooses less (64 KiB
//!   pull frames, deflate only up to 16 KiB: `scenario/invsync/settings.lua`), so a test that
//!   predicts the module's route passes those settings.
//!
//! # Commands in flight: why 16 by default ([`DEFAULT_IN_FLIGHT`])
//!
//! The game streams every RCON command into the simulation at about 100 bytes per tick, all
//! commands in flight in parallel (`docs/GAME_FACTS.md`), so throughput into the game is
//! about `in_flight x 100` bytes per tick and the bytes on the wire set the transfer time. With
//! 16 in flight that is ~1.6 kB per tick (~96 kB/s): the 17.5 kB `rep` sample needs ~11 ticks,
//! the 175 kB `bp` sample ~110. More streams would be faster still, but
//!
//! * every byte of input is replicated to every connected player, so 16 streams already add
//!   ~100 kB/s to each client's download while a transfer runs;
//! * the game module verifies what arrives within a per-tick work budget (16384 units, about
//!   1 ms of Lua): 1.6 kB per tick is a tenth of it, leaving room for decoding and the game's
//!   own scripts; at 64 in flight arrivals would approach the whole budget;
//! * each command costs its wrapper (~40 bytes), and more, smaller chunks raise that share.
//!
//! Clusterio keeps 5 commands in flight. `invsync bench --in-flight K` measures the curve.

use invsync_codec::{
    Capabilities, DEFAULT_MAX_FRAME_PULL, DEFAULT_MAX_FRAME_STDOUT, DEFAULT_ZLIB_LEVEL,
    EncodeOptions, Encoded, Error as CodecError, Method, MethodChoice, encode,
};
use invsync_rcon_transport::RecvEntry;

/// Commands kept in flight into the game (see the module documentation for the reasoning).
pub const DEFAULT_IN_FLIGHT: usize = 16;

/// Bytes a command streams into the game per tick in the model the host cuts frames by: the
/// game's `maximum_segment_size` default (`docs/GAME_FACTS.md`; less with more than 10 players).
pub(crate) const STREAM_SEGMENT: usize = 100;

/// How to encode a message for the game.
///
/// `auto` (or the forced `method`) over the game's declared `decode` list and `max_frame`;
/// `per_frame_overhead` is the wrapper of the entry the game declared (its custom command, or
/// the `recv` remote call); `parallelism` is `in_flight`; the stream model's `segment` is
/// [`STREAM_SEGMENT`]. Without `compact`, the long header and no stream model, as before them.
pub(crate) fn to_game_options(
    game: &Capabilities,
    in_flight: usize,
    method: MethodChoice,
    zlib_level: u8,
    compact: bool,
) -> EncodeOptions {
    EncodeOptions {
        method,
        receiver: Capabilities {
            short_header: game.short_header && compact,
            ..game.clone()
        },
        zlib_level,
        parallelism: u32::try_from(in_flight.max(1)).unwrap_or(u32::MAX),
        per_frame_overhead: RecvEntry::declared(game.recv_command.as_deref()).overhead(),
        segment: if compact { STREAM_SEGMENT } else { 0 },
        ..EncodeOptions::default()
    }
}

/// The game's side of routing a message to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToHostPolicy {
    /// Longest inline frame (without the marker). Default 3999.
    pub max_frame_stdout: usize,
    /// Longest frame of a staged message, returned in one `pull` reply. Default 262144.
    pub max_frame_pull: usize,
    /// Methods the game produces, in preference order for `auto`. Default `raw`, `zlib`: the
    /// game never compresses in pure Lua, and deflate is native (`helpers.encode_string`).
    pub methods: Vec<Method>,
    /// zlib level of the game's deflate (its own choice; 9 for the reference encoder).
    pub zlib_level: u8,
}

impl Default for ToHostPolicy {
    fn default() -> Self {
        ToHostPolicy {
            max_frame_stdout: DEFAULT_MAX_FRAME_STDOUT,
            max_frame_pull: DEFAULT_MAX_FRAME_PULL,
            methods: vec![Method::Raw, Method::Zlib],
            zlib_level: DEFAULT_ZLIB_LEVEL,
        }
    }
}

/// How a message goes from the game to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToHostPlan {
    /// One frame, printed on stdout after the marker.
    Inline(String),
    /// Staged in the game; the host pulls these frames.
    Staged(Encoded),
}

/// The path a message takes (what a host observes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Frames on the game server's stdout.
    Stdout,
    /// Staged in the game and pulled through RCON replies.
    Pulled,
}

/// Routes message `id` with `payload` from the game to the host: inline if one stdout frame
/// holds it, staged otherwise. The host's receivers accept every method, so the method is
/// `auto` over `policy.methods`.
pub fn plan_to_host(
    id: u32,
    payload: &[u8],
    policy: &ToHostPolicy,
) -> Result<ToHostPlan, CodecError> {
    let options = |max_frame: usize| EncodeOptions {
        method: MethodChoice::Auto,
        receiver: Capabilities {
            decode: policy.methods.clone(),
            ..Capabilities::all(max_frame)
        },
        zlib_level: policy.zlib_level,
        ..EncodeOptions::default()
    };
    let inline = encode(id, payload, &options(policy.max_frame_stdout))?;
    if let [frame] = inline.frames.as_slice() {
        return Ok(ToHostPlan::Inline(frame.clone()));
    }
    Ok(ToHostPlan::Staged(encode(
        id,
        payload,
        &options(policy.max_frame_pull),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use invsync_codec::Frame;
    use invsync_test_support::xorshift::{XorShift64, text_from_range};

    fn text(len: usize, seed: u64) -> Vec<u8> {
        // Incompressible printable text, so the size decides the route, not the content.
        text_from_range(b'!'..=b'z', len, &mut XorShift64(seed | 1))
    }

    #[test]
    fn the_route_switches_where_one_stdout_frame_is_full() {
        let policy = ToHostPolicy::default();
        let mut last_inline = 0;
        for len in (3800..4100).step_by(10) {
            match plan_to_host(7, &text(len, 3), &policy).unwrap() {
                ToHostPlan::Inline(frame) => {
                    assert!(frame.len() <= DEFAULT_MAX_FRAME_STDOUT, "{len}");
                    last_inline = len;
                }
                ToHostPlan::Staged(encoded) => {
                    assert!(len > last_inline);
                    assert_eq!(encoded.frames.len(), 1, "one pull frame holds {len} bytes");
                }
            }
        }
        // The header of a raw frame takes about 50 bytes of the 3999.
        assert!((3900..3999).contains(&last_inline), "{last_inline}");
    }

    #[test]
    fn compressible_payloads_stay_inline_far_beyond_the_line_length() {
        let payload = br#"{"item":"iron-plate","count":100},"#.repeat(1000);
        let ToHostPlan::Inline(frame) =
            plan_to_host(1, &payload, &ToHostPolicy::default()).unwrap()
        else {
            panic!("34 kB of repeats deflate to well under one line");
        };
        assert_eq!(
            Frame::parse(frame.as_bytes()).unwrap().header.method,
            Method::Zlib
        );
    }

    #[test]
    fn big_messages_are_staged_in_pull_sized_frames() {
        let ToHostPlan::Staged(e) =
            plan_to_host(2, &text(600_000, 5), &ToHostPolicy::default()).unwrap()
        else {
            panic!("600 kB cannot go inline");
        };
        assert_eq!(e.frames.len(), 3);
        assert!(e.frames.iter().all(|f| f.len() <= DEFAULT_MAX_FRAME_PULL));
    }

    #[test]
    fn to_game_encoding_counts_the_wrapper_and_rounds_to_the_streams() {
        let game = Capabilities::all(8192);
        let o = to_game_options(&game, 16, MethodChoice::Only(Method::Raw), 9, true);
        assert_eq!(o.per_frame_overhead, 38, "the remote call's wrapper");
        let custom = Capabilities {
            recv_command: Some("invsync-recv".into()),
            ..game.clone()
        };
        let c = to_game_options(&custom, 16, MethodChoice::Only(Method::Raw), 9, true);
        assert_eq!(c.per_frame_overhead, "/invsync-recv ".len());
        let e = encode(1, &text(20_000, 9), &o).unwrap();
        assert_eq!(e.frames.len(), 16, "3 frames would do; 16 streams are used");
        // A game that declares only raw gets raw, whatever would be smaller.
        let raw_only = Capabilities::from_method_list("raw", 8192).unwrap();
        let repetitive = b"abcabcabc".repeat(2000);
        let o = to_game_options(&raw_only, 16, MethodChoice::Auto, 9, true);
        assert_eq!(encode(1, &repetitive, &o).unwrap().method, Method::Raw);
        let o = to_game_options(&game, 16, MethodChoice::Auto, 9, true);
        assert_eq!(encode(1, &repetitive, &o).unwrap().method, Method::Zlib);
    }

    #[test]
    fn compact_frames_follow_the_declaration_and_the_setting() {
        let small = text(600, 3);
        let frames = |short_header: bool, compact: bool| {
            let game = Capabilities {
                short_header,
                recv_command: Some("invsync-recv".into()),
                ..Capabilities::all(8192)
            };
            let o = to_game_options(&game, 16, MethodChoice::Only(Method::Raw), 9, compact);
            encode(1, &small, &o).unwrap().frames
        };
        // Declared and wanted: short frames, cut to stream in one tick each.
        let compact = frames(true, true);
        assert!(
            compact
                .iter()
                .all(|f| f.starts_with('~') && f.len() + 14 <= 100)
        );
        // Not declared: long frames, still cut to the streams (more of them, for the longer
        // header). The setting off: long frames, 600 bytes in two (the 256-byte floor).
        let undeclared = frames(false, true);
        assert!(
            undeclared
                .iter()
                .all(|f| f.starts_with("IS1 ") && f.len() + 14 <= 100)
        );
        assert!(undeclared.len() > compact.len());
        let off = frames(true, false);
        assert!(off.iter().all(|f| f.starts_with("IS1 ")));
        assert_eq!(off.len(), 2);
    }
}
