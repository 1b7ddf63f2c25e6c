//! Named errors of the lock, and the one sentence that tells a user who blocks them.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use super::config::ConfigError;
use super::store::{FenceError, StoreError};
use super::types::{HolderField, LeaseKey};

/// Who stands between a request and the lock in one lease: its holder, or an earlier waiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The deployment (the lock's name).
    pub deployment: String,
    /// The lease.
    pub key: LeaseKey,
    /// The holder, or (when `waiting`) the earlier waiter, as a holder record.
    pub holder: HolderField,
    /// True when the lease is free but an earlier request is queued in it.
    pub waiting: bool,
    /// When the holder claimed the lease (or the waiter made its request).
    pub since: Option<Timestamp>,
    /// When the lease expires unless renewed, by the holder's own record.
    pub expires_at: Option<Timestamp>,
    /// How long until this client would judge it expired (on its monotonic clock).
    pub retry_after: Option<Duration>,
    /// Its own record says it expired already, by our wall clock. Expiry is judged only on
    /// monotonic clocks (skew-safe), so only a client that watches it unrenewed for a whole
    /// lease takes it over: a new `NoWait` attempt never will.
    pub overdue: bool,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&blocker_sentence(self))
    }
}

/// The sentence of MISSION.md, e.g. `my-network is locked by alice@example.com (laptop-7, pid
/// 4242) since 13:03:32Z; the lease expires at 13:09:32Z unless renewed. Retry after 6m, or run
/// with --wait.` The only place that words a blocker.
pub fn blocker_sentence(b: &Blocker) -> String {
    let who = b.holder.describe();
    let since = b
        .since
        .map(|t| format!(" since {}", clock_time(t)))
        .unwrap_or_default();
    if b.waiting {
        return format!(
            "{} is free in {} but {who} has waited{since}, before this request. Retry later, or run with --wait.",
            b.deployment, b.key.cluster
        );
    }
    if let (true, Some(t), Some(d)) = (b.overdue, b.expires_at, b.retry_after) {
        return format!(
            "{} is locked by {who}{since}; the lease expired at {} but is taken over only once it has been \
             watched unrenewed for {}. Run with --wait, or break it with `solo lease break {} --force`.",
            b.deployment,
            clock_time(t),
            human_duration(d),
            b.deployment
        );
    }
    let expires = match b.expires_at {
        Some(t) => format!("the lease expires at {} unless renewed", clock_time(t)),
        None => "the lease has no renew time".to_owned(),
    };
    let retry = match b.retry_after {
        Some(d) => format!("Retry after {}", human_duration(d)),
        None => "Retry later".to_owned(),
    };
    format!(
        "{} is locked by {who}{since}; {expires}. {retry}, or run with --wait.",
        b.deployment
    )
}

/// `13:03:32Z`: the time of day in UTC, as users compare it with `kubectl get lease`.
fn clock_time(t: Timestamp) -> String {
    t.strftime("%H:%M:%SZ").to_string()
}

/// `45s`, `6m`, `1h5m`: rounded up, so that retrying after it is never too early.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs < 60 {
        return format!("{secs}s");
    }
    let mins = secs.div_ceil(60);
    if mins < 60 {
        return format!("{mins}m");
    }
    match mins % 60 {
        0 => format!("{}h", mins / 60),
        m => format!("{}h{m}m", mins / 60),
    }
}

/// One sentence per distinct blocker (the same holder usually blocks every cluster).
fn blockers_text(blockers: &[Blocker]) -> String {
    let mut seen: Vec<(bool, String)> = Vec::new();
    let mut lines = Vec::new();
    for b in blockers {
        let id = (b.waiting, b.holder.identity());
        if !seen.contains(&id) {
            seen.push(id);
            lines.push(blocker_sentence(b));
        }
    }
    if lines.is_empty() {
        "the lock is busy".to_owned()
    } else {
        lines.join("\n")
    }
}

/// Why the lock was not acquired, or was lost.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds the lock or waits before us, and the policy was not to wait.
    #[error("{}", blockers_text(.blockers))]
    Busy { blockers: Vec<Blocker> },
    /// Waited as long as allowed; every claim and ticket of ours has been removed.
    #[error("gave up after waiting {}: {}", human_duration(Duration::from_secs(.waited.as_secs())), blockers_text(.blockers))]
    Timeout {
        waited: Duration,
        blockers: Vec<Blocker>,
    },
    /// A cluster failed us; claims on the other clusters were released before returning.
    #[error("lease in {key}: {source}")]
    Store { key: LeaseKey, source: StoreError },
    /// The lock is no longer ours: stop, never continue without it.
    #[error("lost the lock: lease in {key}: {reason}")]
    Lost { key: LeaseKey, reason: String },
    /// A release could not free every lease: their clusters failed (a try that got no answer
    /// may still have landed); they expire after the hold duration.
    #[error("released {} lease(s), but {} may still be held until they expire: {}", .released.len(), .still_held.len(), still_held_text(.still_held))]
    Release {
        released: Vec<LeaseKey>,
        still_held: Vec<(LeaseKey, StoreError)>,
    },
    /// The fencing epoch could not be stamped; claims were released.
    #[error(transparent)]
    Fence(#[from] FenceError),
    /// The configuration breaks an invariant.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn still_held_text(still_held: &[(LeaseKey, StoreError)]) -> String {
    let parts: Vec<String> = still_held
        .iter()
        .map(|(key, e)| format!("{key}: {e}"))
        .collect();
    parts.join("; ")
}

impl LockError {
    pub(crate) fn store(key: &LeaseKey, source: StoreError) -> Self {
        LockError::Store {
            key: key.clone(),
            source,
        }
    }

    pub(crate) fn lost(key: &LeaseKey, reason: impl Into<String>) -> Self {
        LockError::Lost {
            key: key.clone(),
            reason: reason.into(),
        }
    }
}
