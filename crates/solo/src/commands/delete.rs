//! `solo deployment delete`: removes what solo keeps of a deployment (its state copies, history
//! archives and leases) from every one of its clusters, under its lock, and forgets it locally.
//! The network's own namespace and workloads are left alone.
//!
//! The deletion is fenced like any write (`solo_kube::delete`): the lock's epoch is first left on
//! its leases as their high-water mark (the core's rule, checked by its simulation), then the state
//! objects are retired by compare-and-swap under that epoch, keeping only the fencing stamp (so a
//! deployment created again under the name continues the epochs even where its leases are gone),
//! then the archives go. A deletion cut short is finished by running it again.

use super::session::{self, Target};
use super::write;
use crate::cli::{DeploymentArgs, Global};
use crate::config;
use crate::render::{Failure, Out};
use solo_core::lock::Epoch;
use solo_kube::Clusters;

/// Run `solo deployment delete`.
pub async fn delete(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        mut config,
        mut target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let name = target.name.clone();
    let refs = target.known.cluster_refs.join(", ");
    if !global.yes {
        let question = format!(
            "Delete the state, history and leases of {name} from {refs}? (The network itself stays.)"
        );
        if !config::interactive() {
            return Err(Failure::new(
                format!(
                    "deleting {name} removes its state, history and leases from {refs}; nothing was done"
                ),
                format!("run `solo deployment delete {name} --yes`"),
            ));
        }
        let go = inquire::Confirm::new(&question)
            .with_default(false)
            .prompt()
            .map_err(|e| {
                config::prompt_failure(e, &format!("solo deployment delete {name} --yes"))
            })?;
        if !go {
            return Err(Failure::bare(format!("nothing was deleted from {name}")));
        }
    }
    let lock = write::lock(&mut target, &clusters, &mut config, global, out, None).await?;
    let removed = match lock.mark_epoch().await {
        Ok(()) => remove_objects(&clusters, &target, lock.epoch(), out).await,
        Err(e) => Err(e),
    };
    // A kept lock ends with the deployment.
    let released = if removed.is_ok() {
        lock.release_all().await
    } else {
        lock.release().await
    };
    let count = removed?;
    released?;
    // Its public index entry goes with it (docs/teams.md).
    if let Err((cluster, e)) = solo_kube::index::unpublish(
        &clusters,
        &target.known.cluster_refs,
        &target.known.state_namespace,
        &name,
    )
    .await
    {
        out.say(&format!(
            "warning: cluster {cluster}: the public index entry of {name} was not removed: {e}"
        ));
    }
    config.deployments.remove(&name);
    config.leases.remove(&name);
    config.save()?;
    out.say(&format!(
        "ok: deleted deployment {name}: {count} objects from {refs}; its leases are free and keep only its last epoch; the network's namespace {} was left alone",
        target.known.namespace
    ));
    Ok(())
}

/// Deletes the deployment's objects under the lock of `epoch` (fenced: a lost lock deletes
/// nothing); how many.
async fn remove_objects(
    clusters: &Clusters,
    target: &Target,
    epoch: Epoch,
    out: &Out,
) -> Result<usize, Failure> {
    let state_ns = &target.known.state_namespace;
    let removed = solo_kube::delete::delete_deployment(
        clusters,
        state_ns,
        &target.name,
        &target.known.cluster_refs,
        epoch,
    )
    .await
    .map_err(|e| session::state_failure(&e, state_ns))?;
    for r in &removed {
        out.detail(&format!(
            "deleted {state_ns}/{} in cluster {}",
            r.name, r.cluster
        ));
    }
    Ok(removed.len())
}
