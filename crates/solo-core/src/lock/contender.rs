//! A request for the lock (`docs/model/lock.pml`): look, decide, claim straight to held, or
//! queue a ticket and watch the one thing that decides its turn.

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::future::{Either, join, join_all, select};

use super::config::{Jitter, LockConfig};
use super::decide::{Decision, LeaseView, Observer, decide, has_earlier};
use super::error::{Blocker, LockError};
use super::held::HeldLock;
use super::store::{Clock, Fence, LeaseStore, LockListing, StoreError};
use super::types::{
    Epoch, Holder, HolderField, Identity, LeaseKey, LeaseRecord, LockSet, Phase, Stamp, Versioned,
    Waiter,
};

/// How long [`Contender::acquire`] may wait for others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Fail with [`LockError::Busy`] if anyone holds the lock or waits before us.
    NoWait,
    /// Wait at most this long, then fail with [`LockError::Timeout`].
    Until(Duration),
    /// Wait until the lock is ours.
    Forever,
}

/// What a waiting request reports whenever who blocks it changes (for a progress line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Who blocks us, one per lease we lack.
    pub blockers: Vec<Blocker>,
    /// How many leases are ours right now.
    pub claimed: usize,
    /// How many leases the lock has.
    pub total: usize,
    /// How long we have been waiting.
    pub waited: Duration,
    /// Clusters failing transiently right now (retried with backoff, our place kept).
    pub failing: Vec<(LeaseKey, StoreError)>,
}

/// What this contender last saw of the lock's Lease in one namespace.
#[allow(clippy::large_enum_variant)]
enum Seen {
    /// Never listed.
    Unknown,
    /// Not in the namespace's last listing (whose resourceVersion a watch starts from).
    Absent { list_version: String },
    /// As listed, watched, or written by us.
    Present(Versioned<LeaseRecord>),
}

impl Seen {
    fn record(&self) -> Option<&LeaseRecord> {
        match self {
            Seen::Present(v) => Some(&v.value),
            Seen::Unknown | Seen::Absent { .. } => None,
        }
    }

    /// The resourceVersion a watch of it starts from: what we saw.
    fn version(&self) -> Option<&str> {
        match self {
            Seen::Present(v) => Some(&v.resource_version),
            Seen::Absent { list_version } => Some(list_version),
            Seen::Unknown => None,
        }
    }
}

type LeaseWatch =
    Pin<Box<dyn Future<Output = Result<Option<Versioned<LeaseRecord>>, StoreError>> + Send>>;
type TicketWatch =
    Pin<Box<dyn Future<Output = Result<Option<Versioned<Waiter>>, StoreError>> + Send>>;

/// Our knowledge of, and our writes to, one namespace of the lock.
struct Slot {
    key: LeaseKey,
    lease: Seen,
    observer: Observer,
    /// The other waiters' tickets here, as last listed (or watched).
    tickets: Vec<Versioned<Waiter>>,
    /// `lease` and `tickets` come from a consistent LIST of the current look (not from a
    /// watch, nor from a LIST no older than what we knew).
    listed: bool,
    /// The resourceVersion of the last LIST here, once this request has listed.
    list_version: Option<String>,
    /// The Lease exists but a LIST by the lock's label does not show it (written by another
    /// tool or an older client, without the label): it is read by name until we write it.
    unlabelled: bool,
    /// When we sent the write that last made or kept us the Lease's holder.
    claim_sent: Option<Duration>,
    /// The resourceVersion our last claim replaced, when it took the Lease over a clean
    /// release (the claim did not make it stamp-needed, and it was not ours already).
    taken_clean: Option<String>,
    /// Our own ticket here, once created.
    ticket: Option<Versioned<Waiter>>,
    /// When we sent the write that last stamped our ticket's heartbeat.
    ticket_sent: Option<Duration>,
    /// Our heartbeat here lost its race (a heartbeat of ours landed unanswered, or a LIST
    /// showed us an older version of our ticket): the next look here is a consistent LIST. A
    /// LIST no older than what we know may show the older version again, every time.
    ticket_race_lost: bool,
    /// The watch on the Lease while we wait for it, with the resourceVersion it started from.
    watch: Option<(String, LeaseWatch)>,
    /// Transient failures in a row here (unreachable, busy, timed out): while above zero, what
    /// we saw may be stale, so it is listed again after a jittered backoff.
    failures: u32,
    /// The last of those failures, to name it if the wait ends before the cluster answers.
    last_error: Option<StoreError>,
}

impl Slot {
    /// When our ticket's next heartbeat falls due, `beat` after the last one we sent; `None`
    /// with no ticket here, or none sent yet (then it is due at once).
    fn beat_due_at(&self, beat: Duration) -> Option<Duration> {
        self.ticket
            .as_ref()
            .and(self.ticket_sent)
            .map(|sent| sent + beat)
    }

    fn mine(&self, request_id: &str) -> bool {
        self.lease.record().is_some_and(|r| r.held_by(request_id))
    }

    /// Whether this request has neither listed nor written here: a listing of any age then
    /// tells no less than it knows.
    fn knows_nothing(&self) -> bool {
        self.list_version.is_none() && matches!(self.lease, Seen::Unknown) && self.ticket.is_none()
    }

    /// The newest resourceVersion we know here (our last LIST, and every Lease and ticket
    /// seen or written since), once this request has listed here; `None` before, or when a
    /// version is not a number (then only a consistent LIST will do).
    fn newest_version(&self) -> Option<String> {
        let listed = self.list_version.as_deref()?;
        let known = [listed]
            .into_iter()
            .chain(self.lease.version())
            .chain(self.ticket.iter().map(|t| t.resource_version.as_str()))
            .chain(self.tickets.iter().map(|t| t.resource_version.as_str()));
        let mut newest = 0u64;
        for version in known {
            newest = newest.max(version.parse().ok()?);
        }
        Some(newest.to_string())
    }
}

/// The version each slot's Lease was taken over a clean release at (`taken`, by slot index),
/// when every one was: the versions a lock says it was taken over ([`HeldLock::taken_over`]).
fn taken_clean_everywhere(
    slots: &[Slot],
    taken: impl Fn(usize, &Slot) -> Option<String>,
) -> Option<BTreeMap<LeaseKey, String>> {
    slots
        .iter()
        .enumerate()
        .map(|(i, slot)| Some((slot.key.clone(), taken(i, slot)?)))
        .collect()
}

/// How a look lists one namespace ([`Contender::list_all`]). A `Consistent` or `Recent` one
/// may be fresh for the round ([`Contender::round`]): a snapshot, however old, that shows the
/// Lease free shows every ticket queued before that release and still there, and the claim
/// at the listed version fails if the Lease changed since. A `Since` look is never taken as
/// fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Look {
    /// A consistent LIST: the namespace now.
    Consistent,
    /// No older than this version, the newest we know there.
    Since(String),
    /// At any version the adapter answers at once: where this request knows nothing yet.
    Recent,
}

/// The watch on our predecessor's ticket while we wait behind it.
struct PredecessorWatch {
    slot: usize,
    request_id: String,
    since: String,
    watch: TicketWatch,
}

/// Told the versions a round claims over, before its claims go out ([`Contender::on_clean_claim`]).
pub type CleanClaims = Box<dyn FnMut(&BTreeMap<LeaseKey, String>) + Send>;

/// One request for the lock of a deployment, with its stamp taken once, when it is created.
///
/// Dropping an [`acquire`](Contender::acquire) future leaves our claims and tickets (they
/// expire); call [`abandon`](Contender::abandon) to remove them at once.
pub struct Contender<S, C, F> {
    lock_set: LockSet,
    me: Holder,
    waiter: Waiter,
    config: LockConfig,
    store: Arc<S>,
    clock: Arc<C>,
    fence: Arc<F>,
    jitter: Jitter,
    /// One per key of the lock set, in its order (so [`LockSet::queue_index`] is our queue's).
    slots: Vec<Slot>,
    /// The next look lists every namespace (a newcomer, after a lost race or a failure, after
    /// queueing, or woken from behind).
    must_list: bool,
    /// The last look listed a namespace at whatever version the adapter had at hand
    /// ([`Look::Recent`]): it may predate a release, so a request that does not wait looks
    /// again, consistently, before it calls the lock busy.
    stale_look: bool,
    predecessor: Option<PredecessorWatch>,
    /// Lost compare-and-swap races in a row, for the backoff.
    conflicts: u32,
    /// Told of each round that takes every Lease over a clean release.
    on_clean_claim: Option<CleanClaims>,
}

impl<S, C, F> Contender<S, C, F>
where
    S: LeaseStore + 'static,
    C: Clock,
    F: Fence,
{
    /// A request stamped now, with an id made from the host, pid and time.
    pub fn new(
        lock_set: LockSet,
        identity: Identity,
        config: LockConfig,
        store: Arc<S>,
        clock: Arc<C>,
        fence: Arc<F>,
    ) -> Result<Self, LockError> {
        let now = clock.wall_now();
        let request_id = format!(
            "{}-{}-{:x}",
            identity.host,
            identity.pid,
            now.as_nanosecond()
        );
        Self::with_request_id(lock_set, identity, request_id, config, store, clock, fence)
    }

    /// A request stamped now, under a caller-made unique id (e.g. a UUID from the adapter).
    #[allow(clippy::too_many_arguments)]
    pub fn with_request_id(
        lock_set: LockSet,
        identity: Identity,
        request_id: String,
        config: LockConfig,
        store: Arc<S>,
        clock: Arc<C>,
        fence: Arc<F>,
    ) -> Result<Self, LockError> {
        config.validate()?;
        let requested_at = clock.wall_now();
        // A claim is written straight as held: older clients then yield to it.
        let me = Holder {
            user: identity.user,
            host: identity.host,
            pid: identity.pid,
            request_id,
            requested_at,
            phase: Phase::Held,
            authenticated_as: None,
        };
        let waiter = Waiter {
            request_id: me.request_id.clone(),
            requested_at,
            user: me.user.clone(),
            host: me.host.clone(),
            pid: me.pid,
            heartbeat: requested_at,
        };
        let slots = lock_set
            .keys()
            .iter()
            .map(|key| Slot {
                key: key.clone(),
                lease: Seen::Unknown,
                observer: Observer::default(),
                tickets: Vec::new(),
                listed: false,
                list_version: None,
                unlabelled: false,
                ticket_race_lost: false,
                claim_sent: None,
                taken_clean: None,
                ticket: None,
                ticket_sent: None,
                watch: None,
                failures: 0,
                last_error: None,
            })
            .collect();
        let jitter = Jitter::new(config.jitter_seed, &me.request_id);
        Ok(Contender {
            lock_set,
            me,
            waiter,
            config,
            store,
            clock,
            fence,
            jitter,
            slots,
            must_list: true,
            stale_look: false,
            predecessor: None,
            conflicts: 0,
            on_clean_claim: None,
        })
    }

    /// Calls `announce`, right before a round's claims go out, with the resourceVersion of
    /// every Lease when each is claimed over a clean release (or was, in an earlier round). If
    /// the lock is taken in that round, [`HeldLock::taken_over`] equals them: a read started
    /// once it is called sees the state as a read under the lock would, so a caller may read
    /// beside the claims (keeping the read only if the versions match). A newcomer's first
    /// round and a waiter woken by a clean release both announce.
    pub fn on_clean_claim(&mut self, announce: CleanClaims) {
        self.on_clean_claim = Some(announce);
    }

    /// This request's place in the queue.
    pub fn stamp(&self) -> Stamp {
        self.me.stamp()
    }

    /// The lock this request is for.
    pub fn lock_set(&self) -> &LockSet {
        &self.lock_set
    }

    /// Acquires the lock, waiting as `policy` allows, calling `on_progress` whenever it goes
    /// back to waiting with different blockers. On any error, our claims and tickets have
    /// been removed (as far as the clusters could be reached) before it returns.
    pub async fn acquire(
        &mut self,
        policy: WaitPolicy,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<HeldLock<S, C>, LockError> {
        let started = self.clock.mono_now();
        let deadline = match policy {
            WaitPolicy::Until(limit) => Some(started + limit),
            WaitPolicy::NoWait | WaitPolicy::Forever => None,
        };
        let waits = policy != WaitPolicy::NoWait;
        let mut reported: Option<Vec<String>> = None;
        // A request tried again after it gave up looks again: what it saw then may be old.
        self.must_list = true;
        // A newcomer whose adapter remembers every Lease free after a clean release takes that
        // for its first look: its round claims at once, beside the LIST it makes anyway.
        if self.recall() {
            self.must_list = false;
        }
        loop {
            // Heartbeats and claim renewals fall due between rounds too: a head that keeps
            // losing races, or whose lock expires as it is taken, must not look dead meanwhile.
            if let Err(e) = self.maintain().await {
                return Err(self.bail(e).await);
            }
            // 1. Look: list every namespace (a newcomer, or woken from behind), or decide on
            // what the open watches delivered.
            let failing = self.slots.iter().any(|s| s.failures > 0);
            if (self.must_list || failing)
                && let Err(e) = self.list_all(waits, false).await
            {
                return Err(self.bail(e).await);
            }
            self.drop_dead_tickets().await;
            // 2. Decide.
            let decision = self.decide_now();
            let failing = self.slots.iter().any(|s| s.failures > 0);
            match decision {
                Decision::Round if !failing => {
                    // 3. Claim straight to held, beside a LIST of every namespace.
                    match self.round(waits).await {
                        Ok(true) => match self.take_hold().await {
                            Ok(Some(held)) => return Ok(held),
                            Ok(None) => self.must_list = true,
                            Err(e) => return Err(self.bail(e).await),
                        },
                        Ok(false) => {}
                        Err(e) => return Err(self.bail(e).await),
                    }
                    if self.conflicts > 0 {
                        back_off(&*self.clock, &self.jitter, &self.config, self.conflicts).await;
                    }
                    let now = self.clock.mono_now();
                    if deadline.is_some_and(|d| now >= d) {
                        // Races lost until the deadline: give up as any wait does.
                        let blockers = self.blockers(now);
                        let _ = self.cleanup(true).await;
                        return Err(LockError::Timeout {
                            waited: now.saturating_sub(started),
                            blockers,
                        });
                    }
                    continue;
                }
                Decision::Behind | Decision::Yield if self.claimed() > 0 => {
                    // Someone earlier goes first: give back what we claimed (6.).
                    if let Err(e) = self.yield_claims().await {
                        return Err(self.bail(e).await);
                    }
                }
                _ => {}
            }
            let now = self.clock.mono_now();
            if !waits {
                if self.stale_look {
                    if let Err(e) = self.list_all(false, true).await {
                        return Err(self.bail(e).await);
                    }
                    continue;
                }
                let blockers = self.blockers(now);
                // Best effort: a claim we could not remove expires on its own.
                let _ = self.cleanup(true).await;
                return Err(LockError::Busy { blockers });
            }
            if decision != Decision::Round && !self.queued() {
                // 7. Be visible before waiting: a ticket in the queue's namespace, then look again.
                if let Err(e) = self.queue().await {
                    return Err(self.bail(e).await);
                }
                continue;
            }
            if decision == Decision::Yield {
                continue;
            }
            if deadline.is_some_and(|d| now >= d) {
                let blockers = self.blockers(now);
                if let Some((key, e)) = self.failing().into_iter().next() {
                    return Err(self.bail(LockError::store(&key, e)).await);
                }
                let _ = self.cleanup(true).await;
                return Err(LockError::Timeout {
                    waited: now.saturating_sub(started),
                    blockers,
                });
            }
            let signature = self.blocking_signature(now);
            if reported.as_ref() != Some(&signature) {
                reported = Some(signature);
                on_progress(&Progress {
                    blockers: self.blockers(now),
                    claimed: self.claimed(),
                    total: self.slots.len(),
                    waited: now.saturating_sub(started),
                    failing: self.failing(),
                });
            }
            // 8. Wait: behind our predecessor's ticket, or (the head) on the Leases we lack.
            let behind = decision == Decision::Behind && !self.config.sabotage.holder_only;
            if let Err(e) = self.wait(behind, deadline).await {
                return Err(self.bail(e).await);
            }
        }
    }

    /// Removes our claims and tickets from every namespace, in parallel: for Ctrl-C, or after
    /// an `acquire` future was dropped. Lists every namespace first, since a write of the
    /// dropped future may still have landed.
    pub async fn abandon(&mut self) -> Result<(), LockError> {
        self.cleanup(false).await
    }

    async fn bail(&mut self, error: LockError) -> LockError {
        let _ = self.cleanup(false).await;
        error
    }

    /// Takes what the adapter remembers of every Lease ([`LeaseStore::remembered`]) as the
    /// first look, when this request has looked nowhere yet and the memory shows the lock free
    /// ([`remembered_free`]). It is not a LIST (`listed` stays false), so the round lists
    /// beside its claims; a memory out of date only loses their compare-and-swaps.
    fn recall(&mut self) -> bool {
        let fresh = self
            .slots
            .iter()
            .all(|s| s.list_version.is_none() && matches!(s.lease, Seen::Unknown));
        if !fresh {
            return false;
        }
        let Some(remembered) = remembered_free(&*self.store, &self.lock_set) else {
            return false;
        };
        let now = self.clock.mono_now();
        let listed = self.config.sabotage.recalled_as_listed;
        for (slot, (_, lease)) in self.slots.iter_mut().zip(remembered) {
            slot.lease = Seen::Present(lease);
            slot.observer.observe(slot.lease.record(), now);
            slot.listed = listed;
        }
        true
    }

    fn claimed(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.mine(&self.me.request_id))
            .count()
    }

    fn queued(&self) -> bool {
        self.slots[self.lock_set.queue_index()].ticket.is_some()
    }

    fn view<'a>(&self, slot: &'a Slot, now: Duration) -> LeaseView<'a> {
        match slot.lease.record() {
            None => LeaseView::Free,
            Some(rec) => match &rec.holder {
                None => LeaseView::Free,
                Some(h) if h.is_request(&self.me.request_id) => LeaseView::Mine,
                Some(holder) => LeaseView::Other {
                    holder,
                    live: slot.observer.holder_live(rec, now),
                },
            },
        }
    }

    /// Live tickets of others, in every namespace, with the namespace they were seen in.
    fn live_tickets(&self, now: Duration) -> impl Iterator<Item = (usize, &Versioned<Waiter>)> {
        let ttl = self.config.waiter_ttl;
        self.slots.iter().enumerate().flat_map(move |(i, slot)| {
            slot.tickets
                .iter()
                .filter(move |t| slot.observer.ticket_live(&t.value, ttl, now))
                .map(move |t| (i, t))
        })
    }

    fn decide_now(&self) -> Decision {
        let now = self.clock.mono_now();
        let views: Vec<LeaseView<'_>> = self.slots.iter().map(|s| self.view(s, now)).collect();
        let earlier = has_earlier(
            self.me.stamp_key(),
            self.live_tickets(now).map(|(_, t)| &t.value),
        );
        decide(&self.me.stamp(), &views, earlier)
    }

    /// Our predecessor: the live ticket with the latest stamp before ours, in the first
    /// namespace where we saw it.
    fn predecessor(&self, now: Duration) -> Option<(usize, &Versioned<Waiter>)> {
        let me = self.me.stamp_key();
        let mut best: Option<(usize, &Versioned<Waiter>)> = None;
        for (i, t) in self.live_tickets(now) {
            if t.value.request_id == self.me.request_id || t.value.stamp_key() >= me {
                continue;
            }
            if best.is_none_or(|(_, b)| t.value.stamp_key() > b.value.stamp_key()) {
                best = Some((i, t));
            }
        }
        best
    }

    /// Step 1: lists every namespace in parallel (the Lease and every ticket, one snapshot
    /// each). A namespace that fails transiently keeps what we saw and is retried after a
    /// backoff (`waits`), or ends the request (a `NoWait` one).
    ///
    /// Unless `consistent`, a namespace is listed no older than the newest version we know
    /// there, or, where this request never listed, at whatever version the adapter answers at
    /// once ([`LeaseStore::list_recent`]): an API server answers both from its watch cache,
    /// where a consistent LIST may wait up to 100 ms for the cache. A look no older than a
    /// version decides only whether to claim or wait; it is not fresh ([`Look`]), so the round
    /// lists again beside its claims.
    async fn list_all(&mut self, waits: bool, consistent: bool) -> Result<(), LockError> {
        let backoff = self.slots.iter().map(|s| s.failures).max().unwrap_or(0);
        if backoff > 0 {
            let cap = self.config.renew_interval;
            let pause = self.jitter.backoff(self.config.retry_backoff, backoff, cap);
            self.clock.sleep(pause).await;
        }
        let (store, lock_set) = (&*self.store, &self.lock_set);
        // Keys, not slots, go into the futures: a slot holds watches, which are not `Sync`.
        let (keys, looks): (Vec<LeaseKey>, Vec<Look>) = self
            .slots
            .iter()
            .map(|slot| {
                let look = match (consistent, slot.newest_version()) {
                    (true, _) => Look::Consistent,
                    (false, _) if slot.ticket_race_lost => Look::Consistent,
                    (false, Some(version)) => Look::Since(version),
                    (false, None) if slot.knows_nothing() => Look::Recent,
                    (false, None) => Look::Consistent,
                };
                (slot.key.clone(), look)
            })
            .unzip();
        self.stale_look = looks.contains(&Look::Recent);
        let lists = join_all(keys.iter().zip(&looks).map(|(key, look)| {
            let name = lock_set.lease_name(key);
            async move {
                match look {
                    Look::Since(version) => store.list_since(key, name, version).await,
                    Look::Recent => store.list_recent(key, name).await,
                    Look::Consistent => store.list(key, name).await,
                }
            }
        }))
        .await;
        self.must_list = false;
        for (i, result) in lists.into_iter().enumerate() {
            match result {
                Ok(mut listing) => {
                    if listing.lease.is_some() {
                        self.slots[i].unlabelled = false;
                    } else if self.slots[i].unlabelled {
                        let key = &self.slots[i].key;
                        match self.store.get(key, self.lock_set.lease_name(key)).await {
                            Ok(lease) => listing.lease = lease,
                            Err(e) if e.is_transient() && waits => {
                                let slot = &mut self.slots[i];
                                slot.failures += 1;
                                slot.last_error = Some(e);
                                self.must_list = true;
                                continue;
                            }
                            Err(e) => return Err(LockError::store(key, e)),
                        }
                    }
                    // Timed from now, after the GET above if there was one: a record is
                    // observed once its read has answered, never earlier, or its holder
                    // would expire on our clock before its own validity ends (by as long as
                    // the GET took: a slow link).
                    let now = self.clock.mono_now();
                    self.take_listing(i, listing, now, true);
                    self.slots[i].listed &= !matches!(looks[i], Look::Since(_));
                    if looks[i] == Look::Consistent {
                        self.slots[i].ticket_race_lost = false;
                    }
                }
                Err(e) if e.is_transient() && waits => {
                    let slot = &mut self.slots[i];
                    slot.failures += 1;
                    slot.last_error = Some(e);
                    slot.listed = false;
                    self.must_list = true;
                }
                Err(e) => return Err(LockError::store(&self.slots[i].key, e)),
            }
        }
        Ok(())
    }

    /// What one LIST showed of namespace `i`; `with_lease` unless our own write of the Lease
    /// is newer than the list may be.
    fn take_listing(&mut self, i: usize, listing: LockListing, now: Duration, with_lease: bool) {
        let me = self.me.request_id.clone();
        let slot = &mut self.slots[i];
        if with_lease {
            slot.lease = match listing.lease {
                Some(v) => Seen::Present(v),
                None => Seen::Absent {
                    list_version: listing.resource_version.clone(),
                },
            };
            slot.observer.observe(slot.lease.record(), now);
            if !slot.mine(&me) {
                // A claim of ours that we did not see land (a timed-out write) keeps no send
                // time either: the next round claims it again, which times it.
                slot.claim_sent = None;
            }
        }
        let (ours, others): (Vec<_>, Vec<_>) = listing
            .tickets
            .into_iter()
            .partition(|t| t.value.request_id == me);
        // A ticket of ours missing from the list was taken for dead and removed: queue again.
        slot.ticket = ours.into_iter().next();
        if slot.ticket.is_none() {
            slot.ticket_sent = None;
        }
        slot.observer
            .observe_tickets(others.iter().map(|t| &t.value), now);
        slot.tickets = others;
        slot.list_version = Some(listing.resource_version);
        slot.listed = true;
        slot.failures = 0;
        slot.last_error = None;
    }

    /// Deletes the tickets that are dead on our clock (best effort, at their resourceVersion:
    /// a ticket whose owner beat meanwhile stays).
    async fn drop_dead_tickets(&mut self) {
        let now = self.clock.mono_now();
        let ttl = self.config.waiter_ttl;
        let dead: Vec<(usize, String, String)> = self
            .slots
            .iter()
            .enumerate()
            .flat_map(|(i, slot)| {
                slot.tickets
                    .iter()
                    .filter(move |t| !slot.observer.ticket_live(&t.value, ttl, now))
                    .map(move |t| (i, t.value.request_id.clone(), t.resource_version.clone()))
            })
            .collect();
        if dead.is_empty() {
            return;
        }
        let (store, lock_set, slots) = (&*self.store, &self.lock_set, &self.slots);
        let results = join_all(dead.iter().map(|(i, id, rv)| {
            let key = &slots[*i].key;
            store.delete_ticket(key, lock_set.lease_name(key), id, Some(rv))
        }))
        .await;
        for ((i, id, _), result) in dead.into_iter().zip(results) {
            if result.is_ok() {
                self.slots[i].tickets.retain(|t| t.value.request_id != id);
            }
        }
    }

    /// Step 3: claims, in parallel, every Lease we lack, straight to held (one write each,
    /// carrying the next epoch), and lists the queue's namespace beside the claims (its
    /// tickets are the queue) unless the look's LIST of it already shows every ticket visible
    /// when the lock became free. True when every Lease is ours and no live earlier ticket
    /// was seen: the lock is ours.
    async fn round(&mut self, waits: bool) -> Result<bool, LockError> {
        let now = self.clock.mono_now();
        // The look's LIST of the queue's namespace shows every ticket visible when the lock
        // became free only if the Lease was free (or ours) in that very LIST (a holder that
        // expired on our clock since was live when it was listed) and no other Lease could
        // have been released after it: a lock of one namespace. With more, the others' LISTs
        // may have been served later, after a release that a waiter had queued before.
        let me = &self.me.request_id;
        let queue = self.lock_set.queue_index();
        let sabotage = &self.config.sabotage;
        let recalled = self.slots.iter().all(|s| s.list_version.is_none());
        let fresh = (self.slots.len() == 1
            || sabotage.trust_fresh_look
            || sabotage.recalled_as_listed && recalled)
            && self.slots.iter().all(|s| {
                s.listed
                    && s.lease
                        .record()
                        .is_none_or(|r| r.holder.is_none() || r.held_by(me))
            });
        let epoch = if self.config.sabotage.ignore_epoch_marks {
            Epoch(1)
        } else {
            super::fencing::next_epoch(
                self.slots
                    .iter()
                    .filter_map(|s| s.lease.record().and_then(|r| r.epoch_mark)),
            )
        };
        let wall = self.clock.wall_now();
        let claims: Vec<(usize, LeaseRecord, Option<String>, bool)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                !matches!(self.view(s, now), LeaseView::Mine) || s.claim_sent.is_none()
            })
            .map(|(i, s)| {
                let record = claim_record(&self.me, s.lease.record(), epoch, wall, &self.config);
                let version = match &s.lease {
                    Seen::Present(v) => Some(v.resource_version.clone()),
                    Seen::Unknown | Seen::Absent { .. } => None,
                };
                let clean = (!record.stamp_needed || self.config.sabotage.taken_over_unclean)
                    && !s.mine(me);
                (i, record, version, clean)
            })
            .collect();
        // Keys, not slots, go into the futures: a slot holds watches, which are not `Sync`.
        let keys: Vec<LeaseKey> = self.slots.iter().map(|s| s.key.clone()).collect();
        let mut claims: BTreeMap<usize, _> = claims
            .into_iter()
            .map(|(i, record, version, clean)| (i, (record, version, clean)))
            .collect();
        self.announce_clean(&claims);
        let list_since_seen = self.config.sabotage.list_since_seen;
        let (store, lock_set, keys) = (&*self.store, &self.lock_set, &keys);
        let steps = join_all(keys.iter().enumerate().map(|(i, key)| {
            let claim = claims.remove(&i);
            async move {
                let name = lock_set.lease_name(key);
                let write = claim.map(|(record, version, clean)| async move {
                    let result = match &version {
                        Some(rv) => store.replace(key, name, record, rv).await,
                        None => store.create(key, name, record).await,
                    };
                    let seen = version.clone();
                    ((version.is_none(), version.filter(|_| clean)), seen, result)
                });
                match (write, fresh || i != queue) {
                    (None, true) => (i, None, None),
                    (None, false) => (i, None, Some(store.list(key, name).await)),
                    // Another namespace: its LIST is not needed for the queue, but a claim
                    // that failed is followed by a consistent one, as in `claim_and_list`.
                    (Some(write), true) => {
                        let written = write.await;
                        let listed = match (&written.2, fresh) {
                            (Err(_), false) => Some(store.list(key, name).await),
                            _ => None,
                        };
                        (i, Some(written), listed)
                    }
                    (Some(write), false) => {
                        let local = store.lists_since_locally(key, name);
                        let (written, listed) =
                            claim_and_list(store, key, name, write, local, list_since_seen).await;
                        (i, Some(written), Some(listed))
                    }
                }
            }
        }))
        .await;
        let mut writes = Vec::new();
        let mut lists = Vec::new();
        for (i, written, listed) in steps {
            if let Some((flags, _, result)) = written {
                writes.push((i, flags, result));
            }
            if let Some(listed) = listed {
                lists.push((i, listed));
            }
        }
        let mut complete = true;
        let mut conflict = false;
        for (i, (created, taken_clean), result) in writes {
            let slot = &mut self.slots[i];
            match result {
                Ok(v) => {
                    slot.lease = Seen::Present(v);
                    slot.claim_sent = Some(now);
                    slot.taken_clean = taken_clean;
                }
                Err(StoreError::Conflict) => {
                    conflict = true;
                    complete = false;
                    // It exists though the list did not show it: unlabelled, read it by name.
                    slot.unlabelled |= created;
                }
                // A create answered 404: the namespace is missing, and retrying cannot fix it.
                Err(StoreError::NotFound) if created => {
                    return Err(LockError::store(
                        &slot.key,
                        StoreError::NamespaceMissing {
                            namespace: slot.key.namespace.clone(),
                        },
                    ));
                }
                Err(StoreError::NotFound) => complete = false,
                Err(e) if e.is_transient() && waits => {
                    slot.failures += 1;
                    slot.last_error = Some(e);
                    complete = false;
                }
                Err(e) => return Err(LockError::store(&slot.key, e)),
            }
        }
        let after = self.clock.mono_now();
        for (i, result) in lists {
            match result {
                Ok(listing) => self.take_listing(i, listing, after, false),
                Err(e) if e.is_transient() && waits => {
                    let slot = &mut self.slots[i];
                    slot.failures += 1;
                    slot.last_error = Some(e);
                    complete = false;
                }
                Err(e) => return Err(LockError::store(&self.slots[i].key, e)),
            }
        }
        self.conflicts = if conflict { self.conflicts + 1 } else { 0 };
        if !complete {
            self.must_list = true;
            return Ok(false);
        }
        let earlier = has_earlier(
            self.me.stamp_key(),
            self.live_tickets(after).map(|(_, t)| &t.value),
        );
        Ok(!earlier && self.claimed() == self.slots.len())
    }

    /// Calls [`on_clean_claim`](Self::on_clean_claim)'s callback when the round about to send
    /// `claims` (slot → record, version claimed over, clean) would leave every slot's
    /// `taken_clean` set: the versions [`take_hold`](Self::take_hold) then gives as taken over.
    fn announce_clean(&mut self, claims: &BTreeMap<usize, (LeaseRecord, Option<String>, bool)>) {
        let Some(announce) = self.on_clean_claim.as_mut() else {
            return;
        };
        let versions = taken_clean_everywhere(&self.slots, |i, slot| match claims.get(&i) {
            Some((_, version, clean)) => version.clone().filter(|_| *clean),
            None => slot.taken_clean.clone(),
        });
        if let Some(versions) = versions {
            announce(&versions);
        }
    }

    /// Step 4: every Lease is ours and nobody earlier waits. Stamp the state if a Lease was
    /// taken from a holder that did not release it, then hold. `None` when a Lease turned out
    /// not to be ours any more, or the lock expired before it was ours (our tickets then stay).
    async fn take_hold(&mut self) -> Result<Option<HeldLock<S, C>>, LockError> {
        let mut leases = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            match (&slot.lease, slot.claim_sent) {
                (Seen::Present(v), Some(sent)) if v.value.held_by(&self.me.request_id) => {
                    leases.push((slot.key.clone(), v.clone(), sent));
                }
                _ => return Ok(None),
            }
        }
        let claimed_epoch = leases
            .iter()
            .filter_map(|(_, v, _)| v.value.epoch_mark)
            .max()
            .unwrap_or(Epoch(0));
        let stamp = leases.iter().any(|(_, v, _)| v.value.stamp_needed);
        let taken_over = taken_clean_everywhere(&self.slots, |_, s| s.taken_clean.clone())
            .filter(|_| !stamp || self.config.sabotage.taken_over_unclean);
        let (fence, lock_set) = (Arc::clone(&self.fence), self.lock_set.clone());
        let (me, config) = (self.me.clone(), self.config.clone());
        let (store, clock) = (Arc::clone(&self.store), Arc::clone(&self.clock));
        let taking = async move {
            let epoch = if stamp {
                let floor = Epoch(claimed_epoch.0.saturating_sub(1));
                fence.advance_epoch(&lock_set, floor).await?
            } else {
                claimed_epoch
            };
            let renew = epoch != claimed_epoch
                || leases
                    .iter()
                    .any(|(_, v, _)| v.value.epoch_mark != Some(epoch))
                || config.hold_duration > config.claim_duration();
            let held = HeldLock::new(lock_set, me, epoch, config, store, clock, leases)
                .with_taken_over(taken_over);
            if renew {
                // A kept lock's longer hold, or the stamped epoch, goes onto every Lease now.
                if let Err(e) = held.renew_once().await {
                    let _ = held.release().await;
                    return match e {
                        LockError::Lost { .. } => Ok(None),
                        other => Err(other),
                    };
                }
            }
            Ok(Some(held))
        };
        let Some(held) = self.beating_beside(taking).await? else {
            return Ok(None);
        };
        if !held.validity().is_valid(self.clock.mono_now()) {
            // Paused past the lease while taking hold: never hand out a lock that is already
            // invalid. Our tickets stay (the lock was not given to them yet), so we keep our
            // place in the queue and start again.
            let _ = held.release().await;
            return Ok(None);
        }
        let tickets: Vec<(LeaseKey, String)> = self
            .slots
            .iter_mut()
            .filter_map(|s| {
                s.ticket_sent = None;
                s.ticket.take().map(|t| (s.key.clone(), t.resource_version))
            })
            .collect();
        for slot in &mut self.slots {
            slot.watch = None;
        }
        self.predecessor = None;
        Ok(Some(held.with_tickets(tickets)))
    }

    /// Step 6: gives back, in parallel, every Lease we claimed (holder cleared; its epoch and
    /// stamp-needed stay as they are).
    async fn yield_claims(&mut self) -> Result<(), LockError> {
        let me = self.me.request_id.clone();
        let (store, lock_set) = (&*self.store, &self.lock_set);
        let results = join_all(
            self.slots
                .iter_mut()
                .filter(|s| s.mine(&me))
                .map(|slot| give_back(store, lock_set, slot, &me)),
        )
        .await;
        results.into_iter().collect()
    }

    /// Step 7: creates our ticket in the lock set's queue namespace; the next look lists again
    /// (whoever lists second sees the other).
    async fn queue(&mut self) -> Result<(), LockError> {
        let now = self.clock.mono_now();
        let waiter = Waiter {
            heartbeat: self.clock.wall_now(),
            ..self.waiter.clone()
        };
        self.must_list = true;
        let slot = &mut self.slots[self.lock_set.queue_index()];
        if slot.ticket.is_some() {
            return Ok(());
        }
        let name = self.lock_set.lease_name(&slot.key);
        let result = (self.store)
            .put_ticket(&slot.key, name, &waiter, self.config.waiter_ttl, None)
            .await;
        match result {
            Ok(v) => {
                slot.ticket = Some(v);
                slot.ticket_sent = Some(now);
            }
            // Ours already (a create that timed out but landed): the list shows it.
            Err(StoreError::Conflict) => {}
            Err(StoreError::NotFound) => {
                return Err(LockError::store(
                    &slot.key,
                    StoreError::NamespaceMissing {
                        namespace: slot.key.namespace.clone(),
                    },
                ));
            }
            Err(e) if e.is_transient() => {
                slot.failures += 1;
                slot.last_error = Some(e);
            }
            Err(e) => return Err(LockError::store(&slot.key, e)),
        }
        Ok(())
    }

    /// While waiting: rewrites every heartbeat and claim of ours that is due, in parallel.
    async fn maintain(&mut self) -> Result<(), LockError> {
        let now = self.clock.mono_now();
        let (beat, renew) = (self.config.heartbeat_interval(), self.config.renew_interval);
        let wall = self.clock.wall_now();
        let ttl = self.config.waiter_ttl;
        let me = self.me.request_id.clone();
        let (store, lock_set) = (&*self.store, &self.lock_set);
        let results = join_all(self.slots.iter_mut().map(|slot| {
            let me = &me;
            async move {
                if slot.beat_due_at(beat).is_none_or(|due| now >= due)
                    && beat_ticket(store, lock_set, slot, now, wall, ttl).await?
                {
                    return Ok(true);
                }
                let name = lock_set.lease_name(&slot.key);
                if let Seen::Present(v) = &slot.lease
                    && v.value.held_by(me)
                    && slot.claim_sent.is_none_or(|s| now >= s + renew)
                {
                    let mut next = v.value.clone();
                    next.renew_time = Some(wall);
                    match store
                        .replace(&slot.key, name, next, &v.resource_version)
                        .await
                    {
                        Ok(v) => {
                            slot.lease = Seen::Present(v);
                            slot.claim_sent = Some(now);
                        }
                        Err(e) if e.is_transient() => {
                            slot.failures += 1;
                            slot.last_error = Some(e);
                            return Ok(true);
                        }
                        Err(StoreError::Conflict | StoreError::NotFound) => return Ok(true),
                        Err(e) => return Err(LockError::store(&slot.key, e)),
                    }
                }
                Ok(false)
            }
        }))
        .await;
        let mut relook = false;
        for result in results {
            relook |= result?;
        }
        if relook {
            self.must_list = true;
        }
        Ok(())
    }

    /// Runs `work` (taking hold: a stamp, a renewal that may be retried until the lock's
    /// validity) while writing every heartbeat of ours that falls due meanwhile, so that a slow
    /// take never lets our tickets look dead and our place in the queue go; a heartbeat already
    /// sent when `work` ends is waited for, so that the ticket handed on carries its version.
    /// What a heartbeat meets is left for the next look (a lost ticket is queued again then);
    /// once the lock is held, a ticket whose version we lost meanwhile dies after the TTL.
    async fn beating_beside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let (done, mut finished) = futures::channel::oneshot::channel::<()>();
        let work = async move {
            let output = work.await;
            let _ = done.send(());
            output
        };
        let beats = async {
            let (beat, ttl) = (self.config.heartbeat_interval(), self.config.waiter_ttl);
            loop {
                let now = self.clock.mono_now();
                let due = self
                    .slots
                    .iter()
                    .filter(|s| s.ticket.is_some())
                    .map(|s| s.beat_due_at(beat).unwrap_or(now))
                    .min();
                let Some(due) = due else { return };
                // `work` first: once it is done, no heartbeat more goes out.
                let wait = pin!(self.clock.sleep(due.saturating_sub(now)));
                if let Either::Left(_) = select(&mut finished, wait).await {
                    return;
                }
                let (now, wall) = (self.clock.mono_now(), self.clock.wall_now());
                let (store, lock_set) = (&*self.store, &self.lock_set);
                let beats = self
                    .slots
                    .iter_mut()
                    .filter(|s| s.beat_due_at(beat).is_none_or(|due| now >= due))
                    .map(|slot| beat_ticket(store, lock_set, slot, now, wall, ttl));
                if join_all(beats)
                    .await
                    .iter()
                    .any(|r| !matches!(r, Ok(false)))
                {
                    self.must_list = true;
                }
            }
        };
        join(work, beats).await.0
    }

    /// Step 8: waits, behind our predecessor's ticket (`behind`) or on the Leases we lack (the
    /// head), each watched from the read the decision was based on, until what we watch
    /// changes, what blocks us expires on our clock, or the deadline passes. Heartbeats and
    /// claim renewals that fall due meanwhile are written without waking the decision.
    async fn wait(&mut self, behind: bool, deadline: Option<Duration>) -> Result<(), LockError> {
        let decided_at = self.clock.mono_now();
        // After a wait, what we saw is no fresh look any more: the next round lists.
        for slot in &mut self.slots {
            slot.listed = false;
        }
        loop {
            self.maintain().await?;
            if self.must_list || self.slots.iter().any(|s| s.failures > 0) {
                return Ok(());
            }
            let now = self.clock.mono_now();
            let mut wake_at = deadline;
            let mut earliest = |t: Duration| wake_at = Some(wake_at.map_or(t, |w| w.min(t)));
            // What wakes the decision (a blocker's expiry, the deadline), and separately our
            // own heartbeats and claims, which are written without waking it.
            let (beat, renew, ttl) = (
                self.config.heartbeat_interval(),
                self.config.renew_interval,
                self.config.waiter_ttl,
            );
            let me = self.me.request_id.clone();
            let mut maintenance = None;
            for slot in &self.slots {
                maintenance = min_opt(maintenance, slot.beat_due_at(beat));
                if slot.mine(&me) {
                    maintenance = min_opt(maintenance, slot.claim_sent.map(|s| s + renew));
                }
            }
            let late = self.config.sabotage.late_watch;
            if behind {
                for slot in &mut self.slots {
                    slot.watch = None;
                }
                let Some((i, pred)) = self.predecessor(now) else {
                    return Ok(());
                };
                let (pred_id, pred_version) =
                    (pred.value.request_id.clone(), pred.resource_version.clone());
                if let Some(t) = self.slots[i].observer.ticket_deadline(&pred.value, ttl) {
                    earliest(t);
                }
                let same = self.predecessor.as_ref().is_some_and(|p| {
                    p.slot == i && p.request_id == pred_id && p.since == pred_version
                });
                if !same {
                    let (store, key, name) = (
                        Arc::clone(&self.store),
                        self.slots[i].key.clone(),
                        self.lock_set.lease_name(&self.slots[i].key).to_owned(),
                    );
                    let (id, since) = (pred_id.clone(), pred_version.clone());
                    let watch: TicketWatch = Box::pin(async move {
                        let since = if late {
                            let listing = store.list(&key, &name).await?;
                            listing
                                .tickets
                                .iter()
                                .find(|t| t.value.request_id == id)
                                .map_or(listing.resource_version.clone(), |t| {
                                    t.resource_version.clone()
                                })
                        } else {
                            since
                        };
                        store.watch_ticket(&key, &name, &id, &since).await
                    });
                    self.predecessor = Some(PredecessorWatch {
                        slot: i,
                        request_id: pred_id,
                        since: pred_version,
                        watch,
                    });
                }
            } else {
                self.predecessor = None;
                for slot in &mut self.slots {
                    if slot.mine(&me) {
                        slot.watch = None;
                        continue;
                    }
                    // A record read without being observed (a re-read after a lost race) is
                    // timed from now, or its holder would never expire on our clock.
                    slot.observer.observe(slot.lease.record(), now);
                    // A holder that expired before the decision was decided on already.
                    if let Some(t) = slot
                        .lease
                        .record()
                        .and_then(|rec| slot.observer.holder_deadline(rec))
                        .filter(|t| *t > decided_at)
                    {
                        earliest(t);
                    }
                    let name = self.lock_set.lease_name(&slot.key).to_owned();
                    arm_watch(&self.store, slot, &name, late);
                }
            }
            if wake_at.is_some_and(|w| w <= now) {
                // What blocked us expired meanwhile (while we beat, say): decide again.
                return Ok(());
            }
            let first = min_opt(wake_at, maintenance.map(|t| t.max(now)));
            let mut timer = first.map(|t| Box::pin(self.clock.sleep(t.saturating_sub(now))));
            enum Fired {
                Lease(usize, Result<Option<Versioned<LeaseRecord>>, StoreError>),
                Ticket(Result<Option<Versioned<Waiter>>, StoreError>),
                Timer,
            }
            let (slots, predecessor) = (&mut self.slots, &mut self.predecessor);
            let fired = poll_fn(|cx| {
                for (i, slot) in slots.iter_mut().enumerate() {
                    if let Some((_, watch)) = &mut slot.watch
                        && let Poll::Ready(result) = watch.as_mut().poll(cx)
                    {
                        return Poll::Ready(Fired::Lease(i, result));
                    }
                }
                if let Some(p) = predecessor.as_mut()
                    && let Poll::Ready(result) = p.watch.as_mut().poll(cx)
                {
                    return Poll::Ready(Fired::Ticket(result));
                }
                match timer.as_mut().map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(Fired::Timer),
                    Some(Poll::Pending) | None => Poll::Pending,
                }
            })
            .await;
            let now = self.clock.mono_now();
            match fired {
                Fired::Timer => {
                    if wake_at.is_some_and(|w| w <= now) {
                        return Ok(());
                    }
                    // Only our own heartbeats or claims were due: write them, and wait on.
                    continue;
                }
                Fired::Lease(i, result) => {
                    let slot = &mut self.slots[i];
                    slot.watch = None;
                    match result {
                        Ok(Some(v)) => {
                            slot.lease = Seen::Present(v);
                            slot.listed = false;
                            slot.observer.observe(slot.lease.record(), now);
                            // The queue may have changed since we last looked (an earlier
                            // stamp queued behind us while we waited as the head): look
                            // again before deciding, or we would claim over it and give
                            // the claims back. The look is no older than what we know, which
                            // an adapter with a view of the namespace answers at once.
                            self.must_list = true;
                        }
                        // Deleted: we do not know from which version to watch; list.
                        Ok(None) => self.must_list = true,
                        Err(e) if e.is_transient() => {
                            slot.failures += 1;
                            slot.last_error = Some(e);
                        }
                        Err(e) => return Err(LockError::store(&slot.key, e)),
                    }
                    return Ok(());
                }
                Fired::Ticket(result) => {
                    let Some(p) = self.predecessor.take() else {
                        return Ok(());
                    };
                    let slot = &mut self.slots[p.slot];
                    match result {
                        Ok(Some(beat)) => {
                            // A heartbeat: it lives on; watch on from here.
                            slot.observer.observe_ticket(&beat.value, now);
                            if let Some(t) = slot
                                .tickets
                                .iter_mut()
                                .find(|t| t.value.request_id == beat.value.request_id)
                            {
                                *t = beat;
                            }
                            continue;
                        }
                        // Gone: it holds the lock, or gave up. Look at everything again.
                        Ok(None) => {
                            slot.tickets.retain(|t| t.value.request_id != p.request_id);
                            self.must_list = true;
                        }
                        Err(e) if e.is_transient() => {
                            slot.failures += 1;
                            slot.last_error = Some(e);
                        }
                        Err(e) => return Err(LockError::store(&slot.key, e)),
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Removes our claims and tickets everywhere; `trust_cache` when every write of ours has
    /// completed, so that what we last saw says where we are.
    async fn cleanup(&mut self, trust_cache: bool) -> Result<(), LockError> {
        self.predecessor = None;
        if !trust_cache {
            // Best effort: a namespace we cannot list is cleaned from what we saw.
            let _ = self.list_all(true, true).await;
        }
        let me = self.me.request_id.clone();
        let (store, lock_set) = (&*self.store, &self.lock_set);
        let results = join_all(self.slots.iter_mut().map(|slot| {
            let me = &me;
            async move {
                slot.watch = None;
                slot.ticket_sent = None;
                let had_ticket = slot.ticket.take().is_some();
                let key = slot.key.clone();
                let ticket = async move {
                    if !had_ticket && trust_cache {
                        return Ok(());
                    }
                    match store
                        .delete_ticket(&key, lock_set.lease_name(&key), me, None)
                        .await
                    {
                        Ok(()) | Err(StoreError::NotFound) => Ok(()),
                        Err(e) => Err(LockError::store(&key, e)),
                    }
                };
                let claim = async {
                    if slot.mine(me) {
                        give_back(store, lock_set, slot, me).await
                    } else {
                        Ok(())
                    }
                };
                let (t, c) = join(ticket, claim).await;
                t.and(c)
            }
        }))
        .await;
        results.into_iter().collect()
    }

    /// Who blocks us in one namespace: its Lease's live holder, or the earliest live ticket
    /// before ours.
    fn blocking(&self, slot: &Slot, now: Duration) -> Option<Blocker> {
        if slot.mine(&self.me.request_id) {
            return None;
        }
        let deployment = self.lock_set.deployment().to_owned();
        if let Some(rec) = slot.lease.record()
            && let Some(holder) = &rec.holder
            && slot.observer.holder_live(rec, now)
        {
            let expires_at = rec
                .renew_time
                .and_then(|t| t.checked_add(rec.holder_duration()).ok());
            return Some(Blocker {
                deployment,
                key: slot.key.clone(),
                holder: holder.clone(),
                waiting: false,
                since: rec.acquire_time,
                expires_at,
                retry_after: slot
                    .observer
                    .holder_deadline(rec)
                    .map(|d| d.saturating_sub(now)),
                overdue: expires_at.is_some_and(|expiry| expiry < self.clock.wall_now()),
            });
        }
        let ttl = self.config.waiter_ttl;
        let me = self.me.stamp_key();
        slot.tickets
            .iter()
            .filter(|t| t.value.stamp_key() < me && slot.observer.ticket_live(&t.value, ttl, now))
            .min_by(|a, b| a.value.stamp_key().cmp(&b.value.stamp_key()))
            .map(|t| Blocker {
                deployment,
                key: slot.key.clone(),
                holder: HolderField::Known(t.value.as_holder()),
                waiting: true,
                since: Some(t.value.requested_at),
                expires_at: None,
                overdue: false,
                retry_after: slot
                    .observer
                    .ticket_deadline(&t.value, ttl)
                    .map(|d| d.saturating_sub(now)),
            })
    }

    /// Who blocks us where, to report progress only when it changes.
    fn blocking_signature(&self, now: Duration) -> Vec<String> {
        self.slots
            .iter()
            .map(|slot| {
                let failing = if slot.failures > 0 { "failing:" } else { "" };
                let who = match self.blocking(slot, now) {
                    None => "-".to_owned(),
                    Some(b) if b.waiting => format!("waiting:{}", b.holder.identity()),
                    Some(b) => b.holder.identity(),
                };
                format!("{failing}{who}")
            })
            .collect()
    }

    /// The namespaces whose cluster is failing transiently, with the last error.
    fn failing(&self) -> Vec<(LeaseKey, StoreError)> {
        self.slots
            .iter()
            .filter(|s| s.failures > 0)
            .filter_map(|s| Some((s.key.clone(), s.last_error.clone()?)))
            .collect()
    }

    /// Who blocks us, for the user: one [`Blocker`] per namespace.
    fn blockers(&self, now: Duration) -> Vec<Blocker> {
        self.slots
            .iter()
            .filter_map(|slot| self.blocking(slot, now))
            .collect()
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Rewrites our ticket's heartbeat in `slot`, if we have one there: `Ok(true)` when the look
/// must list again (the ticket was taken for dead and removed, or changed: queue again; or the
/// cluster failed transiently).
async fn beat_ticket<S: LeaseStore>(
    store: &S,
    lock_set: &LockSet,
    slot: &mut Slot,
    now: Duration,
    wall: jiff::Timestamp,
    ttl: Duration,
) -> Result<bool, LockError> {
    let Some(ticket) = &slot.ticket else {
        return Ok(false);
    };
    let next = Waiter {
        heartbeat: wall,
        ..ticket.value.clone()
    };
    let name = lock_set.lease_name(&slot.key);
    match store
        .put_ticket(&slot.key, name, &next, ttl, Some(&ticket.resource_version))
        .await
    {
        Ok(v) => {
            slot.ticket = Some(v);
            slot.ticket_sent = Some(now);
            Ok(false)
        }
        Err(StoreError::Conflict | StoreError::NotFound) => {
            slot.ticket = None;
            slot.ticket_sent = None;
            slot.ticket_race_lost = true;
            Ok(true)
        }
        Err(e) if e.is_transient() => {
            slot.failures += 1;
            slot.last_error = Some(e);
            Ok(true)
        }
        Err(e) => Err(LockError::store(&slot.key, e)),
    }
}

/// Every Lease of `lock_set` as `store` remembers it ([`LeaseStore::remembered`]), in the
/// order of its keys, when each one is remembered free after a clean release: what a
/// newcomer's first look takes, and the versions its claims then replace (a caller may read
/// beside them, [`HeldLock::taken_over`]). `None` when one is not.
pub fn remembered_free<S: LeaseStore>(
    store: &S,
    lock_set: &LockSet,
) -> Option<Vec<(LeaseKey, Versioned<LeaseRecord>)>> {
    lock_set
        .keys()
        .iter()
        .map(|key| {
            let lease = store
                .remembered(key, lock_set.lease_name(key))
                .filter(|v| v.value.released_clean())?;
            Some((key.clone(), lease))
        })
        .collect()
}

/// The record a claim writes over `seen` (`None`: the Lease does not exist): us as holder for
/// the claim duration, `epoch`, and stamp-needed when the Lease was taken from a holder that
/// did not release it (an expired one), or when we cannot know (a Lease no holder of this
/// protocol wrote: absent, or without an epoch).
fn claim_record(
    me: &Holder,
    seen: Option<&LeaseRecord>,
    epoch: Epoch,
    wall: jiff::Timestamp,
    config: &LockConfig,
) -> LeaseRecord {
    let ours = seen.is_some_and(|r| r.held_by(&me.request_id));
    let stamp_needed = match seen {
        None => true,
        Some(r) if ours => r.stamp_needed || r.epoch_mark.is_none(),
        Some(r) => !r.released_clean(),
    };
    LeaseRecord {
        holder: Some(HolderField::Known(me.clone())),
        lease_duration: config.claim_duration(),
        acquire_time: if ours {
            seen.and_then(|r| r.acquire_time)
        } else {
            Some(wall)
        },
        renew_time: Some(wall),
        transitions: match seen {
            None => 0,
            Some(r) if ours => r.transitions,
            Some(r) => r.transitions.saturating_add(1),
        },
        epoch_mark: Some(epoch),
        stamp_needed,
    }
}

/// Clears our claim on one Lease (holder cleared; epoch and stamp-needed kept); re-reads after
/// a lost race while it is still ours. Transient failures leave it to expire (claims are short).
async fn give_back<S: LeaseStore>(
    store: &S,
    lock_set: &LockSet,
    slot: &mut Slot,
    me: &str,
) -> Result<(), LockError> {
    let name = lock_set.lease_name(&slot.key);
    for _ in 0..4 {
        let Seen::Present(current) = &slot.lease else {
            break;
        };
        if !current.value.held_by(me) {
            break;
        }
        let mut next = current.value.clone();
        next.holder = None;
        next.acquire_time = None;
        next.renew_time = None;
        match store
            .replace(&slot.key, name, next, &current.resource_version)
            .await
        {
            Ok(v) => slot.lease = Seen::Present(v),
            Err(StoreError::Conflict) => match store.get(&slot.key, name).await {
                Ok(Some(v)) => slot.lease = Seen::Present(v),
                Ok(None) => {
                    slot.lease = Seen::Unknown;
                    break;
                }
                Err(e) if e.is_transient() => break,
                Err(e) => return Err(LockError::store(&slot.key, e)),
            },
            Err(StoreError::NotFound) => {
                slot.lease = Seen::Unknown;
                break;
            }
            Err(e) if e.is_transient() => break,
            Err(e) => return Err(LockError::store(&slot.key, e)),
        }
    }
    slot.claim_sent = None;
    Ok(())
}

/// Makes sure the Lease of `slot` is watched from the version we last saw of it (`late`: the
/// sabotage that watches from a later read instead).
fn arm_watch<S: LeaseStore + 'static>(store: &Arc<S>, slot: &mut Slot, name: &str, late: bool) {
    let Some(since) = slot.lease.version() else {
        return;
    };
    if slot.watch.as_ref().is_some_and(|(rv, _)| rv == since) {
        return;
    }
    let (store, key, name, since) = (
        Arc::clone(store),
        slot.key.clone(),
        name.to_owned(),
        since.to_owned(),
    );
    let rv = since.clone();
    let watch: LeaseWatch = if late {
        Box::pin(async move {
            let listing = store.list(&key, &name).await?;
            let since = listing
                .lease
                .map_or(listing.resource_version, |l| l.resource_version);
            store.watch_change(&key, &name, &since).await
        })
    } else {
        Box::pin(async move { store.watch_change(&key, &name, &since).await })
    };
    slot.watch = Some((rv, watch));
}

/// What a claim's write answers: flags for the round, the version it replaced (if any), and
/// the Lease as written.
type Claimed<W> = (
    W,
    Option<String>,
    Result<Versioned<LeaseRecord>, StoreError>,
);

/// One namespace of a round that must list: the claim, and a consistent LIST beside it. If the
/// claim lands first, a LIST no older than the claim races the consistent one (which an API
/// server may hold until its cache catches up with the store); either shows every ticket
/// visible when the lock became free everywhere, since the claim landed after that.
///
/// Where the adapter answers a LIST no older than a version without a request
/// (`lists_locally`: [`LeaseStore::lists_since_locally`]), only the second LIST is made, after
/// the claim; a claim that failed is followed by the consistent LIST, as in the race: what we
/// knew is older than the Lease, and a LIST no older than it could show it again.
async fn claim_and_list<S: LeaseStore, W>(
    store: &S,
    key: &LeaseKey,
    name: &str,
    write: impl Future<Output = Claimed<W>>,
    lists_locally: bool,
    list_since_seen: bool,
) -> (Claimed<W>, Result<LockListing, StoreError>) {
    if lists_locally || list_since_seen {
        let written = write.await;
        let since = match &written.2 {
            // The sabotage: no older than what the claim replaced, which may predate it.
            Ok(_) if list_since_seen => written.1.clone(),
            Ok(v) => Some(v.resource_version.clone()),
            Err(_) => None,
        };
        let listed = match since {
            Some(since) => store.list_since(key, name, &since).await,
            None => store.list(key, name).await,
        };
        return (written, listed);
    }
    let list = std::pin::pin!(store.list(key, name));
    let write = std::pin::pin!(write);
    match select(write, list).await {
        Either::Right((listed, write)) => (write.await, listed),
        Either::Left((written, list)) => {
            let listed = match &written.2 {
                Ok(v) => {
                    let since = std::pin::pin!(store.list_since(key, name, &v.resource_version));
                    match select(list, since).await {
                        Either::Left((listed, _)) | Either::Right((listed, _)) => listed,
                    }
                }
                Err(_) => list.await,
            };
            (written, listed)
        }
    }
}

/// Waits a little after repeated lost races, so that contenders do not collide in lockstep.
async fn back_off<C: Clock>(clock: &C, jitter: &Jitter, config: &LockConfig, conflicts: u32) {
    let cap = config.renew_interval / 4;
    clock
        .sleep(jitter.backoff(config.retry_backoff, conflicts, cap))
        .await;
}
