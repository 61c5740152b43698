//! The embedded demo home (`lee_demo::DemoHome`), through its
//! [`Transport`] and as the bridge's transport: every directive it models
//! is answered the way Home Assistant 2024.3 answers it and changes what a
//! later ReportState shows, every answer passes through lee unchanged and
//! validates against Amazon's Alexa Smart Home schema, and, when the Home
//! Assistant harness of `../shared/ha` is running, its answers have the
//! same structure as real Home Assistant 2024.3's (keys and value types,
//! not values).
//!
//! What needs the demo's private parts (its UTC formatting) and the
//! property-based tests stay in `demo/src/lib.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use lee_core::bridge::{Answered, Method, RestRequest, Timeouts, Transport};
use lee_core::budget::Capacities;
use lee_core::retry::Failure;
use lee_core::time::Instant;
use lee_demo::{DemoHome, ENDPOINT_IDS};
use lee_host::Bridge;
use lee_host::config::{BaseUrl, Config};
use lee_testkit::{AlexaSchema, RealHa, directive, header, property};
use serde_json::{Value, json};

const TOKEN: &str = "demo-token";

/// The clock of [`home`].
const NOW: &str = "2024-03-23T12:00:00Z";

const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    total: Duration::from_secs(7),
};

// The demo's endpoints.
const LIGHT: &str = "light#living_room";
const SWITCH: &str = "switch#coffee_maker";
const THERMOSTAT: &str = "climate#hallway";
const DOOR: &str = "lock#front_door";
const SENSOR: &str = "sensor#outside_temperature";
const SCENE: &str = "scene#movie_night";

// Directives, by their full names (`Namespace.Name`).
const DISCOVER: &str = "Alexa.Discovery.Discover";
const ACCEPT_GRANT: &str = "Alexa.Authorization.AcceptGrant";
const REPORT_STATE: &str = "Alexa.ReportState";
const TURN_ON: &str = "Alexa.PowerController.TurnOn";
const TURN_OFF: &str = "Alexa.PowerController.TurnOff";
const SET_BRIGHTNESS: &str = "Alexa.BrightnessController.SetBrightness";
const ADJUST_BRIGHTNESS: &str = "Alexa.BrightnessController.AdjustBrightness";
const SET_COLOR: &str = "Alexa.ColorController.SetColor";
const SET_KELVIN: &str = "Alexa.ColorTemperatureController.SetColorTemperature";
const INCREASE_KELVIN: &str = "Alexa.ColorTemperatureController.IncreaseColorTemperature";
const DECREASE_KELVIN: &str = "Alexa.ColorTemperatureController.DecreaseColorTemperature";
const SET_SETPOINT: &str = "Alexa.ThermostatController.SetTargetTemperature";
const ADJUST_SETPOINT: &str = "Alexa.ThermostatController.AdjustTargetTemperature";
const SET_MODE: &str = "Alexa.ThermostatController.SetThermostatMode";
const LOCK: &str = "Alexa.LockController.Lock";
const UNLOCK: &str = "Alexa.LockController.Unlock";
const ACTIVATE: &str = "Alexa.SceneController.Activate";

// Properties: namespace and name.
const POWER: (&str, &str) = ("Alexa.PowerController", "powerState");
const BRIGHTNESS: (&str, &str) = ("Alexa.BrightnessController", "brightness");
const COLOR: (&str, &str) = ("Alexa.ColorController", "color");
const KELVIN: (&str, &str) = (
    "Alexa.ColorTemperatureController",
    "colorTemperatureInKelvin",
);
const DETECTION: (&str, &str) = ("Alexa.ContactSensor", "detectionState");
const MODE: (&str, &str) = ("Alexa.ThermostatController", "thermostatMode");
const SETPOINT: (&str, &str) = ("Alexa.ThermostatController", "targetSetpoint");
const TEMPERATURE: (&str, &str) = ("Alexa.TemperatureSensor", "temperature");
const LOCK_STATE: (&str, &str) = ("Alexa.LockController", "lockState");

/// An Alexa temperature in °C.
fn celsius(value: f64) -> Value {
    json!({"value": value, "scale": "CELSIUS"})
}

/// Assert that `answer` has each property of `expected` with its value.
fn assert_properties(answer: &Value, expected: &[((&str, &str), Value)]) {
    for ((namespace, name), value) in expected {
        assert_eq!(
            property(answer, namespace, name),
            Some(value),
            "{namespace}.{name} in {answer}"
        );
    }
}

/// The `type` of an `ErrorResponse`, asserting that `answer` is one.
fn error_type(answer: &Value) -> &str {
    assert_eq!(header(answer).1, "ErrorResponse", "{answer}");
    answer["event"]["payload"]["type"].as_str().unwrap()
}

/// The demo home with a fixed seed and [`NOW`] for a clock.
fn home() -> DemoHome {
    DemoHome::with_clock(7, || NOW.to_string())
}

/// Post `event` straight to `home` with bearer `token`: the HTTP status
/// and the body.
fn post(home: &mut DemoHome, event: &[u8], token: &str) -> (u16, Vec<u8>) {
    let mut body = vec![0u8; 64 * 1024];
    let answer = home
        .post_directive(event, token, TIMEOUTS, &mut body)
        .unwrap();
    body.truncate(answer.len);
    (answer.status, body)
}

/// Post `event` with [`TOKEN`], assert HTTP 200 and parse the answer.
fn send(home: &mut DemoHome, event: &[u8]) -> Value {
    let (status, body) = post(home, event, TOKEN);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The directive named `Namespace.Name` (one of the constants above) as
/// Alexa sends it with bearer `token`.
fn event(qualified: &str, endpoint: Option<&str>, payload: Value, token: &str) -> Vec<u8> {
    let (namespace, name) = qualified.rsplit_once('.').expect("Namespace.Name");
    directive(namespace, name, endpoint, payload, token)
}

/// Send the directive named `Namespace.Name` for `endpoint` with `payload`.
fn call(home: &mut DemoHome, qualified: &str, endpoint: &str, payload: Value) -> Value {
    send(home, &event(qualified, Some(endpoint), payload, TOKEN))
}

/// ReportState on `endpoint`: assert it is a StateReport with each property
/// of `expected`, and return it.
fn assert_state(home: &mut DemoHome, endpoint: &str, expected: &[((&str, &str), Value)]) -> Value {
    let v = call(home, REPORT_STATE, endpoint, json!({}));
    assert_eq!(header(&v), ("Alexa", "StateReport"));
    assert_properties(&v, expected);
    v
}

#[test]
fn discovery_lists_the_six_endpoints_with_home_assistants_shape() {
    let v = send(&mut home(), &event(DISCOVER, None, json!({}), TOKEN));
    assert_eq!(header(&v), ("Alexa.Discovery", "Discover.Response"));
    assert!(v["event"]["header"].get("correlationToken").is_none());
    assert!(v["event"].get("endpoint").is_none() && v.get("context").is_none());
    let endpoints = v["event"]["payload"]["endpoints"].as_array().unwrap();
    let ids: Vec<&str> = endpoints
        .iter()
        .map(|e| e["endpointId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ENDPOINT_IDS);
    assert_eq!(ids, [LIGHT, SWITCH, THERMOSTAT, DOOR, SENSOR, SCENE]);
    for (e, id) in endpoints.iter().zip(ids) {
        let interfaces = interfaces(e);
        assert_eq!(interfaces.last(), Some(&"Alexa"), "{e}");
        if id != SCENE {
            assert!(interfaces.contains(&"Alexa.EndpointHealth"), "{e}");
        }
        let model = id.split('#').next().unwrap();
        assert_eq!(e["additionalAttributes"]["model"], model);
        assert_eq!(e["additionalAttributes"]["softwareVersion"], "2024.3.3");
    }
    assert_eq!(endpoints[0]["friendlyName"], "Living Room Light");
    assert_eq!(
        endpoints[0]["description"],
        "light.living_room via Home Assistant"
    );
    let thermostat = &endpoints[2]["capabilities"][1];
    assert_eq!(thermostat["interface"], "Alexa.ThermostatController");
    assert_eq!(
        thermostat["configuration"]["supportedModes"],
        json!(["HEAT", "COOL", "AUTO", "OFF"])
    );
}

#[test]
fn answers_keep_home_assistants_member_order_and_echo() {
    let request = event(REPORT_STATE, Some(DOOR), json!({}), TOKEN);
    let (status, body) = post(&mut home(), &request, TOKEN);
    assert_eq!(status, 200);
    let text = std::str::from_utf8(&body).unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    let id = v["event"]["header"]["messageId"].as_str().unwrap();
    let expected = format!(
        concat!(
            r#"{{"event":{{"header":{{"namespace":"Alexa","name":"StateReport","messageId":"{}","payloadVersion":"3","correlationToken":"lee-correlation"}},"#,
            r#""payload":{{}},"endpoint":{{"scope":{{"type":"BearerToken","token":"demo-token"}},"endpointId":"lock#front_door","cookie":{{}}}}}},"#,
            r#""context":{{"properties":[{{"name":"lockState","namespace":"Alexa.LockController","value":"LOCKED","timeOfSample":"{now}","uncertaintyInMilliseconds":0}},"#,
            r#"{{"name":"connectivity","namespace":"Alexa.EndpointHealth","value":{{"value":"OK"}},"timeOfSample":"{now}","uncertaintyInMilliseconds":0}}]}}}}"#
        ),
        id,
        now = NOW
    );
    assert_eq!(text, expected);
}

#[test]
fn message_ids_are_fresh_uuid_v4s() {
    let mut home = home();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let v = assert_state(&mut home, SWITCH, &[]);
        let id = v["event"]["header"]["messageId"]
            .as_str()
            .unwrap()
            .to_string();
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(groups[2].starts_with('4'), "{id}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{id}"
        );
        assert!(seen.insert(id));
    }
    // Equal seeds, equal ids.
    let first_id = || {
        let v = assert_state(&mut DemoHome::with_clock(1, || NOW.into()), SWITCH, &[]);
        v["event"]["header"]["messageId"].clone()
    };
    assert_eq!(first_id(), first_id());
}

#[test]
fn turn_on_answers_the_old_state_and_report_state_shows_on() {
    let mut home = home();
    assert_state(
        &mut home,
        LIGHT,
        &[(POWER, json!("OFF")), (BRIGHTNESS, json!(0))],
    );
    let v = call(&mut home, TURN_ON, LIGHT, json!({}));
    assert_eq!(header(&v), ("Alexa", "Response"));
    assert_eq!(v["event"]["header"]["correlationToken"], "lee-correlation");
    assert_eq!(v["event"]["endpoint"]["endpointId"], LIGHT);
    // Like Home Assistant: the immediate answer carries the state before the change.
    assert_properties(&v, &[(POWER, json!("OFF"))]);
    let on = [
        (POWER, json!("ON")),
        (BRIGHTNESS, json!(71)),
        (KELVIN, json!(2702)),
    ];
    let v = assert_state(&mut home, LIGHT, &on);
    let p = &v["context"]["properties"][0];
    assert_eq!(p["timeOfSample"], NOW);
    assert_eq!(p["uncertaintyInMilliseconds"], 0);

    call(&mut home, TURN_ON, SWITCH, json!({}));
    assert_state(
        &mut home,
        SWITCH,
        &[(POWER, json!("ON")), (DETECTION, json!("DETECTED"))],
    );
    call(&mut home, TURN_OFF, SWITCH, json!({}));
    assert_state(&mut home, SWITCH, &[(POWER, json!("OFF"))]);
}

#[test]
fn set_brightness_42_is_reported_as_42() {
    let mut home = home();
    let v = call(&mut home, SET_BRIGHTNESS, LIGHT, json!({"brightness": 42}));
    assert_eq!(header(&v), ("Alexa", "Response"));
    let v = assert_state(
        &mut home,
        LIGHT,
        &[(BRIGHTNESS, json!(42)), (POWER, json!("ON"))],
    );
    // Home Assistant's 0–255 scale shows through the color's brightness.
    assert_eq!(
        property(&v, COLOR.0, COLOR.1).unwrap()["brightness"],
        json!(107.0 / 255.0)
    );
    let delta = json!({"brightnessDelta": -10, "brightnessDefault": false});
    call(&mut home, ADJUST_BRIGHTNESS, LIGHT, delta);
    assert_state(&mut home, LIGHT, &[(BRIGHTNESS, json!(32))]);
    call(
        &mut home,
        ADJUST_BRIGHTNESS,
        LIGHT,
        json!({"brightnessDelta": -100}),
    );
    assert_state(
        &mut home,
        LIGHT,
        &[(POWER, json!("OFF")), (BRIGHTNESS, json!(0))],
    );
}

#[test]
fn set_color_is_reported_and_leaves_white_mode() {
    let mut home = home();
    let color = json!({"hue": 350.5, "saturation": 0.7138, "brightness": 0.6524});
    let v = call(&mut home, SET_COLOR, LIGHT, json!({ "color": color }));
    assert_eq!(header(&v), ("Alexa", "Response"));
    let v = assert_state(&mut home, LIGHT, &[]);
    let reported = property(&v, COLOR.0, COLOR.1).unwrap();
    assert_eq!(reported["hue"], 350.5);
    assert_eq!(reported["saturation"], 0.7138);
    assert_eq!(reported["brightness"], json!(180.0 / 255.0));
    assert_eq!(property(&v, KELVIN.0, KELVIN.1), None);
    call(
        &mut home,
        SET_KELVIN,
        LIGHT,
        json!({"colorTemperatureInKelvin": 5000}),
    );
    assert_state(&mut home, LIGHT, &[(KELVIN, json!(5000))]);
    call(&mut home, INCREASE_KELVIN, LIGHT, json!({}));
    // 5000 K is 200 mireds; 50 fewer would pass the light's coolest, 153 (6535 K).
    assert_state(&mut home, LIGHT, &[(KELVIN, json!(6535))]);
}

#[test]
fn thermostat_setpoint_and_mode_are_reported_new_first() {
    let mut home = home();
    let v = call(
        &mut home,
        SET_SETPOINT,
        THERMOSTAT,
        json!({"targetSetpoint": celsius(22.5)}),
    );
    assert_eq!(header(&v), ("Alexa", "Response"));
    // Home Assistant puts the property its handler sets first, with the new value.
    let first = &v["context"]["properties"][0];
    assert_eq!(first["name"], "targetSetpoint");
    assert_eq!(first["value"], celsius(22.5));
    assert_eq!(first["timeOfSample"], NOW);
    let setpoints = v["context"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "targetSetpoint")
        .count();
    assert_eq!(setpoints, 1);
    let reported = [(SETPOINT, celsius(22.5)), (TEMPERATURE, celsius(19.5))];
    assert_state(&mut home, THERMOSTAT, &reported);

    let delta = json!({"targetSetpointDelta": celsius(-2.0)});
    let v = call(&mut home, ADJUST_SETPOINT, THERMOSTAT, delta);
    assert_eq!(v["context"]["properties"][0]["value"]["value"], 20.5);
    let fahrenheit = json!({"targetSetpoint": {"value": 68.0, "scale": "FAHRENHEIT"}});
    call(&mut home, SET_SETPOINT, THERMOSTAT, fahrenheit);
    let v = assert_state(&mut home, THERMOSTAT, &[]);
    assert_eq!(property(&v, SETPOINT.0, SETPOINT.1).unwrap()["value"], 20.0);

    let off = json!({"thermostatMode": {"value": "OFF"}});
    let v = call(&mut home, SET_MODE, THERMOSTAT, off);
    assert_eq!(v["context"]["properties"][0]["value"], "OFF");
    // The rest is the state before the change.
    assert_properties(&v, &[(POWER, json!("ON"))]);
    assert_state(
        &mut home,
        THERMOSTAT,
        &[(POWER, json!("OFF")), (MODE, json!("OFF"))],
    );
    call(&mut home, TURN_ON, THERMOSTAT, json!({}));
    assert_state(&mut home, THERMOSTAT, &[(MODE, json!("HEAT"))]);

    let eco = json!({"thermostatMode": {"value": "ECO"}});
    let v = call(&mut home, SET_MODE, THERMOSTAT, eco);
    assert_eq!(error_type(&v), "UNSUPPORTED_THERMOSTAT_MODE");
    assert_eq!(header(&v).0, "Alexa.ThermostatController");
    assert_eq!(
        v["event"]["payload"]["message"],
        "The requested thermostat mode eco is not supported"
    );
}

#[test]
fn lock_and_unlock() {
    let mut home = home();
    let v = call(&mut home, UNLOCK, DOOR, json!({}));
    assert_eq!(header(&v), ("Alexa", "Response"));
    assert_properties(&v, &[(LOCK_STATE, json!("UNLOCKED"))]);
    assert_eq!(v["context"]["properties"].as_array().unwrap().len(), 2);
    assert_state(&mut home, DOOR, &[(LOCK_STATE, json!("UNLOCKED"))]);
    let v = call(&mut home, LOCK, DOOR, json!({}));
    assert_properties(&v, &[(LOCK_STATE, json!("LOCKED"))]);
    assert_state(&mut home, DOOR, &[(LOCK_STATE, json!("LOCKED"))]);
}

#[test]
fn scene_activation_starts() {
    let mut home = home();
    let v = call(&mut home, ACTIVATE, SCENE, json!({}));
    assert_eq!(header(&v), ("Alexa.SceneController", "ActivationStarted"));
    assert_eq!(
        v["event"]["payload"],
        json!({"cause": {"type": "VOICE_INTERACTION"}, "timestamp": NOW})
    );
    assert_eq!(v["context"], json!({"properties": []}));
    let v = call(
        &mut home,
        "Alexa.SceneController.Deactivate",
        SCENE,
        json!({}),
    );
    assert_eq!(error_type(&v), "INVALID_DIRECTIVE");
}

#[test]
fn accept_grant_is_answered_without_endpoint_or_context() {
    let mut home = home();
    let grant = json!({"grant": {"type": "OAuth2.AuthorizationCode", "code": "c"}});
    let v = send(&mut home, &event(ACCEPT_GRANT, None, grant, TOKEN));
    assert_eq!(header(&v), ("Alexa.Authorization", "AcceptGrant.Response"));
    assert_eq!(v["event"]["payload"], json!({}));
    assert!(v["event"].get("endpoint").is_none() && v.get("context").is_none());
    let v = send(&mut home, &event(ACCEPT_GRANT, None, json!({}), TOKEN));
    assert_eq!(error_type(&v), "INTERNAL_ERROR");
}

#[test]
fn an_unknown_endpoint_is_no_such_endpoint() {
    let mut home = home();
    let v = call(&mut home, TURN_ON, "light#attic", json!({}));
    assert_eq!(error_type(&v), "NO_SUCH_ENDPOINT");
    assert_eq!(
        v["event"]["payload"]["message"],
        "The endpoint light#attic does not exist"
    );
    assert_eq!(v["event"]["header"]["namespace"], "Alexa");
    assert_eq!(v["event"]["header"]["correlationToken"], "lee-correlation");
    assert_eq!(v["event"]["endpoint"]["endpointId"], "light#attic");
    assert!(v.get("context").is_none());
    // An unknown endpoint wins over an unknown directive, as in Home Assistant.
    let v = call(&mut home, "Alexa.Nothing.Nothing", "light#attic", json!({}));
    assert_eq!(error_type(&v), "NO_SUCH_ENDPOINT");
}

#[test]
fn a_directive_the_endpoint_does_not_support_is_invalid_directive() {
    let mut home = home();
    for (directive, endpoint) in [
        (LOCK, LIGHT),
        (SET_BRIGHTNESS, SWITCH),
        (TURN_ON, SENSOR),
        ("Alexa.PercentageController.SetPercentage", LIGHT),
        ("Alexa.PowerController.Explode", LIGHT),
        ("Alexa.EndpointHealth.TurnOn", SWITCH),
        (ACTIVATE, LIGHT),
    ] {
        let v = call(&mut home, directive, endpoint, json!({"brightness": 10}));
        assert_eq!(
            error_type(&v),
            "INVALID_DIRECTIVE",
            "{directive} on {endpoint}"
        );
        assert_eq!(
            v["event"]["payload"]["message"],
            "Entity does not support directive"
        );
        assert_eq!(v["event"]["payload"].as_object().unwrap().len(), 2);
    }
    // Nothing changed.
    assert_state(&mut home, SWITCH, &[(POWER, json!("OFF"))]);
}

#[test]
fn out_of_range_values_are_refused_without_a_change() {
    let mut home = home();
    let cases = [
        (
            SET_BRIGHTNESS,
            LIGHT,
            json!({"brightness": 150}),
            "VALUE_OUT_OF_RANGE",
            Some("The requested brightness 150 is out of range"),
        ),
        (
            SET_SETPOINT,
            THERMOSTAT,
            json!({"targetSetpoint": celsius(100.0)}),
            "TEMPERATURE_VALUE_OUT_OF_RANGE",
            Some("The requested temperature 100.0 is out of range"),
        ),
        (
            ADJUST_SETPOINT,
            THERMOSTAT,
            json!({"targetSetpointDelta": {"value": -30, "scale": "CELSIUS"}}),
            "TEMPERATURE_VALUE_OUT_OF_RANGE",
            None,
        ),
        (
            SET_COLOR,
            LIGHT,
            json!({"color": {"hue": 400, "saturation": 1, "brightness": 1}}),
            "VALUE_OUT_OF_RANGE",
            None,
        ),
        (
            SET_BRIGHTNESS,
            LIGHT,
            json!({"brightness": "high"}),
            "INTERNAL_ERROR",
            Some("Unknown error"),
        ),
    ];
    for (directive, endpoint, payload, kind, message) in cases {
        let v = call(&mut home, directive, endpoint, payload);
        assert_eq!(error_type(&v), kind, "{v}");
        if let Some(message) = message {
            assert_eq!(v["event"]["payload"]["message"], message);
        }
    }
    assert_state(&mut home, LIGHT, &[(POWER, json!("OFF"))]);
    let v = assert_state(&mut home, THERMOSTAT, &[]);
    assert_eq!(property(&v, SETPOINT.0, SETPOINT.1).unwrap()["value"], 20.0);
}

#[test]
fn a_missing_token_is_401_text() {
    let mut home = home();
    let request = event(REPORT_STATE, Some(LIGHT), json!({}), TOKEN);
    assert_eq!(
        post(&mut home, &request, ""),
        (401, b"401: Unauthorized".to_vec())
    );
    // Before the body is even read.
    assert_eq!(post(&mut home, b"junk", "").0, 401);
}

#[test]
fn junk_is_500_text() {
    let mut home = home();
    for junk in [
        &b"junk"[..],
        b"",
        b"[]",
        b"{}",
        br#"{"directive":{}}"#,
        br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"2"},"payload":{}}}"#,
        br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3"}}}"#,
        br#"{"directive":{"header":{"namespace":1,"name":"ReportState","payloadVersion":"3"},"payload":{}}}"#,
        br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3"},"payload":{},"endpoint":"x"}}"#,
    ] {
        let (status, body) = post(&mut home, junk, "t");
        assert_eq!(status, 500, "{}", String::from_utf8_lossy(junk));
        assert_eq!(
            body,
            b"500 Internal Server Error\n\nServer got itself in trouble"
        );
    }
}

#[test]
fn the_rest_api_root_needs_a_token_and_waiting_is_instant() {
    let mut home = home();
    let mut body = [0u8; 8192];
    let mut get = |path, token| {
        let request = RestRequest {
            method: Method::Get,
            path,
            token,
            body: b"",
        };
        let answer = home.rest(&request, TIMEOUTS, &mut body).unwrap();
        (
            answer.status,
            String::from_utf8_lossy(&body[..answer.len]).into_owned(),
        )
    };
    assert_eq!(
        get("/api/", Some("t")),
        (200, r#"{"message":"API running."}"#.to_string())
    );
    assert_eq!(get("/api/", None), (401, "401: Unauthorized".to_string()));
    assert_eq!(
        get("/api/states/light.nowhere", Some("t")),
        (404, r#"{"message":"Entity not found."}"#.to_string())
    );
    assert_eq!(get("/api/config", Some("t")).0, 404);
    home.wait_until(Instant::from_micros(u64::MAX));
}

#[test]
fn home_assistants_edge_cases() {
    let mut home = home();
    // ReportState without an endpoint: a bare StateReport, no context.
    let v = send(
        &mut home,
        br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m"},"payload":{}}}"#,
    );
    assert_eq!(header(&v), ("Alexa", "StateReport"));
    assert!(v["event"].get("endpoint").is_none() && v.get("context").is_none());
    // A control directive without one fails in Home Assistant's handler.
    let v = send(
        &mut home,
        br#"{"directive":{"header":{"namespace":"Alexa.PowerController","name":"TurnOn","payloadVersion":"3","messageId":"m"},"payload":{}}}"#,
    );
    assert_eq!(error_type(&v), "INTERNAL_ERROR");
    // An empty correlationToken is not echoed; a dotted endpoint id is found.
    let v = send(
        &mut home,
        br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m","correlationToken":""},"endpoint":{"endpointId":"lock.front_door","cookie":{"k":"v"},"scope":{"token":"t","type":"BearerToken"}},"payload":{}}}"#,
    );
    assert_eq!(header(&v), ("Alexa", "StateReport"));
    assert!(v["event"]["header"].get("correlationToken").is_none());
    assert_eq!(v["event"]["endpoint"]["cookie"], json!({"k": "v"}));
}

#[test]
fn answers_too_big_for_the_buffer_are_response_too_large() {
    let mut home = home();
    let request = event(DISCOVER, None, json!({}), TOKEN);
    let mut small = [0u8; 1024];
    assert_eq!(
        home.post_directive(&request, "t", TIMEOUTS, &mut small),
        Err(Failure::ResponseTooLarge)
    );
    let mut big = vec![0u8; 64 * 1024];
    let answer = home
        .post_directive(&request, "t", TIMEOUTS, &mut big)
        .unwrap();
    assert!(answer.len > small.len());
    // Exactly the answer's length fits.
    let mut exact = vec![0u8; answer.len];
    assert!(
        home.post_directive(&request, "t", TIMEOUTS, &mut exact)
            .is_ok()
    );
    // A directive whose answer did not fit still acted, as in Home Assistant.
    let request = event(TURN_ON, Some(SWITCH), json!({}), TOKEN);
    assert_eq!(
        home.post_directive(&request, "t", TIMEOUTS, &mut [0u8; 16]),
        Err(Failure::ResponseTooLarge)
    );
    assert_state(&mut home, SWITCH, &[(POWER, json!("ON"))]);
}

fn demo_bridge() -> Bridge {
    Bridge::with_transport(
        Config::default(),
        Vec::new(),
        Capacities::MINIMUM,
        Some(Box::new(DemoHome::new())),
    )
    .expect("the minimum capacities fit the budget")
}

/// [`demo_bridge`] with a token for engine ops.
fn demo_bridge_with_ops_token() -> Bridge {
    Bridge::with_transport(
        Config {
            ha_token: Some(lee_host::config::Secret::new("demo-ops-token".into())),
            ..Config::default()
        },
        Vec::new(),
        Capacities::MINIMUM,
        Some(Box::new(DemoHome::new())),
    )
    .expect("the minimum capacities fit the budget")
}

/// Send the directive named `Namespace.Name` through `bridge`, assert it
/// passed through, and return the answer's bytes.
fn pass_through(
    bridge: &mut Bridge,
    qualified: &str,
    endpoint: Option<&str>,
    payload: Value,
    token: &str,
) -> Vec<u8> {
    let answer = bridge.answer(&event(qualified, endpoint, payload, token), None);
    assert_eq!(
        answer.outcome,
        Answered::PassedThrough,
        "{qualified} on {endpoint:?}: {}",
        String::from_utf8_lossy(answer.body)
    );
    answer.body.to_vec()
}

/// What one directive should get back.
enum Expect {
    /// A success with this header namespace and name.
    Answer(&'static str, &'static str),
    /// An `ErrorResponse` of this type.
    Error(&'static str),
}

/// The answer to a control directive.
const RESPONSE: Expect = Expect::Answer("Alexa", "Response");

#[test]
fn every_demo_directive_passes_through_and_validates_against_the_schema() {
    let schema = AlexaSchema::load();
    let mut bridge = demo_bridge();
    let empty = || json!({});
    let grant = json!({"grant": {"type": "OAuth2.AuthorizationCode", "code": "lee-test"}});
    let color = json!({"color": {"hue": 350.5, "saturation": 0.7138, "brightness": 0.6524}});
    let cases: Vec<(&str, Option<&str>, Value, Expect)> = vec![
        (
            DISCOVER,
            None,
            empty(),
            Expect::Answer("Alexa.Discovery", "Discover.Response"),
        ),
        (
            ACCEPT_GRANT,
            None,
            grant,
            Expect::Answer("Alexa.Authorization", "AcceptGrant.Response"),
        ),
        (TURN_ON, Some(LIGHT), empty(), RESPONSE),
        (TURN_OFF, Some(LIGHT), empty(), RESPONSE),
        (
            SET_BRIGHTNESS,
            Some(LIGHT),
            json!({"brightness": 42}),
            RESPONSE,
        ),
        (
            ADJUST_BRIGHTNESS,
            Some(LIGHT),
            json!({"brightnessDelta": 10, "brightnessDefault": false}),
            RESPONSE,
        ),
        (SET_COLOR, Some(LIGHT), color, RESPONSE),
        (
            SET_KELVIN,
            Some(LIGHT),
            json!({"colorTemperatureInKelvin": 5000}),
            RESPONSE,
        ),
        (DECREASE_KELVIN, Some(LIGHT), empty(), RESPONSE),
        (TURN_ON, Some(SWITCH), empty(), RESPONSE),
        (TURN_OFF, Some(THERMOSTAT), empty(), RESPONSE),
        (
            SET_SETPOINT,
            Some(THERMOSTAT),
            json!({"targetSetpoint": celsius(22.5)}),
            RESPONSE,
        ),
        (
            ADJUST_SETPOINT,
            Some(THERMOSTAT),
            json!({"targetSetpointDelta": celsius(-1.0)}),
            RESPONSE,
        ),
        (
            SET_MODE,
            Some(THERMOSTAT),
            json!({"thermostatMode": {"value": "COOL"}}),
            RESPONSE,
        ),
        (UNLOCK, Some(DOOR), empty(), RESPONSE),
        (LOCK, Some(DOOR), empty(), RESPONSE),
        (
            ACTIVATE,
            Some(SCENE),
            empty(),
            Expect::Answer("Alexa.SceneController", "ActivationStarted"),
        ),
        (
            TURN_ON,
            Some("light#attic"),
            empty(),
            Expect::Error("NO_SUCH_ENDPOINT"),
        ),
        (
            LOCK,
            Some(LIGHT),
            empty(),
            Expect::Error("INVALID_DIRECTIVE"),
        ),
        (
            "Alexa.PercentageController.SetPercentage",
            Some(SWITCH),
            json!({"percentage": 50}),
            Expect::Error("INVALID_DIRECTIVE"),
        ),
        (
            SET_BRIGHTNESS,
            Some(LIGHT),
            json!({"brightness": 150}),
            Expect::Error("VALUE_OUT_OF_RANGE"),
        ),
        (
            SET_SETPOINT,
            Some(THERMOSTAT),
            json!({"targetSetpoint": celsius(100.0)}),
            Expect::Error("TEMPERATURE_VALUE_OUT_OF_RANGE"),
        ),
        (
            SET_MODE,
            Some(THERMOSTAT),
            json!({"thermostatMode": {"value": "ECO"}}),
            Expect::Error("UNSUPPORTED_THERMOSTAT_MODE"),
        ),
        (
            SET_BRIGHTNESS,
            Some(LIGHT),
            json!({"brightness": "bright"}),
            Expect::Error("INTERNAL_ERROR"),
        ),
    ];
    // ReportState on every endpoint, before and after the directives above.
    let reports = ENDPOINT_IDS.iter().map(|&id| {
        let state_report = Expect::Answer("Alexa", "StateReport");
        (REPORT_STATE, Some(id), empty(), state_report)
    });
    let all: Vec<_> = reports.clone().chain(cases).chain(reports).collect();
    for (qualified, endpoint, payload, expect) in all {
        let body = pass_through(&mut bridge, qualified, endpoint, payload, TOKEN);
        let v = schema.assert_valid(&body);
        let what = format!("{qualified} on {endpoint:?}: {v}");
        match expect {
            Expect::Answer(ns, n) => assert_eq!(header(&v), (ns, n), "{what}"),
            Expect::Error(kind) => assert_eq!(error_type(&v), kind, "{what}"),
        }
        if let Some(id) = endpoint {
            assert_eq!(
                v["event"]["header"]["correlationToken"], "lee-correlation",
                "{what}"
            );
            assert_eq!(v["event"]["endpoint"]["endpointId"], id, "{what}");
        }
    }
}

#[test]
fn control_directives_change_what_report_state_shows_through_the_bridge() {
    let mut bridge = demo_bridge();
    let cases = [
        (
            SET_BRIGHTNESS,
            LIGHT,
            json!({"brightness": 42}),
            vec![(POWER, json!("ON")), (BRIGHTNESS, json!(42))],
        ),
        (
            SET_SETPOINT,
            THERMOSTAT,
            json!({"targetSetpoint": celsius(22.5)}),
            vec![(SETPOINT, celsius(22.5))],
        ),
        (
            UNLOCK,
            DOOR,
            json!({}),
            vec![(LOCK_STATE, json!("UNLOCKED"))],
        ),
    ];
    for (directive, endpoint, payload, expected) in cases {
        pass_through(&mut bridge, directive, Some(endpoint), payload, TOKEN);
        let body = pass_through(&mut bridge, REPORT_STATE, Some(endpoint), json!({}), TOKEN);
        assert_properties(&serde_json::from_slice(&body).unwrap(), &expected);
    }
}

/// The structure of a JSON value: objects by their keys (sorted) and the
/// structure of each member, arrays by the set of their elements'
/// structures, scalars by their type.
fn shape(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let set: BTreeSet<String> = items.iter().map(shape).collect();
            format!("[{}]", set.into_iter().collect::<Vec<_>>().join("|"))
        }
        Value::Object(members) => {
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{k}:{}", shape(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

/// The answer's text up to its payload, with the messageId masked: the
/// header byte for byte, member order included.
fn header_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let end = text.find(",\"payload\"").unwrap_or(text.len());
    let mut head = text[..end].to_string();
    if let Some(at) = head.find("\"messageId\":\"") {
        let start = at + "\"messageId\":\"".len();
        head.replace_range(start..(start + 36).min(head.len()), "<uuid>");
    }
    head
}

/// A Discovery endpoint's interfaces, in order.
fn interfaces(endpoint: &Value) -> Vec<&str> {
    endpoint["capabilities"]
        .as_array()
        .unwrap_or_else(|| panic!("no capabilities in {endpoint}"))
        .iter()
        .map(|c| c["interface"].as_str().unwrap())
        .collect()
}

/// The demo's endpoints and the real Home Assistant endpoints of the same
/// kind (`climate#heatpump` has the demo thermostat's single setpoint).
const COUNTERPARTS: [(&str, &str); 6] = [
    (LIGHT, "light#bed_light"),
    (SWITCH, "switch#decorative_lights"),
    (THERMOSTAT, "climate#heatpump"),
    (DOOR, "lock#kitchen_door"),
    (SENSOR, "sensor#outside_temperature"),
    (SCENE, "scene#harness_movie_time"),
];

#[test]
fn the_demo_answers_with_real_home_assistants_structure() {
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    let config = Config {
        base_url: Some(BaseUrl::parse(&ha.url).unwrap()),
        ..Config::default()
    };
    let mut real = Bridge::new(config, Vec::new(), Capacities::STANDARD).unwrap();
    let mut demo = demo_bridge();

    // Discovery: the header byte for byte, each endpoint's structure and interfaces.
    let real_body = pass_through(&mut real, DISCOVER, None, json!({}), &ha.token);
    let demo_body = pass_through(&mut demo, DISCOVER, None, json!({}), TOKEN);
    assert_eq!(header_text(&demo_body), header_text(&real_body));
    let real_v: Value = serde_json::from_slice(&real_body).unwrap();
    let demo_v: Value = serde_json::from_slice(&demo_body).unwrap();
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&demo_v), keys(&real_v));
    assert_eq!(keys(&demo_v["event"]), keys(&real_v["event"]));
    assert_eq!(
        keys(&demo_v["event"]["payload"]),
        keys(&real_v["event"]["payload"])
    );
    let find = |v: &Value, id: &str| -> Value {
        v["event"]["payload"]["endpoints"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["endpointId"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} is not discovered"))
    };
    for (demo_id, real_id) in COUNTERPARTS {
        let (d, r) = (find(&demo_v, demo_id), find(&real_v, real_id));
        assert_eq!(interfaces(&d), interfaces(&r), "{demo_id} vs {real_id}");
        assert_eq!(shape(&d), shape(&r), "{demo_id} vs {real_id}:\n{d}\n{r}");
    }

    // ReportState: the header byte for byte, the event's structure, and
    // each property's structure (which properties a light reports depends
    // on its state: no color temperature while it is off or in color mode).
    for (demo_id, real_id) in COUNTERPARTS {
        let real_body = pass_through(&mut real, REPORT_STATE, Some(real_id), json!({}), &ha.token);
        let demo_body = pass_through(&mut demo, REPORT_STATE, Some(demo_id), json!({}), TOKEN);
        assert_eq!(header_text(&demo_body), header_text(&real_body));
        let r: Value = serde_json::from_slice(&real_body).unwrap();
        let d: Value = serde_json::from_slice(&demo_body).unwrap();
        assert_eq!(keys(&d), keys(&r), "{demo_id} vs {real_id}");
        assert_eq!(
            shape(&d["event"]),
            shape(&r["event"]),
            "{demo_id} vs {real_id}"
        );
        let properties = |v: &Value| -> Vec<(String, String)> {
            v["context"]["properties"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let key = format!("{}.{}", p["namespace"], p["name"]);
                    (key, shape(p))
                })
                .filter(|(key, _)| !key.contains("colorTemperatureInKelvin"))
                .collect()
        };
        assert_eq!(properties(&d), properties(&r), "{demo_id} vs {real_id}");
    }
}

/// The demo home's REST side: states and the switching services, through
/// lee's engine ops, with the states Alexa sees kept in step.
#[test]
fn engine_ops_read_and_switch_the_demo_homes_states() {
    let mut bridge = demo_bridge_with_ops_token();
    let mut op = |op: Value| -> Value {
        let handled = bridge.handle(&serde_json::to_vec(&op).unwrap(), None);
        serde_json::from_slice(handled.body).unwrap()
    };
    let all = op(json!({"op": "ha.states"}));
    let ids: Vec<&str> = all["states"]
        .as_array()
        .unwrap_or_else(|| panic!("{all}"))
        .iter()
        .map(|s| s["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), ENDPOINT_IDS.len(), "{all}");
    assert!(ids.contains(&"light.living_room"));
    let light = op(json!({"op": "ha.state", "entity_id": "light.living_room"}));
    assert_eq!(light["state"]["state"], "off", "{light}");
    assert_eq!(
        light["state"]["attributes"]["friendly_name"],
        "Living Room Light"
    );
    let switched = op(
        json!({"op": "ha.call_service", "domain": "light", "service": "turn_on",
                             "entity_id": "light.living_room"}),
    );
    assert_eq!(switched["ok"], true, "{switched}");
    let light = op(json!({"op": "ha.state", "entity_id": "light.living_room"}));
    assert_eq!(
        light["state"]["state"], "on",
        "the call dropped the cached state: {light}"
    );
    let missing = op(json!({"op": "ha.state", "entity_id": "light.nowhere"}));
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
}

/// A module's working memory (a directive's token, an op's request) is
/// scratch, given back when the operation ends: with every slot pinned, so
/// that no policy ever reclaims one, a module that stays loaded answers
/// thousands of events without filling its arena (16 KiB in the minimum
/// tier: about 90 directives' worth of these tokens, were they kept).
#[test]
fn pinned_slots_answer_event_after_event_without_filling_their_arenas() {
    let mut bridge = demo_bridge_with_ops_token();
    bridge.pin_every_slot();
    let token = "t".repeat(180);
    for n in 0..2000 {
        pass_through(&mut bridge, REPORT_STATE, Some(LIGHT), json!({}), &token);
        let service = if n % 2 == 0 { "turn_on" } else { "turn_off" };
        let call = json!({"op": "ha.call_service", "domain": "light", "service": service,
                          "entity_id": "light.living_room", "data": {"brightness": 120}});
        let handled = bridge.handle(&serde_json::to_vec(&call).unwrap(), None);
        let answer: Value = serde_json::from_slice(handled.body).unwrap();
        assert_eq!(answer["ok"], true, "event {n}: {answer}");
    }
    let diagnostics: Value =
        serde_json::from_slice(bridge.handle(br#"{"diagnostics": true}"#, None).body).unwrap();
    let modules = diagnostics["slots"]["modules"].as_array().unwrap();
    for module in modules.iter().filter(|m| m["loads"] == 1) {
        assert_eq!(module["loaded"], true, "{module}");
        assert_eq!(module["unloads"], 0, "{module}");
        assert_eq!(module["bytes_used"], 0, "nothing kept: {module}");
    }
}

#[test]
fn demo_states_have_home_assistants_shape() {
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    // Home Assistant's own state object, as lee's ha.state op hands it on.
    let mut bridge =
        lee_testkit::bridge_from_env(&[("BASE_URL", &ha.url), ("HA_TOKEN", &ha.token)]);
    let op = br#"{"op": "ha.state", "entity_id": "light.bed_light"}"#;
    let answer: Value = serde_json::from_slice(bridge.handle(op, None).body).unwrap();
    let real = answer["state"].clone();
    let mut home = DemoHome::new();
    let request = RestRequest {
        method: Method::Get,
        path: "/api/states/light.living_room",
        token: Some("t"),
        body: b"",
    };
    let mut body = vec![0u8; 8192];
    let answer = home.rest(&request, TIMEOUTS, &mut body).unwrap();
    assert_eq!(answer.status, 200);
    let demo: Value = serde_json::from_slice(&body[..answer.len]).unwrap();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keys(&demo), keys(&real));
    assert_eq!(keys(&demo["context"]), keys(&real["context"]));
    assert!(demo["attributes"]["friendly_name"].is_string());
}
