//! `lock(...) -> LockGuard`: the lock as a library user holds it. It renews in the background,
//! tells when it is lost, and releases on [`LockGuard::release`] or, as a last resort, on drop.

use std::sync::Arc;
use std::time::Duration;

use solo_core::lock::{
    CleanClaims, Clock, Contender, Epoch, Fence, HeldLock, Identity, KeptLock, LockConfig,
    LockError, LockSet, Progress, Validity, WaitPolicy,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::ServerClock;
use crate::lease_store::{KubeLeaseStore, Pending};

/// What to lock, as whom, and how long to wait.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The deployment's leases.
    pub lock_set: LockSet,
    /// Who asks (R1).
    pub identity: Identity,
    /// Lease duration, renewal, waiter TTL.
    pub config: LockConfig,
    /// Fail at once, wait a while, or wait for ever.
    pub wait: WaitPolicy,
}

/// Why `lock` returned without the lock.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The protocol's own refusal or failure.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Ctrl-C (SIGINT) or SIGTERM arrived while waiting; every claim and queue entry was removed.
    #[error("interrupted while waiting for the lock; nothing is held")]
    Interrupted,
}

/// The held lock. Renewal runs in a background task; [`lost`](Self::lost) resolves if it fails.
pub struct LockGuard {
    held: Option<Arc<HeldLock<KubeLeaseStore, ServerClock>>>,
    renewal: Option<JoinHandle<()>>,
    lost: watch::Receiver<Option<String>>,
    epoch: Epoch,
}

/// Acquires the lock of `request.lock_set`. Ctrl-C or SIGTERM while waiting removes every claim
/// and queue entry of this request before returning [`GuardError::Interrupted`].
pub async fn lock<F: Fence + 'static>(
    request: LockRequest,
    store: KubeLeaseStore,
    clock: ServerClock,
    fence: F,
    on_progress: impl FnMut(&Progress),
) -> Result<LockGuard, GuardError> {
    lock_announcing(request, store, clock, fence, on_progress, None).await
}

/// [`lock`], telling `on_clean_claim` the versions of each round that claims every Lease over
/// a clean release, as its claims go out ([`Contender::on_clean_claim`]): a caller may start
/// its reads then, and keep them if [`HeldLock::taken_over`] names the same versions.
pub async fn lock_announcing<F: Fence + 'static>(
    request: LockRequest,
    store: KubeLeaseStore,
    clock: ServerClock,
    fence: F,
    on_progress: impl FnMut(&Progress),
    on_clean_claim: Option<CleanClaims>,
) -> Result<LockGuard, GuardError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let margin = request.config.effective_margin();
    let store = store.recording_authenticated(&request_id);
    let pending = store.pending();
    let mut contender = Contender::with_request_id(
        request.lock_set,
        request.identity,
        request_id,
        request.config,
        Arc::new(store),
        Arc::new(clock),
        Arc::new(fence),
    )?;
    if let Some(announce) = on_clean_claim {
        contender.on_clean_claim(announce);
    }
    let outcome = {
        let acquire = contender.acquire(request.wait, on_progress);
        tokio::select! {
            result = acquire => Some(result),
            _ = interrupted() => None,
        }
    };
    match outcome {
        Some(result) => Ok(LockGuard::start(result?, clock, margin, pending)),
        None => {
            let _ = contender.abandon().await;
            Err(GuardError::Interrupted)
        }
    }
}

/// Takes up, in this process, a lock kept by an earlier one (`solo lease acquire`): the core's
/// [`HeldLock::resume`] (every lease must still be this request's, the others are released if
/// one is not), renewed in the background for `config.hold_duration` like any held lock.
pub async fn resume(
    kept: KeptLock,
    config: LockConfig,
    store: KubeLeaseStore,
    clock: ServerClock,
) -> Result<LockGuard, LockError> {
    let margin = config.effective_margin();
    let store = store.recording_authenticated(&kept.holder.request_id);
    let pending = store.pending();
    let held = HeldLock::resume(kept, config, Arc::new(store), Arc::new(clock)).await?;
    Ok(LockGuard::start(held, clock, margin, pending))
}

/// Resolves, with the reason, once the lock's validity (already a safety margin of `margin`
/// before its expiry) has ended with no renewal landed: the renewal loop's own sleeps may
/// oversleep a suspend, so this checks every second on the monotonic clock that counts time
/// spent suspended.
async fn expiry_watch(
    validity: Validity,
    clock: ServerClock,
    margin: Duration,
    pending: Pending,
) -> String {
    loop {
        let Some(until) = validity.valid_until() else {
            return "the lock is no longer valid".to_owned();
        };
        let now = clock.mono_now();
        if now >= until {
            let which = pending
                .describe()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            return format!(
                "no renewal landed in time{which}: the lock would expire within {} ms, so the work stops now",
                margin.as_millis()
            );
        }
        clock.sleep((until - now).min(Duration::from_secs(1))).await;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

impl LockGuard {
    fn start(
        held: HeldLock<KubeLeaseStore, ServerClock>,
        clock: ServerClock,
        margin: Duration,
        pending: Pending,
    ) -> Self {
        let epoch = held.epoch();
        let validity = held.validity();
        // Our tickets go at once, in a task of their own: that wakes our successor, and a
        // release right after (a short section) need not wait for them before its Lease writes.
        tokio::spawn(held.drop_tickets_apart());
        let held = Arc::new(held);
        let (tx, lost) = watch::channel(None);
        let renewing = Arc::clone(&held);
        let renewal = tokio::spawn(async move {
            // Whichever comes first: the renewal gives up, or the lock gets within the margin
            // of its expiry with no renewal landed (a request that hangs), so the work stops
            // before anyone else may take the lock.
            let reason = tokio::select! {
                reason = renewing.renew_loop() => reason.to_string(),
                reason = expiry_watch(validity, clock, margin, pending) => reason,
            };
            let _ = tx.send(Some(reason));
        });
        LockGuard {
            held: Some(held),
            renewal: Some(renewal),
            lost,
            epoch,
        }
    }

    /// The fencing epoch every state write under this lock must carry.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The lock held.
    pub fn held(&self) -> &HeldLock<KubeLeaseStore, ServerClock> {
        // Only `release` and `drop` take it out, and both consume the guard.
        self.held
            .as_deref()
            .expect("a guard holds its lock until released")
    }

    /// Whether renewal has failed: the work must stop.
    pub fn is_lost(&self) -> bool {
        self.lost.borrow().is_some()
    }

    /// Resolves with the reason when the lock is lost (renewal failed past its deadline, or a
    /// lease was taken or deleted). Run the work beside it and abort the work when it resolves.
    pub async fn lost(&self) -> String {
        let mut rx = self.lost.clone();
        match rx.wait_for(|v| v.is_some()).await {
            Ok(v) => v.clone().unwrap_or_default(),
            // The renewal task ended without a reason: only on runtime shutdown.
            Err(_) => "the renewal task stopped".to_owned(),
        }
    }

    /// Stops renewing and leaves every lease held (a kept lock goes on after this process);
    /// what a later process needs to [`resume`] it.
    pub async fn keep(mut self) -> KeptLock {
        self.stop_renewing().await;
        let held = self
            .held
            .take()
            .expect("a guard holds its lock until released or kept");
        // Our tickets would otherwise hold up the next waiter until they die.
        held.drop_tickets().await;
        held.kept()
    }

    /// Stops the renewal task. The task of `drop_tickets_apart` took the deletion of our
    /// tickets over before it started, so the renewals only try again what that one could not
    /// delete, and stopping them cuts no first deletion short (the release sends again what is
    /// left).
    async fn stop_renewing(&mut self) {
        if let Some(task) = self.renewal.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops renewing and releases every lease at once.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.release_inner().await
    }

    async fn release_inner(&mut self) -> Result<(), LockError> {
        self.stop_renewing().await;
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        match Arc::try_unwrap(held) {
            Ok(held) => held.release().await,
            // Unreachable once the renewal task is joined; never release twice.
            Err(_) => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.held.is_none() {
            return;
        }
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
        // Best effort: release in the background if a runtime is still there. The process may
        // exit first; the leases then expire after their duration.
        if let (Ok(handle), Some(held)) = (tokio::runtime::Handle::try_current(), self.held.take())
        {
            handle.spawn(release_when_unshared(held));
        }
    }
}

/// Releases once the aborted renewal task has dropped its handle on the lock (within a second).
async fn release_when_unshared(mut held: Arc<HeldLock<KubeLeaseStore, ServerClock>>) {
    for _ in 0..200 {
        match Arc::try_unwrap(held) {
            Ok(held) => {
                let _ = held.release().await;
                return;
            }
            Err(shared) => {
                held = shared;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }
}
