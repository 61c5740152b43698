//! The security review's findings (issue 13), one test each, judged from
//! outside: what a caller of a public Function URL, a Parameter Store writer
//! or a custom-skill user can make lee do with the Home Assistant token it
//! holds. Home Assistant is a recording stand-in that counts what reaches it.

use lee_host::{Bridge, Outcome};
use lee_testkit::{Fault, FaultServer, bridge_from_env, capture_logs, function_url};
use serde_json::{Value, json};

/// Long enough to be accepted.
const SECRET: &str = "7c1e9a4b2f0d8e6a5c3b1f9e7d5c3a1b";

/// A Home Assistant stand-in that answers every request `200 []`.
fn home() -> FaultServer {
    FaultServer::start(
        (0..32)
            .map(|_| Fault::Respond(200, "application/json", b"[]".to_vec()))
            .collect(),
    )
}

fn status_and_body(bridge: &mut Bridge, event: &[u8]) -> (Outcome, Value) {
    let handled = bridge.handle(event, None);
    let response: Value = serde_json::from_slice(handled.body).unwrap();
    let body = response["body"]
        .as_str()
        .map(|b| serde_json::from_str(b).unwrap())
        .unwrap_or(response);
    (handled.outcome, body)
}

/// The op's answer, run as the Lambda receives it (a direct invocation).
fn op(bridge: &mut Bridge, op: Value) -> Value {
    let handled = bridge.handle(&serde_json::to_vec(&op).unwrap(), None);
    serde_json::from_slice(handled.body).unwrap()
}

#[test]
fn ops_over_the_function_url_are_their_own_opt_in() {
    let ha = home();
    let call = json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "entity_id": "light.kitchen"});
    let mut diagnostics_only = bridge_from_env(&[
        ("BASE_URL", &ha.url),
        ("HA_TOKEN", "ops-token"),
        ("SHARED_SECRET", SECRET),
    ]);
    let (outcome, body) = status_and_body(
        &mut diagnostics_only,
        &function_url("POST", "/op", Some(SECRET), Some(&call)),
    );
    assert_eq!(outcome, Outcome::Http(403));
    assert!(
        body["error"].as_str().unwrap().contains("OPS_OVER_HTTP"),
        "{body}"
    );
    assert!(ha.received().is_empty(), "nothing reached Home Assistant");

    let mut with_ops = bridge_from_env(&[
        ("BASE_URL", &ha.url),
        ("HA_TOKEN", "ops-token"),
        ("SHARED_SECRET", SECRET),
        ("OPS_OVER_HTTP", "true"),
    ]);
    let (outcome, _) = status_and_body(
        &mut with_ops,
        &function_url("POST", "/op", Some(SECRET), Some(&call)),
    );
    assert_eq!(outcome, Outcome::Http(200));
    assert_eq!(ha.received().len(), 1);
}

#[test]
fn ops_may_not_call_what_takes_over_or_opens_a_home() {
    let ha = home();
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url), ("HA_TOKEN", "ops-token")]);
    for (domain, service) in [
        ("homeassistant", "stop"),
        ("homeassistant", "toggle"),
        ("shell_command", "open_garage"),
        ("hassio", "host_reboot"),
        ("lock", "unlock"),
        ("alarm_control_panel", "alarm_disarm"),
        ("mqtt", "publish"),
        ("scene", "apply"),
    ] {
        let answer = op(
            &mut bridge,
            json!({"op": "ha.call_service", "domain": domain, "service": service, "entity_id": format!("{domain}.front")}),
        );
        assert_eq!(answer["ok"], false, "{domain}.{service}: {answer}");
        assert_eq!(
            answer["error"]["code"], "service_not_allowed",
            "{domain}.{service}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("OPS_ALLOW_SERVICES")
        );
    }
    // Targets smuggled through data are refused, whatever the service.
    for key in [
        "entity_id",
        "area_id",
        "device_id",
        "floor_id",
        "label_id",
        "target",
    ] {
        let answer = op(
            &mut bridge,
            json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "data": {key: "lock.front"}}),
        );
        assert_eq!(answer["error"]["code"], "conflicting_arguments", "{key}");
        assert_eq!(answer["error"]["field"], "data", "{key}");
    }
    assert!(ha.received().is_empty(), "nothing reached Home Assistant");

    // The owner may lift one entry, and only that one.
    let mut unlocking = bridge_from_env(&[
        ("BASE_URL", &ha.url),
        ("HA_TOKEN", "ops-token"),
        ("OPS_ALLOW_SERVICES", "lock.unlock"),
    ]);
    let unlock = json!({"op": "ha.call_service", "domain": "lock", "service": "unlock", "entity_id": "lock.front"});
    assert_eq!(op(&mut unlocking, unlock)["ok"], true);
    let open = json!({"op": "ha.call_service", "domain": "lock", "service": "open", "entity_id": "lock.front"});
    assert_eq!(op(&mut unlocking, open)["ok"], false);
    assert_eq!(ha.received().len(), 1);
    assert_eq!(
        ha.received()[0].request_line,
        "POST /api/services/lock/unlock HTTP/1.1"
    );
}

#[test]
fn an_op_does_not_open_a_garage_door() {
    let state = |id: &str, class: &str| {
        format!(
            r#"{{"entity_id":"{id}","state":"closed","attributes":{{"device_class":"{class}"}}}}"#
        )
        .into_bytes()
    };
    let ha = FaultServer::start(vec![
        Fault::Respond(200, "application/json", state("cover.garage", "garage")),
        Fault::Respond(
            200,
            "application/json",
            state("cover.kitchen_blind", "blind"),
        ),
        Fault::Respond(200, "application/json", b"[]".to_vec()),
    ]);
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url), ("HA_TOKEN", "ops-token")]);
    let garage = op(
        &mut bridge,
        json!({"op": "ha.call_service", "domain": "cover", "service": "open_cover", "entity_id": "cover.garage"}),
    );
    assert_eq!(garage["error"]["code"], "service_not_allowed", "{garage}");
    let blind = op(
        &mut bridge,
        json!({"op": "ha.call_service", "domain": "cover", "service": "open_cover", "entity_id": "cover.kitchen_blind"}),
    );
    assert_eq!(blind["ok"], true, "{blind}");
    let lines: Vec<String> = ha.received().into_iter().map(|r| r.request_line).collect();
    assert_eq!(
        lines,
        [
            "GET /api/states/cover.garage HTTP/1.1",
            "GET /api/states/cover.kitchen_blind HTTP/1.1",
            "POST /api/services/cover/open_cover HTTP/1.1",
        ],
        "the garage door's state was read, never opened"
    );
}

#[test]
fn a_shared_secret_shorter_than_32_characters_is_refused_at_start() {
    let mut bridge = bridge_from_env(&[("SHARED_SECRET", "x")]);
    let problem = bridge
        .problems()
        .iter()
        .find(|p| p.variable == "SHARED_SECRET")
        .expect("a problem names SHARED_SECRET")
        .to_string();
    assert!(problem.contains("openssl rand -hex 32"), "{problem}");
    let (outcome, _) = status_and_body(
        &mut bridge,
        &function_url("GET", "/diagnostics", Some("x"), None),
    );
    assert_eq!(
        outcome,
        Outcome::Http(403),
        "the short secret opens nothing"
    );
}

#[test]
fn a_wrong_secret_is_warned_with_the_callers_address_and_counted() {
    let mut bridge = bridge_from_env(&[("SHARED_SECRET", SECRET)]);
    let guess = "a-guess-that-is-wrong-0123456789abcdef";
    let ((outcome, _), lines) = capture_logs(|| {
        status_and_body(
            &mut bridge,
            &function_url("GET", "/diagnostics", Some(guess), None),
        )
    });
    assert_eq!(outcome, Outcome::Http(401));
    let warned: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(r#""level":"WARN""#) && l.contains("203.0.113.7"))
        .collect();
    assert_eq!(warned.len(), 1, "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains(guess)), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""outcome":"UNAUTHORIZED""#)),
        "{lines:#?}"
    );
    let emf = bridge.metrics_line("lee", None).expect("an EMF line");
    let emf: Value = serde_json::from_str(&emf).unwrap();
    assert_eq!(emf["Errors"], 1);
    assert_eq!(emf["ErrorType"], "UNAUTHORIZED");
    let (_, diagnostics) = status_and_body(
        &mut bridge,
        &function_url("GET", "/diagnostics", Some(SECRET), None),
    );
    assert_eq!(diagnostics["metrics"]["counters"]["auth_failures"], 1);
}

#[test]
fn a_custom_skill_user_without_a_linked_account_does_not_get_the_ops_token() {
    let skill = "amzn1.ask.skill.lee-security";
    let ask = |token: Option<&str>| {
        let mut user = json!({"userId": "u"});
        if let Some(token) = token {
            user["accessToken"] = token.into();
        }
        serde_json::to_vec(&json!({
            "version": "1.0",
            "session": {"new": true, "sessionId": "s", "application": {"applicationId": skill}, "attributes": {}, "user": user},
            "context": {"System": {"application": {"applicationId": skill}, "user": user}},
            "request": {"type": "IntentRequest", "requestId": "r", "locale": "en-US",
                        "intent": {"name": "CatchAllIntent", "slots": {"utterance": {"name": "utterance", "value": "unlock the front door"}}}},
        }))
        .unwrap()
    };
    let assist = br#"{"response":{"speech":{"plain":{"speech":"Done"}},"response_type":"action_done","language":"en"},"conversation_id":"c"}"#;
    let ha = FaultServer::start(
        (0..4)
            .map(|_| Fault::Respond(200, "application/json", assist.to_vec()))
            .collect(),
    );
    let vars = [
        ("BASE_URL", ha.url.as_str()),
        ("HA_TOKEN", "the-owners-ops-token"),
        ("ALEXA_SKILL_ID", skill),
    ];
    let mut bridge = bridge_from_env(&vars);
    let handled = bridge.handle(&ask(None), None);
    let answer: Value = serde_json::from_slice(handled.body).unwrap();
    assert_eq!(
        answer["response"]["card"]["type"], "LinkAccount",
        "{answer}"
    );
    assert!(ha.received().is_empty(), "nothing reached Home Assistant");

    // A linked account's own token is used.
    bridge.handle(&ask(Some("the-users-token")), None);
    assert_eq!(
        ha.received()[0].header("authorization"),
        Some("Bearer the-users-token")
    );

    // The owner may opt in to the ops token.
    let mut opted_in =
        bridge_from_env(&[vars[0], vars[1], vars[2], ("SKILL_USES_OPS_TOKEN", "true")]);
    opted_in.handle(&ask(None), None);
    assert_eq!(
        ha.received()[1].header("authorization"),
        Some("Bearer the-owners-ops-token")
    );
}

#[test]
fn the_public_health_check_tells_only_whether_lee_and_home_assistant_are_up() {
    let ha = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        br#"{"message":"API running."}"#.to_vec(),
    )]);
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", &ha.url),
        ("DEBUG", "true"),
        ("SHARED_SECRET", SECRET),
        ("EXTRA_HEADERS", "CF-Access-Client-Id: id"),
        ("HA_TOKEN_PARAMETER", "/lee/ha_token"),
    ]);
    let (outcome, body) = status_and_body(&mut bridge, &function_url("GET", "/health", None, None));
    assert_eq!(outcome, Outcome::Http(200));
    assert_eq!(
        body,
        json!({"lee": "up", "home_assistant": {"reachable": true}})
    );
    let (_, full) = status_and_body(
        &mut bridge,
        &function_url("GET", "/health", Some(SECRET), None),
    );
    assert_eq!(full["config"]["base_url"], ha.url.as_str());
}
