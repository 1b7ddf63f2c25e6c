//! The lock's leases as `coordination.k8s.io/v1` Lease objects, one per (cluster, namespace).
//!
//! The holder is JSON in `spec.holderIdentity`. Each waiter has a ticket: a small Lease of its
//! own beside the lock's, named by [`ticket_name`], with the waiter as JSON in its
//! `holderIdentity`. The lock's Lease and its tickets carry the label [`LOCK_LABEL`], so that one
//! LIST returns them all at one resourceVersion. Every write is a compare-and-swap on
//! `resourceVersion`. A waiting request's looks and waits are answered from one watch of the
//! lock's label per namespace (`view`); where it cannot answer, watches of single objects are
//! kept open across wake-ups (`watch`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectList, ObjectMeta, Patch, PatchParams, PostParams,
    Preconditions, VersionMatch,
};
use serde::Serialize;
use solo_core::lock::{
    EPOCH_MARK_ANNOTATION, Epoch, HolderField, LeaseKey, LeaseRecord, LeaseStore, LockListing,
    STAMP_NEEDED_ANNOTATION, StoreError, Versioned, Waiter,
};

use crate::clusters::Clusters;
use crate::identity::Authenticated;
use crate::retry::{self, IntoStore};

mod memory;
mod names;
mod view;
mod watch;

pub(crate) use memory::Recalled;

use names::lock_selector;
pub use names::{LOCK_LABEL, is_dns_subdomain, is_label_value, lock_label_value, ticket_name};
use watch::AfterDeletion;

/// Connections a waiter opens to each cluster while it waits, for its handoff.
const HANDOFF_CONNECTIONS: usize = 2;

/// Label on every Lease solo writes, so that they can be listed.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "solo");

/// The annotation older versions kept the waiter queue in, inside the lock's Lease. Never
/// written now, ignored on read, and removed by every replace, so that old queues disappear.
pub const LEGACY_WAITERS_ANNOTATION: &str = "solo.hiero.org/lock-waiters";

/// The resourceVersion a LIST names to be answered from the watch cache as it is.
const ANY_VERSION: &str = "0";

/// One LIST of the lock `name`'s Lease and tickets by the lock's label.
async fn list_lock(
    api: &Api<Lease>,
    name: &str,
    since: Option<&str>,
) -> Result<LockListing, StoreError> {
    let mut params = ListParams::default().labels(&lock_selector(name));
    if let Some(version) = since {
        params = params.at(version).matching(VersionMatch::NotOlderThan);
    }
    let listed = retry::call(|| api.list(&params))
        .await
        .map_err(IntoStore::into_store)?;
    Ok(split_listing(name, listed))
}

/// A LIST of the lock's Leases in its own task. The protocol races two LISTs after a claim and
/// drops the slower: dropping a request in flight would close its HTTP/1.1 connection, and the
/// next request would pay a TLS handshake. In a task, the slower one finishes in the background
/// and its connection goes back to the pool.
async fn list_in_task(
    api: Api<Lease>,
    name: String,
    since: Option<String>,
) -> Result<LockListing, StoreError> {
    tokio::spawn(async move { list_lock(&api, &name, since.as_deref()).await })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Unavailable {
                message: format!("the LIST task ended: {e}"),
            })
        })
}

/// A LIST made before the lock asked for it ([`KubeLeaseStore::list_early`]).
pub type EarlyListing = Shared<BoxFuture<'static, Result<LockListing, StoreError>>>;

/// Leases in real clusters, through one client per cluster ref.
#[derive(Clone)]
pub struct KubeLeaseStore {
    clusters: Clusters,
    audit: Option<(Authenticated, String)>,
    pending: Pending,
    watches: watch::Watches,
    views: view::Views,
    /// The clusters whose connection pool was filled for a handoff ([`Self::watch_change`]).
    warmed: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

/// The updates of leases that have not succeeded (still in flight, or failed), by lease: what a
/// holder names when its lock is lost for want of a renewal.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<BTreeMap<LeaseKey, String>>>);

impl Pending {
    fn set(&self, key: &LeaseKey, what: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match what {
            Some(what) => map.insert(key.clone(), what),
            None => map.remove(key),
        };
    }

    /// `cluster/namespace: what` for every lease whose last update has not succeeded.
    pub fn describe(&self) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!map.is_empty()).then(|| {
            map.iter()
                .map(|(k, what)| format!("{k}: {what}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl KubeLeaseStore {
    /// A store over these clusters' clients.
    pub fn new(clusters: Clusters) -> Self {
        KubeLeaseStore {
            clusters,
            audit: None,
            pending: Pending::default(),
            watches: watch::Watches::default(),
            views: view::Views::default(),
            warmed: Arc::default(),
        }
    }

    /// Starts the LIST of the lock `name` in the namespace of `key` now, before the lock is
    /// taken (beside a command's first read, whose connection set-up it shares), and keeps it
    /// for the first [`list_recent`](LeaseStore::list_recent) of that lock in these
    /// [`Clusters`]: the lock's first look then costs no round trip of its own.
    ///
    /// This is safe for the protocol: it times what a listing showed from when `list_recent`
    /// returns, which is after this LIST answered (a later observation only waits longer), and
    /// every write it bases on the listing is a compare-and-swap at the listed resourceVersion,
    /// which fails if anything changed since. A listing is used once; the next look lists again.
    pub fn list_early(&self, key: &LeaseKey, name: &str) {
        // The future holds the client only, not these `Clusters`, which keep it.
        let api = self.api(key);
        let n = name.to_owned();
        let listing: EarlyListing = async move { list_lock(&api?, &n, Some(ANY_VERSION)).await }
            .boxed()
            .shared();
        // Spawned so that it runs while the caller awaits other things.
        tokio::spawn(listing.clone());
        self.early_listings()
            .insert((key.clone(), name.to_owned()), listing);
    }

    /// Whoever watches a Lease waits for it to be released, then claims it and lists its
    /// namespace at once, and reads the state beside: over HTTP/1.1 that takes idle
    /// connections beside the watch's own, and a new one would cost a TLS handshake, a round
    /// trip more, right in the handoff. So they are opened when it starts to wait for the
    /// Lease (the head of the queue: its turn is near), once per cluster.
    fn open_connections_for_handoff(&self, key: &LeaseKey) {
        let first = self
            .warmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.cluster.clone());
        if first {
            let (clusters, cluster) = (self.clusters.clone(), key.cluster.clone());
            tokio::spawn(async move {
                clusters
                    .open_connections(&cluster, HANDOFF_CONNECTIONS)
                    .await
            });
        }
    }

    /// The early LISTs not used yet, kept in these [`Clusters`].
    fn early_listings(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<(LeaseKey, String), EarlyListing>> {
        self.clusters
            .asked
            .early_listings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The lease updates of this store that have not succeeded (shared with its clones).
    pub fn pending(&self) -> Pending {
        self.pending.clone()
    }

    /// The same store, writing into the holder record of request `request_id` the user each
    /// cluster authenticated (a SelfSubjectReview, asked once per cluster), for the audit.
    pub fn recording_authenticated(mut self, request_id: &str) -> Self {
        self.audit = Some((
            Authenticated::new(self.clusters.clone()),
            request_id.to_owned(),
        ));
        self
    }

    async fn audited(&self, key: &LeaseKey, mut record: LeaseRecord) -> LeaseRecord {
        if let Some((users, request_id)) = &self.audit
            && let Some(HolderField::Known(holder)) = &mut record.holder
            && holder.request_id == *request_id
        {
            holder.authenticated_as = users.username(&key.cluster).await;
        }
        record
    }

    fn api(&self, key: &LeaseKey) -> Result<Api<Lease>, StoreError> {
        let client = self
            .clusters
            .client(&key.cluster)
            .map_err(|e| StoreError::Other {
                message: e.to_string(),
            })?;
        Ok(Api::namespaced(client.clone(), &key.namespace))
    }
}

/// The labels of every Lease of the lock `lock` (its own and its tickets').
fn lock_labels(lock: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned()),
        (LOCK_LABEL.to_owned(), lock_label_value(lock)),
    ])
}

/// `leaseDurationSeconds` of a duration: whole seconds rounded up, at least one.
fn whole_seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs() + u64::from(duration.subsec_nanos() > 0))
        .unwrap_or(i32::MAX)
        .max(1)
}

/// The `holderIdentity` of a Lease we released. Releases keep the Lease (its epoch lives
/// there), and the Solo tool refuses a Lease whose holder it cannot parse, so a free Lease reads,
/// for Solo, as an expired holder ([`RELEASED_AT`]) that it takes over; for us it is free.
pub const RELEASED_IDENTITY: &str =
    r#"{"username":"released","hostname":"released","pid":1,"released":true}"#;

/// The renew time of a Lease we released (the Unix epoch): long expired for anyone who looks.
pub const RELEASED_AT: jiff::Timestamp = jiff::Timestamp::UNIX_EPOCH;

/// Whether a `holderIdentity` is [`RELEASED_IDENTITY`] (by its `released` field).
fn is_released(identity: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(identity)
        .is_ok_and(|v| v.get("released") == Some(&serde_json::Value::Bool(true)))
}

/// The Lease object that stores `record` (without a resourceVersion).
pub fn to_lease(name: &str, record: &LeaseRecord) -> Lease {
    let mut annotations = BTreeMap::new();
    if let Some(mark) = record.epoch_mark {
        annotations.insert(EPOCH_MARK_ANNOTATION.to_owned(), mark.0.to_string());
    }
    if record.stamp_needed {
        annotations.insert(STAMP_NEEDED_ANNOTATION.to_owned(), "true".to_owned());
    }
    // A missing duration (a foreign holder's) stays missing: see `UNKNOWN_LEASE_DURATION`.
    let seconds = (!record.lease_duration.is_zero()).then(|| whole_seconds(record.lease_duration));
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(lock_labels(name)),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: Some(match &record.holder {
            Some(holder) => LeaseSpec {
                holder_identity: Some(holder.identity()),
                lease_duration_seconds: seconds,
                acquire_time: record.acquire_time.map(MicroTime),
                renew_time: record.renew_time.map(MicroTime),
                lease_transitions: Some(record.transitions as i32),
                ..Default::default()
            },
            None => LeaseSpec {
                holder_identity: Some(RELEASED_IDENTITY.to_owned()),
                lease_duration_seconds: seconds,
                acquire_time: Some(MicroTime(RELEASED_AT)),
                renew_time: Some(MicroTime(RELEASED_AT)),
                lease_transitions: Some(record.transitions as i32),
                ..Default::default()
            },
        }),
    }
}

/// The Lease as the Solo tool reads it: its `holderIdentity` and times as stored (ours is
/// [`RELEASED_IDENTITY`] once released), for [`solo_sees_held`](solo_core::lock::solo_sees_held).
pub fn as_solo_reads(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseRecord {
        holder: spec.holder_identity.as_deref().and_then(HolderField::parse),
        acquire_time: spec.acquire_time.map(|t| t.0),
        renew_time: spec.renew_time.map(|t| t.0),
        ..from_lease(lease).value
    }
}

/// Reads a lock's Lease, whoever wrote it: an unknown holderIdentity is kept opaque, and the
/// waiter queue of older versions is ignored (the tickets are the queue).
pub fn from_lease(lease: &Lease) -> Versioned<LeaseRecord> {
    let spec = lease.spec.clone().unwrap_or_default();
    let annotation = |key: &str| lease.metadata.annotations.as_ref().and_then(|a| a.get(key));
    // Released by us: free (its times are the marker's, not a holder's).
    let released = spec.holder_identity.as_deref().is_some_and(is_released);
    let record = LeaseRecord {
        holder: spec
            .holder_identity
            .as_deref()
            .filter(|_| !released)
            .and_then(HolderField::parse),
        lease_duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64),
        acquire_time: spec.acquire_time.map(|t| t.0).filter(|_| !released),
        renew_time: spec.renew_time.map(|t| t.0).filter(|_| !released),
        transitions: spec.lease_transitions.unwrap_or(0).max(0) as u32,
        epoch_mark: annotation(EPOCH_MARK_ANNOTATION)
            .and_then(|v| v.parse().ok())
            .map(Epoch),
        stamp_needed: annotation(STAMP_NEEDED_ANNOTATION).is_some_and(|v| v == "true"),
    };
    Versioned {
        value: record,
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// The merge patch that turns the stored Lease into `lease`: every spec field we own is set, or
/// nulled when absent; our annotations are set or removed (and an older version's waiter queue
/// removed); our labels are added, so that a Lease made before them, or by another tool, is
/// listed from then on. `resourceVersion` makes the server refuse it (409) when the Lease
/// changed since we read it; a `uid`, when `lease` has one, when it is another Lease (422: the
/// UID cannot change).
pub fn replace_patch(lease: &Lease, resource_version: &str) -> serde_json::Value {
    let spec = lease.spec.clone().unwrap_or_default();
    let annotation = |key: &str| {
        lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
    };
    let mut patch = serde_json::json!({
        "metadata": {
            "resourceVersion": resource_version,
            "labels": lease.metadata.labels,
            "annotations": {
                EPOCH_MARK_ANNOTATION: annotation(EPOCH_MARK_ANNOTATION),
                STAMP_NEEDED_ANNOTATION: annotation(STAMP_NEEDED_ANNOTATION),
                LEGACY_WAITERS_ANNOTATION: null,
            },
        },
        "spec": {
            "holderIdentity": spec.holder_identity,
            "leaseDurationSeconds": spec.lease_duration_seconds,
            "acquireTime": spec.acquire_time,
            "renewTime": spec.renew_time,
            "leaseTransitions": spec.lease_transitions,
        },
    });
    if let Some(uid) = &lease.metadata.uid {
        patch["metadata"]["uid"] = serde_json::Value::String(uid.clone());
    }
    patch
}

/// The ticket Lease of `ticket` waiting for the lock `lock` (without a resourceVersion): the
/// waiter as JSON in `holderIdentity` (with `username` and `hostname` too, which the Solo tool
/// reads a holder by), `ttl` as `leaseDurationSeconds`, the heartbeat as `renewTime` and the
/// request's time as `acquireTime`.
pub fn ticket_lease(lock: &str, ticket: &Waiter, ttl: Duration) -> Lease {
    #[derive(Serialize)]
    struct ReadableBySolo<'a> {
        #[serde(flatten)]
        waiter: &'a Waiter,
        username: &'a str,
        hostname: &'a str,
    }
    let identity = ReadableBySolo {
        waiter: ticket,
        username: &ticket.user,
        hostname: &ticket.host,
    };
    Lease {
        metadata: ObjectMeta {
            name: Some(ticket_name(lock, &ticket.request_id)),
            labels: Some(lock_labels(lock)),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            // Serialising strings, a number and timestamps cannot fail.
            holder_identity: Some(serde_json::to_string(&identity).unwrap_or_default()),
            lease_duration_seconds: Some(whole_seconds(ttl)),
            acquire_time: Some(MicroTime(ticket.requested_at)),
            renew_time: Some(MicroTime(ticket.heartbeat)),
            ..Default::default()
        }),
    }
}

/// Reads a ticket of the lock `lock`; `None` when the Lease is not one (its holderIdentity is
/// not a waiter's, or it is not named as the ticket of that waiter).
pub fn from_ticket(lock: &str, lease: &Lease) -> Option<Versioned<Waiter>> {
    let identity = lease.spec.as_ref()?.holder_identity.as_deref()?;
    let waiter: Waiter = serde_json::from_str(identity).ok()?;
    let name = lease.metadata.name.as_deref()?;
    (name == ticket_name(lock, &waiter.request_id)).then(|| Versioned {
        value: waiter,
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    })
}

/// Splits a LIST by the lock label of `lock` into the lock's Lease and its tickets (oldest stamp
/// first); a labelled Lease that is neither is skipped with a warning.
pub fn split_listing(lock: &str, listed: ObjectList<Lease>) -> LockListing {
    let mut lease = None;
    let mut tickets = Vec::new();
    for item in &listed.items {
        let name = item.metadata.name.as_deref().unwrap_or_default();
        if name == lock {
            lease = Some(from_lease(item));
        } else if let Some(ticket) = from_ticket(lock, item) {
            tickets.push(ticket);
        } else {
            tracing::warn!(
                "ignoring the Lease {name:?}: labelled as of the lock {lock:?}, but not its ticket"
            );
        }
    }
    let version = listed.metadata.resource_version.unwrap_or_default();
    queue_listing(lease, tickets, version)
}

/// The listing of a lock's Lease and tickets at `resource_version`, its tickets in queue order
/// (oldest stamp first), as every listing of the store gives them.
fn queue_listing(
    lease: Option<Versioned<LeaseRecord>>,
    mut tickets: Vec<Versioned<Waiter>>,
    resource_version: String,
) -> LockListing {
    tickets.sort_by(|a, b| a.value.stamp_key().cmp(&b.value.stamp_key()));
    LockListing {
        lease,
        tickets,
        resource_version,
    }
}

/// A create's 404 means that the namespace is missing: retrying cannot fix that (the protocol
/// would read "absent" and create again).
fn create_error(key: &LeaseKey, e: StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NamespaceMissing {
            namespace: key.namespace.clone(),
        },
        other => other,
    }
}

impl KubeLeaseStore {
    /// A merge patch of the Lease `name` into `lease` at `resource_version` (see
    /// [`replace_patch`]).
    async fn patch(
        &self,
        key: &LeaseKey,
        api: &Api<Lease>,
        name: &str,
        lease: &Lease,
        resource_version: &str,
    ) -> Result<Lease, StoreError> {
        let patch = replace_patch(lease, resource_version);
        let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
        retry::call(|| api.patch(name, &params, &merge))
            .await
            .map_err(|e| match e {
                // The Lease may still be listed (nothing deletes the objects of a deleted
                // namespace without its controller), but no write can land: retrying cannot help.
                retry::CallError::Kube(kube::Error::Api(status))
                    if crate::error::namespace_missing(&status) =>
                {
                    StoreError::NamespaceMissing {
                        namespace: key.namespace.clone(),
                    }
                }
                other => other.into_store(),
            })
    }

    /// Reads the ticket of `request_id`; `None` when absent (or no longer a ticket).
    async fn get_ticket(
        &self,
        api: &Api<Lease>,
        lock: &str,
        request_id: &str,
    ) -> Result<Option<Versioned<Waiter>>, StoreError> {
        let name = ticket_name(lock, request_id);
        let lease = retry::call(|| api.get_opt(&name))
            .await
            .map_err(IntoStore::into_store)?;
        Ok(lease.as_ref().and_then(|l| from_ticket(lock, l)))
    }
}

impl LeaseStore for KubeLeaseStore {
    async fn get(
        &self,
        key: &LeaseKey,
        name: &str,
    ) -> Result<Option<Versioned<LeaseRecord>>, StoreError> {
        let api = self.api(key)?;
        let lease = retry::call(|| api.get_opt(name))
            .await
            .map_err(IntoStore::into_store)?;
        Ok(lease.as_ref().map(from_lease))
    }

    async fn create(
        &self,
        key: &LeaseKey,
        name: &str,
        record: LeaseRecord,
    ) -> Result<Versioned<LeaseRecord>, StoreError> {
        let api = self.api(key)?;
        let record = self.audited(key, record).await;
        let lease = to_lease(name, &record);
        let post = PostParams::default();
        let created = retry::call(|| api.create(&post, &lease))
            .await
            .map_err(|e| create_error(key, e.into_store()))?;
        Ok(from_lease(&created))
    }

    /// A JSON merge patch that carries `metadata.resourceVersion`, not a PUT: the API server
    /// lets a PUT re-create a Lease that was deleted (Leases allow create-on-update), whatever
    /// resourceVersion it names, so a stale holder would resurrect its claim. A patch never
    /// creates: 404 if the lease is gone, 409 if it changed.
    async fn replace(
        &self,
        key: &LeaseKey,
        name: &str,
        record: LeaseRecord,
        resource_version: &str,
    ) -> Result<Versioned<LeaseRecord>, StoreError> {
        let api = self.api(key)?;
        let record = self.audited(key, record).await;
        let mut lease = to_lease(name, &record);
        // A claim over a remembered Lease names its UID: the API server refuses to change it.
        lease.metadata.uid = self
            .clusters
            .asked
            .recalled
            .uid_for(key, name, resource_version);
        self.pending.set(key, Some("no answer yet".to_owned()));
        let replaced = match self.patch(key, &api, name, &lease, resource_version).await {
            // Another Lease at the version remembered (a re-created cluster): not ours to claim.
            // The server refuses the UID as invalid (422); the protocol then looks again, and
            // claims without a memory.
            Err(StoreError::Invalid { .. } | StoreError::Other { .. })
                if lease.metadata.uid.is_some() =>
            {
                Err(StoreError::Conflict)
            }
            replaced => replaced,
        };
        self.pending
            .set(key, replaced.as_ref().err().map(ToString::to_string));
        let replaced = replaced?;
        if let Some((dir, server)) = self.clusters.memory(&key.cluster) {
            let recalled = &self.clusters.asked.recalled;
            // A holder that waited still follows the lock: who queued since its claim.
            if let Some(now) = self.views.current(key, name) {
                recalled.saw(key, name, &now);
            }
            if record.holder.is_none() && !recalled.waited(key, name) {
                memory::remember(&dir, server, &key.namespace, name, &replaced);
                recalled.keep(key, name, replaced.clone());
            } else {
                memory::forget(&dir, server, &key.namespace, name);
            }
        }
        Ok(from_lease(&replaced))
    }

    /// The Lease as the last release made on this machine left it (see `memory`), read from
    /// its file once per process.
    fn remembered(&self, key: &LeaseKey, name: &str) -> Option<Versioned<LeaseRecord>> {
        let recalled = &self.clusters.asked.recalled;
        if let Some(lease) = recalled.get(key, name) {
            return Some(from_lease(&lease));
        }
        let (dir, server) = self.clusters.memory(&key.cluster)?;
        let lease = memory::recall(&dir, server, &key.namespace, name)?;
        let seen = from_lease(&lease);
        recalled.keep(key, name, lease);
        Some(seen)
    }

    async fn delete(
        &self,
        key: &LeaseKey,
        name: &str,
        resource_version: &str,
    ) -> Result<(), StoreError> {
        let api = self.api(key)?;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: Some(resource_version.to_owned()),
                uid: None,
            }),
            ..Default::default()
        };
        retry::call(|| api.delete(name, &params))
            .await
            .map_err(IntoStore::into_store)?;
        if let Some((dir, server)) = self.clusters.memory(&key.cluster) {
            memory::forget(&dir, server, &key.namespace, name);
        }
        Ok(())
    }

    async fn watch_change(
        &self,
        key: &LeaseKey,
        name: &str,
        since_resource_version: &str,
    ) -> Result<Option<Versioned<LeaseRecord>>, StoreError> {
        let api = self.api(key)?;
        self.open_connections_for_handoff(key);
        if let Some(change) = self
            .views
            .lease_after(&api, key, name, since_resource_version)
            .await
        {
            return Ok(change);
        }
        let change = self
            .watches
            .change_after(&api, key, name, since_resource_version, AfterDeletion::Keep)
            .await?;
        match change {
            Some(lease) => Ok(lease.as_ref().map(from_lease)),
            // `410 Gone`: a fresh read is a change as far as the protocol cares (it decides again).
            None => self.get(key, name).await,
        }
    }

    /// One LIST by the lock's label (see [`split_listing`]). A lock's Lease written before the
    /// label (or by another tool) is not in it until our first replace labels it. The
    /// namespace's view takes it in (its seed, should the request wait).
    async fn list(&self, key: &LeaseKey, name: &str) -> Result<LockListing, StoreError> {
        let listing = list_in_task(self.api(key)?, name.to_owned(), None).await?;
        self.views.take_listing(key, name, &listing);
        self.clusters.asked.recalled.saw(key, name, &listing);
        Ok(listing)
    }

    /// The LIST [`list_early`](KubeLeaseStore::list_early) started, once; else one at
    /// `resourceVersion=0`, which the API server answers from its watch cache as it is (a
    /// consistent LIST first waits for the cache to reach the store's newest revision, which
    /// it learns of only by a progress request every 100 ms when other resources were written
    /// since this one: between 50 and 100 ms seen over 3 clusters, against 1.5 ms). The view of
    /// an open watch answers at once.
    async fn list_recent(&self, key: &LeaseKey, name: &str) -> Result<LockListing, StoreError> {
        let early = self
            .early_listings()
            .remove(&(key.clone(), name.to_owned()));
        let listing = match early {
            Some(listing) => listing.await?,
            None => match self.views.current(key, name) {
                Some(listing) => listing,
                None => {
                    let any = Some(ANY_VERSION.to_owned());
                    list_in_task(self.api(key)?, name.to_owned(), any).await?
                }
            },
        };
        self.views.take_listing(key, name, &listing);
        self.clusters.asked.recalled.saw(key, name, &listing);
        Ok(listing)
    }

    /// From the namespace's view once it has reached that version; else a LIST at
    /// `resourceVersionMatch=NotOlderThan`: the API server answers from its watch cache once
    /// the cache has seen that version, without waiting for the newest revision.
    async fn list_since(
        &self,
        key: &LeaseKey,
        name: &str,
        resource_version: &str,
    ) -> Result<LockListing, StoreError> {
        let api = self.api(key)?;
        let listing = match self
            .views
            .listing_since(&api, key, name, resource_version)
            .await
        {
            Some(listing) => listing,
            None => {
                let since = Some(resource_version.to_owned());
                let listing = list_in_task(api, name.to_owned(), since).await?;
                self.views.take_listing(key, name, &listing);
                listing
            }
        };
        self.clusters.asked.recalled.saw(key, name, &listing);
        Ok(listing)
    }

    fn lists_since_locally(&self, key: &LeaseKey, name: &str) -> bool {
        self.views.is_open(key, name)
    }

    /// A heartbeat is a merge patch at the version seen, like [`replace`](Self::replace): a
    /// ticket deleted as dead stays deleted (404) instead of coming back.
    async fn put_ticket(
        &self,
        key: &LeaseKey,
        name: &str,
        ticket: &Waiter,
        ttl: Duration,
        resource_version: Option<&str>,
    ) -> Result<Versioned<Waiter>, StoreError> {
        let api = self.api(key)?;
        let lease = ticket_lease(name, ticket, ttl);
        let written = match resource_version {
            None => {
                let post = PostParams::default();
                retry::call(|| api.create(&post, &lease))
                    .await
                    .map_err(|e| create_error(key, e.into_store()))?
            }
            Some(version) => {
                let ticket_name = ticket_name(name, &ticket.request_id);
                self.patch(key, &api, &ticket_name, &lease, version).await?
            }
        };
        Ok(Versioned {
            value: ticket.clone(),
            resource_version: written.metadata.resource_version.unwrap_or_default(),
        })
    }

    async fn delete_ticket(
        &self,
        key: &LeaseKey,
        name: &str,
        request_id: &str,
        resource_version: Option<&str>,
    ) -> Result<(), StoreError> {
        let api = self.api(key)?;
        let params = DeleteParams {
            preconditions: resource_version.map(|version| Preconditions {
                resource_version: Some(version.to_owned()),
                uid: None,
            }),
            ..Default::default()
        };
        let ticket_name = ticket_name(name, request_id);
        match retry::call(|| api.delete(&ticket_name, &params))
            .await
            .map_err(IntoStore::into_store)
        {
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn watch_ticket(
        &self,
        key: &LeaseKey,
        name: &str,
        request_id: &str,
        since_resource_version: &str,
    ) -> Result<Option<Versioned<Waiter>>, StoreError> {
        let api = self.api(key)?;
        if let Some(change) = self
            .views
            .ticket_after(&api, key, name, request_id, since_resource_version)
            .await
        {
            return Ok(change);
        }
        let ticket_name = ticket_name(name, request_id);
        let change = self
            .watches
            .change_after(
                &api,
                key,
                &ticket_name,
                since_resource_version,
                AfterDeletion::Close,
            )
            .await?;
        match change {
            // A ticket overwritten into something else is no ticket any more: as if deleted.
            Some(lease) => Ok(lease.as_ref().and_then(|l| from_ticket(name, l))),
            None => self.get_ticket(&api, name, request_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use kube::api::ListMeta;
    use solo_core::lock::{Holder, Phase};

    fn waiter(n: u32, requested_at: i64) -> Waiter {
        Waiter {
            request_id: format!("request-{n}"),
            requested_at: Timestamp::from_second(requested_at).expect("a time"),
            user: format!("user-{n}@example.com"),
            host: "laptop".into(),
            pid: n,
            heartbeat: Timestamp::from_second(requested_at + 5).expect("a time"),
        }
    }

    fn with_version(mut lease: Lease, version: &str) -> Lease {
        lease.metadata.resource_version = Some(version.to_owned());
        lease
    }

    #[test]
    fn a_lock_lease_carries_its_label_and_its_annotations_and_reads_back() {
        let record = LeaseRecord {
            holder: Some(HolderField::Known(Holder {
                user: "alice@example.com".into(),
                host: "laptop".into(),
                pid: 7,
                request_id: "r-1".into(),
                requested_at: Timestamp::from_second(1_000).expect("a time"),
                phase: Phase::Held,
                authenticated_as: None,
            })),
            epoch_mark: Some(Epoch(4)),
            stamp_needed: true,
            ..LeaseRecord::free(Duration::from_millis(2_500))
        };
        let lease = to_lease("my-net", &record);
        let labels = lease.metadata.labels.clone().expect("labels");
        assert_eq!(labels.get(LOCK_LABEL).map(String::as_str), Some("my-net"));
        assert_eq!(
            labels.get(MANAGED_BY_LABEL.0).map(String::as_str),
            Some("solo")
        );
        assert_eq!(
            lease.spec.as_ref().and_then(|s| s.lease_duration_seconds),
            Some(3),
            "whole seconds, rounded up"
        );
        let read = from_lease(&with_version(lease, "12"));
        assert_eq!(read.resource_version, "12");
        assert_eq!(
            read.value,
            LeaseRecord {
                lease_duration: Duration::from_secs(3),
                ..record
            }
        );
    }

    #[test]
    fn a_replace_labels_the_lease_sets_or_removes_our_annotations_and_drops_the_old_queue() {
        let free = LeaseRecord::free(Duration::from_secs(3));
        let patch = replace_patch(&to_lease("my-net", &free), "41");
        assert_eq!(patch["metadata"]["resourceVersion"], "41");
        assert_eq!(patch["metadata"]["labels"][LOCK_LABEL], "my-net");
        let annotations = &patch["metadata"]["annotations"];
        for key in [
            STAMP_NEEDED_ANNOTATION,
            EPOCH_MARK_ANNOTATION,
            LEGACY_WAITERS_ANNOTATION,
        ] {
            assert!(annotations[key].is_null(), "{key} removed: {patch}");
        }
        let marked = LeaseRecord {
            stamp_needed: true,
            epoch_mark: Some(Epoch(9)),
            ..free
        };
        let patch = replace_patch(&to_lease("my-net", &marked), "41");
        let annotations = &patch["metadata"]["annotations"];
        assert_eq!(annotations[STAMP_NEEDED_ANNOTATION], "true");
        assert_eq!(annotations[EPOCH_MARK_ANNOTATION], "9");
        assert!(annotations[LEGACY_WAITERS_ANNOTATION].is_null());
    }

    #[test]
    fn an_old_queue_annotation_is_ignored_on_read() {
        let mut lease = to_lease("my-net", &LeaseRecord::free(Duration::from_secs(3)));
        lease.metadata.annotations = Some(BTreeMap::from([(
            LEGACY_WAITERS_ANNOTATION.to_owned(),
            "not even json".to_owned(),
        )]));
        assert_eq!(
            from_lease(&lease).value,
            LeaseRecord::free(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_ticket_is_a_lease_the_solo_tool_can_read_and_reads_back() {
        let ticket = waiter(1, 1_000);
        let lease = ticket_lease("my-net", &ticket, Duration::from_millis(1_200));
        assert_eq!(lease.metadata.name.as_deref(), Some("my-net-w-request-1"));
        assert_eq!(
            lease
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LOCK_LABEL))
                .map(String::as_str),
            Some("my-net")
        );
        let spec = lease.spec.clone().expect("spec");
        assert_eq!(spec.lease_duration_seconds, Some(2));
        assert_eq!(spec.renew_time.map(|t| t.0), Some(ticket.heartbeat));
        assert_eq!(spec.acquire_time.map(|t| t.0), Some(ticket.requested_at));
        let identity: serde_json::Value =
            serde_json::from_str(spec.holder_identity.as_deref().expect("identity")).expect("JSON");
        assert_eq!(identity["username"], "user-1@example.com");
        assert_eq!(identity["hostname"], "laptop");
        assert_eq!(identity["pid"], 1);
        let read = from_ticket("my-net", &with_version(lease.clone(), "7")).expect("a ticket");
        assert_eq!(read.value, ticket);
        assert_eq!(read.resource_version, "7");
        // Another lock's ticket is not this lock's.
        assert!(from_ticket("other-net", &lease).is_none());
    }

    #[test]
    fn a_listing_is_split_into_the_lease_and_its_tickets_oldest_first() {
        let lock = with_version(
            to_lease("my-net", &LeaseRecord::free(Duration::from_secs(3))),
            "3",
        );
        let late = with_version(
            ticket_lease("my-net", &waiter(2, 2_000), Duration::from_secs(1)),
            "5",
        );
        let early = with_version(
            ticket_lease("my-net", &waiter(3, 1_000), Duration::from_secs(1)),
            "6",
        );
        let mut foreign = with_version(
            ticket_lease("my-net", &waiter(4, 500), Duration::from_secs(1)),
            "8",
        );
        foreign.spec.as_mut().expect("spec").holder_identity = Some("kubectl".into());
        let listed = ObjectList {
            types: Default::default(),
            metadata: ListMeta {
                resource_version: Some("9".into()),
                ..Default::default()
            },
            items: vec![late, lock, foreign, early],
        };
        let listing = split_listing("my-net", listed);
        assert_eq!(listing.resource_version, "9");
        assert_eq!(
            listing.lease.map(|l| l.resource_version).as_deref(),
            Some("3")
        );
        let tickets: Vec<(&str, &str)> = listing
            .tickets
            .iter()
            .map(|t| (t.value.request_id.as_str(), t.resource_version.as_str()))
            .collect();
        assert_eq!(tickets, [("request-3", "6"), ("request-2", "5")]);
    }
}
