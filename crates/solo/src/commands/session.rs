//! What the commands that talk to clusters share: the runtime, the user's identity, the clients
//! of a deployment's clusters, the lock, and the one mapping of cluster errors onto people-first
//! failures and exit codes (3 locked, 4 out of sync, 5 forbidden).

use crate::cli::Global;
use crate::config::{self, KnownDeployment, LocalConfig};
use crate::render::{EXIT_FORBIDDEN, EXIT_LOCKED, EXIT_OUT_OF_SYNC, Failure};
use solo_core::lock::{
    Identity, LeaseKey, LeaseRecord, LeaseStore, LockConfig, LockError, LockSet, StoreError,
    Versioned, Waiter, read_lock,
};
use solo_core::state::{Loaded, MigrationStamp, StateDocument};
use solo_kube::clusters::ClustersError;
use solo_kube::guard::GuardError;
use solo_kube::state_store::WholeRead;
use solo_kube::{
    Clusters, KubeLeaseStore, LockGuard, LockRequest, ServerClock, StateFence, StateStore,
    StateStoreError, fence_targets,
};
use std::collections::BTreeSet;
use std::future::Future;

/// Runs `work` on a fresh multi-threaded runtime.
pub fn block_on<T>(work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::bare(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(work)
}

/// A deployment as the commands need it: its name, clusters and namespaces.
#[derive(Debug, Clone)]
pub struct Target {
    /// The deployment's name.
    pub name: String,
    /// Where its state is found (the local config's cache, refreshed from the state).
    pub known: KnownDeployment,
    /// The leases of its lock, one per (cluster ref, namespace): as the state names them once
    /// it was read, never only from the local config.
    pub leases: BTreeSet<LeaseKey>,
}

impl Target {
    /// A deployment as the local config knows it, before its state was read.
    pub fn from_known(name: &str, known: KnownDeployment) -> Self {
        let leases = known
            .cluster_refs
            .iter()
            .map(|r| LeaseKey::new(r, &known.namespace))
            .collect();
        Target {
            name: name.to_owned(),
            known,
            leases,
        }
    }

    /// The lock: one lease per (cluster ref, namespace), named after the namespace as the Solo
    /// tool names its own, so that either tool's lock holds the other off. One deployment per
    /// (cluster, namespace) (`deployment create` refuses a second) keeps that name unique.
    pub fn lock_set(&self) -> Result<LockSet, Failure> {
        LockSet::new(&self.name, self.leases.iter().cloned())
            .map(LockSet::named_after_namespaces)
            .map_err(|e| Failure::bare(format!("deployment {}: {e}", self.name)))
    }

    /// The name of the Lease at `key`: its namespace's (see [`Self::lock_set`]).
    pub fn lease_name<'k>(&self, key: &'k LeaseKey) -> &'k str {
        &key.namespace
    }

    /// Takes the clusters and namespaces `doc` names as the deployment's: the state, not the
    /// local config, says what to lock.
    pub fn follow(&mut self, doc: &StateDocument) {
        if doc.clusters.is_empty() {
            return;
        }
        self.leases = lease_keys(doc);
        self.known.cluster_refs = doc.clusters.iter().map(|c| c.name.clone()).collect();
        if let Some(first) = doc.clusters.first() {
            self.known.namespace = first.namespace.clone();
        }
    }
}

/// The leases a state document names: one per (cluster ref, namespace) of its `clusters`.
pub fn lease_keys(doc: &StateDocument) -> BTreeSet<LeaseKey> {
    doc.clusters
        .iter()
        .map(|c| LeaseKey::new(&c.name, &c.namespace))
        .collect()
}

/// The deployment named `name`: from the local config, else found in the connected clusters'
/// state namespace (`state_namespace`, default solo-system) and then remembered.
pub async fn resolve(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
    config: &mut LocalConfig,
) -> Result<Target, Failure> {
    if let Some(known) = config.deployments.get(name) {
        let mut known = known.clone();
        if let Some(ns) = state_namespace {
            known.state_namespace = ns.to_owned();
        }
        return Ok(Target::from_known(name, known));
    }
    let state_ns = state_namespace.unwrap_or(solo_kube::DEFAULT_STATE_NAMESPACE);
    let mapping: Vec<(String, String)> = config
        .cluster_refs
        .iter()
        .map(|(r, c)| (r.clone(), c.clone()))
        .collect();
    let not_known = || {
        Failure::new(
            format!(
                "deployment {name} is not known here and was not found in the state namespace {state_ns} of your connected clusters"
            ),
            "check the name with `solo deployment list`, pass --state-namespace if its state is kept elsewhere, or connect its clusters with `solo cluster-ref connect <ref> --context <kube-context>`",
        )
    };
    if mapping.is_empty() {
        return Err(not_known());
    }
    let clusters = connect(global, &mapping).await?;
    let store = StateStore::new(clusters.clone(), state_ns);
    let refs: Vec<String> = mapping.into_iter().map(|(r, _)| r).collect();
    let stamp = MigrationStamp {
        by: "solo".to_owned(),
        at: jiff::Timestamp::now(),
    };
    let mut refused = None;
    for (cluster, copy) in store.read_all(name, &refs).await {
        let copy = match copy {
            Ok(copy) => copy,
            Err(solo_kube::CopyError::Store(StoreError::Forbidden { message })) => {
                refused.get_or_insert_with(|| forbidden(&cluster, state_ns, "secrets", &message));
                continue;
            }
            Err(_) => continue,
        };
        let Ok(loaded) = copy.load(&stamp) else {
            continue;
        };
        let doc = loaded.document();
        let Some(first) = doc.clusters.first() else {
            continue;
        };
        let known = KnownDeployment {
            cluster_refs: doc.clusters.iter().map(|c| c.name.clone()).collect(),
            namespace: first.namespace.clone(),
            state_namespace: state_ns.to_owned(),
            team: None,
        };
        config.deployments.insert(name.to_owned(), known.clone());
        // Remembering it is a convenience; a read-only config must not fail the command.
        let _ = config.save();
        let mut target = Target::from_known(name, known);
        target.follow(doc);
        return Ok(target);
    }
    // A team's deployment kept in the team's state namespace: the public index says where.
    if state_namespace.is_none()
        && let Some(entry) = solo_kube::index::find(&clusters, &refs, name).await
        && !entry.clusters.is_empty()
    {
        let known = KnownDeployment {
            namespace: entry.namespace.clone(),
            cluster_refs: entry.clusters.clone(),
            state_namespace: entry.state_namespace.clone(),
            team: Some(entry.team.clone()),
        };
        return Ok(Target::from_known(name, known));
    }
    Err(refused.unwrap_or_else(not_known))
}

/// Where, inside `$SOLO_HOME`, solo remembers what clusters said for the next command: beside
/// its config, not in the Solo tool's own `cache` directory, which that tool manages.
pub const MEMORY_DIR: &str = "solo-state-cache";

/// Clients for the `(cluster ref, kube context)` pairs.
///
/// What they say is remembered in `$SOLO_HOME/solo-state-cache` for the next command: the lock's
/// Leases as released through them (for its first look, [`remembers_lock_free`]), each server's
/// clock offset and who it authenticated us as.
pub async fn connect(global: &Global, mapping: &[(String, String)]) -> Result<Clusters, Failure> {
    let clusters = Clusters::connect(global.kubeconfig.clone(), mapping)
        .await
        .map_err(|e| clusters_failure(&e))?;
    if let Ok(home) = config::solo_home() {
        clusters.remember_in(home.join(MEMORY_DIR));
    }
    Ok(clusters)
}

/// A deployment's state for a command that only reads it, without the lock: the newest copy,
/// migrated in memory when older and validated.
pub async fn read_state(target: &Target, clusters: Clusters) -> Result<StateDocument, Failure> {
    let state_ns = &target.known.state_namespace;
    let store = StateStore::new(clusters, state_ns);
    let (copy, _) = store
        .read(&target.name, &target.known.cluster_refs)
        .await
        .map_err(|e| state_failure(&e, state_ns))?;
    let stamp = MigrationStamp {
        by: "solo".to_owned(),
        at: super::write::now(),
    };
    copy.load(&stamp)
        .map(Loaded::into_document)
        .map_err(|e| Failure::state(&format!("the state of {}", target.name), &e))
}

/// A deployment opened for a command: the local config, the deployment resolved, and a client
/// for each of its clusters; the first steps of every command that works on a deployment.
pub struct Opened {
    /// The local config (it may have learned the deployment).
    pub config: LocalConfig,
    /// The deployment.
    pub target: Target,
    /// Its clusters' clients.
    pub clusters: Clusters,
}

/// Loads the local config, resolves `name`, connects to its clusters and reads which clusters
/// and namespaces its state names (the local config is only a cache for finding the state).
pub async fn open(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<Opened, Failure> {
    Ok(open_with(name, state_namespace, global, false, |_, _| {})
        .await?
        .0)
}

/// Like [`open`], for a command that only reads the state: the read of every copy that found
/// the deployment's clusters is handed on, not made twice (read again only when the state named
/// other clusters than the local config did).
pub async fn open_and_read(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<(Opened, WholeRead), Failure> {
    let (opened, read) = open_with(name, state_namespace, global, false, |_, _| {}).await?;
    let read = match read {
        Some(read) => read,
        None => {
            StateStore::new(
                opened.clusters.clone(),
                &opened.target.known.state_namespace,
            )
            .read_whole(&opened.target.name, &opened.target.known.cluster_refs)
            .await
        }
    };
    Ok((opened, read))
}

/// Like [`open`], for a command that takes the lock next: what the lock asks the clusters
/// whatever the state says (the user each cluster authenticates, the first cluster's clock) is
/// asked at the same time as the state is read, not after it, one round trip instead of three.
pub async fn open_to_lock(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<Opened, Failure> {
    Ok(open_to_lock_read(name, state_namespace, global).await?.0)
}

/// [`open_to_lock`], and the state as read before the lock (`None` when it was read from
/// other clusters than the lock's): a guess of what the reads under the lock will find.
pub async fn open_to_lock_read(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<(Opened, Option<WholeRead>), Failure> {
    open_with(name, state_namespace, global, true, |_, _| {}).await
}

/// Whether this machine remembers every Lease of `target`'s lock free after a clean release
/// of its own (`KubeLeaseStore`'s memory). The lock's first look is then that memory, and its
/// round claims over those versions at once, naming them as the claims go out: the reads
/// under the lock start there, beside the claims ([`write::lock_and_read_with`]).
///
/// [`write::lock_and_read_with`]: super::write::lock_and_read_with
pub fn remembers_lock_free(target: &Target, clusters: &Clusters) -> bool {
    let Ok(lock_set) = target.lock_set() else {
        return false;
    };
    let store = KubeLeaseStore::new(clusters.clone());
    solo_core::lock::remembered_free(&store, &lock_set).is_some()
}

/// The leases of a deployment as read, each with its record (`None`: no such Lease) and the
/// tickets of its waiters, oldest stamp first, dead or alive.
pub type LeaseRead = Vec<(LeaseKey, Option<Versioned<LeaseRecord>>, Vec<Waiter>)>;

/// Reads every Lease of `lock_set` and lists its tickets, all in parallel. The Lease is read by
/// name, not taken from the LIST: one written by an older version carries no lock label yet.
async fn read_lock_and_tickets(
    store: &KubeLeaseStore,
    lock_set: &LockSet,
) -> Result<LeaseRead, LockError> {
    let lists = futures::future::join_all(
        lock_set
            .keys()
            .iter()
            .map(|key| store.list(key, lock_set.lease_name(key))),
    );
    let (leases, lists) = tokio::join!(read_lock(store, lock_set), lists);
    leases?
        .into_iter()
        .zip(lists)
        .map(|((key, lease), listed)| match listed {
            Ok(listing) => {
                let tickets = listing.tickets.into_iter().map(|t| t.value).collect();
                Ok((key, lease, tickets))
            }
            Err(source) => Err(LockError::Store { key, source }),
        })
        .collect()
}

/// Like [`open`], for a command that reads the lock: the leases of the set the local config
/// knows are read at the same time as the state, and read again only when the state names
/// another set (the state, not the config, says what the lock is).
pub async fn open_and_read_lock(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<(Opened, LeaseRead), Failure> {
    let read_leases = |target: &Target, clusters: &Clusters| {
        let lock_set = target.lock_set();
        let store = KubeLeaseStore::new(clusters.clone());
        async move {
            let lock_set = lock_set?;
            let read = read_lock_and_tickets(&store, &lock_set).await;
            Ok::<_, Failure>((lock_set, read))
        }
    };
    let mut early = None;
    let (opened, _) = open_with(name, state_namespace, global, false, |target, clusters| {
        early = Some(tokio::spawn(read_leases(target, clusters)));
    })
    .await?;
    let early = match early {
        Some(task) => task.await.ok(),
        None => None,
    };
    let read = match early {
        Some(Ok((seen, read))) if Ok(&seen) == opened.target.lock_set().as_ref() => read,
        _ => read_leases(&opened.target, &opened.clusters).await?.1,
    };
    let leases = read.map_err(|e| lock_failure(&e, &opened.target.known.state_namespace))?;
    Ok((opened, leases))
}

async fn open_with(
    name: &str,
    state_namespace: Option<&str>,
    global: &Global,
    to_lock: bool,
    beside_read: impl FnOnce(&Target, &Clusters),
) -> Result<(Opened, Option<WholeRead>), Failure> {
    let mut config = LocalConfig::load()?;
    let mut target = resolve(name, state_namespace, global, &mut config).await?;
    let mut clusters = connect_target(global, &mut config, &target).await?;
    beside_read(&target, &clusters);
    // A kept lock (`solo lease acquire`) is renewed, not claimed: nothing to ask early.
    if to_lock && !config.leases.contains_key(name) {
        ask_early(&target, &clusters);
        // Every Lease remembered free after our own release: the lock is claimed at once, and
        // the reads under it go beside the claim; a read now would only delay them. The state
        // still says what the lock is: the locked command checks it under the lock.
        if remembers_lock_free(&target, &clusters) {
            let opened = Opened {
                config,
                target,
                clusters,
            };
            return Ok((opened, None));
        }
    }
    let read = StateStore::new(clusters.clone(), &target.known.state_namespace)
        .read_whole(&target.name, &target.known.cluster_refs)
        .await;
    let mut read = Some(read);
    if let Some(doc) = read.as_ref().and_then(newest_document) {
        let before = target.known.cluster_refs.clone();
        target.follow(&doc);
        if target.known.cluster_refs != before {
            clusters = connect_target(global, &mut config, &target).await?;
            read = None;
        }
        if config.deployments.get(name) != Some(&target.known)
            && config.deployments.contains_key(name)
        {
            config
                .deployments
                .insert(name.to_owned(), target.known.clone());
            // The cache is a convenience; a read-only config must not fail the command.
            let _ = config.save();
        }
    }
    let opened = Opened {
        config,
        target,
        clusters,
    };
    Ok((opened, read))
}

/// Starts, in the background, the questions the lock asks of `target`'s clusters whatever its
/// state says; their answers are kept in `clusters` for the lock to find.
///
/// It also opens the connections that a locked write's widest step needs (its state write beside
/// the history's reads: four requests to each cluster at once), while the first read waits for
/// its own: a connection opened later would cost a TLS handshake, one round trip, in that step.
fn ask_early(target: &Target, clusters: &Clusters) {
    let refs = target.known.cluster_refs.clone();
    let users = solo_kube::Authenticated::new(clusters.clone());
    tokio::spawn(async move { users.prefetch(&refs).await });
    if let Some(first) = target.known.cluster_refs.first().cloned() {
        let clusters = clusters.clone();
        tokio::spawn(async move { ServerClock::of(&clusters, &first).await });
    }
    for cluster in &target.known.cluster_refs {
        let (clusters, cluster) = (clusters.clone(), cluster.clone());
        tokio::spawn(async move { clusters.open_connections(&cluster, EARLY_CONNECTIONS).await });
    }
    // The lock's first look, beside the state's read: used if the state names the same leases.
    if let Ok(lock_set) = target.lock_set() {
        let store = KubeLeaseStore::new(clusters.clone());
        for key in lock_set.keys() {
            store.list_early(key, lock_set.lease_name(key));
        }
    }
}

/// Connections opened early to each cluster, beside the state's read and the SelfSubjectReview.
const EARLY_CONNECTIONS: usize = 2;

/// The document of the newest readable copy of `read`, if any: what names the lock set.
pub fn newest_document(read: &WholeRead) -> Option<StateDocument> {
    let stamp = MigrationStamp {
        by: "solo".to_owned(),
        at: jiff::Timestamp::UNIX_EPOCH,
    };
    read.newest_readable()
        .and_then(|c| c.load(&stamp).ok())
        .map(Loaded::into_document)
}

/// Clients for every cluster of `target`; an unmapped ref is asked for on a terminal (R11).
pub async fn connect_target(
    global: &Global,
    config: &mut LocalConfig,
    target: &Target,
) -> Result<Clusters, Failure> {
    let mapping =
        config.contexts_or_ask(&target.known.cluster_refs, global.kubeconfig.as_deref())?;
    connect(global, &mapping).await
}

/// A failure for a cluster ref that has no client (not connected, or a bad kube context).
pub fn clusters_failure(e: &ClustersError) -> Failure {
    match e {
        ClustersError::Unmapped { cluster } => config::unmapped(cluster),
        ClustersError::Context {
            cluster, context, ..
        } => Failure::new(
            e.to_string(),
            format!(
                "check `kubectl config get-contexts`, then `solo cluster-ref connect {cluster} --context <kube-context>` (now {context})"
            ),
        ),
        ClustersError::NoKubeconfig | ClustersError::Kubeconfig { .. } => Failure::new(
            e.to_string(),
            "set KUBECONFIG (a list of files is merged as kubectl merges it) or pass --kubeconfig",
        ),
    }
}

/// The identity recorded on leases and writes.
pub fn lock_identity(global: &Global, config: &mut LocalConfig) -> Result<Identity, Failure> {
    Ok(Identity {
        user: config::identity(global.email.as_deref(), config)?,
        host: hostname(),
        pid: std::process::id(),
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Fails clearly when a namespace is missing in a cluster; says nothing when the user may not
/// read namespaces (then the first write reports what is wrong).
pub async fn require_namespace(
    clusters: &Clusters,
    config: &LocalConfig,
    cluster_ref: &str,
    namespace: &str,
    what: &str,
) -> Result<(), Failure> {
    let client = clusters
        .client(cluster_ref)
        .map_err(|e| clusters_failure(&e))?;
    match solo_kube::namespace_exists(client, namespace).await {
        // Not readable: the requests made in it will tell.
        Ok(Some(true) | None) => Ok(()),
        Ok(Some(false)) => {
            let context = config
                .cluster_refs
                .get(cluster_ref)
                .cloned()
                .unwrap_or_default();
            Err(Failure::new(
                format!(
                    "the {what} {namespace} does not exist in cluster {cluster_ref} (kube context {context})"
                ),
                format!(
                    "create it first: `kubectl --context {context} create namespace {namespace}`"
                ),
            ))
        }
        Err(e) => Err(store_failure(cluster_ref, namespace, "namespaces", &e)),
    }
}

/// The lock's settings: the defaults, or leases of `SOLO_LOCK_LEASE_SECONDS` seconds (for
/// benchmarks and tests of short leases, e.g. `scripts/contention.sh`'s lease storm).
pub fn lock_config() -> Result<LockConfig, Failure> {
    let Some(value) = std::env::var_os("SOLO_LOCK_LEASE_SECONDS").filter(|v| !v.is_empty()) else {
        return Ok(LockConfig::default());
    };
    let config = value
        .to_str()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|s| LockConfig::with_lease_duration(std::time::Duration::from_secs(s)))
        .filter(|c| c.validate().is_ok());
    config.ok_or_else(|| {
        Failure::new(
            format!("SOLO_LOCK_LEASE_SECONDS={value:?} is not a lease duration"),
            "give a whole number of seconds, at least 1, or unset it for the default (30)",
        )
    })
}

/// How a `--wait` value reads: nothing, `forever`, or a duration such as `30s` or `5m`.
pub fn wait_policy(wait: Option<&str>) -> Result<solo_core::lock::WaitPolicy, Failure> {
    use solo_core::lock::WaitPolicy;
    match wait {
        None => Ok(WaitPolicy::NoWait),
        Some("forever") | Some("") => Ok(WaitPolicy::Forever),
        Some(text) => {
            let parsed: Result<jiff::SignedDuration, _> = text.parse();
            match parsed
                .ok()
                .and_then(|d| std::time::Duration::try_from(d).ok())
            {
                Some(d) => Ok(WaitPolicy::Until(d)),
                None => Err(Failure::new(
                    format!("--wait={text} is not a duration"),
                    "write --wait (for ever) or --wait=<duration>, such as --wait=30s or --wait=5m",
                )
                .code(2)),
            }
        }
    }
}

/// The clock corrected against the first cluster of `target` (measured once per `clusters`).
pub async fn server_clock(target: &Target, clusters: &Clusters) -> ServerClock {
    let first = target
        .known
        .cluster_refs
        .first()
        .cloned()
        .unwrap_or_default();
    ServerClock::of(clusters, &first).await
}

/// The fence over the state copies of `target` in `refs`.
pub fn state_fence(target: &Target, clusters: &Clusters, refs: &[String]) -> StateFence {
    StateFence::new(
        clusters.clone(),
        fence_targets(
            &target.known.state_namespace,
            &target.name,
            refs.iter().cloned(),
        ),
    )
}

/// Takes the lock of `target` (its leases, fenced by its state objects).
pub async fn take_lock(
    target: &Target,
    clusters: &Clusters,
    identity: Identity,
    wait: solo_core::lock::WaitPolicy,
    on_progress: impl FnMut(&solo_core::lock::Progress),
    on_clean_claim: Option<solo_core::lock::CleanClaims>,
) -> Result<LockGuard, Failure> {
    let lock_set = target.lock_set()?;
    let clock = server_clock(target, clusters).await;
    let fence = state_fence(target, clusters, &target.known.cluster_refs);
    let request = LockRequest {
        lock_set,
        identity,
        config: lock_config()?,
        wait,
    };
    solo_kube::guard::lock_announcing(
        request,
        KubeLeaseStore::new(clusters.clone()),
        clock,
        fence,
        on_progress,
        on_clean_claim,
    )
    .await
    .map_err(|e| guard_failure(&e, &target.known.state_namespace))
}

/// Releases the lock, saying so if it could not (the leases then expire on their own).
pub async fn release(guard: LockGuard) -> Result<(), Failure> {
    guard.release().await.map_err(|e| {
        Failure::new(
            format!("could not release the lock: {e}"),
            "its leases expire on their own within their duration; `solo lease status <deployment>` shows them",
        )
    })
}

fn guard_failure(e: &GuardError, state_namespace: &str) -> Failure {
    match e {
        GuardError::Interrupted => Failure::bare(e.to_string()).code(130),
        GuardError::Lock(lock) => lock_failure(lock, state_namespace),
    }
}

/// A lock error as a failure: busy → 3, forbidden → 5.
pub fn lock_failure(e: &LockError, state_namespace: &str) -> Failure {
    match e {
        LockError::Busy { .. } | LockError::Timeout { .. } => {
            Failure::bare(e.to_string()).code(EXIT_LOCKED)
        }
        LockError::Store { key, source } => {
            store_failure(&key.cluster, &key.namespace, "leases", source)
        }
        LockError::Fence(solo_core::lock::FenceError::Stamp {
            cluster,
            source: StoreError::Forbidden { message },
        }) => forbidden(cluster, state_namespace, "secrets", message),
        LockError::Fence(_) => Failure::new(
            e.to_string(),
            format!(
                "check that the state namespace {state_namespace} exists in every cluster and that you may write secrets there"
            ),
        ),
        _ => Failure::new(
            e.to_string(),
            "retry; `solo lease status <deployment>` shows the leases",
        ),
    }
}

/// A cluster's refusal or failure about `resource` in `namespace`.
pub fn store_failure(cluster: &str, namespace: &str, resource: &str, e: &StoreError) -> Failure {
    match e {
        StoreError::Forbidden { message } => forbidden(cluster, namespace, resource, message),
        StoreError::NotFound => Failure::new(
            format!(
                "cluster {cluster}: the namespace {namespace} does not exist (or the {resource} there)"
            ),
            format!("create the namespace {namespace} in cluster {cluster} first"),
        ),
        StoreError::NamespaceMissing { namespace } => Failure::new(
            format!("cluster {cluster}: the namespace {namespace} does not exist"),
            format!(
                "create the namespace {namespace} in cluster {cluster} (`kubectl create namespace {namespace}`), or fix the deployment's clusters with `solo state edit`"
            ),
        ),
        StoreError::Unavailable { message } => Failure::new(
            format!("cluster {cluster} cannot be reached: {message}"),
            "check the cluster is up and your kube context is right (`solo cluster-ref list`)",
        ),
        other => Failure::new(
            format!("cluster {cluster}, namespace {namespace}: {other}"),
            "retry; if it persists, check the cluster with kubectl",
        ),
    }
}

/// Exit 5: names the namespace and the access to ask for.
pub fn forbidden(cluster: &str, namespace: &str, resource: &str, message: &str) -> Failure {
    let verbs = if resource == "leases" {
        "get, list, watch, create, update and delete leases (coordination.k8s.io)"
    } else {
        "get, list, create, update and delete secrets"
    };
    Failure::new(
        format!("cluster {cluster} refused access to {resource} in namespace {namespace}"),
        format!(
            "ask the cluster's administrator for a Role in namespace {namespace} that lets you {verbs}"
        ),
    )
    .details([message.to_owned()])
    .code(EXIT_FORBIDDEN)
}

/// A state store error as a failure: diverged/unreadable → 4, forbidden → 5.
pub fn state_failure(e: &StateStoreError, state_namespace: &str) -> Failure {
    match e {
        StateStoreError::Diverged { .. } | StateStoreError::Unreadable { .. } => {
            Failure::bare(e.to_string()).code(EXIT_OUT_OF_SYNC)
        }
        StateStoreError::Store { cluster, source } => {
            store_failure(cluster, state_namespace, "secrets", source)
        }
        _ => Failure::bare(e.to_string()),
    }
}
