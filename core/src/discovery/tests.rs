//! The guard on whole answers: what is kept, what is left out, what is said.

use super::*;
use proptest::prelude::*;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

/// A switch as Home Assistant 2024.3.3 sends one, named `name`.
fn switch(object_id: &str, name: &str) -> String {
    format!(
        r#"{{"displayCategories": ["SWITCH"], "cookie": {{}}, "endpointId": "switch#{object_id}", "friendlyName": "{name}", "description": "switch.{object_id} via Home Assistant", "manufacturerName": "Home Assistant", "additionalAttributes": {{"manufacturer": "Home Assistant", "model": "switch", "softwareVersion": "2024.3.3", "customIdentifier": "-switch.{object_id}"}}, "capabilities": [{{"type": "AlexaInterface", "interface": "Alexa.PowerController", "version": "3", "properties": {{"supported": [{{"name": "powerState"}}], "proactivelyReported": true, "retrievable": true}}}}, {{"type": "AlexaInterface", "interface": "Alexa", "version": "3"}}]}}"#
    )
}

fn answer_with(endpoints: &[String], separator: &str) -> String {
    format!(
        r#"{{"event": {{"header": {{"namespace": "Alexa.Discovery", "name": "Discover.Response", "messageId": "m", "payloadVersion": "3"}}, "payload": {{"endpoints": [{}]}}}}}}"#,
        endpoints.join(separator)
    )
}

fn answer(endpoints: &[String]) -> String {
    answer_with(endpoints, ", ")
}

struct Run {
    out: String,
    verdict: Verdict,
    findings: Vec<(usize, Rule, String)>,
}

fn run_with(answer: &str, mode: Mode, priority: &str) -> Run {
    let mut buf = answer.as_bytes().to_vec();
    let mut tracked = vec![Tracked::EMPTY; tracked_for(buf.len())];
    let priority = Priority::parse(priority).unwrap();
    let mut findings = Vec::new();
    let verdict = check(
        &mut buf,
        answer.len(),
        mode,
        &priority,
        &mut tracked,
        &mut |f| {
            findings.push((f.position, f.rule, f.to_string()));
        },
    );
    let len = match verdict {
        Verdict::Checked(s) => s.len,
        _ => answer.len(),
    };
    buf.truncate(len);
    Run {
        out: String::from_utf8(buf).unwrap(),
        verdict,
        findings,
    }
}

fn run(answer: &str) -> Run {
    run_with(answer, Mode::Repair, DEFAULT_PRIORITY)
}

fn summary(run: &Run) -> Summary {
    match run.verdict {
        Verdict::Checked(s) => s,
        other => panic!("{other:?}"),
    }
}

fn ids(answer: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(answer).expect("the answer is JSON");
    v["event"]["payload"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpointId"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn an_answer_alexa_accepts_is_not_changed() {
    let all: Vec<String> = (0..53)
        .map(|i| switch(&format!("s{i}"), &format!("Switch {i}")))
        .collect();
    let answer = answer(&all);
    let r = run(&answer);
    assert_eq!(r.out, answer);
    assert_eq!(r.findings, []);
    let s = summary(&r);
    assert_eq!(
        (s.endpoints, s.left_out, s.kept(), s.len),
        (53, 0, 53, answer.len())
    );
    assert!(s.acceptable());
}

#[test]
fn a_broken_endpoint_is_cut_out_and_the_rest_are_home_assistants_bytes() {
    let long = "x".repeat(140);
    for at in [0, 1, 2] {
        for separator in [", ", ",", ",\n    "] {
            let mut all = vec![switch("a", "A"), switch("b", "B"), switch("c", "C")];
            all[at] = switch("long", &long);
            let answer = answer_with(&all, separator);
            let r = run(&answer);
            let mut kept = all.clone();
            kept.remove(at);
            assert_eq!(r.out, answer_with(&kept, separator), "at {at}");
            assert_eq!(r.findings.len(), 1);
            let (position, rule, text) = &r.findings[0];
            assert_eq!(
                (*position, *rule),
                (at + 1, Rule::TooLong(Member::FriendlyName, 140))
            );
            assert!(
                text.starts_with(
                    "switch.long: its friendlyName is 140 characters, Alexa accepts at most 128"
                ),
                "{text}"
            );
            assert!(text.contains("left out of the Discovery"), "{text}");
            assert!(
                text.contains(
                    "entity_config: switch.long: name: <at most 128 letters, digits and spaces>"
                ),
                "{text}"
            );
            let s = summary(&r);
            assert_eq!((s.endpoints, s.broken, s.left_out, s.kept()), (3, 1, 1, 2));
        }
    }
}

#[test]
fn every_broken_endpoint_is_named_in_order_however_many_there_are() {
    // Up to REMEMBERED_BROKEN they are remembered; past it, the list is read
    // again: the findings are the same either way.
    for broken in [3, REMEMBERED_BROKEN, REMEMBERED_BROKEN + 1, 45] {
        // The first `broken` have no name to say.
        let endpoints: Vec<String> = (0..60)
            .map(|n| {
                let name = if n < broken {
                    String::new()
                } else {
                    format!("Lamp {n}")
                };
                switch(&format!("s{n}"), &name)
            })
            .collect();
        let run = run(&answer(&endpoints));
        let positions: Vec<usize> = run
            .findings
            .iter()
            .filter(|(_, rule, _)| *rule == Rule::Empty(Member::FriendlyName))
            .map(|(position, _, _)| *position)
            .collect();
        assert_eq!(
            positions,
            (1..=broken).collect::<Vec<_>>(),
            "{broken} broken"
        );
        assert!(
            run.findings[0].2.contains("switch.s0"),
            "{}",
            run.findings[0].2
        );
        assert_eq!(summary(&run).left_out, broken);
    }
}

#[test]
fn pretty_printed_answers_stay_pretty() {
    let answer = "{\n  \"event\": {\n    \"header\": {\"namespace\": \"Alexa.Discovery\", \"name\": \"Discover.Response\"},\n    \"payload\": {\n      \"endpoints\": [\n        5,\n        X,\n        7\n      ]\n    }\n  }\n}\n";
    let all = [switch("a", "A"), switch("b", "B")];
    let answer = answer.replacen('X', &all[0], 1);
    let r = run(&answer);
    assert_eq!(
        r.out,
        answer
            .replace("        5,\n        ", "        ")
            .replace(",\n        7", "")
    );
    // Nothing kept: an empty list, the rest unchanged.
    let r = run(&answer.replace(&all[0], "8"));
    assert_eq!(ids(&r.out), Vec::<String>::new());
    assert!(r.out.contains("\"endpoints\": [\n      ]"), "{}", r.out);
}

#[test]
fn report_mode_changes_nothing_and_says_everything() {
    let all = [switch("a", ""), switch("b", "B"), switch("a", "A again")];
    let answer = answer(&all);
    let r = run_with(&answer, Mode::Report, "");
    assert_eq!(r.out, answer);
    let rules: Vec<(usize, Rule)> = r.findings.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(rules, [(1, Rule::Empty(Member::FriendlyName))]);
    assert!(
        r.findings[0]
            .2
            .contains("Alexa refuses a Discovery with it"),
        "{}",
        r.findings[0].2
    );
    let s = summary(&r);
    assert_eq!((s.broken, s.left_out), (1, 0));
    assert!(!s.acceptable());
}

#[test]
fn a_repeated_endpoint_id_keeps_the_first() {
    let all = [
        switch("a", "First"),
        switch("b", "B"),
        switch("a", "Second"),
    ];
    let r = run(&answer(&all));
    assert_eq!(ids(&r.out), ["switch#a", "switch#b"]);
    assert!(r.out.contains("First") && !r.out.contains("Second"));
    assert_eq!(r.findings.len(), 1);
    assert_eq!(
        (r.findings[0].0, r.findings[0].1),
        (3, Rule::RepeatedEndpointId)
    );
}

#[test]
fn repeated_names_are_reported_not_removed() {
    let all = [
        switch("a", "Lamp"),
        switch("b", "lamp"),
        switch("c", "Lamp"),
        switch("d", "Desk"),
    ];
    let answer = answer(&all);
    let r = run(&answer);
    assert_eq!(r.out, answer);
    let found: Vec<(usize, Rule)> = r.findings.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(
        found,
        [
            (2, Rule::RepeatedFriendlyName),
            (3, Rule::RepeatedFriendlyName)
        ]
    );
    assert!(
        r.findings[0]
            .2
            .starts_with("switch.b: its friendlyName is also the name of switch.a; kept"),
        "{}",
        r.findings[0].2
    );
    assert_eq!(summary(&r).repeated_names, 2);
}

#[test]
fn past_300_the_priority_then_the_entity_id_decide() {
    // 320 switches and 10 lights; lights first, then switches by entity id.
    let mut all: Vec<String> = (0..320)
        .rev()
        .map(|i| switch(&format!("s{i:03}"), &format!("S {i}")))
        .collect();
    for i in 0..10 {
        let light = switch(&format!("l{i}"), &format!("L {i}")).replace("switch#", "light#");
        all.insert(i * 30, light);
    }
    let r = run_with(&answer(&all), Mode::Repair, "light,switch");
    let kept = ids(&r.out);
    assert_eq!(kept.len(), MAX_ENDPOINTS);
    let mut expected: Vec<String> = (0..10).map(|i| format!("light#l{i}")).collect();
    expected.extend((0..290).map(|i| format!("switch#s{i:03}")));
    let mut sorted = kept.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    // Home Assistant's order is kept among the kept.
    let original = ids(&answer(&all));
    let in_order: Vec<&String> = original.iter().filter(|id| kept.contains(id)).collect();
    assert_eq!(
        in_order.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        kept
    );
    let s = summary(&r);
    assert_eq!(
        (s.endpoints, s.past_limit, s.left_out, s.broken),
        (330, 30, 30, 0)
    );
    assert!(r.findings.iter().all(|f| f.1 == Rule::PastLimit));
    assert!(
        r.findings
            .iter()
            .any(|f| f.2.starts_with("switch.s319: is past the 300"))
    );
    // Switches first instead: the lights go.
    let r = run_with(&answer(&all), Mode::Repair, "switch");
    assert!(!ids(&r.out).iter().any(|id| id.starts_with("light#")));
}

#[test]
fn other_answers_are_not_touched() {
    let error = r#"{"event": {"header": {"namespace": "Alexa", "name": "ErrorResponse"}, "payload": {"type": "INTERNAL_ERROR", "endpoints": [1]}}}"#;
    assert_eq!(run(error).verdict, Verdict::NotDiscovery);
    assert_eq!(run(error).out, error);
    let no_list = r#"{"event": {"header": {"namespace": "Alexa.Discovery", "name": "Discover.Response"}, "payload": {"endpoints": {}}}}"#;
    assert_eq!(run(no_list).verdict, Verdict::NoEndpointList);
    let escaped = r#"{"event": {"header": {"namespace": "Alexa.Discovery", "name": "Discover\u002eResponse"}, "payload": {"endpoints": []}}}"#;
    // Escapes are read as the characters they stand for.
    assert!(matches!(run(escaped).verdict, Verdict::Checked(_)));
}

#[test]
fn too_little_memory_to_track_changes_nothing() {
    let all: Vec<String> = (0..5).map(|i| switch(&format!("s{i}"), "S")).collect();
    let answer = answer(&all);
    let mut buf = answer.clone().into_bytes();
    let mut tracked = [Tracked::EMPTY; 4];
    let verdict = check(
        &mut buf,
        answer.len(),
        Mode::Repair,
        &Priority::parse("").unwrap(),
        &mut tracked,
        &mut |_| {},
    );
    assert_eq!(verdict, Verdict::TooManyToTrack);
    assert_eq!(buf, answer.as_bytes());
}

#[test]
fn no_endpoint_alexa_accepts_is_shorter_than_the_tracking_bound() {
    let minimal = r#"{"endpointId":"a","manufacturerName":"a","friendlyName":"a","description":"a","displayCategories":["TV"],"capabilities":[{"type":"a","interface":"","version":0}]}"#;
    let mut reasons = Vec::new();
    let (end, accepted) = rules::check_endpoint(minimal.as_bytes(), 0, &mut |r, _| reasons.push(r));
    assert_eq!(end, minimal.len());
    assert!(accepted.is_some(), "{reasons:?}");
    assert!(minimal.len() + 1 >= MIN_ENDPOINT_BYTES, "{}", minimal.len());
}

/// An endpoint for the properties: valid, or broken one way.
fn endpoint() -> impl Strategy<Value = String> {
    let broken = prop_oneof![
        Just(("friendlyName\": \"", "friendlyName\": \"\\n")),
        Just(("[\"SWITCH\"]", "[\"WATER_HEATER\"]")),
        Just(("[\"SWITCH\"]", "[]")),
        Just(("\"manufacturerName\": \"Home Assistant\", ", "")),
        Just(("\"cookie\": {}", "\"cookie\": []")),
        Just(("\"version\": \"3\"}]", "\"version\": \"3\"}, 1]")),
        Just(("\"endpointId\": \"switch#", "\"endpointId\": \"switch# ")),
    ];
    (
        0u8..40,
        "[A-Za-z ]{1,8}",
        proptest::option::weighted(0.3, broken),
    )
        .prop_map(|(id, name, broken)| {
            let name = if name.trim().is_empty() {
                String::from("n")
            } else {
                name
            };
            let e = switch(&format!("e{id}"), &name);
            match broken {
                Some((from, to)) => e.replacen(from, to, 1),
                None => e,
            }
        })
}

proptest! {
    #[test]
    fn a_repaired_answer_passes_every_rule_and_a_valid_one_is_never_changed(
        all in proptest::collection::vec(endpoint(), 0..40),
        pretty in any::<bool>(),
    ) {
        let answer = answer_with(&all, if pretty { ",\n  " } else { ", " });
        let r = run(&answer);
        let s = summary(&r);
        prop_assert!(s.acceptable());
        // Every endpoint left in the answer passes every rule, once.
        let again = run(&r.out);
        prop_assert_eq!(&again.out, &r.out);
        prop_assert!(again.findings.iter().all(|f| f.1 == Rule::RepeatedFriendlyName));
        // The kept are Home Assistant's endpoints, in its order.
        let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
        let kept = v["event"]["payload"]["endpoints"].as_array().unwrap();
        prop_assert_eq!(kept.len(), s.kept());
        let mut from = all.iter();
        for e in kept {
            let text = serde_json::to_string(e).unwrap();
            prop_assert!(from.any(|o| serde_json::from_str::<serde_json::Value>(o).unwrap() == *e), "{}", text);
        }
        // Nothing refused: not a byte changed.
        if r.findings.iter().all(|f| !f.1.refused_by_alexa()) {
            prop_assert_eq!(&r.out, &answer);
        }
    }
}
