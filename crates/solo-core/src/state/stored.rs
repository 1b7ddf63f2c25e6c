//! What the store keeps beside each copy of a state: serial, lineage, fencing epoch, content hash.
//!
//! These live in the annotations of the stored Kubernetes object, not in the YAML document: they
//! describe a *copy* (which write it is, which history it belongs to, which lock holder wrote it),
//! while the document describes the network. Keeping them out of the document means the content
//! hash covers exactly the document, so two copies with the same content have the same hash, and
//! no user edit of the YAML can forge a serial or an epoch. The store (another crate) reads and
//! writes them with [`StoredMeta::to_annotations`] and [`StoredMeta::from_annotations`].

use super::error::StateError;
use super::version::SchemaVersion;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Annotation key of [`StoredMeta::serial`].
pub const SERIAL_ANNOTATION: &str = "solo.hiero.org/state-serial";
/// Annotation key of [`StoredMeta::lineage`].
pub const LINEAGE_ANNOTATION: &str = "solo.hiero.org/state-lineage";
/// Annotation key of [`StoredMeta::epoch`].
pub const EPOCH_ANNOTATION: &str = "solo.hiero.org/state-epoch";
/// Annotation key of [`StoredMeta::content_hash`].
pub const HASH_ANNOTATION: &str = "solo.hiero.org/state-sha256";
/// Annotation key of [`StoredMeta::schema_version`].
pub const SCHEMA_ANNOTATION: &str = "solo.hiero.org/state-schema-version";

/// The store's bookkeeping for one copy of a state, to compare copies (R12) and fence writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeta {
    /// +1 on every write; of two copies of one lineage, the higher serial is newer.
    pub serial: u64,
    /// Fixed when the deployment is created; copies of different lineages never compare.
    pub lineage: Uuid,
    /// The fencing epoch of the lock holder that wrote this copy.
    pub epoch: u64,
    /// [`content_hash`] of the canonical YAML stored.
    pub content_hash: String,
    /// The schema version of the stored YAML.
    pub schema_version: SchemaVersion,
}

/// SHA-256 of the canonical text, as 64 lowercase hex digits: equal content, equal hash.
pub fn content_hash(canonical_text: &str) -> String {
    let digest = Sha256::digest(canonical_text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl StoredMeta {
    /// The metadata of the first write of a new deployment (serial 1).
    pub fn first(
        lineage: Uuid,
        epoch: u64,
        schema_version: SchemaVersion,
        canonical_text: &str,
    ) -> Self {
        StoredMeta {
            serial: 1,
            lineage,
            epoch,
            content_hash: content_hash(canonical_text),
            schema_version,
        }
    }

    /// The metadata of the write that follows this one, by the holder of `epoch`.
    pub fn next(&self, epoch: u64, schema_version: SchemaVersion, canonical_text: &str) -> Self {
        StoredMeta {
            serial: self.serial.saturating_add(1),
            lineage: self.lineage,
            epoch,
            content_hash: content_hash(canonical_text),
            schema_version,
        }
    }

    /// The annotations to store on the object.
    pub fn to_annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (SERIAL_ANNOTATION.to_string(), self.serial.to_string()),
            (
                LINEAGE_ANNOTATION.to_string(),
                self.lineage.hyphenated().to_string(),
            ),
            (EPOCH_ANNOTATION.to_string(), self.epoch.to_string()),
            (HASH_ANNOTATION.to_string(), self.content_hash.clone()),
            (
                SCHEMA_ANNOTATION.to_string(),
                self.schema_version.to_string(),
            ),
        ])
    }

    /// Read the metadata back from an object's annotations (other annotations are ignored).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<Self, StateError> {
        fn get<'a>(a: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, StateError> {
            a.get(key)
                .map(String::as_str)
                .ok_or_else(|| StateError::BadStoredMeta {
                    key: key.to_string(),
                    reason: "missing".to_string(),
                })
        }
        fn bad(key: &str, value: &str, what: &str) -> StateError {
            StateError::BadStoredMeta {
                key: key.to_string(),
                reason: format!("{value:?}, not {what}"),
            }
        }
        let number = |key: &str| -> Result<u64, StateError> {
            let v = get(annotations, key)?;
            v.parse().map_err(|_| bad(key, v, "a whole number"))
        };
        let lineage = get(annotations, LINEAGE_ANNOTATION)?;
        let hash = get(annotations, HASH_ANNOTATION)?;
        let schema = get(annotations, SCHEMA_ANNOTATION)?;
        Ok(StoredMeta {
            serial: number(SERIAL_ANNOTATION)?,
            lineage: Uuid::parse_str(lineage)
                .map_err(|_| bad(LINEAGE_ANNOTATION, lineage, "a UUID"))?,
            epoch: number(EPOCH_ANNOTATION)?,
            content_hash: if hash.len() == 64 && hash.bytes().all(|b| HEX.contains(&b)) {
                hash.to_string()
            } else {
                return Err(bad(HASH_ANNOTATION, hash, "64 lowercase hex digits"));
            },
            schema_version: schema
                .parse()
                .map_err(|_| bad(SCHEMA_ANNOTATION, schema, "a schema version like 2.0.0"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            content_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn annotations_round_trip_and_refuse_garbage() {
        let lineage = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let meta = StoredMeta::first(lineage, 3, super::super::version::CURRENT, "x");
        let next = meta.next(4, super::super::version::CURRENT, "y");
        assert_eq!((next.serial, next.epoch, next.lineage), (2, 4, lineage));
        let mut a = next.to_annotations();
        assert_eq!(StoredMeta::from_annotations(&a), Ok(next));
        a.insert(SERIAL_ANNOTATION.to_string(), "-1".to_string());
        assert!(matches!(
            StoredMeta::from_annotations(&a),
            Err(StateError::BadStoredMeta { key, .. }) if key == SERIAL_ANNOTATION
        ));
        a.remove(LINEAGE_ANNOTATION);
        assert!(StoredMeta::from_annotations(&a).is_err());
    }
}
