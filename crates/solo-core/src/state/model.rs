//! The state document of the current schema version, as typed Rust values.
//!
//! Field order here is the order of the canonical YAML. Every struct refuses unknown fields, so
//! a typo (`consensusnode:`) is an error instead of a silently dropped line. Lists that may be
//! empty may also be left out when reading; they are always written, so that adding the first
//! entry is a one-line diff under an existing key.

use super::consensus::{
    ConsensusNode, Reachability, default_dns_base_domain, default_dns_consensus_node_pattern,
};
use super::version::{CURRENT, SchemaVersion};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One deployment's state: where every component of the network lives, so leases can cover it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StateDocument {
    /// Schema version of the document (not of the tool); always [`CURRENT`] once read.
    pub version: SchemaVersion,
    /// Name, last writer and last migration.
    pub metadata: Metadata,
    /// Every (cluster, namespace) the network uses; the lock is one Lease in each.
    #[serde(default)]
    pub clusters: Vec<ClusterRef>,
    /// The components, by kind.
    #[serde(default)]
    pub components: Components,
    /// What the command line keeps: the names of the history archives.
    #[serde(default)]
    pub cli: Cli,
}

/// Who the document is and who touched it last, for audit (R1) and migrations (R3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// The deployment's name, also the lock's name; never changes once set.
    pub name: String,
    /// When the document was last written.
    pub last_updated_at: Timestamp,
    /// Who wrote it last (an email address).
    pub last_updated_by: String,
    /// The last migration of the document's schema, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

/// The record a migration leaves in the document, so a reader can see where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Migration {
    /// When the migration ran.
    pub migrated_at: Timestamp,
    /// Who ran it (an email address).
    pub migrated_by: String,
    /// The version it migrated from: a schema version, or `legacy-solo.config/<version>`.
    pub from_version: String,
}

/// A cluster of the deployment, by the name its users map to a kube context (R11).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterRef {
    /// The cluster ref: a name inside the state, never a kube context name.
    pub name: String,
    /// The network's namespace in that cluster.
    pub namespace: String,
    /// The DNS base domain of the cluster (`cluster.local`), as in Solo.
    #[serde(default = "default_dns_base_domain")]
    pub dns_base_domain: String,
    /// The name of a consensus node before the base domain, with placeholders `{nodeAlias}`,
    /// `{nodeId}`, `{namespace}` and `{cluster}` (Solo's `${...}` form is read too).
    #[serde(default = "default_dns_consensus_node_pattern")]
    pub dns_consensus_node_pattern: String,
    /// How the other clusters reach the nodes of this one; left out, `loadBalancer` when the
    /// network spans more than one cluster and `flat` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachability: Option<Reachability>,
}

impl ClusterRef {
    /// A cluster ref with Solo's DNS defaults and automatic reachability.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        ClusterRef {
            name: name.into(),
            namespace: namespace.into(),
            dns_base_domain: default_dns_base_domain(),
            dns_consensus_node_pattern: default_dns_consensus_node_pattern(),
            reachability: None,
        }
    }
}

/// The components of the network, one list per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Components {
    /// Consensus nodes, with their ids, accounts and ports.
    #[serde(default)]
    pub consensus: Vec<ConsensusNode>,
    /// HAProxy in front of one consensus node each.
    #[serde(default)]
    pub haproxy: Vec<ProxyComponent>,
    /// Envoy proxies in front of one consensus node each.
    #[serde(default, rename = "envoyProxy")]
    pub envoy_proxy: Vec<ProxyComponent>,
    /// Mirror nodes.
    #[serde(default)]
    pub mirror: Vec<Component>,
    /// Mirror node explorers.
    #[serde(default, rename = "mirror-node-explorer")]
    pub mirror_node_explorer: Vec<Component>,
    /// JSON-RPC relays, each serving one or more consensus nodes.
    #[serde(default)]
    pub relay: Vec<RelayComponent>,
}

/// A component that only needs a place: mirror node, explorer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Component {
    /// Its name, unique among the components of its kind.
    pub name: String,
    /// The cluster ref it runs in; one of `clusters`.
    pub cluster: String,
    /// The namespace it runs in; listed with its cluster in `clusters`.
    pub namespace: String,
}

/// A proxy (HAProxy or Envoy) placed in front of one consensus node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyComponent {
    /// Its name, unique among the components of its kind.
    pub name: String,
    /// The cluster ref it runs in; one of `clusters`.
    pub cluster: String,
    /// The namespace it runs in; listed with its cluster in `clusters`.
    pub namespace: String,
    /// The consensus node it serves.
    pub consensus_node: String,
}

/// A JSON-RPC relay serving one or more consensus nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RelayComponent {
    /// Its name, unique among the relays.
    pub name: String,
    /// The cluster ref it runs in; one of `clusters`.
    pub cluster: String,
    /// The namespace it runs in; listed with its cluster in `clusters`.
    pub namespace: String,
    /// The consensus nodes it serves, at least one.
    pub consensus_nodes: Vec<String>,
}

/// What the command line keeps in the state: only pointers to history archives (R10).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cli {
    /// Names of the history archive objects, newest first (`<deployment>-history-NN`).
    #[serde(default)]
    pub history: Vec<String>,
}

/// The kinds of component, with the key each has under `components`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// `consensus`
    Consensus,
    /// `haproxy`
    Haproxy,
    /// `envoyProxy`
    EnvoyProxy,
    /// `mirror`
    Mirror,
    /// `mirror-node-explorer`
    MirrorNodeExplorer,
    /// `relay`
    Relay,
}

impl ComponentKind {
    /// Every kind, in document order.
    pub const ALL: [ComponentKind; 6] = [
        ComponentKind::Consensus,
        ComponentKind::Haproxy,
        ComponentKind::EnvoyProxy,
        ComponentKind::Mirror,
        ComponentKind::MirrorNodeExplorer,
        ComponentKind::Relay,
    ];

    /// The key of this kind under `components`, as written in YAML.
    pub fn key(self) -> &'static str {
        match self {
            ComponentKind::Consensus => "consensus",
            ComponentKind::Haproxy => "haproxy",
            ComponentKind::EnvoyProxy => "envoyProxy",
            ComponentKind::Mirror => "mirror",
            ComponentKind::MirrorNodeExplorer => "mirror-node-explorer",
            ComponentKind::Relay => "relay",
        }
    }
}

/// Where one component runs, whatever its kind: what the lock and the validation look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'a> {
    /// Its kind.
    pub kind: ComponentKind,
    /// Its index in the list of its kind.
    pub index: usize,
    /// Its name.
    pub name: &'a str,
    /// Its cluster ref.
    pub cluster: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
}

impl Components {
    /// Every component with its kind and place, in document order.
    pub fn placements(&self) -> impl Iterator<Item = Placement<'_>> {
        fn each<T: Placed>(kind: ComponentKind, list: &[T]) -> impl Iterator<Item = Placement<'_>> {
            list.iter().enumerate().map(move |(index, c)| {
                let (name, cluster, namespace) = c.place();
                Placement {
                    kind,
                    index,
                    name,
                    cluster,
                    namespace,
                }
            })
        }
        each(ComponentKind::Consensus, &self.consensus)
            .chain(each(ComponentKind::Haproxy, &self.haproxy))
            .chain(each(ComponentKind::EnvoyProxy, &self.envoy_proxy))
            .chain(each(ComponentKind::Mirror, &self.mirror))
            .chain(each(
                ComponentKind::MirrorNodeExplorer,
                &self.mirror_node_explorer,
            ))
            .chain(each(ComponentKind::Relay, &self.relay))
    }

    /// How many components there are, all kinds together.
    pub fn len(&self) -> usize {
        self.consensus.len()
            + self.haproxy.len()
            + self.envoy_proxy.len()
            + self.mirror.len()
            + self.mirror_node_explorer.len()
            + self.relay.len()
    }

    /// Whether there is no component at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl StateDocument {
    /// A new, empty document of the current version, for `deployment create` and the import.
    pub fn new(name: impl Into<String>, by: impl Into<String>, at: Timestamp) -> Self {
        StateDocument {
            version: CURRENT,
            metadata: Metadata {
                name: name.into(),
                last_updated_at: at,
                last_updated_by: by.into(),
                migration: None,
            },
            clusters: Vec::new(),
            components: Components::default(),
            cli: Cli::default(),
        }
    }

    /// The (cluster, namespace) pairs the lock must cover, sorted and without repeats.
    pub fn lock_set(&self) -> BTreeSet<(&str, &str)> {
        self.clusters
            .iter()
            .map(|c| (c.name.as_str(), c.namespace.as_str()))
            .collect()
    }
}

/// Name, cluster and namespace of any component, so kinds can be walked alike.
trait Placed {
    fn place(&self) -> (&str, &str, &str);
}

macro_rules! placed {
    ($($t:ty),*) => {$(
        impl Placed for $t {
            fn place(&self) -> (&str, &str, &str) {
                (&self.name, &self.cluster, &self.namespace)
            }
        }
    )*};
}
placed!(Component, ConsensusNode, ProxyComponent, RelayComponent);
