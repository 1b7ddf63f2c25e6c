//! The pure decisions of the lock: who has priority, who may claim, what is expired; and the
//! records, configuration and messages around them.

use std::time::Duration;

use jiff::Timestamp;
use proptest::prelude::*;
use solo_core::lock::{
    Blocker, ConfigError, Decision, Holder, HolderField, LeaseKey, LeaseRecord, LeaseView,
    LockConfig, LockSet, Observer, Phase, Stamp, Waiter, check_lock_set, decide, has_earlier,
};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_272_400 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn holder(n: usize, requested_secs: i64, phase: Phase) -> Holder {
    Holder {
        user: format!("user{n}@example.com"),
        host: format!("host-{n}"),
        pid: 4000 + n as u32,
        request_id: format!("r{n}"),
        requested_at: at(requested_secs),
        phase,
        authenticated_as: None,
    }
}

fn waiter(n: usize, requested_secs: i64, heartbeat_secs: i64) -> Waiter {
    Waiter {
        request_id: format!("r{n}"),
        requested_at: at(requested_secs),
        user: format!("user{n}@example.com"),
        host: format!("host-{n}"),
        pid: 4000 + n as u32,
        heartbeat: at(heartbeat_secs),
    }
}

/// A global snapshot of a lock: who holds each lease (a contender index, or nobody) and each
/// contender's request time; every holder live, and no earlier ticket.
#[derive(Debug, Clone)]
struct Snapshot {
    requested: Vec<i64>,
    holders: Vec<Option<usize>>,
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (2usize..6, 1usize..5).prop_flat_map(|(contenders, leases)| {
        (
            proptest::collection::vec(-60i64..60, contenders),
            proptest::collection::vec(proptest::option::of(0..contenders), leases),
        )
            .prop_map(|(requested, holders)| Snapshot { requested, holders })
    })
}

impl Snapshot {
    fn field(&self, n: usize) -> HolderField {
        HolderField::Known(holder(n, self.requested[n], Phase::Held))
    }

    fn stamp(&self, n: usize) -> Stamp {
        holder(n, self.requested[n], Phase::Held).stamp()
    }

    /// What contender `me` decides, seeing every holder live.
    fn decide_for(&self, me: usize, earlier_ticket: bool) -> Decision {
        let fields: Vec<Option<HolderField>> = self
            .holders
            .iter()
            .map(|h| h.map(|n| self.field(n)))
            .collect();
        let views: Vec<LeaseView<'_>> = self
            .holders
            .iter()
            .zip(&fields)
            .map(|(h, f)| match (h, f) {
                (Some(n), _) if *n == me => LeaseView::Mine,
                (Some(_), Some(field)) => LeaseView::Other {
                    holder: field,
                    live: true,
                },
                _ => LeaseView::Free,
            })
            .collect();
        decide(&self.stamp(me), &views, earlier_ticket)
    }
}

proptest! {
    /// Between claimers, the earliest never gives its claims back: someone always keeps its
    /// claims, so the claimers cannot all yield and start over (no livelock).
    #[test]
    fn the_earliest_claimer_never_yields(s in snapshot()) {
        let holding: Vec<usize> = (0..s.requested.len()).filter(|n| s.holders.contains(&Some(*n))).collect();
        if let Some(&earliest) = holding.iter().min_by_key(|n| s.stamp(**n)) {
            prop_assert_ne!(s.decide_for(earliest, false), Decision::Yield);
        }
    }

    /// A contender that holds every lease goes on (a round with nothing left to claim), and
    /// everyone else, holding nothing, waits.
    #[test]
    fn a_full_holder_goes_on_and_everyone_else_waits(s in snapshot()) {
        let mut s = s;
        let n = s.requested.len() - 1;
        for h in &mut s.holders {
            *h = Some(n);
        }
        prop_assert_eq!(s.decide_for(n, false), Decision::Round);
        for other in 0..n {
            prop_assert_eq!(s.decide_for(other, false), Decision::Wait);
        }
    }

    /// The whole of step 2: behind an earlier live ticket whatever the Leases say; a round
    /// exactly when no Lease is held by a live other; a yield exactly when we hold claims and
    /// an earlier claimer holds a Lease; otherwise wait.
    #[test]
    fn step_two_of_the_model(s in snapshot(), earlier in any::<bool>()) {
        for me in 0..s.requested.len() {
            let decision = s.decide_for(me, earlier);
            let others: Vec<usize> = s.holders.iter().flatten().copied().filter(|n| *n != me).collect();
            let claimed = s.holders.contains(&Some(me));
            let expected = if earlier {
                Decision::Behind
            } else if others.is_empty() {
                Decision::Round
            } else if claimed && others.iter().any(|n| s.stamp(*n) < s.stamp(me)) {
                Decision::Yield
            } else {
                Decision::Wait
            };
            prop_assert_eq!(decision, expected);
        }
    }

    /// Only a live ticket with an earlier stamp puts us behind; our own never does.
    #[test]
    fn only_an_earlier_ticket_is_earlier(requested in proptest::collection::vec(-60i64..60, 0..6), me_at in -60i64..60) {
        let tickets: Vec<Waiter> = requested.iter().enumerate().map(|(n, t)| waiter(n, *t, 0)).collect();
        let me = holder(99, me_at, Phase::Held);
        let expected = tickets.iter().any(|w| w.stamp() < me.stamp());
        prop_assert_eq!(has_earlier(me.stamp_key(), &tickets), expected);
        let mut with_mine = tickets.clone();
        with_mine.push(waiter(99, me_at, 0));
        prop_assert_eq!(has_earlier(me.stamp_key(), &with_mine), expected);
    }

    /// Expiry depends only on when *we* saw a record, never on the wall times inside it: a
    /// holder whose clock is minutes off expires exactly one lease after we first saw it, and
    /// a renewal starts a new lease; a ticket is dead one TTL after we first saw its current
    /// heartbeat, and a heartbeat (delivered by a list or by a watch) keeps it alive.
    #[test]
    fn expiry_is_judged_on_our_clock_from_first_sight(
        renew_skew in -600i64..600,
        first_seen in 0u64..1_000,
        later in 0u64..100,
        lease in 1u64..60,
    ) {
        let mut record = LeaseRecord::free(Duration::from_secs(lease));
        record.holder = Some(HolderField::Known(holder(1, 0, Phase::Held)));
        record.renew_time = Some(at(renew_skew));
        let mut observer = Observer::default();
        let seen = Duration::from_secs(first_seen);
        observer.observe(Some(&record), seen);
        let deadline = seen + Duration::from_secs(lease);
        prop_assert_eq!(observer.holder_deadline(&record), Some(deadline));
        // Seen again unchanged: the expiry does not move.
        observer.observe(Some(&record), seen + Duration::from_secs(later));
        prop_assert_eq!(observer.holder_deadline(&record), Some(deadline));
        prop_assert_eq!(observer.holder_live(&record, deadline - Duration::from_nanos(1)), true);
        prop_assert_eq!(observer.holder_live(&record, deadline), false);
        // The holder renews: a new lease from when we see the renewal.
        let mut renewed = record.clone();
        renewed.renew_time = Some(at(renew_skew + 1));
        let now = seen + Duration::from_secs(later);
        observer.observe(Some(&renewed), now);
        prop_assert_eq!(observer.holder_deadline(&renewed), Some(now + Duration::from_secs(lease)));
        // Tickets: from first sight of the current heartbeat.
        let ttl = Duration::from_secs(lease);
        let ticket = waiter(2, 5, renew_skew);
        observer.observe_tickets([&ticket], seen);
        observer.observe_tickets([&ticket], now);
        prop_assert_eq!(observer.ticket_deadline(&ticket, ttl), Some(seen + ttl));
        let beat = waiter(2, 5, renew_skew + 1);
        observer.observe_ticket(&beat, now);
        prop_assert_eq!(observer.ticket_deadline(&beat, ttl), Some(now + ttl));
        prop_assert_eq!(observer.ticket_live(&beat, ttl, now + ttl), false);
        // A ticket no longer listed is forgotten.
        observer.observe_tickets([], now);
        prop_assert_eq!(observer.ticket_deadline(&beat, ttl), None);
    }

    /// Whatever another tool writes into holderIdentity, reading it never panics; our own
    /// records read back as ours, anything else as opaque and unchanged.
    #[test]
    fn any_holder_identity_parses(identity in ".*") {
        match HolderField::parse(&identity) {
            None => prop_assert!(identity.is_empty()),
            Some(HolderField::Opaque(s)) => prop_assert_eq!(s, identity),
            Some(known @ HolderField::Known(_)) => prop_assert_eq!(HolderField::parse(&known.identity()), Some(known)),
        }
    }

    #[test]
    fn our_holder_records_round_trip(n in 0usize..100, t in -1_000i64..1_000, held in any::<bool>(), auth in proptest::option::of("[a-z]{1,8}")) {
        let mut h = holder(n, t, if held { Phase::Held } else { Phase::Acquiring });
        h.authenticated_as = auth;
        let field = HolderField::Known(h);
        prop_assert_eq!(HolderField::parse(&field.identity()), Some(field));
    }
}

#[test]
fn holder_identity_is_camel_case_json() {
    let json = HolderField::Known(holder(7, 0, Phase::Held)).identity();
    assert_eq!(
        json,
        r#"{"user":"user7@example.com","host":"host-7","pid":4007,"requestId":"r7","requestedAt":"2026-01-01T13:00:00Z","phase":"Held","username":"user7@example.com","hostname":"host-7"}"#
    );
    assert_eq!(
        HolderField::parse("kubectl-edit"),
        Some(HolderField::Opaque("kubectl-edit".to_owned()))
    );
    assert_eq!(
        HolderField::parse("{\"user\": 3}"),
        Some(HolderField::Opaque("{\"user\": 3}".to_owned()))
    );
    assert_eq!(HolderField::parse(""), None);
}

#[test]
fn the_blocker_sentence_is_the_mission_sentence() {
    let blocker = Blocker {
        deployment: "my-network".to_owned(),
        key: LeaseKey::new("cluster-1", "my-network"),
        holder: HolderField::Known(Holder {
            user: "alice@example.com".to_owned(),
            host: "laptop-7".to_owned(),
            pid: 4242,
            ..holder(0, 0, Phase::Held)
        }),
        waiting: false,
        since: "2026-01-01T13:03:32Z".parse().ok(),
        expires_at: "2026-01-01T13:09:32Z".parse().ok(),
        retry_after: Some(Duration::from_secs(5 * 60 + 31)),
        overdue: false,
    };
    assert_eq!(
        blocker.to_string(),
        "my-network is locked by alice@example.com (laptop-7, pid 4242) since 13:03:32Z; the lease expires at 13:09:32Z \
         unless renewed. Retry after 6m, or run with --wait."
    );
    let overdue = Blocker {
        overdue: true,
        retry_after: Some(Duration::from_secs(25)),
        ..blocker
    };
    assert_eq!(
        overdue.to_string(),
        "my-network is locked by alice@example.com (laptop-7, pid 4242) since 13:03:32Z; the lease expired at \
         13:09:32Z but is taken over only once it has been watched unrenewed for 25s. Run with --wait, or break it \
         with `solo lease break my-network --force`."
    );
}

#[test]
fn the_config_is_checked_up_front() {
    assert_eq!(LockConfig::default().validate(), Ok(()));
    assert_eq!(
        LockConfig::default().renew_interval,
        Duration::from_secs(10)
    );
    let half_second = LockConfig {
        lease_duration: Duration::from_millis(1500),
        ..LockConfig::default()
    };
    assert!(matches!(
        half_second.validate(),
        Err(ConfigError::LeaseDuration(_))
    ));
    let slow_renewal = LockConfig {
        renew_interval: Duration::from_secs(20),
        ..LockConfig::default()
    };
    assert!(matches!(
        slow_renewal.validate(),
        Err(ConfigError::RenewInterval { .. })
    ));
    let long_backoff = LockConfig {
        retry_backoff: Duration::from_secs(3),
        ..LockConfig::default()
    };
    assert!(matches!(
        long_backoff.validate(),
        Err(ConfigError::RetryBackoff { .. })
    ));
}

#[test]
fn a_lock_set_is_sorted_deduplicated_and_never_empty() {
    let keys = [
        LeaseKey::new("b", "x"),
        LeaseKey::new("a", "y"),
        LeaseKey::new("a", "x"),
        LeaseKey::new("b", "x"),
    ];
    let set = LockSet::new("net", keys).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        set.keys(),
        [
            LeaseKey::new("a", "x"),
            LeaseKey::new("a", "y"),
            LeaseKey::new("b", "x")
        ]
    );
    assert_eq!(
        LockSet::new("net", []),
        Err(ConfigError::EmptyLockSet {
            deployment: "net".to_owned()
        })
    );
}

#[test]
fn a_lock_queues_in_its_first_namespace_and_a_change_keeps_the_queue_of_the_set_it_extends() {
    let set = |keys: &[(&str, &str)]| {
        LockSet::new("net", keys.iter().map(|(c, n)| LeaseKey::new(*c, *n)))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let before = set(&[("c2", "net"), ("c3", "net")]);
    assert_eq!(before.queue_key(), &LeaseKey::new("c2", "net"));
    // Adding c1, which sorts first: the change's requests still meet the others in c2's queue.
    let after = set(&[("c1", "net"), ("c2", "net"), ("c3", "net")]);
    let change = LockSet::for_change(&before, Some(&after)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(change.keys(), after.keys());
    assert_eq!(change.queue_key(), &LeaseKey::new("c2", "net"));
    assert_eq!(after.queue_key(), &LeaseKey::new("c1", "net"));
    // The same Leases wherever the queue is: a holder of either holds what the other requires.
    assert!(change.same_leases(&after));
    assert_eq!(check_lock_set(&change, &after), Ok(()));
    assert!(check_lock_set(&before, &after).is_err());
}
