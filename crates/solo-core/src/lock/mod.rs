//! The lock protocol (R4 to R7): leases across clusters, earliest lock wins, renewal, fencing.
//!
//! The lock of a deployment is one `coordination.k8s.io/v1` Lease per (cluster, namespace) of
//! the deployment, all named after it (a [`LockSet`]). A request ([`Contender`]) takes its
//! [`Stamp`] once, then:
//!
//! 1. claims every lease in parallel by compare-and-swap (create, or replace at the
//!    resourceVersion read). A free or expired lease is claimed only if no live waiter queued in
//!    it has an earlier stamp; otherwise the request queues itself in the lease (a visible
//!    queue, or FIFO cannot hold). Uncontended, that is one round trip per lease;
//! 2. with every lease claimed, stamps a new fencing [`Epoch`] through [`Fence`] and marks every
//!    lease `Held`: the lock is held ([`HeldLock`]);
//! 3. otherwise loses to any live holder with an earlier stamp, to a holder that holds every
//!    lease, and to a `Held` or foreign holder; a loser releases its claims and stays queued,
//!    with its first stamp;
//! 4. waits by watching: it wakes on *any* change of a lease it lacks, watched from the
//!    resourceVersion its decision was based on, or when a blocker expires on its own clock,
//!    and goes back to 1. (A change that cannot alter any decision, such as a heartbeat or a
//!    waiter queued behind us, is noted and the watch resumes from it without a new round.)
//!
//! While waiting it renews its own claims and queue heartbeats. A lost compare-and-swap race
//! means someone else wrote: re-read, decide again (with jittered backoff after repeated
//! races, and at most a few races per lease per round so that one busy lease cannot starve
//! the heartbeats of the others).
//!
//! This is `shared/model/lock.pml`, checked there exhaustively for 3 contenders and 2 leases,
//! and here by the deterministic simulation in `tests/lock_simulation.rs`.
//!
//! # What is guaranteed
//! - **Mutual exclusion while valid**: at most one holder has a lock whose
//!   [`HeldLock::valid_until`] lies in the future. Expiry is judged, as client-go does, on the
//!   observer's monotonic clock from when it *saw* a record, and the holder counts its validity
//!   from when it *sent* the renewal, so wall-clock skew cannot break it. It assumes monotonic
//!   clocks run at about the same rate, and that the holder stops when
//!   [`HeldLock::renew_loop`] resolves.
//! - **Fencing**: a holder that is paused or cut off past its lease may still act before it
//!   notices; only writes that carry its [`Epoch`] and are refused for an older one are safe.
//!   Every state write must carry it.
//! - **FIFO**: among waiters that are visible in every lease when the lock becomes free, the
//!   earliest stamp goes next. A request not yet visible anywhere may be overtaken.
//! - **Progress**: a crashed holder's leases expire after their lease duration, a dead waiter's
//!   entries after the waiter TTL (both timed from when a live contender first saw them).
//!
//! # What is not
//! - Stamps come from wall clocks: a skewed clock changes a request's place in the queue (not
//!   safety). The adapter should correct the clock against the API server's `Date` header.
//! - Anything that writes the Lease without this protocol (`kubectl`, [`break_lease`]) can break
//!   mutual exclusion; fencing still refuses the old holder's state writes. A foreign holder is
//!   waited out like any expired lease.
//! - A request paused for longer than a lease between claiming its last lease and stamping the
//!   epoch can stamp an epoch after the next holder's: that holder's state writes are then
//!   refused (never accepted wrongly) until it acquires again.
//! - Dead queue entries are judged from first observation too, so a fresh client waits up to
//!   one waiter TTL behind an entry left by a crashed waiter; likewise a new `NoWait` request
//!   never takes over a dead holder's lease (it has not watched it expire): `--wait` does.
//! - A waiter that cannot get its heartbeat written for a whole TTL (paused, partitioned, or
//!   losing every race) is treated as dead and may be overtaken.
//! - A [`HeldLock`] dropped without [`HeldLock::release`] stays held until its leases expire.

mod admin;
mod config;
mod contender;
mod decide;
mod error;
mod held;
mod solo_tool;
mod store;
mod types;

pub use admin::{break_lease, break_lock, read_lock};
pub use config::{ConfigError, LockConfig};
pub use contender::{Contender, Progress, WaitPolicy};
pub use decide::{Decision, LeaseView, Observer, decide, may_claim};
pub use error::{Blocker, LockError, blocker_sentence, human_duration};
pub use held::{HeldLock, Validity};
pub use solo_tool::{SOLO_LEASE_SECONDS, SoloToolHolder, solo_sees_held};
pub use store::{Clock, Fence, FenceError, LeaseStore, StoreError};
pub use types::{
    Epoch, Holder, HolderField, Identity, LeaseKey, LeaseRecord, LockSet, Phase, Stamp, Versioned,
    WAITERS_ANNOTATION, Waiter, decode_waiters, encode_waiters,
};
