//! The pure core of solo: no I/O, no async runtime.
//!
//! - [`state`]: the versioned state document of a deployment, its validation and its migrations.
//! - [`lock`]: the lock protocol (leases across clusters, earliest lock wins, fencing), driven
//!   through small traits so that Kubernetes and the simulation plug in the same way.
//! - [`network`]: the network's endpoints, `genesis-network.json`, the address book and
//!   `config.txt` (R13).

pub mod lock;
pub mod network;
pub mod state;
