//! Alexa custom-skill requests, answered by Home Assistant's Assist.
//!
//! A custom skill ("Alexa, ask Home Assistant to ...") sends requests of
//! type `LaunchRequest`, `IntentRequest` and `SessionEndedRequest`. lee
//! answers only the skill configured as `ALEXA_SKILL_ID` (anything else is
//! refused before any work), hands the words of the intent's catch-all slot
//! to Assist (`ha.conversation`), says Assist's speech back, and keeps
//! Assist's conversation id in the session attributes so a follow-up
//! continues the same conversation. The token is the skill's account-linked
//! `accessToken` when the request carries one, else the ops token.
//!
//! | request | answer |
//! |---|---|
//! | `LaunchRequest` | a prompt; the session stays open |
//! | `IntentRequest` with a slot value | Assist's speech; the session stays open |
//! | `AMAZON.HelpIntent` | how to use it |
//! | `AMAZON.StopIntent`, `AMAZON.CancelIntent` | "Goodbye."; the session ends |
//! | `SessionEndedRequest` | an empty response, as Alexa expects |

use serde_json::{Value, json};

/// What to do with a custom-skill request.
#[derive(Debug, PartialEq)]
pub(crate) enum Turn {
    /// Say this and keep listening.
    Ask(&'static str),
    /// Say this and end the session.
    Tell(&'static str),
    /// Ask Assist with these words, in this language.
    Assist {
        text: String,
        language: Option<String>,
    },
    /// Answer nothing (the session ended).
    Nothing,
}

/// Why a custom-skill request is refused.
#[derive(Debug, PartialEq)]
pub(crate) enum SkillRefusal {
    /// No `ALEXA_SKILL_ID` is configured.
    NotConfigured,
    /// The request is for another skill.
    WrongSkill,
    /// The request lacks what lee needs.
    Malformed(&'static str),
}

pub(crate) const WELCOME: &str = "What should Home Assistant do?";
pub(crate) const HELP: &str =
    "Tell me what Home Assistant should do, for example: turn on the kitchen lights.";
pub(crate) const NOT_UNDERSTOOD: &str =
    "Sorry, I didn't catch that. What should Home Assistant do?";

/// The skill a request is for: `context.System.application.applicationId`,
/// else `session.application.applicationId`.
fn application_id(request: &Value) -> Option<&str> {
    request["context"]["System"]["application"]["applicationId"]
        .as_str()
        .or_else(|| request["session"]["application"]["applicationId"].as_str())
}

/// The account-linked token of the request, when the skill has one.
pub(crate) fn access_token(request: &Value) -> Option<&str> {
    request["context"]["System"]["user"]["accessToken"]
        .as_str()
        .or_else(|| request["session"]["user"]["accessToken"].as_str())
        .filter(|t| !t.is_empty())
}

/// The conversation id kept in the session attributes.
pub(crate) fn conversation_id(request: &Value) -> Option<&str> {
    request["session"]["attributes"]["conversation_id"].as_str()
}

/// Decide what a request of `kind` asks for.
pub(crate) fn turn(
    request: &Value,
    kind: &str,
    skill_id: Option<&str>,
) -> Result<Turn, SkillRefusal> {
    let expected = skill_id.ok_or(SkillRefusal::NotConfigured)?;
    if application_id(request) != Some(expected) {
        return Err(SkillRefusal::WrongSkill);
    }
    match kind {
        "LaunchRequest" => Ok(Turn::Ask(WELCOME)),
        "SessionEndedRequest" => Ok(Turn::Nothing),
        "IntentRequest" => {
            let intent = &request["request"]["intent"];
            let name = intent["name"]
                .as_str()
                .ok_or(SkillRefusal::Malformed("request.intent.name"))?;
            match name {
                "AMAZON.HelpIntent" => Ok(Turn::Ask(HELP)),
                "AMAZON.StopIntent" | "AMAZON.CancelIntent" | "AMAZON.NoIntent" => {
                    Ok(Turn::Tell("Goodbye."))
                }
                _ => {
                    // The catch-all slot: the first slot that has words in it.
                    let words = intent["slots"]
                        .as_object()
                        .and_then(|slots| slots.values().find_map(|slot| slot["value"].as_str()))
                        .map(str::trim)
                        .filter(|w| !w.is_empty());
                    match words {
                        Some(text) => Ok(Turn::Assist {
                            text: text.to_string(),
                            language: request["request"]["locale"]
                                .as_str()
                                .and_then(|l| l.split('-').next())
                                .map(str::to_string),
                        }),
                        None => Ok(Turn::Ask(NOT_UNDERSTOOD)),
                    }
                }
            }
        }
        _ => Ok(Turn::Nothing),
    }
}

/// A custom-skill response saying `speech`, with `conversation_id` kept.
/// What Alexa says when a request carries no account-linked token and the
/// ops token may not stand in for it (`SKILL_USES_OPS_TOKEN`).
pub(crate) const LINK_ACCOUNT: &str =
    "To talk to Home Assistant, link your account: open the Alexa app and follow the card.";

/// The answer that asks the user to link their account: Alexa shows the
/// app's account-linking card.
pub(crate) fn link_account() -> Value {
    let mut answer = response(Some(LINK_ACCOUNT), true, None);
    answer["response"]["card"] = json!({ "type": "LinkAccount" });
    answer
}

pub(crate) fn response(speech: Option<&str>, end: bool, conversation_id: Option<&str>) -> Value {
    let mut answer = json!({ "version": "1.0", "response": {} });
    if let Some(text) = speech {
        answer["response"] = json!({
            "outputSpeech": { "type": "PlainText", "text": text },
            "shouldEndSession": end,
        });
    }
    if let Some(id) = conversation_id {
        answer["sessionAttributes"] = json!({ "conversation_id": id });
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, intent: Value, app: &str) -> Value {
        json!({
            "version": "1.0",
            "session": {"new": false, "application": {"applicationId": app},
                        "attributes": {"conversation_id": "c-1"}, "user": {"userId": "u", "accessToken": "linked"}},
            "context": {"System": {"application": {"applicationId": app}}},
            "request": {"type": kind, "locale": "en-GB", "intent": intent},
        })
    }

    const SKILL: Option<&str> = Some("amzn1.ask.skill.lee");

    #[test]
    fn turns_follow_the_request() {
        let launch = request("LaunchRequest", Value::Null, "amzn1.ask.skill.lee");
        assert_eq!(
            turn(&launch, "LaunchRequest", SKILL),
            Ok(Turn::Ask(WELCOME))
        );
        let say = request(
            "IntentRequest",
            json!({"name": "CatchAll", "slots": {"utterance": {"name": "utterance", "value": " turn on the lights "}}}),
            "amzn1.ask.skill.lee",
        );
        assert_eq!(
            turn(&say, "IntentRequest", SKILL),
            Ok(Turn::Assist {
                text: "turn on the lights".into(),
                language: Some("en".into())
            })
        );
        assert_eq!(access_token(&say), Some("linked"));
        assert_eq!(conversation_id(&say), Some("c-1"));
        let empty = request(
            "IntentRequest",
            json!({"name": "CatchAll", "slots": {"utterance": {"name": "utterance"}}}),
            "amzn1.ask.skill.lee",
        );
        assert_eq!(
            turn(&empty, "IntentRequest", SKILL),
            Ok(Turn::Ask(NOT_UNDERSTOOD))
        );
        let stop = request(
            "IntentRequest",
            json!({"name": "AMAZON.StopIntent"}),
            "amzn1.ask.skill.lee",
        );
        assert_eq!(
            turn(&stop, "IntentRequest", SKILL),
            Ok(Turn::Tell("Goodbye."))
        );
        let ended = request("SessionEndedRequest", Value::Null, "amzn1.ask.skill.lee");
        assert_eq!(
            turn(&ended, "SessionEndedRequest", SKILL),
            Ok(Turn::Nothing)
        );
    }

    #[test]
    fn other_skills_and_unconfigured_lee_are_refused() {
        let launch = request("LaunchRequest", Value::Null, "amzn1.ask.skill.other");
        assert_eq!(
            turn(&launch, "LaunchRequest", SKILL),
            Err(SkillRefusal::WrongSkill)
        );
        assert_eq!(
            turn(&launch, "LaunchRequest", None),
            Err(SkillRefusal::NotConfigured)
        );
        let no_name = request("IntentRequest", json!({}), "amzn1.ask.skill.lee");
        assert_eq!(
            turn(&no_name, "IntentRequest", SKILL),
            Err(SkillRefusal::Malformed("request.intent.name"))
        );
    }

    #[test]
    fn responses_keep_the_conversation() {
        assert_eq!(
            response(Some("Done"), false, Some("c-2")),
            json!({"version": "1.0", "sessionAttributes": {"conversation_id": "c-2"},
                   "response": {"outputSpeech": {"type": "PlainText", "text": "Done"}, "shouldEndSession": false}})
        );
        assert_eq!(
            response(None, true, None),
            json!({"version": "1.0", "response": {}})
        );
    }
}
