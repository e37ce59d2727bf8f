//! Personal logistics: a character's requester point (`LuaLogisticPoint`), its sections
//! (`LuaLogisticSection`) and the force's logistic groups (runtime-api.json 2.0.45).
//!
//! A section in a group (`group` not empty) shows and edits the filters of that group, which
//! the force shares: every section of every character in the group sees the same filters. Only
//! manual sections exist here (the game's other section types are controlled by the game).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Sections a requester point holds at most; `add_section` gives nil beyond (*unconfirmed*:
/// the description says only "if possible").
pub const MAX_SECTIONS: usize = 100;
/// Highest filter slot of a section (`LogisticFilterIndex` is a `uint16`).
pub const MAX_SLOT: u32 = 65_535;

/// The comparators of `ComparatorString`, each with the form the game reads back.
pub(crate) const COMPARATORS: [(&str, &str); 9] = [
    ("=", "="),
    (">", ">"),
    ("<", "<"),
    ("≥", "≥"),
    (">=", "≥"),
    ("≤", "≤"),
    ("<=", "≤"),
    ("≠", "≠"),
    ("!=", "≠"),
];

/// One request of a section (`LogisticFilter` with an item `value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticFilter {
    /// Item prototype name.
    pub name: String,
    /// Quality prototype name; None for any quality.
    pub quality: Option<String>,
    /// Quality comparator as the game reads it back (`=`, `>`, `<`, `≥`, `≤`, `≠`); None for
    /// any quality.
    pub comparator: Option<String>,
    /// `min`: the amount to satisfy (an `int`).
    pub min: i32,
    /// `max`: the most to keep; None for infinite (an `ItemCountType`).
    pub max: Option<u32>,
}

/// Filters by slot (1..=[`MAX_SLOT`]).
pub type Filters = BTreeMap<u32, LogisticFilter>;

/// One manual section of a requester point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticSection {
    /// Identity of the section within its point (handles follow it when others are removed).
    pub id: u32,
    /// `group`: "" when in no group; else the filters are the force's group's.
    pub group: String,
    /// `active`.
    pub active: bool,
    /// `multiplier`, a `float`: kept rounded to single precision, as the game stores it.
    pub multiplier: f64,
    /// The section's own filters (used while `group` is "").
    pub filters: Filters,
}

/// A character's requester point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequesterPoint {
    /// `enabled`.
    pub enabled: bool,
    /// `trash_not_requested`.
    pub trash_not_requested: bool,
    /// The sections, in index order.
    pub sections: Vec<LogisticSection>,
    /// The id the next section gets.
    pub next_section_id: u32,
}

impl Default for RequesterPoint {
    fn default() -> Self {
        RequesterPoint {
            enabled: true,
            trash_not_requested: false,
            sections: Vec::new(),
            next_section_id: 1,
        }
    }
}

impl RequesterPoint {
    /// Index (0-based) of the section with identity `id`.
    pub(crate) fn position(&self, id: u32) -> Option<usize> {
        self.sections.iter().position(|s| s.id == id)
    }

    /// Adds a section in `group` ("" for none); None when the point is full.
    pub(crate) fn add(&mut self, group: &str) -> Option<u32> {
        if self.sections.len() >= MAX_SECTIONS {
            return None;
        }
        let id = self.next_section_id;
        self.next_section_id += 1;
        self.sections.push(LogisticSection {
            id,
            group: group.to_string(),
            active: true,
            multiplier: 1.0,
            filters: Filters::new(),
        });
        Some(id)
    }
}

/// The filters section `s` shows: its own, or its group's.
pub(crate) fn shown<'a>(
    groups: &'a BTreeMap<String, Filters>,
    s: &'a LogisticSection,
) -> Option<&'a Filters> {
    if s.group.is_empty() {
        Some(&s.filters)
    } else {
        groups.get(&s.group)
    }
}

/// The filters a write to section `s` changes: its own, or its group's (created if missing).
pub(crate) fn edited<'a>(
    groups: &'a mut BTreeMap<String, Filters>,
    s: &'a mut LogisticSection,
) -> &'a mut Filters {
    if s.group.is_empty() {
        &mut s.filters
    } else {
        groups.entry(s.group.clone()).or_default()
    }
}

/// Moves section `s` to `group`: leaving a group keeps what it showed as the section's own
/// filters; joining an existing group shows that group's; a new group starts with what the
/// section showed (*unconfirmed*: the description does not say).
pub(crate) fn regroup(
    groups: &mut BTreeMap<String, Filters>,
    s: &mut LogisticSection,
    group: &str,
) {
    if s.group == group {
        return;
    }
    let current = shown(groups, s).cloned().unwrap_or_default();
    if group.is_empty() {
        s.filters = current;
    } else {
        s.filters.clear();
        groups.entry(group.to_string()).or_insert(current);
    }
    s.group = group.to_string();
}
