//! Readers of single arguments shared by the op families: each gives the
//! argument in the form an op needs, or the [`OpError`] that names it.

use lee_core::ha::{EntityId, OpError};
use serde_json::{Map, Value};

/// The refusal of one argument: a stable `code`, the `field` and what is wrong.
pub(in crate::ops) fn error(
    code: &'static str,
    field: &'static str,
    message: &'static str,
) -> OpError {
    OpError {
        code,
        field,
        message,
    }
}

/// An optional string argument.
pub(super) fn string_arg<'a>(
    args: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, OpError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(error("wrong_type", field, "must be a string")),
    }
}

/// The optional `entity_ids` argument: 1 to 256 entity ids.
pub(super) fn entity_list(args: &Map<String, Value>) -> Result<Option<Vec<String>>, OpError> {
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

/// The `entity_id` argument, which must be in one of `domains`.
pub(super) fn target_of(args: &Map<String, Value>, domains: &[&str]) -> Result<String, OpError> {
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

/// The `area` argument: an area id or name. Only letters, digits, spaces,
/// `_` and `-`, so it can be written into a template without escaping.
pub(super) fn area_arg(args: &Map<String, Value>) -> Result<Option<String>, OpError> {
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

/// An optional object argument.
pub(super) fn object_arg(
    args: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Map<String, Value>>, OpError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(error("wrong_type", field, "must be an object")),
    }
}

/// A map of one entry.
pub(super) fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.to_string(), value);
    map
}
