//! The network's endpoints and address book (R13), from the state and facts read from Services.
//!
//! Pure functions only: the Kubernetes adapter reads Services and Secrets into
//! [`resolve::ServiceFacts`] and [`keys::NodeCerts`], and the command line prints what these
//! functions return.
//! - [`pattern`]: a node's DNS name from `dnsConsensusNodePattern` and `dnsBaseDomain`;
//! - [`resolve`]: each node's gossip and gRPC endpoints from its Service, and drift;
//! - [`genesis`]: `genesis-network.json` in Solo's shape;
//! - [`address_book`]: the `NodeAddressBook` as plain values;
//! - [`config_txt`]: `config.txt` lines, for platforms up to v0.70;
//! - [`keys`]: the fields derived from a node's certificates.

pub mod address_book;
pub mod config_txt;
pub mod genesis;
pub mod keys;
pub mod pattern;
pub mod resolve;
