//! Why a state operation failed, typed, each naming the cluster.

use super::*;
use solo_core::lock::fencing::FenceRefusal;

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
    /// The fence carries a newer holder's epoch: this lock was lost.
    #[error(
        "cluster {cluster}: the state is fenced at epoch {current}, newer than this lock's epoch {ours}; the lock was lost and nothing more was written there: acquire the lock again"
    )]
    LockLost {
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
    /// The state was written by someone else (another command under the same lock) after the
    /// read the change was built from.
    #[error(
        "the state of deployment {deployment} changed after this command read it (serial {read} was read, serial {current} is stored now); nothing was written"
    )]
    Changed {
        deployment: String,
        read: u64,
        current: u64,
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

/// The refusal of a copy fenced at a newer epoch than the lock's (the core's one rule,
/// [`admits`](solo_core::lock::fencing::admits)).
pub(crate) fn fenced(cluster: &str, refusal: FenceRefusal) -> StateStoreError {
    let cluster = cluster.to_owned();
    match refusal {
        FenceRefusal::Superseded { stored, ours } => StateStoreError::LockLost {
            cluster,
            ours,
            current: stored,
        },
    }
}
