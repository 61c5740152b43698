//! What each event was and cost: its stage timings, the requests it sent
//! and the time it waited on Home Assistant ([`Timed`]), its counters, its
//! one log line, and the recent errors the diagnostics report shows.

use std::time::Duration;

use lee_core::alexa::ErrorType;
use lee_core::bridge::{self, Answered, Reason, Tally, Transport};
use lee_core::metrics::{Counter, Timer};
use lee_core::time::{Clock, Instant};

use crate::logging;

use super::{Body, Bridge, Handled, Outcome};

/// When an event's gateway handler ran, for its stage timings.
#[derive(Debug, Default)]
pub(super) struct Marks {
    pub(super) handler_start: std::cell::Cell<Option<Instant>>,
    pub(super) handler_end: std::cell::Cell<Option<Instant>>,
    pub(super) gateway_end: std::cell::Cell<Option<Instant>>,
}

/// How many recent errors the diagnostics report keeps.
pub(super) const RECENT_ERRORS: usize = 20;

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
    /// `directive`, `health`, `diagnostics`, `doctor`, `http`, `op` or `skill`.
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
    /// A Discovery the guard checked: the endpoints Home Assistant sent and
    /// how many of them were left out.
    pub discovery: Option<(usize, usize)>,
}

/// The transport, timing and counting every request (directives, ops, the
/// health check) so an event knows how long it waited on Home Assistant
/// (backoff waits are lee's, not Home Assistant's) and how often it asked.
pub(super) struct Timed {
    pub(super) inner: Box<dyn Transport + Send>,
    pub(super) waited: Duration,
    pub(super) requests: u64,
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

impl Bridge {
    /// Start timing an event.
    pub(super) fn begin(&mut self) -> Instant {
        self.marks = Marks::default();
        if let Some(transport) = &mut self.transport {
            transport.waited = Duration::ZERO;
            transport.requests = 0;
        }
        self.before = self.metrics.snapshot();
        self.discovery.this_event = None;
        self.clock.now()
    }

    /// After an event is answered: reclaim slots, record the invocation,
    /// log its line, keep its error.
    pub(super) fn finish(
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
        if requests > 0 {
            self.metrics.observe(Timer::HaLatency, waited);
        }
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
            // A failed check is the doctor's finding, not lee's error.
            Outcome::Doctor(_) => ("doctor", None),
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
            discovery: self.discovery.this_event.map(|s| (s.endpoints, s.left_out)),
        };
        let outcome_name = match outcome {
            Outcome::Directive(Answered::PassedThrough) => "passed_through",
            _ => error.unwrap_or("ok"),
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let timings = self.config.debug_timings || tracing::enabled!(tracing::Level::DEBUG);
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

    /// After an event is answered: count it and its time, reclaim the
    /// slots whose policy says so. Returns how long the event took.
    pub(super) fn settle(&mut self, started: Instant) -> (Duration, Instant) {
        let now = self.clock.now();
        self.metrics.incr(Counter::Events);
        let reclaimed = self.slots.end_invocation(now) + self.slots.reclaim(now);
        self.metrics.add(Counter::SlotUnloads, reclaimed as u64);
        let took = now.saturating_duration_since(started);
        self.metrics.observe(Timer::Event, took);
        (took, now)
    }

    pub(super) fn count(&mut self, outcome: Answered, tally: &Tally) {
        let m = &mut self.metrics;
        m.add(Counter::Retries, u64::from(tally.retries));
        if tally.breaker_opened {
            m.incr(Counter::BreakerOpens);
        }
        if let Answered::Error(_, Reason::BreakerOpen { .. }) = outcome {
            m.incr(Counter::BreakerRejections);
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
}
