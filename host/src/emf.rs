//! One CloudWatch Embedded Metric Format (EMF) line per invocation.
//!
//! What it is for: metrics without a CloudWatch API call (and without its
//! cost or latency): the Lambda writes this JSON object as one line of its
//! log, and CloudWatch Logs turns its members into metrics
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//! `METRICS=off` turns it off.
//!
//! Eleven metric names, in the namespace `lee`, under the dimension
//! `FunctionName` (`Errors` is kept per Alexa error type). CloudWatch's free
//! tier has ten custom metrics; the two Discovery metrics are written only
//! for a Discovery, and a deployment that needs to stay within ten can turn
//! all of them off with `METRICS=off`:
//!
//! | metric | unit | written when |
//! |---|---|---|
//! | `Directives` | Count | always (1 for an Alexa directive, else 0) |
//! | `Errors` | Count | the answer was an error, with the dimension `ErrorType` |
//! | `Duration` | Milliseconds | always: event bytes in to answer bytes out |
//! | `HaLatency` | Milliseconds | the event waited on Home Assistant |
//! | `CacheHitRatio` | Percent | the event read the cache (the average over events is the hit ratio) |
//! | `BreakerOpens` | Count | always |
//! | `SlotLoads`, `SlotUnloads` | Count | always (LUGS) |
//! | `MemoryHighWater` | Bytes | the process's peak resident memory is known |
//! | `DiscoveryEndpoints` | Count | a Discovery the guard checked: the endpoints Home Assistant sent |
//! | `DiscoveryDropped` | Count | the same Discovery: the endpoints left out (`DISCOVERY_GUARD=repair`) |

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::Invocation;

/// The metrics' namespace.
pub const NAMESPACE: &str = "lee";

/// Every metric name lee writes.
pub const METRIC_NAMES: [&str; 11] = [
    "Directives",
    "Errors",
    "Duration",
    "HaLatency",
    "CacheHitRatio",
    "BreakerOpens",
    "SlotLoads",
    "SlotUnloads",
    "MemoryHighWater",
    "DiscoveryEndpoints",
    "DiscoveryDropped",
];

/// The EMF line of one invocation (no trailing newline). `function` is the
/// function's name (`AWS_LAMBDA_FUNCTION_NAME`), `request_id` the Lambda
/// request id (a plain member, for finding the invocation's logs),
/// `memory_high_water` the process's peak RSS in bytes.
pub fn line(
    invocation: &Invocation,
    function: &str,
    request_id: Option<&str>,
    memory_high_water: Option<u64>,
    at: SystemTime,
) -> String {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let mut members = Map::new();
    let mut metrics = Vec::new();
    let mut metric = |name: &str, unit: &str, value: Value| {
        metrics.push(json!({ "Name": name, "Unit": unit }));
        members.insert(name.to_string(), value);
    };
    metric("Directives", "Count", json!(u8::from(invocation.directive)));
    metric("Duration", "Milliseconds", json!(ms(invocation.duration)));
    if invocation.ha_requests > 0 {
        metric("HaLatency", "Milliseconds", json!(ms(invocation.ha_time)));
    }
    let reads = invocation.cache_hits + invocation.cache_misses;
    if reads > 0 {
        let ratio = invocation.cache_hits as f64 * 100.0 / reads as f64;
        metric(
            "CacheHitRatio",
            "Percent",
            json!((ratio * 10.0).round() / 10.0),
        );
    }
    metric("BreakerOpens", "Count", json!(invocation.breaker_opens));
    metric("SlotLoads", "Count", json!(invocation.slot_loads));
    metric("SlotUnloads", "Count", json!(invocation.slot_unloads));
    if let Some(bytes) = memory_high_water {
        metric("MemoryHighWater", "Bytes", json!(bytes));
    }
    if let Some((endpoints, dropped)) = invocation.discovery {
        metric("DiscoveryEndpoints", "Count", json!(endpoints));
        metric("DiscoveryDropped", "Count", json!(dropped));
    }
    let mut directives = vec![json!({
        "Namespace": NAMESPACE,
        "Dimensions": [["FunctionName"]],
        "Metrics": metrics,
    })];
    if let Some(error) = invocation.error {
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["FunctionName", "ErrorType"]],
            "Metrics": [{ "Name": "Errors", "Unit": "Count" }],
        }));
        members.insert("Errors".into(), json!(1));
        members.insert("ErrorType".into(), json!(error));
    }
    let timestamp = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    members.insert(
        "_aws".into(),
        json!({ "Timestamp": timestamp, "CloudWatchMetrics": directives }),
    );
    members.insert(
        "FunctionName".into(),
        json!(if function.is_empty() { "lee" } else { function }),
    );
    members.insert("kind".into(), json!(invocation.kind));
    if let Some(id) = request_id {
        members.insert("request_id".into(), json!(id));
    }
    Value::Object(members).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_directive_that_failed_has_its_error_type_as_a_dimension() {
        let invocation = Invocation {
            kind: "directive",
            directive: true,
            error: Some("BRIDGE_UNREACHABLE"),
            duration: Duration::from_micros(1500),
            ha_requests: 3,
            ha_time: Duration::from_millis(1),
            ..Invocation::default()
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_795_874_709_123);
        let line: Value = serde_json::from_str(&line(
            &invocation,
            "lee-prod",
            Some("r-1"),
            Some(9 << 20),
            at,
        ))
        .unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 1_795_874_709_123u64);
        assert_eq!(line["FunctionName"], "lee-prod");
        assert_eq!(line["ErrorType"], "BRIDGE_UNREACHABLE");
        assert_eq!(line["Errors"], 1);
        assert_eq!(line["Directives"], 1);
        assert_eq!(line["Duration"], 1.5);
        assert_eq!(line["HaLatency"], 1.0);
        assert_eq!(line["MemoryHighWater"], 9 << 20);
        assert!(
            line.get("CacheHitRatio").is_none(),
            "no cache read, no ratio"
        );
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[1]["Dimensions"][0][1], "ErrorType");
    }

    #[test]
    fn every_name_written_is_one_of_the_eleven() {
        let invocation = Invocation {
            kind: "op",
            discovery: Some((330, 30)),
            cache_hits: 1,
            cache_misses: 2,
            ha_requests: 1,
            error: Some("OP_ERROR"),
            ..Invocation::default()
        };
        let line: Value =
            serde_json::from_str(&line(&invocation, "", None, Some(1), SystemTime::now())).unwrap();
        assert_eq!(line["CacheHitRatio"], 33.3);
        assert_eq!(line["FunctionName"], "lee");
        assert_eq!(line["DiscoveryEndpoints"], 330);
        assert_eq!(line["DiscoveryDropped"], 30);
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(METRIC_NAMES.contains(&name), "{name}");
            }
        }
    }
}
