//! What lee does with the bytes of one directive before and after Home
//! Assistant: classify the event (check it once as JSON and read the header,
//! endpoint and scope in place), extract the bearer token (unescape it into
//! a buffer the caller owns), and write an `Alexa.ErrorResponse` when the
//! answer is a failure.
//!
//! The events are compact JSON as Alexa sends it, with a 183-character
//! Home-Assistant-shaped token and a 344-character correlationToken (see the
//! `lee_bench` library). No network, no clock: pure CPU time of the core.
//!
//! `cargo bench -p lee-bench --bench directive` (criterion; filter with a
//! name, e.g. `-- classify/`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lee_bench::{TOKEN, discovery_directive, report_state_directive, turn_on_directive};
use lee_core::alexa::{Directive, ErrorResponse, ErrorType, MessageId, Scope};
use lee_core::bridge::{Reason, refuse};
use lee_core::event::{Event, classify};
use lee_core::retry::Failure;

/// The directive read from `event`, which must be one.
fn directive(event: &[u8]) -> Directive<'_> {
    match classify(event) {
        Ok(Event::Directive(d)) => d,
        other => panic!("not a directive: {other:?}"),
    }
}

fn classify_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    let events = [
        ("alexa_turn_on_directive", turn_on_directive()),
        ("alexa_report_state_directive", report_state_directive()),
        ("alexa_discovery_directive", discovery_directive(TOKEN)),
    ];
    for (name, event) in &events {
        directive(event);
        group.bench_function(*name, |b| b.iter(|| classify(black_box(event))));
    }
    let health = br#"{"health_check": true}"#;
    assert_eq!(classify(health), Ok(Event::Health));
    group.bench_function("health_check_event", |b| {
        b.iter(|| classify(black_box(health)))
    });
    group.finish();
}

fn extract_tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("token");
    let mut buf = [0u8; 1024];
    let jwt = Scope {
        kind: "BearerToken",
        token: Some(TOKEN),
    };
    assert_eq!(jwt.unescape_token(&mut buf), Ok(TOKEN));
    group.bench_function("unescape_ha_jwt_183_chars", |b| {
        b.iter(|| black_box(jwt).unescape_token(&mut buf).map(str::len))
    });
    // Login with Amazon's style (`Atza|` and base64 with `/`), as a
    // serializer that escapes every slash writes it: the slow path.
    let raw = format!("Atza|{}", "IwEBIJ7s\\/Hq0+xY\\/".repeat(20));
    let escaped = Scope {
        kind: "BearerToken",
        token: Some(&raw),
    };
    assert_eq!(raw.len(), 365);
    let unescaped = escaped.unescape_token(&mut buf).map(str::len);
    assert_eq!(unescaped, Ok(raw.len() - 40));
    group.bench_function("unescape_365_raw_chars_with_40_escaped_slashes", |b| {
        b.iter(|| black_box(escaped).unescape_token(&mut buf).map(str::len))
    });
    let event = turn_on_directive();
    group.bench_function("classify_and_unescape_from_turn_on_directive", |b| {
        b.iter(|| {
            let d = directive(black_box(&event));
            d.scope
                .expect("the directive has a scope")
                .unescape_token(&mut buf)
                .map(str::len)
        })
    });
    group.finish();
}

fn write_error_responses(c: &mut Criterion) {
    let mut group = c.benchmark_group("error_response");
    let event = turn_on_directive();
    let d = directive(&event);
    let mut out = [0u8; 4096];
    let response = ErrorResponse {
        error: ErrorType::BridgeUnreachable,
        message_id: MessageId::from_random([7; 16]),
        correlation_token: d.correlation_token,
        endpoint_id: d.endpoint_id,
    };
    let failure = Failure::ConnectRefused;
    let written = response
        .write(
            format_args!("Home Assistant could not be reached: {failure}"),
            &mut out,
        )
        .expect("fits");
    serde_json::from_slice::<serde_json::Value>(&out[..written]).expect("valid JSON");
    group.bench_function(
        "write_bridge_unreachable_echoing_correlation_and_endpoint",
        |b| {
            b.iter(|| {
                black_box(&response).write(
                    format_args!("Home Assistant could not be reached: {failure}"),
                    &mut out,
                )
            })
        },
    );
    let reason = Reason::BreakerOpen {
        retry_after: Duration::from_millis(8_250),
    };
    group.bench_function("refuse_turn_on_with_breaker_open", |b| {
        b.iter(|| refuse(Some(black_box(&d)), reason, [9; 16], &mut out))
    });
    group.finish();
}

criterion_group!(
    benches,
    classify_events,
    extract_tokens,
    write_error_responses
);
criterion_main!(benches);
