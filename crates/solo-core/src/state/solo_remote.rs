//! The Solo tool's remote config (`@hiero-ledger/solo`): the ConfigMap `solo-remote-config`
//! (key `remote-config-data`, label `solo.hedera.com/type=remote-config`) that Solo keeps in
//! the network's namespace of every cluster of a deployment, read and turned into a state
//! document of this tool. Pure: the caller reads the ConfigMaps.
//!
//! Solo's schema (its `RemoteConfigSchema`, versions 1 to 8; its migrations `remote-config-vN`):
//! `schemaVersion`, `metadata {lastUpdatedAt, lastUpdatedBy {name, hostname}}`, `versions`,
//! `clusters [{name, namespace, deployment, dnsBaseDomain, dnsConsensusNodePattern}]`,
//! `state {ledgerPhase, componentIds, consensusNodes, blockNodes, mirrorNodes, relayNodes,
//! haProxies, envoyProxies, explorers, externalBlockNodes (6+), postgres, redis (7+), ...}`
//! where every component is `{metadata {id, namespace, cluster, phase, portForwardConfigs}}`,
//! relays add `consensusNodeIds` (node ids), and `history {commands, lastExecutedCommand}`.
//! Before version 3 component ids counted from 0 and a relay's nodes were aliases
//! (`metadata.consensusNodeIds: [node1]`); version 3 added 1 to every id. A consensus node's
//! component id is its node id + 1, so its alias (and our name) is `node<id>`.
//!
//! The rules of the import:
//! - every Solo cluster becomes a cluster ref of that name with its namespace;
//! - consensus nodes are `node<N>`; HAProxy and Envoy proxies `haproxy-node<N>` and
//!   `envoy-proxy-node<N>` in front of consensus node `node<N>` (Solo makes one of each per
//!   node, with the same id), else the node at the same place in the same cluster;
//!   mirror nodes `mirror-<id>`, explorers `explorer-<id>`, relays `relay-<id>` serving the nodes
//!   of their `consensusNodeIds` (every node of their cluster when the list is empty);
//! - kinds this schema lacks (block nodes, external block nodes, postgres, redis) are listed in
//!   [`SoloImport::not_imported`], never invented;
//! - Solo's command history is returned for the history archives;
//! - `metadata.migration.fromVersion` is `solo-remote-config/<schemaVersion>`.

use super::StateError;
use super::consensus::ConsensusNode;
use super::migrate::MigrationStamp;
use super::model::{
    ClusterRef, Component, Migration, ProxyComponent, RelayComponent, StateDocument,
};
use super::names::label_problem;
use super::parse::read_yaml;
use super::validate::{Problem, validate};
use serde_json::Value;
use std::collections::BTreeMap;

/// Name of Solo's ConfigMap in every cluster of a deployment.
pub const SOLO_REMOTE_CONFIGMAP: &str = "solo-remote-config";
/// The key of that ConfigMap that holds the YAML.
pub const SOLO_REMOTE_DATA_KEY: &str = "remote-config-data";
/// The label Solo puts on it, as a selector.
pub const SOLO_REMOTE_LABEL: (&str, &str) = ("solo.hedera.com/type", "remote-config");
/// The oldest schema version the import reads (0 had another shape; Solo migrates it).
pub const SOLO_REMOTE_OLDEST: u64 = 1;
/// The newest schema version the import reads.
pub const SOLO_REMOTE_NEWEST: u64 = 8;
/// Prefix of `metadata.migration.fromVersion` of imported documents.
pub const SOLO_REMOTE_FROM_PREFIX: &str = "solo-remote-config/";

/// Why a Solo remote config cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoloRemoteError {
    /// Not YAML, or not of the shape of Solo's schema.
    #[error("{0}")]
    Yaml(StateError),
    /// A field has the wrong type or is missing.
    #[error("{path}: {message}")]
    Shape {
        /// Where in the document.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A schema version this import does not know.
    #[error(
        "schema version {found} of Solo's remote config is not one this import reads ({SOLO_REMOTE_OLDEST} to {SOLO_REMOTE_NEWEST})"
    )]
    UnknownVersion {
        /// The `schemaVersion` found.
        found: String,
    },
    /// The deployment in the config is another one.
    #[error("the remote config is of deployment {found}, not {wanted}")]
    OtherDeployment {
        /// The deployment named in its clusters.
        found: String,
        /// The deployment asked for.
        wanted: String,
    },
    /// The state made from it breaks a rule of the state.
    #[error("the state made from it is not valid: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Every problem.
        problems: Vec<Problem>,
    },
}

/// One component of Solo's state: its id and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloComponent {
    /// The component id, counted from 1 (as Solo has done since schema 3).
    pub id: u64,
    /// Its cluster ref.
    pub cluster: String,
    /// Its namespace.
    pub namespace: String,
    /// Solo's phase (`requested`, `deployed`, `started`, ...), when written.
    pub phase: Option<String>,
}

/// A Solo cluster of the deployment, with the DNS facts Solo keeps (R13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloCluster {
    /// The cluster ref.
    pub name: String,
    /// The network's namespace in it.
    pub namespace: String,
    /// The deployment it belongs to.
    pub deployment: String,
    /// Its DNS base domain (`cluster.local`).
    pub dns_base_domain: String,
    /// The consensus node name pattern (`network-{nodeAlias}-svc.{namespace}.svc`).
    pub dns_consensus_node_pattern: String,
}

/// Solo's remote config, normalised to ids counted from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloRemoteConfig {
    /// Its `schemaVersion`.
    pub schema_version: u64,
    /// `metadata.lastUpdatedAt`, as written.
    pub last_updated_at: Option<String>,
    /// `metadata.lastUpdatedBy` as `name@hostname`.
    pub last_updated_by: Option<String>,
    /// Its clusters.
    pub clusters: Vec<SoloCluster>,
    /// Consensus nodes.
    pub consensus: Vec<SoloComponent>,
    /// HAProxies.
    pub haproxy: Vec<SoloComponent>,
    /// Envoy proxies.
    pub envoy: Vec<SoloComponent>,
    /// Mirror nodes.
    pub mirror: Vec<SoloComponent>,
    /// Explorers.
    pub explorer: Vec<SoloComponent>,
    /// Relays, with the node ids (from 0) they serve.
    pub relay: Vec<(SoloComponent, Vec<u64>)>,
    /// Kinds this tool's schema lacks, with how many of each (`blockNodes: 1`).
    pub other_kinds: BTreeMap<String, usize>,
    /// `history.commands`, oldest first.
    pub commands: Vec<String>,
}

/// A state made from Solo's remote config, with what it left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloImport {
    /// The new state, valid, in the current schema.
    pub document: StateDocument,
    /// Components of kinds this schema lacks, one line each (`1 block node(s) (blockNodes)`).
    pub not_imported: Vec<String>,
    /// Solo's command history, oldest first, for the history archives.
    pub commands: Vec<String>,
}

impl SoloRemoteConfig {
    /// The deployment its clusters name (Solo writes it on every cluster).
    pub fn deployment(&self) -> Option<&str> {
        self.clusters
            .iter()
            .map(|c| c.deployment.as_str())
            .find(|d| !d.is_empty())
    }

    /// How many components of this tool's kinds it holds.
    pub fn component_count(&self) -> usize {
        self.consensus.len()
            + self.haproxy.len()
            + self.envoy.len()
            + self.mirror.len()
            + self.explorer.len()
            + self.relay.len()
    }
}

/// Kinds of Solo's state that this schema has no place for, with their words.
const OTHER_KINDS: [(&str, &str); 4] = [
    ("blockNodes", "block node"),
    ("externalBlockNodes", "external block node"),
    ("postgres", "postgres"),
    ("redis", "redis"),
];

/// Parses the text of `remote-config-data`. The version is read first: an unknown one is
/// refused by name before anything else of the document is read.
pub fn parse_solo_remote(text: &str) -> Result<SoloRemoteConfig, SoloRemoteError> {
    let root: Value = read_yaml(text).map_err(SoloRemoteError::Yaml)?;
    let Value::Object(root) = root else {
        return Err(shape("the document", "is not a mapping of keys"));
    };
    let schema_version = match root.get("schemaVersion") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| SoloRemoteError::UnknownVersion { found: display(v) })?,
    };
    if !(SOLO_REMOTE_OLDEST..=SOLO_REMOTE_NEWEST).contains(&schema_version) {
        return Err(SoloRemoteError::UnknownVersion {
            found: schema_version.to_string(),
        });
    }
    let zero_based = schema_version < 3;
    let metadata = root.get("metadata");
    let by = metadata.and_then(|m| m.get("lastUpdatedBy"));
    let last_updated_by = match (
        by.and_then(|b| b.get("name")).and_then(Value::as_str),
        by.and_then(|b| b.get("hostname")).and_then(Value::as_str),
    ) {
        (Some(n), Some(h)) => Some(format!("{n}@{h}")),
        (Some(n), None) => Some(n.to_owned()),
        _ => None,
    };
    let mut config = SoloRemoteConfig {
        schema_version,
        last_updated_at: metadata.and_then(|m| m.get("lastUpdatedAt")).map(display),
        last_updated_by,
        clusters: Vec::new(),
        consensus: Vec::new(),
        haproxy: Vec::new(),
        envoy: Vec::new(),
        mirror: Vec::new(),
        explorer: Vec::new(),
        relay: Vec::new(),
        other_kinds: BTreeMap::new(),
        commands: Vec::new(),
    };
    for (i, c) in list(root.get("clusters"), "clusters")?.iter().enumerate() {
        let path = format!("clusters[{i}]");
        let text = |k: &str, default: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_owned()
        };
        config.clusters.push(SoloCluster {
            name: required(c, "name", &path)?,
            namespace: required(c, "namespace", &path)?,
            deployment: text("deployment", ""),
            dns_base_domain: text("dnsBaseDomain", "cluster.local"),
            dns_consensus_node_pattern: text(
                "dnsConsensusNodePattern",
                "network-{nodeAlias}-svc.{namespace}.svc",
            ),
        });
    }
    let empty = serde_json::Map::new();
    let state = match root.get("state") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(s)) => s,
        Some(_) => return Err(shape("state", "is not a mapping")),
    };
    let components = |key: &str| -> Result<Vec<(SoloComponent, &Value)>, SoloRemoteError> {
        list(state.get(key), &format!("state.{key}"))?
            .iter()
            .enumerate()
            .map(|(i, c)| component(c, &format!("state.{key}[{i}]"), zero_based).map(|s| (s, c)))
            .collect()
    };
    let only = |v: Vec<(SoloComponent, &Value)>| v.into_iter().map(|(c, _)| c).collect();
    config.consensus = only(components("consensusNodes")?);
    config.haproxy = only(components("haProxies")?);
    config.envoy = only(components("envoyProxies")?);
    config.mirror = only(components("mirrorNodes")?);
    config.explorer = only(components("explorers")?);
    for (i, (relay, raw)) in components("relayNodes")?.into_iter().enumerate() {
        let path = format!("state.relayNodes[{i}]");
        // Schema 3 moved the list out of `metadata` and from aliases to node ids.
        let ids = raw
            .get("consensusNodeIds")
            .or_else(|| raw.get("metadata").and_then(|m| m.get("consensusNodeIds")));
        let nodes = list(ids, &format!("{path}.consensusNodeIds"))?
            .iter()
            .map(|n| node_id(n, &format!("{path}.consensusNodeIds")))
            .collect::<Result<Vec<_>, _>>()?;
        config.relay.push((relay, nodes));
    }
    for (key, _) in OTHER_KINDS {
        let n = list(state.get(key), &format!("state.{key}"))?.len();
        if n > 0 {
            config.other_kinds.insert(key.to_owned(), n);
        }
    }
    let history = root.get("history");
    config.commands = list(history.and_then(|h| h.get("commands")), "history.commands")?
        .iter()
        .map(display)
        .collect();
    Ok(config)
}

/// Makes this tool's state of `deployment` from Solo's remote config. Consensus nodes get
/// Solo's numbering: node id = component id - 1, account `shard.realm.(3 + node id)` with the
/// deployment's `(shard, realm)` from Solo's local config (`(0, 0)` when unknown), and Solo's
/// ports; clusters keep Solo's DNS base domain and node name pattern (R13).
pub fn import_solo_remote(
    config: &SoloRemoteConfig,
    deployment: &str,
    shard_realm: (u64, u64),
    stamp: &MigrationStamp,
) -> Result<SoloImport, SoloRemoteError> {
    if let Some(found) = config.deployment()
        && found != deployment
    {
        return Err(SoloRemoteError::OtherDeployment {
            found: found.to_owned(),
            wanted: deployment.to_owned(),
        });
    }
    let mut doc = StateDocument::new(deployment, &stamp.by, stamp.at);
    doc.metadata.migration = Some(Migration {
        migrated_at: stamp.at,
        migrated_by: stamp.by.clone(),
        from_version: format!("{SOLO_REMOTE_FROM_PREFIX}{}", config.schema_version),
    });
    let mut clusters: Vec<ClusterRef> = config
        .clusters
        .iter()
        .map(|c| {
            let mut cluster = ClusterRef::new(&c.name, &c.namespace);
            cluster.dns_base_domain = c.dns_base_domain.clone();
            cluster.dns_consensus_node_pattern = c.dns_consensus_node_pattern.clone();
            cluster
        })
        .collect();
    clusters.sort();
    clusters.dedup();
    doc.clusters = clusters;

    let node = |id: u64| format!("node{id}");
    let place = |c: &SoloComponent, name: String| Component {
        name,
        cluster: c.cluster.clone(),
        namespace: c.namespace.clone(),
    };
    let mut consensus: Vec<&SoloComponent> = config.consensus.iter().collect();
    consensus.sort_by_key(|c| c.id);
    let (shard, realm) = shard_realm;
    doc.components.consensus = consensus
        .iter()
        .map(|c| {
            let node_id = c.id.saturating_sub(1);
            ConsensusNode::new(
                node(c.id),
                &c.cluster,
                &c.namespace,
                node_id,
                format!(
                    "{shard}.{realm}.{}",
                    super::consensus::FIRST_NODE_ACCOUNT + node_id
                ),
            )
        })
        .collect();
    // The node a proxy serves: the node of its id, else the one at its place in its cluster.
    let served = |proxies: &[SoloComponent], p: &SoloComponent| -> Option<String> {
        if consensus.iter().any(|c| c.id == p.id) {
            return Some(node(p.id));
        }
        let in_cluster = |c: &&&SoloComponent| c.cluster == p.cluster;
        let place = proxies
            .iter()
            .filter(|q| q.cluster == p.cluster && q.id < p.id)
            .count();
        consensus
            .iter()
            .filter(in_cluster)
            .nth(place)
            .or_else(|| consensus.iter().find(in_cluster))
            .map(|c| node(c.id))
    };
    let proxies = |list: &[SoloComponent], prefix: &str| -> Vec<ProxyComponent> {
        let mut sorted: Vec<&SoloComponent> = list.iter().collect();
        sorted.sort_by_key(|c| c.id);
        sorted
            .into_iter()
            .map(|p| ProxyComponent {
                name: format!("{prefix}-node{}", p.id),
                cluster: p.cluster.clone(),
                namespace: p.namespace.clone(),
                consensus_node: served(list, p).unwrap_or_default(),
            })
            .collect()
    };
    doc.components.haproxy = proxies(&config.haproxy, "haproxy");
    doc.components.envoy_proxy = proxies(&config.envoy, "envoy-proxy");
    let named = |list: &[SoloComponent], prefix: &str| -> Vec<Component> {
        let mut sorted: Vec<&SoloComponent> = list.iter().collect();
        sorted.sort_by_key(|c| c.id);
        sorted
            .into_iter()
            .map(|c| place(c, format!("{prefix}-{}", c.id)))
            .collect()
    };
    doc.components.mirror = named(&config.mirror, "mirror");
    doc.components.mirror_node_explorer = named(&config.explorer, "explorer");
    let mut relays: Vec<&(SoloComponent, Vec<u64>)> = config.relay.iter().collect();
    relays.sort_by_key(|(c, _)| c.id);
    doc.components.relay = relays
        .into_iter()
        .map(|(r, ids)| {
            let mut nodes: Vec<String> = ids.iter().map(|id| node(id + 1)).collect();
            if nodes.is_empty() {
                nodes = consensus
                    .iter()
                    .filter(|c| c.cluster == r.cluster)
                    .map(|c| node(c.id))
                    .collect();
            }
            nodes.dedup();
            RelayComponent {
                name: format!("relay-{}", r.id),
                cluster: r.cluster.clone(),
                namespace: r.namespace.clone(),
                consensus_nodes: nodes,
            }
        })
        .collect();

    validate(&doc).map_err(|problems| SoloRemoteError::Invalid { problems })?;
    let words: BTreeMap<&str, &str> = OTHER_KINDS.into_iter().collect();
    let not_imported = config
        .other_kinds
        .iter()
        .map(|(key, n)| {
            let word = words.get(key.as_str()).copied().unwrap_or(key.as_str());
            format!("{n} {word}{} ({key})", if *n == 1 { "" } else { "s" })
        })
        .collect();
    Ok(SoloImport {
        document: doc,
        not_imported,
        commands: config.commands.clone(),
    })
}

fn shape(path: &str, message: &str) -> SoloRemoteError {
    SoloRemoteError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list<'a>(v: Option<&'a Value>, path: &str) -> Result<&'a [Value], SoloRemoteError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(shape(path, "is not a list")),
    }
}

fn required(v: &Value, key: &str, path: &str) -> Result<String, SoloRemoteError> {
    let text = v
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| shape(&format!("{path}.{key}"), "is missing or not text"))?;
    if let Some(problem) = label_problem(text) {
        return Err(shape(&format!("{path}.{key}"), &problem));
    }
    Ok(text.to_owned())
}

fn component(v: &Value, path: &str, zero_based: bool) -> Result<SoloComponent, SoloRemoteError> {
    let metadata = v
        .get("metadata")
        .ok_or_else(|| shape(&format!("{path}.metadata"), "is missing"))?;
    let mpath = format!("{path}.metadata");
    let id = metadata
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| shape(&format!("{mpath}.id"), "is missing or not a whole number"))?;
    Ok(SoloComponent {
        id: if zero_based { id + 1 } else { id },
        cluster: required(metadata, "cluster", &mpath)?,
        namespace: required(metadata, "namespace", &mpath)?,
        phase: metadata
            .get("phase")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// A relay's node: a node id (from 0), or an alias `node<N>` (before schema 3).
fn node_id(v: &Value, path: &str) -> Result<u64, SoloRemoteError> {
    if let Some(id) = v.as_u64() {
        return Ok(id);
    }
    let alias = v.as_str().unwrap_or_default();
    let digits = alias.trim_start_matches(|c: char| !c.is_ascii_digit());
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n - 1),
        _ => Err(shape(
            path,
            &format!("{} is neither a node id nor a node alias", display(v)),
        )),
    }
}

/// One cluster's copy of Solo's remote config, as the out-of-sync table shows it (R12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloCopyRow {
    /// The cluster ref the copy was read from.
    pub cluster: String,
    /// Its schema version.
    pub schema_version: u64,
    /// When Solo last wrote it.
    pub last_updated_at: String,
    /// Who wrote it last.
    pub last_updated_by: String,
    /// Components of every kind this tool imports.
    pub components: usize,
    /// Commands in its history.
    pub commands: usize,
}

/// R12 for Solo's copies: Solo writes the same document to every cluster, so the copies must be
/// equal. `Err` has one row per copy, for the table that says where and how they differ.
pub fn compare_solo_copies(copies: &[(String, SoloRemoteConfig)]) -> Result<(), Vec<SoloCopyRow>> {
    let Some((_, first)) = copies.first() else {
        return Ok(());
    };
    if copies.iter().all(|(_, c)| c == first) {
        return Ok(());
    }
    Err(copies
        .iter()
        .map(|(cluster, c)| SoloCopyRow {
            cluster: cluster.clone(),
            schema_version: c.schema_version,
            last_updated_at: c.last_updated_at.clone().unwrap_or_else(|| "-".into()),
            last_updated_by: c.last_updated_by.clone().unwrap_or_else(|| "-".into()),
            components: c.component_count() + c.other_kinds.values().sum::<usize>(),
            commands: c.commands.len(),
        })
        .collect())
}
