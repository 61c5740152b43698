//! The answer to a directive: a handler's success ([`Reply`]) or its error
//! ([`Fault`], an `Alexa.ErrorResponse` with Home Assistant's error types and
//! messages), written as Home Assistant writes it: `event.header` with a
//! fresh `messageId` and the echoed `correlationToken`, `event.endpoint`
//! copied from the directive in Alexa's member order, and the `context`.

use std::borrow::Cow;

use lee_core::alexa::MessageId;
use lee_core::retry::SplitMix64;
use serde_json::Value;

use super::directive::Request;
use super::properties::{Property, context};
use crate::json::{J, float_text, obj, ordered};

/// Home Assistant's message for `INVALID_DIRECTIVE`.
const NOT_SUPPORTED: &str = "Entity does not support directive";

/// Home Assistant's message when a handler fails on a malformed payload.
pub(super) const UNKNOWN_ERROR: &str = "Unknown error";

/// A successful answer.
pub(super) struct Reply {
    namespace: &'static str,
    name: &'static str,
    payload: J,
    /// Properties the handler reports itself, with their new values.
    added: Vec<Property>,
    /// The endpoint's properties read before the change (directives with an
    /// endpoint only).
    pub(super) context: Option<Vec<Property>>,
}

impl Reply {
    pub(super) fn new(namespace: &'static str, name: &'static str, payload: J) -> Reply {
        Reply {
            namespace,
            name,
            payload,
            added: Vec::new(),
            context: None,
        }
    }

    /// An `Alexa.Response` with an empty payload.
    pub(super) fn response() -> Reply {
        Reply::new("Alexa", "Response", obj([]))
    }

    pub(super) fn adding(mut self, property: Property) -> Reply {
        self.added.push(property);
        self
    }
}

/// An `Alexa.ErrorResponse`.
#[derive(Debug)]
pub(super) struct Fault {
    namespace: &'static str,
    kind: &'static str,
    message: Cow<'static, str>,
}

impl Fault {
    pub(super) fn new(kind: &'static str, message: impl Into<Cow<'static, str>>) -> Fault {
        Fault {
            namespace: "Alexa",
            kind,
            message: message.into(),
        }
    }

    pub(super) fn internal(message: &'static str) -> Fault {
        Fault::new("INTERNAL_ERROR", message)
    }

    pub(super) fn unsupported() -> Fault {
        Fault::new("INVALID_DIRECTIVE", NOT_SUPPORTED)
    }

    pub(super) fn out_of_range(what: &str, value: &Value) -> Fault {
        Fault::new(
            "VALUE_OUT_OF_RANGE",
            format!("The requested {what} {value} is out of range"),
        )
    }

    pub(super) fn temperature_out_of_range(celsius: f64) -> Fault {
        Fault::new(
            "TEMPERATURE_VALUE_OUT_OF_RANGE",
            format!(
                "The requested temperature {} is out of range",
                float_text(celsius)
            ),
        )
    }

    /// `UNSUPPORTED_THERMOSTAT_MODE` for the mode as Alexa named it, in the
    /// thermostat's namespace (Home Assistant's `Alexa` fails the schema).
    pub(super) fn unsupported_thermostat_mode(requested: &str) -> Fault {
        // Home Assistant names its eco preset in lower case.
        let shown = if requested == "ECO" { "eco" } else { requested };
        Fault {
            namespace: "Alexa.ThermostatController",
            kind: "UNSUPPORTED_THERMOSTAT_MODE",
            message: format!("The requested thermostat mode {shown} is not supported").into(),
        }
    }

    /// The error's payload: `type` and `message` only.
    fn payload(self) -> J {
        obj([
            ("type", J::Static(self.kind)),
            ("message", J::Str(self.message.into_owned())),
        ])
    }
}

/// The JSON answer to `request`, with `message_id` in its header: Home
/// Assistant's member order.
pub(super) fn render(
    request: &Request<'_>,
    reply: Result<Reply, Fault>,
    now: &str,
    message_id: String,
) -> J {
    let (namespace, name, payload, context) = match reply {
        Ok(reply) => {
            let context = reply
                .context
                .map(|before| context(reply.added, before, now));
            (reply.namespace, reply.name, reply.payload, context)
        }
        Err(fault) => (fault.namespace, "ErrorResponse", fault.payload(), None),
    };
    let mut header = vec![
        ("namespace", J::Static(namespace)),
        ("name", J::Static(name)),
        ("messageId", J::Str(message_id)),
        ("payloadVersion", J::Static("3")),
    ];
    if let Some(token) = request.correlation {
        header.push(("correlationToken", J::Raw(token.clone())));
    }
    let mut event = vec![("header", J::from(header)), ("payload", payload)];
    if let Some(endpoint) = request.endpoint {
        event.push((
            "endpoint",
            ordered(endpoint, &["scope", "endpointId", "cookie"]),
        ));
    }
    let mut root = vec![("event", J::from(event))];
    if let Some(context) = context {
        root.push(("context", context));
    }
    J::from(root)
}

/// A fresh UUID v4 from the generator, written by the core's [`MessageId`]
/// as lee writes its own messageIds.
pub(super) fn message_id(ids: &mut SplitMix64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&ids.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&ids.next_u64().to_le_bytes());
    MessageId::from_random(bytes).as_str().to_string()
}
