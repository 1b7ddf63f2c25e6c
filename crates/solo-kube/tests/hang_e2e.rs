//! A renewal request that hangs (an API server stopped with SIGSTOP: the connection stays open
//! and nothing answers) must not keep a holder working past its lease: the holder learns that
//! its lock is lost a margin before the lease could expire, so before anyone else may hold it.

mod support;

use std::time::{Duration, Instant};

use solo_core::lock::WaitPolicy;
use solo_testenv::TestEnv;
use support::*;

/// The process id of `cluster`'s API server, from the environment's `env.json`.
fn apiserver_pid(env: &TestEnv, cluster: &str) -> i32 {
    let dir = env.kubeconfig().parent().expect("env dir").to_path_buf();
    let text = std::fs::read_to_string(dir.join("env.json")).expect("env.json");
    let file: serde_json::Value = serde_json::from_str(&text).expect("json");
    file["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| c["name"] == cluster)
        .and_then(|c| c["pid"].as_i64())
        .and_then(|p| i32::try_from(p).ok())
        .expect("a pid")
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on an API server process of the test's own private environment.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "signal {sig} to {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewal_that_hangs_stops_the_holder_before_its_lease_can_expire() {
    let env = TestEnv::private(2);
    let ns = env.fresh_namespace("hang").await;
    let mut setup = Setup::new(&env, &ns, "hang-net", 2);
    setup.lease_seconds = 6;
    let clusters = setup.connect().await;
    let holder = state_lock(&setup, &clusters, "alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("alice");
    let pid = apiserver_pid(&env, "cluster-2");
    signal(pid, libc::SIGSTOP);
    // Every renewal sent from now on hangs, so the lease expires at the latest one lease
    // duration after this instant.
    let stopped = Instant::now();
    let lease = Duration::from_secs(setup.lease_seconds);
    let lost = tokio::time::timeout(2 * lease, holder.lost()).await;
    let elapsed = stopped.elapsed();
    signal(pid, libc::SIGCONT);
    let reason = lost.expect("the holder never learned that its renewal hangs");
    // The lease was last renewed at or before the stop: it expires at `lease` after it at the
    // latest, and the holder must have stopped a margin before.
    assert!(
        elapsed < lease - Duration::from_millis(500),
        "the holder stopped {elapsed:?} after the server hung, not before its {lease:?} lease could expire: {reason}"
    );
    drop(holder);
}
