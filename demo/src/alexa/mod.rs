//! The Alexa Smart Home API, as Home Assistant answers `POST
//! /api/alexa/smart_home`: the HTTP answer (401 for no token, 500 for a body
//! that is not a directive, else 200 and an Alexa event), and the routing of
//! a directive to its handler in Home Assistant's order: the endpoint is
//! looked up first, then Discovery, AcceptGrant and ReportState are answered
//! here and every other directive goes to the endpoint's device.
//!
//! The parts: [`directive`] reads the request, [`control`] changes a
//! device's state, [`discovery`] describes the endpoints, [`properties`]
//! reports a device's state, and [`answer`] writes the answer or the error.

mod answer;
mod control;
mod directive;
mod discovery;
mod properties;

use serde_json::{Map, Value};

use crate::json::obj;
use crate::{DemoHome, UNAUTHORIZED};
use answer::{Fault, Reply, UNKNOWN_ERROR};
use directive::{Request, field};

/// Home Assistant's answer to a body it cannot read as a directive.
const SERVER_ERROR: &[u8] = b"500 Internal Server Error\n\nServer got itself in trouble";

impl DemoHome {
    /// Home Assistant's answer to `event` posted with bearer `token`: the
    /// HTTP status and the body.
    pub(crate) fn respond(&mut self, event: &[u8], token: &str) -> (u16, Vec<u8>) {
        if token.is_empty() {
            return (401, UNAUTHORIZED.to_vec());
        }
        let Ok(root) = serde_json::from_slice::<Value>(event) else {
            return (500, SERVER_ERROR.to_vec());
        };
        let Some(request) = Request::read(&root) else {
            return (500, SERVER_ERROR.to_vec());
        };
        let now = self.now();
        let reply = self.dispatch(&request, &now);
        let answer = answer::render(&request, reply, &now, answer::message_id(&mut self.ids));
        let mut body = Vec::with_capacity(1024);
        answer.write(&mut body);
        (200, body)
    }

    /// Find the endpoint, then run the directive's handler, in Home
    /// Assistant's order (an unknown endpoint wins over an unknown
    /// directive); a success carries the endpoint's state from before.
    fn dispatch(&mut self, request: &Request<'_>, now: &str) -> Result<Reply, Fault> {
        let target = self.target(request.endpoint)?;
        let before = target.map(|i| self.endpoints[i].device.properties());
        let mut reply = self.handle(request, target, now)?;
        reply.context = before;
        Ok(reply)
    }

    /// The index of the directive's endpoint, `None` for a directive
    /// without one; `NO_SUCH_ENDPOINT` for an id the home does not have.
    fn target(&self, endpoint: Option<&Map<String, Value>>) -> Result<Option<usize>, Fault> {
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        let Some(id) = endpoint.get("endpointId").and_then(Value::as_str) else {
            return Err(Fault::internal(UNKNOWN_ERROR));
        };
        // Home Assistant turns the id into an entity id by replacing '#' with '.'.
        let entity = id.replace('#', ".");
        let found = self
            .endpoints
            .iter()
            .position(|e| e.id.replace('#', ".") == entity);
        match found {
            Some(index) => Ok(Some(index)),
            None => Err(Fault::new(
                "NO_SUCH_ENDPOINT",
                format!("The endpoint {id} does not exist"),
            )),
        }
    }

    /// Run the directive's handler against the endpoint at `target`.
    fn handle(
        &mut self,
        request: &Request<'_>,
        target: Option<usize>,
        now: &str,
    ) -> Result<Reply, Fault> {
        match (request.namespace, request.name) {
            ("Alexa.Discovery", "Discover") => Ok(discovery::discover(&self.endpoints)),
            ("Alexa.Authorization", "AcceptGrant") => accept_grant(request.payload),
            ("Alexa", "ReportState") => Ok(Reply::new("Alexa", "StateReport", obj([]))),
            (namespace, name) => match target {
                Some(i) => self.endpoints[i]
                    .device
                    .control(namespace, name, request.payload, now),
                // Home Assistant's handlers fail on a missing endpoint; a
                // directive it has no handler for is unsupported anyway.
                None if control::is_known(namespace, name) => Err(Fault::internal(UNKNOWN_ERROR)),
                None => Err(Fault::unsupported()),
            },
        }
    }
}

/// `Alexa.Authorization` `AcceptGrant`: accepted when the payload has a
/// grant with a code (the demo has no tokens to fetch with it).
fn accept_grant(payload: &Value) -> Result<Reply, Fault> {
    if field(payload, "grant")
        .and_then(|g| g.get("code"))
        .is_none()
    {
        return Err(Fault::internal(UNKNOWN_ERROR));
    }
    Ok(Reply::new(
        "Alexa.Authorization",
        "AcceptGrant.Response",
        obj([]),
    ))
}

#[cfg(test)]
mod tests {
    //! The property-based tests of the Alexa API's answers; the examples,
    //! through [`Transport`] and through the bridge, are in
    //! `tests/tests/demo_home.rs`.

    use super::*;
    use crate::ENDPOINT_IDS;
    use lee_core::bridge::{Timeouts, Transport};
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: &str = "2024-03-23T12:00:00Z";

    fn home() -> DemoHome {
        DemoHome::with_clock(7, || NOW.to_string())
    }

    const TIMEOUTS: Timeouts = Timeouts {
        connect: std::time::Duration::from_secs(2),
        total: std::time::Duration::from_secs(7),
    };

    /// A directive built from arbitrary parts: known and unknown
    /// interfaces, endpoints and payload values.
    fn arbitrary_directive() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-zA-Z0-9 #.]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("CELSIUS"),
                Just("FAHRENHEIT"),
                Just("KELVIN"),
                Just("HEAT"),
                Just("ECO")
            ]
            .prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("value".to_string()),
                        Just("scale".to_string()),
                        Just("hue".to_string()),
                        Just("saturation".to_string()),
                        Just("brightness".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let namespace = prop_oneof![
            Just("Alexa"),
            Just("Alexa.Discovery"),
            Just("Alexa.Authorization"),
            Just("Alexa.PowerController"),
            Just("Alexa.BrightnessController"),
            Just("Alexa.ColorController"),
            Just("Alexa.ColorTemperatureController"),
            Just("Alexa.ThermostatController"),
            Just("Alexa.LockController"),
            Just("Alexa.SceneController"),
            Just("Alexa.Nothing"),
        ];
        let name = prop_oneof![
            Just("Discover"),
            Just("AcceptGrant"),
            Just("ReportState"),
            Just("TurnOn"),
            Just("TurnOff"),
            Just("SetBrightness"),
            Just("AdjustBrightness"),
            Just("SetColor"),
            Just("SetColorTemperature"),
            Just("IncreaseColorTemperature"),
            Just("DecreaseColorTemperature"),
            Just("SetTargetTemperature"),
            Just("AdjustTargetTemperature"),
            Just("SetThermostatMode"),
            Just("Lock"),
            Just("Unlock"),
            Just("Activate"),
            Just("Deactivate"),
        ];
        let endpoint = prop_oneof![
            Just(None),
            prop::sample::select(ENDPOINT_IDS.to_vec()).prop_map(Some),
            Just(Some("light#attic")),
        ];
        let payload_key = prop_oneof![
            Just("brightness"),
            Just("brightnessDelta"),
            Just("color"),
            Just("colorTemperatureInKelvin"),
            Just("targetSetpoint"),
            Just("targetSetpointDelta"),
            Just("thermostatMode"),
            Just("grant"),
        ];
        (namespace, name, endpoint, payload_key, value.clone(), value).prop_map(
            |(namespace, name, endpoint, key, v, correlation)| {
                let mut header =
                    json!({"namespace": namespace, "name": name, "payloadVersion": "3"});
                header["correlationToken"] = correlation;
                let mut d = json!({"header": header, "payload": {key: v}});
                if let Some(id) = endpoint {
                    d["endpoint"] =
                        json!({"endpointId": id, "scope": {"type": "BearerToken", "token": "t"}});
                }
                serde_json::to_vec(&json!({ "directive": d })).unwrap()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes get an HTTP answer, never a panic.
        #[test]
        fn arbitrary_bytes_get_an_http_status(event in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut home = home();
            let mut body = vec![0u8; 64 * 1024];
            let answer = home.post_directive(&event, "t", TIMEOUTS, &mut body).unwrap();
            prop_assert!(matches!(answer.status, 200 | 500));
        }

        /// Arbitrary directives get HTTP 200 and one JSON object with an
        /// `event` whose header is Home Assistant's.
        #[test]
        fn arbitrary_directives_get_an_alexa_answer(events in prop::collection::vec(arbitrary_directive(), 1..8)) {
            let mut home = home();
            let mut body = vec![0u8; 64 * 1024];
            for event in events {
                let answer = home.post_directive(&event, "t", TIMEOUTS, &mut body).unwrap();
                prop_assert_eq!(answer.status, 200);
                let v: Value = serde_json::from_slice(&body[..answer.len]).unwrap();
                prop_assert_eq!(&v["event"]["header"]["payloadVersion"], "3");
                prop_assert!(v["event"]["header"]["messageId"].is_string());
                prop_assert!(v["event"].get("payload").is_some());
            }
        }
    }
}
