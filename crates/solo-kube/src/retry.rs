//! The one retry policy of solo-kube's API calls: every request has its own timeout, and an
//! answer that says the server is only busy (429, or 500/503/504 unavailable or timeout) is asked
//! again after a backoff that doubles, with jitter so that many clients do not retry in step.
//!
//! A request that gets no answer within [`REQUEST_TIMEOUT`] (an API server that stopped
//! answering) fails as unavailable at once: the caller (the lock's renewal, which has its own
//! deadline) decides whether to try again, so no call can block past the lease. Every write is a
//! compare-and-swap, so a retried write that had landed after all gets 409 (or 404) and the
//! protocol reads again: nothing is applied twice.

use std::future::Future;
use std::time::Duration;

/// The longest one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a busy answer is asked again.
pub const BUSY_RETRIES: u32 = 3;
/// The first pause after a busy answer; it doubles each time, plus up to as much again of jitter.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Why a call failed: the API server's answer, or no answer in time.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The API server answered with an error, or the connection failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// No answer within [`REQUEST_TIMEOUT`].
    #[error("the API server did not answer within {} s", REQUEST_TIMEOUT.as_secs())]
    TimedOut,
}

/// Either error of a call as the lock's store error: kube's own, or the policy's [`CallError`].
pub trait IntoStore {
    /// The store error it means.
    fn into_store(self) -> solo_core::lock::StoreError;
}

impl IntoStore for kube::Error {
    fn into_store(self) -> solo_core::lock::StoreError {
        crate::error::store_error(self)
    }
}

/// A timeout is an unreachable server.
impl IntoStore for CallError {
    fn into_store(self) -> solo_core::lock::StoreError {
        match self {
            CallError::Kube(e) => crate::error::store_error(e),
            CallError::TimedOut => solo_core::lock::StoreError::Unavailable {
                message: self.to_string(),
            },
        }
    }
}

/// Runs `call` under the policy: each attempt within [`REQUEST_TIMEOUT`], busy answers retried.
pub async fn call<T, F, Fut>(mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut pause = FIRST_PAUSE;
    for attempt in 0..=BUSY_RETRIES {
        match tokio::time::timeout(REQUEST_TIMEOUT, call()).await {
            Err(_) => return Err(CallError::TimedOut),
            Ok(Err(kube::Error::Api(status)))
                if attempt < BUSY_RETRIES && crate::error::api_busy(&status) =>
            {
                tracing::debug!("API server busy ({}), retrying", status.message);
                tokio::time::sleep(pause + jitter(pause)).await;
                pause *= 2;
            }
            Ok(other) => return other.map_err(CallError::Kube),
        }
    }
    unreachable!("the last attempt returns")
}

/// A random pause between zero and `up_to`.
fn jitter(up_to: Duration) -> Duration {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let r = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default());
    let nanos = u64::try_from(up_to.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(r % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure("test", reason).with_code(code).boxed())
    }

    /// Fails with `error` the first `failures` times, then answers `Ok(calls so far)`.
    async fn run(failures: u32, error: impl Fn() -> kube::Error) -> (Result<u32, CallError>, u32) {
        let calls = AtomicU32::new(0);
        let result = call(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let answer = if n <= failures { Err(error()) } else { Ok(n) };
            async move { answer }
        })
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_busy_server_is_asked_again() {
        let (result, calls) = run(2, || api_error(504, "Timeout")).await;
        assert_eq!(result.ok(), Some(3));
        assert_eq!(calls, 3);
        let (result, _) = run(1, || api_error(429, "TooManyRequests")).await;
        assert_eq!(result.ok(), Some(2));
    }

    #[tokio::test]
    async fn a_server_busy_for_too_long_fails() {
        let (result, calls) = run(10, || api_error(503, "ServiceUnavailable")).await;
        assert!(matches!(result, Err(CallError::Kube(kube::Error::Api(s))) if s.code == 503));
        assert_eq!(calls, BUSY_RETRIES + 1);
    }

    #[tokio::test]
    async fn other_answers_are_returned_at_once() {
        for (code, reason) in [
            (409, "Conflict"),
            (404, "NotFound"),
            (403, "Forbidden"),
            (422, "Invalid"),
            (500, "InternalError"),
        ] {
            let (result, calls) = run(1, || api_error(code, reason)).await;
            assert!(result.is_err(), "{code} {reason}");
            assert_eq!(calls, 1, "{code} {reason}");
        }
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(100)) < Duration::from_millis(100));
        }
    }
}
