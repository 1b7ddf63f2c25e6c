//! A tiny single-threaded deterministic executor with simulated time.
//!
//! Time only moves when every runnable task has been polled: then the earliest scheduled action
//! runs (ties in scheduling order). Among runnable tasks the next one is picked by the seeded
//! RNG, so a seed fixes one interleaving and replays it exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Wake, Waker};

use super::world::World;

/// A small, fast, seedable PRNG (SplitMix64): all randomness of a schedule comes from it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x2545_f491_4f6c_dd1d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }

    /// A fresh generator for a sub-stream (e.g. one contender's own choices).
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Something scheduled to happen at a simulated time: a message arriving, a timer, a fault.
pub type Action = Box<dyn FnOnce(&mut Core) + Send>;

/// The simulated world and its clock, shared by the executor, the store, clocks and fences.
pub struct Core {
    /// Simulated real time, in microseconds.
    pub now: u64,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    actions: Vec<Option<Action>>,
    pub rng: Rng,
    pub world: World,
    pub ready: Arc<Mutex<Ready>>,
    pub actions_run: u64,
}

impl Core {
    pub fn new(rng: Rng, world: World) -> Self {
        Core {
            now: 0,
            heap: BinaryHeap::new(),
            actions: Vec::new(),
            rng,
            world,
            ready: Arc::new(Mutex::new(Ready::default())),
            actions_run: 0,
        }
    }

    /// Runs `action` at simulated time `t` (never in the past).
    pub fn at(&mut self, t: u64, action: impl FnOnce(&mut Core) + Send + 'static) {
        let seq = self.actions.len();
        self.actions.push(Some(Box::new(action)));
        self.heap.push(Reverse((t.max(self.now), seq)));
    }

    /// Runs `action` after `delay` microseconds.
    pub fn after(&mut self, delay: u64, action: impl FnOnce(&mut Core) + Send + 'static) {
        self.at(self.now + delay, action);
    }

    fn pop(&mut self) -> Option<(u64, Action)> {
        let Reverse((t, seq)) = self.heap.pop()?;
        self.actions[seq].take().map(|a| (t, a))
    }

    /// Makes task `id` runnable.
    pub fn wake_task(&self, id: usize) {
        lock(&self.ready).push(id);
    }
}

/// The runnable tasks, each at most once.
#[derive(Default)]
pub struct Ready {
    ids: Vec<usize>,
    queued: Vec<bool>,
}

impl Ready {
    fn push(&mut self, id: usize) {
        if self.queued.len() <= id {
            self.queued.resize(id + 1, false);
        }
        if !self.queued[id] {
            self.queued[id] = true;
            self.ids.push(id);
        }
    }
}

struct TaskWaker {
    id: usize,
    ready: Arc<Mutex<Ready>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.ready).push(self.id);
    }
}

struct Task {
    owner: usize,
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Waker,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunEnd {
    /// Every contender finished its script (or crashed).
    Finished,
    /// An invariant broke; the message says which and how.
    Violation(String),
    /// Nothing left to happen, but some contender has not finished: a deadlock.
    Stuck,
    /// The simulated-time (or step) bound was reached: a livelock, or no progress.
    OutOfTime,
}

pub struct Executor {
    pub core: Arc<Mutex<Core>>,
    tasks: Vec<Option<Task>>,
    rng: Rng,
}

impl Executor {
    pub fn new(core: Core, rng: Rng) -> Self {
        Executor {
            core: Arc::new(Mutex::new(core)),
            tasks: Vec::new(),
            rng,
        }
    }

    /// Adds a task run on behalf of contender `owner` (paused and crashed with it).
    pub fn spawn(&mut self, owner: usize, future: impl Future<Output = ()> + 'static) -> usize {
        let id = self.tasks.len();
        let ready = Arc::clone(&lock(&self.core).ready);
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            ready: Arc::clone(&ready),
        }));
        self.tasks.push(Some(Task {
            owner,
            future: Box::pin(future),
            waker,
        }));
        lock(&ready).push(id);
        id
    }

    /// Runs until every contender is done, an invariant breaks, or a bound is reached.
    pub fn run(&mut self, time_limit: u64, action_limit: u64) -> RunEnd {
        let ready = Arc::clone(&lock(&self.core).ready);
        loop {
            // Poll runnable tasks, in a seeded random order, until none is left.
            loop {
                let id = {
                    let mut r = lock(&ready);
                    if r.ids.is_empty() {
                        break;
                    }
                    let i = self.rng.below(r.ids.len());
                    let id = r.ids.swap_remove(i);
                    r.queued[id] = false;
                    id
                };
                let Some(task) = self.tasks[id].as_mut() else {
                    continue;
                };
                {
                    let mut core = lock(&self.core);
                    let now = core.now;
                    if core.world.crashed(task.owner) {
                        drop(core);
                        // Dropped outside the lock: destructors may touch the world.
                        self.tasks[id] = None;
                        continue;
                    }
                    if core.world.paused(task.owner, now) {
                        core.world.defer(task.owner, id);
                        continue;
                    }
                }
                let waker = task.waker.clone();
                let done = task
                    .future
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready();
                if done {
                    self.tasks[id] = None;
                }
                let mut core = lock(&self.core);
                let now = core.now;
                if let Some(v) = core.world.check_step(now) {
                    return RunEnd::Violation(v);
                }
            }
            let mut core = lock(&self.core);
            if core.world.all_done() {
                return RunEnd::Finished;
            }
            let Some((t, action)) = core.pop() else {
                return RunEnd::Stuck;
            };
            if t > time_limit || core.actions_run > action_limit {
                return RunEnd::OutOfTime;
            }
            core.now = t;
            core.actions_run += 1;
            action(&mut core);
            if let Some(v) = core.world.check_step(t) {
                return RunEnd::Violation(v);
            }
        }
    }
}
