//! Ids for host -> game messages.
//!
//! The game keys everything about a message by its id: the reassembler refuses a new message
//! whose id is still in progress with other headers (`ConflictingFrame`), `status(id)` answers
//! for whatever message last had that id, and `received` reports name only the id. A host that
//! restarts and counts from 1 again would collide with its own earlier messages that the game
//! still holds or remembers. So ids do not start at a fixed number: the allocator starts from a
//! caller-supplied seed and counts up, wrapping from 4294967295 to 1 (0 is not an id).
//!
//! The recommended seed is the wall clock ([`MessageIds::from_clock`]): the time since the Unix
//! epoch in milliseconds, modulo 2^32 - 1, plus 1. A restarted host then starts above every id of
//! its previous run unless that run sent more than 1000 messages per second on average; the seed
//! wraps every ~49.7 days, far longer than the game remembers anything (a message in progress is
//! dropped after 3600 ticks, and only the last 64 completed ids are remembered). The codec never
//! reads clocks; this module only does when asked to, through [`MessageIds::from_system_clock`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Allocates message ids `1 ..= u32::MAX` in increasing order, wrapping to 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIds {
    next: u32,
}

impl MessageIds {
    /// The first id handed out is `seed` (0 is taken as 1).
    pub fn starting_at(seed: u32) -> Self {
        MessageIds { next: seed.max(1) }
    }

    /// Seeded from a time since the Unix epoch, as the module documentation explains.
    pub fn from_clock(since_epoch: Duration) -> Self {
        let millis = since_epoch.as_millis();
        let seed = (millis % u128::from(u32::MAX)) as u32 + 1;
        MessageIds::starting_at(seed)
    }

    /// Seeded from the system clock (a clock before 1970 counts as the epoch).
    pub fn from_system_clock() -> Self {
        MessageIds::from_clock(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    /// The id the next call to [`MessageIds::next_id`] returns.
    pub fn peek(&self) -> u32 {
        self.next
    }

    /// Hands out an id.
    pub fn next_id(&mut self) -> u32 {
        let id = self.next;
        self.next = if id == u32::MAX { 1 } else { id + 1 };
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_and_wraps_past_the_largest_id_to_one() {
        let mut ids = MessageIds::starting_at(u32::MAX - 1);
        assert_eq!(
            [ids.next_id(), ids.next_id(), ids.next_id()],
            [u32::MAX - 1, u32::MAX, 1]
        );
        assert_eq!(MessageIds::starting_at(0).next_id(), 1);
    }

    #[test]
    fn clock_seeds_are_never_zero_and_follow_the_clock() {
        assert_eq!(MessageIds::from_clock(Duration::ZERO).peek(), 1);
        // One whole cycle of the modulus later, the seed is 1 again, never 0.
        let cycle = Duration::from_millis(u64::from(u32::MAX));
        assert_eq!(MessageIds::from_clock(cycle).peek(), 1);
        assert_eq!(
            MessageIds::from_clock(cycle - Duration::from_millis(1)).peek(),
            u32::MAX
        );
        // A host restarted 5 s later starts 5000 ids further on.
        let t = Duration::from_secs(1_700_000_000);
        let before = MessageIds::from_clock(t).peek();
        let after = MessageIds::from_clock(t + Duration::from_secs(5)).peek();
        assert_eq!(after.wrapping_sub(before), 5000);
    }
}
