//! Directive header, endpoint and token parsing (`lee_core::alexa`), the
//! bearer token's unescaping, and the ErrorResponse built from what was read
//! (`lee_core::bridge::refuse`, as the bridge answers a directive it cannot
//! forward).
//!
//! The token: only visible ASCII comes out, exactly what serde_json reads
//! in the raw token, and a refusal has a reason serde_json agrees with. The
//! ErrorResponse: always JSON (a tree whenever the event is one), of the
//! right type and namespace, echoing the correlationToken and an
//! endpointId the schema allows exactly, with lee's own message, and the
//! same whatever the bearer token (so it never holds it).
#![no_main]

use core::time::Duration;

use lee_core::alexa::{Directive, MessageId, Scope, TokenError, is_valid_endpoint_id};
use lee_core::bridge::{Answered, Reason, TokenSource, is_accept_grant, refuse};
use lee_core::event::{ClassifyError, Event, classify};
use lee_core::json::{JsonError, JsonErrorKind};
use lee_core::retry::Failure;
use lee_fuzz::{is_json, str_at, tree, unescape};
use libfuzzer_sys::fuzz_target;

/// The token buffer lee's frontends use is 4 KiB; a smaller one is checked too.
const TOKEN_BUF: usize = 4096;
const SMALL_TOKEN_BUF: usize = 24;

fuzz_target!(|data: &[u8]| {
    let reasons = [
        Reason::Unreadable(ClassifyError::MalformedDirective),
        Reason::PayloadVersion,
        Reason::Token(TokenError::Missing),
        Reason::Token(TokenError::NotBearer),
        Reason::Token(TokenError::Malformed),
        Reason::BreakerOpen {
            retry_after: Duration::from_millis(data.len() as u64 * 37),
        },
        Reason::DeadlinePassed,
        Reason::NotConfigured,
        Reason::Engine,
        Reason::AnswerTooLarge,
        Reason::TokenRefused {
            status: 401,
            source: TokenSource::Directive,
        },
        Reason::TokenRefused {
            status: 403,
            source: TokenSource::LongLived,
        },
        Reason::Failed(Failure::Status(data.len() as u16)),
        Reason::Failed(Failure::ConnectRefused),
        Reason::Failed(Failure::ResponseTruncated),
        Reason::NotAlexaJson(None),
        Reason::NotAlexaJson(Some(JsonError {
            offset: data.len(),
            kind: JsonErrorKind::UnexpectedByte(data.first().copied().unwrap_or(b'<')),
        })),
    ];
    let reason = reasons[data.len() % reasons.len()];
    let random: [u8; 16] = core::array::from_fn(|i| data.get(i).copied().unwrap_or(i as u8));
    // Room for the echoed values (each at most the event) and lee's text.
    let mut out = vec![0u8; 2 * data.len() + 1024];
    let directive = match classify(data) {
        Ok(Event::Directive(d)) => d,
        other => {
            let reason = match other {
                Err(e) => Reason::Unreadable(e),
                Ok(_) => Reason::Unreadable(ClassifyError::UnknownEvent),
            };
            let (len, answered) = refuse(None, reason, random, &mut out).expect("the answer fits");
            let answer = &out[..len];
            let v = tree(answer).expect("an answer without echoes is always a JSON tree");
            assert_eq!(
                str_at(&v, &["event", "payload", "type"]),
                Some("INVALID_DIRECTIVE")
            );
            assert!(v["event"]["header"].get("correlationToken").is_none());
            assert!(v["event"].get("endpoint").is_none());
            assert_eq!(answered, Answered::Error(reason.error_type(), reason));
            return;
        }
    };
    if let Some(scope) = directive.scope {
        check_token(scope);
    }
    let (len, answered) =
        refuse(Some(&directive), reason, random, &mut out).expect("the answer fits");
    let answer = out[..len].to_vec();
    check_answer(data, &directive, reason, random, &answer, answered);

    // The answer does not depend on the bearer token (so it never holds
    // it): the same event with another token gets the same answer.
    let Some(raw) = directive.scope.and_then(|s| s.token) else {
        return;
    };
    let Some(other) = with_other_token(data, raw) else {
        return;
    };
    let d = match classify(&other) {
        Ok(Event::Directive(d)) => d,
        got => panic!("another token, and the event reads {got:?}"),
    };
    assert_eq!(
        (d.correlation_token, d.endpoint_id, d.namespace, d.name),
        (
            directive.correlation_token,
            directive.endpoint_id,
            directive.namespace,
            directive.name
        )
    );
    let (len, _) = refuse(Some(&d), reason, random, &mut out).expect("the answer fits");
    assert_eq!(
        String::from_utf8_lossy(&out[..len]),
        String::from_utf8_lossy(&answer),
        "the answer depends on the bearer token"
    );
});

/// `event` with the raw token `raw` (borrowed from it) changed: lowercase
/// letters and digits outside escapes rotated, so the length, the JSON and
/// the token's validity stay. `None` when nothing would change.
fn with_other_token(event: &[u8], raw: &str) -> Option<Vec<u8>> {
    let start = raw.as_ptr() as usize - event.as_ptr() as usize;
    if raw.len() <= 4 || start < 16 {
        // Too short to matter, or among the bytes that make the messageId.
        return None;
    }
    let mut other = event.to_vec();
    let bytes = &mut other[start..start + raw.len()];
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                i += if bytes.get(i + 1) == Some(&b'u') {
                    6
                } else {
                    2
                };
                continue;
            }
            b @ b'a'..=b'z' => bytes[i] = b'a' + (b - b'a' + 13) % 26,
            b @ b'0'..=b'9' => bytes[i] = b'0' + (b - b'0' + 5) % 10,
            _ => {
                i += 1;
                continue;
            }
        }
        changed = true;
        i += 1;
    }
    changed.then_some(other)
}

/// Unescape the scope's token into lee's buffer and check the result
/// against serde_json's reading of the raw token.
fn check_token(scope: Scope<'_>) {
    let mut buf = vec![0u8; TOKEN_BUF];
    let got = scope.unescape_token(&mut buf).map(str::to_owned);
    let reference = scope.token.and_then(unescape);
    match &got {
        Ok(token) => {
            assert_eq!(scope.kind, "BearerToken");
            assert!(!token.is_empty());
            assert!(
                token.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "{token:?}"
            );
            assert_eq!(
                reference.as_deref(),
                Some(token.as_str()),
                "raw {:?}",
                scope.token
            );
            let mut small = [0u8; SMALL_TOKEN_BUF];
            let again = scope.unescape_token(&mut small);
            if token.len() <= SMALL_TOKEN_BUF {
                assert_eq!(again, Ok(token.as_str()));
            } else {
                assert_eq!(again, Err(TokenError::Malformed));
            }
        }
        Err(TokenError::NotBearer) => assert_ne!(scope.kind, "BearerToken"),
        Err(TokenError::Missing) => {
            assert_eq!(scope.kind, "BearerToken");
            assert!(scope.token.is_none());
        }
        Err(TokenError::Malformed) => {
            assert_eq!(scope.kind, "BearerToken");
            if let Some(token) = &reference {
                let sendable = !token.is_empty()
                    && token.len() <= TOKEN_BUF
                    && token.bytes().all(|b| (0x21..=0x7e).contains(&b));
                assert!(
                    !sendable,
                    "a sendable token {token:?} refused (raw {:?})",
                    scope.token
                );
            }
        }
    }
}

fn check_answer(
    event: &[u8],
    d: &Directive<'_>,
    reason: Reason,
    random: [u8; 16],
    answer: &[u8],
    answered: Answered,
) {
    let text = std::str::from_utf8(answer).expect("answers are UTF-8");
    assert!(is_json(answer), "not JSON: {text}");
    let error = if is_accept_grant(d) {
        lee_core::alexa::ErrorType::AcceptGrantFailed
    } else {
        reason.error_type()
    };
    assert_eq!(answered, Answered::Error(error, reason));
    // Echoed values are raw JSON content: they are in the answer verbatim.
    let correlation = d.correlation_token.filter(|t| !t.is_empty());
    if let Some(raw) = correlation {
        assert!(
            text.contains(&format!(r#","correlationToken":"{raw}""#)),
            "{text}"
        );
    }
    let endpoint = d.endpoint_id.filter(|id| is_valid_endpoint_id(id));
    if let Some(raw) = endpoint {
        assert!(
            text.contains(&format!(r#","endpoint":{{"endpointId":"{raw}"}}"#)),
            "{text}"
        );
    }
    // A tree whenever the event is one (an unpaired surrogate escape in an
    // echoed value is the event's own, passed on as it came).
    let Some(v) = tree(answer) else {
        assert!(
            tree(event).is_none(),
            "the event is a JSON tree, the answer is not: {text}"
        );
        return;
    };
    let header = &v["event"]["header"];
    assert_eq!(header["namespace"], error.namespace());
    assert_eq!(header["name"], "ErrorResponse");
    assert_eq!(header["payloadVersion"], "3");
    assert_eq!(header["messageId"], MessageId::from_random(random).as_str());
    assert_eq!(
        header
            .get("correlationToken")
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        correlation.and_then(unescape),
    );
    assert_eq!(
        str_at(&v, &["event", "endpoint", "endpointId"]),
        endpoint,
        "an endpointId the schema allows is plain text"
    );
    assert_eq!(v["event"]["payload"]["type"], error.as_str());
    assert_eq!(v["event"]["payload"]["message"], reason.to_string());
    let keys: Vec<&String> = v["event"].as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["header", "endpoint", "payload"].contains(&k.as_str()))
    );
}
