//! The Assist skill's interaction models (`skills/assist/`) against lee
//! itself: for every language, each intent the model declares is sent to lee
//! the way Alexa sends it, and lee must answer it. The catch-all intent's
//! search slot must reach Home Assistant's Assist (the real harness, through
//! a recording relay) with the language of the model; Amazon's built-in
//! intents get lee's own answers and nothing reaches Home Assistant. A model
//! whose intent or slot lee does not read, or a built-in lee has no answer
//! for, fails here.

use std::path::PathBuf;

use lee_host::Outcome;
use lee_testkit::{FaultServer, RealHa, bridge_from_env};
use serde_json::{Value, json};

const SKILL: &str = "amzn1.ask.skill.lee-package-test";

/// Every interaction model of the Assist skill, by locale.
fn models() -> Vec<(String, Value)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../skills/assist/skill-package/interactionModels/custom");
    let mut models: Vec<(String, Value)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("read {}: {e}", folder.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let locale = path.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let model = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            (locale, model)
        })
        .collect();
    models.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        models.len() >= 7,
        "the Assist skill has its languages in {}",
        folder.display()
    );
    models
}

/// An IntentRequest as Alexa sends it for `intent` in `locale`, with the
/// account-linked `token`.
fn intent_request(locale: &str, intent: Value, token: &str) -> Vec<u8> {
    let user = json!({"userId": "u", "accessToken": token});
    serde_json::to_vec(&json!({
        "version": "1.0",
        "session": {"new": false, "sessionId": "s", "application": {"applicationId": SKILL}, "attributes": {}, "user": user},
        "context": {"System": {"application": {"applicationId": SKILL}, "user": user}},
        "request": {"type": "IntentRequest", "requestId": "r", "locale": locale, "intent": intent},
    }))
    .unwrap()
}

#[test]
fn lee_answers_every_intent_of_every_language() {
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    let relay = FaultServer::relay_to(&ha.url);
    let mut bridge = bridge_from_env(&[
        ("BASE_URL", &relay.url),
        ("HA_TOKEN", &ha.token),
        ("ALEXA_SKILL_ID", SKILL),
    ]);
    let words = "blah blah nonsense";
    for (locale, model) in models() {
        let intents = model["interactionModel"]["languageModel"]["intents"]
            .as_array()
            .unwrap_or_else(|| panic!("{locale}: no intents"));
        let mut catch_all = 0;
        for intent in intents {
            let name = intent["name"].as_str().unwrap();
            let before = relay.received().len();
            let slots = intent["slots"].as_array().cloned().unwrap_or_default();
            let sent = if name.starts_with("AMAZON.") {
                json!({"name": name, "confirmationStatus": "NONE"})
            } else {
                catch_all += 1;
                assert_eq!(
                    slots.len(),
                    1,
                    "{locale}: {name} is lee's catch-all: one slot, the words for Assist"
                );
                assert_eq!(
                    slots[0]["type"], "AMAZON.SearchQuery",
                    "{locale}: {name}'s slot takes any words"
                );
                let slot = slots[0]["name"].as_str().unwrap();
                json!({"name": name, "confirmationStatus": "NONE",
                       "slots": {slot: {"name": slot, "value": words, "confirmationStatus": "NONE"}}})
            };
            let handled = bridge.handle(&intent_request(&locale, sent, &ha.token), None);
            assert_eq!(
                handled.outcome,
                Outcome::Skill(true),
                "{locale}: {name} answered"
            );
            let answer: Value = serde_json::from_slice(handled.body).unwrap();
            let said = answer["response"]["outputSpeech"]["text"]
                .as_str()
                .unwrap_or_else(|| panic!("{locale}: lee says nothing to {name}: {answer}"));
            let ends = answer["response"]["shouldEndSession"].as_bool();
            let to_ha = &relay.received()[before..];
            match name {
                "AMAZON.StopIntent" | "AMAZON.CancelIntent" => {
                    assert_eq!((said, ends), ("Goodbye.", Some(true)), "{locale}: {name}");
                }
                "AMAZON.HelpIntent" | "AMAZON.FallbackIntent" | "AMAZON.NavigateHomeIntent" => {
                    assert!(
                        said.contains("Home Assistant"),
                        "{locale}: {name} is told what to say: {said}"
                    );
                    assert_eq!(ends, Some(false), "{locale}: {name} keeps listening");
                }
                builtin if builtin.starts_with("AMAZON.") => {
                    panic!("{locale}: lee has no answer of its own for {builtin}")
                }
                _ => {
                    let asked = to_ha
                        .iter()
                        .find(|r| r.request_line == "POST /api/conversation/process HTTP/1.1")
                        .unwrap_or_else(|| panic!("{locale}: {name} did not reach Assist"));
                    let language = locale.split('-').next().unwrap();
                    assert_eq!(
                        serde_json::from_slice::<Value>(&asked.body).unwrap(),
                        json!({"text": words, "language": language}),
                        "{locale}: the slot's words go to Assist in the model's language"
                    );
                    assert!(!said.is_empty(), "{locale}: Assist's answer is said");
                    assert_eq!(ends, Some(false), "{locale}: the conversation goes on");
                    continue;
                }
            }
            assert!(
                to_ha.is_empty(),
                "{locale}: {name} is answered by lee alone"
            );
        }
        assert_eq!(catch_all, 1, "{locale}: one catch-all intent");
    }
}
