//! `genesis-network.json` in Solo's shape: `{"nodeMetadata": [{"node": ..., "rosterEntry": ...}]}`.
//!
//! One entry per consensus node, in document order, from the recorded endpoints: the node's
//! gossip endpoints in both `node` and `rosterEntry`, its plain gRPC endpoint as the service
//! endpoint, weight 500 (Solo's default stake), the account id as three decimal strings, the
//! gossip certificate when known. An IPv4 address goes in `ipAddressV4` (base64 of its four
//! bytes, as Solo writes it) with an empty `domainName`; a name goes in `domainName`. Solo's
//! `adminKey` is a key Solo generates and keeps in a Secret; solo does not make keys, so it is
//! left out.

use super::keys::NodeCerts;
use crate::state::{ConsensusNode, Endpoint, StateDocument};
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Solo's default weight (stake) of a node.
pub const DEFAULT_WEIGHT: u64 = 500;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisNetwork {
    /// One entry per node.
    pub node_metadata: Vec<NodeMetadata>,
}

/// One node: its `node` record and its roster entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetadata {
    /// The node record.
    pub node: GenesisNode,
    /// The roster entry.
    pub roster_entry: RosterEntry,
}

/// The `node` record, fields in Solo's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisNode {
    /// Node id.
    pub node_id: u64,
    /// Account id as decimal strings.
    pub account_id: GenesisAccountId,
    /// The node alias.
    pub description: String,
    /// Gossip endpoints.
    pub gossip_endpoint: Vec<GenesisEndpoint>,
    /// gRPC endpoints.
    pub service_endpoint: Vec<GenesisEndpoint>,
    /// Gossip certificate, DER in base64, or empty.
    pub gossip_ca_certificate: String,
    /// Hash of the TLS certificate, or empty (Solo writes it empty too).
    pub grpc_certificate_hash: String,
    /// Weight.
    pub weight: u64,
    /// Always false at genesis.
    pub deleted: bool,
}

/// The account id, as Solo writes it: three decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisAccountId {
    /// Realm.
    pub realm_num: String,
    /// Shard.
    pub shard_num: String,
    /// Number.
    pub account_num: String,
}

/// A roster entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RosterEntry {
    /// Node id.
    pub node_id: u64,
    /// Gossip endpoints.
    pub gossip_endpoint: Vec<GenesisEndpoint>,
    /// Gossip certificate, DER in base64, or empty.
    pub gossip_ca_certificate: String,
    /// Weight.
    pub weight: u64,
}

/// An endpoint as Solo writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisEndpoint {
    /// A DNS name, or empty.
    pub domain_name: String,
    /// The port.
    pub port: u32,
    /// An IPv4 address as base64 of its four bytes, or empty.
    pub ip_address_v4: String,
}

/// Why the file cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The deployment has no consensus node.
    #[error("the deployment has no consensus node")]
    NoNodes,
    /// Some nodes have no recorded endpoints.
    #[error("no endpoints are recorded for {}", nodes.join(", "))]
    NotRecorded {
        /// The nodes.
        nodes: Vec<String>,
    },
    /// A node's account id is not `shard.realm.num`.
    #[error("node {node} has account id {account}, which is not shard.realm.num")]
    BadAccount {
        /// The node.
        node: String,
        /// Its account id.
        account: String,
    },
}

impl GenesisEndpoint {
    /// Solo's form of an endpoint: an IPv4 address in base64, or a name.
    pub fn from_endpoint(e: &Endpoint) -> Self {
        match e.address.parse::<Ipv4Addr>() {
            Ok(ip) => GenesisEndpoint {
                domain_name: String::new(),
                port: e.port,
                ip_address_v4: base64::engine::general_purpose::STANDARD.encode(ip.octets()),
            },
            Err(_) => GenesisEndpoint {
                domain_name: e.address.clone(),
                port: e.port,
                ip_address_v4: String::new(),
            },
        }
    }
}

/// The nodes of the network with their recorded endpoints, or which nodes lack them.
pub(crate) fn recorded_nodes(doc: &StateDocument) -> Result<Vec<&ConsensusNode>, Vec<String>> {
    let missing: Vec<String> = doc
        .components
        .consensus
        .iter()
        .filter(|n| n.endpoints.is_none())
        .map(|n| n.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(doc.components.consensus.iter().collect())
    } else {
        Err(missing)
    }
}

/// `genesis-network.json` of the deployment, with each node's certificates where known.
pub fn genesis_network(
    doc: &StateDocument,
    certs: &BTreeMap<String, NodeCerts>,
) -> Result<GenesisNetwork, GenesisError> {
    if doc.components.consensus.is_empty() {
        return Err(GenesisError::NoNodes);
    }
    let nodes = recorded_nodes(doc).map_err(|nodes| GenesisError::NotRecorded { nodes })?;
    let none = NodeCerts::default();
    let mut node_metadata = Vec::new();
    for n in nodes {
        let (shard, realm, num) = n.account().ok_or_else(|| GenesisError::BadAccount {
            node: n.name.clone(),
            account: n.account_id.clone(),
        })?;
        let recorded = n.endpoints.as_ref();
        let gossip: Vec<GenesisEndpoint> = recorded
            .map(|e| {
                e.gossip
                    .iter()
                    .map(GenesisEndpoint::from_endpoint)
                    .collect()
            })
            .unwrap_or_default();
        let service: Vec<GenesisEndpoint> = recorded
            .and_then(|e| e.grpc.first())
            .map(GenesisEndpoint::from_endpoint)
            .into_iter()
            .collect();
        let cert = certs.get(&n.name).unwrap_or(&none).gossip_ca_certificate();
        node_metadata.push(NodeMetadata {
            node: GenesisNode {
                node_id: n.node_id,
                account_id: GenesisAccountId {
                    realm_num: realm.to_string(),
                    shard_num: shard.to_string(),
                    account_num: num.to_string(),
                },
                description: n.name.clone(),
                gossip_endpoint: gossip.clone(),
                service_endpoint: service,
                gossip_ca_certificate: cert.clone(),
                grpc_certificate_hash: String::new(),
                weight: DEFAULT_WEIGHT,
                deleted: false,
            },
            roster_entry: RosterEntry {
                node_id: n.node_id,
                gossip_endpoint: gossip,
                gossip_ca_certificate: cert,
                weight: DEFAULT_WEIGHT,
            },
        });
    }
    Ok(GenesisNetwork { node_metadata })
}
