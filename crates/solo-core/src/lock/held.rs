//! The lock once held: renew it, know until when it is valid for work, keep it across
//! processes, release or retire it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::{Either, join_all, select};
use serde::{Deserialize, Serialize};

use super::config::{Jitter, LockConfig};
use super::error::LockError;
use super::lock_set::{LockSetMismatch, check_lock_set};
use super::store::{Clock, LeaseStore, StoreError};
use super::types::{Epoch, Holder, HolderField, LeaseKey, LeaseRecord, LockSet, Versioned};

/// One lease of a held lock: the record as we last wrote or read it, and when we sent the
/// write that last renewed it.
struct HeldLease {
    key: LeaseKey,
    current: Versioned<LeaseRecord>,
    sent_at: Duration,
    /// The lease duration that write gave it (a claim's, until the first renewal).
    duration: Duration,
}

struct HeldState {
    leases: Vec<HeldLease>,
    margin: Duration,
    /// Why the lock was lost; once lost it is never valid again.
    lost: Option<(LeaseKey, String)>,
    released: bool,
    /// A write of unknown outcome was made (see `note_unknown_write`).
    unclean: bool,
    /// Our tickets, still to delete (off the critical path: the first renewal or the release
    /// deletes them, and that wakes our successor).
    tickets: Vec<(LeaseKey, String)>,
}

impl HeldState {
    fn expires_at(&self) -> Option<Duration> {
        if self.lost.is_some() || self.released {
            return None;
        }
        self.leases.iter().map(|l| l.sent_at + l.duration).min()
    }

    fn valid_until(&self) -> Option<Duration> {
        self.expires_at().map(|e| e.saturating_sub(self.margin))
    }
}

fn locked(state: &Mutex<HeldState>) -> MutexGuard<'_, HeldState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Until when a held lock is valid, readable from anywhere (e.g. before an irreversible step
/// while the renew loop runs elsewhere).
#[derive(Clone)]
pub struct Validity(Arc<Mutex<HeldState>>);

impl Validity {
    /// The monotonic time until which the lock is valid for work: the [`safety
    /// margin`](LockConfig::safety_margin) before [`expires_at`](Self::expires_at). `None`
    /// once lost or released.
    pub fn valid_until(&self) -> Option<Duration> {
        locked(&self.0).valid_until()
    }

    /// The monotonic time at which the first of our leases could be taken by someone else:
    /// when we *sent* its last successful renewal plus the hold duration (others time it from
    /// when they see that renewal, which is later). `None` once lost or released.
    pub fn expires_at(&self) -> Option<Duration> {
        locked(&self.0).expires_at()
    }

    /// Whether the lock is still ours, for work, at monotonic time `now`.
    pub fn is_valid(&self, now: Duration) -> bool {
        self.valid_until().is_some_and(|until| now < until)
    }
}

/// What a kept lock (`solo lease acquire`) leaves behind so that a later process can
/// [`resume`](HeldLock::resume) it: the lock set, our holder record (the request's identity and
/// stamp) and the fencing epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptLock {
    /// The deployment (the lock's name).
    pub deployment: String,
    /// Every lease of the lock set.
    pub keys: Vec<LeaseKey>,
    /// Our holder record, as written in every lease.
    pub holder: Holder,
    /// The fencing epoch stamped when the lock was taken.
    pub epoch: Epoch,
    /// Whether the Leases are named after their namespace ([`LockSet::named_after_namespaces`]).
    #[serde(default)]
    pub named_after_namespaces: bool,
}

/// How many times a release tries a lease whose cluster fails, before it reports it held.
const RELEASE_ATTEMPTS: u32 = 4;

/// The lock, held: every Lease of the set is ours, and `epoch` is above every earlier holder's
/// (stamped into the state when a Lease was taken from a holder that did not release it).
pub struct HeldLock<S, C> {
    lock_set: LockSet,
    holder: Holder,
    epoch: Epoch,
    config: LockConfig,
    store: Arc<S>,
    clock: Arc<C>,
    jitter: Jitter,
    state: Arc<Mutex<HeldState>>,
    taken_over: Option<BTreeMap<LeaseKey, String>>,
    /// Held while our tickets are being deleted, so the same deletions are never sent twice at
    /// once: [`drop_tickets`](Self::drop_tickets) waits for one under way, a renewal skips it.
    dropping_tickets: Arc<futures::lock::Mutex<()>>,
}

impl<S: LeaseStore, C: Clock> HeldLock<S, C> {
    pub(crate) fn new(
        lock_set: LockSet,
        holder: Holder,
        epoch: Epoch,
        config: LockConfig,
        store: Arc<S>,
        clock: Arc<C>,
        leases: Vec<(LeaseKey, Versioned<LeaseRecord>, Duration)>,
    ) -> Self {
        let state = HeldState {
            leases: leases
                .into_iter()
                .map(|(key, current, sent_at)| HeldLease {
                    key,
                    duration: current.value.holder_duration(),
                    current,
                    sent_at,
                })
                .collect(),
            margin: config.effective_margin(),
            lost: None,
            released: false,
            unclean: false,
            tickets: Vec::new(),
        };
        let jitter = Jitter::new(config.jitter_seed, &holder.request_id);
        HeldLock {
            lock_set,
            holder,
            epoch,
            config,
            store,
            clock,
            jitter,
            state: Arc::new(Mutex::new(state)),
            taken_over: None,
            dropping_tickets: Arc::new(futures::lock::Mutex::new(())),
        }
    }

    /// The lock, taken straight over a clean release when `versions` is given: every Lease was
    /// claimed at its resourceVersion there, where it was free and not stamp-needed.
    pub(crate) fn with_taken_over(mut self, versions: Option<BTreeMap<LeaseKey, String>>) -> Self {
        self.taken_over = versions;
        self
    }

    /// The resourceVersion at which each Lease was claimed, when this lock was taken straight
    /// over a clean release: free and not stamp-needed at that version in every namespace, and
    /// claimed at it (`None` otherwise: a stamp, a takeover, a resumed lock).
    ///
    /// Then nobody held the lock from those versions until it was ours, and every write of the
    /// holders before them had landed (a release clears stamp-needed only then). So a read
    /// started after a look that showed the Leases at these versions sees the state as this
    /// lock found it, as a read made under the lock would: a caller may start its reads beside
    /// the claim, and keep them if this answers the versions its look saw.
    pub fn taken_over(&self) -> Option<&BTreeMap<LeaseKey, String>> {
        self.taken_over.as_ref()
    }

    /// The lock with our tickets still to delete (`(lease key, resourceVersion)`).
    pub(crate) fn with_tickets(self, tickets: Vec<(LeaseKey, String)>) -> Self {
        locked(&self.state).tickets = tickets;
        self
    }

    /// Says that a write under this lock has an unknown outcome (it timed out, and may still
    /// land): the release then leaves the Leases stamp-needed, so that the next holder fences
    /// it before going.
    pub fn note_unknown_write(&self) {
        locked(&self.state).unclean = true;
    }

    /// Deletes our tickets now (they were left by the wait, and wake our successor): the first
    /// renewal and the release do it too; call it before keeping the lock beyond this process.
    /// Waits for a deletion already under way, then deletes what it left.
    pub async fn drop_tickets(&self) {
        let _one_at_a_time = self.dropping_tickets.lock().await;
        self.ticket_deletion().run().await;
    }

    /// [`drop_tickets`](Self::drop_tickets) as a future of its own, which borrows nothing of the
    /// lock: an adapter spawns it as the lock is taken, so that the successor wakes at once and
    /// a release soon after (a short critical section) goes out without waiting for it (the
    /// release waits for it beside its Lease writes). It takes the deletion over at once: the
    /// renewals skip it from now on, so stopping them never cuts a deletion short.
    pub fn drop_tickets_apart(&self) -> impl Future<Output = ()> + Send + 'static
    where
        S: 'static,
        C: 'static,
    {
        let deletion = self.ticket_deletion();
        let taken = self.dropping_tickets.try_lock_owned();
        let dropping = Arc::clone(&self.dropping_tickets);
        async move {
            let _one_at_a_time = match taken {
                Some(guard) => guard,
                None => dropping.lock_owned().await,
            };
            deletion.run().await;
        }
    }

    /// [`drop_tickets`](Self::drop_tickets) beside a renewal, which must never wait for it: does
    /// nothing while another deletion is under way, and is cut short at `deadline` (the lock's
    /// validity): a deletion still unanswered then must not hold up the renewals' verdict, or
    /// the work would stop up to a request timeout late. A deletion cut short is tried again
    /// by the next renewal, or by the release.
    async fn drop_tickets_beside(&self, deadline: Duration) {
        let Some(_one_at_a_time) = self.dropping_tickets.try_lock() else {
            return;
        };
        let left = deadline.saturating_sub(self.clock.mono_now());
        let _ = select(
            pin!(self.ticket_deletion().run()),
            pin!(self.clock.sleep(left)),
        )
        .await;
    }

    fn ticket_deletion(&self) -> TicketDeletion<S, C> {
        TicketDeletion {
            lock_set: self.lock_set.clone(),
            request_id: self.holder.request_id.clone(),
            limit: self.config.request_timeout,
            no_timeout: self.config.sabotage.no_request_timeout,
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            state: Arc::clone(&self.state),
        }
    }

    /// What to keep so that a later process can [`resume`](Self::resume) this lock.
    pub fn kept(&self) -> KeptLock {
        KeptLock {
            deployment: self.lock_set.deployment().to_owned(),
            keys: self.lock_set.keys().to_vec(),
            holder: self.holder.clone(),
            epoch: self.epoch,
            named_after_namespaces: self.lock_set.is_named_after_namespaces(),
        }
    }

    /// Takes up a kept lock in this process: reads every lease, which must still be held by
    /// the kept request and not within the safety margin of expiry, then renews them all for
    /// `config.hold_duration` through the one renewal path ([`renew_once`](Self::renew_once)).
    ///
    /// When the last renewal was sent is judged from the lease's `renewTime`, written by the
    /// kept request's own (server-corrected) wall clock: the monotonic clock of the process
    /// that wrote it is gone. If any lease is not ours any more, the others are released
    /// before it returns [`LockError::Lost`] ([`LockError::Release`] names those that could
    /// not be, or not be read), so no lease stays held without the holder knowing. A lease
    /// that cannot be read while every other is ours is [`LockError::Store`], and nothing is
    /// released: the lock may still be whole, so keep its record and try again.
    pub async fn resume(
        kept: KeptLock,
        config: LockConfig,
        store: Arc<S>,
        clock: Arc<C>,
    ) -> Result<Self, LockError> {
        config.validate()?;
        let mut lock_set = LockSet::new(kept.deployment, kept.keys)?;
        if kept.named_after_namespaces {
            lock_set = lock_set.named_after_namespaces();
        }
        let reads = join_all(lock_set.keys().iter().map(|key| {
            let (store, clock, lock_set) = (&store, &clock, &lock_set);
            let limit = config.request_timeout;
            async move {
                let name = lock_set.lease_name(key);
                timed(&**clock, limit, false, store.get(key, name)).await
            }
        }))
        .await;
        let (mono, wall) = (clock.mono_now(), clock.wall_now());
        let margin = config.effective_margin();
        let mut leases = Vec::new();
        let mut failure = None;
        let mut unread = Vec::new();
        for (key, read) in lock_set.keys().iter().zip(reads) {
            let reason = match read {
                Ok(Some(current)) if current.value.held_by(&kept.holder.request_id) => {
                    let duration = current.value.holder_duration();
                    let since_renewal = current
                        .value
                        .renew_time
                        .or(current.value.acquire_time)
                        .and_then(|t| Duration::try_from(wall.duration_since(t)).ok())
                        .unwrap_or(duration);
                    let sent_at = mono.saturating_sub(since_renewal);
                    let ours = (key.clone(), current, sent_at);
                    if since_renewal + margin < duration {
                        leases.push(ours);
                        continue;
                    }
                    leases.push(ours);
                    "expired".to_owned()
                }
                Ok(Some(current)) => taken_by(&current.value),
                Ok(None) => "the lease was deleted (broken with --force?)".to_owned(),
                Err(e) => {
                    unread.push((key.clone(), e));
                    continue;
                }
            };
            failure.get_or_insert((key.clone(), reason));
        }
        if failure.is_none()
            && let Some((key, source)) = unread.pop()
        {
            return Err(LockError::Store { key, source });
        }
        // Renewals rewrite the holder record: keep it as the leases have it (a record kept by
        // an older client may lack fields that the leases still carry).
        let holder = leases
            .iter()
            .find_map(|(_, current, _)| match &current.value.holder {
                Some(HolderField::Known(h)) => Some(h.clone()),
                _ => None,
            })
            .unwrap_or(kept.holder);
        let ours: Vec<LeaseKey> = leases.iter().map(|(key, _, _)| key.clone()).collect();
        let held = HeldLock::new(lock_set, holder, kept.epoch, config, store, clock, leases);
        if let Some((key, reason)) = failure {
            locked(&held.state).lost = Some((key.clone(), reason.clone()));
            let released = held.release().await;
            return Err(match released {
                Err(LockError::Release {
                    released,
                    mut still_held,
                }) => {
                    still_held.extend(unread);
                    LockError::Release {
                        released,
                        still_held,
                    }
                }
                // Released every lease we could read (or found one already taken).
                _ if !unread.is_empty() => LockError::Release {
                    released: ours,
                    still_held: unread,
                },
                _ => LockError::lost(&key, reason),
            });
        }
        if let Err(e) = held.renew_once().await {
            let _ = held.release().await;
            return Err(e);
        }
        Ok(held)
    }

    /// The fencing epoch every state write of this holder must carry.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The lock held.
    pub fn lock_set(&self) -> &LockSet {
        &self.lock_set
    }

    /// Our holder record, as written in every lease.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Checks that the lock held is exactly `required`: the set the newest copy of the state
    /// (re-read under this lock) names, or [`LockSet::for_change`] of it during a change of
    /// `clusters`. On a mismatch, stamp and write nothing: release and lock `required`.
    pub fn confirm_lock_set(&self, required: &LockSet) -> Result<(), LockSetMismatch> {
        if self.config.sabotage.skip_lock_set_check {
            return Ok(());
        }
        check_lock_set(&self.lock_set, required)
    }

    /// See [`Validity::valid_until`].
    pub fn valid_until(&self) -> Option<Duration> {
        locked(&self.state).valid_until()
    }

    /// A handle on [`valid_until`](Self::valid_until) that outlives borrows of the lock.
    pub fn validity(&self) -> Validity {
        Validity(Arc::clone(&self.state))
    }

    /// Renews every lease, each on its own: a lease renewed is recorded at once, whatever the
    /// others do. Each request has its deadline ([`LockConfig::request_timeout`], and never past
    /// the lock's validity), so a hanging apiserver holds up only its own lease. Lost races are
    /// re-read and retried while the lease is still ours; failing clusters are retried with
    /// backoff until the lock's validity ends. [`LockError::Lost`] if a lease is someone else's,
    /// was deleted, or could not be renewed in time; after that the lock is never valid again
    /// (and [`release`](Self::release) frees the leases that are still ours).
    pub async fn renew_once(&self) -> Result<(), LockError> {
        let (leases, deadline) = {
            let state = locked(&self.state);
            if let Some((key, reason)) = &state.lost {
                return Err(LockError::lost(key, reason.clone()));
            }
            let Some(deadline) = state.valid_until() else {
                return Err(LockError::lost(
                    &self.lock_set.keys()[0],
                    "the lock was released",
                ));
            };
            let leases: Vec<_> = state
                .leases
                .iter()
                .map(|l| (l.key.clone(), l.current.clone()))
                .collect();
            (leases, deadline)
        };
        let (results, ()) = futures::future::join(
            join_all(
                leases
                    .into_iter()
                    .map(|(key, current)| self.renew_lease(key, current, deadline)),
            ),
            self.drop_tickets_beside(deadline),
        )
        .await;
        let failure = results.into_iter().find_map(|r| match r {
            Ok(()) => None,
            Err(LockError::Lost { key, reason }) => Some((key, reason)),
            Err(other) => Some((self.lock_set.keys()[0].clone(), other.to_string())),
        });
        match failure {
            Some((key, reason)) => {
                locked(&self.state).lost = Some((key.clone(), reason.clone()));
                Err(LockError::Lost { key, reason })
            }
            None => Ok(()),
        }
    }

    /// Renews one lease before `deadline` (the lock's validity), recording it when it lands.
    async fn renew_lease(
        &self,
        key: LeaseKey,
        mut current: Versioned<LeaseRecord>,
        deadline: Duration,
    ) -> Result<(), LockError> {
        let name = self.lock_set.lease_name(&key);
        let no_timeout = self.config.sabotage.no_request_timeout;
        let mut failures = 0;
        loop {
            let now = self.clock.mono_now();
            if now >= deadline {
                return Err(LockError::lost(
                    &key,
                    "could not renew the lease before its safety margin",
                ));
            }
            if !current.value.held_by(&self.holder.request_id) {
                return Err(LockError::lost(&key, taken_by(&current.value)));
            }
            let limit = self.config.request_timeout.min(deadline - now);
            let mut next = current.value.clone();
            next.holder = Some(HolderField::Known(self.holder.clone()));
            next.renew_time = Some(self.clock.wall_now());
            next.lease_duration = self.config.hold_duration;
            // The epoch travels on the Lease: the next holder's claim goes above it.
            let mark = self.epoch;
            next.raise_epoch_mark(mark);
            let write = self
                .store
                .replace(&key, name, next, &current.resource_version);
            let outcome = match timed(&*self.clock, limit, no_timeout, write).await {
                Ok(renewed) => {
                    if self.clock.mono_now() >= deadline {
                        // Landed, but the work had to stop meanwhile: the gap is not undone.
                        return Err(LockError::lost(
                            &key,
                            "renewed only after the lock's validity had ended",
                        ));
                    }
                    let mut state = locked(&self.state);
                    if let Some(lease) = state.leases.iter_mut().find(|l| l.key == key) {
                        lease.current = renewed;
                        lease.sent_at = now;
                        lease.duration = self.config.hold_duration;
                    }
                    return Ok(());
                }
                // Someone queued or left the queue, or our timed-out write landed: re-read,
                // and renew if it is still ours.
                Err(StoreError::Conflict) => {
                    let limit = self
                        .config
                        .request_timeout
                        .min(deadline.saturating_sub(self.clock.mono_now()));
                    match timed(&*self.clock, limit, no_timeout, self.store.get(&key, name)).await {
                        Ok(Some(read)) => {
                            self.remember(&key, &read);
                            current = read;
                            continue;
                        }
                        Ok(None) => {
                            return Err(LockError::lost(
                                &key,
                                "the lease was deleted (broken with --force?)",
                            ));
                        }
                        Err(e) => e,
                    }
                }
                Err(StoreError::NotFound) => {
                    return Err(LockError::lost(
                        &key,
                        "the lease was deleted (broken with --force?)",
                    ));
                }
                Err(e) => e,
            };
            if matches!(
                outcome,
                StoreError::Forbidden { .. }
                    | StoreError::NamespaceMissing { .. }
                    | StoreError::Invalid { .. }
            ) {
                return Err(LockError::lost(&key, format!("renewal failed: {outcome}")));
            }
            // Unreachable, busy or timed out: retry until the deadline.
            failures += 1;
            let pause = self.jitter.backoff(
                self.config.retry_backoff,
                failures,
                self.config.renew_interval / 4,
            );
            let now = self.clock.mono_now();
            self.clock
                .sleep(pause.min(deadline.saturating_sub(now)))
                .await;
        }
    }

    /// Keeps what we read of a lease (its resourceVersion) without changing when it was renewed.
    fn remember(&self, key: &LeaseKey, read: &Versioned<LeaseRecord>) {
        let mut state = locked(&self.state);
        if let Some(lease) = state.leases.iter_mut().find(|l| l.key == *key) {
            lease.current = read.clone();
        }
    }

    /// Renews at the renew interval until the lock is lost; resolves with the reason, at the
    /// latest when the lock's validity ends (its safety margin before expiry). Run it beside
    /// the work and stop the work when it resolves (`select`); drop it before
    /// [`release`](Self::release). It deletes our tickets beside its renewals, which wakes our
    /// successor.
    pub async fn renew_loop(&self) -> LockError {
        // Our tickets go beside the renewals, never before them, and never past the lock's
        // validity: a lock taken with little validity left must still stop by `valid_until`.
        let renewals = async {
            loop {
                let next = {
                    let state = locked(&self.state);
                    state
                        .leases
                        .iter()
                        .map(|l| l.sent_at)
                        .min()
                        .unwrap_or_default()
                        + self.config.renew_interval
                };
                let now = self.clock.mono_now();
                if next > now {
                    self.clock.sleep(next - now).await;
                }
                if let Err(e) = self.renew_once().await {
                    return e;
                }
            }
        };
        let valid_until = locked(&self.state).valid_until().unwrap_or_default();
        let beside = async {
            self.drop_tickets_beside(valid_until).await;
            std::future::pending::<std::convert::Infallible>().await
        };
        match select(pin!(renewals), pin!(beside)).await {
            Either::Left((error, _)) => error,
            Either::Right((never, _)) => match never {},
        }
    }

    /// Releases every lease at once, in parallel, with no sleep: clears its holder and its
    /// stamp-needed mark (keeps it set when the lock is no longer valid or a write had an
    /// unknown outcome: [`note_unknown_write`](Self::note_unknown_write)), and keeps the Lease
    /// with our epoch (the next holder's goes above it;
    /// a release never deletes a Lease). Our tickets left, if any, are deleted beside it. A
    /// failing cluster is tried a few times (a try whose answer was lost reads the Lease first,
    /// and counts it released when the Lease shows that try landed); [`LockError::Release`]
    /// names the leases still held then (they expire after the hold duration),
    /// [`LockError::Lost`] a lease that had already become someone else's.
    pub async fn release(self) -> Result<(), LockError> {
        self.give_back().await
    }

    /// Before deleting the deployment's state: renews every lease now, which writes our epoch
    /// as its mark ([`LeaseRecord::epoch_mark`]; every renewal does). Leases are cleared on
    /// release, never deleted, so a deployment re-created under the same name claims epochs
    /// above ours ([`fencing::next_epoch`]) and a holder paused since the old one is refused.
    /// Delete the state only once this succeeded.
    ///
    /// [`fencing::next_epoch`]: super::fencing::next_epoch
    pub async fn mark_epoch(&self) -> Result<(), LockError> {
        self.renew_once().await
    }

    async fn give_back(self) -> Result<(), LockError> {
        let (leases, clean) = {
            let mut state = locked(&self.state);
            // A clean handoff needs no stamp only if this holder can write nothing more: its
            // lock still valid and no write of unknown outcome. Otherwise a write of ours may
            // still land, and the next holder must fence it first.
            let clean = !state.unclean
                && state
                    .valid_until()
                    .is_some_and(|until| self.clock.mono_now() < until);
            state.released = true;
            let leases: Vec<_> = state
                .leases
                .iter()
                .map(|l| (l.key.clone(), l.current.clone()))
                .collect();
            (leases, clean)
        };
        let (results, ()) = futures::future::join(
            join_all(
                leases
                    .into_iter()
                    .map(|(key, current)| self.release_lease(key, current, clean)),
            ),
            self.drop_tickets(),
        )
        .await;
        let mut released = Vec::new();
        let mut still_held = Vec::new();
        let mut not_ours = None;
        for result in results {
            match result {
                Released::Done(key) => released.push(key),
                Released::Held(key, error) => still_held.push((key, error)),
                Released::NotOurs(key, reason) => {
                    not_ours.get_or_insert((key, reason));
                }
            }
        }
        if !still_held.is_empty() {
            return Err(LockError::Release {
                released,
                still_held,
            });
        }
        match not_ours {
            Some((key, reason)) => Err(LockError::Lost { key, reason }),
            None => Ok(()),
        }
    }

    async fn release_lease(
        &self,
        key: LeaseKey,
        mut current: Versioned<LeaseRecord>,
        clean: bool,
    ) -> Released {
        let name = self.lock_set.lease_name(&key);
        let limit = self.config.request_timeout;
        let no_timeout = self.config.sabotage.no_request_timeout;
        let mut failures = 0;
        let mut reread = false;
        // A release sent whose answer never came (timed out, link cut): it may have landed.
        let mut maybe_landed = false;
        loop {
            if reread {
                match timed(&*self.clock, limit, no_timeout, self.store.get(&key, name)).await {
                    Ok(Some(read)) => current = read,
                    Ok(None) => {
                        return Released::NotOurs(
                            key,
                            "the lease was deleted (broken with --force?)".to_owned(),
                        );
                    }
                    Err(e) => match self.failed(&mut failures, e).await {
                        Some(e) => return Released::Held(key, e),
                        None => continue,
                    },
                }
            }
            if !current.value.held_by(&self.holder.request_id) {
                if maybe_landed && self.shows_our_release(&current.value, clean) {
                    return Released::Done(key);
                }
                return Released::NotOurs(key, taken_by(&current.value));
            }
            let mut next = current.value.clone();
            next.holder = None;
            next.acquire_time = None;
            next.renew_time = None;
            next.stamp_needed = !clean;
            let mark = self.epoch;
            next.raise_epoch_mark(mark);
            let replace = self
                .store
                .replace(&key, name, next, &current.resource_version);
            let result = timed(&*self.clock, limit, no_timeout, replace)
                .await
                .map(|_| ());
            match result {
                Ok(()) => return Released::Done(key),
                Err(StoreError::Conflict) => reread = true,
                Err(StoreError::NotFound) => {
                    return Released::NotOurs(
                        key,
                        "the lease was deleted (broken with --force?)".to_owned(),
                    );
                }
                Err(e) => {
                    maybe_landed = true;
                    match self.failed(&mut failures, e).await {
                        Some(e) => return Released::Held(key, e),
                        // A timed-out write may have landed: read before writing again.
                        None => reread = true,
                    }
                }
            }
        }
    }

    /// Whether `record`, read after a release of ours whose answer was lost, is that release
    /// having landed: the Lease free as we wrote it (holder cleared, our epoch, stamp-needed
    /// as we set it), or, after a clean release, claimed by the next holder at our epoch + 1
    /// without stamp-needed. Only the first holder after us takes epoch + 1, and it claims
    /// without stamp-needed only over a clean release: on this Lease, ours (a Lease taken over
    /// from us unreleased, or broken, is marked stamp-needed). A record it cannot tell from
    /// ours not landing says the lock was lost, as before.
    fn shows_our_release(&self, record: &LeaseRecord, clean: bool) -> bool {
        match &record.holder {
            None => record.epoch_mark == Some(self.epoch) && record.stamp_needed != clean,
            Some(_) => {
                clean
                    && !record.stamp_needed
                    && record.epoch_mark == Some(Epoch(self.epoch.0.saturating_add(1)))
            }
        }
    }

    /// After a failed release request: backs off and says to retry (`None`), or gives up.
    async fn failed(&self, failures: &mut u32, error: StoreError) -> Option<StoreError> {
        *failures += 1;
        if !error.is_transient() || *failures >= RELEASE_ATTEMPTS {
            return Some(error);
        }
        let pause = self.jitter.backoff(
            self.config.retry_backoff,
            *failures,
            self.config.renew_interval / 4,
        );
        self.clock.sleep(pause).await;
        None
    }
}

/// How releasing one lease ended.
enum Released {
    Done(LeaseKey),
    /// Still ours: the cluster failed every attempt.
    Held(LeaseKey, StoreError),
    NotOurs(LeaseKey, String),
}

/// The deletion of our tickets, with what it needs of the lock (so that it can run apart).
struct TicketDeletion<S, C> {
    lock_set: LockSet,
    request_id: String,
    limit: Duration,
    no_timeout: bool,
    store: Arc<S>,
    clock: Arc<C>,
    state: Arc<Mutex<HeldState>>,
}

impl<S: LeaseStore, C: Clock> TicketDeletion<S, C> {
    /// The tickets are forgotten only once their deletions were answered: a call cut short
    /// (the renewal stopped by the release, say, before its deletions left) leaves them to the
    /// next call, so that the release still deletes them.
    async fn run(&self) {
        let tickets = locked(&self.state).tickets.clone();
        if tickets.is_empty() {
            return;
        }
        let deletes = tickets.iter().map(|(key, version)| {
            let delete = self.store.delete_ticket(
                key,
                self.lock_set.lease_name(key),
                &self.request_id,
                Some(version),
            );
            timed(&*self.clock, self.limit, self.no_timeout, delete)
        });
        // Best effort: a ticket whose deletion failed dies after the waiter TTL.
        let _ = join_all(deletes).await;
        locked(&self.state)
            .tickets
            .retain(|ticket| !tickets.contains(ticket));
    }
}

/// Runs a store request with a deadline on `clock` (none when sabotaged): a request that has
/// not answered by then is given up as [`StoreError::Timeout`] (it may still land).
pub(crate) async fn timed<T, C: Clock>(
    clock: &C,
    limit: Duration,
    no_timeout: bool,
    request: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    if no_timeout {
        return request.await;
    }
    match select(pin!(request), pin!(clock.sleep(limit))).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(StoreError::Timeout { after: limit }),
    }
}

/// Says who has a lease that we thought was ours.
fn taken_by(record: &LeaseRecord) -> String {
    match &record.holder {
        None => "the lease was cleared (expired and released, or broken with --force)".to_owned(),
        Some(HolderField::Known(h)) => {
            format!(
                "taken by {} ({}, pid {}) after it expired",
                h.user, h.host, h.pid
            )
        }
        Some(HolderField::Opaque(identity)) => {
            format!("taken by {identity:?} (not written by solo)")
        }
    }
}
