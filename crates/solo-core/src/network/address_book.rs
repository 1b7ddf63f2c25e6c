//! The network's address book, as the mirror node reads it (`NodeAddressBook`), as plain values.
//!
//! One entry per consensus node, in document order, from the recorded endpoints: node id,
//! account, the node alias as description, its gRPC endpoints as service endpoints, and the
//! certificate-derived `RSA_PubKey` and `nodeCertHash` when known (empty otherwise). The
//! protobuf encoding is done by the command line with the Hiero protobuf types; this module
//! stays free of them. Its JSON uses the protobuf's field names, with IPv4 addresses dotted.

use super::genesis::{GenesisError, recorded_nodes};
use super::keys::NodeCerts;
use crate::state::StateDocument;
use serde::Serialize;
use std::collections::BTreeMap;

/// The address book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBook {
    /// One entry per consensus node.
    pub node_address: Vec<NodeAddress>,
}

/// One node of the address book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeAddress {
    /// `nodeId`
    #[serde(rename = "nodeId")]
    pub node_id: u64,
    /// `nodeAccountId`
    #[serde(rename = "nodeAccountId")]
    pub node_account_id: AccountId,
    /// `RSA_PubKey`: hex DER of the gossip public key, or empty.
    #[serde(rename = "RSA_PubKey")]
    pub rsa_pub_key: String,
    /// `nodeCertHash`: hex SHA-384 of the TLS certificate, or empty.
    #[serde(rename = "nodeCertHash")]
    pub node_cert_hash: String,
    /// `serviceEndpoint`: the gRPC endpoints.
    #[serde(rename = "serviceEndpoint")]
    pub service_endpoint: Vec<ServiceEndpoint>,
    /// `description`: the node alias.
    pub description: String,
}

/// `AccountID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountId {
    /// Shard.
    pub shard_num: u64,
    /// Realm.
    pub realm_num: u64,
    /// Number.
    pub account_num: u64,
}

/// `ServiceEndpoint`: an IPv4 address or a domain name, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    /// Dotted IPv4 address, or empty.
    pub ip_address_v4: String,
    /// Port.
    pub port: u32,
    /// Domain name, or empty.
    pub domain_name: String,
}

/// The address book of the deployment, with each node's certificates where known.
pub fn address_book(
    doc: &StateDocument,
    certs: &BTreeMap<String, NodeCerts>,
) -> Result<AddressBook, GenesisError> {
    if doc.components.consensus.is_empty() {
        return Err(GenesisError::NoNodes);
    }
    let nodes = recorded_nodes(doc).map_err(|nodes| GenesisError::NotRecorded { nodes })?;
    let none = NodeCerts::default();
    let mut node_address = Vec::new();
    for n in nodes {
        let (shard_num, realm_num, account_num) =
            n.account().ok_or_else(|| GenesisError::BadAccount {
                node: n.name.clone(),
                account: n.account_id.clone(),
            })?;
        let cert = certs.get(&n.name).unwrap_or(&none);
        let service_endpoint = n
            .endpoints
            .iter()
            .flat_map(|e| e.grpc.iter())
            .map(|e| {
                let ip = e.address.parse::<std::net::Ipv4Addr>().is_ok();
                ServiceEndpoint {
                    ip_address_v4: if ip { e.address.clone() } else { String::new() },
                    port: e.port,
                    domain_name: if ip { String::new() } else { e.address.clone() },
                }
            })
            .collect();
        node_address.push(NodeAddress {
            node_id: n.node_id,
            node_account_id: AccountId {
                shard_num,
                realm_num,
                account_num,
            },
            rsa_pub_key: cert.rsa_pub_key(),
            node_cert_hash: cert.node_cert_hash(),
            service_endpoint,
            description: n.name.clone(),
        });
    }
    Ok(AddressBook { node_address })
}
