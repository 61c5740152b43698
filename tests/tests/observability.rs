//! What lee tells its operator: JSON log lines as CloudWatch receives them,
//! EMF metrics lines checked against AWS's specification, secrets that
//! never reach a log line, and configuration reloaded from a stand-in of the
//! Parameters and Secrets extension without losing an event.
//!
//! `cargo test -p lee-integration-tests --test observability -- --nocapture`
//! prints the log of a Discovery, a TurnOn and a Home Assistant outage.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use lee_host::{Bridge, Outcome};
use lee_testkit::{
    AlexaSchema, Fault, FaultServer, ParameterExtension, RealHa, bridge_from_env, capture_logs,
    check_emf, directive, shared_dir,
};
use serde_json::{Value, json};

fn discovery_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({"event": {
        "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response",
                   "payloadVersion": "3", "messageId": "ha-1"},
        "payload": {"endpoints": []}}}))
    .unwrap()
}

fn turn_on_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": {"header": {"namespace": "Alexa", "name": "Response", "payloadVersion": "3",
                  "messageId": "ha-2", "correlationToken": "lee-correlation"},
                  "endpoint": {"endpointId": "switch#decorative_lights"}, "payload": {}},
        "context": {"properties": []}}))
    .unwrap()
}

/// A TurnOn of `switch#a` with the token `t`.
fn turn_on_switch_a() -> Vec<u8> {
    directive(
        "Alexa.PowerController",
        "TurnOn",
        Some("switch#a"),
        json!({}),
        "t",
    )
}

fn parse_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

/// Answer `events` in invocation spans carrying a request id, as the Lambda
/// frontend does, collecting each EMF line.
fn invoke_all(bridge: &mut Bridge, events: &[Vec<u8>]) -> Vec<String> {
    let mut emf = Vec::new();
    for (n, event) in events.iter().enumerate() {
        let request_id = format!("req-{n}");
        let span = tracing::info_span!("invocation", request_id = %request_id);
        let _entered = span.enter();
        bridge.handle(event, None);
        emf.extend(bridge.metrics_line("lee-prod", Some(&request_id)));
    }
    emf
}

#[test]
fn a_discovery_a_turn_on_and_an_outage_as_cloudwatch_sees_them() {
    let ha = FaultServer::start(vec![
        Fault::Respond(200, "application/json", discovery_answer()),
        Fault::Respond(200, "application/json", turn_on_answer()),
    ]);
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url), ("DEBUG_TIMINGS", "true")]);
    let events = [
        directive(
            "Alexa.Discovery",
            "Discover",
            None,
            json!({}),
            "alexa-token",
        ),
        directive(
            "Alexa.PowerController",
            "TurnOn",
            Some("switch#decorative_lights"),
            json!({}),
            "alexa-token",
        ),
        // The fault server closes every later connection unanswered: Home
        // Assistant is down behind its proxy.
        directive(
            "Alexa",
            "ReportState",
            Some("light#bed_light"),
            json!({}),
            "alexa-token",
        ),
    ];
    let (emf, lines) = capture_logs(|| invoke_all(&mut bridge, &events));
    for line in &lines {
        println!("{line}");
    }
    for line in &emf {
        println!("{line}");
    }
    let logged = parse_lines(&lines);
    let answered: Vec<&Value> = logged
        .iter()
        .filter(|l| l["message"].as_str().unwrap_or("").starts_with("answered"))
        .collect();
    assert_eq!(
        answered.len(),
        3,
        "one completion line per event: {lines:#?}"
    );
    for (n, line) in answered.iter().enumerate() {
        let ts = line["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
        assert_eq!(line["request_id"], format!("req-{n}"));
        assert_eq!(line["message_id"], "lee-test-message");
        assert_eq!(line["correlation_id"], format!("req-{n}/lee-test-message"));
        assert_eq!(line["kind"], "directive");
        assert!(line["duration_ms"].as_f64().unwrap() > 0.0);
        for stage in [
            "classify_ms",
            "cache_ms",
            "dispatch_ms",
            "transport_ms",
            "respond_ms",
        ] {
            assert!(line[stage].is_number(), "{stage} missing in {line}");
        }
    }
    assert_eq!(answered[0]["namespace"], "Alexa.Discovery");
    assert_eq!(answered[0]["outcome"], "passed_through");
    assert_eq!(answered[0]["level"], "INFO");
    assert_eq!(answered[1]["endpoint"], "switch#decorative_lights");
    assert_eq!(answered[1]["name"], "TurnOn");
    assert_eq!(answered[2]["level"], "WARN");
    assert_eq!(answered[2]["outcome"], "BRIDGE_UNREACHABLE");
    assert_eq!(
        answered[2]["requests"], 1,
        "a request sent is never repeated"
    );
    let said = answered[2]["message"].as_str().unwrap();
    assert!(said.contains("could not be reached"), "{said}");
    let transport = answered[0]["transport_ms"].as_f64().unwrap();
    assert_eq!(answered[0]["ha_ms"].as_f64().unwrap(), transport);

    assert_eq!(emf.len(), 3);
    for line in &emf {
        if let Err(problems) = check_emf(line) {
            panic!("{line}: {problems:?}");
        }
    }
    let last: Value = serde_json::from_str(&emf[2]).unwrap();
    assert_eq!(last["ErrorType"], "BRIDGE_UNREACHABLE");
    assert_eq!(last["Errors"], 1);
    assert_eq!(last["request_id"], "req-2");
}

#[test]
fn emf_lines_follow_the_specification_for_every_kind_of_event() {
    let ha = FaultServer::start(vec![
        Fault::Respond(200, "application/json", turn_on_answer()),
        Fault::Respond(401, "text/plain", b"401: Unauthorized".to_vec()),
        Fault::Respond(
            200,
            "application/json",
            br#"{"message":"API running."}"#.to_vec(),
        ),
        // The health check's tokenless probe of POST /api/alexa/smart_home.
        Fault::Respond(401, "text/plain", b"401: Unauthorized".to_vec()),
        Fault::Respond(
            200,
            "application/json",
            br#"{"entity_id":"light.x","state":"on","attributes":{}}"#.to_vec(),
        ),
    ]);
    let mut bridge = bridge_from_env(&[("BASE_URL", &ha.url), ("HA_TOKEN", "ops-token")]);
    let turn_on = turn_on_switch_a();
    let events = [
        turn_on.clone(),
        turn_on,
        br#"{"health_check": true}"#.to_vec(),
        br#"{"op": "ha.state", "entity_id": "light.x"}"#.to_vec(),
        br#"{"op": "ha.state", "entity_id": "light.x"}"#.to_vec(),
        b"not json".to_vec(),
    ];
    let (emf, _) = capture_logs(|| invoke_all(&mut bridge, &events));
    let lines: Vec<Value> = emf
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in &emf {
        if let Err(problems) = check_emf(line) {
            panic!("{line}: {problems:?}");
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for line in &lines {
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for metric in directive["Metrics"].as_array().unwrap() {
                names.insert(metric["Name"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(names.len() <= 10, "at most 10 metric names: {names:?}");
    assert_eq!(lines[0]["Directives"], 1);
    assert!(lines[0].get("ErrorType").is_none());
    assert_eq!(lines[1]["ErrorType"], "INVALID_AUTHORIZATION_CREDENTIAL");
    assert_eq!(lines[2]["Directives"], 0);
    assert_eq!(lines[3]["CacheHitRatio"], 0.0, "the first read misses");
    assert_eq!(lines[4]["CacheHitRatio"], 100.0, "the second is a hit");
    assert_eq!(lines[5]["ErrorType"], "INVALID_DIRECTIVE");
    assert!(lines[0]["MemoryHighWater"].as_u64().unwrap() > 1 << 20);

    let mut quiet = bridge_from_env(&[("BASE_URL", &ha.url), ("METRICS", "off")]);
    quiet.handle(br#"{"health_check": true}"#, None);
    assert_eq!(quiet.metrics_line("lee", None), None);
}

#[test]
fn a_plain_http_address_on_another_machine_is_warned_about() {
    let warnings = |url: &str| -> Vec<Value> {
        let (_, lines) = capture_logs(|| bridge_from_env(&[("BASE_URL", url)]));
        parse_lines(&lines)
            .into_iter()
            .filter(|l| l["level"] == "WARN" && l["message"].as_str().unwrap().contains("http://"))
            .collect()
    };
    for url in ["http://ha.example.com:8123", "http://192.168.1.20:8123"] {
        let found = warnings(url);
        assert_eq!(found.len(), 1, "{url}: {found:?}");
        let message = found[0]["message"].as_str().unwrap();
        for says in ["BASE_URL", "unencrypted", "https://"] {
            assert!(message.contains(says), "{url}: {message}");
        }
    }
    for url in [
        "http://127.0.0.1:8123",
        "http://localhost:8123",
        "http://[::1]:8123",
        "https://ha.example.com",
    ] {
        assert_eq!(warnings(url), Vec::<Value>::new(), "{url}");
    }
}

/// Every `"token"`-like value in an event replaced by `marker`.
fn with_marker(value: &mut Value, marker: &str) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let secret =
                    ["token", "accessToken", "apiAccessToken", "code"].contains(&key.as_str());
                if secret && item.is_string() {
                    *item = Value::String(marker.to_string());
                } else {
                    with_marker(item, marker);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| with_marker(i, marker)),
        _ => {}
    }
}

/// Every request in Amazon's samples, the fuzzers' seed corpus and lee's
/// examples, with the marker as every token; ops, reports, Function URL requests and custom-skill
/// requests carrying it; and broken events around it.
fn marked_events(marker: &str, skill: &str) -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    let mut add_file = |path: &Path| {
        let text = std::fs::read(path).unwrap();
        let mut value: Value = serde_json::from_slice(&text).unwrap();
        if value.get("directive").is_none() {
            return;
        }
        with_marker(&mut value, marker);
        let bytes = serde_json::to_vec(&value).unwrap();
        // The same event cut short: not JSON, token inside.
        events.push(bytes[..bytes.len() * 2 / 3].to_vec());
        events.push(bytes);
    };
    let samples = shared_dir().join("alexa/samples");
    let mut dirs: Vec<_> = std::fs::read_dir(&samples).unwrap().flatten().collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        files.sort_by_key(|f| f.path());
        for file in files {
            add_file(&file.path());
        }
    }
    // The fuzzers' seed corpus, escapes and all.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for target in ["classify", "directive"] {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(target))
            .unwrap()
            .flatten()
            .collect();
        files.sort_by_key(|f| f.path());
        for file in files {
            add_file(&file.path());
        }
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["discovery.json", "turn_on.json", "report_state.json"] {
        add_file(&examples.join(name));
    }
    for name in ["AcceptGrant", "Discover"] {
        let namespace = if name == "Discover" {
            "Alexa.Discovery"
        } else {
            "Alexa.Authorization"
        };
        let mut value: Value =
            serde_json::from_slice(&directive(namespace, name, None, json!({}), marker)).unwrap();
        value["directive"]["payload"]["grant"] =
            json!({"type": "OAuth2.AuthorizationCode", "code": marker});
        events.push(serde_json::to_vec(&value).unwrap());
    }
    // A directive without a token (debug mode uses the long-lived one).
    events.push(
        serde_json::to_vec(
            &json!({"directive": {"header": {"namespace": "Alexa.Discovery",
            "name": "Discover", "payloadVersion": "3", "messageId": "m"}, "payload": {}}}),
        )
        .unwrap(),
    );
    for op in [
        json!({"op": "ha.health"}),
        json!({"op": "ha.states", "domain": "light"}),
        json!({"op": "ha.state", "entity_id": "light.bed_light"}),
        // Pictures whose links carry `?token=` (Home Assistant's demo has some).
        json!({"op": "ha.states", "domain": "camera"}),
        json!({"op": "ha.state", "entity_id": "media_player.living_room"}),
        json!({"op": "ha.call_service", "domain": "light", "service": "turn_on",
               "entity_id": "light.bed_light", "data": {"token": marker}}),
        json!({"op": "ha.notify", "message": format!("Bearer {marker}")}),
        json!({"op": "ha.conversation", "text": "turn on the kitchen lights"}),
        json!({"op": "ha.find", "name": "kitchen"}),
        json!({"op": "ha.nonexistent", "token": marker}),
    ] {
        events.push(serde_json::to_vec(&op).unwrap());
    }
    events.push(br#"{"health_check": true}"#.to_vec());
    events.push(br#"{"diagnostics": true}"#.to_vec());
    for (method, path, secret, body) in [
        ("GET", "/diagnostics", marker, None),
        ("GET", "/diagnostics", "wrong-secret-value", None),
        (
            "POST",
            "/op",
            marker,
            Some(json!({"op": "ha.state", "entity_id": "light.x"})),
        ),
        (
            "POST",
            "/op",
            "wrong-secret-value",
            Some(json!({"op": "ha.health", "token": marker})),
        ),
    ] {
        events.push(
            serde_json::to_vec(&json!({
                "version": "2.0", "rawPath": path,
                "headers": {"x-lee-secret": secret, "authorization": format!("Bearer {marker}")},
                "requestContext": {"http": {"method": method, "path": path}},
                "body": body.map(|b| b.to_string()), "isBase64Encoded": false,
            }))
            .unwrap(),
        );
    }
    for (kind, words) in [
        ("LaunchRequest", None),
        ("IntentRequest", Some("turn on the light")),
    ] {
        events.push(
            serde_json::to_vec(&json!({
                "version": "1.0",
                "session": {"new": true, "sessionId": "s", "application": {"applicationId": skill},
                            "user": {"userId": "u", "accessToken": marker}},
                "context": {"System": {"application": {"applicationId": skill},
                            "user": {"userId": "u", "accessToken": marker}, "apiAccessToken": marker}},
                "request": {"type": kind, "requestId": "r", "locale": "en-US",
                            "intent": {"name": "CatchAll", "slots": {"utterance": {"name": "utterance", "value": words}}}},
            }))
            .unwrap(),
        );
    }
    events
}

/// The values of `token=`-like query parameters in `line` that are not
/// `[redacted]` (a picture link's camera token, say).
fn query_tokens(line: &str) -> Vec<String> {
    let lower = line.to_ascii_lowercase();
    let mut kept = Vec::new();
    for name in ["token=", "authsig="] {
        for (at, _) in lower.match_indices(name) {
            let value: String = line[at + name.len()..]
                .chars()
                .take_while(|c| {
                    !matches!(c, '&' | '#' | '"' | '\\' | '\'' | '<' | '>') && !c.is_whitespace()
                })
                .collect();
            if !value.is_empty() && value != "[redacted]" {
                kept.push(value);
            }
        }
    }
    kept
}

#[test]
fn no_secret_reaches_a_log_line_at_any_level() {
    // Long enough to be accepted as SHARED_SECRET too.
    const MARKER: &str = "lee-marker-5e1f0c-0123456789abcdef";
    // Not a configured secret: only redaction of the link's query hides it.
    const CAMERA: &str = "lee-camera-9b2d4e";
    let skill = "amzn1.ask.skill.lee-redaction";
    let events = marked_events(MARKER, skill);
    let secrets = [
        ("LONG_LIVED_ACCESS_TOKEN", MARKER),
        ("HA_TOKEN", MARKER),
        ("SHARED_SECRET", MARKER),
        ("OPS_OVER_HTTP", "true"),
        ("DEBUG", "true"),
        ("ALEXA_SKILL_ID", skill),
    ];
    let header = format!("X-Proxy-Key: {MARKER}");
    // Home Assistant behind a proxy that echoes the request, headers and all.
    let echo = format!(
        "<html><pre>Authorization: Bearer {MARKER}\n{{\"token\": \"{MARKER}\"}}</pre></html>"
    );
    let proxy = FaultServer::start(
        (0..400)
            .map(|n| match n % 4 {
                0 => Fault::Respond(401, "text/html", echo.clone().into_bytes()),
                1 => Fault::Respond(500, "text/html", echo.clone().into_bytes()),
                2 => Fault::Respond(
                    200,
                    "application/json",
                    json!({"token": MARKER, "entity_id": "camera.front", "state": "idle",
                           "attributes": {"entity_picture":
                               format!("/api/camera_proxy/camera.front?token={CAMERA}")}})
                    .to_string()
                    .into_bytes(),
                ),
                _ => Fault::Truncate(echo.clone().into_bytes()),
            })
            .collect(),
    );
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", refused.local_addr().unwrap());
    drop(refused);
    let real = RealHa::from_env();
    let relay = real.as_ref().map(|ha| FaultServer::relay_to(&ha.url));
    let mut homes: Vec<(String, Bridge)> = Vec::new();
    let mut vars: Vec<(&str, &str)> = secrets.to_vec();
    vars.push(("EXTRA_HEADERS", &header));
    let mut demo_config = lee_host::config::Config::from_env(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .0;
    demo_config.base_url = None;
    homes.push((
        "demo home".into(),
        Bridge::with_transport(
            demo_config,
            Vec::new(),
            lee_core::budget::Capacities::STANDARD,
            Some(Box::new(lee_demo::DemoHome::new())),
        )
        .unwrap(),
    ));
    for (name, url) in [
        ("echoing proxy", proxy.url.clone()),
        ("Home Assistant down", down),
    ]
    .into_iter()
    .chain(
        relay
            .as_ref()
            .map(|r| ("real Home Assistant", r.url.clone())),
    ) {
        let mut with_url = vars.clone();
        with_url.push(("BASE_URL", &url));
        homes.push((name.to_string(), bridge_from_env(&with_url)));
    }
    let schema = AlexaSchema::load();
    let mut answered = 0;
    for (home, bridge) in &mut homes {
        let (answers, lines) = capture_logs(|| {
            events
                .iter()
                .map(|event| {
                    let handled = bridge.handle(event, None);
                    (handled.outcome, handled.body.to_vec())
                })
                .collect::<Vec<_>>()
        });
        assert!(lines.len() >= events.len(), "{home}: every event is logged");
        for line in &lines {
            assert!(
                !line.contains(MARKER) && !line.contains(CAMERA),
                "{home}: a log line holds a secret: {line}"
            );
            assert_eq!(
                query_tokens(line),
                Vec::<String>::new(),
                "{home}: a log line holds a link's token: {line}"
            );
            serde_json::from_str::<Value>(line).expect("each line is JSON");
        }
        assert!(
            lines.iter().any(|l| l.contains("\"event received\"")),
            "{home}: debug lines with bodies were written"
        );
        for (outcome, body) in &answers {
            let text = String::from_utf8_lossy(body);
            if let Outcome::Directive(_) = outcome
                && let Ok(answer) = serde_json::from_slice::<Value>(body)
                && answer["event"]["header"]["name"] == "ErrorResponse"
            {
                schema.assert_valid(body);
            }
            // Home Assistant's own answers go back untouched (its errors
            // echo the directive's endpoint, scope and all; an op answers
            // what Home Assistant said); what lee writes itself never
            // carries a secret.
            let lees_own = matches!(
                outcome,
                Outcome::Directive(lee_core::bridge::Answered::Error(..))
                    | Outcome::Op(false)
                    | Outcome::Health
                    | Outcome::Diagnostics
            ) || matches!(outcome, Outcome::Http(status) if *status != 200);
            assert!(
                !lees_own || !text.contains(MARKER),
                "{home}: an answer of lee's holds a secret: {text}"
            );
        }
        answered += answers.len();
    }
    assert_eq!(answered, events.len() * homes.len());
}

/// A bridge configured by the environment to read `PARAMETER_PREFIX`
/// `/lee/test/` from `extension` before every event (`SSM_CACHE_TTL=0`),
/// with `BASE_URL` at `home`.
fn bridge_reading(extension: &ParameterExtension, home: &str) -> Bridge {
    let env: BTreeMap<&str, String> = [
        ("BASE_URL", home.to_string()),
        ("PARAMETER_PREFIX", "/lee/test/".into()),
        (
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            extension.port.to_string(),
        ),
        ("AWS_SESSION_TOKEN", SESSION.into()),
        ("SSM_CACHE_TTL", "0".into()),
    ]
    .into_iter()
    .collect();
    Bridge::from_vars(move |name| env.get(name).cloned()).unwrap()
}

/// The session token the stand-in extension accepts.
const SESSION: &str = "session-token-for-the-extension";

/// A Home Assistant that answers `n` TurnOns.
fn answering_turn_ons(n: usize) -> FaultServer {
    FaultServer::start(
        (0..n)
            .map(|_| Fault::Respond(200, "application/json", turn_on_answer()))
            .collect(),
    )
}

#[test]
fn a_reload_bumps_the_version_rejects_a_bad_configuration_never_moves_the_tokens_and_loses_no_event()
 {
    let extension = ParameterExtension::start(SESSION);
    let ha = answering_turn_ons(64);
    let other_ha = answering_turn_ons(64);
    let mut bridge = bridge_reading(&extension, &ha.url);
    assert_eq!(bridge.config_version(), 1);
    let turn_on = turn_on_switch_a();
    let health = br#"{"health_check": true}"#;
    let answer = |bridge: &mut Bridge| -> Value {
        let handled = bridge.handle(&turn_on, None);
        assert!(
            matches!(
                handled.outcome,
                Outcome::Directive(lee_core::bridge::Answered::PassedThrough)
            ),
            "{}",
            String::from_utf8_lossy(handled.body)
        );
        serde_json::from_slice(handled.body).unwrap()
    };

    // No parameters yet: the environment's configuration stays version 1.
    let (_, lines) = capture_logs(|| answer(&mut bridge));
    assert_eq!(bridge.config_version(), 1, "{lines:#?}");
    assert!(extension.requests() >= lee_host::config::VARIABLES.len());

    // A new tier and token apply as version 2. Another Home Assistant does
    // not: BASE_URL was pinned by the first reading, so the tokens never
    // leave for the other host; the refusal is logged at warn, once.
    extension.set("/lee/test/CONFIGURATION_TIER", "minimum");
    extension.set("/lee/test/BASE_URL", &other_ha.url);
    extension.set("/lee/test/HA_TOKEN", "a-new-ops-token");
    let (_, lines) = capture_logs(|| {
        answer(&mut bridge);
        answer(&mut bridge);
    });
    assert_eq!(bridge.config_version(), 2);
    let applied = lines
        .iter()
        .find(|l| l.contains("configuration version 2 applied"))
        .expect("logged");
    assert!(applied.contains("HA_TOKEN,CONFIGURATION_TIER"), "{applied}");
    assert!(!applied.contains("a-new-ops-token"));
    let refused: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("security-sensitive"))
        .collect();
    assert_eq!(refused.len(), 1, "logged once: {lines:#?}");
    assert!(refused[0].contains(r#""level":"WARN""#) && refused[0].contains("BASE_URL"));
    assert!(!refused[0].contains(&other_ha.url), "names, never values");
    assert_eq!(other_ha.received().len(), 0, "no request to the other host");
    let (_, report) = {
        let handled = bridge.handle(health, None);
        (
            handled.outcome,
            serde_json::from_slice::<Value>(handled.body).unwrap(),
        )
    };
    assert_eq!(report["config"]["tier"], "minimum");
    assert_eq!(report["config"]["config_version"], 2);
    assert_eq!(report["config"]["base_url"], ha.url.as_str());

    // A broken value: rejected with its reasons, logged once, version 2 kept
    // and every event still answered by it.
    extension.set("/lee/test/CONFIGURATION_TIER", "gigantic");
    extension.set("/lee/test/CACHE_BYTES", "lots");
    let before = ha.received().len();
    let (_, lines) = capture_logs(|| {
        for _ in 0..5 {
            answer(&mut bridge);
        }
    });
    assert_eq!(bridge.config_version(), 2);
    assert_eq!(
        ha.received().len(),
        before + 5,
        "no event lost or sent elsewhere"
    );
    let rejections: Vec<&String> = lines.iter().filter(|l| l.contains("rejected")).collect();
    assert_eq!(rejections.len(), 1, "logged once: {lines:#?}");
    assert!(rejections[0].contains("CONFIGURATION_TIER") && rejections[0].contains("CACHE_BYTES"));
    let diagnostics: Value =
        serde_json::from_slice(bridge.handle(br#"{"diagnostics": true}"#, None).body).unwrap();
    assert_eq!(diagnostics["configuration"]["version"], 2);
    assert!(
        diagnostics["configuration"]["last_rejection"]
            .as_str()
            .unwrap()
            .contains("CACHE_BYTES")
    );

    // Fixed: version 3, still on the first Home Assistant.
    extension.set("/lee/test/CONFIGURATION_TIER", "maximum");
    extension.remove("/lee/test/CACHE_BYTES");
    extension.remove("/lee/test/BASE_URL");
    let first = ha.received().len();
    answer(&mut bridge);
    assert_eq!(bridge.config_version(), 3);
    assert_eq!(ha.received().len(), first + 1);
    assert_eq!(other_ha.received().len(), 0);

    // The extension failing keeps version 3 too, and says so once.
    extension.fail();
    let (_, lines) = capture_logs(|| {
        answer(&mut bridge);
        answer(&mut bridge);
    });
    assert_eq!(bridge.config_version(), 3);
    let kept: Vec<&String> = lines.iter().filter(|l| l.contains("not re-read")).collect();
    assert_eq!(kept.len(), 1, "{lines:#?}");
    assert!(kept[0].contains("HTTP 500"));
}

#[test]
fn a_hung_parameter_store_costs_the_directive_that_triggers_a_reload_no_answer() {
    let extension = ParameterExtension::start(SESSION);
    extension.hang();
    let ha = answering_turn_ons(1);
    let mut bridge = bridge_reading(&extension, &ha.url);
    // The invocation has 1.5 s left, so its deadline is 1 s away: the reading
    // that this first event triggers may take a quarter of it, not 5 s.
    let remaining = Duration::from_millis(1500);
    let started = std::time::Instant::now();
    let (handled, lines) = capture_logs(|| {
        let handled = bridge.handle(&turn_on_switch_a(), Some(remaining));
        (handled.outcome, handled.body.to_vec())
    });
    let took = started.elapsed();
    assert!(
        took < remaining,
        "answered after {took:?}: the Lambda would have timed out"
    );
    assert_eq!(
        handled.0,
        Outcome::Directive(lee_core::bridge::Answered::PassedThrough),
        "{}",
        String::from_utf8_lossy(&handled.1)
    );
    assert_eq!(ha.received().len(), 1);
    assert!(
        lines.iter().any(|l| l.contains("not re-read")),
        "{lines:#?}"
    );
    assert_eq!(bridge.config_version(), 1);
}

#[test]
fn a_parameter_store_that_keeps_failing_is_not_asked_again_until_its_breaker_probes() {
    let extension = ParameterExtension::start(SESSION);
    extension.hang();
    let ha = answering_turn_ons(8);
    let mut bridge = bridge_reading(&extension, &ha.url);
    let remaining = Some(Duration::from_millis(1500));
    let (asked, lines) = capture_logs(|| {
        let mut asked = Vec::new();
        for _ in 0..6 {
            let handled = bridge.handle(&turn_on_switch_a(), remaining);
            assert_eq!(
                handled.outcome,
                Outcome::Directive(lee_core::bridge::Answered::PassedThrough)
            );
            asked.push(extension.requests());
        }
        asked
    });
    assert!(
        lines.iter().any(|l| l.contains("failed repeatedly")),
        "{lines:#?}"
    );
    // Once the breaker is open, events read nothing from the extension.
    assert_eq!(
        asked[5], asked[4],
        "asked after the breaker opened: {asked:?}"
    );
    assert_eq!(ha.received().len(), 6, "every directive answered");
}
