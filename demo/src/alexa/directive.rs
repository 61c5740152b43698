//! What the demo reads of a directive: the envelope (`header`, `endpoint`,
//! `payload`, with Home Assistant's HTTP 500 for one it cannot read) and the
//! values in a payload, with Home Assistant's errors for a value missing,
//! of the wrong type or out of range.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::answer::{Fault, UNKNOWN_ERROR};

/// The parts of a directive the demo reads.
pub(super) struct Request<'a> {
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    /// Echoed when truthy, as Home Assistant does (`if token:`).
    pub(super) correlation: Option<&'a Value>,
    pub(super) endpoint: Option<&'a Map<String, Value>>,
    pub(super) payload: &'a Value,
}

impl<'a> Request<'a> {
    /// `None` where Home Assistant answers HTTP 500.
    pub(super) fn read(root: &'a Value) -> Option<Request<'a>> {
        let directive = root.get("directive")?.as_object()?;
        let header = directive.get("header")?.as_object()?;
        if header.get("payloadVersion")? != "3" {
            return None;
        }
        let endpoint = match directive.get("endpoint") {
            None => None,
            Some(endpoint) => Some(endpoint.as_object()?),
        };
        Some(Request {
            namespace: header.get("namespace")?.as_str()?,
            name: header.get("name")?.as_str()?,
            correlation: header.get("correlationToken").filter(|t| truthy(t)),
            endpoint,
            payload: directive.get("payload")?,
        })
    }
}

/// Python's truth value of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `payload[name]`, when the payload is an object that has it.
pub(super) fn field<'a>(payload: &'a Value, name: &str) -> Option<&'a Value> {
    payload.get(name)
}

/// `payload[name]`, a finite JSON number, truncated to a whole number and
/// within `range`: else [`Fault::out_of_range`] naming `what` and quoting
/// the value as sent, or, for no number at all, [`number`]'s fault.
pub(super) fn whole_number(
    payload: &Value,
    name: &str,
    range: RangeInclusive<f64>,
    what: &str,
) -> Result<f64, Fault> {
    let raw = field(payload, name);
    let value = number(raw)?.trunc();
    if !range.contains(&value) {
        return Err(Fault::out_of_range(what, raw.unwrap_or(&Value::Null)));
    }
    Ok(value)
}

/// A finite JSON number, or Home Assistant's answer to a handler that
/// failed on its payload.
pub(super) fn number(value: Option<&Value>) -> Result<f64, Fault> {
    value
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
        .ok_or_else(|| Fault::internal(UNKNOWN_ERROR))
}

/// An Alexa temperature object (`value`, `scale`) in °C; `interval` for a
/// difference (no offset between scales).
pub(super) fn temperature(object: Option<&Value>, interval: bool) -> Result<f64, Fault> {
    let value = number(object.and_then(|o| o.get("value")))?;
    let scale = object
        .and_then(|o| o.get("scale"))
        .and_then(Value::as_str)
        .ok_or_else(|| Fault::internal(UNKNOWN_ERROR))?;
    let celsius = match (scale, interval) {
        ("FAHRENHEIT", false) => (value - 32.0) * 5.0 / 9.0,
        ("FAHRENHEIT", true) => value * 5.0 / 9.0,
        ("KELVIN", false) => value - 273.15,
        _ => value,
    };
    Ok(celsius)
}
