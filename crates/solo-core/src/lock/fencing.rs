//! The one fencing rule: which epoch may write, and how a new epoch is chosen.
//!
//! Every copy of a deployment's state carries the epoch of the last holder that wrote or stamped
//! it. A write is admitted only with an epoch at least that one, and raises it to its own in the
//! same compare-and-swap ([`admits`]): an older epoch is a holder that lost the lock. Epochs come
//! from the Leases: each claim carries one above the highest in the lock set, and a release
//! keeps it ([`LeaseRecord::epoch_mark`]), so every holder's epoch is above every earlier
//! holder's. A holder that handed over cleanly (released) writes nothing more, so a clean
//! handoff needs no stamp; a holder whose Lease was taken after it expired is fenced by the
//! stamp of whoever took it ([`LeaseRecord::stamp_needed`]), which picks an epoch above every
//! copy too ([`next_epoch`]). The deletion of a deployment leaves the mark on its Leases (see
//! [`HeldLock::mark_epoch`]), so epochs never go back, not even after a re-create.
//!
//! [`LeaseRecord::epoch_mark`]: super::LeaseRecord::epoch_mark
//! [`LeaseRecord::stamp_needed`]: super::LeaseRecord::stamp_needed
//! [`HeldLock::mark_epoch`]: super::HeldLock::mark_epoch

use super::types::Epoch;

/// Why a write carrying `ours` is refused by a copy fenced at `stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FenceRefusal {
    /// A newer holder has written or stamped the copy: ours lost the lock.
    #[error("fenced at epoch {stored}, newer than this lock's epoch {ours}: the lock was lost")]
    Superseded { stored: Epoch, ours: Epoch },
}

/// Whether a copy fenced at `stored` admits a write under epoch `ours`: any epoch not older.
/// An admitted write must set the copy's epoch to `ours` in the same compare-and-swap.
pub fn admits(stored: Epoch, ours: Epoch) -> Result<(), FenceRefusal> {
    if stored > ours {
        Err(FenceRefusal::Superseded { stored, ours })
    } else {
        Ok(())
    }
}

/// The epoch a new holder stamps: one above every epoch observed (copies of the state, epoch
/// marks on the leases, an adapter's own floor); 1 when none was.
pub fn next_epoch(observed: impl IntoIterator<Item = Epoch>) -> Epoch {
    let highest = observed.into_iter().max().unwrap_or(Epoch(0));
    Epoch(highest.0.saturating_add(1))
}
