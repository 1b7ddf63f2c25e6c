//! Every valid document survives printing and reading, and canonical printing is a fixed point.

mod state_support;

use proptest::prelude::*;
use solo_core::state::{self, Loaded};
use state_support::{stamp, valid_document};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_valid_document_round_trips_through_canonical_yaml(doc in valid_document()) {
        prop_assert_eq!(state::validate(&doc), Ok(()));
        let text = state::to_canonical_yaml(&doc).expect("prints");
        let loaded = state::load(text.as_bytes(), &stamp()).expect("reads back");
        let Loaded::Current(back) = loaded else { panic!("a current document is not migrated") };
        prop_assert_eq!(&back, &doc);
        let again = state::to_canonical_yaml(&back).expect("prints again");
        prop_assert_eq!(&again, &text, "print, parse, print gives the same bytes");
        prop_assert_eq!(state::content_hash(&again), state::content_hash(&text));
    }

    #[test]
    fn the_json_form_reads_back_as_the_same_document(doc in valid_document()) {
        let json = state::to_json(&doc).expect("json");
        let back: state::StateDocument = serde_json::from_str(&json).expect("json reads back");
        prop_assert_eq!(&back, &doc);
        // JSON is YAML too: the same reader takes it, and prints the canonical text.
        let via_yaml = state::load(json.as_bytes(), &stamp()).expect("json read as yaml").into_document();
        prop_assert_eq!(&via_yaml, &doc);
    }

    #[test]
    fn reading_ignores_layout_and_comments(doc in valid_document()) {
        let text = state::to_canonical_yaml(&doc).expect("prints");
        // Same content, different layout: a comment line after every line and a blank line.
        let commented: String = text.lines().map(|l| format!("{l}\n# a comment\n\n")).collect();
        let back = state::load(commented.as_bytes(), &stamp()).expect("reads").into_document();
        prop_assert_eq!(state::to_canonical_yaml(&back).expect("prints"), text);
    }
}

#[test]
fn canonical_text_has_every_kind_and_one_trailing_newline() {
    let doc = state::StateDocument::new("net", "a@b.io", jiff::Timestamp::UNIX_EPOCH);
    let text = state::to_canonical_yaml(&doc).expect("prints");
    assert_eq!(
        text,
        "version: \"2.1.0\"\nmetadata:\n  name: net\n  lastUpdatedAt: \"1970-01-01T00:00:00Z\"\n  lastUpdatedBy: a@b.io\nclusters: []\ncomponents:\n  consensus: []\n  haproxy: []\n  envoyProxy: []\n  mirror: []\n  mirror-node-explorer: []\n  relay: []\ncli:\n  history: []\n"
    );
}
