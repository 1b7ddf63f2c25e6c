//! The state document stored in every cluster of a deployment (R12), fenced by the lock.
//!
//! Each copy is a Secret in the state namespace (default [`DEFAULT_STATE_NAMESPACE`]), named by
//! [`state_object_name`]: the *same* object the lock's [`StateFence`](crate::StateFence) stamps,
//! so fencing and state are one object and one compare-and-swap ([`fence_targets`] builds the
//! fence's targets from the same name). It holds:
//! - the canonical YAML under [`STATE_KEY`], or gzip-compressed under [`STATE_GZ_KEY`] when
//!   larger than [`GZIP_ABOVE`]; never more than [`MAX_STORED_BYTES`] (checked before writing);
//! - annotations: [`StoredMeta`] (serial, lineage, writer's epoch, content hash, schema version)
//!   and the fence's epoch ([`crate::fence::EPOCH_ANNOTATION`]);
//! - labels: managed-by, deployment and team, so a list finds states without reading them.
//!
//! Reads need no lock: [`StateStore::read_all`] reads every copy in parallel and
//! [`classify`](solo_core::state::classify) compares them. Writes ([`StateStore::write`],
//! [`StateStore::sync_from`]) run under the lock: every copy must carry the lock's fencing epoch
//! and is replaced with the `resourceVersion` read, so a holder that lost the lock, or a racing
//! writer, never overwrites a newer copy.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams, Preconditions};
use solo_core::lock::fencing::{FenceRefusal, admits};
use solo_core::lock::{Epoch, StoreError};
use solo_core::state::{
    CURRENT, CopyInfo, Loaded, MAX_DOCUMENT_BYTES, MigrationStamp, Parsed, SERIAL_ANNOTATION,
    SchemaVersion, StateDocument, StateError, StoredMeta, SyncStatus, classify, content_hash,
    divergence_table, names, parse, to_canonical_yaml, validate,
};
use uuid::Uuid;

use crate::clusters::Clusters;
use crate::error::store_error;
use crate::fence::{EPOCH_ANNOTATION as FENCE_ANNOTATION, FenceTarget};
use crate::index::{self, IndexEntry};
use crate::lease_store::MANAGED_BY_LABEL;

/// The state namespace when none is configured.
pub const DEFAULT_STATE_NAMESPACE: &str = "solo-system";
/// Data key of the canonical YAML.
pub const STATE_KEY: &str = "state.yaml";
/// Data key of the gzip-compressed canonical YAML.
pub const STATE_GZ_KEY: &str = "state.yaml.gz";
/// Canonical YAML larger than this is stored gzip-compressed.
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

impl StateCopy {
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

/// Why one copy cannot be read or trusted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CopyError {
    /// The object does not exist.
    #[error("there is no state object {namespace}/{name}")]
    Missing { namespace: String, name: String },
    /// The object exists but holds no state (only the lock's fencing stamp).
    #[error("the state object holds no state, only the lock's fencing stamp")]
    Empty,
    /// The payload cannot be decoded (bad gzip, not UTF-8, too large).
    #[error("the stored data cannot be decoded: {0}")]
    Decode(String),
    /// The bookkeeping annotations are missing or malformed.
    #[error("{0}")]
    Meta(StateError),
    /// The document cannot be read (bad YAML, a newer schema, invalid).
    #[error("{0}")]
    Document(StateError),
    /// The content does not match the hash annotation.
    #[error("the content does not match its hash annotation (was it edited by hand?)")]
    HashMismatch,
    /// The cluster could not be read.
    #[error("the cluster cannot be read: {0}")]
    Store(StoreError),
}

/// Why a state operation failed; each says which cluster and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateStoreError {
    /// A copy of the state already exists.
    #[error(
        "the state of deployment {deployment} already exists in cluster {cluster} (Secret {namespace}/{deployment}); nothing was created: choose another name, or delete the deployment first"
    )]
    AlreadyExists {
        deployment: String,
        cluster: String,
        namespace: String,
    },
    /// The document cannot be stored as it is.
    #[error("the state of deployment {deployment} cannot be stored: {reason}")]
    InvalidDocument { deployment: String, reason: String },
    /// The stored form would exceed what an object may hold.
    #[error(
        "the state of deployment {deployment} takes {size} bytes stored (gzip-compressed), more than the limit of {limit} bytes; nothing was written: remove components or history archives from it"
    )]
    TooLarge {
        deployment: String,
        size: usize,
        limit: usize,
    },
    /// Copies of different lineages, or of one serial with different content.
    #[error(
        "the copies of the state of deployment {deployment} diverged, so nothing was written:\n{table}Choose the copy to keep and run `solo state sync {deployment} --from <cluster>` under the lock."
    )]
    Diverged { deployment: String, table: String },
    /// A copy cannot be read or trusted.
    #[error(
        "the copy of the state of deployment {deployment} in cluster {cluster} is unreadable: {reason}; nothing was written. Repair it with `solo state sync {deployment} --from {good}` under the lock."
    )]
    Unreadable {
        deployment: String,
        cluster: String,
        reason: String,
        /// A cluster with a readable copy to suggest, or `<cluster>`.
        good: String,
    },
    /// The fence carries another holder's epoch: this lock was lost.
    #[error(
        "cluster {cluster}: the state is fenced at epoch {current}, not this lock's epoch {ours}; the lock was lost and nothing more was written there: acquire the lock again"
    )]
    LockLost {
        cluster: String,
        ours: Epoch,
        current: Epoch,
    },
    /// The object carries an older epoch than the lock's: it was recreated after the lock's stamp.
    #[error(
        "cluster {cluster}: the state object carries fencing epoch {current}, older than this lock's epoch {ours}, so it was recreated after the lock was taken; nothing was written: release the lock and acquire it again"
    )]
    NotStamped {
        cluster: String,
        ours: Epoch,
        current: Epoch,
    },
    /// The copy changed between the read and the write.
    #[error(
        "cluster {cluster}: the state changed during the write (a write without the lock?); read it again and retry"
    )]
    Conflict { cluster: String },
    /// The object vanished while the lock was held.
    #[error(
        "cluster {cluster}: the state object {namespace}/{} is missing; it was deleted while the lock was held: acquire the lock again (its stamp recreates the object), then restore the copy with `solo state sync {deployment} --from <cluster>`",
        state_object_name(deployment)
    )]
    Missing {
        cluster: String,
        namespace: String,
        deployment: String,
    },
    /// The cluster refused or could not be reached.
    #[error("cluster {cluster}: {source}")]
    Store { cluster: String, source: StoreError },
    /// Some copies were written, others not.
    #[error(
        "the state was written to {written} but not to {failed}: {first}; the next locked write rolls {failed} forward"
    )]
    Incomplete {
        written: String,
        failed: String,
        first: Box<StateStoreError>,
    },
    /// `sync --from` names a cluster that is not the deployment's.
    #[error(
        "cluster {cluster} is not a cluster of deployment {deployment} (its clusters: {clusters})"
    )]
    UnknownCluster {
        deployment: String,
        cluster: String,
        clusters: String,
    },
    /// The new document lists other clusters than the stored one.
    #[error(
        "the new state of deployment {deployment} lists clusters {new}, but the stored state lists {old}; adding or removing a cluster is not done by a plain write"
    )]
    ClustersChanged {
        deployment: String,
        new: String,
        old: String,
    },
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

/// Encodes canonical text for storage: the data key and its bytes, within [`MAX_STORED_BYTES`].
pub fn encode_payload(text: &str) -> Result<(&'static str, Vec<u8>), usize> {
    let (key, bytes) = if text.len() > GZIP_ABOVE {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(text.as_bytes());
        (STATE_GZ_KEY, gz.finish().unwrap_or_default())
    } else {
        (STATE_KEY, text.as_bytes().to_vec())
    };
    if bytes.len() > MAX_STORED_BYTES {
        return Err(bytes.len());
    }
    Ok((key, bytes))
}

/// Decodes a stored payload back to text (at most [`MAX_DOCUMENT_BYTES`] once decompressed).
pub fn decode_payload(secret: &Secret) -> Result<Option<String>, CopyError> {
    let data = secret.data.as_ref();
    let bytes = if let Some(gz) = data.and_then(|d| d.get(STATE_GZ_KEY)) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz.0[..])
            .take(MAX_DOCUMENT_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| CopyError::Decode(format!("bad gzip data: {e}")))?;
        if out.len() > MAX_DOCUMENT_BYTES {
            return Err(CopyError::Decode(format!(
                "it decompresses to more than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        out
    } else if let Some(plain) = data.and_then(|d| d.get(STATE_KEY)) {
        plain.0.clone()
    } else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| CopyError::Decode(format!("not UTF-8 text: {e}")))
}

fn fencing_epoch(secret: &Secret) -> Epoch {
    let value = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FENCE_ANNOTATION));
    Epoch(value.and_then(|v| v.parse().ok()).unwrap_or(0))
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
    let parsed = parse(text.as_bytes()).map_err(CopyError::Document)?;
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
    data.remove(STATE_KEY);
    data.remove(STATE_GZ_KEY);
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
        let text = to_canonical_yaml(doc).map_err(|e| Self::invalid(deployment, e.to_string()))?;
        let (key, bytes) = encode_payload(&text).map_err(|size| StateStoreError::TooLarge {
            deployment: deployment.to_owned(),
            size,
            limit: MAX_STORED_BYTES,
        })?;
        Ok((text, key, bytes))
    }

    /// Creates every copy of a new deployment's state (serial 1, a fresh lineage), in the clusters
    /// the document lists. An existing state is an error; on any failure, what this call created
    /// is removed again. An object that holds only the lock's fencing stamp is filled in.
    pub async fn create(
        &self,
        doc: &StateDocument,
        team: &str,
    ) -> Result<StoredMeta, StateStoreError> {
        let deployment = doc.metadata.name.clone();
        if let Some(problem) = names::label_problem(team) {
            return Err(Self::invalid(
                &deployment,
                format!("team {team:?}: {problem}"),
            ));
        }
        let (text, key, bytes) = Self::prepare(&deployment, doc)?;
        let meta = StoredMeta::first(Uuid::new_v4(), 0, CURRENT, &text);
        let refs = cluster_names(doc);
        let results = join_all(
            refs.iter()
                .map(|c| self.create_one(c, &deployment, team, key, &bytes, &meta)),
        )
        .await;
        let mut first_error = None;
        let mut done = Vec::new();
        for (cluster, result) in refs.iter().zip(results) {
            match result {
                Ok(undo) => done.push((cluster.clone(), undo)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => {
                let entry = IndexEntry {
                    deployment: deployment.clone(),
                    team: team.to_owned(),
                    state_namespace: self.namespace.clone(),
                    namespace: doc
                        .clusters
                        .first()
                        .map(|c| c.namespace.clone())
                        .unwrap_or_default(),
                    clusters: refs.clone(),
                };
                // The public index is a convenience for other teams; the state is what counts.
                if let Err((cluster, e)) = index::publish(&self.clusters, &entry).await {
                    tracing::warn!(cluster, error = %e, "the deployment was not added to the public index");
                }
                Ok(meta)
            }
            Some(e) => {
                let name = state_object_name(&deployment);
                join_all(
                    done.iter()
                        .map(|(c, undo)| self.undo_create(c, &name, undo)),
                )
                .await;
                Err(e)
            }
        }
    }

    async fn create_one(
        &self,
        cluster: &str,
        deployment: &str,
        team: &str,
        key: &str,
        bytes: &[u8],
        meta: &StoredMeta,
    ) -> Result<Undo, StateStoreError> {
        let api = self.api(cluster)?;
        let name = state_object_name(deployment);
        let labels = BTreeMap::from([
            (MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned()),
            (DEPLOYMENT_LABEL.to_owned(), deployment.to_owned()),
            (TEAM_LABEL.to_owned(), team.to_owned()),
        ]);
        let mut secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        fill(&mut secret, key, bytes, meta);
        let exists = || StateStoreError::AlreadyExists {
            deployment: deployment.to_owned(),
            cluster: cluster.to_owned(),
            namespace: self.namespace.clone(),
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(created) => return Ok(Undo::Delete(created.metadata.uid)),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Self::store_err(cluster, store_error(e))),
        }
        // Only the lock's fencing stamp may be there already: fill it in, keeping the stamp.
        let original = api
            .get(&name)
            .await
            .map_err(|e| Self::store_err(cluster, store_error(e)))?;
        let has_state = original
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(STATE_KEY) || d.contains_key(STATE_GZ_KEY))
            || original
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(SERIAL_ANNOTATION));
        if has_state {
            return Err(exists());
        }
        let mut filled = original.clone();
        let mut meta = meta.clone();
        meta.epoch = fencing_epoch(&original).0;
        fill(&mut filled, key, bytes, &meta);
        filled
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels);
        match api.replace(&name, &PostParams::default(), &filled).await {
            Ok(written) => Ok(Undo::Restore(
                Box::new(original),
                written.metadata.resource_version,
            )),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(exists()),
            Err(e) => Err(Self::store_err(cluster, store_error(e))),
        }
    }

    async fn undo_create(&self, cluster: &str, name: &str, undo: &Undo) {
        let Ok(api) = self.api(cluster) else { return };
        let result = match undo {
            Undo::Delete(uid) => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: uid.clone(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                api.delete(name, &params).await.map(|_| ())
            }
            Undo::Restore(original, written_version) => {
                let mut back = (**original).clone();
                back.metadata.resource_version = written_version.clone();
                api.replace(name, &PostParams::default(), &back)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!(cluster, error = %e, "could not undo a partial create");
        }
    }

    async fn read_raw(&self, deployment: &str, cluster: &str) -> Raw {
        let name = state_object_name(deployment);
        let read = match self.api(cluster) {
            Ok(api) => api.get_opt(&name).await.map_err(store_error),
            Err(e) => Err(StoreError::Other {
                message: e.to_string(),
            }),
        };
        let (secret, copy) = match read {
            Err(e) => (None, Err(CopyError::Store(e))),
            Ok(None) => (
                None,
                Err(CopyError::Missing {
                    namespace: self.namespace.clone(),
                    name,
                }),
            ),
            Ok(Some(secret)) => {
                let copy = check_copy(cluster, &secret);
                (Some(secret), copy)
            }
        };
        Raw {
            cluster: cluster.to_owned(),
            secret,
            copy,
        }
    }

    async fn read_raw_all(&self, deployment: &str, refs: &[String]) -> Vec<Raw> {
        join_all(refs.iter().map(|c| self.read_raw(deployment, c))).await
    }

    /// Reads every cluster's copy in parallel, each checked (hash, schema, validity).
    pub async fn read_all(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> Vec<(String, Result<StateCopy, CopyError>)> {
        self.read_raw_all(deployment, clusters)
            .await
            .into_iter()
            .map(|r| (r.cluster, r.copy))
            .collect()
    }

    /// Reads and compares every copy: the copies and how they compare.
    pub async fn status(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> (Vec<(String, Result<StateCopy, CopyError>)>, SyncStatus) {
        let copies = self.read_all(deployment, clusters).await;
        let status = classify_copies(&copies);
        (copies, status)
    }

    /// The newest copy, for a command that reads the state (and may then write it under the
    /// lock): refuses diverged or unreadable copies as a write would, and says in the status when
    /// some copies are behind.
    pub async fn read(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> Result<(StateCopy, SyncStatus), StateStoreError> {
        let (copies, status) = self.status(deployment, clusters).await;
        let good = copies
            .iter()
            .find(|(_, c)| c.is_ok())
            .map(|(cluster, _)| cluster.as_str());
        refuse_unless_writable(deployment, &status, good)?;
        let newest = copies
            .into_iter()
            .filter_map(|(_, c)| c.ok())
            .max_by_key(|c| c.meta.serial)
            .ok_or_else(|| Self::invalid(deployment, "no copy was read"))?;
        Ok((newest, status))
    }

    /// Writes `doc` as the next serial into every copy, under the lock of `epoch`. Refuses when
    /// copies diverged or one is unreadable; rolls forward copies a cut-short write left behind.
    pub async fn write(
        &self,
        epoch: Epoch,
        deployment: &str,
        doc: &StateDocument,
    ) -> Result<WriteOutcome, StateStoreError> {
        let (text, key, bytes) = Self::prepare(deployment, doc)?;
        let refs = cluster_names(doc);
        let raws = self.read_raw_all(deployment, &refs).await;
        // A document that adds or removes a cluster is not a plain write: say so before anything
        // else (a new cluster has no copy yet).
        if let Some(stored) = raws
            .iter()
            .filter_map(|r| r.copy.as_ref().ok())
            .max_by_key(|c| c.meta.serial)
        {
            let stamp = MigrationStamp {
                by: doc.metadata.last_updated_by.clone(),
                at: doc.metadata.last_updated_at,
            };
            let old_refs = stored
                .load(&stamp)
                .map(|l| cluster_names(l.document()))
                .unwrap_or_default();
            if old_refs != refs {
                return Err(StateStoreError::ClustersChanged {
                    deployment: deployment.to_owned(),
                    new: refs.join(", "),
                    old: old_refs.join(", "),
                });
            }
        }
        check_fence(&raws, epoch, &self.namespace, deployment)?;
        let copies: Vec<(String, Result<StateCopy, CopyError>)> = raws
            .iter()
            .map(|r| (r.cluster.clone(), r.copy.clone()))
            .collect();
        let status = classify_copies(&copies);
        let good = copies
            .iter()
            .find(|(_, c)| c.is_ok())
            .map(|(cluster, _)| cluster.as_str());
        let rolled_forward = refuse_unless_writable(deployment, &status, good)?;
        let newest = copies
            .iter()
            .filter_map(|(_, c)| c.as_ref().ok())
            .max_by_key(|c| c.meta.serial)
            .ok_or_else(|| Self::invalid(deployment, "no copy was read"))?;
        let meta = newest.meta.next(epoch.0, CURRENT, &text);
        // R3 at rest: the first write over an older schema keeps the old document first.
        let from = newest.parsed.document.version();
        let backup = if from < CURRENT {
            let source = raws
                .iter()
                .find(|r| r.cluster == newest.cluster)
                .and_then(|r| r.secret.as_ref())
                .ok_or_else(|| Self::invalid(deployment, "no copy was read"))?;
            Some(self.back_up(deployment, &refs, source, from).await?)
        } else {
            None
        };
        self.write_all(epoch, deployment, &raws, key, &bytes, &meta)
            .await?;
        Ok(WriteOutcome {
            serial: meta.serial,
            lineage: meta.lineage,
            rolled_forward,
            backup,
        })
    }

    /// Copies `from_cluster`'s document over every other copy (serial above every copy's, the
    /// source's lineage), under the lock of `epoch`: the repair of diverged or unreadable copies.
    pub async fn sync_from(
        &self,
        epoch: Epoch,
        deployment: &str,
        from_cluster: &str,
    ) -> Result<WriteOutcome, StateStoreError> {
        let source = self.read_raw(deployment, from_cluster).await;
        let source = source.copy.map_err(|e| StateStoreError::Unreadable {
            deployment: deployment.to_owned(),
            cluster: from_cluster.to_owned(),
            reason: e.to_string(),
            good: "<another cluster>".to_owned(),
        })?;
        let stamp = MigrationStamp {
            by: "solo".to_owned(),
            at: Timestamp::UNIX_EPOCH,
        };
        let refs = source
            .load(&stamp)
            .map(|l| cluster_names(l.document()))
            .map_err(|e| Self::invalid(deployment, e.to_string()))?;
        if !refs.iter().any(|c| c == from_cluster) {
            return Err(StateStoreError::UnknownCluster {
                deployment: deployment.to_owned(),
                cluster: from_cluster.to_owned(),
                clusters: refs.join(", "),
            });
        }
        let raws = self.read_raw_all(deployment, &refs).await;
        check_fence(&raws, epoch, &self.namespace, deployment)?;
        // The source as read with the others, so the copy written is the one the CAS is based on.
        let source = raws
            .iter()
            .find(|r| r.cluster == from_cluster)
            .and_then(|r| r.copy.as_ref().ok())
            .filter(|c| c.meta.content_hash == source.meta.content_hash)
            .ok_or_else(|| StateStoreError::Conflict {
                cluster: from_cluster.to_owned(),
            })?;
        let text = source.text().to_owned();
        let (key, bytes) = encode_payload(&text).map_err(|size| StateStoreError::TooLarge {
            deployment: deployment.to_owned(),
            size,
            limit: MAX_STORED_BYTES,
        })?;
        // Above every serial seen, unreadable copies' annotations included.
        let serial = raws
            .iter()
            .filter_map(|r| r.secret.as_ref().and_then(annotated_serial))
            .chain([source.meta.serial])
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let meta = StoredMeta {
            serial,
            lineage: source.meta.lineage,
            epoch: epoch.0,
            content_hash: content_hash(&text),
            schema_version: source.meta.schema_version,
        };
        let repaired: Vec<String> = raws
            .iter()
            .filter(|r| {
                r.copy
                    .as_ref()
                    .map_or(true, |c| c.meta.content_hash != meta.content_hash)
            })
            .map(|r| r.cluster.clone())
            .collect();
        self.write_all(epoch, deployment, &raws, key, &bytes, &meta)
            .await?;
        Ok(WriteOutcome {
            serial,
            lineage: meta.lineage,
            rolled_forward: repaired,
            backup: None,
        })
    }

    /// Keeps `source` (a copy of schema `from`, older than the current one) as the backup object
    /// [`backup_object_name`] in every cluster, before the write that migrates it. A backup
    /// already there is kept as it is: it holds the document as it was before any migration.
    async fn back_up(
        &self,
        deployment: &str,
        refs: &[String],
        source: &Secret,
        from: SchemaVersion,
    ) -> Result<String, StateStoreError> {
        let name = backup_object_name(deployment, from);
        let mut labels = source.metadata.labels.clone().unwrap_or_default();
        labels.insert(BACKUP_LABEL.to_owned(), "true".to_owned());
        let mut annotations = source.metadata.annotations.clone().unwrap_or_default();
        annotations.remove(FENCE_ANNOTATION);
        annotations.insert(BACKUP_FROM_ANNOTATION.to_owned(), from.to_string());
        let backup = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            data: source.data.clone(),
            ..Default::default()
        };
        let results = join_all(refs.iter().map(|cluster| {
            let backup = &backup;
            async move {
                let api = self.api(cluster)?;
                match api.create(&PostParams::default(), backup).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    Err(e) => Err(Self::store_err(cluster, store_error(e))),
                }
            }
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(name)
    }

    /// Replaces every copy in parallel, each with the resourceVersion read.
    async fn write_all(
        &self,
        epoch: Epoch,
        deployment: &str,
        raws: &[Raw],
        key: &str,
        bytes: &[u8],
        meta: &StoredMeta,
    ) -> Result<(), StateStoreError> {
        let results = join_all(
            raws.iter()
                .map(|r| self.write_one(epoch, deployment, r, key, bytes, meta)),
        )
        .await;
        let mut written = Vec::new();
        let mut failed = Vec::new();
        let mut first = None;
        for (raw, result) in raws.iter().zip(results) {
            match result {
                Ok(()) => written.push(raw.cluster.clone()),
                Err(e) => {
                    failed.push(raw.cluster.clone());
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            None => Ok(()),
            Some(e) if written.is_empty() => Err(e),
            Some(e) => Err(StateStoreError::Incomplete {
                written: written.join(", "),
                failed: failed.join(", "),
                first: Box::new(e),
            }),
        }
    }

    async fn write_one(
        &self,
        epoch: Epoch,
        deployment: &str,
        raw: &Raw,
        key: &str,
        bytes: &[u8],
        meta: &StoredMeta,
    ) -> Result<(), StateStoreError> {
        let cluster = raw.cluster.as_str();
        let Some(secret) = &raw.secret else {
            return Err(StateStoreError::Missing {
                cluster: cluster.to_owned(),
                namespace: self.namespace.clone(),
                deployment: deployment.to_owned(),
            });
        };
        let name = secret.metadata.name.clone().unwrap_or_default();
        let api = self.api(cluster)?;
        let mut next = secret.clone();
        fill(&mut next, key, bytes, meta);
        match api.replace(&name, &PostParams::default(), &next).await {
            Ok(_) => Ok(()),
            Err(e) => match store_error(e) {
                StoreError::Conflict => {
                    // Lost the compare-and-swap: a new holder's stamp, or a write without the lock.
                    let now = api.get_opt(&name).await.ok().flatten();
                    match now.as_ref().map(|s| admits(fencing_epoch(s), epoch)) {
                        Some(Err(refusal)) => Err(fenced(cluster, refusal)),
                        _ => Err(StateStoreError::Conflict {
                            cluster: cluster.to_owned(),
                        }),
                    }
                }
                StoreError::NotFound => Err(StateStoreError::Missing {
                    cluster: cluster.to_owned(),
                    namespace: self.namespace.clone(),
                    deployment: deployment.to_owned(),
                }),
                other => Err(Self::store_err(cluster, other)),
            },
        }
    }
}

/// What to undo of a create that failed elsewhere.
enum Undo {
    /// Delete the object created (by uid, so nothing newer is deleted).
    Delete(Option<String>),
    /// Put back the fencing-stamp-only object that was filled in.
    Restore(Box<Secret>, Option<String>),
}

/// [`classify`] over copies as read.
pub fn classify_copies(copies: &[(String, Result<StateCopy, CopyError>)]) -> SyncStatus {
    let infos: Vec<(String, Result<CopyInfo, String>)> = copies
        .iter()
        .map(|(c, r)| {
            (
                c.clone(),
                r.as_ref().map(StateCopy::info).map_err(ToString::to_string),
            )
        })
        .collect();
    classify(&infos)
}

/// The refusal of a copy stamped with another epoch than the lock's.
fn fenced(cluster: &str, refusal: FenceRefusal) -> StateStoreError {
    let cluster = cluster.to_owned();
    match refusal {
        FenceRefusal::Superseded { stored, ours } => StateStoreError::LockLost {
            cluster,
            ours,
            current: stored,
        },
        FenceRefusal::NotStamped { stored, ours } => StateStoreError::NotStamped {
            cluster,
            ours,
            current: stored,
        },
    }
}

/// Every existing copy must carry the lock's epoch; a missing copy under the lock was deleted.
fn check_fence(
    raws: &[Raw],
    epoch: Epoch,
    namespace: &str,
    deployment: &str,
) -> Result<(), StateStoreError> {
    for raw in raws {
        match &raw.secret {
            Some(secret) => {
                if let Err(refusal) = admits(fencing_epoch(secret), epoch) {
                    return Err(fenced(&raw.cluster, refusal));
                }
            }
            None => {
                if let Err(CopyError::Store(e)) = &raw.copy {
                    return Err(StateStoreError::Store {
                        cluster: raw.cluster.clone(),
                        source: e.clone(),
                    });
                }
                return Err(StateStoreError::Missing {
                    cluster: raw.cluster.clone(),
                    namespace: namespace.to_owned(),
                    deployment: deployment.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// The clusters to roll forward, or the refusal of a diverged or unreadable set.
fn refuse_unless_writable(
    deployment: &str,
    status: &SyncStatus,
    good: Option<&str>,
) -> Result<Vec<String>, StateStoreError> {
    match status {
        SyncStatus::InSync { .. } => Ok(Vec::new()),
        SyncStatus::Behind { behind, .. } => Ok(behind.iter().map(|(c, _)| c.clone()).collect()),
        SyncStatus::Diverged { table } => Err(StateStoreError::Diverged {
            deployment: deployment.to_owned(),
            table: divergence_table(table),
        }),
        SyncStatus::Unreadable { copies } => {
            let (cluster, reason) = copies.first().cloned().unwrap_or_default();
            Err(StateStoreError::Unreadable {
                deployment: deployment.to_owned(),
                cluster,
                reason,
                good: good.unwrap_or("<cluster with a good copy>").to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let recreated =
            fenced("cluster-2", admits(Epoch(0), Epoch(3)).expect_err("older")).to_string();
        assert!(recreated.contains("recreated"), "{recreated}");
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
