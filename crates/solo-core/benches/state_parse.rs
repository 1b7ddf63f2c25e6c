//! How long it takes to read a large state: parse and validate a document of 5,000 components.
//!
//! Goal: well under 50 ms. Prints mean, p50, p99 and min over repeated runs (min is the figure
//! least disturbed by other work on the machine; the load average is printed too), and the
//! document's size; asserts nothing about time. Run with `cargo bench -p solo-core --bench state_parse`.

use jiff::Timestamp;
use solo_core::state::{
    self, ClusterRef, Component, ConsensusNode, MigrationStamp, ProxyComponent, RelayComponent,
    StateDocument,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 50;

fn big_document(components: usize) -> StateDocument {
    let at: Timestamp = "2025-01-01T00:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let mut doc = StateDocument::new("big-network", "bench@example.com", at);
    let clusters = ["cluster-1", "cluster-2", "cluster-3"];
    for c in clusters {
        doc.clusters.push(ClusterRef::new(c, "solo-big"));
    }
    let place = |i: usize| (clusters[i % 3].to_string(), "solo-big".to_string());
    let per = components / 5; // consensus, haproxy, envoy, relay get `per`; mirror + explorer share one `per`
    let c = &mut doc.components;
    for i in 0..per {
        let (cluster, namespace) = place(i);
        c.consensus.push(ConsensusNode::next_after(
            &c.consensus,
            format!("node{i}"),
            cluster,
            namespace,
        ));
    }
    for i in 0..per {
        let (cluster, namespace) = place(i);
        c.haproxy.push(ProxyComponent {
            name: format!("haproxy-node{i}"),
            cluster: cluster.clone(),
            namespace: namespace.clone(),
            consensus_node: format!("node{i}"),
        });
        c.envoy_proxy.push(ProxyComponent {
            name: format!("envoy-proxy-node{i}"),
            cluster,
            namespace,
            consensus_node: format!("node{i}"),
        });
    }
    for i in 0..per / 2 {
        let (cluster, namespace) = place(i);
        c.mirror.push(Component {
            name: format!("mirror-{i}"),
            cluster: cluster.clone(),
            namespace: namespace.clone(),
        });
        c.mirror_node_explorer.push(Component {
            name: format!("explorer-{i}"),
            cluster,
            namespace,
        });
    }
    for i in 0..components - c.len() {
        let (cluster, namespace) = place(i);
        c.relay.push(RelayComponent {
            name: format!("relay-{i}"),
            cluster,
            namespace,
            consensus_nodes: (0..3).map(|k| format!("node{}", (i + k) % per)).collect(),
        });
    }
    doc.cli.history = (1..=20)
        .rev()
        .map(|n| format!("big-network-history-{n:02}"))
        .collect();
    doc
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<34} mean {:>7.2} ms   p50 {:>7.2} ms   p99 {:>7.2} ms   min {:>7.2} ms   ({} runs)",
        ms(mean),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(samples[0]),
        samples.len()
    );
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    black_box(f()); // warm up
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect()
}

fn main() {
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        // Other work on the machine inflates every figure; say how busy it was.
        println!(
            "load average: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let stamp = MigrationStamp {
        by: "bench@example.com".into(),
        at: Timestamp::UNIX_EPOCH,
    };
    let doc = big_document(5_000);
    let text = match state::to_canonical_yaml(&doc) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot print the bench document: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = state::load(text.as_bytes(), &stamp) {
        eprintln!("the bench document is not valid: {e}: {:?}", e.problems());
        std::process::exit(1);
    }
    println!(
        "document: {} components, {} clusters, {} bytes ({:.0} KiB) of canonical YAML; limit {} KiB",
        doc.components.len(),
        doc.clusters.len(),
        text.len(),
        text.len() as f64 / 1024.0,
        state::MAX_DOCUMENT_BYTES / 1024
    );
    report(
        "parse + validate (state::load)",
        time(RUNS, || state::load(text.as_bytes(), &stamp)),
    );
    report(
        "parse only (state::parse)",
        time(RUNS, || state::parse(text.as_bytes())),
    );
    report("validate only", time(RUNS, || state::validate(&doc)));
    report(
        "print canonical YAML",
        time(RUNS, || state::to_canonical_yaml(&doc)),
    );
    report("content hash", time(RUNS, || state::content_hash(&text)));
}
