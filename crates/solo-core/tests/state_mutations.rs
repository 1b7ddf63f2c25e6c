//! Every single mutation that breaks a rule is reported, with the path of the field at fault.
//!
//! Each mutation takes a valid document, breaks exactly one rule, and names the path that must
//! appear among the problems. The broken document is checked both directly and after printing
//! it and reading it back, as a user's file would be.

mod state_support;

use proptest::prelude::*;
use solo_core::state::{
    self, ClusterRef, ComponentKind, ConsensusNode, ProxyComponent, RelayComponent, StateDocument,
    StateError, V1_0_32,
};
use state_support::{stamp, valid_document};

/// Longer than any generated name, so surely not a name of the document.
const GHOST: &str = "zz-ghost-not-here";

#[derive(Debug, Clone, Copy)]
enum Mutation {
    DanglingCluster,
    UnlistedNamespace,
    BadComponentName,
    DuplicateComponentName,
    DanglingHaproxyNode,
    DanglingEnvoyNode,
    DanglingRelayNode,
    EmptyRelay,
    RepeatedRelayNode,
    BadDeploymentName,
    BadLastUpdatedBy,
    BadMigratedBy,
    NoClusters,
    DuplicateCluster,
    BadClusterName,
    BadClusterNamespace,
    BadHistoryName,
    DuplicateHistory,
    OldVersion,
}

const ALL: &[Mutation] = &[
    Mutation::DanglingCluster,
    Mutation::UnlistedNamespace,
    Mutation::BadComponentName,
    Mutation::DuplicateComponentName,
    Mutation::DanglingHaproxyNode,
    Mutation::DanglingEnvoyNode,
    Mutation::DanglingRelayNode,
    Mutation::EmptyRelay,
    Mutation::RepeatedRelayNode,
    Mutation::BadDeploymentName,
    Mutation::BadLastUpdatedBy,
    Mutation::BadMigratedBy,
    Mutation::NoClusters,
    Mutation::DuplicateCluster,
    Mutation::BadClusterName,
    Mutation::BadClusterNamespace,
    Mutation::BadHistoryName,
    Mutation::DuplicateHistory,
    Mutation::OldVersion,
];

/// Make sure there is a consensus node, and return its name.
fn ensure_node(doc: &mut StateDocument) -> String {
    if doc.components.consensus.is_empty() {
        let c = doc.clusters[0].clone();
        doc.components.consensus.push(ConsensusNode::next_after(
            &doc.components.consensus,
            "zz-node-added",
            c.name,
            c.namespace,
        ));
    }
    doc.components.consensus[0].name.clone()
}

fn ensure_relay(doc: &mut StateDocument) -> usize {
    let node = ensure_node(doc);
    if doc.components.relay.is_empty() {
        let c = doc.clusters[0].clone();
        doc.components.relay.push(RelayComponent {
            name: "zz-relay-added".into(),
            cluster: c.name,
            namespace: c.namespace,
            consensus_nodes: vec![node],
        });
    }
    doc.components.relay.len() - 1
}

fn ensure_proxy(doc: &mut StateDocument, envoy: bool) -> usize {
    let node = ensure_node(doc);
    let c = doc.clusters[0].clone();
    let list = if envoy {
        &mut doc.components.envoy_proxy
    } else {
        &mut doc.components.haproxy
    };
    if list.is_empty() {
        list.push(ProxyComponent {
            name: "zz-proxy-added".into(),
            cluster: c.name,
            namespace: c.namespace,
            consensus_node: node,
        });
    }
    list.len() - 1
}

/// Apply `m`, choosing its target with `pick`; return the path that must be reported.
fn apply(m: Mutation, doc: &mut StateDocument, pick: usize) -> String {
    match m {
        Mutation::DanglingCluster => {
            ensure_node(doc);
            let i = pick % doc.components.consensus.len();
            doc.components.consensus[i].cluster = GHOST.into();
            format!("components.consensus[{i}].cluster")
        }
        Mutation::UnlistedNamespace => {
            let i = ensure_relay(doc);
            doc.components.relay[i].namespace = GHOST.into();
            format!("components.relay[{i}].namespace")
        }
        Mutation::BadComponentName => {
            ensure_node(doc);
            let kind_pick = pick % 2;
            if kind_pick == 0 {
                let i = pick % doc.components.consensus.len();
                doc.components.consensus[i].name = "Node_Bad".into();
                format!("components.consensus[{i}].name")
            } else {
                let i = ensure_proxy(doc, true);
                doc.components.envoy_proxy[i].name = "-envoy".into();
                format!("components.envoyProxy[{i}].name")
            }
        }
        Mutation::DuplicateComponentName => {
            let i = ensure_proxy(doc, false);
            let mut copy = doc.components.haproxy[i].clone();
            copy.cluster = doc.clusters[pick % doc.clusters.len()].name.clone();
            copy.namespace = doc.clusters[pick % doc.clusters.len()].namespace.clone();
            doc.components.haproxy.push(copy);
            format!(
                "components.haproxy[{}].name",
                doc.components.haproxy.len() - 1
            )
        }
        Mutation::DanglingHaproxyNode => {
            let i = ensure_proxy(doc, false);
            doc.components.haproxy[i].consensus_node = GHOST.into();
            format!("components.haproxy[{i}].consensusNode")
        }
        Mutation::DanglingEnvoyNode => {
            let i = ensure_proxy(doc, true);
            doc.components.envoy_proxy[i].consensus_node = "node7".repeat(4);
            format!("components.envoyProxy[{i}].consensusNode")
        }
        Mutation::DanglingRelayNode => {
            let i = ensure_relay(doc);
            let nodes = &mut doc.components.relay[i].consensus_nodes;
            nodes.insert(pick % (nodes.len() + 1), GHOST.into());
            let j = nodes.iter().position(|n| n == GHOST).unwrap_or(0);
            format!("components.relay[{i}].consensusNodes[{j}]")
        }
        Mutation::EmptyRelay => {
            let i = ensure_relay(doc);
            doc.components.relay[i].consensus_nodes.clear();
            format!("components.relay[{i}].consensusNodes")
        }
        Mutation::RepeatedRelayNode => {
            let i = ensure_relay(doc);
            let nodes = &mut doc.components.relay[i].consensus_nodes;
            nodes.push(nodes[0].clone());
            format!("components.relay[{i}].consensusNodes[{}]", nodes.len() - 1)
        }
        Mutation::BadDeploymentName => {
            doc.metadata.name = ["My Network", "", "a.b", "x".repeat(64).as_str()][pick % 4].into();
            "metadata.name".into()
        }
        Mutation::BadLastUpdatedBy => {
            doc.metadata.last_updated_by = ["user", "", "a b@c.d", "@x"][pick % 4].into();
            "metadata.lastUpdatedBy".into()
        }
        Mutation::BadMigratedBy => {
            let mut mig = doc
                .metadata
                .migration
                .clone()
                .unwrap_or(solo_core::state::Migration {
                    migrated_at: jiff::Timestamp::UNIX_EPOCH,
                    migrated_by: String::new(),
                    from_version: "1.1.0".into(),
                });
            mig.migrated_by = "jeromy".into();
            doc.metadata.migration = Some(mig);
            "metadata.migration.migratedBy".into()
        }
        Mutation::NoClusters => {
            doc.clusters.clear();
            "clusters".into()
        }
        Mutation::DuplicateCluster => {
            let c = doc.clusters[pick % doc.clusters.len()].clone();
            doc.clusters.push(c);
            format!("clusters[{}]", doc.clusters.len() - 1)
        }
        Mutation::BadClusterName => {
            let i = pick % doc.clusters.len();
            doc.clusters[i].name = "Cluster_1".into();
            format!("clusters[{i}].name")
        }
        Mutation::BadClusterNamespace => {
            doc.clusters.push(ClusterRef::new(
                doc.clusters[0].name.clone(),
                "ns.with.dots",
            ));
            format!("clusters[{}].namespace", doc.clusters.len() - 1)
        }
        Mutation::BadHistoryName => {
            doc.cli.history.push("History_01".into());
            format!("cli.history[{}]", doc.cli.history.len() - 1)
        }
        Mutation::DuplicateHistory => {
            if doc.cli.history.is_empty() {
                doc.cli.history.push("net-history-01".into());
            }
            let first = doc.cli.history[pick % doc.cli.history.len()].clone();
            doc.cli.history.push(first);
            format!("cli.history[{}]", doc.cli.history.len() - 1)
        }
        Mutation::OldVersion => {
            doc.version = V1_0_32;
            "version".into()
        }
    }
}

fn paths(problems: &[state::Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_rule_breaking_mutation_is_reported_with_its_path(
        doc in valid_document(),
        m in prop::sample::select(ALL),
        pick in any::<usize>(),
    ) {
        let mut doc = doc;
        let before = doc.clone();
        let path = apply(m, &mut doc, pick);
        prop_assert_ne!(&doc, &before);

        let problems = state::validate(&doc).expect_err("the mutation breaks a rule");
        prop_assert!(
            paths(&problems).contains(&path.as_str()),
            "{:?}: expected {} among {:#?}", m, path, problems
        );
        prop_assert!(problems.iter().all(|p| !p.message.is_empty()));

        // The same through the text a user would have, except the version, which decides
        // the schema of the text and so is not a validation problem there.
        if !matches!(m, Mutation::OldVersion) {
            let text = state::to_canonical_yaml(&doc).expect("prints");
            match state::load(text.as_bytes(), &stamp()) {
                Err(StateError::Invalid { problems: from_text }) => prop_assert_eq!(from_text, problems),
                other => prop_assert!(false, "{:?}: expected Invalid, got {:?}", m, other),
            }
        }
    }
}

#[test]
fn the_example_of_the_issue_reads_as_written() {
    let mut doc = StateDocument::new("net", "a@b.io", jiff::Timestamp::UNIX_EPOCH);
    doc.clusters.push(ClusterRef::new("cluster-1", "solo"));
    let place = |name: &str, id: u64, account: &str| {
        ConsensusNode::new(name, "cluster-1", "solo", id, account)
    };
    doc.components.consensus = vec![place("node0", 0, "0.0.3"), place("node1", 1, "0.0.4")];
    let proxy = |name: &str, node: &str| ProxyComponent {
        name: name.into(),
        cluster: "cluster-1".into(),
        namespace: "solo".into(),
        consensus_node: node.into(),
    };
    doc.components.haproxy = vec![
        proxy("haproxy-node0", "node0"),
        proxy("haproxy-node7", "node7"),
    ];
    let problems = state::validate(&doc).expect_err("node7 does not exist");
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "components.haproxy[1].consensusNode: node7 is not a consensus node of this deployment"
        ]
    );
}

#[test]
fn all_problems_are_reported_at_once_in_document_order() {
    let mut doc = StateDocument::new("Bad_Name", "nobody", jiff::Timestamp::UNIX_EPOCH);
    doc.clusters.push(ClusterRef::new("c1", "ns"));
    doc.components.consensus.push(ConsensusNode::next_after(
        &doc.components.consensus,
        "n0",
        "c2",
        "ns",
    ));
    doc.components.consensus.push(ConsensusNode::next_after(
        &doc.components.consensus,
        "n0",
        "c1",
        "other",
    ));
    doc.components.relay.push(RelayComponent {
        name: "r".into(),
        cluster: "c1".into(),
        namespace: "ns".into(),
        consensus_nodes: vec![],
    });
    let problems = state::validate(&doc).expect_err("many problems");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "metadata.name: \"Bad_Name\" is not a valid name: it has the upper-case letter 'B'; use lowercase letters, digits and '-', starting and ending with a letter or digit",
            "metadata.lastUpdatedBy: nobody is not an email address; users are identified by email (like alice@example.com)",
            "components.consensus[0].cluster: c2 is not one of the clusters of this deployment (c1); add it to clusters or use one of those",
            "components.consensus[1].name: n0 is already the name of components.consensus[0]; names are unique per kind",
            "components.consensus[1].namespace: other is not listed for cluster c1 in clusters (it has ns), so the lock would not cover it; add it to clusters or use a listed namespace",
            "components.relay[0].consensusNodes: is empty; a relay serves at least one consensus node, list it here",
        ]
    );
    assert!(
        ComponentKind::ALL
            .iter()
            .any(|k| k.key() == "mirror-node-explorer")
    );
}
