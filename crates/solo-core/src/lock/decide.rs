//! The pure decisions of the protocol, over what this client has observed: is a holder expired,
//! is a ticket dead, and what a request does next (`docs/model/lock.pml`, step 2).
//!
//! Nothing here does I/O or reads a clock; `now` is always passed in (monotonic time).

use std::time::Duration;

use jiff::Timestamp;

use super::types::{HolderField, LeaseRecord, Stamp, Waiter};

/// What one client has seen of one namespace of the lock, timed on its own monotonic clock, as
/// client-go keeps `observedRecord` and `observedTime`: a holder is expired once its record has
/// stayed unchanged for its lease duration *since we first saw it*, and a ticket is dead once
/// its heartbeat has stayed unchanged for the waiter TTL. Nobody's wall clock is trusted, so
/// skew is harmless.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    holder: Option<(HolderMark, Duration)>,
    tickets: Vec<(String, Timestamp, Duration)>,
}

/// The parts of a record that change when its holder renews or changes.
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
    /// Records that we saw the Lease as `record` (`None`: it does not exist) at monotonic time
    /// `now`; a holder record we have seen before keeps the time we first saw it.
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
    }

    /// Records that we saw these tickets at `now` (every ticket of the namespace: the ones not
    /// among them are forgotten); a heartbeat seen before keeps the time we first saw it.
    pub fn observe_tickets<'a>(
        &mut self,
        tickets: impl IntoIterator<Item = &'a Waiter>,
        now: Duration,
    ) {
        let mut before = std::mem::take(&mut self.tickets);
        self.tickets = tickets
            .into_iter()
            .map(|w| {
                match before
                    .iter_mut()
                    .find(|(id, beat, _)| *id == w.request_id && *beat == w.heartbeat)
                {
                    Some((id, _, since)) => (std::mem::take(id), w.heartbeat, *since),
                    None => (w.request_id.clone(), w.heartbeat, now),
                }
            })
            .collect();
    }

    /// Records one ticket seen at `now` (a heartbeat delivered by a watch), keeping the others.
    pub fn observe_ticket(&mut self, ticket: &Waiter, now: Duration) {
        match self
            .tickets
            .iter_mut()
            .find(|(id, _, _)| *id == ticket.request_id)
        {
            Some((_, beat, since)) if *beat != ticket.heartbeat => {
                *beat = ticket.heartbeat;
                *since = now;
            }
            Some(_) => {}
            None => self
                .tickets
                .push((ticket.request_id.clone(), ticket.heartbeat, now)),
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

    /// When the ticket `waiter` is dead on our clock, if we observed its current heartbeat.
    pub fn ticket_deadline(&self, waiter: &Waiter, ttl: Duration) -> Option<Duration> {
        self.tickets
            .iter()
            .find(|(id, beat, _)| *id == waiter.request_id && *beat == waiter.heartbeat)
            .map(|(_, _, since)| *since + ttl)
    }

    /// Whether the ticket `waiter` is live: its heartbeat changed within the TTL (or was never
    /// observed).
    pub fn ticket_live(&self, waiter: &Waiter, ttl: Duration, now: Duration) -> bool {
        self.ticket_deadline(waiter, ttl)
            .is_none_or(|deadline| now < deadline)
    }
}

/// How one contender sees the lock's Lease in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseView<'a> {
    /// No holder, or an expired one.
    Free,
    /// Ours.
    Mine,
    /// Someone else's; `live` is false once it expired on our clock.
    Other { holder: &'a HolderField, live: bool },
}

/// What a request does next (the model's step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A live ticket with an earlier stamp exists in some namespace: give back any claim, be
    /// queued, and watch the predecessor's ticket.
    Behind,
    /// We are the head and no Lease is held by a live other: claim the rest, straight to held.
    Round,
    /// A live earlier claimer holds a Lease and we hold claims: give them back.
    Yield,
    /// We are the head but some Lease is held by a live other: wait on the Leases we lack.
    Wait,
}

/// Step 2 of `docs/model/lock.pml`, on what was seen: `earlier_ticket` says whether a live
/// ticket earlier than ours was seen in any namespace. A foreign holder (not written by solo)
/// counts as an earlier claimer: it will not yield to us.
pub fn decide(me: &Stamp, leases: &[LeaseView<'_>], earlier_ticket: bool) -> Decision {
    if earlier_ticket {
        return Decision::Behind;
    }
    let claimed = leases.iter().any(|v| matches!(v, LeaseView::Mine));
    let mut blocked = false;
    let mut earlier_holder = false;
    for view in leases {
        if let LeaseView::Other { holder, live: true } = view {
            blocked = true;
            earlier_holder |= match holder {
                HolderField::Opaque(_) => true,
                HolderField::Known(h) => h.stamp_key() < me.key(),
            };
        }
    }
    match (blocked, earlier_holder && claimed) {
        (false, _) => Decision::Round,
        (true, true) => Decision::Yield,
        (true, false) => Decision::Wait,
    }
}

/// Whether a live ticket of `tickets` was requested before `me` (ours never counts).
pub fn has_earlier<'a>(
    me: (Timestamp, &str),
    live_tickets: impl IntoIterator<Item = &'a Waiter>,
) -> bool {
    live_tickets
        .into_iter()
        .any(|w| w.request_id != me.1 && w.stamp_key() < me)
}
