//! The one fencing rule: which epoch may write, and how a new epoch is chosen.
//!
//! Every copy of a deployment's state carries the epoch of the newest holder. A write is
//! admitted only with exactly that epoch ([`admits`]): an older one is a holder that lost the
//! lock, a newer one a holder whose stamp has not reached this copy. A new epoch is above every
//! epoch observed anywhere ([`next_epoch`]): in the copies, and in the high-water mark
//! ([`LeaseRecord::epoch_mark`]) that a deployment's deletion leaves on its Leases (see
//! [`HeldLock::mark_epoch`]), so that
//! epochs never go back, not even after a delete and re-create of the same name.
//!
//! [`LeaseRecord::epoch_mark`]: super::LeaseRecord::epoch_mark
//! [`HeldLock::mark_epoch`]: super::HeldLock::mark_epoch

use super::types::Epoch;

/// Why a write carrying `ours` is refused by a copy fenced at `stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FenceRefusal {
    /// A newer holder has stamped the copy: ours lost the lock.
    #[error("fenced at epoch {stored}, newer than this lock's epoch {ours}: the lock was lost")]
    Superseded { stored: Epoch, ours: Epoch },
    /// The copy has not been stamped with our epoch (yet): never write over an older holder's.
    #[error("fenced at epoch {stored}, older than this lock's epoch {ours}: not stamped")]
    NotStamped { stored: Epoch, ours: Epoch },
}

/// Whether a copy fenced at `stored` admits a write under epoch `ours`: only the same epoch.
pub fn admits(stored: Epoch, ours: Epoch) -> Result<(), FenceRefusal> {
    match stored.cmp(&ours) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(FenceRefusal::Superseded { stored, ours }),
        std::cmp::Ordering::Less => Err(FenceRefusal::NotStamped { stored, ours }),
    }
}

/// Whether an append-only object last written under `stored` (a history archive) admits a
/// write under `ours`: any holder not older than its last writer.
pub fn admits_append(stored: Epoch, ours: Epoch) -> Result<(), FenceRefusal> {
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
