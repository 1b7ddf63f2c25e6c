//! The three things the protocol needs from the outside world: leases, clocks and a fence.
//!
//! The Kubernetes adapters implement them over kube-rs; the simulation implements them over a
//! simulated network. Every method returns a `Send` future so that an adapter can spawn it.

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;

use super::types::{Epoch, LeaseKey, LeaseRecord, LockSet, Versioned, Waiter};

/// Why a lease operation failed; the protocol adds the [`LeaseKey`] before it reaches a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// 409: the resourceVersion was stale, or the object already exists on create.
    #[error("the lease changed under us (conflict)")]
    Conflict,
    /// 404: the lease does not exist.
    #[error("the lease does not exist")]
    NotFound,
    /// 403: the user may not read or write leases there.
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// The cluster could not be reached.
    #[error("cluster unreachable: {message}")]
    Unavailable { message: String },
    /// The namespace of the lease does not exist (a create answered 404): retrying cannot fix it.
    #[error("the namespace {namespace} does not exist")]
    NamespaceMissing { namespace: String },
    /// 400 or 422: the API server will never accept this request as it is.
    #[error("invalid request: {message}")]
    Invalid { message: String },
    /// No answer within the request deadline ([`LockConfig::request_timeout`]); the request
    /// may still land, so the protocol reads again before it writes.
    ///
    /// [`LockConfig::request_timeout`]: super::LockConfig::request_timeout
    #[error("no answer within {after:?}")]
    Timeout { after: Duration },
    /// Anything else the API server said (treated as permanent: map 429 and 5xx to
    /// [`StoreError::Unavailable`]).
    #[error("{message}")]
    Other { message: String },
}

impl StoreError {
    /// Whether trying again later can help: unreachable, busy (429, 5xx) or timed out. A
    /// waiting contender backs off and keeps its place on these, and gives up at once with
    /// the cluster and namespace named on all others (never spins on them).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Timeout { .. }
        )
    }
}

/// A lock's Lease and its waiters' tickets in one namespace, as one LIST saw them (one
/// resourceVersion: a consistent snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockListing {
    /// The lock's Lease; `None` when it does not exist (or carries no lock label yet: an
    /// adapter lists by label, and a Lease written by an older client or another tool may lack
    /// it; the protocol then creates, meets the conflict, and reads).
    pub lease: Option<Versioned<LeaseRecord>>,
    /// Every ticket of the lock in this namespace, dead or alive.
    pub tickets: Vec<Versioned<Waiter>>,
    /// The list's resourceVersion: a watch of an object absent from it starts there.
    pub resource_version: String,
}

/// Compare-and-swap access to the lock's Lease named `name` in each (cluster, namespace), and
/// to its waiters' tickets (small Leases beside it, one per waiter, found by a label).
pub trait LeaseStore: Send + Sync {
    /// Reads the lease; `None` when it does not exist.
    fn get(
        &self,
        key: &LeaseKey,
        name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<LeaseRecord>>, StoreError>> + Send;

    /// Creates the lease; [`StoreError::Conflict`] when it already exists.
    fn create(
        &self,
        key: &LeaseKey,
        name: &str,
        record: LeaseRecord,
    ) -> impl Future<Output = Result<Versioned<LeaseRecord>, StoreError>> + Send;

    /// Replaces the lease if it is still at `resource_version`; [`StoreError::Conflict`] if not.
    fn replace(
        &self,
        key: &LeaseKey,
        name: &str,
        record: LeaseRecord,
        resource_version: &str,
    ) -> impl Future<Output = Result<Versioned<LeaseRecord>, StoreError>> + Send;

    /// Deletes the lease if it is still at `resource_version`; [`StoreError::Conflict`] if not.
    fn delete(
        &self,
        key: &LeaseKey,
        name: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Resolves at the first change of the lease after `since_resource_version`: the new record,
    /// or `None` when it was deleted.
    ///
    /// Start the watch from what you saw: the protocol passes the resourceVersion its decision
    /// was based on, and a change between that read and this call must still wake it. Resolving
    /// early with the current record is harmless (the protocol decides again), so an adapter that
    /// gets `410 Gone` may answer with a fresh read. Dropping the future cancels the wait; an
    /// adapter may keep the watch itself open for the next call on the same lease, as long as
    /// that call still sees every change after the version it passes.
    fn watch_change(
        &self,
        key: &LeaseKey,
        name: &str,
        since_resource_version: &str,
    ) -> impl Future<Output = Result<Option<Versioned<LeaseRecord>>, StoreError>> + Send;

    /// Lists the Lease `name` and every ticket of its waiters in the namespace of `key`, in one
    /// request (one resourceVersion).
    ///
    /// The protocol times what a listing shows from when this call returns, and bases every
    /// write on it at its resourceVersion: a stale listing only makes it wait longer or lose a
    /// compare-and-swap.
    fn list(
        &self,
        key: &LeaseKey,
        name: &str,
    ) -> impl Future<Output = Result<LockListing, StoreError>> + Send;

    /// Lists as [`list`](Self::list) does, at a revision no older than `resource_version`, the
    /// version of the Lease `name` that this caller's own write produced: the namespace as it
    /// was when that write landed, or later.
    ///
    /// An API server answers from its watch cache as soon as the cache has seen that write,
    /// where a consistent LIST may first wait for the cache to catch up with the store's newest
    /// revision (up to 100 ms when other resources are written). The protocol lists this way
    /// only right after a claim of its own, racing a consistent LIST sent beside the claim.
    fn list_since(
        &self,
        key: &LeaseKey,
        name: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<LockListing, StoreError>> + Send;

    /// Lists as [`list`](Self::list) does, at whatever revision the adapter can answer at once
    /// (a Kubernetes watch cache at `resourceVersion=0`): possibly older than what the caller
    /// saw before. A request's first look lists this way, since a consistent LIST may wait up
    /// to 100 ms for the watch cache, and a first look only decides whether to claim or queue:
    /// every write it leads to is a compare-and-swap at the listed version, every watch starts
    /// from it, and the round lists again beside its claims. The default is a consistent LIST.
    fn list_recent(
        &self,
        key: &LeaseKey,
        name: &str,
    ) -> impl Future<Output = Result<LockListing, StoreError>> + Send {
        self.list(key, name)
    }

    /// Whether [`list_since`](Self::list_since) of the lock `name` in the namespace of `key` is
    /// answered without a request of its own right now (from a watch the adapter keeps open).
    /// A round then lists after its claim, no older than it, instead of sending a consistent
    /// LIST beside it: the same listing the race of the two gives when the claim answers first.
    fn lists_since_locally(&self, _key: &LeaseKey, _name: &str) -> bool {
        false
    }

    /// The lock's Lease `name` in the namespace of `key` as this client last left it: the
    /// answer to its own release, remembered by the adapter from an earlier process (`None`
    /// when it remembers nothing there). A request's first look may take it instead of a LIST
    /// when it shows every Lease free after a clean release: the round then claims over those
    /// versions at once, and lists beside its claims as after any look that was not a
    /// consistent LIST. A memory that is out of date costs nothing but the lost race of its
    /// compare-and-swap; the adapter must make sure that a claim over a remembered version can
    /// succeed only on the very Lease it remembers (not one of another cluster that happens to
    /// be at the same version).
    fn remembered(&self, _key: &LeaseKey, _name: &str) -> Option<Versioned<LeaseRecord>> {
        None
    }

    /// Writes the ticket of `ticket.request_id` for the lock `name`: creates it when
    /// `resource_version` is `None` ([`StoreError::Conflict`] if it exists), else replaces it if
    /// still at that version (a heartbeat). `ttl` is stored for people reading it
    /// (`leaseDurationSeconds`); the protocol times tickets with its own waiter TTL.
    fn put_ticket(
        &self,
        key: &LeaseKey,
        name: &str,
        ticket: &Waiter,
        ttl: Duration,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<Versioned<Waiter>, StoreError>> + Send;

    /// Deletes the ticket of `request_id` for the lock `name`, only if still at
    /// `resource_version` when given ([`StoreError::Conflict`] if not: its owner is alive); a
    /// ticket already gone is not an error.
    fn delete_ticket(
        &self,
        key: &LeaseKey,
        name: &str,
        request_id: &str,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Resolves at the first change of the ticket of `request_id` after
    /// `since_resource_version`: the new ticket (a heartbeat), or `None` when it was deleted.
    /// The same contract as [`watch_change`](Self::watch_change): start from what you saw.
    fn watch_ticket(
        &self,
        key: &LeaseKey,
        name: &str,
        request_id: &str,
        since_resource_version: &str,
    ) -> impl Future<Output = Result<Option<Versioned<Waiter>>, StoreError>> + Send;
}

/// Time, injected so that the simulation controls it.
pub trait Clock: Send + Sync {
    /// Wall-clock time for stamps and records (the adapter corrects it by the API server's `Date`).
    fn wall_now(&self) -> Timestamp;

    /// Monotonic time since an arbitrary origin: expiry is judged on it, never on wall clocks.
    ///
    /// It must keep counting while the machine is suspended (Linux `CLOCK_BOOTTIME`; note that
    /// `std::time::Instant` is `CLOCK_MONOTONIC` and stops during suspend), or a laptop that
    /// wakes up believes its lease still valid; fencing would still refuse its writes.
    fn mono_now(&self) -> Duration;

    /// Resolves after `duration` of monotonic time.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// Why the fencing epoch could not be stamped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenceError {
    /// A copy of the fenced state could not be stamped: its cluster's refusal or failure.
    #[error("could not stamp the fencing epoch in cluster {cluster}: {source}")]
    Stamp { cluster: String, source: StoreError },
    /// Anything else.
    #[error("could not stamp the fencing epoch: {message}")]
    Other { message: String },
}

/// The fenced resource: a state write is accepted only with an epoch at least the stamped one,
/// and raises it to the writer's ([`admits`](super::fencing::admits), DESIGN.md step 7).
pub trait Fence: Send + Sync {
    /// Stamps an epoch into every copy of the fenced resource, strictly greater than any before
    /// it and than `floor`, and returns it; called by a new holder only when one of its Leases
    /// was taken from a holder that did not release it ([`LeaseRecord::stamp_needed`]), with
    /// `floor` one below the epoch its claims carry (so the result is at least that epoch).
    fn advance_epoch(
        &self,
        lock_set: &LockSet,
        floor: Epoch,
    ) -> impl Future<Output = Result<Epoch, FenceError>> + Send;
}
