//! `--player-format`: which PLAYER_DATA format (docs/PLAYER_DATA.md) the bench writes the
//! sample player in. Format 2 (dense) is what writers write; format 1 (a long-keyed object per
//! slot) is what stores written before it hold, and what every reader still reads: the same
//! player in both, in one run, shows what the dense format buys.

use clap::ValueEnum;
use invsync_player_data::PlayerData;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlayerFormat {
    /// Format 1: one object per stack, long keys.
    #[value(name = "1")]
    One,
    /// Format 2: runs of equal stacks, plain stacks as arrays, short keys.
    #[value(name = "2")]
    Two,
}

impl PlayerFormat {
    /// The document's `format` member.
    pub fn number(self) -> u32 {
        match self {
            PlayerFormat::One => 1,
            PlayerFormat::Two => 2,
        }
    }

    /// `player` written in this format: the payload the host sends.
    pub fn payload(self, player: &PlayerData) -> Vec<u8> {
        match self {
            PlayerFormat::One => player.to_json_format_1(),
            PlayerFormat::Two => player.to_json(),
        }
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invsync_player_data::{SampleKind, generate, sample};

    #[test]
    fn both_formats_carry_the_same_player_and_format_2_is_the_sample_s_bytes() {
        let player = sample(SampleKind::Rep, 1);
        let (one, two) = (
            PlayerFormat::One.payload(&player),
            PlayerFormat::Two.payload(&player),
        );
        assert_eq!(
            two,
            generate(SampleKind::Rep, 1),
            "`invsync sample`'s bytes"
        );
        for (format, bytes) in [(PlayerFormat::One, &one), (PlayerFormat::Two, &two)] {
            let doc: serde_json::Value = serde_json::from_slice(bytes).expect("JSON");
            assert_eq!(doc["format"], format.number(), "{format:?}");
            assert_eq!(PlayerData::from_json(bytes).expect("it reads"), player);
        }
        // rep's runs of full stacks: format 1 writes every slot (docs/PLAYER_DATA.md, "Why dense")
        assert!(one.len() > 10 * two.len(), "{} / {}", one.len(), two.len());
    }
}
