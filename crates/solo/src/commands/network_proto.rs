//! The address book as the Hiero `NodeAddressBook` protobuf, through the `hiero-sdk-proto` types
//! (prost): no hand-written encoding. Kept out of `solo-core`, whose address book stays plain
//! values, so the core does not depend on the gRPC stack these types come with.

use hiero_sdk_proto::services::{self, account_id::Account};
use prost::Message;
use solo_core::network::address_book::AddressBook;
use std::net::Ipv4Addr;

/// The protobuf message of an address book.
pub fn to_proto(book: &AddressBook) -> services::NodeAddressBook {
    services::NodeAddressBook {
        node_address: book
            .node_address
            .iter()
            .map(|n| services::NodeAddress {
                rsa_pub_key: n.rsa_pub_key.clone(),
                node_id: i64::try_from(n.node_id).unwrap_or(i64::MAX),
                node_account_id: Some(services::AccountId {
                    shard_num: signed(n.node_account_id.shard_num),
                    realm_num: signed(n.node_account_id.realm_num),
                    account: Some(Account::AccountNum(signed(n.node_account_id.account_num))),
                }),
                node_cert_hash: n.node_cert_hash.as_bytes().to_vec(),
                service_endpoint: n
                    .service_endpoint
                    .iter()
                    .map(|e| services::ServiceEndpoint {
                        ip_address_v4: e
                            .ip_address_v4
                            .parse::<Ipv4Addr>()
                            .map(|ip| ip.octets().to_vec())
                            .unwrap_or_default(),
                        port: i32::try_from(e.port).unwrap_or(0),
                        domain_name: e.domain_name.clone(),
                    })
                    .collect(),
                description: n.description.clone(),
                ..Default::default()
            })
            .collect(),
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The encoded bytes of an address book.
pub fn encode(book: &AddressBook) -> Vec<u8> {
    to_proto(book).encode_to_vec()
}
