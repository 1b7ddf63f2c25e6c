//! `solo team setup`: the RBAC objects that give a team its state namespace and its network
//! namespaces' leases (docs/teams.md), and the people-first "forbidden" of a deployment of
//! another team: whose it is and which group to ask for.

use super::session;
use crate::cli::{
    Cli, Command, DeploymentArgs, Global, HistoryCommand, LeaseCommand, Output, StateCommand,
    TeamCommand, TeamSetupArgs,
};
use crate::config::LocalConfig;
use crate::render::{EXIT_FORBIDDEN, Failure, Out};
use solo_kube::identity::{may, who_am_i};
use solo_kube::index::{self, IndexEntry};
use solo_kube::{TeamSetup, team_state_namespace};

/// Run a `solo team` command.
pub fn run(cmd: &TeamCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        TeamCommand::Setup(args) => session::block_on(setup(args, global, out)),
    }
}

async fn setup(args: &TeamSetupArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let setup = TeamSetup {
        team: args.team.clone(),
        group: args.group.clone().unwrap_or_else(|| args.team.clone()),
        state_namespace: args
            .state_namespace
            .clone()
            .unwrap_or_else(|| team_state_namespace(&args.team)),
        network_namespaces: args.namespaces.clone(),
    };
    setup.check().map_err(|e| {
        Failure::new(
            e.to_string(),
            "a team and namespaces are DNS-1123 labels (such as team-a); --group names a Kubernetes group",
        )
        .code(2)
    })?;
    let objects = setup.objects();
    if args.print {
        let docs: Vec<String> = objects
            .to_values()
            .iter()
            .map(|v| match out.format {
                Output::Json => super::json_text(v),
                _ => serde_saphyr::to_string(v).unwrap_or_else(|_| super::json_text(v)),
            })
            .collect();
        let text = match out.format {
            Output::Json => docs.concat(),
            _ => docs.join("---\n"),
        };
        out.result(&text);
        return Ok(());
    }
    if args.cluster_refs.is_empty() {
        return Err(Failure::new(
            "no cluster to set the team up in",
            "pass --cluster-ref <ref> (an admin's context, see `solo cluster-ref connect`), or --print to see the objects",
        )
        .code(2));
    }
    let config = LocalConfig::load()?;
    let mapping = config.contexts(&args.cluster_refs)?;
    let clusters = session::connect(global, &mapping).await?;
    for r in &args.cluster_refs {
        let client = clusters
            .client(r)
            .map_err(|e| Failure::bare(e.to_string()))?;
        let applied = objects.apply(client, &setup.team).await.map_err(|e| {
            let source = solo_kube::store_error(e);
            session::store_failure(r, &setup.state_namespace, "RBAC objects", &source)
        })?;
        for line in &applied {
            out.detail(&format!("{r}: applied {line}"));
        }
    }
    out.say(&format!(
        "ok: team {} (group {}) keeps its states in {} on {}{}; every authenticated user can list its deployments",
        setup.team,
        setup.group,
        setup.state_namespace,
        args.cluster_refs.join(", "),
        if setup.network_namespaces.is_empty() {
            String::new()
        } else {
            format!(
                ", and may lock namespaces {}",
                setup.network_namespaces.join(", ")
            )
        }
    ));
    Ok(())
}

/// A deployment argument and its state namespace.
fn pair(d: &DeploymentArgs) -> (&str, Option<&str>) {
    (d.deployment.as_str(), d.state_namespace.as_deref())
}

/// The deployment a command works on, and the state namespace it was given.
fn deployment_of(command: &Command) -> Option<(&str, Option<&str>)> {
    match command {
        Command::State(StateCommand::Show(d)) => Some(pair(d)),
        Command::History(h) => match (&h.command, &h.deployment) {
            (Some(HistoryCommand::Export(e)), _) => Some(pair(&e.target)),
            (None, Some(d)) => Some((d.as_str(), h.state_namespace.as_deref())),
            (None, None) => None,
        },
        Command::State(StateCommand::Migrate(d)) => Some(pair(&d.target)),
        Command::State(StateCommand::Sync(s)) => {
            Some((s.deployment.as_str(), s.state_namespace.as_deref()))
        }
        Command::Lease(LeaseCommand::Status(d)) => Some(pair(d)),
        Command::Lease(LeaseCommand::Break(b)) => Some(pair(&b.target)),
        Command::Exec(e) => Some((e.deployment.as_str(), e.state_namespace.as_deref())),
        _ => None,
    }
}

/// A "forbidden" (exit 5) on a deployment of a team the user is not in, said in the team's
/// words: who the cluster says you are, whose deployment it is, and which group to ask for.
/// Any other failure is returned as it is.
pub fn explain_forbidden(failure: Failure, cli: &Cli) -> Failure {
    if failure.exit_code != EXIT_FORBIDDEN {
        return failure;
    }
    let Some((deployment, state_ns)) = deployment_of(&cli.command) else {
        return failure;
    };
    match session::block_on(explain(deployment, state_ns, &cli.global)) {
        Ok(Some(explained)) => {
            let mut details = failure.details.clone();
            details.insert(0, failure.message.clone());
            explained.details(details).code(EXIT_FORBIDDEN)
        }
        _ => failure,
    }
}

async fn explain(
    deployment: &str,
    state_ns: Option<&str>,
    global: &Global,
) -> Result<Option<Failure>, Failure> {
    let config = LocalConfig::load()?;
    let mapping: Vec<(String, String)> = config
        .cluster_refs
        .iter()
        .map(|(r, c)| (r.clone(), c.clone()))
        .collect();
    let clusters = session::connect(global, &mapping).await?;
    let refs: Vec<String> = mapping.into_iter().map(|(r, _)| r).collect();
    let entry = match index::find(&clusters, &refs, deployment).await {
        Some(entry) => entry,
        None => match config.deployments.get(deployment) {
            Some(known) if known.team.is_some() => IndexEntry {
                deployment: deployment.to_owned(),
                team: known.team.clone().unwrap_or_default(),
                state_namespace: known.state_namespace.clone(),
                namespace: known.namespace.clone(),
                clusters: known.cluster_refs.clone(),
            },
            _ => return Ok(None),
        },
    };
    let state_ns = state_ns.unwrap_or(&entry.state_namespace);
    let group = index::team_info(&clusters, &refs, &entry.team)
        .await
        .map(|t| t.group)
        .unwrap_or_else(|| entry.team.clone());
    for cluster in entry.clusters.iter().filter(|c| refs.contains(c)) {
        let Ok(client) = clusters.client(cluster) else {
            continue;
        };
        let read = may(client, "get", "", "secrets", state_ns)
            .await
            .unwrap_or(true);
        let lock = entry.namespace.is_empty()
            || may(
                client,
                "update",
                "coordination.k8s.io",
                "leases",
                &entry.namespace,
            )
            .await
            .unwrap_or(true);
        let action = match (read, lock) {
            (false, _) => "read",
            (true, false) => "change (lock)",
            (true, true) => continue,
        };
        let who = who_am_i(client)
            .await
            .ok()
            .flatten()
            .map(|u| u.username)
            .unwrap_or_else(|| "unknown".to_owned());
        return Ok(Some(Failure::new(
            format!(
                "you ({who}) are not allowed to {action} deployment {deployment} of team {} on {cluster}: ask an admin to add you to group {group}",
                entry.team
            ),
            format!(
                "an admin grants a team its access with `solo team setup {} --group {group} --cluster-ref {cluster}{}` (docs/teams.md); `solo deployment list` still shows every team's deployments",
                entry.team,
                if entry.namespace.is_empty() {
                    String::new()
                } else {
                    format!(" --namespace {}", entry.namespace)
                }
            ),
        )));
    }
    Ok(None)
}
