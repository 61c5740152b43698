//! `bootstrap`: lee as an AWS Lambda function (runtime `provided.al2023`).
//!
//! What it is for: receiving each invocation from the Lambda Runtime API
//! (through `lambda_runtime` on a current-thread tokio runtime) and handing
//! its payload, untouched, to the same bridge every frontend uses. The
//! payload is taken as raw bytes ([`take_body`]), never parsed into a tree
//! and re-serialized, so Home Assistant receives the very bytes Alexa sent,
//! and whatever the bytes are (not JSON, not UTF-8, empty, nested too
//! deeply, too large), lee answers them itself: an Alexa `INVALID_DIRECTIVE`
//! error saying what is wrong, with its log and metrics lines, and the
//! process goes on. The invocation's deadline becomes the bridge's budget;
//! the blocking call to Home Assistant runs off the async thread.
//!
//! Init stays minimal: configuration is read and buffers are set aside, but
//! nothing touches the network until the first event needs it.
//!
//! Events: Alexa Smart Home directives; `{"health_check": true}`;
//! `{"diagnostics": true}`; engine ops; custom-skill requests; Function URL
//! requests for `GET /health`, `GET /diagnostics` and `POST /op` (the last
//! two with the shared secret in `x-lee-secret`).
//!
//! Logs go to stdout as JSON lines (lee-host's `logging`: redacted, with
//! the request id and the directive's messageId on every line), followed by
//! one CloudWatch EMF metrics line per invocation unless `METRICS=off`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tower::util::MapRequestLayer;
use lambda_runtime::{Error, LambdaEvent, LambdaInvocation, Runtime, service_fn};
use lee_host::Bridge;
use lee_host::logging::{JsonLogs, level_from};
use serde_json::value::RawValue;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, filter::LevelFilter};

fn main() -> Result<(), Error> {
    let env = |name: &str| std::env::var(name).ok();
    let (level, level_problem) = match level_from(env) {
        Ok(level) => (level, None),
        Err(why) => (LevelFilter::INFO, Some(why)),
    };
    let subscriber =
        tracing_subscriber::registry().with(JsonLogs::new(std::io::stdout).with_filter(level));
    tracing::subscriber::set_global_default(subscriber)?;
    if let Some(why) = level_problem {
        tracing::warn!("configuration: {why}");
    }
    let bridge = Bridge::from_env().map_err(|e| Error::from(e.to_string()))?;
    for problem in bridge.problems() {
        tracing::warn!("configuration: {problem}");
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let function: Arc<str> = Arc::from(function);
    let bridge = Arc::new(Mutex::new(bridge));
    let bodies: Bodies = Arc::default();
    let taken = Arc::clone(&bodies);
    let handler = service_fn(move |event| {
        invocation(
            Arc::clone(&bridge),
            Arc::clone(&function),
            Arc::clone(&bodies),
            event,
        )
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // What `lambda_runtime::run` does, plus the layer taking each body
    // before the runtime reads it.
    runtime.block_on(
        Runtime::new(handler)
            .layer(TracingLayer::new())
            .layer(MapRequestLayer::new(move |invocation| {
                take_body(&taken, invocation)
            }))
            .run(),
    )
}

/// The bodies of the invocations being answered, by request id: put by
/// [`take_body`], taken by [`invocation`].
type Bodies = Arc<Mutex<HashMap<String, Bytes>>>;

/// Take an invocation's body out of `lambda_runtime`'s hands, leaving
/// `null` (the handler's payload, `()`) in its place.
///
/// `lambda_runtime` deserializes every body into the handler's payload type
/// and answers one that fails with a function error of its own, which Alexa
/// shows as "device is not responding" and which leaves no lee log or
/// metrics line; with trace logging on, a body that is not UTF-8 even ends
/// the process, the invocation unanswered. A `null` always deserializes, so
/// the handler always runs and gets the bytes as Lambda delivered them
/// (all of them: `RawValue` silently dropped whatever followed the first
/// JSON value), and the runtime's trace line of the raw event shows `null`,
/// never the payload or its token.
fn take_body(
    bodies: &Mutex<HashMap<String, Bytes>>,
    mut invocation: LambdaInvocation,
) -> LambdaInvocation {
    let body = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
    bodies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(invocation.context.request_id.clone(), body);
    invocation
}

/// Answer one invocation.
async fn invocation(
    bridge: Arc<Mutex<Bridge>>,
    function: Arc<str>,
    bodies: Bodies,
    event: LambdaEvent<()>,
) -> Result<Box<RawValue>, Error> {
    let deadline = event.context.deadline;
    let request_id = event.context.request_id;
    let payload = bodies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&request_id)
        .ok_or_else(|| Error::from("lee lost the body of this invocation"))?;
    let answer = tokio::task::spawn_blocking(move || {
        let span = tracing::info_span!("invocation", request_id = %request_id);
        let _entered = span.enter();
        // A panic while answering would poison the lock; the bridge's state
        // stays valid (every answer starts afresh), so carry on with it.
        let mut bridge = bridge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Read the time left at the last moment before the bridge, which
        // anchors every budget of the event on it: the thread hand-over and
        // the lock above are not counted as time the event still has.
        let remaining = remaining_time(deadline);
        let answer = String::from_utf8_lossy(bridge.handle(&payload, remaining).body).into_owned();
        if let Some(mut line) = bridge.metrics_line(&function, Some(&request_id)) {
            line.push('\n');
            // A metrics line that cannot be written is lost; the answer is not.
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        answer
    })
    .await?;
    Ok(RawValue::from_string(answer)?)
}

/// Time left until the invocation's deadline (milliseconds since the epoch).
///
/// Local emulators send placeholders instead of a timestamp (@vercel/fun
/// sends 5000, cargo-lambda 600000): a deadline before the year 2000 is not
/// a deadline, so the answer falls back to Alexa's own 8 s limit.
fn remaining_time(deadline_ms: u64) -> Option<Duration> {
    const YEAR_2000_MS: u64 = 946_684_800_000;
    if deadline_ms < YEAR_2000_MS {
        return None;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(Duration::from_millis(deadline_ms).saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_time_counts_down_to_the_deadline() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let in_five = (now + Duration::from_secs(5)).as_millis() as u64;
        let left = remaining_time(in_five).unwrap();
        assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
        let a_minute_ago = (now - Duration::from_secs(60)).as_millis() as u64;
        assert_eq!(remaining_time(a_minute_ago), Some(Duration::ZERO));
    }

    #[test]
    fn emulator_placeholders_are_no_deadline() {
        for placeholder in [0, 5_000, 600_000] {
            assert_eq!(remaining_time(placeholder), None, "{placeholder}");
        }
    }
}
