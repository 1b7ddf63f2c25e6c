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
/// removes its queue entries.
#[tokio::test]
async fn ctrl_c_releases_what_the_process_claimed() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-sigint").await;
    let setup = Setup::new(env, &ns, "sigint-net", 2);

    let mut holder = spawn_worker(&setup, "hold", 0, 0);
    wait_for_line(&mut holder, "HELD");
    let mut waiter = spawn_worker(&setup, "wait", 1, 0);
    wait_for_line(&mut waiter, "WAITING");
    // Wait until the waiter is visible in every lease.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !leases(&setup)
        .await
        .iter()
        .all(|(_, l)| waiters_of(l).contains("worker-1@"))
    {
        assert!(Instant::now() < deadline, "the waiter never queued itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    interrupt(&waiter);
    wait_for_line(&mut waiter, "INTERRUPTED");
    assert!(waiter.wait().expect("reap").success());
    for (cluster, lease) in leases(&setup).await {
        assert!(
            !waiters_of(&lease).contains("worker-1@"),
            "{cluster} still queues the interrupted waiter"
        );
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
        assert!(
            waiters_of(&lease).is_empty() || waiters_of(&lease) == "[]",
            "{cluster} kept a queue entry"
        );
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
