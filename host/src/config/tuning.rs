//! The engine's sizes and limits: a [`Tier`] (`CONFIGURATION_TIER`) of
//! capacities, timeouts and breaker thresholds, each value of which a
//! variable may override, with the capacities that result checked against
//! the 128 MB memory budget (lee-core's `budget`).

use std::time::Duration;

use lee_core::breaker::BreakerConfig;
use lee_core::budget::{Capacities, MemoryBudget};

/// The smallest answer buffer lee runs with: room for any ErrorResponse
/// that echoes nothing from the event.
pub const MIN_RESPONSE_BUFFER: usize = 4096;

/// A preset of capacities, timeouts and breaker thresholds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tier {
    /// The smallest memory, for a few dozen devices; fails fast (1.5 s to
    /// connect, the breaker opens after 3 failures and waits 30 s).
    Minimum,
    /// A home of a few hundred entities (2 s to connect, the breaker opens
    /// after 5 failures within 30 s and probes after 10 s).
    #[default]
    Standard,
    /// Thousands of entities and Discovery answers of megabytes: more
    /// patience (3 s to connect, 8 failures within 60 s).
    Maximum,
}

impl Tier {
    /// The tier's name, as `CONFIGURATION_TIER` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Minimum => "minimum",
            Tier::Standard => "standard",
            Tier::Maximum => "maximum",
        }
    }

    /// The tier's settings.
    pub fn tuning(self) -> Tuning {
        let (capacities, connect_ms, failures, window_s, cool_down_s) = match self {
            Tier::Minimum => (Capacities::MINIMUM, 1500, 3, 30, 30),
            Tier::Standard => (Capacities::STANDARD, 2000, 5, 30, 10),
            Tier::Maximum => (Capacities::MAXIMUM, 3000, 8, 60, 10),
        };
        Tuning {
            tier: self,
            capacities,
            connect_timeout: Duration::from_millis(connect_ms),
            breaker: breaker_config(failures, window_s, cool_down_s)
                .unwrap_or(BreakerConfig::DEFAULT),
            keep_alive: crate::connection::DEFAULT_KEEP_ALIVE,
        }
    }
}

fn breaker_config(failures: u32, window_s: u64, cool_down_s: u64) -> Option<BreakerConfig> {
    BreakerConfig::new(
        failures,
        Duration::from_secs(window_s),
        Duration::from_secs(cool_down_s),
        // A probe may take as long as any request.
        Duration::from_secs(10),
    )
    .ok()
}

/// The engine's sizes and limits: a [`Tier`] with any overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// The preset it started from.
    pub tier: Tier,
    /// Cache, slots and buffers (budget-checked).
    pub capacities: Capacities,
    /// Connect timeout for each request to Home Assistant.
    pub connect_timeout: Duration,
    /// When the breaker opens and probes.
    pub breaker: BreakerConfig,
    /// How long a connection to Home Assistant may be idle and still be reused.
    pub keep_alive: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tier::Standard.tuning()
    }
}

/// The tier and its overrides, budget-checked.
pub(super) fn read_tuning(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> Tuning {
    let tier = match var("CONFIGURATION_TIER").map(|t| t.trim().to_ascii_lowercase()) {
        None => Tier::Standard,
        Some(name) => match name.as_str() {
            "" | "standard" => Tier::Standard,
            "minimum" => Tier::Minimum,
            "maximum" => Tier::Maximum,
            _ => {
                problem(
                    "CONFIGURATION_TIER",
                    format!("must be minimum, standard or maximum, not {name:?}"),
                );
                Tier::Standard
            }
        },
    };
    let preset = tier.tuning();
    let mut tuning = preset;
    let mut overridden = Vec::new();
    let c = &mut tuning.capacities;
    for (name, slot, bytes) in [
        ("CACHE_ENTRIES", &mut c.cache_entries, false),
        ("CACHE_BYTES", &mut c.cache_bytes, true),
        ("MODULE_SLOTS", &mut c.slots, false),
        ("ARENA_BYTES", &mut c.arena_size, true),
        ("ARENAS", &mut c.arenas, false),
        ("EVENT_BUFFER_BYTES", &mut c.event_buffer, true),
        ("RESPONSE_BUFFER_BYTES", &mut c.response_buffer, true),
    ] {
        let Some(raw) = var(name) else { continue };
        match parse_size(&raw, bytes) {
            Some(n) if n > 0 => {
                *slot = n;
                overridden.push(name);
            }
            _ if bytes => problem(
                name,
                format!("must be a positive size in bytes (k/KiB and m/MiB allowed), not {raw:?}"),
            ),
            _ => problem(
                name,
                format!("must be a positive whole number, not {raw:?}"),
            ),
        }
    }
    if tuning.capacities.response_buffer < MIN_RESPONSE_BUFFER {
        problem(
            "RESPONSE_BUFFER_BYTES",
            format!("must be at least {} bytes", MIN_RESPONSE_BUFFER),
        );
        tuning.capacities = preset.capacities;
    } else if let Err(over) = MemoryBudget::default().check(&tuning.capacities) {
        problem(
            overridden.first().copied().unwrap_or("CONFIGURATION_TIER"),
            format!(
                "{over}; the {} tier's own capacities are used instead",
                tier.name()
            ),
        );
        tuning.capacities = preset.capacities;
    }
    let mut number = |name: &'static str, limit: u64| -> Option<u64> {
        let raw = var(name)?;
        match raw.trim().parse::<u64>() {
            Ok(n) if (1..=limit).contains(&n) => Some(n),
            _ => {
                problem(
                    name,
                    format!("must be a whole number from 1 to {limit}, not {raw:?}"),
                );
                None
            }
        }
    };
    if let Some(ms) = number("CONNECT_TIMEOUT_MS", 7_000) {
        tuning.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(s) = number("KEEPALIVE_TIMEOUT_S", 3_600) {
        tuning.keep_alive = Duration::from_secs(s);
    }
    let b = preset.breaker;
    let failures = number("BREAKER_FAILURES", 1_000);
    let window = number("BREAKER_WINDOW_S", 3_600);
    let cool_down = number("BREAKER_COOL_DOWN_S", 3_600);
    if failures.is_some() || window.is_some() || cool_down.is_some() {
        tuning.breaker = breaker_config(
            failures.map_or(b.failure_threshold(), |n| n as u32),
            window.unwrap_or(b.window().as_secs()),
            cool_down.unwrap_or(b.cool_down().as_secs()),
        )
        .unwrap_or(b);
    }
    tuning
}

/// `512`, `64k`, `64KiB`, `2m`, `2MiB` → bytes (suffixes only when `bytes`).
fn parse_size(raw: &str, bytes: bool) -> Option<usize> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: usize = digits.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kb" | "kib" if bytes => 1024,
        "m" | "mb" | "mib" if bytes => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::read;

    #[test]
    fn tiers_set_capacities_timeouts_and_breakers_and_each_value_can_be_overridden() {
        let (c, problems) = read(&[("BASE_URL", "http://h"), ("CONFIGURATION_TIER", "Minimum")]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.tuning, Tier::Minimum.tuning());
        assert_eq!(c.tuning.capacities, Capacities::MINIMUM);
        assert_eq!(c.tuning.breaker.failure_threshold(), 3);
        assert_eq!(read(&[]).0.tuning.capacities, Capacities::STANDARD);
        let (c, problems) = read(&[
            ("BASE_URL", "http://h"),
            ("CONFIGURATION_TIER", "maximum"),
            ("CACHE_BYTES", "3MiB"),
            ("CACHE_ENTRIES", "1000"),
            ("CONNECT_TIMEOUT_MS", "2500"),
            ("BREAKER_FAILURES", "4"),
            ("KEEPALIVE_TIMEOUT_S", "4"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.tuning.keep_alive, Duration::from_secs(4));
        assert_eq!(c.tuning.capacities.cache_bytes, 3 * 1024 * 1024);
        assert_eq!(c.tuning.capacities.cache_entries, 1000);
        assert_eq!(c.tuning.capacities.arenas, Capacities::MAXIMUM.arenas);
        assert_eq!(c.tuning.connect_timeout, Duration::from_millis(2500));
        assert_eq!(c.tuning.breaker.failure_threshold(), 4);
        assert_eq!(c.tuning.breaker.window(), Duration::from_secs(60));
    }

    #[test]
    fn a_combination_over_the_memory_budget_is_refused_saying_by_how_much() {
        let (c, problems) = read(&[("BASE_URL", "http://h"), ("CACHE_BYTES", "64MiB")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].variable, "CACHE_BYTES");
        assert!(
            problems[0].message.contains("over by 10962328 bytes"),
            "{}",
            problems[0].message
        );
        assert_eq!(c.tuning.capacities, Capacities::STANDARD);
    }

    #[test]
    fn bad_tuning_values_are_each_a_problem() {
        let (c, problems) = read(&[
            ("BASE_URL", "http://h"),
            ("CONFIGURATION_TIER", "huge"),
            ("CACHE_ENTRIES", "12k"),
            ("ARENA_BYTES", "0"),
            ("RESPONSE_BUFFER_BYTES", "1k"),
            ("CONNECT_TIMEOUT_MS", "9000"),
            ("BREAKER_WINDOW_S", "-1"),
            ("KEEPALIVE_TIMEOUT_S", "75s"),
            ("METRICS", "sometimes"),
        ]);
        let variables: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            variables,
            [
                "METRICS",
                "CONFIGURATION_TIER",
                "CACHE_ENTRIES",
                "ARENA_BYTES",
                "RESPONSE_BUFFER_BYTES",
                "CONNECT_TIMEOUT_MS",
                "KEEPALIVE_TIMEOUT_S",
                "BREAKER_WINDOW_S"
            ]
        );
        assert_eq!(c.tuning, Tier::Standard.tuning());
        assert!(c.metrics, "a bad METRICS leaves metrics on");
        assert!(!read(&[("METRICS", "off")]).0.metrics);
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("512", true), Some(512));
        assert_eq!(parse_size(" 64k ", true), Some(65536));
        assert_eq!(parse_size("2MiB", true), Some(2 << 20));
        assert_eq!(parse_size("2MiB", false), None);
        assert_eq!(parse_size("k", true), None);
        assert_eq!(parse_size("99999999999999999999m", true), None);
    }
}
