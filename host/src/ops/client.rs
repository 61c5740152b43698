//! The [`Client`]: talks to Home Assistant for one op, through the
//! [`Transport`] and the breaker of its base URL, and turns each answer into
//! the op's answer.
//!
//! Memory: each request (its path and JSON body) is written into the op
//! module's slot arena as scratch, zeroed and given back when the op ends;
//! a request larger than what is left of the arena is written on the heap
//! instead, bounded like the event it was built from. Home Assistant's
//! answers are read into the answer buffer lent by the bridge (its size, the
//! response buffer's, bounds them), not into the arena: an answer's size is
//! known only once read, a `GET /api/states` outgrows any arena, and reading
//! again into a larger buffer would send a service call twice.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

use lee_core::bridge::{Method, RestRequest, Transport};
use lee_core::cache::{Cache, EntrySlot};
use lee_core::guard::{Guarded, Refusal, Tally};
use lee_core::ha::STATES_KEY;
use lee_core::retry::{Effect, JitterSource, RetryPlan};
use lee_core::slots::Arena;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::cache::{AREA_KEY_PREFIX, AREA_TTL, STATE_TTL, state_of};
use super::check::error;
use super::{Failed, Filter, FromCache, Guard, HA_CLIENT, REFRESH_AT_MOST};
use super::{state_answer, state_key, states_in_cache};

/// Talks to Home Assistant for one op, each request a guarded call.
pub(crate) struct Client<'a, 's> {
    pub transport: &'a mut dyn Transport,
    pub breaker: &'a mut lee_core::breaker::Breaker,
    pub clock: &'a dyn lee_core::time::Clock,
    pub jitter: &'a mut dyn JitterSource,
    pub token: &'a str,
    /// The backoff and the event's deadline, shared by all its requests.
    pub plan: RetryPlan,
    pub connect_timeout: std::time::Duration,
    /// What the requests did, for metrics.
    pub tally: Tally,
    /// The op module's arena: where each request is written.
    pub arena: &'a mut Arena<'s>,
    /// Where Home Assistant's answer is read.
    pub buffer: &'a mut [u8],
}

/// Counts the bytes written to it: the size of a request before it is written.
struct Count(usize);

impl Write for Count {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The template body that lists an area's entities, written straight into
/// the request: `{"template": "{{ area_entities('<area>') | tojson }}"}`.
struct AreaTemplate<'a>(&'a str);

impl Serialize for AreaTemplate<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Text<'a>(&'a str);
        impl Serialize for Text<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // `area` holds no quote or brace (see `area_arg`): safe inside the template.
                serializer.collect_str(&format_args!(
                    "{{{{ area_entities('{}') | tojson }}}}",
                    self.0
                ))
            }
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("template", &Text(self.0))?;
        map.end()
    }
}

/// Write `path` then `body` (JSON) into `out`; `None` if `out` is too short.
fn write_request<B: Serialize + ?Sized>(
    mut out: impl Write,
    path: fmt::Arguments<'_>,
    body: Option<&B>,
) -> Option<()> {
    out.write_fmt(path).ok()?;
    match body {
        Some(body) => serde_json::to_writer(out, body).ok(),
        None => Some(()),
    }
}

impl Client<'_, '_> {
    /// `GET path`.
    fn get(&mut self, path: fmt::Arguments<'_>) -> Result<&[u8], Failed> {
        self.send::<Value>(Method::Get, path, None)
    }

    /// `POST path` with `body`.
    fn post<B: Serialize + ?Sized>(
        &mut self,
        path: fmt::Arguments<'_>,
        body: &B,
    ) -> Result<&[u8], Failed> {
        self.send(Method::Post, path, Some(body))
    }

    /// One request to Home Assistant through the core's guarded call: the
    /// breaker, the event's deadline, and retries where they are safe (reads:
    /// every `GET` and the template that resolves an area; a service call or
    /// Assist only when nothing was sent). The request is written into the
    /// arena's scratch, or on the heap when it does not fit there.
    fn send<B: Serialize + ?Sized>(
        &mut self,
        method: Method,
        path: fmt::Arguments<'_>,
        body: Option<&B>,
    ) -> Result<&[u8], Failed> {
        let unwritable = || Failed::Unexpected("the request could not be written");
        let mut path_len = Count(0);
        path_len.write_fmt(path).map_err(|_| unwritable())?;
        let mut len = Count(path_len.0);
        if let Some(body) = body {
            serde_json::to_writer(&mut len, body).map_err(|_| unwritable())?;
        }
        let mut heap = Vec::new();
        let written: &mut [u8] = match self.arena.scratch(len.0) {
            Ok(scratch) => scratch,
            Err(_) => {
                heap.resize(len.0, 0);
                &mut heap
            }
        };
        write_request(&mut *written, path, body).ok_or_else(unwritable)?;
        let (path, body) = written.split_at(path_len.0);
        let path = std::str::from_utf8(path).map_err(|_| unwritable())?;
        let request = RestRequest {
            method,
            path,
            token: Some(self.token),
            body,
        };
        let effect = match (method, path) {
            (Method::Get, _) | (Method::Post, "/api/template") => Effect::ReadOnly,
            (Method::Post, _) => Effect::SideEffect,
        };
        let buffer = &mut *self.buffer;
        let answer = Guarded {
            breaker: self.breaker,
            plan: self.plan,
            connect_timeout: self.connect_timeout,
            transport: self.transport,
            clock: self.clock,
            jitter: self.jitter,
        }
        .call(effect, &mut self.tally, |transport, timeouts| {
            transport.rest(&request, timeouts, buffer)
        })
        .map_err(|refusal| match refusal {
            Refusal::BreakerOpen { .. } => Failed::BreakerOpen,
            Refusal::DeadlinePassed => Failed::DeadlinePassed,
            Refusal::Failed(failure) => Failed::Transport(failure),
        })?;
        let text = &self.buffer[..answer.len];
        if (200..300).contains(&answer.status) {
            Ok(text)
        } else {
            let plain = String::from_utf8_lossy(text);
            let short = if plain.len() <= 200 && !plain.contains('<') {
                plain.trim().to_string()
            } else {
                String::new()
            };
            Err(Failed::Status(answer.status, short))
        }
    }

    /// `GET /api/`.
    pub fn health(&mut self) -> Result<String, Failed> {
        let body = self.get(format_args!("/api/"))?;
        let message: Value = serde_json::from_slice(body)
            .map_err(|_| Failed::Unexpected("GET /api/ did not answer JSON"))?;
        Ok(format!(
            r#"{{"ok":true,"op":"ha.health","reachable":true,"message":{}}}"#,
            message.get("message").cloned().unwrap_or(Value::Null)
        ))
    }

    /// `GET /api/states/<entity>`.
    pub fn state(&mut self, entity: &str) -> Result<String, Failed> {
        let body = self.get(format_args!("/api/states/{entity}"))?;
        let raw: &RawValue =
            serde_json::from_slice(body).map_err(|_| Failed::Unexpected("a state is not JSON"))?;
        if entity_id_of(raw).is_none() {
            return Err(Failed::Shape(format!(
                "GET /api/states/{entity} answered {}, not the state with an entity_id ha.state reads",
                seen(raw)
            )));
        }
        Ok(state_answer(raw.get()))
    }

    /// `ha.states` for `filter`: from the cache; reading the few states
    /// that are missing one by one ([`REFRESH_AT_MOST`]); or reading the
    /// whole batch.
    pub fn states_fresh<E, B>(
        &mut self,
        filter: &Filter,
        cache: &mut Cache<E, B>,
        now: lee_core::time::Instant,
    ) -> Result<String, Failed>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        match states_in_cache(filter, cache, now) {
            FromCache::Answer(answer) => return Ok(answer),
            FromCache::Missing(ids) if ids.len() <= REFRESH_AT_MOST => {
                for id in &ids {
                    let answer = self.state(id)?;
                    let _ = cache.insert(
                        state_key(id).as_bytes(),
                        HA_CLIENT,
                        answer.as_bytes(),
                        STATE_TTL,
                        now,
                    );
                }
                if let FromCache::Answer(answer) = states_in_cache(filter, cache, now) {
                    return Ok(answer);
                }
            }
            _ => {}
        }
        self.states(filter, cache, now)
    }

    /// `GET /api/states`: every state, each filed in the cache; the answer
    /// keeps those `filter` wants.
    pub fn states<E, B>(
        &mut self,
        filter: &Filter,
        cache: &mut Cache<E, B>,
        now: lee_core::time::Instant,
    ) -> Result<String, Failed>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        let body = self.get(format_args!("/api/states"))?;
        let all: &RawValue = serde_json::from_slice(body)
            .map_err(|_| Failed::Unexpected("GET /api/states did not answer JSON"))?;
        let states: Vec<&RawValue> = serde_json::from_str(all.get()).map_err(|_| {
            Failed::Shape(format!(
                "GET /api/states answered {}, not the list of states ha.states reads",
                seen(all)
            ))
        })?;
        let mut answer = String::from(r#"{"ok":true,"op":"ha.states","states":["#);
        let mut first = true;
        let mut ids = String::new();
        for (n, raw) in states.into_iter().enumerate() {
            let Some(head) = entity_id_of(raw) else {
                return Err(Failed::Shape(format!(
                    "GET /api/states answered {} as state {} of its list, not a state with an entity_id",
                    seen(raw),
                    n + 1
                )));
            };
            ids.push_str(&head.entity_id);
            ids.push('\n');
            // A state that does not fit the cache is still answered.
            let _ = cache.insert(
                state_key(&head.entity_id).as_bytes(),
                HA_CLIENT,
                state_answer(raw.get()).as_bytes(),
                STATE_TTL,
                now,
            );
            if filter.keeps(&head.entity_id) {
                if !first {
                    answer.push(',');
                }
                first = false;
                answer.push_str(raw.get());
            }
        }
        answer.push_str("]}");
        // The list goes in last: it is only useful once every state is filed.
        let _ = cache.insert(
            STATES_KEY.as_bytes(),
            HA_CLIENT,
            ids.as_bytes(),
            STATE_TTL,
            now,
        );
        Ok(answer)
    }

    /// Check `guard` against `entity`'s attributes (see [`Client::attributes`]).
    pub fn check_guard<E, B>(
        &mut self,
        guard: &Guard,
        entity: &str,
        cache: &mut Cache<E, B>,
        now: lee_core::time::Instant,
    ) -> Result<(), Failed>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        let attributes = self.attributes(entity, cache, now)?;
        guard.check(entity, &attributes).map_err(Failed::Limit)
    }

    /// Refuse `cover.<service>` (one that opens) when a cover among
    /// `targets` is a garage door, gate or door (its `device_class`, see
    /// [`crate::services`]).
    pub fn check_cover_opens<E, B>(
        &mut self,
        service: &str,
        targets: &[String],
        cache: &mut Cache<E, B>,
        now: lee_core::time::Instant,
    ) -> Result<(), Failed>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        for entity in targets.iter().filter(|e| e.starts_with("cover.")) {
            let attributes = self.attributes(entity, cache, now)?;
            if crate::services::opens_the_home(attributes["device_class"].as_str()) {
                tracing::warn!(
                    entity = entity.as_str(),
                    service,
                    "engine op refused: it would open a garage door, gate or door"
                );
                return Err(Failed::Rejected(error(
                    "service_not_allowed",
                    "entity_id",
                    "is a garage door, gate or door, which ops may not open: \
                     OPS_ALLOW_SERVICES lifts this for the service",
                )));
            }
        }
        Ok(())
    }

    /// `entity`'s attributes, read from the cache when fresh, else from Home
    /// Assistant (a read; nothing is called when what it says refuses the op).
    fn attributes<E, B>(
        &mut self,
        entity: &str,
        cache: &mut Cache<E, B>,
        now: lee_core::time::Instant,
    ) -> Result<Value, Failed>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        let cached = cache
            .get(state_key(entity).as_bytes(), now)
            .and_then(state_of)
            .map(<[u8]>::to_vec);
        let mut state: Value = match cached {
            Some(raw) => serde_json::from_slice(&raw)
                .map_err(|_| Failed::Unexpected("a cached state is not JSON"))?,
            None => {
                let answer: Value = serde_json::from_str(&self.state(entity)?)
                    .map_err(|_| Failed::Unexpected("a state is not JSON"))?;
                answer["state"].clone()
            }
        };
        Ok(state["attributes"].take())
    }

    /// The entity ids of `area`, from the cache ([`AREA_TTL`]) or from
    /// `POST /api/template` with `area_entities`. An area without entities
    /// (or one Home Assistant does not know) is refused.
    pub fn area_entities<E, B>(
        &mut self,
        area: &str,
        cache: &mut Cache<E, B>,
        now: lee_core::time::Instant,
    ) -> Result<Vec<String>, Failed>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        let key = format!("{AREA_KEY_PREFIX}{area}");
        let listed = match cache.get(key.as_bytes(), now) {
            Some(cached) => cached.to_vec(),
            None => self
                .post(format_args!("/api/template"), &AreaTemplate(area))?
                .to_vec(),
        };
        let entities: Vec<String> = serde_json::from_slice(&listed)
            .map_err(|_| Failed::Unexpected("area_entities did not answer a JSON list"))?;
        if entities.is_empty() {
            return Err(Failed::Rejected(error(
                "unknown_area",
                "area",
                "has no entities in Home Assistant (or does not exist)",
            )));
        }
        let _ = cache.insert(key.as_bytes(), HA_CLIENT, &listed, AREA_TTL, now);
        Ok(entities)
    }

    /// `POST /api/conversation/process`: Assist's speech and the conversation id.
    pub fn conversation(&mut self, body: &Map<String, Value>) -> Result<String, Failed> {
        let answer = self.post(format_args!("/api/conversation/process"), body)?;
        let v: Value = serde_json::from_slice(answer)
            .map_err(|_| Failed::Unexpected("Assist did not answer JSON"))?;
        let response = &v["response"];
        let speech = response["speech"]["plain"]["speech"]
            .as_str()
            .ok_or(Failed::Unexpected("Assist's answer has no speech"))?;
        Ok(serde_json::json!({
            "ok": true,
            "op": "ha.conversation",
            "speech": speech,
            "conversation_id": v["conversation_id"],
            "response_type": response["response_type"],
            "language": response["language"],
        })
        .to_string())
    }

    /// `POST /api/services/<domain>/<service>` with the targets and data.
    pub fn call_service(
        &mut self,
        domain: &str,
        service: &str,
        entities: &[String],
        data: &Map<String, Value>,
    ) -> Result<String, Failed> {
        let mut body = data.clone();
        if !entities.is_empty() {
            body.insert("entity_id".into(), Value::from(entities.to_vec()));
        }
        let answer = self.post(format_args!("/api/services/{domain}/{service}"), &body)?;
        let changed: &RawValue = serde_json::from_slice(answer)
            .map_err(|_| Failed::Unexpected("the service call did not answer JSON"))?;
        Ok(format!(
            r#"{{"ok":true,"op":"ha.call_service","changed":{}}}"#,
            changed.get()
        ))
    }
}

/// The entity ids Home Assistant says a service call changed.
pub(crate) fn changed_entities(answer: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        changed: Vec<Changed>,
    }
    #[derive(serde::Deserialize)]
    struct Changed {
        entity_id: String,
    }
    serde_json::from_slice::<Answer>(answer)
        .map(|a| a.changed.into_iter().map(|c| c.entity_id).collect())
        .unwrap_or_default()
}

/// The head of a state: its `entity_id`.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    entity_id: Cow<'a, str>,
}

/// The `entity_id` of a state, `None` when `raw` is not a state object with one.
fn entity_id_of(raw: &RawValue) -> Option<Head<'_>> {
    // serde reads a struct from a list too: a state is an object.
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Head<'_>>(raw.get())
        .ok()
        .filter(|head| !head.entity_id.is_empty())
}

/// What a value Home Assistant answered is, for a message: its JSON type,
/// and its first characters.
fn seen(raw: &RawValue) -> String {
    let text = raw.get();
    let kind = match text.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "true or false",
        Some(b'n') => "null",
        _ => "a number",
    };
    let start: String = text.chars().take(60).collect();
    let more = if start.len() < text.len() { "…" } else { "" };
    format!("{kind} ({start}{more})")
}
