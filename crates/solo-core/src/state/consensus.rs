//! What the network needs to know of each consensus node and each cluster (R13): ids, accounts,
//! ports, names and recorded endpoints, with Solo's defaults.
//!
//! Field names follow Solo's remote config where it has them (`dnsBaseDomain`,
//! `dnsConsensusNodePattern`, `nodeId`, `accountId`); defaults are Solo's: node ids from 0 in
//! the order nodes were added, accounts from `0.0.3`, gossip port 50111, gRPC 50211 and gRPC
//! over TLS 50212, base domain `cluster.local` and the pattern
//! `network-{nodeAlias}-svc.{namespace}.svc`.

use serde::{Deserialize, Serialize};

/// Solo's DNS base domain of a cluster.
pub const DEFAULT_DNS_BASE_DOMAIN: &str = "cluster.local";
/// Solo's pattern of a consensus node's name, before the base domain.
pub const DEFAULT_DNS_CONSENSUS_NODE_PATTERN: &str = "network-{nodeAlias}-svc.{namespace}.svc";
/// Solo's gossip port (internal and external).
pub const DEFAULT_GOSSIP_PORT: u32 = 50111;
/// Solo's plain gRPC port.
pub const DEFAULT_GRPC_PORT: u32 = 50211;
/// Solo's gRPC-over-TLS port.
pub const DEFAULT_GRPC_TLS_PORT: u32 = 50212;
/// The account number of the first node (`0.0.3`), as in Solo and on every Hiero network.
pub const FIRST_NODE_ACCOUNT: u64 = 3;

pub(crate) fn default_dns_base_domain() -> String {
    DEFAULT_DNS_BASE_DOMAIN.to_string()
}

pub(crate) fn default_dns_consensus_node_pattern() -> String {
    DEFAULT_DNS_CONSENSUS_NODE_PATTERN.to_string()
}

fn default_gossip_port() -> u32 {
    DEFAULT_GOSSIP_PORT
}

fn default_grpc_port() -> u32 {
    DEFAULT_GRPC_PORT
}

fn default_grpc_tls_port() -> u32 {
    DEFAULT_GRPC_TLS_PORT
}

/// How the nodes of a cluster are reached from the other clusters of the network.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Reachability {
    /// Through a routable LoadBalancer address of the node's Service (Solo's way).
    LoadBalancer,
    /// Through the Multi-Cluster Services API: `<svc>.<ns>.svc.clusterset.local`.
    Clusterset,
    /// One flat network: cluster DNS and ClusterIPs are reachable from everywhere.
    Flat,
}

impl Reachability {
    /// The word used in the document and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::LoadBalancer => "loadBalancer",
            Reachability::Clusterset => "clusterset",
            Reachability::Flat => "flat",
        }
    }
}

/// A consensus node: where it runs, and who it is on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConsensusNode {
    /// Its name, the node alias (`node1`); unique among consensus nodes.
    pub name: String,
    /// The cluster ref it runs in; one of `clusters`.
    pub cluster: String,
    /// The namespace it runs in; listed with its cluster in `clusters`.
    pub namespace: String,
    /// Its node id in the roster and the address book; unique.
    pub node_id: u64,
    /// Its account, `shard.realm.num` (`0.0.3`); unique.
    pub account_id: String,
    /// The gossip port of its Service.
    #[serde(default = "default_gossip_port")]
    pub gossip_port: u32,
    /// The plain gRPC port of its Service.
    #[serde(default = "default_grpc_port")]
    pub grpc_port: u32,
    /// The gRPC-over-TLS port of its Service.
    #[serde(default = "default_grpc_tls_port")]
    pub grpc_tls_port: u32,
    /// Its endpoints as last resolved from the clusters (`solo network endpoints --record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<RecordedEndpoints>,
}

/// A node's endpoints as resolved from its Service, and how they were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordedEndpoints {
    /// Where the address came from.
    pub source: EndpointSource,
    /// Where the other nodes gossip with it.
    pub gossip: Vec<Endpoint>,
    /// Where clients send it transactions (gRPC, then gRPC over TLS).
    pub grpc: Vec<Endpoint>,
}

/// Where a resolved address came from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum EndpointSource {
    /// The LoadBalancer ingress IP or hostname of the Service.
    LoadBalancer,
    /// The Multi-Cluster Services name `<svc>.<ns>.svc.clusterset.local`.
    Clusterset,
    /// The node's name from the cluster's pattern and base domain (flat networks).
    Dns,
    /// The Service's ClusterIP (single-cluster networks only).
    ClusterIp,
}

impl EndpointSource {
    /// The word used in the document and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointSource::LoadBalancer => "loadBalancer",
            EndpointSource::Clusterset => "clusterset",
            EndpointSource::Dns => "dns",
            EndpointSource::ClusterIp => "clusterIp",
        }
    }
}

/// One endpoint: an IPv4 address or a DNS name, and a port.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoint {
    /// An IPv4 address (`10.0.0.7`) or a DNS name.
    pub address: String,
    /// The port.
    pub port: u32,
}

impl ConsensusNode {
    /// A node with Solo's default ports and no recorded endpoints.
    pub fn new(
        name: impl Into<String>,
        cluster: impl Into<String>,
        namespace: impl Into<String>,
        node_id: u64,
        account_id: impl Into<String>,
    ) -> Self {
        ConsensusNode {
            name: name.into(),
            cluster: cluster.into(),
            namespace: namespace.into(),
            node_id,
            account_id: account_id.into(),
            gossip_port: DEFAULT_GOSSIP_PORT,
            grpc_port: DEFAULT_GRPC_PORT,
            grpc_tls_port: DEFAULT_GRPC_TLS_PORT,
            endpoints: None,
        }
    }

    /// The next node after `existing`, as Solo numbers them: the next node id (from 0) and the
    /// next account number (from `0.0.3`, in the shard and realm of the first node).
    pub fn next_after(
        existing: &[ConsensusNode],
        name: impl Into<String>,
        cluster: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        let node_id = existing.iter().map(|n| n.node_id + 1).max().unwrap_or(0);
        let parsed: Vec<(u64, u64, u64)> = existing
            .iter()
            .filter_map(|n| parse_account_id(&n.account_id))
            .collect();
        let (shard, realm) = parsed.first().map(|a| (a.0, a.1)).unwrap_or((0, 0));
        let num = parsed
            .iter()
            .filter(|a| (a.0, a.1) == (shard, realm))
            .map(|a| a.2 + 1)
            .max()
            .unwrap_or(FIRST_NODE_ACCOUNT)
            .max(FIRST_NODE_ACCOUNT);
        ConsensusNode::new(
            name,
            cluster,
            namespace,
            node_id,
            format!("{shard}.{realm}.{num}"),
        )
    }

    /// The account id as `(shard, realm, num)`, or `None` when it is not of that form.
    pub fn account(&self) -> Option<(u64, u64, u64)> {
        parse_account_id(&self.account_id)
    }
}

/// `shard.realm.num` as three numbers, or `None` when the text is not of that form.
pub fn parse_account_id(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.');
    let mut next = || -> Option<u64> {
        let p = parts.next()?;
        let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let no_leading_zero = p == "0" || !p.starts_with('0');
        (digits && no_leading_zero)
            .then(|| p.parse().ok())
            .flatten()
    };
    let account = (next()?, next()?, next()?);
    parts.next().is_none().then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_parse_only_in_shard_realm_num_form() {
        assert_eq!(parse_account_id("0.0.3"), Some((0, 0, 3)));
        assert_eq!(parse_account_id("1.2.1003"), Some((1, 2, 1003)));
        for bad in [
            "", "0.0", "0.0.3.4", "0.0.x", "0.0.-3", "0.0.03", "0..3", " 0.0.3",
        ] {
            assert_eq!(parse_account_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_next_node_follows_solo_numbering() {
        let first = ConsensusNode::next_after(&[], "node1", "c1", "ns");
        assert_eq!((first.node_id, first.account_id.as_str()), (0, "0.0.3"));
        let second = ConsensusNode::next_after(std::slice::from_ref(&first), "node2", "c1", "ns");
        assert_eq!((second.node_id, second.account_id.as_str()), (1, "0.0.4"));
        assert_eq!(
            (second.gossip_port, second.grpc_port, second.grpc_tls_port),
            (50111, 50211, 50212)
        );
    }
}
