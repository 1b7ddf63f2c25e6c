//! Writes under the lock (strict two-phase locking): the lock is taken before the state is read
//! for a change and released after the last write.
//!
//! A write runs under the lock its user already holds with `solo lease acquire` when there is
//! one (checked in every cluster and renewed for another `--for` on the spot, then kept renewed
//! while the write runs, and left held after it), and otherwise takes the lock for itself.

use super::kept;
use super::session::{self, Target};
use crate::cli::Global;
use crate::config::{KeptLease, LocalConfig};
use crate::render::{Failure, Out, Progress};
use solo_core::lock::Epoch;
use solo_core::state::{self, MigrationStamp, StateDocument};
use solo_kube::{Clusters, HistoryEntry, HistoryStore, LockGuard, StateStore};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

enum Hold {
    Taken(LockGuard),
    Kept {
        renewal: JoinHandle<()>,
        lost: watch::Receiver<Option<String>>,
    },
}

/// The lock a write holds: taken for it, or kept by `solo lease acquire`.
pub struct WriteLock {
    epoch: Epoch,
    user: String,
    hold: Hold,
}

impl WriteLock {
    /// The fencing epoch every state write must carry.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Who holds it.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Resolves with the reason when the lock is lost.
    pub async fn lost(&self) -> String {
        let mut rx = match &self.hold {
            Hold::Taken(guard) => return guard.lost().await,
            Hold::Kept { lost, .. } => lost.clone(),
        };
        match rx.wait_for(|v| v.is_some()).await {
            Ok(v) => v.clone().unwrap_or_default(),
            Err(_) => "the renewal task stopped".to_owned(),
        }
    }

    /// Releases a lock taken for this write; a kept lock stays held.
    pub async fn release(self) -> Result<(), Failure> {
        match self.hold {
            Hold::Taken(guard) => session::release(guard).await,
            Hold::Kept { renewal, .. } => {
                renewal.abort();
                Ok(())
            }
        }
    }

    /// Like [`release`](Self::release), for a lock that may already be lost: frees what is
    /// still ours and ignores the rest.
    pub async fn release_after_loss(self) {
        match self.hold {
            Hold::Taken(guard) => {
                let _ = guard.release().await;
            }
            Hold::Kept { renewal, .. } => renewal.abort(),
        }
    }
}

/// The lock of `target` for a write: the user's kept lock if valid, else taken now
/// (`wait` as `--wait`). With `--verbose`, says which leases it holds.
pub async fn lock(
    target: &Target,
    clusters: &Clusters,
    config: &mut LocalConfig,
    global: &Global,
    out: &Out,
    wait: Option<&str>,
) -> Result<WriteLock, Failure> {
    let wait = session::wait_policy(wait)?;
    let identity = session::lock_identity(global, config)?;
    let user = identity.user.clone();
    if let Some(kept) = config
        .leases
        .get(&target.name)
        .filter(|k| k.user == user)
        .cloned()
    {
        let hold = Duration::from_secs(kept.lease_seconds);
        let until = kept::extend(clusters, target, &kept, hold).await?;
        let mut renewed = kept.clone();
        renewed.expires_at = until;
        config.leases.insert(target.name.clone(), renewed);
        // The record's expiry is informative; failing to note it must not fail the write.
        let _ = config.save();
        for key in target.lock_set()?.keys() {
            out.detail(&format!(
                "holding lease {} in {key}, epoch {} (kept by `solo lease acquire`, until {})",
                target.name,
                kept.epoch,
                until.round(jiff::Unit::Second).unwrap_or(until)
            ));
        }
        let (tx, lost) = watch::channel(None);
        let renewal = tokio::spawn(keep_renewed(
            clusters.clone(),
            target.clone(),
            kept.clone(),
            tx,
        ));
        return Ok(WriteLock {
            epoch: Epoch(kept.epoch),
            user,
            hold: Hold::Kept { renewal, lost },
        });
    }
    let mut progress = Progress::new();
    let guard = session::take_lock(target, clusters, identity, wait, |p| progress.show(p)).await;
    progress.done();
    let guard = guard?;
    for key in guard.held().lock_set().keys() {
        out.detail(&format!(
            "holding lease {} in {key}, epoch {}",
            target.name,
            guard.epoch()
        ));
    }
    Ok(WriteLock {
        epoch: guard.epoch(),
        user,
        hold: Hold::Taken(guard),
    })
}

/// Renews a kept lock every third of its duration while a write runs under it.
async fn keep_renewed(
    clusters: Clusters,
    target: Target,
    kept: KeptLease,
    lost: watch::Sender<Option<String>>,
) {
    let hold = Duration::from_secs(kept.lease_seconds);
    loop {
        tokio::time::sleep(hold / 3).await;
        if let Err(e) = kept::extend(&clusters, &target, &kept, hold).await {
            let _ = lost.send(Some(e.message));
            return;
        }
    }
}

/// The current time to the second.
pub fn now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// `next` made ready to replace `current`: solo's own fields (name, last writer, history
/// listing) set, then validated; every problem with its path, or the document.
pub fn finalize(
    name: &str,
    current: &StateDocument,
    mut next: StateDocument,
    user: &str,
) -> Result<StateDocument, Failure> {
    if next.metadata.name != current.metadata.name {
        return Err(Failure::new(
            format!(
                "the document is for deployment {:?}, not {name}; nothing was written",
                next.metadata.name
            ),
            format!("keep metadata.name: {name} (a deployment's name never changes)"),
        ));
    }
    next.cli = current.cli.clone();
    next.metadata.migration = current.metadata.migration.clone();
    next.metadata.last_updated_by = user.to_owned();
    next.metadata.last_updated_at = now();
    if let Err(problems) = state::validate(&next) {
        let n = problems.len();
        return Err(Failure::new(
            format!(
                "the new state of {name} is not valid ({n} problem{}); nothing was written",
                if n == 1 { "" } else { "s" }
            ),
            "fix every problem listed (each names the field at fault), then run the command again",
        )
        .details(problems.iter().map(ToString::to_string)));
    }
    Ok(next)
}

/// What a change decided: the new document and the sentence that says what it did.
pub type Decision = Option<(StateDocument, String)>;

/// Where a state change applies.
pub struct Change<'a> {
    /// The deployment.
    pub deployment: &'a str,
    /// `--state-namespace`.
    pub state_namespace: Option<&'a str>,
    /// `--wait`.
    pub wait: Option<&'a str>,
}

/// Reads the state under the lock, lets `change` decide the new document from the current
/// one (`None`: nothing to do), validates it, writes every copy, records the command in the
/// history, and releases. The state is unchanged on any error.
pub async fn change_state(
    at: Change<'_>,
    global: &Global,
    out: &Out,
    change: impl FnOnce(&StateDocument, &str) -> Result<Decision, Failure>,
) -> Result<(), Failure> {
    let session::Opened {
        mut config,
        target,
        clusters,
    } = session::open(at.deployment, at.state_namespace, global).await?;
    let lock = lock(&target, &clusters, &mut config, global, out, at.wait).await?;
    let started = std::time::Instant::now();
    let started_at = now();
    let result = write_locked(&target, &clusters, &lock, out, change).await;
    let result = match result {
        Ok(Some((serial, summary))) => {
            let entry = HistoryEntry {
                command: invocation(),
                executed_by: lock.user().to_owned(),
                executed_at: started_at,
                result: format!("ok: {summary}"),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                authenticated_as: None,
            };
            let history = HistoryStore::new(clusters.clone(), &target.known.state_namespace);
            if let Err(e) = history
                .append(
                    lock.epoch(),
                    &target.name,
                    &target.known.cluster_refs,
                    &entry,
                )
                .await
            {
                out.say(&format!(
                    "warning: the state was written but its history entry was not: {e}"
                ));
            }
            out.say(&format!("ok: {summary} (serial {serial})"));
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    let released = lock.release().await;
    result?;
    released
}

async fn write_locked(
    target: &Target,
    clusters: &Clusters,
    lock: &WriteLock,
    out: &Out,
    change: impl FnOnce(&StateDocument, &str) -> Result<Decision, Failure>,
) -> Result<Option<(u64, String)>, Failure> {
    let state_ns = &target.known.state_namespace;
    let name = &target.name;
    let store = StateStore::new(clusters.clone(), state_ns);
    let (copy, _status) = store
        .read(name, &target.known.cluster_refs)
        .await
        .map_err(|e| session::state_failure(&e, state_ns))?;
    let stamp = MigrationStamp {
        by: lock.user().to_owned(),
        at: now(),
    };
    let loaded = copy
        .load(&stamp)
        .map_err(|e| Failure::state(&format!("the state of {name}"), &e))?;
    let current = loaded.document().clone();
    let Some((next, summary)) = change(&current, lock.user())? else {
        out.say(&format!("nothing to change in {name}"));
        return Ok(None);
    };
    let next = finalize(name, &current, next, lock.user())?;
    let written = store
        .write(lock.epoch(), name, &next)
        .await
        .map_err(|e| session::state_failure(&e, state_ns))?;
    if !written.rolled_forward.is_empty() {
        out.detail(&format!(
            "rolled forward the copies a cut-short write left behind in {}",
            written.rolled_forward.join(", ")
        ));
    }
    Ok(Some((written.serial, summary)))
}

/// The command line as typed, for the history.
pub fn invocation() -> Vec<String> {
    std::iter::once("solo".to_owned())
        .chain(std::env::args().skip(1))
        .collect()
}
