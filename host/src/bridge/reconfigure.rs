//! Applying a configuration re-read from Parameter Store (see
//! [`crate::reload`]) to the running bridge, between two events: a valid one
//! replaces it with the next version, keeping what the process has seen; an
//! invalid one is refused and the running one kept.

use lee_core::time::Clock;

use crate::config::{self, Config};
use crate::reload;

use super::Bridge;

/// The most of an event's time a reading of Parameter Store may take: the
/// extension answers in about a millisecond a parameter, and a hung one must
/// not cost the event that happens to trigger the reading its answer.
const RELOAD_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);

impl Bridge {
    /// Read Parameter Store again when the reading is due; apply a valid
    /// new configuration, keep the running one otherwise.
    pub(super) fn reload_if_due(&mut self) {
        let Some(reloader) = &mut self.reloader else {
            return;
        };
        if !reloader.due() {
            return;
        }
        let left = self.deadline.saturating_duration_since(self.clock.now());
        let budget = RELOAD_BUDGET.min(left / 4);
        let fetched = match reloader.source.fetch(budget, &self.clock, &mut self.jitter) {
            Ok(fetched) => fetched,
            Err(why) => return reloader.keep(self.version, "configuration not re-read", why),
        };
        reloader.refuse_pinned(reload::pinned_parameters(&fetched));
        let env = &reloader.env;
        let var = |name: &str| {
            if config::PINNED.contains(&name) {
                env(name)
            } else {
                fetched.get(name).cloned().or_else(|| env(name))
            }
        };
        let (config, problems) = Config::from_env(var);
        let fingerprint = reload::fingerprint(var);
        let capacities = config.tuning.capacities;
        let next = if problems.is_empty() {
            if config == self.config {
                reloader.rejected = None;
                return;
            }
            Bridge::new(config, problems, capacities).map_err(|e| e.to_string())
        } else {
            Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "))
        };
        let mut next = match next {
            Ok(next) => next,
            Err(reasons) => {
                return reloader.keep(self.version, "new configuration rejected", reasons);
            }
        };
        reloader.rejected = None;
        let changed = reload::changed(&self.fingerprint, &fingerprint);
        // What the process has seen so far stays: counts, recent errors, and
        // (same Home Assistant, same thresholds) the breaker and the cache.
        next.version = self.version + 1;
        next.deadline = self.deadline;
        next.fingerprint = fingerprint;
        next.reloader = self.reloader.take();
        next.metrics = self.metrics;
        next.errors = std::mem::take(&mut self.errors);
        next.discovery = std::mem::take(&mut self.discovery);
        next.warm_cache = false;
        if next.config.base_url == self.config.base_url {
            if next.config.tuning.breaker == self.config.tuning.breaker {
                std::mem::swap(
                    &mut next.home_assistant.breaker,
                    &mut self.home_assistant.breaker,
                );
            }
            if next.capacities == self.capacities {
                std::mem::swap(&mut next.cache, &mut self.cache);
            }
        }
        next.summary["config_version"] = next.version.into();
        *self = next;
        tracing::info!(
            config_version = self.version,
            changed = changed.join(","),
            "configuration version {} applied",
            self.version
        );
    }
}
