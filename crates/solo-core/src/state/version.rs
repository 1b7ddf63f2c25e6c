//! Schema versions of the state document and the table of every version solo ever wrote.
//!
//! A schema version is three numbers, `major.minor.patch`, written as a YAML string
//! (`version: 2.0.0`). It versions the document, not the tool. Versions are compared
//! numerically. Only the versions in [`KNOWN_VERSIONS`] exist: a document with a higher
//! version was written by a newer solo and is refused (never guessed at); one with an unknown
//! lower version is refused too, since no migration starts from it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The version of the state document's schema, so that old documents can be migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVersion {
    /// Incompatible change of shape.
    pub major: u32,
    /// Compatible change that still needs a migration step.
    pub minor: u32,
    /// Any other change.
    pub patch: u32,
}

impl SchemaVersion {
    /// Build a version from its three numbers.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        SchemaVersion {
            major,
            minor,
            patch,
        }
    }

    /// Whether this version is in [`KNOWN_VERSIONS`].
    pub fn is_known(&self) -> bool {
        KNOWN_VERSIONS.iter().any(|k| k.version == *self)
    }
}

/// The draft's shape (section 5 of the reference design), the oldest version solo reads.
pub const V1_0_32: SchemaVersion = SchemaVersion::new(1, 0, 32);
/// Relays always list their consensus nodes.
pub const V1_1_0: SchemaVersion = SchemaVersion::new(1, 1, 0);
/// Relays name their list `consensusNodes`.
pub const V2_0_0: SchemaVersion = SchemaVersion::new(2, 0, 0);
/// The current version: clusters carry DNS facts, consensus nodes ids, accounts and ports (R13).
pub const V2_1_0: SchemaVersion = SchemaVersion::new(2, 1, 0);

/// The version this solo writes; every document read is migrated to it.
pub const CURRENT: SchemaVersion = V2_1_0;

/// One row of the version table, so that errors and docs can say what each version was.
#[derive(Debug, Clone, Copy)]
pub struct KnownVersion {
    /// The version.
    pub version: SchemaVersion,
    /// What changed in it, in one line.
    pub summary: &'static str,
}

/// Every schema version solo ever wrote, oldest first; the migration chain walks this order.
pub const KNOWN_VERSIONS: &[KnownVersion] = &[
    KnownVersion {
        version: V1_0_32,
        summary: "the draft's document (reference design, section 5); a relay's `consensusNode` is one name or a list",
    },
    KnownVersion {
        version: V1_1_0,
        summary: "a relay's `consensusNode` is always a list",
    },
    KnownVersion {
        version: V2_0_0,
        summary: "a relay's list is named `consensusNodes`; the proxies keep `consensusNode` (one name)",
    },
    KnownVersion {
        version: V2_1_0,
        summary: "clusters have `dnsBaseDomain`, `dnsConsensusNodePattern` and `reachability`; consensus nodes have `nodeId`, `accountId`, ports and recorded `endpoints`",
    },
];

/// The known versions as one readable list, for error messages.
pub fn known_versions_list() -> String {
    KNOWN_VERSIONS
        .iter()
        .map(|k| k.version.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a `version` value is not a schema version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVersion(pub String);

impl fmt::Display for BadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SchemaVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 {
            return Err(BadVersion(
                "a schema version is three numbers separated by dots, like 2.0.0".to_string(),
            ));
        }
        let mut nums = [0u32; 3];
        for (slot, part) in nums.iter_mut().zip(&parts) {
            let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let leading_zero = part.len() > 1 && part.starts_with('0');
            *slot = match part.parse::<u32>() {
                Ok(n) if digits_only && !leading_zero => n,
                _ => {
                    return Err(BadVersion(format!(
                        "{:?} is not a number without leading zeros; a schema version looks like 2.0.0",
                        part
                    )));
                }
            };
        }
        Ok(SchemaVersion::new(nums[0], nums[1], nums[2]))
    }
}

/// In JSON Schema, a version is a `major.minor.patch` string.
impl schemars::JsonSchema for SchemaVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SchemaVersion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$",
            "description": "The schema version of the document (major.minor.patch)."
        })
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: BadVersion| {
            serde::de::Error::custom(format!("`version: {text}` is not a schema version: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_orders() {
        let v: SchemaVersion = "1.0.32".parse().unwrap_or(CURRENT);
        assert_eq!(v, V1_0_32);
        assert_eq!(v.to_string(), "1.0.32");
        assert!(V1_0_32 < V1_1_0 && V1_1_0 < V2_0_0 && V2_0_0 < V2_1_0);
        assert!(SchemaVersion::new(1, 0, 100) > V1_0_32);
        for bad in [
            "",
            "2",
            "2.0",
            "2.0.0.0",
            "v2.0.0",
            "2.0.x",
            "02.0.0",
            "2..0",
            "-1.0.0",
            "+1.0.0",
            "99999999999.0.0",
        ] {
            assert!(bad.parse::<SchemaVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_is_ordered_and_ends_with_current() {
        assert!(
            KNOWN_VERSIONS
                .windows(2)
                .all(|w| w[0].version < w[1].version)
        );
        assert_eq!(KNOWN_VERSIONS.last().map(|k| k.version), Some(CURRENT));
    }
}
