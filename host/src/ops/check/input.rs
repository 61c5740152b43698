//! `ha.input.set`: Home Assistant's helpers (`input_boolean`,
//! `input_number`, `input_select`, `input_text`, `input_datetime`) set
//! through each one's own service, and the [`Guard`] that checks the value
//! against the helper's own limits before the call.

use lee_core::ha::OpError;
use serde_json::{Map, Value};

use super::Checked;
use super::args::{error, one, target_of};
use super::service_calls::call;

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

/// A value the helper's own limits refuse: a stable `code` and what the
/// limits are, for the `value` field.
#[derive(Debug, PartialEq)]
pub(crate) struct Limit {
    /// `out_of_range` or `unknown_option`.
    pub code: &'static str,
    /// The value, the entity and its limits, in words.
    pub message: String,
}

impl Guard {
    /// Check the guard against `entity`'s `attributes`.
    pub(crate) fn check(&self, entity: &str, attributes: &Value) -> Result<(), Limit> {
        let number = |name: &str| attributes.get(name).and_then(Value::as_f64);
        let (min, max) = (number("min"), number("max"));
        let within = |n: f64| min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max);
        let limits = || match (min, max) {
            (Some(min), Some(max)) => format!("from {min} to {max}"),
            (Some(min), None) => format!("at least {min}"),
            (None, Some(max)) => format!("at most {max}"),
            (None, None) => "any".to_string(),
        };
        match self {
            Guard::Range(value) if !within(*value) => Err(Limit {
                code: "out_of_range",
                message: format!(
                    "{value} is outside {entity}'s range, {} (its min and max)",
                    limits()
                ),
            }),
            Guard::TextLength(len) if !within(*len as f64) => Err(Limit {
                code: "out_of_range",
                message: format!(
                    "is {len} characters; {entity} takes {} characters (its min and max)",
                    limits()
                ),
            }),
            Guard::Option(value) => {
                let options: Vec<&str> = attributes
                    .get("options")
                    .and_then(Value::as_array)
                    .map(|o| o.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if options.contains(&value.as_str()) {
                    return Ok(());
                }
                let mut listed: Vec<String> =
                    options.iter().take(10).map(|o| format!("{o:?}")).collect();
                if options.len() > 10 {
                    listed.push(format!("and {} more", options.len() - 10));
                }
                let listed = if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join(", ")
                };
                Err(Limit {
                    code: "unknown_option",
                    message: format!(
                        "{value:?} is not one of {entity}'s options (they are case-sensitive): {listed}"
                    ),
                })
            }
            _ => Ok(()),
        }
    }
}

/// `ha.input.set`: the service and guard for the helper's domain.
pub(super) fn input_set<'a>(args: &'a Map<String, Value>) -> Result<Checked<'a>, OpError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guards_read_the_helpers_own_limits() {
        let number = json!({"min": 0.0, "max": 100.0, "step": 1.0});
        let check = |guard: Guard, attributes: &Value| guard.check("input_x.level", attributes);
        assert!(check(Guard::Range(100.0), &number).is_ok());
        let refused = check(Guard::Range(100.5), &number).unwrap_err();
        assert_eq!(refused.code, "out_of_range");
        assert_eq!(
            refused.message,
            "100.5 is outside input_x.level's range, from 0 to 100 (its min and max)"
        );
        assert_eq!(
            check(Guard::Range(-1.0), &number).unwrap_err().code,
            "out_of_range"
        );
        let select = json!({"options": ["Home", "Away"]});
        assert!(check(Guard::Option("Away".into()), &select).is_ok());
        let refused = check(Guard::Option("away".into()), &select).unwrap_err();
        assert_eq!(refused.code, "unknown_option");
        assert!(
            refused
                .message
                .ends_with(r#"options (they are case-sensitive): "Home", "Away""#),
            "{}",
            refused.message
        );
        assert!(
            check(Guard::Option("Home".into()), &json!({}))
                .unwrap_err()
                .message
                .ends_with(": none")
        );
        let text = json!({"min": 1, "max": 5});
        assert!(check(Guard::TextLength(5), &text).is_ok());
        assert_eq!(
            check(Guard::TextLength(6), &text).unwrap_err().message,
            "is 6 characters; input_x.level takes from 1 to 5 characters (its min and max)"
        );
        assert_eq!(
            check(Guard::TextLength(0), &text).unwrap_err().code,
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
