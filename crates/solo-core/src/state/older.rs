//! The documents of older schema versions, exactly as those versions wrote them.
//!
//! Only what changed is redefined here; the rest is shared with [`super::model`]. These types
//! exist to be read and migrated, never written by this solo.

use super::model::{Cli, Component, Metadata, ProxyComponent};
use super::version::SchemaVersion;
use serde::{Deserialize, Serialize};
use v2_0_0::ClusterRef;

/// Schema 1.0.32, the draft's document (section 5 of the reference design).
pub mod v1_0_32 {
    use super::*;
    use serde::Deserializer;
    use serde::de::{self, SeqAccess, Visitor};
    use std::fmt;

    /// A whole 1.0.32 document.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Document {
        /// Always 1.0.32.
        pub version: SchemaVersion,
        /// As in the current schema.
        pub metadata: Metadata,
        /// As in the current schema.
        #[serde(default)]
        pub clusters: Vec<ClusterRef>,
        /// The components; relays differ.
        #[serde(default)]
        pub components: Components,
        /// As in the current schema.
        #[serde(default)]
        pub cli: Cli,
    }

    /// The components of a 1.0.32 document.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Components {
        /// Consensus nodes.
        #[serde(default)]
        pub consensus: Vec<Component>,
        /// HAProxies.
        #[serde(default)]
        pub haproxy: Vec<ProxyComponent>,
        /// Envoy proxies.
        #[serde(default, rename = "envoyProxy")]
        pub envoy_proxy: Vec<ProxyComponent>,
        /// Mirror nodes.
        #[serde(default)]
        pub mirror: Vec<Component>,
        /// Explorers.
        #[serde(default, rename = "mirror-node-explorer")]
        pub mirror_node_explorer: Vec<Component>,
        /// Relays, whose `consensusNode` is one name or a list.
        #[serde(default)]
        pub relay: Vec<Relay>,
    }

    /// A 1.0.32 relay.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Relay {
        /// Its name.
        pub name: String,
        /// Its cluster ref.
        pub cluster: String,
        /// Its namespace.
        pub namespace: String,
        /// One node, or a list of them, under a singular key.
        pub consensus_node: OneOrMany,
    }

    /// A single name or a list of names: the draft allowed both under `consensusNode`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    #[serde(untagged)]
    pub enum OneOrMany {
        /// `consensusNode: node0`
        One(String),
        /// `consensusNode: [node0, node1]`
        Many(Vec<String>),
    }

    impl OneOrMany {
        /// The names, as a list.
        pub fn into_vec(self) -> Vec<String> {
            match self {
                OneOrMany::One(name) => vec![name],
                OneOrMany::Many(names) => names,
            }
        }
    }

    impl<'de> Deserialize<'de> for OneOrMany {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = OneOrMany;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a consensus node name or a list of names")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                    Ok(OneOrMany::One(v.to_string()))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany, E> {
                    Ok(OneOrMany::One(v.to_string()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany, E> {
                    Ok(OneOrMany::One(v.to_string()))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                    let mut names = Vec::new();
                    while let Some(name) = seq.next_element::<String>()? {
                        names.push(name);
                    }
                    Ok(OneOrMany::Many(names))
                }
            }
            d.deserialize_any(V)
        }
    }
}

/// Schema 1.1.0: a relay's `consensusNode` is always a list.
pub mod v1_1_0 {
    use super::*;

    /// A whole 1.1.0 document.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Document {
        /// Always 1.1.0.
        pub version: SchemaVersion,
        /// As in the current schema.
        pub metadata: Metadata,
        /// As in the current schema.
        #[serde(default)]
        pub clusters: Vec<ClusterRef>,
        /// The components; relays differ.
        #[serde(default)]
        pub components: Components,
        /// As in the current schema.
        #[serde(default)]
        pub cli: Cli,
    }

    /// The components of a 1.1.0 document.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Components {
        /// Consensus nodes.
        #[serde(default)]
        pub consensus: Vec<Component>,
        /// HAProxies.
        #[serde(default)]
        pub haproxy: Vec<ProxyComponent>,
        /// Envoy proxies.
        #[serde(default, rename = "envoyProxy")]
        pub envoy_proxy: Vec<ProxyComponent>,
        /// Mirror nodes.
        #[serde(default)]
        pub mirror: Vec<Component>,
        /// Explorers.
        #[serde(default, rename = "mirror-node-explorer")]
        pub mirror_node_explorer: Vec<Component>,
        /// Relays, whose `consensusNode` is a list.
        #[serde(default)]
        pub relay: Vec<Relay>,
    }

    /// A 1.1.0 relay.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Relay {
        /// Its name.
        pub name: String,
        /// Its cluster ref.
        pub cluster: String,
        /// Its namespace.
        pub namespace: String,
        /// The nodes it serves, under the draft's singular key.
        pub consensus_node: Vec<String>,
    }
}

/// Schema 2.0.0: clusters without DNS facts, consensus nodes without ids, accounts or ports.
pub mod v2_0_0 {
    use super::*;
    use crate::state::model::RelayComponent;

    /// A whole 2.0.0 document.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Document {
        /// Always 2.0.0.
        pub version: SchemaVersion,
        /// As in the current schema.
        pub metadata: Metadata,
        /// Clusters: a name and a namespace each.
        #[serde(default)]
        pub clusters: Vec<ClusterRef>,
        /// The components; consensus nodes differ.
        #[serde(default)]
        pub components: Components,
        /// As in the current schema.
        #[serde(default)]
        pub cli: Cli,
    }

    /// A cluster of a document before 2.1.0: a name and a namespace.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct ClusterRef {
        /// The cluster ref.
        pub name: String,
        /// The network's namespace in that cluster.
        pub namespace: String,
    }

    /// The components of a 2.0.0 document.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Components {
        /// Consensus nodes: a place each.
        #[serde(default)]
        pub consensus: Vec<Component>,
        /// HAProxies.
        #[serde(default)]
        pub haproxy: Vec<ProxyComponent>,
        /// Envoy proxies.
        #[serde(default, rename = "envoyProxy")]
        pub envoy_proxy: Vec<ProxyComponent>,
        /// Mirror nodes.
        #[serde(default)]
        pub mirror: Vec<Component>,
        /// Explorers.
        #[serde(default, rename = "mirror-node-explorer")]
        pub mirror_node_explorer: Vec<Component>,
        /// Relays, with `consensusNodes`.
        #[serde(default)]
        pub relay: Vec<RelayComponent>,
    }
}
