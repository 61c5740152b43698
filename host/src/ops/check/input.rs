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
