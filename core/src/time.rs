//! Time as the core sees it: an [`Instant`] handed in by the caller, never read.
//!
//! The core has no clock. Every state machine (cache TTL, breaker cool-down,
//! retry schedule, idle slot reclaim) takes `now: Instant` as an argument, so a
//! test can drive it through hours of simulated time without sleeping. Frontends
//! implement [`Clock`] over a monotonic clock and pass its readings in.

use core::time::Duration;

/// A point on a monotonic timeline, in microseconds since an origin the caller
/// picks (process start, say). Only differences between instants mean anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the timeline.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// An instant `millis` milliseconds after the origin (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// This instant moved `d` later, saturating at the end of the timeline.
    pub fn saturating_add(self, d: Duration) -> Self {
        Instant(self.0.saturating_add(micros_of(d)))
    }

    /// This instant moved `d` earlier, saturating at the origin.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Instant(self.0.saturating_sub(micros_of(d)))
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// Whole microseconds in `d`, saturating at `u64::MAX` (about 584 000 years).
pub fn micros_of(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A monotonic clock, implemented by frontends (and by tests with a manual one).
pub trait Clock {
    /// The current instant. Must never go backwards.
    fn now(&self) -> Instant;
}

/// A clock that moves only when a test moves it: the core's state machines
/// are tested without sleeping.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct ManualClock(pub(crate) core::cell::Cell<u64>);

#[cfg(test)]
impl ManualClock {
    /// Move the clock forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        self.0.set(self.0.get().saturating_add(micros_of(by)));
    }

    /// Set the clock to `at`.
    pub(crate) fn set(&self, at: Instant) {
        self.0.set(at.as_micros());
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let end = Instant::from_micros(u64::MAX);
        assert_eq!(end.saturating_add(Duration::from_secs(1)), end);
        assert_eq!(
            Instant::ZERO.saturating_sub(Duration::from_secs(1)),
            Instant::ZERO
        );
        assert_eq!(Instant::ZERO.saturating_duration_since(end), Duration::ZERO);
        assert_eq!(Instant::from_millis(u64::MAX), end);
    }

    #[test]
    fn durations_round_trip_through_instants() {
        let t = Instant::from_millis(1_500);
        let later = t.saturating_add(Duration::from_micros(250));
        assert_eq!(later.as_micros(), 1_500_250);
        assert_eq!(
            later.saturating_duration_since(t),
            Duration::from_micros(250)
        );
    }
}
