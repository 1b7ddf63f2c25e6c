//! Operator actions on a lock: read it (`lease status`) and break it (`lease break --force`).

use futures::future::join_all;

use super::error::LockError;
use super::store::{LeaseStore, StoreError};
use super::types::{HolderField, LeaseKey, LeaseRecord, LockSet, Versioned};

/// How many lost races a break tolerates before it gives up (each one means someone wrote).
const BREAK_ATTEMPTS: u32 = 20;

/// Every lease of the lock as it is now, read in parallel (`None`: the lease does not exist).
pub async fn read_lock<S: LeaseStore>(
    store: &S,
    lock_set: &LockSet,
) -> Result<Vec<(LeaseKey, Option<Versioned<LeaseRecord>>)>, LockError> {
    let reads = join_all(lock_set.keys().iter().map(|key| async move {
        store
            .get(key, lock_set.lease_name(key))
            .await
            .map(|v| (key.clone(), v))
            .map_err(|e| LockError::store(key, e))
    }))
    .await;
    reads.into_iter().collect()
}

/// Clears whatever holder one lease has, and returns what it removed (for the audit). The
/// Lease is marked stamp-needed: the holder, if alive, finds out at its next renewal, and the
/// next holder stamps its epoch into the state first, so the old holder's writes are refused.
pub async fn break_lease<S: LeaseStore>(
    store: &S,
    key: &LeaseKey,
    name: &str,
) -> Result<Option<HolderField>, LockError> {
    for _ in 0..BREAK_ATTEMPTS {
        let Some(current) = store
            .get(key, name)
            .await
            .map_err(|e| LockError::store(key, e))?
        else {
            return Ok(None);
        };
        let Some(removed) = current.value.holder.clone() else {
            return Ok(None);
        };
        let mut next = current.value;
        next.holder = None;
        next.acquire_time = None;
        next.renew_time = None;
        next.stamp_needed = true;
        match store
            .replace(key, name, next, &current.resource_version)
            .await
        {
            Ok(_) => return Ok(Some(removed)),
            Err(StoreError::Conflict) => continue,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(LockError::store(key, e)),
        }
    }
    Err(LockError::store(key, StoreError::Conflict))
}

/// [`break_lease`] on every lease of the lock, in parallel; returns the holders removed.
pub async fn break_lock<S: LeaseStore>(
    store: &S,
    lock_set: &LockSet,
) -> Result<Vec<(LeaseKey, HolderField)>, LockError> {
    let broken = join_all(lock_set.keys().iter().map(|key| async move {
        break_lease(store, key, lock_set.lease_name(key))
            .await
            .map(|removed| removed.map(|h| (key.clone(), h)))
    }))
    .await;
    let mut removed = Vec::new();
    for result in broken {
        removed.extend(result?);
    }
    Ok(removed)
}
