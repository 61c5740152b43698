//! Why an op failed ([`Refused`], and [`Failed`] once its arguments were
//! accepted) and the error answer a caller gets for it ([`error_answer`]).

use lee_core::ha::OpError;
use serde_json::Value;

/// Why an op failed after its arguments were accepted.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Home Assistant could not be reached, or its answer could not be read.
    Transport(lee_core::retry::Failure),
    /// Home Assistant answered this status (with its text, when short and plain).
    Status(u16, String),
    /// Home Assistant's answer was not the JSON it should be.
    Unexpected(&'static str),
    /// Home Assistant's answer is JSON but not the shape the op reads: the
    /// request, what was seen and what was expected.
    Shape(String),
    /// The breaker is open: Home Assistant failed repeatedly, no request was made.
    BreakerOpen,
    /// Too little of the event's time was left to ask Home Assistant.
    DeadlinePassed,
    /// The target's own limits refuse the value; the service was not called.
    Rejected(OpError),
    /// The helper's own limits (min and max, options) refuse the value, as
    /// they say; the service was not called.
    Limit(super::check::Limit),
}

/// Why an op answered an error.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Its arguments.
    Bad(OpError),
    /// Home Assistant's side.
    Failed(Failed),
    /// No token for ops is configured.
    NoToken,
    /// The token could not be read from Parameter Store.
    TokenParameter(&'static str),
    /// No Home Assistant address is configured.
    NotConfigured,
    /// The engine could not run the op's module.
    Engine,
}

/// The error answer for an op: `{"ok":false,"op":..,"error":{"code","field","message"}}`.
pub(crate) fn error_answer(op: &str, refused: &Refused) -> Value {
    let (code, field, message): (&str, &str, String) = match refused {
        Refused::Bad(e) => (e.code, e.field, e.message.to_string()),
        Refused::Failed(Failed::Transport(f)) => (
            "unreachable",
            "",
            format!("Home Assistant could not be reached: {f}"),
        ),
        Refused::Failed(Failed::Status(401 | 403, _)) => (
            "unauthorized",
            "HA_TOKEN",
            "Home Assistant refused the token".to_string(),
        ),
        Refused::Failed(Failed::Status(404, _)) => (
            "not_found",
            "",
            "Home Assistant has no such entity or service".to_string(),
        ),
        Refused::Failed(Failed::Status(status, text)) => (
            "ha_error",
            "",
            format!("Home Assistant answered HTTP {status} {text}")
                .trim()
                .to_string(),
        ),
        Refused::Failed(Failed::Unexpected(what)) => ("unexpected_answer", "", what.to_string()),
        Refused::Failed(Failed::Shape(what)) => ("unexpected_answer", "", what.clone()),
        Refused::Failed(Failed::Rejected(e)) => (e.code, e.field, e.message.to_string()),
        Refused::Failed(Failed::Limit(limit)) => (limit.code, "value", limit.message.clone()),
        Refused::Failed(Failed::DeadlinePassed) => (
            "unreachable",
            "",
            "too little time was left to ask Home Assistant".to_string(),
        ),
        Refused::Failed(Failed::BreakerOpen) => (
            "unreachable",
            "",
            "Home Assistant failed repeatedly; lee waits before trying again".to_string(),
        ),
        Refused::TokenParameter(why) => ("token_parameter", "HA_TOKEN_PARAMETER", why.to_string()),
        Refused::NoToken => (
            "no_token",
            "HA_TOKEN",
            "engine ops need HA_TOKEN, HA_TOKEN_PARAMETER or LONG_LIVED_ACCESS_TOKEN (or --token-file)".to_string(),
        ),
        Refused::NotConfigured => (
            "not_configured",
            "BASE_URL",
            "no Home Assistant address is configured".to_string(),
        ),
        Refused::Engine => (
            "engine",
            "",
            "lee could not give the op working memory".to_string(),
        ),
    };
    serde_json::json!({ "ok": false, "op": op, "error": { "code": code, "field": field, "message": message } })
}
