//! The monotonic clock lee's core reads through [`Clock`]: microseconds
//! since the process's first clock was made.

use lee_core::time::{Clock, Instant};

/// A monotonic clock for the core: microseconds since the first clock of
/// the process was made. Every `MonotonicClock` shares that origin, so
/// instants from any of them can be compared.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: std::time::Instant,
}

impl MonotonicClock {
    /// The process's clock.
    pub fn new() -> Self {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        MonotonicClock {
            origin: *ORIGIN.get_or_init(std::time::Instant::now),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}
