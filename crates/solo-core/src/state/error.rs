//! The ways reading, checking, migrating or importing a state can fail, each with what to do.

use super::validate::Problem;
use super::version::SchemaVersion;

/// Why a state document (or a legacy file) could not be read; [`StateError::hint`] says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The input is larger than any state solo writes.
    #[error("the document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// The input is not UTF-8 text.
    #[error(
        "the document is not UTF-8 text: byte 0x{byte:02x} at offset {offset} (line {line}, column {column}) is not valid UTF-8"
    )]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
        /// That byte.
        byte: u8,
        /// Its 1-based line.
        line: usize,
        /// Its 1-based column, in characters.
        column: usize,
    },

    /// The input holds nothing but blanks.
    #[error("the document is empty")]
    Empty,

    /// The YAML is malformed, or does not have the shape of the schema (unknown field, wrong type).
    #[error("{}", at_line(*line, *column, message))]
    Yaml {
        /// 1-based line of the fault, when known.
        line: Option<u64>,
        /// 1-based column of the fault, when known.
        column: Option<u64>,
        /// What the YAML reader found.
        message: String,
    },

    /// A stored copy's JSON is malformed, or does not have the shape of the schema.
    #[error("the stored JSON is not a solo state: {}", at_line(*line, *column, message))]
    StoredJson {
        /// 1-based line of the fault, when known.
        line: Option<u64>,
        /// 1-based column of the fault, when known.
        column: Option<u64>,
        /// What the JSON reader found.
        message: String,
    },

    /// The document does not say which schema it follows.
    #[error("the document has no `version` field, so its schema is unknown")]
    MissingVersion,

    /// `version` is not of the form `major.minor.patch`.
    #[error("`version: {found}` is not a schema version: {reason}")]
    BadVersion {
        /// The value found.
        found: String,
        /// Why it is not a version.
        reason: String,
    },

    /// The document was written by a newer solo, whose schema this one does not know.
    #[error(
        "this state has schema version {found}, written by a newer solo; this solo reads schema versions up to {newest_supported}"
    )]
    FromNewerTool {
        /// The version of the document.
        found: SchemaVersion,
        /// The newest version this solo knows.
        newest_supported: SchemaVersion,
    },

    /// An older version that no solo ever wrote, so no migration starts from it.
    #[error("schema version {found} is not one solo ever wrote (known versions: {known})")]
    UnknownVersion {
        /// The version of the document.
        found: SchemaVersion,
        /// The known versions, as a list.
        known: String,
    },

    /// The document is well-formed but breaks rules of the state.
    #[error("the document is not a valid solo state: {}", count(problems.len()))]
    Invalid {
        /// Every problem, each with its path.
        problems: Vec<Problem>,
    },

    /// The legacy `solo.config` is not JSON of the expected shape.
    #[error("the legacy file is not a solo.config: {}", at_line(*line, *column, message))]
    LegacyJson {
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// What the JSON reader found.
        message: String,
    },

    /// The legacy file is JSON but lacks what a state needs, or holds invalid values.
    #[error("the legacy file cannot be imported: {}", count(problems.len()))]
    LegacyInvalid {
        /// Every problem, with paths into the legacy file (`flags.node-ids`).
        problems: Vec<Problem>,
    },

    /// Store metadata (annotations) of a stored state are missing or malformed.
    #[error("stored state metadata {key} is {reason}")]
    BadStoredMeta {
        /// The annotation key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Writing YAML failed; a bug in solo, never caused by the input.
    #[error("cannot write the document as YAML: {0}")]
    Serialize(String),
}

fn at_line(line: Option<u64>, column: Option<u64>, message: &str) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: {message}"),
        (Some(l), None) => format!("line {l}: {message}"),
        _ => message.to_string(),
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 problem".to_string()
    } else {
        format!("{n} problems")
    }
}

impl StateError {
    /// Every problem with its path, for the errors that have a list (empty for the others).
    pub fn problems(&self) -> &[Problem] {
        match self {
            StateError::Invalid { problems } | StateError::LegacyInvalid { problems } => problems,
            _ => &[],
        }
    }

    /// What the user can do about it, in one sentence.
    pub fn hint(&self) -> String {
        match self {
            StateError::TooLarge { limit, .. } => format!(
                "a solo state is far smaller than {} MiB (5,000 components take well under 1 MiB); check that this is the right file",
                limit / (1024 * 1024)
            ),
            StateError::NotUtf8 { .. } => {
                "save the file as UTF-8 text (for example with `iconv -t UTF-8`) and try again"
                    .to_string()
            }
            StateError::Empty => {
                "a state starts with `version:`; `solo state show <deployment> -o yaml` prints a complete one"
                    .to_string()
            }
            StateError::Yaml { .. } => {
                "fix the YAML at the line shown; fields and their spelling are those of `solo state show <deployment> -o yaml`"
                    .to_string()
            }
            StateError::MissingVersion | StateError::BadVersion { .. } => format!(
                "start the document with the schema version it follows, like `version: {}`",
                super::version::CURRENT
            ),
            StateError::FromNewerTool { found, .. } => format!(
                "upgrade solo to a release that reads schema version {found}; do not change this state with an older solo"
            ),
            StateError::UnknownVersion { .. } => {
                "set `version` to the schema version the document really follows".to_string()
            }
            StateError::Invalid { .. } => {
                "fix each field listed above, then check the file again with `solo state validate --file <file>`"
                    .to_string()
            }
            StateError::LegacyJson { .. } => {
                "pass the JSON file solo 0.x wrote, usually ~/.solo/solo.config".to_string()
            }
            StateError::LegacyInvalid { .. } => {
                "fix the flags listed above in a copy of the legacy file, then import the copy"
                    .to_string()
            }
            StateError::BadStoredMeta { .. } | StateError::StoredJson { .. } => {
                "the stored state was changed by hand or by another tool; repair it with `solo state sync <deployment> --from <cluster-ref>`"
                    .to_string()
            }
            StateError::Serialize(_) => "this is a bug in solo; please report it".to_string(),
        }
    }
}
