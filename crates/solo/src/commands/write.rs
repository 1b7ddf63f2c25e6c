//! Writes under the lock (strict two-phase locking): the lock is taken before the state is read
//! for a change and released after the last write.
//!
//! A write runs under the lock its user already holds with `solo lease acquire` when there is
//! one (checked in every cluster and renewed for another `--for` on the spot, then kept renewed
//! while the write runs, and left held after it), and otherwise takes the lock for itself.

use super::kept;
use super::session::{self, Target};
use crate::cli::Global;
use crate::config::LocalConfig;
use crate::render::{Failure, Out, Progress};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use solo_core::lock::{CleanClaims, Epoch};
use solo_core::state::{self, MigrationStamp, StateDocument};
use solo_kube::state_store::WholeRead;
use solo_kube::{
    Base, Clusters, HistoryEntry, HistoryError, HistoryStore, LockGuard, PreparedAppend,
    StateStore, StateStoreError,
};
use std::future::Future;

enum Hold {
    /// Taken for this write, released after it.
    Taken(LockGuard),
    /// Kept by `solo lease acquire`, resumed for this write and left held after it.
    Kept(LockGuard),
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

    fn guard(&self) -> &LockGuard {
        match &self.hold {
            Hold::Taken(guard) | Hold::Kept(guard) => guard,
        }
    }

    /// Says that a state write under this lock may still land (see
    /// [`HeldLock::note_unknown_write`]): the release then leaves the Leases stamp-needed.
    ///
    /// [`HeldLock::note_unknown_write`]: solo_core::lock::HeldLock::note_unknown_write
    pub fn note_unknown_write(&self) {
        self.guard().held().note_unknown_write();
    }

    /// The versions at which the lock was taken over a clean release
    /// ([`HeldLock::taken_over`]); `None` for a kept lock, resumed rather than taken.
    ///
    /// [`HeldLock::taken_over`]: solo_core::lock::HeldLock::taken_over
    fn taken_over(&self) -> Option<&std::collections::BTreeMap<solo_core::lock::LeaseKey, String>> {
        match &self.hold {
            Hold::Taken(guard) => guard.held().taken_over(),
            Hold::Kept(_) => None,
        }
    }

    /// Resolves with the reason when the lock is lost.
    pub async fn lost(&self) -> String {
        self.guard().lost().await
    }

    /// Releases a lock taken for this write; a kept lock stays held.
    pub async fn release(self) -> Result<(), Failure> {
        match self.hold {
            Hold::Taken(guard) => session::release(guard).await,
            Hold::Kept(guard) => {
                guard.keep().await;
                Ok(())
            }
        }
    }

    /// Leaves this lock's epoch on its leases as their high-water mark, before the deployment's
    /// state is deleted (the core's [`HeldLock::mark_epoch`]): a deployment created again under
    /// the name goes on above it.
    ///
    /// [`HeldLock::mark_epoch`]: solo_core::lock::HeldLock::mark_epoch
    pub async fn mark_epoch(&self) -> Result<(), Failure> {
        self.guard()
            .held()
            .mark_epoch()
            .await
            .map_err(|e| Failure::new(format!("nothing was deleted: {e}"), "run the command again"))
    }

    /// Releases the lock, kept or not (the deployment it locks is gone).
    pub async fn release_all(self) -> Result<(), Failure> {
        match self.hold {
            Hold::Taken(guard) | Hold::Kept(guard) => session::release(guard).await,
        }
    }

    /// Like [`release`](Self::release), for a lock that may already be lost: frees what is
    /// still ours and ignores the rest.
    pub async fn release_after_loss(self) {
        match self.hold {
            Hold::Taken(guard) => {
                let _ = guard.release().await;
            }
            Hold::Kept(guard) => {
                guard.keep().await;
            }
        }
    }
}

/// How often the lock is taken again because the state named another set of leases.
const SET_RETRIES: u32 = 5;

/// The lock of `target` for a write: the user's kept lock if valid, else taken now
/// (`wait` as `--wait`). With `--verbose`, says which leases it holds.
///
/// The state read under the lock must name leases that are all held: when it names others (its
/// namespace moved or a cluster joined since `target` was read), the lock is released and taken
/// again on the set the state names, so no two holders exist across a move.
pub async fn lock(
    target: &mut Target,
    clusters: &Clusters,
    config: &mut LocalConfig,
    global: &Global,
    out: &Out,
    wait: Option<&str>,
) -> Result<WriteLock, Failure> {
    let (lock, _) = lock_and_read(target, clusters, config, global, out, wait).await?;
    Ok(lock)
}

/// [`lock`], and the read of every copy under it that checked the lock set: the read a change
/// is then built from and written against, so a locked write reads the state once under the
/// lock.
pub async fn lock_and_read(
    target: &mut Target,
    clusters: &Clusters,
    config: &mut LocalConfig,
    global: &Global,
    out: &Out,
    wait: Option<&str>,
) -> Result<(WriteLock, WholeRead), Failure> {
    let read = |target: &Target| {
        let store = StateStore::new(clusters.clone(), &target.known.state_namespace);
        let (name, refs) = (target.name.clone(), target.known.cluster_refs.clone());
        async move { store.read_whole(&name, &refs).await }
    };
    lock_and_read_with(target, clusters, config, global, out, wait, read, |r| r).await
}

/// [`lock_and_read`] with reads of the caller's own (`read`, which must read every copy of the
/// state, found by `state`). A round of the lock that claims every Lease over a clean release
/// names their versions as its claims go out (after this machine's own release, remembered;
/// after the look made early; or woken by the holder's release while waiting): the reads
/// start then, beside the claims, and are kept if the lock was taken over those versions;
/// otherwise they are made under the lock.
#[allow(clippy::too_many_arguments)]
pub async fn lock_and_read_with<T, F>(
    target: &mut Target,
    clusters: &Clusters,
    config: &mut LocalConfig,
    global: &Global,
    out: &Out,
    wait: Option<&str>,
    read: impl Fn(&Target) -> F,
    state: impl Fn(&T) -> &WholeRead,
) -> Result<(WriteLock, T), Failure>
where
    F: Future<Output = T>,
{
    for _ in 0..SET_RETRIES {
        let (announce, mut announced) = tokio::sync::mpsc::unbounded_channel();
        let on_clean_claim: CleanClaims = Box::new(move |versions| {
            let _ = announce.send(versions.clone());
        });
        let (shared, read) = (&*target, &read);
        // Ends once the lock is taken or refused (the contender, and the sender with it, is
        // gone) and every read started has answered.
        let beside = async {
            let mut reading = FuturesUnordered::new();
            let mut done = Vec::new();
            let mut open = true;
            while open || !reading.is_empty() {
                tokio::select! {
                    versions = announced.recv(), if open => match versions {
                        Some(versions) => {
                            reading.push(async move { (versions, read(shared).await) });
                        }
                        None => open = false,
                    },
                    Some(value) = reading.next(), if !reading.is_empty() => done.push(value),
                }
            }
            done
        };
        let (lock, beside) = tokio::join!(
            lock_once(shared, clusters, config, global, out, wait, on_clean_claim),
            beside
        );
        let lock = lock?;
        let value = match beside
            .into_iter()
            .find(|(versions, _)| lock.taken_over() == Some(versions))
        {
            Some((_, value)) => value,
            None => read(shared).await,
        };
        let Some(doc) = session::newest_document(state(&value)) else {
            return Ok((lock, value));
        };
        let named = session::lease_keys(&doc);
        if named.is_empty() || named.is_subset(&target.leases) {
            return Ok((lock, value));
        }
        let kept = matches!(lock.hold, Hold::Kept(_));
        let held = keys_text(&target.leases);
        lock.release().await?;
        if kept {
            return Err(Failure::new(
                format!(
                    "your kept lock of {} holds the leases in {held}, but its state now names {}; nothing was changed",
                    target.name,
                    keys_text(&named)
                ),
                format!(
                    "run `solo lease release {0}`, then `solo lease acquire {0}` takes the leases the state names",
                    target.name
                ),
            ));
        }
        out.detail(&format!(
            "the state of {} names the leases in {}, not {held}: taking the lock again",
            target.name,
            keys_text(&named)
        ));
        target.follow(&doc);
    }
    Err(Failure::new(
        format!(
            "the clusters of {} kept changing while its lock was taken; nothing was changed",
            target.name
        ),
        "run the command again",
    ))
}

/// Lease keys as `cluster/namespace, ...`.
fn keys_text(keys: &std::collections::BTreeSet<solo_core::lock::LeaseKey>) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn lock_once(
    target: &Target,
    clusters: &Clusters,
    config: &mut LocalConfig,
    global: &Global,
    out: &Out,
    wait: Option<&str>,
    on_clean_claim: CleanClaims,
) -> Result<WriteLock, Failure> {
    let wait = session::wait_policy(wait)?;
    let identity = session::lock_identity(global, config)?;
    let user = identity.user.clone();
    if let Some(kept) = config
        .leases
        .get(&target.name)
        .filter(|k| k.user() == user)
        .cloned()
    {
        let lock_config = session::lock_config()?;
        let guard = match kept::resume(clusters, target, &kept, lock_config, kept.hold()).await {
            Ok(guard) => guard,
            Err(e) => {
                // The write fails either way; a config that cannot be saved must not hide why.
                let _ = kept::forget_if_lost(config, &target.name, &e);
                return Err(kept::not_resumed(&target.name, &e, target));
            }
        };
        for key in guard.held().lock_set().keys() {
            out.detail(&format!(
                "holding lease {} in {key}, epoch {} (kept by `solo lease acquire`)",
                target.name,
                guard.epoch()
            ));
        }
        return Ok(WriteLock {
            epoch: guard.epoch(),
            user,
            hold: Hold::Kept(guard),
        });
    }
    let mut progress = Progress::new();
    let guard = session::take_lock(
        target,
        clusters,
        identity,
        wait,
        |p| progress.show(p),
        Some(on_clean_claim),
    )
    .await;
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

/// What a change does when the state moved on after the read it was built from (another
/// command under the same kept lock wrote it meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChanged {
    /// Build the change again from a fresh read (commands that compute their change).
    Rebuild,
    /// Refuse with the diff of what changed (a document the user wrote: edit, apply).
    Refuse,
}

/// How often a change is rebuilt before giving up: the state keeps moving under the same lock.
const REBUILDS: u32 = 5;

/// Where a state change applies.
pub struct Change<'a> {
    /// The deployment.
    pub deployment: &'a str,
    /// `--state-namespace`.
    pub state_namespace: Option<&'a str>,
    /// `--wait`.
    pub wait: Option<&'a str>,
    /// Rebuild or refuse a change whose read is no longer the newest.
    pub on_changed: OnChanged,
}

/// Reads the state under the lock, lets `change` decide the new document from the current
/// one (`None`: nothing to do), validates it, writes every copy, records the command in the
/// history, and releases. The state is unchanged on any error.
pub async fn change_state(
    at: Change<'_>,
    global: &Global,
    out: &Out,
    mut change: impl FnMut(&StateDocument, &str) -> Result<Decision, Failure>,
) -> Result<(), Failure> {
    let session::Opened {
        mut config,
        mut target,
        clusters,
    } = session::open_to_lock(at.deployment, at.state_namespace, global).await?;
    let started = std::time::Instant::now();
    let started_at = now();
    let mut built = None;
    let history = HistoryStore::new(clusters.clone(), &target.known.state_namespace);
    let (lock, result) = loop {
        let (lock, read) =
            lock_and_read(&mut target, &clusters, &mut config, global, out, at.wait).await?;
        let result = write_locked(
            &target,
            &clusters,
            &lock,
            read,
            &history,
            out,
            at.on_changed,
            &mut built,
            &mut change,
        )
        .await;
        match result {
            // The change moves leases (a namespace, a cluster): lock the union of the old and new
            // sets, so no holder of either exists while it is written.
            Ok(Written::NeedsLeases(more)) if matches!(lock.hold, Hold::Taken(_)) => {
                lock.release().await?;
                target.leases.extend(more);
            }
            Ok(Written::NeedsLeases(more)) => {
                lock.release().await?;
                return Err(Failure::new(
                    format!(
                        "this change of {} moves its lock to the leases in {}, which your kept lock does not hold; nothing was written",
                        target.name,
                        keys_text(&more)
                    ),
                    format!(
                        "run `solo lease release {}` and run the command again (it then takes the leases of both sets)",
                        target.name
                    ),
                ));
            }
            other => break (lock, other),
        }
    };
    let result = match result {
        Ok(Written::Done {
            serial,
            summary,
            history,
        }) => {
            let entry = HistoryEntry {
                command: invocation(),
                executed_by: lock.user().to_owned(),
                executed_at: started_at,
                result: format!("ok: {summary}"),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                authenticated_as: None,
            };
            let appended = match history {
                Ok(prepared) => prepared.append(&entry).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = appended {
                out.say(&format!(
                    "warning: the state was written but its history entry was not: {e}"
                ));
            }
            out.say(&format!("ok: {summary} (serial {serial})"));
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    let released = lock.release().await;
    result?;
    released
}

/// What one locked attempt at a change did.
enum Written<'h> {
    /// Written at this serial; the history entry's reads were made beside the write.
    Done {
        serial: u64,
        summary: String,
        history: Result<PreparedAppend<'h>, HistoryError>,
    },
    /// Nothing to change.
    Nothing,
    /// The new state names leases not held: these.
    NeedsLeases(std::collections::BTreeSet<solo_core::lock::LeaseKey>),
}

/// A change built and not yet written: the read it was built from (and its document), the new
/// document, the summary.
type Built = Option<(Base, StateDocument, StateDocument, String)>;

/// Builds the change from `read` (made under `lock`) and writes it against that same read (a
/// rebuild reads again), and makes the history entry's reads beside the write.
#[allow(clippy::too_many_arguments)]
async fn write_locked<'h>(
    target: &Target,
    clusters: &Clusters,
    lock: &WriteLock,
    read: WholeRead,
    history: &'h HistoryStore,
    out: &Out,
    on_changed: OnChanged,
    built: &mut Built,
    change: &mut impl FnMut(&StateDocument, &str) -> Result<Decision, Failure>,
) -> Result<Written<'h>, Failure> {
    let state_ns = &target.known.state_namespace;
    let name = &target.name;
    let store = StateStore::new(clusters.clone(), state_ns);
    let mut attempt = 0;
    let mut held = Some(read);
    loop {
        attempt += 1;
        let read = match held.take() {
            Some(read) => read,
            None => store.read_whole(name, &target.known.cluster_refs).await,
        };
        let (current, base) = load_newest(&read, target, lock.user())?;
        // A document the user wrote is built once: taken again only if the state did not move.
        let (next, summary) = match built.take() {
            Some((built_from, _, next, summary))
                if built_from == base || on_changed == OnChanged::Rebuild =>
            {
                if built_from == base {
                    (next, summary)
                } else {
                    match change(&current, lock.user())? {
                        Some(decided) => decided,
                        None => {
                            out.say(&format!("nothing to change in {name}"));
                            return Ok(Written::Nothing);
                        }
                    }
                }
            }
            Some((built_from, older, _, _)) => {
                return Err(changed_meanwhile(
                    &store,
                    target,
                    lock.user(),
                    &older,
                    built_from,
                    base,
                )
                .await);
            }
            None => match change(&current, lock.user())? {
                Some(decided) => decided,
                None => {
                    out.say(&format!("nothing to change in {name}"));
                    return Ok(Written::Nothing);
                }
            },
        };
        let next = finalize(name, &current, next, lock.user())?;
        let more: std::collections::BTreeSet<_> = session::lease_keys(&next)
            .difference(&target.leases)
            .cloned()
            .collect();
        if !more.is_empty() {
            *built = Some((base, current, next, summary));
            return Ok(Written::NeedsLeases(more));
        }
        // The history's reads (its fence check included) go beside the write: the copies carry
        // this lock's epoch before and after it, and nothing of the entry is written before
        // the state is.
        let (written, prepared) = tokio::join!(
            store.write_read(lock.epoch(), name, &next, &read),
            history.prepare(
                lock.epoch(),
                name,
                &target.known.cluster_refs,
                &next.cli.history
            ),
        );
        match written {
            Ok(written) => {
                if !written.rolled_forward.is_empty() {
                    out.detail(&format!(
                        "rolled forward the copies a cut-short write left behind in {}",
                        written.rolled_forward.join(", ")
                    ));
                }
                return Ok(Written::Done {
                    serial: written.serial,
                    summary,
                    history: prepared,
                });
            }
            Err(StateStoreError::Changed { .. })
                if on_changed == OnChanged::Rebuild && attempt < REBUILDS =>
            {
                out.detail(&format!(
                    "the state of {name} changed meanwhile; building the change again"
                ));
            }
            Err(StateStoreError::Changed { current: now, .. }) => {
                let newer = Base {
                    serial: now,
                    ..base
                };
                return Err(
                    changed_meanwhile(&store, target, lock.user(), &current, base, newer).await,
                );
            }
            Err(e) => {
                if may_have_landed(&e) {
                    lock.note_unknown_write();
                }
                return Err(session::state_failure(&e, state_ns));
            }
        }
    }
}

/// Whether a failed state write may still land or have landed in part (a timeout, an
/// unreachable cluster, a cut-short write), so that the next holder must fence it first.
fn may_have_landed(e: &StateStoreError) -> bool {
    match e {
        StateStoreError::Store { source, .. } => source.is_transient(),
        StateStoreError::Incomplete { .. } => true,
        _ => false,
    }
}

/// The refusal of a change built from an older read: what changed since, as a diff.
async fn changed_meanwhile(
    store: &StateStore,
    target: &Target,
    user: &str,
    older: &StateDocument,
    read: Base,
    now: Base,
) -> Failure {
    let name = &target.name;
    let e = StateStoreError::Changed {
        deployment: name.clone(),
        read: read.serial,
        current: now.serial,
    };
    let mut failure = Failure::new(
        e.to_string(),
        format!(
            "see the state now with `solo state show {name}`, then run the command again on it"
        ),
    );
    if let Ok((newer, _)) = read_locked(store, target, user).await
        && let Ok(diff) = super::state_edit::diff_text(name, older, &newer)
    {
        failure = failure.details(diff.lines().map(str::to_owned));
    }
    failure
}

/// The newest copy read under the lock, migrated and loaded, and the read it is.
async fn read_locked(
    store: &StateStore,
    target: &Target,
    user: &str,
) -> Result<(StateDocument, Base), Failure> {
    let read = store
        .read_whole(&target.name, &target.known.cluster_refs)
        .await;
    load_newest(&read, target, user)
}

/// The newest copy of `read`, migrated and loaded, and the read it is; refuses diverged or
/// unreadable copies.
fn load_newest(
    read: &WholeRead,
    target: &Target,
    user: &str,
) -> Result<(StateDocument, Base), Failure> {
    let name = &target.name;
    let (copy, _status) = read
        .newest()
        .map_err(|e| session::state_failure(&e, &target.known.state_namespace))?;
    let stamp = MigrationStamp {
        by: user.to_owned(),
        at: now(),
    };
    let loaded = copy
        .load(&stamp)
        .map_err(|e| Failure::state(&format!("the state of {name}"), &e))?;
    Ok((loaded.document().clone(), copy.base()))
}

/// The command line as typed, for the history.
pub fn invocation() -> Vec<String> {
    std::iter::once("solo".to_owned())
        .chain(std::env::args().skip(1))
        .collect()
}
