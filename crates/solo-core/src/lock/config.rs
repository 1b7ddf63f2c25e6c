//! Timing of the lock, validated up front like client-go's `LeaderElectionConfig`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long leases last and how often they and the waiter heartbeats are renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockConfig {
    /// How long a lease stays valid without renewal (`leaseDurationSeconds`; whole seconds).
    pub lease_duration: Duration,
    /// How often the holder renews; at most half the lease duration so that a failed renewal
    /// can be retried before the lease expires.
    pub renew_interval: Duration,
    /// How long a waiter entry lives without a heartbeat; heartbeats are written every third.
    pub waiter_ttl: Duration,
    /// The first backoff after a lost compare-and-swap race; it doubles, with jitter.
    pub retry_backoff: Duration,
    /// Seeds the backoff jitter; `None` derives it from the request id.
    pub jitter_seed: Option<u64>,
    /// How long a held lock's leases last (`--for` of a kept lock); claims made while waiting
    /// last only `lease_duration`, so a crashed waiter blocks nobody for long.
    pub hold_duration: Duration,
    /// The deadline of one renewal request: the adapter also sets it as its request timeout,
    /// and the core gives up on a request that has not answered by then, so one hanging
    /// apiserver cannot hold up the renewal of the other leases.
    pub request_timeout: Duration,
    /// How long before its own expiry a held lock stops being valid for work: the work stops
    /// first, then someone else may take over.
    pub safety_margin: Duration,
    /// Deliberate breakage of one rule, only for the simulation to prove its checkers.
    #[doc(hidden)]
    pub sabotage: Sabotage,
}

/// Rules the simulation breaks on purpose to show that its checkers notice; all off by default
/// and never set outside tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sabotage {
    /// Wait for a renewal request however long it hangs (no per-request deadline).
    pub no_request_timeout: bool,
    /// Treat the lock as valid until its very expiry (no safety margin).
    pub no_safety_margin: bool,
    /// Ignore the epoch high-water marks of the leases (epochs restart after a re-create).
    pub ignore_epoch_marks: bool,
    /// Claim while waiting with the long hold duration.
    pub long_claims: bool,
    /// Do not check that the newest state names the lock set held.
    pub skip_lock_set_check: bool,
    /// Watch from a later read than the one the decision was based on (a change in between,
    /// such as the release we wait for, wakes nobody).
    pub late_watch: bool,
    /// A queued waiter watches the Leases' holders instead of its predecessor's ticket (a dead
    /// predecessor then writes nothing that would wake it).
    pub holder_only: bool,
    /// Say that a lock was taken over a clean release even when a Lease was stamp-needed (a
    /// caller then keeps reads that can miss an earlier holder's last writes).
    pub taken_over_unclean: bool,
    /// After a claim, list at the version of the Lease seen before it rather than at the
    /// claim's own (a cache may then answer with a namespace older than the lock's release
    /// everywhere, without a ticket that queued meanwhile).
    pub list_since_seen: bool,
    /// Take a first look remembered from an earlier process ([`LeaseStore::remembered`]) as
    /// a consistent LIST of the queue: the round then claims without listing beside, and a
    /// ticket that queued since the memory was made is jumped.
    ///
    /// [`LeaseStore::remembered`]: super::LeaseStore::remembered
    pub recalled_as_listed: bool,
    /// Take the look's LIST of the queue's namespace, with every Lease seen free, for the
    /// round's even when the lock has other namespaces (as when every namespace had a
    /// ticket), and even when it was a first look from a cache: a Lease released after that
    /// LIST was served, behind a waiter that queued before the release, lets the claimer jump
    /// it.
    pub trust_fresh_look: bool,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig::with_lease_duration(Duration::from_secs(30))
    }
}

/// A [`LockConfig`] that breaks an invariant the protocol relies on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The Lease API counts whole seconds.
    #[error("the lease duration must be a whole number of seconds, at least 1s (got {0:?})")]
    LeaseDuration(Duration),
    /// Renewal must be able to fail once and be retried before the lease expires.
    #[error(
        "the renew interval ({renew_interval:?}) must be positive and at most half the lease duration ({lease_duration:?})"
    )]
    RenewInterval {
        renew_interval: Duration,
        lease_duration: Duration,
    },
    /// Heartbeats every third of the TTL must be possible.
    #[error("the waiter TTL must be at least 1s (got {0:?})")]
    WaiterTtl(Duration),
    /// A held lease cannot be shorter than a claim.
    #[error(
        "the hold duration ({hold_duration:?}) must be whole seconds and at least the lease duration ({lease_duration:?})"
    )]
    HoldDuration {
        hold_duration: Duration,
        lease_duration: Duration,
    },
    /// A renewal must be able to time out and still stop the work before the lease expires.
    #[error(
        "the renew interval ({renew_interval:?}) plus the request timeout ({request_timeout:?}) plus the safety margin ({safety_margin:?}) must be below the lease duration ({lease_duration:?}), and the last two positive"
    )]
    RenewDeadline {
        renew_interval: Duration,
        request_timeout: Duration,
        safety_margin: Duration,
        lease_duration: Duration,
    },
    /// Backoff must stay well inside a renewal period.
    #[error(
        "the retry backoff ({retry_backoff:?}) must be positive and below a quarter of the renew interval ({renew_interval:?})"
    )]
    RetryBackoff {
        retry_backoff: Duration,
        renew_interval: Duration,
    },
    /// Two lock sets of different deployments cannot be united.
    #[error("cannot unite the lock sets of {left} and {right}")]
    DifferentDeployments { left: String, right: String },
    /// A lock needs a name.
    #[error("the deployment name is empty")]
    EmptyDeploymentName,
    /// A lock needs at least one lease.
    #[error("deployment {deployment} has no (cluster, namespace) to lock")]
    EmptyLockSet { deployment: String },
}

impl LockConfig {
    /// The defaults scaled to `lease_duration`: renew at a third, a request times out after a
    /// sixth, the work stops a tenth before expiry, waiters live one lease, held = claimed.
    pub fn with_lease_duration(lease_duration: Duration) -> Self {
        LockConfig {
            lease_duration,
            renew_interval: lease_duration / 3,
            waiter_ttl: lease_duration,
            retry_backoff: Duration::from_millis(50),
            jitter_seed: None,
            hold_duration: lease_duration,
            request_timeout: lease_duration / 6,
            safety_margin: lease_duration / 10,
            sabotage: Sabotage::default(),
        }
    }

    /// These defaults, but a held lock keeps its leases for `hold` (a kept lock's `--for`),
    /// while claims made waiting stay as short as `lease_duration`.
    pub fn holding_for(mut self, hold: Duration) -> Self {
        self.hold_duration = hold;
        self
    }

    /// Checks the invariants, as client-go checks LeaseDuration > RenewDeadline > RetryPeriod:
    /// whole-second lease and hold, `hold >= lease`, `0 < 2 * renew_interval <= lease_duration`,
    /// `renew_interval + request_timeout + safety_margin < lease_duration` (a renewal can time
    /// out and the work still stop before expiry), `waiter_ttl >= 1s`,
    /// `0 < 4 * retry_backoff < renew_interval`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let lease = self.lease_duration;
        if lease < Duration::from_secs(1) || lease.subsec_nanos() != 0 {
            return Err(ConfigError::LeaseDuration(lease));
        }
        if self.hold_duration < lease || self.hold_duration.subsec_nanos() != 0 {
            return Err(ConfigError::HoldDuration {
                hold_duration: self.hold_duration,
                lease_duration: lease,
            });
        }
        if self.renew_interval.is_zero() || self.renew_interval * 2 > lease {
            return Err(ConfigError::RenewInterval {
                renew_interval: self.renew_interval,
                lease_duration: lease,
            });
        }
        if self.request_timeout.is_zero()
            || self.safety_margin.is_zero()
            || self.renew_interval + self.request_timeout + self.safety_margin >= lease
        {
            return Err(ConfigError::RenewDeadline {
                renew_interval: self.renew_interval,
                request_timeout: self.request_timeout,
                safety_margin: self.safety_margin,
                lease_duration: lease,
            });
        }
        if self.waiter_ttl < Duration::from_secs(1) {
            return Err(ConfigError::WaiterTtl(self.waiter_ttl));
        }
        if self.retry_backoff.is_zero() || self.retry_backoff * 4 >= self.renew_interval {
            return Err(ConfigError::RetryBackoff {
                retry_backoff: self.retry_backoff,
                renew_interval: self.renew_interval,
            });
        }
        Ok(())
    }

    /// The margin a held lock stops its work before expiry (none when sabotaged).
    pub fn effective_margin(&self) -> Duration {
        if self.sabotage.no_safety_margin {
            Duration::ZERO
        } else {
            self.safety_margin
        }
    }

    /// The lease duration written by a claim made while waiting.
    pub fn claim_duration(&self) -> Duration {
        if self.sabotage.long_claims {
            self.hold_duration
        } else {
            self.lease_duration
        }
    }

    /// How often a waiter rewrites its heartbeat.
    pub fn heartbeat_interval(&self) -> Duration {
        self.waiter_ttl / 3
    }
}

/// Deterministic jitter for conflict backoff: no I/O, so it is seeded, not random.
#[derive(Debug)]
pub(crate) struct Jitter {
    seed: u64,
    draws: AtomicU64,
}

impl Jitter {
    pub(crate) fn new(seed: Option<u64>, request_id: &str) -> Self {
        // FNV-1a of the request id: stable across builds, unlike `DefaultHasher`.
        let derived = request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Jitter {
            seed: seed.unwrap_or(derived),
            draws: AtomicU64::new(0),
        }
    }

    /// The backoff before retry `attempt` (1-based): `base * 2^(attempt-1)`, scaled by a factor
    /// in [0.5, 1.5), capped at `cap`.
    pub(crate) fn backoff(&self, base: Duration, attempt: u32, cap: Duration) -> Duration {
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        let factor = splitmix64(self.seed ^ draw.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 1000;
        let exp = base.saturating_mul(1 << attempt.saturating_sub(1).min(6));
        (exp.mul_f64(0.5 + factor as f64 / 1000.0)).min(cap)
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
