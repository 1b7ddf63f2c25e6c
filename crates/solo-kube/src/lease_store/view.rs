//! One watch per namespace of a waiting lock, by the lock's label (issue 13): it delivers the
//! lock's Lease and every ticket of it to the process, which keeps them as a view of the
//! namespace. A waiter's later looks ([`LeaseStore::list_since`]) and its waits on its
//! predecessor's ticket or on the Lease ([`LeaseStore::watch_ticket`],
//! [`LeaseStore::watch_change`]) are answered from that view, without a request of their own.
//! A queued section then costs each namespace one LIST, this watch, the claim and the release,
//! and the queue's namespace its ticket's create and delete, however long the queue.
//!
//! The protocol is still woken only by what decides its turn: the view takes in every event,
//! and a wait resolves only at a change of the object it waits on.
//!
//! Why the view is a listing: the API server sends the events of one resource in
//! resourceVersion order, so once the view has taken in every event up to a version (its
//! position), it is the namespace's lock as a LIST at that version would show it. A view is
//! opened from the resourceVersion of a consistent LIST of the lock (its seed). It holds each
//! object's version as of its last change, so it tells whether an object changed after a
//! version even when that version is older than the seed. Whatever it cannot answer (a version it has not reached within
//! [`CATCH_UP`], an object it never saw, such as a Lease written without the lock's label, a
//! watch ended by `410 Gone` or an error) is answered by a request, as without a view.
//!
//! [`LeaseStore::list_since`]: solo_core::lock::LeaseStore::list_since
//! [`LeaseStore::watch_ticket`]: solo_core::lock::LeaseStore::watch_ticket
//! [`LeaseStore::watch_change`]: solo_core::lock::LeaseStore::watch_change

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, WatchEvent, WatchParams};
use solo_core::lock::{LeaseKey, LeaseRecord, LockListing, StoreError, Versioned, Waiter};
use tokio::sync::{oneshot, watch};

use super::names::{lock_selector, ticket_name};
use super::{from_lease, from_ticket, queue_listing};
use crate::retry::{self, IntoStore};

/// How long a question waits for the view to reach the version it names before it is
/// answered by a request instead: events arrive about when the answer to the write that made
/// them does, so a view that has not caught up by then is stuck or asked about an object it
/// does not see.
const CATCH_UP: Duration = Duration::from_secs(1);

/// How many deleted tickets a view remembers (to answer a wait on one deleted since): the
/// oldest are forgotten beyond it, so that a long-lived process does not grow with every
/// waiter it saw; a wait on a forgotten one is answered by a request.
const TOMBSTONES: usize = 256;

/// The views of one store (shared by its clones), one per (namespace, lock).
#[derive(Clone, Default)]
pub(super) struct Views(Arc<Mutex<HashMap<(LeaseKey, String), Entry>>>);

enum Entry {
    /// The last consistent LIST of the lock here: where a view would start.
    Seed(u64, Box<LockListing>),
    /// A view following the watch; dropping `_stop` stops the task that feeds it.
    Open {
        view: Arc<View>,
        _stop: oneshot::Sender<()>,
    },
}

/// The lock's Lease and tickets in one namespace, as the watch has delivered them.
struct View {
    state: Mutex<State>,
    /// Counts the events taken in; a question waits on it.
    changes: watch::Sender<u64>,
}

struct State {
    /// Every change up to this version has been taken in (events and bookmarks).
    position: u64,
    /// False once the watch ended in a way it cannot resume from.
    alive: bool,
    /// The lock's Lease: the version of its last change, and it (`None`: absent or deleted).
    lease: Option<(u64, Option<Versioned<LeaseRecord>>)>,
    /// The tickets by name: the version of their last change, and the ticket (`None`: deleted).
    tickets: BTreeMap<String, (u64, Option<Versioned<Waiter>>)>,
}

fn number(version: &str) -> Option<u64> {
    version.parse().ok()
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn from_seed(start: u64, listing: LockListing, lock: &str) -> Self {
        let lease = listing
            .lease
            .map(|l| (number(&l.resource_version).unwrap_or(start), Some(l)));
        let tickets = listing
            .tickets
            .into_iter()
            .map(|t| {
                let name = ticket_name(lock, &t.value.request_id);
                (
                    name,
                    (number(&t.resource_version).unwrap_or(start), Some(t)),
                )
            })
            .collect();
        State {
            position: start,
            alive: true,
            lease,
            tickets,
        }
    }

    /// Takes in a LIST of the lock at version `at`, newer than the view: the view is then that
    /// listing (what it no longer shows was deleted by `at`), and the watch's events up to `at`,
    /// which the listing already shows, are skipped when they arrive.
    fn absorb(&mut self, at: u64, listing: LockListing, lock: &str) {
        let mut listed = State::from_seed(at, listing, lock);
        if listed.lease.is_none() && self.lease.as_ref().is_some_and(|(_, l)| l.is_some()) {
            listed.lease = Some((at, None));
        }
        for (name, (version, ticket)) in &self.tickets {
            if !listed.tickets.contains_key(name) {
                let gone = if ticket.is_some() { at } else { *version };
                listed.tickets.insert(name.clone(), (gone, None));
            }
        }
        *self = listed;
    }

    /// Takes in one event of the watch of the lock `lock`; false when the view cannot go on.
    fn apply(&mut self, lock: &str, event: WatchEvent<Lease>) -> bool {
        let (lease, deleted) = match event {
            WatchEvent::Added(lease) | WatchEvent::Modified(lease) => (lease, false),
            // A deletion's event carries the resourceVersion of the deletion; so does a Lease
            // whose label was removed (it left the selection).
            WatchEvent::Deleted(lease) => (lease, true),
            WatchEvent::Bookmark(mark) => {
                if let Some(v) = number(&mark.metadata.resource_version) {
                    self.position = self.position.max(v);
                }
                return true;
            }
            WatchEvent::Error(_) => return false,
        };
        let Some(version) = lease.metadata.resource_version.as_deref().and_then(number) else {
            return false;
        };
        if version <= self.position {
            // Shown already by a LIST the view took in.
            return true;
        }
        self.position = version;
        let name = lease.metadata.name.clone().unwrap_or_default();
        if name == lock {
            self.lease = Some((version, (!deleted).then(|| from_lease(&lease))));
        } else {
            // A ticket overwritten into something else is no ticket any more: as if deleted.
            let ticket = (!deleted).then(|| from_ticket(lock, &lease)).flatten();
            self.tickets.insert(name, (version, ticket));
            self.forget_old_tombstones();
        }
        true
    }

    /// Keeps at most [`TOMBSTONES`] deleted tickets, the latest.
    fn forget_old_tombstones(&mut self) {
        let deleted = self.tickets.values().filter(|(_, t)| t.is_none()).count();
        if deleted <= TOMBSTONES {
            return;
        }
        let mut deleted: Vec<(u64, String)> = self
            .tickets
            .iter()
            .filter(|(_, (_, ticket))| ticket.is_none())
            .map(|(name, (version, _))| (*version, name.clone()))
            .collect();
        deleted.sort();
        for (_, name) in &deleted[..deleted.len() - TOMBSTONES] {
            self.tickets.remove(name);
        }
    }

    fn listing(&self) -> LockListing {
        let lease = self.lease.as_ref().and_then(|(_, l)| l.clone());
        let tickets = self
            .tickets
            .values()
            .filter_map(|(_, t)| t.clone())
            .collect();
        queue_listing(lease, tickets, self.position.to_string())
    }
}

/// What a wait on one object finds in the view.
enum Found<T> {
    /// Changed after the version waited from: the newest (`None`: deleted).
    Changed(Option<T>),
    /// Not yet: wait for the next event.
    Unchanged,
    /// The view cannot tell (it does not see the object, or no longer follows the watch).
    Unknown,
}

impl Views {
    fn entries(&self) -> MutexGuard<'_, HashMap<(LeaseKey, String), Entry>> {
        guard(&self.0)
    }

    /// Takes in a LIST of the lock `lock`: the seed of a view, or, when one is open and behind
    /// it, its new state. A LIST's version is the store's newest revision, which the watch
    /// delivers only if this lock's objects changed at it: without this, a caller that knows
    /// that version would wait in vain for the view to reach it.
    pub(super) fn take_listing(&self, key: &LeaseKey, lock: &str, listing: &LockListing) {
        let Some(at) = number(&listing.resource_version) else {
            return;
        };
        let mut entries = self.entries();
        let object = (key.clone(), lock.to_owned());
        if let Some(Entry::Open { view, .. }) = entries.get(&object) {
            let mut state = guard(&view.state);
            if state.alive {
                if at > state.position {
                    state.absorb(at, listing.clone(), lock);
                    drop(state);
                    view.changes.send_modify(|n| *n += 1);
                }
                return;
            }
        }
        entries.insert(object, Entry::Seed(at, Box::new(listing.clone())));
    }

    /// The lock here as the view shows it now, if one follows its watch.
    pub(super) fn current(&self, key: &LeaseKey, lock: &str) -> Option<LockListing> {
        match self.entries().get(&(key.clone(), lock.to_owned())) {
            Some(Entry::Open { view, .. }) => {
                let state = guard(&view.state);
                state.alive.then(|| state.listing())
            }
            _ => None,
        }
    }

    /// Whether a view of the lock follows its watch here.
    pub(super) fn is_open(&self, key: &LeaseKey, lock: &str) -> bool {
        match self.entries().get(&(key.clone(), lock.to_owned())) {
            Some(Entry::Open { view, .. }) => guard(&view.state).alive,
            _ => false,
        }
    }

    /// The view of the lock here, opened from its seed if need be.
    fn view(&self, api: &Api<Lease>, key: &LeaseKey, lock: &str) -> Option<Arc<View>> {
        let mut entries = self.entries();
        let object = (key.clone(), lock.to_owned());
        if let Entry::Open { view, .. } = entries.get(&object)? {
            return guard(&view.state).alive.then(|| Arc::clone(view));
        }
        let Some(Entry::Seed(start, listing)) = entries.remove(&object) else {
            return None;
        };
        let (changes, _) = watch::channel(0);
        let view = Arc::new(View {
            state: Mutex::new(State::from_seed(start, *listing, lock)),
            changes,
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(follow(
            api.clone(),
            lock.to_owned(),
            Arc::clone(&view),
            stopped,
        ));
        entries.insert(
            object,
            Entry::Open {
                view: Arc::clone(&view),
                _stop: stop,
            },
        );
        Some(view)
    }

    /// The lock here as a LIST no older than `since` would show it, from the view; `None`
    /// when the view cannot answer (then a LIST must).
    pub(super) async fn listing_since(
        &self,
        api: &Api<Lease>,
        key: &LeaseKey,
        lock: &str,
        since: &str,
    ) -> Option<LockListing> {
        let since = number(since)?;
        let view = self.view(api, key, lock)?;
        let answer = view.wait_for(|state| {
            if !state.alive {
                return Found::Unknown;
            }
            if state.position >= since {
                Found::Changed(Some(state.listing()))
            } else if state.lease.is_none() {
                // A version the view has not reached, and a Lease it has never seen: likely
                // one written without the lock's label (read by name), whose versions the
                // watch never delivers. Do not wait for them.
                Found::Unknown
            } else {
                Found::Unchanged
            }
        });
        match tokio::time::timeout(CATCH_UP, answer).await {
            Ok(Found::Changed(listing)) => listing,
            Ok(Found::Unchanged | Found::Unknown) | Err(_) => None,
        }
    }

    /// The first change of the lock's Lease after `since`, from the view; `None` when the
    /// view cannot tell (then a watch of the Lease must).
    pub(super) async fn lease_after(
        &self,
        api: &Api<Lease>,
        key: &LeaseKey,
        lock: &str,
        since: &str,
    ) -> Option<Option<Versioned<LeaseRecord>>> {
        let since = number(since)?;
        let view = self.view(api, key, lock)?;
        view.change_after(since, |state| state.lease.clone()).await
    }

    /// The first change of the ticket `request_id` after `since`, from the view; `None` when
    /// the view cannot tell (then a watch of the ticket must).
    pub(super) async fn ticket_after(
        &self,
        api: &Api<Lease>,
        key: &LeaseKey,
        lock: &str,
        request_id: &str,
        since: &str,
    ) -> Option<Option<Versioned<Waiter>>> {
        let since = number(since)?;
        let view = self.view(api, key, lock)?;
        let name = ticket_name(lock, request_id);
        view.change_after(since, |state| state.tickets.get(&name).cloned())
            .await
    }
}

impl View {
    /// Resolves when `check` finds an answer (`Changed` or `Unknown`), looking again at every
    /// event taken in.
    async fn wait_for<T>(&self, mut check: impl FnMut(&State) -> Found<T>) -> Found<T> {
        let mut changes = self.changes.subscribe();
        loop {
            match check(&guard(&self.state)) {
                Found::Unchanged => {}
                answer => return answer,
            }
            if changes.changed().await.is_err() {
                return Found::Unknown;
            }
        }
    }

    /// The first change after `since` of the object that `object` picks (its last change's
    /// version, and it), once the view has reached `since` (within [`CATCH_UP`]).
    async fn change_after<T>(
        &self,
        since: u64,
        object: impl Fn(&State) -> Option<(u64, Option<T>)>,
    ) -> Option<Option<T>> {
        {
            let state = guard(&self.state);
            if !state.alive || object(&state).is_none() {
                return None;
            }
        }
        let reached = self.wait_for(|state| match (state.alive, state.position >= since) {
            (false, _) => Found::Unknown,
            (true, true) => Found::Changed(None::<T>),
            (true, false) => Found::Unchanged,
        });
        match tokio::time::timeout(CATCH_UP, reached).await {
            Ok(Found::Changed(_)) => {}
            Ok(Found::Unchanged | Found::Unknown) | Err(_) => return None,
        }
        let found = self
            .wait_for(|state| {
                if !state.alive {
                    return Found::Unknown;
                }
                match object(state) {
                    Some((version, value)) if version > since => Found::Changed(value),
                    Some(_) => Found::Unchanged,
                    // Never seen: the view does not see it (an unlabelled Lease).
                    None => Found::Unknown,
                }
            })
            .await;
        match found {
            Found::Changed(value) => Some(value),
            Found::Unchanged | Found::Unknown => None,
        }
    }
}

/// Feeds the view from the watch of the lock's label, from the seed's version, until `stop`
/// is dropped (with the store) or the watch cannot go on; a watch the server ended is opened
/// again from the view's position, so that nothing in between is lost.
async fn follow(api: Api<Lease>, lock: String, view: Arc<View>, mut stop: oneshot::Receiver<()>) {
    let mut from = guard(&view.state).position;
    'watches: loop {
        let opened = tokio::select! {
            _ = &mut stop => return,
            opened = open(&api, &lock, from) => opened,
        };
        let Ok(mut stream) = opened else {
            break;
        };
        loop {
            let event = tokio::select! {
                _ = &mut stop => return,
                event = stream.next() => event,
            };
            match event {
                Some(Ok(event)) => {
                    let mut state = guard(&view.state);
                    if !state.apply(&lock, event) {
                        break 'watches;
                    }
                    from = state.position;
                }
                Some(Err(_)) => break 'watches,
                None => continue 'watches,
            }
            view.changes.send_modify(|n| *n += 1);
        }
    }
    guard(&view.state).alive = false;
    view.changes.send_modify(|n| *n += 1);
}

/// Opens a watch of every Lease of the lock `lock` from resourceVersion `from`, with bookmarks.
async fn open(
    api: &Api<Lease>,
    lock: &str,
    from: u64,
) -> Result<BoxStream<'static, Result<WatchEvent<Lease>, kube::Error>>, StoreError> {
    let params = WatchParams::default()
        .labels(&lock_selector(lock))
        .timeout(290);
    let from = from.to_string();
    let stream = retry::call(|| api.watch(&params, &from))
        .await
        .map_err(IntoStore::into_store)?;
    Ok(stream.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease_store::{ticket_lease, to_lease};
    use jiff::Timestamp;

    fn waiter(n: u32) -> Waiter {
        let at = Timestamp::from_second(1_000 + i64::from(n)).expect("a time");
        Waiter {
            request_id: format!("request-{n}"),
            requested_at: at,
            user: format!("user-{n}@example.com"),
            host: "laptop".into(),
            pid: n,
            heartbeat: at,
        }
    }

    fn at(mut lease: Lease, version: u64) -> Lease {
        lease.metadata.resource_version = Some(version.to_string());
        lease
    }

    fn ticket(n: u32, version: u64) -> Lease {
        at(
            ticket_lease("net", &waiter(n), Duration::from_secs(30)),
            version,
        )
    }

    fn lock(version: u64) -> Lease {
        at(
            to_lease("net", &LeaseRecord::free(Duration::from_secs(30))),
            version,
        )
    }

    fn ids(state: &State) -> Vec<String> {
        let listing = state.listing();
        listing
            .tickets
            .iter()
            .map(|t| t.value.request_id.clone())
            .collect()
    }

    fn seeded() -> State {
        let listing = LockListing {
            lease: Some(from_lease(&lock(10))),
            tickets: vec![from_ticket("net", &ticket(1, 11)).expect("a ticket")],
            resource_version: "20".into(),
        };
        State::from_seed(20, listing, "net")
    }

    #[test]
    fn events_after_the_seed_make_the_listing_at_their_version() {
        let mut state = seeded();
        assert!(state.apply("net", WatchEvent::Added(ticket(2, 21))));
        assert!(state.apply("net", WatchEvent::Deleted(ticket(1, 22))));
        assert!(state.apply("net", WatchEvent::Modified(lock(23))));
        let listing = state.listing();
        assert_eq!(listing.resource_version, "23");
        assert_eq!(ids(&state), ["request-2"]);
        assert_eq!(
            listing.lease.map(|l| l.resource_version).as_deref(),
            Some("23")
        );
        // The deleted ticket changed at 22: after 21, not after 22.
        let gone = state.tickets.get("net-w-request-1").expect("a tombstone");
        assert_eq!(*gone, (22, None));
    }

    #[test]
    fn a_newer_list_moves_the_view_to_its_version_and_its_events_are_not_taken_twice() {
        let mut state = seeded();
        // A LIST at 30, the store's newest revision (written elsewhere): ticket 1 gone, 3 new.
        let listing = LockListing {
            lease: Some(from_lease(&lock(10))),
            tickets: vec![from_ticket("net", &ticket(3, 25)).expect("a ticket")],
            resource_version: "30".into(),
        };
        state.absorb(30, listing, "net");
        assert_eq!(state.position, 30, "a caller that knows 30 waits no more");
        assert_eq!(ids(&state), ["request-3"]);
        assert_eq!(
            state.tickets.get("net-w-request-1"),
            Some(&(30, None)),
            "deleted by 30, as far as the view can tell"
        );
        // The watch then delivers what the LIST showed already: skipped, not re-applied.
        assert!(state.apply("net", WatchEvent::Added(ticket(3, 25))));
        assert!(state.apply("net", WatchEvent::Deleted(ticket(1, 24))));
        assert_eq!(state.tickets.get("net-w-request-1"), Some(&(30, None)));
        assert_eq!(state.position, 30);
        // And what comes after it as usual.
        assert!(state.apply("net", WatchEvent::Added(ticket(4, 31))));
        assert_eq!(ids(&state), ["request-3", "request-4"]);
        assert_eq!(state.position, 31);
    }

    #[test]
    fn only_the_latest_deleted_tickets_are_remembered() {
        let mut state = seeded();
        let mut version = 100;
        for n in 0..(TOMBSTONES as u32 + 10) {
            version += 2;
            assert!(state.apply("net", WatchEvent::Added(ticket(n + 10, version))));
            assert!(state.apply("net", WatchEvent::Deleted(ticket(n + 10, version + 1))));
        }
        let deleted = state.tickets.values().filter(|(_, t)| t.is_none()).count();
        assert_eq!(deleted, TOMBSTONES);
        assert!(
            !state.tickets.contains_key("net-w-request-10"),
            "the oldest forgotten"
        );
        let last = format!("net-w-request-{}", TOMBSTONES as u32 + 19);
        assert_eq!(state.tickets.get(&last), Some(&(version + 1, None)));
        assert_eq!(ids(&state), ["request-1"], "live tickets are all kept");
    }

    #[test]
    fn a_lease_missing_from_a_newer_list_was_deleted_or_unlabelled_by_then() {
        let mut state = seeded();
        let listing = LockListing {
            lease: None,
            tickets: Vec::new(),
            resource_version: "40".into(),
        };
        state.absorb(40, listing, "net");
        assert_eq!(state.lease, Some((40, None)));
        assert!(state.listing().lease.is_none());
    }
}
