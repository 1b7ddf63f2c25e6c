//! The JSON Schema of `solo state schema` describes the documents solo reads: the seed's example
//! is valid against it, and a malformed document (a misspelt field, a wrong type) is not.

use serde_json::{Value, json};
use solo_core::state;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&state::json_schema()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// The seed's example (schema 1.0.32) as solo reads it: migrated to the current schema.
fn reference_example() -> Value {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/state/reference-example.yaml"
    ))
    .expect("the seed's example");
    let stamp = state::MigrationStamp {
        by: "schema@example.com".into(),
        at: jiff::Timestamp::UNIX_EPOCH,
    };
    // Read and migrated, not validated: its `cluster-N` is a placeholder, not a valid name.
    let parsed = state::parse(&text).expect("reads");
    let doc = state::migrate_to_current(parsed.document, &stamp);
    let yaml = state::to_canonical_yaml(&doc).expect("yaml");
    // As an editor sees it: the YAML a person edits, read as plain data.
    serde_saphyr::from_str(&yaml).expect("YAML")
}

#[test]
fn the_seeds_example_is_valid_against_the_schema() {
    let example = reference_example();
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(&example)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_misspelt_field_or_a_wrong_type_is_refused() {
    let validator = validator();
    let mut misspelt = reference_example();
    misspelt["components"]["consensus"][0]["clustr"] = json!("cluster-1");
    assert!(!validator.is_valid(&misspelt));
    let mut wrong_type = reference_example();
    wrong_type["clusters"] = json!("cluster-1");
    assert!(!validator.is_valid(&wrong_type));
    let mut bad_version = reference_example();
    bad_version["version"] = json!("two");
    assert!(!validator.is_valid(&bad_version));
    let mut no_metadata = reference_example();
    no_metadata
        .as_object_mut()
        .expect("a mapping")
        .remove("metadata");
    assert!(!validator.is_valid(&no_metadata));
}
