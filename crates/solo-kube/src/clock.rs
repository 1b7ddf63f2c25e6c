//! Time for the lock: wall time corrected against the API server, monotonic time that counts
//! while the machine is suspended.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::Client;
use solo_core::lock::Clock;

use crate::clusters::Clusters;

/// The lock's clock: `wall_now` is the local clock plus the offset measured against an API
/// server's `Date` header (so a skewed laptop neither jumps the queue nor loses its place by more
/// than about a second); `mono_now` is `CLOCK_BOOTTIME`, which keeps counting during suspend.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerClock {
    offset: SignedDuration,
}

impl ServerClock {
    /// A clock with no correction (tests, and when no server answered).
    pub fn local() -> Self {
        ServerClock::default()
    }

    /// Measures the offset of the local clock against `client`'s API server. The `Date` header
    /// has a one-second resolution, so an offset under a second is not corrected.
    pub async fn measure(client: &Client) -> Self {
        Self::try_measure(client)
            .await
            .unwrap_or_else(ServerClock::local)
    }

    /// [`measure`](Self::measure); `None` when the server did not say its time.
    async fn try_measure(client: &Client) -> Option<Self> {
        let request = http::Request::get("/version")
            .body(kube::client::Body::empty())
            .ok()?;
        let sent = Timestamp::now();
        // The correction is an improvement, not a need: a server that does not answer in time
        // leaves the local clock (a stamp off by the skew changes a queue place, not safety).
        let answer = tokio::time::timeout(crate::retry::REQUEST_TIMEOUT, client.send(request));
        let Ok(Ok(response)) = answer.await else {
            return None;
        };
        let received = Timestamp::now();
        // Read to its end, so that the connection is kept for the requests that follow.
        let (parts, body) = response.into_parts();
        let _ = tokio::time::timeout(crate::retry::REQUEST_TIMEOUT, body.collect_bytes()).await;
        let response = http::Response::from_parts(parts, ());
        let server = response
            .headers()
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| jiff::fmt::rfc2822::parse(v).ok())
            .map(|z| z.timestamp());
        // The server's clock read somewhere in [Date, Date + 1s): take the middle of both intervals.
        let midpoint = sent + received.duration_since(sent) / 2;
        let offset = (server? + SignedDuration::from_millis(500)).duration_since(midpoint);
        Some(if offset.abs() < SignedDuration::from_secs(1) {
            ServerClock::local()
        } else {
            ServerClock { offset }
        })
    }

    /// The clock corrected against `cluster`'s API server, measured once per [`Clusters`]:
    /// the first caller measures, later ones (or ones that ask meanwhile) get its answer. So
    /// a command can start the measure beside its first read and find it ready when it locks.
    /// Where the clusters remember what servers said ([`Clusters::remember_in`]), the offset
    /// the last command measured is the answer at once, and this one's measure is remembered
    /// for the next.
    pub async fn of(clusters: &Clusters, cluster: &str) -> Self {
        let Ok(client) = clusters.client(cluster) else {
            return ServerClock::local();
        };
        let cell = {
            let mut cells = clusters
                .asked
                .clocks
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            Arc::clone(cells.entry(cluster.to_owned()).or_default())
        };
        let memory = clusters
            .memory(cluster)
            .map(|(dir, server)| (dir, server.to_owned()));
        let client = client.clone();
        *cell
            .get_or_init(|| async move {
                let Some((dir, server)) = memory else {
                    return ServerClock::measure(&client).await;
                };
                let remembered =
                    crate::said::recall(&dir, &server)
                        .offset_ms
                        .map(|ms| ServerClock {
                            offset: SignedDuration::from_millis(ms),
                        });
                let measure = async move { ServerClock::try_measure(&client).await };
                let remember = move |clock: &ServerClock| {
                    let ms = i64::try_from(clock.offset.as_millis()).unwrap_or(0);
                    crate::said::amend(&dir, &server, |said| said.offset_ms = Some(ms));
                };
                crate::said::remembered_or_asked(remembered, measure, remember)
                    .await
                    .unwrap_or_else(ServerClock::local)
            })
            .await
    }

    /// How far the local clock is behind the server's (negative: ahead).
    pub fn offset(&self) -> SignedDuration {
        self.offset
    }
}

impl Clock for ServerClock {
    fn wall_now(&self) -> Timestamp {
        Timestamp::now() + self.offset
    }

    fn mono_now(&self) -> Duration {
        boottime()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// `CLOCK_BOOTTIME`: monotonic, and counting while suspended (unlike `Instant`).
fn boottime() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_boot_clock_counts_since_boot_and_never_goes_back() {
        let first = super::boottime();
        let second = super::boottime();
        assert!(first > std::time::Duration::ZERO);
        assert!(second >= first);
    }
}
