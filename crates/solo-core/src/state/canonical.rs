//! The canonical text of a state: one way to print each document, so copies compare byte for byte.
//!
//! Canonical YAML is what solo writes and hashes: two-space indentation, list items indented
//! under their key, fields in schema order, every component list present (empty as `[]`), list
//! order kept as written (it may carry meaning, like `cli.history` newest first), strings quoted
//! only where YAML would read them as something else, and one trailing newline. Printing,
//! parsing and printing again gives the same bytes.

use super::error::StateError;
use super::migrate::VersionedDocument;
use super::model::StateDocument;
use serde::Serialize;

fn options() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: false,
        prefer_block_scalars: false,
    }
}

fn to_yaml<T: Serialize>(value: &T) -> Result<String, StateError> {
    let mut text = serde_saphyr::to_string_with_options(value, options())
        .map_err(|e| StateError::Serialize(e.to_string()))?;
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The canonical YAML of a document: what solo writes, diffs and hashes.
pub fn to_canonical_yaml(doc: &StateDocument) -> Result<String, StateError> {
    to_yaml(doc)
}

/// The canonical YAML of a document of any known version, as that version wrote it.
pub fn versioned_to_yaml(doc: &VersionedDocument) -> Result<String, StateError> {
    match doc {
        VersionedDocument::V1_0_32(d) => to_yaml(d),
        VersionedDocument::V1_1_0(d) => to_yaml(d),
        VersionedDocument::V2_0_0(d) => to_yaml(d),
        VersionedDocument::Current(d) => to_yaml(d),
    }
}

/// The document as pretty JSON, for `-o json`.
pub fn to_json(doc: &StateDocument) -> Result<String, StateError> {
    serde_json::to_string_pretty(doc)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| StateError::Serialize(e.to_string()))
}
