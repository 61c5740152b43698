//! lee's own reports: health and diagnostics, as JSON.
//!
//! What it is for: letting a person (or a monitor) see how lee is doing
//! without reading logs. The health report says which lee this is, how it is
//! configured (never a secret's value: only whether it is set), whether Home
//! Assistant answers (checked at most every 30 s, see [`Reachability`]) and
//! the state of each breaker. The diagnostics report adds the engine's
//! insides: cache, module slots (LUGS) and metrics.
//!
//! Reports are rare, so they are built with serde_json on the heap; nothing
//! here runs on the path of a directive.

use std::time::Duration;

use lee_core::breaker::Breaker;
use lee_core::cache::CacheStats;
use lee_core::metrics::{Counter, Metrics, Timer};
use lee_core::retry::Failure;
use lee_core::slots::{Policy, PoolStats, SlotView};
use lee_core::time::Instant;
use serde_json::{Value, json};

use crate::config::{Config, Problem};

/// How long a reachability check stays fresh.
pub const REACHABILITY_TTL: Duration = Duration::from_secs(30);

/// The last check of whether Home Assistant answers `GET /api/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reachability {
    /// When it was checked.
    pub checked_at: Instant,
    /// HTTP status (any status means reachable), or why there was none.
    pub result: Result<u16, Failure>,
    /// How long the check took.
    pub took: Duration,
    /// Whether the check sent a token (the long-lived one), so that its
    /// status says whether the token is accepted.
    pub token_sent: bool,
    /// What `POST /api/alexa/smart_home` answered with no token: 404 when
    /// Home Assistant's `alexa: smart_home:` is not set up.
    pub smart_home: Option<u16>,
}

/// What the health report says when Home Assistant has no Alexa Smart Home API.
pub const NO_SMART_HOME: &str = "Home Assistant answers 404 for POST /api/alexa/smart_home: \
     its Alexa Smart Home integration is not set up, so every directive fails. Add \
     `alexa:` with `smart_home:` under it to configuration.yaml and restart Home Assistant";

impl Reachability {
    /// Whether it can still be reported at `now` without checking again.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.checked_at) < REACHABILITY_TTL
    }

    fn to_json(self, now: Instant) -> Value {
        let age = now.saturating_duration_since(self.checked_at);
        match self.result {
            Ok(status) => {
                let mut report = json!({
                    "reachable": true,
                    "status": status,
                    "latency_ms": millis(self.took),
                    "checked_ms_ago": age.as_millis() as u64,
                });
                if self.token_sent {
                    report["token_accepted"] = json!(!matches!(status, 401 | 403));
                } else {
                    report["token_accepted"] = Value::Null;
                    report["token"] = json!(
                        "no long-lived token is configured (LONG_LIVED_ACCESS_TOKEN), so this \
                         check sends none and cannot check one; that is fine: directives carry \
                         their own token from account linking"
                    );
                }
                if let Some(status) = self.smart_home {
                    report["alexa_smart_home"] = if status == 404 {
                        json!({ "status": 404, "set_up": false, "problem": NO_SMART_HOME })
                    } else {
                        json!({ "status": status, "set_up": true })
                    };
                }
                report
            }
            Err(failure) => json!({
                "reachable": false,
                "error": failure.to_string(),
                "latency_ms": millis(self.took),
                "checked_ms_ago": age.as_millis() as u64,
            }),
        }
    }
}

/// What a report shows of the configuration: every setting, no secret.
pub fn config_summary(config: &Config, problems: &[Problem], demo: bool) -> Value {
    let set = |present: bool| if present { "set" } else { "not set" };
    json!({
        "base_url": config.base_url.as_ref().map(|u| u.origin.as_str()),
        "demo_home": demo,
        "debug": config.debug,
        "not_verify_ssl": config.not_verify_ssl,
        "long_lived_access_token": set(config.long_lived_token.is_some()),
        "ssl_ca_bundle": set(config.ca_bundle.is_some()),
        "ssl_client_certificate": set(config.client_identity.is_some()),
        "extra_headers": config.extra_headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
        "shared_secret": set(config.shared_secret.is_some()),
        "ha_token": set(config.ha_token.is_some()),
        "ha_token_parameter": config.token_parameter.as_ref().map(|p| p.name.as_str()),
        "alexa_skill_id": set(config.skill_id.is_some()),
        "cache_warming": config.cache_warming,
        "tier": config.tuning.tier.name(),
        "capacities": {
            "cache_entries": config.tuning.capacities.cache_entries,
            "cache_bytes": config.tuning.capacities.cache_bytes,
            "module_slots": config.tuning.capacities.slots,
            "arena_bytes": config.tuning.capacities.arena_size,
            "arenas": config.tuning.capacities.arenas,
            "event_buffer_bytes": config.tuning.capacities.event_buffer,
            "response_buffer_bytes": config.tuning.capacities.response_buffer,
        },
        "connect_timeout_ms": config.tuning.connect_timeout.as_millis() as u64,
        "keepalive_timeout_s": config.tuning.keep_alive.as_secs(),
        "breaker": {
            "failures": config.tuning.breaker.failure_threshold(),
            "window_s": config.tuning.breaker.window().as_secs(),
            "cool_down_s": config.tuning.breaker.cool_down().as_secs(),
        },
        "discovery_guard": config.discovery.mode_name(),
        "discovery_priority": config.discovery.priority,
        "metrics": config.metrics,
        "debug_timings": config.debug_timings,
        "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// The health report.
pub fn health(
    config: Value,
    reachability: Option<Reachability>,
    breaker: &Breaker,
    now: Instant,
) -> Value {
    let stats = breaker.stats();
    json!({
        "lee": { "version": env!("CARGO_PKG_VERSION") },
        "config": config,
        "home_assistant": match reachability {
            Some(r) => r.to_json(now),
            None => json!({ "reachable": false, "error": "no Home Assistant address is configured" }),
        },
        "breakers": [{
            "dependency": "home_assistant",
            "state": breaker.state(now).to_string(),
            "opens": stats.opens,
            "rejected": stats.rejected,
            "failures": stats.failures,
            "successes": stats.successes,
        }],
    })
}

/// The engine's insides, added to the health report for diagnostics.
pub struct Insides<'a> {
    /// Cache counters.
    pub cache: CacheStats,
    /// Cache entries and bytes in use, and capacities.
    pub cache_use: (usize, usize, usize, usize),
    /// The slot pool's gauges.
    pub pool: PoolStats,
    /// Every module slot.
    pub slots: &'a [SlotView],
    /// The metrics.
    pub metrics: &'a Metrics,
}

/// The diagnostics report: the health report plus the engine's insides.
pub fn diagnostics(mut health: Value, insides: &Insides<'_>) -> Value {
    let (entries, bytes, entry_capacity, byte_capacity) = insides.cache_use;
    let c = insides.cache;
    health["cache"] = json!({
        "entries": entries, "bytes": bytes,
        "entry_capacity": entry_capacity, "byte_capacity": byte_capacity,
        "hits": c.hits, "misses": c.misses, "insertions": c.insertions,
        "evictions": c.evictions, "expirations": c.expirations,
        "invalidations": c.invalidations, "rejections": c.rejections,
    });
    let p = insides.pool;
    health["slots"] = json!({
        "arena_size": p.arena_size,
        "arenas": p.arenas,
        "arenas_in_use": p.arenas_in_use,
        "high_water_bytes": p.high_water_bytes,
        "exhausted": p.exhausted,
        "modules": insides.slots.iter().map(|s| json!({
            "module": s.name,
            "policy": policy_name(s.policy),
            "pinned": s.pinned,
            "loaded": s.loaded,
            "in_flight": s.in_flight,
            "bytes_used": s.bytes_used,
            "loads": s.stats.loads,
            "reloads": s.stats.reloads,
            "unloads": s.stats.unloads,
            "bytes_reclaimed": s.stats.bytes_reclaimed,
        })).collect::<Vec<_>>(),
    });
    let m = insides.metrics;
    let counters: serde_json::Map<String, Value> = m
        .counters()
        .map(|(c, v): (Counter, u64)| (c.name().to_string(), json!(v)))
        .collect();
    let timers: serde_json::Map<String, Value> = Timer::ALL
        .iter()
        .map(|&t| {
            let h = m.timer(t);
            (
                t.name().to_string(),
                json!({
                    "count": h.count(),
                    "p50_ms": h.percentile(50).map(millis),
                    "p99_ms": h.percentile(99).map(millis),
                    "max_ms": h.max().map(millis),
                }),
            )
        })
        .collect();
    health["metrics"] = json!({ "counters": counters, "timers": timers });
    health
}

/// The process's resident memory now and at its peak (`VmRSS`, `VmHWM`
/// of `/proc/self/status`), in bytes; `None` where there is no `/proc`.
pub fn process_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some((
        status_field(&status, "VmRSS")?,
        status_field(&status, "VmHWM")?,
    ))
}

/// The process's peak resident memory (`VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    process_memory().map(|(_, peak)| peak)
}

/// A field of `/proc/self/status` in bytes (`VmHWM:   5120 kB`).
fn status_field(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    let kb = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kb * 1024)
}

fn policy_name(policy: Policy) -> String {
    match policy {
        Policy::Immediate => "immediate".into(),
        Policy::Deferred => "deferred".into(),
        Policy::TimeBased(idle) => format!("idle {} s", idle.as_secs()),
        Policy::MemoryPressure => "memory pressure".into(),
        Policy::Never => "never".into(),
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tlee\nVmPeak:\t  20000 kB\nVmHWM:\t    6144 kB\nVmRSS:\t    5000 kB\n";
        assert_eq!(status_field(status, "VmHWM"), Some(6144 * 1024));
        assert_eq!(status_field(status, "VmRSS"), Some(5000 * 1024));
        assert_eq!(status_field(status, "VmSwap"), None);
        assert_eq!(status_field("VmHWM:\tlots\n", "VmHWM"), None);
        if cfg!(target_os = "linux") {
            let (now, peak) = process_memory().expect("Linux has /proc/self/status");
            assert!(peak >= now && now > 1024 * 1024, "{now} {peak}");
        }
    }
}
