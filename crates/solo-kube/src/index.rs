//! The public index of deployments: which deployments exist and which team owns each, readable
//! by every authenticated user while the states themselves stay readable only by their team.
//!
//! - The **team directory**: ConfigMap [`DIRECTORY_NAME`] in [`DIRECTORY_NAMESPACE`], one data
//!   key per team (its group and state namespace), written by `solo team setup`.
//! - One **index entry** per deployment: a ConfigMap named after the deployment in its state
//!   namespace, labelled like the state and holding only names (team, namespaces, cluster refs),
//!   never the state. [`publish`] writes it when a deployment is created.
//!
//! `solo team setup` grants `get`/`list`/`watch` on ConfigMaps of a team's state namespace, and
//! `get` on the directory, to `system:authenticated` (see [`crate::teams`]).

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use solo_core::lock::StoreError;

use crate::clusters::Clusters;
use crate::error::store_error;
use crate::lease_store::MANAGED_BY_LABEL;
use crate::state_store::{DEFAULT_STATE_NAMESPACE, DEPLOYMENT_LABEL, TEAM_LABEL};

/// The namespace of the team directory.
pub const DIRECTORY_NAMESPACE: &str = DEFAULT_STATE_NAMESPACE;
/// The ConfigMap of the team directory.
pub const DIRECTORY_NAME: &str = "solo-teams";
/// Label marking an index entry.
pub const INDEX_LABEL: &str = "solo.hiero.org/index";
/// Data key of an index entry.
pub const ENTRY_KEY: &str = "deployment.json";

/// A team as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamInfo {
    /// The Kubernetes group whose members are the team.
    pub group: String,
    /// Where the team's states are kept.
    pub state_namespace: String,
}

/// One deployment in the public index: names only, never the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// The deployment.
    pub deployment: String,
    /// The team that owns it.
    pub team: String,
    /// Where its state is kept.
    pub state_namespace: String,
    /// The network's namespace (its leases).
    pub namespace: String,
    /// Its cluster refs.
    pub clusters: Vec<String>,
}

impl IndexEntry {
    /// The ConfigMap that publishes this entry.
    pub fn to_config_map(&self) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.deployment.clone()),
                namespace: Some(self.state_namespace.clone()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned()),
                    (DEPLOYMENT_LABEL.to_owned(), self.deployment.clone()),
                    (TEAM_LABEL.to_owned(), self.team.clone()),
                    (INDEX_LABEL.to_owned(), "true".to_owned()),
                ])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                ENTRY_KEY.to_owned(),
                serde_json::to_string(self).unwrap_or_default(),
            )])),
            ..Default::default()
        }
    }

    /// The entry a ConfigMap publishes (its labels when the data is unreadable).
    pub fn from_config_map(cm: &ConfigMap) -> Option<IndexEntry> {
        if let Some(entry) = cm
            .data
            .as_ref()
            .and_then(|d| d.get(ENTRY_KEY))
            .and_then(|text| serde_json::from_str(text).ok())
        {
            return Some(entry);
        }
        let labels = cm.metadata.labels.as_ref()?;
        Some(IndexEntry {
            deployment: labels.get(DEPLOYMENT_LABEL)?.clone(),
            team: labels.get(TEAM_LABEL).cloned().unwrap_or_default(),
            state_namespace: cm.metadata.namespace.clone().unwrap_or_default(),
            namespace: String::new(),
            clusters: Vec::new(),
        })
    }
}

/// Writes `entry` into every one of its clusters (create, or replace what is there).
pub async fn publish(clusters: &Clusters, entry: &IndexEntry) -> Result<(), (String, StoreError)> {
    let results = join_all(entry.clusters.iter().map(|cluster| async move {
        let client = clusters.client(cluster).map_err(|e| {
            (
                cluster.clone(),
                StoreError::Other {
                    message: e.to_string(),
                },
            )
        })?;
        put(client, entry)
            .await
            .map_err(|e| (cluster.clone(), store_error(e)))
    }))
    .await;
    results.into_iter().collect()
}

async fn put(client: &Client, entry: &IndexEntry) -> Result<(), kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &entry.state_namespace);
    let mut cm = entry.to_config_map();
    match api.create(&PostParams::default(), &cm).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let old = api.get(&entry.deployment).await?;
            cm.metadata.resource_version = old.metadata.resource_version;
            api.replace(&entry.deployment, &PostParams::default(), &cm)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Removes the index entry of `deployment` from `state_namespace` in these clusters (when the
/// deployment is deleted); an entry already gone is fine.
pub async fn unpublish(
    clusters: &Clusters,
    refs: &[String],
    state_namespace: &str,
    deployment: &str,
) -> Result<(), (String, StoreError)> {
    let results = join_all(refs.iter().map(|cluster| async move {
        let client = clusters.client(cluster).map_err(|e| {
            (
                cluster.clone(),
                StoreError::Other {
                    message: e.to_string(),
                },
            )
        })?;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), state_namespace);
        match api.delete(deployment, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(e) => match store_error(e) {
                StoreError::NotFound => Ok(()),
                other => Err((cluster.clone(), other)),
            },
        }
    }))
    .await;
    results.into_iter().collect()
}

/// The index entries of one state namespace in one cluster (a namespace that does not exist
/// holds none).
pub async fn list(client: &Client, namespace: &str) -> Result<Vec<IndexEntry>, StoreError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api
        .list(&ListParams::default().labels(&format!("{INDEX_LABEL}=true")))
        .await
    {
        Ok(list) => Ok(list
            .items
            .iter()
            .filter_map(IndexEntry::from_config_map)
            .collect()),
        Err(e) => match store_error(e) {
            StoreError::NotFound => Ok(Vec::new()),
            other => Err(other),
        },
    }
}

/// The team directory of one cluster (empty when there is none, or it may not be read).
pub async fn directory(client: &Client) -> BTreeMap<String, TeamInfo> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), DIRECTORY_NAMESPACE);
    let Ok(Some(cm)) = api.get_opt(DIRECTORY_NAME).await else {
        return BTreeMap::new();
    };
    cm.data
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(team, text)| Some((team, serde_json::from_str(&text).ok()?)))
        .collect()
}

/// Every team's state namespace named by the directories of these clusters.
pub async fn team_namespaces(clusters: &Clusters, refs: &[String]) -> BTreeSet<String> {
    let dirs = join_all(
        refs.iter()
            .filter_map(|r| clusters.client(r).ok())
            .map(directory),
    )
    .await;
    dirs.into_iter()
        .flat_map(|d| d.into_values().map(|t| t.state_namespace))
        .collect()
}

/// The team `team` as the first of these clusters with a directory knows it.
pub async fn team_info(clusters: &Clusters, refs: &[String], team: &str) -> Option<TeamInfo> {
    for r in refs {
        if let Ok(client) = clusters.client(r)
            && let Some(info) = directory(client).await.remove(team)
        {
            return Some(info);
        }
    }
    None
}

/// The index entry of `deployment`, looked up in the default state namespace and every team's
/// state namespace of these clusters.
pub async fn find(clusters: &Clusters, refs: &[String], deployment: &str) -> Option<IndexEntry> {
    let mut namespaces = team_namespaces(clusters, refs).await;
    namespaces.insert(DEFAULT_STATE_NAMESPACE.to_owned());
    for r in refs {
        let Ok(client) = clusters.client(r) else {
            continue;
        };
        for ns in &namespaces {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            if let Ok(Some(cm)) = api.get_opt(deployment).await
                && cm
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.get(INDEX_LABEL).is_some_and(|v| v == "true"))
                && let Some(entry) = IndexEntry::from_config_map(&cm)
            {
                return Some(entry);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_through_its_config_map_and_holds_names_only() {
        let entry = IndexEntry {
            deployment: "my-net".into(),
            team: "team-a".into(),
            state_namespace: "solo-team-a".into(),
            namespace: "my-net".into(),
            clusters: vec!["cluster-1".into(), "cluster-2".into()],
        };
        let cm = entry.to_config_map();
        assert_eq!(IndexEntry::from_config_map(&cm), Some(entry.clone()));
        let labels = cm.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(TEAM_LABEL).map(String::as_str), Some("team-a"));
        let mut bare = cm;
        bare.data = None;
        let from_labels = IndexEntry::from_config_map(&bare).expect("from labels");
        assert_eq!(from_labels.team, "team-a");
        assert_eq!(from_labels.state_namespace, "solo-team-a");
    }
}
