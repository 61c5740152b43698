//! The fault matrix: every way Home Assistant (or the network and proxies in
//! front of it) can fail, for a Discovery, a control directive and a
//! ReportState. Each cell asserts one answer, a schema-valid ErrorResponse
//! of the right type echoing the correlationToken, within the Lambda's
//! remaining time, no token in it, and (separately) the breaker opening
//! after repeated failures and closing once Home Assistant answers again.
//! No log line of the whole matrix holds the token.
//!
//! The stale-connection fault (FIELD.md §1) has its own test, since every
//! event must then be answered by Home Assistant: the server closed the
//! kept-alive connection while the Lambda was frozen, and lee's next request
//! meets a reset. Each request must reach the server exactly once.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use lee_core::alexa::ErrorType;
use lee_core::bridge::Answered;
use lee_core::budget::Capacities;
use lee_core::metrics::Counter;
use lee_host::Bridge;
use lee_testkit::stale::StaleRelay;
use lee_testkit::tls::{TestCa, TlsServer};
use lee_testkit::{
    AlexaSchema, Fault, FaultServer, KeepAliveServer, Received, bridge_sized, capture_logs,
};
use serde_json::Value;

const TOKEN: &str = "matrix-marker-token-9d41";

fn event(namespace: &str, name: &str, endpoint: Option<&str>) -> Vec<u8> {
    lee_testkit::directive(namespace, name, endpoint, serde_json::json!({}), TOKEN)
}

fn directives() -> [(&'static str, Vec<u8>); 3] {
    [
        ("Discovery", event("Alexa.Discovery", "Discover", None)),
        (
            "TurnOn",
            event("Alexa.PowerController", "TurnOn", Some("switch#ac")),
        ),
        (
            "ReportState",
            event("Alexa", "ReportState", Some("light#bed_light")),
        ),
    ]
}

const HA_BODY: &[u8] = br#"{"event":{"header":{"namespace":"Alexa","name":"StateReport","payloadVersion":"3","messageId":"x","correlationToken":"lee-correlation"},"payload":{}},"context":{"properties":[]}}"#;

fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Where a cell's Home Assistant is, and what keeps it alive.
enum Home {
    Plain(FaultServer),
    Tls(TlsServer, Option<String>),
    Nowhere(String),
}

impl Home {
    fn bridge(&self) -> Bridge {
        let (url, bundle) = match self {
            Home::Plain(server) => (server.url.clone(), None),
            Home::Tls(server, bundle) => (server.url.clone(), bundle.clone()),
            Home::Nowhere(url) => (url.clone(), None),
        };
        let mut vars = vec![("BASE_URL", url.as_str())];
        if let Some(pem) = &bundle {
            vars.push(("SSL_CA_BUNDLE", pem.as_str()));
        }
        let bridge = bridge_sized(&vars, Capacities::MINIMUM);
        assert!(bridge.problems().is_empty(), "{:?}", bridge.problems());
        bridge
    }
}

fn faulty(fault: Fault) -> Home {
    Home::Plain(FaultServer::start(vec![
        fault.clone(),
        fault.clone(),
        fault,
    ]))
}

/// Every cell: the fault, and what Alexa must hear (`None`: Home Assistant's
/// answer, passed through).
fn matrix(ca: &TestCa) -> Vec<(&'static str, Home, Option<ErrorType>)> {
    let html = |status: u16| {
        format!("<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>")
            .into_bytes()
    };
    // Larger than the minimum tier's 512 KiB answer buffer.
    let huge = {
        let mut body = br#"{"event":{"header":{"namespace":"Alexa.Discovery","name":"Discover.Response","payloadVersion":"3","messageId":"x"},"payload":{"endpoints":[""#.to_vec();
        body.extend(std::iter::repeat_n(b'x', 600 * 1024));
        body.extend(br#""]}}}"#);
        body
    };
    let trusted = ca.issue(&["127.0.0.1"]);
    let wrong_name = ca.issue(&["ha.example.com"]);
    vec![
        (
            "connection refused",
            Home::Nowhere(closed_port()),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "DNS name that does not resolve",
            Home::Nowhere("http://lee-no-such-home.invalid:8123".into()),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "accepts and never answers",
            faulty(Fault::Hang),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "answers after the deadline",
            faulty(Fault::Late(Duration::from_secs(3), 200, HA_BODY.to_vec())),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "401",
            faulty(Fault::Respond(
                401,
                "text/plain",
                b"401: Unauthorized".to_vec(),
            )),
            Some(ErrorType::InvalidAuthorizationCredential),
        ),
        (
            "403",
            faulty(Fault::Respond(403, "text/html", html(403))),
            Some(ErrorType::InvalidAuthorizationCredential),
        ),
        (
            "404",
            faulty(Fault::Respond(
                404,
                "text/plain",
                b"404: Not Found".to_vec(),
            )),
            Some(ErrorType::InternalError),
        ),
        (
            "429",
            faulty(Fault::Respond(
                429,
                "text/plain",
                b"Too Many Requests".to_vec(),
            )),
            Some(ErrorType::RateLimitExceeded),
        ),
        (
            "500 with HTML",
            faulty(Fault::Respond(500, "text/html", html(500))),
            Some(ErrorType::InternalError),
        ),
        (
            "502 with HTML",
            faulty(Fault::Respond(502, "text/html", html(502))),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "503",
            faulty(Fault::Respond(503, "text/html", html(503))),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "body is not JSON",
            faulty(Fault::Respond(200, "text/html", html(200))),
            Some(ErrorType::InternalError),
        ),
        (
            "body truncated mid-stream",
            faulty(Fault::Truncate(HA_BODY[..HA_BODY.len() / 2].to_vec())),
            Some(ErrorType::InternalError),
        ),
        (
            "body larger than the configured maximum",
            faulty(Fault::Respond(200, "application/json", huge)),
            Some(ErrorType::InternalError),
        ),
        (
            "TLS certificate for the wrong name",
            Home::Tls(
                TlsServer::start(&wrong_name, None, HA_BODY),
                Some(ca.pem.clone()),
            ),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "TLS with an unknown CA",
            Home::Tls(TlsServer::start(&trusted, None, HA_BODY), None),
            Some(ErrorType::BridgeUnreachable),
        ),
        (
            "TLS with the CA in SSL_CA_BUNDLE",
            Home::Tls(
                TlsServer::start(&trusted, None, HA_BODY),
                Some(ca.pem.clone()),
            ),
            None,
        ),
    ]
}

#[test]
fn every_fault_for_every_kind_of_directive() {
    let schema = AlexaSchema::load();
    let ca = TestCa::new();
    let remaining = Duration::from_secs(2);
    let (cells, lines) = capture_logs(|| {
        let mut cells = 0;
        for (fault, home, expected) in matrix(&ca) {
            for (kind, event) in directives() {
                // A fresh bridge per cell: one cell's breaker is not another's.
                let mut bridge = home.bridge();
                let started = Instant::now();
                let handled = bridge.handle(&event, Some(remaining));
                let took = started.elapsed();
                let cell = format!("{fault} × {kind}");
                assert!(took < remaining, "{cell}: answered after {took:?}");
                let body = handled.body.to_vec();
                let text = String::from_utf8_lossy(&body).into_owned();
                assert!(!text.contains(TOKEN), "{cell}: the token is in the answer");
                match expected {
                    None => {
                        assert!(
                            matches!(
                                handled.outcome,
                                lee_host::Outcome::Directive(Answered::PassedThrough)
                            ),
                            "{cell}: {text}"
                        );
                        assert_eq!(body, HA_BODY, "{cell}");
                    }
                    Some(error) => {
                        let answer: Value = schema.assert_valid(&body);
                        assert_eq!(
                            answer["event"]["payload"]["type"],
                            error.as_str(),
                            "{cell}: {text}"
                        );
                        assert!(!text.contains('<'), "{cell}: HTML reached Alexa");
                        let sent: Value = serde_json::from_slice(&event).unwrap();
                        assert_eq!(
                            answer["event"]["header"]["correlationToken"],
                            sent["directive"]["header"]["correlationToken"],
                            "{cell}"
                        );
                    }
                }
                assert_eq!(
                    bridge.metrics().get(Counter::Events),
                    1,
                    "{cell}: one answer"
                );
                cells += 1;
            }
        }
        cells
    });
    assert_eq!(cells, 17 * 3);
    for line in &lines {
        assert!(!line.contains(TOKEN), "a log line holds the token: {line}");
    }
}

#[test]
fn the_breaker_opens_after_repeated_failures_and_closes_after_recovery() {
    // Six 503s, then Home Assistant is back.
    let mut script = vec![Fault::Respond(503, "text/html", b"<h1>503</h1>".to_vec()); 6];
    script.extend(std::iter::repeat_n(
        Fault::Respond(200, "application/json", HA_BODY.to_vec()),
        10,
    ));
    let server = FaultServer::start(script);
    let mut bridge = bridge_sized(
        &[
            ("BASE_URL", &server.url),
            ("BREAKER_FAILURES", "5"),
            ("BREAKER_COOL_DOWN_S", "1"),
        ],
        Capacities::MINIMUM,
    );
    let report = event("Alexa", "ReportState", Some("light#bed_light"));
    let breaker_state = |bridge: &mut Bridge| -> String {
        let handled = bridge.handle(br#"{"health_check": true}"#, None);
        let health: Value = serde_json::from_slice(handled.body).unwrap();
        health["breakers"][0]["state"].as_str().unwrap().to_string()
    };
    for n in 0..5 {
        let answer = bridge.answer(&report, None);
        assert!(
            matches!(
                answer.outcome,
                Answered::Error(ErrorType::BridgeUnreachable, _)
            ),
            "failure {n}: {:?}",
            answer.outcome
        );
    }
    assert_eq!(bridge.metrics().get(Counter::BreakerOpens), 1);
    // The health check's own request found the sixth 503.
    assert!(breaker_state(&mut bridge).starts_with("open"));
    let sent = server.received().len();
    let answer = bridge.answer(&report, None);
    assert!(matches!(
        answer.outcome,
        Answered::Error(ErrorType::BridgeUnreachable, _)
    ));
    assert_eq!(server.received().len(), sent, "open: no request");
    std::thread::sleep(Duration::from_millis(1100));
    // After the cool-down one probe goes through, Home Assistant answers,
    // and the breaker closes.
    let answer = bridge.answer(&report, None);
    assert_eq!(answer.outcome, Answered::PassedThrough);
    assert_eq!(answer.body, HA_BODY);
    for _ in 0..3 {
        assert_eq!(
            bridge.answer(&report, None).outcome,
            Answered::PassedThrough
        );
    }
    assert_eq!(breaker_state(&mut bridge), "closed");
}

/// The events of the stale-connection fault: a Discovery, a control
/// directive, a ReportState and a service-calling op, each with the request
/// line it makes.
fn stale_events() -> [(&'static str, Vec<u8>, &'static str); 4] {
    let [(_, discovery), (_, turn_on), (_, report)] = directives();
    let call = br#"{"op": "ha.call_service", "domain": "switch", "service": "turn_on", "entity_id": "switch.ac"}"#;
    let smart_home = "POST /api/alexa/smart_home HTTP/1.1";
    [
        ("Discovery", discovery, smart_home),
        ("TurnOn", turn_on, smart_home),
        ("ReportState", report, smart_home),
        (
            "ha.call_service",
            call.to_vec(),
            "POST /api/services/switch/turn_on HTTP/1.1",
        ),
    ]
}

/// Home Assistant's answers, by path: an Alexa message, or the (empty) list
/// of states a service call changed.
fn home_assistant(request: &Received) -> (u16, Vec<u8>) {
    if request.request_line.contains("/api/alexa/smart_home") {
        (200, HA_BODY.to_vec())
    } else {
        (200, b"[]".to_vec())
    }
}

#[test]
fn a_connection_the_server_closed_during_a_freeze_is_replaced_and_nothing_is_sent_twice() {
    let ca = TestCa::new();
    let identity = ca.issue(&["127.0.0.1"]);
    for tls in [false, true] {
        let server = KeepAliveServer::answering(home_assistant, tls.then_some(&identity));
        let relay = StaleRelay::start(&server.url);
        let mut vars = vec![("BASE_URL", relay.url.as_str()), ("HA_TOKEN", TOKEN)];
        if tls {
            vars.push(("SSL_CA_BUNDLE", ca.pem.as_str()));
        }
        let mut bridge = bridge_sized(&vars, Capacities::MINIMUM);
        assert!(bridge.problems().is_empty(), "{:?}", bridge.problems());
        for (kind, event, request_line) in stale_events() {
            let cell = format!(
                "stale connection{} × {kind}",
                if tls { " over TLS" } else { "" }
            );
            let answered = |bridge: &mut Bridge| {
                let handled = bridge.handle(&event, Some(Duration::from_secs(2)));
                let text = String::from_utf8_lossy(handled.body).into_owned();
                match handled.outcome {
                    lee_host::Outcome::Directive(Answered::PassedThrough) => {
                        assert_eq!(handled.body, HA_BODY, "{cell}")
                    }
                    lee_host::Outcome::Op(true) => assert!(text.contains(r#""ok":true"#)),
                    other => panic!("{cell}: {other:?} {text}"),
                }
            };
            let sent = server.count(request_line);
            answered(&mut bridge);
            answered(&mut bridge);
            let (connections, resets) = (relay.connections(), relay.resets());
            // The server closes the idle connection; lee, frozen, does not see it.
            relay.server_closes_idle_connections();
            answered(&mut bridge);
            assert_eq!(
                server.count(request_line),
                sent + 3,
                "{cell}: every request reached Home Assistant exactly once"
            );
            assert_eq!(
                relay.resets(),
                resets + 1,
                "{cell}: the dead connection was tried"
            );
            assert_eq!(
                relay.connections(),
                connections + 1,
                "{cell}: one fresh connection"
            );
        }
        // Up to the fault, lee kept one connection per Home Assistant.
        assert_eq!(relay.connections(), 1 + stale_events().len(), "tls: {tls}");
    }
}
