//! What lee adds to one directive over a direct keep-alive HTTP call to the
//! real Home Assistant of `../shared/ha`.
//!
//! Home Assistant's own time drifts by more than lee's cost from one second
//! to the next, so timing the two paths in separate blocks (as criterion
//! does) measures the drift, not lee. This benchmark interleaves them: each
//! round sends the same directive once straight to Home Assistant and once
//! through lee's bridge (alternating which goes first), and reports the
//! medians of both and the median of the per-round difference.
//!
//! `cargo bench -p lee-bench --bench overhead` (rounds: `LEE_BENCH_ROUNDS`,
//! default 2000). Skips without a running harness.

use std::time::{Duration, Instant};

use lee_core::bridge::Answered;
use lee_core::budget::Capacities;
use lee_host::Bridge;
use lee_host::config::{BaseUrl, Config};
use lee_testkit::{RealHa, directive};
use serde_json::json;

fn main() {
    let Some(ha) = RealHa::from_env() else { return };
    let rounds: usize = std::env::var("LEE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2000);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let endpoint = format!("{}/api/alexa/smart_home", ha.url);
    let bearer = format!("Bearer {}", ha.token);
    let config = Config {
        base_url: Some(BaseUrl::parse(&ha.url).expect("harness URL")),
        ..Config::default()
    };
    let mut bridge = Bridge::new(config, Vec::new(), Capacities::STANDARD).expect("bridge");
    let direct = |event: &[u8]| {
        let mut response = agent
            .post(&endpoint)
            .header("Authorization", &bearer)
            .header("Content-Type", "application/json")
            .send(event)
            .expect("Home Assistant answers");
        response.body_mut().read_to_vec().expect("body").len()
    };
    let directives = [
        (
            "TurnOn switch",
            directive(
                "Alexa.PowerController",
                "TurnOn",
                Some("switch#decorative_lights"),
                json!({}),
                &ha.token,
            ),
        ),
        (
            "ReportState light",
            directive(
                "Alexa",
                "ReportState",
                Some("light#bed_light"),
                json!({}),
                &ha.token,
            ),
        ),
        (
            "Discovery, 53 endpoints",
            directive("Alexa.Discovery", "Discover", None, json!({}), &ha.token),
        ),
    ];
    println!("{rounds} interleaved rounds per directive; medians in microseconds");
    println!(
        "{:<26} {:>10} {:>10} {:>12} {:>12}",
        "directive", "direct", "lee", "lee adds", "p90 adds"
    );
    for (name, event) in &directives {
        let mut through_lee = |event: &[u8]| {
            let answer = bridge.answer(event, None);
            assert_eq!(answer.outcome, Answered::PassedThrough, "{name}");
            answer.body.len()
        };
        for _ in 0..rounds / 20 {
            direct(event);
            through_lee(event);
        }
        let (mut d, mut l, mut diff) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let time = |f: &mut dyn FnMut(&[u8]) -> usize| {
                let start = Instant::now();
                std::hint::black_box(f(event));
                start.elapsed()
            };
            let (td, tl) = if round % 2 == 0 {
                let td = time(&mut |e| direct(e));
                (td, time(&mut through_lee))
            } else {
                let tl = time(&mut through_lee);
                (time(&mut |e| direct(e)), tl)
            };
            d.push(td);
            l.push(tl);
            diff.push(tl.as_secs_f64() - td.as_secs_f64());
        }
        diff.sort_by(f64::total_cmp);
        println!(
            "{name:<26} {:>10.1} {:>10.1} {:>12.1} {:>12.1}",
            micros(median(&mut d)),
            micros(median(&mut l)),
            diff[diff.len() / 2] * 1e6,
            diff[diff.len() * 9 / 10] * 1e6,
        );
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
