//! The simulated network: every request travels for a random delay, is applied atomically when
//! it arrives, and its answer travels back for another random delay. Requests in parallel thus
//! land and answer in any order; watch events come late but in order, and are never lost.
//! A request in flight still lands if its sender pauses or crashes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use jiff::Timestamp;
use solo_core::lock::{
    Clock, Epoch, Fence, FenceError, LeaseKey, LeaseRecord, LeaseStore, LockListing, LockSet,
    StoreError, Versioned, Waiter,
};

use super::exec::{Core, lock};

/// Where an answer waits for the task that asked.
pub struct Reply<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

pub fn deliver<T>(reply: &Mutex<Reply<T>>, value: T) {
    let mut r = lock(reply);
    r.value = Some(value);
    if let Some(w) = r.waker.take() {
        w.wake();
    }
}

type Start<T> = Box<dyn FnOnce(&mut Core, Arc<Mutex<Reply<T>>>) + Send>;

/// A request: sent when first polled, resolved when its answer is delivered.
pub struct Call<T> {
    core: Arc<Mutex<Core>>,
    start: Option<Start<T>>,
    reply: Arc<Mutex<Reply<T>>>,
}

impl<T> Call<T> {
    pub fn new(
        core: &Arc<Mutex<Core>>,
        start: impl FnOnce(&mut Core, Arc<Mutex<Reply<T>>>) + Send + 'static,
    ) -> Self {
        Call {
            core: Arc::clone(core),
            start: Some(Box::new(start)),
            reply: Arc::new(Mutex::new(Reply {
                value: None,
                waker: None,
            })),
        }
    }
}

impl<T> Future for Call<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        {
            let mut r = lock(&this.reply);
            if let Some(v) = r.value.take() {
                return Poll::Ready(v);
            }
            r.waker = Some(cx.waker().clone());
        }
        if let Some(start) = this.start.take() {
            start(&mut lock(&this.core), Arc::clone(&this.reply));
        }
        Poll::Pending
    }
}

/// A lease request of `client` to the cluster of `key`: there, applied, back. During a
/// partition it fails with `Unavailable`, half the time after it was applied anyway (the
/// answer was lost), as a timeout would.
fn request<T: Send + 'static>(
    core: &Arc<Mutex<Core>>,
    client: usize,
    key: &LeaseKey,
    apply: impl FnOnce(&mut Core, usize) -> Result<T, StoreError> + Send + 'static,
) -> Call<Result<T, StoreError>> {
    request_taking(core, client, key, None, apply)
}

/// A request that takes `there` (else a drawn network delay) to reach its cluster.
fn request_taking<T: Send + 'static>(
    core: &Arc<Mutex<Core>>,
    client: usize,
    key: &LeaseKey,
    there: Option<u64>,
    apply: impl FnOnce(&mut Core, usize) -> Result<T, StoreError> + Send + 'static,
) -> Call<Result<T, StoreError>> {
    let lease = lock(core).world.lease_index(key);
    Call::new(core, move |core, reply| {
        let there = there
            .unwrap_or_else(|| core.net_delay() + core.world.slowness(client, lease, core.now));
        core.after(there, move |core| {
            land(core, client, lease, Box::new(apply), reply)
        });
    })
}

type Apply<T> = Box<dyn FnOnce(&mut Core, usize) -> Result<T, StoreError> + Send>;

/// A request arrives at its cluster: applied and answered, or, while its apiserver is stopped,
/// held until it resumes.
fn land<T: Send + 'static>(
    core: &mut Core,
    client: usize,
    lease: usize,
    apply: Apply<T>,
    reply: Arc<Mutex<Reply<Result<T, StoreError>>>>,
) {
    let now = core.now;
    if let Some(until) = core.world.hung_until(lease, now) {
        core.at(until, move |core| land(core, client, lease, apply, reply));
        return;
    }
    core.world.log(now, || {
        format!("c{client} request to lease {lease} arrives")
    });
    let result = if core.world.partitioned(client, lease, now) {
        if core.rng.chance(50) {
            let _ = apply(core, lease);
        }
        Err(partitioned(core, lease))
    } else {
        apply(core, lease)
    };
    let back = core.net_delay() + core.world.slowness(client, lease, now);
    core.after(back, move |core| {
        core.world.log(core.now, || {
            let answer = result
                .as_ref()
                .map_or_else(|e| format!("{e:?}"), |_| "ok".to_owned());
            format!("c{client} gets the answer of lease {lease}: {answer}")
        });
        deliver(&reply, result)
    });
}

/// A listing for the trace: its revision and whose tickets it shows.
fn describe(listing: &LockListing) -> String {
    let tickets: Vec<&str> = listing
        .tickets
        .iter()
        .map(|t| t.value.request_id.as_str())
        .collect();
    format!("at rv {}: tickets {tickets:?}", listing.resource_version)
}

fn partitioned(core: &Core, lease: usize) -> StoreError {
    StoreError::Unavailable {
        message: format!(
            "simulated partition of {}",
            core.world.leases[lease].key.cluster
        ),
    }
}

/// The clusters, as one client sees them.
pub struct SimStore {
    pub core: Arc<Mutex<Core>>,
    pub client: usize,
}

impl SimStore {
    /// A LIST answered from a watch cache at the revision `at` picks from the cluster's newest,
    /// logged as `how`.
    fn cached_list(
        &self,
        key: &LeaseKey,
        how: String,
        at: impl FnOnce(&mut Core, u64) -> u64 + Send + 'static,
    ) -> Call<Result<LockListing, StoreError>> {
        let client = self.client;
        request(&self.core, client, key, move |core, lease| {
            let rv = at(core, core.world.cluster_rv(lease));
            let listing = core.world.list_at(lease, client, rv);
            core.world.log(core.now, || {
                format!("c{client} lists lease {lease} {how} {}", describe(&listing))
            });
            Ok(listing)
        })
    }
}

impl LeaseStore for SimStore {
    fn get(
        &self,
        key: &LeaseKey,
        _name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<LeaseRecord>>, StoreError>> + Send {
        let client = self.client;
        let slow = lock(&self.core)
            .world
            .slow_gets
            .and_then(|(c, delay)| (c == client).then_some(delay));
        request_taking(&self.core, client, key, slow, move |core, lease| {
            Ok(core.world.read(lease, client))
        })
    }

    fn create(
        &self,
        key: &LeaseKey,
        _name: &str,
        record: LeaseRecord,
    ) -> impl Future<Output = Result<Versioned<LeaseRecord>, StoreError>> + Send {
        let client = self.client;
        request(&self.core, client, key, move |core, lease| {
            core.create(lease, client, record)
        })
    }

    fn replace(
        &self,
        key: &LeaseKey,
        _name: &str,
        record: LeaseRecord,
        resource_version: &str,
    ) -> impl Future<Output = Result<Versioned<LeaseRecord>, StoreError>> + Send {
        let (client, rv) = (self.client, resource_version.to_owned());
        request(&self.core, client, key, move |core, lease| {
            let replaced = core.replace(lease, client, record, &rv);
            if let Ok(v) = &replaced
                && v.value.holder.is_none()
            {
                core.world.memory.insert((client, lease), v.clone());
            }
            replaced
        })
    }

    fn delete(
        &self,
        key: &LeaseKey,
        _name: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let (client, rv) = (self.client, resource_version.to_owned());
        request(&self.core, client, key, move |core, lease| {
            core.delete(lease, client, &rv)
        })
    }

    fn watch_change(
        &self,
        key: &LeaseKey,
        _name: &str,
        since_resource_version: &str,
    ) -> impl Future<Output = Result<Option<Versioned<LeaseRecord>>, StoreError>> + Send {
        let client = self.client;
        let since: u64 = since_resource_version.parse().unwrap_or(0);
        watch(&self.core, client, key, move |core, lease, reply| {
            core.world.log(core.now, || {
                format!("c{client} watches lease {lease} from {since}")
            });
            core.watch(lease, client, since, reply);
        })
    }

    fn list(
        &self,
        key: &LeaseKey,
        _name: &str,
    ) -> impl Future<Output = Result<LockListing, StoreError>> + Send {
        let client = self.client;
        request(&self.core, client, key, move |core, lease| {
            let listing = core.world.list(lease, client);
            core.world.log(core.now, || {
                format!("c{client} lists lease {lease} {}", describe(&listing))
            });
            Ok(listing)
        })
    }

    /// A watch cache's answer: the namespace at any revision from `resource_version` to now.
    fn list_since(
        &self,
        key: &LeaseKey,
        _name: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<LockListing, StoreError>> + Send {
        let since: u64 = resource_version.parse().unwrap_or(0);
        self.cached_list(key, format!("since {since}"), move |core, now_rv| {
            // As old as allowed half of the time: that is where a wrong `since` shows.
            let oldest = since.min(now_rv);
            if let Some(lag) = core.world.cache_lag {
                now_rv.saturating_sub(lag).clamp(oldest, now_rv)
            } else if core.rng.chance(50) {
                oldest
            } else {
                core.rng.range(oldest, now_rv + 1)
            }
        })
    }

    /// A watch cache's answer at `resourceVersion=0`: in the random schedules, the namespace at
    /// any revision up to now (the contract allows any): now half of the time, a few revisions
    /// behind (a cache that lags the last writes) a quarter, anywhere from the start a quarter.
    fn list_recent(
        &self,
        key: &LeaseKey,
        _name: &str,
    ) -> impl Future<Output = Result<LockListing, StoreError>> + Send {
        self.cached_list(key, "recent".to_owned(), |core, now_rv| {
            if let Some(lag) = core.world.cache_lag {
                now_rv.saturating_sub(lag)
            } else if !core.world.stale_caches || core.rng.chance(50) {
                now_rv
            } else if core.rng.chance(50) {
                core.rng.range(now_rv.saturating_sub(5), now_rv + 1)
            } else {
                core.rng.range(0, now_rv + 1)
            }
        })
    }

    /// Half the clients list after their claim instead of beside it, as an adapter that keeps
    /// a watch of the namespace does: both paths of the round run in every schedule.
    fn lists_since_locally(&self, _key: &LeaseKey, _name: &str) -> bool {
        self.client % 2 == 1
    }

    /// A third of the clients remember their own last release of each Lease across requests,
    /// as the adapter does across processes: their first look claims over it at once.
    fn remembered(&self, key: &LeaseKey, _name: &str) -> Option<Versioned<LeaseRecord>> {
        if !self.client.is_multiple_of(3) {
            return None;
        }
        let core = lock(&self.core);
        let lease = core.world.lease_index(key);
        core.world.memory.get(&(self.client, lease)).cloned()
    }

    fn put_ticket(
        &self,
        key: &LeaseKey,
        _name: &str,
        ticket: &Waiter,
        _ttl: Duration,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<Versioned<Waiter>, StoreError>> + Send {
        let (client, ticket) = (self.client, ticket.clone());
        let rv = resource_version.map(str::to_owned);
        request(&self.core, client, key, move |core, lease| {
            core.put_ticket(lease, client, ticket, rv.as_deref())
        })
    }

    fn delete_ticket(
        &self,
        key: &LeaseKey,
        _name: &str,
        request_id: &str,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let (client, request_id) = (self.client, request_id.to_owned());
        let rv = resource_version.map(str::to_owned);
        request(&self.core, client, key, move |core, lease| {
            core.delete_ticket(lease, client, &request_id, rv.as_deref())
        })
    }

    fn watch_ticket(
        &self,
        key: &LeaseKey,
        _name: &str,
        request_id: &str,
        since_resource_version: &str,
    ) -> impl Future<Output = Result<Option<Versioned<Waiter>>, StoreError>> + Send {
        let (client, request_id) = (self.client, request_id.to_owned());
        let since: u64 = since_resource_version.parse().unwrap_or(0);
        watch(&self.core, client, key, move |core, lease, reply| {
            core.world.log(core.now, || {
                format!("c{client} watches ticket {request_id} in lease {lease} from {since}")
            });
            core.watch_ticket(lease, client, &request_id, since, reply);
        })
    }
}

/// A watch of `client` in the cluster of `key`: it travels there and is registered by `start`
/// (which delivers the first change after its version, whenever that happens); during a
/// partition it fails with `Unavailable` instead.
fn watch<T: Send + 'static>(
    core: &Arc<Mutex<Core>>,
    client: usize,
    key: &LeaseKey,
    start: impl FnOnce(&mut Core, usize, Arc<Mutex<Reply<Result<T, StoreError>>>>) + Send + 'static,
) -> Call<Result<T, StoreError>> {
    let lease = lock(core).world.lease_index(key);
    Call::new(core, move |core, reply| {
        let there = core.net_delay();
        core.after(there, move |core| {
            let now = core.now;
            if core.world.partitioned(client, lease, now) {
                let back = core.net_delay();
                let error = partitioned(core, lease);
                core.after(back, move |_| deliver(&reply, Err(error)));
            } else {
                start(core, lease, reply);
            }
        });
    })
}

/// One process's clocks: monotonic = simulated real time; wall = real time plus its skew.
pub struct SimClock {
    pub core: Arc<Mutex<Core>>,
    pub skew_us: i64,
}

/// 2026-01-01T13:00:00Z, the simulated epoch of real time.
pub const BASE_US: i64 = 1_767_272_400_000_000;

pub fn wall_at(now: u64, skew_us: i64) -> Timestamp {
    Timestamp::from_microsecond(BASE_US + now as i64 + skew_us).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Clock for SimClock {
    fn wall_now(&self) -> Timestamp {
        wall_at(lock(&self.core).now, self.skew_us)
    }

    fn mono_now(&self) -> Duration {
        Duration::from_micros(lock(&self.core).now)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        let micros = u64::try_from(duration.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX / 4);
        let deadline = lock(&self.core).now.saturating_add(micros);
        Sleep {
            core: Arc::clone(&self.core),
            deadline,
            armed: false,
        }
    }
}

pub struct Sleep {
    core: Arc<Mutex<Core>>,
    deadline: u64,
    armed: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut core = lock(&this.core);
        if core.now >= this.deadline {
            return Poll::Ready(());
        }
        if !this.armed {
            this.armed = true;
            let waker = cx.waker().clone();
            core.at(this.deadline, move |_| waker.wake());
        }
        Poll::Pending
    }
}

/// The fenced register, as one client reaches it.
pub struct SimFence {
    pub core: Arc<Mutex<Core>>,
    pub client: usize,
}

impl Fence for SimFence {
    fn advance_epoch(
        &self,
        _lock_set: &LockSet,
        floor: Epoch,
    ) -> impl Future<Output = Result<Epoch, FenceError>> + Send {
        let client = self.client;
        Call::new(&self.core, move |core, reply| {
            let there = core.net_delay();
            core.after(there, move |core| {
                let epoch = core.world.stamp(floor.0);
                let now = core.now;
                core.world
                    .log(now, || format!("c{client} stamps epoch {epoch}"));
                let back = core.net_delay();
                core.after(back, move |_| deliver(&reply, Ok(Epoch(epoch))));
            });
        })
    }
}

/// A deletion of the state carrying `epoch`: true if the register accepted it.
pub fn fenced_delete(core: &Arc<Mutex<Core>>, client: usize, epoch: u64) -> Call<bool> {
    Call::new(core, move |core, reply| {
        let there = core.net_delay();
        core.after(there, move |core| {
            let now = core.now;
            let accepted = core.world.fenced_delete(client, epoch, now);
            let back = core.net_delay();
            core.after(back, move |_| deliver(&reply, accepted));
        });
    })
}

/// A state write carrying `epoch`: true if the register accepted it.
pub fn fenced_write(core: &Arc<Mutex<Core>>, client: usize, epoch: u64) -> Call<bool> {
    Call::new(core, move |core, reply| {
        let there = core.net_delay();
        core.after(there, move |core| {
            let now = core.now;
            let accepted = core.world.fenced_write(client, epoch, now);
            core.world.log(now, || {
                format!("c{client} writes with epoch {epoch}: accepted {accepted}")
            });
            let back = core.net_delay();
            core.after(back, move |_| deliver(&reply, accepted));
        });
    })
}

/// The re-creation of a deleted deployment with the state at `epoch`: true if it was absent
/// (and is now created).
pub fn fenced_create(core: &Arc<Mutex<Core>>, client: usize, epoch: u64) -> Call<bool> {
    Call::new(core, move |core, reply| {
        let there = core.net_delay();
        core.after(there, move |core| {
            let now = core.now;
            let created = core.world.fenced_create(client, epoch, now);
            let back = core.net_delay();
            core.after(back, move |_| deliver(&reply, created));
        });
    })
}
