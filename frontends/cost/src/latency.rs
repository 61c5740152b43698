//! Time spent waiting on Home Assistant: a [`Transport`] wrapper that adds
//! the total time of every request it forwards to a shared counter, and can
//! make each request slower by an injected latency (`--ha-latency`), drawn
//! from a seeded generator so runs repeat.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

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

/// A duration written as a number and a unit: `250us`, `30ms`, `1.5s`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit: write 30ms, 250us or 1.5s"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let seconds = match unit.trim() {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        other => return Err(format!("unknown unit {other:?}: use us, ms or s")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(text: &str) -> Result<Latency, String> {
        let (min, max) = match text.split_once("..") {
            Some((low, high)) => (parse_duration(low)?, parse_duration(high)?),
            None => {
                let fixed = parse_duration(text)?;
                (fixed, fixed)
            }
        };
        if max < min {
            return Err(format!("the range {text:?} ends before it starts"));
        }
        Ok(Latency { min, max })
    }
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

/// The running total of time spent in Home Assistant requests, readable
/// while the bridge owns the transport.
#[derive(Clone, Debug, Default)]
pub struct HaWait(Arc<AtomicU64>);

impl HaWait {
    /// The total so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Relaxed))
    }

    fn add(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Relaxed);
    }
}

/// A transport that times every request to Home Assistant (the injected
/// delay included) and may slow each one down.
pub struct Timed<T> {
    inner: T,
    latency: Option<Latency>,
    rng: SplitMix64,
    waited: HaWait,
}

impl<T: Transport> Timed<T> {
    /// `inner`, timed into `waited`, each request delayed by a draw of
    /// `latency` (from a generator seeded with `seed`) when there is one.
    pub fn new(inner: T, latency: Option<Latency>, seed: u64, waited: HaWait) -> Self {
        Timed {
            inner,
            latency,
            rng: SplitMix64::new(seed),
            waited,
        }
    }

    fn timed<R>(&mut self, request: impl FnOnce(&mut T) -> R) -> R {
        let started = Instant::now();
        let answer = request(&mut self.inner);
        if let Some(latency) = self.latency {
            std::thread::sleep(latency.draw(&mut self.rng));
        }
        self.waited.add(started.elapsed());
        answer
    }
}

impl<T: Transport> Transport for Timed<T> {
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        self.timed(|inner| inner.post_directive(event, token, timeouts, body))
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
        self.timed(|inner| inner.rest(request, timeouts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lee_core::bridge::Method;
    use lee_host::demo::DemoHome;

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
    fn every_request_is_timed_with_its_injected_delay() {
        let waited = HaWait::default();
        let latency = Some("2ms".parse().unwrap());
        let mut home = Timed::new(DemoHome::new(), latency, 1, waited.clone());
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
        let answer = home.rest(&request, timeouts, &mut body).unwrap();
        assert_eq!(answer.status, 200);
        assert!(waited.total() >= Duration::from_millis(2));
        let unreadable = home
            .post_directive(b"{}", "t", timeouts, &mut body)
            .unwrap();
        assert_eq!(unreadable.status, 500);
        assert!(waited.total() >= Duration::from_millis(4));
        // Backoff is not Home Assistant's time.
        let before = waited.total();
        home.wait_until(lee_core::time::Instant::from_micros(0));
        assert_eq!(waited.total(), before);
    }
}
