//! `solo cluster-ref connect|disconnect|list`: each user maps the cluster refs of the state to
//! their own kube contexts (R11); the state never holds a context name.

use crate::cli::{ClusterRefCommand, ConnectArgs, Global, Output, RefArgs};
use crate::config::LocalConfig;
use crate::render::{Failure, Out};
use serde_json::json;
use solo_core::state::names;

/// Run a `solo cluster-ref` command.
pub fn run(cmd: &ClusterRefCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        ClusterRefCommand::Connect(args) => connect(args, global, out),
        ClusterRefCommand::Disconnect(args) => disconnect(args, out),
        ClusterRefCommand::List => list(out),
    }
}

fn connect(args: &ConnectArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    if let Some(problem) = names::label_problem(&args.cluster_ref) {
        return Err(Failure::new(
            format!("cluster ref: {problem}"),
            "a cluster ref is a DNS-1123 label, such as cluster-1",
        )
        .code(2));
    }
    let kubeconfig = solo_kube::clusters::read_kubeconfig(global.kubeconfig.clone()).map_err(|e| {
        Failure::new(
            e.to_string(),
            "set KUBECONFIG (a list of files is merged as kubectl merges it) or pass --kubeconfig",
        )
    })?;
    if !kubeconfig.contexts.iter().any(|c| c.name == args.context) {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(Failure::new(
            format!("kube context {:?} is not in your kubeconfig", args.context),
            format!(
                "choose one of: {} (see `kubectl config get-contexts`)",
                if known.is_empty() {
                    "none; your kubeconfig has no contexts".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    let mut config = LocalConfig::load()?;
    let previous = config
        .cluster_refs
        .insert(args.cluster_ref.clone(), args.context.clone());
    let path = config.save()?;
    match previous {
        Some(old) if old != args.context => out.say(&format!(
            "ok: cluster ref {} now maps to kube context {} (was {old}), in {}",
            args.cluster_ref,
            args.context,
            path.display()
        )),
        _ => out.say(&format!(
            "ok: cluster ref {} maps to kube context {}, in {}",
            args.cluster_ref,
            args.context,
            path.display()
        )),
    }
    Ok(())
}

fn disconnect(args: &RefArgs, out: &Out) -> Result<(), Failure> {
    let mut config = LocalConfig::load()?;
    match config.cluster_refs.remove(&args.cluster_ref) {
        None => Err(Failure::new(
            format!("cluster ref {} is not connected", args.cluster_ref),
            "`solo cluster-ref list` shows the connected ones",
        )),
        Some(context) => {
            config.save()?;
            out.say(&format!(
                "ok: cluster ref {} no longer maps to kube context {context}",
                args.cluster_ref
            ));
            Ok(())
        }
    }
}

fn list(out: &Out) -> Result<(), Failure> {
    let config = LocalConfig::load()?;
    let all = config.all_cluster_refs();
    let conflicts = config.conflicts();
    let source = |r: &str| {
        if config.cluster_refs.contains_key(r) {
            "solo-state-config.yaml"
        } else {
            "Solo's local-config.yaml"
        }
    };
    match out.format {
        Output::Table => {
            if all.is_empty() {
                out.say("no cluster refs connected; run `solo cluster-ref connect <ref> --context <kube-context>`");
                return Ok(());
            }
            let width = all
                .keys()
                .map(String::len)
                .max()
                .unwrap_or(0)
                .max("CLUSTER REF".len());
            let cwidth = all
                .values()
                .map(String::len)
                .max()
                .unwrap_or(0)
                .max("KUBE CONTEXT".len());
            let mut text = format!(
                "{:<width$}  {:<cwidth$}  FROM\n",
                "CLUSTER REF", "KUBE CONTEXT"
            );
            for (r, c) in &all {
                text.push_str(&format!("{r:<width$}  {c:<cwidth$}  {}\n", source(r)));
            }
            out.result(&text);
        }
        Output::Json | Output::Yaml => {
            let rows: Vec<_> = all
                .iter()
                .map(|(r, c)| json!({"clusterRef": r, "context": c, "from": source(r)}))
                .collect();
            out.result(&super::structured(out.format, &json!(rows)));
        }
    }
    for (r, ours, theirs) in conflicts {
        out.say(&format!(
            "note: cluster ref {r} maps to kube context {ours} here but to {theirs} in Solo's local-config.yaml; solo uses {ours}"
        ));
    }
    Ok(())
}
