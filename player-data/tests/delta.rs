//! Deltas on any data: applying the delta from a base to new data gives the new data exactly,
//! through its JSON too, and a delta holds only what changed.

mod strategies;

use invsync_player_data::{Delta, Inventories, PlayerData, Stack, apply, diff};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use strategies::{on_a_big_stack, player};

/// `a`'s stacks up to slot `cut` and `b`'s after it: slots kept, changed, added and emptied.
fn mix(a: &[Stack], b: &[Stack], cut: u32) -> Vec<Stack> {
    let slot = |s: &&Stack| s.slot.unwrap_or(0);
    a.iter()
        .filter(|s| slot(s) <= cut)
        .chain(b.iter().filter(|s| slot(s) > cut))
        .cloned()
        .collect()
}

/// A base and the data of a returning player: part of each inventory as in the base, the
/// other members the base's or another player's.
fn returning() -> impl Strategy<Value = (PlayerData, PlayerData)> {
    (
        player(),
        player(),
        prop::array::uniform5(0..24u32),
        any::<bool>(),
    )
        .prop_map(|(a, b, [m, g, am, ar, t], others)| {
            let mut new = if others { b.clone() } else { a.clone() };
            let (x, y) = (&a.inventories, &b.inventories);
            new.inventories = Inventories {
                main: mix(&x.main, &y.main, m),
                guns: mix(&x.guns, &y.guns, g),
                ammo: mix(&x.ammo, &y.ammo, am),
                armor: mix(&x.armor, &y.armor, ar),
                trash: mix(&x.trash, &y.trash, t),
            };
            (a, new)
        })
}

/// Every stack the delta sets differs from the base's at its slot, and every cleared slot held
/// a stack in the base and holds none in the new data.
fn only_changes(base: &[Stack], new: &[Stack], set: &[Stack], cleared: &[(u32, u32)]) -> bool {
    let at = |list: &[Stack], slot: u32| list.iter().find(|s| s.slot == Some(slot)).cloned();
    let set_ok = set
        .iter()
        .all(|s| at(base, s.slot.unwrap()).as_ref() != Some(s));
    let cleared_ok = cleared
        .iter()
        .flat_map(|&(from, to)| from..=to)
        .all(|slot| at(base, slot).is_some() && at(new, slot).is_none());
    set_ok && cleared_ok
}

fn check(base: &PlayerData, new: &PlayerData) -> Result<(), TestCaseError> {
    let delta = diff(base, new);
    prop_assert_eq!(&apply(base, &delta).unwrap(), new);
    let text = delta.to_json();
    let read = Delta::from_json(text.as_bytes()).unwrap();
    prop_assert_eq!(&read, &delta);
    prop_assert_eq!(&apply(base, &read).unwrap(), new);
    let (b, n, d) = (&base.inventories, &new.inventories, &delta.data.inventories);
    let c = &delta.cleared;
    for (base, new, set, cleared) in [
        (&b.main, &n.main, &d.main, &c.main),
        (&b.guns, &n.guns, &d.guns, &c.guns),
        (&b.ammo, &n.ammo, &d.ammo, &c.ammo),
        (&b.armor, &n.armor, &d.armor, &c.armor),
        (&b.trash, &n.trash, &d.trash, &c.trash),
    ] {
        prop_assert!(only_changes(base, new, set, cleared), "{text}");
    }
    Ok(())
}

#[test]
fn a_delta_applied_to_its_base_is_the_new_data() {
    on_a_big_stack(|| {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
        let unrelated = runner.run(&(player(), player()), |(a, b)| check(&a, &b));
        let related = runner.run(&returning(), |(a, b)| check(&a, &b));
        if let Err(e) = unrelated.and(related) {
            panic!("{e}");
        }
    });
}

#[test]
fn the_delta_of_unchanged_data_clears_nothing_and_sets_no_slot() {
    on_a_big_stack(|| {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(128));
        let result = runner.run(&player(), |a| {
            let delta = diff(&a, &a);
            prop_assert!(delta.keeps_every_slot(), "{}", delta.to_json());
            prop_assert_eq!(
                &delta.data,
                &PlayerData {
                    inventories: Inventories::default(),
                    ..a.clone()
                }
            );
            prop_assert_eq!(&apply(&a, &delta).unwrap(), &a);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    });
}
