//! `solo state migrate`: store an older state's migration now (R3), under the lock; the old
//! document is kept as a backup object in every cluster.

use super::session;
use crate::cli::{Global, MigrateArgs};
use crate::render::{Failure, Out};
use jiff::Timestamp;
use solo_core::lock::WaitPolicy;
use solo_core::state::{CURRENT, MigrationStamp};
use solo_kube::StateStore;

/// Run `solo state migrate`.
pub async fn migrate(args: &MigrateArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        mut config,
        target,
        clusters,
    } = session::open(
        &args.target.deployment,
        args.target.state_namespace.as_deref(),
        global,
    )
    .await?;
    let target = &target;
    let state_ns = target.known.state_namespace.clone();
    let store = StateStore::new(clusters.clone(), &state_ns);
    let refs = target.known.cluster_refs.clone();
    let (copy, _) = store
        .read(&target.name, &refs)
        .await
        .map_err(|e| session::state_failure(&e, &state_ns))?;
    let from = copy.parsed.document.version();
    if from >= CURRENT {
        out.say(&format!(
            "ok: the state of {} is already at schema {CURRENT}; nothing to migrate",
            target.name
        ));
        return Ok(());
    }
    if !global.yes {
        return Err(Failure::new(
            format!(
                "this stores the state of {} migrated from schema {from} to {CURRENT} in {} (the old document is kept as a backup); nothing was done",
                target.name,
                refs.join(", ")
            ),
            format!(
                "check it with `solo state show {}`, then run again with --yes",
                target.name
            ),
        ));
    }
    let identity = session::lock_identity(global, &mut config)?;
    let by = identity.user.clone();
    let guard = session::take_lock(
        target,
        &clusters,
        identity,
        WaitPolicy::NoWait,
        |_| {},
        None,
    )
    .await?;
    let written = async {
        // Read again under the lock: the write is based on what the lock protects.
        let (copy, _) = store.read(&target.name, &refs).await?;
        let stamp = MigrationStamp {
            by: by.clone(),
            at: Timestamp::now(),
        };
        let mut doc = copy
            .load(&stamp)
            .map_err(|e| solo_kube::StateStoreError::InvalidDocument {
                deployment: target.name.clone(),
                reason: e.to_string(),
            })?
            .into_document();
        doc.metadata.last_updated_by = by.clone();
        doc.metadata.last_updated_at = stamp.at;
        store
            .write_based(guard.epoch(), &target.name, &doc, copy.base())
            .await
    }
    .await;
    session::release(guard).await?;
    let outcome = written.map_err(|e| session::state_failure(&e, &state_ns))?;
    out.say(&format!(
        "ok: the state of {} is stored at schema {CURRENT} (serial {}){}",
        target.name,
        outcome.serial,
        outcome
            .backup
            .map(|b| format!("; the schema {from} document is kept as Secret {state_ns}/{b}"))
            .unwrap_or_default()
    ));
    Ok(())
}
