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
            let text = crate::render::table(
                &["EXECUTED AT", "BY", "RESULT", "DURATION", "COMMAND"],
                history.entries.iter().map(|e| {
                    vec![
                        crate::render::when(e.executed_at),
                        e.executed_by.clone(),
                        e.result.clone(),
                        crate::render::millis(e.duration_ms),
                        e.command.join(" "),
                    ]
                }),
            );
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
