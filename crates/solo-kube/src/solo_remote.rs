//! The Solo tool's remote config ConfigMaps (`solo-remote-config`, key `remote-config-data`,
//! label `solo.hedera.com/type=remote-config`), read from the network's namespace of each
//! cluster, and the question "which deployment already uses this namespace?".

use futures::future::join_all;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use solo_core::lock::StoreError;
use solo_core::state::solo_remote::{SOLO_REMOTE_CONFIGMAP, SOLO_REMOTE_DATA_KEY};

use crate::clusters::Clusters;
use crate::error::store_error;
use crate::index;

/// One cluster's copy of Solo's remote config: its YAML text, `None` when there is none.
pub type SoloRemoteRead = (String, Result<Option<String>, StoreError>);

/// Reads Solo's remote config in `namespace` of every cluster of `refs`, in parallel.
pub async fn read_solo_remote(
    clusters: &Clusters,
    refs: &[String],
    namespace: &str,
) -> Vec<SoloRemoteRead> {
    join_all(refs.iter().map(|r| async move {
        let read = async {
            let client = clusters.client(r).map_err(|e| StoreError::Other {
                message: e.to_string(),
            })?;
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let cm = api
                .get_opt(SOLO_REMOTE_CONFIGMAP)
                .await
                .map_err(store_error)?;
            Ok(cm.map(|cm| {
                cm.data
                    .and_then(|mut d| d.remove(SOLO_REMOTE_DATA_KEY))
                    .unwrap_or_default()
            }))
        };
        (r.clone(), read.await)
    }))
    .await
}

/// Who already uses `namespace` in one of `refs`, other than `deployment`: a deployment of this
/// tool found in the public index of `state_namespaces`, or the Solo tool's (its remote config).
/// One deployment per (cluster, namespace): the lock and the nodes' Services are named after
/// the namespace, so a second deployment there would share both.
pub async fn namespace_user(
    clusters: &Clusters,
    refs: &[String],
    namespace: &str,
    state_namespaces: &[String],
    deployment: &str,
    solo_counts: bool,
) -> Option<NamespaceUser> {
    for r in refs {
        let Ok(client) = clusters.client(r) else {
            continue;
        };
        for ns in state_namespaces {
            for entry in index::list(client, ns).await.unwrap_or_default() {
                if entry.namespace == namespace
                    && entry.deployment != deployment
                    && entry.clusters.iter().any(|c| c == r)
                {
                    return Some(NamespaceUser::Ours {
                        cluster: r.clone(),
                        deployment: entry.deployment,
                    });
                }
            }
        }
    }
    if solo_counts {
        for (cluster, read) in read_solo_remote(clusters, refs, namespace).await {
            if let Ok(Some(_)) = read {
                return Some(NamespaceUser::SoloTool { cluster });
            }
        }
    }
    None
}

/// A deployment that already uses a (cluster, namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceUser {
    /// A deployment of this tool.
    Ours {
        /// Where.
        cluster: String,
        /// Which.
        deployment: String,
    },
    /// A deployment of the Solo tool (its remote config is there).
    SoloTool {
        /// Where.
        cluster: String,
    },
}
