//! The command history of a deployment (R10): who ran what, when, with what result.
//!
//! Entries live in archive Secrets named `<deployment>-history-NN` (`01`, ..., `99`, `100`, ...) in the state
//! namespace of *every* cluster of the deployment, each holding at most [`ENTRIES_PER_ARCHIVE`]
//! entries as a JSON array under [`HISTORY_KEY`], labelled with the deployment, the team (copied
//! from the state object) and [`HISTORY_LABEL`]. The state lists them in `cli.history`, newest
//! first, so the state stays small whatever the history length. An entry's command is cut to
//! [`MAX_COMMAND_BYTES`], so a full archive stays under 512 KiB, far from the 1 MiB object limit.
//!
//! [`HistoryStore::append`] runs under the lock. Its order makes sure an entry is never lost:
//! 1. check that no copy of the state carries a newer fencing epoch than the lock's (a stale
//!    holder is refused before anything is written);
//! 2. write the entry into the newest archive of every cluster (replace with the resourceVersion
//!    read, or create the next archive when the newest holds 99 entries); each archive carries the
//!    writer's epoch, and one stamped by a newer epoch is never overwritten;
//! 3. only then, when an archive is not yet listed, write the state's `cli.history` through
//!    [`StateStore::write`] (fenced by the same epoch).
//!
//! Every read the steps need (the state's copies for step 1, the newest archive the caller saw
//! listed and the one after it, who the clusters authenticate) is made at once, in
//! [`HistoryStore::prepare`], before anything is written: across regions, one round trip, which
//! a locked write runs beside its own state write. Only an archive after those (a listing
//! behind by more than one) costs more reads.
//!
//! If step 3 fails, the entry is already stored: readers ([`HistoryStore::read_all`]) list
//! archives by label *and* by `cli.history`, so an archive not yet listed is still read, and the
//! next append lists it. Within one archive, the clusters' copies may differ after a cut-short
//! write; the longest copy is the one extended (and rolled forward everywhere).

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use solo_core::lock::fencing::{FenceRefusal, admits};
use solo_core::lock::{Epoch, StoreError};
use solo_core::state::{MigrationStamp, StateDocument};

use crate::clusters::Clusters;
use crate::identity::Authenticated;
use crate::lease_store::MANAGED_BY_LABEL;
use crate::retry::IntoStore as _;
use crate::state_store::{
    CopyError, DEPLOYMENT_LABEL, StateStore, StateStoreError, TEAM_LABEL, WholeRead,
};

/// The most entries one archive holds.
pub const ENTRIES_PER_ARCHIVE: usize = 99;
/// The most archives a deployment has (`01` to `9999`): about a million entries, while the
/// state's `cli.history` listing of them stays under 200 KiB.
pub const MAX_ARCHIVES: u32 = 9999;
/// Data key of the entries (a JSON array).
pub const HISTORY_KEY: &str = "history.json";
/// Label marking a history archive.
pub const HISTORY_LABEL: &str = "solo.hiero.org/history";
/// The most bytes of one entry's command kept: 99 entries stay far below the 1 MiB object limit.
pub const MAX_COMMAND_BYTES: usize = 4 * 1024;
/// Archives read per request when the history is read (at most 25 MiB per page).
pub const LIST_PAGE: u32 = 50;
/// Annotation: the fencing epoch of the last writer of an archive.
pub const HISTORY_EPOCH_ANNOTATION: &str = "solo.hiero.org/history-epoch";

/// One command run under the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Who ran it (the lock holder's user).
    pub executed_by: String,
    /// When it started.
    pub executed_at: Timestamp,
    /// `exit 0`, `exit 7`, `signal 9`, `lock lost`, ...
    pub result: String,
    /// How long it ran.
    pub duration_ms: u64,
    /// The Kubernetes user the API servers authenticated (a SelfSubjectReview), filled in by
    /// [`HistoryStore::append`] whatever the caller passes: the declared email is the user's
    /// word, this is the clusters'. `cluster=name` pairs when clusters disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated_as: Option<String>,
}

impl HistoryEntry {
    /// The entry with its command cut to [`MAX_COMMAND_BYTES`] (the arguments that fit, then a
    /// marker saying how many bytes were left out), so an archive never nears the object limit.
    pub fn bounded(mut self) -> Self {
        let total: usize = self.command.iter().map(String::len).sum();
        if total <= MAX_COMMAND_BYTES {
            return self;
        }
        let mut kept = Vec::new();
        let mut used = 0;
        for arg in &self.command {
            let room = MAX_COMMAND_BYTES - used;
            if arg.len() <= room {
                kept.push(arg.clone());
                used += arg.len();
            } else {
                let mut cut = room;
                while !arg.is_char_boundary(cut) {
                    cut -= 1;
                }
                kept.push(arg[..cut].to_owned());
                used += cut;
                break;
            }
        }
        kept.push(format!("[{} more bytes not recorded]", total - used));
        self.command = kept;
        self
    }
}

/// The name of archive `n` (1-based) of a deployment.
pub fn archive_name(deployment: &str, n: u32) -> String {
    format!("{deployment}-history-{n:02}")
}

/// The number of an archive name of this deployment, if it is one.
pub fn archive_number(deployment: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(deployment)?.strip_prefix("-history-")?;
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse()
        .ok()
        .filter(|n| (1..=MAX_ARCHIVES).contains(n) && archive_name(deployment, *n) == name)
}

/// Why the history cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The state (the fence, or the `cli.history` listing) refused.
    #[error("{0}")]
    State(#[from] StateStoreError),
    /// An archive carries a newer epoch than the lock's.
    #[error(
        "cluster {cluster}: history archive {name} was written at fencing epoch {current}, newer than this lock's epoch {ours}; the lock was lost: nothing was written there"
    )]
    LockLost {
        cluster: String,
        name: String,
        ours: Epoch,
        current: Epoch,
    },
    /// An archive changed between the read and the write.
    #[error(
        "cluster {cluster}: history archive {name} changed during the write (a write without the lock?); retry"
    )]
    Conflict { cluster: String, name: String },
    /// An archive's content cannot be read.
    #[error("cluster {cluster}: history archive {name} is unreadable: {reason}")]
    Corrupt {
        cluster: String,
        name: String,
        reason: String,
    },
    /// Every archive is full.
    #[error(
        "the history of deployment {deployment} is full ({MAX_ARCHIVES} archives of {ENTRIES_PER_ARCHIVE} entries); remove old archives"
    )]
    Full { deployment: String },
    /// The cluster refused or could not be reached.
    #[error("cluster {cluster}: {source}")]
    Store { cluster: String, source: StoreError },
    /// No cluster could be read.
    #[error("no cluster of deployment {deployment} could be read: {reasons}")]
    Unreachable { deployment: String, reasons: String },
}

/// What [`HistoryStore::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The archive the entry went into.
    pub archive: String,
    /// The entry's position in it (1-based).
    pub position: usize,
    /// Whether the state's `cli.history` was written (a new archive listed).
    pub listed: bool,
}

/// The history of a deployment, read from one cluster.
#[derive(Debug, Clone)]
pub struct History {
    /// The cluster it was read from.
    pub cluster: String,
    /// The archives read, oldest first.
    pub archives: Vec<String>,
    /// Every entry, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// One cluster's archive as read.
struct RawArchive {
    cluster: String,
    secret: Option<Secret>,
    entries: Vec<HistoryEntry>,
}

/// The history archives of deployments, beside their states.
#[derive(Clone)]
pub struct HistoryStore {
    clusters: Clusters,
    states: StateStore,
    namespace: String,
    users: Authenticated,
}

impl HistoryStore {
    /// A history store over these clusters, in the state namespace.
    pub fn new(clusters: Clusters, state_namespace: impl Into<String>) -> Self {
        let namespace = state_namespace.into();
        HistoryStore {
            states: StateStore::new(clusters.clone(), namespace.clone()),
            users: Authenticated::new(clusters.clone()),
            clusters,
            namespace,
        }
    }

    fn api(&self, cluster: &str) -> Result<Api<Secret>, HistoryError> {
        let client = self
            .clusters
            .client(cluster)
            .map_err(|e| HistoryError::Store {
                cluster: cluster.to_owned(),
                source: StoreError::Other {
                    message: e.to_string(),
                },
            })?;
        Ok(Api::namespaced(client.clone(), &self.namespace))
    }

    fn store_err(cluster: &str, e: StoreError) -> HistoryError {
        HistoryError::Store {
            cluster: cluster.to_owned(),
            source: e,
        }
    }

    /// Archive names in one cluster, by label.
    async fn list_labelled(
        &self,
        deployment: &str,
        cluster: &str,
    ) -> Result<Vec<String>, HistoryError> {
        let api = self.api(cluster)?;
        let params = ListParams::default().labels(&format!(
            "{DEPLOYMENT_LABEL}={deployment},{HISTORY_LABEL}=true"
        ));
        let list = crate::retry::call(|| api.list_metadata(&params))
            .await
            .map_err(|e| Self::store_err(cluster, e.into_store()))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .filter(|n| archive_number(deployment, n).is_some())
            .collect())
    }

    async fn read_archive(&self, cluster: &str, name: &str) -> Result<RawArchive, HistoryError> {
        let api = self.api(cluster)?;
        let secret = crate::retry::call(|| api.get_opt(name))
            .await
            .map_err(|e| Self::store_err(cluster, e.into_store()))?;
        let entries = match &secret {
            None => Vec::new(),
            Some(s) => decode(s).map_err(|reason| HistoryError::Corrupt {
                cluster: cluster.to_owned(),
                name: name.to_owned(),
                reason,
            })?,
        };
        Ok(RawArchive {
            cluster: cluster.to_owned(),
            secret,
            entries,
        })
    }

    /// Appends `entry` to the deployment's history under the lock of `epoch`, in every cluster of
    /// its state; see the module documentation for the order of the writes.
    pub async fn append(
        &self,
        epoch: Epoch,
        deployment: &str,
        clusters: &[String],
        entry: &HistoryEntry,
    ) -> Result<AppendOutcome, HistoryError> {
        self.append_listed(epoch, deployment, clusters, entry, &[])
            .await
    }

    /// Like [`append`](Self::append), told the archives the state listed when the caller read it
    /// under the lock (its `cli.history`), so the reads before the write are one round trip
    /// (see [`prepare`](Self::prepare)).
    pub async fn append_listed(
        &self,
        epoch: Epoch,
        deployment: &str,
        clusters: &[String],
        entry: &HistoryEntry,
        listed_when_locked: &[String],
    ) -> Result<AppendOutcome, HistoryError> {
        self.prepare(epoch, deployment, clusters, listed_when_locked)
            .await?
            .append(entry)
            .await
    }

    /// The reads of an append, all at once, under the lock of `epoch`: every copy of the state
    /// (the fence: none may carry an epoch newer than `epoch`, checked here, before anything is
    /// written; the listing; the team label), the newest archive of `listed_when_locked` (the
    /// state's `cli.history` as the caller read it under the lock) and the one after it, and who
    /// the clusters authenticate. A caller may run it beside its own state write, whose
    /// copies carry the same epoch; the entry is then written by [`PreparedAppend::append`].
    pub async fn prepare(
        &self,
        epoch: Epoch,
        deployment: &str,
        clusters: &[String],
        listed_when_locked: &[String],
    ) -> Result<PreparedAppend<'_>, HistoryError> {
        self.gather(deployment, clusters, listed_when_locked)
            .await
            .prepare(epoch)
    }

    /// The reads of [`prepare`](Self::prepare), without its fence check: for a caller that
    /// reads before it knows its epoch (beside the claim of a lock taken over a clean release,
    /// see [`HeldLock::taken_over`](solo_core::lock::HeldLock::taken_over)), then checks.
    pub async fn gather(
        &self,
        deployment: &str,
        clusters: &[String],
        listed_when_locked: &[String],
    ) -> Gathered<'_> {
        let guess = listed_when_locked
            .iter()
            .filter_map(|n| archive_number(deployment, n))
            .max()
            .unwrap_or(1);
        let (read, guessed, after, authenticated_as) = tokio::join!(
            self.states.read_whole(deployment, clusters),
            self.read_archives(deployment, clusters, guess),
            self.read_archives(deployment, clusters, guess + 1),
            self.users.summary(clusters),
        );
        let stamp = MigrationStamp {
            by: "solo".to_owned(),
            at: Timestamp::now(),
        };
        let listed: Vec<String> = read
            .newest_readable()
            .and_then(|c| c.load(&stamp).ok())
            .map(|l| l.document().cli.history.clone())
            .unwrap_or_default();
        // The archives: every name listed, and every one found in any cluster (an archive made
        // by an append cut short before its listing).
        let mut numbers: BTreeSet<u32> = listed
            .iter()
            .filter_map(|n| archive_number(deployment, n))
            .collect();
        let mut reads = BTreeMap::from([(guess, guessed), (guess + 1, after)]);
        let (newest, failed) = match self
            .find_newest(deployment, clusters, &mut numbers, &mut reads)
            .await
        {
            Ok(number) => (reads.remove(&number).unwrap_or_default(), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        Gathered {
            store: self,
            deployment: deployment.to_owned(),
            clusters: clusters.to_vec(),
            read,
            listed,
            numbers,
            newest,
            failed,
            authenticated_as,
        }
    }

    /// Archive `number` as every cluster holds it.
    async fn read_archives(
        &self,
        deployment: &str,
        clusters: &[String],
        number: u32,
    ) -> ArchiveReads {
        let name = archive_name(deployment, number);
        join_all(clusters.iter().map(|c| self.read_archive(c, &name))).await
    }

    /// The number of the newest archive, read into `reads`: the highest listed or found
    /// (added to `numbers`), once the one after it is absent from every cluster. Archives
    /// are made one after another, so that absence ends the search.
    ///
    /// Found by name, not by label: a GET is answered by etcd, while a LIST waits for the API
    /// server's cache to reach etcd's newest revision, which, with the Lease writes of the lock
    /// just before, can take up to its 100 ms progress tick, on the critical path of every
    /// locked write. After [`CHASED_BY_NAME`] reads in a row (the listing lost several
    /// archives), the labels are listed instead.
    async fn find_newest(
        &self,
        deployment: &str,
        clusters: &[String],
        numbers: &mut BTreeSet<u32>,
        reads: &mut BTreeMap<u32, ArchiveReads>,
    ) -> Result<u32, HistoryError> {
        let mut labelled = false;
        let mut chased = 0;
        loop {
            if let Some(e) = take_error(reads) {
                return Err(e);
            }
            numbers.extend(
                reads
                    .iter()
                    .filter(|(_, raws)| stored(raws))
                    .map(|(n, _)| *n),
            );
            let top = numbers.last().copied().unwrap_or(1);
            let after = (!labelled).then_some(top + 1);
            let missing: Vec<u32> = [Some(top), after]
                .into_iter()
                .flatten()
                .filter(|n| !reads.contains_key(n))
                .collect();
            if missing.is_empty() {
                return Ok(top);
            }
            if chased >= CHASED_BY_NAME && !labelled {
                let names = join_all(clusters.iter().map(|c| self.list_labelled(deployment, c)));
                for names in names.await {
                    numbers.extend(names?.iter().filter_map(|n| archive_number(deployment, n)));
                }
                labelled = true;
                continue;
            }
            let fetched = join_all(
                missing
                    .iter()
                    .map(|n| self.read_archives(deployment, clusters, *n)),
            );
            reads.extend(missing.iter().copied().zip(fetched.await));
            chased += 1;
        }
    }

    /// Writes `entries` into one cluster's archive: replace with the resourceVersion read, or
    /// create it. Refuses an archive written by a newer epoch.
    async fn write_archive(
        &self,
        epoch: Epoch,
        deployment: &str,
        team: Option<&str>,
        name: &str,
        raw: &RawArchive,
        entries: &[HistoryEntry],
    ) -> Result<(), HistoryError> {
        let cluster = raw.cluster.as_str();
        let api = self.api(cluster)?;
        let bytes = serde_json::to_vec(entries).map_err(|e| HistoryError::Corrupt {
            cluster: cluster.to_owned(),
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        let conflict = || HistoryError::Conflict {
            cluster: cluster.to_owned(),
            name: name.to_owned(),
        };
        match &raw.secret {
            Some(existing) => {
                let current = archive_epoch(existing);
                if admits(current, epoch).is_err() {
                    return Err(HistoryError::LockLost {
                        cluster: cluster.to_owned(),
                        name: name.to_owned(),
                        ours: epoch,
                        current,
                    });
                }
                let mut next = existing.clone();
                next.data = Some(BTreeMap::from([(
                    HISTORY_KEY.to_owned(),
                    ByteString(bytes),
                )]));
                next.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(HISTORY_EPOCH_ANNOTATION.to_owned(), epoch.0.to_string());
                match crate::retry::call(|| async {
                    api.replace(name, &PostParams::default(), &next).await
                })
                .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => match e.into_store() {
                        StoreError::Conflict => Err(conflict()),
                        other => Err(Self::store_err(cluster, other)),
                    },
                }
            }
            None => {
                let mut labels = BTreeMap::from([
                    (MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned()),
                    (DEPLOYMENT_LABEL.to_owned(), deployment.to_owned()),
                    (HISTORY_LABEL.to_owned(), "true".to_owned()),
                ]);
                if let Some(team) = team {
                    labels.insert(TEAM_LABEL.to_owned(), team.to_owned());
                }
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.to_owned()),
                        labels: Some(labels),
                        annotations: Some(BTreeMap::from([(
                            HISTORY_EPOCH_ANNOTATION.to_owned(),
                            epoch.0.to_string(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(
                        HISTORY_KEY.to_owned(),
                        ByteString(bytes),
                    )])),
                    ..Default::default()
                };
                match crate::retry::call(|| async {
                    api.create(&PostParams::default(), &secret).await
                })
                .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => match e.into_store() {
                        StoreError::Conflict => Err(conflict()),
                        other => Err(Self::store_err(cluster, other)),
                    },
                }
            }
        }
    }

    /// Every entry of the deployment's history, oldest first, from the first cluster (in the
    /// order given) that answers. Archives are found by label and by the state's `cli.history`.
    pub async fn read_all(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> Result<History, HistoryError> {
        let mut reasons = Vec::new();
        let mut refusals = Vec::new();
        for cluster in clusters {
            match self.read_from(deployment, cluster).await {
                Ok(history) => return Ok(history),
                Err(
                    e @ HistoryError::Store {
                        source: StoreError::Forbidden { .. },
                        ..
                    },
                ) => {
                    reasons.push(e.to_string());
                    refusals.push(e);
                }
                Err(e) => reasons.push(e.to_string()),
            }
        }
        // Refused everywhere: say so as the refusal it is (another team's history).
        if refusals.len() == clusters.len()
            && let Some(e) = refusals.into_iter().next()
        {
            return Err(e);
        }
        Err(HistoryError::Unreachable {
            deployment: deployment.to_owned(),
            reasons: reasons.join("; "),
        })
    }

    async fn read_from(&self, deployment: &str, cluster: &str) -> Result<History, HistoryError> {
        // Every labelled archive with its entries, a page at a time (a long history has
        // thousands of archives: one request per page, not one per archive).
        let mut archives = self.list_archives(deployment, cluster).await?;
        let copies = self
            .states
            .read_all(deployment, &[cluster.to_owned()])
            .await;
        let mut unlabelled = BTreeSet::new();
        if let Some((_, Ok(copy))) = copies.first() {
            let stamp = MigrationStamp {
                by: "solo".to_owned(),
                at: Timestamp::now(),
            };
            if let Ok(loaded) = copy.load(&stamp) {
                unlabelled.extend(
                    loaded
                        .document()
                        .cli
                        .history
                        .iter()
                        .filter_map(|n| archive_number(deployment, n))
                        .filter(|n| !archives.contains_key(n)),
                );
            }
        }
        for n in unlabelled {
            let raw = self
                .read_archive(cluster, &archive_name(deployment, n))
                .await?;
            archives.insert(n, raw.entries);
        }
        let names = archives
            .keys()
            .map(|n| archive_name(deployment, *n))
            .collect();
        Ok(History {
            cluster: cluster.to_owned(),
            archives: names,
            entries: archives.into_values().flatten().collect(),
        })
    }

    /// The labelled archives of one cluster with their entries, by number.
    async fn list_archives(
        &self,
        deployment: &str,
        cluster: &str,
    ) -> Result<BTreeMap<u32, Vec<HistoryEntry>>, HistoryError> {
        let api = self.api(cluster)?;
        let mut params = ListParams::default()
            .labels(&format!(
                "{DEPLOYMENT_LABEL}={deployment},{HISTORY_LABEL}=true"
            ))
            .limit(LIST_PAGE);
        let mut archives = BTreeMap::new();
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| Self::store_err(cluster, e.into_store()))?;
            for secret in &page.items {
                let name = secret.metadata.name.clone().unwrap_or_default();
                let Some(n) = archive_number(deployment, &name) else {
                    continue;
                };
                let entries = decode(secret).map_err(|reason| HistoryError::Corrupt {
                    cluster: cluster.to_owned(),
                    name,
                    reason,
                })?;
                archives.insert(n, entries);
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(archives),
            }
        }
    }
}

/// One archive as each cluster holds it (or why it could not be read there).
type ArchiveReads = Vec<Result<RawArchive, HistoryError>>;

/// Archive reads by name in a row before [`HistoryStore::find_newest`] lists by label.
const CHASED_BY_NAME: usize = 2;

/// Whether any cluster holds the archive.
fn stored(raws: &ArchiveReads) -> bool {
    raws.iter()
        .any(|r| matches!(r, Ok(raw) if raw.secret.is_some()))
}

/// The first failed read, taken out of `reads`.
fn take_error(reads: &mut BTreeMap<u32, ArchiveReads>) -> Option<HistoryError> {
    reads.values_mut().find_map(|raws| {
        let failed = raws.iter().position(Result::is_err)?;
        raws.remove(failed).err()
    })
}

/// The reads of an append ([`HistoryStore::gather`]), not yet checked against an epoch.
pub struct Gathered<'a> {
    store: &'a HistoryStore,
    deployment: String,
    clusters: Vec<String>,
    read: WholeRead,
    listed: Vec<String>,
    numbers: BTreeSet<u32>,
    newest: ArchiveReads,
    failed: Option<HistoryError>,
    authenticated_as: Option<String>,
}

impl<'a> Gathered<'a> {
    /// Every copy of the state, as read.
    pub fn state(&self) -> &WholeRead {
        &self.read
    }

    /// The fence (no copy of the state may carry an epoch newer than `epoch`), then the append,
    /// ready to write.
    pub fn prepare(self, epoch: Epoch) -> Result<PreparedAppend<'a>, HistoryError> {
        let deployment = self.deployment.as_str();
        for (cluster, copy) in &self.read.copies() {
            match copy.as_ref().map(|c| admits(c.fencing_epoch, epoch)) {
                Ok(Ok(())) => {}
                Ok(Err(FenceRefusal::Superseded { stored, ours })) => {
                    return Err(HistoryError::State(StateStoreError::LockLost {
                        cluster: cluster.clone(),
                        ours,
                        current: stored,
                    }));
                }
                Err(CopyError::Store(e)) => {
                    return Err(HistoryStore::store_err(cluster, e.clone()));
                }
                Err(e) => {
                    return Err(HistoryError::State(StateStoreError::Unreadable {
                        deployment: deployment.to_owned(),
                        cluster: cluster.clone(),
                        reason: e.to_string(),
                        good: "<cluster>".to_owned(),
                    }));
                }
            }
        }
        if let Some(e) = self.failed {
            return Err(e);
        }
        Ok(PreparedAppend {
            store: self.store,
            epoch,
            team: self.read.team(),
            has_state: self.read.newest_readable().is_some(),
            deployment: self.deployment,
            clusters: self.clusters,
            listed: self.listed,
            numbers: self.numbers,
            newest: self.newest.into_iter().collect::<Result<_, _>>()?,
            authenticated_as: self.authenticated_as,
        })
    }
}

/// An append read and checked ([`HistoryStore::prepare`]), its entry not yet written.
pub struct PreparedAppend<'a> {
    store: &'a HistoryStore,
    epoch: Epoch,
    deployment: String,
    clusters: Vec<String>,
    team: Option<String>,
    has_state: bool,
    listed: Vec<String>,
    numbers: BTreeSet<u32>,
    newest: Vec<RawArchive>,
    authenticated_as: Option<String>,
}

impl PreparedAppend<'_> {
    /// Writes `entry` into the newest archive of every cluster (the next one when it is full),
    /// then, only once the entry is stored, lists a new archive in the state.
    pub async fn append(self, entry: &HistoryEntry) -> Result<AppendOutcome, HistoryError> {
        let PreparedAppend {
            store,
            epoch,
            deployment,
            clusters,
            team,
            has_state,
            listed,
            mut numbers,
            newest: raws,
            authenticated_as,
        } = self;
        let deployment = deployment.as_str();
        let mut number = numbers.last().copied().unwrap_or(1);
        let name = archive_name(deployment, number);
        let mut entries = raws
            .iter()
            .map(|r| &r.entries)
            .max_by_key(|e| e.len())
            .cloned()
            .unwrap_or_default();
        let raws = if entries.len() >= ENTRIES_PER_ARCHIVE {
            // Roll the full archive forward where a cut-short write left it behind, then rotate.
            let behind: Vec<&RawArchive> = raws
                .iter()
                .filter(|r| r.entries.len() < entries.len())
                .collect();
            let results = join_all(behind.iter().map(|r| {
                store.write_archive(epoch, deployment, team.as_deref(), &name, r, &entries)
            }))
            .await;
            results.into_iter().collect::<Result<Vec<()>, _>>()?;
            number += 1;
            if number > MAX_ARCHIVES {
                return Err(HistoryError::Full {
                    deployment: deployment.to_owned(),
                });
            }
            let next = archive_name(deployment, number);
            entries = Vec::new();
            let raws = join_all(clusters.iter().map(|c| store.read_archive(c, &next))).await;
            let raws: Vec<RawArchive> = raws.into_iter().collect::<Result<_, _>>()?;
            if let Some(longest) = raws.iter().map(|r| &r.entries).max_by_key(|e| e.len()) {
                entries = longest.clone();
            }
            raws
        } else {
            raws
        };
        let name = archive_name(deployment, number);
        let mut stored = entry.clone().bounded();
        stored.authenticated_as = authenticated_as;
        entries.push(stored);
        let results =
            join_all(raws.iter().map(|r| {
                store.write_archive(epoch, deployment, team.as_deref(), &name, r, &entries)
            }))
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        let position = entries.len();

        // 3. The listing in the state, only once the entry is stored: built from the state as it
        // is now (the read of `prepare` may predate the caller's own write), fenced by the epoch.
        numbers.insert(number);
        let wanted: Vec<String> = numbers
            .iter()
            .rev()
            .map(|n| archive_name(deployment, *n))
            .collect();
        let mut wrote_listing = false;
        if wanted != listed && has_state {
            let read = store.states.read_whole(deployment, &clusters).await;
            if let Some(state) = read.newest_readable() {
                let stamp = MigrationStamp {
                    by: entry.executed_by.clone(),
                    at: Timestamp::now(),
                };
                let loaded = state.load(&stamp).map_err(|e| {
                    HistoryError::State(StateStoreError::InvalidDocument {
                        deployment: deployment.to_owned(),
                        reason: e.to_string(),
                    })
                })?;
                let mut doc: StateDocument = loaded.into_document();
                doc.cli.history = wanted;
                doc.metadata.last_updated_at = Timestamp::now();
                doc.metadata.last_updated_by = entry.executed_by.clone();
                store
                    .states
                    .write_read(epoch, deployment, &doc, &read)
                    .await?;
                wrote_listing = true;
            }
        }
        Ok(AppendOutcome {
            archive: name,
            position,
            listed: wrote_listing,
        })
    }
}

fn archive_epoch(secret: &Secret) -> Epoch {
    Epoch(
        secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HISTORY_EPOCH_ANNOTATION))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

fn decode(secret: &Secret) -> Result<Vec<HistoryEntry>, String> {
    match secret.data.as_ref().and_then(|d| d.get(HISTORY_KEY)) {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes.0).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_have_two_digits_and_parse_back() {
        assert_eq!(archive_name("net", 1), "net-history-01");
        assert_eq!(archive_name("net", 99), "net-history-99");
        assert_eq!(archive_number("net", "net-history-07"), Some(7));
        assert_eq!(archive_number("net", "net-history-7"), None);
        assert_eq!(archive_number("net", "net-history-00"), None);
        assert_eq!(archive_number("net", "other-history-01"), None);
        assert_eq!(archive_number("net", "net-x-history-01"), None);
        assert_eq!(archive_name("net", 1011), "net-history-1011");
        assert_eq!(archive_number("net", "net-history-1011"), Some(1011));
        assert_eq!(archive_number("net", "net-history-0100"), None);
    }

    #[test]
    fn a_long_command_is_cut_so_99_entries_fit_an_object() {
        let e = HistoryEntry {
            command: vec!["sh".into(), "-c".into(), "é".repeat(50_000)],
            executed_by: "a@example.com".into(),
            executed_at: Timestamp::UNIX_EPOCH,
            result: "exit 0".into(),
            duration_ms: 1,
            authenticated_as: None,
        }
        .bounded();
        let kept: usize = e.command[..3].iter().map(String::len).sum();
        assert!(kept <= MAX_COMMAND_BYTES);
        assert_eq!(
            e.command[3],
            format!("[{} more bytes not recorded]", 100_004 - kept)
        );
        let archive = serde_json::to_vec(&vec![e; ENTRIES_PER_ARCHIVE]).expect("json");
        assert!(archive.len() < 512 * 1024, "{}", archive.len());
    }

    #[test]
    fn entries_are_camel_case_json() {
        let e = HistoryEntry {
            command: vec!["true".into()],
            executed_by: "alice@example.com".into(),
            executed_at: Timestamp::UNIX_EPOCH,
            result: "exit 0".into(),
            duration_ms: 5,
            authenticated_as: None,
        };
        let text = serde_json::to_string(&e).expect("json");
        assert!(text.contains("\"executedBy\"") && text.contains("\"durationMs\":5"));
        let back: HistoryEntry = serde_json::from_str(&text).expect("back");
        assert_eq!(back, e);
    }
}
