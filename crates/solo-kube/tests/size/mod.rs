//! The largest deployment solo supports, shared by the size test and `benches/state_size.rs`:
//! a state of [`COMPONENTS`] components and a history of [`HISTORY`] entries.
#![allow(dead_code)]

use std::collections::BTreeMap;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use solo_core::state::{
    ClusterRef, Component, ConsensusNode, ProxyComponent, RelayComponent, StateDocument,
};
use solo_kube::Clusters;
use solo_kube::history::{
    ENTRIES_PER_ARCHIVE, HISTORY_EPOCH_ANNOTATION, HISTORY_KEY, HISTORY_LABEL, HistoryEntry,
    archive_name,
};
use solo_kube::state_store::{DEPLOYMENT_LABEL, TEAM_LABEL};

/// Components in the largest state.
pub const COMPONENTS: usize = 5_000;
/// History entries of the largest deployment: 1,011 archives of 99.
pub const HISTORY: usize = 100_000;

/// A state of `components` components over `refs` (2/5 consensus nodes, a proxy of each kind for
/// half of them, mirrors, explorers and relays), every name a realistic length.
pub fn big_state(name: &str, ns: &str, refs: &[String], components: usize) -> StateDocument {
    let mut d = StateDocument::new(name, "alice@example.com", Timestamp::now());
    d.clusters = refs
        .iter()
        .map(|r| ClusterRef::new(r.clone(), ns.to_owned()))
        .collect();
    let place = |i: usize| (refs[i % refs.len()].clone(), ns.to_owned());
    let nodes = components * 2 / 5;
    let c = &mut d.components;
    for i in 0..nodes {
        let (cluster, namespace) = place(i);
        c.consensus.push(ConsensusNode::next_after(
            &c.consensus,
            format!("node{i}"),
            cluster,
            namespace,
        ));
    }
    for i in 0..components / 5 {
        let (cluster, namespace) = place(i);
        let proxy = |kind: &str| ProxyComponent {
            name: format!("{kind}-node{i}"),
            cluster: cluster.clone(),
            namespace: namespace.clone(),
            consensus_node: format!("node{i}"),
        };
        c.haproxy.push(proxy("haproxy"));
        c.envoy_proxy.push(proxy("envoy-proxy"));
    }
    let rest = components - nodes - 2 * (components / 5);
    for i in 0..rest {
        let (cluster, namespace) = place(i);
        match i % 3 {
            0 => c.mirror.push(Component {
                name: format!("mirror-{i}"),
                cluster,
                namespace,
            }),
            1 => c.mirror_node_explorer.push(Component {
                name: format!("mirror-explorer-{i}"),
                cluster,
                namespace,
            }),
            _ => c.relay.push(RelayComponent {
                name: format!("relay-node{i}-node{}", i + 1),
                cluster,
                namespace,
                consensus_nodes: vec![
                    format!("node{}", i % nodes),
                    format!("node{}", (i + 1) % nodes),
                ],
            }),
        }
    }
    d
}

/// The number of components of a state.
pub fn component_count(d: &StateDocument) -> usize {
    let c = &d.components;
    c.consensus.len()
        + c.haproxy.len()
        + c.envoy_proxy.len()
        + c.mirror.len()
        + c.mirror_node_explorer.len()
        + c.relay.len()
}

/// History entry `i`: a typical `solo exec` command line.
pub fn entry(i: usize) -> HistoryEntry {
    HistoryEntry {
        command: [
            "helm",
            "upgrade",
            &format!("release-{i}"),
            "./charts/solo-deployment",
            "--namespace",
            "solo-1",
            "--set",
            &format!("image.tag=v0.{}.{}", i / 100, i % 100),
        ]
        .map(str::to_owned)
        .to_vec(),
        executed_by: "alice@example.com".into(),
        executed_at: Timestamp::from_second(1_700_000_000 + i as i64).expect("time"),
        result: "exit 0".into(),
        duration_ms: 1_000 + (i as u64 % 5_000),
        authenticated_as: Some("alice".into()),
    }
}

/// Writes `total` history entries (0..total) into archives of 99 in every cluster, as that many
/// appends would have left them, 16 requests at a time. Returns the archive names, oldest first,
/// and the largest archive's bytes.
pub async fn write_history(
    clusters: &Clusters,
    ns: &str,
    deployment: &str,
    refs: &[String],
    team: &str,
    total: usize,
) -> (Vec<String>, usize) {
    let archives: Vec<(String, Vec<u8>)> = (0..total)
        .collect::<Vec<_>>()
        .chunks(ENTRIES_PER_ARCHIVE)
        .enumerate()
        .map(|(n, chunk)| {
            let entries: Vec<HistoryEntry> = chunk.iter().map(|i| entry(*i)).collect();
            (
                archive_name(deployment, n as u32 + 1),
                serde_json::to_vec(&entries).expect("json"),
            )
        })
        .collect();
    let largest = archives.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    let writes = refs.iter().flat_map(|r| {
        let api: Api<Secret> = Api::namespaced(clusters.client(r).expect("client").clone(), ns);
        archives.iter().map(move |(name, bytes)| {
            let api = api.clone();
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(BTreeMap::from([
                        ("app.kubernetes.io/managed-by".to_owned(), "solo".to_owned()),
                        (DEPLOYMENT_LABEL.to_owned(), deployment.to_owned()),
                        (HISTORY_LABEL.to_owned(), "true".to_owned()),
                        (TEAM_LABEL.to_owned(), team.to_owned()),
                    ])),
                    annotations: Some(BTreeMap::from([(
                        HISTORY_EPOCH_ANNOTATION.to_owned(),
                        "1".to_owned(),
                    )])),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(
                    HISTORY_KEY.to_owned(),
                    ByteString(bytes.clone()),
                )])),
                ..Default::default()
            };
            async move {
                api.create(&PostParams::default(), &secret)
                    .await
                    .expect("create an archive");
            }
        })
    });
    futures::stream::iter(writes)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    (archives.into_iter().map(|(n, _)| n).collect(), largest)
}
