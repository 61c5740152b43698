//! An Alexa custom-skill request: the skill's words to Assist with the
//! account-linked token (see [`crate::skill`] for reading the request and
//! writing the answer).

use crate::config::Secret;
use crate::{ops, skill};

use super::Bridge;

impl Bridge {
    /// Answer a custom-skill request (see [`skill`]); the answer is left in
    /// `self.json_answer`. Returns whether the request was served.
    pub(super) fn skill(&mut self, kind: &str, event: &[u8]) -> bool {
        let request: serde_json::Value = match serde_json::from_slice(event) {
            Ok(request) => request,
            Err(_) => return self.refuse_skill("the request is not a JSON object"),
        };
        let conversation = skill::conversation_id(&request).map(str::to_string);
        let (speech, end, conversation) =
            match skill::turn(&request, kind, self.config.skill_id.as_deref()) {
                Err(skill::SkillRefusal::NotConfigured) => {
                    return self.refuse_skill("custom-skill requests need ALEXA_SKILL_ID");
                }
                Err(skill::SkillRefusal::WrongSkill) => {
                    return self
                        .refuse_skill("the request is for another skill than ALEXA_SKILL_ID");
                }
                Err(skill::SkillRefusal::Malformed(field)) => {
                    tracing::warn!(field, "custom-skill request lacks a field");
                    return self.refuse_skill("the request lacks a field lee needs");
                }
                Ok(skill::Turn::Ask(text)) => (Some(text.to_string()), false, conversation),
                Ok(skill::Turn::Tell(text)) => (Some(text.to_string()), true, None),
                Ok(skill::Turn::Nothing) => (None, true, None),
                Ok(skill::Turn::Assist { text, language }) => {
                    let op = serde_json::json!({
                        "op": "ha.conversation",
                        "text": text,
                        "conversation_id": conversation,
                        "language": language,
                    });
                    let token = skill::access_token(&request).map(|t| Secret::new(t.to_string()));
                    if token.is_none() && !self.config.skill_uses_ops_token {
                        // Without account linking, every user of the skill would
                        // drive Assist with the owner's token.
                        tracing::warn!(
                            "custom skill: the request carries no account-linked token; asked \
                             the user to link their account (SKILL_USES_OPS_TOKEN=true lets the \
                             ops token stand in)"
                        );
                        self.answer_json(&skill::link_account());
                        return true;
                    }
                    let op = serde_json::to_vec(&op).unwrap_or_default();
                    match self.run_op("ha.conversation", &op, token) {
                        Ok(()) => {
                            let answer: serde_json::Value =
                                serde_json::from_slice(&self.json_answer).unwrap_or_default();
                            let speech = answer["speech"].as_str().map(str::to_string);
                            let id = answer["conversation_id"].as_str().map(str::to_string);
                            (speech, false, id.or(conversation))
                        }
                        Err(refused) => {
                            let error = ops::error_answer("ha.conversation", &refused);
                            tracing::warn!(
                                "custom skill: Assist failed: {}",
                                error["error"]["message"]
                            );
                            (
                                Some("Sorry, Home Assistant did not answer.".to_string()),
                                false,
                                conversation,
                            )
                        }
                    }
                }
            };
        let answer = skill::response(speech.as_deref(), end, conversation.as_deref());
        self.answer_json(&answer);
        true
    }

    pub(super) fn refuse_skill(&mut self, why: &'static str) -> bool {
        tracing::warn!("custom-skill request refused: {why}");
        self.answer_json(&serde_json::json!({ "error": why }));
        false
    }
}
