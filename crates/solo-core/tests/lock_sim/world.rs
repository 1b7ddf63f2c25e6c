//! The simulated clusters (leases with resourceVersions, history and watches), the fenced
//! register, and the checker that watches both at every step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use solo_core::lock::{
    HolderField, LeaseKey, LeaseRecord, Stamp, StoreError, Validity, Versioned, Waiter,
};

use super::exec::{Core, lock};
use super::net::{Reply, deliver};

/// Deliberate breakage, to show that the checker catches what it claims to catch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sabotage {
    /// The store keeps waiter queues but never shows them to anyone: no visible queue.
    pub hide_waiters: bool,
    /// The fenced register accepts writes of any epoch: no fencing.
    pub accept_stale_writes: bool,
    /// Rules broken inside the core itself (set in every contender's `LockConfig`).
    pub core: solo_core::lock::Sabotage,
}

type WatchReply = Arc<Mutex<Reply<Result<Option<Versioned<LeaseRecord>>, StoreError>>>>;

/// One Lease object in one (cluster, namespace).
pub struct LeaseObj {
    pub key: LeaseKey,
    cluster: usize,
    pub record: Option<Arc<LeaseRecord>>,
    rv: u64,
    /// Every version, for watches that start from an older resourceVersion.
    history: Vec<(u64, Option<Arc<LeaseRecord>>)>,
    /// (client, reply) of watches waiting for the next change.
    watchers: Vec<(usize, WatchReply)>,
    /// With `hide_waiters`: the queue as the contenders wrote it, which nobody can read.
    hidden: Vec<Waiter>,
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
    pub fifo_checks: u64,
    pub lost_locks: u64,
}

pub struct World {
    pub leases: Vec<LeaseObj>,
    cluster_rv: Vec<u64>,
    pub contenders: Vec<Contender>,
    pub sabotage: Sabotage,
    pub epoch: u64,
    /// (client, cluster, from, to): requests of `client` to `cluster` fail meanwhile.
    pub partitions: Vec<(usize, usize, u64, u64)>,
    /// (cluster, from, to): the apiserver is stopped (SIGSTOP): requests that arrive meanwhile
    /// are applied and answered only when it resumes.
    pub hangs: Vec<(usize, u64, u64)>,
    /// The lock set the newest state names (for stories that move the `clusters` list).
    pub named: Option<solo_core::lock::LockSet>,
    /// Leases whose namespace does not exist: creates answer 404.
    pub missing_namespaces: Vec<usize>,
    /// The longest lease duration a claim made while acquiring may write (microseconds).
    pub claim_limit: Option<u64>,
    pub waiter_ttl: u64,
    pub trace: bool,
    pub stats: Stats,
    violation: Option<String>,
    /// The contender that entered its critical section last, and its request.
    last_entered: Option<usize>,
    holding_request: Option<String>,
    /// Waiters queued in every lease when the lock last became free, and when that was.
    visible_at_free: Vec<(usize, String, Stamp)>,
    free_at: u64,
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
                hidden: Vec::new(),
            })
            .collect();
        World {
            leases,
            cluster_rv: vec![100; clusters.len()],
            contenders: (0..contenders).map(|_| Contender::default()).collect(),
            sabotage,
            epoch: 0,
            partitions: Vec::new(),
            hangs: Vec::new(),
            named: None,
            missing_namespaces: Vec::new(),
            claim_limit: None,
            waiter_ttl,
            trace: false,
            stats: Stats::default(),
            violation: None,
            last_entered: None,
            holding_request: None,
            visible_at_free: Vec::new(),
            free_at: 0,
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

    /// The queue of a lease as it really is (hidden or not).
    fn queue(&self, lease: usize) -> &[Waiter] {
        let l = &self.leases[lease];
        if self.sabotage.hide_waiters {
            &l.hidden
        } else {
            l.record.as_ref().map_or(&[], |r| r.waiters.as_slice())
        }
    }

    /// What a client reads of a lease.
    pub fn read(&self, lease: usize, client: usize) -> Option<Versioned<LeaseRecord>> {
        let l = &self.leases[lease];
        self.view(lease, client, l.rv, l.record.as_deref())
    }

    /// A version of a lease as `client` sees it: with `hide_waiters`, it sees its own queue
    /// entry and nobody else's.
    fn view(
        &self,
        lease: usize,
        client: usize,
        rv: u64,
        record: Option<&LeaseRecord>,
    ) -> Option<Versioned<LeaseRecord>> {
        let mut value = record?.clone();
        if self.sabotage.hide_waiters {
            let me = self.contenders.get(client).map(|c| c.request_id.as_str());
            value.waiters = self.leases[lease]
                .hidden
                .iter()
                .filter(|w| Some(w.request_id.as_str()) == me)
                .cloned()
                .collect();
        }
        Some(Versioned {
            value,
            resource_version: rv.to_string(),
        })
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

    /// A contender enters its critical section: check FIFO against the waiters that were
    /// visible in every lease when the lock last became free.
    pub fn enter_cs(&mut self, c: usize, validity: Validity, epoch: u64, now: u64) {
        self.stats.entries += 1;
        let me = self.contenders[c].stamp.clone();
        let ttl = self.waiter_ttl;
        let margin = 5_000_000;
        let window_start = self.free_at.saturating_sub(ttl + margin);
        for (w, request, stamp) in std::mem::take(&mut self.visible_at_free) {
            let waiter = &self.contenders[w];
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
                     was queued in every lease when the lock became free at {}us",
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

    /// The state is deleted, fenced like any write: accepted only with the current epoch, and
    /// then the register is gone (a re-create starts it from the next epoch stamped).
    pub fn fenced_delete(&mut self, c: usize, epoch: u64, now: u64) -> bool {
        if !self.fenced_write(c, epoch, now) {
            return false;
        }
        self.epoch = 0;
        self.log(now, || {
            format!("c{c} DELETES the deployment at epoch {epoch}")
        });
        true
    }

    /// A fenced write arrives at the register: accepted only with the current epoch. An
    /// accepted write must come from the contender that entered last (the current holder).
    pub fn fenced_write(&mut self, c: usize, epoch: u64, now: u64) -> bool {
        let accepted = epoch == self.epoch || self.sabotage.accept_stale_writes;
        if !accepted {
            self.stats.refused_writes += 1;
            return false;
        }
        self.stats.accepted_writes += 1;
        if self.last_entered != Some(c) {
            self.fail(format!(
                "fencing: a write of contender {c} (epoch {epoch}) was accepted at {now}us after contender {:?} entered \
                 (register epoch {})",
                self.last_entered, self.epoch
            ));
        }
        true
    }

    /// After every lease change: did the lock just become free (no lease held by the last
    /// holder's request)? Then remember who was queued in every lease.
    fn after_change(&mut self, now: u64) {
        let Some(request) = &self.holding_request else {
            return;
        };
        let still_held = self
            .leases
            .iter()
            .any(|l| l.record.as_ref().is_some_and(|r| r.held_by(request)));
        if still_held {
            return;
        }
        self.holding_request = None;
        self.free_at = now;
        self.visible_at_free = (0..self.contenders.len())
            .filter(|&i| {
                let con = &self.contenders[i];
                !con.crashed
                    && con.stamp.is_some()
                    && (0..self.leases.len())
                        .all(|l| self.queue(l).iter().any(|w| w.request_id == con.request_id))
            })
            .filter_map(|i| {
                let con = &self.contenders[i];
                Some((i, con.request_id.clone(), con.stamp.clone()?))
            })
            .collect();
    }
}

/// Store operations, applied atomically when a request arrives at its cluster.
impl Core {
    /// Writes a new version (`None`: deleted) by contender `writer` (`None`: a foreign tool).
    fn commit(
        &mut self,
        lease: usize,
        writer: Option<usize>,
        record: Option<LeaseRecord>,
    ) -> Option<Versioned<LeaseRecord>> {
        let world = &mut self.world;
        world.stats.lease_writes += 1;
        // Only a held lock gets the long hold: a claim made while waiting stays short, or a
        // crashed waiter blocks everyone for the whole hold.
        if let (Some(limit), Some(r)) = (world.claim_limit, record.as_ref()) {
            let claiming = r
                .holder
                .as_ref()
                .and_then(HolderField::known)
                .is_some_and(|h| h.phase == solo_core::lock::Phase::Acquiring);
            if claiming && r.lease_duration.as_micros() as u64 > limit {
                world.fail(format!(
                    "short claims: a claim made while acquiring lease {lease} lasts {:?}",
                    r.lease_duration
                ));
            }
        }
        let record = if world.sabotage.hide_waiters {
            // The writer's own entry goes into the hidden queue (or leaves it); others' stay.
            if let Some(request) = writer.map(|c| &world.contenders[c].request_id) {
                let l = &mut world.leases[lease];
                let written = record.as_ref().map_or(&[][..], |r| r.waiters.as_slice());
                match written.iter().find(|w| w.request_id == *request) {
                    Some(mine) => match l.hidden.iter_mut().find(|w| w.request_id == *request) {
                        Some(entry) => *entry = mine.clone(),
                        None => l.hidden.push(mine.clone()),
                    },
                    None => l.hidden.retain(|w| w.request_id != *request),
                }
            }
            record.map(|mut r| {
                r.waiters.clear();
                r
            })
        } else {
            record
        };
        let cluster = world.leases[lease].cluster;
        world.cluster_rv[cluster] += 1;
        let rv = world.cluster_rv[cluster];
        let l = &mut world.leases[lease];
        let record = record.map(Arc::new);
        l.rv = rv;
        l.record = record.clone();
        l.history.push((rv, record.clone()));
        for (client, reply) in std::mem::take(&mut l.watchers) {
            if Arc::strong_count(&reply) == 1 {
                continue; // the watch was dropped (cancelled): nobody to tell
            }
            let delay = self.rng_watch_delay();
            let event = self.world.view(lease, client, rv, record.as_deref());
            self.after(delay, move |_| deliver(&reply, Ok(event)));
        }
        let now = self.now;
        let event = writer.and_then(|w| self.world.view(lease, w, rv, record.as_deref()));
        if self.world.trace {
            let holder = record
                .as_ref()
                .and_then(|r| r.holder.as_ref())
                .map(describe_holder);
            let queue: Vec<&str> = self
                .world
                .queue(lease)
                .iter()
                .map(|w| w.request_id.as_str())
                .collect();
            self.world.log(now, || {
                format!("{writer:?} wrote lease {lease} rv {rv}: holder {holder:?} queue {queue:?}")
            });
        }
        self.world.after_change(now);
        event
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

    /// Registers a watch from `since`: the first change after it is delivered, even if it
    /// happened before the watch arrived (Kubernetes watches from a resourceVersion).
    pub fn watch(&mut self, lease: usize, client: usize, since: u64, reply: WatchReply) {
        let l = &self.world.leases[lease];
        let first = l.history.partition_point(|(rv, _)| *rv <= since);
        match l.history.get(first) {
            Some((rv, record)) => {
                let event = self.world.view(lease, client, *rv, record.as_deref());
                let delay = self.rng_watch_delay();
                self.after(delay, move |_| deliver(&reply, Ok(event)));
            }
            None => self.world.leases[lease].watchers.push((client, reply)),
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
