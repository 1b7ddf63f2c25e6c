//! Watches of single Leases kept open across wake-ups (issue 13): a waiter that wakes, decides
//! and waits again resumes the same watch instead of opening a new one, so a change that wakes
//! every waiter costs each of them no request. A watch that the server ends is resumed from the
//! last resourceVersion it delivered (event or bookmark); only `410 Gone` makes it read again.
//!
//! A watch is of one object by name, whatever it holds: the lock's Lease or a waiter's ticket;
//! it delivers the raw Lease and the caller reads it as its kind. It may start before the object
//! exists (from the resourceVersion of a LIST that did not show it): its creation is a change.
//!
//! Resuming compares resourceVersions as numbers, which etcd-backed API servers give; a caller
//! whose resourceVersion is not a number gets a watch of its own for each wait, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, WatchEvent, WatchParams};
use solo_core::lock::{LeaseKey, StoreError};

use crate::error::store_error;
use crate::retry::{self, IntoStore};

/// What a wait answers: `None` when the watch met `410 Gone` (the caller reads the object
/// again), else the object's newest state after the version waited from (`None`: deleted).
pub(super) type Change = Option<Option<Lease>>;

/// What becomes of a watch once it has delivered the deletion of its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterDeletion {
    /// Kept open: the lock's Lease may be created again, and that wakes its waiters.
    Keep,
    /// Closed: a ticket is never created again under its name (its request is over), and a
    /// waiter moves on to another ticket; an open watch of it would only hold a connection.
    Close,
}

/// The open watches of one store (shared by its clones), one per (namespace, object name).
#[derive(Clone, Default)]
pub(super) struct Watches(Arc<Mutex<HashMap<(LeaseKey, String), Watch>>>);

/// One open watch of one object and what it has delivered so far.
struct Watch {
    stream: BoxStream<'static, Result<WatchEvent<Lease>, kube::Error>>,
    /// The resourceVersion it was first opened from: it knows nothing of changes before.
    start: u64,
    /// Every change up to this resourceVersion has been delivered (events and bookmarks).
    position: u64,
    /// The last change delivered: its resourceVersion and the object (`None`: deleted).
    latest: Option<(u64, Option<Lease>)>,
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
                    self.latest = Some((v, Some(lease)));
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
    fn change_after(&self, since: u64) -> Option<Option<Lease>> {
        self.latest
            .as_ref()
            .filter(|(rv, _)| *rv > since)
            .map(|(_, lease)| lease.clone())
    }
}

/// A watch taken out of the shared map while one wait uses it; put back when the wait ends,
/// also when its future is dropped (the contender stops waiting on that object for a while).
struct Lent<'a> {
    watches: &'a Watches,
    object: (LeaseKey, String),
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
            map.insert(self.object.clone(), watch);
        }
    }
}

impl Watches {
    fn lend(&self, key: &LeaseKey, name: &str) -> Lent<'_> {
        let object = (key.clone(), name.to_owned());
        let watch = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&object);
        Lent {
            watches: self,
            object,
            watch,
        }
    }

    /// Resolves at the first change of the Lease `name` after `since` (see
    /// [`LeaseStore::watch_change`](solo_core::lock::LeaseStore::watch_change)), through the
    /// watch kept open for it when `since` is a number.
    pub(super) async fn change_after(
        &self,
        api: &Api<Lease>,
        key: &LeaseKey,
        name: &str,
        since: &str,
        after_deletion: AfterDeletion,
    ) -> Result<Change, StoreError> {
        let Ok(since) = since.parse::<u64>() else {
            return once(api, name, since).await;
        };
        let mut lent = self.lend(key, name);
        let change = kept_change_after(&mut lent, api, name, since).await;
        if after_deletion == AfterDeletion::Close && matches!(change, Ok(Some(None))) {
            lent.watch = None;
        }
        change
    }
}

/// The wait of [`Watches::change_after`] through the watch lent (opened here when there is
/// none, or when it may have missed a change after `since`).
async fn kept_change_after(
    lent: &mut Lent<'_>,
    api: &Api<Lease>,
    name: &str,
    since: u64,
) -> Result<Change, StoreError> {
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
        // with it (the caller wrote or read a version the watch has not delivered yet, such
        // as a LIST's: it may be behind, or dead on a broken connection; a fresh one from
        // `since` is sure).
        if watch.start > since || watch.position < since {
            lent.watch = None;
        }
    }
    loop {
        let watch = match lent.watch.as_mut() {
            Some(watch) => watch,
            None => lent.watch.insert(Watch {
                stream: open(api, name, &since.to_string()).await?,
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
            None => match open(api, name, &watch.position.to_string()).await {
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

/// A watch of its own for one wait, from a resourceVersion that is not a number.
async fn once(api: &Api<Lease>, name: &str, since: &str) -> Result<Change, StoreError> {
    loop {
        let mut stream = open(api, name, since).await?;
        while let Some(event) = stream.next().await {
            let mut latest = match event.map_err(store_error)? {
                WatchEvent::Added(lease) | WatchEvent::Modified(lease) => Some(lease),
                WatchEvent::Deleted(_) => None,
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Error(status) if status.code == 410 => return Ok(None),
                WatchEvent::Error(status) => {
                    return Err(StoreError::Other {
                        message: status.message,
                    });
                }
            };
            // Events that already arrived behind the first: answer with the newest.
            while let Some(Some(Ok(event))) = stream.next().now_or_never() {
                match event {
                    WatchEvent::Added(lease) | WatchEvent::Modified(lease) => latest = Some(lease),
                    WatchEvent::Deleted(_) => latest = None,
                    WatchEvent::Bookmark(_) | WatchEvent::Error(_) => break,
                }
            }
            return Ok(Some(latest));
        }
        // The server closed the watch (its timeout) with no change: watch again from the same point.
    }
}

/// Opens a watch of the Lease `name` from resourceVersion `from`, with bookmarks.
async fn open(
    api: &Api<Lease>,
    name: &str,
    from: &str,
) -> Result<BoxStream<'static, Result<WatchEvent<Lease>, kube::Error>>, StoreError> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(290);
    let stream = retry::call(|| api.watch(&params, from))
        .await
        .map_err(IntoStore::into_store)?;
    Ok(stream.boxed())
}
