//! lee's logs as a test sees them: every line captured ([`capture_logs`]),
//! and a metrics line checked against CloudWatch's Embedded Metric Format
//! ([`check_emf`]).

use serde_json::Value;

/// Run `f` with lee's JSON log layer capturing every line at every level
/// (trace included) on this thread; the lines, in order.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    lee_host::logging::capture(f)
}

/// Check one log line against CloudWatch's Embedded Metric Format
/// specification
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
/// the root is a JSON object with an `_aws` object holding a numeric
/// `Timestamp` (ms since the epoch) and a `CloudWatchMetrics` array of
/// MetricDirectives; each directive has exactly `Namespace` (1–255
/// characters), `Dimensions` (an array of dimension sets, each an array of
/// at most 30 unique names) and `Metrics` (at most 100 MetricDefinitions of
/// `Name`, optional `Unit` from CloudWatch's list, optional
/// `StorageResolution` 1 or 60); every dimension named is a root member with
/// a string value of 1–1024 characters; every metric named is a root member
/// holding a number or an array of at most 100 numbers. Returns every
/// violation found.
pub fn check_emf(line: &str) -> Result<(), Vec<String>> {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let mut problems = Vec::new();
    let root: Value = match serde_json::from_str(line) {
        Ok(Value::Object(root)) => Value::Object(root),
        _ => return Err(vec!["the line is not one JSON object".into()]),
    };
    let aws = &root["_aws"];
    if !aws.is_object() {
        return Err(vec!["no _aws object".into()]);
    }
    if !aws["Timestamp"].is_u64() {
        problems.push("_aws.Timestamp is not a whole number of milliseconds".into());
    }
    let Some(directives) = aws["CloudWatchMetrics"].as_array() else {
        return Err(vec!["_aws.CloudWatchMetrics is not an array".into()]);
    };
    for (d, directive) in directives.iter().enumerate() {
        let Some(members) = directive.as_object() else {
            problems.push(format!("directive {d} is not an object"));
            continue;
        };
        for key in members.keys() {
            if !["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()) {
                problems.push(format!("directive {d} has the extra member {key}"));
            }
        }
        match directive["Namespace"].as_str() {
            Some(ns) if (1..=255).contains(&ns.chars().count()) => {}
            _ => problems.push(format!("directive {d}: Namespace must be 1-255 characters")),
        }
        match directive["Dimensions"].as_array() {
            None => problems.push(format!("directive {d}: Dimensions is not an array")),
            Some(sets) => {
                for set in sets {
                    let Some(names) = set.as_array() else {
                        problems.push(format!("directive {d}: a dimension set is not an array"));
                        continue;
                    };
                    if names.len() > 30 {
                        problems.push(format!("directive {d}: more than 30 dimensions"));
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    for name in names {
                        let Some(name) = name.as_str() else {
                            problems.push(format!("directive {d}: a dimension is not a string"));
                            continue;
                        };
                        if !seen.insert(name) {
                            problems.push(format!("directive {d}: dimension {name} repeated"));
                        }
                        match root[name].as_str() {
                            Some(v) if (1..=1024).contains(&v.chars().count()) => {}
                            _ => problems.push(format!(
                                "dimension {name} has no string value of 1-1024 characters"
                            )),
                        }
                    }
                }
            }
        }
        match directive["Metrics"].as_array() {
            None => problems.push(format!("directive {d}: Metrics is not an array")),
            Some(metrics) if metrics.len() > 100 => {
                problems.push(format!("directive {d}: more than 100 metrics"));
            }
            Some(metrics) => {
                for metric in metrics {
                    let Some(name) = metric["Name"]
                        .as_str()
                        .filter(|n| (1..=255).contains(&n.len()))
                    else {
                        problems.push(format!("directive {d}: a metric has no Name"));
                        continue;
                    };
                    if let Some(unit) = metric.get("Unit")
                        && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
                    {
                        problems.push(format!("metric {name}: unit {unit} is not CloudWatch's"));
                    }
                    if let Some(resolution) = metric.get("StorageResolution")
                        && resolution != 1
                        && resolution != 60
                    {
                        problems.push(format!("metric {name}: StorageResolution must be 1 or 60"));
                    }
                    let value = &root[name];
                    let ok = value.is_number()
                        || value
                            .as_array()
                            .is_some_and(|v| v.len() <= 100 && v.iter().all(Value::is_number));
                    if !ok {
                        problems.push(format!("metric {name} has no numeric value"));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
