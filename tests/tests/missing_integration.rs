//! A Home Assistant without its Alexa Smart Home integration (`alexa:` →
//! `smart_home:` never added to configuration.yaml), the real harness
//! instance set up that way: `/api/` answers, `POST /api/alexa/smart_home`
//! is 404. The directive's error answer, its log line, the health report
//! and the doctor each name the missing integration and the YAML to add;
//! on the shared instance, which has it, the health report says so. And in
//! the recommended setup, with no long-lived token, the health report says
//! no token is configured instead of a bare 401.

use lee_core::alexa::ErrorType;
use lee_core::bridge::Answered;
use lee_host::Outcome;
use lee_testkit::{AlexaSchema, RealHa, bridge_from_env, capture_logs, directive};
use serde_json::{Value, json};

fn health(vars: &[(&str, &str)]) -> Value {
    let mut bridge = bridge_from_env(vars);
    let body = bridge
        .handle(br#"{"health_check": true}"#, None)
        .body
        .to_vec();
    serde_json::from_slice(&body).expect("the health report is JSON")
}

#[test]
fn a_directive_to_a_home_without_the_integration_says_what_to_add() {
    let Some(ha) = RealHa::without_alexa() else {
        return;
    };
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url)]);
    let event = directive(
        "Alexa.PowerController",
        "TurnOn",
        Some("light#kitchen"),
        json!({}),
        &ha.token,
    );
    let (body, logs) = capture_logs(|| {
        let handled = bridge.handle(&event, None);
        let Outcome::Directive(Answered::Error(error, _)) = handled.outcome else {
            panic!("not an error answer: {:?}", handled.outcome);
        };
        assert_eq!(error, ErrorType::InternalError);
        handled.body.to_vec()
    });
    let answer = AlexaSchema::load().assert_valid(&body);
    assert_eq!(
        answer["event"]["header"]["correlationToken"],
        "lee-correlation"
    );
    let message = answer["event"]["payload"]["message"].as_str().unwrap();
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(message.contains("alexa: smart_home:"), "{message}");
    assert!(!message.contains(&ha.token));
    let logged = logs
        .iter()
        .find(|l| l.contains("HTTP 404"))
        .unwrap_or_else(|| panic!("no log line names the 404: {logs:#?}"));
    assert!(logged.contains("alexa: smart_home:"), "{logged}");
    assert!(logs.iter().all(|l| !l.contains(&ha.token)));
}

#[test]
fn the_health_report_names_a_missing_integration_and_a_present_one() {
    let Some(without) = RealHa::without_alexa() else {
        return;
    };
    let report = health(&[
        ("BASE_URL", &without.url),
        ("LONG_LIVED_ACCESS_TOKEN", &without.token),
    ]);
    let ha = &report["home_assistant"];
    assert_eq!(ha["reachable"], true, "{report:#}");
    assert_eq!(ha["token_accepted"], true, "{report:#}");
    assert_eq!(ha["alexa_smart_home"]["set_up"], false, "{report:#}");
    let problem = ha["alexa_smart_home"]["problem"].as_str().unwrap();
    assert!(problem.contains("`alexa:` with `smart_home:`"), "{problem}");

    let Some(with) = RealHa::from_env() else {
        return;
    };
    let report = health(&[
        ("BASE_URL", &with.url),
        ("LONG_LIVED_ACCESS_TOKEN", &with.token),
    ]);
    assert_eq!(
        report["home_assistant"]["alexa_smart_home"],
        json!({"status": 401, "set_up": true}),
        "{report:#}"
    );
}

#[test]
fn without_a_long_lived_token_the_health_report_says_none_is_configured() {
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    let report = health(&[("BASE_URL", &ha.url)]);
    let ha = &report["home_assistant"];
    assert_eq!(ha["reachable"], true, "{report:#}");
    assert_eq!(ha["token_accepted"], Value::Null, "{report:#}");
    let said = ha["token"].as_str().unwrap();
    assert!(said.contains("no long-lived token is configured"), "{said}");
    assert!(said.contains("LONG_LIVED_ACCESS_TOKEN"), "{said}");
}

#[test]
fn the_doctor_shows_the_yaml_to_add() {
    let Some(ha) = RealHa::without_alexa() else {
        return;
    };
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url), ("HA_TOKEN", &ha.token)]);
    let body = bridge.handle(br#"{"doctor": true}"#, None).body.to_vec();
    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["ok"], false, "{report:#}");
    let discovery = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "discovery")
        .unwrap();
    assert_eq!(discovery["status"], "failed", "{discovery:#}");
    assert!(
        discovery["seen"].as_str().unwrap().contains("answered 404"),
        "{discovery:#}"
    );
    let fix = discovery["fix"].as_str().unwrap();
    assert!(
        fix.contains("alexa:") && fix.contains("smart_home:"),
        "{fix}"
    );
    let api = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "api")
        .unwrap();
    assert_eq!(api["status"], "ok", "/api/ answers: {api:#}");
}
