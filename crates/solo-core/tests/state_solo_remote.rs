//! Importing the Solo tool's remote config: fixtures written as Solo's schema classes write them
//! (schema versions 8 and 2), the refusals, and the property that import -> show -> import again
//! is stable.

use jiff::Timestamp;
use proptest::prelude::*;
use solo_core::state::solo_remote::{
    SoloRemoteError, compare_solo_copies, import_solo_remote, parse_solo_remote,
};
use solo_core::state::{MigrationStamp, load, to_canonical_yaml};

const V8: &str = include_str!("data/solo/remote-config-v8.yaml");
const V2: &str = include_str!("data/solo/remote-config-v2.yaml");

fn stamp() -> MigrationStamp {
    MigrationStamp {
        by: "alice@example.com".into(),
        at: "2026-12-01T10:00:00Z".parse().expect("time"),
    }
}

#[test]
fn schema_8_with_two_clusters_becomes_a_state_of_every_kind_we_know() {
    let config = parse_solo_remote(V8).expect("parses");
    assert_eq!(config.schema_version, 8);
    let import = import_solo_remote(&config, "solo-deployment", (0, 0), &stamp()).expect("imports");
    let doc = &import.document;
    let clusters: Vec<_> = doc
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.namespace.as_str()))
        .collect();
    assert_eq!(clusters, [("cluster-a", "solo"), ("cluster-b", "solo")]);
    let names = |v: Vec<&str>| v.join(",");
    assert_eq!(
        names(
            doc.components
                .consensus
                .iter()
                .map(|c| c.name.as_str())
                .collect()
        ),
        "node1,node2,node3"
    );
    assert_eq!(doc.components.consensus[2].cluster, "cluster-b");
    // R13: Solo's numbering, accounts and DNS facts.
    let ids: Vec<_> = doc
        .components
        .consensus
        .iter()
        .map(|c| (c.node_id, c.account_id.as_str()))
        .collect();
    assert_eq!(ids, [(0, "0.0.3"), (1, "0.0.4"), (2, "0.0.5")]);
    assert_eq!(doc.components.consensus[0].gossip_port, 50111);
    assert_eq!(doc.clusters[1].dns_base_domain, "cluster.local");
    assert_eq!(
        doc.clusters[1].dns_consensus_node_pattern,
        "network-{nodeAlias}-svc.{namespace}.svc"
    );
    assert_eq!(doc.components.haproxy[2].name, "haproxy-node3");
    assert_eq!(doc.components.haproxy[2].consensus_node, "node3");
    assert_eq!(doc.components.envoy_proxy[0].consensus_node, "node1");
    assert_eq!(doc.components.mirror[0].name, "mirror-1");
    assert_eq!(doc.components.mirror_node_explorer[0].name, "explorer-1");
    assert_eq!(doc.components.relay[0].consensus_nodes, ["node3"]);
    assert_eq!(doc.components.relay[0].cluster, "cluster-b");
    assert_eq!(import.not_imported, ["1 block node (blockNodes)"]);
    assert_eq!(import.commands.len(), 10);
    assert_eq!(
        doc.metadata
            .migration
            .as_ref()
            .expect("migration")
            .from_version,
        "solo-remote-config/8"
    );
}

#[test]
fn schema_2_counts_ids_from_zero_and_names_relay_nodes_by_alias() {
    let config = parse_solo_remote(&V2.replace(
        "dnsBaseDomain: cluster.local",
        "dnsBaseDomain: east.example.com",
    ))
    .expect("parses");
    let import = import_solo_remote(&config, "solo-deployment", (1, 2), &stamp()).expect("imports");
    assert_eq!(
        import.document.clusters[0].dns_base_domain,
        "east.example.com"
    );
    assert_eq!(import.document.components.consensus[1].node_id, 1);
    assert_eq!(import.document.components.consensus[1].account_id, "1.2.4");
    let doc = &import.document;
    assert_eq!(doc.components.consensus[0].name, "node1");
    assert_eq!(doc.components.consensus[1].name, "node2");
    assert_eq!(doc.components.haproxy[1].consensus_node, "node2");
    assert_eq!(doc.components.relay[0].consensus_nodes, ["node1", "node2"]);
    assert!(import.not_imported.is_empty());
}

#[test]
fn an_unknown_schema_version_is_refused_by_its_number() {
    let text = V8.replace("schemaVersion: 8", "schemaVersion: 9");
    let e = parse_solo_remote(&text).expect_err("unknown");
    assert!(matches!(&e, SoloRemoteError::UnknownVersion { found } if found == "9"));
    assert!(e.to_string().contains("schema version 9"), "{e}");
    let e = parse_solo_remote("metadata: {}\n").expect_err("version 0");
    assert!(e.to_string().contains("schema version 0"), "{e}");
}

#[test]
fn another_deployment_is_refused() {
    let config = parse_solo_remote(V8).expect("parses");
    let e = import_solo_remote(&config, "other", (0, 0), &stamp()).expect_err("other");
    assert!(e.to_string().contains("solo-deployment"), "{e}");
}

#[test]
fn damaged_yaml_is_one_sentence_with_line_and_column() {
    let e = parse_solo_remote("schemaVersion: 8\nclusters: [oops\n").expect_err("damaged");
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("line"), "{text}");
    assert!(text.contains("column"), "{text}");
}

#[test]
fn copies_that_differ_are_named_per_cluster() {
    let a = parse_solo_remote(V8).expect("a");
    let b = parse_solo_remote(&V8.replace(
        "lastUpdatedAt: 2026-11-30T09:14:03.512Z",
        "lastUpdatedAt: 2026-11-30T09:20:00.000Z",
    ))
    .expect("b");
    assert!(
        compare_solo_copies(&[
            ("cluster-a".into(), a.clone()),
            ("cluster-b".into(), a.clone())
        ])
        .is_ok()
    );
    let rows = compare_solo_copies(&[("cluster-a".into(), a), ("cluster-b".into(), b)])
        .expect_err("differ");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].last_updated_at, "2026-11-30T09:20:00.000Z");
}

/// A remote config as Solo's classes write it, for `nodes` consensus nodes spread over
/// `clusters` clusters, with proxies, mirrors, explorers and relays.
fn solo_yaml(clusters: usize, nodes: usize, mirrors: usize, relays: usize, version: u64) -> String {
    let base = u64::from(version < 3) ^ 1; // ids from 0 before schema 3, from 1 since
    let cluster = |i: usize| format!("cluster-{}", (i % clusters) + 1);
    let meta = |id: usize, c: String| {
        format!(
            "      metadata:\n        cluster: {c}\n        id: {}\n        namespace: net\n        phase: deployed\n        portForwardConfigs: []\n",
            id as u64 + base
        )
    };
    let mut y = String::from("clusters:\n");
    for c in 0..clusters {
        y += &format!(
            "  - deployment: net\n    dnsBaseDomain: cluster.local\n    dnsConsensusNodePattern: network-{{nodeAlias}}-svc.{{namespace}}.svc\n    name: cluster-{}\n    namespace: net\n",
            c + 1
        );
    }
    y += "history:\n  commands:\n    - consensus network deploy --deployment net\n";
    y += &format!("schemaVersion: {version}\nstate:\n");
    for key in ["consensusNodes", "haProxies", "envoyProxies"] {
        y += &format!("  {key}:\n");
        for n in 0..nodes {
            y += "    - blockNodeMap: []\n";
            y += &meta(n, cluster(n));
        }
    }
    y += "  mirrorNodes:\n";
    for m in 0..mirrors {
        y += "    -\n";
        y += &meta(m, cluster(m));
    }
    if mirrors == 0 {
        y = y.replace("  mirrorNodes:\n", "  mirrorNodes: []\n");
    }
    y += "  relayNodes:\n";
    for r in 0..relays {
        let node = r % nodes;
        if version < 3 {
            y += &format!(
                "    - metadata:\n        consensusNodeIds:\n          - node{}\n",
                node + 1
            );
            y += &meta(r, cluster(node)).replacen("      metadata:\n", "", 1);
        } else {
            y += &format!("    - consensusNodeIds:\n        - {node}\n");
            y += &meta(r, cluster(node));
        }
    }
    if relays == 0 {
        y = y.replace("  relayNodes:\n", "  relayNodes: []\n");
    }
    y
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Import, show (the canonical YAML), read that back, and import again: the same state.
    #[test]
    fn import_show_import_again_is_stable(
        clusters in 1usize..4,
        nodes in 1usize..8,
        mirrors in 0usize..3,
        relays in 0usize..3,
        version in prop::sample::select(vec![1u64, 2, 3, 5, 8]),
    ) {
        let text = solo_yaml(clusters, nodes, mirrors, relays, version);
        let config = parse_solo_remote(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let first = import_solo_remote(&config, "net", (0, 0), &stamp()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let shown = to_canonical_yaml(&first.document).expect("shows");
        let read_back = load(shown.as_bytes(), &stamp()).expect("reads back");
        prop_assert_eq!(read_back.document(), &first.document);
        let again = import_solo_remote(&parse_solo_remote(&text).expect("parses"), "net", (0, 0), &stamp()).expect("imports");
        prop_assert_eq!(&again, &first);
        prop_assert_eq!(first.document.components.consensus.len(), nodes);
        prop_assert_eq!(first.document.components.relay.len(), relays);
        prop_assert_eq!(to_canonical_yaml(&again.document).expect("shows"), shown);
    }
}

#[test]
fn the_timestamp_of_the_import_is_the_stamp() {
    let config = parse_solo_remote(V8).expect("parses");
    let import = import_solo_remote(&config, "solo-deployment", (0, 0), &stamp()).expect("imports");
    let at: Timestamp = "2026-12-01T10:00:00Z".parse().expect("time");
    assert_eq!(import.document.metadata.last_updated_at, at);
    assert_eq!(
        import.document.metadata.last_updated_by,
        "alice@example.com"
    );
}
