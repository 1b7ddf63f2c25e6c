//! The state document of a deployment (R3): typed model, validation, versions and migrations.
//!
//! A state document is the YAML of MISSION.md: `version`, `metadata`, `clusters`, `components`
//! by kind and `cli.history`. This module is pure: it turns bytes into a trusted document and a
//! document into canonical bytes, and never touches a file, a cluster or a clock.
//!
//! - [`parse`] reads bytes in the schema of their own version, within fixed limits (size,
//!   UTF-8, nesting; see [`MAX_DOCUMENT_BYTES`]); [`load`] also migrates them to the current
//!   version ([`migrate`]) and validates them ([`validate()`]), keeping the original text as a
//!   backup when a migration happened.
//! - Schema versions are `major.minor.patch` strings; every version ever written is in
//!   [`KNOWN_VERSIONS`], oldest first, and the chain of [`migrate::step`]s walks it. A version
//!   above [`CURRENT`] is refused as written by a newer solo.
//! - [`validate()`] reports every problem at once, each with its path.
//! - [`to_canonical_yaml`] prints the one canonical YAML of a document, the text people see,
//!   edit and diff; [`to_at_rest`] prints its canonical JSON, the text that is stored and hashed
//!   ([`content_hash`]), and [`parse_at_rest`] reads it back (or a YAML copy of an older solo).
//! - [`import_legacy`] turns the legacy `~/.solo/solo.config` into a document.
//! - Serial, lineage and fencing epoch are *not* in the document: they belong to each stored
//!   copy and live in the stored object's annotations ([`StoredMeta`]), so that the content hash
//!   covers the network alone and a hand edit of the YAML cannot forge them.

mod at_rest;
mod canonical;
pub mod consensus;
mod error;
mod legacy;
pub mod migrate;
mod model;
pub mod names;
pub mod older;
mod parse;
mod schema;
pub mod solo_remote;
mod stored;
pub mod sync;
mod validate;
mod version;

pub use at_rest::{parse_at_rest, to_at_rest};
pub use canonical::{to_canonical_yaml, to_json, versioned_to_yaml};
pub use consensus::{
    ConsensusNode, DEFAULT_DNS_BASE_DOMAIN, DEFAULT_DNS_CONSENSUS_NODE_PATTERN,
    DEFAULT_GOSSIP_PORT, DEFAULT_GRPC_PORT, DEFAULT_GRPC_TLS_PORT, Endpoint, EndpointSource,
    Reachability, RecordedEndpoints, parse_account_id,
};
pub use error::StateError;
pub use legacy::{DEFAULT_CLUSTER_REF, LEGACY_FROM_PREFIX, LegacyImport, import_legacy};
pub use migrate::{Migrated, MigrationStamp, VersionedDocument, migrate_to_current};
pub use model::{
    Cli, ClusterRef, Component, ComponentKind, Components, Metadata, Migration, Placement,
    ProxyComponent, RelayComponent, StateDocument,
};
pub use parse::{Loaded, MAX_DOCUMENT_BYTES, MAX_NESTING_DEPTH, Parsed, load, parse, read_yaml};
pub use schema::json_schema;
pub use stored::{
    EPOCH_ANNOTATION, HASH_ANNOTATION, LINEAGE_ANNOTATION, SCHEMA_ANNOTATION, SERIAL_ANNOTATION,
    StoredMeta, content_hash,
};
pub use sync::{CopyInfo, CopyRow, SyncStatus, classify, divergence_table};
pub use validate::{Problem, validate};
pub use version::{
    CURRENT, KNOWN_VERSIONS, KnownVersion, SchemaVersion, V1_0_32, V1_1_0, V2_0_0, V2_1_0,
    known_versions_list,
};
