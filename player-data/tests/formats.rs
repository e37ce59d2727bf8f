//! Any player data written in format 2 parses to the same data, and written in format 1 too;
//! format 2 merges every run it can.

mod strategies;

use invsync_player_data::{PlayerData, Stack};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use strategies::{on_a_big_stack, player};

/// Entries format 2 must write for a list with slots: one per run of equal stacks in
/// consecutive slots.
fn runs(list: &[Stack]) -> usize {
    let same = |a: &Stack, b: &Stack| {
        b.slot == a.slot.map(|s| s + 1)
            && Stack {
                slot: None,
                ..a.clone()
            } == Stack {
                slot: None,
                ..b.clone()
            }
    };
    list.iter()
        .enumerate()
        .filter(|(k, s)| *k == 0 || !same(&list[k - 1], s))
        .count()
}

#[test]
fn format_2_and_format_1_parse_to_the_same_data() {
    let property = || {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
        let result = runner.run(&player(), |p| {
            let dense = p.to_json();
            prop_assert_eq!(&PlayerData::from_json(dense.as_bytes()).unwrap(), &p);
            let long = p.to_json_format_1();
            prop_assert_eq!(&PlayerData::from_json(long.as_bytes()).unwrap(), &p);
            let written: Value = serde_json::from_str(&dense).unwrap();
            prop_assert_eq!(&written["format"], &json!(2));
            let main = written["inventories"]["main"].as_array().unwrap();
            prop_assert_eq!(main.len(), runs(&p.inventories.main));
            prop_assert!(dense.len() <= long.len(), "format 2 is never longer");
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    };
    on_a_big_stack(property);
}
