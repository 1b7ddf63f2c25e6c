//! `solo history <deployment>`: every command run under the deployment's lock (R10), oldest first;
//! `solo history export <deployment> --script`: the same as a shell script (`history_script`).

use super::session;
use crate::cli::{ExportArgs, Global, HistoryArgs, HistoryCommand, Output};
use crate::render::{Failure, Out};
use serde_json::json;
use solo_kube::{History, HistoryStore};

/// Run `solo history` or `solo history export`.
pub fn run(args: &HistoryArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    match (&args.command, &args.deployment) {
        (Some(HistoryCommand::Export(e)), _) => session::block_on(export(e, global, out)),
        (None, Some(deployment)) => session::block_on(history(
            deployment,
            args.state_namespace.as_deref(),
            global,
            out,
        )),
        (None, None) => Err(Failure::new(
            "which deployment's history?",
            "run `solo history <deployment>`",
        )
        .code(2)),
    }
}

/// The history of a deployment, read from its clusters: its name and its entries.
async fn read(
    deployment: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<(String, History), Failure> {
    let session::Opened {
        config: _,
        target,
        clusters,
    } = session::open(deployment, state_namespace, global).await?;
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
    Ok((target.name, history))
}

async fn export(args: &ExportArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let (name, history) = read(
        &args.target.deployment,
        args.target.state_namespace.as_deref(),
        global,
    )
    .await?;
    out.result(&super::history_script::script(&name, &history.entries));
    Ok(())
}

async fn history(
    deployment: &str,
    state_namespace: Option<&str>,
    global: &Global,
    out: &Out,
) -> Result<(), Failure> {
    let (name, history) = read(deployment, state_namespace, global).await?;
    out.detail(&format!(
        "read from cluster {} (archives: {})",
        history.cluster,
        history.archives.join(", ")
    ));
    match out.format {
        Output::Table => {
            if history.entries.is_empty() {
                out.say(&format!("no command was recorded for {} yet", name));
                return Ok(());
            }
            out.result(&table(&history.entries));
        }
        format => {
            let value = json!({
                "deployment": name,
                "readFrom": history.cluster,
                "archives": history.archives,
                "entries": history.entries,
            });
            out.result(&super::structured(format, &value));
        }
    }
    Ok(())
}

/// The history as a table for people: readable times and durations, oldest first.
fn table(entries: &[solo_kube::HistoryEntry]) -> String {
    crate::render::table(
        &["EXECUTED AT", "BY", "RESULT", "DURATION", "COMMAND"],
        entries.iter().map(|e| {
            vec![
                crate::render::when(e.executed_at),
                e.executed_by.clone(),
                e.result.clone(),
                crate::render::millis(e.duration_ms),
                e.command.join(" "),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use solo_kube::HistoryEntry;

    fn entry(at: &str, by: &str, result: &str, ms: u64, command: &[&str]) -> HistoryEntry {
        HistoryEntry {
            command: command.iter().map(|w| (*w).to_owned()).collect(),
            executed_by: by.to_owned(),
            executed_at: at.parse().expect("a time"),
            result: result.to_owned(),
            duration_ms: ms,
            authenticated_as: None,
        }
    }

    #[test]
    fn the_history_table_has_readable_times_and_durations() {
        let entries = [
            entry(
                "2026-12-02T08:01:02.123456789Z",
                "alice@example.com",
                "ok: added consensus node node1 (serial 2)",
                1234,
                &["solo", "component", "add", "net-a", "consensus", "node1"],
            ),
            entry(
                "2026-12-02T09:30:00Z",
                "bob@example.com",
                "exit 1",
                125_000,
                &["solo", "exec", "net-a", "--", "./deploy.sh"],
            ),
        ];
        insta::assert_snapshot!(super::table(&entries));
    }
}
