//! Deterministic pseudo-random numbers for test data, shuffles and simulated faults: the same
//! sequence on every run and platform, from a one-line generator (Marsaglia's xorshift64 with
//! shifts 13/7/17), so tests need no `rand` and their seeds stay meaningful.

use std::ops::RangeInclusive;

/// A xorshift64 generator; the value is its state. A zero state stays zero: seed it non-zero
/// (`seed | 1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorShift64(pub u64);

impl XorShift64 {
    /// Advances the state and returns it.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `p` / 1000.
    pub fn per_mille(&mut self, p: u32) -> bool {
        (self.next_u64() % 1000) < u64::from(p)
    }
}

/// `len` bytes from `alphabet` (a range of byte values, such as `b'a'..=b'z'`), one step of
/// `rng` each: text that does not deflate, in the character set a test needs.
///
/// # Panics
/// If `alphabet` is empty.
pub fn text_from_range(alphabet: RangeInclusive<u8>, len: usize, rng: &mut XorShift64) -> Vec<u8> {
    assert!(
        !alphabet.is_empty(),
        "text_from_range: empty alphabet {alphabet:?}"
    );
    let first = *alphabet.start();
    let size = u64::from(alphabet.end() - first) + 1;
    (0..len)
        .map(|_| first + (rng.next_u64() % size) as u8)
        .collect()
}

/// `len` bytes of printable ASCII (`#` to `z`) that does not deflate, so its size rather than its
/// content decides how it is framed and routed.
pub fn noise(len: usize, rng: &mut XorShift64) -> Vec<u8> {
    text_from_range(b'#'..=b'z', len, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_xorshift64_recurrence() {
        let mut rng = XorShift64(1);
        // x ^= x << 13; x ^= x >> 7; x ^= x << 17, worked by hand from 1.
        let a = 1u64 ^ (1 << 13);
        let a = a ^ (a >> 7);
        let a = a ^ (a << 17);
        assert_eq!(rng.next_u64(), a);
        assert_eq!(rng.0, a);
        assert_ne!(rng.next_u64(), a);
    }

    #[test]
    fn noise_is_printable_and_repeats_for_a_seed() {
        let text = noise(10_000, &mut XorShift64(7));
        assert!(text.iter().all(|b| (b'#'..=b'z').contains(b)));
        assert_eq!(text, noise(10_000, &mut XorShift64(7)));
        assert_ne!(text, noise(10_000, &mut XorShift64(9)));
        // Every printable value of the range shows up: the text really is mixed.
        assert!((b'#'..=b'z').all(|c| text.contains(&c)));
    }

    #[test]
    fn text_from_range_keeps_to_its_alphabet_and_follows_the_generator() {
        let mut rng = XorShift64(5);
        let text = text_from_range(b'a'..=b'z', 5_000, &mut rng);
        assert!(text.iter().all(u8::is_ascii_lowercase));
        assert!((b'a'..=b'z').all(|c| text.contains(&c)));
        // One step of the generator a byte, reduced modulo the alphabet's size.
        let mut check = XorShift64(5);
        assert!(
            text.iter()
                .all(|&b| b == b'a' + (check.next_u64() % 26) as u8)
        );
        assert_eq!(rng, check);
        // A one-letter alphabet and the whole byte range are both fine.
        assert_eq!(text_from_range(b'x'..=b'x', 3, &mut rng), b"xxx");
        let bytes = text_from_range(0..=255, 10_000, &mut rng);
        assert!(bytes.contains(&0) && bytes.contains(&255));
    }

    #[test]
    #[should_panic(expected = "empty alphabet")]
    fn text_from_range_refuses_an_empty_alphabet() {
        #[allow(clippy::reversed_empty_ranges)]
        text_from_range(b'z'..=b'a', 1, &mut XorShift64(1));
    }

    #[test]
    fn per_mille_keeps_to_its_rate() {
        let mut rng = XorShift64(3);
        let hits = (0..100_000).filter(|_| rng.per_mille(250)).count();
        assert!((23_000..27_000).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| rng.per_mille(0)));
        assert!((0..1000).all(|_| rng.per_mille(1000)));
    }
}
