//! Fencing (DESIGN.md, step 7): every copy of a deployment's state object carries the epoch of
//! the last lock holder that wrote or stamped it, and a write is accepted only from that epoch or
//! a newer one, which it writes into the copy in the same compare-and-swap ([`set_epoch`]).
//!
//! A holder that took the lock from an expired holder stamps a new epoch into every copy before it
//! goes; so a holder that lost its lease (a paused laptop, an expiry) then finds a newer epoch and
//! its write is refused, and a write racing the stamp loses the compare-and-swap on
//! `resourceVersion`. Raising the copy's epoch with every write keeps it so after a clean handoff
//! too: once a newer holder has written, no older one can.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use solo_core::lock::fencing::{admits, next_epoch};
use solo_core::lock::{Epoch, Fence, FenceError, LockSet, StoreError};

use crate::clusters::Clusters;
use crate::error::store_error;

/// The annotation that holds the fencing epoch of a state object.
pub const EPOCH_ANNOTATION: &str = "solo.hiero.org/fencing-epoch";

/// One copy of the fenced state object: a Secret in a cluster's state namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceTarget {
    /// The cluster ref.
    pub cluster: String,
    /// The state namespace (not the network's namespace).
    pub namespace: String,
    /// The state object's name.
    pub name: String,
}

/// Why a fenced write was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FencedWriteError {
    /// A newer holder wrote or stamped a newer epoch: this holder lost the lock.
    #[error(
        "refused: the state in cluster {cluster} is fenced at epoch {current}, newer than this lock's epoch {ours}; the lock was lost, acquire it again"
    )]
    Fenced {
        cluster: String,
        ours: Epoch,
        current: Epoch,
    },
    /// The object changed between our read and our write.
    #[error("the state in cluster {cluster} changed during the write; read it again")]
    Conflict { cluster: String },
    /// The API server refused or could not be reached.
    #[error("cluster {cluster}: {source}")]
    Store { cluster: String, source: StoreError },
}

/// The fenced state object in every cluster of a deployment.
#[derive(Clone)]
pub struct StateFence {
    clusters: Clusters,
    targets: Vec<FenceTarget>,
}

/// The fencing epoch stamped on a state object (0 when never stamped).
pub fn epoch_of(secret: &Secret) -> Epoch {
    let value = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EPOCH_ANNOTATION));
    Epoch(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Sets the fencing epoch of a state object to `epoch`: every admitted write does, in its own
/// compare-and-swap, or a holder with an epoch between the copy's and the writer's could still
/// write after it.
pub fn set_epoch(secret: &mut Secret, epoch: Epoch) {
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(EPOCH_ANNOTATION.to_owned(), epoch.0.to_string());
}

impl StateFence {
    /// A fence over these copies.
    pub fn new(clusters: Clusters, targets: Vec<FenceTarget>) -> Self {
        StateFence { clusters, targets }
    }

    fn api(&self, target: &FenceTarget) -> Result<Api<Secret>, StoreError> {
        let client = self
            .clusters
            .client(&target.cluster)
            .map_err(|e| StoreError::Other {
                message: e.to_string(),
            })?;
        Ok(Api::namespaced(client.clone(), &target.namespace))
    }

    /// Reads one copy, checks that its epoch is not newer than `epoch`, applies `change`, sets the
    /// copy's epoch to `epoch` and writes it back with a compare-and-swap; the fencing check of
    /// every state write.
    pub async fn write(
        &self,
        target: &FenceTarget,
        epoch: Epoch,
        change: impl FnOnce(&mut Secret),
    ) -> Result<Secret, FencedWriteError> {
        let cluster = target.cluster.clone();
        let store = |source| FencedWriteError::Store {
            cluster: cluster.clone(),
            source,
        };
        let api = self.api(target).map_err(store)?;
        let mut secret = api
            .get(&target.name)
            .await
            .map_err(|e| store(store_error(e)))?;
        if admits(epoch_of(&secret), epoch).is_err() {
            return Err(FencedWriteError::Fenced {
                cluster,
                ours: epoch,
                current: epoch_of(&secret),
            });
        }
        change(&mut secret);
        // After the change, so that nothing it does can leave an older epoch behind.
        set_epoch(&mut secret, epoch);
        // The resourceVersion read above stays in the object: a concurrent stamp makes this fail.
        match api
            .replace(&target.name, &PostParams::default(), &secret)
            .await
        {
            Ok(written) => Ok(written),
            Err(e) => match store_error(e) {
                StoreError::Conflict => Err(FencedWriteError::Conflict { cluster }),
                other => Err(store(other)),
            },
        }
    }

    /// The copies this fence stamps.
    pub fn targets(&self) -> &[FenceTarget] {
        &self.targets
    }

    /// Stamps `epoch` into one copy if it is newer than the copy's, starting from the copy as
    /// already read (`None`: absent, so it is created) and reading again only after a lost race;
    /// returns the copy's epoch when it was already at `epoch` or newer.
    async fn stamp(
        &self,
        target: &FenceTarget,
        epoch: Epoch,
        mut seen: Option<Secret>,
    ) -> Result<Option<Epoch>, StoreError> {
        let api = self.api(target)?;
        loop {
            let result = match seen {
                Some(mut secret) => {
                    let current = epoch_of(&secret);
                    if current >= epoch {
                        return Ok(Some(current));
                    }
                    set_epoch(&mut secret, epoch);
                    api.replace(&target.name, &PostParams::default(), &secret)
                        .await
                }
                None => {
                    let secret = Secret {
                        metadata: ObjectMeta {
                            name: Some(target.name.clone()),
                            annotations: Some(
                                [(EPOCH_ANNOTATION.to_owned(), epoch.0.to_string())].into(),
                            ),
                            labels: Some(
                                [(
                                    crate::lease_store::MANAGED_BY_LABEL.0.to_owned(),
                                    crate::lease_store::MANAGED_BY_LABEL.1.to_owned(),
                                )]
                                .into(),
                            ),
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    api.create(&PostParams::default(), &secret).await
                }
            };
            match result.map_err(store_error) {
                Ok(_) => return Ok(None),
                Err(StoreError::Conflict) => {
                    seen = api.get_opt(&target.name).await.map_err(store_error)?;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Every copy as it is now, read in parallel (`None`: absent).
    async fn read_copies(&self) -> Result<Vec<Option<Secret>>, FenceError> {
        let reads = join_all(self.targets.iter().map(|target| async move {
            self.api(target)?
                .get_opt(&target.name)
                .await
                .map_err(store_error)
        }))
        .await;
        self.targets
            .iter()
            .zip(reads)
            .map(|(target, read)| read.map_err(|e| stamp_error(target, e)))
            .collect()
    }
}

fn stamp_error(target: &FenceTarget, e: StoreError) -> FenceError {
    FenceError::Stamp {
        cluster: target.cluster.clone(),
        source: e,
    }
}

impl Fence for StateFence {
    async fn advance_epoch(&self, _lock_set: &LockSet, floor: Epoch) -> Result<Epoch, FenceError> {
        // The new epoch is above every copy's. A copy found at it or above while stamping (a holder
        // paused between claiming and stamping, see solo_core::lock) raises it again. Uncontended,
        // that is one read and one write per copy, in parallel.
        let mut copies = self.read_copies().await?;
        let mut epoch = next_epoch(
            copies
                .iter()
                .flatten()
                .map(epoch_of)
                .chain(std::iter::once(floor)),
        );
        loop {
            let results = join_all(
                self.targets
                    .iter()
                    .zip(copies)
                    .map(|(t, seen)| self.stamp(t, epoch, seen)),
            )
            .await;
            let mut newer: Option<Epoch> = None;
            for (target, result) in self.targets.iter().zip(results) {
                if let Some(found) = result.map_err(|e| stamp_error(target, e))? {
                    newer = Some(newer.map_or(found, |n| n.max(found)));
                }
            }
            match newer {
                // A copy already carried this epoch or a newer one: someone else stamped it, so
                // ours would not be unique. Go above it, from fresh reads.
                Some(found) => {
                    epoch = Epoch(found.0 + 1);
                    copies = self.read_copies().await?;
                }
                None => return Ok(epoch),
            }
        }
    }
}
