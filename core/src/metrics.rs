//! Metrics: a fixed set of counters and small fixed-bucket histograms.
//!
//! What it is for: counting what the engine did (events, cache hits, HA calls,
//! failures by kind, breaker and slot activity) and how long things took (the
//! whole event, the wait on Home Assistant), so frontends can print one
//! CloudWatch metrics line per invocation and a diagnostics report can show a
//! snapshot. Nothing here grows: the counters are an array indexed by
//! [`Counter`], each histogram is [`BUCKETS`] counts plus sum, min and max,
//! and a snapshot is a plain copy.
//!
//! Invariants (property-tested): a histogram's count equals the sum of its
//! buckets, every observation lands in the one bucket whose bounds contain it,
//! counters saturate instead of wrapping, and a snapshot never changes after
//! it is taken.

use core::time::Duration;

use crate::time::micros_of;

macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// How many variants there are.
            pub const COUNT: usize = $name::ALL.len();

            /// The stable snake_case name used in metrics output.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
    };
}

named_enum! {
    /// What the engine counts.
    pub enum Counter {
        /// Events received, of any kind.
        Events => "events",
        /// Alexa Smart Home directives received.
        Directives => "directives",
        /// Answers served from the cache.
        CacheHits => "cache_hits",
        /// Cacheable lookups that missed.
        CacheMisses => "cache_misses",
        /// Requests sent to Home Assistant (each attempt counts).
        HaRequests => "ha_requests",
        /// Attempts repeated by the retry policy.
        Retries => "retries",
        /// Calls refused by an open breaker, with no network.
        BreakerRejections => "breaker_rejections",
        /// Times a breaker opened.
        BreakerOpens => "breaker_opens",
        /// Module loads and reloads into slots.
        SlotLoads => "slot_loads",
        /// Slots reclaimed.
        SlotUnloads => "slot_unloads",
        /// Answers that were an authorization error (401/403, missing token).
        ErrorsAuthorization => "errors_authorization",
        /// Answers that said Home Assistant could not be reached.
        ErrorsUnreachable => "errors_unreachable",
        /// Answers that were any other error.
        ErrorsInternal => "errors_internal",
        /// Events that could not be understood.
        ErrorsInvalid => "errors_invalid",
        /// Function URL requests refused for a missing or wrong shared secret.
        AuthFailures => "auth_failures",
    }
}

named_enum! {
    /// What the engine times.
    pub enum Timer {
        /// From event bytes in to response bytes out.
        Event => "event",
        /// Waiting on Home Assistant, per event that asked it (every request and retry).
        HaLatency => "ha_latency",
    }
}

/// Upper bounds of the histogram buckets, in microseconds; the last bucket
/// holds everything above the last bound.
pub const BUCKET_BOUNDS_MICROS: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 8_000_000,
];

/// Buckets per histogram: one per bound plus the overflow bucket.
pub const BUCKETS: usize = BUCKET_BOUNDS_MICROS.len() + 1;

/// A fixed-bucket latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    buckets: [u64; BUCKETS],
    count: u64,
    sum_micros: u64,
    min_micros: u64,
    max_micros: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::EMPTY
    }
}

impl Histogram {
    /// No observations.
    pub const EMPTY: Histogram = Histogram {
        buckets: [0; BUCKETS],
        count: 0,
        sum_micros: 0,
        min_micros: u64::MAX,
        max_micros: 0,
    };

    /// The bucket a value of `micros` falls in.
    pub fn bucket_of(micros: u64) -> usize {
        BUCKET_BOUNDS_MICROS.partition_point(|&bound| bound < micros)
    }

    /// Record one duration.
    pub fn observe(&mut self, d: Duration) {
        let micros = micros_of(d);
        let bucket = &mut self.buckets[Self::bucket_of(micros)];
        *bucket = bucket.saturating_add(1);
        self.count = self.count.saturating_add(1);
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.min_micros = self.min_micros.min(micros);
        self.max_micros = self.max_micros.max(micros);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros)
    }

    /// Smallest observation, if any.
    pub fn min(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros(self.min_micros))
    }

    /// Largest observation, if any.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros(self.max_micros))
    }

    /// Counts per bucket, bounds as in [`BUCKET_BOUNDS_MICROS`].
    pub fn buckets(&self) -> &[u64; BUCKETS] {
        &self.buckets
    }

    /// An upper estimate of the `percent`-th percentile (0–100): the upper
    /// bound of the bucket holding it, or the maximum for the overflow bucket
    /// and when the maximum is smaller.
    pub fn percentile(&self, percent: u8) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = (self.count as u128 * percent.min(100) as u128)
            .div_ceil(100)
            .max(1);
        let mut seen = 0u128;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n as u128;
            if seen >= rank {
                let bound = BUCKET_BOUNDS_MICROS.get(i).copied().unwrap_or(u64::MAX);
                return Some(Duration::from_micros(bound.min(self.max_micros)));
            }
        }
        self.max()
    }
}

/// The engine's counters and timers. Copy it to take a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metrics {
    counters: [u64; Counter::COUNT],
    timers: [Histogram; Timer::COUNT],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::EMPTY
    }
}

impl Metrics {
    /// All zero.
    pub const EMPTY: Metrics = Metrics {
        counters: [0; Counter::COUNT],
        timers: [Histogram::EMPTY; Timer::COUNT],
    };

    /// Add one to a counter.
    pub fn incr(&mut self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Add `n` to a counter (saturating).
    pub fn add(&mut self, counter: Counter, n: u64) {
        let c = &mut self.counters[counter as usize];
        *c = c.saturating_add(n);
    }

    /// Record a duration on a timer.
    pub fn observe(&mut self, timer: Timer, d: Duration) {
        self.timers[timer as usize].observe(d);
    }

    /// A counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize]
    }

    /// A timer's histogram.
    pub fn timer(&self, timer: Timer) -> &Histogram {
        &self.timers[timer as usize]
    }

    /// Every counter with its value, in [`Counter::ALL`] order.
    pub fn counters(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c, self.get(c)))
    }

    /// A copy of the current values that later records do not change.
    pub fn snapshot(&self) -> Metrics {
        *self
    }

    /// Back to zero.
    pub fn reset(&mut self) {
        *self = Metrics::EMPTY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_unique_and_stable() {
        let mut names: std::vec::Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        names.extend(Timer::ALL.iter().map(|t| t.name()));
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total);
        assert_eq!(Counter::CacheHits.name(), "cache_hits");
        assert_eq!(Counter::COUNT, 15);
    }

    #[test]
    fn bucket_bounds_are_inclusive_upper_bounds() {
        assert_eq!(Histogram::bucket_of(0), 0);
        assert_eq!(Histogram::bucket_of(100), 0);
        assert_eq!(Histogram::bucket_of(101), 1);
        assert_eq!(Histogram::bucket_of(8_000_000), BUCKETS - 2);
        assert_eq!(Histogram::bucket_of(8_000_001), BUCKETS - 1);
        assert_eq!(Histogram::bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_come_from_bucket_bounds() {
        let mut h = Histogram::EMPTY;
        assert_eq!(h.percentile(50), None);
        for ms in [1u64, 1, 1, 1, 1, 1, 1, 1, 1, 40] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.percentile(50), Some(Duration::from_millis(1)));
        assert_eq!(h.percentile(90), Some(Duration::from_millis(1)));
        // The top observation sits in the 25..50 ms bucket; its bound is above the max.
        assert_eq!(h.percentile(99), Some(Duration::from_millis(40)));
        assert_eq!(h.min(), Some(Duration::from_millis(1)));
        assert_eq!(h.max(), Some(Duration::from_millis(40)));
        assert_eq!(h.sum(), Duration::from_millis(49));
    }

    #[test]
    fn counters_saturate_and_reset() {
        let mut m = Metrics::EMPTY;
        m.add(Counter::Events, u64::MAX - 1);
        m.incr(Counter::Events);
        m.incr(Counter::Events);
        assert_eq!(m.get(Counter::Events), u64::MAX);
        m.reset();
        assert_eq!(m.counters().map(|(_, v)| v).sum::<u64>(), 0);
    }

    proptest! {
        #[test]
        fn histograms_account_for_every_observation(
            values in proptest::collection::vec(0u64..20_000_000, 0..300),
        ) {
            let mut m = Metrics::EMPTY;
            let mut taken: Option<Metrics> = None;
            for (i, &micros) in values.iter().enumerate() {
                let before = *m.timer(Timer::HaLatency);
                m.observe(Timer::HaLatency, Duration::from_micros(micros));
                m.incr(Counter::HaRequests);
                let after = m.timer(Timer::HaLatency);
                // Exactly one bucket grew, and its bounds contain the value.
                let grown: std::vec::Vec<usize> = (0..BUCKETS)
                    .filter(|&b| after.buckets()[b] != before.buckets()[b])
                    .collect();
                prop_assert_eq!(grown.len(), 1);
                let b = grown[0];
                let lower = if b == 0 { 0 } else { BUCKET_BOUNDS_MICROS[b - 1] + 1 };
                let upper = BUCKET_BOUNDS_MICROS.get(b).copied().unwrap_or(u64::MAX);
                prop_assert!(lower <= micros && micros <= upper);
                if i == values.len() / 2 {
                    taken = Some(m.snapshot());
                }
            }
            let h = m.timer(Timer::HaLatency);
            prop_assert_eq!(h.count(), h.buckets().iter().sum::<u64>());
            prop_assert_eq!(h.count(), values.len() as u64);
            prop_assert_eq!(m.get(Counter::HaRequests), values.len() as u64);
            prop_assert_eq!(h.sum(), Duration::from_micros(values.iter().sum()));
            prop_assert_eq!(h.max().map(micros_of), values.iter().copied().max());
            if let Some(snapshot) = taken {
                let half = values.len() / 2 + 1;
                prop_assert_eq!(snapshot.timer(Timer::HaLatency).count(), half as u64);
                prop_assert_eq!(snapshot.get(Counter::HaRequests), half as u64);
            }
            // Every percentile is at least the true value at that rank.
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for p in [50u8, 90, 99, 100] {
                if let Some(estimate) = h.percentile(p) {
                    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
                    prop_assert!(micros_of(estimate) >= sorted[rank - 1]);
                }
            }
        }
    }
}
