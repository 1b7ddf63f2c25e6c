//! The state document stored in every cluster of a deployment (R12), fenced by the lock.
//!
//! Each copy is a Secret in the state namespace (default [`DEFAULT_STATE_NAMESPACE`]), named by
//! [`state_object_name`]: the *same* object the lock's [`StateFence`](crate::StateFence) stamps,
//! so fencing and state are one object and one compare-and-swap ([`fence_targets`] builds the
//! fence's targets from the same name). It holds:
//! - the canonical JSON ([`to_at_rest`]) under [`STATE_KEY`], or gzip-compressed under
//!   [`STATE_GZ_KEY`] when larger than [`GZIP_ABOVE`]; never more than [`MAX_STORED_BYTES`]
//!   (checked before writing). An older solo's copy (YAML or JSON under [`LEGACY_STATE_KEY`] or
//!   [`LEGACY_STATE_GZ_KEY`]) is read all the same and moved to the new key by the next write;
//! - annotations: [`StoredMeta`] (serial, lineage, writer's epoch, content hash, schema version)
//!   and the fence's epoch ([`crate::fence::EPOCH_ANNOTATION`]);
//! - labels: managed-by, deployment and team, so a list finds states without reading them.
//!
//! One idea per file: `payload` (the stored encoding), `read` (reads and how copies
//! compare), `create`, `write` (writes fenced by the lock's epoch) and `error`.
//!
//! Reads need no lock: [`StateStore::read_all`] reads every copy in parallel and
//! [`classify`](solo_core::state::classify) compares them. Writes ([`StateStore::write`],
//! [`StateStore::sync_from`]) run under the lock: no copy may carry a newer fencing epoch than the
//! lock's, and each is replaced, with the lock's epoch as its fence, at the `resourceVersion`
//! read, so a holder that lost the lock, or a racing writer, never overwrites a newer copy.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams, Preconditions};
use solo_core::lock::{Epoch, StoreError};
use solo_core::state::{
    CURRENT, CopyInfo, Loaded, MAX_DOCUMENT_BYTES, MigrationStamp, Parsed, SERIAL_ANNOTATION,
    SchemaVersion, StateDocument, StateError, StoredMeta, SyncStatus, classify, content_hash,
    divergence_table, names, parse_at_rest, to_at_rest, validate,
};
use uuid::Uuid;

use crate::clusters::Clusters;
use crate::error::store_error;
use crate::fence::{EPOCH_ANNOTATION as FENCE_ANNOTATION, FenceTarget, set_epoch};
use crate::index::{self, IndexEntry};
use crate::lease_store::MANAGED_BY_LABEL;

mod create;
mod error;
mod list;
mod payload;
mod read;
mod write;

pub(crate) use error::fenced;
pub use error::{CopyError, StateStoreError};
pub use list::{ListedDeployment, list_deployments};
pub use payload::{PAYLOAD_KEYS, decode_payload, encode_payload, has_payload};
pub use read::{WholeRead, classify_copies};

/// The state namespace when none is configured.
pub const DEFAULT_STATE_NAMESPACE: &str = "solo-system";
/// Data key of the stored text (canonical JSON).
pub const STATE_KEY: &str = "state.json";
/// Data key of the gzip-compressed stored text.
pub const STATE_GZ_KEY: &str = "state.json.gz";
/// Data key under which an older solo stored the text (YAML, later JSON): still read, and
/// replaced by [`STATE_KEY`] at the next locked write.
pub const LEGACY_STATE_KEY: &str = "state.yaml";
/// Data key under which an older solo stored the gzip-compressed text: read like
/// [`LEGACY_STATE_KEY`].
pub const LEGACY_STATE_GZ_KEY: &str = "state.yaml.gz";
/// Stored text larger than this is stored gzip-compressed.
pub const GZIP_ABOVE: usize = 256 * 1024;
/// The most a copy may hold after compression: well under Kubernetes' 1 MiB object limit.
pub const MAX_STORED_BYTES: usize = 900 * 1024;
/// Label naming the deployment of a state object.
pub const DEPLOYMENT_LABEL: &str = "solo.hiero.org/deployment";
/// Label naming the team that owns a state object.
pub const TEAM_LABEL: &str = "solo.hiero.org/team";

/// Label marking the backup of a state document kept by a migration (R3).
pub const BACKUP_LABEL: &str = "solo.hiero.org/backup";
/// Annotation: the schema version of the document a backup keeps.
pub const BACKUP_FROM_ANNOTATION: &str = "solo.hiero.org/backup-of-version";

/// The name of the backup kept when a state of schema `from` is first written migrated.
pub fn backup_object_name(deployment: &str, from: SchemaVersion) -> String {
    format!("{deployment}-backup-{from}")
}

/// The name of a deployment's state object (and fence object) in every cluster.
pub fn state_object_name(deployment: &str) -> String {
    deployment.to_owned()
}

/// The lock's fence targets for a deployment: its state objects, one per cluster.
pub fn fence_targets<S: Into<String>>(
    state_namespace: &str,
    deployment: &str,
    clusters: impl IntoIterator<Item = S>,
) -> Vec<FenceTarget> {
    clusters
        .into_iter()
        .map(|cluster| FenceTarget {
            cluster: cluster.into(),
            namespace: state_namespace.to_owned(),
            name: state_object_name(deployment),
        })
        .collect()
}

/// One copy of the state, read and checked.
#[derive(Debug, Clone)]
pub struct StateCopy {
    /// The cluster ref it was read from.
    pub cluster: String,
    /// Its bookkeeping, from the annotations.
    pub meta: StoredMeta,
    /// The epoch the lock's fence stamped on the object (0 when never stamped).
    pub fencing_epoch: Epoch,
    /// The document in the schema of its own version, with the stored text.
    pub parsed: Parsed,
    /// The object's resourceVersion when read.
    pub resource_version: Option<String>,
}

/// The read a change was built from: its write is refused once the state moved on since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base {
    /// The lineage read.
    pub lineage: Uuid,
    /// The serial read.
    pub serial: u64,
}

impl StateCopy {
    /// The read this copy is, for [`StateStore::write_based`].
    pub fn base(&self) -> Base {
        Base {
            lineage: self.meta.lineage,
            serial: self.meta.serial,
        }
    }

    /// The document migrated to the current schema (when older) and validated. A stamp whose
    /// `by` is not a user's email (a read that writes nothing, stamped `solo`) records the
    /// document's last writer instead, so that an older copy still loads.
    pub fn load(&self, stamp: &MigrationStamp) -> Result<Loaded, StateError> {
        let mut stamp = stamp.clone();
        if names::identity_problem(&stamp.by).is_some() {
            stamp.by = self.parsed.document.metadata().last_updated_by.clone();
        }
        self.parsed.clone().into_loaded(&stamp)
    }

    /// The canonical text stored.
    pub fn text(&self) -> &str {
        &self.parsed.original
    }

    /// What [`classify`] needs of this copy.
    pub fn info(&self) -> CopyInfo {
        let metadata = self.parsed.document.metadata();
        CopyInfo {
            meta: self.meta.clone(),
            updated_by: metadata.last_updated_by.clone(),
            updated_at: metadata.last_updated_at,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The serial now in every copy.
    pub serial: u64,
    /// The lineage of every copy.
    pub lineage: Uuid,
    /// Copies that were behind (a write cut short) and were rolled forward.
    pub rolled_forward: Vec<String>,
    /// The backup object of the older document this write migrated (R3), if it migrated one.
    pub backup: Option<String>,
}

/// The state objects of deployments in their clusters.
#[derive(Clone)]
pub struct StateStore {
    clusters: Clusters,
    namespace: String,
}

/// A read with the raw object kept for the compare-and-swap.
struct Raw {
    cluster: String,
    secret: Option<Secret>,
    copy: Result<StateCopy, CopyError>,
}

fn fencing_epoch(secret: &Secret) -> Epoch {
    crate::fence::epoch_of(secret)
}

fn annotated_serial(secret: &Secret) -> Option<u64> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(SERIAL_ANNOTATION)?
        .parse()
        .ok()
}

fn check_copy(cluster: &str, secret: &Secret) -> Result<StateCopy, CopyError> {
    let text = decode_payload(secret)?.ok_or(CopyError::Empty)?;
    let empty = BTreeMap::new();
    let annotations = secret.metadata.annotations.as_ref().unwrap_or(&empty);
    let meta = StoredMeta::from_annotations(annotations).map_err(CopyError::Meta)?;
    let parsed = parse_at_rest(text.as_bytes()).map_err(CopyError::Document)?;
    if content_hash(&text) != meta.content_hash {
        return Err(CopyError::HashMismatch);
    }
    // Check that it migrates and validates; the caller migrates again with its own stamp.
    let check = MigrationStamp {
        by: parsed.document.metadata().last_updated_by.clone(),
        at: Timestamp::UNIX_EPOCH,
    };
    parsed
        .clone()
        .into_loaded(&check)
        .map_err(CopyError::Document)?;
    Ok(StateCopy {
        cluster: cluster.to_owned(),
        meta,
        fencing_epoch: fencing_epoch(secret),
        parsed,
        resource_version: secret.metadata.resource_version.clone(),
    })
}

fn cluster_names(doc: &StateDocument) -> Vec<String> {
    doc.clusters
        .iter()
        .map(|c| c.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Puts the payload and the bookkeeping into a state object.
fn fill(secret: &mut Secret, key: &str, bytes: &[u8], meta: &StoredMeta) {
    let data = secret.data.get_or_insert_with(BTreeMap::new);
    // The older keys go in the same write that puts the new one: one compare-and-swap.
    for old in PAYLOAD_KEYS {
        data.remove(old);
    }
    data.insert(key.to_owned(), ByteString(bytes.to_vec()));
    secret.string_data = None;
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .extend(meta.to_annotations());
}

impl StateStore {
    /// A store over these clusters, keeping states in `state_namespace`.
    pub fn new(clusters: Clusters, state_namespace: impl Into<String>) -> Self {
        StateStore {
            clusters,
            namespace: state_namespace.into(),
        }
    }

    /// The state namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api(&self, cluster: &str) -> Result<Api<Secret>, StateStoreError> {
        let client = self
            .clusters
            .client(cluster)
            .map_err(|e| StateStoreError::Store {
                cluster: cluster.to_owned(),
                source: StoreError::Other {
                    message: e.to_string(),
                },
            })?;
        Ok(Api::namespaced(client.clone(), &self.namespace))
    }

    fn store_err(cluster: &str, e: StoreError) -> StateStoreError {
        StateStoreError::Store {
            cluster: cluster.to_owned(),
            source: e,
        }
    }

    fn invalid(deployment: &str, reason: impl Into<String>) -> StateStoreError {
        StateStoreError::InvalidDocument {
            deployment: deployment.to_owned(),
            reason: reason.into(),
        }
    }

    /// Checks a document for storage and encodes it: its canonical text, data key and bytes.
    fn prepare(
        deployment: &str,
        doc: &StateDocument,
    ) -> Result<(String, &'static str, Vec<u8>), StateStoreError> {
        if doc.metadata.name != deployment {
            return Err(Self::invalid(
                deployment,
                format!(
                    "its metadata.name is {:?}; the name of a deployment never changes",
                    doc.metadata.name
                ),
            ));
        }
        if let Err(problems) = validate(doc) {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(Self::invalid(deployment, list.join("; ")));
        }
        if doc.clusters.is_empty() {
            return Err(Self::invalid(deployment, "it lists no clusters"));
        }
        let text = to_at_rest(doc).map_err(|e| Self::invalid(deployment, e.to_string()))?;
        let (key, bytes) = encode_payload(&text).map_err(|size| StateStoreError::TooLarge {
            deployment: deployment.to_owned(),
            size,
            limit: MAX_STORED_BYTES,
        })?;
        Ok((text, key, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::read::refuse_unless_writable;
    use super::*;
    use solo_core::lock::fencing::admits;
    use std::io::Write;

    #[test]
    fn small_states_are_plain_large_ones_gzipped_and_both_read_back() {
        for text in ["version: 2.0.0\n".to_owned(), "a: b\n".repeat(100_000)] {
            let (key, bytes) = encode_payload(&text).expect("fits");
            assert_eq!(key == STATE_GZ_KEY, text.len() > GZIP_ABOVE);
            let secret = Secret {
                data: Some([(key.to_owned(), ByteString(bytes))].into()),
                ..Default::default()
            };
            assert_eq!(decode_payload(&secret).expect("decodes"), Some(text));
        }
    }

    #[test]
    fn an_older_solos_keys_are_read_and_the_next_fill_leaves_only_todays() {
        let text = "a: b\n".repeat(100_000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).expect("write");
        let gz = gz.finish().expect("gz");
        for (key, bytes) in [
            (LEGACY_STATE_KEY, text.as_bytes().to_vec()),
            (LEGACY_STATE_GZ_KEY, gz),
        ] {
            let mut secret = Secret {
                data: Some([(key.to_owned(), ByteString(bytes))].into()),
                ..Default::default()
            };
            assert!(has_payload(&secret));
            assert_eq!(
                decode_payload(&secret).expect("decodes"),
                Some(text.clone())
            );
            let meta = StoredMeta::first(Uuid::new_v4(), 0, CURRENT, "{}");
            fill(&mut secret, STATE_KEY, b"{}", &meta);
            let keys: Vec<&String> = secret.data.as_ref().expect("data").keys().collect();
            assert_eq!(keys, [STATE_KEY], "{key} replaced in the same object");
            assert_eq!(
                decode_payload(&secret).expect("decodes").as_deref(),
                Some("{}")
            );
        }
    }

    #[test]
    fn a_state_too_large_even_gzipped_is_refused_before_writing() {
        // Hex of a hash chain does not compress much: 3 MiB of it stays above 900 KiB.
        let mut text = String::new();
        let mut h = content_hash("seed");
        while text.len() < 3 * 1024 * 1024 {
            h = content_hash(&h);
            text.push_str(&h);
            text.push('\n');
        }
        let size = encode_payload(&text).expect_err("too large");
        assert!(size > MAX_STORED_BYTES);
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        let text = "a".repeat(MAX_DOCUMENT_BYTES + 10);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).expect("write");
        let secret = Secret {
            data: Some(
                [(
                    STATE_GZ_KEY.to_owned(),
                    ByteString(gz.finish().expect("gz")),
                )]
                .into(),
            ),
            ..Default::default()
        };
        assert!(matches!(decode_payload(&secret), Err(CopyError::Decode(_))));
    }

    #[test]
    fn refusals_name_the_cluster_and_the_repair() {
        let status = SyncStatus::Unreadable {
            copies: vec![("cluster-2".into(), "bad YAML".into())],
        };
        let err = refuse_unless_writable("net", &status, Some("cluster-1")).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("in cluster cluster-2 is unreadable: bad YAML"),
            "{text}"
        );
        assert!(
            text.contains("`solo state sync net --from cluster-1`"),
            "{text}"
        );
        let behind = SyncStatus::Behind {
            newest: "cluster-1".into(),
            serial: 3,
            behind: vec![("cluster-3".into(), 2)],
        };
        assert_eq!(
            refuse_unless_writable("net", &behind, None).expect("writable"),
            ["cluster-3"]
        );
        let lost = fenced("cluster-2", admits(Epoch(4), Epoch(3)).expect_err("newer")).to_string();
        assert!(
            lost.contains("cluster cluster-2") && lost.contains("the lock was lost"),
            "{lost}"
        );
        // An older fence admits the write (which raises it); the same epoch too.
        assert_eq!(admits(Epoch(0), Epoch(3)), Ok(()));
        assert_eq!(admits(Epoch(3), Epoch(3)), Ok(()));
        let missing = StateStoreError::Missing {
            cluster: "cluster-3".into(),
            namespace: "solo-system".into(),
            deployment: "net".into(),
        }
        .to_string();
        assert!(missing.contains("solo-system/net is missing"), "{missing}");
    }

    #[test]
    fn the_fence_targets_are_the_state_objects() {
        let t = fence_targets("solo-system", "net", ["cluster-1", "cluster-2"]);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].cluster, "cluster-2");
        assert_eq!(t[0].name, state_object_name("net"));
        assert_eq!(t[0].namespace, "solo-system");
    }
}
