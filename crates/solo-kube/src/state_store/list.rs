//! Which deployments a state namespace holds copies of, from the copies' labels only (the list
//! never reads a state).

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams};
use solo_core::lock::StoreError;

use super::{DEPLOYMENT_LABEL, TEAM_LABEL};
use crate::retry::IntoStore as _;

/// A deployment found by the labels of its state copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDeployment {
    /// The deployment's name.
    pub deployment: String,
    /// Its team, when it has one.
    pub team: Option<String>,
}

/// The deployments whose state copies `namespace` holds in the cluster of `client` (none when
/// the namespace does not exist).
pub async fn list_deployments(
    client: &Client,
    namespace: &str,
) -> Result<Vec<ListedDeployment>, StoreError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(DEPLOYMENT_LABEL);
    match crate::retry::call(|| async { api.list_metadata(&params).await }).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter_map(|item| {
                let labels = item.metadata.labels.unwrap_or_default();
                Some(ListedDeployment {
                    deployment: labels.get(DEPLOYMENT_LABEL)?.clone(),
                    team: labels.get(TEAM_LABEL).cloned(),
                })
            })
            .collect()),
        Err(e) => match e.into_store() {
            StoreError::NotFound => Ok(Vec::new()),
            other => Err(other),
        },
    }
}
