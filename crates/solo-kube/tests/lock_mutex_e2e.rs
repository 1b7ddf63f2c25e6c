//! Mutual exclusion across processes on real clusters: 8 processes take turns on one deployment.
//! In a test binary of its own, so that its load does not disturb timing-bound tests.

mod support;

use std::process::Child;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use solo_testenv::TestEnv;
use support::*;

/// Runs the worker side when this binary is started as a worker; passes otherwise.
#[tokio::test]
async fn worker() {
    if std::env::var_os("SOLO_LOCK_WORKER").is_some() {
        support::run_worker().await;
    }
}

/// 8 processes, 20 critical sections each, over 3 clusters: every section appends an enter mark
/// and a leave mark to a shared record through a fenced write. No two sections overlap and no
/// mark is lost.
#[tokio::test]
async fn eight_processes_take_turns_without_overlap_or_lost_updates() {
    const WORKERS: usize = 8;
    const SECTIONS: usize = 20;
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lock-mutex").await;
    let setup = Setup::new(env, &ns, "shared-net", 3);

    let started = Instant::now();
    let mut children: Vec<Child> = (0..WORKERS)
        .map(|id| spawn_worker(&setup, "sections", id, SECTIONS))
        .collect();
    for child in &mut children {
        let status = child.wait().expect("wait for a worker");
        assert!(status.success(), "a worker failed: {status}");
    }
    let elapsed = started.elapsed();

    let clusters = setup.connect().await;
    let secrets: Api<Secret> =
        Api::namespaced(clusters.client("cluster-1").expect("client").clone(), &ns);
    let record = decode_record(&secrets.get("shared-net-state").await.expect("the record"));
    assert_eq!(
        record.len(),
        WORKERS * SECTIONS * 2,
        "lost or extra marks: {record:?}"
    );
    for pair in record.chunks(2) {
        let (enter, leave) = (&pair[0], &pair[1]);
        assert!(
            enter.starts_with('+') && leave.starts_with('-'),
            "overlap at {pair:?}"
        );
        assert_eq!(enter[1..], leave[1..], "sections interleaved: {pair:?}");
    }
    eprintln!(
        "{} critical sections by {WORKERS} processes over 3 clusters in {elapsed:?}",
        WORKERS * SECTIONS
    );
}
