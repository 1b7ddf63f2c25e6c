//! `solo component add|remove|list`: the components of a network recorded in its state. Adding
//! and removing are writes under the lock, validated by the core before anything is written;
//! listing reads the state without the lock.

use super::session;
use super::write::{self, Change, Decision};
use crate::cli::{
    ComponentAddArgs, ComponentCommand, ComponentRemoveArgs, DeploymentArgs, Global, Kind, Output,
};
use crate::render::{Failure, Out};
use serde_json::json;
use solo_core::state::{
    Component, ComponentKind, Components, ConsensusNode, ProxyComponent, RelayComponent,
    StateDocument,
};

/// Run a `solo component` command.
pub fn run(cmd: &ComponentCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        ComponentCommand::Add(args) => add(args, global, out),
        ComponentCommand::Remove(args) => remove(args, global, out),
        ComponentCommand::List(args) => session::block_on(list(args, global, out)),
    }
}

fn kind_of(kind: Kind) -> ComponentKind {
    match kind {
        Kind::Consensus => ComponentKind::Consensus,
        Kind::Haproxy => ComponentKind::Haproxy,
        Kind::EnvoyProxy => ComponentKind::EnvoyProxy,
        Kind::Mirror => ComponentKind::Mirror,
        Kind::MirrorNodeExplorer => ComponentKind::MirrorNodeExplorer,
        Kind::Relay => ComponentKind::Relay,
    }
}

/// The flags that only some kinds take, checked before anything is read.
fn check_flags(args: &ComponentAddArgs) -> Result<(), Failure> {
    let key = kind_of(args.kind).key();
    let nodes = args.consensus_nodes.len();
    let problem = match args.kind {
        Kind::Haproxy | Kind::EnvoyProxy if nodes != 1 => Some(format!(
            "a {key} serves exactly one consensus node: pass --consensus-node <node> once"
        )),
        Kind::Relay if nodes == 0 => Some(
            "a relay serves at least one consensus node: pass --consensus-node <node> (repeat for several)"
                .to_owned(),
        ),
        Kind::Consensus | Kind::Mirror | Kind::MirrorNodeExplorer if nodes > 0 => Some(format!(
            "--consensus-node is for proxies and relays; a {key} component serves no consensus node"
        )),
        _ => None,
    };
    match problem {
        Some(p) => Err(Failure::new(
            p,
            "see `solo component add --help` for an example of each kind",
        )
        .code(2)),
        None => Ok(()),
    }
}

fn add(args: &ComponentAddArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    check_flags(args)?;
    let at = Change {
        deployment: &args.deployment,
        state_namespace: args.state_namespace.as_deref(),
        wait: args.wait.as_deref(),
        on_changed: write::OnChanged::Rebuild,
    };
    session::block_on(write::change_state(at, global, out, |doc, _| {
        added(doc, args)
    }))
}

fn added(doc: &StateDocument, args: &ComponentAddArgs) -> Result<Decision, Failure> {
    let name = &doc.metadata.name;
    let clusters: Vec<&str> = doc.clusters.iter().map(|c| c.name.as_str()).collect();
    let cluster = match (&args.cluster_ref, clusters.as_slice()) {
        (Some(c), _) => c.clone(),
        (None, [only]) => (*only).to_owned(),
        (None, _) => {
            return Err(Failure::new(
                format!(
                    "deployment {name} has several clusters; say which one the component runs in"
                ),
                format!("pass --cluster-ref, one of: {}", clusters.join(", ")),
            )
            .code(2));
        }
    };
    let namespace = match (
        &args.namespace,
        doc.clusters.iter().find(|c| c.name == cluster),
    ) {
        (Some(ns), _) => ns.clone(),
        (None, Some(c)) => c.namespace.clone(),
        (None, None) => {
            return Err(Failure::new(
                format!(
                    "cluster {cluster} is not a cluster of deployment {name} (its clusters: {})",
                    clusters.join(", ")
                ),
                "pass --cluster-ref one of its clusters",
            ));
        }
    };
    let mut next = doc.clone();
    let c = &mut next.components;
    let place = Component {
        name: args.name.clone(),
        cluster: cluster.clone(),
        namespace: namespace.clone(),
    };
    let proxy = || ProxyComponent {
        name: args.name.clone(),
        cluster: cluster.clone(),
        namespace: namespace.clone(),
        consensus_node: args.consensus_nodes.first().cloned().unwrap_or_default(),
    };
    match args.kind {
        Kind::Consensus => c.consensus.push(ConsensusNode::next_after(
            &c.consensus,
            args.name.clone(),
            cluster.clone(),
            namespace.clone(),
        )),
        Kind::Haproxy => c.haproxy.push(proxy()),
        Kind::EnvoyProxy => c.envoy_proxy.push(proxy()),
        Kind::Mirror => c.mirror.push(place),
        Kind::MirrorNodeExplorer => c.mirror_node_explorer.push(place),
        Kind::Relay => c.relay.push(RelayComponent {
            name: args.name.clone(),
            cluster: cluster.clone(),
            namespace: namespace.clone(),
            consensus_nodes: args.consensus_nodes.clone(),
        }),
    }
    let summary = format!(
        "added {} {} to {name} (cluster {cluster}, namespace {namespace})",
        kind_of(args.kind).key(),
        args.name
    );
    Ok(Some((next, summary)))
}

fn remove(args: &ComponentRemoveArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let at = Change {
        deployment: &args.deployment,
        state_namespace: args.state_namespace.as_deref(),
        wait: args.wait.as_deref(),
        on_changed: write::OnChanged::Rebuild,
    };
    session::block_on(write::change_state(at, global, out, |doc, _| {
        removed(doc, args.kind, &args.name)
    }))
}

fn removed(doc: &StateDocument, kind: Kind, component: &str) -> Result<Decision, Failure> {
    let key = kind_of(kind).key();
    let mut next = doc.clone();
    fn drop_named<T>(list: &mut Vec<T>, name: impl Fn(&T) -> &str, wanted: &str) -> bool {
        let before = list.len();
        list.retain(|c| name(c) != wanted);
        list.len() != before
    }
    let c = &mut next.components;
    let found = match kind {
        Kind::Consensus => drop_named(&mut c.consensus, |c| &c.name, component),
        Kind::Haproxy => drop_named(&mut c.haproxy, |c| &c.name, component),
        Kind::EnvoyProxy => drop_named(&mut c.envoy_proxy, |c| &c.name, component),
        Kind::Mirror => drop_named(&mut c.mirror, |c| &c.name, component),
        Kind::MirrorNodeExplorer => drop_named(&mut c.mirror_node_explorer, |c| &c.name, component),
        Kind::Relay => drop_named(&mut c.relay, |c| &c.name, component),
    };
    let name = &doc.metadata.name;
    if !found {
        let names: Vec<&str> = doc
            .components
            .placements()
            .filter(|p| p.kind == kind_of(kind))
            .map(|p| p.name)
            .collect();
        return Err(Failure::new(
            format!("deployment {name} has no {key} named {component}; nothing was written"),
            if names.is_empty() {
                format!("it has no {key} at all; `solo component list {name}` lists its components")
            } else {
                format!("its {key} components: {}", names.join(", "))
            },
        ));
    }
    Ok(Some((
        next,
        format!("removed {key} {component} from {name}"),
    )))
}

/// Every component as one row: kind, name, cluster, namespace, the consensus nodes it serves.
fn rows(components: &Components) -> Vec<serde_json::Value> {
    let serves = |kind: ComponentKind, index: usize| -> Vec<String> {
        match kind {
            ComponentKind::Haproxy => vec![components.haproxy[index].consensus_node.clone()],
            ComponentKind::EnvoyProxy => {
                vec![components.envoy_proxy[index].consensus_node.clone()]
            }
            ComponentKind::Relay => components.relay[index].consensus_nodes.clone(),
            _ => Vec::new(),
        }
    };
    components
        .placements()
        .map(|p| {
            json!({
                "kind": p.kind.key(),
                "name": p.name,
                "cluster": p.cluster,
                "namespace": p.namespace,
                "consensusNodes": serves(p.kind, p.index),
            })
        })
        .collect()
}

async fn list(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        config: _,
        target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let state = session::read_state(&target, clusters).await?;
    let rows = rows(&state.components);
    match out.format {
        Output::Table => {
            if rows.is_empty() {
                out.say(&format!(
                    "deployment {} has no components yet; add one with `solo component add {} consensus node1 --cluster-ref <ref>`",
                    target.name, target.name
                ));
                return Ok(());
            }
            let text = crate::render::table(
                &["KIND", "NAME", "CLUSTER", "NAMESPACE", "SERVES"],
                rows.iter().map(|r| {
                    let serves: Vec<&str> = r["consensusNodes"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    let cell = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                    vec![
                        cell("kind"),
                        cell("name"),
                        cell("cluster"),
                        cell("namespace"),
                        if serves.is_empty() {
                            "-".to_owned()
                        } else {
                            serves.join(",")
                        },
                    ]
                }),
            );
            out.result(&text);
        }
        format => out.result(&super::structured(
            format,
            &json!({ "deployment": target.name, "components": rows }),
        )),
    }
    Ok(())
}
