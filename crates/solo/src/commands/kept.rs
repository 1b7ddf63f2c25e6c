//! Locks kept beyond one command: `solo lease acquire|renew|release`.
//!
//! `acquire` runs the lock protocol as any write does, but with leases as long as the user asks
//! (`--for`), and exits without releasing them. The request id written in every lease's holder
//! and the fencing epoch are recorded in the local config: they prove the lock is this user's.
//! `renew` and `release` compare-and-swap each lease only while that request id holds it, so a
//! lease that expired and was taken by someone else is never touched. While a kept lock is
//! valid, this user's writes run under it (see `write.rs`) instead of queueing behind it.

use super::session::{self, Target};
use crate::cli::{AcquireArgs, DeploymentArgs, Global, RenewArgs};
use crate::config::{KeptLease, LocalConfig};
use crate::render::{Failure, Out};
use futures::future::join_all;
use jiff::Timestamp;
use solo_core::lock::{
    Clock, Contender, HolderField, LeaseKey, LeaseRecord, LeaseStore, LockConfig, StoreError,
    Versioned, human_duration,
};
use solo_kube::{Clusters, KubeLeaseStore};
use std::sync::Arc;
use std::time::Duration;

/// The shortest and longest `--for`.
const MIN_HOLD: Duration = Duration::from_secs(60);
const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);

/// Reads a `--for` duration (whole seconds, 1m to 24h).
pub fn hold_duration(text: &str) -> Result<Duration, Failure> {
    let parsed: Option<Duration> = text
        .parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|d| Duration::try_from(d).ok());
    match parsed {
        Some(d) if (MIN_HOLD..=MAX_HOLD).contains(&d) => Ok(Duration::from_secs(d.as_secs())),
        _ => Err(Failure::new(
            format!("--for {text} is not a duration between 1m and 24h"),
            "write it like --for 30m or --for 2h",
        )
        .code(2)),
    }
}

/// `solo lease acquire`
pub async fn acquire(args: &AcquireArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let hold = hold_duration(&args.hold_for)?;
    let wait = session::wait_policy(args.wait.as_deref())?;
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
    let identity = session::lock_identity(global, &mut config)?;
    let name = target.name.clone();
    if let Some(kept) = config.leases.get(&name).cloned() {
        match check(&clusters, &target, &kept).await {
            Ok(until) => {
                out.say(&format!(
                    "you already hold the lock of {name} until {}; `solo lease renew {name}` extends it",
                    until.round(jiff::Unit::Second).unwrap_or(until)
                ));
                return Ok(());
            }
            Err(_) => {
                config.leases.remove(&name);
            }
        }
    }
    let lock_set = target.lock_set()?;
    let clock = session::server_clock(&target, &clusters).await;
    let fence = session::state_fence(&target, &clusters, &target.known.cluster_refs);
    // Claims while waiting are as short as any command's, so a waiter that dies blocks nobody
    // for long; only the lock once held is extended to `--for`.
    let lock_config = LockConfig::default();
    let request_id = uuid::Uuid::new_v4().to_string();
    let user = identity.user.clone();
    let store = KubeLeaseStore::new(clusters.clone()).recording_authenticated(&request_id);
    let mut contender = Contender::with_request_id(
        lock_set,
        identity,
        request_id.clone(),
        lock_config,
        Arc::new(store),
        Arc::new(clock),
        Arc::new(fence),
    )
    .map_err(|e| session::lock_failure(&e, &target.known.state_namespace))?;
    let mut progress = crate::render::Progress::new();
    let outcome = tokio::select! {
        r = contender.acquire(wait, |p| progress.show(p)) => Some(r),
        _ = solo_kube::guard::interrupted() => None,
    };
    progress.done();
    let held = match outcome {
        Some(r) => r.map_err(|e| session::lock_failure(&e, &target.known.state_namespace))?,
        None => {
            let _ = contender.abandon().await;
            return Err(
                Failure::bare("interrupted while waiting for the lock; nothing is held").code(130),
            );
        }
    };
    let kept = KeptLease {
        request_id,
        user,
        epoch: held.epoch().0,
        lease_seconds: hold.as_secs(),
        expires_at: clock.wall_now() + hold,
    };
    let expires_at = match extend(&clusters, &target, &kept, hold).await {
        Ok(until) => until,
        Err(e) => {
            let _ = held.release().await;
            return Err(e.into());
        }
    };
    config
        .leases
        .insert(name.clone(), KeptLease { expires_at, ..kept });
    // The leases stay held: the HeldLock is dropped without a release.
    drop(held);
    if let Err(e) = config.save() {
        // Without the record nobody could use or release it: give it back.
        let kept = config.leases.remove(&name);
        if let Some(kept) = kept {
            let _ = release_leases(&clusters, &target, &kept).await;
        }
        return Err(e);
    }
    for key in target.lock_set()?.keys() {
        out.detail(&format!("holding lease {name} in {key}"));
    }
    out.say(&format!(
        "ok: you hold the lock of {name} until {} ({}); `solo lease release {name}` frees it",
        expires_at.round(jiff::Unit::Second).unwrap_or(expires_at),
        human_duration(hold)
    ));
    Ok(())
}

/// `solo lease renew`
pub async fn renew(args: &RenewArgs, global: &Global, out: &Out) -> Result<(), Failure> {
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
    let name = target.name.clone();
    let kept = mine(&config, &name)?;
    let hold = match &args.hold_for {
        Some(text) => hold_duration(text)?,
        None => Duration::from_secs(kept.lease_seconds),
    };
    let until = match extend(&clusters, &target, &kept, hold).await {
        Ok(until) => until,
        // Gone in one cluster: free what is still ours elsewhere, then forget it, so no lease
        // stays held for the whole `--for` without its holder knowing.
        Err(NotExtended::Gone(e)) => {
            let _ = release_leases(&clusters, &target, &kept).await;
            config.leases.remove(&name);
            config.save()?;
            return Err(e);
        }
        // A cluster failed: the leases may still be ours, so the record stays.
        Err(NotExtended::Failed(e)) => {
            return Err(Failure::new(
                format!(
                    "the lock of {name} was not renewed everywhere: {}; it stays recorded as yours",
                    e.message
                ),
                format!(
                    "retry `solo lease renew {name}`, or free what is held with `solo lease release {name}`"
                ),
            ));
        }
    };
    let mut kept = kept;
    kept.lease_seconds = hold.as_secs();
    kept.expires_at = until;
    config.leases.insert(name.clone(), kept);
    config.save()?;
    out.say(&format!(
        "ok: you hold the lock of {name} until {}",
        until.round(jiff::Unit::Second).unwrap_or(until)
    ));
    Ok(())
}

/// `solo lease release`
pub async fn release(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        mut config,
        target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let name = target.name.clone();
    let kept = mine(&config, &name)?;
    let notes = release_leases(&clusters, &target, &kept).await?;
    config.leases.remove(&name);
    config.save()?;
    for note in &notes {
        out.say(&format!("warning: {note}"));
    }
    out.say(&format!("ok: released the lock of {name}"));
    Ok(())
}

fn mine(config: &LocalConfig, name: &str) -> Result<KeptLease, Failure> {
    config.leases.get(name).cloned().ok_or_else(|| {
        Failure::new(
            format!("you hold no lock of {name} taken with `solo lease acquire` (per your local config)"),
            format!(
                "`solo lease status {name}` shows who holds it; take it with `solo lease acquire {name} --for 30m`"
            ),
        )
    })
}

fn lost(name: &str, key: &LeaseKey, why: &str) -> Failure {
    Failure::new(
        format!("your lock of {name} is gone: the lease in {key} {why}"),
        format!(
            "take it again with `solo lease acquire {name}`; `solo lease status {name}` shows who holds it"
        ),
    )
}

fn who(record: &LeaseRecord) -> String {
    match &record.holder {
        Some(HolderField::Known(h)) => format!("is held by {} ({}, pid {})", h.user, h.host, h.pid),
        Some(holder @ HolderField::Opaque(_)) => format!("is held by {}", holder.describe()),
        None => "is free (it expired or was released or broken)".to_owned(),
    }
}

async fn read_mine(
    store: &KubeLeaseStore,
    target: &Target,
    key: &LeaseKey,
    kept: &KeptLease,
) -> Result<Versioned<LeaseRecord>, Failure> {
    match store.get(key, target.lease_name(key)).await {
        Ok(Some(lease)) if lease.value.held_by(&kept.request_id) => Ok(lease),
        Ok(Some(lease)) => Err(lost(&target.name, key, &who(&lease.value))),
        Ok(None) => Err(lost(&target.name, key, "was deleted")),
        Err(e) => Err(session::store_failure(
            &key.cluster,
            &key.namespace,
            "leases",
            &e,
        )),
    }
}

/// When the lease expires as written (renew or acquire time plus duration).
fn expiry(record: &LeaseRecord) -> Option<Timestamp> {
    let from = record.renew_time.or(record.acquire_time)?;
    let d = jiff::SignedDuration::try_from(record.lease_duration).ok()?;
    from.checked_add(d).ok()
}

/// Whether every lease is still held by `kept`'s request and unexpired: until when.
pub async fn check(
    clusters: &Clusters,
    target: &Target,
    kept: &KeptLease,
) -> Result<Timestamp, Failure> {
    let store = KubeLeaseStore::new(clusters.clone());
    let clock = session::server_clock(target, clusters).await;
    let now = clock.wall_now();
    let keys = target.lock_set()?.keys().to_vec();
    let reads = join_all(keys.iter().map(|k| read_mine(&store, target, k, kept))).await;
    let mut until: Option<Timestamp> = None;
    for (key, read) in keys.iter().zip(reads) {
        let lease = read?;
        let t = expiry(&lease.value).unwrap_or(now);
        if t <= now {
            return Err(lost(&target.name, key, "expired"));
        }
        until = Some(until.map_or(t, |u| u.min(t)));
    }
    until.ok_or_else(|| Failure::bare(format!("deployment {} has no leases", target.name)))
}

/// Why a kept lock was not extended.
pub enum NotExtended {
    /// A lease is someone else's, was deleted or expired: the lock is gone.
    Gone(Failure),
    /// A cluster failed or refused: the leases may still be ours.
    Failed(Failure),
}

impl From<NotExtended> for Failure {
    fn from(e: NotExtended) -> Failure {
        match e {
            NotExtended::Gone(f) | NotExtended::Failed(f) => f,
        }
    }
}

/// Renews every lease of `kept` to last `hold` from now; until when it is held.
pub async fn extend(
    clusters: &Clusters,
    target: &Target,
    kept: &KeptLease,
    hold: Duration,
) -> Result<Timestamp, NotExtended> {
    let store = &KubeLeaseStore::new(clusters.clone());
    let clock = &session::server_clock(target, clusters).await;
    let keys = target
        .lock_set()
        .map_err(NotExtended::Failed)?
        .keys()
        .to_vec();
    let renewals = join_all(keys.iter().map(|key| async move {
        for _ in 0..5 {
            let lease = match store.get(key, target.lease_name(key)).await {
                Ok(Some(lease)) if lease.value.held_by(&kept.request_id) => lease,
                Ok(Some(lease)) => {
                    return Err(NotExtended::Gone(lost(
                        &target.name,
                        key,
                        &who(&lease.value),
                    )));
                }
                Ok(None) => return Err(NotExtended::Gone(lost(&target.name, key, "was deleted"))),
                Err(e) => return Err(NotExtended::Failed(lease_failure(key, &e))),
            };
            let now = clock.wall_now();
            if expiry(&lease.value).is_some_and(|t| t <= now) {
                return Err(NotExtended::Gone(lost(&target.name, key, "expired")));
            }
            let mut next = lease.value.clone();
            next.renew_time = Some(now);
            next.lease_duration = hold;
            match store
                .replace(key, target.lease_name(key), next, &lease.resource_version)
                .await
            {
                Ok(_) => return Ok(now + hold),
                // A waiter's heartbeat changed the lease: read it again.
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => {
                    return Err(NotExtended::Gone(lost(&target.name, key, "was deleted")));
                }
                Err(e) => return Err(NotExtended::Failed(lease_failure(key, &e))),
            }
        }
        Err(NotExtended::Failed(Failure::new(
            format!("the lease in {key} kept changing while it was renewed"),
            "retry",
        )))
    }))
    .await;
    let mut until = None;
    let mut failed = None;
    for r in renewals {
        match r {
            Ok(t) => until = Some(until.map_or(t, |u: Timestamp| u.min(t))),
            // A lease lost outweighs a cluster that failed: the lock is gone either way.
            Err(e @ NotExtended::Gone(_)) => return Err(e),
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    until.ok_or_else(|| {
        NotExtended::Failed(Failure::bare(format!(
            "deployment {} has no leases",
            target.name
        )))
    })
}

fn lease_failure(key: &LeaseKey, e: &StoreError) -> Failure {
    session::store_failure(&key.cluster, &key.namespace, "leases", e)
}

/// Frees every lease `kept` still holds (deleted, or cleared when others wait); notes on those
/// that are no longer ours.
pub async fn release_leases(
    clusters: &Clusters,
    target: &Target,
    kept: &KeptLease,
) -> Result<Vec<String>, Failure> {
    let store = &KubeLeaseStore::new(clusters.clone());
    let keys = target.lock_set()?.keys().to_vec();
    let results = join_all(keys.iter().map(|key| async move {
        for _ in 0..5 {
            let lease = match store.get(key, target.lease_name(key)).await {
                Ok(Some(lease)) => lease,
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(session::store_failure(
                        &key.cluster,
                        &key.namespace,
                        "leases",
                        &e,
                    ));
                }
            };
            if !lease.value.held_by(&kept.request_id) {
                return Ok(Some(format!(
                    "the lease in {key} was no longer yours: it {}",
                    who(&lease.value)
                )));
            }
            let done = if lease.value.waiters.is_empty() {
                store
                    .delete(key, target.lease_name(key), &lease.resource_version)
                    .await
            } else {
                let mut next = lease.value.clone();
                next.holder = None;
                next.acquire_time = None;
                next.renew_time = None;
                store
                    .replace(key, target.lease_name(key), next, &lease.resource_version)
                    .await
                    .map(|_| ())
            };
            match done {
                Ok(()) | Err(StoreError::NotFound) => return Ok(None),
                Err(StoreError::Conflict) => continue,
                Err(e) => {
                    return Err(session::store_failure(
                        &key.cluster,
                        &key.namespace,
                        "leases",
                        &e,
                    ));
                }
            }
        }
        Err(Failure::new(
            format!("the lease in {key} kept changing while it was released"),
            "retry `solo lease release`",
        ))
    }))
    .await;
    let mut notes = Vec::new();
    for r in results {
        if let Some(note) = r? {
            notes.push(note);
        }
    }
    Ok(notes)
}
