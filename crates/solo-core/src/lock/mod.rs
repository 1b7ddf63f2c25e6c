//! The lock protocol (R4 to R7): leases across clusters, earliest request first, renewal,
//! fencing.
//!
//! The lock of a deployment is one `coordination.k8s.io/v1` Lease per (cluster, namespace) of
//! the deployment, all named after it (a [`LockSet`]), and one small Lease per waiter beside
//! the first of them (the queue's), its ticket ([`Waiter`]). A request ([`Contender`]) takes its [`Stamp`] once, then
//! follows `docs/model/lock.pml` (checked exhaustively there, for 3 contenders and 2 leases):
//!
//! 1. **look**: lists every namespace in parallel, one request each (the Lease and every
//!    ticket at one resourceVersion); a request already waiting decides on what its open
//!    watches delivered instead. These LISTs do not wait for the API server's cache to reach
//!    the newest revision: a request's first look takes whatever version the cache has
//!    ([`LeaseStore::list_recent`]), a later one a version no older than what it knows
//!    ([`LeaseStore::list_since`]). Only where its own heartbeat just lost a race is the look
//!    consistent: a stale one could show its ticket's older version every time, and every
//!    heartbeat would lose. Either may be stale: a request that does not wait looks
//!    again with a consistent LIST ([`LeaseStore::list`]) before it calls the lock busy, and
//!    only a snapshot taken where the request knew nothing (a first look, or a consistent
//!    one) may spare the round its LIST (3.). A newcomer whose adapter remembers every Lease free after a clean
//!    release of its own ([`LeaseStore::remembered`], across processes) takes that memory for
//!    its first look: it is not a LIST either, so its round lists beside the claims, which
//!    fail if the memory is out of date;
//! 2. **decide** ([`decide`]): behind a live ticket with an earlier stamp (in any namespace);
//!    otherwise the head: a round when no Lease is held by a live other, a yield of its claims
//!    when an earlier claimer holds one, else a wait on the Leases it lacks;
//! 3. **round**: claims every Lease it lacks straight to held, one compare-and-swap each in
//!    parallel, carrying the next fencing [`Epoch`] (one above the highest on the Leases), and
//!    lists the queue's namespace beside the claims, unless the lock has that namespace only
//!    and the look itself was a first or a consistent LIST of it that showed the Lease free:
//!    any snapshot that does shows every ticket queued before that release, and the claim at
//!    its version fails if the Lease changed since. A claim answered first races that LIST
//!    with one no older than the claim; where the adapter answers that one without a request
//!    ([`LeaseStore::lists_since_locally`]) it is the only LIST, after the claim; a claim
//!    elsewhere that fails is followed by a consistent LIST of its namespace. Every Lease ours
//!    and no live earlier ticket: the lock is held ([`HeldLock`]); an earlier ticket: behind; a
//!    lost race: look again;
//! 4. **held**: if a Lease was taken from a holder that did not release it (expired, broken,
//!    or never held by this protocol: [`LeaseRecord::stamp_needed`]), stamps the epoch into
//!    every copy of the state through [`Fence`] before going; a clean handoff writes nothing
//!    more. Its ticket is deleted off the critical path, which wakes its successor; a lock
//!    that expired while it was being taken (a paused request) is given back, and the request,
//!    still queued, starts again;
//! 5. **queue** (before any wait): creates its ticket in the lock set's queue namespace
//!    ([`LockSet::queue_key`]), then looks again;
//! 6. **wait**: behind, it watches only its predecessor's ticket (the live one with the latest
//!    earlier stamp), from the version its decision saw, and its death on our clock; the head
//!    watches the Leases it lacks and their holders' expiry, and looks again when one changes
//!    (no older than the change: an earlier stamp may have queued meanwhile, and a claim over
//!    it would only be given back). So a handoff wakes the head only,
//!    and the new holder's ticket deletion wakes its successor only. Watches stay open across
//!    wake-ups ([`LeaseStore::watch_change`], [`LeaseStore::watch_ticket`]).
//!
//! While waiting, and while it takes hold (a stamp, a renewal that may be retried until the
//! lock's validity, longer than a heartbeat may lapse), it beats its tickets' heartbeats (only
//! it writes them: no conflicts); while waiting, it also renews any claim it holds. Claims
//! last [`LockConfig::lease_duration`] and only the held lock gets
//! [`LockConfig::hold_duration`] (a kept lock's `--for`), so a crashed claimer blocks nobody
//! for long. A ticket dead on our clock is deleted by whoever sees it so. A lost
//! compare-and-swap race means someone else wrote: look again (with jittered backoff after
//! repeated races). A cluster that fails transiently ([`StoreError::is_transient`]:
//! unreachable, 429/5xx, timed out) is listed again after a jittered backoff while the request
//! keeps its tickets; any other error (a missing namespace, 403, an invalid request) ends the
//! wait at once with [`LockError::Store`] naming the cluster and namespace.
//!
//! Once held: renew every lease on its own, each request bounded by
//! [`LockConfig::request_timeout`] (a hanging apiserver holds up only its own lease), and stop
//! the work when [`HeldLock::renew_loop`] resolves: at the latest at [`HeldLock::valid_until`],
//! a [`LockConfig::safety_margin`] before the leases could expire. A release clears the
//! holder and keeps the Lease with its epoch. A lock kept beyond its process is resumed with
//! [`HeldLock::resume`] from its [`KeptLock`] and renewed through the same path. A release
//! that cannot reach a cluster says which leases stay held ([`LockError::Release`]). A holder
//! checks, under the lock, that the newest state names exactly the set it holds
//! ([`HeldLock::confirm_lock_set`]; a change of `clusters` locks [`LockSet::for_change`], the
//! union of the old and new sets). State writes are admitted by [`fencing::admits`] only.
//!
//! The deterministic simulation in `tests/lock_simulation.rs` runs this code against the same
//! checks as the model (and `tests/lock_rules.rs` tells each rule's story, with the rule
//! sabotaged).
//!
//! # What is guaranteed
//! - **Mutual exclusion while valid**: at most one holder has a lock whose
//!   [`HeldLock::valid_until`] lies in the future. Expiry is judged, as client-go does, on the
//!   observer's monotonic clock from when it *saw* a record (once the read that showed it has
//!   answered, never from before: a slow read would shorten the hold by its length), and the
//!   holder counts its validity from when it *sent* the renewal, minus the safety margin, so
//!   wall-clock skew cannot break it. It assumes monotonic clocks run at about the same rate
//!   and count suspended time ([`Clock::mono_now`]: `CLOCK_BOOTTIME`), and that the holder
//!   stops when [`HeldLock::renew_loop`] resolves.
//! - **A lost lock stops the work first**: `renew_loop` resolves by `valid_until`, which is a
//!   safety margin before anyone else may take a lease, however long a request hangs.
//! - **Fencing**: a holder that is paused or cut off past its lease may still act before it
//!   notices; only writes that carry its [`Epoch`] and are refused for any older one
//!   ([`fencing::admits`]) are safe. Every state write, and the deletion, must carry it and
//!   raise the copy's epoch to it. Each holder's epoch is above every earlier holder's; one
//!   whose Lease was taken without its release is fenced by its successor's stamp. Epochs
//!   never go back, not even across a delete and re-create of the deployment.
//! - **FIFO**: among waiters whose ticket is in the queue's namespace when the lock becomes
//!   free, the earliest stamp goes next. A request not yet visible there may be overtaken.
//! - **Reads beside the claim**: a lock taken straight over a clean release in every namespace
//!   says so with the versions it claimed ([`HeldLock::taken_over`]). Nobody held it from
//!   those versions until it was ours, and every write of the holders before them had landed
//!   (or was fenced by a stamp since), so a read started after a look that showed those very
//!   versions sees the state as a read under the lock would: a command may read beside its
//!   claim and save the round trip ([`Contender::on_clean_claim`] names the versions as the
//!   claims go out, for a newcomer and for a waiter woken by a release alike). The look may be
//!   a memory of the answers to its own release: the reads then start before any request is
//!   answered. The simulation checks that
//!   no state write is accepted after the Leases reached those versions.
//! - **Progress**: a crashed holder's leases expire after their hold duration, a crashed
//!   claimer's claims after the (short) lease duration, a dead waiter's tickets after the
//!   waiter TTL (all timed from when a live contender first saw them).
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
//! - A release clears stamp-needed (a clean handoff: the next holder stamps nothing) only while
//!   the lock is valid and no write had an unknown outcome: an adapter whose state write timed
//!   out must say so ([`HeldLock::note_unknown_write`]), or that write, landing after the next
//!   holder's first, would be accepted.
//! - A Lease left by the earlier protocol with an epoch mark (after a deletion) and no
//!   stamp-needed is taken as clean: a state re-created under that protocol may carry a
//!   higher epoch, and the first holder's writes are then refused until the state is stamped
//!   (a `lease break --force` marks the Leases stamp-needed).
//! - Epoch marks survive only on the leases of the lock set at deletion: a deployment
//!   re-created with entirely other namespaces starts above an adapter's own floor only (the
//!   adapter passes it to [`Fence::advance_epoch`]).
//! - Dead tickets are judged from first observation too, so a fresh client waits up to one
//!   waiter TTL behind a ticket left by a crashed waiter (then deletes it); likewise a new
//!   `NoWait` request never takes over a dead holder's lease (it has not watched it expire):
//!   `--wait` does.
//! - A waiter that cannot get its heartbeat written for a whole TTL (paused, partitioned, or
//!   losing every race) is treated as dead and may be overtaken.
//! - Requests queue where their own lock set says ([`LockSet::queue_key`]): a change's union
//!   keeps the queue of the set it extends, but a request made with a set whose queue lies
//!   outside another request's set (one started before a change of `clusters` was committed,
//!   whose first key is gone) is not in that request's queue, and the two are ordered by their
//!   claims only.
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
pub use contender::{CleanClaims, Contender, Progress, WaitPolicy, remembered_free};
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
