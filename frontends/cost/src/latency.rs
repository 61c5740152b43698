//! A slower Home Assistant: a [`Transport`] wrapper that makes each request
//! slower by an injected latency (`--ha-latency`), drawn from a seeded
//! generator so runs repeat. How long each event waited on Home Assistant
//! (the delay included) is the bridge's own measurement,
//! `Bridge::last_invocation().ha_time`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lee_core::bridge::{HaAnswer, RestRequest, Timeouts, Transport};
use lee_core::retry::{Failure, SplitMix64};

/// An injected latency: fixed (`30ms`) or uniform over a range (`20ms..80ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// The shortest delay.
    pub min: Duration,
    /// The longest delay (equal to `min` when fixed).
    pub max: Duration,
}

impl Latency {
    /// One delay: `min` plus a uniform whole number of microseconds up to `max`.
    pub fn draw(&self, rng: &mut SplitMix64) -> Duration {
        let span = (self.max - self.min).as_micros() as u64;
        if span == 0 {
            return self.min;
        }
        self.min + Duration::from_micros(rng.next_u64() % (span + 1))
    }
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(text: &str) -> Result<Latency, String> {
        let (min, max) = match text.split_once("..") {
            Some((low, high)) => (duration(low)?, duration(high)?),
            None => {
                let fixed = duration(text)?;
                (fixed, fixed)
            }
        };
        if max < min {
            return Err(format!("the range {text:?} ends before it starts"));
        }
        Ok(Latency { min, max })
    }
}

/// A duration as humantime reads it: a number and a unit, `250us`, `30ms`,
/// `1.5s`.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        if self.min == self.max {
            write!(f, "{} ms", ms(self.min))
        } else {
            write!(f, "{}–{} ms uniform", ms(self.min), ms(self.max))
        }
    }
}

/// A transport whose every request to Home Assistant is followed by a
/// draw of the injected latency, when there is one.
pub struct Slowed<T> {
    inner: T,
    latency: Option<Latency>,
    rng: SplitMix64,
}

impl<T: Transport> Slowed<T> {
    /// `inner`, each request delayed by a draw of `latency` (from a
    /// generator seeded with `seed`) when there is one.
    pub fn new(inner: T, latency: Option<Latency>, seed: u64) -> Self {
        Slowed {
            inner,
            latency,
            rng: SplitMix64::new(seed),
        }
    }

    fn slowed<R>(&mut self, request: impl FnOnce(&mut T) -> R) -> R {
        let answer = request(&mut self.inner);
        if let Some(latency) = self.latency {
            std::thread::sleep(latency.draw(&mut self.rng));
        }
        answer
    }
}

impl<T: Transport> Transport for Slowed<T> {
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        self.slowed(|inner| inner.post_directive(event, token, timeouts, body))
    }

    /// The bridge's own backoff before a retry: lee's time, not Home Assistant's.
    fn wait_until(&mut self, until: lee_core::time::Instant) {
        self.inner.wait_until(until);
    }

    fn rest(
        &mut self,
        request: &RestRequest<'_>,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        self.slowed(|inner| inner.rest(request, timeouts, body))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use lee_core::bridge::Method;
    use lee_demo::DemoHome;

    #[test]
    fn latencies_are_read_with_their_units() {
        let ms = Duration::from_millis;
        assert_eq!(
            "30ms".parse(),
            Ok(Latency {
                min: ms(30),
                max: ms(30)
            })
        );
        assert_eq!(
            "20ms..80ms".parse(),
            Ok(Latency {
                min: ms(20),
                max: ms(80)
            })
        );
        assert_eq!(
            "250us..1.5s".parse::<Latency>().map(|l| (l.min, l.max)),
            Ok((Duration::from_micros(250), ms(1500)))
        );
        for bad in ["30", "ms", "30 parsecs", "80ms..20ms", "-1ms", "1e400s", ""] {
            assert!(bad.parse::<Latency>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            "20ms..80ms".parse::<Latency>().unwrap().to_string(),
            "20–80 ms uniform"
        );
    }

    #[test]
    fn draws_stay_in_range_and_repeat_with_the_seed() {
        let latency: Latency = "20ms..80ms".parse().unwrap();
        let draws = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..1000)
                .map(|_| latency.draw(&mut rng))
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        assert_ne!(first, draws(8));
        assert!(
            first
                .iter()
                .all(|d| (latency.min..=latency.max).contains(d))
        );
        // Uniform: both halves of the range are drawn about equally.
        let low = first
            .iter()
            .filter(|d| **d < Duration::from_millis(50))
            .count();
        assert!((400..600).contains(&low), "{low} of 1000 below the middle");
        let fixed: Latency = "30ms".parse().unwrap();
        assert_eq!(
            fixed.draw(&mut SplitMix64::new(1)),
            Duration::from_millis(30)
        );
    }

    #[test]
    fn every_request_is_slowed_by_its_injected_delay_and_backoff_is_not() {
        let latency = Some("2ms".parse().unwrap());
        let mut home = Slowed::new(DemoHome::new(), latency, 1);
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
        let started = Instant::now();
        let answer = home.rest(&request, timeouts, &mut body).unwrap();
        assert_eq!(answer.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(2));
        let started = Instant::now();
        let unreadable = home
            .post_directive(b"{}", "t", timeouts, &mut body)
            .unwrap();
        assert_eq!(unreadable.status, 500);
        assert!(started.elapsed() >= Duration::from_millis(2));
        // Backoff is lee's own waiting, not a request: no delay added.
        let started = Instant::now();
        home.wait_until(lee_core::time::Instant::from_micros(0));
        assert!(started.elapsed() < Duration::from_millis(2));
    }
}
