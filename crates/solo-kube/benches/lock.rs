//! Lock benchmarks against real clusters (testenv): prints figures, asserts nothing.
//!
//! - one plain API round trip (GET of a Lease), the unit everything else is measured in;
//! - uncontended acquire + release over 1 and 3 clusters;
//! - handoff latency over 1 and 3 clusters: A holds, B waits; from the moment A's release starts to
//!   the moment B holds the lock (mean, p50, p99), measured as `bench/` measures client-go's;
//! - N waiting contenders each hold once: a holder releases, 8 waiters each take the lock and release
//!   it at once; the time from the holder's release to the last one's release;
//! - critical sections per second with 8 contenders over 3 clusters.
//!
//! Besides the human-readable lines it prints machine-readable ones, `<metric> <subject> <value>`
//! (e.g. `handoff_p50_ms solo-3clusters 104.2`), that scripts/bench.sh compares with client-go's.
//!
//! Run with `cargo bench -p solo-kube --bench lock` (starts clusters if `SOLO_TESTENV_DIR` is not
//! set). `SOLO_BENCH_QUICK=1` runs fewer iterations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use solo_core::lock::{Identity, LeaseKey, LockConfig, LockSet, WaitPolicy};
use solo_kube::fence::FenceTarget;
use solo_kube::guard::lock;
use solo_kube::{Clusters, KubeLeaseStore, LockGuard, LockRequest, ServerClock, StateFence};
use solo_testenv::TestEnv;
use tokio::sync::Mutex;

struct Bench {
    clusters: Clusters,
    namespace: String,
}

impl Bench {
    async fn lock(&self, deployment: &str, n: usize, user: &str, wait: WaitPolicy) -> LockGuard {
        let refs: Vec<String> = (1..=n).map(|i| format!("cluster-{i}")).collect();
        let lock_set = LockSet::new(
            deployment,
            refs.iter().map(|r| LeaseKey::new(r, &self.namespace)),
        )
        .expect("lock set");
        let targets = refs
            .iter()
            .map(|r| FenceTarget {
                cluster: r.clone(),
                namespace: self.namespace.clone(),
                name: format!("{deployment}-state"),
            })
            .collect();
        let request = LockRequest {
            lock_set,
            identity: Identity {
                user: user.into(),
                host: "bench".into(),
                pid: std::process::id(),
            },
            config: LockConfig::with_lease_duration(Duration::from_secs(10)),
            wait,
        };
        lock(
            request,
            KubeLeaseStore::new(self.clusters.clone()),
            ServerClock::local(),
            StateFence::new(self.clusters.clone(), targets),
            |_| {},
        )
        .await
        .expect("lock")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints mean, p50 and p99; with a subject, also as machine-readable `<metric>_ms` lines.
fn summary(name: &str, mut samples: Vec<Duration>, machine: Option<(&str, &str)>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<48} n={:<4} mean={:>8.2}ms p50={:>8.2}ms p99={:>8.2}ms",
        samples.len(),
        ms(mean),
        ms(p50),
        ms(p99)
    );
    if let Some((metric, subject)) = machine {
        println!("{metric}_mean_ms {subject} {:.1}", ms(mean));
        println!("{metric}_p50_ms {subject} {:.1}", ms(p50));
        println!("{metric}_p99_ms {subject} {:.1}", ms(p99));
    }
}

/// The machine-readable name of a run over `n` clusters.
fn subject(n: usize) -> String {
    if n == 1 {
        "solo-1cluster".into()
    } else {
        format!("solo-{n}clusters")
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("SOLO_BENCH_QUICK").is_some();
    let iterations = if quick { 10 } else { 50 };
    let env = TestEnv::shared();
    let namespace = env.fresh_namespace("bench-lock").await;
    let mapping: Vec<_> = (1..=3)
        .map(|i| (format!("cluster-{i}"), format!("cluster-{i}")))
        .collect();
    let clusters = Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients");
    let bench = Arc::new(Bench {
        clusters: clusters.clone(),
        namespace: namespace.clone(),
    });
    println!(
        "solo lock benchmarks: {} clusters of kube-apiserver (testenv), {iterations} iterations",
        3
    );

    // One plain round trip.
    let api: Api<Lease> = Api::namespaced(
        clusters.client("cluster-1").expect("client").clone(),
        &namespace,
    );
    let mut samples = Vec::new();
    for _ in 0..iterations * 2 {
        let t = Instant::now();
        let _ = api.get_opt("absent").await.expect("get");
        samples.push(t.elapsed());
    }
    summary("API round trip (GET lease)", samples, None);

    // A new lease each time (create), then one lease again and again (replace).
    for n in [1, 3] {
        for (kind, name) in [
            ("new lease", None),
            ("existing lease", Some(format!("reused-{n}"))),
        ] {
            let mut samples = Vec::new();
            for i in 0..iterations {
                let deployment = name
                    .clone()
                    .unwrap_or_else(|| format!("uncontended-{n}-{i}"));
                let t = Instant::now();
                let guard = bench
                    .lock(&deployment, n, "a@example.com", WaitPolicy::NoWait)
                    .await;
                guard.release().await.expect("release");
                samples.push(t.elapsed());
            }
            summary(
                &format!("uncontended acquire+release, {n} cluster(s), {kind}"),
                samples,
                None,
            );
        }
    }

    // Handoff: A holds; B waits; B's acquisition time minus the start of A's release.
    for n in [1, 3] {
        let (mut samples, mut release_calls) = (Vec::new(), Vec::new());
        for i in 0..iterations {
            let deployment = format!("handoff-{n}-{i}");
            let a = bench
                .lock(&deployment, n, "a@example.com", WaitPolicy::NoWait)
                .await;
            let b_bench = Arc::clone(&bench);
            let d = deployment.clone();
            let b = tokio::spawn(async move {
                let g = b_bench
                    .lock(&d, n, "b@example.com", WaitPolicy::Forever)
                    .await;
                (g, Instant::now())
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            let released = Instant::now();
            a.release().await.expect("release");
            release_calls.push(released.elapsed());
            let (g, acquired) = b.await.expect("b");
            samples.push(acquired.duration_since(released));
            g.release().await.expect("release");
        }
        summary(
            &format!("handoff release -> next holder, {n} cluster(s)"),
            samples,
            Some(("handoff", &subject(n))),
        );
        summary(
            &format!("  of which the release call, {n} cluster(s)"),
            release_calls,
            None,
        );
    }

    // N waiting contenders each hold once: from the holder's release to the last one's release.
    let contenders = 8;
    let rounds = if quick { 2 } else { 5 };
    for n in [1, 3] {
        let mut samples = Vec::new();
        for r in 0..rounds {
            let deployment = format!("contenders-{n}-{r}");
            let holder = bench
                .lock(&deployment, n, "holder@example.com", WaitPolicy::NoWait)
                .await;
            let waiters: Vec<_> = (0..contenders)
                .map(|c| {
                    let bench = Arc::clone(&bench);
                    let d = deployment.clone();
                    tokio::spawn(async move {
                        let user = format!("c{c}@example.com");
                        let g = bench.lock(&d, n, &user, WaitPolicy::Forever).await;
                        g.release().await.expect("release");
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let released = Instant::now();
            holder.release().await.expect("release");
            for w in waiters {
                w.await.expect("contender");
            }
            samples.push(released.elapsed());
        }
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        println!(
            "{:<48} n={:<4} mean={:>8.2}ms ({:.2}ms per holder)",
            format!("{contenders} contenders each hold once, {n} cluster(s)"),
            samples.len(),
            ms(mean),
            ms(mean) / contenders as f64
        );
        println!("contenders_mean_ms {} {:.1}", subject(n), ms(mean));
    }

    // Throughput: 8 contenders, each runs sections back to back for a fixed time.
    let sections = Arc::new(Mutex::new(0usize));
    let window = Duration::from_secs(if quick { 10 } else { 30 });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..8 {
        let bench = Arc::clone(&bench);
        let sections = Arc::clone(&sections);
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < window {
                let g = bench
                    .lock(
                        "throughput",
                        3,
                        &format!("c{c}@example.com"),
                        WaitPolicy::Forever,
                    )
                    .await;
                *sections.lock().await += 1;
                g.release().await.expect("release");
            }
        }));
    }
    for t in tasks {
        t.await.expect("contender");
    }
    let total = *sections.lock().await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<48} {total} sections in {secs:.1}s = {:.1}/s",
        "8 contenders, 3 clusters, empty sections",
        total as f64 / secs
    );
}
