//! The bridge against the real Home Assistant 2024.3.3 of `../shared/ha`.
//!
//! lee talks to Home Assistant through a recording relay, so every answer
//! lee passes through is compared byte for byte with what Home Assistant
//! actually sent. Without a running harness these tests skip, unless
//! `LEE_REQUIRE_HA` is set (CI sets it), which turns a skip into a failure.

use std::time::Duration;

use lee_core::alexa::ErrorType;
use lee_core::bridge::Answered;
use lee_host::Bridge;
use lee_testkit::{AlexaSchema, FaultServer, RealHa, RelayedHa, directive, header, property};
use serde_json::Value;

struct Harness {
    ha: RealHa,
    relay: FaultServer,
    bridge: Bridge,
}

impl Harness {
    fn start() -> Option<Harness> {
        let RelayedHa { ha, relay, bridge } = RelayedHa::start(false)?;
        Some(Harness { ha, relay, bridge })
    }

    /// Send a directive through lee; assert it passed through unchanged and
    /// return it parsed.
    fn pass_through(
        &mut self,
        namespace: &str,
        name: &str,
        endpoint: Option<&str>,
        payload: Value,
    ) -> Value {
        let event = directive(namespace, name, endpoint, payload, &self.ha.token);
        let before = self.relay.relayed().len();
        let answer = self.bridge.answer(&event, Some(Duration::from_secs(10)));
        assert_eq!(
            answer.outcome,
            Answered::PassedThrough,
            "{namespace}.{name}: {}",
            String::from_utf8_lossy(answer.body)
        );
        let body = answer.body.to_vec();
        let relayed = self.relay.relayed();
        assert_eq!(relayed.len(), before + 1, "exactly one request reached HA");
        assert_eq!(
            body, relayed[before],
            "{namespace}.{name}: not byte for byte"
        );
        serde_json::from_slice(&body).unwrap()
    }
}

#[test]
fn discovery_returns_home_assistants_53_endpoints_unchanged() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let v = h.pass_through("Alexa.Discovery", "Discover", None, serde_json::json!({}));
    assert_eq!(header(&v), ("Alexa.Discovery", "Discover.Response"));
    let endpoints = v["event"]["payload"]["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 53);
    assert!(
        endpoints
            .iter()
            .any(|e| e["endpointId"] == "light#bed_light")
    );
}

#[test]
fn control_directives_round_trip_and_report_state_sees_their_effect() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let empty = || serde_json::json!({});

    let v = h.pass_through(
        "Alexa.PowerController",
        "TurnOff",
        Some("switch#decorative_lights"),
        empty(),
    );
    assert_eq!(header(&v), ("Alexa", "Response"));
    assert_eq!(v["event"]["header"]["correlationToken"], "lee-correlation");
    let v = h.pass_through(
        "Alexa.PowerController",
        "TurnOn",
        Some("switch#decorative_lights"),
        empty(),
    );
    assert_eq!(header(&v), ("Alexa", "Response"));
    // HA answers with the state read at once; ReportState a moment later shows the change.
    std::thread::sleep(Duration::from_millis(300));
    let v = h.pass_through(
        "Alexa",
        "ReportState",
        Some("switch#decorative_lights"),
        empty(),
    );
    assert_eq!(header(&v), ("Alexa", "StateReport"));
    assert_eq!(
        property(&v, "Alexa.PowerController", "powerState"),
        Some(&"ON".into())
    );

    let v = h.pass_through(
        "Alexa.BrightnessController",
        "SetBrightness",
        Some("light#bed_light"),
        serde_json::json!({"brightness": 42}),
    );
    assert_eq!(header(&v), ("Alexa", "Response"));
    std::thread::sleep(Duration::from_millis(300));
    let v = h.pass_through("Alexa", "ReportState", Some("light#bed_light"), empty());
    assert_eq!(
        property(&v, "Alexa.BrightnessController", "brightness"),
        Some(&42.into())
    );

    let v = h.pass_through(
        "Alexa.ThermostatController",
        "SetTargetTemperature",
        Some("climate#hvac"),
        serde_json::json!({"targetSetpoint": {"value": 22.5, "scale": "CELSIUS"}}),
    );
    assert_eq!(header(&v), ("Alexa", "Response"));
    assert_eq!(
        property(&v, "Alexa.ThermostatController", "targetSetpoint").map(|t| &t["value"]),
        Some(&22.5.into())
    );

    let v = h.pass_through(
        "Alexa.LockController",
        "Lock",
        Some("lock#kitchen_door"),
        empty(),
    );
    assert_eq!(header(&v), ("Alexa", "Response"));
    assert!(property(&v, "Alexa.LockController", "lockState").is_some());

    let v = h.pass_through(
        "Alexa.SceneController",
        "Activate",
        Some("scene#harness_movie_time"),
        empty(),
    );
    assert_eq!(header(&v), ("Alexa.SceneController", "ActivationStarted"));
}

#[test]
fn accept_grant_is_answered_by_home_assistant() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let v = h.pass_through(
        "Alexa.Authorization",
        "AcceptGrant",
        None,
        serde_json::json!({"grant": {"type": "OAuth2.AuthorizationCode", "code": "lee-test"}}),
    );
    assert_eq!(header(&v), ("Alexa.Authorization", "AcceptGrant.Response"));
}

#[test]
fn home_assistants_own_alexa_errors_pass_through() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let v = h.pass_through(
        "Alexa.PowerController",
        "TurnOn",
        Some("light#no_such_light"),
        serde_json::json!({}),
    );
    assert_eq!(header(&v), ("Alexa", "ErrorResponse"));
    assert_eq!(v["event"]["payload"]["type"], "NO_SUCH_ENDPOINT");
}

#[test]
fn a_wrong_token_is_invalid_authorization_with_the_correlation_token_echoed() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let schema = AlexaSchema::load();
    let event = directive(
        "Alexa",
        "ReportState",
        Some("light#bed_light"),
        serde_json::json!({}),
        "not-a-valid-token",
    );
    let answer = h.bridge.answer(&event, None);
    assert!(
        matches!(
            answer.outcome,
            Answered::Error(ErrorType::InvalidAuthorizationCredential, _)
        ),
        "{:?}",
        answer.outcome
    );
    let v = schema.assert_valid(answer.body);
    assert_eq!(v["event"]["header"]["correlationToken"], "lee-correlation");
    assert_eq!(v["event"]["endpoint"]["endpointId"], "light#bed_light");
    assert!(!String::from_utf8_lossy(answer.body).contains("not-a-valid-token"));
}
