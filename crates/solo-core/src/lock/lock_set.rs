//! Which leases a holder must hold: the set the newest state names, and during a change of
//! its `clusters` list the union of the old and new sets.
//!
//! The local config only helps to find the state; the lock set comes from the state in the
//! clusters. A holder re-reads every copy under the lock and checks the newest one (highest
//! serial of the lineage) with [`check_lock_set`]: on a mismatch it stamps nothing, releases,
//! and starts again with the set the state names. A change of `clusters` locks
//! [`LockSet::union`] of the old and new sets, so no two holders can exist across it.

use std::fmt;

use super::config::ConfigError;
use super::types::{LeaseKey, LockSet};

impl LockSet {
    /// Both sets' leases (for a change of the `clusters` list: old and new), queued where
    /// `self` is (the requests of the set before the change meet there); the deployment must be
    /// the same.
    pub fn union(&self, other: &LockSet) -> Result<LockSet, ConfigError> {
        if self.deployment() != other.deployment() {
            return Err(ConfigError::DifferentDeployments {
                left: self.deployment().to_owned(),
                right: other.deployment().to_owned(),
            });
        }
        let union = LockSet::new(
            self.deployment(),
            self.keys().iter().chain(other.keys()).cloned(),
        )?
        .queued_at(self.queue_key());
        Ok(
            if self.is_named_after_namespaces() || other.is_named_after_namespaces() {
                union.named_after_namespaces()
            } else {
                union
            },
        )
    }

    /// The set a change locks: the set the newest state names, united with the set it will
    /// name after the change when that differs.
    pub fn for_change(named: &LockSet, after: Option<&LockSet>) -> Result<LockSet, ConfigError> {
        match after {
            Some(after) => named.union(after),
            None => Ok(named.clone()),
        }
    }
}

/// The lock held is not the set the newest state requires: stamp nothing, release, start again
/// with `required`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LockSetMismatch {
    /// The deployment.
    pub deployment: String,
    /// Leases required but not held.
    pub missing: Vec<LeaseKey>,
    /// Leases held but not required.
    pub extra: Vec<LeaseKey>,
    /// The set to lock instead.
    pub required: Box<LockSet>,
}

impl fmt::Display for LockSetMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |keys: &[LeaseKey]| {
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "the state of {} names another lock set than the one held",
            self.deployment
        )?;
        if !self.missing.is_empty() {
            write!(f, "; not held: {}", list(&self.missing))?;
        }
        if !self.extra.is_empty() {
            write!(f, "; held but not named: {}", list(&self.extra))?;
        }
        Ok(())
    }
}

/// Whether `held` is exactly `required` (see [`LockSet::for_change`]), checked by a new holder
/// against the copies it re-read under the lock.
pub fn check_lock_set(held: &LockSet, required: &LockSet) -> Result<(), LockSetMismatch> {
    if held.same_leases(required) {
        return Ok(());
    }
    let missing = required
        .keys()
        .iter()
        .filter(|k| !held.keys().contains(k))
        .cloned()
        .collect();
    let extra = held
        .keys()
        .iter()
        .filter(|k| !required.keys().contains(k))
        .cloned()
        .collect();
    Err(LockSetMismatch {
        deployment: required.deployment().to_owned(),
        missing,
        extra,
        required: Box::new(required.clone()),
    })
}
