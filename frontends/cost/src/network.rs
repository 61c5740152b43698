//! The network between the Lambda and Home Assistant, modeled: how long
//! an invocation's requests wait on the link, for lee and for the
//! new-connection baseline, and which invocations find their connection
//! gone (a seeded draw, so runs repeat).
//!
//! Over a link of round-trip time RTT (`--rtt`), a request on a reused
//! keep-alive connection costs 1 RTT; on a new connection TCP's handshake
//! (1 RTT), TLS 1.3's (1 RTT) and the request (1 RTT): 3 RTT, plus a DNS
//! lookup (`--dns`, 0 unless given).
//!
//! - lee keeps its connection while the Lambda stays warm and reuses it
//!   unless it sat idle longer than `KEEPALIVE_TIMEOUT_S` (60 s, below the
//!   75 s after which nginx and Home Assistant close it). An invocation
//!   arriving after that (`--after-idle`, a share of them) and the first of
//!   a process (cold) open a new one. lee keeps a DNS answer 60 s, no longer
//!   than it keeps the connection, so its new connections resolve too.
//! - The baseline, Home Assistant's documented Python Lambda and the other
//!   bridges (haaska, ...), opens a new connection on every invocation.
//!
//! Further requests of the same invocation reuse that invocation's
//! connection, for both. An invocation answered without asking Home
//! Assistant (from lee's cache, say) waits on no link, for both: the
//! baseline is priced as lee with a new connection every time, nothing
//! else changed.
//!
//! The wait is modeled, not slept: the driver adds it to the engine's
//! measured time, which bills what sleeping would (without a sleep's
//! overshoot, and without a run of 10 000 invocations at 50 ms lasting
//! minutes).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lee_core::retry::SplitMix64;

/// Round trips a request on a new connection costs: TCP, TLS 1.3, the
/// request itself.
pub const NEW_CONNECTION_RTTS: u32 = 3;

/// The link to Home Assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// One round trip.
    pub rtt: Duration,
    /// One DNS lookup.
    pub dns: Duration,
}

impl Link {
    /// A request on a new connection.
    pub fn new_connection(&self) -> Duration {
        self.dns + self.rtt * NEW_CONNECTION_RTTS
    }

    /// lee's wait on the link for an invocation that arrived as `arrival`
    /// and sent `requests` requests.
    pub fn lee(&self, arrival: Arrival, requests: u64) -> Duration {
        let first = match arrival {
            Arrival::Warm => self.rtt,
            Arrival::AfterIdle | Arrival::Cold => self.new_connection(),
        };
        self.wait(first, requests)
    }

    /// The baseline's wait for an invocation that sent `requests` requests:
    /// the first on a new connection.
    pub fn baseline(&self, requests: u64) -> Duration {
        self.wait(self.new_connection(), requests)
    }

    /// `first` for the first of `requests`, a round trip for each further one.
    fn wait(&self, first: Duration, requests: u64) -> Duration {
        match requests.checked_sub(1) {
            None => Duration::ZERO,
            Some(further) => {
                let further = u32::try_from(further).unwrap_or(u32::MAX);
                first.saturating_add(self.rtt.saturating_mul(further))
            }
        }
    }
}

/// How an invocation found lee's connection to Home Assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Open, and reused.
    Warm,
    /// Idle past the limit: a new one.
    AfterIdle,
    /// The first invocation of the process: none yet.
    Cold,
}

impl Arrival {
    /// Every kind, in the report's order.
    pub const ALL: [Arrival; 3] = [Arrival::Warm, Arrival::AfterIdle, Arrival::Cold];

    /// In words, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Arrival::Warm => "warm (connection reused)",
            Arrival::AfterIdle => "after the idle limit",
            Arrival::Cold => "cold (first of the process)",
        }
    }
}

/// A share of invocations, written `30%`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share {
    percent: f64,
}

impl Share {
    /// The share as a fraction, 0 to 1.
    pub fn fraction(self) -> f64 {
        self.percent / 100.0
    }
}

impl FromStr for Share {
    type Err = String;

    fn from_str(text: &str) -> Result<Share, String> {
        let number = text
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| format!("{text:?} is not a percentage: write 30%"))?;
        let percent: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} does not start with a number"))?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!("{text:?} is not between 0% and 100%"));
        }
        Ok(Share { percent })
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.percent)
    }
}

/// How each invocation of a run arrives: the first cold, each later one
/// after the idle limit with probability `after_idle`, else warm.
pub struct Arrivals {
    after_idle: Share,
    rng: SplitMix64,
    started: bool,
}

/// Mixed into the seed so the draw is not the mix's own sequence (the mix
/// uses the seed as it is).
const STREAM: u64 = 0x6e65_7477_6f72_6b21;

impl Arrivals {
    /// The arrivals of a run seeded with `seed`.
    pub fn new(after_idle: Share, seed: u64) -> Arrivals {
        Arrivals {
            after_idle,
            rng: SplitMix64::new(seed ^ STREAM),
            started: false,
        }
    }

    /// How the next invocation arrives.
    pub fn draw(&mut self) -> Arrival {
        if !self.started {
            self.started = true;
            return Arrival::Cold;
        }
        // 53 random bits, uniform in [0, 1).
        let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if unit < self.after_idle.fraction() {
            Arrival::AfterIdle
        } else {
            Arrival::Warm
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn link(rtt: u64, dns: u64) -> Link {
        Link {
            rtt: MS(rtt),
            dns: MS(dns),
        }
    }

    #[test]
    fn at_50_ms_lee_warm_waits_one_round_trip_and_the_baseline_three() {
        let link = link(50, 0);
        assert_eq!(link.lee(Arrival::Warm, 1), MS(50));
        assert_eq!(link.baseline(1), MS(150));
        assert_eq!(link.lee(Arrival::AfterIdle, 1), MS(150));
        assert_eq!(link.lee(Arrival::Cold, 1), MS(150));
    }

    #[test]
    fn further_requests_reuse_the_invocations_connection() {
        let link = link(50, 0);
        assert_eq!(link.lee(Arrival::Warm, 3), MS(150));
        assert_eq!(link.lee(Arrival::AfterIdle, 3), MS(250));
        assert_eq!(link.baseline(3), MS(250));
    }

    #[test]
    fn no_request_waits_on_no_link() {
        let link = link(50, 20);
        assert_eq!(link.lee(Arrival::Cold, 0), Duration::ZERO);
        assert_eq!(link.baseline(0), Duration::ZERO);
    }

    #[test]
    fn dns_is_paid_by_new_connections_only() {
        let link = link(40, 25);
        assert_eq!(link.new_connection(), MS(145));
        assert_eq!(link.baseline(1), MS(145));
        assert_eq!(link.lee(Arrival::AfterIdle, 1), MS(145));
        assert_eq!(link.lee(Arrival::Warm, 1), MS(40));
    }

    #[test]
    fn shares_are_percentages() {
        let share: Share = "30%".parse().unwrap();
        assert_eq!(share.fraction(), 0.3);
        assert_eq!(share.to_string(), "30%");
        assert_eq!("12.5 %".parse::<Share>().unwrap().to_string(), "12.5%");
        assert_eq!("0%".parse::<Share>().unwrap().fraction(), 0.0);
        assert_eq!("100%".parse::<Share>().unwrap().fraction(), 1.0);
        for bad in ["30", "0.3", "101%", "-1%", "%", "NaN%", "x%"] {
            assert!(bad.parse::<Share>().is_err(), "{bad:?} was accepted");
        }
    }

    fn after_idle(share: &str, seed: u64, n: usize) -> Vec<Arrival> {
        let mut arrivals = Arrivals::new(share.parse().unwrap(), seed);
        (0..n).map(|_| arrivals.draw()).collect()
    }

    #[test]
    fn the_first_arrival_is_cold_and_no_other() {
        for share in ["0%", "30%", "100%"] {
            let arrivals = after_idle(share, 1, 1000);
            assert_eq!(arrivals[0], Arrival::Cold);
            assert!(!arrivals[1..].contains(&Arrival::Cold), "{share}");
        }
    }

    #[test]
    fn the_draw_keeps_the_share_and_repeats_with_the_seed() {
        let count = |arrivals: &[Arrival]| {
            arrivals
                .iter()
                .filter(|a| **a == Arrival::AfterIdle)
                .count()
        };
        let first = after_idle("30%", 2026, 10_001);
        assert!(
            (2_850..=3_150).contains(&count(&first)),
            "{} of 10,000 after idle",
            count(&first)
        );
        assert_eq!(first, after_idle("30%", 2026, 10_001));
        assert_ne!(first, after_idle("30%", 2027, 10_001));
        assert_eq!(count(&after_idle("0%", 5, 1001)), 0);
        assert_eq!(count(&after_idle("100%", 5, 1001)), 1000);
        let tenth = count(&after_idle("10%", 5, 10_001));
        assert!((900..=1_100).contains(&tenth), "{tenth} of 10,000");
    }
}
