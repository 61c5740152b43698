//! The reads' arguments: `ha.states` (entity ids, a domain or an area),
//! `ha.state` and `ha.find`. `ha.health` takes none.

use lee_core::ha::{EntityId, OpError, check_name};
use serde_json::{Map, Value};

use super::args::{area_arg, entity_list, error, string_arg};
use super::{Checked, Filter};

/// `ha.states`: every state, those of `entity_ids` or a `domain`, or those of an `area`.
pub(super) fn states(args: &Map<String, Value>) -> Result<Checked<'static>, OpError> {
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

/// `ha.state`: one `entity_id`.
pub(super) fn state(args: &Map<String, Value>) -> Result<Checked<'static>, OpError> {
    let id = string_arg(args, "entity_id")?.ok_or(error("missing", "entity_id", "is required"))?;
    Ok(Checked::State {
        entity: EntityId::parse(id, "entity_id")?.as_str().to_string(),
    })
}

/// `ha.find`: the `name` asked for, an optional `domain`, how many candidates (`limit`).
pub(super) fn find(args: &Map<String, Value>) -> Result<Checked<'static>, OpError> {
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
