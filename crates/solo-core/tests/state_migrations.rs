//! Migrations compose, keep the original as a backup, and versions outside the chain are refused.

mod state_support;

use proptest::prelude::*;
use solo_core::state::{
    self, CURRENT, ClusterRef, Component, ConsensusNode, Loaded, Migration, SchemaVersion,
    StateDocument, StateError, V1_0_32, V1_1_0, V2_0_0, VersionedDocument,
    migrate::step,
    older::{v1_0_32, v1_1_0, v2_0_0},
};
use state_support::{stamp, valid_document};

/// The same network written by the draft's schema 1.0.32; `single` picks which relays use the
/// single-name form the draft allowed.
fn as_v1_0_32(doc: &StateDocument, single: &[bool]) -> v1_0_32::Document {
    let c = &doc.components;
    v1_0_32::Document {
        version: V1_0_32,
        metadata: doc.metadata.clone(),
        clusters: old_clusters(doc),
        components: v1_0_32::Components {
            consensus: old_consensus(doc),
            haproxy: c.haproxy.clone(),
            envoy_proxy: c.envoy_proxy.clone(),
            mirror: c.mirror.clone(),
            mirror_node_explorer: c.mirror_node_explorer.clone(),
            relay: c
                .relay
                .iter()
                .enumerate()
                .map(|(i, r)| v1_0_32::Relay {
                    name: r.name.clone(),
                    cluster: r.cluster.clone(),
                    namespace: r.namespace.clone(),
                    consensus_node: match (single.get(i), r.consensus_nodes.as_slice()) {
                        (Some(true), [one]) => v1_0_32::OneOrMany::One(one.clone()),
                        _ => v1_0_32::OneOrMany::Many(r.consensus_nodes.clone()),
                    },
                })
                .collect(),
        },
        cli: doc.cli.clone(),
    }
}

/// The clusters as schemas before 2.1.0 wrote them: a name and a namespace.
fn old_clusters(doc: &StateDocument) -> Vec<v2_0_0::ClusterRef> {
    doc.clusters
        .iter()
        .map(|c| v2_0_0::ClusterRef {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
        })
        .collect()
}

/// The consensus nodes as schemas before 2.1.0 wrote them: a place each.
fn old_consensus(doc: &StateDocument) -> Vec<Component> {
    doc.components
        .consensus
        .iter()
        .map(|n| Component {
            name: n.name.clone(),
            cluster: n.cluster.clone(),
            namespace: n.namespace.clone(),
        })
        .collect()
}

/// What migrating an older document gives: Solo's DNS defaults on every cluster, node ids from 0
/// and accounts from 0.0.3 in list order, default ports, nothing recorded.
fn with_network_defaults(doc: &StateDocument) -> StateDocument {
    let mut d = doc.clone();
    d.clusters = d
        .clusters
        .iter()
        .map(|c| ClusterRef::new(c.name.clone(), c.namespace.clone()))
        .collect();
    d.components.consensus = d
        .components
        .consensus
        .iter()
        .zip(0u64..)
        .map(|(n, i)| {
            let account = format!("0.0.{}", 3 + i);
            ConsensusNode::new(
                n.name.clone(),
                n.cluster.clone(),
                n.namespace.clone(),
                i,
                account,
            )
        })
        .collect();
    d
}

fn print(doc: &VersionedDocument) -> String {
    state::versioned_to_yaml(doc).expect("prints")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn oldest_to_newest_in_one_go_equals_step_by_step(
        doc in valid_document(),
        single in prop::collection::vec(any::<bool>(), 4),
    ) {
        let original = print(&VersionedDocument::V1_0_32(as_v1_0_32(&doc, &single)));

        // In one go, as `load` does it.
        let Loaded::Migrated(one_go) = state::load(original.as_bytes(), &stamp()).expect("loads") else {
            panic!("an old document is migrated");
        };
        prop_assert_eq!(one_go.from, V1_0_32);
        prop_assert_eq!(&one_go.backup_of_original, &original);

        // Step by step, each intermediate document printed and read again, as if an
        // intermediate solo had written it.
        let mut text = original.clone();
        let mut versions = vec![];
        loop {
            let parsed = state::parse(text.as_bytes()).expect("parses");
            versions.push(parsed.document.version());
            if parsed.document.is_current() {
                break;
            }
            text = print(&step(parsed.document, &stamp()));
        }
        prop_assert_eq!(versions, vec![V1_0_32, V1_1_0, V2_0_0, CURRENT]);
        let step_by_step = state::load(text.as_bytes(), &stamp()).expect("loads").into_document();
        prop_assert_eq!(&step_by_step, &one_go.document);

        // And in memory, without printing.
        let parsed = state::parse(original.as_bytes()).expect("parses").document;
        prop_assert_eq!(&state::migrate_to_current(parsed.clone(), &stamp()), &one_go.document);
        prop_assert_eq!(&step(step(step(parsed, &stamp()), &stamp()), &stamp()), &VersionedDocument::Current(one_go.document.clone()));

        // Nothing but the migration record and the network's defaults changed.
        let mut expected = with_network_defaults(&doc);
        expected.metadata.migration = Some(Migration {
            migrated_at: stamp().at,
            migrated_by: stamp().by,
            from_version: "2.0.0".into(),
        });
        prop_assert_eq!(&one_go.document, &expected);
    }

    #[test]
    fn every_known_version_migrates_to_current(doc in valid_document()) {
        let v1 = as_v1_0_32(&doc, &[]);
        let v11 = match step(VersionedDocument::V1_0_32(v1.clone()), &stamp()) {
            VersionedDocument::V1_1_0(d) => d,
            other => panic!("1.0.32 steps to 1.1.0, got {:?}", other.version()),
        };
        let v2 = match step(VersionedDocument::V1_1_0(v11.clone()), &stamp()) {
            VersionedDocument::V2_0_0(d) => d,
            other => panic!("1.1.0 steps to 2.0.0, got {:?}", other.version()),
        };
        for start in [VersionedDocument::V1_0_32(v1), VersionedDocument::V1_1_0(v11), VersionedDocument::V2_0_0(v2), VersionedDocument::Current(doc.clone())] {
            let from = start.version();
            let text = print(&start);
            let loaded = state::load(text.as_bytes(), &stamp()).expect("loads");
            prop_assert_eq!(loaded.document().version, CURRENT);
            match loaded.migrated() {
                None => prop_assert_eq!(from, CURRENT),
                Some(m) => {
                    prop_assert_eq!(m.from, from);
                    prop_assert_eq!(&m.backup_of_original, &text);
                }
            }
        }
    }
}

fn doc_text(version: &str) -> String {
    format!(
        "version: {version}\nmetadata:\n  name: net\n  lastUpdatedAt: 2024-04-25T13:03:32Z\n  lastUpdatedBy: a@b.io\nclusters:\n  - name: c1\n    namespace: ns\n"
    )
}

#[test]
fn a_document_from_a_newer_solo_is_refused_with_its_version() {
    for (version, found) in [
        ("2.1.1", SchemaVersion::new(2, 1, 1)),
        ("2.2.0", SchemaVersion::new(2, 2, 0)),
        ("3.0.0", SchemaVersion::new(3, 0, 0)),
    ] {
        // A newer solo may have added fields: they must not hide the version error.
        let text = doc_text(version) + "newField: {a: 1}\n";
        let err = state::parse(text.as_bytes()).expect_err("newer");
        assert_eq!(
            err,
            StateError::FromNewerTool {
                found,
                newest_supported: CURRENT
            }
        );
    }
    let err = state::parse(doc_text("3.0.0").as_bytes()).expect_err("newer");
    assert_eq!(
        err.to_string(),
        "this state has schema version 3.0.0, written by a newer solo; this solo reads schema versions up to 2.1.0"
    );
    assert_eq!(
        err.hint(),
        "upgrade solo to a release that reads schema version 3.0.0; do not change this state with an older solo"
    );
}

#[test]
fn versions_outside_the_table_are_refused() {
    let err = state::parse(doc_text("1.0.31").as_bytes()).expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "schema version 1.0.31 is not one solo ever wrote (known versions: 1.0.32, 1.1.0, 2.0.0, 2.1.0)"
    );
    let err = state::parse(doc_text("1.5.0").as_bytes()).expect_err("unknown");
    assert!(matches!(err, StateError::UnknownVersion { .. }), "{err:?}");
    let err = state::parse(doc_text("2.0").as_bytes()).expect_err("bad");
    assert_eq!(
        err.to_string(),
        "`version: 2.0` is not a schema version: a schema version is three numbers separated by dots, like 2.0.0"
    );
    let err = state::parse(b"metadata: {name: x}\n").expect_err("missing");
    assert_eq!(err, StateError::MissingVersion);
}

#[test]
fn each_schema_reads_only_its_own_shape() {
    let relay = |key: &str, value: &str| {
        doc_text("{v}")
            + "components:\n  consensus:\n    - {name: n0, cluster: c1, namespace: ns}\n  relay:\n    - name: r0\n      cluster: c1\n      namespace: ns\n"
            + &format!("      {key}: {value}\n")
    };
    let ok = |v: &str, text: String| {
        let text = text.replace("{v}", v);
        state::load(text.as_bytes(), &stamp())
            .unwrap_or_else(|e| panic!("{v}: {e}: {:?}", e.problems()))
    };
    let err = |v: &str, text: String| {
        let text = text.replace("{v}", v);
        state::parse(text.as_bytes()).expect_err(v).to_string()
    };
    // 1.0.32 takes one name or a list; 1.1.0 only a list; 2.0.0 renamed the key.
    ok("1.0.32", relay("consensusNode", "n0"));
    ok("1.0.32", relay("consensusNode", "[n0]"));
    ok("1.1.0", relay("consensusNode", "[n0]"));
    ok("2.0.0", relay("consensusNodes", "[n0]"));
    assert_eq!(
        err("1.1.0", relay("consensusNode", "n0")),
        "line 16, column 22: expected a list here"
    );
    assert_eq!(
        err("2.0.0", relay("consensusNode", "[n0]")),
        "line 16, column 7: unknown field `consensusNode`, expected one of name, cluster, namespace, consensusNodes"
    );
    let migrated = ok("1.0.32", relay("consensusNode", "n0")).into_document();
    assert_eq!(migrated.components.relay[0].consensus_nodes, vec!["n0"]);
    let _: v1_1_0::Document; // the 1.1.0 schema is public for the store's use too
}

#[test]
fn a_2_0_0_document_gets_solo_numbering_and_dns_defaults() {
    let text = doc_text("2.0.0")
        + "  - name: c2\n    namespace: ns\n"
        + "components:\n  consensus:\n    - {name: node1, cluster: c1, namespace: ns}\n    - {name: node2, cluster: c2, namespace: ns}\n";
    let doc = state::load(text.as_bytes(), &stamp())
        .unwrap_or_else(|e| panic!("{e}: {:?}", e.problems()))
        .into_document();
    assert_eq!(doc.version, CURRENT);
    let nodes: Vec<(&str, u64, &str, u32, u32, u32)> = doc
        .components
        .consensus
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                n.node_id,
                n.account_id.as_str(),
                n.gossip_port,
                n.grpc_port,
                n.grpc_tls_port,
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("node1", 0, "0.0.3", 50111, 50211, 50212),
            ("node2", 1, "0.0.4", 50111, 50211, 50212)
        ]
    );
    for c in &doc.clusters {
        assert_eq!(c.dns_base_domain, "cluster.local");
        assert_eq!(
            c.dns_consensus_node_pattern,
            "network-{nodeAlias}-svc.{namespace}.svc"
        );
        assert_eq!(c.reachability, None, "left out means automatic");
    }
    let printed = state::to_canonical_yaml(&doc).expect("prints");
    assert!(
        printed.contains("      nodeId: 1\n      accountId: \"0.0.4\"\n      gossipPort: 50111\n"),
        "{printed}"
    );
}
