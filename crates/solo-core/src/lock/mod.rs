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
//!    A loser with nothing to yield (no claim of ours, our queue entries fresh) decides on what
//!    its watches delivered, without reading again, and an adapter keeps each watch open across
//!    wake-ups ([`LeaseStore::watch_change`]): so a change still wakes every waiter, but costs
//!    the waiters that cannot go next no request.
//!
//! While waiting it renews its own claims and queue heartbeats. Claims made while waiting last
//! only [`LockConfig::lease_duration`]; only the held lock gets [`LockConfig::hold_duration`]
//! (a kept lock's `--for`), so a crashed waiter blocks nobody for long. A lost compare-and-swap
//! race means someone else wrote: re-read, decide again (with jittered backoff after repeated
//! races, and at most a few races per lease per round so that one busy lease cannot starve
//! the heartbeats of the others). A cluster that fails transiently ([`StoreError::is_transient`]:
//! unreachable, 429/5xx, timed out) is read again after a jittered backoff while the request
//! keeps its place in every queue; any other error (a missing namespace, 403, an invalid
//! request) ends the wait at once with [`LockError::Store`] naming the cluster and namespace.
//!
//! Once held: renew every lease on its own, each request bounded by
//! [`LockConfig::request_timeout`] (a hanging apiserver holds up only its own lease), and stop
//! the work when [`HeldLock::renew_loop`] resolves: at the latest at [`HeldLock::valid_until`],
//! a [`LockConfig::safety_margin`] before the leases could expire. A lock kept beyond its
//! process is resumed with [`HeldLock::resume`] from its [`KeptLock`] and renewed through the
//! same path. A release that cannot reach a cluster says which leases stay held
//! ([`LockError::Release`]). A holder checks, under the lock, that the newest state names
//! exactly the set it holds ([`HeldLock::confirm_lock_set`]; a change of `clusters` locks
//! [`LockSet::for_change`], the union of the old and new sets). Epochs come from
//! [`fencing::next_epoch`]: above every copy and above the high-water mark that
//! [`HeldLock::mark_epoch`] leaves on the leases before a deployment is deleted; writes are
//! admitted by [`fencing::admits`] only.
//!
//! This is `shared/model/lock.pml`, checked there exhaustively for 3 contenders and 2 leases,
//! and here by the deterministic simulation in `tests/lock_simulation.rs` (and the one-story
//! checks of each rule, with the rule sabotaged, in `tests/lock_rules.rs`).
//!
//! # What is guaranteed
//! - **Mutual exclusion while valid**: at most one holder has a lock whose
//!   [`HeldLock::valid_until`] lies in the future. Expiry is judged, as client-go does, on the
//!   observer's monotonic clock from when it *saw* a record, and the holder counts its validity
//!   from when it *sent* the renewal, minus the safety margin, so wall-clock skew cannot break
//!   it. It assumes monotonic clocks run at about the same rate and count suspended time
//!   ([`Clock::mono_now`]: `CLOCK_BOOTTIME`), and that the holder stops when
//!   [`HeldLock::renew_loop`] resolves.
//! - **A lost lock stops the work first**: `renew_loop` resolves by `valid_until`, which is a
//!   safety margin before anyone else may take a lease, however long a request hangs.
//! - **Fencing**: a holder that is paused or cut off past its lease may still act before it
//!   notices; only writes that carry its [`Epoch`] and are refused for any other one
//!   ([`fencing::admits`]) are safe. Every state write, and the deletion, must carry it.
//!   Epochs never go back, not even across a delete and re-create of the deployment.
//! - **FIFO**: among waiters that are visible in every lease when the lock becomes free, the
//!   earliest stamp goes next. A request not yet visible anywhere may be overtaken.
//! - **Progress**: a crashed holder's leases expire after their hold duration, a crashed
//!   waiter's claims after the (short) lease duration, a dead waiter's entries after the waiter
//!   TTL (all timed from when a live contender first saw them).
//!
//! # What is not
//! - Stamps come from wall clocks: a skewed clock changes a request's place in the queue (not
//!   safety). The adapter should correct the clock against the API server's `Date` header.
//! - Resuming a kept lock judges when its leases were last renewed from their `renewTime`,
//!   written by the same user's (server-corrected) wall clock: the monotonic clock of the
//!   process that wrote it is gone. A wall clock stepped back by more than the safety margin
//!   between the two processes can make a resumed lock think it has longer than it has;
//!   fencing still refuses its writes once someone else holds the lock.
//! - Anything that writes the Lease without this protocol (`kubectl`, [`break_lease`]) can break
//!   mutual exclusion; fencing still refuses the old holder's state writes. A foreign holder is
//!   waited out like any expired lease; one with no `leaseDurationSeconds` is taken to hold for
//!   [`UNKNOWN_LEASE_DURATION`] from when we first saw it (never as already expired).
//! - A request paused for longer than a lease between claiming its last lease and stamping the
//!   epoch can stamp an epoch after the next holder's: that holder's state writes are then
//!   refused (never accepted wrongly) until it acquires again.
//! - Epoch marks survive only on the leases of the lock set at deletion: a deployment
//!   re-created with entirely other namespaces starts above an adapter's own floor only (the
//!   adapter passes it to [`Fence::advance_epoch`]).
//! - Dead queue entries are judged from first observation too, so a fresh client waits up to
//!   one waiter TTL behind an entry left by a crashed waiter; likewise a new `NoWait` request
//!   never takes over a dead holder's lease (it has not watched it expire): `--wait` does.
//! - A waiter that cannot get its heartbeat written for a whole TTL (paused, partitioned, or
//!   losing every race) is treated as dead and may be overtaken.
//! - A [`HeldLock`] dropped without [`HeldLock::release`] stays held until its leases expire
//!   (that is how a lock is kept).

mod admin;
mod config;
mod contender;
mod decide;
mod error;
pub mod fencing;
mod held;
mod lock_set;
mod solo_tool;
mod store;
mod types;

pub use admin::{break_lease, break_lock, read_lock};
pub use config::{ConfigError, LockConfig, Sabotage};
pub use contender::{Contender, Progress, WaitPolicy};
pub use decide::{Decision, LeaseView, Observer, decide, has_earlier};
pub use error::{Blocker, LockError, blocker_sentence, human_duration};
pub use held::{HeldLock, KeptLock, Validity};
pub use lock_set::{LockSetMismatch, check_lock_set};
pub use solo_tool::{SOLO_LEASE_SECONDS, SoloToolHolder, solo_sees_held};
pub use store::{Clock, Fence, FenceError, LeaseStore, LockListing, StoreError};
pub use types::{
    EPOCH_MARK_ANNOTATION, Epoch, Holder, HolderField, Identity, LeaseKey, LeaseRecord, LockSet,
    Phase, STAMP_NEEDED_ANNOTATION, Stamp, UNKNOWN_LEASE_DURATION, Versioned, Waiter,
};
