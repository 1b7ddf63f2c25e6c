//! `solo deployment create|list|show` (`delete` is in `delete.rs`): a deployment's state made in every one of its clusters
//! under its lock, found again by label, and remembered in the local config.

use super::session::{self, Target};
use crate::cli::{CreateArgs, DeploymentArgs, DeploymentCommand, Global, ListArgs, Output};
use crate::config::{KnownDeployment, LocalConfig};
use crate::render::{Failure, Out};
use serde_json::json;
use solo_core::lock::{StoreError, WaitPolicy, read_lock};
use solo_core::state::{ClusterRef, StateDocument, SyncStatus, names};
use solo_kube::{KubeLeaseStore, StateStore, StateStoreError};
use std::collections::{BTreeMap, BTreeSet};

/// The team recorded when `--team` is not given (the label must have a value).
pub const NO_TEAM: &str = "none";

/// Run a `solo deployment` command.
pub fn run(cmd: &DeploymentCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        DeploymentCommand::Create(args) => session::block_on(create(args, global, out)),
        DeploymentCommand::List(args) => session::block_on(list(args, global, out)),
        DeploymentCommand::Show(args) => session::block_on(show(args, global, out)),
        DeploymentCommand::Delete(args) => {
            session::block_on(super::delete::delete(args, global, out))
        }
    }
}

fn check_label(what: &str, name: &str) -> Result<(), Failure> {
    match names::label_problem(name) {
        None => Ok(()),
        Some(problem) => Err(Failure::new(
            format!("{what}: {problem}"),
            format!("a {what} is a DNS-1123 label, such as my-network"),
        )
        .code(2)),
    }
}

async fn create(args: &CreateArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    check_label("deployment name", &args.name)?;
    check_label("namespace", &args.namespace)?;
    let state_namespace = args.state_namespace();
    check_label("state namespace", &state_namespace)?;
    for r in &args.cluster_refs {
        check_label("cluster ref", r)?;
    }
    let team = args.team.clone().unwrap_or_else(|| NO_TEAM.to_owned());
    check_label("team", &team)?;
    let mut refs = args.cluster_refs.clone();
    refs.sort();
    refs.dedup();

    let mut config = LocalConfig::load()?;
    let identity = session::lock_identity(global, &mut config)?;
    let mapping = config.contexts_or_ask(&refs, global.kubeconfig.as_deref())?;
    let clusters = session::connect(global, &mapping).await?;
    for r in &refs {
        session::require_namespace(&clusters, &config, r, &args.namespace, "namespace").await?;
    }
    for r in &refs {
        state_namespace_ready(&clusters, &config, r, &state_namespace, out).await?;
    }

    let mut doc = StateDocument::new(&args.name, &identity.user, session_now());
    doc.clusters = refs
        .iter()
        .map(|r| ClusterRef::new(r.clone(), args.namespace.clone()))
        .collect();
    let target = Target::from_known(
        &args.name,
        KnownDeployment {
            cluster_refs: refs.clone(),
            namespace: args.namespace.clone(),
            state_namespace: state_namespace.clone(),
            team: args.team.clone(),
        },
    );

    let meta = create_locked(
        &doc,
        &target,
        &clusters,
        identity,
        &team,
        &[],
        Existing::RefuseSolo,
        out,
    )
    .await?;

    config.deployments.insert(args.name.clone(), target.known);
    config.save()?;
    out.say(&format!(
        "ok: created deployment {} in {} (namespace {}, state in {}/{}), serial {}",
        args.name,
        refs.join(", "),
        args.namespace,
        state_namespace,
        solo_kube::state_object_name(&args.name),
        meta.serial
    ));
    Ok(())
}

/// The state namespace exists in cluster `r`, created here when missing and the user may.
async fn state_namespace_ready(
    clusters: &solo_kube::Clusters,
    config: &LocalConfig,
    r: &str,
    namespace: &str,
    out: &Out,
) -> Result<(), Failure> {
    let client = clusters
        .client(r)
        .map_err(|e| session::clusters_failure(&e))?;
    let context = config.cluster_refs.get(r).cloned().unwrap_or_default();
    match solo_kube::ensure_namespace(client, namespace).await {
        Ok(solo_kube::Ensured::Created) => {
            out.say(&format!(
                "created the state namespace {namespace} in cluster {r}"
            ));
            Ok(())
        }
        Ok(solo_kube::Ensured::Existed | solo_kube::Ensured::Unknown) => Ok(()),
        Err(StoreError::Forbidden { .. }) => Err(Failure::new(
            format!(
                "the state namespace {namespace} does not exist in cluster {r} (kube context {context}), and you may not create namespaces there"
            ),
            format!(
                "ask a cluster admin to run `kubectl --context {context} create namespace {namespace}` (or `solo team setup`), then run this again"
            ),
        )
        .code(crate::render::EXIT_FORBIDDEN)),
        Err(e) => Err(Failure::new(
            format!("cluster {r} cannot be reached: {e}"),
            "check the cluster is up and your kube context is right (`solo cluster-ref list`)",
        )),
    }
}

/// What `create_locked` accepts already in the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing: a network the Solo tool deployed there is refused (deployment create).
    RefuseSolo,
    /// The Solo tool's own network of this deployment (state import-solo).
    SoloExpected,
}

/// Creates a new deployment's state in every cluster under its lock, then adds `history` to
/// its archives under the same lock: the one creation path of `deployment create` and `state
/// import-solo`. Under the lock (its Leases are named after the namespace, so two creations in
/// one namespace take turns) a namespace that another deployment uses is refused: one
/// deployment per (cluster, namespace), as the Solo tool has it.
#[allow(clippy::too_many_arguments)]
pub async fn create_locked(
    doc: &StateDocument,
    target: &Target,
    clusters: &solo_kube::Clusters,
    identity: solo_core::lock::Identity,
    team: &str,
    history: &[solo_kube::HistoryEntry],
    existing: Existing,
    out: &Out,
) -> Result<solo_core::state::StoredMeta, Failure> {
    let name = &target.name;
    let state_ns = &target.known.state_namespace;
    let guard =
        session::take_lock(target, clusters, identity, WaitPolicy::NoWait, |_| {}, None).await?;
    out.detail(&format!(
        "holding the lock of {name} at epoch {}",
        guard.epoch()
    ));
    let mut state_namespaces = vec![
        state_ns.clone(),
        solo_kube::DEFAULT_STATE_NAMESPACE.to_owned(),
    ];
    state_namespaces
        .extend(solo_kube::index::team_namespaces(clusters, &target.known.cluster_refs).await);
    state_namespaces.sort();
    state_namespaces.dedup();
    let user = solo_kube::solo_remote::namespace_user(
        clusters,
        &target.known.cluster_refs,
        &target.known.namespace,
        &state_namespaces,
        name,
        existing == Existing::RefuseSolo,
    )
    .await;
    if let Some(user) = user {
        session::release(guard).await?;
        let ns = &target.known.namespace;
        return Err(match user {
            solo_kube::solo_remote::NamespaceUser::Ours {
                cluster,
                deployment,
            } => Failure::new(
                format!(
                    "namespace {ns} in cluster {cluster} is already used by deployment {deployment}: one deployment per (cluster, namespace), since its lock and its nodes' Services are named after the namespace"
                ),
                format!("choose another --namespace for {name}, or work on {deployment}"),
            ),
            solo_kube::solo_remote::NamespaceUser::SoloTool { cluster } => Failure::new(
                format!(
                    "namespace {ns} in cluster {cluster} holds a network that the Solo tool deployed (its ConfigMap solo-remote-config)"
                ),
                format!(
                    "take that network over with `solo state import-solo <deployment> --namespace {ns}`, or choose another --namespace"
                ),
            ),
        });
    }
    let store = StateStore::new(clusters.clone(), state_ns);
    let created = store.create(doc, team).await;
    let mut appended = Ok(());
    if created.is_ok() && !history.is_empty() {
        let archives = solo_kube::HistoryStore::new(clusters.clone(), state_ns);
        for entry in history {
            if let Err(e) = archives
                .append(guard.epoch(), name, &target.known.cluster_refs, entry)
                .await
            {
                appended = Err(Failure::new(
                    format!(
                        "the state of {name} was created, but its history could not be written: {e}"
                    ),
                    format!("`solo history {name}` shows what was written"),
                ));
                break;
            }
        }
    }
    session::release(guard).await?;
    let meta = created.map_err(|e| match &e {
        StateStoreError::AlreadyExists { .. } => Failure::bare(e.to_string()),
        _ => session::state_failure(&e, state_ns),
    })?;
    appended?;
    Ok(meta)
}

fn session_now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// One deployment found by `deployment list`.
#[derive(Debug, Default)]
struct Found {
    team: BTreeSet<String>,
    state_namespace: BTreeSet<String>,
    clusters: BTreeSet<String>,
}

async fn list(args: &ListArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let config = LocalConfig::load()?;
    if config.cluster_refs.is_empty() {
        return Err(Failure::new(
            "no cluster refs are connected, so there is nowhere to look",
            "run `solo cluster-ref connect <ref> --context <kube-context>`",
        ));
    }
    let mut namespaces: BTreeSet<String> = match &args.state_namespace {
        Some(ns) => BTreeSet::from([ns.clone()]),
        None => std::iter::once(solo_kube::DEFAULT_STATE_NAMESPACE.to_owned())
            .chain(
                config
                    .deployments
                    .values()
                    .map(|d| d.state_namespace.clone()),
            )
            .collect(),
    };
    let mapping: Vec<(String, String)> = config
        .cluster_refs
        .iter()
        .map(|(r, c)| (r.clone(), c.clone()))
        .collect();
    let clusters = session::connect(global, &mapping).await?;
    let refs: Vec<String> = mapping.iter().map(|(r, _)| r.clone()).collect();
    if args.state_namespace.is_none() {
        // Every team's state namespace, from the team directory (docs/teams.md).
        namespaces.extend(solo_kube::index::team_namespaces(&clusters, &refs).await);
    }
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let lookups = mapping.iter().flat_map(|(r, _)| {
        namespaces.iter().map(|ns| {
            let r = r.clone();
            let ns = ns.clone();
            let clusters = clusters.clone();
            async move {
                let client = clusters.client(&r).ok()?.clone();
                let listed = solo_kube::state_store::list_deployments(&client, &ns).await;
                // The public index: other teams' deployments, whose states we may not list.
                let index_client = clusters.client(&r).ok()?.clone();
                let index = solo_kube::index::list(&index_client, &ns)
                    .await
                    .unwrap_or_default();
                Some((r, ns, listed, index))
            }
        })
    });
    for (r, ns, listed, index) in futures::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
    {
        let indexed = !index.is_empty();
        for entry in index {
            let e = found.entry(entry.deployment).or_default();
            e.clusters.insert(r.clone());
            e.state_namespace.insert(entry.state_namespace);
            e.team.insert(entry.team);
        }
        match listed {
            Ok(list) => {
                for listed in list {
                    let entry = found.entry(listed.deployment).or_default();
                    entry.clusters.insert(r.clone());
                    entry.state_namespace.insert(ns.clone());
                    entry.team.extend(listed.team);
                }
            }
            // A state namespace that does not exist in this cluster holds no deployment.
            Err(StoreError::Forbidden { .. }) if indexed => {}
            Err(StoreError::Forbidden { .. }) => out.say(&format!(
                "warning: cluster {r}: you may not list secrets in namespace {ns}; its deployments are not shown"
            )),
            Err(other) => out.say(&format!("warning: cluster {r}, namespace {ns}: {other}")),
        }
    }
    let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
    match out.format {
        Output::Table => {
            if found.is_empty() {
                out.say(&format!(
                    "no deployments found in {} of {}",
                    join(&namespaces),
                    mapping
                        .iter()
                        .map(|(r, _)| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return Ok(());
            }
            let text = crate::render::table(
                &["NAME", "TEAM", "STATE NAMESPACE", "CLUSTERS"],
                found.iter().map(|(name, f)| {
                    vec![
                        name.clone(),
                        join(&f.team),
                        join(&f.state_namespace),
                        join(&f.clusters),
                    ]
                }),
            );
            out.result(&text);
        }
        format => {
            let rows: Vec<_> = found
                .iter()
                .map(|(name, f)| {
                    json!({
                        "name": name,
                        "team": f.team.iter().next(),
                        "stateNamespace": f.state_namespace.iter().next(),
                        "clusters": f.clusters,
                    })
                })
                .collect();
            out.result(&super::structured(format, &json!(rows)));
        }
    }
    Ok(())
}

async fn show(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        config,
        target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let known = &target.known;
    let refs = &known.cluster_refs;
    let store = StateStore::new(clusters.clone(), &known.state_namespace);
    let (copies, status) = store.status(&target.name, refs).await;
    let leases = read_lock(&KubeLeaseStore::new(clusters), &target.lock_set()?).await;
    let holder = |r: &str| -> String {
        match &leases {
            Err(_) => "unknown (the leases cannot be read)".to_owned(),
            Ok(leases) => leases
                .iter()
                .find(|(key, _)| key.cluster == r)
                .and_then(|(_, l)| l.as_ref()?.value.holder.as_ref())
                .map_or_else(|| "-".to_owned(), crate::render::holder_text),
        }
    };
    let rows: Vec<_> = refs
        .iter()
        .map(|r| {
            let copy = copies.iter().find(|(c, _)| c == r).map(|(_, copy)| copy);
            let ok = copy.and_then(|c| c.as_ref().ok());
            json!({
                "clusterRef": r,
                "context": config.cluster_refs.get(r),
                "serial": ok.map(|c| c.meta.serial),
                "epoch": ok.map(|c| c.fencing_epoch.0),
                "sync": sync_of(r, &status, copy),
                "lockHolder": holder(r),
            })
        })
        .collect();
    let value = json!({
        "name": target.name,
        "namespace": known.namespace,
        "stateNamespace": known.state_namespace,
        "team": known.team,
        "clusters": rows,
    });
    match out.format {
        Output::Table => {
            let mut text = format!(
                "deployment {}\n  namespace:       {}\n  state namespace: {}\n  team:            {}\n\n",
                target.name,
                known.namespace,
                known.state_namespace,
                known.team.as_deref().unwrap_or("-")
            );
            let cell = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            text.push_str(&crate::render::table(
                &[
                    "CLUSTER",
                    "CONTEXT",
                    "SERIAL",
                    "EPOCH",
                    "SYNC",
                    "LOCK HOLDER",
                ],
                rows.iter().map(|row| {
                    [
                        "clusterRef",
                        "context",
                        "serial",
                        "epoch",
                        "sync",
                        "lockHolder",
                    ]
                    .iter()
                    .map(|k| cell(&row[*k]))
                    .collect::<Vec<_>>()
                }),
            ));
            out.result(&text);
        }
        format => out.result(&super::structured(format, &value)),
    }
    Ok(())
}

/// How the copy in cluster `r` compares with the others, in a few words.
fn sync_of(
    r: &str,
    status: &SyncStatus,
    copy: Option<&Result<solo_kube::StateCopy, solo_kube::CopyError>>,
) -> String {
    if let Some(Err(e)) = copy {
        return format!("unreadable: {e}");
    }
    match status {
        SyncStatus::InSync { .. } => "in sync".to_owned(),
        SyncStatus::Behind { behind, serial, .. } => match behind.iter().find(|(c, _)| c == r) {
            Some((_, s)) => format!("behind (serial {s} of {serial})"),
            None => "newest".to_owned(),
        },
        SyncStatus::Diverged { .. } => "diverged".to_owned(),
        SyncStatus::Unreadable { .. } => "readable (another copy is not)".to_owned(),
    }
}
