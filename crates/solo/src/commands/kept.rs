//! Locks kept beyond one command: `solo lease acquire|renew|release`.
//!
//! `acquire` runs the lock protocol as any write does; claims made while waiting stay short, and
//! only the lock once held keeps its leases as long as the user asks (`--for`). It exits
//! without releasing them and records the core's [`KeptLock`] (the leases, the holder record
//! whose request id proves they are this user's, the fencing epoch) in the local config.
//! Every later use (`renew`, `release`, a write under it, `deployment delete`) takes it up
//! through the core ([`solo_kube::guard::resume`]): one renewal and one release path, and a
//! lease that is no longer ours ends the lock and frees the others.

use super::session::{self, Target};
use crate::cli::{AcquireArgs, DeploymentArgs, Global, RenewArgs};
use crate::config::{KeptLease, LocalConfig};
use crate::render::{Failure, Out};
use solo_core::lock::{Clock, Contender, KeptLock, LockConfig, LockError, human_duration};
use solo_kube::{Clusters, KubeLeaseStore, LockGuard};
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
        match resume(&clusters, &target, &kept, session::lock_config()?, hold).await {
            Ok(guard) => {
                let until = keep(&mut config, &name, guard, &target, &clusters, hold).await?;
                out.say(&format!(
                    "you already hold the lock of {name}; renewed, it is held until {}",
                    clock_text(until)
                ));
                return Ok(());
            }
            // Gone, and the core freed whatever was still ours: take it anew.
            Err(LockError::Lost { .. }) => {
                config.leases.remove(&name);
            }
            Err(e) => return Err(not_resumed(&name, &e, &target)),
        }
    }
    let lock_set = target.lock_set()?;
    let clock = session::server_clock(&target, &clusters).await;
    let fence = session::state_fence(&target, &clusters, &target.known.cluster_refs);
    let request_id = uuid::Uuid::new_v4().to_string();
    let store = KubeLeaseStore::new(clusters.clone()).recording_authenticated(&request_id);
    let mut contender = Contender::with_request_id(
        lock_set,
        identity,
        request_id,
        session::lock_config()?.holding_for(hold),
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
    let expires_at = clock.wall_now() + hold;
    let kept = KeptLease {
        lock: held.kept(),
        lease_seconds: hold.as_secs(),
        expires_at,
    };
    config.leases.insert(name.clone(), kept);
    if let Err(e) = config.save() {
        // Without the record nobody could use or release it: give it back.
        let _ = held.release().await;
        return Err(e);
    }
    for key in held.lock_set().keys() {
        out.detail(&format!("holding lease {name} in {key}"));
    }
    // The leases stay held: the HeldLock is dropped without a release.
    drop(held);
    out.say(&format!(
        "ok: you hold the lock of {name} until {} ({}); `solo lease release {name}` frees it",
        clock_text(expires_at),
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
        None => kept.hold(),
    };
    match resume(&clusters, &target, &kept, session::lock_config()?, hold).await {
        Ok(guard) => {
            let until = keep(&mut config, &name, guard, &target, &clusters, hold).await?;
            out.say(&format!(
                "ok: you hold the lock of {name} until {}",
                clock_text(until)
            ));
            Ok(())
        }
        Err(e) => {
            forget_if_lost(&mut config, &name, &e)?;
            Err(not_resumed(&name, &e, &target))
        }
    }
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
    let released = match resume(
        &clusters,
        &target,
        &kept,
        session::lock_config()?,
        kept.hold(),
    )
    .await
    {
        Ok(guard) => guard.release().await,
        Err(e) => Err(e),
    };
    match released {
        Ok(()) => {}
        // Already gone: the core freed what was still ours.
        Err(LockError::Lost { key, reason }) => {
            out.say(&format!(
                "warning: the lease in {key} was no longer yours: {reason}"
            ));
        }
        Err(e) => return Err(not_resumed(&name, &e, &target)),
    }
    config.leases.remove(&name);
    config.save()?;
    out.say(&format!("ok: released the lock of {name}"));
    Ok(())
}

/// Takes up `kept` in this process through the core, renewed for `hold` (every lease must still
/// be ours), and kept renewed until the guard is kept or released.
pub async fn resume(
    clusters: &Clusters,
    target: &Target,
    kept: &KeptLease,
    config: LockConfig,
    hold: Duration,
) -> Result<LockGuard, LockError> {
    let clock = session::server_clock(target, clusters).await;
    solo_kube::guard::resume(
        kept_lock(kept, target),
        config.holding_for(hold),
        KubeLeaseStore::new(clusters.clone()),
        clock,
    )
    .await
}

/// The core's record of `kept`; a record from a version before the core kept it names no
/// leases: those of the deployment then.
fn kept_lock(kept: &KeptLease, target: &Target) -> KeptLock {
    let mut lock = kept.lock.clone();
    if lock.keys.is_empty() {
        lock.deployment = target.name.clone();
        lock.keys = target.leases.iter().cloned().collect();
    }
    lock
}

/// Leaves the lock of `guard` held and records it (renewed just now for `hold`); until when.
async fn keep(
    config: &mut LocalConfig,
    name: &str,
    guard: LockGuard,
    target: &Target,
    clusters: &Clusters,
    hold: Duration,
) -> Result<jiff::Timestamp, Failure> {
    let until = session::server_clock(target, clusters).await.wall_now() + hold;
    let lock = guard.keep().await;
    config.leases.insert(
        name.to_owned(),
        KeptLease {
            lock,
            lease_seconds: hold.as_secs(),
            expires_at: until,
        },
    );
    config.save()?;
    Ok(until)
}

/// Forgets the kept lock of `name` when `e` says it is gone (the core freed whatever was still
/// ours); any other failure keeps the record, so the lock can be retried or released.
pub fn forget_if_lost(config: &mut LocalConfig, name: &str, e: &LockError) -> Result<(), Failure> {
    if matches!(e, LockError::Lost { .. }) {
        config.leases.remove(name);
        config.save()?;
    }
    Ok(())
}

/// Why a kept lock could not be taken up, for people.
pub fn not_resumed(name: &str, e: &LockError, target: &Target) -> Failure {
    match e {
        LockError::Lost { key, reason } => Failure::new(
            format!("your lock of {name} is gone (the lease in {key}): {reason}"),
            format!(
                "take it again with `solo lease acquire {name}`; `solo lease status {name}` shows who holds it"
            ),
        ),
        LockError::Release { .. } => Failure::new(
            format!("your lock of {name} is gone, and not every lease could be freed: {e}"),
            format!(
                "retry `solo lease release {name}` once the cluster answers; the leases also expire on their own"
            ),
        ),
        LockError::Store { key, source } => {
            let cause = session::store_failure(&key.cluster, &key.namespace, "leases", source);
            Failure::new(
                format!(
                    "{}; your lock of {name} stays recorded as yours",
                    cause.message
                ),
                format!("retry once the cluster answers, or `solo lease release {name}`"),
            )
        }
        other => session::lock_failure(other, &target.known.state_namespace),
    }
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

fn clock_text(t: jiff::Timestamp) -> jiff::Timestamp {
    t.round(jiff::Unit::Second).unwrap_or(t)
}
