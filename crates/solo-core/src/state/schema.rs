//! The JSON Schema of the state document, made from the Rust types, for editors and other tools.

use super::model::StateDocument;

/// The JSON Schema (draft 2020-12) of a state document of the current version, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(StateDocument);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
