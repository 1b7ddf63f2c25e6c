//! `solo state import-solo <deployment>`: take over a network that the Solo tool deployed. Its
//! remote config is read from every cluster it names, the copies are compared (R12), and this
//! tool's state is created under the lock through the one creation path of `deployment create`,
//! with Solo's command history in the archives. Solo's files and ConfigMaps are only read.

use super::deployment::{Existing, create_locked};
use super::session::{self, Target};
use crate::cli::{Global, ImportSoloArgs, Output};
use crate::config::{KnownDeployment, LocalConfig};
use crate::render::{EXIT_OUT_OF_SYNC, Failure, Out};
use solo_core::state::solo_remote::{
    SOLO_REMOTE_CONFIGMAP, SoloRemoteConfig, compare_solo_copies, import_solo_remote,
    parse_solo_remote,
};
use solo_core::state::{self, MigrationStamp, names};
use solo_kube::HistoryEntry;
use solo_kube::solo_remote::read_solo_remote;

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

/// Run `solo state import-solo`.
pub async fn import_solo(args: &ImportSoloArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let name = &args.deployment;
    check_label("deployment name", name)?;
    check_label("state namespace", &args.state_namespace)?;
    for r in &args.cluster_refs {
        check_label("cluster ref", r)?;
    }
    let team = args
        .team
        .clone()
        .unwrap_or_else(|| super::deployment::NO_TEAM.to_owned());
    check_label("team", &team)?;
    let mut config = LocalConfig::load()?;
    let known = config
        .solo
        .as_ref()
        .and_then(|s| s.deployment(name))
        .cloned();
    let unknown = || {
        Failure::new(
            format!(
                "Solo's local config does not list deployment {name}, so its namespace and clusters are not known"
            ),
            format!(
                "pass them: `solo state import-solo {name} --namespace <ns> --cluster-ref <ref>`"
            ),
        )
    };
    let namespace = match (&args.namespace, &known) {
        (Some(ns), _) => ns.clone(),
        (None, Some(d)) if !d.namespace.is_empty() => d.namespace.clone(),
        _ => return Err(unknown()),
    };
    check_label("namespace", &namespace)?;
    let mut refs = match (&args.cluster_refs, &known) {
        (given, _) if !given.is_empty() => given.clone(),
        (_, Some(d)) if !d.clusters.is_empty() => d.clusters.clone(),
        _ => return Err(unknown()),
    };
    refs.sort();
    refs.dedup();
    let identity = session::lock_identity(global, &mut config)?;

    // The remote config names every cluster of the deployment: read it where we know to look,
    // then in every cluster it names.
    let (copies, clusters) = loop {
        let mapping = config.contexts_or_ask(&refs, global.kubeconfig.as_deref())?;
        let clusters = session::connect(global, &mapping).await?;
        let copies = read_copies(&clusters, &refs, &namespace).await?;
        let mut named: Vec<String> = copies
            .iter()
            .flat_map(|(_, c)| c.clusters.iter().map(|c| c.name.clone()))
            .chain(refs.iter().cloned())
            .collect();
        named.sort();
        named.dedup();
        if named == refs {
            break (copies, clusters);
        }
        refs = named;
    };
    let chosen = choose(&copies, args.from.as_deref(), name)?;
    let namespaces: std::collections::BTreeSet<&str> = chosen
        .clusters
        .iter()
        .map(|c| c.namespace.as_str())
        .collect();
    if namespaces.len() > 1 || namespaces.iter().any(|ns| *ns != namespace) {
        return Err(Failure::new(
            format!(
                "Solo's deployment {name} uses namespace(s) {} in its clusters, and this import reads namespace {namespace}: a deployment here has one namespace in every cluster",
                namespaces.into_iter().collect::<Vec<_>>().join(", ")
            ),
            "pass --namespace with the namespace Solo's remote config names",
        ));
    }

    let stamp = MigrationStamp {
        by: identity.user.clone(),
        at: now(),
    };
    let shard_realm = known.as_ref().map_or((0, 0), |d| (d.shard, d.realm));
    let import = import_solo_remote(chosen, name, shard_realm, &stamp).map_err(|e| {
        Failure::new(
            format!("Solo's remote config of {name} cannot be imported: {e}"),
            "check it with `kubectl get configmap solo-remote-config -o yaml` in the network's namespace",
        )
    })?;
    for line in &import.not_imported {
        out.say(&format!(
            "not imported: {line}: this tool's state has no such kind; Solo keeps managing it"
        ));
    }
    let doc = &import.document;
    if args.dry_run {
        let text = match global.output {
            Output::Json => state::to_json(doc),
            Output::Table | Output::Yaml => state::to_canonical_yaml(doc),
        }
        .map_err(|e| Failure::state("the imported state", &e))?;
        out.result(&text);
        out.say(&format!(
            "dry run: nothing was written; {} history entr{} would be archived",
            import.commands.len(),
            if import.commands.len() == 1 {
                "y"
            } else {
                "ies"
            }
        ));
        return Ok(());
    }

    for r in &refs {
        session::require_namespace(
            &clusters,
            &config,
            r,
            &args.state_namespace,
            "state namespace",
        )
        .await?;
    }
    let target = Target::from_known(
        name,
        KnownDeployment {
            cluster_refs: refs.clone(),
            namespace: namespace.clone(),
            state_namespace: args.state_namespace.clone(),
            team: args.team.clone(),
        },
    );
    let result = format!(
        "imported from Solo's remote config (run with the Solo tool; last written by {})",
        chosen
            .last_updated_by
            .as_deref()
            .unwrap_or("an unknown user")
    );
    let history: Vec<HistoryEntry> = import
        .commands
        .iter()
        .map(|c| HistoryEntry {
            command: c.split_whitespace().map(str::to_owned).collect(),
            executed_by: identity.user.clone(),
            executed_at: stamp.at,
            result: result.clone(),
            duration_ms: 0,
            authenticated_as: None,
        })
        .collect();
    let meta = create_locked(
        doc,
        &target,
        &clusters,
        identity,
        &team,
        &history,
        Existing::SoloExpected,
        out,
    )
    .await?;
    config.deployments.insert(name.clone(), target.known);
    config.save()?;
    out.say(&format!(
        "ok: imported Solo's deployment {name} (schema {}) into {} (namespace {namespace}, state in {}/{}), serial {}, {} component(s), {} history entr{}",
        chosen.schema_version,
        refs.join(", "),
        args.state_namespace,
        solo_kube::state_object_name(name),
        meta.serial,
        doc.components.len(),
        history.len(),
        if history.len() == 1 { "y" } else { "ies" }
    ));
    Ok(())
}

/// Every cluster's copy, parsed; a cluster without one, or with one that cannot be read, is
/// an error naming it.
async fn read_copies(
    clusters: &solo_kube::Clusters,
    refs: &[String],
    namespace: &str,
) -> Result<Vec<(String, SoloRemoteConfig)>, Failure> {
    let mut copies = Vec::new();
    for (cluster, read) in read_solo_remote(clusters, refs, namespace).await {
        let text = match read {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(Failure::new(
                    format!(
                        "cluster {cluster} has no ConfigMap {SOLO_REMOTE_CONFIGMAP} in namespace {namespace}"
                    ),
                    "check the namespace (--namespace) and the cluster refs (--cluster-ref) of the Solo deployment",
                ));
            }
            Err(e) => {
                return Err(Failure::new(
                    format!(
                        "cannot read ConfigMap {SOLO_REMOTE_CONFIGMAP} in namespace {namespace} of cluster {cluster}: {e}"
                    ),
                    "check that your kube context may read ConfigMaps there",
                ));
            }
        };
        let parsed = parse_solo_remote(&text).map_err(|e| {
            Failure::new(
                format!("Solo's remote config in cluster {cluster} (namespace {namespace}) cannot be imported: {e}"),
                "upgrade the Solo tool and let it migrate its remote config, or import with a newer solo",
            )
        })?;
        copies.push((cluster, parsed));
    }
    Ok(copies)
}

/// The copy to import: the one of `--from`, else the copies must be the same (R12).
fn choose<'a>(
    copies: &'a [(String, SoloRemoteConfig)],
    from: Option<&str>,
    name: &str,
) -> Result<&'a SoloRemoteConfig, Failure> {
    if let Some(from) = from {
        return copies
            .iter()
            .find(|(c, _)| c == from)
            .map(|(_, c)| c)
            .ok_or_else(|| {
                Failure::new(
                    format!(
                        "--from {from}: no copy of Solo's remote config was read from that cluster"
                    ),
                    format!(
                        "choose one of: {}",
                        copies
                            .iter()
                            .map(|(c, _)| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            });
    }
    match compare_solo_copies(copies) {
        Ok(()) => copies.first().map(|(_, c)| c).ok_or_else(|| {
            Failure::bare(format!(
                "no copy of Solo's remote config of {name} was read"
            ))
        }),
        Err(rows) => {
            let mut table = vec![format!(
                "{:<16} {:<7} {:<26} {:<24} {:>10} {:>8}",
                "CLUSTER", "SCHEMA", "LAST UPDATED", "BY", "COMPONENTS", "HISTORY"
            )];
            table.extend(rows.iter().map(|r| {
                format!(
                    "{:<16} {:<7} {:<26} {:<24} {:>10} {:>8}",
                    r.cluster,
                    r.schema_version,
                    r.last_updated_at,
                    r.last_updated_by,
                    r.components,
                    r.commands
                )
            }));
            Err(Failure::new(
                format!("the copies of Solo's remote config of {name} differ between clusters"),
                format!(
                    "let the Solo tool bring them in line, or choose the copy to import with `solo state import-solo {name} --from <cluster-ref>`"
                ),
            )
            .details(table)
            .code(EXIT_OUT_OF_SYNC))
        }
    }
}

/// The current time to the second.
fn now() -> jiff::Timestamp {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}
