//! Deleting a deployment from its clusters, fenced like any write (DESIGN.md, "Rules every write
//! keeps"): a holder that lost the lock deletes nothing.
//!
//! Each state object is first *retired* by one compare-and-swap against the copy read, whose
//! epoch must not be newer than the lock's: its document and bookkeeping go, and only the fencing
//! stamp stays, at the lock's epoch.
//! That stamp is the epoch's high-water mark, so a deployment created again under the same name
//! continues from it and a holder paused since the old deployment is refused by the new one.
//! Then the deployment's other objects (history archives, backups) are deleted, each with the
//! resourceVersion listed as precondition. A deletion cut short runs again under the lock.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use solo_core::lock::fencing::admits;
use solo_core::lock::{Epoch, StoreError};

use crate::clusters::Clusters;
use crate::error::store_error;
use crate::fence::{epoch_of, set_epoch};
use crate::lease_store::MANAGED_BY_LABEL;
use crate::state_store::{DEPLOYMENT_LABEL, StateStoreError, fenced, state_object_name};

/// One object a deletion removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The cluster ref.
    pub cluster: String,
    /// The object's name in the state namespace.
    pub name: String,
}

/// Deletes `deployment`'s state (keeping only its fencing stamp) and its other objects from the
/// state namespace of every cluster in `refs`, under the lock of `epoch`; what it removed.
pub async fn delete_deployment(
    clusters: &Clusters,
    state_namespace: &str,
    deployment: &str,
    refs: &[String],
    epoch: Epoch,
) -> Result<Vec<Removed>, StateStoreError> {
    let apis = refs
        .iter()
        .map(|r| {
            let client = clusters.client(r).map_err(|e| StateStoreError::Store {
                cluster: r.clone(),
                source: StoreError::Other {
                    message: e.to_string(),
                },
            })?;
            Ok((r.clone(), Api::namespaced(client.clone(), state_namespace)))
        })
        .collect::<Result<Vec<(String, Api<Secret>)>, StateStoreError>>()?;
    let retired = join_all(
        apis.iter()
            .map(|(r, api)| retire(api, r, state_namespace, deployment, epoch)),
    )
    .await;
    let mut removed = Vec::new();
    for (result, (cluster, _)) in retired.into_iter().zip(&apis) {
        if result? {
            removed.push(Removed {
                cluster: cluster.clone(),
                name: state_object_name(deployment),
            });
        }
    }
    let others = join_all(
        apis.iter()
            .map(|(r, api)| delete_others(api, r, deployment)),
    )
    .await;
    for result in others {
        removed.extend(result?);
    }
    Ok(removed)
}

/// Replaces the state object with its fencing stamp alone (at `epoch`), by compare-and-swap
/// against the copy read, whose epoch must not be newer than `epoch`; false when it held no
/// state any more.
async fn retire(
    api: &Api<Secret>,
    cluster: &str,
    namespace: &str,
    deployment: &str,
    epoch: Epoch,
) -> Result<bool, StateStoreError> {
    let store = |source| StateStoreError::Store {
        cluster: cluster.to_owned(),
        source,
    };
    let name = state_object_name(deployment);
    let Some(secret) = api
        .get_opt(&name)
        .await
        .map_err(|e| store(store_error(e)))?
    else {
        return Err(StateStoreError::Missing {
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
        });
    };
    if let Err(refusal) = admits(epoch_of(&secret), epoch) {
        return Err(fenced(cluster, refusal));
    }
    let held_state = secret.data.as_ref().is_some_and(|d| !d.is_empty())
        || secret
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(DEPLOYMENT_LABEL));
    let mut stamp = secret.clone();
    stamp.data = None;
    stamp.string_data = None;
    stamp.metadata.annotations = None;
    set_epoch(&mut stamp, epoch);
    stamp.metadata.labels = Some(BTreeMap::from([(
        MANAGED_BY_LABEL.0.to_owned(),
        MANAGED_BY_LABEL.1.to_owned(),
    )]));
    // The resourceVersion read stays in the object: a newer holder's stamp makes this fail.
    match api.replace(&name, &PostParams::default(), &stamp).await {
        Ok(_) => Ok(held_state),
        Err(e) => match store_error(e) {
            StoreError::Conflict => Err(StateStoreError::Conflict {
                cluster: cluster.to_owned(),
            }),
            other => Err(store(other)),
        },
    }
}

/// Deletes every other object labelled with the deployment, each only as listed.
async fn delete_others(
    api: &Api<Secret>,
    cluster: &str,
    deployment: &str,
) -> Result<Vec<Removed>, StateStoreError> {
    let store = |source| StateStoreError::Store {
        cluster: cluster.to_owned(),
        source,
    };
    let selector = format!("{DEPLOYMENT_LABEL}={deployment}");
    let listed = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| store(store_error(e)))?;
    let state = state_object_name(deployment);
    let objects: Vec<(String, Option<String>)> = listed
        .items
        .into_iter()
        .filter_map(|o| Some((o.metadata.name?, o.metadata.resource_version)))
        .filter(|(n, _)| *n != state)
        .collect();
    let deletions = join_all(objects.iter().map(|(name, version)| async move {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: version.clone(),
                uid: None,
            }),
            ..Default::default()
        };
        api.delete(name, &params).await
    }))
    .await;
    let mut removed = Vec::new();
    for ((name, _), result) in objects.into_iter().zip(deletions) {
        match result.map_err(store_error) {
            Ok(_) => removed.push(Removed {
                cluster: cluster.to_owned(),
                name,
            }),
            // Gone already, or changed since listed (not ours to delete).
            Err(StoreError::NotFound | StoreError::Conflict) => {}
            Err(other) => return Err(store(other)),
        }
    }
    Ok(removed)
}
