//! The migration chain: every older schema version to the current one, one small step at a time.
//!
//! Each step is a pure function from one version's document to the next version's. It records
//! `metadata.migration` (who, when, and the version it started from) and changes nothing else:
//! `lastUpdatedAt`/`lastUpdatedBy` name the last *write*, which the store sets when it writes.
//! Running the chain in one go is exactly running its steps one after another, so a document
//! that an intermediate solo migrated and wrote ends the same as one migrated in one go: the
//! record names the last step. The version the original text had, and the text itself for the
//! store's backup, are in [`Migrated`].

use super::consensus::{ConsensusNode, FIRST_NODE_ACCOUNT};
use super::model::{ClusterRef, Metadata, Migration, RelayComponent, StateDocument};
use super::older::{v1_0_32, v1_1_0, v2_0_0};
use super::version::{CURRENT, SchemaVersion, V1_0_32, V1_1_0, V2_0_0, V2_1_0};
use jiff::Timestamp;

/// Who migrates and when; passed in because the core reads no clock and knows no user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStamp {
    /// The user (an email address).
    pub by: String,
    /// The time of the migration.
    pub at: Timestamp,
}

/// A document of any known schema version, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedDocument {
    /// Schema 1.0.32.
    V1_0_32(v1_0_32::Document),
    /// Schema 1.1.0.
    V1_1_0(v1_1_0::Document),
    /// Schema 2.0.0.
    V2_0_0(v2_0_0::Document),
    /// The current schema.
    Current(StateDocument),
}

impl VersionedDocument {
    /// The schema version of this document.
    pub fn version(&self) -> SchemaVersion {
        match self {
            VersionedDocument::V1_0_32(_) => V1_0_32,
            VersionedDocument::V1_1_0(_) => V1_1_0,
            VersionedDocument::V2_0_0(_) => V2_0_0,
            VersionedDocument::Current(_) => CURRENT,
        }
    }

    /// The metadata, which every version has in the same shape.
    pub fn metadata(&self) -> &Metadata {
        match self {
            VersionedDocument::V1_0_32(d) => &d.metadata,
            VersionedDocument::V1_1_0(d) => &d.metadata,
            VersionedDocument::V2_0_0(d) => &d.metadata,
            VersionedDocument::Current(d) => &d.metadata,
        }
    }

    /// Whether this is already the current version.
    pub fn is_current(&self) -> bool {
        matches!(self, VersionedDocument::Current(_))
    }
}

/// A document brought to the current version, with what the store needs to keep a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The document, in the current schema.
    pub document: StateDocument,
    /// The text as it was before migration, byte for byte, for the store to keep as a backup.
    pub backup_of_original: String,
    /// The schema version of the original text.
    pub from: SchemaVersion,
}

/// Migrate one version forward; the current version is returned unchanged.
pub fn step(doc: VersionedDocument, stamp: &MigrationStamp) -> VersionedDocument {
    match doc {
        VersionedDocument::V1_0_32(d) => VersionedDocument::V1_1_0(v1_0_32_to_v1_1_0(d, stamp)),
        VersionedDocument::V1_1_0(d) => VersionedDocument::V2_0_0(v1_1_0_to_v2_0_0(d, stamp)),
        VersionedDocument::V2_0_0(d) => VersionedDocument::Current(v2_0_0_to_v2_1_0(d, stamp)),
        current @ VersionedDocument::Current(_) => current,
    }
}

/// Migrate to the current version: the steps of the chain, one after another.
pub fn migrate_to_current(mut doc: VersionedDocument, stamp: &MigrationStamp) -> StateDocument {
    loop {
        doc = match doc {
            VersionedDocument::Current(d) => return d,
            older => step(older, stamp),
        };
    }
}

fn record(metadata: &mut Metadata, from: SchemaVersion, stamp: &MigrationStamp) {
    metadata.migration = Some(Migration {
        migrated_at: stamp.at,
        migrated_by: stamp.by.clone(),
        from_version: from.to_string(),
    });
}

/// 1.0.32 → 1.1.0: a relay's single `consensusNode` name becomes a one-name list.
fn v1_0_32_to_v1_1_0(d: v1_0_32::Document, stamp: &MigrationStamp) -> v1_1_0::Document {
    let mut metadata = d.metadata;
    record(&mut metadata, V1_0_32, stamp);
    let c = d.components;
    v1_1_0::Document {
        version: V1_1_0,
        metadata,
        clusters: d.clusters,
        components: v1_1_0::Components {
            consensus: c.consensus,
            haproxy: c.haproxy,
            envoy_proxy: c.envoy_proxy,
            mirror: c.mirror,
            mirror_node_explorer: c.mirror_node_explorer,
            relay: c
                .relay
                .into_iter()
                .map(|r| v1_1_0::Relay {
                    name: r.name,
                    cluster: r.cluster,
                    namespace: r.namespace,
                    consensus_node: r.consensus_node.into_vec(),
                })
                .collect(),
        },
        cli: d.cli,
    }
}

/// 1.1.0 → 2.0.0: a relay's list moves from `consensusNode` to `consensusNodes`.
fn v1_1_0_to_v2_0_0(d: v1_1_0::Document, stamp: &MigrationStamp) -> v2_0_0::Document {
    let mut metadata = d.metadata;
    record(&mut metadata, V1_1_0, stamp);
    let c = d.components;
    v2_0_0::Document {
        version: V2_0_0,
        metadata,
        clusters: d.clusters,
        components: v2_0_0::Components {
            consensus: c.consensus,
            haproxy: c.haproxy,
            envoy_proxy: c.envoy_proxy,
            mirror: c.mirror,
            mirror_node_explorer: c.mirror_node_explorer,
            relay: c
                .relay
                .into_iter()
                .map(|r| RelayComponent {
                    name: r.name,
                    cluster: r.cluster,
                    namespace: r.namespace,
                    consensus_nodes: r.consensus_node,
                })
                .collect(),
        },
        cli: d.cli,
    }
}

/// 2.0.0 → 2.1.0: clusters get Solo's DNS defaults and automatic reachability; consensus nodes
/// get node ids from 0 and accounts from `0.0.3` in list order (the order they were added),
/// and Solo's default ports.
fn v2_0_0_to_v2_1_0(d: v2_0_0::Document, stamp: &MigrationStamp) -> StateDocument {
    let mut metadata = d.metadata;
    record(&mut metadata, V2_0_0, stamp);
    let c = d.components;
    StateDocument {
        version: V2_1_0,
        metadata,
        clusters: d
            .clusters
            .into_iter()
            .map(|r| ClusterRef::new(r.name, r.namespace))
            .collect(),
        components: super::model::Components {
            consensus: c
                .consensus
                .into_iter()
                .zip(0u64..)
                .map(|(n, id)| {
                    let account = format!("0.0.{}", FIRST_NODE_ACCOUNT + id);
                    ConsensusNode::new(n.name, n.cluster, n.namespace, id, account)
                })
                .collect(),
            haproxy: c.haproxy,
            envoy_proxy: c.envoy_proxy,
            mirror: c.mirror,
            mirror_node_explorer: c.mirror_node_explorer,
            relay: c.relay,
        },
        cli: d.cli,
    }
}
