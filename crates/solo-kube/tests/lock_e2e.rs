//! The lock against real clusters: a lease per cluster, takeover after a crash, a cluster stopped
//! during acquisition, independence of deployments (R6), and Ctrl-C.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use solo_core::lock::{LockError, WaitPolicy};
use solo_kube::guard::GuardError;
use solo_testenv::TestEnv;
use support::*;

/// Runs the worker side when this binary is started as a worker; passes otherwise.
#[tokio::test]
async fn worker() {
    if std::env::var_os("SOLO_LOCK_WORKER").is_some() {
        support::run_worker().await;
    }
}

#[tokio::test]
async fn the_lock_is_a_lease_in_every_cluster_and_release_frees_them_all() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-basic").await;
    let setup = Setup::new(env, &ns, "my-network", 3);

    let (guard, _) = setup
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("uncontended lock");
    assert!(guard.epoch().0 >= 1);
    for (cluster, lease) in leases(&setup).await {
        let holder = holder_of(&lease).unwrap_or_else(|| panic!("no holder in {cluster}"));
        let holder = holder.known().expect("our JSON holder");
        assert_eq!(holder.user, "alice@example.com");
        assert_eq!(holder.phase, solo_core::lock::Phase::Held);
    }

    // Someone else is told who holds it, since when and until when.
    let busy = setup
        .lock("bob@example.com", WaitPolicy::NoWait)
        .await
        .err()
        .expect("busy");
    let text = busy.to_string();
    assert!(
        text.contains("my-network is locked by alice@example.com"),
        "{text}"
    );
    assert!(
        text.contains(" since ") && text.contains("expires at"),
        "{text}"
    );
    assert!(text.contains("--wait"), "{text}");

    guard.release().await.expect("release");
    for (cluster, lease) in leases(&setup).await {
        assert!(
            holder_of(&lease).is_none(),
            "{cluster} still has a holder after release"
        );
    }
    // Released means free at once: the next one gets it without waiting.
    let (again, _) = setup
        .lock("bob@example.com", WaitPolicy::NoWait)
        .await
        .expect("free again");
    assert!(again.epoch() > guard_epoch_floor(1));
    again.release().await.expect("release");
}

fn guard_epoch_floor(n: u64) -> solo_core::lock::Epoch {
    solo_core::lock::Epoch(n)
}

/// A holder killed with SIGKILL cannot release: its leases expire and the next request takes over
/// within the lease duration (plus a second of slack for the round trips).
#[tokio::test]
async fn a_killed_holder_is_taken_over_after_its_lease_expires() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-kill").await;
    let setup = Setup::new(env, &ns, "crash-net", 3);

    let mut holder = spawn_worker(&setup, "hold", 0, 0);
    wait_for_line(&mut holder, "HELD");
    let killed_at = Instant::now();
    holder.kill().expect("SIGKILL");
    holder.wait().expect("reap");

    let (guard, _) = setup
        .lock("next@example.com", WaitPolicy::Forever)
        .await
        .expect("takeover");
    let takeover = killed_at.elapsed();
    eprintln!(
        "takeover {takeover:?} after SIGKILL (lease {}s)",
        setup.lease_seconds
    );
    assert!(
        takeover <= Duration::from_secs(setup.lease_seconds + 1),
        "took {takeover:?}, more than the lease duration plus 1s"
    );
    guard.release().await.expect("release");
}

/// Ctrl-C releases everything: a holder interrupted releases its leases, a waiter interrupted
/// deletes its tickets.
#[tokio::test]
async fn ctrl_c_releases_what_the_process_claimed() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-sigint").await;
    let setup = Setup::new(env, &ns, "sigint-net", 2);

    let mut holder = spawn_worker(&setup, "hold", 0, 0);
    wait_for_line(&mut holder, "HELD");
    let mut waiter = spawn_worker(&setup, "wait", 1, 0);
    wait_for_line(&mut waiter, "WAITING");
    // Wait until the waiter has queued (its ticket, in the queue's namespace).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tickets(&setup)
        .await
        .iter()
        .any(|(_, t)| t.contains("worker-1@"))
    {
        assert!(Instant::now() < deadline, "the waiter never queued itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    interrupt(&waiter);
    wait_for_line(&mut waiter, "INTERRUPTED");
    assert!(waiter.wait().expect("reap").success());
    for (cluster, queued) in tickets(&setup).await {
        assert!(
            !queued.contains("worker-1@"),
            "{cluster} still queues the interrupted waiter: {queued}"
        );
    }
    for (cluster, lease) in leases(&setup).await {
        assert!(holder_of(&lease).is_some(), "{cluster} lost its holder");
    }

    interrupt(&holder);
    wait_for_line(&mut holder, "RELEASED");
    assert!(holder.wait().expect("reap").success());
    for (cluster, lease) in leases(&setup).await {
        assert!(
            holder_of(&lease).is_none(),
            "{cluster} still held after Ctrl-C"
        );
    }
}

/// R6: two deployments in the same clusters and namespace are two different locks.
#[tokio::test]
async fn two_deployments_never_block_each_other() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-r6").await;
    let a = Setup::new(env, &ns, "network-a", 3);
    let b = Setup::new(env, &ns, "network-b", 3);
    let (guard_a, _) = a
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("a");
    let (guard_b, _) = b
        .lock("bob@example.com", WaitPolicy::NoWait)
        .await
        .expect("b, while a is held");
    guard_a.release().await.expect("release a");
    guard_b.release().await.expect("release b");
}

/// A cluster that is down during acquisition: a clear error that names it, and no lease left
/// claimed on the clusters that answered.
#[tokio::test]
async fn a_cluster_down_during_acquisition_leaves_nothing_claimed() {
    let env = TestEnv::private(3);
    let ns = env.fresh_namespace("lock-down").await;
    let setup = Setup::new(&env, &ns, "split-net", 3);
    env.stop("cluster-3");

    let err = setup
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .err()
        .expect("no lock without cluster-3");
    let text = err.to_string();
    match &err {
        GuardError::Lock(LockError::Store { key, .. }) => {
            assert_eq!(key.cluster, "cluster-3", "{text}")
        }
        other => panic!("expected a store error naming cluster-3, got {other}"),
    }
    assert!(
        text.contains("cluster-3") && text.contains("unreachable"),
        "{text}"
    );

    let clusters = setup.connect().await;
    for cluster in ["cluster-1", "cluster-2"] {
        let api: Api<Lease> =
            Api::namespaced(clusters.client(cluster).expect("client").clone(), &ns);
        let lease = api.get_opt("split-net").await.expect("get");
        assert!(
            holder_of(&lease).is_none(),
            "{cluster} kept a claim after the failed acquisition"
        );
    }
    for (cluster, queued) in tickets_in(&clusters, &setup, &["cluster-1", "cluster-2"]).await {
        assert!(queued.is_empty(), "{cluster} kept a ticket: {queued}");
    }
    env.start("cluster-3");
    let (guard, _) = setup
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("all clusters back");
    guard.release().await.expect("release");
}

/// A Lease written by someone else (kubectl, another tool) with a holderIdentity that is not ours:
/// nothing crashes, the holder is named as it is, and it is waited out until it expires.
#[tokio::test]
async fn a_foreign_holder_is_named_and_waited_out() {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use kube::api::{ObjectMeta, PostParams};

    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-foreign").await;
    let setup = Setup::new(env, &ns, "foreign-net", 2);
    let clusters = setup.connect().await;
    let api: Api<Lease> =
        Api::namespaced(clusters.client("cluster-2").expect("client").clone(), &ns);
    let foreign = Lease {
        metadata: ObjectMeta {
            name: Some("foreign-net".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("kubectl-operator-7f9c".into()),
            lease_duration_seconds: Some(2),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            ..Default::default()
        }),
    };
    api.create(&PostParams::default(), &foreign)
        .await
        .expect("a foreign lease");

    let busy = setup
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .err()
        .expect("busy");
    assert!(busy.to_string().contains("kubectl-operator-7f9c"), "{busy}");

    let started = Instant::now();
    let (guard, _) = setup
        .lock("alice@example.com", WaitPolicy::Forever)
        .await
        .expect("after expiry");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "a live foreign holder was overridden"
    );
    let lease = api.get("foreign-net").await.expect("get");
    let holder = holder_of(&Some(lease)).expect("a holder");
    assert_eq!(
        holder.known().map(|h| h.user.as_str()),
        Some("alice@example.com")
    );
    guard.release().await.expect("release");
}

/// `lease break --force`: the holder's claims are cleared in every cluster, an Event in each
/// namespace says who broke whose lock, and the broken holder's next state write is refused by
/// fencing once someone else holds the lock.
#[tokio::test]
async fn breaking_a_lock_is_audited_and_fences_the_old_holder() {
    use k8s_openapi::api::core::v1::{Event, Secret};
    use solo_core::lock::Identity;
    use solo_kube::fence::FencedWriteError;

    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-break").await;
    let setup = Setup::new(env, &ns, "break-net", 2);
    let (stuck, fence) = setup
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("alice");
    let old_epoch = stuck.epoch();

    let clusters = setup.connect().await;
    let operator = Identity {
        user: "ops@example.com".into(),
        host: "ops-box".into(),
        pid: 7,
    };
    let removed =
        solo_kube::break_lock_audited(&clusters, &setup.lock_set(), &operator, "laptop lost")
            .await
            .expect("break");
    assert_eq!(removed.len(), 2, "one claim removed per cluster");
    for (cluster, lease) in leases(&setup).await {
        assert!(
            holder_of(&lease).is_none(),
            "{cluster} still held after the break"
        );
        let events: Api<Event> =
            Api::namespaced(clusters.client(&cluster).expect("client").clone(), &ns);
        let list = events.list(&Default::default()).await.expect("events");
        let audit = list
            .items
            .iter()
            .find(|e| e.reason.as_deref() == Some("LeaseBroken"))
            .expect("an audit event");
        let message = audit.message.clone().unwrap_or_default();
        assert!(
            message.contains("ops@example.com") && message.contains("alice@example.com"),
            "{message}"
        );
        assert!(message.contains("laptop lost"), "{message}");
    }

    let (next, _) = setup
        .lock("bob@example.com", WaitPolicy::NoWait)
        .await
        .expect("bob after the break");
    assert!(next.epoch() > old_epoch);
    let target = &fence.targets()[0];
    let refused = fence
        .write(target, old_epoch, |s: &mut Secret| s.string_data = None)
        .await;
    assert!(
        matches!(refused, Err(FencedWriteError::Fenced { .. })),
        "the broken holder wrote: {refused:?}"
    );
    next.release().await.expect("release");
    drop(stuck);
}

/// A Lease deleted by hand while held: the holder's next renewal says the lock is lost, and no
/// stale write of ours brings the lease back (a PUT would re-create it; the store patches).
#[tokio::test]
async fn a_lease_deleted_while_held_is_lost_and_never_resurrected() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-deleted").await;
    let setup = Setup::new(env, &ns, "deleted-net", 2);
    let (guard, _) = setup
        .lock("alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("alice");

    let clusters = setup.connect().await;
    let api: Api<Lease> =
        Api::namespaced(clusters.client("cluster-2").expect("client").clone(), &ns);
    api.delete("deleted-net", &Default::default())
        .await
        .expect("delete by hand");

    let renewal = guard.held().renew_once().await;
    assert!(
        matches!(renewal, Err(LockError::Lost { .. })),
        "renewal after deletion: {renewal:?}"
    );
    assert!(
        api.get_opt("deleted-net").await.expect("get").is_none(),
        "the deleted lease came back"
    );
    let _ = guard.release().await;
    assert!(
        api.get_opt("deleted-net").await.expect("get").is_none(),
        "release re-created the lease"
    );
}

/// Watches are kept open across wake-ups (issue 13), and that must lose nothing: a change made
/// while nobody waits wakes the next wait from what was seen, a wait from an old version answers
/// at once with the newest, a wait from the newest waits for the next change, and a deletion
/// wakes it too.
#[tokio::test]
async fn a_watch_kept_open_across_waits_misses_no_change() {
    use solo_core::lock::{LeaseKey, LeaseRecord, LeaseStore};
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-watch").await;
    let setup = Setup::new(env, &ns, "my-network", 1);
    let store = solo_kube::KubeLeaseStore::new(setup.connect().await);
    let key = LeaseKey::new("cluster-1", &ns);
    let name = "watched";
    let free = LeaseRecord::free(Duration::from_secs(3));
    let version = |n: u32| LeaseRecord {
        transitions: n,
        ..free.clone()
    };
    let v0 = store.create(&key, name, version(0)).await.expect("create");

    // Woken by a change, whether the watch opens before or after it lands.
    let (woke, v1) = tokio::join!(
        within(store.watch_change(&key, name, &v0.resource_version)),
        store.replace(&key, name, version(1), &v0.resource_version)
    );
    let v1 = v1.expect("replace");
    assert_eq!(woke.expect("present").value.transitions, 1);

    // A change while nobody waits: the next wait from what was seen answers with it at once.
    let v2 = store
        .replace(&key, name, version(2), &v1.resource_version)
        .await
        .expect("replace");
    let woke = within(store.watch_change(&key, name, &v1.resource_version)).await;
    assert_eq!(woke.expect("present"), v2);
    // From an older version still: the newest.
    let woke = within(store.watch_change(&key, name, &v0.resource_version)).await;
    assert_eq!(woke.expect("present").value.transitions, 2);

    // From the newest version: nothing to answer until the next change.
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        store.watch_change(&key, name, &v2.resource_version),
    )
    .await;
    assert!(early.is_err(), "woke without a change: {early:?}");
    let (woke, v3) = tokio::join!(
        within(store.watch_change(&key, name, &v2.resource_version)),
        store.replace(&key, name, version(3), &v2.resource_version)
    );
    let v3 = v3.expect("replace");
    assert_eq!(woke.expect("present"), v3);

    // A deletion wakes it with nothing.
    store
        .delete(&key, name, &v3.resource_version)
        .await
        .expect("delete");
    let woke = within(store.watch_change(&key, name, &v3.resource_version)).await;
    assert!(woke.is_none(), "deleted, yet {woke:?}");
}

/// The answer of a watch, which must come within 10 s.
async fn within<T>(
    what: impl std::future::Future<Output = Result<T, solo_core::lock::StoreError>>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), what)
        .await
        .expect("the watch answers within 10 s")
        .expect("the watch answers")
}

/// A waiter's ticket as the contender writes it.
fn ticket(n: u32) -> solo_core::lock::Waiter {
    let now = jiff::Timestamp::now();
    solo_core::lock::Waiter {
        request_id: format!("{n:04}-request"),
        requested_at: now,
        user: format!("waiter-{n}@example.com"),
        host: "test-host".into(),
        pid: n,
        heartbeat: now,
    }
}

/// One LIST shows a lock's Lease and every ticket of it at one resourceVersion, and nothing of
/// another lock in the same namespace; a heartbeat and a deletion are compare-and-swaps; a ticket
/// already gone deletes without error.
#[tokio::test]
async fn a_listing_holds_the_lease_and_its_tickets_at_one_version_and_no_other_locks() {
    use solo_core::lock::{LeaseKey, LeaseRecord, LeaseStore, StoreError};
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-list").await;
    let setup = Setup::new(env, &ns, "listed-net", 1);
    let store = solo_kube::KubeLeaseStore::new(setup.connect().await);
    let key = LeaseKey::new("cluster-1", &ns);
    let ttl = Duration::from_secs(3);

    let empty = store.list(&key, "listed-net").await.expect("list");
    assert!(empty.lease.is_none() && empty.tickets.is_empty());
    let lease = store
        .create(&key, "listed-net", LeaseRecord::free(ttl))
        .await
        .expect("create");
    let (first, second) = (ticket(1), ticket(2));
    let t1 = store
        .put_ticket(&key, "listed-net", &first, ttl, None)
        .await
        .expect("ticket 1");
    let t2 = store
        .put_ticket(&key, "listed-net", &second, ttl, None)
        .await
        .expect("ticket 2");
    assert_eq!(
        store
            .put_ticket(&key, "listed-net", &first, ttl, None)
            .await,
        Err(StoreError::Conflict),
        "a second create of one ticket"
    );
    // Another lock's Lease and ticket in the same namespace.
    store
        .create(&key, "other-net", LeaseRecord::free(ttl))
        .await
        .expect("other lease");
    store
        .put_ticket(&key, "other-net", &ticket(3), ttl, None)
        .await
        .expect("other ticket");

    let listing = store.list(&key, "listed-net").await.expect("list");
    assert_eq!(listing.lease, Some(lease));
    assert_eq!(listing.tickets, [t1.clone(), t2.clone()]);
    let at: u64 = listing.resource_version.parse().expect("a number");
    for version in [&t1.resource_version, &t2.resource_version] {
        assert!(version.parse::<u64>().expect("a number") <= at);
    }

    // A heartbeat at the version seen; at a stale one it conflicts.
    let beat = solo_core::lock::Waiter {
        heartbeat: jiff::Timestamp::now(),
        ..first.clone()
    };
    let t1b = store
        .put_ticket(&key, "listed-net", &beat, ttl, Some(&t1.resource_version))
        .await
        .expect("heartbeat");
    assert_ne!(t1b.resource_version, t1.resource_version);
    assert_eq!(
        store
            .put_ticket(&key, "listed-net", &beat, ttl, Some(&t1.resource_version))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .delete_ticket(
                &key,
                "listed-net",
                &first.request_id,
                Some(&t1.resource_version)
            )
            .await,
        Err(StoreError::Conflict),
        "a live ticket is not deleted at a stale version"
    );
    store
        .delete_ticket(
            &key,
            "listed-net",
            &first.request_id,
            Some(&t1b.resource_version),
        )
        .await
        .expect("delete at the version seen");
    store
        .delete_ticket(&key, "listed-net", &first.request_id, None)
        .await
        .expect("a ticket already gone");
    // A heartbeat never brings a deleted ticket back.
    assert_eq!(
        store
            .put_ticket(&key, "listed-net", &beat, ttl, Some(&t1b.resource_version))
            .await,
        Err(StoreError::NotFound)
    );
    let listing = store.list(&key, "listed-net").await.expect("list");
    assert_eq!(listing.tickets, [t2]);
}

/// A waiter behind another watches its ticket: a heartbeat wakes it with the ticket, and the
/// deletion with nothing, whether or not the watch was open when it happened.
#[tokio::test]
async fn a_ticket_watch_wakes_on_a_heartbeat_and_on_the_deletion() {
    use solo_core::lock::{LeaseKey, LeaseStore};
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-ticket-watch").await;
    let setup = Setup::new(env, &ns, "watched-net", 1);
    let store = solo_kube::KubeLeaseStore::new(setup.connect().await);
    let key = LeaseKey::new("cluster-1", &ns);
    let ttl = Duration::from_secs(3);
    let waiter = ticket(1);
    let id = waiter.request_id.clone();
    let v0 = store
        .put_ticket(&key, "watched-net", &waiter, ttl, None)
        .await
        .expect("ticket");

    let beat = |n: i64| solo_core::lock::Waiter {
        heartbeat: waiter.heartbeat + jiff::SignedDuration::from_secs(n),
        ..waiter.clone()
    };
    let first_beat = beat(1);
    let (woke, v1) = tokio::join!(
        within(store.watch_ticket(&key, "watched-net", &id, &v0.resource_version)),
        store.put_ticket(
            &key,
            "watched-net",
            &first_beat,
            ttl,
            Some(&v0.resource_version)
        )
    );
    let v1 = v1.expect("heartbeat");
    assert_eq!(woke, Some(v1.clone()), "woken by the heartbeat");

    // A heartbeat while nobody waits: the next wait from what was seen answers at once.
    let v2 = store
        .put_ticket(
            &key,
            "watched-net",
            &beat(2),
            ttl,
            Some(&v1.resource_version),
        )
        .await
        .expect("heartbeat");
    let woke = within(store.watch_ticket(&key, "watched-net", &id, &v1.resource_version)).await;
    assert_eq!(woke, Some(v2.clone()));

    let early = tokio::time::timeout(
        Duration::from_millis(300),
        store.watch_ticket(&key, "watched-net", &id, &v2.resource_version),
    )
    .await;
    assert!(early.is_err(), "woke without a change: {early:?}");
    let (woke, deleted) = tokio::join!(
        within(store.watch_ticket(&key, "watched-net", &id, &v2.resource_version)),
        store.delete_ticket(&key, "watched-net", &id, Some(&v2.resource_version))
    );
    deleted.expect("delete");
    assert_eq!(woke, None, "woken by the deletion");
    // Again from the version seen, with the watch closed after the deletion: a fresh one sees it.
    let woke = within(store.watch_ticket(&key, "watched-net", &id, &v2.resource_version)).await;
    assert_eq!(woke, None);
    // From an older version: a change after it (the heartbeat, or the deletion).
    let woke = within(store.watch_ticket(&key, "watched-net", &id, &v1.resource_version)).await;
    assert!(woke.is_none() || woke == Some(v2), "{woke:?}");
}

/// The new protocol waits on a Lease that a LIST did not show from the LIST's resourceVersion:
/// its creation wakes the wait, whether it lands before the watch opens or after.
#[tokio::test]
async fn a_watch_of_an_absent_lease_from_a_listing_wakes_on_its_creation() {
    use solo_core::lock::{LeaseKey, LeaseRecord, LeaseStore};
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-absent-watch").await;
    let setup = Setup::new(env, &ns, "absent-net", 1);
    let store = solo_kube::KubeLeaseStore::new(setup.connect().await);
    let key = LeaseKey::new("cluster-1", &ns);
    let free = LeaseRecord::free(Duration::from_secs(3));

    let seen = store.list(&key, "absent-net").await.expect("list");
    assert!(seen.lease.is_none());
    let (woke, created) = tokio::join!(
        within(store.watch_change(&key, "absent-net", &seen.resource_version)),
        store.create(&key, "absent-net", free.clone())
    );
    assert_eq!(
        woke,
        Some(created.expect("create")),
        "woken by the creation"
    );

    // Created before the wait starts.
    let seen = store.list(&key, "absent-too").await.expect("list");
    assert!(seen.lease.is_none());
    let created = store
        .create(&key, "absent-too", free)
        .await
        .expect("create");
    let woke = within(store.watch_change(&key, "absent-too", &seen.resource_version)).await;
    assert_eq!(woke, Some(created));
}

/// A Lease made before the lock label (an older solo, kubectl): not listed, until our first
/// replace labels it; that replace also drops an older solo's waiter queue.
#[tokio::test]
async fn an_unlabelled_lease_is_labelled_by_the_first_replace_and_then_listed() {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use kube::api::{ObjectMeta, PostParams};
    use solo_core::lock::{LeaseKey, LeaseRecord, LeaseStore};
    use solo_kube::lease_store::{LEGACY_WAITERS_ANNOTATION, LOCK_LABEL};

    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-unlabelled").await;
    let setup = Setup::new(env, &ns, "old-net", 1);
    let clusters = setup.connect().await;
    let api: Api<Lease> =
        Api::namespaced(clusters.client("cluster-1").expect("client").clone(), &ns);
    let old = Lease {
        metadata: ObjectMeta {
            name: Some("old-net".into()),
            annotations: Some(
                [(
                    LEGACY_WAITERS_ANNOTATION.to_owned(),
                    r#"[{"requestId":"r"}]"#.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            lease_duration_seconds: Some(3),
            ..Default::default()
        }),
    };
    api.create(&PostParams::default(), &old)
        .await
        .expect("an unlabelled lease");

    let store = solo_kube::KubeLeaseStore::new(clusters.clone());
    let key = LeaseKey::new("cluster-1", &ns);
    let listing = store.list(&key, "old-net").await.expect("list");
    assert!(listing.lease.is_none(), "listed without the label");
    let read = store
        .get(&key, "old-net")
        .await
        .expect("get")
        .expect("present");
    let replaced = store
        .replace(
            &key,
            "old-net",
            LeaseRecord {
                transitions: 1,
                ..read.value
            },
            &read.resource_version,
        )
        .await
        .expect("replace");
    let listing = store.list(&key, "old-net").await.expect("list");
    assert_eq!(listing.lease, Some(replaced));
    let raw = api.get("old-net").await.expect("get");
    assert_eq!(
        raw.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LOCK_LABEL))
            .map(String::as_str),
        Some("old-net")
    );
    assert!(
        raw.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(LEGACY_WAITERS_ANNOTATION)),
        "the old queue is gone: {:?}",
        raw.metadata.annotations
    );
}

/// A fenced write admits any epoch not older than the copy's and raises the copy's to it in the
/// same write; an older epoch is then refused (so a holder with an epoch between the two can no
/// longer write either). Both through the fence and through the state store.
#[tokio::test]
async fn a_higher_epoch_writes_and_raises_the_fence_then_a_lower_one_is_refused() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{ObjectMeta, PostParams};
    use solo_core::lock::Epoch;
    use solo_kube::fence::{EPOCH_ANNOTATION, FencedWriteError, epoch_of};
    use solo_kube::{StateStore, StateStoreError};

    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-fence").await;
    let setup = Setup::new(env, &ns, "fenced-net", 2);
    let clusters = setup.connect().await;

    // The fence over a plain object stamped at 3.
    let fence = setup.fence(&clusters);
    let target = fence.targets()[0].clone();
    let secrets: Api<Secret> = Api::namespaced(
        clusters.client(&target.cluster).expect("client").clone(),
        &ns,
    );
    let stamped = Secret {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            annotations: Some([(EPOCH_ANNOTATION.to_owned(), "3".to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &stamped)
        .await
        .expect("a stamped object");
    let written = fence
        .write(&target, Epoch(5), |s| {
            s.string_data = Some([("k".to_owned(), "five".to_owned())].into())
        })
        .await
        .expect("a higher epoch writes");
    assert_eq!(epoch_of(&written), Epoch(5));
    fence
        .write(&target, Epoch(5), |_| {})
        .await
        .expect("the same epoch writes again");
    let refused = fence.write(&target, Epoch(4), |_| {}).await;
    assert!(
        matches!(
            refused,
            Err(FencedWriteError::Fenced {
                ours: Epoch(4),
                current: Epoch(5),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        epoch_of(&secrets.get(&target.name).await.expect("get")),
        Epoch(5)
    );

    // The state store's write: every copy goes up to the writer's epoch.
    let store = StateStore::new(clusters.clone(), &ns);
    store
        .create(&empty_state(&setup), "team-a")
        .await
        .expect("create");
    append_node(&store, &setup, Epoch(7), "node-at-7")
        .await
        .expect("a write at 7");
    for (cluster, copy) in store
        .read_whole(&setup.deployment, &setup.refs())
        .await
        .copies()
    {
        let copy = copy.expect("a readable copy");
        assert_eq!(copy.fencing_epoch, Epoch(7), "{cluster}");
    }
    let refused = append_node(&store, &setup, Epoch(6), "node-at-6").await;
    assert!(
        matches!(
            refused,
            Err(StateStoreError::LockLost {
                ours: Epoch(6),
                current: Epoch(7),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(node_names(&store, &setup).await, ["node-at-7"]);
}

/// A holder that waited for its turn and releases at once (a command of a few milliseconds)
/// leaves no ticket behind: the renewal task that deletes them off the critical path is
/// stopped by the release, which must still see them deleted. A ticket left behind would
/// stand before every later waiter until it dies, a whole waiter TTL later.
#[tokio::test]
async fn a_holder_that_waited_and_releases_at_once_leaves_no_ticket() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-quick").await;
    let setup = Setup::new(env, &ns, "quick-net", 3);
    let clusters = setup.connect().await;
    let all = ["cluster-1", "cluster-2", "cluster-3"];
    for round in 0..8 {
        let alice = state_lock(&setup, &clusters, "alice@example.com", WaitPolicy::NoWait)
            .await
            .expect("alice takes the free lock");
        let bob = tokio::spawn({
            let (setup, clusters) = (setup.clone(), clusters.clone());
            async move { state_lock(&setup, &clusters, "bob@example.com", WaitPolicy::Forever).await }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !tickets_in(&clusters, &setup, &all)
            .await
            .iter()
            .any(|(_, t)| t.contains("bob@"))
        {
            assert!(Instant::now() < deadline, "bob never queued himself");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        alice.release().await.expect("alice releases");
        let bob = bob.await.expect("bob's task").expect("bob takes the lock");
        bob.release().await.expect("bob releases");
        for (cluster, queued) in tickets_in(&clusters, &setup, &all).await {
            assert!(
                queued.is_empty(),
                "round {round}: {cluster} still queues {queued}"
            );
        }
    }
}
