//! `solo history <deployment>`: every command run under the deployment's lock (R10), oldest first.

use super::session;
use crate::cli::{DeploymentArgs, Global, Output};
use crate::render::{Failure, Out};
use serde_json::json;
use solo_kube::HistoryStore;

/// Run `solo history`.
pub fn run(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    session::block_on(history(args, global, out))
}

async fn history(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        config: _,
        target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let store = HistoryStore::new(clusters, &target.known.state_namespace);
    let history = store
        .read_all(&target.name, &target.known.cluster_refs)
        .await
        .map_err(|e| match &e {
            solo_kube::HistoryError::Store { cluster, source } => {
                session::store_failure(cluster, &target.known.state_namespace, "secrets", source)
            }
            _ => Failure::new(
                format!("cannot read the history of {}: {e}", target.name),
                "check the clusters are reachable and you may read Secrets in the state namespace",
            ),
        })?;
    out.detail(&format!(
        "read from cluster {} (archives: {})",
        history.cluster,
        history.archives.join(", ")
    ));
    match out.format {
        Output::Table => {
            if history.entries.is_empty() {
                out.say(&format!("no command was recorded for {} yet", target.name));
                return Ok(());
            }
            let mut text = String::from("EXECUTED AT\tBY\tRESULT\tDURATION\tCOMMAND\n");
            for e in &history.entries {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}ms\t{}\n",
                    e.executed_at,
                    e.executed_by,
                    e.result,
                    e.duration_ms,
                    crate::render::clean(&e.command.join(" "))
                ));
            }
            out.result(&text);
        }
        format => {
            let value = json!({
                "deployment": target.name,
                "readFrom": history.cluster,
                "archives": history.archives,
                "entries": history.entries,
            });
            out.result(&super::structured(format, &value));
        }
    }
    Ok(())
}
