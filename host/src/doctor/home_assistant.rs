//! The doctor's Home Assistant checks: `GET /api/` with the token, and a
//! Discovery through `POST /api/alexa/smart_home` with everything in it
//! Alexa would refuse (the Discovery guard's findings, see
//! [`lee_core::discovery`]).

use std::time::{Duration, Instant};

use lee_core::bridge::{self, Method, RestRequest, Timeouts, Transport};
use lee_core::discovery::{self, Mode, Tracked, Verdict};
use lee_core::retry::Failure;

use super::{Check, Setup, Status};
use crate::MonotonicClock;
use crate::transport::HttpsTransport;

/// The most findings the doctor lists one by one.
const LISTED_FINDINGS: usize = 50;

/// How long the doctor waits for `/api/`.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// A Discovery directive, as Alexa sends one.
const DISCOVER: &[u8] = br#"{"directive":{"header":{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"lee-doctor"},"payload":{"scope":{"type":"BearerToken","token":"lee-doctor"}}}}"#;

/// Ask `/api/`, then for a Discovery. Returns how long the Discovery took.
pub(super) fn examine(setup: &Setup<'_>, checks: &mut Vec<Check>) -> Option<Duration> {
    let token = match &setup.token {
        Ok(token) => token,
        Err(why) => {
            checks.push(
                Check::new("api", Status::Warning, format!("not asked: {why}"))
                    .fix("give the doctor a Home Assistant long-lived token: lee doctor --token-file FILE, or HA_TOKEN_PARAMETER / HA_TOKEN / LONG_LIVED_ACCESS_TOKEN where lee runs"),
            );
            checks.push(Check::new(
                "discovery",
                Status::Skipped,
                "not asked: no token",
            ));
            return None;
        }
    };
    let mut transport = match HttpsTransport::new(setup.config, MonotonicClock::new()) {
        Ok(Some(transport)) => transport,
        Ok(None) | Err(_) => {
            checks.push(Check::new(
                "api",
                Status::Skipped,
                "not asked: lee has no usable connection settings (see the configuration lines)",
            ));
            return None;
        }
    };
    let connect = setup.config.tuning.connect_timeout;
    let mut small = [0u8; 512];
    let timeouts = Timeouts {
        connect,
        total: setup.time_left(API_TIMEOUT),
    };
    let request = RestRequest {
        method: Method::Get,
        path: "/api/",
        token: Some(token.secret.expose()),
        body: b"",
    };
    let started = Instant::now();
    let answered = transport.rest(&request, timeouts, &mut small);
    let took = started.elapsed().as_millis();
    let source = &token.source;
    match answered {
        Ok(answer)
            if answer.status == 200 && is_api_running(&small[..answer.len.min(small.len())]) =>
        {
            checks.push(Check::new(
                "api",
                Status::Ok,
                format!(
                    "Home Assistant's API answered in {took} ms and accepted the token from {source}"
                ),
            ))
        }
        Ok(answer) if matches!(answer.status, 401 | 403) => {
            checks.push(
                Check::new(
                    "api",
                    Status::Failed,
                    format!("Home Assistant refused the token from {source} (HTTP {})", answer.status),
                )
                .fix("the token is wrong, revoked or for another Home Assistant: make a new long-lived access token (your Home Assistant profile → Security) and put it there"),
            );
            checks.push(Check::new(
                "discovery",
                Status::Skipped,
                "not asked: the token was refused",
            ));
            return None;
        }
        Ok(answer) => {
            checks.push(
                Check::new(
                    "api",
                    Status::Failed,
                    format!(
                        "GET /api/ answered HTTP {} without Home Assistant's \"API running.\"",
                        answer.status
                    ),
                )
                .fix("BASE_URL must point at Home Assistant itself (or a proxy passing /api/ through to it)"),
            );
            checks.push(Check::new(
                "discovery",
                Status::Skipped,
                "not asked: /api/ did not answer",
            ));
            return None;
        }
        Err(failure) => {
            checks.push(
                Check::new(
                    "api",
                    Status::Failed,
                    format!("GET /api/ failed: {failure}"),
                )
                .fix(failure_fix(failure)),
            );
            checks.push(Check::new(
                "discovery",
                Status::Skipped,
                "not asked: /api/ failed",
            ));
            return None;
        }
    }
    discover(setup, &mut transport, token, checks)
}

/// Whether `body` is Home Assistant's answer to `GET /api/`:
/// `{"message": "API running."}`.
fn is_api_running(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("API running"))
    })
}

/// What to do about a request that failed.
fn failure_fix(failure: Failure) -> &'static str {
    match failure {
        Failure::ReadTimeout => {
            "Home Assistant accepted the connection but did not answer in time: check its load, or a proxy in between"
        }
        Failure::TlsFailure => "see the tls line above",
        _ => "check that BASE_URL reaches Home Assistant from where lee runs",
    }
}

/// A Discovery, and what Alexa would refuse in it.
fn discover(
    setup: &Setup<'_>,
    transport: &mut HttpsTransport,
    token: &super::Token,
    checks: &mut Vec<Check>,
) -> Option<Duration> {
    let capacity = setup.config.tuning.capacities.response_buffer;
    let mut body = vec![0u8; capacity];
    let timeouts = Timeouts {
        connect: setup.config.tuning.connect_timeout,
        total: setup.time_left(bridge::Settings::DEFAULT.alexa_limit),
    };
    let started = Instant::now();
    let answered = transport.post_directive(DISCOVER, token.secret.expose(), timeouts, &mut body);
    let took = started.elapsed();
    let answer = match answered {
        Ok(answer) if answer.status == 404 => {
            checks.push(
                Check::new(
                    "discovery",
                    Status::Failed,
                    "POST /api/alexa/smart_home answered 404: Home Assistant has no Alexa Smart Home API",
                )
                .fix("add `alexa:` and, indented under it, `smart_home:` (with a `filter:` for the entities Alexa should see) to Home Assistant's configuration.yaml, then restart Home Assistant"),
            );
            return None;
        }
        Ok(answer) if (200..300).contains(&answer.status) => answer,
        Ok(answer) => {
            checks.push(
                Check::new(
                    "discovery",
                    Status::Failed,
                    format!("POST /api/alexa/smart_home answered HTTP {}", answer.status),
                )
                .fix("check Home Assistant's log for the alexa integration's errors"),
            );
            return None;
        }
        Err(failure) => {
            checks.push(
                Check::new(
                    "discovery",
                    Status::Failed,
                    format!("the Discovery failed: {failure}"),
                )
                .fix(failure_fix(failure)),
            );
            return None;
        }
    };
    let mode = setup.config.discovery.mode.unwrap_or(Mode::Report);
    let mut tracked = vec![Tracked::EMPTY; discovery::tracked_for(body.len())];
    let mut findings = Vec::new();
    let priority = setup.config.discovery.priority();
    let len = answer.len;
    if lee_core::json::check(&body[..len], bridge::ANSWER_MAX_DEPTH, |_| {}).is_err() {
        checks.push(
            Check::new(
                "discovery",
                Status::Failed,
                "Home Assistant's Discovery answer is not JSON",
            )
            .fix("BASE_URL must point at Home Assistant itself, not at a proxy's error page"),
        );
        return None;
    }
    let verdict = discovery::check(&mut body, len, mode, &priority, &mut tracked, &mut |f| {
        findings.push((f.rule.refused_by_alexa(), f.to_string()));
    });
    let summary = match verdict {
        Verdict::Checked(summary) => summary,
        other => {
            checks.push(
                Check::new(
                    "discovery",
                    Status::Failed,
                    format!(
                        "Home Assistant's Discovery answer could not be read as one ({other:?})"
                    ),
                )
                .fix("check Home Assistant's log for the alexa integration's errors"),
            );
            return None;
        }
    };
    let refused = findings.iter().filter(|(refused, _)| *refused).count();
    let guarded = setup.config.discovery.mode == Some(Mode::Repair);
    let count = format!(
        "Home Assistant exposes {} endpoints to Alexa ({} ms); {refused} would make Alexa refuse the Discovery, {} share a name",
        summary.endpoints,
        took.as_millis(),
        summary.repeated_names
    );
    let status = match (refused, guarded) {
        (0, _) if summary.repeated_names == 0 => Status::Ok,
        (0, _) | (_, true) => Status::Warning,
        (_, false) => Status::Failed,
    };
    let mut line = Check::new("discovery", status, count);
    if refused > 0 {
        line = line.fix(if guarded {
            "lee leaves them out (DISCOVERY_GUARD=repair) so Alexa accepts the rest; fix each as its line says to get them back"
        } else {
            "set DISCOVERY_GUARD=repair, or fix each as its line says: Alexa refuses the whole Discovery as it is"
        });
    }
    checks.push(line);
    for (refused, text) in findings.iter().take(LISTED_FINDINGS) {
        let (seen, fix) = match text.split_once(". Fix: ") {
            Some((seen, fix)) => (seen.to_string(), Some(fix.to_string())),
            None => (text.clone(), None),
        };
        let status = if *refused && !guarded {
            Status::Failed
        } else {
            Status::Warning
        };
        let mut finding = Check::new("discovery", status, seen);
        finding.fix = fix;
        checks.push(finding);
    }
    if findings.len() > LISTED_FINDINGS {
        checks.push(Check::new(
            "discovery",
            Status::Warning,
            format!(
                "{} more findings like these (the diagnostics report lists every one after a Discovery)",
                findings.len() - LISTED_FINDINGS
            ),
        ));
    }
    Some(took)
}
