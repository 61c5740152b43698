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
//!
//! # Where to read
//!
//! * [`DemoHome`] and its [`Transport`] implementation are here: the way in
//!   for both APIs, and the copy of each answer into the caller's buffer.
//! * `devices`: the six made-up devices, their state and its initial values.
//! * `alexa`: the Alexa Smart Home API: reading a directive
//!   (`alexa::directive`), running it (`alexa::control` for the state
//!   changes, `alexa::discovery`, `alexa::properties` for ReportState and
//!   `context`), and writing the answer or the error (`alexa::answer`).
//! * `rest`: the REST API (`/api/`, states, services).
//! * `json`: JSON written in a fixed member order, as Home Assistant writes it.
//! * `clock`: the UTC timestamps and the seed for `messageId`s.

mod alexa;
mod clock;
mod devices;
mod json;
mod rest;

use lee_core::bridge::{HaAnswer, RestRequest, Timeouts, Transport};
use lee_core::retry::{Failure, SplitMix64};
use lee_core::time::Instant;

use crate::devices::Endpoint;

/// The demo home's endpoint ids, in Discovery order.
pub const ENDPOINT_IDS: [&str; 6] = [
    "light#living_room",
    "switch#coffee_maker",
    "climate#hallway",
    "lock#front_door",
    "sensor#outside_temperature",
    "scene#movie_night",
];

/// Home Assistant's answer to a request without a valid token.
const UNAUTHORIZED: &[u8] = b"401: Unauthorized";

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
        DemoHome::with_clock(clock::system_seed(), clock::system_utc)
    }

    /// The demo home in its initial state, its `messageId`s drawn from a
    /// SplitMix64 seeded with `seed` (equal seeds give equal ids) and its
    /// timestamps (`timeOfSample`, a scene's `timestamp`) from `clock`,
    /// which should return UTC as `YYYY-MM-DDThh:mm:ssZ`.
    pub fn with_clock(seed: u64, clock: fn() -> String) -> Self {
        DemoHome {
            endpoints: devices::initial_endpoints(),
            ids: SplitMix64::new(seed),
            clock,
        }
    }

    /// Now, from the home's clock.
    fn now(&self) -> String {
        (self.clock)()
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
        deliver(status, &answer, body)
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
        let (status, text) = self.answer_rest(request);
        deliver(status, &text, body)
    }
}

/// Copy `answer` into the caller's `body`: the [`HaAnswer`] for `status`,
/// or [`Failure::ResponseTooLarge`] when it does not fit.
fn deliver(status: u16, answer: &[u8], body: &mut [u8]) -> Result<HaAnswer, Failure> {
    let dest = body
        .get_mut(..answer.len())
        .ok_or(Failure::ResponseTooLarge)?;
    dest.copy_from_slice(answer);
    Ok(HaAnswer {
        status,
        len: answer.len(),
    })
}
