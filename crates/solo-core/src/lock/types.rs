//! The records the lock protocol reads and writes: lease keys, stamps, holders and tickets.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::config::ConfigError;

/// One Lease of the lock: the lease of [`LockSet::lease_name`] in this (cluster, namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaseKey {
    /// The cluster ref of the state (`cluster-1`), not a kube context.
    pub cluster: String,
    /// The network's namespace in that cluster.
    pub namespace: String,
}

impl LeaseKey {
    /// A key from its two parts.
    pub fn new(cluster: impl Into<String>, namespace: impl Into<String>) -> Self {
        LeaseKey {
            cluster: cluster.into(),
            namespace: namespace.into(),
        }
    }
}

impl fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {} (namespace {})", self.cluster, self.namespace)
    }
}

/// The whole lock of one deployment: every (cluster, namespace) it uses, sorted and deduplicated,
/// so that every client claims the same leases and names them in the same order, and the one
/// of them where its waiters queue ([`Self::queue_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSet {
    deployment: String,
    named_after_namespace: bool,
    keys: Vec<LeaseKey>,
    /// Index in `keys` of the queue's namespace.
    queue: usize,
}

impl LockSet {
    /// The lock of `deployment` over `keys` (sorted and deduplicated here); never empty.
    pub fn new(
        deployment: impl Into<String>,
        keys: impl IntoIterator<Item = LeaseKey>,
    ) -> Result<Self, ConfigError> {
        let deployment = deployment.into();
        let mut keys: Vec<LeaseKey> = keys.into_iter().collect();
        keys.sort();
        keys.dedup();
        if deployment.is_empty() {
            return Err(ConfigError::EmptyDeploymentName);
        }
        if keys.is_empty() {
            return Err(ConfigError::EmptyLockSet { deployment });
        }
        Ok(LockSet {
            deployment,
            named_after_namespace: false,
            keys,
            queue: 0,
        })
    }

    /// The same lock with each Lease named after its own namespace instead of after the
    /// deployment: the CLI names them so, as the Solo tool names its own, so that each tool
    /// sees the other's lock. Per key, so that a set spanning two namespaces (a move) names
    /// each Lease as every other client of that namespace does.
    pub fn named_after_namespaces(mut self) -> Self {
        self.named_after_namespace = true;
        self
    }

    /// Whether the Leases are named after their namespace ([`Self::named_after_namespaces`]).
    pub fn is_named_after_namespaces(&self) -> bool {
        self.named_after_namespace
    }

    /// The deployment the lock protects, as the messages name it.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The name of the Lease at `key`: the deployment's, or its namespace's when
    /// [`Self::named_after_namespaces`].
    pub fn lease_name<'a>(&'a self, key: &'a LeaseKey) -> &'a str {
        if self.named_after_namespace {
            &key.namespace
        } else {
            &self.deployment
        }
    }

    /// The leases, sorted by (cluster, namespace).
    pub fn keys(&self) -> &[LeaseKey] {
        &self.keys
    }

    /// Where waiters put their ticket: one namespace of the set, the first unless the set is a
    /// change's union ([`Self::union`] keeps the queue of the set it extends), so that the
    /// requests of one lock meet in one queue. Tickets are read in every namespace all the same.
    pub fn queue_key(&self) -> &LeaseKey {
        &self.keys[self.queue]
    }

    /// The index of [`Self::queue_key`] in [`Self::keys`].
    pub fn queue_index(&self) -> usize {
        self.queue
    }

    /// The same set with its queue at `key` when the set has it.
    pub(super) fn queued_at(mut self, key: &LeaseKey) -> Self {
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            self.queue = i;
        }
        self
    }

    /// Whether both sets are the same Leases, named alike (wherever their queue is).
    pub fn same_leases(&self, other: &LockSet) -> bool {
        self.deployment == other.deployment
            && self.named_after_namespace == other.named_after_namespace
            && self.keys == other.keys
    }
}

/// When and under which id a request for the lock was made; the earlier stamp wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// Taken once, from the (server-corrected) wall clock, when the request starts.
    pub requested_at: Timestamp,
    /// Unique per request; breaks ties between equal times.
    pub request_id: String,
}

impl Stamp {
    /// The stamp as a borrowed sort key, for comparing without allocating.
    pub fn key(&self) -> (Timestamp, &str) {
        (self.requested_at, &self.request_id)
    }
}

/// Who asks for the lock: recorded on every lease (R1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's email.
    pub user: String,
    /// The machine the request runs on.
    pub host: String,
    /// The process that runs the request.
    pub pid: u32,
}

/// How far a holder has got, as the earlier protocol wrote it: this one writes every claim as
/// `Held` (a claim is straight to held), so that a client of the earlier protocol yields to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Claims leases but does not yet hold every one of them.
    Acquiring,
    /// Holds every lease of the set and has stamped a fencing epoch: always wins.
    Held,
}

/// Our holder record, stored as JSON in the Lease's `spec.holderIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// The user's email.
    pub user: String,
    /// The machine of the holding process.
    pub host: String,
    /// The holding process.
    pub pid: u32,
    /// The request this claim belongs to.
    pub request_id: String,
    /// The request's stamp time.
    pub requested_at: Timestamp,
    /// Claiming, or holding the whole lock.
    pub phase: Phase,
    /// The Kubernetes user the adapter authenticated as, for the audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated_as: Option<String>,
}

impl Holder {
    /// The stamp of the request this holder claims for.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            requested_at: self.requested_at,
            request_id: self.request_id.clone(),
        }
    }
    /// Its stamp as a borrowed sort key (see [`Stamp::key`]).
    pub fn stamp_key(&self) -> (Timestamp, &str) {
        (self.requested_at, &self.request_id)
    }
}

/// What a Lease's `holderIdentity` says: our JSON, or something another tool wrote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HolderField {
    /// Written by solo.
    Known(Holder),
    /// Written by kubectl or another tool: a live foreign holder until it expires.
    Opaque(String),
}

impl HolderField {
    /// Reads a `holderIdentity`; an empty one means no holder (as client-go treats it).
    pub fn parse(identity: &str) -> Option<HolderField> {
        if identity.is_empty() {
            return None;
        }
        Some(match serde_json::from_str::<Holder>(identity) {
            Ok(holder) => HolderField::Known(holder),
            Err(_) => HolderField::Opaque(identity.to_owned()),
        })
    }

    /// The `holderIdentity` string to store. Ours also carries `username` and `hostname`
    /// beside `pid`: the three fields the Solo tool's `LockHolder.fromJson` needs, so that Solo
    /// reads our lease as held by another user instead of failing on it.
    pub fn identity(&self) -> String {
        match self {
            HolderField::Known(holder) => {
                #[derive(Serialize)]
                struct ReadableBySolo<'a> {
                    #[serde(flatten)]
                    holder: &'a Holder,
                    username: &'a str,
                    hostname: &'a str,
                }
                let record = ReadableBySolo {
                    holder,
                    username: &holder.user,
                    hostname: &holder.host,
                };
                // Serialising a struct of strings, numbers and a timestamp cannot fail.
                serde_json::to_string(&record).unwrap_or_default()
            }
            HolderField::Opaque(identity) => identity.clone(),
        }
    }

    /// Who holds it, in words: `alice@example.com (laptop-7, pid 4242)`, `the Solo tool (user
    /// jdoe on laptop-7, pid 4242)`, or the identity another tool wrote.
    pub fn describe(&self) -> String {
        match self {
            HolderField::Known(h) => format!("{} ({}, pid {})", h.user, h.host, h.pid),
            HolderField::Opaque(identity) => {
                match super::solo_tool::SoloToolHolder::parse(identity) {
                    Some(solo) => solo.to_string(),
                    None => format!("{identity:?} (not written by solo)"),
                }
            }
        }
    }

    /// Our holder record, if solo wrote this one.
    pub fn known(&self) -> Option<&Holder> {
        match self {
            HolderField::Known(holder) => Some(holder),
            HolderField::Opaque(_) => None,
        }
    }

    /// Whether this is the claim of request `request_id`.
    pub fn is_request(&self, request_id: &str) -> bool {
        self.known().is_some_and(|h| h.request_id == request_id)
    }
}

/// One waiter's ticket: a small Lease of its own beside the lock's (`<lock>-w-<request>`), so
/// that waiters are visible (FIFO) and their heartbeats collide with nobody's writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiter {
    /// The request that waits.
    pub request_id: String,
    /// The request's stamp time: the queue order.
    pub requested_at: Timestamp,
    /// The user's email.
    pub user: String,
    /// The machine of the waiting process.
    pub host: String,
    /// The waiting process.
    pub pid: u32,
    /// Rewritten while the request waits (the ticket's `renewTime`); a ticket that stops
    /// changing for the waiter TTL is dead.
    pub heartbeat: Timestamp,
}

impl Waiter {
    /// The stamp of the waiting request.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            requested_at: self.requested_at,
            request_id: self.request_id.clone(),
        }
    }
    /// Its stamp as a borrowed sort key (see [`Stamp::key`]).
    pub fn stamp_key(&self) -> (Timestamp, &str) {
        (self.requested_at, &self.request_id)
    }
    /// The waiter as a holder record, to name it (its phase says nothing).
    pub fn as_holder(&self) -> Holder {
        Holder {
            user: self.user.clone(),
            host: self.host.clone(),
            pid: self.pid,
            request_id: self.request_id.clone(),
            requested_at: self.requested_at,
            phase: Phase::Acquiring,
            authenticated_as: None,
        }
    }
}

/// What the protocol needs of the lock's Lease (`coordination.k8s.io/v1`) in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `spec.holderIdentity`; `None` when free.
    pub holder: Option<HolderField>,
    /// `spec.leaseDurationSeconds`; zero when missing (see [`LeaseRecord::holder_duration`]).
    pub lease_duration: Duration,
    /// `spec.acquireTime`: when the current holder claimed it.
    pub acquire_time: Option<Timestamp>,
    /// `spec.renewTime`: when the current holder last renewed it.
    pub renew_time: Option<Timestamp>,
    /// `spec.leaseTransitions`: how many times the holder changed.
    pub transitions: u32,
    /// The fencing epoch of its last holder ([`EPOCH_MARK_ANNOTATION`]): written by each claim
    /// (one above the highest in the lock set) and kept on release, so the next holder's epoch
    /// comes from the Leases; a deployment's deletion leaves it too, so that a re-created
    /// deployment's epochs start above it. `None` on a Lease this protocol never held.
    pub epoch_mark: Option<Epoch>,
    /// Taken from a holder that did not release it ([`STAMP_NEEDED_ANNOTATION`]) since the
    /// state was last stamped: the next holder stamps its epoch into every copy before it goes.
    /// A release clears it.
    pub stamp_needed: bool,
}

/// The annotation the Kubernetes adapter keeps [`LeaseRecord::stamp_needed`] in (`"true"`).
pub const STAMP_NEEDED_ANNOTATION: &str = "solo.hiero.org/stamp-needed";

/// The annotation the Kubernetes adapter keeps [`LeaseRecord::epoch_mark`] in (decimal).
pub const EPOCH_MARK_ANNOTATION: &str = "solo.hiero.org/epoch-high-water";

/// How long a holder whose Lease has no `leaseDurationSeconds` (written by hand or by another
/// tool) is taken to hold it: timed from when we first saw its record, as any holder. Reading
/// a missing duration as zero would make it expired at once; this waits it out instead.
pub const UNKNOWN_LEASE_DURATION: Duration = Duration::from_secs(300);

impl LeaseRecord {
    /// A lease with no holder.
    pub fn free(lease_duration: Duration) -> Self {
        LeaseRecord {
            holder: None,
            lease_duration,
            acquire_time: None,
            renew_time: None,
            transitions: 0,
            epoch_mark: None,
            stamp_needed: false,
        }
    }

    /// How long its holder holds it unless renewed: `leaseDurationSeconds`, or
    /// [`UNKNOWN_LEASE_DURATION`] when that is missing (zero).
    pub fn holder_duration(&self) -> Duration {
        if self.lease_duration.is_zero() {
            UNKNOWN_LEASE_DURATION
        } else {
            self.lease_duration
        }
    }

    /// Raises [`epoch_mark`](Self::epoch_mark) to `epoch` (never lowers it): how a holder's
    /// epoch travels to the Lease, at every renewal and at the release.
    pub fn raise_epoch_mark(&mut self, epoch: Epoch) {
        self.epoch_mark = Some(self.epoch_mark.map_or(epoch, |m| m.max(epoch)));
    }

    /// Free after a clean release: no holder, not stamp-needed, and carrying its epoch. A claim
    /// of such a Lease needs no stamp (every write of the holders before had landed).
    pub fn released_clean(&self) -> bool {
        self.holder.is_none() && !self.stamp_needed && self.epoch_mark.is_some()
    }

    /// Whether request `request_id` holds this lease.
    pub fn held_by(&self, request_id: &str) -> bool {
        self.holder
            .as_ref()
            .is_some_and(|h| h.is_request(request_id))
    }
}

/// A value read from the API server with the `resourceVersion` to compare-and-swap against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The object as read.
    pub value: T,
    /// Its `metadata.resourceVersion`: opaque, only ever compared for equality by the server.
    pub resource_version: String,
}

/// A fencing epoch: strictly greater for every new holder; state writes carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
