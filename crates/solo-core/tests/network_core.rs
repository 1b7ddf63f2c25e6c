//! The network core (R13) without a cluster: resolution rules from Service facts, and the
//! address book, genesis-network.json and config.txt of any valid state.

mod state_support;

use proptest::prelude::*;
use solo_core::network::address_book::address_book;
use solo_core::network::config_txt::config_txt;
use solo_core::network::genesis::genesis_network;
use solo_core::network::resolve::{
    Ingress, ResolveError, ServiceFacts, record, resolve_all, resolve_node,
};
use solo_core::state::{self, ClusterRef, ConsensusNode, Reachability, StateDocument};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

fn lb(ip: &str) -> ServiceFacts {
    ServiceFacts {
        service_type: "LoadBalancer".into(),
        cluster_ip: Some("10.96.0.10".into()),
        ingress: vec![Ingress::Ip(ip.into())],
    }
}

fn cluster_ip_only() -> ServiceFacts {
    ServiceFacts {
        service_type: "ClusterIP".into(),
        cluster_ip: Some("10.96.0.11".into()),
        ingress: vec![],
    }
}

fn two_clusters() -> StateDocument {
    let mut doc = StateDocument::new("net", "a@b.io", jiff::Timestamp::UNIX_EPOCH);
    doc.clusters.push(ClusterRef::new("c1", "solo"));
    doc.clusters.push(ClusterRef::new("c2", "solo"));
    let n = &mut doc.components.consensus;
    n.push(ConsensusNode::next_after(n, "node1", "c1", "solo"));
    n.push(ConsensusNode::next_after(n, "node2", "c2", "solo"));
    doc
}

#[test]
fn each_rule_of_resolution_in_its_order() {
    let mut doc = two_clusters();
    let node2 = doc.components.consensus[1].clone();
    // LoadBalancer ingress first; a hostname wins over an IP, as in Solo.
    let both = ServiceFacts {
        ingress: vec![
            Ingress::Ip("198.51.100.7".into()),
            Ingress::Hostname("lb.example.com".into()),
        ],
        ..lb("x")
    };
    let r = resolve_node(&doc, &node2, Some(&both)).expect("resolves");
    assert_eq!(r.endpoints.gossip[0].address, "lb.example.com");
    // Multi-cluster, ClusterIP only, loadBalancer (automatic): refused, naming node and cluster.
    let err = resolve_node(&doc, &node2, Some(&cluster_ip_only())).expect_err("not routable");
    assert_eq!(
        err.to_string(),
        "node node2 in cluster c2 has no address the other clusters can reach: Service network-node2-svc has only a ClusterIP"
    );
    let pending = ServiceFacts {
        ingress: vec![],
        ..lb("x")
    };
    assert!(matches!(
        resolve_node(&doc, &node2, Some(&pending)),
        Err(ResolveError::NotRoutable { pending: true, .. })
    ));
    // clusterset: the Multi-Cluster Services name.
    doc.clusters[1].reachability = Some(Reachability::Clusterset);
    let r = resolve_node(&doc, &node2, Some(&cluster_ip_only())).expect("resolves");
    assert_eq!(
        r.endpoints.gossip[0].address,
        "network-node2-svc.solo.svc.clusterset.local"
    );
    // flat: the node's name from the pattern.
    doc.clusters[1].reachability = Some(Reachability::Flat);
    doc.clusters[1].dns_consensus_node_pattern = "n{nodeId}.{cluster}".into();
    doc.clusters[1].dns_base_domain = "example.org".into();
    let r = resolve_node(&doc, &node2, Some(&cluster_ip_only())).expect("resolves");
    assert_eq!(r.endpoints.gossip[0].address, "n1.c2.example.org");
    // One cluster: the ClusterIP.
    let mut one = two_clusters();
    one.components.consensus[1].cluster = "c1".into();
    let node = one.components.consensus[1].clone();
    let r = resolve_node(&one, &node, Some(&cluster_ip_only())).expect("resolves");
    assert_eq!(r.endpoints.gossip[0].address, "10.96.0.11");
    // No Service: refused.
    assert!(matches!(
        resolve_node(&one, &node, None),
        Err(ResolveError::MissingService { .. })
    ));
}

#[test]
fn genesis_and_config_txt_follow_solo_model() {
    let doc = two_clusters();
    let facts: BTreeMap<String, ServiceFacts> = [
        ("node1".to_owned(), lb("198.51.100.1")),
        (
            "node2".to_owned(),
            ServiceFacts {
                ingress: vec![Ingress::Hostname("n2.example.com".into())],
                ..lb("x")
            },
        ),
    ]
    .into();
    let doc = record(&doc, &resolve_all(&doc, &facts).expect("resolves"));
    let genesis = serde_json::to_value(genesis_network(&doc, &BTreeMap::new()).expect("genesis"))
        .expect("json");
    // Solo's GenesisNetworkNodeDataWrapper.toObject() and the roster entry, field for field.
    let expected: serde_json::Value =
        serde_json::from_str(include_str!("data/network/genesis-network.json")).expect("fixture");
    assert_eq!(genesis, expected);
    let lines = config_txt(&doc, "v0.54.0", 298).expect("config.txt");
    assert_eq!(
        lines,
        vec![
            "swirld, 298",
            "app, HederaNode.jar",
            "address, 0, 0, node1, 500, network-node1-0.network-node1-svc.solo.svc.cluster.local, 50111, 198.51.100.1, 50111, 0.0.3",
            "address, 1, 1, node2, 500, network-node2-0.network-node2-svc.solo.svc.cluster.local, 50111, n2.example.com, 50111, 0.0.4",
            "nextNodeId, 2",
        ]
    );
    assert!(config_txt(&doc, "v0.71.0", 298).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_valid_state_gives_one_entry_per_node_with_unique_ids_and_parsing_endpoints(
        doc in state_support::valid_document(),
        octets in prop::collection::vec(any::<[u8; 4]>(), 8),
        hostnames in any::<bool>(),
    ) {
        let facts: BTreeMap<String, ServiceFacts> = doc
            .components
            .consensus
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let o = octets[i % octets.len()];
                let ingress = if hostnames && i % 2 == 1 {
                    Ingress::Hostname(format!("{}.lb.example.com", n.name))
                } else {
                    Ingress::Ip(Ipv4Addr::from(o).to_string())
                };
                (n.name.clone(), ServiceFacts { ingress: vec![ingress], ..lb("x") })
            })
            .collect();
        let resolved = resolve_all(&doc, &facts).expect("every node has a LoadBalancer address");
        let recorded = record(&doc, &resolved);
        prop_assert!(state::validate(&recorded).is_ok(), "{:?}", state::validate(&recorded));
        if doc.components.consensus.is_empty() {
            prop_assert!(address_book(&recorded, &BTreeMap::new()).is_err());
            return Ok(());
        }
        let book = address_book(&recorded, &BTreeMap::new()).expect("address book");
        prop_assert_eq!(book.node_address.len(), doc.components.consensus.len());
        let ids: BTreeSet<u64> = book.node_address.iter().map(|n| n.node_id).collect();
        prop_assert_eq!(ids.len(), book.node_address.len());
        let accounts: BTreeSet<_> = book
            .node_address
            .iter()
            .map(|n| (n.node_account_id.shard_num, n.node_account_id.realm_num, n.node_account_id.account_num))
            .collect();
        prop_assert_eq!(accounts.len(), book.node_address.len());
        for n in &book.node_address {
            prop_assert!(!n.service_endpoint.is_empty());
            for e in &n.service_endpoint {
                let ip_ok = e.ip_address_v4.parse::<Ipv4Addr>().is_ok() && e.domain_name.is_empty();
                let name_ok = e.ip_address_v4.is_empty() && !e.domain_name.is_empty();
                prop_assert!(ip_ok || name_ok, "{:?}", e);
                prop_assert!((1..=65535).contains(&e.port));
            }
        }
        let genesis = genesis_network(&recorded, &BTreeMap::new()).expect("genesis");
        prop_assert_eq!(genesis.node_metadata.len(), doc.components.consensus.len());
    }
}
