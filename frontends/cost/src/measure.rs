//! What one invocation cost, and the summaries of many: means and
//! percentiles of durations, and the process's resident memory from
//! `/proc/self/status`.

use std::time::Duration;

use crate::alloc::Tally;
use crate::billing::billed_ms;

/// One invocation, measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Index of its kind in the run's list of kinds.
    pub kind: usize,
    /// Wall time in `Bridge::handle`.
    pub engine: Duration,
    /// Of that, time in requests to Home Assistant.
    pub ha_wait: Duration,
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

    /// Billed milliseconds as measured.
    pub fn billed_ms(&self) -> u64 {
        billed_ms(self.engine)
    }

    /// Billed milliseconds if lee took no time of its own: Home Assistant's
    /// wait alone (and Lambda's 1 ms minimum).
    pub fn floor_ms(&self) -> u64 {
        billed_ms(self.ha_wait)
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

    #[test]
    fn own_time_and_the_floor_come_from_the_wait() {
        let sample = Sample {
            kind: 0,
            engine: Duration::from_micros(30_400),
            ha_wait: Duration::from_micros(30_100),
            heap: Tally::default(),
            cache_hits: 0,
            slot_loads: 0,
            ok: true,
        };
        assert_eq!(sample.own(), Duration::from_micros(300));
        assert_eq!((sample.billed_ms(), sample.floor_ms()), (31, 31));
        let cached = Sample {
            engine: Duration::from_micros(20),
            ha_wait: Duration::ZERO,
            ..sample
        };
        assert_eq!((cached.billed_ms(), cached.floor_ms()), (1, 1));
    }
}
