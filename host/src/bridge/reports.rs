//! The health and diagnostics reports of the running bridge (see
//! [`crate::report`] for their shape): Home Assistant (its API and its Alexa
//! Smart Home API) checked at most every 30 s, the engine's insides.

use std::time::Duration;

use lee_core::bridge::{self, Transport};
use lee_core::time::Clock;

use crate::ops;
use crate::report::{self, Reachability};

use super::{ALEXA_MODULE, Bridge};

/// How long the health report waits for Home Assistant's `GET /api/`.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

impl Bridge {
    /// The health report, checking Home Assistant when the last check is stale.
    pub(super) fn health(&mut self) -> serde_json::Value {
        let now = self.clock.now();
        if let Some(transport) = &mut self.transport
            && !self.reachability.is_some_and(|r| r.is_fresh(now))
        {
            let timeouts = bridge::Timeouts {
                connect: self.home_assistant.settings.connect_timeout,
                total: HEALTH_CHECK_TIMEOUT.min(self.deadline.saturating_duration_since(now)),
            };
            let token = self.tokens.for_health_check();
            let request = bridge::RestRequest {
                method: bridge::Method::Get,
                path: "/api/",
                token,
                body: b"",
            };
            // `GET /api/` answers a few bytes; any status means reachable.
            let mut answer = [0u8; 256];
            let result = transport
                .rest(&request, timeouts, &mut answer)
                .map(|a| a.status);
            let after = self.clock.now();
            // Whether Home Assistant has its Alexa Smart Home API: asked
            // with no token and no body, it answers 401 when it has the
            // route and 404 when `alexa: smart_home:` is not set up; nothing
            // reaches the integration either way.
            let smart_home = match result {
                Ok(status) if status != 404 => {
                    let probe = bridge::RestRequest {
                        method: bridge::Method::Post,
                        path: "/api/alexa/smart_home",
                        token: None,
                        body: b"",
                    };
                    transport
                        .rest(&probe, timeouts, &mut answer)
                        .ok()
                        .map(|a| a.status)
                }
                _ => None,
            };
            self.reachability = Some(Reachability {
                checked_at: after,
                result,
                took: after.saturating_duration_since(now),
                token_sent: token.is_some(),
                smart_home,
            });
        }
        report::health(
            self.summary.clone(),
            self.reachability,
            &self.home_assistant.breaker,
            self.clock.now(),
        )
    }

    /// The doctor's report (see [`crate::doctor`]), examined from here, with
    /// the ops token, within the event's deadline.
    pub(super) fn doctor(&mut self) -> crate::doctor::Report {
        let left = self.deadline.saturating_duration_since(self.clock.now());
        let setup = crate::doctor::Setup {
            config: &self.config,
            problems: &self.problems,
            token: self.tokens.for_doctor(),
            deadline: std::time::Instant::now() + left,
        };
        crate::doctor::examine(&setup)
    }

    /// The diagnostics report: health plus cache (per module), slots,
    /// metrics, memory, the configuration's version and the recent errors.
    pub(super) fn diagnostics(&mut self) -> serde_json::Value {
        let health = self.health();
        let slots: Vec<_> = self.slots.views().collect();
        let mut report = report::diagnostics(
            health,
            &report::Insides {
                cache: self.cache.stats(),
                cache_use: (
                    self.cache.len(),
                    self.cache.bytes_used(),
                    self.cache.entry_capacity(),
                    self.cache.byte_capacity(),
                ),
                pool: self.slots.stats(),
                slots: &slots,
                metrics: &self.metrics,
            },
        );
        report["cache"]["modules"] = [
            (ALEXA_MODULE, "alexa"),
            (ops::HA_CLIENT, "ha.client"),
            (ops::HA_SERVICES, "ha.services"),
        ]
        .iter()
        .map(|&(module, name)| {
            let usage = self.cache.module_usage(module);
            serde_json::json!({ "module": name, "entries": usage.entries, "bytes": usage.bytes })
        })
        .collect();
        let pool = self.slots.stats();
        let memory = report::process_memory();
        report["memory"] = serde_json::json!({
            "rss_bytes": memory.map(|(rss, _)| rss),
            "rss_high_water_bytes": memory.map(|(_, hwm)| hwm),
            "arena_pool_bytes": pool.arena_size * pool.arenas,
            "arena_bytes_in_use": pool.arena_size * pool.arenas_in_use,
            "arena_high_water_bytes": pool.high_water_bytes,
            "engine_bytes": self.capacities.usage().total,
        });
        report["configuration"] = serde_json::json!({
            "version": self.version,
            "parameter_prefix": self.reloader.as_ref().map(|r| r.source.prefix()),
            "reload_every_s": self.reloader.as_ref().map(|r| r.source.ttl().as_secs()),
            "last_rejection": self.reloader.as_ref().and_then(|r| r.rejected.as_deref()),
        });
        report["recent_errors"] = self.errors.iter().cloned().collect();
        report["discovery"] = self
            .discovery
            .last
            .clone()
            .unwrap_or(serde_json::Value::Null);
        report
    }
}
