//! Which address each consensus node is reached at, from the facts of its Service (R13).
//!
//! The rule, for each node, with the Service `network-<alias>-svc` in the node's cluster and
//! namespace:
//! 1. a LoadBalancer ingress: its hostname, else its IP (as Solo reads it);
//! 2. else, when the node's cluster is reached through `clusterset`, the Multi-Cluster Services
//!    name `network-<alias>-svc.<namespace>.svc.clusterset.local`;
//! 3. else, in a network of one cluster, the Service's ClusterIP;
//! 4. else, when the node's cluster is `flat`, its DNS name from the cluster's pattern;
//! 5. else the node has no address the other clusters can route to: an error that names the
//!    node, its cluster and why (a LoadBalancer still pending, or a ClusterIP only).
//!
//! A cluster whose `reachability` is left out is `loadBalancer` when the network spans more
//! than one cluster and `flat` otherwise.

use super::pattern::{NamePattern, NodeFacts, node_fqdn};
use crate::state::{
    ClusterRef, ConsensusNode, Endpoint, EndpointSource, Reachability, RecordedEndpoints,
    StateDocument,
};
use std::collections::{BTreeMap, BTreeSet};

/// The name of a node's Service, as Solo's chart names it.
pub fn service_name(alias: &str) -> String {
    format!("network-{alias}-svc")
}

/// The Multi-Cluster Services name of a node's Service.
pub fn clusterset_name(alias: &str, namespace: &str) -> String {
    format!("{}.{namespace}.svc.clusterset.local", service_name(alias))
}

/// What solo read of a node's Service: enough to apply the rule of the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFacts {
    /// `spec.type`: `ClusterIP`, `LoadBalancer`, `NodePort`...
    pub service_type: String,
    /// `spec.clusterIP`, unless empty or `None` (headless).
    pub cluster_ip: Option<String>,
    /// `status.loadBalancer.ingress`: hostnames and IPs, in order.
    pub ingress: Vec<Ingress>,
}

/// One LoadBalancer ingress point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingress {
    /// `hostname`
    Hostname(String),
    /// `ip`
    Ip(String),
}

impl ServiceFacts {
    /// Whether this Service waits for a LoadBalancer address.
    pub fn load_balancer_pending(&self) -> bool {
        self.service_type == "LoadBalancer" && self.ingress.is_empty()
    }
}

/// Why a node's endpoints cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The node's Service does not exist.
    #[error("node {node} has no Service {service} in namespace {namespace} of cluster {cluster}")]
    MissingService {
        /// The node.
        node: String,
        /// Its cluster ref.
        cluster: String,
        /// Its namespace.
        namespace: String,
        /// The Service looked for.
        service: String,
    },
    /// The network spans several clusters and the node has no address the others can reach.
    #[error(
        "node {node} in cluster {cluster} has no address the other clusters can reach: {}",
        if *pending { format!("the LoadBalancer of Service {service} has no address yet") }
        else { format!("Service {service} has only a ClusterIP") }
    )]
    NotRoutable {
        /// The node.
        node: String,
        /// Its cluster ref.
        cluster: String,
        /// Its Service.
        service: String,
        /// Whether a LoadBalancer address is pending (so waiting may help).
        pending: bool,
    },
    /// The node's cluster has no valid name pattern (the state's validation says more).
    #[error("cluster {cluster} has no valid dnsConsensusNodePattern for node {node}")]
    BadPattern {
        /// The node.
        node: String,
        /// Its cluster ref.
        cluster: String,
    },
}

/// A node and its resolved endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The node's name.
    pub node: String,
    /// Its cluster ref.
    pub cluster: String,
    /// Its namespace.
    pub namespace: String,
    /// The endpoints.
    pub endpoints: RecordedEndpoints,
}

/// How the nodes of `cluster` are reached: its setting, else the automatic rule.
pub fn reachability(doc: &StateDocument, cluster: &ClusterRef) -> Reachability {
    cluster.reachability.unwrap_or(if spans_clusters(doc) {
        Reachability::LoadBalancer
    } else {
        Reachability::Flat
    })
}

/// Whether the network's consensus nodes (or, with none, its clusters) span several clusters.
pub fn spans_clusters(doc: &StateDocument) -> bool {
    let names: BTreeSet<&str> = if doc.components.consensus.is_empty() {
        doc.clusters.iter().map(|c| c.name.as_str()).collect()
    } else {
        doc.components
            .consensus
            .iter()
            .map(|n| n.cluster.as_str())
            .collect()
    };
    names.len() > 1
}

/// The cluster entry a node runs in.
pub fn cluster_of<'a>(doc: &'a StateDocument, node: &ConsensusNode) -> Option<&'a ClusterRef> {
    doc.clusters
        .iter()
        .find(|c| c.name == node.cluster && c.namespace == node.namespace)
}

/// A node's DNS name from its cluster's pattern and base domain.
pub fn node_dns_name(cluster: &ClusterRef, node: &ConsensusNode) -> Option<String> {
    let pattern = NamePattern::parse(&cluster.dns_consensus_node_pattern).ok()?;
    let facts = NodeFacts {
        alias: &node.name,
        node_id: node.node_id,
        namespace: &node.namespace,
        cluster: &node.cluster,
    };
    Some(node_fqdn(&pattern, &cluster.dns_base_domain, facts))
}

/// Resolve one node from the facts of its Service (`None`: the Service does not exist).
pub fn resolve_node(
    doc: &StateDocument,
    node: &ConsensusNode,
    facts: Option<&ServiceFacts>,
) -> Result<Resolved, ResolveError> {
    let service = service_name(&node.name);
    let Some(facts) = facts else {
        return Err(ResolveError::MissingService {
            node: node.name.clone(),
            cluster: node.cluster.clone(),
            namespace: node.namespace.clone(),
            service,
        });
    };
    let cluster = cluster_of(doc, node);
    let mode = cluster.map(|c| reachability(doc, c));
    let ingress = facts.ingress.iter().find_map(|i| match i {
        Ingress::Hostname(h) if !h.is_empty() => Some(h.clone()),
        _ => None,
    });
    let ingress = ingress.or_else(|| {
        facts.ingress.iter().find_map(|i| match i {
            Ingress::Ip(ip) if !ip.is_empty() => Some(ip.clone()),
            _ => None,
        })
    });
    let (source, address) = if let Some(address) = ingress {
        (EndpointSource::LoadBalancer, address)
    } else if mode == Some(Reachability::Clusterset) {
        (
            EndpointSource::Clusterset,
            clusterset_name(&node.name, &node.namespace),
        )
    } else if let (false, Some(ip)) = (spans_clusters(doc), &facts.cluster_ip) {
        (EndpointSource::ClusterIp, ip.clone())
    } else if mode == Some(Reachability::Flat) {
        let name = cluster
            .and_then(|c| node_dns_name(c, node))
            .ok_or_else(|| ResolveError::BadPattern {
                node: node.name.clone(),
                cluster: node.cluster.clone(),
            })?;
        (EndpointSource::Dns, name)
    } else {
        return Err(ResolveError::NotRoutable {
            node: node.name.clone(),
            cluster: node.cluster.clone(),
            service,
            pending: facts.load_balancer_pending(),
        });
    };
    let at = |port: u32| Endpoint {
        address: address.clone(),
        port,
    };
    Ok(Resolved {
        node: node.name.clone(),
        cluster: node.cluster.clone(),
        namespace: node.namespace.clone(),
        endpoints: RecordedEndpoints {
            source,
            gossip: vec![at(node.gossip_port)],
            grpc: vec![at(node.grpc_port), at(node.grpc_tls_port)],
        },
    })
}

/// Resolve every node, in document order, from the facts keyed by node name; every error is
/// returned, not only the first.
pub fn resolve_all(
    doc: &StateDocument,
    facts: &BTreeMap<String, ServiceFacts>,
) -> Result<Vec<Resolved>, Vec<ResolveError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for node in &doc.components.consensus {
        match resolve_node(doc, node, facts.get(&node.name)) {
            Ok(r) => ok.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

/// The state with every node's endpoints recorded (nodes not in `resolved` keep theirs).
pub fn record(doc: &StateDocument, resolved: &[Resolved]) -> StateDocument {
    let mut next = doc.clone();
    for node in &mut next.components.consensus {
        if let Some(r) = resolved.iter().find(|r| r.node == node.name) {
            node.endpoints = Some(r.endpoints.clone());
        }
    }
    next
}

/// One row of `--check`: a node whose recorded endpoints differ from the live ones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The node.
    pub node: String,
    /// Its cluster ref.
    pub cluster: String,
    /// What the state records (`none` when nothing is).
    pub recorded: String,
    /// What the cluster shows now.
    pub live: String,
}

/// The endpoints as one short text: `address:port` of gossip, then of gRPC, and the source.
pub fn summary(e: &RecordedEndpoints) -> String {
    let list = |v: &[Endpoint]| {
        v.iter()
            .map(|e| format!("{}:{}", e.address, e.port))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "gossip {} grpc {} ({})",
        list(&e.gossip),
        list(&e.grpc),
        e.source.as_str()
    )
}

/// Every node whose recorded endpoints differ from the resolved ones, in document order.
pub fn drift(doc: &StateDocument, resolved: &[Resolved]) -> Vec<Drift> {
    let mut rows = Vec::new();
    for node in &doc.components.consensus {
        let Some(live) = resolved.iter().find(|r| r.node == node.name) else {
            continue;
        };
        if node.endpoints.as_ref() != Some(&live.endpoints) {
            rows.push(Drift {
                node: node.name.clone(),
                cluster: node.cluster.clone(),
                recorded: node
                    .endpoints
                    .as_ref()
                    .map(summary)
                    .unwrap_or_else(|| "none".to_string()),
                live: summary(&live.endpoints),
            });
        }
    }
    rows
}
