//! One guarded call to Home Assistant: the breaker, the retry plan and the
//! deadline around one attempt, repeated where the failure and the request's
//! [`Effect`] allow.
//!
//! Directives ([`crate::bridge::forward`]) and engine ops (the host's op
//! client) both call Home Assistant through [`Guarded::call`], so they share
//! one rule for when a request is repeated: a failure before any byte was
//! sent (refused, a name that does not resolve, connect timeout) may be
//! retried; a failure after sending only for a read ([`Effect::ReadOnly`]);
//! a "try later" status (429, 502, 503, 504) like a failure after sending;
//! never past the deadline. The breaker counts what Home Assistant (or its
//! proxy) did: a transport failure or a "try later" status is a failure, any
//! other answer a success. How long Home Assistant took is the frontend's to
//! measure, around its transport (the host times every request once).
//!
//! What it must never do: repeat a request with side effects that may have
//! reached Home Assistant, start an attempt the deadline leaves no room for,
//! or sleep (waiting goes through [`Transport::wait_until`]).

use core::time::Duration;

use crate::breaker::Breaker;
use crate::retry::{Decision, Effect, Failure, JitterSource, RetryPlan, is_transient_status};
use crate::time::{Clock, Instant};
use crate::transport::{HaAnswer, Timeouts, Transport};

/// Counts of what one guarded call did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests sent (attempts).
    pub requests: u32,
    /// Attempts after the first.
    pub retries: u32,
    /// Whether the breaker opened during this call.
    pub breaker_opened: bool,
}

/// Why a guarded call ended without an answer from Home Assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The breaker is open: failing fast, no network.
    BreakerOpen {
        /// Until a probe is let through.
        retry_after: Duration,
    },
    /// Not enough of the budget was left to start an attempt.
    DeadlinePassed,
    /// The last attempt failed this way, and no other was allowed.
    Failed(Failure),
}

/// What a guarded call drives: one attempt, and the wait before the next.
/// Home Assistant's requests go through [`Guarded`], which makes them
/// through the [`Transport`]; another dependency (the Parameter Store
/// extension) implements this itself.
pub trait Attempts {
    /// Make one attempt within `timeouts`.
    fn attempt(&mut self, timeouts: Timeouts) -> Result<HaAnswer, Failure>;

    /// Wait until `until` before the next attempt.
    fn wait_until(&mut self, until: Instant);
}

/// The breaker, the retry plan and the deadline of one guarded call.
pub struct Guard<'a> {
    /// The dependency's breaker.
    pub breaker: &'a mut Breaker,
    /// Backoff and deadline.
    pub plan: RetryPlan,
    /// Connect timeout per attempt.
    pub connect_timeout: Duration,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// Jitter for the backoff.
    pub jitter: &'a mut dyn JitterSource,
}

/// Everything a guarded call to Home Assistant needs besides the attempt.
pub struct Guarded<'a> {
    /// The breaker of Home Assistant's base URL.
    pub breaker: &'a mut Breaker,
    /// Backoff and deadline.
    pub plan: RetryPlan,
    /// Connect timeout per attempt.
    pub connect_timeout: Duration,
    /// The network.
    pub transport: &'a mut dyn Transport,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// Jitter for the backoff.
    pub jitter: &'a mut dyn JitterSource,
}

/// A request to Home Assistant through its transport.
struct Through<'t, F> {
    transport: &'t mut dyn Transport,
    send: F,
}

impl<F> Attempts for Through<'_, F>
where
    F: FnMut(&mut dyn Transport, Timeouts) -> Result<HaAnswer, Failure>,
{
    fn attempt(&mut self, timeouts: Timeouts) -> Result<HaAnswer, Failure> {
        (self.send)(&mut *self.transport, timeouts)
    }

    fn wait_until(&mut self, until: Instant) {
        self.transport.wait_until(until);
    }
}

impl Guarded<'_> {
    /// Make `attempt` (one request through the transport, with the time
    /// limits it is given) as [`Guard::run`] says.
    pub fn call(
        self,
        effect: Effect,
        tally: &mut Tally,
        attempt: impl FnMut(&mut dyn Transport, Timeouts) -> Result<HaAnswer, Failure>,
    ) -> Result<HaAnswer, Refusal> {
        let Guarded {
            breaker,
            plan,
            connect_timeout,
            transport,
            clock,
            jitter,
        } = self;
        Guard {
            breaker,
            plan,
            connect_timeout,
            clock,
            jitter,
        }
        .run(
            effect,
            tally,
            &mut Through {
                transport,
                send: attempt,
            },
        )
    }
}

impl Guard<'_> {
    /// Make attempts until the dependency answers, or the breaker, the
    /// failure, the `effect` or the deadline say stop.
    ///
    /// `Ok` holds the last answer, whatever its status: a 2xx, a status that
    /// is not worth repeating, or a "try later" status when no further
    /// attempt fits. `Err` says why there was no answer at all.
    pub fn run(
        self,
        effect: Effect,
        tally: &mut Tally,
        attempts: &mut dyn Attempts,
    ) -> Result<HaAnswer, Refusal> {
        let Guard {
            breaker,
            plan,
            connect_timeout,
            clock,
            jitter,
        } = self;
        let opens_before = breaker.stats().opens;
        let mut made = 0;
        let result = loop {
            let now = clock.now();
            if !plan.may_start(now) {
                break Err(Refusal::DeadlinePassed);
            }
            let permit = match breaker.try_acquire(now) {
                Ok(permit) => permit,
                Err(rejected) => {
                    break Err(Refusal::BreakerOpen {
                        retry_after: rejected.retry_after,
                    });
                }
            };
            made += 1;
            tally.requests += 1;
            let remaining = plan.remaining(now);
            let timeouts = Timeouts {
                connect: connect_timeout.min(remaining),
                total: remaining,
            };
            let sent = attempts.attempt(timeouts);
            let answered = clock.now();
            let failure = match sent {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    breaker.record_success(permit, answered);
                    break Ok(answer);
                }
                Ok(answer) => {
                    // The dependency (or its proxy) answered: only "try
                    // later" statuses say it is in trouble.
                    if is_transient_status(answer.status) {
                        breaker.record_failure(permit, answered);
                    } else {
                        breaker.record_success(permit, answered);
                    }
                    match retry(
                        &plan,
                        made,
                        Failure::Status(answer.status),
                        effect,
                        answered,
                        jitter,
                    ) {
                        Some(at) => {
                            tally.retries += 1;
                            attempts.wait_until(at);
                            continue;
                        }
                        None => break Ok(answer),
                    }
                }
                Err(failure) => {
                    breaker.record_failure(permit, answered);
                    failure
                }
            };
            match retry(&plan, made, failure, effect, answered, jitter) {
                Some(at) => {
                    tally.retries += 1;
                    attempts.wait_until(at);
                }
                None => break Err(Refusal::Failed(failure)),
            }
        };
        tally.breaker_opened |= breaker.stats().opens > opens_before;
        result
    }
}

/// When to make the next attempt, if the plan allows one.
fn retry(
    plan: &RetryPlan,
    attempts: u32,
    failure: Failure,
    effect: Effect,
    now: Instant,
    jitter: &mut dyn JitterSource,
) -> Option<Instant> {
    match plan.decide(attempts, failure, effect, now, jitter) {
        Decision::RetryAt(at) => Some(at),
        Decision::GiveUp(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerConfig;
    use crate::retry::{Backoff, SplitMix64};
    use crate::time::ManualClock;

    /// Fails the first attempt after sending, answers the second; each
    /// attempt takes 10 ms of the manual clock.
    struct FailThenAnswer<'c> {
        sent: usize,
        clock: &'c ManualClock,
    }

    impl Attempts for FailThenAnswer<'_> {
        fn attempt(&mut self, _: Timeouts) -> Result<HaAnswer, Failure> {
            self.sent += 1;
            self.clock.advance(Duration::from_millis(10));
            match self.sent {
                1 => Err(Failure::ReadTimeout),
                _ => Ok(HaAnswer {
                    status: 200,
                    len: 0,
                }),
            }
        }

        fn wait_until(&mut self, until: Instant) {
            self.clock.set(until);
        }
    }

    fn run(effect: Effect) -> (Result<HaAnswer, Refusal>, usize, Tally) {
        let clock = ManualClock::default();
        let mut attempts = FailThenAnswer {
            sent: 0,
            clock: &clock,
        };
        let mut breaker = Breaker::new(BreakerConfig::DEFAULT);
        let mut tally = Tally::default();
        let result = Guard {
            breaker: &mut breaker,
            plan: RetryPlan::new(
                Backoff::DEFAULT,
                Instant::from_millis(7_500),
                Duration::from_millis(250),
            ),
            connect_timeout: Duration::from_secs(2),
            clock: &clock,
            jitter: &mut SplitMix64::new(1),
        }
        .run(effect, &mut tally, &mut attempts);
        (result, attempts.sent, tally)
    }

    #[test]
    fn a_read_is_asked_again_after_a_failure_that_may_have_reached_home_assistant() {
        let (result, sent, tally) = run(Effect::ReadOnly);
        assert_eq!(result.map(|a| a.status), Ok(200));
        assert_eq!((sent, tally.requests, tally.retries), (2, 2, 1));
    }

    #[test]
    fn a_request_with_side_effects_is_not() {
        let (result, sent, tally) = run(Effect::SideEffect);
        assert_eq!(result, Err(Refusal::Failed(Failure::ReadTimeout)));
        assert_eq!((sent, tally.retries), (1, 0));
    }
}
