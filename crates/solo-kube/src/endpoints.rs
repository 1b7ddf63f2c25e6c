//! The network's Services, certificates and ServiceExports in each node's cluster (R13).
//!
//! Reads turn Kubernetes objects into the core's plain facts ([`ServiceFacts`], [`NodeCerts`]);
//! the rules that pick an address live in `solo_core::network::resolve`. Every node is read in
//! its own cluster and namespace, all in parallel. A missing Service is a fact (`None`), not an
//! error; a refused or failed request is an error naming the cluster and namespace.

use crate::clusters::{Clusters, ClustersError};
use crate::error::error_chain;
use futures::{StreamExt, TryStreamExt, future};
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, DynamicObject, Patch, PatchParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use solo_core::network::keys::NodeCerts;
use solo_core::network::resolve::{Ingress, ServiceFacts, service_name};
use solo_core::state::{ConsensusNode, StateDocument};
use std::collections::BTreeMap;
use std::time::Duration;

/// Why the network's objects could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// A node's cluster has no client.
    #[error(transparent)]
    Cluster(#[from] ClustersError),
    /// The cluster refused the request (403).
    #[error(
        "reading {resource} in namespace {namespace} of cluster {cluster} is forbidden: {message}"
    )]
    Forbidden {
        /// Cluster ref.
        cluster: String,
        /// Namespace.
        namespace: String,
        /// What was read or written.
        resource: String,
        /// The server's message.
        message: String,
    },
    /// Any other failure of a request.
    #[error("{resource} in namespace {namespace} of cluster {cluster}: {message}")]
    Api {
        /// Cluster ref.
        cluster: String,
        /// Namespace.
        namespace: String,
        /// What was read or written.
        resource: String,
        /// What failed.
        message: String,
    },
    /// The ServiceExport kind is not served by a cluster.
    #[error(
        "cluster {cluster} does not serve ServiceExport (multicluster.x-k8s.io/v1alpha1): the Multi-Cluster Services CRDs are not installed there"
    )]
    NoServiceExportCrd {
        /// Cluster ref.
        cluster: String,
    },
    /// LoadBalancer addresses did not come in time.
    #[error("no LoadBalancer address after {waited:?} for {}", nodes.join(", "))]
    StillPending {
        /// How long solo waited.
        waited: Duration,
        /// The nodes still pending.
        nodes: Vec<String>,
    },
}

impl EndpointsError {
    fn of(node: &ConsensusNode, resource: impl Into<String>, e: kube::Error) -> Self {
        let (cluster, namespace, resource) = (
            node.cluster.clone(),
            node.namespace.clone(),
            resource.into(),
        );
        match e {
            kube::Error::Api(status) if status.code == 403 => EndpointsError::Forbidden {
                cluster,
                namespace,
                resource,
                message: status.message,
            },
            other => EndpointsError::Api {
                cluster,
                namespace,
                resource,
                message: error_chain(&other),
            },
        }
    }
}

/// The core's facts of a Service.
pub fn facts_of(svc: &Service) -> ServiceFacts {
    let spec = svc.spec.clone().unwrap_or_default();
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|list| {
            list.iter()
                .flat_map(|i| {
                    let host = i.hostname.clone().filter(|h| !h.is_empty());
                    let ip = i.ip.clone().filter(|h| !h.is_empty());
                    host.map(Ingress::Hostname)
                        .into_iter()
                        .chain(ip.map(Ingress::Ip))
                })
                .collect()
        })
        .unwrap_or_default();
    ServiceFacts {
        service_type: spec.type_.unwrap_or_else(|| "ClusterIP".to_owned()),
        cluster_ip: spec.cluster_ip.filter(|ip| !ip.is_empty() && ip != "None"),
        ingress,
    }
}

async fn read_one(
    clusters: &Clusters,
    node: &ConsensusNode,
) -> Result<(String, Option<(ServiceFacts, String)>), EndpointsError> {
    let api: Api<Service> =
        Api::namespaced(clusters.client(&node.cluster)?.clone(), &node.namespace);
    let name = service_name(&node.name);
    let svc = api
        .get_opt(&name)
        .await
        .map_err(|e| EndpointsError::of(node, format!("Service {name}"), e))?;
    Ok((
        node.name.clone(),
        svc.map(|s| {
            let rv = s.metadata.resource_version.clone().unwrap_or_default();
            (facts_of(&s), rv)
        }),
    ))
}

/// The facts of every node's Service, keyed by node name; a node without a Service is absent.
pub async fn read_services(
    clusters: &Clusters,
    doc: &StateDocument,
) -> Result<BTreeMap<String, ServiceFacts>, EndpointsError> {
    let reads = doc
        .components
        .consensus
        .iter()
        .map(|n| read_one(clusters, n));
    let rows = future::try_join_all(reads).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(node, facts)| facts.map(|(f, _)| (node, f)))
        .collect())
}

/// Like [`read_services`], then waits (by watch, up to `timeout`) until no LoadBalancer
/// Service is pending, and returns the facts as they are then.
pub async fn read_services_waiting(
    clusters: &Clusters,
    doc: &StateDocument,
    timeout: Duration,
) -> Result<BTreeMap<String, ServiceFacts>, EndpointsError> {
    let reads = doc
        .components
        .consensus
        .iter()
        .map(|n| read_one(clusters, n));
    let rows = future::try_join_all(reads).await?;
    let mut facts = BTreeMap::new();
    let mut pending = Vec::new();
    for (name, found) in rows {
        if let Some((f, rv)) = found {
            if f.load_balancer_pending() {
                pending.push((name.clone(), rv));
            }
            facts.insert(name, f);
        }
    }
    let started = std::time::Instant::now();
    let waits = pending.into_iter().filter_map(|(name, rv)| {
        let node = doc.components.consensus.iter().find(|n| n.name == name)?;
        Some(async move { wait_one(clusters, node, rv).await.map(|f| (name, f)) })
    });
    let all = future::try_join_all(waits);
    match tokio::time::timeout(timeout, all).await {
        Ok(done) => {
            for (name, f) in done? {
                facts.insert(name, f);
            }
            Ok(facts)
        }
        Err(_) => {
            let fresh = read_services(clusters, doc).await?;
            let nodes: Vec<String> = fresh
                .iter()
                .filter(|(_, f)| f.load_balancer_pending())
                .map(|(n, _)| n.clone())
                .collect();
            if nodes.is_empty() {
                Ok(fresh)
            } else {
                Err(EndpointsError::StillPending {
                    waited: started.elapsed(),
                    nodes,
                })
            }
        }
    }
}

/// Watches one Service from the resourceVersion it was read at until it has an address (or
/// is no longer a pending LoadBalancer, or is deleted).
async fn wait_one(
    clusters: &Clusters,
    node: &ConsensusNode,
    mut rv: String,
) -> Result<ServiceFacts, EndpointsError> {
    let api: Api<Service> =
        Api::namespaced(clusters.client(&node.cluster)?.clone(), &node.namespace);
    let name = service_name(&node.name);
    let resource = format!("Service {name}");
    loop {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(290);
        let mut stream = api
            .watch(&params, &rv)
            .await
            .map_err(|e| EndpointsError::of(node, resource.clone(), e))?
            .boxed();
        while let Some(event) = stream
            .try_next()
            .await
            .map_err(|e| EndpointsError::of(node, resource.clone(), e))?
        {
            match event {
                WatchEvent::Added(s) | WatchEvent::Modified(s) => {
                    rv = s.metadata.resource_version.clone().unwrap_or(rv);
                    let f = facts_of(&s);
                    if !f.load_balancer_pending() {
                        return Ok(f);
                    }
                }
                WatchEvent::Deleted(s) => return Ok(facts_of(&s)),
                WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
                WatchEvent::Error(e) if e.code == 410 => {
                    // The version is too old: read again and start from what is there now.
                    let (_, found) = read_one(clusters, node).await?;
                    match found {
                        Some((f, fresh)) if f.load_balancer_pending() => rv = fresh,
                        Some((f, _)) => return Ok(f),
                        None => return Ok(ServiceFacts::default()),
                    }
                }
                WatchEvent::Error(e) => {
                    return Err(EndpointsError::of(
                        node,
                        resource.clone(),
                        kube::Error::Api(e),
                    ));
                }
            }
        }
    }
}

/// Solo's Secret with a node's gossip keys, and the key of its public certificate (Solo's
/// `Templates.renderGossipKeySecretName` and `renderGossipPemPublicKeyFile`).
pub fn gossip_secret(alias: &str) -> (String, String) {
    (
        format!("network-{alias}-keys-secrets"),
        format!("s-public-{alias}.pem"),
    )
}

/// Solo's Secret with the gRPC TLS keys of every node of a namespace, and the key of this
/// node's certificate (Solo's `PlatformInstaller.copyTLSKeys` and `renderTLSPemPublicKeyFile`).
pub fn tls_secret(alias: &str) -> (String, String) {
    (
        "network-node-hapi-app-secrets".to_owned(),
        format!("hedera-{alias}.crt"),
    )
}

async fn secret_value(
    clusters: &Clusters,
    node: &ConsensusNode,
    (name, key): (String, String),
) -> Result<Option<Vec<u8>>, EndpointsError> {
    let api: Api<Secret> =
        Api::namespaced(clusters.client(&node.cluster)?.clone(), &node.namespace);
    let secret = match api.get_opt(&name).await {
        Ok(s) => s,
        // Certificates are optional: without the right to read them the fields stay empty.
        Err(kube::Error::Api(s)) if s.code == 403 => None,
        Err(e) => return Err(EndpointsError::of(node, format!("Secret {name}"), e)),
    };
    Ok(secret
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(&key))
        .map(|b| b.0))
}

/// Each node's certificates from Solo's Secrets in its namespace, where present and readable.
pub async fn read_certs(
    clusters: &Clusters,
    doc: &StateDocument,
) -> Result<BTreeMap<String, NodeCerts>, EndpointsError> {
    let reads = doc.components.consensus.iter().map(|n| async move {
        let gossip = secret_value(clusters, n, gossip_secret(&n.name)).await?;
        let tls = secret_value(clusters, n, tls_secret(&n.name)).await?;
        let gossip_pem = gossip.and_then(|b| String::from_utf8(b).ok());
        let certs = NodeCerts::from_pems(
            gossip_pem.as_deref(),
            tls.and_then(|b| String::from_utf8(b).ok()),
        );
        Ok::<_, EndpointsError>((n.name.clone(), certs))
    });
    Ok(future::try_join_all(reads).await?.into_iter().collect())
}

/// The API resource of `multicluster.x-k8s.io/v1alpha1` ServiceExport.
pub fn service_export_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "multicluster.x-k8s.io",
        "v1alpha1",
        "ServiceExport",
    ))
}

/// The ServiceExport of a node's Service (same name and namespace as the Service).
pub fn service_export(node: &ConsensusNode) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ServiceExport",
        "metadata": {
            "name": service_name(&node.name),
            "namespace": node.namespace,
            "labels": {"app.kubernetes.io/managed-by": "solo"},
        },
    })
}

/// Applies (server-side) the ServiceExport of each node in `nodes`, in its cluster; refuses
/// with [`EndpointsError::NoServiceExportCrd`] where the kind is not served.
pub async fn apply_service_exports(
    clusters: &Clusters,
    nodes: &[&ConsensusNode],
) -> Result<(), EndpointsError> {
    let resource = service_export_resource();
    for node in nodes {
        let client = clusters.client(&node.cluster)?.clone();
        if !serves_service_export(&client, node).await? {
            return Err(EndpointsError::NoServiceExportCrd {
                cluster: node.cluster.clone(),
            });
        }
    }
    for node in nodes {
        let client = clusters.client(&node.cluster)?.clone();
        let api: Api<DynamicObject> = Api::namespaced_with(client, &node.namespace, &resource);
        let name = service_name(&node.name);
        let params = PatchParams::apply("solo").force();
        api.patch(&name, &params, &Patch::Apply(service_export(node)))
            .await
            .map_err(|e| EndpointsError::of(node, format!("ServiceExport {name}"), e))?;
    }
    Ok(())
}

/// Whether the cluster's discovery lists `serviceexports` in `multicluster.x-k8s.io/v1alpha1`.
async fn serves_service_export(
    client: &kube::Client,
    node: &ConsensusNode,
) -> Result<bool, EndpointsError> {
    match client
        .list_api_group_resources("multicluster.x-k8s.io/v1alpha1")
        .await
    {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "serviceexports")),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(EndpointsError::of(node, "API discovery", e)),
    }
}
