//! solo's Kubernetes adapters around the pure core of `solo-core`.
//!
//! - [`clusters`]: one API client per cluster ref, from the user's kubeconfig and contexts.
//! - [`lease_store`]: the lock's [`LeaseStore`](solo_core::lock::LeaseStore) over
//!   `coordination.k8s.io/v1` Leases, with a ticket Lease per waiter.
//! - [`clock`]: wall time corrected against the API server, monotonic time that counts suspend.
//! - [`fence`]: the fencing epoch stamped into every copy of the state object.
//! - [`state_store`]: the state document in every cluster of a deployment, compared (R12) and
//!   written under the lock's fence.
//! - [`guard`]: `lock(...) -> LockGuard`: renews in the background, signals loss, releases.
//! - [`history`]: the command history (R10) in rotated archives beside the state.
//! - [`identity`]: who the API server authenticated (SelfSubjectReview), for the audit.
//! - [`teams`]: team access control, the RBAC objects of `solo team setup`.
//! - [`index`]: the public index of deployments and the team directory, readable by everyone.
//! - [`delete`]: `deployment delete`, fenced, keeping the epoch's high-water mark.
//! - [`request_log`]: every API request on stderr with `SOLO_LOG_REQUESTS` set, to count round trips.
//! - [`retry`]: the one retry policy: a timeout per request, busy answers retried with jitter.
//! - [`break_lock`]: `lease break --force`, audited with a Kubernetes Event per lease.
//! - [`endpoints`]: the network's Services, certificates and ServiceExports (R13).

pub mod break_lock;
pub mod clock;
pub mod clusters;
pub mod delete;
pub mod endpoints;
pub mod error;
pub mod fence;
pub mod guard;
pub mod history;
pub mod identity;
pub mod index;
pub mod lease_store;
pub mod namespaces;
pub mod request_log;
pub mod retry;
mod said;
pub mod solo_remote;
pub mod state_store;
pub mod teams;

pub use break_lock::break_lock_audited;
pub use clock::ServerClock;
pub use clusters::Clusters;
pub use error::store_error;
pub use fence::{FenceTarget, StateFence};
pub use guard::{LockGuard, LockRequest};
pub use history::{
    AppendOutcome, Gathered, History, HistoryEntry, HistoryError, HistoryStore, PreparedAppend,
};
pub use identity::{Authenticated, AuthenticatedUser};
pub use index::IndexEntry;
pub use lease_store::KubeLeaseStore;
pub use namespaces::{Ensured, ensure_namespace, namespace_exists};
pub use state_store::{
    Base, CopyError, DEFAULT_STATE_NAMESPACE, StateCopy, StateStore, StateStoreError, WriteOutcome,
    fence_targets, state_object_name,
};
pub use teams::{TeamSetup, team_state_namespace};
