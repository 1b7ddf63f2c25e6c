//! The rules every write keeps (DESIGN.md), one story each on the simulated clusters, and for
//! each rule the same story with the rule sabotaged, to show that the check notices.

mod lock_sim;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::future::select;
use lock_sim::exec::{RunEnd, lock};
use lock_sim::net::fenced_write;
use lock_sim::world::with_world;
use lock_sim::{Harness, sleep_secs};
use solo_core::lock::{
    Clock, HeldLock, LeaseKey, LockConfig, LockError, LockSet, Sabotage, StoreError,
    UNKNOWN_LEASE_DURATION, WaitPolicy, break_lease,
};

fn shared<T>(value: T) -> Rc<RefCell<T>> {
    Rc::new(RefCell::new(value))
}

fn now_secs(h: &Harness) -> Rc<dyn Fn() -> f64> {
    let core = Arc::clone(&h.core);
    Rc::new(move || lock(&core).now as f64 / 1e6)
}

// ---- No spin: errors retrying cannot fix end the wait; transient ones keep the place ----

#[test]
fn a_missing_namespace_ends_the_wait_at_once_and_names_it() {
    let mut h = Harness::new(11, 1, 10);
    lock(&h.core).world.missing_namespaces.push(1);
    let mut alice = h.contender(0, "alice@example.com", 0);
    let result = shared(None);
    let out = Rc::clone(&result);
    let now = now_secs(&h);
    h.spawn(0, async move {
        let error = alice.acquire(WaitPolicy::Forever, |_| {}).await.err();
        *out.borrow_mut() = Some((error, now()));
    });
    h.run();
    let (error, at) = result
        .borrow_mut()
        .take()
        .unwrap_or_else(|| panic!("no end"));
    match error {
        Some(LockError::Store {
            key,
            source: StoreError::NamespaceMissing { namespace },
        }) => {
            assert_eq!(key, LeaseKey::new("cluster-2", "net"));
            assert_eq!(namespace, "net");
        }
        other => panic!("expected a missing namespace, got {other:?}"),
    }
    assert!(at < 5.0, "the wait went on for {at}s");
    assert!(
        (0..3).all(|i| h.lease(i).is_none_or(|l| l.holder.is_none())),
        "the claims on the other clusters were given back"
    );
    assert!(
        (0..3).all(|i| h.tickets(i).is_empty()),
        "no ticket is left behind"
    );
}

#[test]
fn an_unreachable_cluster_is_waited_out_with_backoff_keeping_the_queue_place() {
    let mut h = Harness::new(12, 3, 10);
    let mut alice = h.contender(0, "alice@example.com", 0);
    let bob = h.contender(1, "bob@example.com", 0);
    let carol = h.contender(2, "carol@example.com", 0);
    // Bob cannot reach cluster 3 while he waits behind Alice.
    h.partition(1, 2, 2, 12);
    let order = shared(Vec::new());
    let told = shared(Vec::new());
    let clock = h.clock(0);
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let work = sleep_secs(&clock, 15.0);
        let _ = select(std::pin::pin!(held.renew_loop()), std::pin::pin!(work)).await;
        held.release().await.unwrap_or_else(|e| panic!("{e}"));
    });
    for (client, mut contender, start) in [(1, bob, 1.0), (2, carol, 3.0)] {
        let clock = h.clock(0);
        let (order, told) = (Rc::clone(&order), Rc::clone(&told));
        h.spawn(client, async move {
            sleep_secs(&clock, start).await;
            let progress = |p: &solo_core::lock::Progress| {
                let failing = p
                    .failing
                    .iter()
                    .map(|(key, _)| (client, key.cluster.clone()));
                told.borrow_mut().extend(failing);
            };
            let held = contender.acquire(WaitPolicy::Forever, progress).await;
            let held = held.unwrap_or_else(|e| panic!("c{client} gave up: {e}"));
            order.borrow_mut().push(client);
            sleep_secs(&clock, 1.0).await;
            held.release().await.unwrap_or_else(|e| panic!("{e}"));
        });
    }
    h.run();
    assert_eq!(*order.borrow(), vec![1, 2], "bob kept his place");
    assert!(
        told.borrow().contains(&(1, "cluster-3".to_owned())),
        "bob's progress names the failing cluster: {:?}",
        told.borrow()
    );
}

// ---- A Lease without leaseDurationSeconds is a foreign holder, waited out ----

#[test]
fn a_lease_without_a_duration_is_held_by_a_foreigner_not_expired() {
    let mut h = Harness::new(13, 1, 10);
    h.foreign_claim(0, Duration::ZERO);
    let mut alice = h.contender(0, "alice@example.com", 0);
    let result = shared((String::new(), 0.0));
    let out = Rc::clone(&result);
    let now = now_secs(&h);
    h.spawn(0, async move {
        let busy = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let busy = busy.err().map(|e| e.to_string()).unwrap_or_default();
        let held = alice.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        *out.borrow_mut() = (busy, now());
        held.release().await.unwrap_or_else(|e| panic!("{e}"));
    });
    h.run();
    let (busy, acquired_at) = result.borrow().clone();
    assert!(busy.contains("not written by solo"), "{busy}");
    assert!(
        acquired_at >= UNKNOWN_LEASE_DURATION.as_secs_f64(),
        "a lease with no duration was taken after {acquired_at}s"
    );
}

// ---- Short claims while waiting; only a held lock gets the long hold ----

/// Alice asks for a 300 s hold while a foreign holder has one lease for 20 s: she claims and
/// yields while she waits, then holds. The world checks every claim's duration.
fn claims_then_hold(sabotage: Sabotage) -> (RunEnd, Option<Duration>) {
    let mut h = Harness::new(14, 1, 10);
    h.config.sabotage = sabotage;
    h.foreign_claim(2, Duration::from_secs(20));
    let long = h.config.clone().holding_for(Duration::from_secs(300));
    let mut alice = h.contender_with(0, "alice@example.com", 0, h.lock_set.clone(), long);
    let held_for = shared(None);
    let out = Rc::clone(&held_for);
    let core = Arc::clone(&h.core);
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        *out.borrow_mut() = lock(&core).world.leases[0]
            .record
            .as_ref()
            .map(|r| r.lease_duration);
        let _ = held.release().await;
    });
    let end = h.try_run();
    let held = *held_for.borrow();
    (end, held)
}

#[test]
fn claims_made_while_waiting_are_short_and_only_the_held_lock_gets_the_long_hold() {
    let (end, held) = claims_then_hold(Sabotage::default());
    assert!(matches!(end, RunEnd::Finished), "{end:?}");
    assert_eq!(held, Some(Duration::from_secs(300)));
}

#[test]
fn sabotaged_long_claims_are_caught_by_the_claim_check() {
    let (end, _) = claims_then_hold(Sabotage {
        long_claims: true,
        ..Sabotage::default()
    });
    match end {
        RunEnd::Violation(v) => assert!(v.starts_with("short claims"), "{v}"),
        other => panic!("the checker did not notice: {other:?}"),
    }
}

// ---- Kept locks: resumed in a later process through the one renewal path ----

#[test]
fn a_kept_lock_is_resumed_by_a_later_process_and_renewed_for_its_hold() {
    let mut h = Harness::new(15, 2, 10);
    let hold = h.config.clone().holding_for(Duration::from_secs(120));
    let mut alice = h.contender_with(0, "alice@example.com", 0, h.lock_set.clone(), hold.clone());
    let (store, clock) = (h.store(0), h.clock(0));
    let result = shared(None);
    let out = Rc::clone(&result);
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let kept = held.kept();
        drop(held); // `solo lease acquire` exits, the leases stay held
        sleep_secs(&clock, 60.0).await;
        let resumed = HeldLock::resume(kept.clone(), hold, store, Arc::clone(&clock)).await;
        let resumed = resumed.unwrap_or_else(|e| panic!("{e}"));
        let left = resumed
            .valid_until()
            .map(|v| v.saturating_sub(clock.mono_now()));
        *out.borrow_mut() = Some((kept.epoch, resumed.epoch(), left));
        resumed.release().await.unwrap_or_else(|e| panic!("{e}"));
    });
    // Bob, meanwhile, is refused: the kept lock holds for 120 s though nobody renews it.
    let mut bob = h.contender(1, "bob@example.com", 0);
    let clock = h.clock(0);
    let refused = shared(false);
    let seen = Rc::clone(&refused);
    h.spawn(1, async move {
        sleep_secs(&clock, 30.0).await;
        *seen.borrow_mut() = matches!(
            bob.acquire(WaitPolicy::NoWait, |_| {}).await,
            Err(LockError::Busy { .. })
        );
    });
    h.run();
    let (kept, resumed, left) = result
        .borrow_mut()
        .take()
        .unwrap_or_else(|| panic!("no run"));
    assert_eq!(kept, resumed, "the epoch carries over");
    let left = left.unwrap_or_default().as_secs_f64();
    assert!(left > 100.0, "renewed for its hold on resume: {left}s left");
    assert!(*refused.borrow());
    assert!(
        (0..3).all(|i| h.lease(i).is_some_and(|l| l.holder.is_none())),
        "released: the Leases stay, free, with their epoch"
    );
}

#[test]
fn resuming_a_kept_lock_that_was_broken_releases_what_is_still_ours() {
    let mut h = Harness::new(16, 1, 10);
    let hold = h.config.clone().holding_for(Duration::from_secs(120));
    let mut alice = h.contender_with(0, "alice@example.com", 0, h.lock_set.clone(), hold.clone());
    let (store, clock) = (h.store(0), h.clock(0));
    let result = shared(None);
    let out = Rc::clone(&result);
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let kept = held.unwrap_or_else(|e| panic!("{e}")).kept();
        let key = LeaseKey::new("cluster-2", "net");
        let broken = break_lease(&*store, &key, "my-network").await;
        assert!(broken.is_ok_and(|b| b.is_some()));
        sleep_secs(&clock, 5.0).await;
        let resumed = HeldLock::resume(kept, hold, store, clock).await;
        *out.borrow_mut() = Some(resumed.err());
    });
    h.run();
    match result.borrow_mut().take().flatten() {
        Some(LockError::Lost { key, .. }) => assert_eq!(key.cluster, "cluster-2"),
        other => panic!("expected the lock lost, got {other:?}"),
    }
    let held_by_alice = (0..3)
        .filter(|&i| h.lease(i).is_some_and(|r| r.holder.is_some()))
        .count();
    assert_eq!(
        held_by_alice, 0,
        "no lease stays held without the holder knowing"
    );
}

// ---- A lost lock stops the work first: per-request deadlines and a safety margin ----

/// Alice holds the lock and works; cluster 2's apiserver stops (SIGSTOP) for a minute. When
/// her renewal loop gives up, and when her leases could have expired.
fn renewal_against_a_stopped_apiserver(sabotage: Sabotage) -> (f64, f64) {
    let mut h = Harness::new(17, 1, 10);
    h.config.sabotage = sabotage;
    h.hang(1, 5.0, 60.0);
    let mut alice = h.contender(0, "alice@example.com", 0);
    let clock = h.clock(0);
    let result = shared((0.0, 0.0));
    let out = Rc::clone(&result);
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let validity = held.validity();
        let mut expires = 0.0;
        let work = async {
            loop {
                expires = validity.expires_at().map_or(0.0, |e| e.as_secs_f64());
                sleep_secs(&clock, 0.1).await;
            }
        };
        let renew = held.renew_loop();
        let _ = select(std::pin::pin!(renew), std::pin::pin!(work)).await;
        *out.borrow_mut() = (clock.mono_now().as_secs_f64(), expires);
        let _ = held.release().await;
    });
    h.run();
    *result.borrow()
}

#[test]
fn a_hanging_renewal_stops_the_work_before_the_leases_can_expire() {
    let (stopped, expires) = renewal_against_a_stopped_apiserver(Sabotage::default());
    assert!(
        stopped < expires && stopped > 5.0,
        "stopped at {stopped}s, leases expire at {expires}s"
    );
    // The safety margin (a tenth of the lease) is kept.
    assert!(
        expires - stopped >= 0.99,
        "stopped only {}s before",
        expires - stopped
    );
}

#[test]
fn sabotaged_without_request_deadlines_the_work_outlives_the_leases() {
    let (stopped, expires) = renewal_against_a_stopped_apiserver(Sabotage {
        no_request_timeout: true,
        ..Sabotage::default()
    });
    assert!(
        stopped > expires,
        "stopped at {stopped}s, leases expire at {expires}s"
    );
}

#[test]
fn sabotaged_without_a_safety_margin_the_work_stops_only_at_expiry() {
    let (stopped, expires) = renewal_against_a_stopped_apiserver(Sabotage {
        no_safety_margin: true,
        ..Sabotage::default()
    });
    assert!(
        stopped >= expires,
        "stopped at {stopped}s, leases expire at {expires}s"
    );
}

// ---- Epochs never go back, not even after delete and re-create ----

/// Alice holds epoch 1 and goes silent; Bob takes over, deletes the deployment (mark, then a
/// fenced delete); Carol re-creates it with the state at her epoch. Then Alice's late write
/// arrives.
fn late_write_after_delete_and_recreate(sabotage: Sabotage) -> (RunEnd, u64) {
    let mut h = Harness::new(18, 3, 10);
    h.config.sabotage = sabotage;
    let mut alice = h.contender(0, "alice@example.com", 0);
    let mut bob = h.contender(1, "bob@example.com", 0);
    let mut carol = h.contender(2, "carol@example.com", 0);
    let carol_epoch = shared(0);
    let (core, clock) = (Arc::clone(&h.core), h.clock(0));
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let epoch = held.epoch().0;
        std::mem::forget(held); // paused: no renewal, no release
        sleep_secs(&clock, 60.0).await;
        let _ = fenced_write(&core, 0, epoch).await;
    });
    let (core, clock) = (Arc::clone(&h.core), h.clock(0));
    h.spawn(1, async move {
        sleep_secs(&clock, 1.0).await;
        let held = bob.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let epoch = held.epoch().0;
        with_world(&core, |w, now| {
            w.enter_cs(1, held.validity(), epoch, held.taken_over(), now)
        });
        held.mark_epoch().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(lock_sim::net::fenced_delete(&core, 1, epoch).await);
        with_world(&core, |w, now| w.exit_cs(1, false, now));
        held.release().await.unwrap_or_else(|e| panic!("{e}"));
    });
    let (core, clock) = (Arc::clone(&h.core), h.clock(0));
    let seen = Rc::clone(&carol_epoch);
    h.spawn(2, async move {
        sleep_secs(&clock, 30.0).await;
        let held = carol.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let epoch = held.epoch().0;
        *seen.borrow_mut() = epoch;
        with_world(&core, |w, now| {
            w.enter_cs(2, held.validity(), epoch, held.taken_over(), now)
        });
        // A stamp (if her takeover needed one) has created the state already.
        lock_sim::net::fenced_create(&core, 2, epoch).await;
        let work = sleep_secs(&clock, 60.0);
        let _ = select(std::pin::pin!(held.renew_loop()), std::pin::pin!(work)).await;
        with_world(&core, |w, now| w.exit_cs(2, false, now));
        let _ = held.release().await;
    });
    let end = h.try_run();
    let epoch = *carol_epoch.borrow();
    (end, epoch)
}

#[test]
fn after_delete_and_recreate_epochs_go_on_and_a_paused_holder_is_refused() {
    let (end, epoch) = late_write_after_delete_and_recreate(Sabotage::default());
    assert!(matches!(end, RunEnd::Finished), "{end:?}");
    assert_eq!(
        epoch, 3,
        "the re-created deployment starts above the deleted one's epoch 2"
    );
}

#[test]
fn sabotaged_to_ignore_the_epoch_marks_a_paused_holder_writes_into_the_new_deployment() {
    let (end, epoch) = late_write_after_delete_and_recreate(Sabotage {
        ignore_epoch_marks: true,
        ..Sabotage::default()
    });
    assert_eq!(epoch, 1, "epochs restart");
    match end {
        RunEnd::Violation(v) => assert!(v.starts_with("fencing"), "{v}"),
        other => panic!("the checker did not notice: {other:?}"),
    }
}

// ---- The lock set comes from the state; a move locks the union ----

/// The deployment's namespace moves from `net` to `net-b` in both clusters. Dan read the state
/// before the move and locks the old set after it; Erin holds the new one meanwhile.
fn stale_lock_set_after_a_move(sabotage: Sabotage) -> RunEnd {
    let old = ["cluster-1", "cluster-2"].map(|c| LeaseKey::new(c, "net"));
    let new = ["cluster-1", "cluster-2"].map(|c| LeaseKey::new(c, "net-b"));
    let keys: Vec<LeaseKey> = old.iter().chain(&new).cloned().collect();
    let mut h = Harness::with_keys(19, 3, 10, keys);
    h.config.sabotage = sabotage;
    let set = |keys: &[LeaseKey]| {
        LockSet::new("my-network", keys.to_vec()).unwrap_or_else(|e| panic!("{e}"))
    };
    let (old, new) = (set(&old), set(&new));
    lock(&h.core).world.named = Some(old.clone());
    let named = |core: &Arc<std::sync::Mutex<lock_sim::exec::Core>>| {
        with_world(core, |w, _| w.named.clone()).unwrap_or_else(|| panic!("no state"))
    };

    // Frank moves the namespace: he locks the union of the old and new sets.
    let union = LockSet::for_change(&old, Some(&new)).unwrap_or_else(|e| panic!("{e}"));
    let mut frank = h.contender_with(0, "frank@example.com", 0, union, h.config.clone());
    let (core, target) = (Arc::clone(&h.core), new.clone());
    h.spawn(0, async move {
        let held = frank.acquire(WaitPolicy::NoWait, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let required = LockSet::for_change(&named(&core), Some(&target));
        let required = required.unwrap_or_else(|e| panic!("{e}"));
        held.confirm_lock_set(&required)
            .unwrap_or_else(|e| panic!("{e}"));
        let epoch = held.epoch().0;
        with_world(&core, |w, now| {
            w.enter_cs(0, held.validity(), epoch, held.taken_over(), now)
        });
        if fenced_write(&core, 0, epoch).await {
            with_world(&core, |w, _| w.named = Some(target));
        }
        with_world(&core, |w, now| w.exit_cs(0, false, now));
        held.release().await.unwrap_or_else(|e| panic!("{e}"));
    });

    // Erin reads the state after the move and works for a while under the new set.
    let (core, clock) = (Arc::clone(&h.core), h.clock(0));
    let config = h.config.clone();
    let mut erin = h.contender_with(1, "erin@example.com", 0, new.clone(), config.clone());
    h.spawn(1, async move {
        sleep_secs(&clock, 5.0).await;
        assert_eq!(named(&core), erin.lock_set().clone());
        let held = erin.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        held.confirm_lock_set(&named(&core))
            .unwrap_or_else(|e| panic!("{e}"));
        let epoch = held.epoch().0;
        with_world(&core, |w, now| {
            w.enter_cs(1, held.validity(), epoch, held.taken_over(), now)
        });
        let work = sleep_secs(&clock, 30.0);
        let _ = select(std::pin::pin!(held.renew_loop()), std::pin::pin!(work)).await;
        with_world(&core, |w, now| w.exit_cs(1, false, now));
        let _ = held.release().await;
    });

    // Dan read the state before the move: he locks the old set, then checks it under the lock.
    let (core, clock) = (Arc::clone(&h.core), h.clock(0));
    let mut dan = h.contender_with(2, "dan@example.com", 0, old.clone(), config.clone());
    let again = h.contender_with(2, "dan@example.com", 0, new.clone(), config);
    h.spawn(2, async move {
        sleep_secs(&clock, 10.0).await;
        let held = dan.acquire(WaitPolicy::Forever, |_| {}).await;
        let mut held = held.unwrap_or_else(|e| panic!("{e}"));
        if let Err(mismatch) = held.confirm_lock_set(&named(&core)) {
            // Stamp nothing, release, and start again with the set the state names.
            assert_eq!(*mismatch.required, named(&core));
            held.release().await.unwrap_or_else(|e| panic!("{e}"));
            let mut again = again;
            held = again
                .acquire(WaitPolicy::Forever, |_| {})
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let epoch = held.epoch().0;
        with_world(&core, |w, now| {
            w.enter_cs(2, held.validity(), epoch, held.taken_over(), now)
        });
        let _ = fenced_write(&core, 2, epoch).await;
        with_world(&core, |w, now| w.exit_cs(2, false, now));
        let _ = held.release().await;
    });
    h.try_run()
}

#[test]
fn a_holder_of_a_stale_lock_set_finds_out_under_the_lock_and_waits_for_the_true_one() {
    let end = stale_lock_set_after_a_move(Sabotage::default());
    assert!(matches!(end, RunEnd::Finished), "{end:?}");
}

#[test]
fn sabotaged_without_the_lock_set_check_two_hold_the_same_deployment() {
    let end = stale_lock_set_after_a_move(Sabotage {
        skip_lock_set_check: true,
        ..Sabotage::default()
    });
    match end {
        RunEnd::Violation(v) => assert!(v.starts_with("mutual exclusion"), "{v}"),
        other => panic!("the checker did not notice: {other:?}"),
    }
}

#[test]
fn the_new_timing_rules_are_checked_up_front() {
    assert_eq!(LockConfig::default().validate(), Ok(()));
    let no_margin = LockConfig {
        safety_margin: Duration::ZERO,
        ..LockConfig::default()
    };
    assert!(no_margin.validate().is_err());
    let slow_requests = LockConfig {
        request_timeout: Duration::from_secs(20),
        ..LockConfig::default()
    };
    assert!(slow_requests.validate().is_err());
    let short_hold = LockConfig::default().holding_for(Duration::from_secs(5));
    assert!(short_hold.validate().is_err());
    assert_eq!(
        LockConfig::default()
            .holding_for(Duration::from_secs(3600))
            .validate(),
        Ok(())
    );
}

// ---- Wake-up: a waiter watches from the version its decision was based on ----

/// Alice holds one lease and releases it as soon as Bob's ticket is there (while Bob's look
/// after queueing, his decision and its watch are still on their way); how long after her
/// release Bob enters, in seconds.
fn handoff_after_release(seed: u64, sabotage: Sabotage) -> f64 {
    let keys = vec![LeaseKey::new("cluster-1", "net")];
    let mut h = Harness::with_keys(seed, 2, 60, keys);
    h.config.sabotage = sabotage;
    let mut alice = h.contender(0, "alice@example.com", 0);
    let mut bob = h.contender(1, "bob@example.com", 0);
    let (released, entered) = (shared(None), shared(None));
    let (out, now, core, clock) = (
        Rc::clone(&released),
        now_secs(&h),
        Arc::clone(&h.core),
        h.clock(0),
    );
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let bob_queued = || lock(&core).world.leases[0].has_ticket("c1");
        while !bob_queued() {
            sleep_secs(&clock, 0.001).await;
        }
        held.release().await.unwrap_or_else(|e| panic!("{e}"));
        *out.borrow_mut() = Some(now());
    });
    let (out, now, clock) = (Rc::clone(&entered), now_secs(&h), h.clock(0));
    h.spawn(1, async move {
        sleep_secs(&clock, 0.5).await;
        let held = bob.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        *out.borrow_mut() = Some(now());
        let _ = held.release().await;
    });
    h.run();
    let (released, entered) = (*released.borrow(), *entered.borrow());
    entered.expect("bob entered") - released.expect("alice released")
}

#[test]
fn a_release_between_a_waiters_decision_and_its_watch_still_wakes_it() {
    for seed in 0..12 {
        let delay = handoff_after_release(seed, Sabotage::default());
        assert!(
            delay < 8.0,
            "seed {seed}: bob entered {delay:.1} s after the release"
        );
    }
}

#[test]
fn sabotaged_to_watch_from_a_later_read_a_waiter_sleeps_through_the_release() {
    let sabotage = Sabotage {
        late_watch: true,
        ..Sabotage::default()
    };
    let delays: Vec<f64> = (0..12)
        .map(|seed| handoff_after_release(seed, sabotage))
        .collect();
    assert!(
        delays.iter().any(|d| *d >= 8.0),
        "no lost wake-up noticed: {delays:?}"
    );
}

// ---- Wake-up: a queued waiter watches its predecessor's ticket, not the holder ----

/// Alice holds the lock; Bob queues at 1 s, Carol behind him at 2 s. Bob crashes at 4 s and
/// Alice releases at 6 s, while Bob's ticket still looks live to Carol (its TTL is 10 s): only
/// the expiry of Bob's ticket can wake her. When Carol enters (`None`: never), and how the run
/// ended.
fn behind_a_crashed_predecessor(sabotage: Sabotage) -> (Option<f64>, RunEnd) {
    let mut h = Harness::new(21, 3, 10);
    h.config.sabotage = sabotage;
    let mut alice = h.contender(0, "alice@example.com", 0);
    let mut bob = h.contender(1, "bob@example.com", 0);
    let mut carol = h.contender(2, "carol@example.com", 0);
    let clock = h.clock(0);
    h.spawn(0, async move {
        let held = alice.acquire(WaitPolicy::NoWait, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        let work = sleep_secs(&clock, 6.0);
        let _ = select(std::pin::pin!(held.renew_loop()), std::pin::pin!(work)).await;
        held.release().await.unwrap_or_else(|e| panic!("{e}"));
    });
    let clock = h.clock(0);
    h.spawn(1, async move {
        sleep_secs(&clock, 1.0).await;
        let _ = bob.acquire(WaitPolicy::Forever, |_| {}).await;
        panic!("bob crashes before the lock is free");
    });
    h.crash_at(1, 4.0);
    let entered = shared(None);
    let (out, now, clock) = (Rc::clone(&entered), now_secs(&h), h.clock(0));
    h.spawn(2, async move {
        sleep_secs(&clock, 2.0).await;
        let held = carol.acquire(WaitPolicy::Forever, |_| {}).await;
        let held = held.unwrap_or_else(|e| panic!("{e}"));
        *out.borrow_mut() = Some(now());
        let _ = held.release().await;
    });
    let end = h.try_run();
    let entered = *entered.borrow();
    (entered, end)
}

#[test]
fn a_waiter_behind_a_crashed_predecessor_enters_once_its_ticket_expires() {
    let (entered, end) = behind_a_crashed_predecessor(Sabotage::default());
    assert!(matches!(end, RunEnd::Finished), "{end:?}");
    let entered = entered.expect("carol entered");
    // Bob's last heartbeat is at most 4 s old at 4 s; his ticket is dead a TTL (10 s) after
    // Carol saw it, and a look and a claim take a few round trips more.
    assert!(
        (10.0..20.0).contains(&entered),
        "carol entered at {entered:.1} s"
    );
}

#[test]
fn sabotaged_to_watch_the_holder_a_waiter_behind_a_crashed_predecessor_never_enters() {
    let (entered, end) = behind_a_crashed_predecessor(Sabotage {
        holder_only: true,
        ..Sabotage::default()
    });
    assert_eq!(entered, None, "carol entered: the sabotage changed nothing");
    assert!(
        matches!(end, RunEnd::Stuck | RunEnd::OutOfTime),
        "the run should end without carol: {end:?}"
    );
}
