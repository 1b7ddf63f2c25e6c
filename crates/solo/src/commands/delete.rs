//! `solo deployment delete`: removes what solo keeps of a deployment (its state copies, history
//! archives and leases) from every one of its clusters, under its lock, and forgets it locally.
//! The network's own namespace and workloads are left alone.
//!
//! Order: the archives (and any other labelled object) first, the state objects last, then the
//! lock is released. A deletion cut short leaves the state in place, so running it again finishes.

use super::session::{self, Target};
use super::{kept, write};
use crate::cli::{DeploymentArgs, Global};
use crate::config;
use crate::render::{Failure, Out};
use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams};
use solo_kube::Clusters;
use solo_kube::state_store::DEPLOYMENT_LABEL;

/// Run `solo deployment delete`.
pub async fn delete(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        mut config,
        target,
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
    let kept_lease = config.leases.get(&name).cloned();
    let lock = write::lock(&target, &clusters, &mut config, global, out, None).await?;
    let removed = remove_objects(&clusters, &target, out).await;
    let released = match (&kept_lease, removed.is_ok()) {
        // The kept lock ends with the deployment.
        (Some(kept), true) => {
            lock.release().await?;
            kept::release_leases(&clusters, &target, kept)
                .await
                .map(|_| ())
        }
        _ => lock.release().await,
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
        "ok: deleted deployment {name}: {count} objects from {refs}, and its leases; the network's namespace {} was left alone",
        target.known.namespace
    ));
    Ok(())
}

/// Deletes every object labelled with the deployment, the state objects last; how many.
async fn remove_objects(clusters: &Clusters, target: &Target, out: &Out) -> Result<usize, Failure> {
    let state_ns = &target.known.state_namespace;
    let state_name = solo_kube::state_object_name(&target.name);
    let apis: Vec<(String, Api<Secret>)> = target
        .known
        .cluster_refs
        .iter()
        .filter_map(|r| {
            let client = clusters.client(r).ok()?.clone();
            Some((r.clone(), Api::namespaced(client, state_ns)))
        })
        .collect();
    let selector = format!("{DEPLOYMENT_LABEL}={}", target.name);
    let failed = |cluster: &str, e: kube::Error| {
        session::store_failure(cluster, state_ns, "secrets", &solo_kube::store_error(e))
    };
    let listed = join_all(apis.iter().map(|(r, api)| async {
        let list = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| failed(r, e))?;
        Ok::<_, Failure>(
            list.items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .filter(|n| *n != state_name)
                .collect::<Vec<_>>(),
        )
    }))
    .await;
    let mut count = 0;
    let mut others = Vec::new();
    for ((r, api), names) in apis.iter().zip(listed) {
        for n in names? {
            others.push((r.clone(), api.clone(), n));
        }
    }
    let deletions = join_all(
        others
            .iter()
            .map(|(r, api, n)| async move { delete_one(api, n).await.map_err(|e| failed(r, e)) }),
    )
    .await;
    for (d, (r, _, n)) in deletions.into_iter().zip(&others) {
        if d? {
            out.detail(&format!("deleted {state_ns}/{n} in cluster {r}"));
            count += 1;
        }
    }
    let states =
        join_all(apis.iter().map(|(r, api)| async {
            delete_one(api, &state_name).await.map_err(|e| failed(r, e))
        }))
        .await;
    for (d, (r, _)) in states.into_iter().zip(&apis) {
        if d? {
            out.detail(&format!("deleted {state_ns}/{state_name} in cluster {r}"));
            count += 1;
        }
    }
    Ok(count)
}

/// Deletes one object; false when it was already gone.
async fn delete_one(api: &Api<Secret>, name: &str) -> Result<bool, kube::Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}
