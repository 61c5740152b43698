//! What lee does to a large Home Assistant answer: a Discovery of 53
//! endpoints (about 66 KB) passed through the core bridge
//! (`lee_core::bridge::HomeAssistant::answer`) from an in-memory transport, so the
//! time is lee's alone: classify the directive, unescape its token, ask the
//! breaker and the retry plan, check the answer as one complete JSON object
//! with an `event` (bounded depth, no recursion), and pass it through
//! byte for byte.
//!
//! The body is Home Assistant's real one when the harness of `../shared/ha`
//! runs (fetched once at start with a Discovery directive, as the tests do;
//! never stored), else a synthetic one of the same endpoint count and about
//! the same size, built from the embedded demo home's answer (its endpoints
//! repeated with distinct endpointIds). The first line of output says which
//! was used and why; `LEE_DISCOVERY_SOURCE=synthetic` picks the synthetic
//! one anyway.
//!
//! - `bridge/discovery_53_endpoints_check_and_pass_through`: the transport
//!   leaves the body where an earlier read put it, in lee's answer buffer;
//!   what remains is exactly lee's work.
//! - `bridge/discovery_53_endpoints_with_transport_copy`: the transport
//!   copies the body into the buffer first, as a real one reads into it.
//! - `bridge/discovery_53_endpoints_json_check_alone`: only the JSON check
//!   (`lee_core::json::check`), the bulk of lee's work.
//!
//! The Discovery guard (`lee_core::discovery::check`, repair mode, the
//! default priority, its tracked memory lent once for the whole 1 MiB answer
//! buffer, findings handed to a callback that does not format them), on
//! answers made of that body's endpoints, byte for byte, copies numbered in
//! their endpointId and friendlyName. Each iteration copies the answer into the buffer first (the
//! guard cuts in place); `copy_*` measures that copy alone, to subtract:
//!
//! - `discovery_guard/53_endpoints_in_place`: the body itself, all accepted,
//!   left unchanged, so no copy is needed: the guard's whole cost, which
//!   must stay under 0.1 ms (about the JSON check's own cost, measured in
//!   the same run by `bridge/discovery_53_endpoints_json_check_alone`);
//! - `discovery_guard/53_endpoints`, `/53_endpoints_3_broken`: the same with
//!   the copy, and with three endpoints nameless, so three are cut out;
//! - `discovery_guard/400_endpoints_100_past_limit`: 400 accepted, so 100
//!   past Alexa's 300 are ranked by priority and cut out;
//! - `discovery_guard/400_endpoints_40_broken_60_past_limit`: every tenth
//!   nameless, then 60 past the limit;
//! - `discovery_guard/copy_53_endpoints`, `/copy_400_endpoints`.
//!
//! `cargo bench -p lee-bench --bench discovery` (criterion); add
//! `-- discovery_guard/` for the guard alone.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lee_bench::{TOKEN, discovery_directive};
use lee_core::breaker::{Breaker, BreakerConfig};
use lee_core::bridge::{
    ANSWER_MAX_DEPTH, Answered, Context, HaAnswer, HomeAssistant, RestRequest, Settings, Tally,
    Timeouts, Transport,
};
use lee_core::budget::Capacities;
use lee_core::discovery::{self, DEFAULT_PRIORITY, Mode, Priority, Tracked, Verdict, tracked_for};
use lee_core::json::read::{self, Span};
use lee_core::retry::{Failure, SplitMix64};
use lee_core::time::{Clock, Instant};
use lee_demo::DemoHome;
use lee_testkit::RealHa;
use serde_json::Value;

/// Endpoints in the harness's Discovery answer, and in the synthetic one.
const ENDPOINTS: usize = 53;

/// Where the Discovery body came from.
struct Body {
    bytes: Vec<u8>,
    endpoints: usize,
    source: String,
}

/// The endpoints of a Discover.Response, or why it is not one.
fn endpoints(body: &[u8]) -> Result<Vec<Value>, String> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    match (
        answer["event"]["header"]["name"].as_str(),
        answer["event"]["payload"]["endpoints"].as_array(),
    ) {
        (Some("Discover.Response"), Some(endpoints)) => Ok(endpoints.clone()),
        _ => Err("the answer is not a Discover.Response".into()),
    }
}

/// Home Assistant's own answer to a Discovery, from the harness.
fn from_real_ha() -> Result<Body, String> {
    let ha = RealHa::locate().ok_or(
        "no Home Assistant harness (../shared/ha/start.sh writes its env file)".to_string(),
    )?;
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut response = agent
        .post(format!("{}/api/alexa/smart_home", ha.url))
        .header("Authorization", format!("Bearer {}", ha.token))
        .header("Content-Type", "application/json")
        .send(&discovery_directive(&ha.token)[..])
        .map_err(|e| format!("Home Assistant at {} did not answer: {e}", ha.url))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!(
            "Home Assistant at {} answered HTTP {status}",
            ha.url
        ));
    }
    let bytes = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| format!("reading Home Assistant's answer failed: {e}"))?;
    let endpoints = endpoints(&bytes)?.len();
    Ok(Body {
        bytes,
        endpoints,
        source: format!("the real Home Assistant at {}", ha.url),
    })
}

/// Bytes of the harness's Discovery answer (Home Assistant 2024.3.3, 53
/// endpoints), which the synthetic one approximates.
const HARNESS_BYTES: usize = 66_159;

/// A Discover.Response of [`ENDPOINTS`] endpoints and about
/// [`HARNESS_BYTES`]: the demo home's own answer, its six endpoints followed
/// by copies of its light and thermostat, alternately, with distinct
/// endpointIds and names. Those two are the demo's largest endpoints, about
/// the size of the harness's average one (its covers, fans and media players,
/// which the demo does not model, make up for its smaller devices).
fn synthetic(why: &str) -> Body {
    let mut home = DemoHome::with_clock(1, || "2024-03-20T10:00:00Z".to_string());
    let mut buf = vec![0u8; Capacities::STANDARD.response_buffer];
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        total: Duration::from_millis(7_500),
    };
    let answer = home
        .post_directive(&discovery_directive(TOKEN), TOKEN, timeouts, &mut buf)
        .expect("the demo home answers");
    assert_eq!(answer.status, 200);
    let mut root: Value = serde_json::from_slice(&buf[..answer.len]).expect("JSON");
    let demo = endpoints(&buf[..answer.len]).expect("a Discover.Response");
    let large: Vec<&Value> = ["light#living_room", "climate#hallway"]
        .iter()
        .map(|id| {
            demo.iter()
                .find(|e| e["endpointId"] == *id)
                .expect("the demo home has it")
        })
        .collect();
    let mut all = demo.clone();
    for i in 0..ENDPOINTS - demo.len() {
        let mut endpoint = large[i % large.len()].clone();
        let copy = i / large.len() + 2;
        for (field, sep) in [("endpointId", "_"), ("friendlyName", " ")] {
            let text = endpoint[field].as_str().expect("a string").to_string();
            endpoint[field] = format!("{text}{sep}{copy}").into();
        }
        all.push(endpoint);
    }
    root["event"]["payload"]["endpoints"] = Value::Array(all);
    let bytes = serde_json::to_vec(&root).expect("JSON");
    let percent = bytes.len() * 100 / HARNESS_BYTES;
    Body {
        bytes,
        endpoints: ENDPOINTS,
        source: format!(
            "synthetic: the demo home's {} endpoints and copies of its light and thermostat, \
             {percent} % of the harness's {HARNESS_BYTES} bytes ({why})",
            demo.len()
        ),
    }
}

/// The body to benchmark with, and where it came from: fetched or built
/// once per run, its source printed then.
fn discovery_body() -> &'static Body {
    static BODY: OnceLock<Body> = OnceLock::new();
    BODY.get_or_init(|| {
        let body = if std::env::var("LEE_DISCOVERY_SOURCE").as_deref() == Ok("synthetic") {
            synthetic("LEE_DISCOVERY_SOURCE=synthetic")
        } else {
            from_real_ha().unwrap_or_else(|why| synthetic(&why))
        };
        println!(
            "Discovery body: {} bytes, {} endpoints, from {}",
            body.bytes.len(),
            body.endpoints,
            body.source
        );
        body
    })
}

/// Home Assistant as a buffer: answers every directive 200 with `body`.
struct CannedHa<'a> {
    body: &'a [u8],
    /// Copy the body into lee's buffer (as a real transport reads into it),
    /// or leave what an earlier answer put there.
    copy: bool,
}

impl Transport for CannedHa<'_> {
    fn post_directive(
        &mut self,
        _event: &[u8],
        _token: &str,
        _timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        if self.copy {
            body.get_mut(..self.body.len())
                .ok_or(Failure::ResponseTooLarge)?
                .copy_from_slice(self.body);
        }
        Ok(HaAnswer {
            status: 200,
            len: self.body.len(),
        })
    }

    fn wait_until(&mut self, _until: Instant) {}

    fn rest(
        &mut self,
        _request: &RestRequest<'_>,
        _timeouts: Timeouts,
        _body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        Err(Failure::SendFailed)
    }
}

/// A clock that stands still: Home Assistant answers in no time here.
struct StillClock;

impl Clock for StillClock {
    fn now(&self) -> Instant {
        Instant::from_millis(3_600_000)
    }
}

/// One pass of the Discovery through the bridge; the answer's length.
fn answer(
    bridge: &mut HomeAssistant,
    event: &[u8],
    ha: &mut CannedHa<'_>,
    out: &mut [u8],
) -> usize {
    let mut token_buf = [0u8; 256];
    let mut tally = Tally::default();
    let deadline = bridge.settings.deadline(StillClock.now(), None);
    let (len, answered) = bridge
        .answer(
            event,
            deadline,
            Context {
                transport: ha,
                clock: &StillClock,
                jitter: &mut SplitMix64::new(1),
                message_id: [7; 16],
                debug_token: None,
                token_buf: &mut token_buf,
            },
            out,
            &mut tally,
        )
        .expect("the answer buffer is large enough");
    assert_eq!(answered, Answered::PassedThrough);
    len
}

fn discovery_pass_through(c: &mut Criterion) {
    let body = discovery_body();
    let n = body.endpoints;
    let event = discovery_directive(TOKEN);
    let mut bridge = HomeAssistant {
        settings: Settings::DEFAULT,
        breaker: Breaker::new(BreakerConfig::DEFAULT),
    };
    let mut out = vec![0u8; Capacities::STANDARD.response_buffer];
    let len = body.bytes.len();

    // Once with the copy: the answer must be the body, byte for byte.
    let mut copying = CannedHa {
        body: &body.bytes,
        copy: true,
    };
    assert_eq!(answer(&mut bridge, &event, &mut copying, &mut out), len);
    assert_eq!(&out[..len], &body.bytes[..], "passed through unchanged");

    let mut group = c.benchmark_group("bridge");
    group.throughput(Throughput::Bytes(len as u64));
    let mut in_place = CannedHa {
        body: &body.bytes,
        copy: false,
    };
    group.bench_function(
        format!("discovery_{n}_endpoints_check_and_pass_through"),
        |b| b.iter(|| answer(&mut bridge, black_box(&event), &mut in_place, &mut out)),
    );
    assert_eq!(&out[..len], &body.bytes[..], "still the body");
    group.bench_function(
        format!("discovery_{n}_endpoints_with_transport_copy"),
        |b| b.iter(|| answer(&mut bridge, black_box(&event), &mut copying, &mut out)),
    );
    group.bench_function(format!("discovery_{n}_endpoints_json_check_alone"), |b| {
        b.iter(|| {
            let mut has_event = false;
            lee_core::json::check(black_box(&body.bytes), ANSWER_MAX_DEPTH, |key| {
                has_event |= key == b"event"
            })
            .map(|()| has_event)
        })
    });
    group.finish();
    assert_eq!(bridge.breaker.stats().failures, 0);
}

/// A Discover.Response of `count` endpoints made of `body`'s, in order and
/// then again: each copy is the endpoint's bytes with `_k` after its
/// endpointId and ` k` after its friendlyName (copy `k`, from 1; the
/// originals are unchanged). Every endpoint whose place in the new list
/// (from 0) `broken` says is given an empty friendlyName, which Alexa
/// refuses. Everything around the list is `body`'s.
fn answer_of(body: &[u8], count: usize, broken: impl Fn(usize) -> bool) -> Vec<u8> {
    let root = read::root(body);
    let list = read::at(body, root, &["event", "payload", "endpoints"]).expect("a list");
    let endpoints: Vec<Span> = read::items(body, list).collect();
    let mut out = body[..=list.start].to_vec();
    for i in 0..count {
        let endpoint = endpoints[i % endpoints.len()];
        let copy = i / endpoints.len();
        if i > 0 {
            out.push(b',');
        }
        let text = |key| read::member(body, endpoint, key).expect("a Home Assistant endpoint");
        // Each string's span, whether it is the name, and its copy's suffix.
        let mut edits = [
            (text("endpointId"), false, '_'),
            (text("friendlyName"), true, ' '),
        ];
        edits.sort_by_key(|(span, _, _)| span.start);
        let mut at = endpoint.start;
        for (span, is_name, separator) in edits {
            out.extend_from_slice(&body[at..span.start]);
            if is_name && broken(i) {
                out.extend_from_slice(b"\"\"");
            } else {
                out.extend_from_slice(&body[span.start..span.end - 1]);
                if copy > 0 {
                    out.extend_from_slice(format!("{separator}{copy}").as_bytes());
                }
                out.push(b'"');
            }
            at = span.end;
        }
        out.extend_from_slice(&body[at..endpoint.end]);
    }
    out.extend_from_slice(&body[list.end - 1..]);
    out
}

fn discovery_guard(c: &mut Criterion) {
    let body = &discovery_body().bytes;
    let n = discovery_body().endpoints;
    let mut buf = vec![0u8; Capacities::STANDARD.response_buffer];
    let mut tracked = vec![Tracked::EMPTY; tracked_for(buf.len())];
    let priority = Priority::parse(DEFAULT_PRIORITY).expect("lee's default");
    let cases = [
        (format!("{n}_endpoints"), answer_of(body, n, |_| false)),
        (
            format!("{n}_endpoints_3_broken"),
            answer_of(body, n, |i| i % 20 == 5),
        ),
        (
            "400_endpoints_100_past_limit".to_string(),
            answer_of(body, 400, |_| false),
        ),
        (
            "400_endpoints_40_broken_60_past_limit".to_string(),
            answer_of(body, 400, |i| i % 10 == 3),
        ),
    ];
    assert_eq!(cases[0].1, *body, "the body's own endpoints, byte for byte");

    // Once each, outside the measure: what the guard makes of the answer.
    let mut guard = |answer: &[u8], buf: &mut [u8]| {
        buf[..answer.len()].copy_from_slice(answer);
        let mut findings = 0usize;
        let verdict = discovery::check(
            buf,
            answer.len(),
            Mode::Repair,
            &priority,
            &mut tracked,
            &mut |_| findings += 1,
        );
        (verdict, findings)
    };
    for (name, answer) in &cases {
        let (verdict, findings) = guard(answer, &mut buf);
        let Verdict::Checked(s) = verdict else {
            panic!("{name}: {verdict:?}");
        };
        println!(
            "{name}: {} bytes, {} endpoints, {} broken, {} past the limit, {} left out, \
             {} repeated names, {findings} findings; {} bytes after",
            answer.len(),
            s.endpoints,
            s.broken,
            s.past_limit,
            s.left_out,
            s.repeated_names,
            s.len
        );
        assert!(s.acceptable(), "{name}");
    }

    let mut group = c.benchmark_group("discovery_guard");
    // The body as Home Assistant sent it, all accepted: left unchanged in
    // the buffer, so each iteration guards the same bytes with no copy.
    buf[..body.len()].copy_from_slice(body);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("{n}_endpoints_in_place"), |b| {
        b.iter(|| {
            discovery::check(
                &mut buf,
                black_box(body.len()),
                Mode::Repair,
                &priority,
                &mut tracked,
                &mut |f| {
                    black_box(f);
                },
            )
        })
    });
    assert_eq!(&buf[..body.len()], &body[..], "left unchanged");
    for (name, answer) in &cases {
        group.throughput(Throughput::Bytes(answer.len() as u64));
        group.bench_function(name.as_str(), |b| {
            b.iter(|| {
                buf[..answer.len()].copy_from_slice(black_box(answer));
                discovery::check(
                    &mut buf,
                    answer.len(),
                    Mode::Repair,
                    &priority,
                    &mut tracked,
                    &mut |f| {
                        black_box(f);
                    },
                )
            })
        });
    }
    for (name, answer) in [&cases[0], &cases[2]] {
        let endpoints = name.split('_').next().expect("a count");
        group.throughput(Throughput::Bytes(answer.len() as u64));
        group.bench_function(format!("copy_{endpoints}_endpoints"), |b| {
            b.iter(|| {
                buf[..answer.len()].copy_from_slice(black_box(answer));
                black_box(&mut buf);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, discovery_pass_through, discovery_guard);
criterion_main!(benches);
