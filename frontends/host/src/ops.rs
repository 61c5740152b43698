//! Engine ops: Home Assistant's REST API for people, scripts and automations.
//!
//! An engine op is an event `{"op": "<name>", ...arguments}`. It carries no
//! Alexa token: lee uses the configured Home Assistant token (`HA_TOKEN`, else
//! `LONG_LIVED_ACCESS_TOKEN`, or the stdio harness's `--token-file`). Every
//! argument is checked before any request (see [`lee_core::ha`]); a bad one
//! gets `{"ok": false, "error": {"code", "field", "message"}}` and never
//! reaches Home Assistant.
//!
//! | op | arguments | Home Assistant |
//! |---|---|---|
//! | `ha.health` | none | `GET /api/`, answer cached 30 s |
//! | `ha.states` | optional `entity_ids` (list) or `domain` | one `GET /api/states`; every entity is filed in the cache |
//! | `ha.state` | `entity_id` | from the cache when fresh, else `GET /api/states/<entity_id>` |
//! | `ha.call_service` | `domain`, `service`, `entity_id` or `entity_ids`, optional `data` (object) | `POST /api/services/<domain>/<service>`, one request for every target |
//!
//! Caching: each entity's state is filed under `ha.state/<entity_id>` for
//! [`STATE_TTL`], tagged with the HA client module. `ha.state` is answered
//! from there by the gateway without loading any module; `ha.call_service`
//! invalidates exactly the states of the entities it targeted.
//!
//! Modules (LUGS): the HA client (`ha.health`, `ha.states`, `ha.state`) stays
//! loaded while used and is reclaimed after 30 s idle (`TimeBased`);
//! services are a feature module, reclaimed after each call (`Immediate`).

use std::borrow::Cow;
use std::time::Duration;

use lee_core::bridge::{Method, RestRequest, Timeouts, Transport};
use lee_core::cache::{Cache, EntrySlot};
use lee_core::ha::{EntityId, OpError, STATE_KEY_PREFIX, STATES_KEY, check_name};
use lee_core::module::ModuleId;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// How long an entity's state is served from the cache.
pub const STATE_TTL: Duration = Duration::from_secs(5);

/// How long `ha.health`'s answer is reused.
pub const HEALTH_TTL: Duration = Duration::from_secs(30);

/// The HA client module: reads (health, states).
pub(crate) const HA_CLIENT: ModuleId = ModuleId(2);
/// The services module: writes.
pub(crate) const HA_SERVICES: ModuleId = ModuleId(3);

/// The engine ops lee knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ha.health`.
    Health,
    /// `ha.states`.
    States,
    /// `ha.state`.
    State,
    /// `ha.call_service`.
    CallService,
}

impl Op {
    /// Every op, with its name.
    pub const ALL: [(&'static str, Op); 4] = [
        ("ha.health", Op::Health),
        ("ha.states", Op::States),
        ("ha.state", Op::State),
        ("ha.call_service", Op::CallService),
    ];

    /// The op called `name`.
    pub fn named(name: &str) -> Option<Op> {
        Op::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }
}

/// An op's arguments, checked.
#[derive(Debug)]
pub(crate) enum Checked<'a> {
    Health,
    States {
        filter: Filter,
    },
    State {
        entity: String,
    },
    CallService {
        domain: Cow<'a, str>,
        service: Cow<'a, str>,
        entities: Vec<String>,
        data: Map<String, Value>,
    },
}

/// Which entities `ha.states` returns.
#[derive(Debug)]
pub(crate) enum Filter {
    All,
    Domain(String),
    Entities(Vec<String>),
}

impl Filter {
    fn keeps(&self, entity_id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Domain(domain) => entity_id.split_once('.').is_some_and(|(d, _)| d == domain),
            Filter::Entities(ids) => ids.iter().any(|id| id == entity_id),
        }
    }
}

fn error(code: &'static str, field: &'static str, message: &'static str) -> OpError {
    OpError {
        code,
        field,
        message,
    }
}

fn string_arg<'a>(
    args: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, OpError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(error("wrong_type", field, "must be a string")),
    }
}

fn entity_list(args: &Map<String, Value>) -> Result<Option<Vec<String>>, OpError> {
    match args.get("entity_ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > 256 {
                return Err(error(
                    "wrong_size",
                    "entity_ids",
                    "must list 1 to 256 entity ids",
                ));
            }
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => {
                        EntityId::parse(s, "entity_ids").map(|e| e.as_str().to_string())
                    }
                    _ => Err(error(
                        "wrong_type",
                        "entity_ids",
                        "must be a list of strings",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(_) => Err(error(
            "wrong_type",
            "entity_ids",
            "must be a list of strings",
        )),
    }
}

/// Check an op's arguments; nothing is sent when this fails.
pub(crate) fn check<'a>(op: Op, args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
    match op {
        Op::Health => Ok(Checked::Health),
        Op::States => {
            let filter = match (entity_list(args)?, string_arg(args, "domain")?) {
                (Some(_), Some(_)) => {
                    return Err(error(
                        "conflicting_arguments",
                        "domain",
                        "give entity_ids or domain, not both",
                    ));
                }
                (Some(ids), None) => Filter::Entities(ids),
                (None, Some(domain)) => {
                    check_name(domain, "domain")?;
                    Filter::Domain(domain.to_string())
                }
                (None, None) => Filter::All,
            };
            Ok(Checked::States { filter })
        }
        Op::State => {
            let id = string_arg(args, "entity_id")?.ok_or(error(
                "missing",
                "entity_id",
                "is required",
            ))?;
            Ok(Checked::State {
                entity: EntityId::parse(id, "entity_id")?.as_str().to_string(),
            })
        }
        Op::CallService => {
            let domain =
                string_arg(args, "domain")?.ok_or(error("missing", "domain", "is required"))?;
            check_name(domain, "domain")?;
            let service =
                string_arg(args, "service")?.ok_or(error("missing", "service", "is required"))?;
            check_name(service, "service")?;
            let entities = match (string_arg(args, "entity_id")?, entity_list(args)?) {
                (Some(_), Some(_)) => {
                    return Err(error(
                        "conflicting_arguments",
                        "entity_ids",
                        "give entity_id or entity_ids, not both",
                    ));
                }
                (Some(id), None) => vec![EntityId::parse(id, "entity_id")?.as_str().to_string()],
                (None, Some(ids)) => ids,
                (None, None) => Vec::new(),
            };
            let data = match args.get("data") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(data)) => {
                    if data.contains_key("entity_id") {
                        return Err(error(
                            "conflicting_arguments",
                            "data",
                            "put targets in entity_id or entity_ids, not in data",
                        ));
                    }
                    data.clone()
                }
                Some(_) => return Err(error("wrong_type", "data", "must be an object")),
            };
            Ok(Checked::CallService {
                domain: Cow::Borrowed(domain),
                service: Cow::Borrowed(service),
                entities,
                data,
            })
        }
    }
}

/// The cache key of an entity's state.
pub(crate) fn state_key(entity: &str) -> String {
    format!("{STATE_KEY_PREFIX}{entity}")
}

/// The answer filed for `ha.state`: `{"ok":true,"op":"ha.state","state":<raw>}`.
pub(crate) fn state_answer(raw: &str) -> String {
    format!(r#"{{"ok":true,"op":"ha.state","state":{raw}}}"#)
}

/// The raw state inside a filed `ha.state` answer.
fn state_of(answer: &[u8]) -> Option<&[u8]> {
    let prefix = br#"{"ok":true,"op":"ha.state","state":"#;
    answer.strip_prefix(&prefix[..])?.strip_suffix(b"}")
}

/// Talks to Home Assistant for one op, through the breaker of its base URL.
pub(crate) struct Client<'a> {
    pub transport: &'a mut dyn Transport,
    pub breaker: &'a mut lee_core::breaker::Breaker,
    pub clock: &'a dyn lee_core::time::Clock,
    pub token: &'a str,
    pub timeouts: Timeouts,
    /// Where Home Assistant's answer is read.
    pub buffer: &'a mut [u8],
}

/// Why an op failed after its arguments were accepted.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Home Assistant could not be reached, or its answer could not be read.
    Transport(lee_core::retry::Failure),
    /// Home Assistant answered this status (with its text, when short and plain).
    Status(u16, String),
    /// Home Assistant's answer was not the JSON it should be.
    Unexpected(&'static str),
    /// The breaker is open: Home Assistant failed repeatedly, no request was made.
    BreakerOpen,
}

impl Client<'_> {
    fn send(&mut self, method: Method, path: &str, body: &[u8]) -> Result<&[u8], Failed> {
        let request = RestRequest {
            method,
            path,
            token: Some(self.token),
            body,
        };
        let permit = self
            .breaker
            .try_acquire(self.clock.now())
            .map_err(|_| Failed::BreakerOpen)?;
        let sent = self.transport.rest(&request, self.timeouts, self.buffer);
        let now = self.clock.now();
        match sent {
            Ok(a) if lee_core::retry::is_transient_status(a.status) => {
                self.breaker.record_failure(permit, now)
            }
            Ok(_) => self.breaker.record_success(permit, now),
            Err(_) => self.breaker.record_failure(permit, now),
        }
        let answer = sent.map_err(Failed::Transport)?;
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
        let body = self.send(Method::Get, "/api/", b"")?;
        let message: Value = serde_json::from_slice(body)
            .map_err(|_| Failed::Unexpected("GET /api/ did not answer JSON"))?;
        Ok(format!(
            r#"{{"ok":true,"op":"ha.health","reachable":true,"message":{}}}"#,
            message.get("message").cloned().unwrap_or(Value::Null)
        ))
    }

    /// `GET /api/states/<entity>`.
    pub fn state(&mut self, entity: &str) -> Result<String, Failed> {
        let body = self.send(Method::Get, &format!("/api/states/{entity}"), b"")?;
        let raw: &RawValue =
            serde_json::from_slice(body).map_err(|_| Failed::Unexpected("a state is not JSON"))?;
        Ok(state_answer(raw.get()))
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
        let body = self.send(Method::Get, "/api/states", b"")?;
        let states: Vec<&RawValue> = serde_json::from_slice(body)
            .map_err(|_| Failed::Unexpected("GET /api/states did not answer a JSON list"))?;
        let mut answer = String::from(r#"{"ok":true,"op":"ha.states","states":["#);
        let mut first = true;
        let mut ids = String::new();
        for raw in states {
            #[derive(serde::Deserialize)]
            struct Head<'a> {
                #[serde(borrow)]
                entity_id: Cow<'a, str>,
            }
            let Ok(head) = serde_json::from_str::<Head<'_>>(raw.get()) else {
                continue;
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
        let body = serde_json::to_vec(&body)
            .map_err(|_| Failed::Unexpected("the service data could not be written"))?;
        let answer = self.send(
            Method::Post,
            &format!("/api/services/{domain}/{service}"),
            &body,
        )?;
        let changed: &RawValue = serde_json::from_slice(answer)
            .map_err(|_| Failed::Unexpected("the service call did not answer JSON"))?;
        Ok(format!(
            r#"{{"ok":true,"op":"ha.call_service","changed":{}}}"#,
            changed.get()
        ))
    }
}

/// `ha.states` from the cache alone, when the last batch's list of entities
/// and every state `filter` wants are still fresh there.
pub(crate) fn states_from_cache<E, B>(
    filter: &Filter,
    cache: &mut Cache<E, B>,
    now: lee_core::time::Instant,
) -> Option<String>
where
    E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let ids = String::from_utf8(cache.get(STATES_KEY.as_bytes(), now)?.to_vec()).ok()?;
    let mut answer = String::from(r#"{"ok":true,"op":"ha.states","states":["#);
    let mut first = true;
    for id in ids.lines().filter(|id| filter.keeps(id)) {
        let raw = state_of(cache.get(state_key(id).as_bytes(), now)?)?;
        if !first {
            answer.push(',');
        }
        first = false;
        answer.push_str(std::str::from_utf8(raw).ok()?);
    }
    answer.push_str("]}");
    Some(answer)
}

/// Why an op answered an error.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Its arguments.
    Bad(OpError),
    /// Home Assistant's side.
    Failed(Failed),
    /// No token for ops is configured.
    NoToken,
    /// No Home Assistant address is configured.
    NotConfigured,
    /// The engine could not run the op's module.
    Engine,
}

/// The error answer for an op: `{"ok":false,"op":..,"error":{"code","field","message"}}`.
pub(crate) fn error_answer(op: &str, refused: &Refused) -> Value {
    let (code, field, message): (&str, &str, String) = match refused {
        Refused::Bad(e) => (e.code, e.field, e.message.to_string()),
        Refused::Failed(Failed::Transport(f)) => (
            "unreachable",
            "",
            format!("Home Assistant could not be reached: {f}"),
        ),
        Refused::Failed(Failed::Status(401 | 403, _)) => (
            "unauthorized",
            "HA_TOKEN",
            "Home Assistant refused the token".to_string(),
        ),
        Refused::Failed(Failed::Status(404, _)) => (
            "not_found",
            "",
            "Home Assistant has no such entity or service".to_string(),
        ),
        Refused::Failed(Failed::Status(status, text)) => (
            "ha_error",
            "",
            format!("Home Assistant answered HTTP {status} {text}")
                .trim()
                .to_string(),
        ),
        Refused::Failed(Failed::Unexpected(what)) => ("unexpected_answer", "", what.to_string()),
        Refused::Failed(Failed::BreakerOpen) => (
            "unreachable",
            "",
            "Home Assistant failed repeatedly; lee waits before trying again".to_string(),
        ),
        Refused::NoToken => (
            "no_token",
            "HA_TOKEN",
            "engine ops need HA_TOKEN or LONG_LIVED_ACCESS_TOKEN (or --token-file)".to_string(),
        ),
        Refused::NotConfigured => (
            "not_configured",
            "BASE_URL",
            "no Home Assistant address is configured".to_string(),
        ),
        Refused::Engine => (
            "engine",
            "",
            "lee could not give the op working memory".to_string(),
        ),
    };
    serde_json::json!({ "ok": false, "op": op, "error": { "code": code, "field": field, "message": message } })
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
