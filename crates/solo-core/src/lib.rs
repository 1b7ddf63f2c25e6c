//! The pure core of solo: no I/O, no async runtime.
//!
//! - [`state`]: the versioned state document of a deployment, its validation and its migrations.
//! - [`lock`]: the lock protocol (leases across clusters, earliest lock wins, fencing), driven
//!   through small traits so that Kubernetes and the simulation plug in the same way.

pub mod lock;
pub mod state;
