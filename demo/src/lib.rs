//! The embedded demo home: a [`Transport`] that answers in-process the way
//! Home Assistant 2024.3's Alexa Smart Home API (`POST
//! /api/alexa/smart_home`) does, for six made-up devices, so lee can be run
//! and tried with no Home Assistant at all (`lee --demo`, the stdio
//! harness's default when no `BASE_URL` is configured).
//!
//! # What it models
//!
//! | endpoint | friendly name | interfaces |
//! |---|---|---|
//! | `light#living_room` | Living Room Light | Power, Brightness, Color, ColorTemperature, EndpointHealth, Alexa |
//! | `switch#coffee_maker` | Coffee Maker | Power, ContactSensor, EndpointHealth, Alexa |
//! | `climate#hallway` | Hallway Thermostat | Power, Thermostat (target setpoint, mode), TemperatureSensor, EndpointHealth, Alexa |
//! | `lock#front_door` | Front Door | Lock, EndpointHealth, Alexa |
//! | `sensor#outside_temperature` | Outside Temperature | TemperatureSensor, EndpointHealth, Alexa |
//! | `scene#movie_night` | Movie Night | Scene (no deactivation), Alexa |
//!
//! The switch reports `Alexa.ContactSensor` because Home Assistant 2024.3
//! gives every switch that interface (`DETECTED` while it is on).
//!
//! Directives: `Alexa.Discovery.Discover`, `Alexa.ReportState`,
//! `Alexa.Authorization.AcceptGrant`, PowerController `TurnOn`/`TurnOff`,
//! BrightnessController `SetBrightness`/`AdjustBrightness`, ColorController
//! `SetColor`, ColorTemperatureController
//! `SetColorTemperature`/`IncreaseColorTemperature`/`DecreaseColorTemperature`,
//! ThermostatController
//! `SetTargetTemperature`/`AdjustTargetTemperature`/`SetThermostatMode`
//! (`HEAT`, `COOL`, `AUTO`, `OFF`; 7–35 °C), LockController `Lock`/`Unlock`
//! and SceneController `Activate`. The state they change is kept in the
//! [`DemoHome`] value, so a later ReportState shows it.
//!
//! Answers follow what Home Assistant 2024.3.3 sends, compared against a
//! running one: compact JSON, the same member order (`event.header` is
//! `namespace`, `name`, `messageId` (a fresh UUID v4), `payloadVersion`,
//! then `correlationToken` when the directive had one that is not empty),
//! `event.endpoint` copied from the directive *including its scope and
//! bearer token* (as Home Assistant does; keeping it out of logs is the
//! bridge's job), and
//! `context.properties` entries of `name`, `namespace`, `value`,
//! `timeOfSample` (`YYYY-MM-DDThh:mm:ssZ`, UTC) and
//! `uncertaintyInMilliseconds` 0. A successful answer to a directive with an
//! endpoint always has a `context` (an empty `properties` list for the
//! scene); errors and answers to directives without an endpoint
//! (Discovery, AcceptGrant) have none. Errors are
//! `Alexa.ErrorResponse` with a payload of `type` and `message` only (Home
//! Assistant 2024.3 drops every error's extra payload), HTTP 200. Before any
//! JSON is read, an empty token gets HTTP 401 `401: Unauthorized`; a body
//! that is not a directive (not JSON, no `directive.header` with string
//! `namespace` and `name`, no `payload`, `payloadVersion` not `"3"`, an
//! `endpoint` that is not an object) gets HTTP 500 with Home Assistant's
//! text `500 Internal Server Error\n\nServer got itself in trouble`.
//!
//! **Immediate answers carry the state from before the change**, as Home
//! Assistant's do (it starts the service call and reads the state at once):
//! `TurnOn` answers `powerState` `OFF` for a light that was off, and a
//! ReportState afterwards shows `ON`. The exceptions are the properties Home
//! Assistant's handlers add themselves, which come first in
//! `context.properties` with the new value: `targetSetpoint` and
//! `thermostatMode` for the thermostat, `lockState` for the lock. Devices
//! change at once (Home Assistant's demo lock spends about 2 s `locking`).
//!
//! # Where it deliberately differs from Home Assistant 2024.3
//!
//! * **Every answer validates against Amazon's schema.** Home Assistant's
//!   handler-added properties lack `timeOfSample` and
//!   `uncertaintyInMilliseconds` (required by the schema); the demo adds
//!   them, and always writes `name` before `namespace` (Home Assistant's
//!   `Unlock` writes `namespace` first). Home Assistant answers
//!   `UNSUPPORTED_THERMOSTAT_MODE` with header namespace `Alexa`, which the
//!   schema refuses; the demo uses `Alexa.ThermostatController`. Home
//!   Assistant can list a mode twice in `supportedModes` (two of its modes
//!   map to `CUSTOM`), which the schema refuses; the demo's modes are unique.
//! * **Unsupported directives are `INVALID_DIRECTIVE`** with Home
//!   Assistant's message for that error, `Entity does not support
//!   directive`. Home Assistant runs any directive it has a handler for
//!   against any entity and answers `INTERNAL_ERROR` `Unknown error` when
//!   the service call then fails (a Lock sent to a light), or
//!   `INTERNAL_ERROR` with an empty message when it has no handler at all
//!   (PercentageController). The demo checks the endpoint's interfaces.
//! * **Out-of-range values are `VALUE_OUT_OF_RANGE`**: brightness outside
//!   0–100, a brightness delta outside ±100, a color outside hue 0–360 and
//!   saturation/brightness 0–1, a color temperature outside Alexa's
//!   1000–10000 K. Home Assistant answers these `INTERNAL_ERROR` `Unknown
//!   error` (its service schema refuses them). Temperatures outside 7–35 °C
//!   are `TEMPERATURE_VALUE_OUT_OF_RANGE` with Home Assistant's own message
//!   (`The requested temperature 100.0 is out of range`). A payload missing
//!   a field or with a field of the wrong type is `INTERNAL_ERROR` `Unknown
//!   error`, as Home Assistant's exception path answers it (the demo wants
//!   JSON numbers where Home Assistant would also coerce numeric strings).
//! * **`event.endpoint` is rewritten in Alexa's member order** (`scope`
//!   with `type` and `token` first, `endpointId`, `cookie`, then any other
//!   members by name); Home Assistant keeps the directive's own order. For
//!   every directive Alexa sends the bytes are the same.
//! * **Colors in white mode**: after a color temperature is set, the
//!   `color` property keeps the last hue and saturation set, where Home
//!   Assistant derives them from the color temperature. Hue and saturation
//!   are kept as sent, without Home Assistant's round trip through 8-bit RGB.
//! * **Nothing drifts**: the sensors' temperatures are fixed; the
//!   thermostat's `TurnOn` returns to its last mode other than `OFF`.
//! * [`Transport::rest`] knows what lee's engine ops need of the REST API:
//!   `GET /api/` (200 with a token, 401 without), `GET /api/states` and
//!   `GET /api/states/<entity_id>` (the same devices, as Home Assistant's
//!   state objects; 404 `Entity not found.`), and `POST
//!   /api/services/<domain>/<service>` for turning lights and switches on,
//!   off or over, locking, unlocking and scenes (answering the states that
//!   changed; 400 for another service). Every other path is 404.
//!   [`Transport::wait_until`] returns at once: the demo never
//!   fails before a request is sent, so the bridge never retries against it.
//! * A directive acts even when its answer does not fit the caller's buffer
//!   ([`Failure::ResponseTooLarge`]), as Home Assistant acts on a directive
//!   whose answer the bridge then refuses.
//!
//! What it must never do: panic or grow without bound on any input (the
//! directive is parsed by `serde_json`, whose depth limit keeps the stack
//! bounded), or touch the network or the file system.

use std::borrow::Cow;
use std::ops::RangeInclusive;
use std::time::{SystemTime, UNIX_EPOCH};

use lee_core::bridge::{HaAnswer, Method, RestRequest, Timeouts, Transport};
use lee_core::retry::{Failure, SplitMix64};
use lee_core::time::Instant;
use serde_json::{Map, Value};

/// The demo home's endpoint ids, in Discovery order.
pub const ENDPOINT_IDS: [&str; 6] = [
    "light#living_room",
    "switch#coffee_maker",
    "climate#hallway",
    "lock#front_door",
    "sensor#outside_temperature",
    "scene#movie_night",
];

/// The Home Assistant version the demo answers as (`softwareVersion`).
const HA_VERSION: &str = "2024.3.3";

/// Home Assistant's answer to a request without a valid token.
const UNAUTHORIZED: &[u8] = b"401: Unauthorized";

/// Home Assistant's answer to a body it cannot read as a directive.
const SERVER_ERROR: &[u8] = b"500 Internal Server Error\n\nServer got itself in trouble";

/// Home Assistant's message for `INVALID_DIRECTIVE`.
const NOT_SUPPORTED: &str = "Entity does not support directive";

/// Home Assistant's message when a handler fails on a malformed payload.
const UNKNOWN_ERROR: &str = "Unknown error";

/// The thermostat's setpoint limits, °C (Home Assistant's climate defaults).
const MIN_TEMP: f64 = 7.0;
const MAX_TEMP: f64 = 35.0;

/// The light's color temperature range in mireds (6535 K to 2000 K), as
/// Home Assistant's demo lights have it.
const MIN_MIREDS: u32 = 153;
const MAX_MIREDS: u32 = 500;

/// Six devices answering like Home Assistant 2024.3, in-process.
///
/// Build one with [`DemoHome::new`] (seeded from the system clock, real UTC
/// timestamps) or [`DemoHome::with_clock`] (a fixed seed and a supplied
/// clock, for reproducible answers), and hand it to
/// `Bridge::with_transport`. The state lives in the value: each directive
/// sees what the ones before it did.
#[derive(Clone, Debug)]
pub struct DemoHome {
    endpoints: [Endpoint; 6],
    ids: SplitMix64,
    clock: fn() -> String,
}

impl DemoHome {
    /// The demo home in its initial state, with `messageId`s seeded from
    /// the system clock and `timeOfSample` read from it.
    pub fn new() -> Self {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
            d.as_secs() ^ u64::from(d.subsec_nanos()).rotate_left(32)
        });
        DemoHome::with_clock(seed, system_utc)
    }

    /// The demo home in its initial state, its `messageId`s drawn from a
    /// SplitMix64 seeded with `seed` (equal seeds give equal ids) and its
    /// timestamps (`timeOfSample`, a scene's `timestamp`) from `clock`,
    /// which should return UTC as `YYYY-MM-DDThh:mm:ssZ`.
    pub fn with_clock(seed: u64, clock: fn() -> String) -> Self {
        DemoHome {
            endpoints: initial_endpoints(),
            ids: SplitMix64::new(seed),
            clock,
        }
    }

    /// Home Assistant's answer to `event` posted with bearer `token`: the
    /// HTTP status and the body.
    fn respond(&mut self, event: &[u8], token: &str) -> (u16, Vec<u8>) {
        if token.is_empty() {
            return (401, UNAUTHORIZED.to_vec());
        }
        let Ok(root) = serde_json::from_slice::<Value>(event) else {
            return (500, SERVER_ERROR.to_vec());
        };
        let Some(request) = Request::read(&root) else {
            return (500, SERVER_ERROR.to_vec());
        };
        let now = (self.clock)();
        let reply = self.dispatch(&request, &now);
        let answer = self.render(&request, reply, &now);
        let mut body = Vec::with_capacity(1024);
        answer.write(&mut body);
        (200, body)
    }

    /// Find the endpoint, then run the directive's handler, in Home
    /// Assistant's order (an unknown endpoint wins over an unknown directive).
    fn dispatch(&mut self, request: &Request<'_>, now: &str) -> Result<Reply, Fault> {
        let target = match request.endpoint {
            None => None,
            Some(endpoint) => {
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
                    Some(index) => Some(index),
                    None => {
                        return Err(Fault::new(
                            "NO_SUCH_ENDPOINT",
                            format!("The endpoint {id} does not exist"),
                        ));
                    }
                }
            }
        };
        let before = target.map(|i| self.endpoints[i].device.properties());
        let mut reply = match (request.namespace, request.name) {
            ("Alexa.Discovery", "Discover") => Reply::new(
                "Alexa.Discovery",
                "Discover.Response",
                obj([(
                    "endpoints",
                    J::Arr(self.endpoints.iter().map(Endpoint::discovery).collect()),
                )]),
            ),
            ("Alexa.Authorization", "AcceptGrant") => {
                if field(request.payload, "grant")
                    .and_then(|g| g.get("code"))
                    .is_none()
                {
                    return Err(Fault::internal(UNKNOWN_ERROR));
                }
                Reply::new("Alexa.Authorization", "AcceptGrant.Response", obj([]))
            }
            ("Alexa", "ReportState") => Reply::new("Alexa", "StateReport", obj([])),
            (namespace, name) => match target {
                Some(i) => {
                    self.endpoints[i]
                        .device
                        .control(namespace, name, request.payload, now)?
                }
                // Home Assistant's handlers fail on a missing endpoint; a
                // directive it has no handler for is unsupported anyway.
                None if is_known(namespace, name) => return Err(Fault::internal(UNKNOWN_ERROR)),
                None => return Err(Fault::new("INVALID_DIRECTIVE", NOT_SUPPORTED)),
            },
        };
        reply.context = before;
        Ok(reply)
    }

    /// The JSON answer for `reply`: Home Assistant's member order.
    fn render(&mut self, request: &Request<'_>, reply: Result<Reply, Fault>, now: &str) -> J {
        let (namespace, name, payload, context) = match reply {
            Ok(reply) => {
                let context = reply.context.map(|before| {
                    // The handler's own properties first, then the state read
                    // before the change, skipping what the handler set.
                    let mut properties = reply.added;
                    for p in before {
                        if !properties
                            .iter()
                            .any(|q| q.namespace == p.namespace && q.name == p.name)
                        {
                            properties.push(p);
                        }
                    }
                    let properties = properties.into_iter().map(|p| p.render(now)).collect();
                    obj([("properties", J::Arr(properties))])
                });
                (reply.namespace, reply.name, reply.payload, context)
            }
            Err(fault) => {
                let payload = obj([
                    ("type", J::Static(fault.kind)),
                    ("message", J::Str(fault.message.into_owned())),
                ]);
                (fault.namespace, "ErrorResponse", payload, None)
            }
        };
        let mut header = vec![
            ("namespace", J::Static(namespace)),
            ("name", J::Static(name)),
            ("messageId", J::Str(self.message_id())),
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

    /// A fresh UUID v4 from the generator.
    fn message_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.ids.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.ids.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut id = String::with_capacity(36);
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                id.push('-');
            }
            id.push_str(&format!("{b:02x}"));
        }
        id
    }
}

impl Default for DemoHome {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for DemoHome {
    /// Answer `event` in-process; the body is copied into `body`, or
    /// [`Failure::ResponseTooLarge`] when it does not fit (the directive
    /// has acted all the same). `timeouts` do not apply: nothing waits.
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        _timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        let (status, answer) = self.respond(event, token);
        let Some(dest) = body.get_mut(..answer.len()) else {
            return Err(Failure::ResponseTooLarge);
        };
        dest.copy_from_slice(&answer);
        Ok(HaAnswer {
            status,
            len: answer.len(),
        })
    }

    /// Returns at once: the demo never fails before sending, so the bridge
    /// has no retry to wait for.
    fn wait_until(&mut self, _until: Instant) {}

    /// The REST paths lee's engine ops use, as Home Assistant answers them
    /// (see the module's documentation); 401 without a token, 404 for a
    /// path the demo does not serve.
    fn rest(
        &mut self,
        request: &RestRequest<'_>,
        _timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        let (status, text): (u16, Vec<u8>) = match (request.method, request.path, request.token) {
            (_, _, None) => (401, UNAUTHORIZED.to_vec()),
            (Method::Get, "/api/", Some(_)) => (200, br#"{"message":"API running."}"#.to_vec()),
            (Method::Get, "/api/states", Some(_)) => {
                let now = (self.clock)();
                let states: Vec<Value> = self.endpoints.iter().map(|e| e.state(&now)).collect();
                (200, Value::Array(states).to_string().into_bytes())
            }
            (Method::Get, path, Some(_)) => {
                let now = (self.clock)();
                match path
                    .strip_prefix("/api/states/")
                    .and_then(|id| self.endpoints.iter().find(|e| e.entity_id() == id))
                {
                    Some(endpoint) => (200, endpoint.state(&now).to_string().into_bytes()),
                    None => (404, br#"{"message":"Entity not found."}"#.to_vec()),
                }
            }
            (Method::Post, path, Some(_)) => match path.strip_prefix("/api/services/") {
                Some(service) => self.call_service(service, request.body),
                None => (404, b"404: Not Found".to_vec()),
            },
        };
        let dst = body
            .get_mut(..text.len())
            .ok_or(Failure::ResponseTooLarge)?;
        dst.copy_from_slice(&text);
        Ok(HaAnswer {
            status,
            len: text.len(),
        })
    }
}

impl DemoHome {
    /// `POST /api/services/<domain>/<service>`: the switching services of
    /// the demo's devices; answers the states that changed, as Home
    /// Assistant does.
    fn call_service(&mut self, service: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let data: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let targets: Vec<String> = match &data["entity_id"] {
            Value::String(id) => vec![id.clone()],
            Value::Array(ids) => ids
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let now = (self.clock)();
        let mut changed = Vec::new();
        for endpoint in &mut self.endpoints {
            if !targets.iter().any(|t| *t == endpoint.entity_id()) {
                continue;
            }
            let done = match (&mut endpoint.device, service) {
                (
                    Device::Light { on, .. } | Device::Switch { on },
                    "light/turn_on" | "switch/turn_on" | "homeassistant/turn_on",
                ) => {
                    *on = true;
                    true
                }
                (
                    Device::Light { on, .. } | Device::Switch { on },
                    "light/turn_off" | "switch/turn_off" | "homeassistant/turn_off",
                ) => {
                    *on = false;
                    true
                }
                (
                    Device::Light { on, .. } | Device::Switch { on },
                    "light/toggle" | "switch/toggle" | "homeassistant/toggle",
                ) => {
                    *on = !*on;
                    true
                }
                (Device::Lock { locked }, "lock/lock") => {
                    *locked = true;
                    true
                }
                (Device::Lock { locked }, "lock/unlock") => {
                    *locked = false;
                    true
                }
                (Device::Scene, "scene/turn_on") => true,
                _ => false,
            };
            if done {
                changed.push(endpoint.state(&now));
            }
        }
        let known = [
            "light/turn_on",
            "light/turn_off",
            "light/toggle",
            "switch/turn_on",
            "switch/turn_off",
            "switch/toggle",
            "homeassistant/turn_on",
            "homeassistant/turn_off",
            "homeassistant/toggle",
            "lock/lock",
            "lock/unlock",
            "scene/turn_on",
        ];
        if known.contains(&service) {
            (200, Value::Array(changed).to_string().into_bytes())
        } else {
            (400, br#"{"message":"Service not found."}"#.to_vec())
        }
    }
}

/// The parts of a directive the demo reads.
struct Request<'a> {
    namespace: &'a str,
    name: &'a str,
    /// Echoed when truthy, as Home Assistant does (`if token:`).
    correlation: Option<&'a Value>,
    endpoint: Option<&'a Map<String, Value>>,
    payload: &'a Value,
}

impl<'a> Request<'a> {
    /// `None` where Home Assistant answers HTTP 500.
    fn read(root: &'a Value) -> Option<Request<'a>> {
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

/// Whether any demo device handles `(namespace, name)`.
fn is_known(namespace: &str, name: &str) -> bool {
    matches!(
        (namespace, name),
        ("Alexa.PowerController", "TurnOn" | "TurnOff")
            | (
                "Alexa.BrightnessController",
                "SetBrightness" | "AdjustBrightness"
            )
            | ("Alexa.ColorController", "SetColor")
            | (
                "Alexa.ColorTemperatureController",
                "SetColorTemperature" | "IncreaseColorTemperature" | "DecreaseColorTemperature"
            )
            | (
                "Alexa.ThermostatController",
                "SetTargetTemperature" | "AdjustTargetTemperature" | "SetThermostatMode"
            )
            | ("Alexa.LockController", "Lock" | "Unlock")
            | ("Alexa.SceneController", "Activate")
    )
}

/// A successful answer.
struct Reply {
    namespace: &'static str,
    name: &'static str,
    payload: J,
    /// Properties the handler reports itself, with their new values.
    added: Vec<Property>,
    /// The endpoint's properties read before the change (directives with an
    /// endpoint only).
    context: Option<Vec<Property>>,
}

impl Reply {
    fn new(namespace: &'static str, name: &'static str, payload: J) -> Reply {
        Reply {
            namespace,
            name,
            payload,
            added: Vec::new(),
            context: None,
        }
    }

    /// An `Alexa.Response` with an empty payload.
    fn response() -> Reply {
        Reply::new("Alexa", "Response", obj([]))
    }

    fn adding(mut self, property: Property) -> Reply {
        self.added.push(property);
        self
    }
}

/// An `Alexa.ErrorResponse`.
#[derive(Debug)]
struct Fault {
    namespace: &'static str,
    kind: &'static str,
    message: Cow<'static, str>,
}

impl Fault {
    fn new(kind: &'static str, message: impl Into<Cow<'static, str>>) -> Fault {
        Fault {
            namespace: "Alexa",
            kind,
            message: message.into(),
        }
    }

    fn internal(message: &'static str) -> Fault {
        Fault::new("INTERNAL_ERROR", message)
    }

    fn unsupported() -> Fault {
        Fault::new("INVALID_DIRECTIVE", NOT_SUPPORTED)
    }

    fn out_of_range(what: &str, value: &Value) -> Fault {
        Fault::new(
            "VALUE_OUT_OF_RANGE",
            format!("The requested {what} {value} is out of range"),
        )
    }

    fn temperature_out_of_range(celsius: f64) -> Fault {
        Fault::new(
            "TEMPERATURE_VALUE_OUT_OF_RANGE",
            format!(
                "The requested temperature {} is out of range",
                float_text(celsius)
            ),
        )
    }
}

/// One entry of `context.properties`.
#[derive(Debug)]
struct Property {
    namespace: &'static str,
    name: &'static str,
    value: J,
}

impl Property {
    fn new(namespace: &'static str, name: &'static str, value: J) -> Property {
        Property {
            namespace,
            name,
            value,
        }
    }

    fn render(self, now: &str) -> J {
        obj([
            ("name", J::Static(self.name)),
            ("namespace", J::Static(self.namespace)),
            ("value", self.value),
            ("timeOfSample", J::Str(now.to_string())),
            ("uncertaintyInMilliseconds", J::Int(0)),
        ])
    }
}

/// One endpoint: its id, name, display category and device.
#[derive(Clone, Debug)]
struct Endpoint {
    id: &'static str,
    friendly_name: &'static str,
    category: &'static str,
    device: Device,
}

impl Endpoint {
    /// Home Assistant's entity id: `light.living_room` for `light#living_room`.
    fn entity_id(&self) -> String {
        self.id.replacen('#', ".", 1)
    }

    /// The entity's state as Home Assistant's REST API shows it.
    fn state(&self, now: &str) -> Value {
        let mut attributes = Map::new();
        let state = match &self.device {
            Device::Light {
                on,
                brightness,
                hue,
                saturation,
                mireds,
            } => {
                if *on {
                    attributes.insert("brightness".into(), (*brightness).into());
                    match mireds {
                        Some(m) => attributes.insert("color_temp".into(), (*m).into()),
                        None => attributes.insert(
                            "hs_color".into(),
                            serde_json::json!([hue, (saturation * 1000.0).round() / 10.0]),
                        ),
                    };
                }
                attributes.insert(
                    "supported_color_modes".into(),
                    serde_json::json!(["color_temp", "hs"]),
                );
                if *on { "on" } else { "off" }.to_string()
            }
            Device::Switch { on } => if *on { "on" } else { "off" }.to_string(),
            Device::Thermostat {
                mode,
                target,
                current,
                ..
            } => {
                attributes.insert("temperature".into(), (*target).into());
                attributes.insert("current_temperature".into(), (*current).into());
                attributes.insert(
                    "hvac_modes".into(),
                    serde_json::json!(["heat", "cool", "auto", "off"]),
                );
                mode.alexa().to_ascii_lowercase()
            }
            Device::Lock { locked } => if *locked { "locked" } else { "unlocked" }.to_string(),
            Device::Sensor { celsius } => {
                attributes.insert("unit_of_measurement".into(), "°C".into());
                attributes.insert("device_class".into(), "temperature".into());
                celsius.to_string()
            }
            Device::Scene => "unknown".to_string(),
        };
        attributes.insert("friendly_name".into(), self.friendly_name.into());
        serde_json::json!({
            "entity_id": self.entity_id(),
            "state": state,
            "attributes": attributes,
            "last_changed": now,
            "last_updated": now,
            "context": {"id": "01HQDEMO000000000000000000", "parent_id": null, "user_id": null},
        })
    }

    /// The endpoint's Discovery entry, in Home Assistant's member order.
    fn discovery(&self) -> J {
        let entity_id = self.id.replacen('#', ".", 1);
        let domain = self.id.split('#').next().unwrap_or_default();
        let capabilities = self
            .device
            .interfaces()
            .iter()
            .map(|&interface| capability(interface))
            .collect();
        obj([
            ("displayCategories", J::Arr(vec![J::Static(self.category)])),
            ("cookie", obj([])),
            ("endpointId", J::Static(self.id)),
            ("friendlyName", J::Static(self.friendly_name)),
            (
                "description",
                J::Str(format!("{entity_id} via Home Assistant")),
            ),
            ("manufacturerName", J::Static("Home Assistant")),
            (
                "additionalAttributes",
                obj([
                    ("manufacturer", J::Static("Home Assistant")),
                    ("model", J::Str(domain.to_string())),
                    ("softwareVersion", J::Static(HA_VERSION)),
                    ("customIdentifier", J::Str(format!("-{entity_id}"))),
                ]),
            ),
            ("capabilities", J::Arr(capabilities)),
        ])
    }
}

/// One interface's Discovery entry.
fn capability(interface: &'static str) -> J {
    let mut members = vec![
        ("type", J::Static("AlexaInterface")),
        ("interface", J::Static(interface)),
        ("version", J::Static("3")),
    ];
    let supported: &[&str] = match interface {
        "Alexa.PowerController" => &["powerState"],
        "Alexa.BrightnessController" => &["brightness"],
        "Alexa.ColorController" => &["color"],
        "Alexa.ColorTemperatureController" => &["colorTemperatureInKelvin"],
        "Alexa.ContactSensor" => &["detectionState"],
        "Alexa.ThermostatController" => &["thermostatMode", "targetSetpoint"],
        "Alexa.TemperatureSensor" => &["temperature"],
        "Alexa.LockController" => &["lockState"],
        "Alexa.EndpointHealth" => &["connectivity"],
        _ => &[],
    };
    if !supported.is_empty() {
        let names = supported
            .iter()
            .map(|&name| obj([("name", J::Static(name))]))
            .collect();
        members.push((
            "properties",
            obj([
                ("supported", J::Arr(names)),
                ("proactivelyReported", J::Bool(true)),
                ("retrievable", J::Bool(true)),
            ]),
        ));
    }
    match interface {
        "Alexa.SceneController" => members.push(("supportsDeactivation", J::Bool(false))),
        "Alexa.ThermostatController" => members.push((
            "configuration",
            obj([
                ("supportsScheduling", J::Bool(false)),
                (
                    "supportedModes",
                    J::Arr(
                        Mode::SUPPORTED
                            .iter()
                            .map(|m| J::Static(m.alexa()))
                            .collect(),
                    ),
                ),
            ]),
        )),
        _ => {}
    }
    J::from(members)
}

/// A thermostat mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Heat,
    Cool,
    Auto,
    Off,
}

impl Mode {
    /// In Discovery's order.
    const SUPPORTED: [Mode; 4] = [Mode::Heat, Mode::Cool, Mode::Auto, Mode::Off];

    fn alexa(self) -> &'static str {
        match self {
            Mode::Heat => "HEAT",
            Mode::Cool => "COOL",
            Mode::Auto => "AUTO",
            Mode::Off => "OFF",
        }
    }

    fn from_alexa(name: &str) -> Option<Mode> {
        Mode::SUPPORTED.into_iter().find(|m| m.alexa() == name)
    }
}

/// The state of one device.
#[derive(Clone, Debug)]
enum Device {
    Light {
        on: bool,
        /// Home Assistant's 1–255 scale, kept while the light is off.
        brightness: u8,
        /// Degrees, 0–360.
        hue: f64,
        /// 0–1.
        saturation: f64,
        /// `Some(mireds)` in white mode, `None` in color mode.
        mireds: Option<u32>,
    },
    Switch {
        on: bool,
    },
    Thermostat {
        mode: Mode,
        /// The mode `TurnOn` returns to.
        last_on: Mode,
        /// °C.
        target: f64,
        /// °C.
        current: f64,
    },
    Lock {
        locked: bool,
    },
    Sensor {
        /// °C.
        celsius: f64,
    },
    Scene,
}

fn initial_endpoints() -> [Endpoint; 6] {
    [
        Endpoint {
            id: ENDPOINT_IDS[0],
            friendly_name: "Living Room Light",
            category: "LIGHT",
            device: Device::Light {
                on: false,
                brightness: 180,
                hue: 28.55,
                saturation: 0.67974,
                mireds: Some(370),
            },
        },
        Endpoint {
            id: ENDPOINT_IDS[1],
            friendly_name: "Coffee Maker",
            category: "SMARTPLUG",
            device: Device::Switch { on: false },
        },
        Endpoint {
            id: ENDPOINT_IDS[2],
            friendly_name: "Hallway Thermostat",
            category: "THERMOSTAT",
            device: Device::Thermostat {
                mode: Mode::Heat,
                last_on: Mode::Heat,
                target: 20.0,
                current: 19.5,
            },
        },
        Endpoint {
            id: ENDPOINT_IDS[3],
            friendly_name: "Front Door",
            category: "SMARTLOCK",
            device: Device::Lock { locked: true },
        },
        Endpoint {
            id: ENDPOINT_IDS[4],
            friendly_name: "Outside Temperature",
            category: "TEMPERATURE_SENSOR",
            device: Device::Sensor { celsius: 15.6 },
        },
        Endpoint {
            id: ENDPOINT_IDS[5],
            friendly_name: "Movie Night",
            category: "SCENE_TRIGGER",
            device: Device::Scene,
        },
    ]
}

/// A temperature property value.
fn celsius(value: f64) -> J {
    obj([("value", J::Float(value)), ("scale", J::Static("CELSIUS"))])
}

/// Python's `round`: halves to even.
fn round_even(x: f64) -> f64 {
    x.round_ties_even()
}

impl Device {
    /// The interfaces, in Home Assistant's Discovery order.
    fn interfaces(&self) -> &'static [&'static str] {
        match self {
            Device::Light { .. } => &[
                "Alexa.PowerController",
                "Alexa.BrightnessController",
                "Alexa.ColorController",
                "Alexa.ColorTemperatureController",
                "Alexa.EndpointHealth",
                "Alexa",
            ],
            Device::Switch { .. } => &[
                "Alexa.PowerController",
                "Alexa.ContactSensor",
                "Alexa.EndpointHealth",
                "Alexa",
            ],
            Device::Thermostat { .. } => &[
                "Alexa.PowerController",
                "Alexa.ThermostatController",
                "Alexa.TemperatureSensor",
                "Alexa.EndpointHealth",
                "Alexa",
            ],
            Device::Lock { .. } => &["Alexa.LockController", "Alexa.EndpointHealth", "Alexa"],
            Device::Sensor { .. } => &["Alexa.TemperatureSensor", "Alexa.EndpointHealth", "Alexa"],
            Device::Scene => &["Alexa.SceneController", "Alexa"],
        }
    }

    /// The current properties, in Home Assistant's order; like Home
    /// Assistant, a property without a value (a light's color temperature
    /// while it is off or in color mode) is left out.
    fn properties(&self) -> Vec<Property> {
        let power = |on: bool| {
            Property::new(
                "Alexa.PowerController",
                "powerState",
                J::Static(if on { "ON" } else { "OFF" }),
            )
        };
        let light = |on: bool, percent: i64, color: J| {
            vec![
                power(on),
                Property::new("Alexa.BrightnessController", "brightness", J::Int(percent)),
                Property::new("Alexa.ColorController", "color", color),
            ]
        };
        let mut properties = match self {
            Device::Light {
                on: true,
                brightness,
                hue,
                saturation,
                mireds,
            } => {
                let level = f64::from(*brightness) / 255.0;
                let color = obj([
                    ("hue", J::Float(*hue)),
                    ("saturation", J::Float(*saturation)),
                    ("brightness", J::Float(level)),
                ]);
                let mut properties = light(true, round_even(level * 100.0) as i64, color);
                if let Some(mireds) = mireds {
                    properties.push(Property::new(
                        "Alexa.ColorTemperatureController",
                        "colorTemperatureInKelvin",
                        J::Int(i64::from(1_000_000 / (*mireds).max(1))),
                    ));
                }
                properties
            }
            // Home Assistant reads no brightness and no color from a light that is off.
            Device::Light { on: false, .. } => {
                let color = obj([
                    ("hue", J::Int(0)),
                    ("saturation", J::Float(0.0)),
                    ("brightness", J::Float(0.0)),
                ]);
                light(false, 0, color)
            }
            Device::Switch { on } => vec![
                power(*on),
                Property::new(
                    "Alexa.ContactSensor",
                    "detectionState",
                    J::Static(if *on { "DETECTED" } else { "NOT_DETECTED" }),
                ),
            ],
            Device::Thermostat {
                mode,
                target,
                current,
                ..
            } => vec![
                power(*mode != Mode::Off),
                Property::new(
                    "Alexa.ThermostatController",
                    "thermostatMode",
                    J::Static(mode.alexa()),
                ),
                Property::new(
                    "Alexa.ThermostatController",
                    "targetSetpoint",
                    celsius(*target),
                ),
                Property::new("Alexa.TemperatureSensor", "temperature", celsius(*current)),
            ],
            Device::Lock { locked } => vec![lock_state(*locked)],
            Device::Sensor { celsius: c } => vec![Property::new(
                "Alexa.TemperatureSensor",
                "temperature",
                celsius(*c),
            )],
            Device::Scene => Vec::new(),
        };
        if self.interfaces().contains(&"Alexa.EndpointHealth") {
            properties.push(Property::new(
                "Alexa.EndpointHealth",
                "connectivity",
                obj([("value", J::Static("OK"))]),
            ));
        }
        properties
    }

    /// Run a control directive against this device.
    fn control(
        &mut self,
        namespace: &str,
        name: &str,
        payload: &Value,
        now: &str,
    ) -> Result<Reply, Fault> {
        if !self.interfaces().contains(&namespace) {
            return Err(Fault::unsupported());
        }
        match self {
            Device::Light {
                on,
                brightness,
                hue,
                saturation,
                mireds,
            } => match (namespace, name) {
                ("Alexa.PowerController", "TurnOn" | "TurnOff") => {
                    *on = name == "TurnOn";
                    Ok(Reply::response())
                }
                ("Alexa.BrightnessController", "SetBrightness") => {
                    let percent = whole_number(payload, "brightness", 0.0..=100.0, "brightness")?;
                    set_level(on, brightness, round_even(percent * 255.0 / 100.0));
                    Ok(Reply::response())
                }
                ("Alexa.BrightnessController", "AdjustBrightness") => {
                    let delta = whole_number(
                        payload,
                        "brightnessDelta",
                        -100.0..=100.0,
                        "brightness delta",
                    )?;
                    let current = if *on { f64::from(*brightness) } else { 0.0 };
                    let step = round_even(delta * 255.0 / 100.0);
                    set_level(on, brightness, (current + step).clamp(0.0, 255.0));
                    Ok(Reply::response())
                }
                ("Alexa.ColorController", "SetColor") => {
                    let color = field(payload, "color");
                    let h = number(color.and_then(|c| c.get("hue")))?;
                    let s = number(color.and_then(|c| c.get("saturation")))?;
                    let b = number(color.and_then(|c| c.get("brightness")))?;
                    if !(0.0..=360.0).contains(&h)
                        || !(0.0..=1.0).contains(&s)
                        || !(0.0..=1.0).contains(&b)
                    {
                        return Err(Fault::out_of_range("color", color.unwrap_or(&Value::Null)));
                    }
                    // Like Home Assistant, the color's brightness leaves the light's alone.
                    (*on, *hue, *saturation, *mireds) = (true, h, s, None);
                    Ok(Reply::response())
                }
                ("Alexa.ColorTemperatureController", "SetColorTemperature") => {
                    let kelvin = whole_number(
                        payload,
                        "colorTemperatureInKelvin",
                        1000.0..=10000.0,
                        "color temperature",
                    )?;
                    // Clamped to the light's range, stored in mireds as Home Assistant does.
                    let kelvin = kelvin.clamp(
                        f64::from(1_000_000 / MAX_MIREDS),
                        f64::from(1_000_000 / MIN_MIREDS),
                    ) as u32;
                    (*on, *mireds) = (true, Some(1_000_000 / kelvin.max(1)));
                    Ok(Reply::response())
                }
                (
                    "Alexa.ColorTemperatureController",
                    "IncreaseColorTemperature" | "DecreaseColorTemperature",
                ) => {
                    // Home Assistant fails here unless the light is on in white mode.
                    let (true, Some(current)) = (*on, *mireds) else {
                        return Err(Fault::internal(UNKNOWN_ERROR));
                    };
                    let next = if name == "IncreaseColorTemperature" {
                        current.saturating_sub(50).max(MIN_MIREDS)
                    } else {
                        current.saturating_add(50).min(MAX_MIREDS)
                    };
                    *mireds = Some(next);
                    Ok(Reply::response())
                }
                _ => Err(Fault::unsupported()),
            },
            Device::Switch { on } => match (namespace, name) {
                ("Alexa.PowerController", "TurnOn" | "TurnOff") => {
                    *on = name == "TurnOn";
                    Ok(Reply::response())
                }
                _ => Err(Fault::unsupported()),
            },
            Device::Thermostat {
                mode,
                last_on,
                target,
                ..
            } => match (namespace, name) {
                ("Alexa.PowerController", "TurnOn") => {
                    *mode = *last_on;
                    Ok(Reply::response())
                }
                ("Alexa.PowerController", "TurnOff") => {
                    *mode = Mode::Off;
                    Ok(Reply::response())
                }
                ("Alexa.ThermostatController", "SetTargetTemperature") => {
                    let setpoint = temperature(field(payload, "targetSetpoint"), false)?;
                    if !(MIN_TEMP..=MAX_TEMP).contains(&setpoint) {
                        return Err(Fault::temperature_out_of_range(setpoint));
                    }
                    *target = setpoint;
                    Ok(Reply::response().adding(setpoint_property(setpoint)))
                }
                ("Alexa.ThermostatController", "AdjustTargetTemperature") => {
                    let delta = temperature(field(payload, "targetSetpointDelta"), true)?;
                    let setpoint = *target + delta;
                    if !(MIN_TEMP..=MAX_TEMP).contains(&setpoint) {
                        return Err(Fault::temperature_out_of_range(setpoint));
                    }
                    *target = setpoint;
                    Ok(Reply::response().adding(setpoint_property(setpoint)))
                }
                ("Alexa.ThermostatController", "SetThermostatMode") => {
                    // Alexa sends {"value": "HEAT"}; Home Assistant also takes a bare string.
                    let requested = match field(payload, "thermostatMode") {
                        Some(Value::String(s)) => Some(s.as_str()),
                        Some(m) => m.get("value").and_then(Value::as_str),
                        None => None,
                    };
                    let Some(requested) = requested else {
                        return Err(Fault::internal(UNKNOWN_ERROR));
                    };
                    let Some(new) = Mode::from_alexa(requested) else {
                        // Home Assistant names its eco preset in lower case.
                        let shown = if requested == "ECO" { "eco" } else { requested };
                        return Err(Fault {
                            namespace: "Alexa.ThermostatController",
                            kind: "UNSUPPORTED_THERMOSTAT_MODE",
                            message: format!(
                                "The requested thermostat mode {shown} is not supported"
                            )
                            .into(),
                        });
                    };
                    *mode = new;
                    if new != Mode::Off {
                        *last_on = new;
                    }
                    Ok(Reply::response().adding(Property::new(
                        "Alexa.ThermostatController",
                        "thermostatMode",
                        J::Static(new.alexa()),
                    )))
                }
                _ => Err(Fault::unsupported()),
            },
            Device::Lock { locked } => match (namespace, name) {
                ("Alexa.LockController", "Lock" | "Unlock") => {
                    *locked = name == "Lock";
                    Ok(Reply::response().adding(lock_state(*locked)))
                }
                _ => Err(Fault::unsupported()),
            },
            Device::Scene => match (namespace, name) {
                ("Alexa.SceneController", "Activate") => Ok(Reply::new(
                    "Alexa.SceneController",
                    "ActivationStarted",
                    obj([
                        ("cause", obj([("type", J::Static("VOICE_INTERACTION"))])),
                        ("timestamp", J::Str(now.to_string())),
                    ]),
                )),
                _ => Err(Fault::unsupported()),
            },
            Device::Sensor { .. } => Err(Fault::unsupported()),
        }
    }
}

/// Set a light to `level` (0–255, already clamped): 0 turns it off and
/// keeps its brightness for the next `TurnOn`, as Home Assistant does.
fn set_level(on: &mut bool, brightness: &mut u8, level: f64) {
    if level < 1.0 {
        *on = false;
    } else {
        *on = true;
        *brightness = level.min(255.0) as u8;
    }
}

fn lock_state(locked: bool) -> Property {
    Property::new(
        "Alexa.LockController",
        "lockState",
        J::Static(if locked { "LOCKED" } else { "UNLOCKED" }),
    )
}

fn setpoint_property(celsius_value: f64) -> Property {
    Property::new(
        "Alexa.ThermostatController",
        "targetSetpoint",
        celsius(celsius_value),
    )
}

/// `payload[name]`, when the payload is an object that has it.
fn field<'a>(payload: &'a Value, name: &str) -> Option<&'a Value> {
    payload.get(name)
}

/// `payload[name]`, a finite JSON number, truncated to a whole number and
/// within `range`: else [`Fault::out_of_range`] naming `what` and quoting
/// the value as sent, or, for no number at all, [`number`]'s fault.
fn whole_number(
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
fn number(value: Option<&Value>) -> Result<f64, Fault> {
    value
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
        .ok_or_else(|| Fault::internal(UNKNOWN_ERROR))
}

/// An Alexa temperature object (`value`, `scale`) in °C; `interval` for a
/// difference (no offset between scales).
fn temperature(object: Option<&Value>, interval: bool) -> Result<f64, Fault> {
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

/// `x` as Python prints a float (`100.0`, `22.5`); a non-finite float
/// (never stored) as `null`.
fn float_text(x: f64) -> String {
    serde_json::to_string(&x).unwrap_or_else(|_| "null".to_string())
}

/// A JSON value written in a fixed member order (serde_json's own `Map`
/// sorts its keys).
#[derive(Clone, Debug)]
enum J {
    Static(&'static str),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(Cow<'static, str>, J)>),
    /// A value copied from the directive (members in serde_json's order).
    Raw(Value),
}

/// An object from a literal list of members.
fn obj<const N: usize>(members: [(&'static str, J); N]) -> J {
    J::from(Vec::from(members))
}

impl From<Vec<(&'static str, J)>> for J {
    /// An object with these members, in this order.
    fn from(members: Vec<(&'static str, J)>) -> J {
        J::Obj(
            members
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        )
    }
}

/// `object` with the members named in `first` first, in that order, then
/// the rest by name; a `scope` object gets `type` and `token` first.
fn ordered(object: &Map<String, Value>, first: &[&str]) -> J {
    let mut members = Vec::with_capacity(object.len());
    let echo = |key: &str, value: &Value| match (key, value) {
        ("scope", Value::Object(scope)) => ordered(scope, &["type", "token"]),
        _ => J::Raw(value.clone()),
    };
    for &key in first {
        if let Some(value) = object.get(key) {
            members.push((Cow::Owned(key.to_string()), echo(key, value)));
        }
    }
    for (key, value) in object {
        if !first.contains(&key.as_str()) {
            members.push((Cow::Owned(key.clone()), echo(key, value)));
        }
    }
    J::Obj(members)
}

impl J {
    /// Compact JSON, as Home Assistant writes it.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Static(s) => write_str(out, s),
            J::Str(s) => write_str(out, s),
            J::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            J::Float(f) => out.extend_from_slice(float_text(*f).as_bytes()),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Raw(v) => {
                if serde_json::to_writer(&mut *out, v).is_err() {
                    out.extend_from_slice(b"null");
                }
            }
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            J::Obj(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, key);
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// `s` as a JSON string, escaped by serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Now, UTC, as `YYYY-MM-DDThh:mm:ssZ`.
fn system_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_text(secs)
}

/// Seconds since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ` (the proleptic
/// Gregorian calendar, Howard Hinnant's `civil_from_days`).
fn utc_text(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    //! What needs the demo's private parts, and the property-based tests;
    //! the examples of its answers, through [`Transport`] and through the
    //! bridge, are in `tests/tests/demo_home.rs`.

    use super::*;
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

    #[test]
    fn utc_text_is_home_assistants_format() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_711_195_199), "2024-03-23T11:59:59Z");
        assert_eq!(utc_text(4_102_444_800), "2100-01-01T00:00:00Z");
        let now = system_utc();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
    }

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
