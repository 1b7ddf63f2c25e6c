//! A log of every API request on stderr when `SOLO_LOG_REQUESTS` is set (like `kubectl -v=6`):
//! when it started since the first client was made, what it asked, the answer and how long it
//! took. Requests that start at the same moment run in parallel; one that starts when another
//! ends waited for it, so the log shows a command's sequential round trips.

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt as _;
use futures::future::BoxFuture;

/// The environment variable that turns the log on.
pub const ENV: &str = "SOLO_LOG_REQUESTS";

/// When the log's clock started, if the log is on.
fn start() -> Option<Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    *START.get_or_init(|| {
        std::env::var_os(ENV)
            .filter(|v| !v.is_empty() && v != "0")
            .map(|_| Instant::now())
    })
}

/// The service that logs each request it passes on (a no-op when the log is off).
#[derive(Clone)]
pub struct RequestLog<S> {
    inner: S,
    start: Option<Instant>,
}

impl<S> RequestLog<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        RequestLog {
            inner,
            start: start(),
        }
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for RequestLog<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(start) = self.start else {
            return self.inner.call(request).boxed();
        };
        let line = format!(
            "{} {}{}",
            request.method(),
            request
                .uri()
                .authority()
                .map(|a| a.as_str())
                .unwrap_or_default(),
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or_default()
        );
        let sent = Instant::now();
        let answer = self.inner.call(request);
        async move {
            let result = answer.await;
            let outcome = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(e) => format!("error: {e}"),
            };
            eprintln!(
                "request +{:>9.1} ms {line} -> {outcome} in {:.1} ms",
                sent.duration_since(start).as_secs_f64() * 1e3,
                sent.elapsed().as_secs_f64() * 1e3
            );
            result
        }
        .boxed()
    }
}
