//! lee's health and diagnostics, by event and over a Function URL: what they
//! show, that Home Assistant is checked at most every 30 s, that diagnostics
//! over HTTP need the shared secret, and that no secret ever appears.

use std::net::TcpListener;

use lee_core::budget::Capacities;
use lee_host::{Bridge, Outcome};
use lee_testkit::{Fault, FaultServer, bridge_from_env, directive, function_url};
use serde_json::{Value, json};

fn handle(bridge: &mut Bridge, event: &[u8]) -> (Outcome, Value) {
    let handled = bridge.handle(event, None);
    let body = serde_json::from_slice(handled.body).expect("reports are JSON");
    (handled.outcome, body)
}

fn http_get(path: &str, secret: Option<&str>) -> Vec<u8> {
    function_url("GET", path, secret, None)
}

#[test]
fn health_reports_version_config_reachability_and_breakers() {
    let ha = FaultServer::start(vec![
        Fault::Respond(
            200,
            "application/json",
            br#"{"message":"API running."}"#.to_vec(),
        ),
        Fault::Respond(401, "text/plain", b"401: Unauthorized".to_vec()),
    ]);
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url), ("LONG_LIVED_ACCESS_TOKEN", "llat")]);
    let (outcome, report) = handle(&mut bridge, br#"{"health_check": true}"#);
    assert_eq!(outcome, Outcome::Health);
    assert_eq!(report["lee"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["config"]["base_url"], ha.url.as_str());
    assert_eq!(report["config"]["long_lived_access_token"], "set");
    assert_eq!(report["home_assistant"]["reachable"], true);
    assert_eq!(report["home_assistant"]["status"], 200);
    assert_eq!(report["breakers"][0]["state"], "closed");
    let probe = &ha.received()[0];
    assert_eq!(probe.request_line, "GET /api/ HTTP/1.1");
    assert_eq!(probe.header("authorization"), Some("Bearer llat"));
    // Then whether Home Assistant has its Alexa Smart Home API: no token,
    // no body, so nothing reaches the integration.
    let smart_home = &ha.received()[1];
    assert_eq!(
        smart_home.request_line,
        "POST /api/alexa/smart_home HTTP/1.1"
    );
    assert_eq!(smart_home.header("authorization"), None);
    assert!(smart_home.body.is_empty());
    assert_eq!(report["home_assistant"]["alexa_smart_home"]["set_up"], true);

    // Within 30 s the check is reused: no second request reaches HA.
    let (_, again) = handle(&mut bridge, br#"{"health_check": true}"#);
    assert_eq!(again["home_assistant"]["reachable"], true);
    assert_eq!(ha.received().len(), 2);
}

#[test]
fn health_says_why_home_assistant_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut bridge = bridge_from_env(&[("BASE_URL", &url)]);
    let (_, report) = handle(&mut bridge, br#"{"health_check": true}"#);
    assert_eq!(report["home_assistant"]["reachable"], false);
    assert_eq!(report["home_assistant"]["error"], "connection refused");

    let mut unconfigured = bridge_from_env(&[]);
    let (_, report) = handle(&mut unconfigured, br#"{"health_check": true}"#);
    assert_eq!(report["home_assistant"]["reachable"], false);
    assert!(
        report["config"]["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("BASE_URL")
    );
}

#[test]
fn diagnostics_show_cache_slots_and_metrics() {
    let ha = FaultServer::start(vec![
        Fault::Respond(
            200,
            "application/json",
            br#"{"event":{"header":{}}}"#.to_vec(),
        ),
        Fault::Respond(200, "application/json", b"{}".to_vec()),
    ]);
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url)]);
    let event = directive("Alexa", "ReportState", Some("light#x"), json!({}), "t");
    bridge.handle(&event, None);
    let (outcome, report) = handle(&mut bridge, br#"{"diagnostics": true}"#);
    assert_eq!(outcome, Outcome::Diagnostics);
    assert_eq!(report["metrics"]["counters"]["directives"], 1);
    assert_eq!(report["metrics"]["counters"]["ha_requests"], 1);
    assert_eq!(report["metrics"]["timers"]["event"]["count"], 1);
    let alexa = &report["slots"]["modules"][0];
    assert_eq!(alexa["module"], "alexa");
    assert_eq!(alexa["policy"], "deferred");
    assert_eq!(
        alexa["loaded"], false,
        "reclaimed at the end of the invocation"
    );
    assert_eq!(alexa["loads"], 1);
    assert_eq!(
        report["cache"]["entry_capacity"],
        Capacities::MINIMUM.cache_entries
    );
    assert!(report["home_assistant"].is_object());
}

#[test]
fn function_url_serves_health_and_guards_diagnostics() {
    let mut open = bridge_from_env(&[]);
    let (outcome, response) = handle(&mut open, &http_get("/health", None));
    assert_eq!(outcome, Outcome::Http(200));
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"lee": "up", "home_assistant": {"reachable": false}}),
        "the public health check tells only whether lee and Home Assistant are up"
    );
    assert_eq!(
        handle(&mut open, &http_get("/diagnostics", Some("x"))).0,
        Outcome::Http(403)
    );
    assert_eq!(
        handle(&mut open, &http_get("/nothing", None)).0,
        Outcome::Http(404)
    );
    let post = br#"{"requestContext":{"http":{"method":"POST","path":"/health"}}}"#;
    assert_eq!(handle(&mut open, post).0, Outcome::Http(405));

    let secret = "s3cret-marker-0123456789abcdef0123";
    let mut guarded = bridge_from_env(&[("SHARED_SECRET", secret)]);
    assert_eq!(
        handle(&mut guarded, &http_get("/diagnostics", None)).0,
        Outcome::Http(401)
    );
    assert_eq!(
        handle(&mut guarded, &http_get("/diagnostics", Some("wrong"))).0,
        Outcome::Http(401)
    );
    let (outcome, response) = handle(&mut guarded, &http_get("/diagnostics", Some(secret)));
    assert_eq!(outcome, Outcome::Http(200));
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert!(body["metrics"].is_object());
    // With the secret, /health is the whole report.
    let (_, response) = handle(&mut guarded, &http_get("/health", Some(secret)));
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["lee"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn no_report_carries_a_secret() {
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", "http://127.0.0.1:9"),
        ("LONG_LIVED_ACCESS_TOKEN", "marker-llat"),
        ("SHARED_SECRET", "marker-shared-0123456789abcdef0123"),
        ("EXTRA_HEADERS", "CF-Access-Client-Secret: marker-header"),
        ("DEBUG", "true"),
    ]);
    for event in [
        br#"{"health_check": true}"#.to_vec(),
        br#"{"diagnostics": true}"#.to_vec(),
        http_get("/diagnostics", Some("marker-shared-0123456789abcdef0123")),
    ] {
        let handled = bridge.handle(&event, None);
        let text = String::from_utf8_lossy(handled.body);
        assert!(!text.contains("marker-"), "a secret leaked: {text}");
        assert!(
            text.contains("CF-Access-Client-Secret"),
            "header names are shown: {text}"
        );
    }
}
