//! Strategies for [`PlayerData`] shared by the property tests (formats, deltas): any data
//! within the bounds of docs/PLAYER_DATA.md, runs of equal stacks and gaps included.

#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;

use invsync_player_data::{
    Color, Crafting, Equipment, Inventories, PlayerData, QueuedCraft, Stack,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Finite numbers of every kind JSON can carry.
pub fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(0.5),
        0.0..1.0f64,
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
    ]
}

pub fn item() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("iron-plate".to_string()),
        Just("coal".to_string()),
        "[a-z-]{1,12}",
        "\\PC{0,6}",
    ]
}

pub fn color() -> impl Strategy<Value = Color> {
    (number(), number(), number(), number()).prop_map(|(r, g, b, a)| Color { r, g, b, a })
}

pub fn tags() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    let leaf = prop_oneof![
        Just(json!(true)),
        any::<i32>().prop_map(|n| json!(n)),
        number().prop_map(|n| json!(n)),
        "[a-z]{0,5}".prop_map(|s| json!(s)),
    ];
    let value = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("[a-z]{1,4}", value, 0..3).prop_map(|m| m.into_iter().collect())
}

/// A stack without a slot; `depth` levels of item inventories may follow.
pub fn stack(depth: u32) -> BoxedStrategy<Stack> {
    let plain = (
        item(),
        1..=u32::MAX,
        prop::option::of(prop_oneof!["rare", "epic"]),
    )
        .prop_map(|(name, count, quality)| Stack {
            slot: None,
            quality,
            ..Stack::plain(0, &name, count)
        })
        .boxed();
    let numbers = prop::array::uniform4(prop::option::of(number()));
    let export = prop_oneof![
        Just((None, None)),
        "0[A-Za-z0-9+/=]{0,20}".prop_map(|x| (Some(x), None)),
        "\\PC{0,20}".prop_map(|j| (None, Some(j))),
    ];
    let grid = prop::option::of(prop::collection::vec(
        (
            "[a-z-]{1,8}",
            0..10u32,
            0..10u32,
            prop::option::of(number()),
        )
            .prop_map(|(name, x, y, energy)| Equipment {
                name,
                x,
                y,
                quality: None,
                energy,
                shield: None,
            }),
        0..3,
    ));
    let label = (
        prop::option::of("\\PC{0,8}"),
        prop::option::of(color()),
        prop::option::of(any::<bool>()),
    );
    let description = prop::option::of(prop_oneof![
        "\\PC{0,8}".prop_map(Value::String),
        Just(json!(["item-description.key", "x"])),
    ]);
    let inner = if depth == 0 {
        Just(None).boxed()
    } else {
        prop::option::of(slotted(stack(depth - 1), 4)).boxed()
    };
    let object = (
        plain.clone(),
        numbers,
        export,
        grid,
        label,
        (prop::option::of(tags()), description),
        inner,
    )
        .prop_map(
            |(s, [h, d, a, p], (x, xj), grid, (l, lc, lm), (t, cd), i)| Stack {
                health: h,
                durability: d,
                ammo: a,
                spoil_percent: p,
                export: x,
                export_json: xj,
                grid,
                label: l,
                label_color: lc,
                allow_manual_label_change: lm,
                tags: t,
                custom_description: cd,
                inventory: i,
                ..s
            },
        );
    prop_oneof![3 => plain, 1 => object].boxed()
}

/// A list with slots: runs of equal stacks (merged by the writer), gaps between some.
pub fn slotted(stack: BoxedStrategy<Stack>, len: usize) -> impl Strategy<Value = Vec<Stack>> {
    prop::collection::vec((stack, 1..4u32, 0..3u32), 0..len).prop_map(|runs| {
        let mut out = Vec::new();
        let mut slot = 0;
        for (s, run, gap) in runs {
            slot += gap;
            for _ in 0..run {
                slot += 1;
                out.push(Stack {
                    slot: Some(slot),
                    ..s.clone()
                });
            }
        }
        out
    })
}

pub fn slotless(len: usize) -> impl Strategy<Value = Vec<Stack>> {
    prop::collection::vec(stack(1), 0..len)
}

pub fn player() -> impl Strategy<Value = PlayerData> {
    let inventories = prop::array::uniform5(slotted(stack(2), 12)).prop_map(
        |[main, guns, ammo, armor, trash]| Inventories {
            main,
            guns,
            ammo,
            armor,
            trash,
        },
    );
    let crafting = prop::option::of((slotless(3), prop::option::of(number())).prop_map(
        |(ingredients, progress)| Crafting {
            queue: vec![QueuedCraft {
                recipe: "iron-gear-wheel".into(),
                count: 2,
            }],
            progress,
            ingredients,
        },
    ));
    (
        "\\PC{0,10}",
        prop::option::of(color()),
        inventories,
        crafting,
        prop::option::of(stack(1)),
        slotless(4),
    )
        .prop_map(|(name, color, inventories, crafting, cursor, unplaced)| {
            let mut p = PlayerData::from_json(br#"{"format":2,"name":""}"#).unwrap();
            p.name = name;
            p.color = color;
            p.bonuses = BTreeMap::from([("character_inventory_slots_bonus".into(), 10.0)]);
            p.inventories = inventories;
            p.crafting = crafting;
            p.cursor = cursor;
            p.unplaced = unplaced;
            p
        })
}

/// Runs `property` on a thread with room for the deep value trees of stacks inside stacks
/// (more stack than a test thread has in a debug build).
pub fn on_a_big_stack(property: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(property)
        .unwrap()
        .join()
        .unwrap();
}
