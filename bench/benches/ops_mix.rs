//! The cache-hit ratio of engine ops under a mixed workload against the real
//! Home Assistant of `../shared/ha`, and each op's median time.
//!
//! The mix, one op every `LEE_MIX_GAP_MS` (default 20 ms, so entries live
//! through several ops of their 5 s TTL but not forever): 40 % `ha.state` of
//! eight popular entities, 15 % `ha.states` of a domain, 10 % `ha.find`,
//! 10 % `ha.health`, 25 % `ha.call_service` toggling a helper (which drops
//! its cached state). The ratio is lee's own count of reads answered from
//! the cache over all reads (`cache_hits / (cache_hits + cache_misses)` in
//! the diagnostics). The order is a fixed pseudo-random sequence, so runs
//! compare.
//!
//! `cargo bench -p lee-bench --bench ops_mix` (ops: `LEE_MIX_OPS`, default
//! 1000). Skips without a running harness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lee_core::budget::Capacities;
use lee_core::retry::{JitterSource, SplitMix64};
use lee_testkit::{RealHa, bridge_sized};
use serde_json::{Value, json};

fn main() {
    let Some(ha) = RealHa::from_env() else { return };
    let env_number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let ops = env_number("LEE_MIX_OPS", 1000);
    let gap = Duration::from_millis(env_number("LEE_MIX_GAP_MS", 20));
    let mut bridge = bridge_sized(
        &[("BASE_URL", &ha.url), ("HA_TOKEN", &ha.token)],
        Capacities::STANDARD,
    );
    let popular = [
        "light.bed_light",
        "light.kitchen_lights",
        "switch.ac",
        "lock.front_door",
        "climate.hvac",
        "sensor.outside_temperature",
        "input_number.harness_level",
        "cover.kitchen_window",
    ];
    let domains = ["light", "switch", "sensor", "input_boolean"];
    let names = ["kitchen lite", "front dore", "bed light", "ac"];
    let mut rng = SplitMix64::new(2026);
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut flag = false;
    for _ in 0..ops {
        let roll = rng.next_u32() % 100;
        let pick = |n: usize, r: &mut SplitMix64| r.next_u32() as usize % n;
        let (name, op) = match roll {
            0..40 => (
                "ha.state",
                json!({"op": "ha.state", "entity_id": popular[pick(popular.len(), &mut rng)]}),
            ),
            40..55 => (
                "ha.states",
                json!({"op": "ha.states", "domain": domains[pick(domains.len(), &mut rng)]}),
            ),
            55..65 => (
                "ha.find",
                json!({"op": "ha.find", "name": names[pick(names.len(), &mut rng)]}),
            ),
            65..75 => ("ha.health", json!({"op": "ha.health"})),
            _ => {
                flag = !flag;
                let service = if flag { "turn_on" } else { "turn_off" };
                (
                    "ha.call_service",
                    json!({"op": "ha.call_service", "domain": "input_boolean", "service": service, "entity_id": "input_boolean.harness_flag"}),
                )
            }
        };
        let event = serde_json::to_vec(&op).unwrap();
        let started = Instant::now();
        let handled = bridge.handle(&event, None);
        let took = started.elapsed();
        let answer: Value = serde_json::from_slice(handled.body).unwrap();
        assert_eq!(answer["ok"], true, "{op}: {answer}");
        times.entry(name).or_default().push(took);
        std::thread::sleep(gap);
    }
    let report: Value =
        serde_json::from_slice(bridge.handle(br#"{"diagnostics": true}"#, None).body).unwrap();
    let counters = &report["metrics"]["counters"];
    let hits = counters["cache_hits"].as_u64().unwrap();
    let misses = counters["cache_misses"].as_u64().unwrap();
    println!("{ops} ops, one every {} ms", gap.as_millis());
    println!(
        "reads from the cache: {hits} of {} = {:.1} %",
        hits + misses,
        100.0 * hits as f64 / (hits + misses).max(1) as f64
    );
    println!("{:<18} {:>6} {:>12}", "op", "count", "median µs");
    for (name, mut samples) in times {
        samples.sort();
        println!(
            "{name:<18} {:>6} {:>12.1}",
            samples.len(),
            samples[samples.len() / 2].as_secs_f64() * 1e6
        );
    }
}
