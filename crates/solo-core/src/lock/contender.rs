//! A request for the lock: claim every lease, decide who goes first, wait by watching.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::future::join_all;

use super::config::{Jitter, LockConfig};
use super::decide::{Decision, Intent, LeaseView, Observer, PlanInput, decide, plan};
use super::error::{Blocker, LockError};
use super::held::HeldLock;
use super::store::{Clock, Fence, LeaseStore, StoreError};
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

/// Who blocks us in one lease.
enum Blocking<'a> {
    /// Its live holder (with the record, for the times).
    Holder(&'a HolderField, &'a LeaseRecord),
    /// The earliest live waiter queued before us in a lease that is free (or expired).
    Waiter(&'a Waiter),
}

/// What this contender last saw of one lease (mostly `Present`, so not boxed).
#[allow(clippy::large_enum_variant)]
enum Seen {
    /// Never read: the first claim is an optimistic create (one round trip when uncontended).
    Unknown,
    /// Does not exist.
    Absent,
    /// As read (or as written by us).
    Present(Versioned<LeaseRecord>),
}

impl Seen {
    fn record(&self) -> Option<&LeaseRecord> {
        match self {
            Seen::Present(v) => Some(&v.value),
            Seen::Unknown | Seen::Absent => None,
        }
    }
}

type WatchFuture =
    Pin<Box<dyn Future<Output = Result<Option<Versioned<LeaseRecord>>, StoreError>> + Send>>;

/// Our knowledge of, and our writes to, one lease of the set.
struct Slot {
    key: LeaseKey,
    seen: Seen,
    observer: Observer,
    /// When we sent the write that last made or kept us its holder.
    claim_sent: Option<Duration>,
    /// When we sent the write that last stamped our queue entry's heartbeat.
    heartbeat_sent: Option<Duration>,
    /// The watch on it while we lack it, with the resourceVersion it started from.
    watch: Option<(String, WatchFuture)>,
    /// The last round lost its races here and left something unwritten: go again soon.
    unsettled: bool,
    /// `seen` was read or written in the current round (not just delivered by a watch).
    touched: bool,
    /// Transient failures in a row on this lease (unreachable, busy, timed out): while above
    /// zero, `seen` may be stale, so it is read again, after a jittered backoff.
    failures: u32,
    /// The last of those failures, to name it if the wait ends before the cluster answers.
    last_error: Option<StoreError>,
}

/// How many compare-and-swap races one round may lose on one lease before moving on.
const RACES_PER_ROUND: u32 = 3;

/// What the per-lease steps share; borrowed while the slots are borrowed mutably.
struct Ctx<'a, S, C> {
    store: &'a S,
    clock: &'a C,
    config: &'a LockConfig,
    jitter: &'a Jitter,
    me: &'a Holder,
    waiter: &'a Waiter,
    lock_set: &'a LockSet,
}

/// One request for the lock of a deployment, with its stamp taken once, when it is created.
///
/// Dropping an [`acquire`](Contender::acquire) future leaves our claims and queue entries in the
/// leases (they expire); call [`abandon`](Contender::abandon) to remove them at once.
pub struct Contender<S, C, F> {
    lock_set: LockSet,
    me: Holder,
    waiter: Waiter,
    config: LockConfig,
    store: Arc<S>,
    clock: Arc<C>,
    fence: Arc<F>,
    jitter: Jitter,
    slots: Vec<Slot>,
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
        let me = Holder {
            user: identity.user,
            host: identity.host,
            pid: identity.pid,
            request_id,
            requested_at,
            phase: Phase::Acquiring,
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
                seen: Seen::Unknown,
                observer: Observer::default(),
                claim_sent: None,
                heartbeat_sent: None,
                watch: None,
                unsettled: false,
                touched: false,
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
        })
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
    /// back to waiting with different blockers. On any error, our claims and queue entries have been removed (as far as the
    /// clusters could be reached) before it returns.
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
        let mut reported = None;
        let intent = if policy == WaitPolicy::NoWait {
            Intent::Peek
        } else {
            Intent::Claim
        };
        loop {
            // 1. Claim every lease in parallel, by compare-and-swap; queue where we may not.
            if let Err(e) = self.settle_all(intent).await {
                return Err(self.bail(e).await);
            }
            // 2. All ours: fence, then hold. 3. Otherwise decide who has priority.
            let stamp = self.me.stamp();
            let decision = {
                let now = self.clock.mono_now();
                let views: Vec<LeaseView<'_>> =
                    self.slots.iter().map(|s| self.view(s, now)).collect();
                decide(&stamp, &views)
            };
            match decision {
                Decision::AllMine => match self.take_hold().await {
                    Ok(Some(held)) if held.validity().is_valid(self.clock.mono_now()) => {
                        return Ok(held);
                    }
                    Ok(Some(expired)) => {
                        // Paused past the lease while taking hold: others may have taken over.
                        // Never hand out a lock that is already invalid; start again.
                        let _ = expired.release().await;
                        continue;
                    }
                    // A claim expired under us between claiming and holding: decide again.
                    Ok(None) => continue,
                    Err(e) => return Err(self.bail(e).await),
                },
                Decision::Lose if intent == Intent::Claim => {
                    // Yielding a claim costs everyone a round: first make sure that what we
                    // yield to is still there (a view from a watch event or an old round may be
                    // stale). A yield that writes nothing (no claim of ours, our queue entries
                    // fresh) costs nobody anything: no re-read, so that a handoff costs the
                    // waiters behind the next one no requests.
                    let refresh = if self.yield_writes() {
                        self.refresh_blockers().await
                    } else {
                        Ok(false)
                    };
                    match refresh {
                        Ok(true) => {
                            let now = self.clock.mono_now();
                            let views: Vec<LeaseView<'_>> =
                                self.slots.iter().map(|s| self.view(s, now)).collect();
                            if decide(&stamp, &views) != Decision::Lose {
                                continue;
                            }
                        }
                        Ok(false) => {}
                        Err(e) => return Err(self.bail(e).await),
                    }
                    // Release what we claimed and stay queued everywhere, with our first stamp.
                    if let Err(e) = self.settle_all(Intent::Yield).await {
                        return Err(self.bail(e).await);
                    }
                }
                Decision::Lose | Decision::Wait => {}
            }
            let now = self.clock.mono_now();
            if intent == Intent::Peek {
                let blockers = self.blockers(now);
                // Best effort: a claim we could not remove expires on its own.
                let _ = self.cleanup(true).await;
                return Err(LockError::Busy { blockers });
            }
            if deadline.is_some_and(|d| now >= d) {
                let blockers = self.blockers(now);
                // A cluster that kept failing is what stood in the way: name it.
                let failing = self.failing().into_iter().next();
                if let Some((key, e)) = failing {
                    let error = LockError::store(&key, e);
                    return Err(self.bail(error).await);
                }
                let _ = self.cleanup(true).await;
                return Err(LockError::Timeout {
                    waited: now.saturating_sub(started),
                    blockers,
                });
            }
            let signature = self.blocking_signature(now);
            if reported != Some(signature) {
                reported = Some(signature);
                let claimed = self
                    .slots
                    .iter()
                    .filter(|s| {
                        s.seen
                            .record()
                            .is_some_and(|r| r.held_by(&self.me.request_id))
                    })
                    .count();
                on_progress(&Progress {
                    blockers: self.blockers(now),
                    claimed,
                    total: self.slots.len(),
                    waited: now.saturating_sub(started),
                    failing: self.failing(),
                });
            }
            // 4. Wait by watching, then go back to 1.
            if let Err(e) = self.wait(deadline).await {
                return Err(self.bail(e).await);
            }
        }
    }

    /// Removes our claims and queue entries from every lease, in parallel: for Ctrl-C, or after
    /// an `acquire` future was dropped. Reads every lease first, since a write of the dropped
    /// future may still have landed.
    pub async fn abandon(&mut self) -> Result<(), LockError> {
        self.cleanup(false).await
    }

    async fn bail(&mut self, error: LockError) -> LockError {
        let _ = self.cleanup(false).await;
        error
    }

    fn view<'a>(&self, slot: &'a Slot, now: Duration) -> LeaseView<'a> {
        match slot.seen.record() {
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

    /// Who blocks us in one lease we lack: its live holder, or the earliest live waiter before us.
    fn blocking<'a>(&self, slot: &'a Slot, now: Duration) -> Option<Blocking<'a>> {
        let rec = slot.seen.record()?;
        if rec.held_by(&self.me.request_id) {
            return None;
        }
        match &rec.holder {
            Some(holder) if slot.observer.holder_live(rec, now) => {
                Some(Blocking::Holder(holder, rec))
            }
            _ => rec
                .waiters
                .iter()
                .filter(|w| {
                    w.stamp_key() < self.me.stamp_key()
                        && slot.observer.waiter_live(w, self.config.waiter_ttl, now)
                })
                .min_by(|a, b| a.stamp_key().cmp(&b.stamp_key()))
                .map(Blocking::Waiter),
        }
    }

    /// A fingerprint of who blocks us where, to report progress only when it changes.
    fn blocking_signature(&self, now: Duration) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let mut mix = |bytes: &[u8]| {
            for b in bytes {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (i, slot) in self.slots.iter().enumerate() {
            mix(&i.to_le_bytes());
            if slot.failures > 0 {
                mix(b"failing");
            }
            match self.blocking(slot, now) {
                None => mix(b"-"),
                Some(Blocking::Holder(HolderField::Known(h), _)) => mix(h.request_id.as_bytes()),
                Some(Blocking::Holder(HolderField::Opaque(id), _)) => mix(id.as_bytes()),
                Some(Blocking::Waiter(w)) => {
                    mix(b"waiting:");
                    mix(w.request_id.as_bytes());
                }
            }
        }
        hash
    }

    /// The leases whose cluster is failing transiently, with the last error.
    fn failing(&self) -> Vec<(LeaseKey, StoreError)> {
        self.slots
            .iter()
            .filter(|s| s.failures > 0)
            .filter_map(|s| Some((s.key.clone(), s.last_error.clone()?)))
            .collect()
    }

    /// Who blocks us, for the user: one [`Blocker`] per lease we lack.
    fn blockers(&self, now: Duration) -> Vec<Blocker> {
        let ttl = self.config.waiter_ttl;
        let mut blockers = Vec::new();
        for slot in &self.slots {
            let blocker = match self.blocking(slot, now) {
                None => continue,
                Some(Blocking::Holder(holder, rec)) => Blocker {
                    deployment: self.lock_set.deployment().to_owned(),
                    key: slot.key.clone(),
                    holder: holder.clone(),
                    waiting: false,
                    since: rec.acquire_time,
                    expires_at: rec
                        .renew_time
                        .and_then(|t| t.checked_add(rec.holder_duration()).ok()),
                    retry_after: slot
                        .observer
                        .holder_deadline(rec)
                        .map(|d| d.saturating_sub(now)),
                    overdue: rec
                        .renew_time
                        .and_then(|t| t.checked_add(rec.holder_duration()).ok())
                        .is_some_and(|expiry| expiry < self.clock.wall_now()),
                },
                Some(Blocking::Waiter(w)) => Blocker {
                    deployment: self.lock_set.deployment().to_owned(),
                    key: slot.key.clone(),
                    holder: HolderField::Known(Holder {
                        user: w.user.clone(),
                        host: w.host.clone(),
                        pid: w.pid,
                        request_id: w.request_id.clone(),
                        requested_at: w.requested_at,
                        phase: Phase::Acquiring,
                        authenticated_as: None,
                    }),
                    waiting: true,
                    since: Some(w.requested_at),
                    expires_at: None,
                    overdue: false,
                    retry_after: slot
                        .observer
                        .waiter_deadline(w, ttl)
                        .map(|d| d.saturating_sub(now)),
                },
            };
            blockers.push(blocker);
        }
        blockers
    }

    /// Whether yielding now would write into any lease (release a claim, queue, or beat).
    fn yield_writes(&mut self) -> bool {
        let (ctx, slots) = self.round();
        let now = ctx.clock.mono_now();
        slots.iter_mut().any(|slot| {
            if slot.failures > 0 {
                // What we saw there may be stale: a yield reads it again and may write.
                return true;
            }
            slot.observer.observe(slot.seen.record(), now);
            plan_slot(&ctx, slot, Intent::Yield, now).is_some()
        })
    }

    /// Re-reads, in parallel, every lease held by a live other holder that this round did not
    /// read or write itself. True if any was re-read.
    async fn refresh_blockers(&mut self) -> Result<bool, LockError> {
        let now = self.clock.mono_now();
        let stale: Vec<bool> = self
            .slots
            .iter()
            .map(|s| !s.touched && matches!(self.view(s, now), LeaseView::Other { live: true, .. }))
            .collect();
        if !stale.contains(&true) {
            return Ok(false);
        }
        let (store, lock_set) = (&*self.store, &self.lock_set);
        let reads = join_all(
            self.slots
                .iter_mut()
                .zip(stale)
                .filter(|(_, stale)| *stale)
                .map(|(slot, _)| async move {
                    slot.seen = match store.get(&slot.key, lock_set.lease_name(&slot.key)).await {
                        Ok(Some(v)) => Seen::Present(v),
                        Ok(None) => Seen::Absent,
                        Err(e) if e.is_transient() => {
                            slot.failures += 1;
                            slot.last_error = Some(e);
                            return Ok(());
                        }
                        Err(e) => return Err(LockError::store(&slot.key, e)),
                    };
                    slot.touched = true;
                    Ok(())
                }),
        )
        .await;
        reads.into_iter().collect::<Result<Vec<()>, _>>()?;
        let now = self.clock.mono_now();
        for slot in &mut self.slots {
            slot.observer.observe(slot.seen.record(), now);
        }
        Ok(true)
    }

    /// A round's shared context and the slots it works on: split borrows of the contender.
    fn round(&mut self) -> (Ctx<'_, S, C>, &mut [Slot]) {
        let Contender {
            me,
            waiter,
            config,
            store,
            clock,
            jitter,
            slots,
            lock_set,
            ..
        } = self;
        let ctx = Ctx {
            store: &**store,
            clock: &**clock,
            config,
            jitter,
            me,
            waiter,
            lock_set,
        };
        (ctx, slots)
    }

    async fn settle_all(&mut self, intent: Intent) -> Result<(), LockError> {
        let (ctx, slots) = self.round();
        let results = join_all(slots.iter_mut().map(|slot| settle(&ctx, slot, intent))).await;
        results.into_iter().collect()
    }

    /// Step 2: every lease is ours. Stamp a new fencing epoch, then mark every lease `Held`.
    /// `None` when a lease turned out not to be ours any more (our claim expired meanwhile).
    async fn take_hold(&mut self) -> Result<Option<HeldLock<S, C>>, LockError> {
        // Epochs never go back: above the marks a deleted deployment left on the leases too.
        let marks = self
            .slots
            .iter()
            .filter_map(|s| s.seen.record().and_then(|r| r.epoch_mark));
        let floor = if self.config.sabotage.ignore_epoch_marks {
            Epoch(0)
        } else {
            marks.max().unwrap_or(Epoch(0))
        };
        let epoch = self.fence.advance_epoch(&self.lock_set, floor).await?;
        let held_me = Holder {
            phase: Phase::Held,
            ..self.me.clone()
        };
        let results = {
            let (ctx, slots) = self.round();
            join_all(slots.iter_mut().map(|slot| hold(&ctx, slot, &held_me))).await
        };
        let mut leases = Vec::with_capacity(results.len());
        for (slot, result) in self.slots.iter().zip(results) {
            match result? {
                Some((record, sent)) => leases.push((slot.key.clone(), record, sent)),
                None => return Ok(None),
            }
        }
        Ok(Some(HeldLock::new(
            self.lock_set.clone(),
            held_me,
            epoch,
            self.config.clone(),
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            leases,
        )))
    }

    /// Step 4: wait until any lease we lack changes (watched from the resourceVersion our
    /// decision was based on), a blocking holder or earlier waiter expires on our clock, our
    /// own claims or heartbeats are due, or the deadline passes.
    async fn wait(&mut self, deadline: Option<Duration>) -> Result<(), LockError> {
        let now = self.clock.mono_now();
        let me = self.me.stamp();
        let (ttl, renew, beat) = (
            self.config.waiter_ttl,
            self.config.renew_interval,
            self.config.heartbeat_interval(),
        );
        let lock_set = &self.lock_set;
        let late = self.config.sabotage.late_watch;
        let mut wake_at = deadline;
        let mut earliest = |t: Duration| wake_at = Some(wake_at.map_or(t, |w| w.min(t)));
        for slot in &mut self.slots {
            if slot.unsettled {
                let cap = self.config.renew_interval / 4;
                earliest(now + self.jitter.backoff(self.config.retry_backoff, 1, cap));
            }
            if slot.failures > 0 {
                // Its cluster failed us: back off with jitter, keeping our place everywhere.
                slot.watch = None;
                let cap = self.config.renew_interval;
                earliest(
                    now + self
                        .jitter
                        .backoff(self.config.retry_backoff, slot.failures, cap),
                );
                continue;
            }
            let Some(rec) = slot.seen.record() else {
                // A lease we lack that does not exist: nothing to wait for, claim it.
                return Ok(());
            };
            if rec.held_by(&me.request_id) {
                slot.watch = None;
                earliest(slot.claim_sent.map_or(now, |s| s + renew));
                continue;
            }
            // Wake on *any* change of a lease we lack (the model's first trap), watching from
            // what we saw (its second).
            let name = lock_set.lease_name(&slot.key).to_owned();
            arm_watch(&self.store, slot, &name, late);
            let Some(rec) = slot.seen.record() else {
                continue;
            };
            if let Some(t) = slot.observer.holder_deadline(rec).filter(|t| *t > now) {
                earliest(t);
            }
            for w in rec.waiters.iter().filter(|w| w.stamp_key() < me.key()) {
                if let Some(t) = slot.observer.waiter_deadline(w, ttl).filter(|t| *t > now) {
                    earliest(t);
                }
            }
            if rec.queues(&me.request_id) {
                earliest(slot.heartbeat_sent.map_or(now, |s| s + beat));
            }
        }
        let mut timer = wake_at.map(|t| Box::pin(self.clock.sleep(t.saturating_sub(now))));
        loop {
            let slots = &mut self.slots;
            let fired = poll_fn(|cx| {
                for (i, slot) in slots.iter_mut().enumerate() {
                    if let Some((_, watch)) = &mut slot.watch
                        && let Poll::Ready(result) = watch.as_mut().poll(cx)
                    {
                        return Poll::Ready(Some((i, result)));
                    }
                }
                match timer.as_mut().map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(None),
                    Some(Poll::Pending) | None => Poll::Pending,
                }
            })
            .await;
            let Some((i, result)) = fired else {
                return Ok(());
            };
            let slot = &mut self.slots[i];
            slot.watch = None;
            let next = match result {
                Ok(Some(v)) => Seen::Present(v),
                Ok(None) => Seen::Absent,
                Err(e) if e.is_transient() => {
                    slot.failures += 1;
                    slot.last_error = Some(e);
                    return Ok(());
                }
                Err(e) => return Err(LockError::store(&slot.key, e)),
            };
            let decides_alike = match (&slot.seen, &next) {
                (Seen::Present(old), Seen::Present(new)) => {
                    decides_alike(&old.value, &new.value, &self.me)
                }
                _ => false,
            };
            slot.seen = next;
            if !decides_alike {
                return Ok(());
            }
            // Only heartbeats, or waiters behind us, changed: every decision stands. Note the
            // heartbeats (they keep those waiters alive on our clock); watch on from here.
            slot.observer
                .observe(slot.seen.record(), self.clock.mono_now());
            let name = lock_set.lease_name(&slot.key).to_owned();
            arm_watch(&self.store, slot, &name, late);
        }
    }

    /// Removes our claims and queue entries everywhere; `trust_cache` when every write of ours
    /// has completed, so that what we last saw says where we are.
    async fn cleanup(&mut self, trust_cache: bool) -> Result<(), LockError> {
        let (ctx, slots) = self.round();
        let results = join_all(
            slots
                .iter_mut()
                .map(|slot| withdraw(&ctx, slot, trust_cache)),
        )
        .await;
        results.into_iter().collect()
    }
}

/// Makes sure `slot` is watched from the version we last saw of it (`late`: the sabotage that
/// watches from a later read instead).
fn arm_watch<S: LeaseStore + 'static>(store: &Arc<S>, slot: &mut Slot, name: &str, late: bool) {
    let Seen::Present(seen) = &slot.seen else {
        return;
    };
    if slot
        .watch
        .as_ref()
        .is_some_and(|(rv, _)| *rv == seen.resource_version)
    {
        return;
    }
    let (store, key, name, since) = (
        Arc::clone(store),
        slot.key.clone(),
        name.to_owned(),
        seen.resource_version.clone(),
    );
    let rv = since.clone();
    let watch: WatchFuture = if late {
        Box::pin(async move {
            let since = match store.get(&key, &name).await? {
                Some(later) => later.resource_version,
                None => since,
            };
            store.watch_change(&key, &name, &since).await
        })
    } else {
        Box::pin(async move { store.watch_change(&key, &name, &since).await })
    };
    slot.watch = Some((rv, watch));
}

/// Whether every decision `me` made from `old` stands for `new`: same holder record, same
/// waiters ahead of us, and our own queue entry still there (or still not). Heartbeats, and
/// waiters behind us coming and going, change nothing for us.
fn decides_alike(old: &LeaseRecord, new: &LeaseRecord, me: &Holder) -> bool {
    let ahead = |r: &LeaseRecord| {
        r.waiters
            .iter()
            .filter(|w| w.stamp_key() < me.stamp_key())
            .count()
    };
    old.holder == new.holder
        && old.acquire_time == new.acquire_time
        && old.renew_time == new.renew_time
        && old.lease_duration == new.lease_duration
        && old.transitions == new.transitions
        && old.queues(&me.request_id) == new.queues(&me.request_id)
        && ahead(old) == ahead(new)
        && new
            .waiters
            .iter()
            .filter(|w| w.stamp_key() < me.stamp_key())
            .all(|w| old.queues(&w.request_id))
}

/// Reads one lease into what we saw.
async fn read<S: LeaseStore, C>(ctx: &Ctx<'_, S, C>, key: &LeaseKey) -> Result<Seen, LockError> {
    match ctx.store.get(key, ctx.lock_set.lease_name(key)).await {
        Ok(Some(v)) => Ok(Seen::Present(v)),
        Ok(None) => Ok(Seen::Absent),
        Err(e) => Err(LockError::store(key, e)),
    }
}

/// Waits a little after repeated lost races, so that contenders do not collide in lockstep.
async fn back_off<S, C: Clock>(ctx: &Ctx<'_, S, C>, conflicts: u32) {
    if conflicts > 1 {
        let cap = ctx.config.renew_interval / 4;
        ctx.clock
            .sleep(
                ctx.jitter
                    .backoff(ctx.config.retry_backoff, conflicts - 1, cap),
            )
            .await;
    }
}

/// Step 1 for one lease: write what [`plan`] says until the lease is as it should be. A lost
/// race (409) means someone else wrote: re-read and decide again.
async fn settle<S: LeaseStore, C: Clock>(
    ctx: &Ctx<'_, S, C>,
    slot: &mut Slot,
    intent: Intent,
) -> Result<(), LockError> {
    let mut conflicts = 0;
    slot.unsettled = false;
    slot.touched = false;
    if slot.failures > 0 {
        // Our last request here failed (and may have landed): read before deciding.
        match read(ctx, &slot.key).await {
            Ok(seen) => {
                slot.seen = seen;
                slot.failures = 0;
            }
            Err(e) => return transient(slot, e, intent),
        }
    }
    loop {
        let now = ctx.clock.mono_now();
        slot.observer.observe(slot.seen.record(), now);
        let Some(next) = plan_slot(ctx, slot, intent, now) else {
            return Ok(());
        };
        let (claims, beats) = (
            next.held_by(&ctx.me.request_id),
            next.queues(&ctx.me.request_id),
        );
        // Uncontended, a lease that does not exist is claimed in one round trip: create it.
        let creates = !matches!(slot.seen, Seen::Present(_));
        let result = match &slot.seen {
            Seen::Present(v) => {
                ctx.store
                    .replace(
                        &slot.key,
                        ctx.lock_set.lease_name(&slot.key),
                        next,
                        &v.resource_version,
                    )
                    .await
            }
            Seen::Unknown | Seen::Absent => {
                ctx.store
                    .create(&slot.key, ctx.lock_set.lease_name(&slot.key), next)
                    .await
            }
        };
        slot.touched = true;
        match result {
            Ok(v) => {
                slot.seen = Seen::Present(v);
                slot.claim_sent = claims.then_some(now);
                if beats {
                    slot.heartbeat_sent = Some(now);
                }
            }
            Err(StoreError::Conflict) => {
                conflicts += 1;
                if conflicts >= RACES_PER_ROUND {
                    // Others keep writing this lease: leave it to the next round rather than
                    // hold up the heartbeats and claims of the other leases.
                    slot.unsettled = true;
                    return match read(ctx, &slot.key).await {
                        Ok(seen) => {
                            slot.seen = seen;
                            Ok(())
                        }
                        Err(e) => transient(slot, e, intent),
                    };
                }
                back_off(ctx, conflicts).await;
                match read(ctx, &slot.key).await {
                    Ok(seen) => slot.seen = seen,
                    Err(e) => return transient(slot, e, intent),
                }
            }
            // A create answered 404: the namespace is missing, and retrying cannot fix that.
            Err(StoreError::NotFound) if creates => {
                return Err(LockError::store(
                    &slot.key,
                    StoreError::NamespaceMissing {
                        namespace: slot.key.namespace.clone(),
                    },
                ));
            }
            Err(StoreError::NotFound) => slot.seen = Seen::Absent,
            Err(e) => {
                return transient(slot, LockError::store(&slot.key, e), intent);
            }
        }
    }
}

/// What [`plan`] says to write into one lease for `intent`, from what we last saw of it.
fn plan_slot<S, C: Clock>(
    ctx: &Ctx<'_, S, C>,
    slot: &Slot,
    intent: Intent,
    now: Duration,
) -> Option<LeaseRecord> {
    let record = slot.seen.record();
    let (holder_live, waiters_live) = match record {
        Some(r) => (
            slot.observer.holder_live(r, now),
            r.waiters
                .iter()
                .map(|w| slot.observer.waiter_live(w, ctx.config.waiter_ttl, now))
                .collect(),
        ),
        None => (true, Vec::new()),
    };
    plan(&PlanInput {
        me: ctx.me,
        waiter: ctx.waiter,
        record,
        holder_live,
        waiters_live: &waiters_live,
        claim_due: slot
            .claim_sent
            .is_none_or(|s| now >= s + ctx.config.renew_interval),
        heartbeat_due: slot
            .heartbeat_sent
            .is_none_or(|s| now >= s + ctx.config.heartbeat_interval()),
        intent,
        wall_now: ctx.clock.wall_now(),
        lease_duration: ctx.config.claim_duration(),
    })
}

/// A failed request of a claim round: a transient one (unreachable, busy, timed out) is noted
/// on the lease, which is then read again after a backoff, keeping our place in every queue;
/// any other ends the wait at once (a `NoWait` request gives up on either).
fn transient(slot: &mut Slot, error: LockError, intent: Intent) -> Result<(), LockError> {
    match &error {
        LockError::Store { source, .. } if source.is_transient() && intent != Intent::Peek => {
            slot.failures += 1;
            slot.last_error = Some(source.clone());
            Ok(())
        }
        _ => Err(error),
    }
}

/// Step 2 for one lease: mark our claim `Held`; `None` if it is not ours any more.
async fn hold<S: LeaseStore, C: Clock>(
    ctx: &Ctx<'_, S, C>,
    slot: &mut Slot,
    held_me: &Holder,
) -> Result<Option<(Versioned<LeaseRecord>, Duration)>, LockError> {
    let mut conflicts = 0;
    loop {
        let Seen::Present(seen) = &slot.seen else {
            return Ok(None);
        };
        if !seen.value.held_by(&held_me.request_id) {
            return Ok(None);
        }
        let mut next = seen.value.clone();
        next.holder = Some(HolderField::Known(held_me.clone()));
        next.renew_time = Some(ctx.clock.wall_now());
        // Only a held lock gets the long hold; claims made while waiting stay short.
        next.lease_duration = ctx.config.hold_duration;
        let sent = ctx.clock.mono_now();
        match ctx
            .store
            .replace(
                &slot.key,
                ctx.lock_set.lease_name(&slot.key),
                next,
                &seen.resource_version,
            )
            .await
        {
            Ok(v) => {
                slot.seen = Seen::Present(v.clone());
                slot.claim_sent = Some(sent);
                return Ok(Some((v, sent)));
            }
            Err(StoreError::Conflict) => {
                conflicts += 1;
                back_off(ctx, conflicts).await;
                slot.seen = read(ctx, &slot.key).await?;
            }
            Err(StoreError::NotFound) => {
                slot.seen = Seen::Absent;
                return Ok(None);
            }
            Err(e) => return Err(LockError::store(&slot.key, e)),
        }
    }
}

/// Removes our claim and queue entry from one lease; deletes the lease if nothing is left in it.
async fn withdraw<S: LeaseStore, C: Clock>(
    ctx: &Ctx<'_, S, C>,
    slot: &mut Slot,
    trust_cache: bool,
) -> Result<(), LockError> {
    slot.watch = None;
    if !trust_cache || matches!(slot.seen, Seen::Unknown) {
        slot.seen = read(ctx, &slot.key).await?;
    }
    let me = &ctx.me.request_id;
    while let Seen::Present(seen) = &slot.seen {
        let rec = &seen.value;
        let (mine, queued) = (rec.held_by(me), rec.queues(me));
        if !mine && !queued {
            break;
        }
        let mut next = rec.clone();
        next.waiters.retain(|w| w.request_id != *me);
        if mine {
            next.holder = None;
            next.acquire_time = None;
            next.renew_time = None;
        }
        let result =
            if next.holder.is_none() && next.waiters.is_empty() && next.epoch_mark.is_none() {
                ctx.store
                    .delete(
                        &slot.key,
                        ctx.lock_set.lease_name(&slot.key),
                        &seen.resource_version,
                    )
                    .await
                    .map(|()| Seen::Absent)
            } else {
                ctx.store
                    .replace(
                        &slot.key,
                        ctx.lock_set.lease_name(&slot.key),
                        next,
                        &seen.resource_version,
                    )
                    .await
                    .map(Seen::Present)
            };
        slot.seen = match result {
            Ok(seen) => seen,
            Err(StoreError::Conflict) => read(ctx, &slot.key).await?,
            Err(StoreError::NotFound) => Seen::Absent,
            Err(e) => return Err(LockError::store(&slot.key, e)),
        };
    }
    slot.claim_sent = None;
    slot.heartbeat_sent = None;
    Ok(())
}
