//! The rule for untrusted text against the vectors the web client is tested on too.

use crate::names::{unsafe_char, without_unsafe};

const VECTORS: &str = include_str!("../../../tests/vectors/unsafe-chars.json");

fn vectors() -> serde_json::Value {
    serde_json::from_str(VECTORS).unwrap()
}

/// The unsafe ranges of the vectors, as inclusive code point pairs.
fn ranges() -> Vec<(u32, u32)> {
    let hex = |v: &serde_json::Value| u32::from_str_radix(v.as_str().unwrap(), 16).unwrap();
    vectors()["unsafe_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (hex(&pair[0]), hex(&pair[1])))
        .collect()
}

#[test]
fn the_rule_is_exactly_the_ranges_of_the_vectors() {
    let ranges = ranges();
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        let listed = ranges
            .iter()
            .any(|&(from, to)| (from..=to).contains(&u32::from(c)));
        assert_eq!(unsafe_char(c), listed, "U+{:04X}", u32::from(c));
    }
}

#[test]
fn names_lose_exactly_their_unsafe_characters() {
    for pair in vectors()["names"].as_array().unwrap() {
        let (name, clean) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        assert_eq!(without_unsafe(name), clean, "{name:?}");
    }
}
