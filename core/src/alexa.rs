//! Alexa Smart Home v3 messages: reading a directive, writing an ErrorResponse.
//!
//! What it is for: the two ends of the bridge that lee owns. A directive is
//! read without copying it: once [`crate::event::classify`] has checked the
//! whole event as JSON (bounded depth, no recursion), the few fields lee
//! needs are borrowed straight out of the event's bytes with
//! serde-json-core. Borrowed strings keep their JSON escapes (they are *raw*
//! string contents), which is exactly what is needed to echo a
//! correlationToken or endpointId back into an answer unchanged; the bearer
//! token is the one value that is unescaped, into a buffer the caller owns
//! ([`Scope::unescape_token`]).
//!
//! [`ErrorResponse`] writes a complete `Alexa.ErrorResponse` (or the
//! `Alexa.Authorization` one for a failed AcceptGrant) into the caller's
//! buffer: a new messageId, the directive's correlationToken and endpointId
//! when it had them, never its scope token, and a message lee wrote itself,
//! never text from Home Assistant. Every answer built here validates against
//! Amazon's published schema (checked in the tests of the host crate).

use core::fmt::{self, Write as _};

use serde::Deserialize;

/// A directive's header, endpoint and token, borrowed from the event's bytes.
/// String fields are raw JSON string contents (escapes not undone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Directive<'a> {
    /// `directive.header.namespace`, e.g. `Alexa.PowerController`.
    pub namespace: &'a str,
    /// `directive.header.name`, e.g. `TurnOn`.
    pub name: &'a str,
    /// `directive.header.payloadVersion`; lee understands `"3"`.
    pub payload_version: &'a str,
    /// `directive.header.messageId`.
    pub message_id: Option<&'a str>,
    /// `directive.header.correlationToken` (Discover and AcceptGrant have none).
    pub correlation_token: Option<&'a str>,
    /// `directive.endpoint.endpointId`.
    pub endpoint_id: Option<&'a str>,
    /// The scope carrying the bearer token: `endpoint.scope`, else
    /// `payload.grantee` (AcceptGrant), else `payload.scope` (Discovery).
    pub scope: Option<Scope<'a>>,
}

/// A token scope from a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope<'a> {
    /// `type`; lee accepts `BearerToken` only.
    pub kind: &'a str,
    /// `token`, raw.
    pub token: Option<&'a str>,
}

/// Why a scope gave no usable token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The directive carries no scope, or the scope no token.
    Missing,
    /// The scope's type is not `BearerToken`.
    NotBearer,
    /// The token is empty, has an invalid escape, characters not allowed in
    /// an HTTP header, or does not fit the buffer.
    Malformed,
}

impl<'a> Scope<'a> {
    /// The bearer token, unescaped into `buf`. Only visible ASCII survives:
    /// anything else could not be sent in an `Authorization` header.
    pub fn unescape_token<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, TokenError> {
        if self.kind != "BearerToken" {
            return Err(TokenError::NotBearer);
        }
        let raw = self.token.ok_or(TokenError::Missing)?;
        let mut len = 0;
        for fragment in serde_json_core::str::EscapedStr(raw).fragments() {
            let mut utf8 = [0u8; 4];
            let bytes = match fragment.map_err(|_| TokenError::Malformed)? {
                serde_json_core::str::EscapedStringFragment::NotEscaped(s) => s.as_bytes(),
                serde_json_core::str::EscapedStringFragment::Escaped(c) => {
                    c.encode_utf8(&mut utf8).as_bytes()
                }
            };
            if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(TokenError::Malformed);
            }
            buf.get_mut(len..len + bytes.len())
                .ok_or(TokenError::Malformed)?
                .copy_from_slice(bytes);
            len += bytes.len();
        }
        match core::str::from_utf8(&buf[..len]) {
            Ok(token) if !token.is_empty() => Ok(token),
            _ => Err(TokenError::Malformed),
        }
    }
}

/// Why an event's `directive` could not be read: it lacks a readable header
/// (namespace, name and payloadVersion as strings), or its endpoint, scope or
/// payload is not an object of the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedDirective;

impl fmt::Display for MalformedDirective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the directive lacks a readable header (namespace, name, payloadVersion as strings)",
        )
    }
}

/// Read the directive of an event already checked by [`crate::event::classify`].
pub(crate) fn parse_directive(event: &[u8]) -> Result<Directive<'_>, MalformedDirective> {
    let (doc, _) =
        serde_json_core::from_slice::<Document<'_>>(event).map_err(|_| MalformedDirective)?;
    let d = doc.directive.ok_or(MalformedDirective)?;
    let endpoint = d.endpoint.unwrap_or_default();
    let payload = d.payload.unwrap_or_default();
    let scope = endpoint.scope.or(payload.grantee).or(payload.scope);
    Ok(Directive {
        namespace: d.header.namespace,
        name: d.header.name,
        payload_version: d.header.payload_version,
        message_id: d.header.message_id,
        correlation_token: d.header.correlation_token,
        endpoint_id: endpoint.endpoint_id,
        scope: scope.map(|s| Scope {
            kind: s.kind,
            token: s.token,
        }),
    })
}

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow)]
    directive: Option<DirectiveDoc<'a>>,
}

#[derive(Deserialize)]
struct DirectiveDoc<'a> {
    #[serde(borrow)]
    header: HeaderDoc<'a>,
    #[serde(borrow)]
    endpoint: Option<EndpointDoc<'a>>,
    #[serde(borrow)]
    payload: Option<PayloadDoc<'a>>,
}

#[derive(Deserialize)]
struct HeaderDoc<'a> {
    namespace: &'a str,
    name: &'a str,
    #[serde(rename = "payloadVersion")]
    payload_version: &'a str,
    #[serde(rename = "messageId")]
    message_id: Option<&'a str>,
    #[serde(rename = "correlationToken")]
    correlation_token: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct EndpointDoc<'a> {
    #[serde(rename = "endpointId")]
    endpoint_id: Option<&'a str>,
    #[serde(borrow)]
    scope: Option<ScopeDoc<'a>>,
}

#[derive(Deserialize, Default)]
struct PayloadDoc<'a> {
    #[serde(borrow)]
    grantee: Option<ScopeDoc<'a>>,
    #[serde(borrow)]
    scope: Option<ScopeDoc<'a>>,
}

#[derive(Deserialize, Clone, Copy)]
struct ScopeDoc<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    token: Option<&'a str>,
}

/// The Alexa error types lee answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Home Assistant refused the token (401/403), or there was none.
    InvalidAuthorizationCredential,
    /// Home Assistant could not be reached: refused, DNS, TLS, timeout, breaker open.
    BridgeUnreachable,
    /// Home Assistant (or the proxy in front of it) answered 429: too many
    /// requests for now.
    RateLimitExceeded,
    /// Home Assistant answered something that is not an Alexa message.
    InternalError,
    /// The directive itself is not one lee can forward.
    InvalidDirective,
    /// An AcceptGrant that Home Assistant did not complete.
    AcceptGrantFailed,
}

impl ErrorType {
    /// The `payload.type` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidAuthorizationCredential => "INVALID_AUTHORIZATION_CREDENTIAL",
            ErrorType::BridgeUnreachable => "BRIDGE_UNREACHABLE",
            ErrorType::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorType::InternalError => "INTERNAL_ERROR",
            ErrorType::InvalidDirective => "INVALID_DIRECTIVE",
            ErrorType::AcceptGrantFailed => "ACCEPT_GRANT_FAILED",
        }
    }

    /// The namespace of the ErrorResponse that carries it.
    pub const fn namespace(self) -> &'static str {
        match self {
            ErrorType::AcceptGrantFailed => "Alexa.Authorization",
            _ => "Alexa",
        }
    }
}

/// A messageId: a random (version 4) UUID in its 36-character text form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MessageId([u8; 36]);

impl MessageId {
    /// The UUID made from 16 random bytes (the frontend supplies them).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut text = [0u8; 36];
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .encode_lower(&mut text);
        MessageId(text)
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `id` may be echoed as an `endpointId`: the schema allows 1 to 256
/// characters from `[a-zA-Z0-9_\-=#;:?@&]`.
pub fn is_valid_endpoint_id(id: &str) -> bool {
    (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-=#;:?@&".contains(&b))
}

/// An ErrorResponse to write.
#[derive(Clone, Copy, Debug)]
pub struct ErrorResponse<'a> {
    /// The error type (which also picks the namespace).
    pub error: ErrorType,
    /// A new messageId.
    pub message_id: MessageId,
    /// The directive's correlationToken, raw (already valid JSON string content).
    pub correlation_token: Option<&'a str>,
    /// The directive's endpointId, raw; left out unless the schema allows it.
    pub endpoint_id: Option<&'a str>,
}

/// The output buffer is too small for the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputTooSmall;

impl ErrorResponse<'_> {
    /// Write the ErrorResponse as compact JSON into `out`, with `message` as
    /// its human-readable text (escaped here). Returns the length written.
    pub fn write(
        &self,
        message: fmt::Arguments<'_>,
        out: &mut [u8],
    ) -> Result<usize, OutputTooSmall> {
        let mut w = Writer { out, len: 0 };
        let body = |w: &mut Writer<'_>| -> fmt::Result {
            write!(
                w,
                r#"{{"event":{{"header":{{"namespace":"{}","name":"ErrorResponse","payloadVersion":"3","messageId":"{}""#,
                self.error.namespace(),
                self.message_id.as_str()
            )?;
            if let Some(token) = self.correlation_token.filter(|t| !t.is_empty()) {
                write!(w, r#","correlationToken":"{token}""#)?;
            }
            w.write_str("}")?;
            if let Some(id) = self.endpoint_id.filter(|id| is_valid_endpoint_id(id)) {
                write!(w, r#","endpoint":{{"endpointId":"{id}"}}"#)?;
            }
            write!(
                w,
                r#","payload":{{"type":"{}","message":""#,
                self.error.as_str()
            )?;
            write!(JsonEscaped(w), "{message}")?;
            w.write_str("\"}}}")
        };
        body(&mut w).map_err(|_| OutputTooSmall)?;
        Ok(w.len)
    }
}

/// Writes into a byte buffer, failing when it is full.
struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Escapes what is written through it as JSON string content.
struct JsonEscaped<'w, 'a>(&'w mut Writer<'a>);

impl fmt::Write for JsonEscaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape: Option<&str> = match b {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                0..=0x1f => None,
                _ => continue,
            };
            self.0.write_str(&s[start..i])?;
            match escape {
                Some(e) => self.0.write_str(e)?,
                None => write!(self.0, "\\u{b:04x}")?,
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TURN_ON: &[u8] = br#"{
        "directive": {
            "header": {"namespace": "Alexa.PowerController", "name": "TurnOn",
                       "payloadVersion": "3", "messageId": "m-1",
                       "correlationToken": "dFMb0z+Pgpg/jCc8=="},
            "endpoint": {"scope": {"type": "BearerToken", "token": "tok\/en"},
                         "endpointId": "light#kitchen", "cookie": {}},
            "payload": {}
        }
    }"#;

    fn directive(event: &[u8]) -> Directive<'_> {
        parse_directive(event).expect("a readable directive")
    }

    #[test]
    fn reads_header_endpoint_and_token_in_place() {
        let d = directive(TURN_ON);
        assert_eq!(d.namespace, "Alexa.PowerController");
        assert_eq!(d.name, "TurnOn");
        assert_eq!(d.payload_version, "3");
        assert_eq!(d.message_id, Some("m-1"));
        assert_eq!(d.correlation_token, Some("dFMb0z+Pgpg/jCc8=="));
        assert_eq!(d.endpoint_id, Some("light#kitchen"));
        // Borrowed, not copied: the field points into the event.
        let range = TURN_ON.as_ptr_range();
        assert!(range.contains(&d.name.as_ptr()));
        let mut buf = [0u8; 64];
        assert_eq!(d.scope.unwrap().unescape_token(&mut buf), Ok("tok/en"));
    }

    #[test]
    fn directives_without_a_readable_header_are_malformed() {
        for event in [
            &br#"{"directive":42}"#[..],
            br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":3}}}"#,
            br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState"}}}"#,
            br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3"},"endpoint":7}}"#,
            br#"{"other":{}}"#,
        ] {
            assert_eq!(parse_directive(event), Err(MalformedDirective));
        }
        assert!(MalformedDirective.to_string().contains("payloadVersion"));
    }

    #[test]
    fn token_comes_from_endpoint_then_grantee_then_payload_scope() {
        let accept_grant = br#"{"directive":{"header":{"namespace":"Alexa.Authorization","name":"AcceptGrant","payloadVersion":"3","messageId":"x"},
            "payload":{"grant":{"type":"OAuth2.AuthorizationCode","code":"c"},"grantee":{"type":"BearerToken","token":"grantee-token"}}}}"#;
        let discover = br#"{"directive":{"header":{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"x"},
            "payload":{"scope":{"type":"BearerToken","token":"discovery-token"}}}}"#;
        let mut buf = [0u8; 64];
        for (event, token) in [
            (&accept_grant[..], "grantee-token"),
            (&discover[..], "discovery-token"),
        ] {
            let d = directive(event);
            assert_eq!(d.correlation_token, None);
            assert_eq!(d.endpoint_id, None);
            assert_eq!(d.scope.unwrap().unescape_token(&mut buf), Ok(token));
        }
    }

    #[test]
    fn tokens_that_cannot_be_sent_are_refused() {
        let mut buf = [0u8; 8];
        let scope = |kind, token| Scope { kind, token };
        assert_eq!(
            scope("BearerTokenWithPartition", Some("t")).unescape_token(&mut buf),
            Err(TokenError::NotBearer)
        );
        assert_eq!(
            scope("BearerToken", None).unescape_token(&mut buf),
            Err(TokenError::Missing)
        );
        for bad in ["", "a b", "a\\r\\nX-Evil: 1", "\\u00e9", "\\q", "123456789"] {
            assert_eq!(
                scope("BearerToken", Some(bad)).unescape_token(&mut buf),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn message_ids_are_version_4_uuids() {
        let id = MessageId::from_random([0xff; 16]);
        assert_eq!(id.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = MessageId::from_random([0; 16]);
        assert_eq!(id.as_str(), "00000000-0000-4000-8000-000000000000");
    }

    fn written(response: &ErrorResponse<'_>, message: &str) -> std::string::String {
        let mut out = [0u8; 1024];
        let n = response.write(format_args!("{message}"), &mut out).unwrap();
        std::string::String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn error_responses_echo_correlation_and_endpoint_but_never_the_token() {
        let d = directive(TURN_ON);
        let response = ErrorResponse {
            error: ErrorType::BridgeUnreachable,
            message_id: MessageId::from_random([7; 16]),
            correlation_token: d.correlation_token,
            endpoint_id: d.endpoint_id,
        };
        let text = written(&response, "Home Assistant did not answer");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"]["header"]["namespace"], "Alexa");
        assert_eq!(v["event"]["header"]["name"], "ErrorResponse");
        assert_eq!(
            v["event"]["header"]["correlationToken"],
            "dFMb0z+Pgpg/jCc8=="
        );
        assert_eq!(v["event"]["endpoint"]["endpointId"], "light#kitchen");
        assert_eq!(v["event"]["payload"]["type"], "BRIDGE_UNREACHABLE");
        assert!(!text.contains("tok"), "{text}");
    }

    #[test]
    fn accept_grant_failures_use_the_authorization_namespace() {
        let response = ErrorResponse {
            error: ErrorType::AcceptGrantFailed,
            message_id: MessageId::from_random([1; 16]),
            correlation_token: None,
            endpoint_id: None,
        };
        let v: serde_json::Value = serde_json::from_str(&written(&response, "no")).unwrap();
        assert_eq!(v["event"]["header"]["namespace"], "Alexa.Authorization");
        assert!(v["event"]["header"].get("correlationToken").is_none());
        assert!(v["event"].get("endpoint").is_none());
    }

    #[test]
    fn endpoint_ids_the_schema_forbids_are_left_out() {
        assert!(is_valid_endpoint_id("light#kitchen"));
        assert!(!is_valid_endpoint_id("light.kitchen"));
        assert!(!is_valid_endpoint_id(""));
        assert!(!is_valid_endpoint_id(&"a".repeat(257)));
        let response = ErrorResponse {
            error: ErrorType::InternalError,
            message_id: MessageId::from_random([1; 16]),
            correlation_token: Some("c"),
            endpoint_id: Some("bad \\\" id"),
        };
        assert!(!written(&response, "m").contains("endpoint"));
    }

    #[test]
    fn a_small_buffer_is_an_error_not_a_truncated_answer() {
        let response = ErrorResponse {
            error: ErrorType::InternalError,
            message_id: MessageId::from_random([1; 16]),
            correlation_token: None,
            endpoint_id: None,
        };
        let mut out = [0u8; 40];
        assert_eq!(
            response.write(format_args!("m"), &mut out),
            Err(OutputTooSmall)
        );
    }

    proptest! {
        /// Whatever the message and echoed values, the answer is valid JSON
        /// carrying them exactly.
        #[test]
        fn error_responses_are_always_valid_json(
            message in any::<std::string::String>(),
            token in "[ -~]{1,40}",
            random in any::<[u8; 16]>(),
        ) {
            // The echoed token is raw JSON content, as it arrives in an event.
            let raw = serde_json::to_string(&token).unwrap();
            let raw = &raw[1..raw.len() - 1];
            let response = ErrorResponse {
                error: ErrorType::InternalError,
                message_id: MessageId::from_random(random),
                correlation_token: Some(raw),
                endpoint_id: Some("switch#ac"),
            };
            let mut out = std::vec![0u8; 4096 + message.len() * 6];
            let n = response.write(format_args!("{message}"), &mut out).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
            prop_assert_eq!(v["event"]["payload"]["message"].as_str(), Some(message.as_str()));
            prop_assert_eq!(v["event"]["header"]["correlationToken"].as_str(), Some(token.as_str()));
            prop_assert_eq!(v["event"]["header"]["messageId"].as_str(), Some(response.message_id.as_str()));
        }
    }
}
