//! Engine ops: Home Assistant's REST API for people, scripts and automations.
//!
//! An engine op is an event `{"op": "<name>", ...arguments}`. It carries no
//! Alexa token: lee uses the configured Home Assistant token (`HA_TOKEN`, else
//! the Parameter Store parameter `HA_TOKEN_PARAMETER` (see [`crate::parameters`]),
//! else `LONG_LIVED_ACCESS_TOKEN`, or the stdio harness's `--token-file`). Every
//! argument is checked before any request (see [`lee_core::ha`]); a bad one
//! gets `{"ok": false, "error": {"code", "field", "message"}}` and never
//! reaches Home Assistant.
//!
//! | op | arguments | Home Assistant |
//! |---|---|---|
//! | `ha.health` | none | `GET /api/`, answer cached 30 s |
//! | `ha.states` | optional `entity_ids` (list), `domain` or `area` | one `GET /api/states`; every entity is filed in the cache |
//! | `ha.state` | `entity_id` | from the cache when fresh, else `GET /api/states/<entity_id>` |
//! | `ha.call_service` | `domain`, `service`, `entity_id` or `entity_ids` and/or `area`, optional `data` (object) | `POST /api/services/<domain>/<service>`, one request for every target; areas through `POST /api/template` (`area_entities`, cached) |
//! | `ha.scene.activate`, `ha.script.run` (`variables`) | `entity_id` in the op's domain | `scene.turn_on`, `script.turn_on` |
//! | `ha.automation.trigger` (`skip_condition`), `.enable`, `.disable` | `entity_id` | `automation.trigger`, `turn_on`, `turn_off` |
//! | `ha.input.set` | `entity_id` of a helper, `value` | the helper's service, within the limits its state gives ([`Guard`]) |
//! | `ha.notify` | `message`, optional `title`, `service`, `data` | `notify.<service>` |
//! | `ha.timer.start` (`duration`), `.pause`, `.cancel` | `entity_id` | `timer.start`, `pause`, `cancel` |
//! | `ha.conversation` | `text`, optional `conversation_id`, `language` | `POST /api/conversation/process` (Assist) |
//! | `ha.find` | `name`, optional `domain`, `limit` (1–20, default 5) | the cached states, else `GET /api/states`; scored by [`lee_core::ha::name_score`] |
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
use lee_core::ha::{
    EntityId, OpError, STATE_KEY_PREFIX, STATES_KEY, check_name, hms, parse_duration,
};
use lee_core::module::ModuleId;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// How long an entity's state is served from the cache.
pub const STATE_TTL: Duration = Duration::from_secs(5);

/// How long an area's entity list is reused.
pub const AREA_TTL: Duration = Duration::from_secs(60);

/// The cache key prefix of area entity lists.
pub const AREA_KEY_PREFIX: &str = "ha.area/";

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
    /// `ha.scene.activate`.
    SceneActivate,
    /// `ha.script.run`.
    ScriptRun,
    /// `ha.automation.trigger`.
    AutomationTrigger,
    /// `ha.automation.enable`.
    AutomationEnable,
    /// `ha.automation.disable`.
    AutomationDisable,
    /// `ha.input.set`.
    InputSet,
    /// `ha.notify`.
    Notify,
    /// `ha.timer.start`.
    TimerStart,
    /// `ha.timer.pause`.
    TimerPause,
    /// `ha.timer.cancel`.
    TimerCancel,
    /// `ha.conversation`.
    Conversation,
    /// `ha.find`.
    Find,
}

impl Op {
    /// Every op, with its name.
    pub const ALL: [(&'static str, Op); 16] = [
        ("ha.health", Op::Health),
        ("ha.states", Op::States),
        ("ha.state", Op::State),
        ("ha.call_service", Op::CallService),
        ("ha.scene.activate", Op::SceneActivate),
        ("ha.script.run", Op::ScriptRun),
        ("ha.automation.trigger", Op::AutomationTrigger),
        ("ha.automation.enable", Op::AutomationEnable),
        ("ha.automation.disable", Op::AutomationDisable),
        ("ha.input.set", Op::InputSet),
        ("ha.notify", Op::Notify),
        ("ha.timer.start", Op::TimerStart),
        ("ha.timer.pause", Op::TimerPause),
        ("ha.timer.cancel", Op::TimerCancel),
        ("ha.conversation", Op::Conversation),
        ("ha.find", Op::Find),
    ];

    /// Whether the op changes something (runs in the services module).
    pub fn writes(self) -> bool {
        !matches!(self, Op::Health | Op::States | Op::State | Op::Find)
    }

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
    /// `ha.states` of the entities in an area.
    StatesInArea {
        area: String,
    },
    CallService {
        domain: Cow<'a, str>,
        service: Cow<'a, str>,
        entities: Vec<String>,
        /// Targets every entity of this area too (resolved through HA's template API).
        area: Option<String>,
        data: Map<String, Value>,
        /// A limit read from the target's state before the call.
        guard: Option<Guard>,
    },
    /// The body of `POST /api/conversation/process`.
    Conversation(Map<String, Value>),
    /// `ha.find`: the name asked for, an optional domain, how many candidates.
    Find {
        name: String,
        filter: Filter,
        limit: usize,
    },
}

/// A check against the target entity's own limits (its state's attributes),
/// made before the service is called.
#[derive(Debug, PartialEq)]
pub(crate) enum Guard {
    /// `input_number`: the value must lie within `min..=max`.
    Range(f64),
    /// `input_select`: the value must be one of `options`.
    Option(String),
    /// `input_text`: the value's length must lie within `min..=max`.
    TextLength(usize),
}

impl Guard {
    /// Check the guard against the entity's `attributes`.
    pub(crate) fn check(&self, attributes: &Value) -> Result<(), OpError> {
        let number = |name: &str| attributes.get(name).and_then(Value::as_f64);
        let ok = match self {
            Guard::Range(value) => {
                number("min").is_none_or(|min| *value >= min)
                    && number("max").is_none_or(|max| *value <= max)
            }
            Guard::Option(value) => attributes
                .get("options")
                .and_then(Value::as_array)
                .is_some_and(|options| options.iter().any(|o| o.as_str() == Some(value))),
            Guard::TextLength(len) => {
                let len = *len as f64;
                number("min").is_none_or(|min| len >= min)
                    && number("max").is_none_or(|max| len <= max)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                Guard::Range(_) => error(
                    "out_of_range",
                    "value",
                    "is outside the entity's min and max",
                ),
                Guard::Option(_) => error(
                    "unknown_option",
                    "value",
                    "is not one of the entity's options",
                ),
                Guard::TextLength(_) => error(
                    "out_of_range",
                    "value",
                    "is shorter or longer than the entity allows",
                ),
            })
        }
    }
}

/// A service call on one entity of `domain`.
fn entity_service<'a>(
    args: &'a Map<String, Value>,
    domain: &'static str,
    service: &'static str,
    data: Map<String, Value>,
) -> Result<Checked<'a>, OpError> {
    let entity = target_of(args, &[domain])?;
    Ok(call(domain, service, vec![entity], data, None))
}

/// A call of `domain.service` on `entities` (no area).
fn call(
    domain: &'static str,
    service: &'static str,
    entities: Vec<String>,
    data: Map<String, Value>,
    guard: Option<Guard>,
) -> Checked<'static> {
    Checked::CallService {
        domain: Cow::Borrowed(domain),
        service: Cow::Borrowed(service),
        entities,
        area: None,
        data,
        guard,
    }
}

/// The `area` argument: an area id or name. Only letters, digits, spaces,
/// `_` and `-`, so it can be written into a template without escaping.
fn area_arg(args: &Map<String, Value>) -> Result<Option<String>, OpError> {
    let Some(area) = string_arg(args, "area")? else {
        return Ok(None);
    };
    let allowed = |c: char| c.is_alphanumeric() || c == ' ' || c == '_' || c == '-';
    if area.trim().is_empty() || area.chars().count() > 64 || !area.chars().all(allowed) {
        return Err(error(
            "invalid_area",
            "area",
            "an area is 1 to 64 letters, digits, spaces, _ or -",
        ));
    }
    Ok(Some(area.trim().to_string()))
}

/// The `entity_id` argument, which must be in one of `domains`.
fn target_of(args: &Map<String, Value>, domains: &[&str]) -> Result<String, OpError> {
    let id = string_arg(args, "entity_id")?.ok_or(error("missing", "entity_id", "is required"))?;
    let entity = EntityId::parse(id, "entity_id")?;
    if domains.contains(&entity.domain()) {
        Ok(entity.as_str().to_string())
    } else {
        Err(error(
            "wrong_domain",
            "entity_id",
            "belongs to a domain this op does not serve",
        ))
    }
}

fn object_arg(
    args: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Map<String, Value>>, OpError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(error("wrong_type", field, "must be an object")),
    }
}

fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.to_string(), value);
    map
}

/// `ha.input.set`: the service and guard for the helper's domain.
fn input_set<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
    let entity = target_of(
        args,
        &[
            "input_boolean",
            "input_number",
            "input_select",
            "input_text",
            "input_datetime",
        ],
    )?;
    let value = args
        .get("value")
        .ok_or(error("missing", "value", "is required"))?;
    let domain = entity.split_once('.').map_or("", |(d, _)| d);
    let (domain, service, data, guard): (
        &'static str,
        &'static str,
        Map<String, Value>,
        Option<Guard>,
    ) = match domain {
        "input_boolean" => match value {
            Value::Bool(true) => ("input_boolean", "turn_on", Map::new(), None),
            Value::Bool(false) => ("input_boolean", "turn_off", Map::new(), None),
            _ => {
                return Err(error(
                    "wrong_type",
                    "value",
                    "must be true or false for an input_boolean",
                ));
            }
        },
        "input_number" => {
            let n = value.as_f64().ok_or(error(
                "wrong_type",
                "value",
                "must be a number for an input_number",
            ))?;
            (
                "input_number",
                "set_value",
                one("value", n.into()),
                Some(Guard::Range(n)),
            )
        }
        "input_select" => {
            let option = value.as_str().ok_or(error(
                "wrong_type",
                "value",
                "must be a string for an input_select",
            ))?;
            (
                "input_select",
                "select_option",
                one("option", option.into()),
                Some(Guard::Option(option.to_string())),
            )
        }
        "input_text" => {
            let text = value.as_str().ok_or(error(
                "wrong_type",
                "value",
                "must be a string for an input_text",
            ))?;
            (
                "input_text",
                "set_value",
                one("value", text.into()),
                Some(Guard::TextLength(text.chars().count())),
            )
        }
        _ => {
            let text = value.as_str().ok_or(error(
                "wrong_type",
                "value",
                "must be a string for an input_datetime",
            ))?;
            (
                "input_datetime",
                "set_datetime",
                one(datetime_kind(text)?, text.into()),
                None,
            )
        }
    };
    Ok(call(domain, service, vec![entity], data, guard))
}

/// Which field of `input_datetime.set_datetime` a value fills:
/// `YYYY-MM-DD` → date, `HH:MM[:SS]` → time, `YYYY-MM-DD HH:MM:SS` → datetime.
fn datetime_kind(text: &str) -> Result<&'static str, OpError> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let is_date = |s: &str| {
        let p: Vec<&str> = s.split('-').collect();
        p.len() == 3 && digits(p[0], 4) && digits(p[1], 2) && digits(p[2], 2)
    };
    let is_time = |s: &str| {
        let p: Vec<&str> = s.split(':').collect();
        (p.len() == 2 || p.len() == 3) && p.iter().all(|x| digits(x, 2))
    };
    match text.split_once(' ') {
        None if is_date(text) => Ok("date"),
        None if is_time(text) => Ok("time"),
        Some((d, t)) if is_date(d) && is_time(t) => Ok("datetime"),
        _ => Err(error(
            "invalid_datetime",
            "value",
            "use YYYY-MM-DD, HH:MM:SS or YYYY-MM-DD HH:MM:SS",
        )),
    }
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
            if let Some(area) = area_arg(args)? {
                if args.contains_key("entity_ids") || args.contains_key("domain") {
                    return Err(error(
                        "conflicting_arguments",
                        "area",
                        "give one of entity_ids, domain or area",
                    ));
                }
                return Ok(Checked::StatesInArea { area });
            }
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
            let area = area_arg(args)?;
            let data = match args.get("data") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(data)) => {
                    if crate::services::TARGET_KEYS
                        .iter()
                        .any(|key| data.contains_key(*key))
                    {
                        return Err(error(
                            "conflicting_arguments",
                            "data",
                            "may not carry targets (entity_id, area_id, device_id, floor_id, \
                             label_id, target): put them in entity_id, entity_ids or area",
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
                area,
                data,
                guard: None,
            })
        }
        Op::SceneActivate => entity_service(args, "scene", "turn_on", Map::new()),
        Op::ScriptRun => {
            let data = object_arg(args, "variables")?
                .map(|v| one("variables", Value::Object(v)))
                .unwrap_or_default();
            entity_service(args, "script", "turn_on", data)
        }
        Op::AutomationTrigger => {
            let data = match args.get("skip_condition") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Bool(skip)) => one("skip_condition", (*skip).into()),
                Some(_) => {
                    return Err(error(
                        "wrong_type",
                        "skip_condition",
                        "must be true or false",
                    ));
                }
            };
            entity_service(args, "automation", "trigger", data)
        }
        Op::AutomationEnable => entity_service(args, "automation", "turn_on", Map::new()),
        Op::AutomationDisable => entity_service(args, "automation", "turn_off", Map::new()),
        Op::InputSet => input_set(args),
        Op::Notify => {
            let message = string_arg(args, "message")?
                .filter(|m| !m.trim().is_empty())
                .ok_or(error(
                    "missing",
                    "message",
                    "is required and may not be empty",
                ))?;
            let service = string_arg(args, "service")?.unwrap_or("notify");
            check_name(service, "service")?;
            let mut data = one("message", message.into());
            if let Some(title) = string_arg(args, "title")? {
                data.insert("title".into(), title.into());
            }
            if let Some(extra) = object_arg(args, "data")? {
                data.insert("data".into(), Value::Object(extra));
            }
            Ok(Checked::CallService {
                domain: Cow::Borrowed("notify"),
                service: Cow::Borrowed(service),
                entities: Vec::new(),
                area: None,
                data,
                guard: None,
            })
        }
        Op::TimerStart => {
            let data = match string_arg(args, "duration") {
                Ok(None) if args.get("duration").is_none_or(Value::is_null) => Map::new(),
                Ok(Some(text)) => one(
                    "duration",
                    hms(parse_duration(text, "duration")?).as_str().into(),
                ),
                _ => match args.get("duration").and_then(Value::as_u64) {
                    Some(secs) => {
                        let secs = u32::try_from(secs)
                            .ok()
                            .filter(|&s| s <= lee_core::ha::MAX_DURATION_SECS)
                            .ok_or(error(
                                "invalid_duration",
                                "duration",
                                "is longer than 100 days",
                            ))?;
                        one("duration", hms(secs).as_str().into())
                    }
                    None => {
                        return Err(error(
                            "wrong_type",
                            "duration",
                            "must be seconds or a text like 5m or 00:05:00",
                        ));
                    }
                },
            };
            entity_service(args, "timer", "start", data)
        }
        Op::Conversation => {
            let text = string_arg(args, "text")?
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(error("missing", "text", "is required and may not be empty"))?;
            if text.chars().count() > 1000 {
                return Err(error(
                    "too_long",
                    "text",
                    "may hold at most 1000 characters",
                ));
            }
            let mut body = one("text", text.into());
            if let Some(id) = string_arg(args, "conversation_id")? {
                if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
                    return Err(error(
                        "invalid_conversation_id",
                        "conversation_id",
                        "must be 1 to 128 printable characters",
                    ));
                }
                body.insert("conversation_id".into(), id.into());
            }
            if let Some(language) = string_arg(args, "language")? {
                let tag = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
                if !(2..=16).contains(&language.len()) || !language.bytes().all(tag) {
                    return Err(error(
                        "invalid_language",
                        "language",
                        "must be a language tag such as en or en-GB",
                    ));
                }
                body.insert("language".into(), language.into());
            }
            Ok(Checked::Conversation(body))
        }
        Op::Find => {
            let name = string_arg(args, "name")?
                .map(str::trim)
                .filter(|n| !n.is_empty() && n.len() <= 200)
                .ok_or(error("missing", "name", "is required: 1 to 200 characters"))?;
            let filter = match string_arg(args, "domain")? {
                Some(domain) => {
                    check_name(domain, "domain")?;
                    Filter::Domain(domain.to_string())
                }
                None => Filter::All,
            };
            let limit = match args.get("limit") {
                None | Some(Value::Null) => 5,
                Some(v) => v.as_u64().filter(|n| (1..=20).contains(n)).ok_or(error(
                    "out_of_range",
                    "limit",
                    "must be a whole number from 1 to 20",
                ))? as usize,
            };
            Ok(Checked::Find {
                name: name.to_string(),
                filter,
                limit,
            })
        }
        Op::TimerPause => entity_service(args, "timer", "pause", Map::new()),
        Op::TimerCancel => entity_service(args, "timer", "cancel", Map::new()),
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
    /// The target's own limits refuse the value; the service was not called.
    Rejected(OpError),
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
        guard.check(&attributes).map_err(Failed::Rejected)
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
            None => {
                // `area` holds no quote or brace (see `area_arg`): safe inside the template.
                let template = format!("{{{{ area_entities('{area}') | tojson }}}}");
                let body = serde_json::to_vec(&serde_json::json!({ "template": template }))
                    .map_err(|_| Failed::Unexpected("the template could not be written"))?;
                self.send(Method::Post, "/api/template", &body)?.to_vec()
            }
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
        let body = serde_json::to_vec(body)
            .map_err(|_| Failed::Unexpected("the text could not be written"))?;
        let answer = self.send(Method::Post, "/api/conversation/process", &body)?;
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

/// Candidates for a name below this score (of 1000) are not offered.
const FIND_THRESHOLD: u16 = 500;

/// `ha.find`'s answer from the `ha.states` answer `states`: the entities
/// whose friendly name (or object id) best matches `name`, best first.
pub(crate) fn find(
    states: &str,
    name: &str,
    filter: &Filter,
    limit: usize,
) -> Result<String, Failed> {
    let v: Value =
        serde_json::from_str(states).map_err(|_| Failed::Unexpected("the states are not JSON"))?;
    let mut candidates: Vec<(u16, &str, &str)> = v["states"]
        .as_array()
        .map(|s| s.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|state| {
            let id = state["entity_id"].as_str()?;
            if !filter.keeps(id) {
                return None;
            }
            let friendly = state["attributes"]["friendly_name"].as_str().unwrap_or("");
            let object = id.split_once('.').map_or(id, |(_, o)| o);
            let score = lee_core::ha::name_score(name, friendly)
                .max(lee_core::ha::name_score(name, object));
            (score >= FIND_THRESHOLD).then_some((score, id, friendly))
        })
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    candidates.truncate(limit);
    let list: Vec<Value> = candidates
        .iter()
        .map(|(score, id, friendly)| {
            serde_json::json!({"entity_id": id, "name": friendly, "score": f64::from(*score) / 1000.0})
        })
        .collect();
    Ok(serde_json::json!({
        "ok": true,
        "op": "ha.find",
        "best": list.first().cloned().unwrap_or(Value::Null),
        "candidates": list,
    })
    .to_string())
}

/// At most this many missing states are read one by one; more, and the
/// whole batch is read again.
pub(crate) const REFRESH_AT_MOST: usize = 4;

/// `ha.states` as the cache can answer it.
#[derive(Debug, PartialEq)]
pub(crate) enum FromCache {
    /// Every wanted state was fresh: the answer.
    Answer(String),
    /// The list of entities is fresh but these wanted states are not.
    Missing(Vec<String>),
    /// No fresh list of entities: read the batch.
    Nothing,
}

/// `ha.states` from the cache: the answer when every state `filter` wants
/// is fresh, else which are missing.
pub(crate) fn states_in_cache<E, B>(
    filter: &Filter,
    cache: &mut Cache<E, B>,
    now: lee_core::time::Instant,
) -> FromCache
where
    E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let Some(ids) = cache
        .get(STATES_KEY.as_bytes(), now)
        .and_then(|ids| String::from_utf8(ids.to_vec()).ok())
    else {
        return FromCache::Nothing;
    };
    let mut answer = String::from(r#"{"ok":true,"op":"ha.states","states":["#);
    let mut missing = Vec::new();
    for id in ids.lines().filter(|id| filter.keeps(id)) {
        match cache
            .get(state_key(id).as_bytes(), now)
            .and_then(state_of)
            .and_then(|raw| std::str::from_utf8(raw).ok())
        {
            Some(raw) if missing.is_empty() => {
                if !answer.ends_with('[') {
                    answer.push(',');
                }
                answer.push_str(raw);
            }
            Some(_) => {}
            None => missing.push(id.to_string()),
        }
    }
    if missing.is_empty() {
        answer.push_str("]}");
        FromCache::Answer(answer)
    } else {
        FromCache::Missing(missing)
    }
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
    /// The token could not be read from Parameter Store.
    TokenParameter(&'static str),
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
        Refused::Failed(Failed::Rejected(e)) => (e.code, e.field, e.message.to_string()),
        Refused::Failed(Failed::BreakerOpen) => (
            "unreachable",
            "",
            "Home Assistant failed repeatedly; lee waits before trying again".to_string(),
        ),
        Refused::TokenParameter(why) => ("token_parameter", "HA_TOKEN_PARAMETER", why.to_string()),
        Refused::NoToken => (
            "no_token",
            "HA_TOKEN",
            "engine ops need HA_TOKEN, HA_TOKEN_PARAMETER or LONG_LIVED_ACCESS_TOKEN (or --token-file)".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guards_read_the_helpers_own_limits() {
        let number = json!({"min": 0.0, "max": 100.0, "step": 1.0});
        assert!(Guard::Range(100.0).check(&number).is_ok());
        assert_eq!(
            Guard::Range(100.5).check(&number).unwrap_err().code,
            "out_of_range"
        );
        assert_eq!(
            Guard::Range(-1.0).check(&number).unwrap_err().code,
            "out_of_range"
        );
        let select = json!({"options": ["Home", "Away"]});
        assert!(Guard::Option("Away".into()).check(&select).is_ok());
        assert_eq!(
            Guard::Option("away".into())
                .check(&select)
                .unwrap_err()
                .code,
            "unknown_option"
        );
        assert_eq!(
            Guard::Option("Home".into())
                .check(&json!({}))
                .unwrap_err()
                .code,
            "unknown_option"
        );
        let text = json!({"min": 1, "max": 5});
        assert!(Guard::TextLength(5).check(&text).is_ok());
        assert_eq!(
            Guard::TextLength(6).check(&text).unwrap_err().field,
            "value"
        );
        assert_eq!(
            Guard::TextLength(0).check(&text).unwrap_err().code,
            "out_of_range"
        );
    }

    #[test]
    fn input_set_picks_the_service_of_each_helper() {
        let set = |entity: &str, value: Value| {
            let args = json!({"op": "ha.input.set", "entity_id": entity, "value": value});
            match input_set(args.as_object().unwrap()) {
                Ok(Checked::CallService {
                    domain,
                    service,
                    data,
                    guard,
                    ..
                }) => Ok((format!("{domain}.{service}"), Value::Object(data), guard)),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.code),
            }
        };
        let datetime = "input_datetime.set_datetime";
        let cases = [
            (
                "input_select.mode",
                json!("Away"),
                "input_select.select_option",
                json!({"option": "Away"}),
                Some(Guard::Option("Away".into())),
            ),
            (
                "input_text.note",
                json!("hi"),
                "input_text.set_value",
                json!({"value": "hi"}),
                Some(Guard::TextLength(2)),
            ),
            (
                "input_datetime.alarm",
                json!("07:30:00"),
                datetime,
                json!({"time": "07:30:00"}),
                None,
            ),
            (
                "input_datetime.day",
                json!("2026-12-24"),
                datetime,
                json!({"date": "2026-12-24"}),
                None,
            ),
            (
                "input_datetime.at",
                json!("2026-12-24 07:30:00"),
                datetime,
                json!({"datetime": "2026-12-24 07:30:00"}),
                None,
            ),
        ];
        for (entity, value, service, data, guard) in cases {
            assert_eq!(
                set(entity, value),
                Ok((service.to_string(), data, guard)),
                "{entity}"
            );
        }
        assert_eq!(
            set("input_datetime.at", json!("24/12/2026")),
            Err("invalid_datetime")
        );
        assert_eq!(set("input_boolean.flag", json!(1)), Err("wrong_type"));
        assert_eq!(set("input_select.mode", json!(3)), Err("wrong_type"));
    }
}
