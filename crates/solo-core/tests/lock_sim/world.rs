//! The simulated clusters (per namespace: the lock's Lease and its waiters' tickets, with
//! resourceVersions from one counter per cluster, history and watches), the fenced register,
//! and the checker that watches both at every step.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solo_core::lock::{
    HolderField, LeaseKey, LeaseRecord, LockListing, Stamp, StoreError, Validity, Versioned, Waiter,
};

use super::exec::{Core, lock};
use super::net::{Reply, deliver};

/// The Lease whose namespace holds the queue: the lock set's first key, where `LockSet::new`
/// queues (`LockSet::queue_key`); the simulated requests all lock sets made so.
const QUEUE: usize = 0;

/// Deliberate breakage, to show that the checker catches what it claims to catch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sabotage {
    /// The store keeps every ticket but shows each client only its own: no visible queue.
    pub hide_waiters: bool,
    /// The fenced register accepts writes of any epoch: no fencing.
    pub accept_stale_writes: bool,
    /// Rules broken inside the core itself (set in every contender's `LockConfig`).
    pub core: solo_core::lock::Sabotage,
}

type WatchReply = Arc<Mutex<Reply<Result<Option<Versioned<LeaseRecord>>, StoreError>>>>;
type TicketWatchReply = Arc<Mutex<Reply<Result<Option<Versioned<Waiter>>, StoreError>>>>;

/// One version of an object, as etcd keeps it: its resourceVersion, when it was written
/// (simulated time), by whom (`None`: a foreign tool), and the object (`None`: deleted).
struct Version<T> {
    rv: u64,
    at: u64,
    writer: Option<usize>,
    value: Option<Arc<T>>,
}

/// One Lease object in one (cluster, namespace), with the tickets of its waiters beside it.
pub struct LeaseObj {
    pub key: LeaseKey,
    cluster: usize,
    pub record: Option<Arc<LeaseRecord>>,
    rv: u64,
    /// Every version, for watches that start from an older resourceVersion.
    history: Vec<Version<LeaseRecord>>,
    /// (client, reply) of watches waiting for the next change.
    watchers: Vec<(usize, WatchReply)>,
    /// The tickets of this namespace by request id; a deleted one stays for its history.
    tickets: BTreeMap<String, TicketObj>,
}

/// One waiter's ticket (`<lock>-w-<request id>`).
#[derive(Default)]
struct TicketObj {
    ticket: Option<Arc<Waiter>>,
    rv: u64,
    history: Vec<Version<Waiter>>,
    watchers: Vec<(usize, TicketWatchReply)>,
}

impl LeaseObj {
    /// The live (present) tickets.
    pub fn tickets(&self) -> impl Iterator<Item = &Waiter> {
        self.tickets.values().filter_map(|t| t.ticket.as_deref())
    }

    /// Whether request `request_id` has a ticket here now.
    pub fn has_ticket(&self, request_id: &str) -> bool {
        self.tickets
            .get(request_id)
            .is_some_and(|t| t.ticket.is_some())
    }

    /// Whether request `request_id` had a ticket here at simulated time `at` (after every
    /// write that landed by then).
    fn had_ticket_at(&self, request_id: &str, at: u64) -> bool {
        self.tickets.get(request_id).is_some_and(|t| {
            t.history
                .iter()
                .rev()
                .find(|v| v.at <= at)
                .is_some_and(|v| v.value.is_some())
        })
    }

    /// When request `request` (held by contender `holder`) stopped holding this Lease, if it
    /// held it and no longer does: when its own release landed, or when the lease of its last
    /// renewal ran out, whichever came first (nobody can see a holder expire before that:
    /// expiry is timed from when a record was seen, never before it was written).
    fn freed_at(&self, request: &str, holder: Option<usize>) -> Option<u64> {
        let last = self
            .history
            .iter()
            .rposition(|v| v.value.as_ref().is_some_and(|r| r.held_by(request)))?;
        let held = &self.history[last];
        let cleared = self.history.get(last + 1)?;
        if cleared.writer.is_some() && cleared.writer == holder {
            return Some(cleared.at);
        }
        let duration = held
            .value
            .as_ref()
            .map_or(0, |r| r.holder_duration().as_micros() as u64);
        Some(cleared.at.min(held.at + duration))
    }
}

/// What the checker knows about one contender (a simulated `solo` process).
#[derive(Default)]
pub struct Contender {
    pub request_id: String,
    pub stamp: Option<Stamp>,
    /// Since when it has been inside `acquire` with a policy that queues.
    pub acquiring_since: Option<u64>,
    /// When its `Until` policy gives up.
    pub gives_up_at: Option<u64>,
    /// Pauses, partitions and errors: while these last (and a TTL after) it may be overtaken.
    pub disruptions: Vec<(u64, u64)>,
    pub in_cs: bool,
    pub validity: Option<Validity>,
    /// Pauses only (a paused process cannot stop its work; fencing covers it).
    pub pauses: Vec<(u64, u64)>,
    pub epoch: u64,
    pub crashed: bool,
    pub paused_until: u64,
    pub deferred: Vec<usize>,
    pub task: usize,
    pub finished: bool,
    pub acquisitions: u32,
}

/// Counts for the report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub entries: u64,
    pub accepted_writes: u64,
    pub refused_writes: u64,
    pub lease_writes: u64,
    pub ticket_writes: u64,
    pub fifo_checks: u64,
    pub lost_locks: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.entries += o.entries;
        self.accepted_writes += o.accepted_writes;
        self.refused_writes += o.refused_writes;
        self.lease_writes += o.lease_writes;
        self.ticket_writes += o.ticket_writes;
        self.fifo_checks += o.fifo_checks;
        self.lost_locks += o.lost_locks;
    }
}

pub struct World {
    pub leases: Vec<LeaseObj>,
    /// One revision counter per cluster (its etcd): every object of the cluster takes its
    /// resourceVersions from it, so a LIST's revision orders it against every write.
    cluster_rv: Vec<u64>,
    pub contenders: Vec<Contender>,
    pub sabotage: Sabotage,
    /// The fenced register: the epoch of the state's last write or stamp.
    pub epoch: u64,
    /// The state was deleted: an update is refused (404) until a holder creates it again.
    pub deleted: bool,
    /// (client, cluster, from, to): requests of `client` to `cluster` fail meanwhile.
    pub partitions: Vec<(usize, usize, u64, u64)>,
    /// (cluster, from, to): the apiserver is stopped (SIGSTOP): requests that arrive meanwhile
    /// are applied and answered only when it resumes.
    pub hangs: Vec<(usize, u64, u64)>,
    /// The lock set the newest state names (for stories that move the `clusters` list).
    pub named: Option<solo_core::lock::LockSet>,
    /// Leases whose namespace does not exist: creates answer 404.
    pub missing_namespaces: Vec<usize>,
    /// The longest lease duration a claim may write (microseconds): only a held lock is
    /// renewed for longer.
    pub claim_limit: Option<u64>,
    pub waiter_ttl: u64,
    /// Whether a LIST at `resourceVersion=0` ([`LeaseStore::list_recent`]) may answer from a
    /// stale cache: in the random schedules; a scripted story reads the namespace as it is.
    ///
    /// [`LeaseStore::list_recent`]: solo_core::lock::LeaseStore::list_recent
    pub stale_caches: bool,
    /// A scripted story's watch caches, this many revisions behind each cluster's newest.
    pub cache_lag: Option<u64>,
    /// A scripted story's slow link: (client, delay) makes every GET by name of that client
    /// take that long to reach its cluster.
    pub slow_gets: Option<(usize, u64)>,
    /// (client, cluster, from, to, delay): a link that turns slow, each request of that client
    /// to that cluster and each answer taking `delay` more.
    pub slow_links: Vec<(usize, usize, u64, u64, u64)>,
    pub trace: bool,
    pub stats: Stats,
    violation: Option<String>,
    /// The contender that entered its critical section last, and its request.
    last_entered: Option<usize>,
    holding_request: Option<String>,
    /// Waiters with a ticket in the queue's namespace when the lock last became free, and when that
    /// was.
    visible_at_free: Vec<(usize, String, Stamp)>,
    free_at: u64,
    /// When the register last accepted a write, create, delete or stamp.
    last_write_at: u64,
    /// (client, lease): the Lease as that client's last release of it left it (what an
    /// adapter remembers across processes, [`LeaseStore::remembered`]).
    ///
    /// [`LeaseStore::remembered`]: solo_core::lock::LeaseStore::remembered
    pub memory: BTreeMap<(usize, usize), Versioned<LeaseRecord>>,
}

impl World {
    pub fn new(keys: &[LeaseKey], contenders: usize, sabotage: Sabotage, waiter_ttl: u64) -> Self {
        let mut clusters: Vec<&str> = keys.iter().map(|k| k.cluster.as_str()).collect();
        clusters.dedup();
        let leases = keys
            .iter()
            .map(|key| LeaseObj {
                key: key.clone(),
                cluster: clusters.iter().position(|c| *c == key.cluster).unwrap_or(0),
                record: None,
                rv: 0,
                history: Vec::new(),
                watchers: Vec::new(),
                tickets: BTreeMap::new(),
            })
            .collect();
        World {
            memory: BTreeMap::new(),
            leases,
            cluster_rv: vec![100; clusters.len()],
            contenders: (0..contenders).map(|_| Contender::default()).collect(),
            sabotage,
            epoch: 0,
            deleted: false,
            partitions: Vec::new(),
            hangs: Vec::new(),
            named: None,
            missing_namespaces: Vec::new(),
            claim_limit: None,
            waiter_ttl,
            stale_caches: false,
            cache_lag: None,
            slow_gets: None,
            slow_links: Vec::new(),
            trace: false,
            stats: Stats::default(),
            violation: None,
            last_entered: None,
            holding_request: None,
            visible_at_free: Vec::new(),
            free_at: 0,
            last_write_at: 0,
        }
    }

    pub fn lease_index(&self, key: &LeaseKey) -> usize {
        self.leases.iter().position(|l| l.key == *key).unwrap_or(0)
    }

    pub fn cluster_of(&self, lease: usize) -> usize {
        self.leases[lease].cluster
    }

    pub fn crashed(&self, c: usize) -> bool {
        self.contenders.get(c).is_some_and(|c| c.crashed)
    }

    pub fn paused(&self, c: usize, now: u64) -> bool {
        self.contenders.get(c).is_some_and(|c| c.paused_until > now)
    }

    pub fn defer(&mut self, c: usize, task: usize) {
        self.contenders[c].deferred.push(task);
    }

    pub fn partitioned(&self, client: usize, lease: usize, now: u64) -> bool {
        let cluster = self.leases[lease].cluster;
        self.partitions
            .iter()
            .any(|&(c, k, from, to)| c == client && k == cluster && from <= now && now < to)
    }

    /// How much longer a request or answer between `client` and the cluster of `lease` takes
    /// at `now`: its link's slowness.
    pub fn slowness(&self, client: usize, lease: usize, now: u64) -> u64 {
        let cluster = self.leases[lease].cluster;
        self.slow_links
            .iter()
            .filter(|&&(c, k, from, to, _)| c == client && k == cluster && from <= now && now < to)
            .map(|&(.., delay)| delay)
            .max()
            .unwrap_or(0)
    }

    /// When the apiserver of the cluster of `lease` resumes, if it is stopped at `now`.
    pub fn hung_until(&self, lease: usize, now: u64) -> Option<u64> {
        let cluster = self.leases[lease].cluster;
        self.hangs
            .iter()
            .filter(|&&(k, from, to)| k == cluster && from <= now && now < to)
            .map(|&(_, _, to)| to)
            .max()
    }

    pub fn all_done(&self) -> bool {
        self.contenders.iter().all(|c| c.finished || c.crashed)
    }

    pub fn fail(&mut self, message: String) {
        self.violation.get_or_insert(message);
    }

    pub fn log(&self, now: u64, message: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("{:>10.3}s  {}", now as f64 / 1e6, message());
        }
    }

    /// What a client reads of a lease.
    pub fn read(&self, lease: usize, _client: usize) -> Option<Versioned<LeaseRecord>> {
        let l = &self.leases[lease];
        versioned(l.rv, l.record.as_deref())
    }

    /// Whether `client` may see the ticket of `request_id`: with `hide_waiters`, only its own.
    fn shows_ticket(&self, client: usize, request_id: &str) -> bool {
        !self.sabotage.hide_waiters
            || self
                .contenders
                .get(client)
                .is_some_and(|c| c.request_id == request_id)
    }

    /// One LIST by the lock's label in the namespace of `lease`: the Lease and every ticket,
    /// at the cluster's current revision (a consistent snapshot). A namespace that does not
    /// exist lists empty, as the API server answers.
    pub fn list(&self, lease: usize, client: usize) -> LockListing {
        let l = &self.leases[lease];
        let tickets = l
            .tickets
            .values()
            .filter_map(|t| Some((t.rv, t.ticket.as_deref()?)))
            .filter(|(_, w)| self.shows_ticket(client, &w.request_id))
            .filter_map(|(rv, w)| versioned(rv, Some(w)))
            .collect();
        LockListing {
            lease: self.read(lease, client),
            tickets,
            resource_version: self.cluster_rv[l.cluster].to_string(),
        }
    }

    /// The revision of the cluster of `lease` now.
    pub fn cluster_rv(&self, lease: usize) -> u64 {
        self.cluster_rv[self.leases[lease].cluster]
    }

    /// The LIST of [`list`](Self::list) as the namespace of `lease` was at revision `rv` of its
    /// cluster (after every write up to it): what a watch cache that has reached `rv` answers.
    pub fn list_at(&self, lease: usize, client: usize, rv: u64) -> LockListing {
        fn at<T>(history: &[Version<T>], rv: u64) -> Option<(u64, &T)> {
            let v = history.iter().rev().find(|v| v.rv <= rv)?;
            Some((v.rv, v.value.as_deref()?))
        }
        let l = &self.leases[lease];
        let tickets = l
            .tickets
            .values()
            .filter_map(|t| at(&t.history, rv))
            .filter(|(_, w)| self.shows_ticket(client, &w.request_id))
            .filter_map(|(v, w)| versioned(v, Some(w)))
            .collect();
        LockListing {
            lease: at(&l.history, rv).and_then(|(v, r)| versioned(v, Some(r))),
            tickets,
            resource_version: rv.to_string(),
        }
    }

    /// The tickets of the set's namespaces now, for stories to look at: (lease, request id).
    pub fn ticket_ids(&self) -> Vec<(usize, String)> {
        self.leases
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.tickets().map(move |w| (i, w.request_id.clone())))
            .collect()
    }

    // ---- the checker ----

    /// Invariants checked after every poll and every action.
    pub fn check_step(&mut self, now: u64) -> Option<String> {
        if self.violation.is_none() {
            // Mutual exclusion: never two contenders in their critical section whose locks are
            // both still valid in simulated real time.
            let now_d = Duration::from_micros(now);
            let valid: Vec<(usize, Duration)> = self
                .contenders
                .iter()
                .enumerate()
                .filter(|(_, c)| c.in_cs && !c.crashed)
                .filter_map(|(i, c)| {
                    c.validity
                        .as_ref()?
                        .valid_until()
                        .filter(|u| *u > now_d)
                        .map(|u| (i, u))
                })
                .collect();
            if valid.len() > 1 {
                self.violation = Some(format!(
                    "mutual exclusion: contenders {:?} are all in their critical section with valid leases at {now}us",
                    valid
                ));
            }
        }
        if self.violation.is_none() {
            // A lost lock stops the work first: a process that was not paused is out of its
            // critical section by the time its leases could expire (others may take over then).
            let late = self.contenders.iter().enumerate().find(|(_, c)| {
                c.in_cs
                    && !c.crashed
                    && c.validity
                        .as_ref()
                        .and_then(|v| {
                            let micros = |d: Duration| d.as_micros() as u64;
                            Some((micros(v.expires_at()?), micros(v.valid_until()?)))
                        })
                        .is_some_and(|(expires, valid)| {
                            now >= expires
                                && !c
                                    .pauses
                                    .iter()
                                    .any(|&(from, to)| from <= now && to >= valid)
                        })
            });
            if let Some((i, _)) = late {
                self.violation = Some(format!(
                    "stop in time: contender {i} still works at {now}us, when its leases may already have expired"
                ));
            }
        }
        self.violation.clone()
    }

    pub fn begin_acquire(&mut self, c: usize, queues: bool, gives_up_at: Option<u64>, now: u64) {
        let con = &mut self.contenders[c];
        con.acquiring_since = queues.then_some(now);
        con.gives_up_at = gives_up_at;
    }

    pub fn end_acquire(&mut self, c: usize, failed: bool, now: u64) {
        let con = &mut self.contenders[c];
        con.acquiring_since = None;
        con.gives_up_at = None;
        if failed {
            con.disruptions.push((now, now));
        }
    }

    /// A contender enters its critical section: check FIFO against the waiters whose tickets
    /// were in the queue's namespace when the lock last became free.
    ///
    /// A lock taken over a clean release (`taken_over`: the resourceVersion of each Lease it
    /// claimed) promises that a read started after a look at those versions misses nothing:
    /// the state was last written before every Lease reached them.
    pub fn enter_cs(
        &mut self,
        c: usize,
        validity: Validity,
        epoch: u64,
        taken_over: Option<&BTreeMap<LeaseKey, String>>,
        now: u64,
    ) {
        self.stats.entries += 1;
        if let Some(versions) = taken_over {
            let reached = versions
                .iter()
                .map(|(key, rv)| {
                    let lease = &self.leases[self.lease_index(key)];
                    lease
                        .history
                        .iter()
                        .find(|v| Some(v.rv) == rv.parse::<u64>().ok())
                        .map_or(u64::MAX, |v| v.at)
                })
                .max()
                .unwrap_or(0);
            if self.last_write_at > reached {
                return self.fail(format!(
                    "clean takeover: c{c} was told it took the lock over a clean release (the Leases at {versions:?} \
                     by {reached}us), but the state was written at {}us, after that: a read beside its claim misses it",
                    self.last_write_at
                ));
            }
        }
        let me = self.contenders[c].stamp.clone();
        let ttl = self.waiter_ttl;
        let margin = 5_000_000;
        let window_start = self.free_at.saturating_sub(ttl + margin);
        for (w, request, stamp) in std::mem::take(&mut self.visible_at_free) {
            let waiter = &self.contenders[w];
            // Still live: not crashed, the same request, waiting since before the lock became
            // free, not given up, and never cut off long enough to be judged dead meanwhile.
            let live = w != c
                && !waiter.crashed
                && waiter.request_id == request
                && waiter.acquiring_since.is_some_and(|s| s <= self.free_at)
                && waiter.gives_up_at.is_none_or(|g| g > now)
                && !waiter
                    .disruptions
                    .iter()
                    .any(|&(from, to)| to >= window_start && from <= now);
            self.stats.fifo_checks += 1;
            if live && me.as_ref().is_some_and(|me| stamp < *me) {
                self.fail(format!(
                    "FIFO: contender {c} ({}) entered at {now}us, but contender {w} ({request}) has an earlier stamp and \
                     had a ticket in the queue when the lock became free at {}us",
                    self.contenders[c].request_id, self.free_at
                ));
            }
        }
        let valid = validity.is_valid(Duration::from_micros(now));
        let con = &mut self.contenders[c];
        con.in_cs = true;
        con.validity = Some(validity);
        con.epoch = epoch;
        con.acquiring_since = None;
        con.gives_up_at = None;
        if !valid {
            // Not a holder: expired before it could act (its writes must all be refused).
            return self.fail(format!(
                "c{c} entered its critical section with an expired lock at {now}us"
            ));
        }
        self.last_entered = Some(c);
        self.holding_request = Some(con.request_id.clone());
        self.log(now, || {
            format!("c{c} ENTERS its critical section with epoch {epoch}")
        });
    }

    pub fn exit_cs(&mut self, c: usize, lost: bool, now: u64) {
        self.contenders[c].in_cs = false;
        self.contenders[c].acquisitions += 1;
        if lost {
            self.stats.lost_locks += 1;
        }
        self.log(now, || {
            format!(
                "c{c} leaves its critical section{}",
                if lost { " (lost)" } else { "" }
            )
        });
    }

    /// An accepted write or create of the state must come from the contender that entered
    /// last (the current holder).
    fn check_writer(&mut self, c: usize, epoch: u64, now: u64, what: &str) {
        if self.last_entered != Some(c) {
            self.fail(format!(
                "fencing: a {what} of contender {c} (epoch {epoch}) was accepted at {now}us after contender {:?} entered \
                 (register epoch {})",
                self.last_entered, self.epoch
            ));
        }
    }

    /// A fenced write arrives at the register: an update, accepted only with an epoch at least
    /// the state's, which it raises to its own in the same compare-and-swap; a deleted state
    /// cannot be updated (404).
    pub fn fenced_write(&mut self, c: usize, epoch: u64, now: u64) -> bool {
        let accepted = !self.deleted && (epoch >= self.epoch || self.sabotage.accept_stale_writes);
        if !accepted {
            self.stats.refused_writes += 1;
            return false;
        }
        self.stats.accepted_writes += 1;
        self.last_write_at = now;
        self.check_writer(c, epoch, now, "write");
        self.epoch = self.epoch.max(epoch);
        true
    }

    /// The state is deleted, fenced like any write; its epoch goes with it (the lock's Leases
    /// keep the mark that a re-create starts above).
    pub fn fenced_delete(&mut self, c: usize, epoch: u64, now: u64) -> bool {
        if !self.fenced_write(c, epoch, now) {
            return false;
        }
        self.epoch = 0;
        self.deleted = true;
        self.log(now, || {
            format!("c{c} DELETES the deployment at epoch {epoch}")
        });
        true
    }

    /// The deployment is created again with the state at `epoch`: a create, which nothing
    /// fences (the state is absent), so it too must come from the current holder.
    pub fn fenced_create(&mut self, c: usize, epoch: u64, now: u64) -> bool {
        if !self.deleted {
            self.stats.refused_writes += 1;
            return false;
        }
        self.stats.accepted_writes += 1;
        self.last_write_at = now;
        self.check_writer(c, epoch, now, "create");
        self.deleted = false;
        self.epoch = epoch;
        self.log(now, || {
            format!("c{c} CREATES the deployment at epoch {epoch}")
        });
        true
    }

    /// A stamp of every copy (`Fence::advance_epoch`): above the state's epoch and `floor`; an
    /// absent state is created with it, as the adapter's stamp creates a missing copy.
    pub fn stamp(&mut self, floor: u64) -> u64 {
        self.epoch = self.epoch.max(floor) + 1;
        self.deleted = false;
        self.epoch
    }

    /// After every Lease change: did the lock just become free (no Lease held by the last
    /// holder's request any more)? Then remember who had a ticket in the queue's namespace when it
    /// became free: at its release, or when its last renewal ran out if others took it over.
    fn after_change(&mut self, now: u64) {
        let Some(request) = self.holding_request.clone() else {
            return;
        };
        let still_held = self
            .leases
            .iter()
            .any(|l| l.record.as_ref().is_some_and(|r| r.held_by(&request)));
        if still_held {
            return;
        }
        self.holding_request = None;
        let holder = self.last_entered;
        let free_at = self
            .leases
            .iter()
            .filter_map(|l| l.freed_at(&request, holder))
            .max()
            .unwrap_or(now);
        self.free_at = free_at;
        self.visible_at_free = (0..self.contenders.len())
            .filter(|&i| {
                let con = &self.contenders[i];
                !con.crashed
                    && con.stamp.is_some()
                    && self.leases[QUEUE].had_ticket_at(&con.request_id, free_at)
            })
            .filter_map(|i| {
                let con = &self.contenders[i];
                Some((i, con.request_id.clone(), con.stamp.clone()?))
            })
            .collect();
        self.log(now, || {
            let waiting: Vec<&str> = self.visible_at_free.iter().map(|w| w.1.as_str()).collect();
            format!("the lock became free at {free_at}us; tickets in the queue then: {waiting:?}")
        });
    }

    /// A claim is short: a write by `writer` that makes its request the holder of a Lease it
    /// did not hold, or any write of a claim still `Acquiring`, lasts at most the claim limit.
    fn check_claim(&mut self, lease: usize, writer: usize, record: &LeaseRecord) {
        let Some(limit) = self.claim_limit else {
            return;
        };
        let Some(holder) = record.holder.as_ref().and_then(HolderField::known) else {
            return;
        };
        let request = &self.contenders[writer].request_id;
        let fresh = holder.request_id == *request
            && !self.leases[lease]
                .record
                .as_ref()
                .is_some_and(|r| r.held_by(request));
        let acquiring = holder.phase == solo_core::lock::Phase::Acquiring;
        if (fresh || acquiring) && record.lease_duration.as_micros() as u64 > limit {
            self.fail(format!(
                "short claims: a claim of lease {lease} by contender {writer} lasts {:?}",
                record.lease_duration
            ));
        }
    }
}

/// Store operations, applied atomically when a request arrives at its cluster.
impl Core {
    /// The cluster of `lease` takes its next revision.
    fn next_rv(&mut self, lease: usize) -> u64 {
        let cluster = self.world.leases[lease].cluster;
        self.world.cluster_rv[cluster] += 1;
        self.world.cluster_rv[cluster]
    }

    /// Writes a new version (`None`: deleted) by contender `writer` (`None`: a foreign tool).
    fn commit(
        &mut self,
        lease: usize,
        writer: Option<usize>,
        record: Option<LeaseRecord>,
    ) -> Option<Versioned<LeaseRecord>> {
        self.world.stats.lease_writes += 1;
        if let (Some(w), Some(r)) = (writer, record.as_ref()) {
            self.world.check_claim(lease, w, r);
        }
        let rv = self.next_rv(lease);
        let now = self.now;
        let l = &mut self.world.leases[lease];
        let record = record.map(Arc::new);
        l.rv = rv;
        l.record = record.clone();
        l.history.push(Version {
            rv,
            at: now,
            writer,
            value: record.clone(),
        });
        for (_, reply) in std::mem::take(&mut l.watchers) {
            if Arc::strong_count(&reply) == 1 {
                continue; // the watch was dropped (cancelled): nobody to tell
            }
            let delay = self.rng_watch_delay();
            let event = versioned(rv, record.as_deref());
            self.after(delay, move |_| deliver(&reply, Ok(event)));
        }
        if self.world.trace {
            let holder = record
                .as_ref()
                .and_then(|r| r.holder.as_ref())
                .map(describe_holder);
            let marks = record.as_ref().map(|r| (r.epoch_mark, r.stamp_needed));
            self.world.log(now, || {
                format!(
                    "{writer:?} wrote lease {lease} rv {rv}: holder {holder:?} (epoch mark, stamp needed) {marks:?}"
                )
            });
        }
        self.world.after_change(now);
        versioned(rv, record.as_deref())
    }

    pub fn create(
        &mut self,
        lease: usize,
        client: usize,
        record: LeaseRecord,
    ) -> Result<Versioned<LeaseRecord>, StoreError> {
        if self.world.missing_namespaces.contains(&lease) {
            return Err(StoreError::NotFound);
        }
        if self.world.leases[lease].record.is_some() {
            return Err(StoreError::Conflict);
        }
        self.commit(lease, Some(client), Some(record))
            .ok_or(StoreError::NotFound)
    }

    pub fn replace(
        &mut self,
        lease: usize,
        client: usize,
        record: LeaseRecord,
        rv: &str,
    ) -> Result<Versioned<LeaseRecord>, StoreError> {
        let l = &self.world.leases[lease];
        if l.record.is_none() {
            return Err(StoreError::NotFound);
        }
        if rv.parse::<u64>().ok() != Some(l.rv) {
            return Err(StoreError::Conflict);
        }
        self.commit(lease, Some(client), Some(record))
            .ok_or(StoreError::NotFound)
    }

    pub fn delete(&mut self, lease: usize, client: usize, rv: &str) -> Result<(), StoreError> {
        let l = &self.world.leases[lease];
        if l.record.is_none() {
            return Err(StoreError::NotFound);
        }
        if rv.parse::<u64>().ok() != Some(l.rv) {
            return Err(StoreError::Conflict);
        }
        self.commit(lease, Some(client), None);
        Ok(())
    }

    /// Registers a watch of the Lease from `since` (its own resourceVersion, or a LIST's
    /// revision when it was absent): the first change after it is delivered, even if it
    /// happened before the watch arrived (Kubernetes watches from a resourceVersion).
    pub fn watch(&mut self, lease: usize, client: usize, since: u64, reply: WatchReply) {
        let l = &self.world.leases[lease];
        let first = l.history.partition_point(|v| v.rv <= since);
        match l.history.get(first) {
            Some(v) => {
                let event = versioned(v.rv, v.value.as_deref());
                let delay = self.rng_watch_delay();
                self.after(delay, move |_| deliver(&reply, Ok(event)));
            }
            None => self.world.leases[lease].watchers.push((client, reply)),
        }
    }

    /// Writes a new version of the ticket of `request_id` (`None`: deleted).
    fn commit_ticket(
        &mut self,
        lease: usize,
        request_id: &str,
        writer: usize,
        ticket: Option<Waiter>,
    ) -> Option<Versioned<Waiter>> {
        self.world.stats.ticket_writes += 1;
        let rv = self.next_rv(lease);
        let now = self.now;
        let ticket = ticket.map(Arc::new);
        let t = self.world.leases[lease]
            .tickets
            .entry(request_id.to_owned())
            .or_default();
        t.rv = rv;
        t.ticket = ticket.clone();
        t.history.push(Version {
            rv,
            at: now,
            writer: Some(writer),
            value: ticket.clone(),
        });
        for (_, reply) in std::mem::take(&mut t.watchers) {
            if Arc::strong_count(&reply) == 1 {
                continue;
            }
            let delay = self.rng_watch_delay();
            let event = versioned(rv, ticket.as_deref());
            self.after(delay, move |_| deliver(&reply, Ok(event)));
        }
        let present = ticket.is_some();
        self.world.log(now, || {
            format!(
                "c{writer} {} ticket {request_id} in lease {lease} rv {rv}",
                if present { "wrote" } else { "deleted" }
            )
        });
        versioned(rv, ticket.as_deref())
    }

    /// Creates the ticket (`rv` `None`: `Conflict` if it exists) or replaces it at `rv`.
    pub fn put_ticket(
        &mut self,
        lease: usize,
        client: usize,
        ticket: Waiter,
        rv: Option<&str>,
    ) -> Result<Versioned<Waiter>, StoreError> {
        if self.world.missing_namespaces.contains(&lease) {
            let namespace = self.world.leases[lease].key.namespace.clone();
            return Err(StoreError::NamespaceMissing { namespace });
        }
        let current = self.world.leases[lease]
            .tickets
            .get(&ticket.request_id)
            .and_then(|t| t.ticket.is_some().then_some(t.rv));
        match (rv, current) {
            (None, Some(_)) => return Err(StoreError::Conflict),
            (Some(_), None) => return Err(StoreError::NotFound),
            (Some(rv), Some(current)) if rv.parse::<u64>().ok() != Some(current) => {
                return Err(StoreError::Conflict);
            }
            _ => {}
        }
        let request_id = ticket.request_id.clone();
        self.commit_ticket(lease, &request_id, client, Some(ticket))
            .ok_or(StoreError::NotFound)
    }

    /// Deletes the ticket of `request_id`, if still at `rv` when given; absent is fine.
    pub fn delete_ticket(
        &mut self,
        lease: usize,
        client: usize,
        request_id: &str,
        rv: Option<&str>,
    ) -> Result<(), StoreError> {
        let current = self.world.leases[lease]
            .tickets
            .get(request_id)
            .and_then(|t| t.ticket.is_some().then_some(t.rv));
        let Some(current) = current else {
            return Ok(());
        };
        if rv.is_some_and(|rv| rv.parse::<u64>().ok() != Some(current)) {
            return Err(StoreError::Conflict);
        }
        self.commit_ticket(lease, request_id, client, None);
        Ok(())
    }

    /// Registers a watch of the ticket of `request_id` from `since`: its first change after
    /// it (a heartbeat, or `None` when deleted), even one that landed before the watch did.
    pub fn watch_ticket(
        &mut self,
        lease: usize,
        client: usize,
        request_id: &str,
        since: u64,
        reply: TicketWatchReply,
    ) {
        let t = self.world.leases[lease]
            .tickets
            .entry(request_id.to_owned())
            .or_default();
        let first = t.history.partition_point(|v| v.rv <= since);
        match t.history.get(first) {
            Some(v) => {
                let event = versioned(v.rv, v.value.as_deref());
                let delay = self.rng_watch_delay();
                self.after(delay, move |_| deliver(&reply, Ok(event)));
            }
            None => t.watchers.push((client, reply)),
        }
    }

    /// A foreign tool (kubectl) takes a free lease with a holderIdentity that is not ours.
    pub fn foreign_claim(&mut self, lease: usize, duration: Duration, wall: jiff::Timestamp) {
        let l = &self.world.leases[lease];
        if l.record.as_ref().is_some_and(|r| r.holder.is_some()) {
            return;
        }
        let mut record = l
            .record
            .as_deref()
            .cloned()
            .unwrap_or_else(|| LeaseRecord::free(duration));
        record.holder = Some(HolderField::Opaque("kubectl: ops@example.com".to_owned()));
        record.lease_duration = duration;
        record.acquire_time = Some(wall);
        record.renew_time = Some(wall);
        self.commit(lease, None, Some(record));
    }

    fn rng_watch_delay(&mut self) -> u64 {
        let r = self.rng.range(0, 100);
        match r {
            0..70 => self.rng.range(1_000, 50_000),
            70..97 => self.rng.range(50_000, 500_000),
            _ => self.rng.range(500_000, 2_000_000),
        }
    }

    /// One leg of a request (there or back).
    pub fn net_delay(&mut self) -> u64 {
        let r = self.rng.range(0, 100);
        match r {
            0..70 => self.rng.range(500, 30_000),
            70..97 => self.rng.range(30_000, 300_000),
            _ => self.rng.range(300_000, 2_000_000),
        }
    }

    pub fn wake_deferred(&mut self, c: usize) {
        for task in std::mem::take(&mut self.world.contenders[c].deferred) {
            self.wake_task(task);
        }
    }
}

/// An object (if present) with its resourceVersion.
fn versioned<T: Clone>(rv: u64, value: Option<&T>) -> Option<Versioned<T>> {
    Some(Versioned {
        value: value?.clone(),
        resource_version: rv.to_string(),
    })
}

fn describe_holder(h: &HolderField) -> String {
    match h {
        HolderField::Known(h) => format!("{}:{:?}", h.request_id, h.phase),
        HolderField::Opaque(s) => format!("opaque {s:?}"),
    }
}

/// Runs `f` on the world at the current simulated time.
pub fn with_world<R>(core: &Mutex<Core>, f: impl FnOnce(&mut World, u64) -> R) -> R {
    let mut core = lock(core);
    let now = core.now;
    f(&mut core.world, now)
}
