//! The lock's leases as `coordination.k8s.io/v1` Lease objects, one per (cluster, namespace).
//!
//! The holder is JSON in `spec.holderIdentity`; the visible waiter queue is JSON in the
//! [`WAITERS_ANNOTATION`] annotation. Every write is a compare-and-swap on `resourceVersion`.
//! Watches are kept open across wake-ups, one per Lease (`watch`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions, WatchEvent,
    WatchParams,
};
use solo_core::lock::{
    EPOCH_MARK_ANNOTATION, Epoch, HolderField, LeaseKey, LeaseRecord, LeaseStore, StoreError,
    Versioned, WAITERS_ANNOTATION, decode_waiters, encode_waiters,
};

use crate::clusters::Clusters;
use crate::error::store_error;
use crate::identity::Authenticated;
use crate::retry::{self, IntoStore};

mod watch;

/// Label on every Lease solo writes, so that they can be listed.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "solo");

/// Leases in real clusters, through one client per cluster ref.
#[derive(Clone)]
pub struct KubeLeaseStore {
    clusters: Clusters,
    audit: Option<(Authenticated, String)>,
    pending: Pending,
    watches: watch::Watches,
}

/// The updates of leases that have not succeeded (still in flight, or failed), by lease: what a
/// holder names when its lock is lost for want of a renewal.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<BTreeMap<LeaseKey, String>>>);

impl Pending {
    fn set(&self, key: &LeaseKey, what: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match what {
            Some(what) => map.insert(key.clone(), what),
            None => map.remove(key),
        };
    }

    /// `cluster/namespace: what` for every lease whose last update has not succeeded.
    pub fn describe(&self) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!map.is_empty()).then(|| {
            map.iter()
                .map(|(k, what)| format!("{k}: {what}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl KubeLeaseStore {
    /// A store over these clusters' clients.
    pub fn new(clusters: Clusters) -> Self {
        KubeLeaseStore {
            clusters,
            audit: None,
            pending: Pending::default(),
            watches: watch::Watches::default(),
        }
    }

    /// The lease updates of this store that have not succeeded (shared with its clones).
    pub fn pending(&self) -> Pending {
        self.pending.clone()
    }

    /// The same store, writing into the holder record of request `request_id` the user each
    /// cluster authenticated (a SelfSubjectReview, asked once per cluster), for the audit.
    pub fn recording_authenticated(mut self, request_id: &str) -> Self {
        self.audit = Some((
            Authenticated::new(self.clusters.clone()),
            request_id.to_owned(),
        ));
        self
    }

    async fn audited(&self, key: &LeaseKey, mut record: LeaseRecord) -> LeaseRecord {
        if let Some((users, request_id)) = &self.audit
            && let Some(HolderField::Known(holder)) = &mut record.holder
            && holder.request_id == *request_id
        {
            holder.authenticated_as = users.username(&key.cluster).await;
        }
        record
    }

    fn api(&self, key: &LeaseKey) -> Result<Api<Lease>, StoreError> {
        let client = self
            .clusters
            .client(&key.cluster)
            .map_err(|e| StoreError::Other {
                message: e.to_string(),
            })?;
        Ok(Api::namespaced(client.clone(), &key.namespace))
    }
}

/// The Lease object that stores `record` (without a resourceVersion).
pub fn to_lease(name: &str, record: &LeaseRecord) -> Lease {
    let mut annotations = BTreeMap::new();
    if !record.waiters.is_empty() {
        annotations.insert(
            WAITERS_ANNOTATION.to_owned(),
            encode_waiters(&record.waiters),
        );
    }
    if let Some(mark) = record.epoch_mark {
        annotations.insert(EPOCH_MARK_ANNOTATION.to_owned(), mark.0.to_string());
    }
    // A missing duration (a foreign holder's) stays missing: see `UNKNOWN_LEASE_DURATION`.
    let seconds = (!record.lease_duration.is_zero())
        .then(|| record.lease_duration.as_secs_f64().ceil().max(1.0) as i32);
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned())].into()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: record.holder.as_ref().map(HolderField::identity),
            lease_duration_seconds: seconds,
            acquire_time: record.acquire_time.map(MicroTime),
            renew_time: record.renew_time.map(MicroTime),
            lease_transitions: Some(record.transitions as i32),
            ..Default::default()
        }),
    }
}

/// Reads a Lease, whoever wrote it: an unknown holderIdentity is kept opaque, a damaged waiter
/// annotation counts as an empty queue (the next write of ours replaces it).
pub fn from_lease(lease: &Lease) -> Versioned<LeaseRecord> {
    let spec = lease.spec.clone().unwrap_or_default();
    let waiters = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(WAITERS_ANNOTATION))
        .map(|text| {
            decode_waiters(text).unwrap_or_else(|e| {
                tracing::warn!(
                    "ignoring a damaged waiter queue on lease {:?}: {e}",
                    lease.metadata.name
                );
                Vec::new()
            })
        })
        .unwrap_or_default();
    let record = LeaseRecord {
        holder: spec.holder_identity.as_deref().and_then(HolderField::parse),
        lease_duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64),
        acquire_time: spec.acquire_time.map(|t| t.0),
        renew_time: spec.renew_time.map(|t| t.0),
        transitions: spec.lease_transitions.unwrap_or(0).max(0) as u32,
        waiters,
        epoch_mark: lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EPOCH_MARK_ANNOTATION))
            .and_then(|v| v.parse().ok())
            .map(Epoch),
    };
    Versioned {
        value: record,
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// The merge patch that turns the stored Lease into `lease`: every spec field we own is set, or
/// nulled when absent, and the waiter annotation is set or removed. `resourceVersion` makes the
/// server refuse it (409) when the Lease changed since we read it.
pub fn replace_patch(lease: &Lease, resource_version: &str) -> serde_json::Value {
    let spec = lease.spec.clone().unwrap_or_default();
    let waiters = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(WAITERS_ANNOTATION))
        .cloned();
    let mark = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EPOCH_MARK_ANNOTATION))
        .cloned();
    serde_json::json!({
        "metadata": {
            "resourceVersion": resource_version,
            "labels": lease.metadata.labels,
            "annotations": { WAITERS_ANNOTATION: waiters, EPOCH_MARK_ANNOTATION: mark },
        },
        "spec": {
            "holderIdentity": spec.holder_identity,
            "leaseDurationSeconds": spec.lease_duration_seconds,
            "acquireTime": spec.acquire_time,
            "renewTime": spec.renew_time,
            "leaseTransitions": spec.lease_transitions,
        },
    })
}

impl LeaseStore for KubeLeaseStore {
    async fn get(
        &self,
        key: &LeaseKey,
        name: &str,
    ) -> Result<Option<Versioned<LeaseRecord>>, StoreError> {
        let api = self.api(key)?;
        let lease = retry::call(|| api.get_opt(name))
            .await
            .map_err(IntoStore::into_store)?;
        Ok(lease.as_ref().map(from_lease))
    }

    async fn create(
        &self,
        key: &LeaseKey,
        name: &str,
        record: LeaseRecord,
    ) -> Result<Versioned<LeaseRecord>, StoreError> {
        let api = self.api(key)?;
        let record = self.audited(key, record).await;
        let lease = to_lease(name, &record);
        let post = PostParams::default();
        let created = retry::call(|| api.create(&post, &lease))
            .await
            .map_err(|e| match e.into_store() {
                // A create is never "not found" for its own object: the namespace is missing, and
                // retrying cannot fix that (the protocol would read "absent" and create again).
                StoreError::NotFound => StoreError::NamespaceMissing {
                    namespace: key.namespace.clone(),
                },
                other => other,
            })?;
        Ok(from_lease(&created))
    }

    /// A JSON merge patch that carries `metadata.resourceVersion`, not a PUT: the API server
    /// lets a PUT re-create a Lease that was deleted (Leases allow create-on-update), whatever
    /// resourceVersion it names, so a stale holder would resurrect its claim. A patch never
    /// creates: 404 if the lease is gone, 409 if it changed.
    async fn replace(
        &self,
        key: &LeaseKey,
        name: &str,
        record: LeaseRecord,
        resource_version: &str,
    ) -> Result<Versioned<LeaseRecord>, StoreError> {
        let api = self.api(key)?;
        let record = self.audited(key, record).await;
        let patch = replace_patch(&to_lease(name, &record), resource_version);
        let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
        self.pending.set(key, Some("no answer yet".to_owned()));
        let replaced = retry::call(|| api.patch(name, &params, &merge))
            .await
            .map_err(IntoStore::into_store);
        self.pending
            .set(key, replaced.as_ref().err().map(ToString::to_string));
        Ok(from_lease(&replaced?))
    }

    async fn delete(
        &self,
        key: &LeaseKey,
        name: &str,
        resource_version: &str,
    ) -> Result<(), StoreError> {
        let api = self.api(key)?;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: Some(resource_version.to_owned()),
                uid: None,
            }),
            ..Default::default()
        };
        retry::call(|| api.delete(name, &params))
            .await
            .map_err(IntoStore::into_store)?;
        Ok(())
    }

    async fn watch_change(
        &self,
        key: &LeaseKey,
        name: &str,
        since_resource_version: &str,
    ) -> Result<Option<Versioned<LeaseRecord>>, StoreError> {
        let api = self.api(key)?;
        if let Ok(since) = since_resource_version.parse::<u64>() {
            // Through the watch kept open for this Lease; `410 Gone`: read it again (a fresh
            // read is a change as far as the protocol cares: it decides again).
            return match self.watches.change_after(&api, key, name, since).await? {
                Some(change) => Ok(change),
                None => self.get(key, name).await,
            };
        }
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(290);
        loop {
            let stream = retry::call(|| api.watch(&params, since_resource_version))
                .await
                .map_err(IntoStore::into_store)?;
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let mut latest = match event.map_err(store_error)? {
                    WatchEvent::Added(lease) | WatchEvent::Modified(lease) => {
                        Some(from_lease(&lease))
                    }
                    WatchEvent::Deleted(_) => None,
                    WatchEvent::Bookmark(_) => continue,
                    // 410 Gone: the version we saw is too old to watch from; a fresh read is a
                    // change as far as the protocol cares (it decides again).
                    WatchEvent::Error(status) if status.code == 410 => {
                        return self.get(key, name).await;
                    }
                    WatchEvent::Error(status) => {
                        return Err(StoreError::Other {
                            message: status.message,
                        });
                    }
                };
                // Events that already arrived behind the first: answer with the newest, so that a
                // busy lease does not cost the protocol one round per event.
                while let Some(Some(Ok(event))) = stream.next().now_or_never() {
                    match event {
                        WatchEvent::Added(lease) | WatchEvent::Modified(lease) => {
                            latest = Some(from_lease(&lease))
                        }
                        WatchEvent::Deleted(_) => latest = None,
                        WatchEvent::Bookmark(_) | WatchEvent::Error(_) => break,
                    }
                }
                return Ok(latest);
            }
            // The server closed the watch (its timeout) with no change: watch again from the same point.
        }
    }
}
