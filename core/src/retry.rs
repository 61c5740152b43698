//! Retries: which failed Home Assistant calls may be tried again, how long to
//! wait first, and whether there is still time to.
//!
//! What it is for: a call to Home Assistant can fail in ways that say nothing
//! about the next attempt (a refused connection during an HA restart, a DNS
//! hiccup, a 503 from a reverse proxy). Trying again after a short, jittered
//! pause often turns those into a success the user never notices. But Alexa
//! gives lee a hard deadline, and some requests must not be sent twice: a
//! second "unlock" that HA may already have carried out is not harmless. This
//! module turns one failure into one [`Decision`], with no clock and no I/O.
//!
//! # Rules
//!
//! * [`Failure::may_have_reached_ha`]: connect refused, DNS failure, connect
//!   timeout and TLS failure happen before any byte of the request is written,
//!   so HA cannot have acted on it. A failed send, a read timeout, a truncated
//!   response or any HTTP status mean it may have.
//! * [`classify`]: a TLS failure is never retried (a certificate problem does
//!   not fix itself). A status other than 429, 502, 503 or 504 is never
//!   retried (401, 403, 404, 500 ... will answer the same again). Otherwise a
//!   failure that cannot have reached HA is retriable for every [`Effect`],
//!   and one that may have is retriable only for [`Effect::ReadOnly`]:
//!   **a [`Effect::SideEffect`] is never retried once its request may have
//!   reached HA.**
//! * [`Backoff`]: after attempt `n` failed, the nominal delay is
//!   `base · multiplierⁿ⁻¹`, capped at `max_delay` (100, 200, 400 ms ... with
//!   the defaults), then spread by up to ±`jitter_percent` using an injected
//!   [`JitterSource`] ([`SplitMix64`] for frontends to seed). At most
//!   `max_attempts` attempts are made in total, the first one included.
//! * [`RetryPlan::decide`]: a retry is scheduled only if the attempt after it
//!   can still run for `min_attempt` before the event's `deadline`. When the
//!   jittered time would be too late but some time within the jitter range
//!   still fits, the retry is moved earlier to the last instant that fits.
//!
//! # Invariants
//!
//! * [`Decision::RetryAt`]`(t)` implies `now <= t` and
//!   `t + min_attempt <= deadline` (exactly, with no saturation involved).
//! * A side-effecting request that may have reached HA is never retried.
//! * The delay `t - now` lies within `[d·(1 − j), d·(1 + j)]` of the nominal
//!   capped delay `d`, where `j = jitter_percent / 100`.
//! * A retry is only offered when `attempts_made < max_attempts`, so a caller
//!   following the decisions makes at most `max_attempts` attempts.
//! * Nothing panics, allocates or reads a clock: arithmetic is checked or
//!   saturating, and time comes in as `now`.

use core::fmt;
use core::time::Duration;

pub use crate::failure::Failure;
use crate::time::{Instant, micros_of};

/// Whether repeating a request is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Only reads: Discovery, ReportState, `GET /api/states`. Safe to repeat.
    ReadOnly,
    /// Changes something: a control directive (turn on, set temperature,
    /// unlock ...). Must not be repeated if HA may already have acted on it.
    SideEffect,
}

/// Why a failure must not be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotRetriable {
    /// The TLS handshake failed; a certificate problem will not fix itself.
    TlsFailure,
    /// HA answered with a status that will not change on a repeat
    /// (anything but 429, 502, 503 and 504).
    Status(u16),
    /// A side-effecting request may have reached HA; repeating it could
    /// carry it out twice.
    SideEffectMayHaveReachedHa,
    /// The answer was too large; it will be as large next time.
    ResponseTooLarge,
}

impl fmt::Display for NotRetriable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRetriable::TlsFailure => f.write_str("TLS failure"),
            NotRetriable::Status(code) => write!(f, "HTTP status {code} is not transient"),
            NotRetriable::SideEffectMayHaveReachedHa => {
                f.write_str("side-effecting request may have reached Home Assistant")
            }
            NotRetriable::ResponseTooLarge => f.write_str("the response is too large"),
        }
    }
}

/// The verdict of [`classify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Classification {
    /// Another attempt may succeed and cannot do harm.
    Retriable,
    /// Another attempt must not be made.
    NotRetriable(NotRetriable),
}

impl Classification {
    /// Whether this is [`Classification::Retriable`].
    pub const fn is_retriable(self) -> bool {
        matches!(self, Classification::Retriable)
    }
}

/// Whether an HTTP status says "try again later" rather than "no".
pub const fn is_transient_status(code: u16) -> bool {
    matches!(code, 429 | 502 | 503 | 504)
}

/// Whether a call with `effect` that failed with `failure` may be retried.
/// See the [module docs](self) for the rules.
pub const fn classify(failure: Failure, effect: Effect) -> Classification {
    match failure {
        Failure::TlsFailure => Classification::NotRetriable(NotRetriable::TlsFailure),
        Failure::ResponseTooLarge => Classification::NotRetriable(NotRetriable::ResponseTooLarge),
        Failure::Status(code) if !is_transient_status(code) => {
            Classification::NotRetriable(NotRetriable::Status(code))
        }
        _ if !failure.may_have_reached_ha() => Classification::Retriable,
        _ => match effect {
            Effect::ReadOnly => Classification::Retriable,
            Effect::SideEffect => {
                Classification::NotRetriable(NotRetriable::SideEffectMayHaveReachedHa)
            }
        },
    }
}

/// A source of random bits for jitter, injected so that tests and replays are
/// deterministic.
pub trait JitterSource {
    /// The next 32 uniformly distributed bits.
    fn next_u32(&mut self) -> u32;
}

impl<J: JitterSource + ?Sized> JitterSource for &mut J {
    fn next_u32(&mut self) -> u32 {
        (**self).next_u32()
    }
}

/// SplitMix64: a tiny, fast, deterministic generator (not cryptographic).
/// Frontends seed it once (from a request id, say); equal seeds give equal
/// jitter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`; every seed, 0 included, is fine.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl JitterSource for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        // The high half: the better-mixed bits, truncation intended.
        (self.next_u64() >> 32) as u32
    }
}

/// Why a [`Backoff`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackoffError {
    /// `max_attempts` was 0; at least the first attempt must be allowed.
    ZeroAttempts,
    /// `multiplier` was 0; delays would collapse to nothing after the first.
    ZeroMultiplier,
    /// `jitter_percent` was above 100.
    JitterOutOfRange(u8),
}

impl fmt::Display for BackoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackoffError::ZeroAttempts => f.write_str("backoff max_attempts must be at least 1"),
            BackoffError::ZeroMultiplier => f.write_str("backoff multiplier must be at least 1"),
            BackoffError::JitterOutOfRange(p) => {
                write!(f, "backoff jitter of {p} % is outside 0..=100")
            }
        }
    }
}

impl core::error::Error for BackoffError {}

/// An exponential backoff schedule with a cap, an attempt limit and jitter.
///
/// Built with [`Backoff::new`], which checks it, or taken from
/// [`Backoff::DEFAULT`]. Delays are kept at microsecond resolution, like
/// [`Instant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    multiplier: u32,
    max_delay: Duration,
    max_attempts: u32,
    jitter_percent: u8,
}

impl Backoff {
    /// 100 ms, doubling, capped at 2 s, 3 attempts in total, ±20 % jitter:
    /// retries after 100 and 200 ms (± jitter).
    pub const DEFAULT: Backoff = Backoff {
        base: Duration::from_millis(100),
        multiplier: 2,
        max_delay: Duration::from_secs(2),
        max_attempts: 3,
        jitter_percent: 20,
    };

    /// A checked schedule: wait `base` after the first failed attempt,
    /// `multiplier` times longer after each further one, never more than
    /// `max_delay`; make at most `max_attempts` attempts in total (the first
    /// one included); spread each delay by up to ±`jitter_percent` %.
    ///
    /// # Errors
    ///
    /// [`BackoffError::ZeroMultiplier`], [`BackoffError::ZeroAttempts`] or
    /// [`BackoffError::JitterOutOfRange`].
    pub const fn new(
        base: Duration,
        multiplier: u32,
        max_delay: Duration,
        max_attempts: u32,
        jitter_percent: u8,
    ) -> Result<Self, BackoffError> {
        if multiplier == 0 {
            return Err(BackoffError::ZeroMultiplier);
        }
        if max_attempts == 0 {
            return Err(BackoffError::ZeroAttempts);
        }
        if jitter_percent > 100 {
            return Err(BackoffError::JitterOutOfRange(jitter_percent));
        }
        Ok(Backoff {
            base,
            multiplier,
            max_delay,
            max_attempts,
            jitter_percent,
        })
    }

    /// The delay after the first failed attempt.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// How much longer each further delay is (at least 1).
    pub const fn multiplier(&self) -> u32 {
        self.multiplier
    }

    /// The cap on any nominal delay.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Attempts in total, the first one included (at least 1).
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The jitter spread, in percent of the nominal delay (0..=100).
    pub const fn jitter_percent(&self) -> u8 {
        self.jitter_percent
    }

    /// The nominal (un-jittered, capped) delay after `attempts_made` attempts
    /// have failed: `base · multiplier^(attempts_made − 1)`, at most
    /// `max_delay`. `attempts_made` of 0 is treated as 1.
    pub fn nominal_delay(&self, attempts_made: u32) -> Duration {
        Duration::from_micros(self.nominal_micros(attempts_made))
    }

    /// The range `[low, high]` a jittered delay after `attempts_made` failed
    /// attempts falls in: the whole microseconds within ±`jitter_percent` %
    /// of [`nominal_delay`](Backoff::nominal_delay).
    pub fn jitter_bounds(&self, attempts_made: u32) -> (Duration, Duration) {
        let (low, high) = self.bounds_micros(attempts_made);
        (Duration::from_micros(low), Duration::from_micros(high))
    }

    /// A jittered delay after `attempts_made` failed attempts, drawn from
    /// `jitter` (which is not consulted when the range is a single value).
    pub fn delay(&self, attempts_made: u32, jitter: &mut (impl JitterSource + ?Sized)) -> Duration {
        let (low, high) = self.bounds_micros(attempts_made);
        Duration::from_micros(pick(low, high, jitter))
    }

    fn nominal_micros(&self, attempts_made: u32) -> u64 {
        let cap = micros_of(self.max_delay);
        let base = micros_of(self.base);
        if base == 0 {
            return 0;
        }
        let exponent = attempts_made.saturating_sub(1);
        // An overflow of either step means "far beyond any cap".
        let grown = u64::from(self.multiplier)
            .checked_pow(exponent)
            .and_then(|factor| base.checked_mul(factor))
            .unwrap_or(u64::MAX);
        grown.min(cap)
    }

    /// `(⌈d·(100 − j)/100⌉, ⌊d·(100 + j)/100⌋)` in microseconds, the upper end
    /// saturating; both ends lie in the real interval `[d(1 − j), d(1 + j)]`
    /// and `low <= d <= high`.
    fn bounds_micros(&self, attempts_made: u32) -> (u64, u64) {
        let nominal = u128::from(self.nominal_micros(attempts_made));
        let jitter = u128::from(self.jitter_percent.min(100));
        let low = (nominal * (100 - jitter)).div_ceil(100);
        let high = nominal * (100 + jitter) / 100;
        (
            u64::try_from(low).unwrap_or(u64::MAX),
            u64::try_from(high).unwrap_or(u64::MAX),
        )
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A value in `[low, high]` from 32 random bits (multiply-shift, no division);
/// `low` when the range is empty or a single value.
fn pick(low: u64, high: u64, jitter: &mut (impl JitterSource + ?Sized)) -> u64 {
    if high <= low {
        return low;
    }
    let span = u128::from(high - low) + 1;
    let offset = (u128::from(jitter.next_u32()) * span) >> 32;
    // offset < span, so this stays within [low, high].
    low.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
        .min(high)
}

/// Why no further attempt will be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    /// The failure itself rules out a retry.
    NotRetriable(NotRetriable),
    /// `max_attempts` attempts have been made.
    AttemptsExhausted,
    /// No retry within the jitter range could still finish before the deadline.
    DeadlineTooClose,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::NotRetriable(why) => write!(f, "not retriable: {why}"),
            GiveUpReason::AttemptsExhausted => f.write_str("all attempts used"),
            GiveUpReason::DeadlineTooClose => f.write_str("deadline too close for another attempt"),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Decision {
    /// Make the next attempt at this instant.
    RetryAt(Instant),
    /// Stop and report the failure.
    GiveUp(GiveUpReason),
}

impl Decision {
    /// The instant of the next attempt, if there is one.
    pub const fn retry_at(self) -> Option<Instant> {
        match self {
            Decision::RetryAt(at) => Some(at),
            Decision::GiveUp(_) => None,
        }
    }
}

/// The retry budget of one event: a backoff schedule, the instant by which
/// every attempt must have finished, and the shortest time an attempt needs to
/// be of any use (the connect timeout, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetryPlan {
    /// The delays and the attempt limit.
    pub backoff: Backoff,
    /// Every attempt must have finished by then (Alexa's deadline minus the
    /// time lee needs to answer).
    pub deadline: Instant,
    /// An attempt with less time than this left is not worth starting.
    pub min_attempt: Duration,
}

impl RetryPlan {
    /// A plan from its parts.
    pub const fn new(backoff: Backoff, deadline: Instant, min_attempt: Duration) -> Self {
        RetryPlan {
            backoff,
            deadline,
            min_attempt,
        }
    }

    /// Time left until the deadline (zero once it has passed); size an
    /// attempt's read timeout from this.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }

    /// Whether an attempt started at `now` can still run for `min_attempt`
    /// before the deadline. Ask this before the first attempt.
    pub fn may_start(&self, now: Instant) -> bool {
        now.as_micros()
            .checked_add(micros_of(self.min_attempt))
            .is_some_and(|end| end <= self.deadline.as_micros())
    }

    /// What to do after attempt number `attempts_made` (1 for the first; 0 is
    /// treated as 1) failed with `failure` at `now`.
    ///
    /// Gives up if the failure is not retriable for `effect`, if
    /// `max_attempts` attempts have been made, or if no delay within the
    /// jitter range leaves `min_attempt` before the deadline. Otherwise
    /// retries after the jittered delay, or earlier (but never below the
    /// jitter range) if that is what it takes to fit before the deadline.
    pub fn decide(
        &self,
        attempts_made: u32,
        failure: Failure,
        effect: Effect,
        now: Instant,
        jitter: &mut (impl JitterSource + ?Sized),
    ) -> Decision {
        if let Classification::NotRetriable(why) = classify(failure, effect) {
            return Decision::GiveUp(GiveUpReason::NotRetriable(why));
        }
        let attempts_made = attempts_made.max(1);
        if attempts_made >= self.backoff.max_attempts {
            return Decision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        let (low, high) = self.backoff.bounds_micros(attempts_made);
        let now = now.as_micros();
        let latest_start = self
            .deadline
            .as_micros()
            .checked_sub(micros_of(self.min_attempt));
        let earliest = now.checked_add(low);
        match (earliest, latest_start) {
            (Some(earliest), Some(latest)) if earliest <= latest => {
                let wanted = now.saturating_add(pick(low, high, jitter));
                // earliest <= at <= latest: within the jitter range, and the
                // attempt ends by `latest + min_attempt == deadline`.
                Decision::RetryAt(Instant::from_micros(wanted.min(latest)))
            }
            _ => Decision::GiveUp(GiveUpReason::DeadlineTooClose),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// Always the same bits: 0 picks the low end of the range, `u32::MAX`
    /// the high end.
    struct Fixed(u32);

    impl JitterSource for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.0
        }
    }

    /// Panics if consulted: for paths that must not draw jitter.
    struct NoDraw;

    impl JitterSource for NoDraw {
        fn next_u32(&mut self) -> u32 {
            panic!("jitter drawn")
        }
    }

    const ALL_FAILURES: [Failure; 9] = [
        Failure::ConnectRefused,
        Failure::DnsFailure,
        Failure::ConnectTimeout,
        Failure::TlsFailure,
        Failure::SendFailed,
        Failure::ReadTimeout,
        Failure::ResponseTruncated,
        Failure::ResponseTooLarge,
        Failure::Status(503),
    ];

    fn no_jitter() -> Backoff {
        Backoff::new(ms(100), 2, ms(2_000), 3, 0).unwrap()
    }

    fn plan(backoff: Backoff, deadline_ms: u64, min_attempt_ms: u64) -> RetryPlan {
        RetryPlan::new(
            backoff,
            Instant::from_millis(deadline_ms),
            ms(min_attempt_ms),
        )
    }

    // ---- classification -----------------------------------------------------

    #[test]
    fn only_pre_send_failures_cannot_have_reached_ha() {
        let reached: std::vec::Vec<bool> = ALL_FAILURES
            .iter()
            .map(|f| f.may_have_reached_ha())
            .collect();
        assert_eq!(
            reached,
            [false, false, false, false, true, true, true, true, true]
        );
        for code in [200, 401, 429, 500, 504, 0, u16::MAX] {
            assert!(Failure::Status(code).may_have_reached_ha());
        }
    }

    #[test]
    fn classification_table_covers_every_failure_and_effect() {
        use Classification::{NotRetriable as No, Retriable as Yes};
        use Effect::{ReadOnly, SideEffect};
        let side = No(NotRetriable::SideEffectMayHaveReachedHa);
        let tls = No(NotRetriable::TlsFailure);
        let table = [
            (Failure::ConnectRefused, Yes, Yes),
            (Failure::DnsFailure, Yes, Yes),
            (Failure::ConnectTimeout, Yes, Yes),
            (Failure::TlsFailure, tls, tls),
            (Failure::SendFailed, Yes, side),
            (Failure::ReadTimeout, Yes, side),
            (Failure::ResponseTruncated, Yes, side),
            (
                Failure::ResponseTooLarge,
                No(NotRetriable::ResponseTooLarge),
                No(NotRetriable::ResponseTooLarge),
            ),
            (Failure::Status(429), Yes, side),
            (Failure::Status(502), Yes, side),
            (Failure::Status(503), Yes, side),
            (Failure::Status(504), Yes, side),
        ];
        let permanent = [400, 401, 403, 404, 500, 501].map(|code| {
            let no = No(NotRetriable::Status(code));
            (Failure::Status(code), no, no)
        });
        for (failure, read_only, side_effect) in table.into_iter().chain(permanent) {
            assert_eq!(
                classify(failure, ReadOnly),
                read_only,
                "{failure} read-only"
            );
            assert_eq!(
                classify(failure, SideEffect),
                side_effect,
                "{failure} side effect"
            );
        }
        assert!(Yes.is_retriable());
        assert!(!side.is_retriable());
    }

    #[test]
    fn only_429_502_503_504_are_transient() {
        let transient: std::vec::Vec<u16> =
            (0..=u16::MAX).filter(|&c| is_transient_status(c)).collect();
        assert_eq!(transient, [429, 502, 503, 504]);
    }

    // ---- backoff ------------------------------------------------------------

    #[test]
    fn default_is_100ms_doubling_capped_at_2s_three_attempts_20_percent() {
        let b = Backoff::default();
        assert_eq!(b, Backoff::DEFAULT);
        assert_eq!(
            (
                b.base(),
                b.multiplier(),
                b.max_delay(),
                b.max_attempts(),
                b.jitter_percent()
            ),
            (ms(100), 2, ms(2_000), 3, 20)
        );
        assert_eq!(Backoff::new(ms(100), 2, ms(2_000), 3, 20), Ok(b));
    }

    #[test]
    fn backoff_rejects_zero_multiplier_zero_attempts_and_jitter_over_100() {
        assert_eq!(
            Backoff::new(ms(1), 0, ms(1), 1, 0),
            Err(BackoffError::ZeroMultiplier)
        );
        assert_eq!(
            Backoff::new(ms(1), 1, ms(1), 0, 0),
            Err(BackoffError::ZeroAttempts)
        );
        assert_eq!(
            Backoff::new(ms(1), 1, ms(1), 1, 101),
            Err(BackoffError::JitterOutOfRange(101))
        );
        assert!(Backoff::new(ms(1), 1, ms(1), 1, 100).is_ok());
        assert!(
            BackoffError::JitterOutOfRange(101)
                .to_string()
                .contains("101")
        );
    }

    #[test]
    fn schedule_without_jitter_is_100_200_400_ms() {
        let b = no_jitter();
        let nominal: std::vec::Vec<Duration> = (1..=3).map(|n| b.nominal_delay(n)).collect();
        assert_eq!(nominal, [ms(100), ms(200), ms(400)]);
        for n in 1..=3 {
            assert_eq!(b.delay(n, &mut NoDraw), b.nominal_delay(n));
        }
        // Attempt 0 is read as "the first attempt failed".
        assert_eq!(b.nominal_delay(0), ms(100));

        let p = plan(no_jitter(), 10_000, 50);
        let t0 = Instant::from_millis(1_000);
        let f = Failure::ConnectRefused;
        let e = Effect::SideEffect;
        assert_eq!(
            p.decide(1, f, e, t0, &mut NoDraw),
            Decision::RetryAt(Instant::from_millis(1_100))
        );
        assert_eq!(
            p.decide(2, f, e, t0, &mut NoDraw),
            Decision::RetryAt(Instant::from_millis(1_200))
        );
        assert_eq!(
            p.decide(3, f, e, t0, &mut NoDraw),
            Decision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
    }

    #[test]
    fn nominal_delay_is_capped_and_never_overflows() {
        let b = Backoff::new(ms(100), 2, ms(2_000), u32::MAX, 0).unwrap();
        let nominal: std::vec::Vec<Duration> = (1..=7).map(|n| b.nominal_delay(n)).collect();
        assert_eq!(
            nominal,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1_600),
                ms(2_000),
                ms(2_000)
            ]
        );
        assert_eq!(b.nominal_delay(u32::MAX), ms(2_000));
        let huge = Backoff::new(Duration::MAX, u32::MAX, Duration::MAX, u32::MAX, 100).unwrap();
        assert_eq!(
            huge.nominal_delay(u32::MAX),
            Duration::from_micros(u64::MAX)
        );
        let (low, high) = huge.jitter_bounds(u32::MAX);
        assert_eq!(low, Duration::ZERO);
        assert_eq!(high, Duration::from_micros(u64::MAX));
        // A constant schedule with multiplier 1.
        let flat = Backoff::new(ms(250), 1, ms(2_000), 5, 0).unwrap();
        assert_eq!(flat.nominal_delay(u32::MAX), ms(250));
        // A zero base stays zero however far the exponent goes.
        let zero = Backoff::new(Duration::ZERO, 2, ms(2_000), u32::MAX, 20).unwrap();
        assert_eq!(zero.nominal_delay(u32::MAX), Duration::ZERO);
        assert_eq!(zero.delay(70, &mut NoDraw), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_percent_bounds_and_reaches_both_ends() {
        let b = Backoff::DEFAULT;
        assert_eq!(b.jitter_bounds(1), (ms(80), ms(120)));
        assert_eq!(b.jitter_bounds(2), (ms(160), ms(240)));
        assert_eq!(b.delay(1, &mut Fixed(0)), ms(80));
        assert_eq!(b.delay(1, &mut Fixed(u32::MAX)), ms(120));
        let mut rng = SplitMix64::new(7);
        let (mut lowest, mut highest) = (Duration::MAX, Duration::ZERO);
        for _ in 0..10_000 {
            let d = b.delay(1, &mut rng);
            assert!((ms(80)..=ms(120)).contains(&d), "{d:?}");
            lowest = lowest.min(d);
            highest = highest.max(d);
        }
        assert!(
            lowest < ms(81) && highest > ms(119),
            "{lowest:?}..{highest:?}"
        );
    }

    #[test]
    fn splitmix64_matches_reference_output_and_is_deterministic() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u32(), b.next_u32());
        }
        // Usable through `&mut` and as a trait object.
        let mut rng = SplitMix64::new(0);
        let dynamic: &mut dyn JitterSource = &mut rng;
        assert_eq!(dynamic.next_u32(), 0xe220_a839);
        let mut concrete = SplitMix64::new(9);
        let mut boxed_like = SplitMix64::new(9);
        let via_dyn: &mut dyn JitterSource = &mut boxed_like;
        assert_eq!(
            Backoff::DEFAULT.delay(1, &mut concrete),
            Backoff::DEFAULT.delay(1, via_dyn)
        );
    }

    // ---- deadline budget ----------------------------------------------------

    #[test]
    fn remaining_and_may_start_follow_the_deadline() {
        let p = plan(Backoff::DEFAULT, 8_000, 1_000);
        assert_eq!(p.remaining(Instant::from_millis(5_000)), ms(3_000));
        assert_eq!(p.remaining(Instant::from_millis(9_000)), Duration::ZERO);
        assert!(p.may_start(Instant::from_millis(7_000)));
        assert!(!p.may_start(Instant::from_micros(7_000_001)));
        assert!(!p.may_start(Instant::from_micros(u64::MAX)));
        let huge = RetryPlan::new(Backoff::DEFAULT, Instant::ZERO, Duration::MAX);
        assert!(!huge.may_start(Instant::ZERO));
    }

    #[test]
    fn gives_up_when_the_next_attempt_cannot_finish_in_time() {
        // A DNS failure of the first attempt of a read, at `now`.
        let dns_failure = |p: &RetryPlan, now| {
            p.decide(1, Failure::DnsFailure, Effect::ReadOnly, now, &mut NoDraw)
        };
        let p = plan(no_jitter(), 1_000, 300);
        // 600 + 100 + 300 = 1000: just fits.
        assert_eq!(
            dns_failure(&p, Instant::from_millis(600)),
            Decision::RetryAt(Instant::from_millis(700))
        );
        assert_eq!(
            dns_failure(&p, Instant::from_micros(600_001)),
            Decision::GiveUp(GiveUpReason::DeadlineTooClose)
        );
        // Deadline already behind us, or min_attempt longer than the timeline.
        assert_eq!(
            dns_failure(&p, Instant::from_millis(5_000)),
            Decision::GiveUp(GiveUpReason::DeadlineTooClose)
        );
        let p = RetryPlan::new(no_jitter(), Instant::from_millis(1_000), Duration::MAX);
        assert_eq!(
            dns_failure(&p, Instant::ZERO),
            Decision::GiveUp(GiveUpReason::DeadlineTooClose)
        );
    }

    #[test]
    fn a_late_jittered_retry_is_pulled_in_to_the_last_start_that_fits() {
        // Jitter range after attempt 1 is 80..=120 ms; only up to 100 ms fits.
        let p = plan(Backoff::DEFAULT, 1_300, 200);
        let now = Instant::from_millis(1_000);
        assert_eq!(
            p.decide(
                1,
                Failure::ReadTimeout,
                Effect::ReadOnly,
                now,
                &mut Fixed(u32::MAX)
            ),
            Decision::RetryAt(Instant::from_millis(1_100))
        );
        assert_eq!(
            p.decide(
                1,
                Failure::ReadTimeout,
                Effect::ReadOnly,
                now,
                &mut Fixed(0)
            ),
            Decision::RetryAt(Instant::from_millis(1_080))
        );
        // Not even the low end (80 ms) fits.
        let p = plan(Backoff::DEFAULT, 1_279, 200);
        assert_eq!(
            p.decide(1, Failure::ReadTimeout, Effect::ReadOnly, now, &mut NoDraw),
            Decision::GiveUp(GiveUpReason::DeadlineTooClose)
        );
    }

    #[test]
    fn non_retriable_failures_give_up_with_their_reason() {
        let p = plan(Backoff::DEFAULT, 10_000, 100);
        let now = Instant::ZERO;
        assert_eq!(
            p.decide(1, Failure::TlsFailure, Effect::ReadOnly, now, &mut NoDraw),
            Decision::GiveUp(GiveUpReason::NotRetriable(NotRetriable::TlsFailure))
        );
        assert_eq!(
            p.decide(
                1,
                Failure::ReadTimeout,
                Effect::SideEffect,
                now,
                &mut NoDraw
            ),
            Decision::GiveUp(GiveUpReason::NotRetriable(
                NotRetriable::SideEffectMayHaveReachedHa
            ))
        );
        assert_eq!(
            p.decide(1, Failure::Status(401), Effect::ReadOnly, now, &mut NoDraw),
            Decision::GiveUp(GiveUpReason::NotRetriable(NotRetriable::Status(401)))
        );
        // The failure's reason wins over an exhausted attempt count.
        assert_eq!(
            p.decide(9, Failure::TlsFailure, Effect::ReadOnly, now, &mut NoDraw),
            Decision::GiveUp(GiveUpReason::NotRetriable(NotRetriable::TlsFailure))
        );
        assert_eq!(
            p.decide(
                1,
                Failure::Status(503),
                Effect::ReadOnly,
                now,
                &mut Fixed(0)
            ),
            Decision::RetryAt(Instant::from_millis(80))
        );
        assert_eq!(
            Decision::RetryAt(Instant::ZERO).retry_at(),
            Some(Instant::ZERO)
        );
        assert_eq!(
            Decision::GiveUp(GiveUpReason::AttemptsExhausted).retry_at(),
            None
        );
        assert!(!GiveUpReason::DeadlineTooClose.to_string().is_empty());
        assert!(
            GiveUpReason::NotRetriable(NotRetriable::Status(404))
                .to_string()
                .contains("404")
        );
    }

    #[test]
    fn single_attempt_backoff_never_retries() {
        let p = plan(Backoff::new(ms(1), 1, ms(1), 1, 0).unwrap(), 10_000, 1);
        for attempts in [0, 1, 2] {
            assert_eq!(
                p.decide(
                    attempts,
                    Failure::ConnectRefused,
                    Effect::ReadOnly,
                    Instant::ZERO,
                    &mut NoDraw
                ),
                Decision::GiveUp(GiveUpReason::AttemptsExhausted)
            );
        }
    }

    // ---- properties ---------------------------------------------------------

    pub(crate) fn failure() -> impl Strategy<Value = Failure> {
        prop_oneof![
            Just(Failure::ConnectRefused),
            Just(Failure::DnsFailure),
            Just(Failure::ConnectTimeout),
            Just(Failure::TlsFailure),
            Just(Failure::SendFailed),
            Just(Failure::ReadTimeout),
            Just(Failure::ResponseTruncated),
            Just(Failure::ResponseTooLarge),
            prop_oneof![Just(429u16), Just(502), Just(503), Just(504), any::<u16>()]
                .prop_map(Failure::Status),
        ]
    }

    fn effect() -> impl Strategy<Value = Effect> {
        prop_oneof![Just(Effect::ReadOnly), Just(Effect::SideEffect)]
    }

    /// Microsecond counts: mostly realistic (up to 20 s), sometimes extreme.
    fn micros() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..=20_000_000,
            1 => any::<u64>(),
            1 => (0u64..=1_000).prop_map(|d| u64::MAX - d),
        ]
    }

    fn backoff() -> impl Strategy<Value = Backoff> {
        (
            micros(),
            prop_oneof![3 => 1u32..=4, 1 => any::<u32>().prop_map(|m| m.max(1))],
            micros(),
            prop_oneof![3 => 1u32..=6, 1 => any::<u32>().prop_map(|a| a.max(1))],
            0u8..=100,
        )
            .prop_map(|(base, multiplier, cap, attempts, jitter)| {
                Backoff::new(
                    Duration::from_micros(base),
                    multiplier,
                    Duration::from_micros(cap),
                    attempts,
                    jitter,
                )
                .unwrap()
            })
    }

    /// How a property picks the deadline: anywhere on the timeline, or
    /// `now + min_attempt + low + (high − low) · percent / 100` for the jitter
    /// range `[low, high]` of the next delay, so that the deadline often
    /// falls inside (or just around) the range and the clamping is exercised.
    #[derive(Clone, Copy, Debug)]
    enum DeadlineAt {
        Absolute(u64),
        InJitterRange { percent: u64 },
    }

    fn deadline_at() -> impl Strategy<Value = DeadlineAt> {
        prop_oneof![
            any::<u64>().prop_map(DeadlineAt::Absolute),
            micros().prop_map(DeadlineAt::Absolute),
            (0u64..=150).prop_map(|percent| DeadlineAt::InJitterRange { percent }),
        ]
    }

    impl DeadlineAt {
        fn resolve(self, b: &Backoff, attempts_made: u32, now: u64, min_attempt: u64) -> u64 {
            match self {
                DeadlineAt::Absolute(deadline) => deadline,
                DeadlineAt::InJitterRange { percent } => {
                    let (low, high) = b.jitter_bounds(attempts_made.max(1));
                    let (low, high) = (micros_of(low), micros_of(high));
                    let into_range = u128::from(high - low) * u128::from(percent) / 100;
                    let deadline =
                        u128::from(now) + u128::from(min_attempt) + u128::from(low) + into_range;
                    u64::try_from(deadline).unwrap_or(u64::MAX)
                }
            }
        }
    }

    fn attempts() -> impl Strategy<Value = u32> {
        prop_oneof![4 => 0u32..=8, 1 => any::<u32>()]
    }

    /// The inputs of one `decide` call, drawn for the properties below.
    #[derive(Clone, Debug)]
    struct Case {
        b: Backoff,
        deadline_at: DeadlineAt,
        min_attempt: u64,
        now: u64,
        attempts_made: u32,
        failure: Failure,
        effect: Effect,
        seed: u64,
    }

    /// Any [`Case`], with the effect drawn from `effect`.
    fn case(effect: impl Strategy<Value = Effect>) -> impl Strategy<Value = Case> {
        (
            backoff(),
            deadline_at(),
            micros(),
            micros(),
            attempts(),
            failure(),
            effect,
            any::<u64>(),
        )
            .prop_map(
                |(b, deadline_at, min_attempt, now, attempts_made, failure, effect, seed)| Case {
                    b,
                    deadline_at,
                    min_attempt,
                    now,
                    attempts_made,
                    failure,
                    effect,
                    seed,
                },
            )
    }

    impl Case {
        /// The deadline in microseconds.
        fn deadline(&self) -> u64 {
            self.deadline_at
                .resolve(&self.b, self.attempts_made, self.now, self.min_attempt)
        }

        fn plan(&self) -> RetryPlan {
            RetryPlan::new(
                self.b,
                Instant::from_micros(self.deadline()),
                Duration::from_micros(self.min_attempt),
            )
        }

        /// The plan's decision, drawing jitter from `jitter`.
        fn decide(&self, jitter: &mut impl JitterSource) -> Decision {
            let now = Instant::from_micros(self.now);
            self.plan()
                .decide(self.attempts_made, self.failure, self.effect, now, jitter)
        }
    }

    proptest! {
        /// Property 1: never a `RetryAt(t)` with `t + min_attempt > deadline`
        /// (nor `t < now`), whatever now, deadline, attempt and jitter are.
        #[test]
        fn retry_never_scheduled_past_deadline(case in case(effect())) {
            let (deadline, min_attempt) = (case.deadline(), case.min_attempt);
            if let Decision::RetryAt(t) = case.decide(&mut SplitMix64::new(case.seed)) {
                let end = u128::from(t.as_micros()) + u128::from(min_attempt);
                prop_assert!(
                    end <= u128::from(deadline),
                    "retry at {} µs + {} µs ends after the deadline {} µs",
                    t.as_micros(), min_attempt, deadline
                );
                prop_assert!(t.as_micros() >= case.now);
                prop_assert!(case.plan().may_start(t));
            }
        }

        /// Property 2: a side-effecting request that may have reached HA is
        /// never retried, whatever the rest of the plan says.
        #[test]
        fn side_effect_that_may_have_reached_ha_is_never_retried(
            case in case(Just(Effect::SideEffect)),
        ) {
            let decision = case.decide(&mut SplitMix64::new(case.seed));
            let failure = case.failure;
            if failure.may_have_reached_ha() {
                prop_assert!(
                    matches!(decision, Decision::GiveUp(GiveUpReason::NotRetriable(_))),
                    "{:?} of a side effect gave {:?}", failure, decision
                );
                prop_assert!(!classify(failure, Effect::SideEffect).is_retriable());
            }
        }

        /// Property 3a: every delay lies within `[d·(1 − j), d·(1 + j)]` of
        /// the nominal capped delay `d`, both from `Backoff::delay` and as
        /// `t − now` of a `RetryAt(t)`.
        #[test]
        fn retry_delay_stays_within_jitter_bounds(case in case(effect())) {
            let Case { b, attempts_made, now, seed, .. } = case;
            let nominal = u128::from(micros_of(b.nominal_delay(attempts_made)));
            let cap = u128::from(micros_of(b.max_delay()));
            // Reference: base · multiplier^(n − 1), capped, by repeated
            // multiplication in u128 (stops growing once past the cap).
            let mut expected = u128::from(micros_of(b.base()));
            if expected > 0 && b.multiplier() > 1 {
                for _ in 1..attempts_made.max(1) {
                    if expected >= cap {
                        break;
                    }
                    expected *= u128::from(b.multiplier());
                }
            }
            prop_assert_eq!(nominal, expected.min(cap));
            let j = u128::from(b.jitter_percent());
            let within = |delay: u128| {
                delay * 100 >= nominal * (100 - j) && delay * 100 <= nominal * (100 + j)
            };
            let mut rng = SplitMix64::new(seed);
            let delay = u128::from(micros_of(b.delay(attempts_made, &mut rng)));
            prop_assert!(within(delay), "delay {} µs, nominal {} µs, jitter {} %", delay, nominal, j);

            if let Decision::RetryAt(t) = case.decide(&mut rng) {
                let delay = u128::from(t.as_micros() - now);
                prop_assert!(within(delay), "retry after {} µs, nominal {} µs, jitter {} %", delay, nominal, j);
            }
        }

        /// Property 3b: following the decisions through a run of retriable
        /// failures never makes more than `max_attempts` attempts, and a retry
        /// is only offered while `attempts_made < max_attempts`.
        #[test]
        fn attempts_never_exceed_max_attempts(
            b in backoff(),
            deadline in micros(),
            min_attempt in 0u64..=1_000_000,
            start in micros(),
            failures in prop::collection::vec((failure(), effect()), 1..12),
            seed in any::<u64>(),
        ) {
            let p = RetryPlan::new(b, Instant::from_micros(deadline), Duration::from_micros(min_attempt));
            let mut rng = SplitMix64::new(seed);
            let mut now = Instant::from_micros(start);
            let mut attempts_made = 1u32;
            for (failure, effect) in failures {
                match p.decide(attempts_made, failure, effect, now, &mut rng) {
                    Decision::RetryAt(t) => {
                        prop_assert!(attempts_made < b.max_attempts());
                        attempts_made += 1;
                        now = t;
                    }
                    Decision::GiveUp(_) => break,
                }
            }
            prop_assert!(attempts_made <= b.max_attempts());
        }
    }
}
