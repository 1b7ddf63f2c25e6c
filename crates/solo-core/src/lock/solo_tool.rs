//! The Solo tool's lock (`@hiero-ledger/solo`, `src/core/lock/interval-lock.ts`), as this tool
//! meets it in a Lease, and as Solo judges ours.
//!
//! Solo takes one Lease named after the network's namespace, in that namespace, with
//! `holderIdentity` the JSON `{"username","hostname","pid"}` (its `LockHolder.toJson`), a
//! `leaseDurationSeconds` of 20 (`SOLO_LEASE_DURATION`), and renews it every half duration.
//! Its `acquire` reads the Lease and parses the holder first; it takes the Lease over only when
//! the holder is itself, when `renewTime` (else `acquireTime`) is older than the duration, or
//! when the holder is its own user and host with a dead process. Anything else refuses with
//! "lock already acquired by '<username>' on the '<hostname>' machine (PID: '<pid>')".

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::types::LeaseRecord;

/// The duration Solo writes in its Leases, in seconds (its `DEFAULT_LEASE_DURATION`).
pub const SOLO_LEASE_SECONDS: u64 = 20;

/// A holder written by the Solo tool: `{"username","hostname","pid"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoloToolHolder {
    /// The OS user Solo ran as.
    pub username: String,
    /// The machine it ran on.
    pub hostname: String,
    /// Its process id.
    pub pid: u64,
}

impl SoloToolHolder {
    /// Reads a `holderIdentity` the way Solo's `LockHolder.fromJson` does, but only when it has
    /// exactly Solo's shape (this tool's own holders also carry Solo's fields, and more).
    pub fn parse(identity: &str) -> Option<SoloToolHolder> {
        let value: serde_json::Value = serde_json::from_str(identity).ok()?;
        let map = value.as_object()?;
        if map.len() != 3 {
            return None;
        }
        let holder: SoloToolHolder = serde_json::from_value(value).ok()?;
        (!holder.username.is_empty() && !holder.hostname.is_empty() && holder.pid != 0)
            .then_some(holder)
    }

    /// The `holderIdentity` Solo writes for this holder, byte for byte (`JSON.stringify` keeps
    /// the order username, hostname, pid).
    pub fn to_identity(&self) -> String {
        // Strings and a number: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl fmt::Display for SoloToolHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Solo tool (user {} on {}, pid {})",
            self.username, self.hostname, self.pid
        )
    }
}

/// Solo's own verdict on a Lease, as `IntervalLock.acquire` reaches it for a Solo process
/// `me` at wall time `now`: `Err` holds the refusal it prints (the lock is held for Solo),
/// `Ok(())` means Solo would create, renew or take over the Lease.
pub fn solo_sees_held(
    record: Option<&LeaseRecord>,
    me: &SoloToolHolder,
    now: Timestamp,
) -> Result<(), String> {
    let Some(record) = record else {
        return Ok(());
    };
    // `LockHolder.fromJson` runs first; a holder it cannot read makes acquire throw.
    let identity = record.holder.as_ref().map(|h| h.identity());
    let value: serde_json::Value = match identity.as_deref().map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => return Err("acquire failed: the holder is not JSON".to_owned()),
    };
    let field = |k: &str| value.get(k).cloned().unwrap_or_default();
    let (username, hostname, pid) = (field("username"), field("hostname"), field("pid"));
    let (Some(username), Some(hostname), Some(pid)) =
        (username.as_str(), hostname.as_str(), pid.as_u64())
    else {
        return Err("acquire failed: username, hostname or pid is required".to_owned());
    };
    if username == me.username && hostname == me.hostname && pid == me.pid {
        return Ok(());
    }
    let duration = if record.lease_duration.is_zero() {
        SOLO_LEASE_SECONDS as i64
    } else {
        record.lease_duration.as_secs() as i64
    };
    if let Some(last) = record.renew_time.or(record.acquire_time)
        && now.duration_since(last).as_secs() > duration
    {
        return Ok(());
    }
    Err(format!(
        "acquire: lock already acquired by '{username}' on the '{hostname}' machine (PID: '{pid}')"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{Holder, HolderField, Phase};
    use std::time::Duration;

    fn solo() -> SoloToolHolder {
        SoloToolHolder {
            username: "jdoe".into(),
            hostname: "laptop-7".into(),
            pid: 4242,
        }
    }

    fn ours() -> HolderField {
        HolderField::Known(Holder {
            user: "alice@example.com".into(),
            host: "desk-2".into(),
            pid: 77,
            request_id: "r-1".into(),
            requested_at: "2026-12-01T10:00:00Z".parse().expect("time"),
            phase: Phase::Held,
            authenticated_as: None,
        })
    }

    fn record(holder: HolderField, renewed: &str, seconds: u64) -> LeaseRecord {
        let mut r = LeaseRecord::free(Duration::from_secs(seconds));
        r.holder = Some(holder);
        r.renew_time = Some(renewed.parse().expect("time"));
        r
    }

    #[test]
    fn a_holder_as_solo_writes_it_is_named_as_the_solo_tool() {
        let identity = solo().to_identity();
        assert_eq!(
            identity,
            r#"{"username":"jdoe","hostname":"laptop-7","pid":4242}"#
        );
        let field = HolderField::parse(&identity).expect("a holder");
        assert!(field.known().is_none(), "not ours");
        assert_eq!(
            field.describe(),
            "the Solo tool (user jdoe on laptop-7, pid 4242)"
        );
        assert_eq!(SoloToolHolder::parse(&ours().identity()), None);
    }

    #[test]
    fn our_holder_still_reads_back_as_ours_with_solos_fields_added() {
        let identity = ours().identity();
        let value: serde_json::Value = serde_json::from_str(&identity).expect("json");
        assert_eq!(value["username"], "alice@example.com");
        assert_eq!(value["hostname"], "desk-2");
        assert_eq!(value["pid"], 77);
        assert_eq!(HolderField::parse(&identity), Some(ours()));
    }

    #[test]
    fn solo_sees_our_live_lease_as_held_and_an_expired_one_as_free() {
        let now: Timestamp = "2026-12-01T10:00:10Z".parse().expect("time");
        let live = record(ours(), "2026-12-01T10:00:05Z", 20);
        let e = solo_sees_held(Some(&live), &solo(), now).expect_err("held");
        assert_eq!(
            e,
            "acquire: lock already acquired by 'alice@example.com' on the 'desk-2' machine (PID: '77')"
        );
        let old = record(ours(), "2026-12-01T09:59:00Z", 20);
        assert_eq!(solo_sees_held(Some(&old), &solo(), now), Ok(()));
        assert_eq!(solo_sees_held(None, &solo(), now), Ok(()));
        let own = record(
            HolderField::Opaque(solo().to_identity()),
            "2026-12-01T10:00:05Z",
            20,
        );
        assert_eq!(solo_sees_held(Some(&own), &solo(), now), Ok(()));
    }
}
