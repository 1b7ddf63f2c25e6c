//! Benchmarks across regions (issue #15): three clusters behind links of 10, 60 and 150 ms round
//! trips (testenv's Toxiproxy links), in a private environment of their own. Each figure is also
//! printed as a multiple of the slowest round trip, measured in the same run by a plain GET over a
//! warm connection: the number of sequential round trips a step costs. Asserts nothing.
//!
//! - in one process: uncontended acquire + release, and a handoff (A releases, B waiting holds);
//! - whole `solo` processes, connection set-up included: a locked write (`component add`: lock,
//!   read, write, history, release), reads of every copy (`state show`, `lease status`), and
//!   `exec <dep> -- true`.
//!
//! Besides the human-readable lines it prints machine-readable ones, `region_ms <case> <ms>`, that
//! scripts/bench.sh turns into the region table of BENCHMARKS.md.
//!
//! Run: `cargo bench -p solo --bench region` (`SOLO_BENCH_QUICK=1`: fewer iterations).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use solo_core::lock::{Identity, LeaseKey, LockConfig, LockSet, WaitPolicy};
use solo_kube::guard::lock;
use solo_kube::{
    Clusters, KubeLeaseStore, LockGuard, LockRequest, ServerClock, StateFence, fence_targets,
};
use solo_testenv::TestEnv;

const SOLO: &str = env!("CARGO_BIN_EXE_solo");
/// The added round trip of each cluster's link.
const PROFILE_MS: [u64; 3] = [10, 60, 150];

struct Bench {
    clusters: Clusters,
    namespace: String,
    refs: Vec<String>,
}

impl Bench {
    async fn lock(&self, deployment: &str, user: &str, wait: WaitPolicy) -> LockGuard {
        let request = LockRequest {
            lock_set: LockSet::new(
                deployment,
                self.refs.iter().map(|r| LeaseKey::new(r, &self.namespace)),
            )
            .expect("lock set"),
            identity: Identity {
                user: user.into(),
                host: "bench".into(),
                pid: std::process::id(),
            },
            config: LockConfig::with_lease_duration(Duration::from_secs(10)),
            wait,
        };
        let fence = StateFence::new(
            self.clusters.clone(),
            fence_targets(&self.namespace, deployment, &self.refs),
        );
        lock(
            request,
            KubeLeaseStore::new(self.clusters.clone()),
            ServerClock::local(),
            fence,
            |_| {},
        )
        .await
        .expect("lock")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Prints one case: its median, best, and the median as a multiple of the slowest round trip.
fn report(case: &str, label: &str, samples: Vec<Duration>, rtt: Duration) {
    let best = *samples.iter().min().expect("samples");
    let n = samples.len();
    let med = median(samples);
    println!(
        "{label:<52} n={n:<3} median={:>8.1}ms best={:>8.1}ms  = {:>5.1} x slowest round trip",
        ms(med),
        ms(best),
        ms(med) / ms(rtt)
    );
    println!("region_ms {case} {:.1}", ms(med));
}

/// Runs `solo` with `args` as `home`'s user; panics if it fails.
fn solo(home: &Path, kubeconfig: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new(SOLO)
        .args(args)
        .env("SOLO_HOME", home)
        .env("SOLO_USER_EMAIL", "bench@example.com")
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .expect("solo runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "solo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("SOLO_BENCH_QUICK").is_some();
    let iterations = if quick { 3 } else { 7 };
    let env = TestEnv::private(PROFILE_MS.len());
    let profile: Vec<Duration> = PROFILE_MS
        .iter()
        .map(|m| Duration::from_millis(*m))
        .collect();
    env.region_profile(&profile);
    let refs: Vec<String> = env.clusters().iter().map(|c| c.name.clone()).collect();
    let mapping: Vec<_> = refs.iter().map(|r| (r.clone(), r.clone())).collect();
    let clusters = Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients");
    let namespace = env.fresh_namespace("bench-region").await;
    println!(
        "solo across regions: {} clusters behind links of {PROFILE_MS:?} ms round trips, {iterations} iterations",
        refs.len()
    );

    // The unit: one plain GET over a warm connection, per cluster; the slowest cluster's median.
    let mut rtt = Duration::ZERO;
    for r in &refs {
        let api: Api<Lease> =
            Api::namespaced(clusters.client(r).expect("client").clone(), &namespace);
        let _ = api.get_opt("absent").await.expect("get");
        let mut samples = Vec::new();
        for _ in 0..iterations.max(5) {
            let t = Instant::now();
            let _ = api.get_opt("absent").await.expect("get");
            samples.push(t.elapsed());
        }
        let med = median(samples);
        println!(
            "{:<52} median={:>8.1}ms",
            format!("round trip (GET lease), {r}"),
            ms(med)
        );
        println!("region_ms rtt-{r} {:.1}", ms(med));
        rtt = rtt.max(med);
    }
    println!("region_ms rtt-slowest {:.1}", ms(rtt));

    // In one process.
    let bench = Arc::new(Bench {
        clusters: clusters.clone(),
        namespace: namespace.clone(),
        refs: refs.clone(),
    });
    let mut samples = Vec::new();
    for i in 0..iterations {
        let t = Instant::now();
        let g = bench
            .lock(
                &format!("uncontended-{i}"),
                "a@example.com",
                WaitPolicy::NoWait,
            )
            .await;
        g.release().await.expect("release");
        samples.push(t.elapsed());
    }
    report(
        "acquire-release",
        "uncontended acquire+release (new leases)",
        samples,
        rtt,
    );
    let mut samples = Vec::new();
    for i in 0..iterations {
        let deployment = format!("handoff-{i}");
        let a = bench
            .lock(&deployment, "a@example.com", WaitPolicy::NoWait)
            .await;
        let (b_bench, d) = (Arc::clone(&bench), deployment.clone());
        let b = tokio::spawn(async move {
            let g = b_bench.lock(&d, "b@example.com", WaitPolicy::Forever).await;
            (g, Instant::now())
        });
        // B has queued in every cluster well within this (a few round trips).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let released = Instant::now();
        a.release().await.expect("release");
        let (g, acquired) = b.await.expect("b");
        samples.push(acquired.duration_since(released));
        g.release().await.expect("release");
    }
    report(
        "handoff",
        "handoff release -> next holder (in one process)",
        samples,
        rtt,
    );

    // Whole processes.
    let home = std::env::temp_dir().join(format!("solo-region-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("SOLO_HOME");
    let kubeconfig = env.kubeconfig();
    let state_ns = env.fresh_namespace("bench-region-st").await;
    for r in &refs {
        solo(
            &home,
            &kubeconfig,
            &["cluster-ref", "connect", r, "--context", r],
        );
    }
    let mut create = vec![
        "deployment",
        "create",
        "region-net",
        "--namespace",
        &namespace,
        "--state-namespace",
        &state_ns,
    ];
    for r in &refs {
        create.extend(["--cluster-ref", r.as_str()]);
    }
    solo(&home, &kubeconfig, &create);
    let mut samples = Vec::new();
    for i in 0..iterations {
        let node = format!("node{i}");
        samples.push(solo(
            &home,
            &kubeconfig,
            &[
                "component",
                "add",
                "region-net",
                "consensus",
                &node,
                "--cluster-ref",
                "cluster-1",
            ],
        ));
    }
    report(
        "component-add",
        "solo component add (a locked write, whole process)",
        samples,
        rtt,
    );
    for (case, label, args) in [
        (
            "state-show",
            "solo state show (every copy, whole process)",
            &["state", "show", "region-net"][..],
        ),
        (
            "lease-status",
            "solo lease status (every lease, whole process)",
            &["lease", "status", "region-net"][..],
        ),
        (
            "exec-true",
            "solo exec <dep> -- true (whole process)",
            &["exec", "region-net", "--", "true"][..],
        ),
    ] {
        let samples = (0..iterations)
            .map(|_| solo(&home, &kubeconfig, args))
            .collect();
        report(case, label, samples, rtt);
    }
    let _ = std::fs::remove_dir_all(&home);
}
