//! The draft's example (section 5 of the reference design, tabs turned into spaces, struck-out
//! parts dropped) is read without losing a field, and migrates to the current schema.

use jiff::Timestamp;
use solo_core::state::{
    self, Component, Loaded, MigrationStamp, Problem, ProxyComponent, RelayComponent, StateError,
    V1_0_32, VersionedDocument,
    older::{v1_0_32, v2_0_0},
};

const EXAMPLE: &str = include_str!("data/state/reference-example.yaml");

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn stamp() -> MigrationStamp {
    MigrationStamp {
        by: "carol@example.com".into(),
        at: ts("2025-01-02T03:04:05Z"),
    }
}

fn comp(name: &str, cluster: &str) -> Component {
    Component {
        name: name.into(),
        cluster: cluster.into(),
        namespace: "solo-1".into(),
    }
}

fn proxy(name: &str, cluster: &str, node: &str) -> ProxyComponent {
    ProxyComponent {
        name: name.into(),
        cluster: cluster.into(),
        namespace: "solo-1".into(),
        consensus_node: node.into(),
    }
}

#[test]
fn the_draft_example_is_read_without_losing_a_field() {
    let parsed = state::parse(EXAMPLE.as_bytes()).expect("the draft's example parses");
    assert_eq!(parsed.original, EXAMPLE);
    let VersionedDocument::V1_0_32(doc) = parsed.document else {
        panic!("the draft's example is schema 1.0.32");
    };
    assert_eq!(doc.version, V1_0_32);
    let m = &doc.metadata;
    assert_eq!(m.name, "my-network-1");
    assert_eq!(m.last_updated_at, ts("2024-04-25T13:03:32Z"));
    assert_eq!(m.last_updated_by, "lenin.mehedy@swirldslabs.com");
    let mig = m.migration.as_ref().expect("migration record");
    assert_eq!(mig.migrated_at, ts("2024-04-15T13:03:32Z"));
    assert_eq!(mig.migrated_by, "lenin.mehedy@swirldslabs.com");
    assert_eq!(mig.from_version, "1.0.31");
    let cluster = |n: &str| v2_0_0::ClusterRef {
        name: n.into(),
        namespace: "solo-1".into(),
    };
    assert_eq!(
        doc.clusters,
        vec![
            cluster("cluster-1"),
            cluster("cluster-2"),
            cluster("cluster-N")
        ]
    );
    let c = &doc.components;
    assert_eq!(
        c.consensus,
        vec![
            comp("node0", "cluster-1"),
            comp("node1", "cluster-1"),
            comp("node2", "cluster-2")
        ]
    );
    assert_eq!(
        c.haproxy,
        vec![
            proxy("haproxy-node0", "cluster-1", "node0"),
            proxy("haproxy-node1", "cluster-1", "node1"),
            proxy("haproxy-node2", "cluster-2", "node2"),
        ]
    );
    assert_eq!(
        c.envoy_proxy,
        vec![proxy("envoy-proxy-node0", "cluster-1", "node0")]
    );
    assert_eq!(c.mirror, vec![comp("mirror-1", "cluster-1")]);
    assert_eq!(
        c.mirror_node_explorer,
        vec![comp("mirror-explorer-1", "cluster-1")]
    );
    let relay = |name: &str, cluster: &str, nodes: &[&str]| v1_0_32::Relay {
        name: name.into(),
        cluster: cluster.into(),
        namespace: "solo-1".into(),
        consensus_node: v1_0_32::OneOrMany::Many(nodes.iter().map(|s| s.to_string()).collect()),
    };
    assert_eq!(
        c.relay,
        vec![
            relay("relay-node0-node1", "cluster-1", &["node0", "node1"]),
            relay("relay-node2", "cluster-2", &["node2"])
        ]
    );
    assert_eq!(
        doc.cli.history,
        vec!["my-network-1-history-02", "my-network-1-history-01"]
    );
}

#[test]
fn the_draft_example_migrates_and_only_its_placeholder_cluster_name_is_invalid() {
    // `cluster-N` is a placeholder in the draft, and upper case is not allowed in a name.
    let err = state::load(EXAMPLE.as_bytes(), &stamp()).expect_err("cluster-N is not a DNS label");
    let StateError::Invalid { problems } = err else {
        panic!("expected problems, got {err:?}")
    };
    assert_eq!(
        problems,
        vec![Problem::new(
            "clusters[2].name",
            "\"cluster-N\" is not a valid name: it has the upper-case letter 'N'; use lowercase letters, digits and '-', starting and ending with a letter or digit"
        )]
    );

    let fixed = EXAMPLE.replace("cluster-N", "cluster-3");
    let loaded =
        state::load(fixed.as_bytes(), &stamp()).expect("valid once the placeholder is named");
    let Loaded::Migrated(m) = loaded else {
        panic!("1.0.32 must be migrated")
    };
    assert_eq!(m.from, V1_0_32);
    assert_eq!(m.backup_of_original, fixed);
    let doc = &m.document;
    assert_eq!(doc.version, state::CURRENT);
    let mig = doc.metadata.migration.as_ref().expect("migration recorded");
    assert_eq!(
        (mig.migrated_by.as_str(), mig.migrated_at),
        ("carol@example.com", stamp().at)
    );
    assert_eq!(mig.from_version, "2.0.0");
    assert_eq!(
        doc.components.relay[0],
        RelayComponent {
            name: "relay-node0-node1".into(),
            cluster: "cluster-1".into(),
            namespace: "solo-1".into(),
            consensus_nodes: vec!["node0".into(), "node1".into()],
        }
    );
    assert_eq!(doc.components.len(), 11);
    assert_eq!(doc.metadata.last_updated_by, "lenin.mehedy@swirldslabs.com");
}

#[test]
fn the_canonical_text_of_the_migrated_example() {
    let fixed = EXAMPLE.replace("cluster-N", "cluster-3");
    let doc = state::load(fixed.as_bytes(), &stamp())
        .expect("valid")
        .into_document();
    let text = state::to_canonical_yaml(&doc).expect("prints");
    insta::assert_snapshot!(text, @r#"
version: "2.1.0"
metadata:
  name: my-network-1
  lastUpdatedAt: "2024-04-25T13:03:32Z"
  lastUpdatedBy: lenin.mehedy@swirldslabs.com
  migration:
    migratedAt: "2025-01-02T03:04:05Z"
    migratedBy: carol@example.com
    fromVersion: "2.0.0"
clusters:
  - name: cluster-1
    namespace: solo-1
    dnsBaseDomain: cluster.local
    dnsConsensusNodePattern: network-{nodeAlias}-svc.{namespace}.svc
  - name: cluster-2
    namespace: solo-1
    dnsBaseDomain: cluster.local
    dnsConsensusNodePattern: network-{nodeAlias}-svc.{namespace}.svc
  - name: cluster-3
    namespace: solo-1
    dnsBaseDomain: cluster.local
    dnsConsensusNodePattern: network-{nodeAlias}-svc.{namespace}.svc
components:
  consensus:
    - name: node0
      cluster: cluster-1
      namespace: solo-1
      nodeId: 0
      accountId: "0.0.3"
      gossipPort: 50111
      grpcPort: 50211
      grpcTlsPort: 50212
    - name: node1
      cluster: cluster-1
      namespace: solo-1
      nodeId: 1
      accountId: "0.0.4"
      gossipPort: 50111
      grpcPort: 50211
      grpcTlsPort: 50212
    - name: node2
      cluster: cluster-2
      namespace: solo-1
      nodeId: 2
      accountId: "0.0.5"
      gossipPort: 50111
      grpcPort: 50211
      grpcTlsPort: 50212
  haproxy:
    - name: haproxy-node0
      cluster: cluster-1
      namespace: solo-1
      consensusNode: node0
    - name: haproxy-node1
      cluster: cluster-1
      namespace: solo-1
      consensusNode: node1
    - name: haproxy-node2
      cluster: cluster-2
      namespace: solo-1
      consensusNode: node2
  envoyProxy:
    - name: envoy-proxy-node0
      cluster: cluster-1
      namespace: solo-1
      consensusNode: node0
  mirror:
    - name: mirror-1
      cluster: cluster-1
      namespace: solo-1
  mirror-node-explorer:
    - name: mirror-explorer-1
      cluster: cluster-1
      namespace: solo-1
  relay:
    - name: relay-node0-node1
      cluster: cluster-1
      namespace: solo-1
      consensusNodes:
        - node0
        - node1
    - name: relay-node2
      cluster: cluster-2
      namespace: solo-1
      consensusNodes:
        - node2
cli:
  history:
    - my-network-1-history-02
    - my-network-1-history-01
"#);
}
