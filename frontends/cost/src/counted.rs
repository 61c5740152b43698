//! The requests each invocation sends to Home Assistant, counted for the
//! network model: a [`Transport`] wrapper that counts every request
//! (directives, the ops' REST calls, the health check), and the handle the
//! driver takes each invocation's count from. The bridge's own
//! `Invocation::ha_requests` counts the directives' requests only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lee_core::bridge::{HaAnswer, RestRequest, Timeouts, Transport};
use lee_core::retry::Failure;

/// A transport whose every request is counted.
pub struct Counted<T> {
    inner: T,
    sent: Sent,
}

/// The requests sent since the last [`Sent::take`].
#[derive(Clone, Debug, Default)]
pub struct Sent(Arc<AtomicU64>);

impl Sent {
    /// The count since the last take, starting over from zero.
    pub fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }

    fn add_one(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl<T: Transport> Counted<T> {
    /// `inner`, counted, and the handle to read its count from.
    pub fn new(inner: T) -> (Counted<T>, Sent) {
        let sent = Sent::default();
        (
            Counted {
                inner,
                sent: sent.clone(),
            },
            sent,
        )
    }
}

impl<T: Transport> Transport for Counted<T> {
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        self.sent.add_one();
        self.inner.post_directive(event, token, timeouts, body)
    }

    /// The bridge's own backoff: not a request.
    fn wait_until(&mut self, until: lee_core::time::Instant) {
        self.inner.wait_until(until);
    }

    fn rest(
        &mut self,
        request: &RestRequest<'_>,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        self.sent.add_one();
        self.inner.rest(request, timeouts, body)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use lee_core::bridge::Method;
    use lee_host::demo::DemoHome;

    #[test]
    fn directives_and_rest_calls_count_and_backoff_does_not() {
        let (mut home, sent) = Counted::new(DemoHome::new());
        let timeouts = Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(7),
        };
        let mut body = [0u8; 256];
        let request = RestRequest {
            method: Method::Get,
            path: "/api/",
            token: Some("t"),
            body: b"",
        };
        home.rest(&request, timeouts, &mut body).unwrap();
        home.post_directive(b"{}", "t", timeouts, &mut body)
            .unwrap();
        home.wait_until(lee_core::time::Instant::from_micros(0));
        assert_eq!(sent.take(), 2);
        assert_eq!(sent.take(), 0, "a take starts the count over");
        home.rest(&request, timeouts, &mut body).unwrap();
        assert_eq!(sent.take(), 1);
    }
}
