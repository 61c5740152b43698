//! One event through the whole core, the way a frontend wires it: storage sized
//! from budget-checked capacities, cache-first dispatch into a module slot, a
//! breaker guarding Home Assistant, retries inside the event's deadline, and
//! metrics. Home Assistant is a script of answers and time is a manual clock,
//! so every run is the same.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Duration;

use lee_core::breaker::{Breaker, BreakerConfig, BreakerState};
use lee_core::budget::{Capacities, MemoryBudget};
use lee_core::cache::{Cache, EntrySlot};
use lee_core::dispatch::{Caching, Call, DispatchError, Gateway, Operation, Route, Served};
use lee_core::metrics::{Counter, Metrics, Timer};
use lee_core::module::ModuleId;
use lee_core::retry::{Backoff, Decision, Effect, Failure, RetryPlan, SplitMix64};
use lee_core::slots::{Policy, SlotEntry, SlotPool};
use lee_core::time::{Clock, Instant};

/// A clock the test moves by hand; "sleeping" until a retry moves it.
#[derive(Default)]
struct ManualClock(Cell<u64>);

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.get())
    }
}

impl ManualClock {
    fn advance(&self, d: Duration) {
        self.0.set(self.0.get() + d.as_micros() as u64);
    }

    fn set(&self, t: Instant) {
        assert!(t.as_micros() >= self.0.get(), "time never goes back");
        self.0.set(t.as_micros());
    }
}

/// Home Assistant as a script: each request takes the next answer, and takes
/// `latency` of the manual clock.
struct ScriptedHa {
    answers: VecDeque<Result<&'static [u8], Failure>>,
    requests: Vec<Instant>,
    latency: Duration,
}

impl ScriptedHa {
    fn new(answers: impl IntoIterator<Item = Result<&'static [u8], Failure>>) -> Self {
        ScriptedHa {
            answers: answers.into_iter().collect(),
            requests: Vec::new(),
            latency: Duration::from_millis(20),
        }
    }

    fn send(&mut self, clock: &ManualClock) -> Result<&'static [u8], Failure> {
        self.requests.push(clock.now());
        clock.advance(self.latency);
        self.answers
            .pop_front()
            .expect("the script ran out: more requests than expected")
    }
}

/// How a route's handler reaches Home Assistant.
#[derive(Clone, Copy, Debug)]
enum Handler {
    /// Forward to HA; `Effect` says whether the request may be repeated.
    Forward(Effect),
}

/// Why an event got an error answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    BreakerOpen,
    Gave(Failure),
    OutputTooSmall,
}

struct Engine {
    gateway: Gateway<Handler, 8>,
    cache: Cache<Box<[EntrySlot]>, Box<[u8]>>,
    slots: SlotPool<Box<[u8]>, Box<[SlotEntry]>>,
    breaker: Breaker,
    backoff: Backoff,
    jitter: SplitMix64,
    metrics: Metrics,
    clock: ManualClock,
}

const DEADLINE: Duration = Duration::from_millis(7_500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Engine {
    fn new(capacities: Capacities) -> Self {
        MemoryBudget::default()
            .check(&capacities)
            .expect("the preset fits the 128 MB budget");
        let cache = Cache::new(
            vec![EntrySlot::EMPTY; capacities.cache_entries].into_boxed_slice(),
            vec![0u8; capacities.cache_bytes].into_boxed_slice(),
        );
        let mut slots = SlotPool::new(
            vec![0u8; capacities.arena_size * capacities.arenas].into_boxed_slice(),
            vec![SlotEntry::EMPTY; capacities.slots].into_boxed_slice(),
            capacities.arena_size,
            80,
        )
        .unwrap();
        let bridge = slots
            .register(ModuleId(1), "alexa-bridge", Policy::Deferred)
            .unwrap();
        let mut gateway = Gateway::new();
        for (interface, operation, caching, effect) in [
            (
                "Alexa.Discovery",
                Operation::Named("Discover"),
                Caching::For(Duration::from_secs(30)),
                Effect::ReadOnly,
            ),
            (
                "Alexa",
                Operation::Named("ReportState"),
                Caching::Never,
                Effect::ReadOnly,
            ),
            (
                "Alexa.PowerController",
                Operation::Any,
                Caching::Never,
                Effect::SideEffect,
            ),
        ] {
            gateway
                .add::<()>(Route::new(
                    interface,
                    operation,
                    bridge,
                    caching,
                    Handler::Forward(effect),
                ))
                .unwrap();
        }
        Engine {
            gateway,
            cache,
            slots,
            breaker: Breaker::new(BreakerConfig::DEFAULT),
            backoff: Backoff::DEFAULT,
            jitter: SplitMix64::new(7),
            metrics: Metrics::EMPTY,
            clock: ManualClock::default(),
        }
    }

    /// One event, start to answer, as the bridge will run it.
    fn event(
        &mut self,
        interface: &str,
        operation: &str,
        cache_key: Option<&[u8]>,
        ha: &mut ScriptedHa,
    ) -> Result<Vec<u8>, Outcome> {
        let started = self.clock.now();
        let plan = RetryPlan::new(
            self.backoff,
            started.saturating_add(DEADLINE),
            CONNECT_TIMEOUT,
        );
        self.metrics.incr(Counter::Events);
        let mut out = vec![0u8; 4096];
        let call = Call {
            interface,
            operation,
            cache_key,
        };
        let Engine {
            gateway,
            cache,
            slots,
            breaker,
            jitter,
            metrics,
            clock,
            ..
        } = self;
        let served = gateway.dispatch(
            &call,
            clock.now(),
            cache,
            slots,
            &mut out,
            |&Handler::Forward(effect), _arena, out| {
                let mut attempts = 0;
                loop {
                    let now = clock.now();
                    let permit = breaker.try_acquire(now).map_err(|_| {
                        metrics.incr(Counter::BreakerRejections);
                        Outcome::BreakerOpen
                    })?;
                    attempts += 1;
                    metrics.incr(Counter::HaRequests);
                    let result = ha.send(clock);
                    metrics.observe(Timer::HaLatency, clock.now().saturating_duration_since(now));
                    match result {
                        Ok(body) => {
                            breaker.record_success(permit, clock.now());
                            let dst = out.get_mut(..body.len()).ok_or(Outcome::OutputTooSmall)?;
                            dst.copy_from_slice(body);
                            return Ok(body.len());
                        }
                        Err(failure) => {
                            let was_open = breaker.state(clock.now()) == BreakerState::Open;
                            breaker.record_failure(permit, clock.now());
                            if !was_open && breaker.state(clock.now()) == BreakerState::Open {
                                metrics.incr(Counter::BreakerOpens);
                            }
                            match plan.decide(attempts, failure, effect, clock.now(), jitter) {
                                Decision::RetryAt(at) => {
                                    metrics.incr(Counter::Retries);
                                    clock.set(at);
                                }
                                Decision::GiveUp(_) => return Err(Outcome::Gave(failure)),
                            }
                        }
                    }
                }
            },
        );
        let answer = match served {
            Ok(served) => {
                let counter = match served {
                    Served::Cached { .. } => Counter::CacheHits,
                    Served::Handled { .. } => Counter::CacheMisses,
                };
                if cache_key.is_some() {
                    metrics.incr(counter);
                }
                out.truncate(served.len());
                Ok(out)
            }
            Err(DispatchError::Handler(outcome)) => {
                metrics.incr(match outcome {
                    Outcome::Gave(_) | Outcome::BreakerOpen => Counter::ErrorsUnreachable,
                    Outcome::OutputTooSmall => Counter::ErrorsInternal,
                });
                Err(outcome)
            }
            Err(other) => panic!("the core refused the event: {other:?}"),
        };
        slots.end_invocation(clock.now());
        metrics.observe(Timer::Event, clock.now().saturating_duration_since(started));
        answer
    }
}

const DISCOVERY: &[u8] = br#"{"event":{"header":{"name":"Discover.Response"}}}"#;
const RESPONSE: &[u8] = br#"{"event":{"header":{"name":"Response"}}}"#;

#[test]
fn discovery_is_served_from_the_cache_and_control_always_reaches_ha() {
    let mut engine = Engine::new(Capacities::MINIMUM);
    let mut ha = ScriptedHa::new([Ok(DISCOVERY), Ok(RESPONSE), Ok(RESPONSE)]);
    let key = Some(&b"discovery/token-hash"[..]);
    for _ in 0..3 {
        let answer = engine.event("Alexa.Discovery", "Discover", key, &mut ha);
        assert_eq!(answer.as_deref(), Ok(DISCOVERY));
    }
    for _ in 0..2 {
        let answer = engine.event("Alexa.PowerController", "TurnOn", None, &mut ha);
        assert_eq!(answer.as_deref(), Ok(RESPONSE));
    }
    assert_eq!(
        ha.requests.len(),
        3,
        "one Discovery and two control requests"
    );
    let m = engine.metrics.snapshot();
    assert_eq!(m.get(Counter::Events), 5);
    assert_eq!(m.get(Counter::CacheHits), 2);
    assert_eq!(m.get(Counter::CacheMisses), 1);
    assert_eq!(m.get(Counter::HaRequests), 3);
    assert_eq!(m.timer(Timer::HaLatency).count(), 3);
    // The bridge module was loaded for the first request, reclaimed at the end
    // of each invocation (Deferred), and never loaded for a cache hit.
    let pool = engine.slots.stats();
    assert_eq!(pool.totals.loads + pool.totals.reloads, 3);
    assert_eq!(pool.arenas_in_use, 0);
}

#[test]
fn a_control_directive_is_never_resent_once_it_may_have_reached_ha() {
    let mut engine = Engine::new(Capacities::MINIMUM);
    let mut ha = ScriptedHa::new([Err(Failure::ReadTimeout)]);
    let answer = engine.event("Alexa.PowerController", "TurnOff", None, &mut ha);
    assert_eq!(answer, Err(Outcome::Gave(Failure::ReadTimeout)));
    assert_eq!(ha.requests.len(), 1);

    // The same failure on a read-only directive is retried.
    let mut ha = ScriptedHa::new([Err(Failure::ReadTimeout), Ok(RESPONSE)]);
    let answer = engine.event("Alexa", "ReportState", None, &mut ha);
    assert_eq!(answer.as_deref(), Ok(RESPONSE));
    assert_eq!(ha.requests.len(), 2);
    assert_eq!(engine.metrics.get(Counter::Retries), 1);
}

#[test]
fn refused_connections_are_retried_inside_the_deadline_then_the_breaker_fails_fast() {
    let mut engine = Engine::new(Capacities::STANDARD);
    // Connection refused is safe to retry even for a control directive:
    // nothing was sent. Every attempt starts early enough to finish in time.
    let mut ha = ScriptedHa::new([Err(Failure::ConnectRefused); 5]);
    let start = engine.clock.now();
    let first = engine.event("Alexa.PowerController", "TurnOn", None, &mut ha);
    assert_eq!(first, Err(Outcome::Gave(Failure::ConnectRefused)));
    assert_eq!(
        ha.requests.len(),
        3,
        "Backoff::DEFAULT allows three attempts"
    );
    for at in &ha.requests {
        let latest = start.saturating_add(DEADLINE - CONNECT_TIMEOUT);
        assert!(
            *at <= latest,
            "attempt at {at:?} could not finish by the deadline"
        );
    }
    let gaps: Vec<Duration> = ha
        .requests
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]) - ha.latency)
        .collect();
    assert!(gaps[0] >= Duration::from_millis(80) && gaps[0] <= Duration::from_millis(120));
    assert!(gaps[1] >= Duration::from_millis(160) && gaps[1] <= Duration::from_millis(240));

    // Two more refusals reach the threshold of five: the breaker opens, and
    // the next event is answered without touching the network.
    let second = engine.event("Alexa.PowerController", "TurnOn", None, &mut ha);
    assert_eq!(second, Err(Outcome::BreakerOpen));
    assert_eq!(ha.requests.len(), 5);
    assert_eq!(engine.breaker.state(engine.clock.now()), BreakerState::Open);
    let third = engine.event("Alexa", "ReportState", None, &mut ha);
    assert_eq!(third, Err(Outcome::BreakerOpen));
    assert_eq!(ha.requests.len(), 5, "no request while open");
    assert_eq!(engine.metrics.get(Counter::BreakerOpens), 1);

    // After the cool-down one probe goes through; its success closes the breaker.
    engine.clock.advance(BreakerConfig::DEFAULT.cool_down());
    let mut ha = ScriptedHa::new([Ok(RESPONSE), Ok(RESPONSE)]);
    let probe = engine.event("Alexa", "ReportState", None, &mut ha);
    assert_eq!(probe.as_deref(), Ok(RESPONSE));
    assert_eq!(
        engine.breaker.state(engine.clock.now()),
        BreakerState::Closed
    );
    let after = engine.event("Alexa.PowerController", "TurnOn", None, &mut ha);
    assert_eq!(after.as_deref(), Ok(RESPONSE));
    assert_eq!(engine.metrics.get(Counter::ErrorsUnreachable), 3);
    assert!(engine.metrics.timer(Timer::Event).max().unwrap() < DEADLINE);
}
