//! The pure decisions of the protocol, over what this client has observed: is a record expired,
//! may we claim a lease, do we lose to another contender, and what to write into one lease.
//!
//! Nothing here does I/O or reads a clock; `now` is always passed in (monotonic time).

use std::time::Duration;

use jiff::Timestamp;

use super::types::{Holder, HolderField, LeaseRecord, Phase, Stamp, Waiter};

/// What one client has seen of one lease, timed on its own monotonic clock, as client-go keeps
/// `observedRecord` and `observedTime`: a holder is expired once its record has stayed unchanged
/// for its lease duration *since we first saw it*, and a waiter is dead once its heartbeat has
/// stayed unchanged for the waiter TTL. Nobody's wall clock is trusted, so skew is harmless.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    holder: Option<(HolderMark, Duration)>,
    waiters: Vec<(String, Timestamp, Duration)>,
}

/// The parts of a record that change when its holder renews or changes; waiter-queue writes by
/// others leave it alone, so they do not keep a dead holder alive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HolderMark {
    holder: HolderField,
    acquire_time: Option<Timestamp>,
    renew_time: Option<Timestamp>,
    lease_duration: Duration,
    transitions: u32,
}

impl HolderMark {
    fn of(record: &LeaseRecord) -> Option<HolderMark> {
        record.holder.as_ref().map(|holder| HolderMark {
            holder: holder.clone(),
            acquire_time: record.acquire_time,
            renew_time: record.renew_time,
            lease_duration: record.lease_duration,
            transitions: record.transitions,
        })
    }

    fn matches(&self, record: &LeaseRecord) -> bool {
        record.holder.as_ref() == Some(&self.holder)
            && record.acquire_time == self.acquire_time
            && record.renew_time == self.renew_time
            && record.lease_duration == self.lease_duration
            && record.transitions == self.transitions
    }
}

impl Observer {
    /// Records that we saw `record` (`None`: the lease does not exist) at monotonic time `now`;
    /// a holder or heartbeat we have seen before keeps the time we first saw it.
    pub fn observe(&mut self, record: Option<&LeaseRecord>, now: Duration) {
        match record {
            Some(r) if r.holder.is_some() => {
                if !self
                    .holder
                    .as_ref()
                    .is_some_and(|(mark, _)| mark.matches(r))
                {
                    self.holder = HolderMark::of(r).map(|mark| (mark, now));
                }
            }
            _ => self.holder = None,
        }
        let waiters = record.map(|r| r.waiters.as_slice()).unwrap_or(&[]);
        let unchanged = waiters.len() == self.waiters.len()
            && waiters
                .iter()
                .zip(&self.waiters)
                .all(|(w, (id, beat, _))| w.request_id == *id && w.heartbeat == *beat);
        if !unchanged {
            let mut before = std::mem::take(&mut self.waiters);
            self.waiters = waiters
                .iter()
                .map(|w| {
                    match before
                        .iter_mut()
                        .find(|(id, beat, _)| *id == w.request_id && *beat == w.heartbeat)
                    {
                        // Seen before: keep when we first saw it (and reuse its id).
                        Some((id, _, since)) => (std::mem::take(id), w.heartbeat, *since),
                        None => (w.request_id.clone(), w.heartbeat, now),
                    }
                })
                .collect();
        }
    }

    /// When the holder of `record` expires on our clock, if it is the holder we last observed.
    pub fn holder_deadline(&self, record: &LeaseRecord) -> Option<Duration> {
        let (mark, since) = self.holder.as_ref()?;
        mark.matches(record)
            .then(|| *since + record.holder_duration())
    }

    /// Whether the holder of `record` is live: unexpired, or never observed (then assume fresh).
    pub fn holder_live(&self, record: &LeaseRecord, now: Duration) -> bool {
        self.holder_deadline(record)
            .is_none_or(|deadline| now < deadline)
    }

    /// When `waiter` is dead on our clock, if we observed its current heartbeat.
    pub fn waiter_deadline(&self, waiter: &Waiter, ttl: Duration) -> Option<Duration> {
        self.waiters
            .iter()
            .find(|(id, beat, _)| *id == waiter.request_id && *beat == waiter.heartbeat)
            .map(|(_, _, since)| *since + ttl)
    }

    /// Whether `waiter` is live: its heartbeat changed within the TTL (or was never observed).
    pub fn waiter_live(&self, waiter: &Waiter, ttl: Duration, now: Duration) -> bool {
        self.waiter_deadline(waiter, ttl)
            .is_none_or(|deadline| now < deadline)
    }
}

/// How one contender sees one lease after claiming, for [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseView<'a> {
    /// No holder, or an expired one (we could not claim it: an earlier waiter goes first).
    Free,
    /// Ours.
    Mine,
    /// Someone else's; `live` is false once it expired on our clock.
    Other { holder: &'a HolderField, live: bool },
}

/// What a contender does after claiming every lease it could.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Every lease is ours: stamp the fencing epoch and go.
    AllMine,
    /// Someone has priority: release our claims, stay queued, wait.
    Lose,
    /// We have priority over every live holder: keep our claims and wait for the rest.
    Wait,
}

/// Step 3 of the protocol, exactly as `model/lock.pml`: we lose to any live holder with an
/// earlier stamp, and to a later one that holds every lease (a fully held lock always wins; a
/// `Held` phase says so from one lease, and a foreign holder is treated as one).
pub fn decide(me: &Stamp, leases: &[LeaseView<'_>]) -> Decision {
    if leases.iter().all(|v| matches!(v, LeaseView::Mine)) {
        return Decision::AllMine;
    }
    let holds_every_lease = |request_id: &str| {
        leases.iter().all(|v| matches!(v, LeaseView::Other { holder, live: true } if holder.is_request(request_id)))
    };
    for view in leases {
        let LeaseView::Other { holder, live: true } = view else {
            continue;
        };
        let lose = match holder {
            HolderField::Opaque(_) => true,
            HolderField::Known(h) => {
                h.phase == Phase::Held
                    || h.stamp_key() < me.key()
                    || holds_every_lease(&h.request_id)
            }
        };
        if lose {
            return Decision::Lose;
        }
    }
    Decision::Wait
}

/// Whether `me` may claim a lease that is free, expired or already ours: only when no live
/// waiter queued in it has an earlier stamp (the model's `claimable`). Without this rule a
/// visible queue would not make the order FIFO.
pub fn may_claim<'a>(
    me: (Timestamp, &str),
    live_waiters: impl IntoIterator<Item = &'a Waiter>,
) -> bool {
    live_waiters
        .into_iter()
        .all(|w| w.request_id == me.1 || w.stamp_key() > me)
}

/// What a contender is doing in a claim round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    /// Claim what we may, queue where we may not (and keep our queue heartbeats fresh).
    Claim,
    /// Claim what we may, never queue (the NoWait policy).
    Peek,
    /// We lost: release our claims and stay queued everywhere, in one write per lease.
    Yield,
}

/// Everything [`plan`] needs to decide what to write into one lease.
pub(crate) struct PlanInput<'a> {
    /// Our holder record (its phase is set here).
    pub me: &'a Holder,
    /// Our waiter entry (its heartbeat is set here).
    pub waiter: &'a Waiter,
    /// The lease as last seen; `None` when absent (or never read: the optimistic create).
    pub record: Option<&'a LeaseRecord>,
    /// Whether its holder (if another) is live on our clock.
    pub holder_live: bool,
    /// For each waiter of `record`, whether it is live on our clock.
    pub waiters_live: &'a [bool],
    /// Our claim on it is due for renewal.
    pub claim_due: bool,
    /// Our queue entry in it is due for a new heartbeat.
    pub heartbeat_due: bool,
    /// What this round is for.
    pub intent: Intent,
    /// For the timestamps we write.
    pub wall_now: Timestamp,
    /// The lease duration a claim writes (short: see [`LockConfig::claim_duration`]).
    ///
    /// [`LockConfig::claim_duration`]: super::LockConfig::claim_duration
    pub lease_duration: Duration,
}

/// Step 1 (and the release of step 3) for one lease: the record to compare-and-swap in, or
/// `None` when the lease is as it should be. Never writes without a reason, so that waking up
/// on every change of a lease cannot turn into a storm of writes.
pub(crate) fn plan(input: &PlanInput<'_>) -> Option<LeaseRecord> {
    let free = LeaseRecord::free(input.lease_duration);
    let rec = input.record.unwrap_or(&free);
    let me = &input.me.request_id;
    let mine = rec.held_by(me);
    let queued = rec.queues(me);
    let other_live = !mine && rec.holder.is_some() && input.holder_live;
    let live_others = || {
        rec.waiters
            .iter()
            .zip(input.waiters_live.iter().chain(std::iter::repeat(&true)))
            .filter(move |(w, live)| **live && w.request_id != *me)
            .map(|(w, _)| w)
    };
    // The queue as we write it back: dead entries dropped, ours removed or freshly stamped.
    let queue = |with_me: bool| {
        let mut q: Vec<Waiter> = live_others().cloned().collect();
        if with_me {
            q.push(Waiter {
                heartbeat: input.wall_now,
                ..input.waiter.clone()
            });
        }
        q
    };
    let claimed = |renewal: bool| LeaseRecord {
        holder: Some(HolderField::Known(Holder {
            phase: Phase::Acquiring,
            ..input.me.clone()
        })),
        lease_duration: input.lease_duration,
        acquire_time: if renewal {
            rec.acquire_time
        } else {
            Some(input.wall_now)
        },
        renew_time: Some(input.wall_now),
        transitions: match (renewal, input.record) {
            (true, _) | (false, None) => rec.transitions,
            (false, Some(_)) => rec.transitions.saturating_add(1),
        },
        waiters: queue(false),
        epoch_mark: rec.epoch_mark,
    };
    let with_queue = |holder_cleared: bool| {
        let mut next = rec.clone();
        if holder_cleared {
            next.holder = None;
            next.acquire_time = None;
            next.renew_time = None;
        }
        next.waiters = queue(true);
        next
    };
    match input.intent {
        Intent::Claim | Intent::Peek => {
            if mine {
                // Ours: renew it while we wait for the others; a `Held` phase left over from a
                // failed hold would make others yield to a lock we do not have, so drop it.
                let left_held = rec
                    .holder
                    .as_ref()
                    .and_then(HolderField::known)
                    .is_some_and(|h| h.phase == Phase::Held);
                (left_held || input.claim_due).then(|| claimed(true))
            } else if !other_live && may_claim(input.me.stamp_key(), live_others()) {
                Some(claimed(false))
            } else if input.intent == Intent::Claim && (!queued || input.heartbeat_due) {
                Some(with_queue(false))
            } else {
                None
            }
        }
        Intent::Yield => {
            if mine {
                Some(with_queue(true))
            } else if !queued || input.heartbeat_due {
                Some(with_queue(false))
            } else {
                None
            }
        }
    }
}
