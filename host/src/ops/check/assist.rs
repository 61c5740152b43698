//! `ha.conversation`'s arguments: the text for Assist, an optional
//! conversation id to continue, and an optional language tag; together the
//! body of `POST /api/conversation/process`.

use lee_core::ha::OpError;
use serde_json::{Map, Value};

use super::Checked;
use super::args::{error, one, string_arg};

/// `ha.conversation`: the body Assist is sent.
pub(super) fn conversation(args: &Map<String, Value>) -> Result<Checked<'static>, OpError> {
    let text = string_arg(args, "text")?
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(error("missing", "text", "is required and may not be empty"))?;
    if text.chars().count() > 1000 {
        return Err(error(
            "too_long",
            "text",
            "may hold at most 1000 characters",
        ));
    }
    let mut body = one("text", text.into());
    if let Some(id) = string_arg(args, "conversation_id")? {
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(error(
                "invalid_conversation_id",
                "conversation_id",
                "must be 1 to 128 printable characters",
            ));
        }
        body.insert("conversation_id".into(), id.into());
    }
    if let Some(language) = string_arg(args, "language")? {
        let tag = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if !(2..=16).contains(&language.len()) || !language.bytes().all(tag) {
            return Err(error(
                "invalid_language",
                "language",
                "must be a language tag such as en or en-GB",
            ));
        }
        body.insert("language".into(), language.into());
    }
    Ok(Checked::Conversation(body))
}
