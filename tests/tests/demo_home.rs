//! The embedded demo home (`lee_host::demo::DemoHome`) as the bridge's
//! transport: every directive it models passes through lee unchanged, every
//! answer validates against Amazon's Alexa Smart Home schema, and, when the
//! Home Assistant harness of `../shared/ha` is running, its answers have the
//! same structure as real Home Assistant 2024.3's (keys and value types,
//! not values).

use std::collections::BTreeSet;

use lee_core::bridge::Answered;
use lee_core::budget::Capacities;
use lee_host::Bridge;
use lee_host::config::{BaseUrl, Config};
use lee_host::demo::{DemoHome, ENDPOINT_IDS};
use lee_integration_tests::{AlexaSchema, RealHa, directive};
use serde_json::{Value, json};

const TOKEN: &str = "demo-token";

fn demo_bridge() -> Bridge {
    Bridge::with_transport(
        Config::default(),
        Vec::new(),
        Capacities::MINIMUM,
        Some(Box::new(DemoHome::new())),
    )
    .expect("the minimum capacities fit the budget")
}

/// Send a directive through `bridge`, assert it passed through, and return
/// the answer's bytes.
fn pass_through(
    bridge: &mut Bridge,
    namespace: &str,
    name: &str,
    endpoint: Option<&str>,
    payload: Value,
    token: &str,
) -> Vec<u8> {
    let event = directive(namespace, name, endpoint, payload, token);
    let answer = bridge.answer(&event, None);
    assert_eq!(
        answer.outcome,
        Answered::PassedThrough,
        "{namespace}.{name} on {endpoint:?}: {}",
        String::from_utf8_lossy(answer.body)
    );
    answer.body.to_vec()
}

fn header(v: &Value) -> (&str, &str) {
    let h = &v["event"]["header"];
    (
        h["namespace"].as_str().unwrap_or_default(),
        h["name"].as_str().unwrap_or_default(),
    )
}

fn property<'a>(v: &'a Value, namespace: &str, name: &str) -> Option<&'a Value> {
    v["context"]["properties"]
        .as_array()?
        .iter()
        .find(|p| p["namespace"] == namespace && p["name"] == name)
        .map(|p| &p["value"])
}

/// What one directive should get back.
enum Expect {
    /// A success with this header namespace and name.
    Answer(&'static str, &'static str),
    /// An `ErrorResponse` of this type.
    Error(&'static str),
}

#[test]
fn every_demo_directive_passes_through_and_validates_against_the_schema() {
    let schema = AlexaSchema::load();
    let mut bridge = demo_bridge();
    let empty = || json!({});
    let temperature = |value: f64| json!({"value": value, "scale": "CELSIUS"});
    let cases: Vec<(&str, &str, Option<&str>, Value, Expect)> = vec![
        (
            "Alexa.Discovery",
            "Discover",
            None,
            empty(),
            Expect::Answer("Alexa.Discovery", "Discover.Response"),
        ),
        (
            "Alexa.Authorization",
            "AcceptGrant",
            None,
            json!({"grant": {"type": "OAuth2.AuthorizationCode", "code": "lee-test"}}),
            Expect::Answer("Alexa.Authorization", "AcceptGrant.Response"),
        ),
        (
            "Alexa.PowerController",
            "TurnOn",
            Some("light#living_room"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.PowerController",
            "TurnOff",
            Some("light#living_room"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.BrightnessController",
            "SetBrightness",
            Some("light#living_room"),
            json!({"brightness": 42}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.BrightnessController",
            "AdjustBrightness",
            Some("light#living_room"),
            json!({"brightnessDelta": 10, "brightnessDefault": false}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.ColorController",
            "SetColor",
            Some("light#living_room"),
            json!({"color": {"hue": 350.5, "saturation": 0.7138, "brightness": 0.6524}}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.ColorTemperatureController",
            "SetColorTemperature",
            Some("light#living_room"),
            json!({"colorTemperatureInKelvin": 5000}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.ColorTemperatureController",
            "DecreaseColorTemperature",
            Some("light#living_room"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.PowerController",
            "TurnOn",
            Some("switch#coffee_maker"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.PowerController",
            "TurnOff",
            Some("climate#hallway"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.ThermostatController",
            "SetTargetTemperature",
            Some("climate#hallway"),
            json!({"targetSetpoint": temperature(22.5)}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.ThermostatController",
            "AdjustTargetTemperature",
            Some("climate#hallway"),
            json!({"targetSetpointDelta": temperature(-1.0)}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.ThermostatController",
            "SetThermostatMode",
            Some("climate#hallway"),
            json!({"thermostatMode": {"value": "COOL"}}),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.LockController",
            "Unlock",
            Some("lock#front_door"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.LockController",
            "Lock",
            Some("lock#front_door"),
            empty(),
            Expect::Answer("Alexa", "Response"),
        ),
        (
            "Alexa.SceneController",
            "Activate",
            Some("scene#movie_night"),
            empty(),
            Expect::Answer("Alexa.SceneController", "ActivationStarted"),
        ),
        (
            "Alexa.PowerController",
            "TurnOn",
            Some("light#attic"),
            empty(),
            Expect::Error("NO_SUCH_ENDPOINT"),
        ),
        (
            "Alexa.LockController",
            "Lock",
            Some("light#living_room"),
            empty(),
            Expect::Error("INVALID_DIRECTIVE"),
        ),
        (
            "Alexa.PercentageController",
            "SetPercentage",
            Some("switch#coffee_maker"),
            json!({"percentage": 50}),
            Expect::Error("INVALID_DIRECTIVE"),
        ),
        (
            "Alexa.BrightnessController",
            "SetBrightness",
            Some("light#living_room"),
            json!({"brightness": 150}),
            Expect::Error("VALUE_OUT_OF_RANGE"),
        ),
        (
            "Alexa.ThermostatController",
            "SetTargetTemperature",
            Some("climate#hallway"),
            json!({"targetSetpoint": temperature(100.0)}),
            Expect::Error("TEMPERATURE_VALUE_OUT_OF_RANGE"),
        ),
        (
            "Alexa.ThermostatController",
            "SetThermostatMode",
            Some("climate#hallway"),
            json!({"thermostatMode": {"value": "ECO"}}),
            Expect::Error("UNSUPPORTED_THERMOSTAT_MODE"),
        ),
        (
            "Alexa.BrightnessController",
            "SetBrightness",
            Some("light#living_room"),
            json!({"brightness": "bright"}),
            Expect::Error("INTERNAL_ERROR"),
        ),
    ];
    // ReportState on every endpoint, before and after the directives above.
    let reports = ENDPOINT_IDS.iter().map(|&id| {
        (
            "Alexa",
            "ReportState",
            Some(id),
            empty(),
            Expect::Answer("Alexa", "StateReport"),
        )
    });
    let all: Vec<_> = reports.clone().chain(cases).chain(reports).collect();
    for (namespace, name, endpoint, payload, expect) in all {
        let body = pass_through(&mut bridge, namespace, name, endpoint, payload, TOKEN);
        let v = schema.assert_valid(&body);
        let what = format!("{namespace}.{name} on {endpoint:?}: {v}");
        match expect {
            Expect::Answer(ns, n) => assert_eq!(header(&v), (ns, n), "{what}"),
            Expect::Error(kind) => {
                assert_eq!(header(&v).1, "ErrorResponse", "{what}");
                assert_eq!(v["event"]["payload"]["type"], kind, "{what}");
            }
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
    let report = |bridge: &mut Bridge, id: &str| -> Value {
        let body = pass_through(bridge, "Alexa", "ReportState", Some(id), json!({}), TOKEN);
        serde_json::from_slice(&body).unwrap()
    };
    pass_through(
        &mut bridge,
        "Alexa.BrightnessController",
        "SetBrightness",
        Some("light#living_room"),
        json!({"brightness": 42}),
        TOKEN,
    );
    let v = report(&mut bridge, "light#living_room");
    assert_eq!(
        property(&v, "Alexa.PowerController", "powerState"),
        Some(&json!("ON"))
    );
    assert_eq!(
        property(&v, "Alexa.BrightnessController", "brightness"),
        Some(&json!(42))
    );
    pass_through(
        &mut bridge,
        "Alexa.ThermostatController",
        "SetTargetTemperature",
        Some("climate#hallway"),
        json!({"targetSetpoint": {"value": 22.5, "scale": "CELSIUS"}}),
        TOKEN,
    );
    let v = report(&mut bridge, "climate#hallway");
    assert_eq!(
        property(&v, "Alexa.ThermostatController", "targetSetpoint"),
        Some(&json!({"value": 22.5, "scale": "CELSIUS"}))
    );
    pass_through(
        &mut bridge,
        "Alexa.LockController",
        "Unlock",
        Some("lock#front_door"),
        json!({}),
        TOKEN,
    );
    let v = report(&mut bridge, "lock#front_door");
    assert_eq!(
        property(&v, "Alexa.LockController", "lockState"),
        Some(&json!("UNLOCKED"))
    );
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

fn interfaces(endpoint: &Value) -> Vec<&str> {
    endpoint["capabilities"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["interface"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// The demo's endpoints and the real Home Assistant endpoints of the same
/// kind (`climate#heatpump` has the demo thermostat's single setpoint).
const COUNTERPARTS: [(&str, &str); 6] = [
    ("light#living_room", "light#bed_light"),
    ("switch#coffee_maker", "switch#decorative_lights"),
    ("climate#hallway", "climate#heatpump"),
    ("lock#front_door", "lock#kitchen_door"),
    ("sensor#outside_temperature", "sensor#outside_temperature"),
    ("scene#movie_night", "scene#harness_movie_time"),
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
    let real_body = pass_through(
        &mut real,
        "Alexa.Discovery",
        "Discover",
        None,
        json!({}),
        &ha.token,
    );
    let demo_body = pass_through(
        &mut demo,
        "Alexa.Discovery",
        "Discover",
        None,
        json!({}),
        TOKEN,
    );
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
        let real_body = pass_through(
            &mut real,
            "Alexa",
            "ReportState",
            Some(real_id),
            json!({}),
            &ha.token,
        );
        let demo_body = pass_through(
            &mut demo,
            "Alexa",
            "ReportState",
            Some(demo_id),
            json!({}),
            TOKEN,
        );
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
