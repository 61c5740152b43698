//! The service calls' arguments: `ha.call_service` (any service, on entity
//! ids and/or an area, with data that may not carry targets) and the ops
//! that call one service of one domain (scene, script, automation, timer,
//! notify). Which services ops may call at all is decided in
//! [`crate::services`].

use std::borrow::Cow;

use lee_core::ha::{EntityId, OpError, check_name, hms, parse_duration};
use serde_json::{Map, Value};

use super::args::{area_arg, entity_list, error, object_arg, one, string_arg, target_of};
use super::{Checked, Guard};

/// A service call on one entity of `domain`.
pub(super) fn entity_service<'a>(
    args: &'a Map<String, Value>,
    domain: &'static str,
    service: &'static str,
    data: Map<String, Value>,
) -> Result<Checked<'a>, OpError> {
    let entity = target_of(args, &[domain])?;
    Ok(call(domain, service, vec![entity], data, None))
}

/// A call of `domain.service` on `entities` (no area).
pub(super) fn call(
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

/// `ha.call_service`: `domain`, `service`, the targets and `data`.
pub(super) fn call_service<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
    let domain = string_arg(args, "domain")?.ok_or(error("missing", "domain", "is required"))?;
    check_name(domain, "domain")?;
    let service = string_arg(args, "service")?.ok_or(error("missing", "service", "is required"))?;
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

/// `ha.script.run`: the script and its optional `variables`.
pub(super) fn script_run<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
    let data = object_arg(args, "variables")?
        .map(|v| one("variables", Value::Object(v)))
        .unwrap_or_default();
    entity_service(args, "script", "turn_on", data)
}

/// `ha.automation.trigger`: the automation and an optional `skip_condition`.
pub(super) fn automation_trigger<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
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

/// `ha.notify`: `message`, optional `title`, `service` (default `notify`) and `data`.
pub(super) fn notify<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
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

/// `ha.timer.start`: the timer and an optional `duration` (seconds, or a text like 5m or 00:05:00).
pub(super) fn timer_start<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
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
