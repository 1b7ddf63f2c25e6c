//! Reading a state document from bytes: limits first, then the version, then the schema of that
//! version, then migration and validation.
//!
//! Two readers: the block-style subset that solo prints is read by `block_yaml` (fast), and
//! everything else, including every text with a problem, by the general YAML reader, whose
//! errors name the line and column.
//!
//! Limits come before any YAML is parsed, so that hostile or mistaken input fails fast with a
//! clear message instead of exhausting memory or the stack:
//! - at most [`MAX_DOCUMENT_BYTES`] (4 MiB). The largest deployment we support (5,000
//!   components) prints to under 1 MiB of canonical YAML (the `state_parse` bench prints its
//!   size), and the store gzips it under Kubernetes' 1 MiB object limit; 4 MiB leaves room for
//!   hand-written comments and indentation while refusing files that are plainly something else;
//! - UTF-8 only; the offending byte's offset, line and column are reported;
//! - at most [`MAX_NESTING_DEPTH`] levels of nesting (the schema needs 5), enforced by the
//!   YAML reader's budget as it reads, before anything deeper can recurse;
//! - one YAML document, no duplicate keys, no unknown fields.

use super::block_yaml;
use super::error::StateError;
use super::migrate::{Migrated, MigrationStamp, VersionedDocument, migrate_to_current};
use super::model::StateDocument;
use super::older::{v1_0_32, v1_1_0, v2_0_0};
use super::validate::validate;
use super::version::{CURRENT, SchemaVersion, V1_0_32, V1_1_0, V2_0_0, known_versions_list};
use serde::de::DeserializeOwned;
use serde_saphyr::MessageFormatter as _;

/// The largest document solo reads, in bytes (see the module doc for why 4 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The deepest nesting of YAML collections solo reads; the schema itself needs 5 levels.
pub const MAX_NESTING_DEPTH: usize = 16;

/// A document read in the schema of its own version, with its original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The document, typed by its version.
    pub document: VersionedDocument,
    /// The text it was read from, for a backup if it gets migrated.
    pub original: String,
}

/// A document read, migrated to the current version when needed, and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The text already had the current version.
    Current(StateDocument),
    /// The text had an older version and was migrated.
    Migrated(Migrated),
}

impl Loaded {
    /// The document, in the current schema.
    pub fn document(&self) -> &StateDocument {
        match self {
            Loaded::Current(d) => d,
            Loaded::Migrated(m) => &m.document,
        }
    }

    /// The document, in the current schema, by value.
    pub fn into_document(self) -> StateDocument {
        match self {
            Loaded::Current(d) => d,
            Loaded::Migrated(m) => m.document,
        }
    }

    /// The migration, if there was one (with the backup of the original text).
    pub fn migrated(&self) -> Option<&Migrated> {
        match self {
            Loaded::Current(_) => None,
            Loaded::Migrated(m) => Some(m),
        }
    }
}

/// Read, migrate and validate: the one call a command needs to get a state it can trust.
pub fn load(text: &[u8], stamp: &MigrationStamp) -> Result<Loaded, StateError> {
    parse(text)?.into_loaded(stamp)
}

impl Parsed {
    /// Migrate to the current version when needed, then validate.
    pub fn into_loaded(self, stamp: &MigrationStamp) -> Result<Loaded, StateError> {
        let from = self.document.version();
        let loaded = match self.document {
            VersionedDocument::Current(d) => Loaded::Current(d),
            older => Loaded::Migrated(Migrated {
                document: migrate_to_current(older, stamp),
                backup_of_original: self.original,
                from,
            }),
        };
        validate(loaded.document()).map_err(|problems| StateError::Invalid { problems })?;
        Ok(loaded)
    }
}

/// Read a document in the schema of its own version, without migrating or validating it.
pub fn parse(text: &[u8]) -> Result<Parsed, StateError> {
    let text = decode(text)?;
    // Fastest path: the block-style subset that solo prints, read without the general reader.
    if let Some(document) = block_yaml::read(text).and_then(typed_from_value) {
        return Ok(Parsed {
            document,
            original: text.to_string(),
        });
    }
    // Fast path: a block-style document names its version on a top-level line, so read it in
    // the schema of that version in one pass. The typed `version` read by that pass must agree,
    // and any failure falls back to the careful path, which gives the precise error.
    if let Some(hinted) = version_line(text).filter(SchemaVersion::is_known)
        && let Ok(document) = parse_as(hinted, text)
        && document.version() == hinted
    {
        return Ok(Parsed {
            document,
            original: text.to_string(),
        });
    }
    let version = probe_version(text)?;
    let document = parse_as(version, text)?;
    Ok(Parsed {
        document,
        original: text.to_string(),
    })
}

fn parse_as(version: SchemaVersion, text: &str) -> Result<VersionedDocument, StateError> {
    Ok(match version {
        v if v == CURRENT => VersionedDocument::Current(from_yaml(text)?),
        v if v == V2_0_0 => VersionedDocument::V2_0_0(from_yaml::<v2_0_0::Document>(text)?),
        v if v == V1_1_0 => VersionedDocument::V1_1_0(from_yaml::<v1_1_0::Document>(text)?),
        v if v == V1_0_32 => VersionedDocument::V1_0_32(from_yaml::<v1_0_32::Document>(text)?),
        v if v > CURRENT => {
            return Err(StateError::FromNewerTool {
                found: v,
                newest_supported: CURRENT,
            });
        }
        v => {
            return Err(StateError::UnknownVersion {
                found: v,
                known: known_versions_list(),
            });
        }
    })
}

/// The block-subset reader alone, without the general reader behind it (for the tests that
/// check the two agree).
#[doc(hidden)]
pub fn parse_block_subset(text: &[u8]) -> Option<VersionedDocument> {
    let text = decode(text).ok()?;
    block_yaml::read(text).and_then(typed_from_value)
}

/// The general reader alone, without the block-subset reader in front of it.
#[doc(hidden)]
pub fn parse_general(text: &[u8]) -> Result<Parsed, StateError> {
    let text = decode(text)?;
    let version = probe_version(text)?;
    Ok(Parsed {
        document: parse_as(version, text)?,
        original: text.to_string(),
    })
}

/// A document of a known version from the value the block reader built, or `None` when the
/// general reader should judge the text (any type mismatch, unknown field or unknown version).
fn typed_from_value(value: serde_json::Value) -> Option<VersionedDocument> {
    use serde_json::from_value;
    let version: SchemaVersion = value.get("version")?.as_str()?.parse().ok()?;
    Some(match version {
        v if v == CURRENT => VersionedDocument::Current(from_value(value).ok()?),
        v if v == V2_0_0 => VersionedDocument::V2_0_0(from_value(value).ok()?),
        v if v == V1_1_0 => VersionedDocument::V1_1_0(from_value(value).ok()?),
        v if v == V1_0_32 => VersionedDocument::V1_0_32(from_value(value).ok()?),
        _ => return None,
    })
}

/// The value of the first top-level `version:` line, if it is a plain or quoted version.
fn version_line(text: &str) -> Option<SchemaVersion> {
    let line = text.lines().find(|l| l.starts_with("version:"))?;
    let value = line["version:".len()..].split(" #").next()?.trim();
    let value = value.trim_matches(|c| c == '"' || c == '\'');
    value.parse().ok()
}

/// Check size and encoding, and drop a byte-order mark; shared with the legacy import.
pub(crate) fn decode(text: &[u8]) -> Result<&str, StateError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(StateError::TooLarge {
            size: text.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let text = match std::str::from_utf8(text) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let before = String::from_utf8_lossy(&text[..offset]);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            return Err(StateError::NotUtf8 {
                offset,
                byte: text[offset],
                line,
                column,
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(StateError::Empty);
    }
    Ok(text)
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_NESTING_DEPTH,
            flow_nesting_limit: MAX_NESTING_DEPTH,
            max_documents: 1,
        },
        with_snippet: false,
        reject_unsupported_tags: true,
    }
}

/// The version, read before anything else so that the right schema reads the rest.
fn probe_version(text: &str) -> Result<SchemaVersion, StateError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        version: Option<String>,
    }
    let probe: Probe = from_yaml(text)?;
    let found = probe.version.ok_or(StateError::MissingVersion)?;
    found
        .parse()
        .map_err(|e: super::version::BadVersion| StateError::BadVersion { found, reason: e.0 })
}

/// Reads any other YAML file solo meets (its local config, the Solo tool's files) with the
/// state's wording of faults: one sentence with its line and column, never a parser dump.
pub fn read_yaml<T: DeserializeOwned>(text: &str) -> Result<T, StateError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            flow_nesting_limit: 32,
            max_documents: 1,
        },
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| yaml_error(&e))
}

fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, StateError> {
    serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| yaml_error(&e))
}

fn yaml_error(outer: &serde_saphyr::Error) -> StateError {
    use serde_saphyr::Error as E;
    use serde_saphyr::granit_parser::ErrorKind;
    let e = outer.without_snippet();
    let mut inner = e;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let message: String = match inner {
        E::Budget { breach, .. } => budget_message(breach),
        E::ExternalMessage { source, .. }
            if matches!(
                source.as_ref(),
                serde_saphyr::ExternalMessageSource::Parser(scan)
                    if matches!(scan.kind(), ErrorKind::RecursionLimitExceeded)
            ) =>
        {
            too_deep()
        }
        E::Unexpected { expected, .. } => match *expected {
            "sequence start" => "expected a list here".to_string(),
            "mapping start" => "expected a mapping (`key: value` lines) here".to_string(),
            "string scalar" | "scalar" => "expected a single value here".to_string(),
            other => format!("expected {other} here"),
        },
        other => serde_saphyr::UserMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    let message = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let (line, column) = match e.location() {
        Some(l) if l.line() > 0 => (Some(l.line()), Some(l.column())),
        _ => (None, None),
    };
    StateError::Yaml {
        line,
        column,
        message,
    }
}

fn too_deep() -> String {
    format!("the YAML nests deeper than {MAX_NESTING_DEPTH} levels, and a solo state needs 5")
}

/// The reader's safety limits, said in the terms of a state document.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Depth { .. } => too_deep(),
        B::Nodes { .. } | B::Events { .. } | B::ScalarBytes { .. } => {
            "the YAML has more values than any solo state (aliases count once for each use)"
                .to_string()
        }
        B::Aliases { .. }
        | B::Anchors { .. }
        | B::AliasAnchorRatio { .. }
        | B::RecordedAnchorEvents { .. }
        | B::RecordedAnchorBytes { .. } => {
            "the YAML uses too many aliases (`*name`); write the values out instead".to_string()
        }
        B::Documents { .. } => {
            "the file holds more than one YAML document, and a state is one document".to_string()
        }
        other => format!("the YAML exceeds a safety limit of the reader ({other:?})"),
    }
}
