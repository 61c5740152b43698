//! Engine ops against the real Home Assistant of `../shared/ha`, through a
//! recording relay that counts what reaches Home Assistant: states in one
//! batch, a state from the cache without a request or a module load, a
//! service call whose effect shows, and bad arguments that never leave lee.

use lee_host::{Bridge, Outcome};
use lee_testkit::{Fault, FaultServer, RelayedHa, bridge_from_env};
use serde_json::{Value, json};

struct Harness {
    relay: FaultServer,
    bridge: Bridge,
}

impl Harness {
    fn start() -> Option<Harness> {
        let RelayedHa { relay, bridge, .. } = RelayedHa::start(true)?;
        Some(Harness { relay, bridge })
    }

    fn op(&mut self, op: Value) -> (bool, Value) {
        let event = serde_json::to_vec(&op).unwrap();
        let handled = self.bridge.handle(&event, None);
        let Outcome::Op(ok) = handled.outcome else {
            panic!("not answered as an op: {:?}", handled.outcome)
        };
        (
            ok,
            serde_json::from_slice(handled.body).expect("op answers are JSON"),
        )
    }

    /// Requests the ops made (the health check behind diagnostics aside:
    /// `GET /api/` and its probe of the Alexa Smart Home API).
    fn requests(&self) -> usize {
        self.relay
            .received()
            .iter()
            .filter(|r| {
                r.request_line != "GET /api/ HTTP/1.1"
                    && r.request_line != "POST /api/alexa/smart_home HTTP/1.1"
            })
            .count()
    }

    fn module(&mut self, name: &str) -> Value {
        let handled = self.bridge.handle(br#"{"diagnostics": true}"#, None);
        let report: Value = serde_json::from_slice(handled.body).unwrap();
        report["slots"]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["module"] == name)
            .cloned()
            .expect("the module has a slot")
    }
}

fn state_of(answer: &Value) -> &str {
    answer["state"]["state"].as_str().unwrap()
}

#[test]
fn states_come_in_one_batch_and_fill_the_cache() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (ok, all) = h.op(json!({"op": "ha.states"}));
    assert!(ok, "{all}");
    let states = all["states"].as_array().unwrap();
    assert!(states.len() > 100, "the harness has about 120 entities");
    assert_eq!(h.requests(), 1);
    assert_eq!(
        h.relay.received()[0].request_line,
        "GET /api/states HTTP/1.1"
    );

    let (_, lights) = h.op(json!({"op": "ha.states", "domain": "light"}));
    let lights = lights["states"].as_array().unwrap();
    assert!(!lights.is_empty());
    assert!(
        lights
            .iter()
            .all(|s| s["entity_id"].as_str().unwrap().starts_with("light."))
    );
    let (_, two) = h.op(json!({"op": "ha.states", "entity_ids": ["light.bed_light", "switch.ac"]}));
    assert_eq!(two["states"].as_array().unwrap().len(), 2);

    // A fresh state is served from the cache: no request, no module load.
    let loads_before = h.module("ha.client")["loads"].as_u64().unwrap()
        + h.module("ha.client")["reloads"].as_u64().unwrap();
    let (ok, state) = h.op(json!({"op": "ha.state", "entity_id": "light.bed_light"}));
    assert!(ok);
    assert_eq!(state["state"]["entity_id"], "light.bed_light");
    assert_eq!(
        h.requests(),
        1,
        "the filtered reads and the state came from the cache"
    );
    let client = h.module("ha.client");
    assert_eq!(
        client["loads"].as_u64().unwrap() + client["reloads"].as_u64().unwrap(),
        loads_before
    );
}

#[test]
fn a_service_call_changes_state_and_invalidates_exactly_its_targets() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let flag = "input_boolean.harness_flag";
    h.op(json!({"op": "ha.states"}));
    let (ok, answer) = h.op(json!({"op": "ha.call_service", "domain": "input_boolean", "service": "turn_on", "entity_id": flag}));
    assert!(ok, "{answer}");
    let call = h
        .relay
        .received()
        .into_iter()
        .find(|r| r.request_line.starts_with("POST"))
        .unwrap();
    assert_eq!(
        call.request_line,
        "POST /api/services/input_boolean/turn_on HTTP/1.1"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&call.body).unwrap(),
        json!({"entity_id": [flag]})
    );

    let before = h.requests();
    let (_, state) = h.op(json!({"op": "ha.state", "entity_id": flag}));
    assert_eq!(state_of(&state), "on");
    assert_eq!(
        h.requests(),
        before + 1,
        "the target's cached state was dropped"
    );
    let (_, other) = h.op(json!({"op": "ha.state", "entity_id": "light.bed_light"}));
    assert!(other["state"].is_object());
    assert_eq!(h.requests(), before + 1, "other states stayed cached");

    h.op(json!({"op": "ha.call_service", "domain": "input_boolean", "service": "turn_off", "entity_ids": [flag], "data": {}}));
    // A batch read after the call reads only the dropped state again.
    let before = h.relay.received().len();
    let (_, helpers) = h.op(json!({"op": "ha.states", "domain": "input_boolean"}));
    let flag_state = helpers["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["entity_id"] == flag)
        .cloned()
        .unwrap();
    assert_eq!(flag_state["state"], "off");
    let reads: Vec<String> = h.relay.received()[before..]
        .iter()
        .map(|r| r.request_line.clone())
        .collect();
    assert_eq!(reads, [format!("GET /api/states/{flag} HTTP/1.1")]);

    // The services module is Immediate: reclaimed after each call, its arena back in the pool.
    let services = h.module("ha.services");
    assert_eq!(services["loaded"], false);
    assert!(services["unloads"].as_u64().unwrap() >= 2);
}

#[test]
fn health_is_checked_once_per_30_seconds() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (ok, answer) = h.op(json!({"op": "ha.health"}));
    assert!(ok, "{answer}");
    assert_eq!(answer["reachable"], true);
    assert_eq!(answer["message"], "API running.");
    h.op(json!({"op": "ha.health"}));
    assert_eq!(h.relay.received().len(), 1);
}

#[test]
fn bad_arguments_are_refused_naming_the_field_without_a_request() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let cases = [
        (json!({"op": "ha.nothing"}), "unknown_op", "op"),
        (json!({"op": "ha.state"}), "missing", "entity_id"),
        (
            json!({"op": "ha.state", "entity_id": "Light.Kitchen"}),
            "invalid_entity_id",
            "entity_id",
        ),
        (
            json!({"op": "ha.state", "entity_id": 7}),
            "wrong_type",
            "entity_id",
        ),
        (
            json!({"op": "ha.states", "entity_ids": "light.x"}),
            "wrong_type",
            "entity_ids",
        ),
        (
            json!({"op": "ha.states", "entity_ids": ["light.x", "nope"]}),
            "invalid_entity_id",
            "entity_ids",
        ),
        (
            json!({"op": "ha.states", "domain": "light", "entity_ids": ["light.x"]}),
            "conflicting_arguments",
            "domain",
        ),
        (
            json!({"op": "ha.call_service", "domain": "light"}),
            "missing",
            "service",
        ),
        (
            json!({"op": "ha.call_service", "domain": "light", "service": "turn on"}),
            "invalid_name",
            "service",
        ),
        (
            json!({"op": "ha.call_service", "domain": "../api", "service": "x"}),
            "invalid_name",
            "domain",
        ),
        (
            json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "data": [1]}),
            "wrong_type",
            "data",
        ),
        (
            json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "data": {"entity_id": "light.x"}}),
            "conflicting_arguments",
            "data",
        ),
    ];
    for (op, code, field) in cases {
        let (ok, answer) = h.op(op.clone());
        assert!(!ok, "{op}");
        assert_eq!(
            (
                answer["error"]["code"].as_str(),
                answer["error"]["field"].as_str()
            ),
            (Some(code), Some(field)),
            "{op}: {answer}"
        );
    }
    assert_eq!(h.requests(), 0, "nothing reached Home Assistant");
}

#[test]
fn ops_without_a_token_or_an_address_say_so() {
    let mut no_token = bridge_from_env(&[("BASE_URL", "http://127.0.0.1:9")]);
    let handled = no_token.handle(br#"{"op": "ha.health"}"#, None);
    let answer: Value = serde_json::from_slice(handled.body).unwrap();
    assert_eq!(handled.outcome, Outcome::Op(false));
    assert_eq!(answer["error"]["code"], "no_token");
    let mut nowhere = bridge_from_env(&[("HA_TOKEN", "t")]);
    let answer: Value =
        serde_json::from_slice(nowhere.handle(br#"{"op": "ha.states"}"#, None).body).unwrap();
    assert_eq!(answer["error"]["code"], "not_configured");
}

impl Harness {
    /// Run `op`, assert it succeeded, and return the entity's state afterwards.
    fn then_state(&mut self, op: Value, entity: &str) -> String {
        let (ok, answer) = self.op(op.clone());
        assert!(ok, "{op}: {answer}");
        let (_, state) = self.op(json!({"op": "ha.state", "entity_id": entity}));
        state_of(&state).to_string()
    }

    fn posts(&self) -> Vec<(String, Value)> {
        self.relay
            .received()
            .into_iter()
            .filter(|r| r.request_line.starts_with("POST"))
            .map(|r| (r.request_line, serde_json::from_slice(&r.body).unwrap()))
            .collect()
    }
}

#[test]
fn convenience_ops_map_onto_their_services() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let motion = "input_boolean.harness_motion";
    let (ok, _) = h.op(json!({"op": "ha.scene.activate", "entity_id": "scene.harness_movie_time"}));
    assert!(ok);
    // The harness script turns the motion helper on.
    assert_eq!(
        h.then_state(
            json!({"op": "ha.script.run", "entity_id": "script.harness_script"}),
            motion
        ),
        "on"
    );
    assert_eq!(
        h.then_state(
            json!({"op": "ha.input.set", "entity_id": motion, "value": false}),
            motion
        ),
        "off"
    );
    let automation = "automation.harness_motion_light";
    assert_eq!(
        h.then_state(
            json!({"op": "ha.automation.disable", "entity_id": automation}),
            automation
        ),
        "off"
    );
    assert_eq!(
        h.then_state(
            json!({"op": "ha.automation.enable", "entity_id": automation}),
            automation
        ),
        "on"
    );
    let (ok, _) = h.op(
        json!({"op": "ha.automation.trigger", "entity_id": automation, "skip_condition": true}),
    );
    assert!(ok);
    let (ok, _) = h.op(json!({"op": "ha.notify", "message": "lee test", "title": "lee"}));
    assert!(ok);
    let posts = h.posts();
    let lines: Vec<&str> = posts.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "POST /api/services/scene/turn_on HTTP/1.1",
            "POST /api/services/script/turn_on HTTP/1.1",
            "POST /api/services/input_boolean/turn_off HTTP/1.1",
            "POST /api/services/automation/turn_off HTTP/1.1",
            "POST /api/services/automation/turn_on HTTP/1.1",
            "POST /api/services/automation/trigger HTTP/1.1",
            "POST /api/services/notify/notify HTTP/1.1",
        ]
    );
    assert_eq!(
        posts[5].1,
        json!({"entity_id": [automation], "skip_condition": true})
    );
    assert_eq!(posts[6].1, json!({"message": "lee test", "title": "lee"}));
}

#[test]
fn helpers_are_set_within_their_limits() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let level = "input_number.harness_level";
    assert_eq!(
        h.then_state(
            json!({"op": "ha.input.set", "entity_id": level, "value": 45}),
            level
        ),
        "45.0"
    );
    let posts_before = h.posts().len();
    let (ok, answer) = h.op(json!({"op": "ha.input.set", "entity_id": level, "value": 150}));
    assert!(!ok);
    assert_eq!(answer["error"]["code"], "out_of_range");
    assert_eq!(answer["error"]["field"], "value");
    assert_eq!(
        answer["error"]["message"],
        "150 is outside input_number.harness_level's range, from 0 to 100 (its min and max)"
    );
    assert_eq!(h.posts().len(), posts_before, "the service was not called");
    // The log line names the field at fault, not only what is wrong with it.
    let ((ok, _), logs) =
        lee_testkit::capture_logs(|| h.op(json!({"op": "ha.input.set", "entity_id": level})));
    assert!(!ok);
    let refused = logs
        .iter()
        .find(|l| l.contains("engine op refused"))
        .expect("a log line");
    assert!(
        refused.contains("engine op refused: value is required"),
        "{refused}"
    );
    for (op, code) in [
        (json!({"op": "ha.input.set", "entity_id": level}), "missing"),
        (
            json!({"op": "ha.input.set", "entity_id": level, "value": "high"}),
            "wrong_type",
        ),
        (
            json!({"op": "ha.input.set", "entity_id": "light.bed_light", "value": 1}),
            "wrong_domain",
        ),
        (
            json!({"op": "ha.input.set", "entity_id": "input_datetime.x", "value": "tomorrow"}),
            "invalid_datetime",
        ),
        (
            json!({"op": "ha.scene.activate", "entity_id": "light.bed_light"}),
            "wrong_domain",
        ),
        (json!({"op": "ha.notify", "message": " "}), "missing"),
        (
            json!({"op": "ha.timer.start", "entity_id": "timer.harness_timer", "duration": "soon"}),
            "invalid_duration",
        ),
    ] {
        let (ok, answer) = h.op(op.clone());
        assert!(!ok, "{op}");
        assert_eq!(answer["error"]["code"], code, "{op}: {answer}");
    }
    assert_eq!(
        h.posts().len(),
        posts_before,
        "no bad argument reached Home Assistant"
    );
}

#[test]
fn timers_start_pause_and_cancel() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let timer = "timer.harness_timer";
    assert_eq!(
        h.then_state(
            json!({"op": "ha.timer.start", "entity_id": timer, "duration": "1m30s"}),
            timer
        ),
        "active"
    );
    assert_eq!(
        h.posts()[0].1,
        json!({"entity_id": [timer], "duration": "00:01:30"})
    );
    assert_eq!(
        h.then_state(json!({"op": "ha.timer.pause", "entity_id": timer}), timer),
        "paused"
    );
    assert_eq!(
        h.then_state(json!({"op": "ha.timer.cancel", "entity_id": timer}), timer),
        "idle"
    );
}

#[test]
fn assist_answers_with_speech() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (ok, answer) =
        h.op(json!({"op": "ha.conversation", "text": "blah blah nonsense", "language": "en"}));
    assert!(ok, "{answer}");
    assert_eq!(answer["speech"], "Sorry, I couldn't understand that");
    assert_eq!(answer["response_type"], "error");
    assert_eq!(answer["language"], "en");
    let post = h.posts().pop().unwrap();
    assert_eq!(post.0, "POST /api/conversation/process HTTP/1.1");
    assert_eq!(
        post.1,
        json!({"text": "blah blah nonsense", "language": "en"})
    );
    for (op, code) in [
        (json!({"op": "ha.conversation"}), "missing"),
        (json!({"op": "ha.conversation", "text": "  "}), "missing"),
        (
            json!({"op": "ha.conversation", "text": "hi", "language": "en gb"}),
            "invalid_language",
        ),
        (
            json!({"op": "ha.conversation", "text": "x".repeat(1001)}),
            "too_long",
        ),
    ] {
        let (ok, answer) = h.op(op.clone());
        assert!(!ok && answer["error"]["code"] == code, "{op}: {answer}");
    }
}

#[test]
fn find_names_entities_despite_typos() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (ok, answer) = h.op(json!({"op": "ha.find", "name": "kitchen lite"}));
    assert!(ok, "{answer}");
    assert_eq!(answer["best"]["entity_id"], "light.kitchen_lights");
    let candidates = answer["candidates"].as_array().unwrap();
    assert!(candidates.len() > 1 && candidates.len() <= 5);
    let scores: Vec<f64> = candidates
        .iter()
        .map(|c| c["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    let (_, doors) =
        h.op(json!({"op": "ha.find", "name": "front dore", "domain": "lock", "limit": 1}));
    assert_eq!(
        doors["candidates"],
        json!([{"entity_id": "lock.front_door", "name": "Front Door", "score": 0.75}])
    );
    let (_, none) = h.op(json!({"op": "ha.find", "name": "zzzz qqqq"}));
    assert_eq!(none["best"], Value::Null);
    // One batch read served all three lookups.
    assert_eq!(h.requests(), 1);
    let (ok, answer) = h.op(json!({"op": "ha.find", "name": "x", "limit": 0}));
    assert!(!ok);
    assert_eq!(answer["error"]["field"], "limit");
}

/// A bridge with an ops token, talking to a scripted server.
fn scripted(faults: Vec<Fault>) -> (FaultServer, Bridge) {
    let server = FaultServer::start(faults);
    let bridge = bridge_from_env(&[("BASE_URL", &server.url), ("HA_TOKEN", "t")]);
    (server, bridge)
}

fn answer_of(bridge: &mut Bridge, op: Value) -> Value {
    serde_json::from_slice(bridge.handle(&serde_json::to_vec(&op).unwrap(), None).body).unwrap()
}

#[test]
fn areas_are_resolved_once_through_the_template_api() {
    let json_answer =
        |body: &str| Fault::Respond(200, "application/json", body.as_bytes().to_vec());
    let (server, mut bridge) = scripted(vec![
        json_answer(r#"["light.a","light.b"]"#),
        json_answer("[]"),
        json_answer("[]"),
    ]);
    let call = json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "area": "Living Room"});
    assert_eq!(answer_of(&mut bridge, call.clone())["ok"], true);
    assert_eq!(answer_of(&mut bridge, call)["ok"], true);
    let received = server.received();
    let lines: Vec<&str> = received.iter().map(|r| r.request_line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "POST /api/template HTTP/1.1",
            "POST /api/services/light/turn_on HTTP/1.1",
            "POST /api/services/light/turn_on HTTP/1.1"
        ],
        "the area's entities were cached"
    );
    let template: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        template["template"],
        "{{ area_entities('Living Room') | tojson }}"
    );
    let service: Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(service, json!({"entity_id": ["light.a", "light.b"]}));
}

#[test]
fn unknown_or_malformed_areas_are_refused() {
    let (server, mut bridge) = scripted(vec![Fault::Respond(
        200,
        "application/json",
        b"[]".to_vec(),
    )]);
    let answer = answer_of(
        &mut bridge,
        json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "area": "nowhere"}),
    );
    assert_eq!(answer["error"]["code"], "unknown_area");
    assert_eq!(server.received().len(), 1, "the service was not called");
    for area in ["kit'chen", "{{ x }}", "", "a\"b"] {
        let answer = answer_of(&mut bridge, json!({"op": "ha.states", "area": area}));
        assert_eq!(answer["error"]["code"], "invalid_area", "{area}");
    }
    assert_eq!(
        server.received().len(),
        1,
        "no malformed area reached Home Assistant"
    );
}

#[test]
fn home_assistant_knows_no_area_called_nowhere() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (ok, answer) = h.op(json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "area": "nowhere"}));
    assert!(!ok);
    assert_eq!(answer["error"]["code"], "unknown_area");
    assert_eq!(h.posts().len(), 1, "only the template was asked");
    assert_eq!(h.posts()[0].0, "POST /api/template HTTP/1.1");
}

/// A custom-skill request; `token` is the account-linked token Alexa adds
/// once the user linked their account.
fn skill_request(kind: &str, app: &str, utterance: Option<&str>, token: Option<&str>) -> Vec<u8> {
    let intent = match utterance {
        Some(words) => {
            json!({"name": "CatchAllIntent", "slots": {"utterance": {"name": "utterance", "value": words}}})
        }
        None => Value::Null,
    };
    let mut user = json!({"userId": "u"});
    if let Some(token) = token {
        user["accessToken"] = token.into();
    }
    serde_json::to_vec(&json!({
        "version": "1.0",
        "session": {"new": true, "sessionId": "s", "application": {"applicationId": app}, "attributes": {}, "user": user},
        "context": {"System": {"application": {"applicationId": app}, "user": user}},
        "request": {"type": kind, "requestId": "r", "locale": "en-US", "intent": intent},
    }))
    .unwrap()
}

#[test]
fn a_custom_skill_talks_to_assist() {
    let Some(ha) = lee_testkit::RealHa::from_env() else {
        return;
    };
    let relay = FaultServer::relay_to(&ha.url);
    let skill = "amzn1.ask.skill.lee-test";
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", &relay.url),
        ("HA_TOKEN", &ha.token),
        ("ALEXA_SKILL_ID", skill),
    ]);
    let mut ask = |event: Vec<u8>| {
        let handled = bridge.handle(&event, None);
        (
            handled.outcome,
            serde_json::from_slice::<Value>(handled.body).unwrap(),
        )
    };
    let (outcome, launch) = ask(skill_request("LaunchRequest", skill, None, Some(&ha.token)));
    assert_eq!(outcome, Outcome::Skill(true));
    assert_eq!(launch["response"]["shouldEndSession"], false);
    let (_, said) = ask(skill_request(
        "IntentRequest",
        skill,
        Some("blah blah nonsense"),
        Some(&ha.token),
    ));
    assert_eq!(said["version"], "1.0");
    assert_eq!(
        said["response"]["outputSpeech"]["text"],
        "Sorry, I couldn't understand that"
    );
    let to_assist = relay.received().pop().unwrap();
    assert_eq!(
        to_assist.request_line,
        "POST /api/conversation/process HTTP/1.1"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&to_assist.body).unwrap(),
        json!({"text": "blah blah nonsense", "language": "en"})
    );
    let (_, ended) = ask(skill_request(
        "SessionEndedRequest",
        skill,
        None,
        Some(&ha.token),
    ));
    assert_eq!(ended, json!({"version": "1.0", "response": {}}));
    let requests = relay.received().len();
    let (outcome, refused) = ask(skill_request(
        "IntentRequest",
        "amzn1.ask.skill.other",
        Some("unlock the door"),
        Some(&ha.token),
    ));
    assert_eq!(outcome, Outcome::Skill(false));
    assert!(refused["error"].as_str().unwrap().contains("another skill"));
    assert_eq!(
        relay.received().len(),
        requests,
        "nothing reached Home Assistant"
    );
}

/// A shared secret long enough to be accepted.
const SECRET: &str = "s3cret-0123456789abcdef0123456789abcdef";

fn http_op(op: Value, secret: Option<&str>, method: &str) -> Vec<u8> {
    lee_testkit::function_url(method, "/op", secret, Some(&op))
}

#[test]
fn ops_over_a_function_url_need_the_shared_secret() {
    let state = br#"{"entity_id":"light.a","state":"on","attributes":{}}"#;
    let server = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        state.to_vec(),
    )]);
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", &server.url),
        ("HA_TOKEN", "t"),
        ("SHARED_SECRET", SECRET),
        ("OPS_OVER_HTTP", "true"),
    ]);
    let op = json!({"op": "ha.state", "entity_id": "light.a"});
    let mut status = |event: Vec<u8>| {
        let handled = bridge.handle(&event, None);
        let response: Value = serde_json::from_slice(handled.body).unwrap();
        (handled.outcome, response)
    };
    let (outcome, response) = status(http_op(op.clone(), Some(SECRET), "POST"));
    assert_eq!(outcome, Outcome::Http(200));
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["state"]["state"], "on");
    assert_eq!(
        status(http_op(op.clone(), Some("wrong"), "POST")).0,
        Outcome::Http(401)
    );
    assert_eq!(
        status(http_op(op.clone(), None, "POST")).0,
        Outcome::Http(401)
    );
    assert_eq!(
        status(http_op(op.clone(), Some(SECRET), "GET")).0,
        Outcome::Http(405)
    );
    let (outcome, response) = status(http_op(json!({"op": "ha.state"}), Some(SECRET), "POST"));
    assert_eq!(outcome, Outcome::Http(400));
    assert!(response["body"].as_str().unwrap().contains("\"missing\""));
    assert_eq!(
        server.received().len(),
        1,
        "only the authorised op reached Home Assistant"
    );
    let mut closed = bridge_from_env(&[("BASE_URL", &server.url), ("HA_TOKEN", "t")]);
    assert_eq!(
        closed
            .handle(&http_op(op, Some(SECRET), "POST"), None)
            .outcome,
        Outcome::Http(403)
    );
}

#[test]
fn cache_warming_reads_every_state_at_the_first_event() {
    let states = br#"[{"entity_id":"light.a","state":"on","attributes":{}},{"entity_id":"switch.b","state":"off","attributes":{}}]"#;
    let server = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        states.to_vec(),
    )]);
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", &server.url),
        ("HA_TOKEN", "t"),
        ("HA_CACHE_WARMING", "true"),
    ]);
    assert!(
        server.received().is_empty(),
        "nothing happens before the first event"
    );
    let answer = answer_of(
        &mut bridge,
        json!({"op": "ha.state", "entity_id": "switch.b"}),
    );
    assert_eq!(answer["state"]["state"], "off");
    let received = server.received();
    assert_eq!(received.len(), 1, "the state came from the warmed cache");
    assert_eq!(received[0].request_line, "GET /api/states HTTP/1.1");

    // Off by default: the same read asks Home Assistant for that one state.
    let state = br#"{"entity_id":"switch.b","state":"off","attributes":{}}"#;
    let cold = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        state.to_vec(),
    )]);
    let mut bridge = bridge_from_env(&[("BASE_URL", &cold.url), ("HA_TOKEN", "t")]);
    assert_eq!(
        answer_of(
            &mut bridge,
            json!({"op": "ha.state", "entity_id": "switch.b"})
        )["ok"],
        true
    );
    assert_eq!(
        cold.received()[0].request_line,
        "GET /api/states/switch.b HTTP/1.1"
    );
}

#[test]
fn the_ops_token_can_come_from_parameter_store() {
    let parameter = br#"{"Parameter":{"Name":"/lee/ha_token","Type":"SecureString","Value":"param-token","Version":1}}"#;
    let extension = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        parameter.to_vec(),
    )]);
    let port = extension.url.rsplit(':').next().unwrap().to_string();
    let state = br#"{"entity_id":"light.a","state":"on","attributes":{}}"#;
    let ha = FaultServer::start(vec![
        Fault::Respond(200, "application/json", state.to_vec()),
        Fault::Respond(200, "application/json", b"[]".to_vec()),
    ]);
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", &ha.url),
        ("HA_TOKEN_PARAMETER", "/lee/ha_token"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port),
        ("AWS_SESSION_TOKEN", "session-marker"),
        ("LONG_LIVED_ACCESS_TOKEN", "not-this-one"),
    ]);
    assert!(extension.received().is_empty(), "nothing is read at start");
    assert_eq!(
        answer_of(
            &mut bridge,
            json!({"op": "ha.state", "entity_id": "light.a"})
        )["ok"],
        true
    );
    let call = json!({"op": "ha.call_service", "domain": "light", "service": "turn_off", "entity_id": "light.a"});
    assert_eq!(answer_of(&mut bridge, call)["ok"], true);
    let asked = extension.received();
    assert_eq!(asked.len(), 1, "the token is kept for SSM_CACHE_TTL");
    assert_eq!(
        asked[0].request_line,
        "GET /systemsmanager/parameters/get?name=%2Flee%2Fha_token&withDecryption=true HTTP/1.1"
    );
    assert_eq!(
        asked[0].header("x-aws-parameters-secrets-token"),
        Some("session-marker")
    );
    for request in ha.received() {
        assert_eq!(request.header("authorization"), Some("Bearer param-token"));
    }
    // Without a session token the extension cannot be asked: the op says why.
    let mut no_session = bridge_from_env(&[
        ("BASE_URL", &ha.url),
        ("HA_TOKEN_PARAMETER", "/lee/ha_token"),
    ]);
    let answer = answer_of(&mut no_session, json!({"op": "ha.health"}));
    assert_eq!(answer["error"]["code"], "token_parameter");
    assert!(!answer.to_string().contains("marker"));
}

#[test]
fn a_read_is_retried_like_a_directive_and_a_service_call_that_may_have_arrived_is_not() {
    let state = br#"{"entity_id":"light.a","state":"on","attributes":{}}"#;
    let busy = || Fault::Respond(503, "text/html", b"<h1>503</h1>".to_vec());
    // A read: Home Assistant's proxy says "try later", then answers.
    let (server, mut bridge) = scripted(vec![
        busy(),
        Fault::Respond(200, "application/json", state.to_vec()),
    ]);
    let answer = answer_of(
        &mut bridge,
        json!({"op": "ha.state", "entity_id": "light.a"}),
    );
    assert_eq!(answer["state"]["state"], "on", "{answer}");
    assert_eq!(server.received().len(), 2, "the read was asked again");
    assert_eq!(bridge.metrics().get(lee_core::metrics::Counter::Retries), 1);

    // A service call whose connection closed after sending: it may have
    // switched the light, so it is not sent again.
    let (server, mut bridge) = scripted(vec![
        Fault::Close,
        Fault::Respond(200, "application/json", b"[]".to_vec()),
    ]);
    let answer = answer_of(
        &mut bridge,
        json!({"op": "ha.call_service", "domain": "light", "service": "turn_on", "entity_id": "light.a"}),
    );
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(server.received().len(), 1, "never sent twice");
}

#[test]
fn answers_are_shaped_by_fields_and_flatten_and_the_cache_keeps_whole_states() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let fields = json!(["entity_id", "state", "attributes.brightness"]);
    let (ok, lights) = h.op(json!({"op": "ha.states", "domain": "light", "fields": fields}));
    assert!(ok, "{lights}");
    let lights = lights["states"].as_array().unwrap();
    assert!(!lights.is_empty());
    let mut with_brightness = 0;
    for light in lights {
        let light = light.as_object().unwrap();
        assert!(light["entity_id"].as_str().unwrap().starts_with("light."));
        assert!(light["state"].is_string(), "{light:?}");
        let mut keys: Vec<&str> = light.keys().map(String::as_str).collect();
        keys.retain(|k| !["entity_id", "state"].contains(k));
        match keys.as_slice() {
            [] => {}
            ["attributes"] => {
                // Home Assistant says null while a light is off.
                let attributes = light["attributes"].as_object().unwrap();
                assert_eq!(attributes.len(), 1, "{attributes:?}");
                let brightness = &attributes["brightness"];
                assert!(
                    brightness.is_number() || brightness.is_null(),
                    "{brightness}"
                );
                with_brightness += usize::from(brightness.is_number());
            }
            other => panic!("members not asked for: {other:?}"),
        }
    }
    assert!(with_brightness > 0, "a light of the demo home is on");
    assert_eq!(h.requests(), 1, "one GET /api/states");

    // The cache kept Home Assistant's states whole: ha.state without
    // fields answers every member, without a request.
    let id = lights[0]["entity_id"].as_str().unwrap().to_string();
    let (ok, whole) = h.op(json!({"op": "ha.state", "entity_id": id}));
    assert!(ok, "{whole}");
    assert!(
        whole["state"]["attributes"]["friendly_name"].is_string(),
        "{whole}"
    );
    assert!(whole["state"]["last_changed"].is_string(), "{whole}");
    assert_eq!(h.requests(), 1, "answered from the cache");

    // Flattened, then narrowed by the flattened names.
    let (ok, flat) = h.op(json!({"op": "ha.state", "entity_id": id, "flatten": true,
                                  "fields": ["entity_id", "friendly_name"]}));
    assert!(ok, "{flat}");
    assert_eq!(
        flat["state"],
        json!({"entity_id": id, "friendly_name": whole["state"]["attributes"]["friendly_name"]})
    );
    assert_eq!(h.requests(), 1, "shaping asks Home Assistant nothing");

    // A bad path is refused before any request.
    let (ok, refused) = h.op(json!({"op": "ha.states", "fields": ["attributes."]}));
    assert!(!ok);
    assert_eq!(refused["error"]["field"], "fields");
    assert_eq!(refused["error"]["code"], "invalid_path");
    let (ok, refused) = h.op(json!({"op": "ha.health", "flatten": true}));
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "not_shapeable");
    assert_eq!(refused["error"]["field"], "flatten");
    assert_eq!(h.requests(), 1);
}

/// A real Home Assistant never answers these shapes, so a scripted server
/// stands in for one that is broken or is not Home Assistant at all (a
/// proxy's page, another API on the same address).
#[test]
fn an_answer_not_shaped_as_the_op_expects_is_an_error_that_says_what_was_seen() {
    let json_answer =
        |body: &str| Fault::Respond(200, "application/json", body.as_bytes().to_vec());
    let (_server, mut bridge) = scripted(vec![json_answer(r#"{"message": "API running."}"#)]);
    let answer = answer_of(&mut bridge, json!({"op": "ha.states"}));
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["error"]["code"], "unexpected_answer");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GET /api/states answered an object"),
        "{message}"
    );
    assert!(message.contains("API running."), "{message}");

    let (_server, mut bridge) = scripted(vec![json_answer(
        r#"[{"entity_id": "light.a", "state": "on"}, {"state": "off"}]"#,
    )]);
    let answer = answer_of(&mut bridge, json!({"op": "ha.states", "domain": "light"}));
    assert_eq!(answer["ok"], false, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("state 2 of its list"), "{message}");
    assert!(message.contains("entity_id"), "{message}");

    let (_server, mut bridge) = scripted(vec![json_answer(r#"["light.a"]"#)]);
    let answer = answer_of(
        &mut bridge,
        json!({"op": "ha.state", "entity_id": "light.a"}),
    );
    assert_eq!(answer["ok"], false, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GET /api/states/light.a answered a list"),
        "{message}"
    );
}

#[test]
fn a_service_calls_changed_states_are_shaped_and_still_drop_what_changed_from_the_cache() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    // The template switch turns the helper behind it on or off: both change.
    let (socket, helper) = (
        "switch.harness_socket",
        "input_boolean.harness_socket_state",
    );
    let (ok, before) = h.op(json!({"op": "ha.state", "entity_id": helper}));
    assert!(ok, "{before}");
    let was = before["state"]["state"].as_str().unwrap().to_string();
    let requests = h.requests();

    let (ok, call) = h.op(json!({"op": "ha.call_service", "domain": "switch",
        "service": "toggle", "entity_id": socket, "fields": ["state"]}));
    assert!(ok, "{call}");
    let changed = call["changed"].as_array().unwrap();
    assert!(!changed.is_empty(), "{call}");
    for state in changed {
        let keys: Vec<&String> = state.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["state"], "only the path asked for: {call}");
    }
    assert_eq!(h.requests(), requests + 1, "one POST");

    // The shaped answer names no entity, yet the helper's cached state was
    // dropped: the cache is kept from Home Assistant's answer, not the shaped one.
    let (ok, after) = h.op(json!({"op": "ha.state", "entity_id": helper}));
    assert!(ok, "{after}");
    assert_eq!(h.requests(), requests + 2, "read again from Home Assistant");
    assert_ne!(after["state"]["state"].as_str().unwrap(), was, "{after}");
    assert!(after["state"]["attributes"]["friendly_name"].is_string());

    let (ok, back) = h.op(json!({"op": "ha.call_service", "domain": "switch",
        "service": "toggle", "entity_id": socket}));
    assert!(ok, "{back}");
    let (ok, refused) = h.op(json!({"op": "ha.find", "name": "socket", "fields": ["entity_id"]}));
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "not_shapeable");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("ha.find answers candidates"),
        "{refused}"
    );
}
