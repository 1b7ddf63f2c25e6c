//! The lock once held: renew it, know until when it is valid, release it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::join_all;

use super::config::{Jitter, LockConfig};
use super::error::LockError;
use super::store::{Clock, LeaseStore, StoreError};
use super::types::{Epoch, Holder, HolderField, LeaseKey, LeaseRecord, LockSet, Versioned};

/// One lease of a held lock: the record as we last wrote or read it, and when we sent the
/// write that last renewed it.
struct HeldLease {
    key: LeaseKey,
    current: Versioned<LeaseRecord>,
    sent_at: Duration,
}

struct HeldState {
    leases: Vec<HeldLease>,
    lease_duration: Duration,
    /// Why the lock was lost; once lost it is never valid again.
    lost: Option<(LeaseKey, String)>,
    released: bool,
}

impl HeldState {
    fn valid_until(&self) -> Option<Duration> {
        if self.lost.is_some() || self.released {
            return None;
        }
        self.leases
            .iter()
            .map(|l| l.sent_at + self.lease_duration)
            .min()
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
    /// The monotonic time at which the first of our leases could be taken by someone else:
    /// when we *sent* its last successful renewal plus the lease duration (others time it from
    /// when they see that renewal, which is later). `None` once lost or released.
    pub fn valid_until(&self) -> Option<Duration> {
        locked(&self.0).valid_until()
    }

    /// Whether the lock is still ours at monotonic time `now`.
    pub fn is_valid(&self, now: Duration) -> bool {
        self.valid_until().is_some_and(|until| now < until)
    }
}

/// The lock, held: every lease of the set is ours with phase `Held`, and `epoch` is stamped.
pub struct HeldLock<S, C> {
    lock_set: LockSet,
    holder: Holder,
    epoch: Epoch,
    config: LockConfig,
    store: Arc<S>,
    clock: Arc<C>,
    jitter: Jitter,
    state: Arc<Mutex<HeldState>>,
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
                    current,
                    sent_at,
                })
                .collect(),
            lease_duration: config.lease_duration,
            lost: None,
            released: false,
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
        }
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

    /// See [`Validity::valid_until`].
    pub fn valid_until(&self) -> Option<Duration> {
        locked(&self.state).valid_until()
    }

    /// A handle on [`valid_until`](Self::valid_until) that outlives borrows of the lock.
    pub fn validity(&self) -> Validity {
        Validity(Arc::clone(&self.state))
    }

    /// Renews every lease in parallel. Lost races are re-read and retried while the lease is
    /// still ours; unreachable clusters are retried with backoff until the lease would expire.
    /// [`LockError::Lost`] if a lease is someone else's, was deleted, or could not be renewed in
    /// time; after that the lock is never valid again.
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
        let results = join_all(
            leases
                .into_iter()
                .map(|(key, current)| self.renew_lease(key, current, deadline)),
        )
        .await;
        let finished = self.clock.mono_now();
        let mut state = locked(&self.state);
        let mut failure = None;
        for result in results {
            match result {
                Ok((key, current, sent_at)) => {
                    if let Some(lease) = state.leases.iter_mut().find(|l| l.key == key) {
                        lease.current = current;
                        lease.sent_at = sent_at;
                    }
                }
                Err(LockError::Lost { key, reason }) => {
                    failure.get_or_insert((key, reason));
                }
                Err(other) => {
                    failure.get_or_insert((self.lock_set.keys()[0].clone(), other.to_string()));
                }
            }
        }
        if failure.is_none() && finished >= deadline {
            // A renewal that lands after the lease could have expired does not make up for the
            // gap: someone may have judged it expired meanwhile.
            failure = Some((
                self.lock_set.keys()[0].clone(),
                "renewed only after the lease had expired".to_owned(),
            ));
        }
        match failure {
            Some((key, reason)) => {
                state.lost = Some((key.clone(), reason.clone()));
                Err(LockError::Lost { key, reason })
            }
            None => Ok(()),
        }
    }

    async fn renew_lease(
        &self,
        key: LeaseKey,
        mut current: Versioned<LeaseRecord>,
        deadline: Duration,
    ) -> Result<(LeaseKey, Versioned<LeaseRecord>, Duration), LockError> {
        let name = self.lock_set.lease_name();
        let mut failures = 0;
        loop {
            let now = self.clock.mono_now();
            if now >= deadline {
                return Err(LockError::lost(
                    &key,
                    "could not renew the lease before it expired",
                ));
            }
            if !current.value.held_by(&self.holder.request_id) {
                return Err(LockError::lost(&key, taken_by(&current.value)));
            }
            let mut next = current.value.clone();
            next.holder = Some(HolderField::Known(self.holder.clone()));
            next.renew_time = Some(self.clock.wall_now());
            let outcome = match self
                .store
                .replace(&key, name, next, &current.resource_version)
                .await
            {
                Ok(renewed) => return Ok((key, renewed, now)),
                // Someone queued or left the queue: re-read, and renew if it is still ours.
                Err(StoreError::Conflict) => match self.store.get(&key, name).await {
                    Ok(Some(read)) => {
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
                },
                Err(StoreError::NotFound) => {
                    return Err(LockError::lost(
                        &key,
                        "the lease was deleted (broken with --force?)",
                    ));
                }
                Err(e) => e,
            };
            if let StoreError::Forbidden { message } = outcome {
                return Err(LockError::lost(
                    &key,
                    format!("renewal forbidden: {message}"),
                ));
            }
            // Unreachable or failing: retry until the deadline.
            failures += 1;
            let pause = self.jitter.backoff(
                self.config.retry_backoff,
                failures,
                self.config.renew_interval / 4,
            );
            self.clock
                .sleep(pause.min(deadline.saturating_sub(now)))
                .await;
        }
    }

    /// Renews at the renew interval until the lock is lost; resolves with the reason. Run it
    /// beside the work and abort the work when it resolves (`select`); drop it before
    /// [`release`](Self::release).
    pub async fn renew_loop(&self) -> LockError {
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
    }

    /// Releases every lease at once, in parallel, with no sleep: deletes a lease nobody waits
    /// for, and clears the holder of one with waiters so that their queue entries stay.
    /// [`LockError::Lost`] if a lease had already become someone else's.
    pub async fn release(self) -> Result<(), LockError> {
        let leases: Vec<_> = {
            let mut state = locked(&self.state);
            state.released = true;
            state
                .leases
                .iter()
                .map(|l| (l.key.clone(), l.current.clone()))
                .collect()
        };
        let results = join_all(
            leases
                .into_iter()
                .map(|(key, current)| self.release_lease(key, current)),
        )
        .await;
        results.into_iter().collect()
    }

    async fn release_lease(
        &self,
        key: LeaseKey,
        mut current: Versioned<LeaseRecord>,
    ) -> Result<(), LockError> {
        let name = self.lock_set.lease_name();
        loop {
            if !current.value.held_by(&self.holder.request_id) {
                return Err(LockError::lost(&key, taken_by(&current.value)));
            }
            let result = if current.value.waiters.is_empty() {
                self.store
                    .delete(&key, name, &current.resource_version)
                    .await
            } else {
                let mut next = current.value.clone();
                next.holder = None;
                next.acquire_time = None;
                next.renew_time = None;
                self.store
                    .replace(&key, name, next, &current.resource_version)
                    .await
                    .map(|_| ())
            };
            match result {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => match self.store.get(&key, name).await {
                    Ok(Some(read)) => current = read,
                    Ok(None) => {
                        return Err(LockError::lost(
                            &key,
                            "the lease was deleted (broken with --force?)",
                        ));
                    }
                    Err(e) => return Err(LockError::store(&key, e)),
                },
                Err(StoreError::NotFound) => {
                    return Err(LockError::lost(
                        &key,
                        "the lease was deleted (broken with --force?)",
                    ));
                }
                Err(e) => return Err(LockError::store(&key, e)),
            }
        }
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
