//! Request id allocation.
//!
//! Ids are positive `i32`s: never 0 (reports say Factorio sends chat and log lines with id 0)
//! and never negative (Factorio answers a failed auth with id -1). They count up from 1 and wrap
//! from `i32::MAX` back to 1, skipping ids the caller still uses, so a reply can always be
//! matched to exactly one outstanding request.

/// Hands out request ids `1..=i32::MAX`, wrapping, never returning one that `in_use` reports.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    next: i32,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::starting_at(1)
    }
}

impl RequestIds {
    /// An allocator whose first id is `first` (clamped into `1..=i32::MAX`); tests use this to
    /// exercise the wrap.
    pub(crate) fn starting_at(first: i32) -> Self {
        RequestIds { next: first.max(1) }
    }

    /// The next id for which `in_use` is false. `in_use` must reject fewer than `i32::MAX` ids
    /// (callers bound their outstanding requests far below that).
    pub(crate) fn allocate(&mut self, in_use: impl Fn(i32) -> bool) -> i32 {
        loop {
            let id = self.next;
            self.next = if id == i32::MAX { 1 } else { id + 1 };
            if !in_use(id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_one() {
        let mut ids = RequestIds::default();
        assert_eq!(
            [
                ids.allocate(|_| false),
                ids.allocate(|_| false),
                ids.allocate(|_| false)
            ],
            [1, 2, 3]
        );
    }

    #[test]
    fn wraps_past_i32_max_to_one_never_zero() {
        let mut ids = RequestIds::starting_at(i32::MAX - 1);
        let got: Vec<i32> = (0..4).map(|_| ids.allocate(|_| false)).collect();
        assert_eq!(got, [i32::MAX - 1, i32::MAX, 1, 2]);
    }

    #[test]
    fn skips_ids_still_in_use() {
        let mut ids = RequestIds::starting_at(i32::MAX);
        let busy = [i32::MAX, 1, 3];
        let got: Vec<i32> = (0..3)
            .map(|_| ids.allocate(|id| busy.contains(&id)))
            .collect();
        assert_eq!(got, [2, 4, 5]);
    }

    #[test]
    fn non_positive_start_is_clamped() {
        assert_eq!(RequestIds::starting_at(0).allocate(|_| false), 1);
        assert_eq!(RequestIds::starting_at(-5).allocate(|_| false), 1);
    }
}
