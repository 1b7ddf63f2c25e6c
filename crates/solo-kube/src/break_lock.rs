//! `lease break --force`, the audited escape from a lock whose holder is gone for good.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ObjectMeta, PostParams};
use solo_core::lock::{HolderField, Identity, LeaseKey, LockError, LockSet, StoreError};

use crate::Clusters;
use crate::lease_store::KubeLeaseStore;

/// `lease break --force`, the audited escape: clears every lease of the lock whoever holds it,
/// and records a Kubernetes `Warning` Event beside each lease it cleared (`kubectl get events`)
/// naming who broke it, why, and whose claim it removed. The removed holder finds out at its next
/// renewal; the next holder's fencing epoch refuses its state writes.
pub async fn break_lock_audited(
    clusters: &Clusters,
    lock_set: &LockSet,
    by: &Identity,
    reason: &str,
) -> Result<Vec<(LeaseKey, HolderField)>, LockError> {
    let store = KubeLeaseStore::new(clusters.clone());
    let removed = solo_core::lock::break_lock(&store, lock_set).await?;
    let now = Time(jiff::Timestamp::now());
    for (key, holder) in &removed {
        let was = holder.describe();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-lease-broken-", lock_set.deployment())),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("coordination.k8s.io/v1".into()),
                kind: Some("Lease".into()),
                name: Some(lock_set.lease_name(key).into()),
                namespace: Some(key.namespace.clone()),
                ..Default::default()
            },
            reason: Some("LeaseBroken".into()),
            message: Some(format!(
                "lock of {} broken by {} ({}, pid {}): removed the claim of {was}; reason: {reason}",
                lock_set.deployment(),
                by.user,
                by.host,
                by.pid
            )),
            type_: Some("Warning".into()),
            source: Some(EventSource {
                component: Some("solo".into()),
                ..Default::default()
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now.clone()),
            count: Some(1),
            ..Default::default()
        };
        let client = clusters
            .client(&key.cluster)
            .map_err(|e| LockError::Store {
                key: key.clone(),
                source: StoreError::Other {
                    message: e.to_string(),
                },
            })?;
        Api::<Event>::namespaced(client.clone(), &key.namespace)
            .create(&PostParams::default(), &event)
            .await
            .map_err(|e| LockError::Store {
                key: key.clone(),
                source: crate::error::store_error(e),
            })?;
    }
    Ok(removed)
}
