//! The running bridge: one event in, one answer out.
//!
//! What it is for: holding the engine's state (configuration, the cache,
//! module slots, the breaker, metrics, buffers) and routing each event to
//! the part that answers it. The flow of [`Bridge::handle`]: reload the
//! configuration when due → classify the event → route it: an Alexa
//! directive ([`directive`], a Discovery answer checked by [`discovery`]), the health or diagnostics event ([`reports`]),
//! an engine op ([`op`]), a custom-skill request ([`custom_skill`]), a Function URL
//! request ([`http`]) → record and log what it was and cost ([`observe`]).
//!
//! What it must never do: panic on an event, grow memory with an event's
//! size, or let a token reach a log line or an answer.

mod custom_skill;
mod directive;
mod discovery;
mod http;
mod observe;
mod op;
mod reconfigure;
mod reports;
mod tokens;

use std::time::Duration;

use lee_core::alexa::ErrorType;
use lee_core::breaker::Breaker;
use lee_core::bridge::{self, Answered, Reason, Settings, Transport};
use lee_core::budget::{Capacities, MemoryBudget, OverBudget};
use lee_core::cache::{Cache, EntrySlot};
use lee_core::dispatch::{Caching, Gateway, Route};
use lee_core::event::{ClassifyError, Event, classify};
use lee_core::metrics::Metrics;
use lee_core::module::ModuleId;
use lee_core::retry::SplitMix64;
use lee_core::slots::{Policy, SlotEntry, SlotId, SlotPool};
use lee_core::time::{Clock, Instant};

use crate::config::{Config, MIN_RESPONSE_BUFFER, Problem, Secret};
use crate::report::{self, Reachability};
use crate::transport::{self, HttpsTransport};
use crate::{MonotonicClock, emf, logging, ops, reload};

pub use observe::{Invocation, Stages};
use observe::{Marks, RECENT_ERRORS, Timed};

/// The module that forwards Alexa directives.
const ALEXA_MODULE: ModuleId = ModuleId(1);

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

/// What kind of answer [`Bridge::handle`] gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An Alexa directive (or an unreadable event), answered as [`Answered`] says.
    Directive(Answered),
    /// The health report.
    Health,
    /// The diagnostics report.
    Diagnostics,
    /// The doctor's report; `false` when a check failed.
    Doctor(bool),
    /// An HTTP request (Function URL), answered with this status.
    Http(u16),
    /// An engine op; `false` when it answered an error.
    Op(bool),
    /// An Alexa custom-skill request; `false` when it was refused.
    Skill(bool),
}

/// The answer to any event: bytes to return and what they are.
#[derive(Debug)]
pub struct Handled<'a> {
    /// The bytes to return.
    pub body: &'a [u8],
    /// What they are.
    pub outcome: Outcome,
}

/// The answer to one Alexa event.
#[derive(Debug)]
pub struct Answer<'a> {
    /// The bytes to return: Home Assistant's body, or an ErrorResponse.
    pub body: &'a [u8],
    /// How it was made.
    pub outcome: Answered,
}

/// Which buffer holds an answer.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// `Bridge::json_answer`: reports, ops, skill and HTTP answers.
    Json,
    /// The first bytes of `Bridge::out`: directive answers.
    Out(usize),
}

/// The running bridge: configuration, engine state and buffers.
pub struct Bridge {
    capacities: Capacities,
    problems: Vec<Problem>,
    summary: serde_json::Value,
    reachability: Option<Reachability>,
    /// The answers lee writes as JSON: reports, ops, custom-skill and
    /// Function URL answers (directive answers go to `out`).
    json_answer: Vec<u8>,
    home_assistant: bridge::HomeAssistant,
    transport: Option<Timed>,
    /// The Alexa module's slot: every directive runs in it (no gateway: one
    /// handler serves every directive, and none is cached).
    alexa: SlotId,
    ops: Gateway<ops::Op, 16>,
    tokens: tokens::Tokens,
    /// `HA_CACHE_WARMING`: read every state before the first event.
    warm_cache: bool,
    cache: Cache<Box<[EntrySlot]>, Box<[u8]>>,
    slots: SlotPool<Box<[u8]>, Box<[SlotEntry]>>,
    metrics: Metrics,
    jitter: SplitMix64,
    clock: MonotonicClock,
    out: Box<[u8]>,
    marks: Marks,
    /// The current event's deadline, taken when it arrived: every budget of
    /// the event (reload, cache warming, each request) is what is left of it.
    deadline: Instant,
    /// The metrics when the current event began.
    before: Metrics,
    last: Invocation,
    errors: std::collections::VecDeque<serde_json::Value>,
    /// The Discovery guard's memory and the last Discovery's findings.
    discovery: discovery::Watch,
    /// The configuration running, for comparing a reloaded one with.
    config: Config,
    version: u64,
    fingerprint: reload::Fingerprint,
    reloader: Option<reload::Reloader>,
}

impl Bridge {
    /// The bridge as configured by the process environment (see
    /// [`Bridge::from_vars`]).
    pub fn from_env() -> Result<Bridge, StartError> {
        Bridge::from_vars(|name| std::env::var(name).ok())
    }

    /// The bridge as configured by `var` (the environment, normally), with
    /// the capacities of its tier, re-reading Parameter Store when
    /// `PARAMETER_PREFIX` says so (see [`reload`]). Configuration problems
    /// are kept in [`Bridge::problems`] (the caller logs them once); they
    /// never stop the bridge, which then answers each directive
    /// `BRIDGE_UNREACHABLE`.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> Result<Bridge, StartError> {
        let (config, mut problems) = Config::from_env(&var);
        let source = match reload::ParameterSource::from_env(&var) {
            Some(Ok(source)) => Some(source),
            Some(Err(found)) => {
                problems.extend(found);
                None
            }
            None => None,
        };
        let fingerprint = reload::fingerprint(&var);
        let capacities = config.tuning.capacities;
        let mut bridge = Bridge::new(config, problems, capacities)?;
        bridge.fingerprint = fingerprint;
        if let Some(source) = source {
            logging::register_secrets(source.session_token().map(Secret::expose));
            bridge.reloader = Some(reload::Reloader::new(source, Box::new(var)));
        }
        Ok(bridge)
    }

    /// The running configuration's version: 1 at start, one more for each
    /// configuration applied by a reload.
    pub fn config_version(&self) -> u64 {
        self.version
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
        if transport.is_some()
            && let Some(base) = &config.base_url
            && transport::unencrypted_over_network(base)
        {
            tracing::warn!(
                "BASE_URL is a plain http:// address on another machine: Home Assistant's \
                 token crosses the network unencrypted; give BASE_URL an https:// address \
                 (Nabu Casa, or a reverse proxy with a certificate)"
            );
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
        // Fresh zeroed buffers: their pages cost nothing until used.
        let mut slots = SlotPool::new_zeroed(
            vec![0u8; capacities.arena_size * capacities.arenas].into_boxed_slice(),
            vec![SlotEntry::EMPTY; capacities.slots].into_boxed_slice(),
            capacities.arena_size,
            80,
        )
        .expect("budget-checked capacities leave at least one arena");
        let alexa = slots
            .register(ALEXA_MODULE, "alexa", Policy::Deferred)
            .expect("a fresh slot table has room for the first module");
        let client = slots
            .register(
                ops::HA_CLIENT,
                "ha.client",
                Policy::TimeBased(Duration::from_secs(30)),
            )
            .expect("a fresh slot table has room for the HA client");
        let services = slots
            .register(ops::HA_SERVICES, "ha.services", Policy::Immediate)
            .expect("a fresh slot table has room for the services module");
        let mut op_routes = Gateway::new();
        for (name, op) in ops::Op::ALL {
            let (slot, caching) = match op {
                ops::Op::Health => (client, Caching::For(ops::HEALTH_TTL)),
                ops::Op::State => (client, Caching::For(ops::STATE_TTL)),
                ops::Op::States | ops::Op::Find => (client, Caching::Never),
                _ => (services, Caching::Never),
            };
            op_routes
                .add::<()>(Route::new("ha", name, slot, caching, op))
                .expect("the op table has room for every op");
        }
        let mut seed = [0u8; 8];
        // Jitter only spreads retries; a fixed seed if the OS has no randomness is harmless.
        let _ = getrandom::fill(&mut seed);
        let demo = transport.is_some() && config.base_url.is_none();
        logging::register_secrets(config.secrets());
        let mut summary = report::config_summary(&config, &problems, demo);
        summary["config_version"] = 1.into();
        let running = config.clone();
        Ok(Bridge {
            config: running,
            version: 1,
            fingerprint: reload::Fingerprint::new(),
            reloader: None,
            capacities,
            summary,
            problems,
            tokens: tokens::Tokens::new(&config, demo),
            warm_cache: config.cache_warming,
            ops: op_routes,
            reachability: None,
            json_answer: Vec::new(),
            home_assistant: bridge::HomeAssistant {
                settings: Settings {
                    connect_timeout: config.tuning.connect_timeout,
                    ..Settings::DEFAULT
                },
                breaker: Breaker::new(config.tuning.breaker),
            },
            transport: transport.map(|inner| Timed {
                inner,
                waited: Duration::ZERO,
                requests: 0,
            }),
            alexa,
            marks: Marks::default(),
            deadline: Instant::ZERO,
            before: Metrics::EMPTY,
            last: Invocation::default(),
            errors: std::collections::VecDeque::with_capacity(RECENT_ERRORS),
            discovery: discovery::Watch::default(),
            cache: Cache::new_zeroed(
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

    /// Pin every module slot: from its first use each module keeps its
    /// arena, whatever its policy (as `Policy::Never`). Not a setting: it is
    /// how `lee-cost --pin-slots` weighs what the reclaim policies save
    /// (memory-budget.md).
    pub fn pin_every_slot(&mut self) {
        let slots: Vec<SlotId> = self.slots.views().map(|slot| slot.id).collect();
        for slot in slots {
            self.slots
                .pin(slot)
                .expect("the pool lists registered slots only");
        }
    }

    /// Problems found in the configuration, each naming its variable.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The engine's counters and timers.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answer one Alexa event (anything else is refused as an invalid
    /// directive). `lambda_remaining` is the invocation's remaining time,
    /// when there is one; the answer is ready before
    /// `min(8 s, lambda_remaining) − 500 ms`.
    pub fn answer(&mut self, event: &[u8], lambda_remaining: Option<Duration>) -> Answer<'_> {
        let handled = self.handle_as(event, lambda_remaining, true);
        Answer {
            body: handled.body,
            outcome: match handled.outcome {
                Outcome::Directive(answered) => answered,
                _ => Answered::Error(ErrorType::InvalidDirective, Reason::Engine),
            },
        }
    }

    /// Answer any event lee knows: an Alexa directive (as [`Bridge::answer`]),
    /// the health or diagnostics event, an engine op, a custom-skill request,
    /// or a Function URL request for `GET /health`, `GET /diagnostics` or
    /// `POST /op` (the last two only with the shared secret in `x-lee-secret`).
    ///
    /// Every event leaves one log line (see [`logging`]) and its
    /// [`Invocation`] record.
    pub fn handle(&mut self, event: &[u8], lambda_remaining: Option<Duration>) -> Handled<'_> {
        self.handle_as(event, lambda_remaining, false)
    }

    /// Answer an event too large to read at all (`len` bytes, skipped unread
    /// by the frontend): an `INVALID_DIRECTIVE` error saying so.
    pub fn handle_oversized(&mut self, len: usize) -> Handled<'_> {
        let started = self.begin();
        let too_large = Err(ClassifyError::TooLarge {
            len,
            limit: self.capacities.event_buffer,
        });
        let span = tracing::info_span!("event", kind = "unreadable");
        let _entered = span.enter();
        let (outcome, body) = self.answer_classified(too_large, &[]);
        self.finish(started, started, outcome, body, None)
    }

    /// What the last event was and what it cost: the source of its log line
    /// and of its EMF metrics line.
    pub fn last_invocation(&self) -> &Invocation {
        &self.last
    }

    /// The CloudWatch EMF line of the last event (see [`emf`]), unless
    /// `METRICS=off`. `function` names the function, `request_id` the
    /// invocation.
    pub fn metrics_line(&self, function: &str, request_id: Option<&str>) -> Option<String> {
        self.config.metrics.then(|| {
            let high_water = report::peak_rss();
            emf::line(
                &self.last,
                function,
                request_id,
                high_water,
                std::time::SystemTime::now(),
            )
        })
    }

    fn handle_as(
        &mut self,
        event: &[u8],
        lambda_remaining: Option<Duration>,
        alexa_only: bool,
    ) -> Handled<'_> {
        self.deadline = self
            .home_assistant
            .settings
            .deadline(self.clock.now(), lambda_remaining);
        if !alexa_only {
            self.reload_if_due();
            if std::mem::take(&mut self.warm_cache) {
                self.warm();
            }
        }
        let started = self.begin();
        let classified = match self.read(event) {
            Ok(Event::Directive(d)) => Ok(Event::Directive(d)),
            Ok(_) if alexa_only => Err(ClassifyError::UnknownEvent),
            other => other,
        };
        let classified_at = self.clock.now();
        // Every log line of this event carries what it is (the Lambda
        // frontend adds its request id around it): raw JSON strings, never
        // the scope or its token.
        let span = match &classified {
            Ok(Event::Directive(d)) => tracing::info_span!(
                "directive",
                kind = "directive",
                message_id = d.message_id.unwrap_or("-"),
                namespace = d.namespace,
                name = d.name,
                endpoint = d.endpoint_id.unwrap_or("-"),
            ),
            Ok(Event::Op(name)) => tracing::info_span!("event", kind = "op", op = *name),
            Ok(Event::Http(request)) => tracing::info_span!(
                "event",
                kind = "http",
                method = request.method,
                path = request.path
            ),
            Ok(Event::Skill(kind)) => {
                tracing::info_span!("event", kind = "skill", request_type = *kind)
            }
            Ok(Event::Health) => tracing::info_span!("event", kind = "health"),
            Ok(Event::Diagnostics) => tracing::info_span!("event", kind = "diagnostics"),
            Ok(Event::Doctor) => tracing::info_span!("event", kind = "doctor"),
            Err(_) => tracing::info_span!("event", kind = "unreadable"),
        };
        let _entered = span.enter();
        let message_id = match &classified {
            Ok(Event::Directive(d)) => d.message_id,
            _ => None,
        };
        tracing::debug!(event = %logging::body(event), "event received");
        let (outcome, body) = match classified {
            Ok(Event::Health) => {
                let report = self.health();
                self.answer_json(&report);
                (Outcome::Health, Body::Json)
            }
            Ok(Event::Diagnostics) => {
                let report = self.diagnostics();
                self.answer_json(&report);
                (Outcome::Diagnostics, Body::Json)
            }
            Ok(Event::Doctor) => {
                let report = self.doctor();
                let ok = !report.failed();
                self.answer_json(&report.to_json());
                (Outcome::Doctor(ok), Body::Json)
            }
            Ok(Event::Http(request)) => {
                let status = self.http(request, event);
                (Outcome::Http(status), Body::Json)
            }
            Ok(Event::Op(name)) => {
                let ok = self.op(name, event);
                (Outcome::Op(ok), Body::Json)
            }
            Ok(Event::Skill(kind)) => {
                let ok = self.skill(kind, event);
                (Outcome::Skill(ok), Body::Json)
            }
            classified => self.answer_classified(classified, event),
        };
        self.finish(started, classified_at, outcome, body, message_id)
    }

    fn body(&self, body: Body) -> &[u8] {
        match body {
            Body::Json => &self.json_answer,
            Body::Out(len) => &self.out[..len],
        }
    }

    /// The event, classified, or why not (too large for the event buffer included).
    fn read<'e>(&self, event: &'e [u8]) -> Result<Event<'e>, ClassifyError> {
        if event.len() > self.capacities.event_buffer {
            return Err(ClassifyError::TooLarge {
                len: event.len(),
                limit: self.capacities.event_buffer,
            });
        }
        classify(event)
    }

    fn answer_json(&mut self, report: &serde_json::Value) {
        self.json_answer.clear();
        // Writing a Value to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.json_answer, report);
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
