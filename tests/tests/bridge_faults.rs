//! The bridge against a loopback server, beyond the fault matrix
//! (`fault_matrix.rs`): what is sent to Home Assistant, retries and the
//! breaker on refused connections, a name that does not resolve, directives
//! answered without a request,
//! AcceptGrant, warm connections and extra headers.

use std::net::TcpListener;

use lee_core::alexa::ErrorType;
use lee_core::bridge::{Answered, Reason};
use lee_core::budget::Capacities;
use lee_core::metrics::Counter;
use lee_core::retry::Failure;
use lee_host::Bridge;
use lee_host::config::{BaseUrl, Config, Secret};
use lee_testkit::{AlexaSchema, Fault, FaultServer, KeepAliveServer};

const TOKEN: &str = "marker-token-4f2a";

fn turn_on() -> Vec<u8> {
    format!(
        r#"{{"directive":{{"header":{{"namespace":"Alexa.PowerController","name":"TurnOn","payloadVersion":"3","messageId":"m1","correlationToken":"corr-turn-on"}},"endpoint":{{"scope":{{"type":"BearerToken","token":"{TOKEN}"}},"endpointId":"switch#ac","cookie":{{}}}},"payload":{{}}}}}}"#
    )
    .into_bytes()
}

fn report_state() -> Vec<u8> {
    format!(
        r#"{{"directive":{{"header":{{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m2","correlationToken":"corr-report"}},"endpoint":{{"scope":{{"type":"BearerToken","token":"{TOKEN}"}},"endpointId":"light#bed_light","cookie":{{}}}},"payload":{{}}}}}}"#
    )
    .into_bytes()
}

fn discover() -> Vec<u8> {
    format!(
        r#"{{"directive":{{"header":{{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"m3"}},"payload":{{"scope":{{"type":"BearerToken","token":"{TOKEN}"}}}}}}}}"#
    )
    .into_bytes()
}

fn bridge_to(url: &str) -> Bridge {
    let config = Config {
        base_url: Some(BaseUrl::parse(url).expect("loopback URL")),
        ..Config::default()
    };
    Bridge::new(config, Vec::new(), Capacities::MINIMUM).expect("minimum capacities fit")
}

/// A loopback port with nothing listening on it.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

const HA_BODY: &[u8] = br#"{"event":{"header":{"namespace":"Alexa","name":"StateReport","payloadVersion":"3","messageId":"x","correlationToken":"corr-report"},"endpoint":{"scope":{"type":"BearerToken","token":"t"},"endpointId":"light#bed_light"},"payload":{}},"context":{"properties":[{"namespace":"Alexa.ColorController","name":"color","value":{"hue":350.5,"saturation":0.49804000000000004,"brightness":1.0}}]}}"#;

#[test]
fn home_assistants_answer_passes_through_byte_for_byte_and_the_event_is_sent_unchanged() {
    let server = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        HA_BODY.to_vec(),
    )]);
    let mut bridge = bridge_to(&server.url);
    let event = report_state();
    let answer = bridge.answer(&event, None);
    assert_eq!(answer.outcome, Answered::PassedThrough);
    assert_eq!(answer.body, HA_BODY);
    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.request_line, "POST /api/alexa/smart_home HTTP/1.1");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, event);
}

#[test]
fn a_refused_connection_is_retried_then_reported_unreachable_and_the_breaker_opens() {
    let schema = AlexaSchema::load();
    let url = closed_port();
    let mut bridge = bridge_to(&url);
    for event in [report_state(), turn_on()] {
        let answer = bridge.answer(&event, None);
        // The second event's third attempt finds the breaker already open.
        assert!(
            matches!(
                answer.outcome,
                Answered::Error(
                    ErrorType::BridgeUnreachable,
                    Reason::Failed(_) | Reason::BreakerOpen { .. }
                )
            ),
            "{:?}",
            answer.outcome
        );
        schema.assert_valid(answer.body);
    }
    // Three attempts each (refused before sending is safe to retry, even for
    // TurnOn); five failures open the breaker within the first two events.
    assert_eq!(bridge.metrics().get(Counter::HaRequests), 5);
    assert_eq!(bridge.metrics().get(Counter::BreakerOpens), 1);
    let answer = bridge.answer(&discover(), None);
    assert!(matches!(
        answer.outcome,
        Answered::Error(ErrorType::BridgeUnreachable, Reason::BreakerOpen { .. })
    ));
    schema.assert_valid(answer.body);
    assert_eq!(
        bridge.metrics().get(Counter::HaRequests),
        5,
        "no network while open"
    );
}

#[test]
fn a_name_that_does_not_resolve_is_reported_as_one_and_retried() {
    let schema = AlexaSchema::load();
    let mut bridge = bridge_to("http://lee-no-such-home.invalid:8123");
    let answer = bridge.answer(&turn_on(), None);
    assert_eq!(
        answer.outcome,
        Answered::Error(
            ErrorType::BridgeUnreachable,
            Reason::Failed(Failure::DnsFailure)
        )
    );
    let v = schema.assert_valid(answer.body);
    let message = v["event"]["payload"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not resolve the host name in BASE_URL"),
        "{message}"
    );
    // Nothing was sent: safe to try again, even for TurnOn.
    assert_eq!(bridge.metrics().get(Counter::HaRequests), 3);
}

#[test]
fn directives_that_cannot_be_forwarded_are_answered_without_a_request() {
    let schema = AlexaSchema::load();
    let server = FaultServer::start(Vec::new());
    let mut bridge = bridge_to(&server.url);
    let no_token = br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m","correlationToken":"c"},"endpoint":{"endpointId":"light#bed_light"},"payload":{}}}"#;
    let answer = bridge.answer(no_token, None);
    assert!(matches!(
        answer.outcome,
        Answered::Error(ErrorType::InvalidAuthorizationCredential, _)
    ));
    schema.assert_valid(answer.body);
    let version_2 = String::from_utf8(turn_on())
        .unwrap()
        .replace("\"3\"", "\"2\"");
    let answer = bridge.answer(version_2.as_bytes(), None);
    assert!(matches!(
        answer.outcome,
        Answered::Error(ErrorType::InvalidDirective, Reason::PayloadVersion)
    ));
    schema.assert_valid(answer.body);
    for junk in [
        &b"not json at all"[..],
        b"",
        b"{\"directive\":",
        &[0xff, 0xfe],
    ] {
        let answer = bridge.answer(junk, None);
        assert!(matches!(
            answer.outcome,
            Answered::Error(ErrorType::InvalidDirective, _)
        ));
        schema.assert_valid(answer.body);
    }
    let huge = vec![b' '; Capacities::MINIMUM.event_buffer + 1];
    let answer = bridge.answer(&huge, None);
    assert!(matches!(
        answer.outcome,
        Answered::Error(ErrorType::InvalidDirective, _)
    ));
    assert!(server.received().is_empty());
}

#[test]
fn a_missing_base_url_is_one_problem_at_start_and_unreachable_per_event() {
    let (config, problems) = Config::from_env(|_| None);
    let mut bridge = Bridge::new(config, problems, Capacities::MINIMUM).unwrap();
    assert_eq!(bridge.problems().len(), 1);
    assert_eq!(bridge.problems()[0].variable, "BASE_URL");
    let schema = AlexaSchema::load();
    for _ in 0..2 {
        let answer = bridge.answer(&turn_on(), None);
        assert!(matches!(
            answer.outcome,
            Answered::Error(ErrorType::BridgeUnreachable, Reason::NotConfigured)
        ));
        let v = schema.assert_valid(answer.body);
        assert_eq!(v["event"]["header"]["correlationToken"], "corr-turn-on");
    }
}

#[test]
fn accept_grant_is_forwarded_and_its_failure_is_an_authorization_error() {
    let schema = AlexaSchema::load();
    let accept_grant = format!(
        r#"{{"directive":{{"header":{{"namespace":"Alexa.Authorization","name":"AcceptGrant","payloadVersion":"3","messageId":"m"}},"payload":{{"grant":{{"type":"OAuth2.AuthorizationCode","code":"c"}},"grantee":{{"type":"BearerToken","token":"{TOKEN}"}}}}}}}}"#
    );
    let server = FaultServer::start(vec![Fault::Respond(500, "text/plain", b"boom".to_vec())]);
    let mut bridge = bridge_to(&server.url);
    let answer = bridge.answer(accept_grant.as_bytes(), None);
    assert!(matches!(
        answer.outcome,
        Answered::Error(ErrorType::AcceptGrantFailed, _)
    ));
    let v = schema.assert_valid(answer.body);
    assert_eq!(v["event"]["header"]["namespace"], "Alexa.Authorization");
    assert_eq!(
        server.received().len(),
        1,
        "forwarded, never answered locally"
    );
}

#[test]
fn a_warm_bridge_reuses_its_connection() {
    let server = KeepAliveServer::start(HA_BODY);
    let mut bridge = bridge_to(&server.url);
    for _ in 0..5 {
        assert_eq!(
            bridge.answer(&report_state(), None).outcome,
            Answered::PassedThrough
        );
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn extra_headers_go_with_every_request() {
    let server = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        HA_BODY.to_vec(),
    )]);
    let config = Config {
        base_url: Some(BaseUrl::parse(&server.url).unwrap()),
        extra_headers: vec![
            (
                "CF-Access-Client-Id".into(),
                Secret::new("id.access".into()),
            ),
            (
                "CF-Access-Client-Secret".into(),
                Secret::new("s3cret".into()),
            ),
        ],
        ..Config::default()
    };
    let mut bridge = Bridge::new(config, Vec::new(), Capacities::MINIMUM).unwrap();
    assert_eq!(
        bridge.answer(&turn_on(), None).outcome,
        Answered::PassedThrough
    );
    let request = &server.received()[0];
    assert_eq!(request.header("cf-access-client-id"), Some("id.access"));
    assert_eq!(request.header("cf-access-client-secret"), Some("s3cret"));
}
