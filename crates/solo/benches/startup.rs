//! The binary's own start-up cost, with the network excluded (issue #6; goal: under 20 ms).
//!
//! Each case runs the real `solo` binary many times and prints the median and 90th percentile of
//! the wall time from spawn to exit. Nothing here asserts on time.
//!
//! - `solo --help`: parse and print.
//! - `solo state validate --file`: a read of a state file, offline (parse, migrate, validate).
//! - `solo state show`: everything a state read does before its first answer from a cluster: load
//!   the local config, read the kubeconfig, build a TLS client, start the runtime, send the first
//!   request. The kube context points at a local port nobody listens on, so the first request
//!   is refused by the local kernel at once; the time is until solo has reported that error and
//!   exited. The network is excluded because no packet leaves the machine and nothing waits.
//!
//! Run: `cargo bench -p solo --bench startup` (add `-- 200` for 200 runs per case).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SOLO: &str = env!("CARGO_BIN_EXE_solo");

fn time(runs: usize, setup: impl Fn(&mut Command)) -> Vec<Duration> {
    // One warm-up run loads the binary into the page cache.
    let mut warm = Command::new(SOLO);
    setup(&mut warm);
    let _ = warm.stdout(Stdio::null()).stderr(Stdio::null()).status();
    (0..runs)
        .map(|_| {
            let mut cmd = Command::new(SOLO);
            setup(&mut cmd);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let start = Instant::now();
            let _ = cmd.status().expect("solo runs");
            start.elapsed()
        })
        .collect()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} median {:>6.2} ms   p90 {:>6.2} ms   min {:>6.2} ms   ({} runs)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(samples[0]),
        samples.len()
    );
}

/// A CA certificate (self-signed, no key kept): kubeconfigs name their cluster's CA, so the client
/// is built as it is for a real cluster, without loading the system's trust store.
const CA_DATA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJoekNDQVMyZ0F3SUJBZ0lVRWhQckdueUJLWnVmWFdibWFlYWhzbTFESWhFd0NnWUlLb1pJemowRUF3SXcKR0RFV01CUUdBMVVFQXd3TmMyOXNieTFpWlc1amFDMWpZVEFnRncweU5qRXhNamN3TlRJek16ZGFHQTh5TVRJMgpNVEV3TXpBMU1qTXpOMW93R0RFV01CUUdBMVVFQXd3TmMyOXNieTFpWlc1amFDMWpZVEJaTUJNR0J5cUdTTTQ5CkFnRUdDQ3FHU000OUF3RUhBMElBQktYNnlmeUhaQ0VuUFNrRzBVdnVoUzlkbEdvcW1QemQ5UjNob3dxcDdDOSsKTkcyV3k3UEdPdzR5Y3U0NHNMWGdQMTI2Y2tuY0o5UWlnSXVjb0Y0cHJmS2pVekJSTUIwR0ExVWREZ1FXQkJTZwpSN0doQXFSR0FWNXdYTFh2VDU5VTdxaFBKekFmQmdOVkhTTUVHREFXZ0JTZ1I3R2hBcVJHQVY1d1hMWHZUNTlVCjdxaFBKekFQQmdOVkhSTUJBZjhFQlRBREFRSC9NQW9HQ0NxR1NNNDlCQU1DQTBnQU1FVUNJUURySUxHdEROTFcKTUVoT1B5Q1dGMW01Nm9Kcm5nRWxFSVM3WERlMUlXc2pTUUlnWXF2ZEU3anIzTmJ6ZHZPU2RGenlBM1RrVVRBbgo0Y2dyM3dyYmJFYkJDQ2M9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

/// A SOLO_HOME with one deployment on cluster-1, and a kubeconfig whose context for it points at
/// 127.0.0.1:1 (refused at once).
fn unreachable_setup(dir: &Path) -> (PathBuf, PathBuf) {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(
        home.join("solo-state-config.yaml"),
        "version: 1\nuserEmail: bench@example.com\nclusterRefs:\n  cluster-1: unreachable\ndeployments:\n  bench-net:\n    clusterRefs: [cluster-1]\n    namespace: bench-net\n    stateNamespace: solo-system\n",
    )
    .expect("config");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: unreachable\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {CA_DATA}\ncontexts:\n- name: unreachable\n  context:\n    cluster: unreachable\n    user: bench\nusers:\n- name: bench\n  user:\n    token: bench\ncurrent-context: unreachable\n"),
    )
    .expect("kubeconfig");
    (home, kubeconfig)
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let dir = std::env::temp_dir().join(format!("solo-startup-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (home, kubeconfig) = unreachable_setup(&dir);
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../solo-core/tests/data/state/reference-example.yaml");
    let state = dir.join("state.yaml");
    let text = std::fs::read_to_string(&example).unwrap_or_default();
    std::fs::write(&state, text.replace("cluster-N", "cluster-3")).expect("state file");
    println!("solo start-up, network excluded (goal: under 20 ms)");
    report(
        "solo --help",
        time(runs, |c| {
            c.arg("--help");
        }),
    );
    report(
        "solo state validate --file (offline)",
        time(runs, |c| {
            c.args(["state", "validate", "--file"]).arg(&state);
        }),
    );
    report(
        "solo state show (first request refused locally)",
        time(runs, |c| {
            c.args(["state", "show", "bench-net"])
                .env("SOLO_HOME", &home)
                .env("KUBECONFIG", &kubeconfig);
        }),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
