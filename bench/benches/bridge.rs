//! What lee adds to one directive over a direct keep-alive HTTP call to the
//! real Home Assistant of `../shared/ha`: each group times the same directive
//! sent straight to Home Assistant and sent through lee's bridge, so the
//! difference of the medians is lee's cost. Skips without a running harness.

use criterion::{Criterion, criterion_group, criterion_main};
use lee_core::bridge::Answered;
use lee_core::budget::Capacities;
use lee_host::Bridge;
use lee_host::config::{BaseUrl, Config};
use lee_integration_tests::{RealHa, directive};
use serde_json::json;

fn bridge_overhead(c: &mut Criterion) {
    let Some(ha) = RealHa::from_env() else { return };
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let endpoint = format!("{}/api/alexa/smart_home", ha.url);
    let config = Config {
        base_url: Some(BaseUrl::parse(&ha.url).expect("harness URL")),
        ..Config::default()
    };
    let mut bridge = Bridge::new(config, Vec::new(), Capacities::STANDARD).expect("bridge");
    let directives = [
        (
            "turn_on_switch",
            directive(
                "Alexa.PowerController",
                "TurnOn",
                Some("switch#decorative_lights"),
                json!({}),
                &ha.token,
            ),
        ),
        (
            "report_state_light",
            directive(
                "Alexa",
                "ReportState",
                Some("light#bed_light"),
                json!({}),
                &ha.token,
            ),
        ),
        (
            "discovery_53_endpoints",
            directive("Alexa.Discovery", "Discover", None, json!({}), &ha.token),
        ),
    ];
    let bearer = format!("Bearer {}", ha.token);
    for (name, event) in &directives {
        let mut group = c.benchmark_group(*name);
        group.bench_function("direct_http_to_ha", |b| {
            b.iter(|| {
                let mut response = agent
                    .post(&endpoint)
                    .header("Authorization", &bearer)
                    .header("Content-Type", "application/json")
                    .send(&event[..])
                    .expect("HA answers");
                response.body_mut().read_to_vec().expect("body")
            })
        });
        group.bench_function("through_lee", |b| {
            b.iter(|| {
                let answer = bridge.answer(event, None);
                assert_eq!(answer.outcome, Answered::PassedThrough);
                answer.body.len()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bridge_overhead);
criterion_main!(benches);
