//! Configuration from Parameter Store, re-read while the function runs.
//!
//! What it is for: changing a running lee (a new token, another tier, a
//! moved Home Assistant) without a redeploy. With `PARAMETER_PREFIX` set
//! (say `/lee/prod/`), every configuration variable `NAME` is also looked
//! up as the parameter `<prefix>NAME` through the AWS Parameters and
//! Secrets Lambda Extension (`GET /systemsmanager/parameters/get` on
//! `localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, header
//! `X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN`; no AWS SDK). A
//! parameter wins over the environment variable of the same name; one that
//! does not exist leaves the environment's value.
//!
//! The parameters are read when the first event arrives (the extension
//! cannot be asked during init) and again once `SSM_CACHE_TTL` seconds
//! (default 300; 0 means before every event) have passed, always between two
//! events, so no event is ever answered by half of a configuration. A new
//! configuration is validated like the first one: with any problem it is
//! rejected, the running one is kept, and the rejection is logged once with
//! its reasons (again only if the reasons change). An accepted one is applied
//! with the next version number, and its log line names the variables that
//! changed, never their values. A failing extension keeps the running
//! configuration too.
//!
//! The security-sensitive variables ([`PINNED`]: where the tokens go, how
//! Home Assistant is trusted, who may ask for what) are never read from
//! Parameter Store, only from the function's environment, which only a
//! deployment sets: a parameter for one is refused, logged at warn by name
//! (once), and the rest of the reading applies. Whoever may write the prefix
//! can retune lee or rotate its tokens, but cannot send them to another
//! host, trust another certificate or open the URL wider; not even at a cold
//! start, when a pin taken from the first reading would fall to them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lee_core::breaker::{Breaker, BreakerConfig};
use lee_core::failure::Failure;
use lee_core::guard::{Attempts, Guard, Refusal, Tally};
use lee_core::hash::stable_hash;
use lee_core::retry::{Backoff, Effect, JitterSource, RetryPlan};
use lee_core::time::Clock;
use lee_core::transport::{HaAnswer, Timeouts};

use crate::config::{self, PINNED, Problem, Secret, VARIABLES};
use crate::parameters::{self, ParameterStore, is_parameter_name};

/// Where to find configuration parameters: `PARAMETER_PREFIX`, with the
/// extension's settings (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`,
/// `AWS_SESSION_TOKEN`, `SSM_CACHE_TTL`).
#[derive(Debug)]
pub struct ParameterSource {
    prefix: String,
    ttl: Duration,
    store: ParameterStore,
    /// The extension's breaker: one per dependency.
    breaker: Breaker,
}

impl ParameterSource {
    /// The source `var` configures: `None` without `PARAMETER_PREFIX`, the
    /// problems when it is set wrongly.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Result<ParameterSource, Vec<Problem>>> {
        let prefix = var("PARAMETER_PREFIX")?.trim().to_string();
        if prefix.is_empty() {
            return None;
        }
        let mut problems = Vec::new();
        let mut problem =
            |variable: &'static str, message: String| problems.push(Problem { variable, message });
        if !is_parameter_name(&format!("{prefix}X")) {
            problem(
                "PARAMETER_PREFIX",
                "must be the start of a Parameter Store name: letters, digits and _ . - /".into(),
            );
        }
        let extension = config::read_extension(&var, &mut problem);
        Some(match extension {
            Some(extension) if problems.is_empty() => Ok(ParameterSource {
                prefix,
                ttl: extension.ttl,
                store: ParameterStore::new(&extension),
                breaker: Breaker::new(BreakerConfig::DEFAULT),
            }),
            _ => Err(problems),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a reading stays current.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `AWS_SESSION_TOKEN`, for the log redactor.
    pub fn session_token(&self) -> Option<&Secret> {
        self.store.session_token()
    }

    /// Every configuration variable that exists as a parameter, with its
    /// value. Fails as a whole (saying why, never with a value) when the
    /// extension cannot be asked or answers anything but a value or "no
    /// such parameter".
    ///
    /// The whole reading must end within `budget`: it runs inside an event,
    /// so a slow or hung extension costs that event at most this much. Each
    /// parameter is one guarded call ([`Guard::run`]) with the extension's
    /// own breaker: a failed read is tried again within the budget (reads
    /// are harmless to repeat), and an extension that keeps failing is not
    /// asked again until its breaker lets a probe through.
    pub fn fetch(
        &mut self,
        budget: Duration,
        clock: &dyn Clock,
        jitter: &mut dyn JitterSource,
    ) -> Result<BTreeMap<&'static str, String>, String> {
        let deadline = clock.now().saturating_add(budget);
        let plan = RetryPlan::new(Backoff::DEFAULT, deadline, MIN_READ);
        let mut found = BTreeMap::new();
        for &name in VARIABLES {
            let parameter = format!("{}{name}", self.prefix);
            let mut reading = Reading {
                store: &self.store,
                name: &parameter,
                clock,
                value: None,
                why: None,
            };
            let answer = Guard {
                breaker: &mut self.breaker,
                plan,
                connect_timeout: budget,
                clock,
                jitter: &mut *jitter,
            }
            .run(Effect::ReadOnly, &mut Tally::default(), &mut reading);
            match (answer, reading.value, reading.why) {
                (Ok(_), Some(value), _) => {
                    found.insert(name, value);
                }
                // No such parameter: the environment's value stands.
                (Ok(answer), None, None) if answer.status == 404 => {}
                (_, _, Some(why)) => return Err(format!("reading {parameter}: {why}")),
                (Err(Refusal::BreakerOpen { .. }), ..) => {
                    return Err(
                        "the Parameters and Secrets extension failed repeatedly; it is \
                                asked again once its breaker's cool-down has passed"
                            .to_string(),
                    );
                }
                _ => {
                    return Err(format!(
                        "the Parameters and Secrets extension did not answer every parameter \
                         within {} ms",
                        budget.as_millis()
                    ));
                }
            }
        }
        Ok(found)
    }
}

/// The shortest time worth starting a read in: the extension is on this
/// machine and answers in about a millisecond.
const MIN_READ: Duration = Duration::from_millis(5);

/// One parameter's reading, as a guarded call drives it.
struct Reading<'a> {
    store: &'a ParameterStore,
    name: &'a str,
    clock: &'a dyn Clock,
    /// The value, once read.
    value: Option<String>,
    /// Why the last attempt gave none.
    why: Option<parameters::Failure>,
}

impl Attempts for Reading<'_> {
    fn attempt(&mut self, timeouts: Timeouts) -> Result<HaAnswer, Failure> {
        self.why = None;
        let answered = |status| HaAnswer { status, len: 0 };
        match self.store.get(self.name, timeouts.total) {
            Ok(Some(value)) => {
                self.value = Some(value);
                Ok(answered(200))
            }
            Ok(None) => Ok(answered(404)),
            Err(why) => {
                self.why = Some(why);
                Err(why.as_retried())
            }
        }
    }

    fn wait_until(&mut self, until: lee_core::time::Instant) {
        std::thread::sleep(until.saturating_duration_since(self.clock.now()));
    }
}

/// The reading of each variable, as hashes: enough to say which variables
/// changed between two configurations without keeping their values.
pub type Fingerprint = BTreeMap<&'static str, u64>;

/// What `var` gives each configuration variable, hashed.
pub fn fingerprint(var: impl Fn(&str) -> Option<String>) -> Fingerprint {
    VARIABLES
        .iter()
        .filter_map(|&name| var(name).map(|value| (name, stable_hash(value.as_bytes()))))
        .collect()
}

/// The variables whose values differ between two fingerprints.
pub fn changed(before: &Fingerprint, after: &Fingerprint) -> Vec<&'static str> {
    VARIABLES
        .iter()
        .copied()
        .filter(|name| before.get(name) != after.get(name))
        .collect()
}

/// The names among a reading's parameters that are [`PINNED`]: never taken
/// from Parameter Store, only from the function's own environment.
pub fn pinned_parameters(fetched: &BTreeMap<&'static str, String>) -> Vec<&'static str> {
    PINNED
        .iter()
        .copied()
        .filter(|name| fetched.contains_key(name))
        .collect()
}

/// Where the environment's values come from (`std::env::var`, normally).
pub type Environment = Box<dyn Fn(&str) -> Option<String> + Send>;

/// The running configuration's version, and when to read the parameters next.
pub(crate) struct Reloader {
    pub(crate) source: ParameterSource,
    pub(crate) env: Environment,
    next_read: Option<Instant>,
    /// The reasons of the last rejection, so each is logged once.
    pub(crate) rejected: Option<String>,
    /// The pinned names the last reading held, so each refusal is logged once.
    refused: Vec<&'static str>,
}

impl Reloader {
    pub(crate) fn new(source: ParameterSource, env: Environment) -> Self {
        Reloader {
            source,
            env,
            next_read: None,
            rejected: None,
            refused: Vec::new(),
        }
    }

    /// Warn (once for the same names) that these [`PINNED`] parameters were
    /// not applied.
    pub(crate) fn refuse_pinned(&mut self, names: Vec<&'static str>) {
        if !names.is_empty() && names != self.refused {
            tracing::warn!(
                refused = names.join(","),
                "Parameter Store holds {}: security-sensitive settings are read only from \
                 the function's environment, never from Parameter Store (README, Security); \
                 set them in the stack and redeploy",
                names.join(", ")
            );
        }
        self.refused = names;
    }

    /// Log why the running configuration `version` is kept, once for the
    /// same reasons.
    pub(crate) fn keep(&mut self, version: u64, what: &str, reasons: String) {
        if self.rejected.as_deref() != Some(reasons.as_str()) {
            tracing::warn!(
                config_version = version,
                "{what}, version {version} kept: {reasons}"
            );
            self.rejected = Some(reasons);
        }
    }

    /// Whether the parameters are due to be read; if so, the next reading
    /// is scheduled a TTL from now.
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        if self.next_read.is_some_and(|at| now < at) {
            return false;
        }
        self.next_read = Some(now + self.source.ttl);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_prefix_no_source_and_bad_settings_are_each_a_problem() {
        assert!(ParameterSource::from_env(vars(&[])).is_none());
        assert!(ParameterSource::from_env(vars(&[("PARAMETER_PREFIX", " ")])).is_none());
        let problems = ParameterSource::from_env(vars(&[
            ("PARAMETER_PREFIX", "/lee prod/"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "x"),
            ("SSM_CACHE_TTL", "-5"),
        ]))
        .unwrap()
        .unwrap_err();
        let named: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            named,
            [
                "PARAMETER_PREFIX",
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                "SSM_CACHE_TTL"
            ]
        );
        let mut source = ParameterSource::from_env(vars(&[
            ("PARAMETER_PREFIX", "/lee/prod/"),
            ("SSM_CACHE_TTL", "0"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(source.ttl(), Duration::ZERO);
        assert!(
            source
                .fetch(
                    Duration::from_secs(1),
                    &crate::MonotonicClock::new(),
                    &mut lee_core::retry::SplitMix64::new(1)
                )
                .unwrap_err()
                .contains("AWS_SESSION_TOKEN")
        );
    }

    #[test]
    fn sensitive_variables_are_never_taken_from_parameter_store() {
        let fetched: BTreeMap<&'static str, String> = [
            ("BASE_URL", "https://attacker.example.net".to_string()),
            ("HA_TOKEN", "t2".to_string()),
            ("SHARED_SECRET", "x".repeat(40)),
        ]
        .into_iter()
        .collect();
        assert_eq!(pinned_parameters(&fetched), ["BASE_URL", "SHARED_SECRET"]);
    }

    #[test]
    fn fingerprints_name_what_changed_without_values() {
        let before = fingerprint(vars(&[("BASE_URL", "http://a"), ("HA_TOKEN", "t1")]));
        let after = fingerprint(vars(&[("BASE_URL", "http://a"), ("DEBUG", "1")]));
        assert_eq!(changed(&before, &after), ["DEBUG", "HA_TOKEN"]);
        assert!(changed(&before, &before).is_empty());
    }
}
