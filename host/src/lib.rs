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
pub mod connection;
pub mod emf;
pub mod logging;
pub mod ops;
pub mod parameters;
pub mod reload;
pub mod report;
pub mod services;
mod skill;
pub mod transport;

use std::time::Duration;

use lee_core::alexa::{Directive, ErrorType, OutputTooSmall};
use lee_core::breaker::Breaker;
use lee_core::bridge::{self, Answered, Io, Reason, Settings, Tally, Transport};
use lee_core::budget::{Capacities, MemoryBudget, OverBudget};
use lee_core::cache::{Cache, EntrySlot};
use lee_core::dispatch::{Caching, Call, DispatchError, Gateway, Operation, Route, Served};
use lee_core::event::{ClassifyError, Event, HttpRequest, classify};
use lee_core::metrics::{Counter, Metrics, Timer};
use lee_core::module::ModuleId;
use lee_core::retry::SplitMix64;
use lee_core::slots::{Load, Policy, SlotEntry, SlotPool};
use lee_core::time::{Clock, Instant};

use crate::config::{Config, Problem, Secret};
use crate::report::Reachability;
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

/// How long the health report waits for Home Assistant's `GET /api/`.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

fn json_error(message: &str) -> serde_json::Value {
    serde_json::json!({ "error": message })
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

/// What kind of answer [`Bridge::handle`] gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An Alexa directive (or an unreadable event), answered as [`Answered`] says.
    Directive(Answered),
    /// The health report.
    Health,
    /// The diagnostics report.
    Diagnostics,
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
    /// `Bridge::report`: reports, ops, skill and HTTP answers.
    Report,
    /// The first bytes of `Bridge::out`: directive answers.
    Out(usize),
}

/// When an event's gateway handler ran, for its stage timings.
#[derive(Debug, Default)]
struct Marks {
    handler_start: std::cell::Cell<Option<Instant>>,
    handler_end: std::cell::Cell<Option<Instant>>,
    gateway_end: std::cell::Cell<Option<Instant>>,
}

/// How many recent errors the diagnostics report keeps.
const RECENT_ERRORS: usize = 20;

/// Where one event's time went: the breadcrumbs of its log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// Reading the event: size check, JSON check, what kind it is.
    pub classify: Duration,
    /// In the gateway before the handler: route and cache lookup, module
    /// slot load (all of a cache hit's time, copying the answer included).
    pub cache: Duration,
    /// The handler's own work, Home Assistant's time taken out: the token,
    /// the request, checking the answer; a report's building.
    pub dispatch: Duration,
    /// Waiting on Home Assistant (every request and retry).
    pub transport: Duration,
    /// After the gateway: counting, reclaiming module slots.
    pub respond: Duration,
}

/// What one event was and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `directive`, `health`, `diagnostics`, `http`, `op` or `skill`.
    pub kind: &'static str,
    /// Whether it was an Alexa directive lee could read.
    pub directive: bool,
    /// The Alexa error type it was answered with (`OP_ERROR`,
    /// `SKILL_REFUSED` and `HTTP_ERROR` for the other kinds), if any.
    pub error: Option<&'static str>,
    /// From the event's bytes in to the answer's bytes out.
    pub duration: Duration,
    /// Of which waiting on Home Assistant.
    pub ha_time: Duration,
    /// The same time, by stage.
    pub stages: Stages,
    /// Reads answered from the cache.
    pub cache_hits: u64,
    /// Reads the cache could not answer.
    pub cache_misses: u64,
    /// Times the breaker opened.
    pub breaker_opens: u64,
    /// Module slots loaded.
    pub slot_loads: u64,
    /// Module slots reclaimed.
    pub slot_unloads: u64,
    /// Requests sent to Home Assistant.
    pub ha_requests: u64,
}

/// The transport, timing and counting every request (directives, ops, the
/// health check) so an event knows how long it waited on Home Assistant
/// (backoff waits are lee's, not Home Assistant's) and how often it asked.
struct Timed {
    inner: Box<dyn Transport + Send>,
    waited: Duration,
    requests: u64,
}

impl Transport for Timed {
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: bridge::Timeouts,
        body: &mut [u8],
    ) -> Result<bridge::HaAnswer, lee_core::retry::Failure> {
        let started = std::time::Instant::now();
        let answer = self.inner.post_directive(event, token, timeouts, body);
        self.waited += started.elapsed();
        self.requests += 1;
        answer
    }

    fn wait_until(&mut self, until: Instant) {
        self.inner.wait_until(until);
    }

    fn rest(
        &mut self,
        request: &bridge::RestRequest<'_>,
        timeouts: bridge::Timeouts,
        body: &mut [u8],
    ) -> Result<bridge::HaAnswer, lee_core::retry::Failure> {
        let started = std::time::Instant::now();
        let answer = self.inner.rest(request, timeouts, body);
        self.waited += started.elapsed();
        self.requests += 1;
        answer
    }
}

/// The running bridge: configuration, engine state and buffers.
pub struct Bridge {
    capacities: Capacities,
    problems: Vec<Problem>,
    summary: serde_json::Value,
    debug_token: Option<Secret>,
    probe_token: Option<Secret>,
    shared_secret: Option<Secret>,
    reachability: Option<Reachability>,
    report: Vec<u8>,
    core: bridge::Bridge,
    transport: Option<Timed>,
    gateway: Gateway<Handler, 4>,
    ops: Gateway<ops::Op, 16>,
    op_token: Option<Secret>,
    parameter_token: Option<parameters::ParameterToken>,
    fallback_token: Option<Secret>,
    skill_id: Option<String>,
    /// `HA_CACHE_WARMING`: read every state before the first event.
    warm_cache: bool,
    cache: Cache<Box<[EntrySlot]>, Box<[u8]>>,
    slots: SlotPool<Box<[u8]>, Box<[SlotEntry]>>,
    metrics: Metrics,
    jitter: SplitMix64,
    clock: MonotonicClock,
    out: Box<[u8]>,
    marks: Marks,
    /// The metrics when the current event began.
    before: Metrics,
    last: Invocation,
    errors: std::collections::VecDeque<serde_json::Value>,
    debug_timings: bool,
    metrics_on: bool,
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

    /// Read Parameter Store again when the reading is due; apply a valid
    /// new configuration, keep the running one otherwise.
    fn reload_if_due(&mut self) {
        let Some(reloader) = &mut self.reloader else {
            return;
        };
        if !reloader.due() {
            return;
        }
        let fetched = match reloader.source.fetch() {
            Ok(fetched) => fetched,
            Err(why) => return reloader.keep(self.version, "configuration not re-read", why),
        };
        reloader.refuse_pinned(reload::pinned_parameters(&fetched));
        let env = &reloader.env;
        let var = |name: &str| {
            if config::PINNED.contains(&name) {
                env(name)
            } else {
                fetched.get(name).cloned().or_else(|| env(name))
            }
        };
        let (config, problems) = Config::from_env(var);
        let fingerprint = reload::fingerprint(var);
        let capacities = config.tuning.capacities;
        let next = if problems.is_empty() {
            if config == self.config {
                reloader.rejected = None;
                return;
            }
            Bridge::new(config, problems, capacities).map_err(|e| e.to_string())
        } else {
            Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "))
        };
        let mut next = match next {
            Ok(next) => next,
            Err(reasons) => {
                return reloader.keep(self.version, "new configuration rejected", reasons);
            }
        };
        reloader.rejected = None;
        let changed = reload::changed(&self.fingerprint, &fingerprint);
        // What the process has seen so far stays: counts, recent errors, and
        // (same Home Assistant, same thresholds) the breaker and the cache.
        next.version = self.version + 1;
        next.fingerprint = fingerprint;
        next.reloader = self.reloader.take();
        next.metrics = self.metrics;
        next.errors = std::mem::take(&mut self.errors);
        next.warm_cache = false;
        if next.config.base_url == self.config.base_url {
            if next.config.tuning.breaker == self.config.tuning.breaker {
                std::mem::swap(&mut next.core.breaker, &mut self.core.breaker);
            }
            if next.capacities == self.capacities {
                std::mem::swap(&mut next.cache, &mut self.cache);
            }
        }
        next.summary["config_version"] = next.version.into();
        *self = next;
        tracing::info!(
            config_version = self.version,
            changed = changed.join(","),
            "configuration version {} applied",
            self.version
        );
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
                .add::<()>(Route::new("ha", Operation::Named(name), slot, caching, op))
                .expect("the op table has room for every op");
        }
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
            debug_token: config
                .debug
                .then(|| config.long_lived_token.clone())
                .flatten(),
            op_token: config.ha_token,
            parameter_token: config.token_parameter.map(parameters::ParameterToken::new),
            fallback_token: config.long_lived_token.clone(),
            skill_id: config.skill_id,
            warm_cache: config.cache_warming,
            ops: op_routes,
            probe_token: config.long_lived_token,
            shared_secret: config.shared_secret,
            reachability: None,
            report: Vec::new(),
            core: bridge::Bridge {
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
            gateway,
            marks: Marks::default(),
            before: Metrics::EMPTY,
            last: Invocation::default(),
            errors: std::collections::VecDeque::with_capacity(RECENT_ERRORS),
            debug_timings: config.debug_timings,
            metrics_on: config.metrics,
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
        let (outcome, body) = self.answer_classified(too_large, &[], None);
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
        self.metrics_on.then(|| {
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
                self.report_into(&report);
                (Outcome::Health, Body::Report)
            }
            Ok(Event::Diagnostics) => {
                let report = self.diagnostics();
                self.report_into(&report);
                (Outcome::Diagnostics, Body::Report)
            }
            Ok(Event::Http(request)) => {
                let status = self.http(request, event);
                (Outcome::Http(status), Body::Report)
            }
            Ok(Event::Op(name)) => {
                let ok = self.op(name, event);
                (Outcome::Op(ok), Body::Report)
            }
            Ok(Event::Skill(kind)) => {
                let ok = self.skill(kind, event);
                (Outcome::Skill(ok), Body::Report)
            }
            classified => self.answer_classified(classified, event, lambda_remaining),
        };
        self.finish(started, classified_at, outcome, body, message_id)
    }

    /// Start timing an event.
    fn begin(&mut self) -> Instant {
        self.marks = Marks::default();
        if let Some(transport) = &mut self.transport {
            transport.waited = Duration::ZERO;
            transport.requests = 0;
        }
        self.before = self.metrics.snapshot();
        self.clock.now()
    }

    /// After an event is answered: reclaim slots, record the invocation,
    /// log its line, keep its error.
    fn finish(
        &mut self,
        started: Instant,
        classified_at: Instant,
        outcome: Outcome,
        body: Body,
        message_id: Option<&str>,
    ) -> Handled<'_> {
        let responded_from = self.marks.gateway_end.get().unwrap_or(classified_at);
        let (took, ended) = self.settle(started);
        let (waited, requests) = self
            .transport
            .as_ref()
            .map_or((Duration::ZERO, 0), |t| (t.waited, t.requests));
        self.metrics.add(Counter::HaRequests, requests);
        let since = |a: Instant, b: Instant| b.saturating_duration_since(a);
        let stages = match (self.marks.handler_start.get(), self.marks.handler_end.get()) {
            (Some(h_start), Some(h_end)) => Stages {
                classify: since(started, classified_at),
                cache: since(classified_at, h_start),
                dispatch: since(h_start, h_end).saturating_sub(waited),
                transport: waited,
                respond: since(responded_from, ended),
            },
            // Served from the cache, or an event with no gateway (reports, skill).
            _ => Stages {
                classify: since(started, classified_at),
                cache: since(classified_at, responded_from),
                dispatch: since(responded_from.max(classified_at), ended).saturating_sub(waited),
                transport: waited,
                respond: Duration::ZERO,
            },
        };
        let delta = |c: Counter| self.metrics.get(c) - self.before.get(c);
        let (kind, error) = match outcome {
            Outcome::Directive(Answered::PassedThrough) => ("directive", None),
            Outcome::Directive(Answered::Error(e, _)) => ("directive", Some(e.as_str())),
            Outcome::Health => ("health", None),
            Outcome::Diagnostics => ("diagnostics", None),
            Outcome::Http(_) if delta(Counter::AuthFailures) > 0 => ("http", Some("UNAUTHORIZED")),
            Outcome::Http(status) => ("http", (status >= 500).then_some("HTTP_ERROR")),
            Outcome::Op(ok) => ("op", (!ok).then_some("OP_ERROR")),
            Outcome::Skill(ok) => ("skill", (!ok).then_some("SKILL_REFUSED")),
        };
        self.last = Invocation {
            kind,
            directive: matches!(outcome, Outcome::Directive(_)) && delta(Counter::Directives) > 0,
            error,
            duration: took,
            ha_time: waited,
            stages,
            cache_hits: delta(Counter::CacheHits),
            cache_misses: delta(Counter::CacheMisses),
            breaker_opens: delta(Counter::BreakerOpens),
            slot_loads: delta(Counter::SlotLoads),
            slot_unloads: delta(Counter::SlotUnloads),
            ha_requests: requests,
        };
        let outcome_name = match outcome {
            Outcome::Directive(Answered::PassedThrough) => "passed_through",
            _ => error.unwrap_or("ok"),
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let timings = self.debug_timings || tracing::enabled!(tracing::Level::DEBUG);
        let reason = match outcome {
            Outcome::Directive(Answered::Error(_, reason)) => Some(reason.to_string()),
            Outcome::Http(_) if error == Some("UNAUTHORIZED") => {
                Some("the shared secret in x-lee-secret is missing or wrong".to_string())
            }
            _ => None,
        };
        // Stage fields are written only with timings on (`None` records nothing).
        let stage = |d: Duration| timings.then(|| ms(d));
        match &reason {
            Some(reason) => tracing::warn!(
                outcome = outcome_name,
                duration_ms = ms(took),
                ha_ms = ms(waited),
                requests = self.last.ha_requests,
                classify_ms = stage(stages.classify),
                cache_ms = stage(stages.cache),
                dispatch_ms = stage(stages.dispatch),
                transport_ms = stage(stages.transport),
                respond_ms = stage(stages.respond),
                "answered an error: {reason}"
            ),
            None => tracing::info!(
                outcome = outcome_name,
                duration_ms = ms(took),
                ha_ms = ms(waited),
                requests = self.last.ha_requests,
                classify_ms = stage(stages.classify),
                cache_ms = stage(stages.cache),
                dispatch_ms = stage(stages.dispatch),
                transport_ms = stage(stages.transport),
                respond_ms = stage(stages.respond),
                "answered"
            ),
        }
        tracing::debug!(answer = %logging::body(self.body(body)), "answer");
        if let Some(error) = error {
            let what = reason.unwrap_or_else(|| {
                let answer: serde_json::Value =
                    serde_json::from_slice(self.body(body)).unwrap_or_default();
                let error = &answer["error"];
                match error["message"].as_str().or(error.as_str()) {
                    Some(message) => format!("{} {message}", error["code"].as_str().unwrap_or("")),
                    None => "no details".to_string(),
                }
            });
            if self.errors.len() == RECENT_ERRORS {
                self.errors.pop_front();
            }
            self.errors.push_back(serde_json::json!({
                "at": logging::timestamp(std::time::SystemTime::now()),
                "kind": kind,
                "error": error,
                "message_id": message_id,
                "reason": logging::scrub(what.trim()),
            }));
        }
        let body = self.body(body);
        Handled { body, outcome }
    }

    fn body(&self, body: Body) -> &[u8] {
        match body {
            Body::Report => &self.report,
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

    fn answer_classified(
        &mut self,
        classified: Result<Event<'_>, ClassifyError>,
        event: &[u8],
        lambda_remaining: Option<Duration>,
    ) -> (Outcome, Body) {
        let message_id = self.random_id();
        let mut tally = Tally::default();
        let (len, outcome) =
            match self.answer_event(classified, event, lambda_remaining, message_id, &mut tally) {
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
        (Outcome::Directive(outcome), Body::Out(len))
    }

    fn answer_event(
        &mut self,
        classified: Result<Event<'_>, ClassifyError>,
        event: &[u8],
        lambda_remaining: Option<Duration>,
        message_id: [u8; 16],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        let unreadable = match classified {
            Ok(Event::Directive(directive)) => {
                return self.forward(&directive, event, lambda_remaining, message_id, tally);
            }
            Ok(_) => ClassifyError::UnknownEvent,
            Err(e) => e,
        };
        bridge::refuse(
            None,
            Reason::Unreadable(unreadable),
            message_id,
            &mut self.out,
        )
    }

    /// Forward a directive through the gateway to the Alexa module's slot.
    fn forward(
        &mut self,
        directive: &Directive<'_>,
        event: &[u8],
        lambda_remaining: Option<Duration>,
        message_id: [u8; 16],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        self.metrics.incr(Counter::Directives);
        let Some(transport) = &mut self.transport else {
            return bridge::refuse(
                Some(directive),
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
        let marks = &self.marks;
        let mut answered = None;
        let served = self.gateway.dispatch(
            &call,
            clock.now(),
            &mut self.cache,
            &mut self.slots,
            &mut self.out,
            |Handler::AlexaDirective, arena, _cache, out| {
                marks.handler_start.set(Some(clock.now()));
                let raw_len = directive.scope.and_then(|s| s.token).map_or(0, str::len);
                // A token too long for the arena cannot be valid: an empty buffer
                // makes the core refuse it as malformed.
                let token_buf = arena.alloc(raw_len).unwrap_or_default();
                let io = Io {
                    transport,
                    clock,
                    jitter,
                    message_id,
                    debug_token,
                    token_buf,
                };
                let answered_now =
                    core.answer_directive(directive, event, lambda_remaining, io, out, tally);
                marks.handler_end.set(Some(clock.now()));
                let (len, outcome) = answered_now?;
                answered = Some(outcome);
                Ok(len)
            },
        );
        self.marks.gateway_end.set(Some(self.clock.now()));
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
            Err(_) => bridge::refuse(Some(directive), Reason::Engine, message_id, &mut self.out),
        }
    }

    /// Answer a custom-skill request (see [`skill`]); the answer is left in
    /// `self.report`. Returns whether the request was served.
    fn skill(&mut self, kind: &str, event: &[u8]) -> bool {
        let request: serde_json::Value = match serde_json::from_slice(event) {
            Ok(request) => request,
            Err(_) => return self.refuse_skill("the request is not a JSON object"),
        };
        let conversation = skill::conversation_id(&request).map(str::to_string);
        let (speech, end, conversation) =
            match skill::turn(&request, kind, self.skill_id.as_deref()) {
                Err(skill::SkillRefusal::NotConfigured) => {
                    return self.refuse_skill("custom-skill requests need ALEXA_SKILL_ID");
                }
                Err(skill::SkillRefusal::WrongSkill) => {
                    return self
                        .refuse_skill("the request is for another skill than ALEXA_SKILL_ID");
                }
                Err(skill::SkillRefusal::Malformed(field)) => {
                    tracing::warn!(field, "custom-skill request lacks a field");
                    return self.refuse_skill("the request lacks a field lee needs");
                }
                Ok(skill::Turn::Ask(text)) => (Some(text.to_string()), false, conversation),
                Ok(skill::Turn::Tell(text)) => (Some(text.to_string()), true, None),
                Ok(skill::Turn::Nothing) => (None, true, None),
                Ok(skill::Turn::Assist { text, language }) => {
                    let op = serde_json::json!({
                        "op": "ha.conversation",
                        "text": text,
                        "conversation_id": conversation,
                        "language": language,
                    });
                    let token = skill::access_token(&request).map(|t| Secret::new(t.to_string()));
                    if token.is_none() && !self.config.skill_uses_ops_token {
                        // Without account linking, every user of the skill would
                        // drive Assist with the owner's token.
                        tracing::warn!(
                            "custom skill: the request carries no account-linked token; asked \
                             the user to link their account (SKILL_USES_OPS_TOKEN=true lets the \
                             ops token stand in)"
                        );
                        self.report_into(&skill::link_account());
                        return true;
                    }
                    let op = serde_json::to_vec(&op).unwrap_or_default();
                    match self.run_op("ha.conversation", &op, token) {
                        Ok(()) => {
                            let answer: serde_json::Value =
                                serde_json::from_slice(&self.report).unwrap_or_default();
                            let speech = answer["speech"].as_str().map(str::to_string);
                            let id = answer["conversation_id"].as_str().map(str::to_string);
                            (speech, false, id.or(conversation))
                        }
                        Err(refused) => {
                            let error = ops::error_answer("ha.conversation", &refused);
                            tracing::warn!(
                                "custom skill: Assist failed: {}",
                                error["error"]["message"]
                            );
                            (
                                Some("Sorry, Home Assistant did not answer.".to_string()),
                                false,
                                conversation,
                            )
                        }
                    }
                }
            };
        let answer = skill::response(speech.as_deref(), end, conversation.as_deref());
        self.report_into(&answer);
        true
    }

    /// Fill the cache with every state (one `GET /api/states`) before the
    /// first event, so its first reads are hits. Never at init: a cold
    /// start that nobody asked for makes no request. A failure is logged and
    /// changes nothing else.
    fn warm(&mut self) {
        match self.run_op("ha.states", br#"{"op": "ha.states"}"#, None) {
            Ok(()) => tracing::info!("cache warmed with every state"),
            Err(refused) => tracing::warn!(
                "cache warming failed: {}",
                ops::error_answer("ha.states", &refused)["error"]["message"]
            ),
        }
        self.report.clear();
    }

    /// After an event is answered: count it and its time, reclaim the
    /// slots whose policy says so. Returns how long the event took.
    fn settle(&mut self, started: Instant) -> (Duration, Instant) {
        let now = self.clock.now();
        self.metrics.incr(Counter::Events);
        let reclaimed = self.slots.end_invocation(now) + self.slots.reclaim(now);
        self.metrics.add(Counter::SlotUnloads, reclaimed as u64);
        let took = now.saturating_duration_since(started);
        self.metrics.observe(Timer::Event, took);
        (took, now)
    }

    fn refuse_skill(&mut self, why: &'static str) -> bool {
        tracing::warn!("custom-skill request refused: {why}");
        self.report_into(&serde_json::json!({ "error": why }));
        false
    }

    /// Run an engine op; its answer (success or error) is left in `self.report`.
    fn op(&mut self, name: &str, event: &[u8]) -> bool {
        match self.run_op(name, event, None) {
            Ok(()) => true,
            Err(refused) => {
                let answer = ops::error_answer(name, &refused);
                tracing::warn!(
                    op = name,
                    "engine op refused: {}",
                    answer["error"]["message"]
                );
                self.report_into(&answer);
                false
            }
        }
    }

    /// Run an op with the ops token, or with `token` when given (a custom
    /// skill's account-linked token).
    fn run_op(
        &mut self,
        name: &str,
        event: &[u8],
        token: Option<Secret>,
    ) -> Result<(), ops::Refused> {
        use ops::{Checked, Refused};
        let op = ops::Op::named(name).ok_or(Refused::Bad(lee_core::ha::OpError {
            code: "unknown_op",
            field: "op",
            message: "not an op lee knows (README, Engine ops, lists them)",
        }))?;
        let args: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(event)
            .map_err(|_| {
                Refused::Bad(lee_core::ha::OpError {
                    code: "wrong_type",
                    field: "op",
                    message: "an op is a JSON object",
                })
            })?;
        let checked = ops::check(op, &args).map_err(Refused::Bad)?;
        let opening_check = match &checked {
            Checked::CallService {
                domain, service, ..
            } => match self.config.ops_services.verdict(domain, service) {
                services::Verdict::Allowed => false,
                services::Verdict::UnlessItOpensTheHome => true,
                services::Verdict::Denied => {
                    tracing::warn!(
                        op = name,
                        service = format!("{domain}.{service}"),
                        "engine op refused: the service is on the deny list"
                    );
                    return Err(Refused::Bad(lee_core::ha::OpError {
                        code: "service_not_allowed",
                        field: "service",
                        message: "can take over or open the home, so ops may not call it \
                                  (README, Security): OPS_ALLOW_SERVICES lifts it",
                    }));
                }
            },
            _ => false,
        };
        let token = match token.or_else(|| self.op_token.clone()) {
            Some(token) => token,
            None => match &mut self.parameter_token {
                Some(parameter) => parameter.get().map_err(Refused::TokenParameter)?,
                None => self.fallback_token.clone().ok_or(Refused::NoToken)?,
            },
        };
        let transport = self.transport.as_mut().ok_or(Refused::NotConfigured)?;
        let now = self.clock.now();
        if let Checked::States { filter } = &checked
            && let ops::FromCache::Answer(answer) =
                ops::states_in_cache(filter, &mut self.cache, now)
        {
            self.metrics.incr(Counter::CacheHits);
            self.report = answer.into_bytes();
            return Ok(());
        }
        let cache_key = match &checked {
            Checked::Health => Some("ha.health".to_string()),
            Checked::State { entity } => Some(ops::state_key(entity)),
            _ => None,
        };
        let call = Call {
            interface: "ha",
            operation: name,
            cache_key: cache_key.as_deref().map(str::as_bytes),
        };
        let timeouts = bridge::Timeouts {
            connect: self.core.settings.connect_timeout,
            total: self
                .core
                .settings
                .deadline(now, None)
                .saturating_duration_since(now),
        };
        let breaker = &mut self.core.breaker;
        let clock = &self.clock;
        let marks = &self.marks;
        let served = self.ops.dispatch(
            &call,
            now,
            &mut self.cache,
            &mut self.slots,
            &mut self.out,
            |_, _arena, cache, out| {
                marks.handler_start.set(Some(clock.now()));
                let mut client = ops::Client {
                    transport,
                    breaker,
                    clock,
                    token: token.expose(),
                    timeouts,
                    buffer: out,
                };
                let answer = match &checked {
                    Checked::Health => client.health(),
                    Checked::State { entity } => client.state(entity),
                    Checked::States { filter } => client.states_fresh(filter, cache, now),
                    Checked::StatesInArea { area } => {
                        let entities = client.area_entities(area, cache, now)?;
                        client.states_fresh(&ops::Filter::Entities(entities), cache, now)
                    }
                    Checked::CallService {
                        domain,
                        service,
                        entities,
                        area,
                        data,
                        guard,
                    } => {
                        let mut targets = entities.clone();
                        if let Some(area) = area {
                            targets.extend(client.area_entities(area, cache, now)?);
                        }
                        if let (Some(guard), Some(entity)) = (guard, targets.first()) {
                            client.check_guard(guard, entity, cache, now)?;
                        }
                        if opening_check {
                            client.check_cover_opens(service, &targets, cache, now)?;
                        }
                        let answer = client.call_service(domain, service, &targets, data)?;
                        // Exactly what the call touched: its targets and what HA says changed.
                        for entity in targets
                            .into_iter()
                            .chain(ops::changed_entities(answer.as_bytes()))
                        {
                            cache.invalidate_key(ops::state_key(&entity).as_bytes());
                        }
                        Ok(answer)
                    }
                    Checked::Conversation(body) => client.conversation(body),
                    Checked::Find {
                        name,
                        filter,
                        limit,
                    } => {
                        let states = client.states_fresh(&ops::Filter::All, cache, now)?;
                        ops::find(&states, name, filter, *limit)
                    }
                }?;
                let dst = out.get_mut(..answer.len()).ok_or(ops::Failed::Unexpected(
                    "the answer is larger than lee's answer buffer",
                ))?;
                dst.copy_from_slice(answer.as_bytes());
                marks.handler_end.set(Some(clock.now()));
                Ok(answer.len())
            },
        );
        self.marks.gateway_end.set(Some(self.clock.now()));
        let len = match served {
            Ok(served) => {
                match served {
                    Served::Cached { .. } => self.metrics.incr(Counter::CacheHits),
                    Served::Handled { load, .. } => {
                        if load != Load::Warm {
                            self.metrics.incr(Counter::SlotLoads);
                        }
                        // A read the cache could not answer.
                        if !op.writes() {
                            self.metrics.incr(Counter::CacheMisses);
                        }
                    }
                }
                served.len()
            }
            Err(DispatchError::Handler(failed)) => return Err(Refused::Failed(failed)),
            Err(_) => return Err(Refused::Engine),
        };
        let answer = &self.out[..len];
        self.report.clear();
        self.report.extend_from_slice(answer);
        Ok(())
    }

    /// The health report, checking Home Assistant when the last check is stale.
    fn health(&mut self) -> serde_json::Value {
        let now = self.clock.now();
        if let Some(transport) = &mut self.transport
            && !self.reachability.is_some_and(|r| r.is_fresh(now))
        {
            let timeouts = bridge::Timeouts {
                connect: self.core.settings.connect_timeout,
                total: HEALTH_CHECK_TIMEOUT,
            };
            let request = bridge::RestRequest {
                method: bridge::Method::Get,
                path: "/api/",
                token: self.probe_token.as_ref().map(Secret::expose),
                body: b"",
            };
            // `GET /api/` answers a few bytes; any status means reachable.
            let mut answer = [0u8; 256];
            let result = transport
                .rest(&request, timeouts, &mut answer)
                .map(|a| a.status);
            let after = self.clock.now();
            self.reachability = Some(Reachability {
                checked_at: after,
                result,
                took: after.saturating_duration_since(now),
            });
        }
        report::health(
            self.summary.clone(),
            self.reachability,
            &self.core.breaker,
            self.clock.now(),
        )
    }

    /// The diagnostics report: health plus cache (per module), slots,
    /// metrics, memory, the configuration's version and the recent errors.
    fn diagnostics(&mut self) -> serde_json::Value {
        let health = self.health();
        let slots: Vec<_> = self.slots.views().collect();
        let mut report = report::diagnostics(
            health,
            &report::Insides {
                cache: self.cache.stats(),
                cache_use: (
                    self.cache.len(),
                    self.cache.bytes_used(),
                    self.cache.entry_capacity(),
                    self.cache.byte_capacity(),
                ),
                pool: self.slots.stats(),
                slots: &slots,
                metrics: &self.metrics,
            },
        );
        report["cache"]["modules"] = [
            (ALEXA_MODULE, "alexa"),
            (ops::HA_CLIENT, "ha.client"),
            (ops::HA_SERVICES, "ha.services"),
        ]
        .iter()
        .map(|&(module, name)| {
            let usage = self.cache.module_usage(module);
            serde_json::json!({ "module": name, "entries": usage.entries, "bytes": usage.bytes })
        })
        .collect();
        let pool = self.slots.stats();
        let memory = report::process_memory();
        report["memory"] = serde_json::json!({
            "rss_bytes": memory.map(|(rss, _)| rss),
            "rss_high_water_bytes": memory.map(|(_, hwm)| hwm),
            "arena_pool_bytes": pool.arena_size * pool.arenas,
            "arena_bytes_in_use": pool.arena_size * pool.arenas_in_use,
            "arena_high_water_bytes": pool.high_water_bytes,
            "engine_bytes": self.capacities.usage().total,
        });
        report["configuration"] = serde_json::json!({
            "version": self.version,
            "parameter_prefix": self.reloader.as_ref().map(|r| r.source.prefix()),
            "reload_every_s": self.reloader.as_ref().map(|r| r.source.ttl().as_secs()),
            "last_rejection": self.reloader.as_ref().and_then(|r| r.rejected.as_deref()),
        });
        report["recent_errors"] = self.errors.iter().cloned().collect();
        report
    }

    /// Answer a Function URL request; returns its status. The answer is in
    /// `self.report`, in the shape Lambda expects for HTTP responses.
    ///
    /// The URL may be public, so only `GET /health` answers without the
    /// shared secret, and then only whether lee and Home Assistant are up.
    /// The full health report and diagnostics need the secret; ops need
    /// `OPS_OVER_HTTP` as well. A missing or wrong secret where one is
    /// needed is logged at warn with the caller's address and counted.
    fn http(&mut self, request: HttpRequest<'_>, event: &[u8]) -> u16 {
        let authorised = match (&self.shared_secret, request.secret) {
            (Some(secret), Some(presented)) => secret.matches(presented),
            _ => false,
        };
        let guarded = self.shared_secret.is_some();
        let (status, body) = match (request.method, request.path) {
            ("GET", "/health") if authorised => (200, self.health()),
            ("GET", "/health") => {
                if guarded && request.secret.is_some() {
                    self.refuse_secret(&request);
                }
                (200, self.public_health())
            }
            ("POST", "/op") if !self.config.ops_over_http => (
                403,
                json_error(
                    "ops over HTTP are off: set OPS_OVER_HTTP=true and a SHARED_SECRET of at \
                     least 32 characters to turn them on",
                ),
            ),
            ("POST", "/op") if !guarded => (
                403,
                json_error("ops over HTTP need a SHARED_SECRET of at least 32 characters"),
            ),
            ("POST", "/op") if authorised => self.http_op(event),
            ("POST", "/op") => {
                self.refuse_secret(&request);
                (
                    401,
                    json_error("ops need the shared secret in x-lee-secret"),
                )
            }
            (_, "/op") => (405, json_error("ops are sent with POST")),
            ("GET", "/diagnostics") if authorised => (200, self.diagnostics()),
            ("GET", "/diagnostics") if guarded => {
                self.refuse_secret(&request);
                (
                    401,
                    json_error("diagnostics need the shared secret in x-lee-secret"),
                )
            }
            ("GET", "/diagnostics") => (
                403,
                json_error(
                    "diagnostics over HTTP are off: set a SHARED_SECRET of at least 32 \
                     characters to turn them on",
                ),
            ),
            (_, "/health" | "/diagnostics") => (405, json_error("only GET is supported")),
            _ => (
                404,
                json_error("lee serves GET /health, GET /diagnostics and POST /op"),
            ),
        };
        let response = serde_json::json!({
            "statusCode": status,
            "headers": { "content-type": "application/json" },
            "body": body.to_string(),
        });
        self.report_into(&response);
        status
    }

    /// A Function URL request that needed the shared secret came without it
    /// or with a wrong one: warn, naming who asked, and count it.
    fn refuse_secret(&mut self, request: &HttpRequest<'_>) {
        self.metrics.incr(Counter::AuthFailures);
        tracing::warn!(
            source_ip = request.source_ip.unwrap_or("unknown"),
            path = request.path,
            "refused: the shared secret in x-lee-secret is {}",
            if request.secret.is_some() {
                "wrong"
            } else {
                "missing"
            }
        );
    }

    /// What `GET /health` tells anyone: that lee is up, and whether Home
    /// Assistant answers. Nothing of the configuration.
    fn public_health(&mut self) -> serde_json::Value {
        let health = self.health();
        serde_json::json!({
            "lee": "up",
            "home_assistant": { "reachable": health["home_assistant"]["reachable"] },
        })
    }

    /// `POST /op`: the request's body is an engine op. 200 with its answer
    /// when it succeeds, 400 with its error otherwise.
    fn http_op(&mut self, event: &[u8]) -> (u16, serde_json::Value) {
        let http: serde_json::Value = serde_json::from_slice(event).unwrap_or_default();
        if http["isBase64Encoded"] == true {
            return (
                400,
                json_error("send the op as text: Content-Type application/json"),
            );
        }
        let Some(body) = http["body"].as_str() else {
            return (
                400,
                json_error("the request has no body: send the op as JSON"),
            );
        };
        let ok = match classify(body.as_bytes()) {
            Ok(Event::Op(name)) => self.op(name, body.as_bytes()),
            _ => {
                return (
                    400,
                    json_error("the body is not an op: {\"op\": \"...\", ...}"),
                );
            }
        };
        let answer = serde_json::from_slice(&self.report).unwrap_or_default();
        (if ok { 200 } else { 400 }, answer)
    }

    fn report_into(&mut self, report: &serde_json::Value) {
        self.report.clear();
        // Writing a Value to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.report, report);
    }

    fn count(&mut self, outcome: Answered, tally: &Tally) {
        let m = &mut self.metrics;
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
                ErrorType::InternalError
                | ErrorType::AcceptGrantFailed
                | ErrorType::RateLimitExceeded => Counter::ErrorsInternal,
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
