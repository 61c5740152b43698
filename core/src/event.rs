//! Classifying an event: which of the things lee answers has arrived.
//!
//! What it is for: every frontend hands lee raw bytes (a Lambda payload, a
//! line on stdin). [`classify`] checks them once as JSON (bounded depth, no
//! recursion, see [`crate::json`]), looks at the top-level keys, and reads
//! the few fields the kind needs in place, without copying:
//!
//! | top-level key | event |
//! |---|---|
//! | `directive` | an Alexa Smart Home directive ([`Event::Directive`]) |
//! | `health_check: true` | lee's health report ([`Event::Health`]) |
//! | `diagnostics: true` | lee's diagnostics report ([`Event::Diagnostics`]) |
//! | `doctor: true` | lee's setup check, every usual setup failure with its fix ([`Event::Doctor`]) |
//! | `requestContext.http` | a Lambda Function URL / API Gateway v2 HTTP request ([`Event::Http`]) |
//! | `op` | an engine op on Home Assistant's REST API ([`Event::Op`]) |
//! | `request.type` | an Alexa custom-skill request ([`Event::Skill`]) |
//!
//! Anything else is a clear [`ClassifyError`], never a guess.

use core::fmt;

use serde::Deserialize;

use crate::alexa::{Directive, MalformedDirective, parse_directive};
use crate::json::{self, JsonError};

/// How deeply an event may nest before it is refused. Real directives nest
/// about 6 deep, HTTP events about 4.
pub const EVENT_MAX_DEPTH: usize = 32;

/// The header a Function URL request carries lee's shared secret in.
pub const SECRET_HEADER: &str = "x-lee-secret";

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// An Alexa Smart Home directive.
    Directive(Directive<'a>),
    /// `{"health_check": true}`: lee's health report.
    Health,
    /// `{"diagnostics": true}`: lee's diagnostics report (direct invocations
    /// are already authorised by IAM, so no secret is asked for).
    Diagnostics,
    /// `{"doctor": true}`: lee's setup check (as direct as diagnostics).
    Doctor,
    /// An HTTP request through a Function URL or API Gateway (payload 2.0).
    Http(HttpRequest<'a>),
    /// An engine op, `{"op": "ha.states", ...}`: the op's name; its
    /// arguments are read by the op itself.
    Op(&'a str),
    /// An Alexa custom-skill request: its `request.type` (`LaunchRequest`,
    /// `IntentRequest`, `SessionEndedRequest`, ...); the rest is read by the
    /// skill handler.
    Skill(&'a str),
}

/// The parts of an HTTP event lee looks at. Strings are raw JSON contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// `requestContext.http.method`, e.g. `GET`.
    pub method: &'a str,
    /// `requestContext.http.path`, e.g. `/health`.
    pub path: &'a str,
    /// The [`SECRET_HEADER`] header, when present.
    pub secret: Option<&'a str>,
    /// `requestContext.http.sourceIp`: who asked, for the log of a refusal.
    pub source_ip: Option<&'a str>,
}

/// Why an event could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassifyError {
    /// The event is larger than the configured event buffer.
    TooLarge {
        /// Its length.
        len: usize,
        /// The largest event accepted.
        limit: usize,
    },
    /// The bytes are not one JSON document of acceptable depth.
    Json(JsonError),
    /// JSON, but not an event lee knows.
    UnknownEvent,
    /// It has a `directive`, but not a readable header and scope
    /// ([`MalformedDirective`], from reading the directive).
    MalformedDirective,
    /// It has a `requestContext`, but no readable `http.method` and `http.path`.
    MalformedHttp,
    /// It has an `op`, but not as a string.
    MalformedOp,
    /// It has a `request`, but no `request.type` string.
    MalformedSkillRequest,
}

impl From<MalformedDirective> for ClassifyError {
    fn from(_: MalformedDirective) -> Self {
        ClassifyError::MalformedDirective
    }
}

impl fmt::Display for ClassifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassifyError::TooLarge { len, limit } => {
                write!(f, "the event has {len} bytes; lee accepts at most {limit}")
            }
            ClassifyError::Json(e) => write!(f, "the event is not valid JSON: {e}"),
            ClassifyError::UnknownEvent => f.write_str(
                "the event is JSON but not one lee knows: an Alexa directive ({\"directive\": ...}), \
                 {\"health_check\": true}, {\"diagnostics\": true}, {\"doctor\": true}, an engine op \
                 ({\"op\": \"ha.states\", ...}), an Alexa custom-skill request (request.type) or a \
                 Function URL request (requestContext.http)",
            ),
            ClassifyError::MalformedDirective => fmt::Display::fmt(&MalformedDirective, f),
            ClassifyError::MalformedHttp => {
                f.write_str("the HTTP event lacks requestContext.http.method and path")
            }
            ClassifyError::MalformedOp => f.write_str("`op` must be a string naming the op"),
            ClassifyError::MalformedSkillRequest => {
                f.write_str("the custom-skill request lacks request.type")
            }
        }
    }
}

/// Read an event without copying it.
pub fn classify(event: &[u8]) -> Result<Event<'_>, ClassifyError> {
    let (mut directive, mut health, mut diagnostics, mut http) = (false, false, false, false);
    let (mut op, mut skill, mut doctor) = (false, false, false);
    json::check(event, EVENT_MAX_DEPTH, |key| match key {
        b"directive" => directive = true,
        b"health_check" => health = true,
        b"diagnostics" => diagnostics = true,
        b"doctor" => doctor = true,
        b"requestContext" => http = true,
        b"op" => op = true,
        b"request" => skill = true,
        _ => {}
    })
    .map_err(ClassifyError::Json)?;
    if directive {
        return Ok(Event::Directive(parse_directive(event)?));
    }
    if http {
        let (doc, _) = serde_json_core::from_slice::<HttpDoc<'_>>(event)
            .map_err(|_| ClassifyError::MalformedHttp)?;
        let ctx = doc
            .request_context
            .http
            .ok_or(ClassifyError::MalformedHttp)?;
        return Ok(Event::Http(HttpRequest {
            method: ctx.method,
            path: ctx.path,
            secret: doc.headers.and_then(|h| h.secret),
            source_ip: ctx.source_ip,
        }));
    }
    if op {
        let (doc, _) = serde_json_core::from_slice::<OpDoc<'_>>(event)
            .map_err(|_| ClassifyError::MalformedOp)?;
        return Ok(Event::Op(doc.op));
    }
    if skill {
        let (doc, _) = serde_json_core::from_slice::<SkillDoc<'_>>(event)
            .map_err(|_| ClassifyError::MalformedSkillRequest)?;
        return Ok(Event::Skill(doc.request.kind));
    }
    if health || diagnostics || doctor {
        let (doc, _) = serde_json_core::from_slice::<FlagsDoc>(event)
            .map_err(|_| ClassifyError::UnknownEvent)?;
        if doc.health_check == Some(true) {
            return Ok(Event::Health);
        }
        if doc.diagnostics == Some(true) {
            return Ok(Event::Diagnostics);
        }
        if doc.doctor == Some(true) {
            return Ok(Event::Doctor);
        }
    }
    Err(ClassifyError::UnknownEvent)
}

#[derive(Deserialize)]
struct SkillDoc<'a> {
    #[serde(borrow)]
    request: SkillRequestDoc<'a>,
}

#[derive(Deserialize)]
struct SkillRequestDoc<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Deserialize)]
struct OpDoc<'a> {
    op: &'a str,
}

#[derive(Deserialize)]
struct FlagsDoc {
    health_check: Option<bool>,
    diagnostics: Option<bool>,
    doctor: Option<bool>,
}

#[derive(Deserialize)]
struct HttpDoc<'a> {
    #[serde(rename = "requestContext", borrow)]
    request_context: ContextDoc<'a>,
    #[serde(borrow)]
    headers: Option<HeadersDoc<'a>>,
}

#[derive(Deserialize)]
struct ContextDoc<'a> {
    #[serde(borrow)]
    http: Option<HttpContextDoc<'a>>,
}

#[derive(Deserialize)]
struct HttpContextDoc<'a> {
    method: &'a str,
    path: &'a str,
    #[serde(rename = "sourceIp")]
    source_ip: Option<&'a str>,
}

#[derive(Deserialize)]
struct HeadersDoc<'a> {
    #[serde(rename = "x-lee-secret")]
    secret: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tells_every_kind_apart() {
        assert!(matches!(
            classify(br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3"}}}"#),
            Ok(Event::Directive(d)) if d.name == "ReportState"
        ));
        assert_eq!(classify(br#"{"health_check": true}"#), Ok(Event::Health));
        assert_eq!(classify(br#"{"doctor": true}"#), Ok(Event::Doctor));
        assert_eq!(
            classify(br#"{"doctor": false}"#),
            Err(ClassifyError::UnknownEvent)
        );
        assert_eq!(
            classify(br#"{"op": "ha.state", "entity_id": "light.kitchen", "data": {"x": [1]}}"#),
            Ok(Event::Op("ha.state"))
        );
        assert_eq!(classify(br#"{"op": 7}"#), Err(ClassifyError::MalformedOp));
        assert_eq!(
            classify(br#"{"version":"1.0","session":{},"request":{"type":"IntentRequest","intent":{"name":"X","slots":{}}}}"#),
            Ok(Event::Skill("IntentRequest"))
        );
        assert_eq!(
            classify(br#"{"request":{}}"#),
            Err(ClassifyError::MalformedSkillRequest)
        );
        assert_eq!(
            classify(br#"{"diagnostics": true}"#),
            Ok(Event::Diagnostics)
        );
        assert_eq!(
            classify(br#"{"health_check": false}"#),
            Err(ClassifyError::UnknownEvent)
        );
        let url = br#"{"version":"2.0","rawPath":"/diagnostics","headers":{"host":"x.lambda-url.eu-west-1.on.aws","x-lee-secret":"s3"},
            "requestContext":{"http":{"method":"GET","path":"/diagnostics","sourceIp":"1.2.3.4"}},"isBase64Encoded":false}"#;
        assert_eq!(
            classify(url),
            Ok(Event::Http(HttpRequest {
                method: "GET",
                path: "/diagnostics",
                secret: Some("s3"),
                source_ip: Some("1.2.3.4"),
            }))
        );
        let no_secret =
            br#"{"requestContext":{"http":{"method":"GET","path":"/health"}},"headers":{}}"#;
        assert!(matches!(
            classify(no_secret),
            Ok(Event::Http(HttpRequest {
                secret: None,
                source_ip: None,
                ..
            }))
        ));
    }

    #[test]
    fn unknown_or_broken_events_say_why() {
        assert_eq!(classify(b"{}"), Err(ClassifyError::UnknownEvent));
        assert_eq!(classify(b"[1]"), Err(ClassifyError::UnknownEvent));
        assert_eq!(
            classify(b"\"health_check\""),
            Err(ClassifyError::UnknownEvent)
        );
        assert_eq!(
            classify(br#"{"requestContext":{"stage":"$default"}}"#),
            Err(ClassifyError::MalformedHttp)
        );
        assert_eq!(
            classify(br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":3}}}"#),
            Err(ClassifyError::MalformedDirective)
        );
        assert_eq!(
            classify(br#"{"directive":42}"#),
            Err(ClassifyError::MalformedDirective)
        );
        assert_eq!(
            ClassifyError::MalformedDirective.to_string(),
            "the directive lacks a readable header (namespace, name, payloadVersion as strings)"
        );
        assert!(matches!(classify(b"not json"), Err(ClassifyError::Json(_))));
        let deep = [&b"{\"directive\":"[..], &[b'['; 40], &[b']'; 40], b"}"].concat();
        assert!(matches!(
            classify(&deep),
            Err(ClassifyError::Json(e)) if e.kind == json::JsonErrorKind::TooDeep
        ));
    }

    /// Every kind `classify` knows is named where an unknown event is
    /// refused, with the key that makes it.
    #[test]
    fn an_unknown_event_lists_every_kind_lee_knows() {
        let message = ClassifyError::UnknownEvent.to_string();
        for kind in [
            "directive",
            "health_check",
            "diagnostics",
            "doctor",
            "op",
            "request.type",
            "requestContext.http",
        ] {
            assert!(message.contains(kind), "{kind}: {message}");
        }
    }

    proptest! {
        /// No event, however broken, makes classification panic.
        #[test]
        fn classify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = classify(&bytes);
        }
    }
}
