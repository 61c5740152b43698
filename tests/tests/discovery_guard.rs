//! The Discovery guard (`DISCOVERY_GUARD`) against a real Home Assistant with
//! a home Alexa refuses: the second harness instance (`LEE_HA_BIG_HOME`)
//! with 320 extra switches, a name of 140 characters, a name with a line
//! break, a name of punctuation only, an entity id whose description is too
//! long, a binary sensor without a device class (Home Assistant sends it
//! `"displayCategories": null`) and two lights with the same name.
//!
//! Judged against Amazon's schema and against what Home Assistant sent (the
//! relay records its bytes): the answer validates, it keeps exactly the
//! endpoints it should (Home Assistant's bytes, in its order), and the
//! findings name exactly the others, each with its fix. Run alone with
//! `cargo test -p lee-integration-tests --test discovery_guard -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};

use lee_core::budget::Capacities;
use lee_core::discovery::DEFAULT_PRIORITY;
use lee_testkit::{AlexaSchema, FaultServer, RealHa, bridge_sized, capture_logs, directive};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The entities this test adds, with the friendly name each gets.
fn added_entities() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = (0..320)
        .map(|n| (format!("switch.big_{n:03}"), format!("Big switch {n}")))
        .collect();
    let long_object_id = format!("lengthy_{}", "x".repeat(110));
    all.extend([
        (
            "switch.long_name".into(),
            "Living room ".repeat(12).trim_end().to_string() + " lamp",
        ),
        ("switch.bell_hop".into(), "Bell\nhop".into()),
        ("switch.shout".into(), "!!!".into()),
        (format!("switch.{long_object_id}"), "Lengthy".into()),
        ("binary_sensor.no_class".into(), "No class".into()),
        ("light.hall_lamp_1".into(), "Hall lamp".into()),
        ("light.hall_lamp_2".into(), "hall LAMP".into()),
    ]);
    all
}

/// The entities Alexa refuses, with the rule each breaks.
fn refused() -> BTreeMap<String, &'static str> {
    let long_object_id = format!("lengthy_{}", "x".repeat(110));
    [
        ("switch.long_name".to_string(), "too_long"),
        ("switch.bell_hop".to_string(), "character"),
        ("switch.shout".to_string(), "empty"),
        (format!("switch.{long_object_id}"), "too_long"),
        ("binary_sensor.no_class".to_string(), "wrong_type"),
    ]
    .into_iter()
    .collect()
}

/// Put every added entity into the second Home Assistant.
fn build_big_home(ha: &RealHa) {
    for (entity, name) in added_entities() {
        let state = json!({"state": "off", "attributes": {"friendly_name": name}});
        let (status, body) = ha.request(
            "POST",
            &format!("/api/states/{entity}"),
            state.to_string().as_bytes(),
        );
        assert!(
            status == 200 || status == 201,
            "{entity}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

fn discover(token: &str) -> Vec<u8> {
    directive("Alexa.Discovery", "Discover", None, json!({}), token)
}

/// An answer's endpoints, each as its raw bytes.
fn raw_endpoints(answer: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        event: Event<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        payload: Payload<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Payload<'a> {
        #[serde(borrow)]
        endpoints: Vec<&'a RawValue>,
    }
    let answer: Answer<'_> = serde_json::from_slice(answer).expect("a Discover.Response");
    answer
        .event
        .payload
        .endpoints
        .iter()
        .map(|raw| raw.get().to_string())
        .collect()
}

fn entity_of(endpoint: &str) -> String {
    let v: Value = serde_json::from_str(endpoint).unwrap();
    v["endpointId"].as_str().unwrap().replacen('#', ".", 1)
}

/// The 300 entities Alexa should get: those that break no rule, the first
/// 300 by `DEFAULT_PRIORITY`'s domains, then entity id.
fn expected_kept(sent: &[String]) -> BTreeSet<String> {
    let refused = refused();
    let domains: Vec<&str> = DEFAULT_PRIORITY.split(',').collect();
    let mut valid: Vec<(usize, String)> = sent
        .iter()
        .map(|e| entity_of(e))
        .filter(|entity| !refused.contains_key(entity))
        .map(|entity| {
            let domain = entity.split('.').next().unwrap();
            let rank = domains
                .iter()
                .position(|d| *d == domain)
                .unwrap_or(domains.len());
            (rank, entity)
        })
        .collect();
    valid.sort();
    valid.into_iter().take(300).map(|(_, e)| e).collect()
}

#[test]
fn a_big_broken_home_gets_a_discovery_alexa_accepts_and_every_endpoint_left_out_is_named() {
    let Some(ha) = RealHa::big_home() else {
        return;
    };
    build_big_home(&ha);
    let schema = AlexaSchema::load();
    let relay = FaultServer::relay_to(&ha.url);
    let mut bridge = bridge_sized(&[("BASE_URL", relay.url.as_str())], Capacities::STANDARD);

    let (answer, lines) = capture_logs(|| bridge.answer(&discover(&ha.token), None).body.to_vec());
    let sent = relay.relayed().pop().expect("Home Assistant answered");

    // Home Assistant's own answer is one Alexa refuses.
    let from_ha: Value = serde_json::from_slice(&sent).unwrap();
    let violations = schema.violations(&from_ha);
    assert!(
        !violations.is_empty(),
        "the big home should break Amazon's schema"
    );
    let sent_endpoints = raw_endpoints(&sent);
    let added = added_entities();
    let sent_entities: BTreeSet<String> = sent_endpoints.iter().map(|e| entity_of(e)).collect();
    for (entity, _) in &added {
        assert!(
            sent_entities.contains(entity),
            "Home Assistant did not expose {entity}"
        );
    }

    // lee's answer validates, and keeps exactly the endpoints it should.
    schema.assert_valid(&answer);
    let kept_endpoints = raw_endpoints(&answer);
    let kept: BTreeSet<String> = kept_endpoints.iter().map(|e| entity_of(e)).collect();
    assert_eq!(kept, expected_kept(&sent_endpoints));
    assert_eq!(kept_endpoints.len(), 300);
    // The kept are Home Assistant's bytes, in its order; so is all around them.
    let mut from = sent_endpoints.iter();
    for endpoint in &kept_endpoints {
        assert!(
            from.any(|e| e == endpoint),
            "not Home Assistant's bytes: {endpoint}"
        );
    }
    let (sent, answer) = (
        String::from_utf8(sent).unwrap(),
        String::from_utf8(answer).unwrap(),
    );
    let before = |text: &str, first: &str| text[..text.find(first).unwrap()].to_string();
    assert_eq!(
        before(&answer, &kept_endpoints[0]),
        before(&sent, &sent_endpoints[0])
    );
    let after = |text: &str, last: &str| text[text.rfind(last).unwrap() + last.len()..].to_string();
    assert_eq!(
        after(&answer, kept_endpoints.last().unwrap()),
        after(&sent, sent_endpoints.last().unwrap())
    );

    // The findings name exactly the others, each with its rule and fix.
    let report = bridge
        .handle(br#"{"diagnostics": true}"#, None)
        .body
        .to_vec();
    let report: Value = serde_json::from_slice(&report).unwrap();
    let discovery = &report["discovery"];
    let findings = discovery["findings"].as_array().unwrap();
    let left_out: BTreeSet<String> = findings
        .iter()
        .filter(|f| f["left_out"] == true)
        .map(|f| f["entity"].as_str().unwrap().to_string())
        .collect();
    let dropped: BTreeSet<String> = sent_entities.difference(&kept).cloned().collect();
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in findings {
        *by_rule.entry(f["rule"].as_str().unwrap()).or_default() += 1;
    }
    eprintln!(
        "big home: {} endpoints from Home Assistant, {} kept, {} left out; findings by rule: {by_rule:?}",
        sent_endpoints.len(),
        kept.len(),
        dropped.len()
    );
    assert_eq!(left_out, dropped);
    for (entity, rule) in refused() {
        let finding = findings
            .iter()
            .find(|f| f["entity"] == entity.as_str())
            .unwrap_or_else(|| panic!("no finding for {entity}"));
        assert_eq!(finding["rule"], rule, "{finding}");
        let message = finding["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{entity}: ")), "{message}");
        assert!(
            message.contains(
                ". Fix: in Home Assistant's configuration.yaml, under alexa: smart_home:"
            ),
            "{message}"
        );
    }
    let long = findings
        .iter()
        .find(|f| f["entity"] == "switch.long_name")
        .unwrap();
    assert_eq!(long["member"], "friendlyName");
    eprintln!("for example: {}", long["message"].as_str().unwrap());
    assert!(
        long["message"]
            .as_str()
            .unwrap()
            .contains("entity_config: switch.long_name: name:")
    );
    let past: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "past_300")
        .collect();
    assert_eq!(past.len(), sent_endpoints.len() - refused().len() - 300);
    assert_eq!(discovery["past_limit"], past.len());
    assert_eq!(discovery["endpoints"], sent_endpoints.len());
    assert_eq!(discovery["kept"], 300);
    assert_eq!(discovery["alexa_accepts"], true);
    let repeated: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "repeated_friendly_name")
        .collect();
    assert_eq!(repeated.len(), 1, "{repeated:?}");
    assert_eq!(repeated[0]["entity"], "light.hall_lamp_2");
    assert_eq!(repeated[0]["left_out"], false);
    assert!(kept.contains("light.hall_lamp_1") && kept.contains("light.hall_lamp_2"));

    // The log: one summary line, then every finding once.
    let summary: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("Discovery: Home Assistant sent"))
        .collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(
        summary[0].contains(&format!(
            "sent {} endpoints, Alexa gets 300",
            sent_endpoints.len()
        )),
        "{}",
        summary[0]
    );
    let detailed = lines
        .iter()
        .filter(|l| l.contains("\"Discovery: ") && l.contains("Fix:"))
        .count();
    assert_eq!(detailed, findings.len(), "{}", lines.join("\n"));
    // The same home again: the summary, not the details again.
    let (_, lines) = capture_logs(|| bridge.answer(&discover(&ha.token), None).body.len());
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("Discovery: Home Assistant sent"))
            .count(),
        1
    );
    assert_eq!(lines.iter().filter(|l| l.contains("Fix:")).count(), 0);
    // The EMF line counts it.
    let emf: Value = serde_json::from_str(&bridge.metrics_line("lee", None).unwrap()).unwrap();
    assert_eq!(emf["DiscoveryEndpoints"], sent_endpoints.len());
    assert_eq!(emf["DiscoveryDropped"], sent_endpoints.len() - 300);
}

#[test]
fn report_mode_passes_home_assistants_answer_on_and_off_checks_nothing() {
    let Some(ha) = RealHa::big_home() else {
        return;
    };
    build_big_home(&ha);
    for guard in ["report", "off"] {
        let relay = FaultServer::relay_to(&ha.url);
        let mut bridge = bridge_sized(
            &[("BASE_URL", relay.url.as_str()), ("DISCOVERY_GUARD", guard)],
            Capacities::STANDARD,
        );
        // Logs captured as in the other test: a thread logging to no
        // subscriber could make tracing skip the other's log lines.
        let (answer, _) = capture_logs(|| bridge.answer(&discover(&ha.token), None).body.to_vec());
        assert_eq!(answer, relay.relayed().pop().unwrap(), "{guard}");
        let report = bridge
            .handle(br#"{"diagnostics": true}"#, None)
            .body
            .to_vec();
        let report: Value = serde_json::from_slice(&report).unwrap();
        let discovery = &report["discovery"];
        if guard == "off" {
            assert!(discovery.is_null(), "{discovery}");
            continue;
        }
        assert_eq!(discovery["alexa_accepts"], false);
        assert_eq!(discovery["left_out"], 0);
        let findings = discovery["findings"].as_array().unwrap();
        assert!(findings.iter().all(|f| f["left_out"] == false));
        let named: BTreeSet<&str> = findings
            .iter()
            .filter_map(|f| f["entity"].as_str())
            .collect();
        for entity in refused().keys() {
            assert!(named.contains(entity.as_str()), "{entity}");
        }
        assert!(
            findings[0]["message"]
                .as_str()
                .unwrap()
                .contains("Alexa refuses a Discovery with it")
        );
    }
}

/// The demo home's six endpoints (a light, a switch, a thermostat, ...), as
/// Home Assistant 2024.3 writes them: the shapes the properties vary.
fn demo_endpoints() -> Vec<Value> {
    use lee_core::bridge::{Timeouts, Transport};
    let mut home = lee_demo::DemoHome::with_clock(7, || "2024-03-23T12:00:00Z".to_string());
    let mut body = vec![0u8; 64 * 1024];
    let timeouts = Timeouts {
        connect: std::time::Duration::from_secs(2),
        total: std::time::Duration::from_secs(7),
    };
    let answer = home
        .post_directive(&discover("demo-token"), "demo-token", timeouts, &mut body)
        .unwrap();
    let answer: Value = serde_json::from_slice(&body[..answer.len]).unwrap();
    answer["event"]["payload"]["endpoints"]
        .as_array()
        .unwrap()
        .clone()
}

/// How one generated endpoint differs from its demo shape.
#[derive(Clone, Debug)]
enum Change {
    None,
    /// A name of `n` characters.
    NameLength(usize),
    /// A control character in the name (Alexa's documentation refuses it;
    /// Amazon's schema does not).
    ControlInName,
    /// A name of punctuation only (the same).
    PunctuationName,
    DescriptionLength(usize),
    Category(&'static str),
    NullCategories,
    NoCapabilities,
    CookieNumber,
    /// The endpointId of the endpoint before it (the schema allows it, the
    /// documentation does not).
    RepeatId,
}

impl Change {
    /// Whether Amazon's schema accepts what Alexa's documentation refuses.
    fn schema_allows_it(&self) -> bool {
        matches!(
            self,
            Change::ControlInName | Change::PunctuationName | Change::RepeatId
        )
    }
}

fn change() -> impl proptest::strategy::Strategy<Value = Change> {
    use proptest::prelude::*;
    prop_oneof![
        6 => Just(Change::None),
        1 => (100usize..140).prop_map(Change::NameLength),
        1 => Just(Change::ControlInName),
        1 => Just(Change::PunctuationName),
        1 => (100usize..140).prop_map(Change::DescriptionLength),
        1 => prop_oneof![Just("WATER_HEATER"), Just("LIGHT"), Just("light")].prop_map(Change::Category),
        1 => Just(Change::NullCategories),
        1 => Just(Change::NoCapabilities),
        1 => Just(Change::CookieNumber),
        1 => Just(Change::RepeatId),
    ]
}

fn apply(shapes: &[Value], n: usize, shape: usize, change: &Change) -> Value {
    let mut e = shapes[shape % shapes.len()].clone();
    let domain = e["endpointId"]
        .as_str()
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_string();
    e["endpointId"] = format!("{domain}#generated_{n}").into();
    e["friendlyName"] = format!("Device {n}").into();
    match change {
        Change::None => {}
        Change::NameLength(len) => e["friendlyName"] = "n".repeat(*len).into(),
        Change::ControlInName => e["friendlyName"] = format!("Device\t{n}").into(),
        Change::PunctuationName => e["friendlyName"] = "?-?".into(),
        Change::DescriptionLength(len) => e["description"] = "d".repeat(*len).into(),
        Change::Category(c) => e["displayCategories"] = json!([c]),
        Change::NullCategories => e["displayCategories"] = Value::Null,
        Change::NoCapabilities => e["capabilities"] = json!([]),
        Change::CookieNumber => e["cookie"] = json!({"a": 1}),
        Change::RepeatId if n > 0 => {
            e["endpointId"] = format!("{domain}#generated_{}", n - 1).into();
            e["friendlyName"] = format!("Other device {n}").into();
        }
        Change::RepeatId => {}
    }
    e
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Whatever Home Assistant sends, lee's repaired answer passes Amazon's
    /// schema; an answer the schema and Alexa's documentation both accept
    /// comes back byte for byte.
    #[test]
    fn a_repaired_answer_always_validates_and_a_valid_one_is_never_changed(
        endpoints in proptest::collection::vec((0usize..6, change()), 0..30),
        pretty in proptest::bool::ANY,
    ) {
        use lee_core::discovery::{Mode, Priority, Tracked, check, tracked_for};
        let shapes = demo_endpoints();
        let all: Vec<Value> = endpoints
            .iter()
            .enumerate()
            .map(|(n, (shape, change))| apply(&shapes, n, *shape, change))
            .collect();
        let answer = json!({"event": {
            "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response", "payloadVersion": "3", "messageId": "m"},
            "payload": {"endpoints": all},
        }});
        let text = if pretty {
            serde_json::to_vec_pretty(&answer).unwrap()
        } else {
            serde_json::to_vec(&answer).unwrap()
        };
        let mut buf = text.clone();
        let mut tracked = vec![Tracked::EMPTY; tracked_for(buf.len())];
        let priority = Priority::parse(DEFAULT_PRIORITY).unwrap();
        let verdict = check(&mut buf, text.len(), Mode::Repair, &priority, &mut tracked, &mut |_| {});
        let lee_core::discovery::Verdict::Checked(summary) = verdict else {
            panic!("{verdict:?}");
        };
        buf.truncate(summary.len);
        let schema = AlexaSchema::load();
        schema.assert_valid(&buf);
        let schema_valid = schema.violations(&answer).is_empty();
        let documentation_valid = endpoints.iter().all(|(_, c)| !c.schema_allows_it());
        if schema_valid && documentation_valid {
            proptest::prop_assert_eq!(buf, text);
        }
    }
}
