//! What this machine remembers of a lock's Leases across processes: each one as the last
//! release made here left it, so that the next request's first look costs no round trip
//! ([`LeaseStore::remembered`](solo_core::lock::LeaseStore::remembered)).
//!
//! A Lease is remembered only while this machine's last write left it free with nobody seen
//! waiting for it: a claim forgets it, and so does a release with a queue behind it (the next
//! in the queue takes the lock at once). Under contention a new request then looks first, as
//! without a memory, instead of losing a race it could not win.
//!
//! A memory is only a guess, and a wrong one must cost no more than a lost race. The claim made
//! over it is a compare-and-swap at its resourceVersion, which fails when anyone wrote the Lease
//! since; but versions are numbers of one cluster's etcd, and a cluster re-created at the same
//! address counts them again. So a memory is filed under the API server's address (a cluster
//! ref pointed elsewhere finds nothing), and the claim carries the Lease's UID
//! ([`Recalled::uid_for`]): a Lease of a re-created cluster at the same version refuses it.
//!
//! One small file per Lease, `<dir>/<hash of server, namespace, name>.json`, written whole
//! (`said::write_whole`): processes that release at once leave one of their answers, each a
//! state the Lease was really in. Failures to read or write are ignored
//! (the first look then lists, as it would without a memory).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use k8s_openapi::api::coordination::v1::Lease;
use serde::{Deserialize, Serialize};
use solo_core::lock::{LeaseKey, LockListing};

/// One remembered Lease as filed: where it lives, and the Lease as the release answered it.
#[derive(Serialize, Deserialize)]
struct Filed {
    server: String,
    namespace: String,
    name: String,
    lease: Lease,
}

/// The file of the Lease `name` in `namespace` of the API server at `server`.
fn file(dir: &Path, server: &str, namespace: &str, name: &str) -> PathBuf {
    let hex = crate::said::digest(&format!("{server}\n{namespace}\n{name}"));
    dir.join(format!("{hex}.json"))
}

/// The Lease remembered there, if any (and if the file says it is that Lease).
pub(crate) fn recall(dir: &Path, server: &str, namespace: &str, name: &str) -> Option<Lease> {
    let text = std::fs::read(file(dir, server, namespace, name)).ok()?;
    let filed: Filed = serde_json::from_slice(&text).ok()?;
    (filed.server == server && filed.namespace == namespace && filed.name == name)
        .then_some(filed.lease)
}

/// Remembers `lease` as the Lease `name` in `namespace` at `server` (best effort).
pub(crate) fn remember(dir: &Path, server: &str, namespace: &str, name: &str, lease: &Lease) {
    let filed = Filed {
        server: server.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        lease: lease.clone(),
    };
    if let Err(e) = crate::said::write_whole(&file(dir, server, namespace, name), &filed) {
        tracing::debug!("could not remember the lease {namespace}/{name}: {e}");
    }
}

/// Forgets the Lease `name` in `namespace` at `server` (it was deleted).
pub(crate) fn forget(dir: &Path, server: &str, namespace: &str, name: &str) {
    let _ = std::fs::remove_file(file(dir, server, namespace, name));
}

/// The Leases recalled in this process, by (namespace, lock), until a claim over one of them
/// uses it: what that claim must carry. And the locks whose last listing here showed someone
/// waiting: their release is not remembered free (the next in the queue takes the lock at
/// once, and a claim from the memory would only lose the race).
#[derive(Default)]
pub(crate) struct Recalled {
    leases: Mutex<BTreeMap<(LeaseKey, String), Lease>>,
    waited: Mutex<BTreeSet<(LeaseKey, String)>>,
}

impl Recalled {
    /// Takes in a listing of the lock `name` at `key`: whether anyone but the Lease's holder
    /// waits for it.
    pub(crate) fn saw(&self, key: &LeaseKey, name: &str, listing: &LockListing) {
        let holder = listing.lease.as_ref().and_then(|l| l.value.holder.as_ref());
        let waited = listing
            .tickets
            .iter()
            .any(|t| !holder.is_some_and(|h| h.is_request(&t.value.request_id)));
        let mut waiting = self.waited.lock().unwrap_or_else(PoisonError::into_inner);
        let object = (key.clone(), name.to_owned());
        if waited {
            waiting.insert(object);
        } else {
            waiting.remove(&object);
        }
    }

    /// Whether the last listing of the lock `name` at `key` showed someone waiting for it.
    pub(crate) fn waited(&self, key: &LeaseKey, name: &str) -> bool {
        self.waited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&(key.clone(), name.to_owned()))
    }

    /// Keeps `lease` as recalled for the lock `name` at `key` (or as this process's own
    /// release left it, which it also remembers).
    pub(crate) fn keep(&self, key: &LeaseKey, name: &str, lease: Lease) {
        self.entries().insert((key.clone(), name.to_owned()), lease);
    }

    /// The Lease kept for the lock `name` at `key`, if any: this process reads each memory's
    /// file once.
    pub(crate) fn get(&self, key: &LeaseKey, name: &str) -> Option<Lease> {
        self.entries().get(&(key.clone(), name.to_owned())).cloned()
    }

    /// The UID a replace of the lock `name` at `key`, at `resource_version`, must carry: the
    /// recalled Lease's, when the replace is based on it (used once).
    pub(crate) fn uid_for(
        &self,
        key: &LeaseKey,
        name: &str,
        resource_version: &str,
    ) -> Option<String> {
        let mut entries = self.entries();
        let object = (key.clone(), name.to_owned());
        let lease = entries.get(&object)?;
        if lease.metadata.resource_version.as_deref() != Some(resource_version) {
            return None;
        }
        entries.remove(&object)?.metadata.uid
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(LeaseKey, String), Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn lease(uid: &str, rv: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("net".to_owned()),
                uid: Some(uid.to_owned()),
                resource_version: Some(rv.to_owned()),
                ..Default::default()
            },
            spec: None,
        }
    }

    #[test]
    fn a_lease_is_recalled_only_where_it_was_remembered() {
        let dir = std::env::temp_dir().join(format!("solo-memory-{}", std::process::id()));
        remember(&dir, "https://a:6443", "ns", "net", &lease("u1", "7"));
        let recalled = recall(&dir, "https://a:6443", "ns", "net").expect("remembered");
        assert_eq!(recalled.metadata.uid.as_deref(), Some("u1"));
        assert!(
            recall(&dir, "https://b:6443", "ns", "net").is_none(),
            "another server"
        );
        assert!(
            recall(&dir, "https://a:6443", "other", "net").is_none(),
            "another namespace"
        );
        remember(&dir, "https://a:6443", "ns", "net", &lease("u1", "9"));
        let newer = recall(&dir, "https://a:6443", "ns", "net").expect("remembered");
        assert_eq!(newer.metadata.resource_version.as_deref(), Some("9"));
        forget(&dir, "https://a:6443", "ns", "net");
        assert!(
            recall(&dir, "https://a:6443", "ns", "net").is_none(),
            "forgotten"
        );
        std::fs::write(file(&dir, "https://a:6443", "ns", "net"), b"{not json").expect("write");
        assert!(
            recall(&dir, "https://a:6443", "ns", "net").is_none(),
            "unreadable"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_lock_counts_as_waited_for_while_its_last_listing_shows_a_ticket_not_its_holders() {
        use solo_core::lock::{Holder, HolderField, LeaseRecord, Phase, Versioned, Waiter};
        let at = jiff::Timestamp::UNIX_EPOCH;
        let ticket = |id: &str| Versioned {
            value: Waiter {
                request_id: id.to_owned(),
                requested_at: at,
                user: "a@example.com".to_owned(),
                host: "h".to_owned(),
                pid: 1,
                heartbeat: at,
            },
            resource_version: "5".to_owned(),
        };
        let held_by = |id: &str| Versioned {
            value: LeaseRecord {
                holder: Some(HolderField::Known(Holder {
                    user: "a@example.com".to_owned(),
                    host: "h".to_owned(),
                    pid: 1,
                    request_id: id.to_owned(),
                    requested_at: at,
                    phase: Phase::Held,
                    authenticated_as: None,
                })),
                lease_duration: std::time::Duration::from_secs(30),
                acquire_time: Some(at),
                renew_time: Some(at),
                transitions: 0,
                epoch_mark: None,
                stamp_needed: false,
            },
            resource_version: "6".to_owned(),
        };
        let key = LeaseKey {
            cluster: "c1".to_owned(),
            namespace: "ns".to_owned(),
        };
        let recalled = Recalled::default();
        let listing = |lease, tickets| LockListing {
            lease: Some(lease),
            tickets,
            resource_version: "7".to_owned(),
        };
        recalled.saw(&key, "net", &listing(held_by("me"), vec![ticket("me")]));
        assert!(
            !recalled.waited(&key, "net"),
            "only the holder's own ticket"
        );
        recalled.saw(&key, "net", &listing(held_by("me"), vec![ticket("other")]));
        assert!(recalled.waited(&key, "net"), "someone else waits");
        recalled.saw(&key, "net", &listing(held_by("me"), vec![]));
        assert!(!recalled.waited(&key, "net"), "the last listing counts");
    }

    #[test]
    fn a_claim_carries_the_uid_only_over_the_version_recalled_and_once() {
        let recalled = Recalled::default();
        let key = LeaseKey {
            cluster: "c1".to_owned(),
            namespace: "ns".to_owned(),
        };
        recalled.keep(&key, "net", lease("u1", "7"));
        assert_eq!(recalled.uid_for(&key, "net", "8"), None, "another version");
        assert_eq!(recalled.uid_for(&key, "net", "7").as_deref(), Some("u1"));
        assert_eq!(recalled.uid_for(&key, "net", "7"), None, "used once");
    }
}
