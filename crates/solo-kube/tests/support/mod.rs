//! Shared by the lock's end-to-end tests: a deployment's lock over the test clusters, and worker
//! processes (the test binary run again with `SOLO_LOCK_WORKER` set; each binary that spawns
//! workers has a `worker` test that calls [`run_worker`]).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use solo_core::lock::{Epoch, HolderField, Identity, LeaseKey, LockConfig, LockSet, WaitPolicy};
use solo_core::state::{ClusterRef, ConsensusNode, MigrationStamp, StateDocument};
use solo_kube::fence::FenceTarget;
use solo_kube::fence_targets;
use solo_kube::guard::{GuardError, lock};
use solo_kube::{
    Clusters, KubeLeaseStore, LockGuard, LockRequest, ServerClock, StateFence, StateStore,
    StateStoreError,
};
use solo_testenv::TestEnv;

/// Everything a test or a worker needs to lock `deployment` over `clusters` clusters.
#[derive(Clone)]
pub struct Setup {
    pub kubeconfig: String,
    pub namespace: String,
    pub deployment: String,
    pub clusters: usize,
    pub lease_seconds: u64,
}

impl Setup {
    pub fn new(env: &TestEnv, namespace: &str, deployment: &str, clusters: usize) -> Self {
        Setup {
            kubeconfig: env.kubeconfig().display().to_string(),
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
            clusters,
            lease_seconds: 3,
        }
    }

    pub fn refs(&self) -> Vec<String> {
        (1..=self.clusters)
            .map(|i| format!("cluster-{i}"))
            .collect()
    }

    pub async fn connect(&self) -> Clusters {
        let mapping: Vec<_> = self.refs().into_iter().map(|r| (r.clone(), r)).collect();
        Clusters::connect(Some(self.kubeconfig.clone().into()), &mapping)
            .await
            .expect("clients")
    }

    pub fn lock_set(&self) -> LockSet {
        LockSet::new(
            &self.deployment,
            self.refs()
                .into_iter()
                .map(|r| LeaseKey::new(r, &self.namespace)),
        )
        .expect("a lock set")
    }

    pub fn fence(&self, clusters: &Clusters) -> StateFence {
        let targets = self
            .refs()
            .into_iter()
            .map(|cluster| FenceTarget {
                cluster,
                namespace: self.namespace.clone(),
                name: format!("{}-state", self.deployment),
            })
            .collect();
        StateFence::new(clusters.clone(), targets)
    }

    pub async fn lock(
        &self,
        user: &str,
        wait: WaitPolicy,
    ) -> Result<(LockGuard, StateFence), GuardError> {
        let clusters = self.connect().await;
        self.lock_with(&clusters, user, wait).await
    }

    /// Locks through clients made before (a worker reuses its connections across sections).
    pub async fn lock_with(
        &self,
        clusters: &Clusters,
        user: &str,
        wait: WaitPolicy,
    ) -> Result<(LockGuard, StateFence), GuardError> {
        let fence = self.fence(clusters);
        let request = LockRequest {
            lock_set: self.lock_set(),
            identity: Identity {
                user: user.to_owned(),
                host: "test-host".into(),
                pid: std::process::id(),
            },
            config: LockConfig::with_lease_duration(Duration::from_secs(self.lease_seconds)),
            wait,
        };
        let clock = ServerClock::measure(clusters.client("cluster-1").expect("cluster-1")).await;
        let store = KubeLeaseStore::new(clusters.clone());
        let guard = lock(request, store, clock, fence.clone(), |_| {}).await?;
        Ok((guard, fence))
    }

    fn to_env(&self, cmd: &mut Command) {
        cmd.env("SOLO_LOCK_WORKER", "1")
            .env("W_KUBECONFIG", &self.kubeconfig)
            .env("W_NAMESPACE", &self.namespace)
            .env("W_DEPLOYMENT", &self.deployment)
            .env("W_CLUSTERS", self.clusters.to_string())
            .env("W_LEASE", self.lease_seconds.to_string());
    }

    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set for workers"));
        Setup {
            kubeconfig: var("W_KUBECONFIG"),
            namespace: var("W_NAMESPACE"),
            deployment: var("W_DEPLOYMENT"),
            clusters: var("W_CLUSTERS").parse().expect("a number"),
            lease_seconds: var("W_LEASE").parse().expect("a number"),
        }
    }
}

/// Starts a worker process: this binary, running only the `worker` test, in `mode`.
pub fn spawn_worker(setup: &Setup, mode: &str, id: usize, sections: usize) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["worker", "--exact", "--nocapture", "--test-threads=1"]);
    setup.to_env(&mut cmd);
    cmd.env("W_MODE", mode)
        .env("W_ID", id.to_string())
        .env("W_SECTIONS", sections.to_string());
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    cmd.spawn().expect("spawn a worker")
}

/// Reads the worker's stdout until it prints `line`.
pub fn wait_for_line(child: &mut Child, line: &str) {
    use std::io::BufRead;
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut reader = std::io::BufReader::new(out);
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).expect("read worker output");
        assert!(n > 0, "the worker ended before printing {line:?}");
        // The test harness may print "test worker ... " on the same line first.
        if buf.trim_end().ends_with(line) {
            return;
        }
    }
}

pub const RECORD_KEY: &str = "record";

/// The worker side. Modes: `sections` (run W_SECTIONS critical sections appending to the shared
/// record), `hold` (take the lock, print HELD, hold until killed or interrupted), `wait` (print
/// WAITING, then wait for the lock; on Ctrl-C exit cleanly), `writer` (see [`run_writer`]).
pub async fn run_worker() {
    let setup = Setup::from_env();
    let id: usize = std::env::var("W_ID")
        .expect("W_ID")
        .parse()
        .expect("a number");
    let user = format!("worker-{id}@example.com");
    match std::env::var("W_MODE").expect("W_MODE").as_str() {
        "sections" => {
            let sections: usize = std::env::var("W_SECTIONS")
                .expect("W_SECTIONS")
                .parse()
                .expect("a number");
            let clusters = setup.connect().await;
            for n in 0..sections {
                let (guard, fence) = setup
                    .lock_with(&clusters, &user, WaitPolicy::Forever)
                    .await
                    .expect("the lock");
                let target = &fence.targets()[0];
                // Enter: the record must show nobody inside; append "+id.n", then "-id.n" on leaving.
                for mark in ['+', '-'] {
                    loop {
                        let result = fence
                            .write(target, guard.epoch(), |secret| {
                                let mut record = decode_record(secret);
                                record.push(format!("{mark}{id}.{n}"));
                                let data = secret.string_data.get_or_insert_with(BTreeMap::new);
                                data.insert(RECORD_KEY.into(), record.join(" "));
                            })
                            .await;
                        match result {
                            Ok(_) => break,
                            Err(solo_kube::fence::FencedWriteError::Conflict { .. }) => continue,
                            Err(e) => panic!(
                                "worker {id}: fenced write refused while holding the lock: {e}"
                            ),
                        }
                    }
                }
                guard.release().await.expect("release");
            }
        }
        "hold" => {
            let (guard, _fence) = setup
                .lock(&user, WaitPolicy::Forever)
                .await
                .expect("the lock");
            println!("HELD");
            solo_kube::guard::interrupted().await;
            guard.release().await.expect("release on Ctrl-C");
            println!("RELEASED");
        }
        "writer" => run_writer(&setup, id, &user).await,
        "wait" => {
            println!("WAITING");
            match setup.lock(&user, WaitPolicy::Forever).await {
                Err(GuardError::Interrupted) => println!("INTERRUPTED"),
                Ok(_) => panic!("the lock was expected to stay busy"),
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        other => panic!("unknown worker mode {other}"),
    }
}

pub fn decode_record(secret: &Secret) -> Vec<String> {
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(RECORD_KEY))
        .cloned();
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(RECORD_KEY))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    from_string
        .or(from_data)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

pub async fn leases(setup: &Setup) -> Vec<(String, Option<Lease>)> {
    let clusters = setup.connect().await;
    let mut out = Vec::new();
    for r in setup.refs() {
        let api: Api<Lease> = Api::namespaced(
            clusters.client(&r).expect("client").clone(),
            &setup.namespace,
        );
        out.push((
            r.clone(),
            api.get_opt(&setup.deployment).await.expect("get lease"),
        ));
    }
    out
}

/// Who holds the Lease, as solo reads it (a released Lease carries the marker the Solo tool
/// reads as expired: free).
pub fn holder_of(lease: &Option<Lease>) -> Option<HolderField> {
    solo_kube::lease_store::from_lease(lease.as_ref()?)
        .value
        .holder
}

/// The tickets of `setup`'s lock in every cluster: the waiters' `holderIdentity` JSON, one
/// per line, read straight from the API server by the lock label (not through the store).
pub async fn tickets(setup: &Setup) -> Vec<(String, String)> {
    let clusters = setup.connect().await;
    let refs = setup.refs();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    tickets_in(&clusters, setup, &refs).await
}

/// [`tickets`] in the clusters `refs` only, through clients made before.
pub async fn tickets_in(
    clusters: &Clusters,
    setup: &Setup,
    refs: &[&str],
) -> Vec<(String, String)> {
    let selector = format!(
        "{}={}",
        solo_kube::lease_store::LOCK_LABEL,
        solo_kube::lease_store::lock_label_value(&setup.deployment)
    );
    let mut out = Vec::new();
    for r in refs {
        let api: Api<Lease> = Api::namespaced(
            clusters.client(r).expect("client").clone(),
            &setup.namespace,
        );
        let listed = api
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list leases");
        let identities: Vec<String> = listed
            .items
            .into_iter()
            .filter(|l| l.metadata.name.as_deref() != Some(setup.deployment.as_str()))
            .filter_map(|l| l.spec?.holder_identity)
            .collect();
        out.push((r.to_string(), identities.join("\n")));
    }
    out
}

pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}

/// The lock of `deployment` over `refs` (its leases in `namespace`), fenced by the state objects
/// themselves (in the same namespace): how a writer of the state locks.
pub async fn lock_state(
    clusters: &Clusters,
    namespace: &str,
    deployment: &str,
    refs: &[String],
) -> LockGuard {
    let fence = StateFence::new(clusters.clone(), fence_targets(namespace, deployment, refs));
    let request = LockRequest {
        lock_set: LockSet::new(deployment, refs.iter().map(|r| LeaseKey::new(r, namespace)))
            .expect("a lock set"),
        identity: Identity {
            user: "alice@example.com".into(),
            host: "test-host".into(),
            pid: std::process::id(),
        },
        config: LockConfig::with_lease_duration(Duration::from_secs(5)),
        wait: WaitPolicy::Forever,
    };
    let clock = ServerClock::measure(clusters.client("cluster-1").expect("cluster-1")).await;
    lock(
        request,
        KubeLeaseStore::new(clusters.clone()),
        clock,
        fence,
        |_| {},
    )
    .await
    .expect("the lock")
}

/// The lock of `setup`'s deployment fenced by its state objects (in `setup.namespace`), as a
/// writer of the state takes it, with `setup.lease_seconds` leases.
pub async fn state_lock(
    setup: &Setup,
    clusters: &Clusters,
    user: &str,
    wait: WaitPolicy,
) -> Result<LockGuard, GuardError> {
    let fence = StateFence::new(
        clusters.clone(),
        fence_targets(&setup.namespace, &setup.deployment, setup.refs()),
    );
    let request = LockRequest {
        lock_set: setup.lock_set(),
        identity: Identity {
            user: user.to_owned(),
            host: "test-host".into(),
            pid: std::process::id(),
        },
        config: LockConfig::with_lease_duration(Duration::from_secs(setup.lease_seconds)),
        wait,
    };
    let clock = ServerClock::measure(clusters.client("cluster-1").expect("cluster-1")).await;
    lock(
        request,
        KubeLeaseStore::new(clusters.clone()),
        clock,
        fence,
        |_| {},
    )
    .await
}

/// A new state document of `setup`'s deployment over its clusters, with no component.
pub fn empty_state(setup: &Setup) -> StateDocument {
    let mut doc = StateDocument::new(&setup.deployment, "test@example.com", Timestamp::now());
    doc.clusters = setup
        .refs()
        .into_iter()
        .map(|name| ClusterRef::new(name, setup.namespace.clone()))
        .collect();
    doc
}

/// One locked read-modify-write of the state: reads the newest copy, adds a consensus node
/// named `name`, writes every copy. The serial written.
pub async fn append_node(
    store: &StateStore,
    setup: &Setup,
    epoch: Epoch,
    name: &str,
) -> Result<u64, StateStoreError> {
    let doc = with_node(store, setup, name).await?;
    Ok(store.write(epoch, &setup.deployment, &doc).await?.serial)
}

/// The newest copy of the state with a consensus node `name` added (the read of
/// [`append_node`]).
pub async fn with_node(
    store: &StateStore,
    setup: &Setup,
    name: &str,
) -> Result<StateDocument, StateStoreError> {
    let stamp = MigrationStamp {
        by: "test@example.com".into(),
        at: Timestamp::now(),
    };
    let (newest, _) = store.read(&setup.deployment, &setup.refs()).await?;
    let mut doc = newest
        .load(&stamp)
        .expect("a readable copy loads")
        .into_document();
    let cluster = setup.refs()[doc.components.consensus.len() % setup.clusters].clone();
    doc.components.consensus.push(ConsensusNode::next_after(
        &doc.components.consensus,
        name.to_owned(),
        cluster,
        setup.namespace.clone(),
    ));
    doc.metadata.last_updated_at = stamp.at;
    Ok(doc)
}

/// The names of the consensus nodes in the newest copy of the state.
pub async fn node_names(store: &StateStore, setup: &Setup) -> Vec<String> {
    let stamp = MigrationStamp {
        by: "test@example.com".into(),
        at: Timestamp::now(),
    };
    let (newest, _) = store
        .read(&setup.deployment, &setup.refs())
        .await
        .expect("a readable state");
    newest
        .load(&stamp)
        .expect("loads")
        .into_document()
        .components
        .consensus
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// The `writer` worker: takes the state lock, prints `HELD <epoch>`, then appends nodes
/// `w<id>-0`, `w<id>-1`, ... one locked read-modify-write after another, printing
/// `WRITING <name>` between the read and the write and `COMMITTED <name>` once the write is
/// acknowledged, until a write is refused: then it prints `REFUSED <error>` and ends. It never
/// checks whether its lock is still valid, so that fencing alone must stop it.
pub async fn run_writer(setup: &Setup, id: usize, user: &str) {
    let clusters = setup.connect().await;
    let store = StateStore::new(clusters.clone(), &setup.namespace);
    let guard = state_lock(setup, &clusters, user, WaitPolicy::Forever)
        .await
        .expect("the lock");
    println!("HELD {}", guard.epoch().0);
    for n in 0.. {
        let name = format!("w{id}-{n}");
        let written = match with_node(&store, setup, &name).await {
            Ok(doc) => {
                println!("WRITING {name}");
                store.write(guard.epoch(), &setup.deployment, &doc).await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(_) => println!("COMMITTED {name}"),
            Err(e) => {
                println!("REFUSED {}", e.to_string().replace('\n', " "));
                return;
            }
        }
    }
}

/// A child's stdout, line by line, read by a thread of its own (so no line is lost between
/// two waits, unlike [`wait_for_line`]).
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
}

impl Lines {
    /// Takes over `child`'s piped stdout.
    pub fn of(child: &mut Child) -> Self {
        use std::io::BufRead;
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `timeout`) for a line that contains `prefix` at the start of a word
    /// (the test harness may print "test worker ... " before it); returns the text from there.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.find(prefix).map(|at| line[at..].to_owned());
                    self.seen.push(line);
                    if let Some(text) = found {
                        return text;
                    }
                }
                Err(e) => panic!(
                    "no line {prefix:?} from the worker ({e}); saw {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Reads until the child closes its stdout (it ended).
    pub fn drain(&mut self) {
        while let Ok(line) = self.rx.recv_timeout(Duration::from_secs(120)) {
            self.seen.push(line);
        }
    }

    /// The names the worker printed as `COMMITTED <name>`.
    pub fn committed(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|l| l.split("COMMITTED ").nth(1))
            .map(|n| n.trim().to_owned())
            .collect()
    }
}

/// Sends `signal` to a child process.
pub fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
}
