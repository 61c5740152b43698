//! Home Assistant's answer to a directive (`lee_core::bridge`): a scripted
//! Home Assistant answers a fixed, valid directive with a status, a latency
//! and a body taken from the fuzz input, after up to two failed attempts.
//!
//! Every event gets exactly one answer, in time, that is JSON; it is either
//! Home Assistant's 2xx body byte for byte (and then that body is one JSON
//! object with an `event` member) or an ErrorResponse of the right type that
//! echoes the directive's correlationToken and endpointId; a 2xx body that
//! serde_json reads as such an object is passed through; a directive is never
//! sent again once it may have reached Home Assistant.
#![no_main]

use core::cell::Cell;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};

use lee_core::breaker::{Breaker, BreakerConfig};
use lee_core::bridge::{
    ANSWER_MAX_DEPTH, Answered, Context, HaAnswer, HomeAssistant, Reason, RestRequest, Settings,
    Tally, Timeouts, Transport,
};
use lee_core::retry::{Failure, SplitMix64};
use lee_core::time::{Clock, Instant};
use lee_fuzz::{is_json, raw_depth, str_at, tree};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

/// Directives with and without correlationToken and endpoint, and an AcceptGrant.
const EVENTS: [&[u8]; 4] = [
    br#"{"directive":{"header":{"namespace":"Alexa.PowerController","name":"TurnOn","payloadVersion":"3","messageId":"m","correlationToken":"corr-1"},"endpoint":{"scope":{"type":"BearerToken","token":"user-token"},"endpointId":"switch#ac","cookie":{}},"payload":{}}}"#,
    br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m","correlationToken":"corr-2"},"endpoint":{"scope":{"type":"BearerToken","token":"user-token"},"endpointId":"light#bed_light"},"payload":{}}}"#,
    br#"{"directive":{"header":{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"m"},"payload":{"scope":{"type":"BearerToken","token":"user-token"}}}}"#,
    br#"{"directive":{"header":{"namespace":"Alexa.Authorization","name":"AcceptGrant","payloadVersion":"3","messageId":"m"},"payload":{"grant":{"type":"OAuth2.AuthorizationCode","code":"c"},"grantee":{"type":"BearerToken","token":"user-token"}}}}"#,
];

const FAILURES: [Failure; 8] = [
    Failure::ConnectRefused,
    Failure::DnsFailure,
    Failure::ConnectTimeout,
    Failure::TlsFailure,
    Failure::SendFailed,
    Failure::ReadTimeout,
    Failure::ResponseTruncated,
    Failure::ResponseTooLarge,
];

#[derive(Default)]
struct ManualClock(Cell<u64>);

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.get())
    }
}

/// One scripted attempt: a failure, or an answer (status, body) after `ms`.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    Fail(u64, Failure),
    Answer(u64, u16, &'a [u8]),
}

struct ScriptedHa<'a, 'c> {
    script: VecDeque<Step<'a>>,
    clock: &'c ManualClock,
    /// Each attempt: the step it met (`None` past the script) and whether
    /// its answer was delivered within the attempt's time.
    sent: Vec<(Option<Step<'a>>, bool)>,
}

impl Transport for ScriptedHa<'_, '_> {
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        assert!(!event.is_empty());
        assert_eq!(token, "user-token");
        assert!(timeouts.connect <= timeouts.total);
        let step = self.script.pop_front();
        let (ms, result) = match step {
            None => (0, Err(Failure::ConnectRefused)),
            Some(Step::Fail(ms, failure)) => (ms, Err(failure)),
            Some(Step::Answer(ms, status, answer)) => match body.get_mut(..answer.len()) {
                Some(dst) => {
                    dst.copy_from_slice(answer);
                    let len = answer.len();
                    (ms, Ok(HaAnswer { status, len }))
                }
                None => (ms, Err(Failure::ResponseTooLarge)),
            },
        };
        // A transport never outlives its timeout: past it, the attempt is a timeout.
        let spent = Duration::from_millis(ms);
        if spent > timeouts.total {
            self.advance(timeouts.total);
            self.sent.push((step, false));
            return Err(Failure::ReadTimeout);
        }
        self.advance(spent);
        self.sent.push((step, result.is_ok()));
        result
    }

    fn wait_until(&mut self, until: Instant) {
        assert!(until >= self.clock.now(), "waiting into the past");
        self.clock.0.set(until.as_micros());
    }

    fn rest(
        &mut self,
        _: &RestRequest<'_>,
        _: Timeouts,
        _: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        panic!("the bridge never calls the REST API while answering a directive")
    }
}

impl ScriptedHa<'_, '_> {
    fn advance(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.clock.0.set(self.clock.0.get().saturating_add(micros));
    }
}

/// The input: a 16-byte header, then Home Assistant's body.
///
/// | bytes | meaning |
/// |---|---|
/// | 0 | the directive: `EVENTS[b % 4]` |
/// | 1, 2..4 | bit 0 of byte 1: the Lambda's remaining time is given, as ms (LE) |
/// | 4..6 | lee's answer buffer: `8192 - LE % 7681` bytes |
/// | 6 | attempts before the fuzzed one: `b % 3` |
/// | 7, 8 / 9, 10 | each: `FAILURES[b % 8]`, or (8 and up) a 500..=504 answer; after `b * 20` ms |
/// | 11, 12..14 | the status: `b % 4` is 0 or 1: 200; 2: `200 + byte 12 % 100`; 3: LE u16 |
/// | 14..16 | the answer's latency: `LE % 9001` ms |
///
/// A header of zeros is a TurnOn answered 200 at once, into 8 KiB: the
/// corpus seeds are zeros followed by Amazon's sample answers.
const HEADER: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some((header, body)) = data.split_first_chunk::<HEADER>() else {
        return;
    };
    run(header, body);
});

fn run(h: &[u8; HEADER], body: &[u8]) {
    let le = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let event = EVENTS[usize::from(h[0] % 4)];
    let lambda_remaining = (h[1] & 1 == 1).then(|| Duration::from_millis(le(2).into()));
    let out_len = 8192 - usize::from(le(4) % 7681);
    let mut script = VecDeque::new();
    for at in [7, 9].into_iter().take(usize::from(h[6] % 3)) {
        let ms = u64::from(h[at + 1]) * 20;
        let step = match h[at] {
            b @ 0..=7 => Step::Fail(ms, FAILURES[usize::from(b)]),
            b => Step::Answer(ms, 500 + u16::from(b % 5), b"busy"),
        };
        script.push_back(step);
    }
    let status = match h[11] % 4 {
        0 | 1 => 200,
        2 => 200 + u16::from(h[12] % 100),
        _ => le(12),
    };
    let ms = u64::from(le(14) % 9001);
    script.push_back(Step::Answer(ms, status, body));
    let last = script.len() - 1;

    let clock = ManualClock::default();
    let mut ha = ScriptedHa {
        script,
        clock: &clock,
        sent: Vec::new(),
    };
    let mut bridge = HomeAssistant {
        settings: Settings::DEFAULT,
        breaker: Breaker::new(BreakerConfig::DEFAULT),
    };
    let mut out = vec![0u8; out_len];
    let mut token_buf = [0u8; 256];
    let mut tally = Tally::default();
    let deadline = Settings::DEFAULT.deadline(clock.now(), lambda_remaining);
    let (len, answered) = bridge
        .answer(
            event,
            deadline,
            Context {
                transport: &mut ha,
                clock: &clock,
                jitter: &mut SplitMix64::new(7),
                message_id: [3; 16],
                debug_token: None,
                token_buf: &mut token_buf,
            },
            &mut out,
            &mut tally,
        )
        .expect("an ErrorResponse always fits 512 bytes");
    let answer = &out[..len];
    assert!(
        clock.now() <= deadline,
        "answered at {:?}, deadline {deadline:?}",
        clock.now()
    );
    assert!(ha.sent.len() <= 3);
    assert_eq!(tally.requests as usize, ha.sent.len());
    for (step, _) in &ha.sent[..ha.sent.len().saturating_sub(1)] {
        let reached = match step {
            Some(Step::Fail(_, f)) => f.may_have_reached_ha(),
            Some(Step::Answer(..)) => true,
            None => false,
        };
        assert!(!reached, "sent again after {step:?}");
    }
    // Whether the final, fuzzed answer reached the bridge in time.
    let delivered = ha.sent.len() == last + 1 && ha.sent[last].1;

    assert!(
        is_json(answer),
        "not JSON: {}",
        String::from_utf8_lossy(answer)
    );
    match answered {
        Answered::PassedThrough => {
            assert!(
                delivered && (200..300).contains(&status),
                "passed through {status}"
            );
            assert_eq!(answer, body, "passed through, but changed");
            assert!(raw_depth(body) <= ANSWER_MAX_DEPTH);
            assert_eq!(body.trim_ascii_start().first(), Some(&b'{'));
            if let Some(v) = tree(body) {
                assert!(v.get("event").is_some(), "passed through without an event");
            }
        }
        Answered::Error(error, reason) => {
            let v = tree(answer).expect("lee's ErrorResponse is a JSON tree");
            assert_eq!(
                str_at(&v, &["event", "payload", "type"]),
                Some(error.as_str())
            );
            assert_eq!(v["event"]["header"]["namespace"], error.namespace());
            let d = serde_json::from_slice::<serde_json::Value>(event).unwrap();
            let header = &d["directive"]["header"];
            assert_eq!(
                v["event"]["header"].get("correlationToken"),
                header.get("correlationToken")
            );
            assert_eq!(
                v["event"].get("endpoint").and_then(|e| e.get("endpointId")),
                d["directive"]
                    .get("endpoint")
                    .and_then(|e| e.get("endpointId"))
            );
            if header["name"] == "AcceptGrant" {
                assert_eq!(error.as_str(), "ACCEPT_GRANT_FAILED");
            } else {
                assert_eq!(error, reason.error_type());
            }
            let text = String::from_utf8_lossy(answer);
            assert!(!text.contains("user-token"), "{text}");
            // A 2xx body that is one JSON object with a top-level `event`
            // (keys read raw, as lee reads them) must have been passed through.
            if delivered && (200..300).contains(&status) && !body.contains(&b'\\') {
                let object = serde_json::from_slice::<HashMap<String, Box<RawValue>>>(body);
                if let Ok(members) = object
                    && members.contains_key("event")
                    && raw_depth(body) <= ANSWER_MAX_DEPTH
                {
                    panic!("an Alexa answer refused: {reason:?}");
                }
            }
            if let Reason::NotAlexaJson(_) = reason {
                assert!(delivered && (200..300).contains(&status));
            }
        }
    }
}
