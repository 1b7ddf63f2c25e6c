//! A deterministic simulation of the lock protocol, for `tests/lock_*.rs`.
//!
//! One schedule = one seed. The seed chooses the lock set (3 clusters, sometimes 2 namespaces
//! in one, sometimes one Lease), 5 to 7 contenders with wall clocks skewed by up to ±30 s,
//! their scripts (how many times they lock, their wait policies, their work), the faults
//! (crashes, pauses longer or shorter than a lease, network partitions, a foreign tool taking
//! free leases) and every network delay and scheduling choice. The real protocol of `solo_core::lock` runs on top, on
//! a tiny executor ([`exec`]), over simulated clusters ([`world`], [`net`]).
//!
//! Checked at every step: mutual exclusion of valid holders, fencing (no accepted write from
//! anyone but the newest holder), FIFO on tickets (`docs/model/README.md`: nobody enters ahead
//! of a live earlier waiter whose ticket was in the queue's namespace when the lock last became
//! free)
//! and progress (every contender that does not crash finishes its script within a bound on
//! simulated time).

#![allow(dead_code)]

pub mod exec;
pub mod net;
pub mod world;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{Either, select};
use solo_core::lock::{
    Contender, HeldLock, Identity, LeaseKey, LockConfig, LockError, LockSet, WaitPolicy,
};

use exec::{Core, Executor, Rng, RunEnd, lock};
use net::{SimClock, SimFence, SimStore, fenced_create, fenced_delete, fenced_write};
pub use world::{Sabotage, Stats};
use world::{World, with_world};

const SECOND: u64 = 1_000_000;

/// What one schedule looked like, for the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub stats: Stats,
    pub sim_time: u64,
    pub actions: u64,
}

/// A broken schedule: what broke, and the seed that replays it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
    /// Whether it ran with slow links ([`run_schedule_with`]).
    pub slow_links: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slow = if self.slow_links {
            "SOLO_SIM_SLOW_LINKS=1 "
        } else {
            ""
        };
        write!(
            f,
            "schedule {} failed: {}\n  replay: {slow}SOLO_SIM_SEED={} cargo test -p solo-core --test lock_simulation replay -- --nocapture\n  (add SOLO_SIM_TRACE=1 for a trace)",
            self.seed, self.message, self.seed
        )
    }
}

/// The choices of one contender, drawn from the seed.
struct Script {
    start: u64,
    acquisitions: u32,
}

/// Runs schedule `seed`.
pub fn run_schedule(seed: u64, sabotage: Sabotage, trace: bool) -> Result<Outcome, Failure> {
    run_schedule_with(seed, sabotage, trace, false)
}

/// Runs schedule `seed`; with `slow_links`, every other time one client's link to one cluster
/// also turns slow for a while (0.5 to 6 s more each way), drawn apart from the rest of the
/// schedule, which stays as it was.
pub fn run_schedule_with(
    seed: u64,
    sabotage: Sabotage,
    trace: bool,
    slow_links: bool,
) -> Result<Outcome, Failure> {
    let mut rng = Rng::new(seed);
    let two_namespaces = rng.chance(25);
    let mut keys = vec![
        LeaseKey::new("cluster-1", "net"),
        LeaseKey::new("cluster-2", "net"),
        LeaseKey::new("cluster-3", "net"),
    ];
    if two_namespaces {
        keys.push(LeaseKey::new("cluster-1", "net-b"));
    } else if seed % 4 == 3 {
        // A lock of one Lease (the round may trust its look), chosen without a draw so that
        // the other schedules stay as they were.
        keys.truncate(1);
    }
    let lock_set = LockSet::new("my-network", keys.clone()).map_err(|e| Failure {
        seed,
        slow_links,
        message: e.to_string(),
    })?;
    let lease_secs = [10, 15, 30][rng.below(3)];
    let mut config = LockConfig::with_lease_duration(Duration::from_secs(lease_secs));
    config.sabotage = sabotage.core;
    let lease = lease_secs * SECOND;
    let contenders = match rng.range(0, 100) {
        0..55 => 5,
        55..85 => 6,
        _ => 7,
    };

    let mut world = World::new(
        lock_set.keys(),
        contenders,
        sabotage,
        config.waiter_ttl.as_micros() as u64,
    );
    world.trace = trace;
    world.claim_limit = Some(lease);
    world.stale_caches = true;
    let scripts: Vec<Script> = (0..contenders)
        .map(|_| Script {
            start: rng.range(0, 8 * SECOND),
            acquisitions: match rng.range(0, 100) {
                0..50 => 1,
                50..85 => 2,
                _ => 3,
            },
        })
        .collect();

    // Faults: at most two crashes (never everyone), pauses, partitions, foreign claims.
    let mut faults: Vec<(u64, Fault)> = Vec::new();
    for _ in 0..rng.range(0, 3) {
        if rng.chance(50) {
            faults.push((
                rng.range(0, 90 * SECOND),
                Fault::Crash(rng.below(contenders)),
            ));
        }
    }
    for _ in 0..rng.range(0, 4) {
        let length = rng.range(lease / 3, 3 * lease);
        faults.push((
            rng.range(0, 120 * SECOND),
            Fault::Pause(rng.below(contenders), length),
        ));
    }
    // Pause whoever holds the lock then, for longer than a lease: the fencing case.
    if rng.chance(40) {
        let length = rng.range(lease + SECOND, 2 * lease);
        faults.push((
            rng.range(5 * SECOND, 60 * SECOND),
            Fault::PauseHolder(length),
        ));
    }
    if rng.chance(30) {
        let (from, length) = (rng.range(0, 90 * SECOND), rng.range(2 * SECOND, 2 * lease));
        world
            .partitions
            .push((rng.below(contenders), rng.below(3), from, from + length));
    }
    for _ in 0..rng.range(0, 3) {
        if rng.chance(40) {
            let duration = Duration::from_secs(rng.range(5, 40));
            faults.push((
                rng.range(0, 100 * SECOND),
                Fault::Foreign(rng.below(lock_set.keys().len()), duration),
            ));
        }
    }
    // An apiserver stopped (SIGSTOP) for about a lease: renewals to it hang.
    if rng.chance(30) {
        let (from, length) = (rng.range(0, 90 * SECOND), rng.range(lease / 2, 2 * lease));
        world.hangs.push((rng.below(3), from, from + length));
    }
    let mut links = Rng::new(seed.rotate_left(29) ^ 0x5_1015);
    if slow_links && links.chance(50) {
        // Half of them at the start, where first looks and the Leases' creation meet.
        let start = if links.chance(50) { 10 } else { 90 };
        let (from, length) = (
            links.range(0, start * SECOND),
            links.range(2 * SECOND, 2 * lease),
        );
        let delay = links.range(SECOND / 2, 6 * SECOND);
        let (client, cluster) = (links.below(contenders), links.below(3));
        world
            .slow_links
            .push((client, cluster, from, from + length, delay));
        // Its requests may take a TTL: it may be judged dead, and overtaken.
        world.contenders[client]
            .disruptions
            .push((from, from + length + 2 * delay));
    }
    for &(client, _, from, to) in &world.partitions {
        world.contenders[client].disruptions.push((from, to));
    }
    // A stopped apiserver stalls everyone's requests to it: a disruption for all.
    for &(_, from, to) in &world.hangs.clone() {
        for con in &mut world.contenders {
            con.disruptions.push((from, to));
        }
    }

    world.log(0, || {
        format!(
            "faults: partitions (client, lease, from, to) {:?}, stopped apiservers (lease, from, to) {:?}, \
             slow links (client, lease, from, to, delay) {:?}",
            world.partitions, world.hangs, world.slow_links
        )
    });
    let core = Core::new(rng.fork(), world);
    let mut executor = Executor::new(core, rng.fork());
    let shared = Arc::clone(&executor.core);
    for (t, fault) in faults {
        lock(&shared).at(t, move |core| fault.apply(core));
    }
    for (id, script) in scripts.into_iter().enumerate() {
        let skew = rng.range(0, 60 * SECOND + 1) as i64 - 30 * SECOND as i64;
        let actor = Actor {
            id,
            core: Arc::clone(&shared),
            store: Arc::new(SimStore {
                core: Arc::clone(&shared),
                client: id,
            }),
            clock: Arc::new(SimClock {
                core: Arc::clone(&shared),
                skew_us: skew,
            }),
            fence: Arc::new(SimFence {
                core: Arc::clone(&shared),
                client: id,
            }),
            lock_set: lock_set.clone(),
            config: config.clone(),
            rng: rng.fork(),
            lease,
        };
        let task = executor.spawn(id, actor.run(script));
        lock(&shared).world.contenders[id].task = task;
    }

    // Every script fits in well under this, unless the protocol stops making progress.
    let bound = 3_600 * SECOND;
    let end = executor.run(bound, 2_000_000);
    let core = lock(&shared);
    let failure = |message: String| Failure {
        seed,
        message,
        slow_links,
    };
    match end {
        RunEnd::Finished => Ok(Outcome {
            stats: core.world.stats,
            sim_time: core.now,
            actions: core.actions_run,
        }),
        RunEnd::Violation(v) => Err(failure(v)),
        RunEnd::Stuck => Err(failure(format!(
            "deadlock: nothing can happen any more at {}us, yet {}",
            core.now,
            unfinished(&core.world)
        ))),
        RunEnd::OutOfTime => Err(failure(format!(
            "no progress (livelock?) within {}s of simulated time ({} actions): {}",
            bound / SECOND,
            core.actions_run,
            unfinished(&core.world)
        ))),
    }
}

fn unfinished(world: &World) -> String {
    let waiting: Vec<String> = world
        .contenders
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.finished && !c.crashed)
        .map(|(i, c)| format!("c{i} ({}, {} done)", c.request_id, c.acquisitions))
        .collect();
    format!("contenders not finished: {}", waiting.join(", "))
}

enum Fault {
    Crash(usize),
    Pause(usize, u64),
    PauseHolder(u64),
    Foreign(usize, Duration),
}

impl Fault {
    fn apply(self, core: &mut Core) {
        let now = core.now;
        match self {
            Fault::Crash(c) => {
                let con = &mut core.world.contenders[c];
                if con.finished || con.crashed {
                    return;
                }
                con.crashed = true;
                con.in_cs = false;
                let task = con.task;
                core.world.log(now, || format!("c{c} CRASHES"));
                core.wake_task(task);
            }
            Fault::PauseHolder(length) => {
                if let Some(c) = core
                    .world
                    .contenders
                    .iter()
                    .position(|c| c.in_cs && !c.crashed)
                {
                    Fault::Pause(c, length).apply(core);
                }
            }
            Fault::Pause(c, length) => {
                let con = &mut core.world.contenders[c];
                if con.finished || con.crashed || con.paused_until > now {
                    return;
                }
                con.paused_until = now + length;
                con.disruptions.push((now, now + length));
                con.pauses.push((now, now + length));
                core.world
                    .log(now, || format!("c{c} PAUSED for {}s", length / SECOND));
                core.at(now + length, move |core| {
                    let now = core.now;
                    core.world.log(now, || format!("c{c} resumes"));
                    core.wake_deferred(c);
                });
            }
            Fault::Foreign(lease, duration) => {
                let wall = net::wall_at(now, 0);
                core.foreign_claim(lease, duration, wall);
            }
        }
    }
}

/// One simulated `solo` process: locks the deployment a few times, works under the lock with
/// fenced writes while renewing, releases.
struct Actor {
    id: usize,
    core: Arc<Mutex<Core>>,
    store: Arc<SimStore>,
    clock: Arc<SimClock>,
    fence: Arc<SimFence>,
    lock_set: LockSet,
    config: LockConfig,
    rng: Rng,
    lease: u64,
}

impl Actor {
    fn sleep(&self, micros: u64) -> impl Future<Output = ()> + use<'_> {
        solo_core::lock::Clock::sleep(&*self.clock, Duration::from_micros(micros))
    }

    /// The work under the lock: a few fenced state writes, spread over up to two leases,
    /// stopped when the renewal loop says the lock is lost. True if it was lost.
    async fn work<S, C>(&mut self, held: &HeldLock<S, C>, epoch: u64) -> bool
    where
        S: solo_core::lock::LeaseStore,
        C: solo_core::lock::Clock,
    {
        let id = self.id;
        // Mostly short work; a quarter of it long enough to need renewals.
        let steps = self.rng.range(1, 5);
        let longest = if self.rng.chance(25) {
            self.lease / 2
        } else {
            3 * SECOND / 2
        };
        let spacing: Vec<u64> = (0..steps)
            .map(|_| self.rng.range(SECOND / 20, longest))
            .collect();
        let careful = self.rng.chance(50);
        // Sometimes the process is paused for longer than a lease right before a write (a
        // laptop lid closed): the write goes out when it wakes, and fencing must refuse it.
        let mut pause_before_write = self
            .rng
            .chance(10)
            .then(|| self.rng.range(self.lease + SECOND, 2 * self.lease));
        let validity = held.validity();
        let work = {
            let (core, clock) = (Arc::clone(&self.core), Arc::clone(&self.clock));
            async move {
                // The deployment was deleted by an earlier holder: this one creates it again,
                // with the state at its epoch (a create: nothing fences it but the lock).
                if with_world(&core, |w, _| w.deleted) {
                    fenced_create(&core, id, epoch).await;
                }
                for gap in spacing {
                    solo_core::lock::Clock::sleep(&*clock, Duration::from_micros(gap)).await;
                    // A careful process checks before it writes; a pause can still come between.
                    if careful && !validity.is_valid(solo_core::lock::Clock::mono_now(&*clock)) {
                        return true;
                    }
                    if let Some(length) = pause_before_write.take() {
                        Fault::Pause(id, length).apply(&mut lock(&core));
                    }
                    solo_core::lock::Clock::sleep(&*clock, Duration::from_millis(5)).await;
                    if !fenced_write(&core, id, epoch).await {
                        return true;
                    }
                }
                false
            }
        };
        let renew = held.renew_loop();
        if self.rng.chance(50) {
            match select(pin!(renew), pin!(work)).await {
                Either::Left(_) => true,
                Either::Right((lost, _)) => lost,
            }
        } else {
            match select(pin!(work), pin!(renew)).await {
                Either::Left((lost, _)) => lost,
                Either::Right(_) => true,
            }
        }
    }

    async fn run(mut self, script: Script) {
        let id = self.id;
        self.sleep(script.start).await;
        for k in 0..script.acquisitions {
            let identity = Identity {
                user: format!("user{id}@example.com"),
                host: format!("host-{id}"),
                pid: 4000 + id as u32,
            };
            let request_id = format!("c{id}.{k}");
            // Some requests keep the lock beyond their process (`solo lease acquire`), some
            // delete the deployment (which is then re-created by the next holder).
            let kept = self.rng.chance(10);
            let deletes = !kept && self.rng.chance(8);
            let config = if kept {
                self.config
                    .clone()
                    .holding_for(Duration::from_micros(2 * self.lease))
            } else {
                self.config.clone()
            };
            let contender = Contender::with_request_id(
                self.lock_set.clone(),
                identity,
                request_id.clone(),
                config.clone(),
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                Arc::clone(&self.fence),
            );
            let mut contender = match contender {
                Ok(c) => c,
                Err(e) => return with_world(&self.core, |w, _| w.fail(format!("c{id}: {e}"))),
            };
            with_world(&self.core, |w, _| {
                w.contenders[id].request_id = request_id.clone();
                w.contenders[id].stamp = Some(contender.stamp());
            });
            let mut attempt = 0;
            let held = loop {
                attempt += 1;
                let policy = match self.rng.range(0, 100) {
                    _ if attempt > 2 => WaitPolicy::Forever,
                    0..15 => WaitPolicy::NoWait,
                    15..30 => WaitPolicy::Until(Duration::from_micros(
                        self.rng.range(SECOND, 2 * self.lease),
                    )),
                    _ => WaitPolicy::Forever,
                };
                with_world(&self.core, |w, now| {
                    let gives_up = match policy {
                        WaitPolicy::Until(d) => Some(now + d.as_micros() as u64),
                        _ => None,
                    };
                    w.begin_acquire(id, policy != WaitPolicy::NoWait, gives_up, now);
                    w.log(now, || format!("c{id} acquires ({request_id}, {policy:?})"));
                });
                match contender.acquire(policy, |_| {}).await {
                    Ok(held) => break held,
                    Err(
                        e @ (LockError::Busy { .. }
                        | LockError::Timeout { .. }
                        | LockError::Store { .. }),
                    ) => {
                        let failed = matches!(e, LockError::Store { .. });
                        with_world(&self.core, |w, now| {
                            w.end_acquire(id, failed, now);
                            w.log(now, || format!("c{id}: {e}"));
                        });
                        let think = self.rng.range(0, 3 * SECOND);
                        self.sleep(think).await;
                    }
                    Err(e) => {
                        return with_world(&self.core, |w, _| {
                            w.fail(format!("c{id}: unexpected error: {e}"))
                        });
                    }
                }
            };
            let epoch = held.epoch().0;
            with_world(&self.core, |w, now| {
                w.enter_cs(id, held.validity(), epoch, held.taken_over(), now)
            });
            let mut lost = self.work(&held, epoch).await;
            let mut held = held;
            if kept && !lost {
                // The process ends and keeps the lock; a later process resumes it.
                let record = held.kept();
                drop(held);
                with_world(&self.core, |w, now| {
                    w.contenders[id].in_cs = false;
                    w.log(now, || format!("c{id} exits, keeping the lock"));
                });
                let gap = self.rng.range(0, self.lease);
                self.sleep(gap).await;
                let resumed = HeldLock::resume(
                    record,
                    config.clone(),
                    Arc::clone(&self.store),
                    Arc::clone(&self.clock),
                )
                .await;
                match resumed {
                    Ok(resumed) => {
                        with_world(&self.core, |w, now| {
                            w.log(now, || format!("c{id} resumes its kept lock"));
                            w.enter_cs(id, resumed.validity(), epoch, None, now)
                        });
                        lost = self.work(&resumed, epoch).await;
                        held = resumed;
                    }
                    Err(e) => {
                        with_world(&self.core, |w, now| {
                            w.log(now, || format!("c{id} could not resume: {e}"));
                            w.contenders[id].acquisitions += 1;
                            w.stats.lost_locks += 1;
                        });
                        continue;
                    }
                }
            }
            if deletes && !lost {
                // Deleting the deployment: leave the epoch mark first, then delete, fenced.
                if held.mark_epoch().await.is_ok() {
                    lost = !fenced_delete(&self.core, id, epoch).await;
                }
            }
            with_world(&self.core, |w, now| w.exit_cs(id, lost, now));
            let _ = held.release().await;
            let think = self.rng.range(0, 5 * SECOND);
            self.sleep(think).await;
        }
        with_world(&self.core, |w, _| w.contenders[id].finished = true);
    }
}

/// A hand-scripted scenario on the same simulated clusters: for tests that tell one story.
pub struct Harness {
    pub executor: Executor,
    pub core: Arc<Mutex<Core>>,
    pub lock_set: LockSet,
    pub config: LockConfig,
}

/// A contender of the harness.
pub type SimContender = Contender<SimStore, SimClock, SimFence>;

impl Harness {
    /// `clients` processes over 3 clusters (one namespace each), leases of `lease_secs`.
    pub fn new(seed: u64, clients: usize, lease_secs: u64) -> Self {
        let keys = ["cluster-1", "cluster-2", "cluster-3"].map(|c| LeaseKey::new(c, "net"));
        Self::with_keys(seed, clients, lease_secs, keys.to_vec())
    }

    /// `clients` processes over the leases `keys` (the default lock set is all of them).
    pub fn with_keys(seed: u64, clients: usize, lease_secs: u64, keys: Vec<LeaseKey>) -> Self {
        let lock_set = LockSet::new("my-network", keys).unwrap_or_else(|e| panic!("{e}"));
        let config = LockConfig::with_lease_duration(Duration::from_secs(lease_secs));
        let mut rng = Rng::new(seed);
        let world = World::new(
            lock_set.keys(),
            clients,
            Sabotage::default(),
            config.waiter_ttl.as_micros() as u64,
        );
        let mut world = world;
        world.claim_limit = Some(config.lease_duration.as_micros() as u64);
        let executor = Executor::new(Core::new(rng.fork(), world), rng.fork());
        let core = Arc::clone(&executor.core);
        Harness {
            executor,
            core,
            lock_set,
            config,
        }
    }

    pub fn store(&self, client: usize) -> Arc<SimStore> {
        Arc::new(SimStore {
            core: Arc::clone(&self.core),
            client,
        })
    }

    pub fn clock(&self, skew_secs: i64) -> Arc<SimClock> {
        Arc::new(SimClock {
            core: Arc::clone(&self.core),
            skew_us: skew_secs * SECOND as i64,
        })
    }

    pub fn fence(&self, client: usize) -> Arc<SimFence> {
        Arc::new(SimFence {
            core: Arc::clone(&self.core),
            client,
        })
    }

    /// A request of `client` as `user`, with its clock skewed by `skew_secs`.
    pub fn contender(&self, client: usize, user: &str, skew_secs: i64) -> SimContender {
        self.contender_with(
            client,
            user,
            skew_secs,
            self.lock_set.clone(),
            self.config.clone(),
        )
    }

    /// A request of `client` for `lock_set` with `config`.
    pub fn contender_with(
        &self,
        client: usize,
        user: &str,
        skew_secs: i64,
        lock_set: LockSet,
        config: LockConfig,
    ) -> SimContender {
        let identity = Identity {
            user: user.to_owned(),
            host: format!("host-{client}"),
            pid: 4000 + client as u32,
        };
        let request_id = format!("c{client}");
        lock(&self.core).world.contenders[client].request_id = request_id.clone();
        Contender::with_request_id(
            lock_set,
            identity,
            request_id,
            config,
            self.store(client),
            self.clock(skew_secs),
            self.fence(client),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `story` as process `client`; the run ends when every client's story has ended.
    pub fn spawn(&mut self, client: usize, story: impl Future<Output = ()> + 'static) {
        let core = Arc::clone(&self.core);
        let task = self.executor.spawn(client, async move {
            story.await;
            lock(&core).world.contenders[client].finished = true;
        });
        lock(&self.core).world.contenders[client].task = task;
    }

    /// Runs every story to its end (panics on a violation, a deadlock or a timeout).
    pub fn run(&mut self) {
        match self.executor.run(3_600 * SECOND, 5_000_000) {
            RunEnd::Finished => {}
            other => panic!("the scenario did not finish: {other:?}"),
        }
    }

    /// Runs every story to its end, or to the first broken invariant.
    pub fn try_run(&mut self) -> RunEnd {
        self.executor.run(3_600 * SECOND, 5_000_000)
    }

    /// Process `client` crashes at `secs` of simulated time (its tasks are dropped).
    pub fn crash_at(&self, client: usize, secs: f64) {
        let at = (secs * SECOND as f64) as u64;
        lock(&self.core).at(at, move |core| Fault::Crash(client).apply(core));
    }

    /// The apiserver of cluster `cluster` is stopped from `from_secs` for `for_secs`.
    pub fn hang(&self, cluster: usize, from_secs: f64, for_secs: f64) {
        let from = (from_secs * SECOND as f64) as u64;
        let to = from + (for_secs * SECOND as f64) as u64;
        lock(&self.core).world.hangs.push((cluster, from, to));
    }

    /// Simulated real time, in seconds.
    pub fn now_secs(&self) -> f64 {
        lock(&self.core).now as f64 / SECOND as f64
    }

    /// The lease in cluster `i` as stored.
    pub fn lease(&self, i: usize) -> Option<solo_core::lock::LeaseRecord> {
        lock(&self.core).world.leases[i].record.as_deref().cloned()
    }

    /// A foreign tool takes the free lease in cluster `i`, now.
    pub fn foreign_claim(&self, i: usize, duration: Duration) {
        let mut core = lock(&self.core);
        let wall = net::wall_at(core.now, 0);
        core.foreign_claim(i, duration, wall);
    }

    /// Requests of `client` to cluster `i` fail from `from_secs` for `for_secs`.
    pub fn partition(&self, client: usize, cluster: usize, from_secs: u64, for_secs: u64) {
        let from = from_secs * SECOND;
        lock(&self.core)
            .world
            .partitions
            .push((client, cluster, from, from + for_secs * SECOND));
    }

    /// How many lease writes the clusters have accepted.
    pub fn lease_writes(&self) -> u64 {
        lock(&self.core).world.stats.lease_writes
    }

    /// How many ticket writes (creates, heartbeats, deletes) the clusters have accepted.
    pub fn ticket_writes(&self) -> u64 {
        lock(&self.core).world.stats.ticket_writes
    }

    /// The request ids with a ticket in the namespace of lease `i` now.
    pub fn tickets(&self, i: usize) -> Vec<String> {
        lock(&self.core).world.leases[i]
            .tickets()
            .map(|w| w.request_id.clone())
            .collect()
    }
}

/// Sleeps on a harness clock (seconds of simulated time).
pub async fn sleep_secs(clock: &SimClock, secs: f64) {
    solo_core::lock::Clock::sleep(clock, Duration::from_secs_f64(secs)).await;
}
