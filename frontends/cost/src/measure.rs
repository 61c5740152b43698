//! What one invocation cost, lee's and the new-connection baseline's, and
//! the summaries of many: means and percentiles of durations, and the mean
//! billed duration of a group of invocations.

use std::time::Duration;

use crate::alloc::Tally;
use crate::billing::billed_ms;
use crate::network::Arrival;

/// One invocation, measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Index of its kind in the run's list of kinds.
    pub kind: usize,
    /// Wall time in `Bridge::handle`.
    pub engine: Duration,
    /// Of that, time in requests to Home Assistant.
    pub ha_wait: Duration,
    /// How it found lee's connection to Home Assistant.
    pub arrival: Arrival,
    /// lee's wait on the link to Home Assistant, modeled.
    pub network: Duration,
    /// The baseline's wait on the link (a new connection), modeled.
    pub baseline_network: Duration,
    /// The heap while it ran.
    pub heap: Tally,
    /// Answers the cache gave.
    pub cache_hits: u64,
    /// Module slots loaded (LUGS).
    pub slot_loads: u64,
    /// Whether it was answered as asked (Home Assistant's answer passed
    /// through, the op done), not with an error.
    pub ok: bool,
}

impl Sample {
    /// lee's own time: the engine's, less Home Assistant's.
    pub fn own(&self) -> Duration {
        self.engine.saturating_sub(self.ha_wait)
    }

    /// lee's billed milliseconds: the engine's measured time and its
    /// modeled wait on the link.
    pub fn billed_ms(&self) -> u64 {
        billed_ms(self.engine + self.network)
    }

    /// The baseline's billed milliseconds: the same engine time, its own
    /// wait on the link.
    pub fn baseline_ms(&self) -> u64 {
        billed_ms(self.engine + self.baseline_network)
    }

    /// Billed milliseconds if lee took no time of its own: Home Assistant's
    /// wait and lee's on the link alone (and Lambda's 1 ms minimum).
    pub fn floor_ms(&self) -> u64 {
        billed_ms(self.ha_wait + self.network)
    }
}

/// The mean billed duration of some invocations, lee's and the baseline's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Billed {
    /// How many invocations.
    pub count: u64,
    /// lee's mean, ms.
    pub lee: f64,
    /// The baseline's mean, ms.
    pub baseline: f64,
}

impl Billed {
    /// The means over `samples`; all zero when there are none.
    pub fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Billed {
        let (mut count, mut lee, mut baseline) = (0u64, 0u64, 0u64);
        for sample in samples {
            count += 1;
            lee += sample.billed_ms();
            baseline += sample.baseline_ms();
        }
        let n = count.max(1) as f64;
        Billed {
            count,
            lee: lee as f64 / n,
            baseline: baseline as f64 / n,
        }
    }
}

/// Mean, median, 99th percentile and maximum of some durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    /// The mean.
    pub mean: Duration,
    /// The median (nearest rank).
    pub p50: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Spread {
    /// The spread of `values`; all zero when there are none.
    pub fn of(values: impl Iterator<Item = Duration>) -> Spread {
        let mut sorted: Vec<Duration> = values.collect();
        if sorted.is_empty() {
            return Spread::default();
        }
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Spread {
            mean: total / sorted.len() as u32,
            p50: nearest_rank(&sorted, 50),
            p99: nearest_rank(&sorted, 99),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// The `percent`th percentile of sorted, non-empty `values`: the smallest
/// value with at least `percent` % of them at or below it.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ms = Duration::from_millis;
        let values: Vec<Duration> = (1..=100).map(ms).collect();
        let spread = Spread::of(values.iter().rev().copied());
        assert_eq!(spread.p50, ms(50));
        assert_eq!(spread.p99, ms(99));
        assert_eq!(spread.max, ms(100));
        assert_eq!(spread.mean, Duration::from_micros(50_500));
        let one = Spread::of([ms(7)].into_iter());
        assert_eq!(
            (one.p50, one.p99, one.max, one.mean),
            (ms(7), ms(7), ms(7), ms(7))
        );
        assert_eq!(Spread::of(std::iter::empty()), Spread::default());
        // With 10 values the 99th percentile is the largest.
        assert_eq!(Spread::of((1..=10).map(ms)).p99, ms(10));
    }

    fn sample(engine_us: u64, ha_wait_us: u64) -> Sample {
        Sample {
            kind: 0,
            engine: Duration::from_micros(engine_us),
            ha_wait: Duration::from_micros(ha_wait_us),
            arrival: Arrival::Warm,
            network: Duration::ZERO,
            baseline_network: Duration::ZERO,
            heap: Tally::default(),
            cache_hits: 0,
            slot_loads: 0,
            ok: true,
        }
    }

    #[test]
    fn own_time_and_the_floor_come_from_the_wait() {
        let sample = sample(30_400, 30_100);
        assert_eq!(sample.own(), Duration::from_micros(300));
        assert_eq!((sample.billed_ms(), sample.floor_ms()), (31, 31));
        let cached = sample_with(20, 0, 0, 0);
        assert_eq!((cached.billed_ms(), cached.floor_ms()), (1, 1));
    }

    fn sample_with(engine_us: u64, ha_wait_us: u64, network_ms: u64, baseline_ms: u64) -> Sample {
        Sample {
            network: Duration::from_millis(network_ms),
            baseline_network: Duration::from_millis(baseline_ms),
            ..sample(engine_us, ha_wait_us)
        }
    }

    #[test]
    fn the_modeled_link_is_billed_on_top_of_the_engine() {
        // 0.4 ms in the engine (0.1 of it lee's own), 50 ms on the link for
        // lee, 150 for the baseline.
        let sample = sample_with(400, 300, 50, 150);
        assert_eq!(sample.billed_ms(), 51);
        assert_eq!(sample.baseline_ms(), 151);
        assert_eq!(sample.floor_ms(), 51);
        assert_eq!(sample.own(), Duration::from_micros(100));
    }

    #[test]
    fn billed_means_average_lee_and_the_baseline_apart() {
        let samples = [
            sample_with(400, 300, 50, 150),
            sample_with(400, 300, 150, 150),
        ];
        let billed = Billed::of(samples.iter());
        assert_eq!(billed.count, 2);
        assert_eq!((billed.lee, billed.baseline), (101.0, 151.0));
        assert_eq!(Billed::of(std::iter::empty()), Billed::default());
    }
}
