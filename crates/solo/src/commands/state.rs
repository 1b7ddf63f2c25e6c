//! `solo state validate|import-legacy` (offline, on files), `show` (a read) and `sync` (the
//! repair, under the lock); `diff|apply|edit` are in `state_edit.rs`.

use super::{session, write};
use crate::cli::{
    DeploymentArgs, Global, ImportLegacyArgs, Output, StateCommand, SyncArgs, ValidateArgs,
};
use crate::config::LocalConfig;
use crate::render::EXIT_OUT_OF_SYNC;
use crate::render::{Failure, Out};
use jiff::Timestamp;
use serde_json::json;
use solo_core::lock::StoreError;
use solo_core::state::SyncStatus;
use solo_core::state::{self, MigrationStamp, StateDocument, StateError};
use solo_kube::{CopyError, StateStore};
use std::path::Path;

/// Run a `solo state` command.
pub fn run(cmd: &StateCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        StateCommand::Validate(args) => validate(args, out),
        StateCommand::Schema => {
            out.result(&state::json_schema());
            Ok(())
        }
        StateCommand::ImportLegacy(args) => import_legacy(args, global, out),
        StateCommand::ImportSolo(args) => {
            session::block_on(super::import::import_solo(args, global, out))
        }
        StateCommand::Show(args) => session::block_on(show(args, global, out)),
        StateCommand::Sync(args) => session::block_on(sync(args, global, out)),
        StateCommand::Diff(args) => session::block_on(super::state_edit::diff(args, global, out)),
        StateCommand::Apply(args) => super::state_edit::apply(args, global, out),
        StateCommand::Edit(args) => super::state_edit::edit(args, global, out),
        StateCommand::Migrate(args) => {
            session::block_on(super::state_migrate::migrate(args, global, out))
        }
    }
}

/// A state file's bytes, refused before reading when it is too large to be a state.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    // Refuse before reading what no state can be, so a wrong path to a huge file is cheap.
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
        && meta.len() > state::MAX_DOCUMENT_BYTES as u64
    {
        let e = StateError::TooLarge {
            size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            limit: state::MAX_DOCUMENT_BYTES,
        };
        return Err(Failure::state(&path.display().to_string(), &e));
    }
    std::fs::read(path).map_err(|e| {
        Failure::new(
            format!("cannot read {}: {e}", path.display()),
            "check the path and that you may read the file",
        )
    })
}

fn summary(doc: &StateDocument) -> String {
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    format!(
        "deployment {}, {}, {}",
        doc.metadata.name,
        n(doc.clusters.len(), "cluster", "clusters"),
        n(doc.components.len(), "component", "components")
    )
}

fn validate(args: &ValidateArgs, out: &Out) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    let bytes = read(&args.file)?;
    out.detail(&format!("read {file}: {} bytes", bytes.len()));
    let result = state::parse(&bytes).and_then(|parsed| {
        let from = parsed.document.version();
        // Migrating for a check writes nothing; who migrates is only needed in the record, so
        // it is the identity given, or else the document's last writer.
        let by = std::env::var("SOLO_USER_EMAIL")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| parsed.document.metadata().last_updated_by.clone());
        let stamp = MigrationStamp { by, at: now() };
        parsed.into_loaded(&stamp).map(|loaded| (from, loaded))
    });
    match result {
        Ok((from, loaded)) => {
            let doc = loaded.document();
            match out.format {
                Output::Table => {
                    out.say(&format!(
                        "ok: {file} is a valid solo state (schema {}): {}",
                        from,
                        summary(doc)
                    ));
                    if loaded.migrated().is_some() {
                        out.say(&format!(
                            "note: schema {from} is older than {}; it was checked as migrated, and nothing was written",
                            state::CURRENT
                        ));
                    }
                }
                Output::Yaml => out.result(&print_yaml(doc)?),
                Output::Json => out.result(&json_line(&json!({
                    "valid": true,
                    "file": file,
                    "version": from.to_string(),
                    "currentVersion": state::CURRENT.to_string(),
                    "deployment": doc.metadata.name,
                    "clusters": doc.clusters.len(),
                    "components": doc.components.len(),
                    "problems": [],
                }))),
            }
            Ok(())
        }
        Err(e) => {
            let mut failure = Failure::state(&file, &e);
            if out.format == Output::Json {
                out.result(&json_line(&json!({
                    "valid": false,
                    "file": file,
                    "error": e.to_string(),
                    "problems": e.problems(),
                    "help": e.hint(),
                })));
                failure.reported = true;
            }
            Err(failure)
        }
    }
}

fn import_legacy(args: &ImportLegacyArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    let Some(email) = args.email.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Err(Failure::new(
            "no user identity: the import records who made the state",
            "pass --email you@example.com, or set SOLO_USER_EMAIL",
        ));
    };
    let bytes = read(&args.file)?;
    let stamp = MigrationStamp {
        by: email.trim().to_string(),
        at: now(),
    };
    let import = state::import_legacy(&bytes, &stamp, args.name.as_deref())
        .map_err(|e| Failure::state(&file, &e))?;
    for w in &import.warnings {
        out.say(&format!("warning: {w}"));
    }
    let doc = &import.document;
    let text = match global.output {
        Output::Json => state::to_json(doc).map_err(|e| Failure::state(&file, &e))?,
        Output::Table | Output::Yaml => print_yaml(doc)?,
    };
    match &args.out {
        None => out.result(&text),
        Some(path) => {
            if path.exists() && !global.yes {
                return Err(Failure::new(
                    format!("{} exists; it was left as it was", path.display()),
                    "pass --yes to overwrite it, or choose another --out",
                ));
            }
            std::fs::write(path, &text).map_err(|e| {
                Failure::new(
                    format!("cannot write {}: {e}", path.display()),
                    "check the directory exists and that you may write there",
                )
            })?;
            out.say(&format!("ok: wrote {}: {}", path.display(), summary(doc)));
        }
    }
    for step in &import.next_steps {
        out.say(&format!("next: {step}"));
    }
    Ok(())
}

/// The current time to the second: finer digits would only add noise to the document.
fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

fn print_yaml(doc: &StateDocument) -> Result<String, Failure> {
    state::to_canonical_yaml(doc).map_err(|e| Failure::state("the document", &e))
}

fn json_line(value: &serde_json::Value) -> String {
    super::json_text(value)
}

async fn show(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    // Every copy, as read to find the deployment's clusters: one read, not two.
    let (
        session::Opened {
            config: _,
            target,
            clusters: _,
        },
        read,
    ) = session::open_and_read(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let state_ns = target.known.state_namespace.clone();
    let copies = read.copies();
    let status = solo_kube::state_store::classify_copies(&copies);
    let name = &target.name;
    match &status {
        SyncStatus::InSync { serial } => {
            out.detail(&format!("every copy is in sync at serial {serial}"));
        }
        SyncStatus::Behind {
            newest,
            serial,
            behind,
        } => {
            let list: Vec<String> = behind
                .iter()
                .map(|(c, s)| format!("{c} at serial {s}"))
                .collect();
            out.say(&format!(
                "warning: the copies in {} are behind {newest} (serial {serial}): a write was cut short; the next locked write rolls them forward. Showing the newest.",
                list.join(", ")
            ));
        }
        SyncStatus::Diverged { table } => {
            let first = table.first().map(|r| r.cluster.as_str()).unwrap_or("<ref>");
            return Err(Failure::new(
                format!("the copies of the state of deployment {name} diverged"),
                format!(
                    "choose the copy to keep and run `solo state sync {name} --from <ref>` (e.g. --from {first})"
                ),
            )
            .details(state::divergence_table(table).lines().map(str::to_owned))
            .code(EXIT_OUT_OF_SYNC));
        }
        SyncStatus::Unreadable { copies: bad } => {
            for (cluster, copy) in &copies {
                if let Err(CopyError::Store(e)) = copy {
                    return Err(match e {
                        StoreError::Forbidden { message } => {
                            session::forbidden(cluster, &state_ns, "secrets", message)
                        }
                        other => session::store_failure(cluster, &state_ns, "secrets", other),
                    });
                }
            }
            let missing_everywhere = copies
                .iter()
                .all(|(_, c)| matches!(c, Err(CopyError::Missing { .. })));
            if missing_everywhere {
                return Err(Failure::new(
                    format!(
                        "deployment {name} has no state in {state_ns} of {}",
                        target.known.cluster_refs.join(", ")
                    ),
                    "check the name and --state-namespace, or create it with `solo deployment create`",
                ));
            }
            let good = copies
                .iter()
                .find(|(_, c)| c.is_ok())
                .map(|(c, _)| c.as_str())
                .unwrap_or("<ref>");
            return Err(Failure::new(
                format!("a copy of the state of deployment {name} cannot be read"),
                format!("repair it from a good copy: `solo state sync {name} --from {good}`"),
            )
            .details(bad.iter().map(|(c, why)| format!("{c:<16} {why}")))
            .code(EXIT_OUT_OF_SYNC));
        }
    }
    let newest = copies
        .iter()
        .filter_map(|(_, c)| c.as_ref().ok())
        .max_by_key(|c| c.meta.serial)
        .ok_or_else(|| Failure::bare(format!("no copy of the state of {name} was read")))?;
    let stamp = MigrationStamp {
        by: "solo".to_owned(),
        at: now(),
    };
    let loaded = newest
        .load(&stamp)
        .map_err(|e| Failure::state(&format!("the state of {name}"), &e))?;
    let doc = loaded.document();
    let text = match out.format {
        Output::Json => state::to_json(doc).map_err(|e| Failure::state(name, &e))?,
        Output::Yaml | Output::Table => print_yaml(doc)?,
    };
    out.result(&text);
    Ok(())
}

async fn sync(args: &SyncArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let mut config = LocalConfig::load()?;
    let mut target = session::resolve(
        &args.deployment,
        args.state_namespace.as_deref(),
        global,
        &mut config,
    )
    .await?;
    if !target.known.cluster_refs.contains(&args.from) {
        return Err(Failure::new(
            format!(
                "cluster {} is not a cluster of deployment {} (its clusters: {})",
                args.from,
                target.name,
                target.known.cluster_refs.join(", ")
            ),
            "pass --from one of its clusters",
        ));
    }
    if !global.yes {
        let others: Vec<&str> = target
            .known
            .cluster_refs
            .iter()
            .filter(|r| **r != args.from)
            .map(String::as_str)
            .collect();
        return Err(Failure::new(
            format!(
                "this overwrites the state of {} in {} with the copy in {}; nothing was done",
                target.name,
                others.join(", "),
                args.from
            ),
            format!(
                "check the copies with `solo state show {}`, then run again with --yes",
                target.name
            ),
        ));
    }
    let clusters = session::connect_target(global, &mut config, &target).await?;
    let state_ns = target.known.state_namespace.clone();
    // Under the user's kept lock when there is one (`solo lease acquire`), else taken now.
    let lock = write::lock(&mut target, &clusters, &mut config, global, out, None).await?;
    let store = StateStore::new(clusters, &state_ns);
    let synced = store
        .sync_from(lock.epoch(), &target.name, &args.from)
        .await;
    lock.release().await?;
    let outcome = synced.map_err(|e| session::state_failure(&e, &state_ns))?;
    out.say(&format!(
        "ok: every copy of the state of {} is now the copy from {}, at serial {}",
        target.name, args.from, outcome.serial
    ));
    Ok(())
}
