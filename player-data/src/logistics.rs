//! The `logistics` member of the player data: the character's personal logistic requests and
//! trash settings (`LuaControl.get_requester_point()`, runtime API 2.0.45), checked against the
//! bounds of docs/PLAYER_DATA.md when parsed.

use serde::{Deserialize, Serialize};

use crate::player::list_or_empty_object;

/// Sections a `logistics` object holds at most.
pub const MAX_LOGISTIC_SECTIONS: usize = 100;
/// Requests a section holds at most.
pub const MAX_SECTION_FILTERS: usize = 1000;
/// Highest slot of a request (`LogisticFilterIndex` is a `uint16`).
pub const MAX_LOGISTIC_SLOT: u32 = 65_535;
/// Quality comparators, as the game reads them back (`ComparatorString`).
pub const COMPARATORS: [&str; 6] = ["=", ">", "<", "≥", "≤", "≠"];

/// The requester point of the character.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLogistics")]
pub struct Logistics {
    /// `enabled`: whether the point requests and trashes at all; absent means true.
    #[serde(skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// `trash_not_requested`; absent means false.
    #[serde(skip_serializing_if = "is_false")]
    pub trash_not_requested: bool,
    /// The sections, in order.
    pub sections: Vec<LogisticSection>,
}

/// One section of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticSection {
    /// The logistic group it belongs to; absent (or `""`) means none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// `active`; absent means true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub active: bool,
    /// `multiplier`, >= 0; absent means 1.
    #[serde(default = "unit", skip_serializing_if = "is_unit")]
    pub multiplier: f64,
    /// The requests, by increasing slot.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub filters: Vec<LogisticRequest>,
}

/// One request (a `LogisticFilter` of an item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticRequest {
    /// 1-based slot in its section, 1..=65535.
    pub slot: u32,
    /// Item prototype name.
    pub name: String,
    /// Quality prototype name; absent means any quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// How the quality compares (one of [`COMPARATORS`]); absent means any quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparator: Option<String>,
    /// `min`: the amount to satisfy; absent means 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min: i32,
    /// `max`: the most to keep; absent means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

fn yes() -> bool {
    true
}

fn unit() -> f64 {
    1.0
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_unit(m: &f64) -> bool {
    *m == 1.0
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// What the JSON holds, before the bounds are checked.
#[derive(Deserialize)]
struct RawLogistics {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    trash_not_requested: bool,
    #[serde(default, deserialize_with = "list_or_empty_object")]
    sections: Vec<LogisticSection>,
}

impl TryFrom<RawLogistics> for Logistics {
    type Error = String;

    fn try_from(raw: RawLogistics) -> Result<Self, String> {
        if raw.sections.len() > MAX_LOGISTIC_SECTIONS {
            return Err(format!(
                "logistics: {} sections, at most {MAX_LOGISTIC_SECTIONS}",
                raw.sections.len()
            ));
        }
        for (i, s) in raw.sections.iter().enumerate() {
            check_section(s).map_err(|e| format!("logistics.sections[{}]: {e}", i + 1))?;
        }
        Ok(Logistics {
            enabled: raw.enabled,
            trash_not_requested: raw.trash_not_requested,
            sections: raw.sections,
        })
    }
}

fn check_section(s: &LogisticSection) -> Result<(), String> {
    if !(s.multiplier.is_finite() && s.multiplier >= 0.0) {
        return Err(format!("multiplier {} is not a number >= 0", s.multiplier));
    }
    if s.filters.len() > MAX_SECTION_FILTERS {
        return Err(format!(
            "{} filters, at most {MAX_SECTION_FILTERS}",
            s.filters.len()
        ));
    }
    let mut last = 0;
    for (k, f) in s.filters.iter().enumerate() {
        let at = |e: String| format!("filters[{}]: {e}", k + 1);
        if f.slot <= last || f.slot > MAX_LOGISTIC_SLOT {
            return Err(at(format!(
                "slot {} is not in {}..={MAX_LOGISTIC_SLOT} (slots increase)",
                f.slot,
                last + 1
            )));
        }
        last = f.slot;
        if f.name.is_empty() || f.quality.as_deref() == Some("") {
            return Err(at("an empty item or quality name".into()));
        }
        if let Some(c) = &f.comparator
            && !COMPARATORS.contains(&c.as_str())
        {
            return Err(at(format!("unknown comparator {c:?}")));
        }
        if let Some(max) = f.max
            && i64::from(f.min) > i64::from(max)
        {
            return Err(at(format!("min {} is greater than max {max}", f.min)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Logistics, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn absent_fields_take_their_defaults_and_round_trip() {
        let l = parse(r#"{"sections":[{"filters":[{"slot":2,"name":"coal"}]}]}"#).unwrap();
        assert!(l.enabled && !l.trash_not_requested);
        let s = &l.sections[0];
        assert!(s.active && s.group.is_empty() && s.multiplier == 1.0);
        assert_eq!((s.filters[0].min, s.filters[0].max), (0, None));
        let full = r#"{"enabled":false,"trash_not_requested":true,"sections":[{"group":"mall","active":false,"multiplier":1.5,"filters":[{"slot":1,"name":"coal","quality":"rare","comparator":"≥","min":-5,"max":200}]},{"filters":[]}]}"#;
        let l = parse(full).unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), full);
        // what the game writes for empty tables
        let l = parse(r#"{"sections":{}}"#).unwrap();
        assert!(l.sections.is_empty());
    }

    #[test]
    fn out_of_bounds_data_is_refused_with_where_and_why() {
        for (json, why) in [
            (
                r#"{"sections":[{"filters":[{"slot":1,"name":"coal","min":10,"max":5}]}]}"#,
                "logistics.sections[1]: filters[1]: min 10 is greater than max 5",
            ),
            (
                r#"{"sections":[{"filters":[{"slot":2,"name":"a"},{"slot":2,"name":"b"}]}]}"#,
                "filters[2]: slot 2 is not in 3..=65535",
            ),
            (
                r#"{"sections":[{"filters":[{"slot":0,"name":"a"}]}]}"#,
                "slot 0 is not in 1..=65535",
            ),
            (
                r#"{"sections":[{"filters":[{"slot":65536,"name":"a"}]}]}"#,
                "slot 65536",
            ),
            (
                r#"{"sections":[{},{"filters":[{"slot":1,"name":"a","comparator":"~"}]}]}"#,
                "logistics.sections[2]: filters[1]: unknown comparator \"~\"",
            ),
            (
                r#"{"sections":[{"multiplier":-1}]}"#,
                "multiplier -1 is not a number >= 0",
            ),
            (
                r#"{"sections":[{"filters":[{"slot":1,"name":""}]}]}"#,
                "an empty item or quality name",
            ),
        ] {
            let err = parse(json).expect_err(json).to_string();
            assert!(err.contains(why), "{json}: {err}");
        }
        let many = format!("{{\"sections\":[{}]}}", vec!["{}"; 101].join(","));
        assert!(
            parse(&many)
                .unwrap_err()
                .to_string()
                .contains("101 sections")
        );
        let filters: Vec<String> = (1..=1001)
            .map(|i| format!("{{\"slot\":{i},\"name\":\"coal\"}}"))
            .collect();
        let many = format!("{{\"sections\":[{{\"filters\":[{}]}}]}}", filters.join(","));
        assert!(
            parse(&many)
                .unwrap_err()
                .to_string()
                .contains("1001 filters")
        );
        // a count that is not a whole number, or a wrong type
        assert!(parse(r#"{"sections":[{"filters":[{"slot":1,"name":"a","min":1.5}]}]}"#).is_err());
        assert!(parse(r#"{"enabled":"yes"}"#).is_err());
    }
}
