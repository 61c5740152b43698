//! Circuit breakers: stop calling a dependency that keeps failing, and find out
//! cheaply when it has recovered.
//!
//! What it is for: lee has a few seconds to answer Alexa. When Home Assistant
//! (or the parameter store holding its token) is down, waiting for yet another
//! connect timeout wastes that budget and piles load on a struggling server.
//! A [`Breaker`] remembers recent failures of one dependency and, once
//! there have been too many, fails calls fast ([`Rejected`], with a
//! `retry_after` hint and no network at all) until a single probe call shows
//! that the dependency answers again. A dependency has at most one breaker,
//! held by whoever calls it (today only Home Assistant has one, held by the
//! host's bridge).
//!
//! # State machine
//!
//! ```text
//!              failure_threshold failures within one window
//!   Closed ─────────────────────────────────────────────────▶ Open
//!     ▲                                                       │  ▲
//!     │                        cool_down elapsed: the next    │  │ probe failed, or no
//!     │                        try_acquire is the probe       ▼  │ outcome within probe_timeout
//!     └─────────────────── probe succeeded ──────────────── HalfOpen
//! ```
//!
//! * **Closed**: every call is admitted. Failures are counted in a fixed
//!   window that starts at the first failure: a failure arriving `window` or
//!   more after the window started begins a new window with a count of one. A
//!   success resets the count. Reaching `failure_threshold` opens the breaker.
//! * **Open**: every call is rejected until `cool_down` has elapsed since the
//!   breaker opened. The first [`Breaker::try_acquire`] after that moves to
//!   half-open and is admitted as the probe ([`Permit::is_probe`]).
//! * **HalfOpen**: exactly one call, the probe, is in flight; every other call
//!   is rejected. The probe's success closes the breaker (counts reset); its
//!   failure opens it again with a fresh cool-down from that moment. If no
//!   outcome is recorded before `probe_timeout` has elapsed since the probe was
//!   admitted, the probe counts as failed at exactly that instant, so a lost
//!   probe cannot leave the breaker half-open forever.
//!
//! Outcomes are recorded by handing back the [`Permit`] the call was admitted
//! with. Each permit carries the epoch of the state it was issued in (the epoch
//! advances on every transition), so a *late* outcome, from a call admitted
//! before the breaker last changed state, is counted in the statistics but
//! otherwise ignored: it can neither close an open or half-open breaker, nor
//! stand in for the probe, nor admit an extra probe, nor count towards opening
//! a breaker that has since closed again.
//!
//! # Invariants
//!
//! * An open breaker admits no call before `cool_down` has elapsed since it
//!   opened; a rejected call's `retry_after` is then exactly the time left.
//! * Between entering half-open and the probe's outcome (or its timeout),
//!   exactly one permit is granted, and it is the probe.
//! * A closed breaker opens only when `failure_threshold` failures fall within
//!   a span shorter than `window`; fewer failures in every window never open it.
//! * Nothing here reads a clock, allocates or panics: time comes in as `now`,
//!   arithmetic saturates, and an instant earlier than one already seen (a
//!   clock that went backwards) is treated as "no time has passed".

use core::fmt;
use core::time::Duration;

use crate::time::Instant;

/// How a [`Breaker`] decides to open and when it tries again.
///
/// Built with [`BreakerConfig::new`], which checks it, or taken from
/// [`BreakerConfig::DEFAULT`]; the fields are private so a breaker never sees
/// an invalid configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BreakerConfig {
    failure_threshold: u32,
    window: Duration,
    cool_down: Duration,
    probe_timeout: Duration,
}

impl BreakerConfig {
    /// Five failures within 30 s open the breaker; a probe is let through
    /// after a 10 s cool-down and given 10 s to report back.
    pub const DEFAULT: BreakerConfig = BreakerConfig {
        failure_threshold: 5,
        window: Duration::from_secs(30),
        cool_down: Duration::from_secs(10),
        probe_timeout: Duration::from_secs(10),
    };

    /// A checked configuration.
    ///
    /// `failure_threshold` failures within `window` open the breaker; it stays
    /// open for `cool_down` (zero means the very next call is the probe), and
    /// the probe's outcome must be recorded within `probe_timeout`. Times are
    /// kept at microsecond resolution, like [`Instant`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroThreshold`] when `failure_threshold` is 0,
    /// [`ConfigError::ZeroWindow`] / [`ConfigError::ZeroProbeTimeout`] when
    /// `window` / `probe_timeout` is shorter than one microsecond.
    pub const fn new(
        failure_threshold: u32,
        window: Duration,
        cool_down: Duration,
        probe_timeout: Duration,
    ) -> Result<Self, ConfigError> {
        if failure_threshold == 0 {
            return Err(ConfigError::ZeroThreshold);
        }
        if window.as_micros() == 0 {
            return Err(ConfigError::ZeroWindow);
        }
        if probe_timeout.as_micros() == 0 {
            return Err(ConfigError::ZeroProbeTimeout);
        }
        Ok(BreakerConfig {
            failure_threshold,
            window,
            cool_down,
            probe_timeout,
        })
    }

    /// Failures within one window that open the breaker (at least 1).
    pub const fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long failures keep counting towards the threshold.
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// How long an open breaker rejects every call before admitting a probe.
    pub const fn cool_down(&self) -> Duration {
        self.cool_down
    }

    /// How long a probe may stay unanswered before it counts as failed.
    pub const fn probe_timeout(&self) -> Duration {
        self.probe_timeout
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a [`BreakerConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// `failure_threshold` was 0: the breaker would open without any failure.
    ZeroThreshold,
    /// `window` was under 1 µs: failures could never accumulate.
    ZeroWindow,
    /// `probe_timeout` was under 1 µs: every probe would time out at once.
    ZeroProbeTimeout,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroThreshold => "breaker failure threshold must be at least 1",
            ConfigError::ZeroWindow => "breaker failure window must be at least 1 µs",
            ConfigError::ZeroProbeTimeout => "breaker probe timeout must be at least 1 µs",
        })
    }
}

impl core::error::Error for ConfigError {}

/// Where a breaker stands, for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures are being counted.
    Closed,
    /// Calls are rejected until the cool-down has passed.
    Open,
    /// One probe call is in flight; everything else is rejected.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// Counters of what a breaker has done, all saturating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BreakerStats {
    /// Calls admitted (including probes).
    pub admitted: u64,
    /// Calls rejected without touching the dependency.
    pub rejected: u64,
    /// Failures recorded (including late ones).
    pub failures: u64,
    /// Successes recorded (including late ones).
    pub successes: u64,
    /// Times the breaker opened (threshold reached, probe failed or timed out).
    pub opens: u64,
    /// Probes admitted.
    pub probes: u64,
    /// Outcomes that arrived after the breaker had changed state since the
    /// call was admitted, and so were ignored apart from these counters.
    pub late_results: u64,
    /// Probes whose outcome was not recorded within the probe timeout.
    pub probe_timeouts: u64,
}

/// Permission to make one call to the dependency, from [`Breaker::try_acquire`].
///
/// Hand it back with [`Breaker::record_success`] or [`Breaker::record_failure`]
/// once the call's outcome is known. It is deliberately neither `Clone` nor
/// `Copy`: one call, one outcome. Dropping it unrecorded is harmless for an
/// ordinary call; an unrecorded probe counts as failed after the probe timeout.
/// A permit must go back to the breaker that issued it.
#[derive(Debug, PartialEq, Eq, Hash)]
#[must_use = "record the call's outcome with record_success or record_failure"]
pub struct Permit {
    epoch: u64,
    probe: bool,
}

impl Permit {
    /// Whether this call is the half-open probe whose outcome decides if the
    /// breaker closes again.
    pub const fn is_probe(&self) -> bool {
        self.probe
    }
}

/// A call refused by an open or half-open breaker; nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejected {
    /// When open: the time left until a probe will be admitted. When
    /// half-open: the time left until the probe in flight times out, by which
    /// point its fate is known. Always greater than zero.
    pub retry_after: Duration,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit breaker rejected the call, retry after {:?}",
            self.retry_after
        )
    }
}

impl core::error::Error for Rejected {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `failures` failures since `window_start` (meaningless when 0).
    Closed {
        window_start: Instant,
        failures: u32,
    },
    /// Opened at `since`.
    Open { since: Instant },
    /// The probe was admitted at `probe_started` and has not reported back.
    HalfOpen { probe_started: Instant },
}

/// A circuit breaker guarding one dependency. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    config: BreakerConfig,
    phase: Phase,
    /// Advances on every transition; permits from an older epoch are late.
    epoch: u64,
    stats: BreakerStats,
}

impl Breaker {
    /// A closed breaker with no failures recorded.
    pub const fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            phase: Phase::Closed {
                window_start: Instant::ZERO,
                failures: 0,
            },
            epoch: 0,
            stats: BreakerStats {
                admitted: 0,
                rejected: 0,
                failures: 0,
                successes: 0,
                opens: 0,
                probes: 0,
                late_results: 0,
                probe_timeouts: 0,
            },
        }
    }

    /// The configuration this breaker runs with.
    pub const fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Asks to make one call at `now`.
    ///
    /// Closed: admitted. Open with the cool-down elapsed: moves to half-open
    /// and admits this call as the probe. Otherwise rejected, with the time
    /// until it is worth asking again.
    ///
    /// # Errors
    ///
    /// [`Rejected`] while open (before the cool-down has elapsed) or while a
    /// probe is in flight.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.expire_probe(now);
        match self.phase {
            Phase::Closed { .. } => {
                self.stats.admitted = self.stats.admitted.saturating_add(1);
                Ok(Permit {
                    epoch: self.epoch,
                    probe: false,
                })
            }
            Phase::Open { since } => {
                let probe_at = since.saturating_add(self.config.cool_down);
                if now >= probe_at {
                    self.transition(Phase::HalfOpen { probe_started: now });
                    self.stats.admitted = self.stats.admitted.saturating_add(1);
                    self.stats.probes = self.stats.probes.saturating_add(1);
                    Ok(Permit {
                        epoch: self.epoch,
                        probe: true,
                    })
                } else {
                    Err(self.reject(probe_at, now))
                }
            }
            Phase::HalfOpen { probe_started } => {
                let timeout_at = self.probe_deadline(probe_started);
                Err(self.reject(timeout_at, now))
            }
        }
    }

    /// Records that the call admitted with `permit` succeeded, at `now`.
    ///
    /// In closed state this resets the failure count; for the probe it closes
    /// the breaker. A late outcome only updates the statistics.
    pub fn record_success(&mut self, permit: Permit, now: Instant) {
        self.expire_probe(now);
        self.stats.successes = self.stats.successes.saturating_add(1);
        if permit.epoch != self.epoch {
            self.count_late();
            return;
        }
        match (self.phase, permit.probe) {
            (Phase::Closed { window_start, .. }, false) => {
                self.phase = Phase::Closed {
                    window_start,
                    failures: 0,
                };
            }
            (Phase::HalfOpen { .. }, true) => self.transition(Phase::Closed {
                window_start: now,
                failures: 0,
            }),
            _ => self.count_late(),
        }
    }

    /// Records that the call admitted with `permit` failed, at `now`.
    ///
    /// In closed state this counts towards the threshold and may open the
    /// breaker; for the probe it reopens the breaker with a fresh cool-down.
    /// A late outcome only updates the statistics.
    pub fn record_failure(&mut self, permit: Permit, now: Instant) {
        self.expire_probe(now);
        self.stats.failures = self.stats.failures.saturating_add(1);
        if permit.epoch != self.epoch {
            self.count_late();
            return;
        }
        match (self.phase, permit.probe) {
            (
                Phase::Closed {
                    window_start,
                    failures,
                },
                false,
            ) => {
                let window_over = now.saturating_duration_since(window_start) >= self.config.window;
                let (window_start, failures) = if failures == 0 || window_over {
                    (now, 1)
                } else {
                    (window_start, failures.saturating_add(1))
                };
                if failures >= self.config.failure_threshold {
                    self.open(now);
                } else {
                    self.phase = Phase::Closed {
                        window_start,
                        failures,
                    };
                }
            }
            (Phase::HalfOpen { .. }, true) => self.open(now),
            _ => self.count_late(),
        }
    }

    /// The state at `now`, for diagnostics. A probe that has outlived its
    /// timeout already reads as [`BreakerState::Open`]; an open breaker whose
    /// cool-down has elapsed still reads as open until the next
    /// [`try_acquire`](Breaker::try_acquire) admits the probe.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { probe_started } => {
                if now >= self.probe_deadline(probe_started) {
                    BreakerState::Open
                } else {
                    BreakerState::HalfOpen
                }
            }
        }
    }

    /// What this breaker has done so far.
    pub const fn stats(&self) -> BreakerStats {
        self.stats
    }

    fn probe_deadline(&self, probe_started: Instant) -> Instant {
        probe_started.saturating_add(self.config.probe_timeout)
    }

    /// Applies a probe timeout that has passed by `now`: the breaker reopens
    /// at the instant the probe expired, not at `now`, so the outcome does not
    /// depend on when somebody happens to look.
    fn expire_probe(&mut self, now: Instant) {
        if let Phase::HalfOpen { probe_started } = self.phase {
            let expired_at = self.probe_deadline(probe_started);
            if now >= expired_at {
                self.stats.probe_timeouts = self.stats.probe_timeouts.saturating_add(1);
                self.open(expired_at);
            }
        }
    }

    fn open(&mut self, since: Instant) {
        self.stats.opens = self.stats.opens.saturating_add(1);
        self.transition(Phase::Open { since });
    }

    fn transition(&mut self, phase: Phase) {
        self.phase = phase;
        self.epoch = self.epoch.wrapping_add(1);
    }

    fn reject(&mut self, until: Instant, now: Instant) -> Rejected {
        self.stats.rejected = self.stats.rejected.saturating_add(1);
        Rejected {
            // `until > now` on every path here, so this is never zero.
            retry_after: until.saturating_duration_since(now),
        }
    }

    fn count_late(&mut self) {
        self.stats.late_results = self.stats.late_results.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    fn dur(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// A checked config with every duration in milliseconds.
    fn config(threshold: u32, window: u64, cool_down: u64, probe_timeout: u64) -> BreakerConfig {
        BreakerConfig::new(threshold, dur(window), dur(cool_down), dur(probe_timeout))
            .expect("valid test config")
    }

    /// Opens `breaker` at `at` with `failure_threshold` failures at that instant.
    fn trip(breaker: &mut Breaker, at: Instant) {
        for _ in 0..breaker.config().failure_threshold() {
            let permit = breaker.try_acquire(at).expect("closed breaker admits");
            breaker.record_failure(permit, at);
        }
        assert_eq!(breaker.state(at), BreakerState::Open);
    }

    fn fail_once(breaker: &mut Breaker, at: Instant) {
        let permit = breaker.try_acquire(at).expect("admitted");
        breaker.record_failure(permit, at);
    }

    /// Fails one call at each of `times` (in ms), and returns the state right
    /// after the last failure.
    fn fail_at(breaker: &mut Breaker, times: &[u64]) -> BreakerState {
        for &t in times {
            fail_once(breaker, ms(t));
        }
        breaker.state(ms(*times.last().expect("at least one failure")))
    }

    fn rejected_for(breaker: &mut Breaker, at: Instant) -> Duration {
        breaker
            .try_acquire(at)
            .expect_err("should be rejected")
            .retry_after
    }

    /// The `retry_after` of a call rejected at `at`, once the probe has been
    /// admitted exactly that long after `at`.
    fn rejected_until_probe(breaker: &mut Breaker, at: Instant) -> Duration {
        let retry_after = rejected_for(breaker, at);
        let probe = breaker
            .try_acquire(at.saturating_add(retry_after))
            .expect("cool-down elapsed");
        assert!(probe.is_probe());
        retry_after
    }

    // ---- configuration ------------------------------------------------------

    #[test]
    fn default_config_is_five_failures_in_30s_with_10s_cool_down_and_probe_timeout() {
        let c = BreakerConfig::default();
        assert_eq!(c, BreakerConfig::DEFAULT);
        assert_eq!(c.failure_threshold(), 5);
        assert_eq!(c.window(), Duration::from_secs(30));
        assert_eq!(c.cool_down(), Duration::from_secs(10));
        assert_eq!(c.probe_timeout(), Duration::from_secs(10));
        assert_eq!(
            BreakerConfig::new(5, c.window(), c.cool_down(), c.probe_timeout()),
            Ok(c)
        );
    }

    #[test]
    fn config_rejects_zero_threshold_window_and_probe_timeout() {
        let s = Duration::from_secs(1);
        assert_eq!(
            BreakerConfig::new(0, s, s, s),
            Err(ConfigError::ZeroThreshold)
        );
        assert_eq!(
            BreakerConfig::new(1, Duration::ZERO, s, s),
            Err(ConfigError::ZeroWindow)
        );
        assert_eq!(
            BreakerConfig::new(1, Duration::from_nanos(999), s, s),
            Err(ConfigError::ZeroWindow)
        );
        assert_eq!(
            BreakerConfig::new(1, s, s, Duration::ZERO),
            Err(ConfigError::ZeroProbeTimeout)
        );
        // A zero cool-down is allowed: the next call after opening is the probe.
        assert!(BreakerConfig::new(1, s, Duration::ZERO, s).is_ok());
        assert!(!ConfigError::ZeroThreshold.to_string().is_empty());
        let rejected = Rejected {
            retry_after: dur(250),
        };
        assert!(rejected.to_string().contains("250ms"), "{rejected}");
    }

    // ---- closed -------------------------------------------------------------

    #[test]
    fn closed_admits_every_call_as_a_non_probe() {
        let mut b = Breaker::new(BreakerConfig::DEFAULT);
        for t in 0..100 {
            let permit = b.try_acquire(ms(t)).expect("closed admits");
            assert!(!permit.is_probe());
            b.record_success(permit, ms(t));
        }
        assert_eq!(b.state(ms(100)), BreakerState::Closed);
        assert_eq!(b.stats().admitted, 100);
        assert_eq!(b.stats().successes, 100);
    }

    #[test]
    fn opens_after_threshold_failures_within_window() {
        let mut b = Breaker::new(config(3, 1_000, 500, 200));
        assert_eq!(fail_at(&mut b, &[0, 100]), BreakerState::Closed);
        assert_eq!(fail_at(&mut b, &[999]), BreakerState::Open);
        assert_eq!(b.stats().opens, 1);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut b = Breaker::new(config(3, 1_000, 500, 200));
        // At 1000 ms, exactly one window after the first failure, a new
        // window begins.
        assert_eq!(fail_at(&mut b, &[0, 100, 1_000]), BreakerState::Closed);
        assert_eq!(fail_at(&mut b, &[1_001]), BreakerState::Closed);
        assert_eq!(fail_at(&mut b, &[1_999]), BreakerState::Open);
    }

    #[test]
    fn sparse_failures_never_open() {
        // Two failures per 100 ms window at most, threshold 3.
        let mut b = Breaker::new(config(3, 100, 50, 50));
        for t in (0..10_000).step_by(50) {
            fail_once(&mut b, ms(t));
            assert_eq!(b.state(ms(t)), BreakerState::Closed, "at {t} ms");
        }
        assert_eq!(b.stats().opens, 0);
    }

    #[test]
    fn success_in_closed_resets_the_failure_count() {
        let mut b = Breaker::new(config(3, 1_000, 500, 200));
        fail_at(&mut b, &[0, 1]);
        let permit = b.try_acquire(ms(2)).unwrap();
        b.record_success(permit, ms(2));
        assert_eq!(fail_at(&mut b, &[3, 4]), BreakerState::Closed);
        assert_eq!(fail_at(&mut b, &[5]), BreakerState::Open);
    }

    // ---- open ---------------------------------------------------------------

    #[test]
    fn open_rejects_until_cool_down_with_exact_retry_after() {
        let mut b = Breaker::new(config(2, 1_000, 500, 200));
        trip(&mut b, ms(1_000));
        assert_eq!(rejected_for(&mut b, ms(1_000)), dur(500));
        assert_eq!(rejected_for(&mut b, ms(1_300)), dur(200));
        assert_eq!(b.state(ms(1_499)), BreakerState::Open);
        assert_eq!(
            rejected_until_probe(&mut b, Instant::from_micros(1_499_999)),
            Duration::from_micros(1)
        );
        assert_eq!(b.state(ms(1_500)), BreakerState::HalfOpen);
        assert_eq!(b.stats().rejected, 3);
        assert_eq!(b.stats().probes, 1);
    }

    #[test]
    fn zero_cool_down_admits_the_probe_immediately() {
        let mut b = Breaker::new(config(1, 1_000, 0, 200));
        trip(&mut b, ms(10));
        assert!(b.try_acquire(ms(10)).unwrap().is_probe());
    }

    #[test]
    fn late_results_while_open_neither_close_nor_admit_probes() {
        let mut b = Breaker::new(config(2, 1_000, 500, 200));
        let a = b.try_acquire(ms(0)).unwrap();
        let c = b.try_acquire(ms(0)).unwrap();
        let d = b.try_acquire(ms(0)).unwrap();
        let e = b.try_acquire(ms(0)).unwrap();
        b.record_failure(a, ms(10));
        b.record_failure(c, ms(20));
        assert_eq!(b.state(ms(20)), BreakerState::Open);
        // Answers of calls admitted before the breaker opened.
        b.record_success(d, ms(30));
        b.record_failure(e, ms(40));
        assert_eq!(b.state(ms(40)), BreakerState::Open);
        // The cool-down still runs from the opening at 20 ms, not from 40 ms.
        assert_eq!(rejected_until_probe(&mut b, ms(40)), dur(480));
        let stats = b.stats();
        assert_eq!(stats.late_results, 2);
        assert_eq!(stats.opens, 1);
        assert_eq!((stats.successes, stats.failures), (1, 3));
    }

    // ---- half-open ----------------------------------------------------------

    #[test]
    fn half_open_admits_exactly_one_probe_and_rejects_the_rest() {
        let mut b = Breaker::new(config(1, 1_000, 500, 200));
        trip(&mut b, ms(0));
        let probe = b.try_acquire(ms(500)).unwrap();
        assert!(probe.is_probe());
        // While the probe is in flight, the hint is the probe's remaining time.
        assert_eq!(rejected_for(&mut b, ms(500)), dur(200));
        assert_eq!(rejected_for(&mut b, ms(650)), dur(50));
        assert_eq!(b.state(ms(699)), BreakerState::HalfOpen);
        b.record_success(probe, ms(699));
        assert_eq!(b.stats().probes, 1);
    }

    #[test]
    fn probe_success_closes_and_resets_counts() {
        let mut b = Breaker::new(config(2, 1_000, 500, 200));
        fail_once(&mut b, ms(0));
        fail_once(&mut b, ms(1));
        let probe = b.try_acquire(ms(501)).unwrap();
        b.record_success(probe, ms(600));
        assert_eq!(b.state(ms(600)), BreakerState::Closed);
        let permit = b.try_acquire(ms(600)).unwrap();
        assert!(!permit.is_probe());
        b.record_failure(permit, ms(601));
        assert_eq!(b.state(ms(601)), BreakerState::Closed, "count restarted");
        fail_once(&mut b, ms(602));
        assert_eq!(b.state(ms(602)), BreakerState::Open);
    }

    #[test]
    fn probe_failure_reopens_with_a_fresh_cool_down() {
        let mut b = Breaker::new(config(1, 1_000, 500, 200));
        trip(&mut b, ms(0));
        let probe = b.try_acquire(ms(500)).unwrap();
        b.record_failure(probe, ms(550));
        assert_eq!(b.state(ms(550)), BreakerState::Open);
        assert_eq!(rejected_for(&mut b, ms(550)), dur(500));
        assert_eq!(rejected_until_probe(&mut b, ms(1_049)), dur(1));
        assert_eq!(b.stats().opens, 2);
    }

    #[test]
    fn unanswered_probe_times_out_and_reopens_from_the_expiry_instant() {
        let mut b = Breaker::new(config(1, 1_000, 500, 200));
        trip(&mut b, ms(0));
        let probe = b.try_acquire(ms(500)).unwrap();
        assert_eq!(b.state(ms(699)), BreakerState::HalfOpen);
        // `state` sees the timeout without needing a mutation.
        assert_eq!(b.state(ms(700)), BreakerState::Open);
        // Reopened at 700 ms, so the new cool-down ends at 1200 ms.
        assert_eq!(rejected_for(&mut b, ms(800)), dur(400));
        // The probe's answer finally arrives: too late, ignored.
        b.record_success(probe, ms(900));
        assert_eq!(b.state(ms(900)), BreakerState::Open);
        assert_eq!(rejected_until_probe(&mut b, ms(1_199)), dur(1));
        let stats = b.stats();
        assert_eq!(stats.probe_timeouts, 1);
        assert_eq!(stats.late_results, 1);
        assert_eq!(stats.opens, 2);
    }

    #[test]
    fn a_timeout_noticed_long_after_the_fact_allows_the_next_probe_at_once() {
        let mut b = Breaker::new(config(1, 1_000, 500, 200));
        trip(&mut b, ms(0));
        let _lost_probe = b.try_acquire(ms(500)).unwrap();
        // Nobody looked until 10 s later: the probe expired at 700 ms and the
        // cool-down ended at 1200 ms, so this call is the next probe.
        assert!(b.try_acquire(ms(10_000)).unwrap().is_probe());
    }

    /// A breaker (threshold 1) that admitted a call at 0 ms and then tripped
    /// at 0 ms, with that early call and the probe admitted once `cool_down`
    /// ms had passed.
    fn probing_with_an_early_call(cool_down: u64) -> (Breaker, Permit, Permit) {
        let mut b = Breaker::new(config(1, 1_000, cool_down, 200));
        let early = b.try_acquire(ms(0)).unwrap();
        trip(&mut b, ms(0));
        let probe = b.try_acquire(ms(cool_down)).unwrap();
        (b, early, probe)
    }

    #[test]
    fn late_result_during_half_open_does_not_stand_in_for_the_probe() {
        let (mut b, early, probe) = probing_with_an_early_call(500);
        b.record_success(early, ms(510));
        assert_eq!(b.state(ms(510)), BreakerState::HalfOpen);
        assert!(b.try_acquire(ms(510)).is_err(), "no second probe");
        b.record_success(probe, ms(520));
        assert_eq!(b.state(ms(520)), BreakerState::Closed);
    }

    #[test]
    fn late_failure_after_reclosing_does_not_count() {
        let (mut b, early, probe) = probing_with_an_early_call(0);
        b.record_success(probe, ms(1));
        b.record_failure(early, ms(2));
        assert_eq!(b.state(ms(2)), BreakerState::Closed);
    }

    // ---- robustness ---------------------------------------------------------

    #[test]
    fn clock_going_backwards_neither_panics_nor_admits_early() {
        let mut b = Breaker::new(config(2, 1_000, 500, 200));
        fail_once(&mut b, ms(5_000));
        fail_once(&mut b, ms(4_000)); // earlier than the window start: still counts
        assert_eq!(b.state(ms(4_000)), BreakerState::Open);
        // Opened at 4000 ms: an instant before that is "no time has passed".
        assert_eq!(rejected_for(&mut b, ms(0)), dur(4_500));
        assert_eq!(rejected_until_probe(&mut b, ms(4_499)), dur(1));
        assert_eq!(rejected_for(&mut b, ms(0)), dur(4_700));
    }

    #[test]
    fn extreme_times_durations_and_counters_saturate() {
        let huge = Duration::MAX;
        let mut b = Breaker::new(BreakerConfig::new(u32::MAX, huge, huge, huge).unwrap());
        let end = Instant::from_micros(u64::MAX);
        for _ in 0..10 {
            fail_once(&mut b, end);
        }
        assert_eq!(b.state(end), BreakerState::Closed);

        let mut b = Breaker::new(BreakerConfig::new(1, huge, huge, huge).unwrap());
        trip(&mut b, Instant::ZERO);
        assert_eq!(
            rejected_until_probe(&mut b, Instant::from_micros(u64::MAX - 1)),
            Duration::from_micros(1)
        );
        // The probe deadline saturates at the end of the timeline too.
        assert_eq!(b.state(end), BreakerState::Open);

        b.stats.admitted = u64::MAX;
        b.stats.rejected = u64::MAX;
        let _ = b.try_acquire(end);
        let _ = b.try_acquire(end);
        assert_eq!(b.stats().admitted, u64::MAX);
        assert_eq!(b.stats().rejected, u64::MAX);
    }

    #[test]
    fn stats_count_every_kind_of_event() {
        let mut b = Breaker::new(config(1, 1_000, 100, 50));
        let ok = b.try_acquire(ms(0)).unwrap();
        b.record_success(ok, ms(0));
        trip(&mut b, ms(0));
        let _ = b.try_acquire(ms(50));
        let _lost_probe = b.try_acquire(ms(100)).unwrap();
        let probe = b.try_acquire(ms(250)).unwrap();
        b.record_success(probe, ms(260));
        assert_eq!(
            b.stats(),
            BreakerStats {
                admitted: 4,
                rejected: 1,
                failures: 1,
                successes: 2,
                opens: 2,
                probes: 2,
                late_results: 0,
                probe_timeouts: 1,
            }
        );
    }

    // ---- reference model and properties --------------------------------------

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// Let this many milliseconds pass.
        Advance(u64),
        Acquire,
        /// Record success / failure / nothing for an outstanding permit
        /// (index taken modulo the number outstanding).
        Succeed(usize),
        Fail(usize),
        Forget(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..=40).prop_map(Op::Advance),
            3 => Just(Op::Acquire),
            3 => any::<usize>().prop_map(Op::Fail),
            2 => any::<usize>().prop_map(Op::Succeed),
            1 => any::<usize>().prop_map(Op::Forget),
        ]
    }

    fn config_strategy() -> impl Strategy<Value = BreakerConfig> {
        (1u32..=4, 1u64..=60, 0u64..=40, 1u64..=40).prop_map(
            |(threshold, window, cool_down, probe)| config(threshold, window, cool_down, probe),
        )
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum ModelPhase {
        Closed,
        Open { since: u64 },
        HalfOpen { probe_at: u64 },
    }

    /// The specification written out naively: std types, times in whole
    /// milliseconds, failures kept as a list of timestamps.
    #[derive(Debug)]
    struct Model {
        threshold: usize,
        window: u64,
        cool_down: u64,
        probe_timeout: u64,
        phase: ModelPhase,
        window_failures: std::vec::Vec<u64>,
        generation: u64,
    }

    impl Model {
        fn new(c: &BreakerConfig) -> Self {
            let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap();
            Model {
                threshold: usize::try_from(c.failure_threshold()).unwrap(),
                window: millis(c.window()),
                cool_down: millis(c.cool_down()),
                probe_timeout: millis(c.probe_timeout()),
                phase: ModelPhase::Closed,
                window_failures: std::vec::Vec::new(),
                generation: 0,
            }
        }

        fn go(&mut self, phase: ModelPhase) {
            self.phase = phase;
            self.window_failures.clear();
            self.generation += 1;
        }

        /// The phase at `now` once a probe timeout is taken into account.
        fn phase_at(&self, now: u64) -> ModelPhase {
            match self.phase {
                ModelPhase::HalfOpen { probe_at } if now >= probe_at + self.probe_timeout => {
                    ModelPhase::Open {
                        since: probe_at + self.probe_timeout,
                    }
                }
                phase => phase,
            }
        }

        fn settle(&mut self, now: u64) {
            let phase = self.phase_at(now);
            if phase != self.phase {
                self.go(phase);
            }
        }

        fn state(&self, now: u64) -> BreakerState {
            match self.phase_at(now) {
                ModelPhase::Closed => BreakerState::Closed,
                ModelPhase::Open { .. } => BreakerState::Open,
                ModelPhase::HalfOpen { .. } => BreakerState::HalfOpen,
            }
        }

        /// `Ok(is_probe)` or `Err(retry_after in ms)`.
        fn acquire(&mut self, now: u64) -> Result<bool, u64> {
            self.settle(now);
            match self.phase {
                ModelPhase::Closed => Ok(false),
                ModelPhase::Open { since } if now >= since + self.cool_down => {
                    self.go(ModelPhase::HalfOpen { probe_at: now });
                    Ok(true)
                }
                ModelPhase::Open { since } => Err(since + self.cool_down - now),
                ModelPhase::HalfOpen { probe_at } => Err(probe_at + self.probe_timeout - now),
            }
        }

        fn record(&mut self, generation: u64, probe: bool, success: bool, now: u64) {
            self.settle(now);
            if generation != self.generation {
                return;
            }
            match (self.phase, probe, success) {
                (ModelPhase::Closed, false, true) => self.window_failures.clear(),
                (ModelPhase::Closed, false, false) => {
                    if self
                        .window_failures
                        .first()
                        .is_some_and(|&start| now - start >= self.window)
                    {
                        self.window_failures.clear();
                    }
                    self.window_failures.push(now);
                    if self.window_failures.len() >= self.threshold {
                        self.go(ModelPhase::Open { since: now });
                    }
                }
                (ModelPhase::HalfOpen { .. }, true, true) => self.go(ModelPhase::Closed),
                (ModelPhase::HalfOpen { .. }, true, false) => {
                    self.go(ModelPhase::Open { since: now })
                }
                _ => {}
            }
        }
    }

    struct Outstanding {
        permit: Permit,
        /// The model's generation and probe flag for the same call
        /// (`u64::MAX` when the model would have rejected it).
        model_generation: u64,
        model_probe: bool,
        /// The closed period (as observed from the breaker) it was issued in;
        /// `None` for a probe.
        closed_period: Option<u64>,
    }

    /// What one [`Op`] did, for the properties to inspect.
    enum Event {
        Acquire {
            now: u64,
            /// The model's phase at `now`, before the call.
            model_before: ModelPhase,
            /// What the model says should happen.
            expected: Result<bool, u64>,
            /// What the breaker did: `Ok(is_probe)` or `Err(retry_after)`.
            got: Result<bool, Duration>,
        },
        Record {
            now: u64,
            success: bool,
            before: BreakerState,
            /// A non-probe call admitted in the closed period still current.
            current_closed_period: bool,
        },
        Other,
    }

    /// The breaker and the model side by side, fed the same operations.
    struct Sim {
        breaker: Breaker,
        model: Model,
        now: u64,
        outstanding: std::vec::Vec<Outstanding>,
        /// Incremented each time the breaker is observed entering Closed.
        closed_period: u64,
        last_state: BreakerState,
    }

    impl Sim {
        fn new(c: BreakerConfig) -> Self {
            Sim {
                breaker: Breaker::new(c),
                model: Model::new(&c),
                now: 0,
                outstanding: std::vec::Vec::new(),
                closed_period: 0,
                last_state: BreakerState::Closed,
            }
        }

        fn step(&mut self, op: Op) -> Event {
            let now = self.now;
            let event = match op {
                Op::Advance(millis) => {
                    self.now += millis;
                    Event::Other
                }
                Op::Acquire => {
                    let model_before = self.model.phase_at(now);
                    let expected = self.model.acquire(now);
                    let before = self.breaker.state(ms(now));
                    let got = self.breaker.try_acquire(ms(now));
                    let summary = got
                        .as_ref()
                        .map(Permit::is_probe)
                        .map_err(|r| r.retry_after);
                    if let Ok(permit) = got {
                        let probe = permit.is_probe();
                        self.outstanding.push(Outstanding {
                            permit,
                            model_generation: if expected.is_ok() {
                                self.model.generation
                            } else {
                                u64::MAX
                            },
                            model_probe: expected == Ok(true),
                            closed_period: (!probe && before == BreakerState::Closed)
                                .then_some(self.closed_period),
                        });
                    }
                    Event::Acquire {
                        now,
                        model_before,
                        expected,
                        got: summary,
                    }
                }
                Op::Succeed(i) | Op::Fail(i) if !self.outstanding.is_empty() => {
                    let success = matches!(op, Op::Succeed(_));
                    let call = self.outstanding.swap_remove(i % self.outstanding.len());
                    self.model
                        .record(call.model_generation, call.model_probe, success, now);
                    let before = self.breaker.state(ms(now));
                    if success {
                        self.breaker.record_success(call.permit, ms(now));
                    } else {
                        self.breaker.record_failure(call.permit, ms(now));
                    }
                    Event::Record {
                        now,
                        success,
                        before,
                        current_closed_period: call.closed_period == Some(self.closed_period),
                    }
                }
                Op::Forget(i) if !self.outstanding.is_empty() => {
                    let _forgotten = self.outstanding.swap_remove(i % self.outstanding.len());
                    Event::Other
                }
                Op::Succeed(_) | Op::Fail(_) | Op::Forget(_) => Event::Other,
            };
            let state = self.breaker.state(ms(self.now));
            if state == BreakerState::Closed && self.last_state != BreakerState::Closed {
                self.closed_period += 1;
            }
            self.last_state = state;
            event
        }
    }

    proptest! {
        /// Property 1: an open breaker never admits a call before `cool_down`
        /// has elapsed since it opened (by threshold, probe failure or probe
        /// timeout).
        #[test]
        fn open_breaker_never_admits_before_cool_down(
            c in config_strategy(),
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let cool_down = u64::try_from(c.cool_down().as_millis()).unwrap();
            let mut sim = Sim::new(c);
            for op in ops {
                if let Event::Acquire { now, model_before: ModelPhase::Open { since }, got, .. } =
                    sim.step(op)
                    && now < since + cool_down
                {
                    prop_assert!(
                        got.is_err(),
                        "admitted at {} ms; opened at {} ms with a {} ms cool-down",
                        now, since, cool_down
                    );
                }
            }
        }

        /// Property 2: between entering half-open and the probe's outcome (or
        /// its timeout) exactly one permit is granted, it is the probe, and no
        /// probe is ever granted outside that moment.
        #[test]
        fn half_open_admits_exactly_one_probe(
            c in config_strategy(),
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let mut sim = Sim::new(c);
            // (probes, others) granted in the current half-open episode.
            let mut episode: Option<(u32, u32)> = None;
            for op in ops {
                if let Event::Acquire { now, expected, got, .. } = sim.step(op) {
                    if expected == Ok(true) {
                        prop_assert!(episode.is_none(), "half-open entered twice at {} ms", now);
                        episode = Some((0, 0));
                    }
                    match (&mut episode, got) {
                        (Some((probes, _)), Ok(true)) => *probes += 1,
                        (Some((_, others)), Ok(false)) => *others += 1,
                        (None, Ok(true)) => prop_assert!(
                            false, "probe granted at {} ms outside half-open", now
                        ),
                        _ => {}
                    }
                    if let Some((probes, others)) = episode {
                        prop_assert!(
                            probes <= 1 && others == 0,
                            "at {} ms half-open granted {} probes and {} other calls",
                            now, probes, others
                        );
                    }
                }
                if sim.model.state(sim.now) != BreakerState::HalfOpen
                    && let Some((probes, others)) = episode.take()
                {
                    prop_assert_eq!((probes, others), (1, 0));
                }
            }
            if let Some((probes, others)) = episode {
                prop_assert_eq!((probes, others), (1, 0));
            }
        }

        /// Property 3: a closed breaker opens only when at least
        /// `failure_threshold` failures (of calls admitted since it last
        /// closed) fall within one window ending at the failure that opened
        /// it; so fewer failures than that in every window never open it.
        #[test]
        fn failures_below_threshold_within_window_never_open(
            c in config_strategy(),
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let window = u64::try_from(c.window().as_millis()).unwrap();
            let threshold = usize::try_from(c.failure_threshold()).unwrap();
            let mut sim = Sim::new(c);
            let mut period = sim.closed_period;
            let mut failures: std::vec::Vec<u64> = std::vec::Vec::new();
            for op in ops {
                let before = sim.last_state;
                let event = sim.step(op);
                let opened = before == BreakerState::Closed && sim.last_state == BreakerState::Open;
                match event {
                    Event::Record { now, success, before, current_closed_period, .. } => {
                        if !success && before == BreakerState::Closed && current_closed_period {
                            failures.push(now);
                        }
                        if opened {
                            let in_window = failures.iter().filter(|&&t| t + window > now).count();
                            prop_assert!(
                                !success && in_window >= threshold,
                                "opened at {} ms with {} failures in the last {} ms (threshold {})",
                                now, in_window, window, threshold
                            );
                        }
                    }
                    _ => prop_assert!(!opened, "opened at {} ms without a failure", sim.now),
                }
                if sim.closed_period != period {
                    period = sim.closed_period;
                    failures.clear();
                }
            }
        }

        /// Lockstep: the breaker agrees with the reference model on every
        /// admission, rejection hint and reported state.
        #[test]
        fn breaker_matches_reference_model(
            c in config_strategy(),
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let mut sim = Sim::new(c);
            let mut acquires = 0u64;
            let mut probes = 0u64;
            for op in ops {
                if let Event::Acquire { expected, got, .. } = sim.step(op) {
                    acquires += 1;
                    probes += u64::from(expected == Ok(true));
                    prop_assert_eq!(got, expected.map_err(dur));
                }
                prop_assert_eq!(sim.breaker.state(ms(sim.now)), sim.model.state(sim.now));
            }
            let stats = sim.breaker.stats();
            prop_assert_eq!(stats.admitted + stats.rejected, acquires);
            prop_assert_eq!(stats.probes, probes);
        }
    }
}
