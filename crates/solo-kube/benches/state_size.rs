//! State size benchmark against real clusters (testenv): prints figures, asserts nothing.
//!
//! The largest deployment solo supports (`tests/size`): a state of 5,000 components whose
//! `cli.history` lists 1,011 archives holding 100,000 entries, over 3 clusters. Prints the bytes
//! of the largest objects written (the state, canonical and stored; a full history archive),
//! and the time to save the state (a locked write of every copy), to load it (read every copy,
//! compare, migrate and validate the newest), to append one history entry, and to read the whole
//! history. Machine-readable lines: `<metric> state-size <value>`.
//!
//! Run with `cargo bench -p solo-kube --bench state_size` (starts clusters if `SOLO_TESTENV_DIR`
//! is not set). `SOLO_BENCH_QUICK=1` runs fewer rounds.

#[path = "../tests/size/mod.rs"]
mod size;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use solo_core::lock::{Identity, LeaseKey, LockConfig, LockSet, WaitPolicy};
use solo_core::state::{MigrationStamp, to_at_rest};
use solo_kube::guard::lock;
use solo_kube::state_store::{STATE_GZ_KEY, STATE_KEY};
use solo_kube::{
    Clusters, HistoryStore, KubeLeaseStore, LockRequest, ServerClock, StateFence, StateStore,
    fence_targets,
};
use solo_testenv::TestEnv;

fn refs() -> Vec<String> {
    (1..=3).map(|i| format!("cluster-{i}")).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and max of `samples`, in milliseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    (
        ms(samples[samples.len() / 2]),
        ms(*samples.last().expect("samples")),
    )
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("SOLO_BENCH_QUICK").is_some();
    let rounds = if quick { 3 } else { 10 };
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("bench-size").await;
    let mapping: Vec<_> = refs().into_iter().map(|r| (r.clone(), r)).collect();
    let clusters = Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients");
    let store = StateStore::new(clusters.clone(), &ns);
    let history = HistoryStore::new(clusters.clone(), &ns);
    let deployment = "big-net";
    let doc = size::big_state(deployment, &ns, &refs(), size::COMPONENTS);
    store.create(&doc, "bench").await.expect("create");
    let started = Instant::now();
    let (names, largest_archive) =
        size::write_history(&clusters, &ns, deployment, &refs(), "bench", size::HISTORY).await;
    let fill = started.elapsed();

    let request = LockRequest {
        lock_set: LockSet::new(deployment, refs().iter().map(|r| LeaseKey::new(r, &ns)))
            .expect("lock set"),
        identity: Identity {
            user: "bench@example.com".into(),
            host: "bench".into(),
            pid: std::process::id(),
        },
        config: LockConfig::with_lease_duration(Duration::from_secs(30)),
        wait: WaitPolicy::Forever,
    };
    let fence = StateFence::new(clusters.clone(), fence_targets(&ns, deployment, refs()));
    let clock = ServerClock::measure(clusters.client("cluster-1").expect("c1")).await;
    let guard = lock(
        request,
        KubeLeaseStore::new(clusters.clone()),
        clock,
        fence,
        |_| {},
    )
    .await
    .expect("lock");
    let stamp = MigrationStamp {
        by: "bench@example.com".into(),
        at: Timestamp::now(),
    };
    let mut d = doc.clone();
    d.cli.history = names.iter().rev().cloned().collect();
    let canonical = to_at_rest(&d).expect("json").len();

    let (mut saves, mut loads, mut appends, mut reads) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        d.metadata.last_updated_at = Timestamp::now();
        let t = Instant::now();
        store
            .write(guard.epoch(), deployment, &d)
            .await
            .expect("save");
        saves.push(t.elapsed());

        let t = Instant::now();
        let (copy, _) = store.read(deployment, &refs()).await.expect("read");
        let loaded = copy.load(&stamp).expect("load").into_document();
        loads.push(t.elapsed());
        assert_eq!(size::component_count(&loaded), size::COMPONENTS);

        let t = Instant::now();
        history
            .append(
                guard.epoch(),
                deployment,
                &refs(),
                &size::entry(size::HISTORY + round),
            )
            .await
            .expect("append");
        appends.push(t.elapsed());

        if round < 3 {
            let t = Instant::now();
            let all = history
                .read_all(deployment, &refs())
                .await
                .expect("history");
            reads.push(t.elapsed());
            assert_eq!(all.entries.len(), size::HISTORY + round + 1);
        }
    }
    guard.release().await.expect("release");
    let api: Api<Secret> = Api::namespaced(clusters.client("cluster-1").expect("c1").clone(), &ns);
    let secret = api.get(deployment).await.expect("get");
    let data = secret.data.as_ref().expect("data");
    let stored = data
        .get(STATE_GZ_KEY)
        .or_else(|| data.get(STATE_KEY))
        .map_or(0, |b| b.0.len());

    println!(
        "state of {} components, history of {} entries in {} archives, 3 clusters",
        size::COMPONENTS,
        size::HISTORY,
        names.len()
    );
    println!("  state canonical JSON     {canonical:>9} bytes");
    println!(
        "  state stored (gzip)      {stored:>9} bytes  (largest object written; limit 1,048,576)"
    );
    println!("  full history archive     {largest_archive:>9} bytes  (99 entries)");
    let (p50, max) = summary(&mut saves);
    println!("  save (locked write, 3 copies)   p50 {p50:8.1} ms  max {max:8.1} ms");
    let (lp50, lmax) = summary(&mut loads);
    println!("  load (read 3 copies + parse)    p50 {lp50:8.1} ms  max {lmax:8.1} ms");
    let (ap50, amax) = summary(&mut appends);
    println!("  history append                  p50 {ap50:8.1} ms  max {amax:8.1} ms");
    let (rp50, rmax) = summary(&mut reads);
    println!("  history read (100k entries)     p50 {rp50:8.1} ms  max {rmax:8.1} ms");
    println!(
        "  (writing the 1,011 archives x 3 clusters took {:.1} s)",
        fill.as_secs_f64()
    );
    println!("state_canonical_bytes state-size {canonical}");
    println!("state_stored_bytes state-size {stored}");
    println!("history_archive_bytes state-size {largest_archive}");
    println!("state_save_p50_ms state-size {p50:.1}");
    println!("state_load_p50_ms state-size {lp50:.1}");
    println!("history_append_p50_ms state-size {ap50:.1}");
    println!("history_read_p50_ms state-size {rp50:.1}");
}
