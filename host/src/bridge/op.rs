//! Engine ops run by the bridge: the token they use, the gateway route and
//! module slot (whose arena holds the op's requests, see `ops::Client`), the
//! cache, the service policy, the interpretation of a checked op
//! ([`crate::ops`]) into requests to Home Assistant, and the shaping of its
//! answer for the caller.

use lee_core::dispatch::{Call, DispatchError, Served};
use lee_core::guard::Tally;
use lee_core::metrics::Counter;
use lee_core::retry::RetryPlan;
use lee_core::slots::Load;
use lee_core::time::Clock;

use crate::config::Secret;
use crate::{ops, services};

use super::Bridge;

impl Bridge {
    /// Fill the cache with every state (one `GET /api/states`) before the
    /// first event, so its first reads are hits. Never at init: a cold
    /// start that nobody asked for makes no request. A failure is logged and
    /// changes nothing else.
    pub(super) fn warm(&mut self) {
        match self.run_op("ha.states", br#"{"op": "ha.states"}"#, None) {
            Ok(()) => tracing::info!("cache warmed with every state"),
            Err(refused) => tracing::warn!(
                "cache warming failed: {}",
                ops::error_answer("ha.states", &refused)["error"]["message"]
            ),
        }
        self.json_answer.clear();
    }

    /// Run an engine op; its answer (success or error) is left in `self.json_answer`.
    pub(super) fn op(&mut self, name: &str, event: &[u8]) -> bool {
        match self.run_op(name, event, None) {
            Ok(()) => true,
            Err(refused) => {
                let answer = ops::error_answer(name, &refused);
                let error = &answer["error"];
                let (field, message) = (
                    error["field"].as_str().unwrap_or_default(),
                    error["message"].as_str().unwrap_or_default(),
                );
                let at = if field.is_empty() {
                    String::new()
                } else {
                    format!("{field} ")
                };
                tracing::warn!(
                    op = name,
                    code = error["code"].as_str().unwrap_or_default(),
                    "engine op refused: {at}{message}"
                );
                self.answer_json(&answer);
                false
            }
        }
    }

    /// Run an op with the ops token, or with `token` when given (a custom
    /// skill's account-linked token).
    pub(super) fn run_op(
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
        let shape = ops::Shape::of(op, &args).map_err(Refused::Bad)?;
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
        let token = match token {
            Some(token) => token,
            None => self.tokens.for_ops()?,
        };
        let transport = self.transport.as_mut().ok_or(Refused::NotConfigured)?;
        let now = self.clock.now();
        if let Checked::States { filter } = &checked
            && let ops::FromCache::Answer(answer) =
                ops::states_in_cache(filter, &mut self.cache, now)
        {
            self.metrics.incr(Counter::CacheHits);
            self.json_answer = answer.into_bytes();
            return self.shape_answer(shape.as_ref());
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
        let settings = self.home_assistant.settings;
        let plan = RetryPlan::new(settings.backoff, self.deadline, settings.min_attempt);
        let breaker = &mut self.home_assistant.breaker;
        let clock = &self.clock;
        let jitter = &mut self.jitter;
        let marks = &self.marks;
        let mut retries = 0;
        let served = self.ops.dispatch(
            &call,
            now,
            &mut self.cache,
            &mut self.slots,
            &mut self.out,
            |_, arena, cache, out| {
                marks.handler_start.set(Some(clock.now()));
                let mut client = ops::Client {
                    transport,
                    breaker,
                    clock,
                    jitter,
                    token: token.expose(),
                    plan,
                    connect_timeout: settings.connect_timeout,
                    tally: Tally::default(),
                    arena,
                    buffer: out,
                };
                let run = |client: &mut ops::Client, cache: &mut _| match &checked {
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
                };
                let answer = run(&mut client, cache);
                retries = client.tally.retries;
                let answer = answer?;
                let dst = out.get_mut(..answer.len()).ok_or(ops::Failed::Unexpected(
                    "the answer is larger than lee's answer buffer",
                ))?;
                dst.copy_from_slice(answer.as_bytes());
                marks.handler_end.set(Some(clock.now()));
                Ok(answer.len())
            },
        );
        self.marks.gateway_end.set(Some(self.clock.now()));
        self.metrics.add(Counter::Retries, u64::from(retries));
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
        self.json_answer.clear();
        self.json_answer.extend_from_slice(answer);
        self.shape_answer(shape.as_ref())
    }

    /// Shape the op's answer in `self.json_answer` as its caller asked
    /// (`fields`, `flatten`); the cache keeps Home Assistant's states whole.
    fn shape_answer(&mut self, shape: Option<&ops::Shape>) -> Result<(), ops::Refused> {
        if let Some(shape) = shape {
            self.json_answer = shape
                .apply(&self.json_answer)
                .map_err(ops::Refused::Failed)?;
        }
        Ok(())
    }
}
