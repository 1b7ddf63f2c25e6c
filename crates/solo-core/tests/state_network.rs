//! The network fields of the state (R13): every bad value is reported at the field at fault.

mod state_support;

use solo_core::state::{
    self, ClusterRef, ConsensusNode, Endpoint, EndpointSource, Problem, RecordedEndpoints,
    StateDocument,
};

fn network() -> StateDocument {
    let mut doc = StateDocument::new("net", "a@b.io", jiff::Timestamp::UNIX_EPOCH);
    doc.clusters.push(ClusterRef::new("c1", "solo"));
    doc.clusters.push(ClusterRef::new("c2", "solo"));
    let nodes = &mut doc.components.consensus;
    nodes.push(ConsensusNode::next_after(nodes, "node1", "c1", "solo"));
    nodes.push(ConsensusNode::next_after(nodes, "node2", "c2", "solo"));
    doc
}

fn problems(doc: &StateDocument) -> Vec<String> {
    state::validate(doc)
        .err()
        .unwrap_or_default()
        .iter()
        .map(Problem::to_string)
        .collect()
}

#[test]
fn a_network_with_solo_defaults_is_valid() {
    assert_eq!(problems(&network()), Vec::<String>::new());
}

#[test]
fn duplicate_node_ids_and_accounts_name_the_second_node() {
    let mut doc = network();
    doc.components.consensus[1].node_id = 0;
    doc.components.consensus[1].account_id = "0.0.3".into();
    assert_eq!(
        problems(&doc),
        vec![
            "components.consensus[1].nodeId: 0 is already the node id of components.consensus[0]; node ids are unique",
            "components.consensus[1].accountId: 0.0.3 is already the account of components.consensus[0]; accounts are unique",
        ]
    );
}

#[test]
fn malformed_account_ids_and_ports_are_named() {
    let mut doc = network();
    doc.components.consensus[0].account_id = "0.0".into();
    doc.components.consensus[1].gossip_port = 70000;
    doc.components.consensus[1].grpc_tls_port = 0;
    assert_eq!(
        problems(&doc),
        vec![
            "components.consensus[0].accountId: \"0.0\" is not an account id; write it as shard.realm.num, like 0.0.3",
            "components.consensus[1].gossipPort: 70000 is not a port; a port is 1 to 65535",
            "components.consensus[1].grpcTlsPort: 0 is not a port; a port is 1 to 65535",
        ]
    );
}

#[test]
fn unknown_placeholders_and_names_too_long_for_dns_are_named() {
    let mut doc = network();
    doc.clusters[0].dns_consensus_node_pattern = "network-{alias}-svc".into();
    doc.clusters[1].dns_consensus_node_pattern = format!("{}-{{nodeAlias}}", "x".repeat(60));
    doc.clusters[1].dns_base_domain = "Cluster.Local".into();
    assert_eq!(
        problems(&doc),
        vec![
            "clusters[0].dnsConsensusNodePattern: \"network-{alias}-svc\": {alias} is not a placeholder; use {nodeAlias}, {nodeId}, {namespace} or {cluster}",
            "clusters[1].dnsBaseDomain: Cluster.Local is not a DNS name: each dot-separated part is lowercase letters, digits and '-', not starting or ending with '-'",
            &format!(
                "clusters[1].dnsConsensusNodePattern: gives node node2 the name its part {}-node2 is 66 characters long; a part of a DNS name has at most 63",
                "x".repeat(60)
            ),
        ]
    );
}

#[test]
fn recorded_endpoints_must_parse() {
    let mut doc = network();
    doc.components.consensus[0].endpoints = Some(RecordedEndpoints {
        source: EndpointSource::LoadBalancer,
        gossip: vec![Endpoint {
            address: "10.0.0.300".into(),
            port: 50111,
        }],
        grpc: vec![Endpoint {
            address: "lb.example.com".into(),
            port: 65536,
        }],
    });
    assert_eq!(
        problems(&doc),
        vec![
            "components.consensus[0].endpoints.gossip[0].address: \"10.0.0.300\" is neither an IPv4 address nor a DNS name",
            "components.consensus[0].endpoints.grpc[0].port: 65536 is not a port; a port is 1 to 65535",
        ]
    );
}

#[test]
fn namespaces_of_one_cluster_agree_on_domain_and_reachability() {
    let mut doc = network();
    let mut other = ClusterRef::new("c1", "other");
    other.dns_base_domain = "example.org".into();
    other.reachability = Some(state::Reachability::Clusterset);
    doc.clusters.push(other);
    assert_eq!(
        problems(&doc),
        vec![
            "clusters[2].dnsBaseDomain: \"example.org\" differs from \"cluster.local\" at clusters[0]; one cluster has one base domain",
            "clusters[2].reachability: differs from clusters[0].reachability; set it alike for every namespace of cluster c1",
        ]
    );
}

#[test]
fn solo_dollar_placeholders_and_reachability_read_from_yaml() {
    let text = "version: 2.1.0\nmetadata:\n  name: net\n  lastUpdatedAt: 2024-04-25T13:03:32Z\n  lastUpdatedBy: a@b.io\nclusters:\n  - name: c1\n    namespace: solo\n    dnsBaseDomain: cluster.local\n    dnsConsensusNodePattern: network-${nodeAlias}-svc.${namespace}.svc\n    reachability: clusterset\ncomponents:\n  consensus:\n    - name: node1\n      cluster: c1\n      namespace: solo\n      nodeId: 5\n      accountId: 0.0.8\n";
    let doc = state::load(text.as_bytes(), &state_support::stamp())
        .unwrap_or_else(|e| panic!("{e}: {:?}", e.problems()))
        .into_document();
    assert_eq!(
        doc.clusters[0].reachability,
        Some(state::Reachability::Clusterset)
    );
    let n = &doc.components.consensus[0];
    assert_eq!(
        (n.node_id, n.account_id.as_str(), n.gossip_port, n.grpc_port),
        (5, "0.0.8", 50111, 50211)
    );
    let bad = text.replace("reachability: clusterset", "reachability: mesh");
    let err = state::load(bad.as_bytes(), &state_support::stamp()).expect_err("unknown mode");
    assert!(err.to_string().contains("mesh"), "{err}");
}
