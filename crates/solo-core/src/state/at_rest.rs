//! The text of a state at rest in the clusters: canonical JSON, as Kubernetes itself stores.
//!
//! No person reads the stored text (it sits base64- or gzip-encoded in a Secret), so it is
//! written in the format that is fastest to read and has one printing: compact JSON, fields in
//! schema order, one trailing newline. People see and edit YAML ([`super::to_canonical_yaml`]).
//! Copies written by an older solo hold canonical YAML; [`parse_at_rest`] still reads them, and
//! the next locked write stores them as JSON.

use super::error::StateError;
use super::model::StateDocument;
use super::parse::{Format, Parsed, decode, parse, parse_as, probe_version};
use super::version::SchemaVersion;
use serde::de::DeserializeOwned;

/// The canonical JSON of a document: what solo stores and hashes.
pub fn to_at_rest(doc: &StateDocument) -> Result<String, StateError> {
    let mut text = serde_json::to_string(doc).map_err(|e| StateError::Serialize(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// Read a stored text: canonical JSON, or the YAML that an older solo stored.
pub fn parse_at_rest(text: &[u8]) -> Result<Parsed, StateError> {
    let decoded = decode(text)?;
    if !decoded.trim_start().starts_with('{') {
        return parse(text);
    }
    // Canonical JSON names its version first: read it in the schema of that version in one pass,
    // and fall back to probing the version when the text is not canonical.
    let document = match leading_version(decoded) {
        Some(hinted) => match parse_as::<Json>(hinted, decoded) {
            Ok(d) if d.version() == hinted => d,
            _ => parse_as::<Json>(probe_version::<Json>(decoded)?, decoded)?,
        },
        None => parse_as::<Json>(probe_version::<Json>(decoded)?, decoded)?,
    };
    Ok(Parsed {
        document,
        original: decoded.to_string(),
    })
}

/// The version of a text that starts like canonical JSON: `{"version":"2.0.0",`.
fn leading_version(text: &str) -> Option<SchemaVersion> {
    let rest = text.strip_prefix("{\"version\":\"")?;
    rest[..rest.find('"')?].parse().ok()
}

/// The JSON reader; its errors name the line and column of the stored text.
struct Json;

impl Format for Json {
    fn read<T: DeserializeOwned>(text: &str) -> Result<T, StateError> {
        serde_json::from_str(text).map_err(|e| StateError::StoredJson {
            line: u64::try_from(e.line()).ok().filter(|l| *l > 0),
            column: u64::try_from(e.column()).ok().filter(|_| e.line() > 0),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{CURRENT, VersionedDocument, to_canonical_yaml};
    use jiff::Timestamp;

    fn doc() -> StateDocument {
        StateDocument::new("net", "alice@example.com", Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn json_round_trips_and_starts_with_the_version() {
        let text = to_at_rest(&doc()).expect("json");
        assert!(text.starts_with(&format!("{{\"version\":\"{CURRENT}\",")));
        assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
        let parsed = parse_at_rest(text.as_bytes()).expect("reads");
        assert_eq!(parsed.document, VersionedDocument::Current(doc()));
        assert_eq!(parsed.original, text);
    }

    #[test]
    fn yaml_of_an_older_solo_still_reads() {
        let yaml = to_canonical_yaml(&doc()).expect("yaml");
        let parsed = parse_at_rest(yaml.as_bytes()).expect("reads");
        assert_eq!(parsed.document, VersionedDocument::Current(doc()));
        assert_eq!(parsed.original, yaml);
    }

    #[test]
    fn json_that_is_not_canonical_still_reads_and_bad_json_is_refused() {
        let pretty = serde_json::to_string_pretty(&doc()).expect("json");
        let parsed = parse_at_rest(pretty.as_bytes()).expect("reads");
        assert_eq!(parsed.document, VersionedDocument::Current(doc()));
        let broken = to_at_rest(&doc())
            .expect("json")
            .replace("\"metadata\"", "\"metadatum\"");
        assert!(matches!(
            parse_at_rest(broken.as_bytes()),
            Err(StateError::StoredJson { line: Some(1), .. })
        ));
        let newer = to_at_rest(&doc())
            .expect("json")
            .replacen(&CURRENT.to_string(), "99.0.0", 1);
        assert!(matches!(
            parse_at_rest(newer.as_bytes()),
            Err(StateError::FromNewerTool { .. })
        ));
    }
}
