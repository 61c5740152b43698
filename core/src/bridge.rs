//! The Alexa bridge: one directive in, Home Assistant's answer or a proper
//! Alexa error out, before the deadline.
//!
//! What it is for: everything between reading a directive and writing its
//! answer that does not itself touch the network. The frontend supplies a
//! [`Transport`] (HTTPS to Home Assistant, or a script in tests) and a
//! [`Clock`]; this module decides.
//!
//! The flow of [`HomeAssistant::answer`]:
//! 1. [`classify`] the event; an unreadable one is answered `INVALID_DIRECTIVE`
//!    with the reason in its message;
//! 2. refuse a `payloadVersion` other than `"3"` (`INVALID_DIRECTIVE`);
//! 3. find the bearer token (endpoint scope, else AcceptGrant grantee, else
//!    Discovery scope, type `BearerToken`); in debug mode only, fall back to
//!    the configured long-lived token; none → `INVALID_AUTHORIZATION_CREDENTIAL`;
//! 4. [`forward`] the event's bytes unchanged, guarded by the breaker and the
//!    retry plan of the event's deadline budget;
//! 5. a 2xx answer that is one complete JSON object with an `event` member is
//!    passed through byte for byte (Home Assistant's own Alexa errors arrive
//!    this way); anything else becomes an [`ErrorResponse`] of the type
//!    [`Reason::error_type`] gives, with a message lee wrote.
//!
//! What it must never do: answer an AcceptGrant itself, re-send a directive
//! whose bytes may have reached Home Assistant, put the token or
//! Home Assistant's text into an answer, or run past the deadline.

use core::fmt;
use core::time::Duration;

use crate::alexa::{Directive, ErrorResponse, ErrorType, MessageId, OutputTooSmall, TokenError};
use crate::breaker::Breaker;
use crate::event::{ClassifyError, Event, classify};
pub use crate::guard::Tally;
use crate::guard::{Guarded, Refusal};
use crate::json::{self, JsonError};
use crate::retry::{Backoff, Effect, Failure, JitterSource, RetryPlan};
use crate::time::{Clock, Instant};
pub use crate::transport::{HaAnswer, Method, RestRequest, Timeouts, Transport};

/// How deeply Home Assistant's answer may nest before it is refused. A
/// Discovery answer nests about 10 deep.
pub const ANSWER_MAX_DEPTH: usize = 64;

/// The bridge's time limits and retry schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Alexa's own limit for an answer (8 s).
    pub alexa_limit: Duration,
    /// Kept back from the budget for writing the answer and handing it to Lambda.
    pub safety_margin: Duration,
    /// Connect timeout for each attempt.
    pub connect_timeout: Duration,
    /// An attempt with less of the budget left than this is not started.
    pub min_attempt: Duration,
    /// Retry schedule for failures that allow one.
    pub backoff: Backoff,
}

impl Settings {
    /// 8 s limit, 500 ms margin, 2 s connect timeout, 250 ms minimum
    /// attempt, default backoff.
    pub const DEFAULT: Settings = Settings {
        alexa_limit: Duration::from_secs(8),
        safety_margin: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        min_attempt: Duration::from_millis(250),
        backoff: Backoff::DEFAULT,
    };

    /// The instant by which an event that arrived at `now` must be answered:
    /// `min(Alexa's limit, the Lambda's remaining time) − safety margin`.
    /// Frontends take it when the event arrives, before any other work, and
    /// every budget of the event (reload, cache warming, each request) is
    /// what is left of it.
    pub fn deadline(&self, now: Instant, lambda_remaining: Option<Duration>) -> Instant {
        let limit = match lambda_remaining {
            Some(remaining) => remaining.min(self.alexa_limit),
            None => self.alexa_limit,
        };
        now.saturating_add(limit.saturating_sub(self.safety_margin))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

/// How the bridge treats every directive when deciding on a retry: as a
/// request that must not be repeated once it may have reached Home
/// Assistant. Only failures before a byte was sent (refused, DNS, connect
/// timeout) are retried. For a control directive a repeat could act twice;
/// for Discovery and ReportState a repeat would be harmless, but a failure
/// after sending has usually spent the budget a second attempt would need.
pub const DIRECTIVE_EFFECT: Effect = Effect::SideEffect;

/// Whether a directive is an AcceptGrant (answered `ACCEPT_GRANT_FAILED` on failure).
pub fn is_accept_grant(directive: &Directive<'_>) -> bool {
    directive.namespace == "Alexa.Authorization" && directive.name == "AcceptGrant"
}

/// Where the token sent with a directive came from, so that a refused one
/// can be named without being shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// The directive's own bearer token (its scope, or an AcceptGrant's
    /// grantee): Alexa's, from account linking.
    Directive,
    /// The configured long-lived token (`LONG_LIVED_ACCESS_TOKEN`, or the
    /// stdio harness's `--token-file`), standing in for a directive that
    /// carries none (debug mode only).
    LongLived,
}

/// Why an event got an error answer instead of Home Assistant's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The event could not be read.
    Unreadable(ClassifyError),
    /// `payloadVersion` is not `"3"`.
    PayloadVersion,
    /// No usable bearer token.
    Token(TokenError),
    /// Home Assistant refused the token sent (HTTP 401 or 403).
    TokenRefused {
        /// The HTTP status.
        status: u16,
        /// Where the token came from.
        source: TokenSource,
    },
    /// The breaker for Home Assistant is open: failing fast, no network.
    BreakerOpen {
        /// Until a probe is let through.
        retry_after: Duration,
    },
    /// Not enough of the budget was left to start a request.
    DeadlinePassed,
    /// No usable Home Assistant address is configured.
    NotConfigured,
    /// The engine could not run the directive's module (no working memory).
    Engine,
    /// The answer would not fit lee's answer buffer.
    AnswerTooLarge,
    /// The request failed (transport failure, or a non-2xx status).
    Failed(Failure),
    /// Home Assistant answered 2xx, but not with one JSON object that has an `event`.
    NotAlexaJson(Option<JsonError>),
}

impl Reason {
    /// The Alexa error type for this reason.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Reason::Unreadable(_) | Reason::PayloadVersion => ErrorType::InvalidDirective,
            Reason::Token(_)
            | Reason::TokenRefused { .. }
            | Reason::Failed(Failure::Status(401 | 403)) => {
                ErrorType::InvalidAuthorizationCredential
            }
            Reason::Failed(Failure::Status(429)) => ErrorType::RateLimitExceeded,
            // 502, 503 and 504 are a proxy (Nabu Casa, Cloudflare, nginx)
            // saying that Home Assistant behind it does not answer.
            Reason::BreakerOpen { .. }
            | Reason::DeadlinePassed
            | Reason::NotConfigured
            | Reason::Failed(
                Failure::ConnectRefused
                | Failure::DnsFailure
                | Failure::ConnectTimeout
                | Failure::TlsFailure
                | Failure::SendFailed
                | Failure::ReadTimeout
                | Failure::Status(502..=504),
            ) => ErrorType::BridgeUnreachable,
            Reason::Failed(
                Failure::Status(_) | Failure::ResponseTruncated | Failure::ResponseTooLarge,
            )
            | Reason::NotAlexaJson(_)
            | Reason::Engine
            | Reason::AnswerTooLarge => ErrorType::InternalError,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unreadable(e) => write!(f, "{e}"),
            Reason::PayloadVersion => f.write_str("lee understands payloadVersion 3 only"),
            Reason::Token(TokenError::Missing) => {
                f.write_str("the directive carries no bearer token")
            }
            Reason::Token(TokenError::NotBearer) => {
                f.write_str("the directive's scope is not of type BearerToken")
            }
            Reason::Token(TokenError::Malformed) => {
                f.write_str("the directive's bearer token cannot be sent to Home Assistant")
            }
            Reason::BreakerOpen { retry_after } => write!(
                f,
                "Home Assistant failed repeatedly; lee tries again in {} ms",
                retry_after.as_millis()
            ),
            Reason::DeadlinePassed => f.write_str("too little time was left to ask Home Assistant"),
            Reason::NotConfigured => {
                f.write_str("lee has no valid Home Assistant address (BASE_URL)")
            }
            Reason::Engine => f.write_str("lee could not give the directive working memory"),
            Reason::AnswerTooLarge => f.write_str("the answer would not fit lee's answer buffer"),
            Reason::TokenRefused {
                status,
                source: TokenSource::Directive,
            } => write!(
                f,
                "Home Assistant refused the directive's own bearer token (HTTP {status}): it is \
                 wrong or expired (relink the skill in the Alexa app); a long-lived token \
                 (LONG_LIVED_ACCESS_TOKEN, lee --token-file) stands in only for a directive that \
                 carries none"
            ),
            Reason::TokenRefused {
                status,
                source: TokenSource::LongLived,
            } => write!(
                f,
                "Home Assistant refused the long-lived token standing in for the directive's \
                 missing one (LONG_LIVED_ACCESS_TOKEN, lee --token-file) (HTTP {status}): it is \
                 wrong, revoked or another Home Assistant's; make a new one in your Home \
                 Assistant profile, Security"
            ),
            Reason::Failed(Failure::Status(404)) => f.write_str(
                "Home Assistant answered HTTP 404 for POST /api/alexa/smart_home: its Alexa \
                 Smart Home integration is not set up (add alexa: smart_home: to \
                 configuration.yaml)",
            ),
            Reason::Failed(Failure::Status(code)) => {
                write!(f, "Home Assistant answered HTTP {code}")
            }
            Reason::Failed(failure) => write!(f, "Home Assistant could not be reached: {failure}"),
            Reason::NotAlexaJson(Some(e)) => {
                write!(f, "Home Assistant's answer is not JSON: {e}")
            }
            Reason::NotAlexaJson(None) => {
                f.write_str("Home Assistant's answer is JSON but not an Alexa message")
            }
        }
    }
}

/// Send `event` to Home Assistant with `token` (from `source`) through one
/// guarded call ([`Guarded::call`]: retrying only where `effect` and the
/// failure allow and the deadline leaves room). On success the answer,
/// already checked to be a complete Alexa JSON message, is in
/// `body[..len]`; a 401 or 403 is [`Reason::TokenRefused`], naming `source`.
pub fn forward(
    f: Guarded<'_>,
    event: &[u8],
    (token, source): (&str, TokenSource),
    effect: Effect,
    body: &mut [u8],
    tally: &mut Tally,
) -> Result<usize, Reason> {
    let answer = f
        .call(effect, tally, |transport, timeouts| {
            transport.post_directive(event, token, timeouts, body)
        })
        .map_err(|refusal| match refusal {
            Refusal::BreakerOpen { retry_after } => Reason::BreakerOpen { retry_after },
            Refusal::DeadlinePassed => Reason::DeadlinePassed,
            Refusal::Failed(failure) => Reason::Failed(failure),
        })?;
    match answer.status {
        200..300 => {}
        status @ (401 | 403) => return Err(Reason::TokenRefused { status, source }),
        status => return Err(Reason::Failed(Failure::Status(status))),
    }
    alexa_json(body, answer.len)
}

/// Check that `body[..len]` is one complete JSON object with an `event` member.
fn alexa_json(body: &[u8], len: usize) -> Result<usize, Reason> {
    let answer = body
        .get(..len)
        .ok_or(Reason::Failed(Failure::ResponseTooLarge))?;
    let mut has_event = false;
    json::check(answer, ANSWER_MAX_DEPTH, |key| has_event |= key == b"event")
        .map_err(|e| Reason::NotAlexaJson(Some(e)))?;
    match answer.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') if has_event => Ok(len),
        _ => Err(Reason::NotAlexaJson(None)),
    }
}

/// How an event was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    /// Home Assistant's body, byte for byte.
    PassedThrough,
    /// An ErrorResponse lee wrote, and why.
    Error(ErrorType, Reason),
}

/// Home Assistant as lee reaches it for directives: the time limits and
/// retry schedule, and the breaker of its base URL.
pub struct HomeAssistant {
    /// Time limits and retry schedule.
    pub settings: Settings,
    /// The breaker of the configured Home Assistant base URL.
    pub breaker: Breaker,
}

/// What answering one directive uses besides the directive: the network,
/// the clock, randomness, the fallback token and scratch space for the
/// directive's own token.
pub struct Context<'a> {
    /// The network.
    pub transport: &'a mut dyn Transport,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// Randomness for backoff jitter.
    pub jitter: &'a mut dyn JitterSource,
    /// 16 random bytes for the messageId of an error answer.
    pub message_id: [u8; 16],
    /// The long-lived token to use when debug mode is on and the directive has none.
    pub debug_token: Option<&'a str>,
    /// Scratch space for the unescaped token.
    pub token_buf: &'a mut [u8],
}

impl HomeAssistant {
    /// Answer one event into `out` by `deadline` (see [`Settings::deadline`]):
    /// Home Assistant's body on success, an ErrorResponse otherwise. Returns
    /// the answer's length and how it was made.
    pub fn answer(
        &mut self,
        event: &[u8],
        deadline: Instant,
        context: Context<'_>,
        out: &mut [u8],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        match classify(event) {
            Ok(Event::Directive(directive)) => {
                self.answer_directive(&directive, event, deadline, context, out, tally)
            }
            Ok(_) => refuse(
                None,
                Reason::Unreadable(ClassifyError::UnknownEvent),
                context.message_id,
                out,
            ),
            Err(e) => refuse(None, Reason::Unreadable(e), context.message_id, out),
        }
    }

    /// Answer a directive already read from `event` (see [`HomeAssistant::answer`]).
    pub fn answer_directive(
        &mut self,
        directive: &Directive<'_>,
        event: &[u8],
        deadline: Instant,
        mut context: Context<'_>,
        out: &mut [u8],
        tally: &mut Tally,
    ) -> Result<(usize, Answered), OutputTooSmall> {
        match self.forward_directive(directive, event, deadline, &mut context, out, tally) {
            Ok(len) => Ok((len, Answered::PassedThrough)),
            Err(reason) => refuse(Some(directive), reason, context.message_id, out),
        }
    }

    fn forward_directive(
        &mut self,
        directive: &Directive<'_>,
        event: &[u8],
        deadline: Instant,
        context: &mut Context<'_>,
        out: &mut [u8],
        tally: &mut Tally,
    ) -> Result<usize, Reason> {
        if directive.payload_version != "3" {
            return Err(Reason::PayloadVersion);
        }
        let token = match directive.scope {
            Some(scope) => scope.unescape_token(context.token_buf),
            None => Err(TokenError::Missing),
        };
        let token = match (token, context.debug_token) {
            (Ok(token), _) => (token, TokenSource::Directive),
            (Err(TokenError::Missing), Some(fallback)) => (fallback, TokenSource::LongLived),
            (Err(e), _) => return Err(Reason::Token(e)),
        };
        forward(
            Guarded {
                breaker: &mut self.breaker,
                plan: RetryPlan::new(self.settings.backoff, deadline, self.settings.min_attempt),
                connect_timeout: self.settings.connect_timeout,
                transport: context.transport,
                clock: context.clock,
                jitter: context.jitter,
            },
            event,
            token,
            DIRECTIVE_EFFECT,
            out,
            tally,
        )
    }
}

/// Answer with an ErrorResponse for `reason`, echoing what `directive` allows
/// (its correlationToken and endpointId); an AcceptGrant's failure is
/// `ACCEPT_GRANT_FAILED` whatever the reason.
pub fn refuse(
    directive: Option<&Directive<'_>>,
    reason: Reason,
    message_id: [u8; 16],
    out: &mut [u8],
) -> Result<(usize, Answered), OutputTooSmall> {
    let error = match directive {
        Some(d) if is_accept_grant(d) => ErrorType::AcceptGrantFailed,
        _ => reason.error_type(),
    };
    let response = ErrorResponse {
        error,
        message_id: MessageId::from_random(message_id),
        correlation_token: directive.and_then(|d| d.correlation_token),
        endpoint_id: directive.and_then(|d| d.endpoint_id),
    };
    let len = response.write(format_args!("{reason}"), out)?;
    Ok((len, Answered::Error(error, reason)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::{BreakerConfig, BreakerState};
    use crate::retry::SplitMix64;
    use crate::time::ManualClock;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::string::String;
    use std::vec::Vec;

    /// What the scripted Home Assistant does with one request.
    #[derive(Clone, Copy, Debug)]
    enum Ha {
        /// Answer after `ms` with a status and body.
        Answer(u64, u16, &'static [u8]),
        /// Fail after `ms` (a hang is a long `ms` ending in ReadTimeout).
        Fail(u64, Failure),
    }

    struct ScriptedHa<'c> {
        script: VecDeque<Ha>,
        clock: &'c ManualClock,
        sent: Vec<(String, Instant)>,
    }

    impl Transport for ScriptedHa<'_> {
        fn post_directive(
            &mut self,
            event: &[u8],
            token: &str,
            timeouts: Timeouts,
            body: &mut [u8],
        ) -> Result<HaAnswer, Failure> {
            assert!(!event.is_empty());
            self.sent.push((String::from(token), self.clock.now()));
            let step = self
                .script
                .pop_front()
                .expect("more requests than scripted");
            let (ms, result) = match step {
                Ha::Answer(ms, status, answer) => {
                    let r = match body.get_mut(..answer.len()) {
                        Some(dst) => {
                            dst.copy_from_slice(answer);
                            Ok(HaAnswer {
                                status,
                                len: answer.len(),
                            })
                        }
                        None => Err(Failure::ResponseTooLarge),
                    };
                    (ms, r)
                }
                Ha::Fail(ms, failure) => (ms, Err(failure)),
            };
            // A transport never outlives its timeout: past it, the attempt is a timeout.
            let spent = Duration::from_millis(ms);
            if spent > timeouts.total {
                self.advance(timeouts.total);
                return Err(Failure::ReadTimeout);
            }
            self.advance(spent);
            result
        }

        fn wait_until(&mut self, until: Instant) {
            assert!(until >= self.clock.now());
            self.clock.set(until);
        }

        fn rest(
            &mut self,
            _request: &RestRequest<'_>,
            _timeouts: Timeouts,
            _body: &mut [u8],
        ) -> Result<HaAnswer, Failure> {
            unreachable!("the bridge never calls the REST API while answering a directive")
        }
    }

    impl ScriptedHa<'_> {
        fn advance(&self, d: Duration) {
            self.clock.advance(d);
        }
    }

    const TURN_ON: &[u8] = br#"{"directive":{"header":{"namespace":"Alexa.PowerController","name":"TurnOn","payloadVersion":"3","messageId":"m","correlationToken":"corr-1"},"endpoint":{"scope":{"type":"BearerToken","token":"user-token"},"endpointId":"switch#ac","cookie":{}},"payload":{}}}"#;
    const REPORT_STATE: &[u8] = br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m","correlationToken":"corr-2"},"endpoint":{"scope":{"type":"BearerToken","token":"user-token"},"endpointId":"light#bed_light"},"payload":{}}}"#;
    const ACCEPT_GRANT: &[u8] = br#"{"directive":{"header":{"namespace":"Alexa.Authorization","name":"AcceptGrant","payloadVersion":"3","messageId":"m"},"payload":{"grant":{"type":"OAuth2.AuthorizationCode","code":"c"},"grantee":{"type":"BearerToken","token":"user-token"}}}}"#;
    const HA_OK: &[u8] = br#"{"event":{"header":{"namespace":"Alexa","name":"Response"},"payload":{}},"context":{"properties":[{"value":0.49804000000000004}]}}"#;

    struct Run {
        len: usize,
        answered: Answered,
        out: Vec<u8>,
        sent: Vec<(String, Instant)>,
        tally: Tally,
        finished: Instant,
    }

    impl Run {
        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.out[..self.len]).expect("every answer is JSON")
        }

        fn error_type(&self) -> String {
            self.json()["event"]["payload"]["type"]
                .as_str()
                .unwrap()
                .into()
        }
    }

    fn run_with(
        bridge: &mut HomeAssistant,
        clock: &ManualClock,
        event: &[u8],
        script: impl IntoIterator<Item = Ha>,
        lambda_remaining: Option<Duration>,
        debug_token: Option<&str>,
    ) -> Run {
        let mut ha = ScriptedHa {
            script: script.into_iter().collect(),
            clock,
            sent: Vec::new(),
        };
        let mut out = std::vec![0u8; 4096];
        let mut token_buf = [0u8; 256];
        let mut tally = Tally::default();
        let deadline = bridge.settings.deadline(clock.now(), lambda_remaining);
        let (len, answered) = bridge
            .answer(
                event,
                deadline,
                Context {
                    transport: &mut ha,
                    clock,
                    jitter: &mut SplitMix64::new(1),
                    message_id: [9; 16],
                    debug_token,
                    token_buf: &mut token_buf,
                },
                &mut out,
                &mut tally,
            )
            .unwrap();
        assert!(
            ha.script.is_empty(),
            "requests left unsent: {:?}",
            ha.script
        );
        Run {
            len,
            answered,
            out,
            sent: ha.sent,
            tally,
            finished: clock.now(),
        }
    }

    fn bridge() -> HomeAssistant {
        HomeAssistant {
            settings: Settings::DEFAULT,
            breaker: Breaker::new(BreakerConfig::DEFAULT),
        }
    }

    fn run(event: &[u8], script: impl IntoIterator<Item = Ha>) -> Run {
        run_with(
            &mut bridge(),
            &ManualClock::default(),
            event,
            script,
            None,
            None,
        )
    }

    #[test]
    fn a_2xx_alexa_answer_passes_through_byte_for_byte() {
        let r = run(TURN_ON, [Ha::Answer(5, 200, HA_OK)]);
        assert_eq!(r.answered, Answered::PassedThrough);
        assert_eq!(&r.out[..r.len], HA_OK);
        assert_eq!(r.sent, [(String::from("user-token"), Instant::ZERO)]);
        assert_eq!(r.tally.requests, 1);
    }

    #[test]
    fn accept_grant_is_forwarded_and_its_failure_is_accept_grant_failed() {
        let r = run(ACCEPT_GRANT, [Ha::Answer(5, 200, HA_OK)]);
        assert_eq!(r.answered, Answered::PassedThrough);
        let r = run(
            ACCEPT_GRANT,
            [Ha::Answer(5, 500, b"500 Internal Server Error")],
        );
        assert_eq!(r.sent.len(), 1);
        assert_eq!(r.error_type(), "ACCEPT_GRANT_FAILED");
        assert_eq!(
            r.json()["event"]["header"]["namespace"],
            "Alexa.Authorization"
        );
    }

    #[test]
    fn statuses_and_bodies_map_to_the_right_error() {
        let cases: [(Ha, &str); 8] = [
            (
                Ha::Answer(1, 401, b"401: Unauthorized"),
                "INVALID_AUTHORIZATION_CREDENTIAL",
            ),
            (
                Ha::Answer(1, 403, b"<html>Forbidden</html>"),
                "INVALID_AUTHORIZATION_CREDENTIAL",
            ),
            (
                Ha::Answer(1, 500, b"<html><body>500</body></html>"),
                "INTERNAL_ERROR",
            ),
            (Ha::Answer(1, 404, b"404: Not Found"), "INTERNAL_ERROR"),
            (
                Ha::Answer(1, 200, b"<html>proxy login</html>"),
                "INTERNAL_ERROR",
            ),
            (
                Ha::Answer(1, 200, br#"{"event":{"header":"#),
                "INTERNAL_ERROR",
            ),
            (Ha::Answer(1, 200, br#"{"message":"ok"}"#), "INTERNAL_ERROR"),
            (Ha::Fail(1, Failure::TlsFailure), "BRIDGE_UNREACHABLE"),
        ];
        for (step, expected) in cases {
            let r = run(TURN_ON, [step]);
            assert_eq!(r.error_type(), expected, "{step:?}");
            let v = r.json();
            assert_eq!(v["event"]["header"]["correlationToken"], "corr-1");
            assert_eq!(v["event"]["endpoint"]["endpointId"], "switch#ac");
            let text = String::from_utf8_lossy(&r.out[..r.len]).into_owned();
            assert!(
                !text.contains("user-token") && !text.contains('<'),
                "{text}"
            );
        }
    }

    #[test]
    fn statuses_map_to_the_alexa_error_an_owner_would_expect() {
        for (status, expected) in [
            (401, ErrorType::InvalidAuthorizationCredential),
            (403, ErrorType::InvalidAuthorizationCredential),
            (404, ErrorType::InternalError),
            (429, ErrorType::RateLimitExceeded),
            (500, ErrorType::InternalError),
            (502, ErrorType::BridgeUnreachable),
            (503, ErrorType::BridgeUnreachable),
            (504, ErrorType::BridgeUnreachable),
            (505, ErrorType::InternalError),
        ] {
            let reason = Reason::Failed(Failure::Status(status));
            assert_eq!(reason.error_type(), expected, "{status}");
        }
    }

    #[test]
    fn no_directive_is_sent_again_once_it_may_have_reached_ha() {
        for event in [TURN_ON, REPORT_STATE, ACCEPT_GRANT] {
            for failure in [
                Failure::ReadTimeout,
                Failure::SendFailed,
                Failure::ResponseTruncated,
            ] {
                let r = run(event, [Ha::Fail(10, failure)]);
                assert_eq!(r.sent.len(), 1, "{failure:?}");
            }
            let r = run(event, [Ha::Answer(1, 503, b"busy")]);
            assert_eq!(r.sent.len(), 1);
        }
    }

    #[test]
    fn refused_connections_are_retried_for_every_directive_then_reported_unreachable() {
        let r = run(TURN_ON, [Ha::Fail(0, Failure::ConnectRefused); 3]);
        assert_eq!(r.sent.len(), 3);
        assert_eq!(r.tally.retries, 2);
        assert_eq!(r.error_type(), "BRIDGE_UNREACHABLE");
        let r = run(
            TURN_ON,
            [Ha::Fail(0, Failure::DnsFailure), Ha::Answer(1, 200, HA_OK)],
        );
        assert_eq!(r.answered, Answered::PassedThrough);
    }

    #[test]
    fn directives_lee_cannot_forward_are_answered_without_a_request() {
        let v2 = br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"2","messageId":"m","correlationToken":"c"},"endpoint":{"scope":{"type":"BearerToken","token":"t"},"endpointId":"x"},"payload":{}}}"#;
        let r = run(v2, []);
        assert_eq!(r.error_type(), "INVALID_DIRECTIVE");
        assert_eq!(r.json()["event"]["header"]["correlationToken"], "c");
        let no_token = br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m","correlationToken":"c"},"endpoint":{"endpointId":"x"},"payload":{}}}"#;
        let r = run(no_token, []);
        assert_eq!(r.error_type(), "INVALID_AUTHORIZATION_CREDENTIAL");
        let partition = br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m"},"endpoint":{"scope":{"type":"BearerTokenWithPartition","token":"t"},"endpointId":"x"},"payload":{}}}"#;
        let r = run_with(
            &mut bridge(),
            &ManualClock::default(),
            partition,
            [],
            None,
            Some("debug"),
        );
        assert_eq!(
            r.error_type(),
            "INVALID_AUTHORIZATION_CREDENTIAL",
            "a wrong scope is not 'missing'"
        );
        for junk in [&b"not json"[..], b"{}", b"{\"directive\":[]}"] {
            let r = run(junk, []);
            assert_eq!(r.error_type(), "INVALID_DIRECTIVE");
        }
    }

    #[test]
    fn the_debug_token_stands_in_only_for_a_missing_one() {
        let no_token = br#"{"directive":{"header":{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"m"},"payload":{}}}"#;
        for (event, sent) in [(&no_token[..], "long-lived"), (TURN_ON, "user-token")] {
            let r = run_with(
                &mut bridge(),
                &ManualClock::default(),
                event,
                [Ha::Answer(1, 200, HA_OK)],
                None,
                Some("long-lived"),
            );
            assert_eq!(r.sent[0].0, sent);
        }
    }

    /// A refused token is named by where it came from, never shown: the
    /// directive's own, or the long-lived one standing in for a missing one.
    #[test]
    fn a_refused_token_is_named_by_where_it_came_from() {
        let no_token = br#"{"directive":{"header":{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"m"},"payload":{}}}"#;
        for (event, status, from) in [
            (TURN_ON, 401, "the directive's own bearer token"),
            (&no_token[..], 403, "LONG_LIVED_ACCESS_TOKEN"),
        ] {
            let r = run_with(
                &mut bridge(),
                &ManualClock::default(),
                event,
                [Ha::Answer(1, status, b"401: Unauthorized")],
                None,
                Some("long-lived-secret"),
            );
            assert_eq!(r.error_type(), "INVALID_AUTHORIZATION_CREDENTIAL");
            let answer = r.json();
            let message = answer["event"]["payload"]["message"].as_str().unwrap();
            assert!(message.contains(from), "{message}");
            assert!(
                message.contains(&std::format!("HTTP {status}")),
                "{message}"
            );
            assert!(
                !message.contains("user-token") && !message.contains("long-lived-secret"),
                "{message}"
            );
        }
        // The directive's own token was refused: the long-lived one is no
        // way around it, and the answer says so.
        let r = run_with(
            &mut bridge(),
            &ManualClock::default(),
            TURN_ON,
            [Ha::Answer(1, 401, b"401: Unauthorized")],
            None,
            Some("long-lived-secret"),
        );
        let answer = r.json();
        let message = answer["event"]["payload"]["message"].as_str().unwrap();
        assert!(
            message.contains("only for a directive that carries none"),
            "{message}"
        );
    }

    #[test]
    fn an_open_breaker_answers_without_the_network_until_its_probe_succeeds() {
        let mut b = bridge();
        let clock = ManualClock::default();
        // Five transport failures open the default breaker.
        let r = run_with(
            &mut b,
            &clock,
            TURN_ON,
            [Ha::Fail(0, Failure::ConnectRefused); 3],
            None,
            None,
        );
        assert!(!r.tally.breaker_opened);
        let r = run_with(
            &mut b,
            &clock,
            TURN_ON,
            [Ha::Fail(0, Failure::ConnectRefused); 2],
            None,
            None,
        );
        assert!(r.tally.breaker_opened);
        assert_eq!(b.breaker.state(clock.now()), BreakerState::Open);
        let r = run_with(&mut b, &clock, REPORT_STATE, [], None, None);
        assert!(r.sent.is_empty());
        assert_eq!(r.error_type(), "BRIDGE_UNREACHABLE");
        assert!(matches!(
            r.answered,
            Answered::Error(_, Reason::BreakerOpen { .. })
        ));
        clock.advance(Duration::from_secs(10));
        let r = run_with(
            &mut b,
            &clock,
            REPORT_STATE,
            [Ha::Answer(1, 200, HA_OK)],
            None,
            None,
        );
        assert_eq!(r.answered, Answered::PassedThrough);
        assert_eq!(b.breaker.state(clock.now()), BreakerState::Closed);
    }

    #[test]
    fn the_deadline_is_the_smaller_of_alexa_and_lambda_less_the_margin() {
        let s = Settings::DEFAULT;
        let t0 = Instant::from_millis(1_000);
        assert_eq!(s.deadline(t0, None), Instant::from_millis(8_500));
        assert_eq!(
            s.deadline(t0, Some(Duration::from_secs(3))),
            Instant::from_millis(3_500)
        );
        assert_eq!(s.deadline(t0, Some(Duration::from_millis(100))), t0);
        // With less than a useful attempt left, HA is not asked at all.
        let r = run_with(
            &mut bridge(),
            &ManualClock::default(),
            TURN_ON,
            [],
            Some(Duration::from_millis(600)),
            None,
        );
        assert_eq!(
            r.answered,
            Answered::Error(ErrorType::BridgeUnreachable, Reason::DeadlinePassed)
        );
    }

    #[test]
    fn a_hung_home_assistant_is_answered_before_the_deadline() {
        let r = run(REPORT_STATE, [Ha::Fail(60_000, Failure::ReadTimeout)]);
        assert_eq!(r.error_type(), "BRIDGE_UNREACHABLE");
        assert_eq!(r.finished, Instant::from_millis(7_500));
        let r = run(TURN_ON, [Ha::Answer(9_000, 200, HA_OK)]);
        assert_eq!(r.error_type(), "BRIDGE_UNREACHABLE");
        assert!(r.finished <= Instant::from_millis(7_500));
    }

    fn step() -> impl Strategy<Value = Ha> {
        let failure = crate::retry::tests::failure();
        let body: &'static [&'static [u8]] =
            &[HA_OK, b"<html>", b"{\"event\":", b"401: Unauthorized"];
        prop_oneof![
            (0u64..4_000, failure).prop_map(|(ms, f)| Ha::Fail(ms, f)),
            (
                0u64..4_000,
                prop::sample::select(&[200u16, 401, 403, 429, 500, 502, 503][..]),
                prop::sample::select(body)
            )
                .prop_map(|(ms, status, body)| Ha::Answer(ms, status, body)),
        ]
    }

    proptest! {
        /// Whatever Home Assistant does: exactly one answer, valid JSON,
        /// ready by the deadline; no directive is sent again after a failure
        /// that may have reached HA; at most three attempts.
        #[test]
        fn every_event_is_answered_in_time_and_never_repeated_once_sent(
            control in any::<bool>(),
            remaining_ms in prop::option::of(0u64..10_000),
            script in proptest::collection::vec(step(), 3),
        ) {
            let event = if control { TURN_ON } else { REPORT_STATE };
            let clock = ManualClock::default();
            let mut ha = ScriptedHa { script: script.iter().copied().collect(), clock: &clock, sent: Vec::new() };
            let mut out = std::vec![0u8; 4096];
            let mut token_buf = [0u8; 64];
            let mut tally = Tally::default();
            let lambda_remaining = remaining_ms.map(Duration::from_millis);
            let deadline = Settings::DEFAULT.deadline(clock.now(), lambda_remaining);
            let (len, answered) = bridge()
                .answer(event, deadline, Context {
                    transport: &mut ha, clock: &clock, jitter: &mut SplitMix64::new(3),
                    message_id: [1; 16], debug_token: None, token_buf: &mut token_buf,
                }, &mut out, &mut tally)
                .unwrap();
            prop_assert!(clock.now() <= deadline, "answered at {:?}, deadline {:?}", clock.now(), deadline);
            let v: serde_json::Value = serde_json::from_slice(&out[..len]).unwrap();
            prop_assert!(v["event"].is_object());
            prop_assert!(ha.sent.len() <= 3);
            for (i, step) in script.iter().take(ha.sent.len().saturating_sub(1)).enumerate() {
                let reached = match step {
                    Ha::Fail(_, f) => f.may_have_reached_ha(),
                    Ha::Answer(..) => true,
                };
                prop_assert!(!reached, "directive re-sent after step {}: {:?}", i, step);
            }
            if answered == Answered::PassedThrough {
                prop_assert_eq!(&out[..len], HA_OK);
            }
        }
    }
}
