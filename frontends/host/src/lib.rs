//! lee-host: the std side of lee, shared by every frontend (the Lambda
//! binary, the stdio harness, the cost driver).
//!
//! What it is for: turning lee-core's decisions into a running bridge. It
//! reads the configuration from the environment ([`config`]), talks HTTPS to
//! Home Assistant with one long-lived ureq agent ([`transport`]), supplies
//! the clock and randomness the core asks for, and owns the engine's memory:
//! the cache, the slot pool and the answer buffer, all sized from
//! budget-checked [`Capacities`].
//!
//! The flow of [`Bridge::answer`]: refuse an event over the event buffer →
//! classify it → dispatch the directive through the core's gateway to the
//! Alexa module's slot → forward it to Home Assistant (breaker, retry,
//! deadline in the core) → hand back Home Assistant's body or the
//! ErrorResponse the core wrote → reclaim the invocation's slots and count
//! what happened.
//!
//! What it must never do: panic on an event, grow memory with an event's
//! size, or let a token reach a log line or an answer.

pub mod config;
pub mod transport;

use std::time::Duration;

use lee_core::alexa::{ClassifyError, ErrorType, Event, OutputTooSmall, classify};
use lee_core::breaker::{Breaker, BreakerConfig};
use lee_core::bridge::{self, Answered, Io, Reason, Settings, Tally, Transport};
use lee_core::budget::{Capacities, MemoryBudget, OverBudget};
use lee_core::cache::{Cache, EntrySlot};
use lee_core::dispatch::{Caching, Call, DispatchError, Gateway, Operation, Route, Served};
use lee_core::metrics::{Counter, Metrics, Timer};
use lee_core::module::ModuleId;
use lee_core::retry::SplitMix64;
use lee_core::slots::{Load, Policy, SlotEntry, SlotPool};
use lee_core::time::{Clock, Instant};

use crate::config::{Config, Problem};
use crate::transport::HttpsTransport;

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

/// The module that forwards Alexa directives.
const ALEXA_MODULE: ModuleId = ModuleId(1);

/// What a route runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handler {
    /// Forward an Alexa Smart Home directive to Home Assistant.
    AlexaDirective,
}

/// The smallest answer buffer lee runs with: room for any ErrorResponse
/// that echoes nothing from the event.
pub const MIN_RESPONSE_BUFFER: usize = 4096;

/// Why a bridge could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The capacities do not fit the memory budget.
    OverBudget(OverBudget),
    /// The answer buffer is smaller than [`MIN_RESPONSE_BUFFER`].
    ResponseBufferTooSmall,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::OverBudget(over) => write!(f, "{over}"),
            StartError::ResponseBufferTooSmall => write!(
                f,
                "the response buffer must hold at least {MIN_RESPONSE_BUFFER} bytes"
            ),
        }
    }
}

/// The answer to one event.
#[derive(Debug)]
pub struct Answer<'a> {
    /// The bytes to return: Home Assistant's body, or an ErrorResponse.
    pub body: &'a [u8],
    /// How it was made.
    pub outcome: Answered,
}

/// The running bridge: configuration, engine state and buffers.
pub struct Bridge {
    capacities: Capacities,
    problems: Vec<Problem>,
    debug_token: Option<config::Secret>,
    core: bridge::Bridge,
    transport: Option<Box<dyn Transport + Send>>,
    gateway: Gateway<Handler, 4>,
    cache: Cache<Box<[EntrySlot]>, Box<[u8]>>,
    slots: SlotPool<Box<[u8]>, Box<[SlotEntry]>>,
    metrics: Metrics,
    jitter: SplitMix64,
    clock: MonotonicClock,
    out: Box<[u8]>,
}

impl Bridge {
    /// The bridge as configured by the process environment, with the
    /// standard capacities. Configuration problems are kept in
    /// [`Bridge::problems`] (the caller logs them once); they never stop the
    /// bridge, which then answers each directive `BRIDGE_UNREACHABLE`.
    pub fn from_env() -> Result<Bridge, StartError> {
        let (config, problems) = Config::from_env(|name| std::env::var(name).ok());
        Bridge::new(config, problems, Capacities::STANDARD)
    }

    /// A bridge from a configuration and the problems found reading it.
    /// Refuses capacities over the 128 MB budget.
    pub fn new(
        config: Config,
        mut problems: Vec<Problem>,
        capacities: Capacities,
    ) -> Result<Bridge, StartError> {
        let transport = match HttpsTransport::new(&config, MonotonicClock::new()) {
            Ok(t) => t.map(|t| Box::new(t) as Box<dyn Transport + Send>),
            Err(e) => {
                problems.push(Problem {
                    variable: e.variable,
                    message: e.message,
                });
                None
            }
        };
        if config.not_verify_ssl && transport.is_some() {
            tracing::warn!("NOT_VERIFY_SSL is on: Home Assistant's certificate is not verified");
        }
        Bridge::with_transport(config, problems, capacities, transport)
    }

    /// A bridge that reaches Home Assistant through `transport` (the
    /// embedded demo home, say) instead of HTTPS; `None` answers every
    /// directive `BRIDGE_UNREACHABLE`.
    pub fn with_transport(
        config: Config,
        problems: Vec<Problem>,
        capacities: Capacities,
        transport: Option<Box<dyn Transport + Send>>,
    ) -> Result<Bridge, StartError> {
        if capacities.response_buffer < MIN_RESPONSE_BUFFER {
            return Err(StartError::ResponseBufferTooSmall);
        }
        MemoryBudget::default()
            .check(&capacities)
            .map_err(StartError::OverBudget)?;
        let clock = MonotonicClock::new();
        let mut slots = SlotPool::new(
            vec![0u8; capacities.arena_size * capacities.arenas].into_boxed_slice(),
            vec![SlotEntry::EMPTY; capacities.slots].into_boxed_slice(),
            capacities.arena_size,
            80,
        )
        .expect("budget-checked capacities leave at least one arena");
        let alexa = slots
            .register(ALEXA_MODULE, "alexa", Policy::Deferred)
            .expect("a fresh slot table has room for the first module");
        let mut gateway = Gateway::new();
        gateway
            .add::<()>(Route::new(
                "Alexa",
                Operation::Any,
                alexa,
                Caching::Never,
                Handler::AlexaDirective,
            ))
            .expect("a fresh route table has room for the first route");
        let mut seed = [0u8; 8];
        // Jitter only spreads retries; a fixed seed if the OS has no randomness is harmless.
        let _ = getrandom::fill(&mut seed);
        Ok(Bridge {
            capacities,
            problems,
            debug_token: config.debug.then_some(config.long_lived_token).flatten(),
            core: bridge::Bridge {
                settings: Settings::DEFAULT,
                breaker: Breaker::new(BreakerConfig::DEFAULT),
            },
            transport,
            gateway,
            cache: Cache::new(
                vec![EntrySlot::EMPTY; capacities.cache_entries].into_boxed_slice(),
                vec![0u8; capacities.cache_bytes].into_boxed_slice(),
            ),
            slots,
            metrics: Metrics::EMPTY,
            jitter: SplitMix64::new(u64::from_le_bytes(seed)),
            clock,
            out: vec![0u8; capacities.response_buffer].into_boxed_slice(),
        })
    }

    /// Problems found in the configuration, each naming its variable.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The engine's counters and timers.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answer one event. `lambda_remaining` is the invocation's remaining
    /// time, when there is one; the answer is ready before
    /// `min(8 s, lambda_remaining) − 500 ms`.
    pub fn answer(&mut self, event: &[u8], lambda_remaining: Option<Duration>) -> Answer<'_> {
        let started = self.clock.now();
        self.metrics.incr(Counter::Events);
        let message_id = self.random_id();
        let mut tally = Tally::default();
        let (len, outcome) =
            match self.answer_event(event, lambda_remaining, message_id, &mut tally) {
                Ok(answered) => answered,
                // Only an answer echoing a huge correlationToken can outgrow the
                // buffer; the same error without the echo always fits.
                Err(OutputTooSmall) => {
                    bridge::refuse(None, Reason::AnswerTooLarge, message_id, &mut self.out)
                        .unwrap_or((
                            0,
                            Answered::Error(ErrorType::InternalError, Reason::AnswerTooLarge),
                        ))
                }
            };
        self.count(outcome, &tally);
        let now = self.clock.now();
        let reclaimed = self.slots.end_invocation(now);
        self.metrics.add(Counter::SlotUnloads, reclaimed as u64);
        self.metrics
            .observe(Timer::Event, now.saturating_duration_since(started));
        Answer {
            body: &self.out[..len],
            outcome,
        }
    }

    fn answer_event(
        &mut self,
        event: &[u8],
        lambda_remaining: Option<Duration>,
        message_id: [u8; 16],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        if event.len() > self.capacities.event_buffer {
            let too_large = ClassifyError::TooLarge {
                len: event.len(),
                limit: self.capacities.event_buffer,
            };
            return bridge::refuse(
                None,
                Reason::Unreadable(too_large),
                message_id,
                &mut self.out,
            );
        }
        let directive = match classify(event) {
            Ok(Event::Directive(directive)) => directive,
            Err(e) => {
                return bridge::refuse(None, Reason::Unreadable(e), message_id, &mut self.out);
            }
        };
        self.metrics.incr(Counter::Directives);
        let Some(transport) = &mut self.transport else {
            return bridge::refuse(
                Some(&directive),
                Reason::NotConfigured,
                message_id,
                &mut self.out,
            );
        };
        let call = Call {
            interface: "Alexa",
            operation: directive.namespace,
            cache_key: None,
        };
        let core = &mut self.core;
        let clock = &self.clock;
        let jitter = &mut self.jitter;
        let debug_token = self.debug_token.as_ref().map(config::Secret::expose);
        let mut answered = None;
        let served = self.gateway.dispatch(
            &call,
            clock.now(),
            &mut self.cache,
            &mut self.slots,
            &mut self.out,
            |Handler::AlexaDirective, arena, out| {
                let raw_len = directive.scope.and_then(|s| s.token).map_or(0, str::len);
                // A token too long for the arena cannot be valid: an empty buffer
                // makes the core refuse it as malformed.
                let token_buf = arena.alloc(raw_len).unwrap_or_default();
                let io = Io {
                    transport: &mut **transport,
                    clock,
                    jitter,
                    message_id,
                    debug_token,
                    token_buf,
                };
                let (len, outcome) =
                    core.answer_directive(&directive, event, lambda_remaining, io, out, tally)?;
                answered = Some(outcome);
                Ok(len)
            },
        );
        match served {
            Ok(served) => {
                if let Served::Handled { load, .. } = served
                    && load != Load::Warm
                {
                    self.metrics.incr(Counter::SlotLoads);
                }
                // Alexa routes are never cached, so the handler always ran and set it.
                let outcome = answered.unwrap_or(Answered::PassedThrough);
                Ok((served.len(), outcome))
            }
            Err(DispatchError::Handler(too_small)) => Err(too_small),
            Err(DispatchError::OutputTooSmall { .. }) => Err(OutputTooSmall),
            Err(_) => bridge::refuse(Some(&directive), Reason::Engine, message_id, &mut self.out),
        }
    }

    fn count(&mut self, outcome: Answered, tally: &Tally) {
        let m = &mut self.metrics;
        m.add(Counter::HaRequests, u64::from(tally.requests));
        m.add(Counter::Retries, u64::from(tally.retries));
        if tally.breaker_opened {
            m.incr(Counter::BreakerOpens);
        }
        if let Answered::Error(_, Reason::BreakerOpen { .. }) = outcome {
            m.incr(Counter::BreakerRejections);
        }
        if tally.requests > 0 {
            m.observe(Timer::HaLatency, tally.ha_time);
        }
        if let Answered::Error(error, _) = outcome {
            m.incr(match error {
                ErrorType::InvalidAuthorizationCredential => Counter::ErrorsAuthorization,
                ErrorType::BridgeUnreachable => Counter::ErrorsUnreachable,
                ErrorType::InvalidDirective => Counter::ErrorsInvalid,
                ErrorType::InternalError | ErrorType::AcceptGrantFailed => Counter::ErrorsInternal,
            });
        }
    }

    /// 16 random bytes for a messageId; the jitter generator stands in if
    /// the operating system has no randomness to give.
    fn random_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        if getrandom::fill(&mut id).is_err() {
            id[..8].copy_from_slice(&self.jitter.next_u64().to_le_bytes());
            id[8..].copy_from_slice(&self.jitter.next_u64().to_le_bytes());
        }
        id
    }
}
