//! Generators shared by the state property tests: valid documents of every shape the schema allows.
#![allow(dead_code)]

use jiff::Timestamp;
use proptest::prelude::*;
use solo_core::state::{
    ClusterRef, Component, ConsensusNode, Migration, MigrationStamp, ProxyComponent,
    RelayComponent, StateDocument,
};

/// Labels that YAML would read as something else unless quoted: the printer must cope.
const TRICKY: &[&str] = &[
    "true",
    "false",
    "null",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "0",
    "123",
    "1e3",
    "0x1f",
    "0o17",
    "nan",
    "inf",
    "1-2",
    "2024-04-25",
    "007",
    "1-0",
];

/// The longest name the generators make; longer names are safe for "surely absent" references.
pub const MAX_GENERATED_NAME: usize = 12;

/// A DNS-1123 label of at most 12 characters, now and then one YAML would misread.
pub fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]([a-z0-9-]{0,10}[a-z0-9])?",
        1 => "[0-9]{1,3}",
        1 => prop::sample::select(TRICKY).prop_map(String::from),
    ]
}

/// A user identity.
pub fn email() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9.+-]{0,8}@[a-z]{1,8}\\.(com|org|io)"
}

/// Any instant from 1990 to 2100, with or without sub-second digits.
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        631_152_000i64..4_102_444_800i64,
        prop_oneof![Just(0i32), 0i32..1_000_000_000],
    )
        .prop_map(|(s, ns)| Timestamp::new(s, ns).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A migration record, as a migration or the legacy import leaves it.
pub fn migration() -> impl Strategy<Value = Migration> {
    (
        timestamp(),
        email(),
        prop_oneof![
            "1\\.[0-9]\\.[0-9]{1,2}",
            "legacy-solo\\.config/0\\.[0-9]{2}\\.[0-9]"
        ],
    )
        .prop_map(|(migrated_at, migrated_by, from_version)| Migration {
            migrated_at,
            migrated_by,
            from_version,
        })
}

fn unique(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Names, placements (indexes into clusters) and references (indexes into consensus nodes).
type Seeds = Vec<(String, usize, usize)>;

fn seeds(max: usize) -> impl Strategy<Value = Seeds> {
    prop::collection::vec((label(), any::<usize>(), any::<usize>()), 0..max)
}

/// A valid state document of the current schema.
pub fn valid_document() -> impl Strategy<Value = StateDocument> {
    let head = (label(), email(), timestamp(), prop::option::of(migration()));
    let clusters = prop::collection::vec((label(), label()), 1..5);
    let kinds = (seeds(7), seeds(5), seeds(5), seeds(3), seeds(3), seeds(4));
    let relay_nodes = prop::collection::vec(prop::collection::vec(any::<usize>(), 1..4), 4);
    let history = prop::collection::vec((label(), 1u32..100), 0..4);
    let numbering = (0u64..1_000, 1u64..4, 3u64..5_000);
    (head, clusters, kinds, relay_nodes, history, numbering).prop_map(
        |((name, by, at, migration), clusters, kinds, relay_nodes, history, numbering)| {
            let mut doc = StateDocument::new(name.clone(), by, at);
            doc.metadata.migration = migration;
            for (n, ns) in clusters {
                let c = ClusterRef::new(n, ns);
                if !doc.clusters.contains(&c) {
                    doc.clusters.push(c);
                }
            }
            let pairs = doc.clusters.clone();
            let place = |i: usize| pairs[i % pairs.len()].clone();
            let (consensus, haproxy, envoy, mirror, explorer, relay) = kinds;

            let plain = |seeds: Seeds| -> Vec<Component> {
                let names = unique(seeds.iter().map(|s| s.0.clone()).collect());
                names
                    .into_iter()
                    .zip(seeds)
                    .map(|(name, (_, p, _))| {
                        let c = place(p);
                        Component {
                            name,
                            cluster: c.name,
                            namespace: c.namespace,
                        }
                    })
                    .collect()
            };
            let (first_id, id_step, first_account) = numbering;
            doc.components.consensus = plain(consensus)
                .into_iter()
                .zip(0u64..)
                .map(|(c, i)| {
                    let id = first_id + i * id_step;
                    let account = format!("0.0.{}", first_account + i);
                    ConsensusNode::new(c.name, c.cluster, c.namespace, id, account)
                })
                .collect();
            doc.components.mirror = plain(mirror);
            doc.components.mirror_node_explorer = plain(explorer);
            let nodes: Vec<String> = doc
                .components
                .consensus
                .iter()
                .map(|c| c.name.clone())
                .collect();
            if !nodes.is_empty() {
                let proxies = |seeds: Seeds| -> Vec<ProxyComponent> {
                    let names = unique(seeds.iter().map(|s| s.0.clone()).collect());
                    names
                        .into_iter()
                        .zip(seeds)
                        .map(|(name, (_, p, r))| {
                            let c = place(p);
                            ProxyComponent {
                                name,
                                cluster: c.name,
                                namespace: c.namespace,
                                consensus_node: nodes[r % nodes.len()].clone(),
                            }
                        })
                        .collect()
                };
                doc.components.haproxy = proxies(haproxy);
                doc.components.envoy_proxy = proxies(envoy);
                let names = unique(relay.iter().map(|s| s.0.clone()).collect());
                doc.components.relay = names
                    .into_iter()
                    .zip(relay)
                    .zip(relay_nodes)
                    .map(|((name, (_, p, _)), refs)| {
                        let c = place(p);
                        RelayComponent {
                            name,
                            cluster: c.name,
                            namespace: c.namespace,
                            consensus_nodes: unique(
                                refs.iter()
                                    .map(|r| nodes[r % nodes.len()].clone())
                                    .collect(),
                            ),
                        }
                    })
                    .collect();
            }
            let archives: Vec<String> = history
                .into_iter()
                .map(|(n, i)| format!("{n}-history-{i:02}"))
                .collect();
            doc.cli.history = unique(archives);
            doc
        },
    )
}

/// Who migrates in the tests.
pub fn stamp() -> MigrationStamp {
    MigrationStamp {
        by: "migrator@example.com".into(),
        at: Timestamp::new(1_750_000_000, 0).unwrap_or(Timestamp::UNIX_EPOCH),
    }
}
