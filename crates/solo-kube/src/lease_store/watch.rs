//! Watches of single Leases kept open across wake-ups (issue 13): a waiter that wakes, decides
//! and waits again resumes the same watch instead of opening a new one, so a change that wakes
//! every waiter costs each of them no request. A watch that the server ends is resumed from the
//! last resourceVersion it delivered (event or bookmark); only `410 Gone` makes it read again.
//!
//! Resuming compares resourceVersions as numbers, which etcd-backed API servers give; a caller
//! whose resourceVersion is not a number gets a watch of its own for each wait, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, WatchEvent, WatchParams};
use solo_core::lock::{LeaseKey, LeaseRecord, StoreError, Versioned};

use super::from_lease;
use crate::error::store_error;
use crate::retry::{self, IntoStore};

/// The open watches of one store (shared by its clones), one per Lease.
#[derive(Clone, Default)]
pub(super) struct Watches(Arc<Mutex<HashMap<(LeaseKey, String), Watch>>>);

/// One open watch of one Lease and what it has delivered so far.
struct Watch {
    stream: BoxStream<'static, Result<WatchEvent<Lease>, kube::Error>>,
    /// The resourceVersion it was first opened from: it knows nothing of changes before.
    start: u64,
    /// Every change up to this resourceVersion has been delivered (events and bookmarks).
    position: u64,
    /// The last change delivered: its resourceVersion and the record (`None`: deleted).
    latest: Option<(u64, Option<Versioned<LeaseRecord>>)>,
}

/// What one event of a watch means.
enum Step {
    /// Delivered; go on.
    Noted,
    /// `410 Gone`: the watch cannot go on from where it is.
    Gone,
}

impl Watch {
    /// Takes in one event.
    fn apply(&mut self, event: WatchEvent<Lease>) -> Result<Step, StoreError> {
        let rv = |lease: &Lease| {
            lease
                .metadata
                .resource_version
                .as_deref()
                .and_then(|rv| rv.parse::<u64>().ok())
        };
        match event {
            WatchEvent::Added(lease) | WatchEvent::Modified(lease) => {
                if let Some(v) = rv(&lease) {
                    self.position = self.position.max(v);
                    self.latest = Some((v, Some(from_lease(&lease))));
                }
            }
            // A deletion's event carries the resourceVersion of the deletion.
            WatchEvent::Deleted(lease) => {
                if let Some(v) = rv(&lease) {
                    self.position = self.position.max(v);
                    self.latest = Some((v, None));
                }
            }
            WatchEvent::Bookmark(mark) => {
                if let Ok(v) = mark.metadata.resource_version.parse::<u64>() {
                    self.position = self.position.max(v);
                }
            }
            WatchEvent::Error(status) if status.code == 410 => return Ok(Step::Gone),
            WatchEvent::Error(status) => {
                return Err(StoreError::Other {
                    message: status.message,
                });
            }
        }
        Ok(Step::Noted)
    }

    /// The newest change after `since`, if one has been delivered.
    fn change_after(&self, since: u64) -> Option<Option<Versioned<LeaseRecord>>> {
        self.latest
            .as_ref()
            .filter(|(rv, _)| *rv > since)
            .map(|(_, record)| record.clone())
    }
}

/// A watch taken out of the shared map while one wait uses it; put back when the wait ends,
/// also when its future is dropped (the contender stops waiting on that Lease for a while).
struct Lent<'a> {
    watches: &'a Watches,
    lease: (LeaseKey, String),
    watch: Option<Watch>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.take() {
            let mut map = self
                .watches
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.insert(self.lease.clone(), watch);
        }
    }
}

impl Watches {
    fn lend(&self, key: &LeaseKey, name: &str) -> Lent<'_> {
        let lease = (key.clone(), name.to_owned());
        let watch = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&lease);
        Lent {
            watches: self,
            lease,
            watch,
        }
    }

    /// Resolves at the first change of the Lease after `since` (see
    /// [`LeaseStore::watch_change`](solo_core::lock::LeaseStore::watch_change)), through the
    /// watch kept open for it; `None` in the outer option when the watch answered `410 Gone`
    /// (the caller reads the Lease again).
    pub(super) async fn change_after(
        &self,
        api: &Api<Lease>,
        key: &LeaseKey,
        name: &str,
        since: u64,
    ) -> Result<Option<Option<Versioned<LeaseRecord>>>, StoreError> {
        let mut lent = self.lend(key, name);
        if let Some(watch) = lent.watch.as_mut() {
            // Take in what has already arrived.
            loop {
                match watch.stream.next().now_or_never() {
                    Some(Some(Ok(event))) => match watch.apply(event) {
                        Ok(Step::Noted) => {}
                        Ok(Step::Gone) | Err(_) => {
                            lent.watch = None;
                            break;
                        }
                    },
                    // Ended or failed: an empty stream in its place ends at once below, and
                    // the watch resumes from its position.
                    Some(None) | Some(Some(Err(_))) => {
                        watch.stream = futures::stream::empty().boxed();
                        break;
                    }
                    None => break,
                }
            }
        }
        if let Some(watch) = &lent.watch {
            if let Some(change) = watch.change_after(since) {
                return Ok(Some(change));
            }
            // It must cover every change after `since`: opened at or before it, and caught up
            // with it (the caller wrote or read a version the watch has not delivered yet: it
            // may be behind, or dead on a broken connection; a fresh one from `since` is sure).
            if watch.start > since || watch.position < since {
                lent.watch = None;
            }
        }
        loop {
            let watch = match lent.watch.as_mut() {
                Some(watch) => watch,
                None => lent.watch.insert(Watch {
                    stream: open(api, name, since).await?,
                    start: since,
                    position: since,
                    latest: None,
                }),
            };
            let next = watch.stream.next().await;
            match next {
                Some(Ok(event)) => match watch.apply(event) {
                    Ok(Step::Noted) => {}
                    Ok(Step::Gone) => {
                        lent.watch = None;
                        return Ok(None);
                    }
                    Err(e) => {
                        lent.watch = None;
                        return Err(e);
                    }
                },
                Some(Err(e)) => {
                    lent.watch = None;
                    return Err(store_error(e));
                }
                // The server ended the watch (its timeout): resume from the last version
                // delivered, so that nothing in between is lost.
                None => match open(api, name, watch.position).await {
                    Ok(stream) => watch.stream = stream,
                    Err(e) => {
                        lent.watch = None;
                        return Err(e);
                    }
                },
            }
            if let Some(change) = watch.change_after(since) {
                // Events that already arrived behind it: answer with the newest, so that a
                // busy Lease does not cost the protocol one round per event.
                while let Some(Some(Ok(event))) = watch.stream.next().now_or_never() {
                    if !matches!(watch.apply(event), Ok(Step::Noted)) {
                        lent.watch = None;
                        return Ok(Some(change));
                    }
                }
                return Ok(watch.change_after(since));
            }
        }
    }
}

/// Opens a watch of the Lease `name` from resourceVersion `from`, with bookmarks.
async fn open(
    api: &Api<Lease>,
    name: &str,
    from: u64,
) -> Result<BoxStream<'static, Result<WatchEvent<Lease>, kube::Error>>, StoreError> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(290);
    let from = from.to_string();
    let stream = retry::call(|| api.watch(&params, &from))
        .await
        .map_err(IntoStore::into_store)?;
    Ok(stream.boxed())
}
