//! Configuration from the environment, with the names the Home Assistant
//! documentation's Lambda uses.
//!
//! | variable | meaning |
//! |---|---|
//! | `BASE_URL` | Home Assistant's address, `http(s)://host[:port]` (a trailing `/` is fine) |
//! | `NOT_VERIFY_SSL` | `true`/`1`/`yes`: skip certificate verification (warned about at start) |
//! | `DEBUG` | `true`/`1`/`yes`: debug mode; a directive without a token uses `LONG_LIVED_ACCESS_TOKEN` |
//! | `LONG_LIVED_ACCESS_TOKEN` | a Home Assistant long-lived token, used in debug mode and for engine ops |
//! | `HA_TOKEN` | the token for engine ops, when it should differ from `LONG_LIVED_ACCESS_TOKEN` |
//! | `ALEXA_SKILL_ID` | the custom skill whose requests lee answers with Assist (others are refused) |
//! | `HA_TOKEN_PARAMETER` | a Parameter Store name holding the ops token, read through the Parameters and Secrets extension (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, default 2773; `SSM_CACHE_TTL` seconds, default 300) |
//! | `HA_CACHE_WARMING` | `true`: read every state into the cache when the first event arrives (off by default) |
//! | `SSL_CA_BUNDLE` | PEM certificates (a path, or the PEM itself) to trust besides the public web roots |
//! | `SSL_CLIENT_CERT`, `SSL_CLIENT_KEY` | PEM client certificate chain and key for mutual TLS (paths or PEM) |
//! | `EXTRA_HEADERS` | headers added to every request: `Name: value, Name2: value2` (e.g. Cloudflare Access) |
//! | `SHARED_SECRET` | the secret (at least 32 characters) an HTTP request (Function URL) must present in `x-lee-secret` for `/diagnostics`, the full `/health` and, with `OPS_OVER_HTTP`, `POST /op` |
//! | `OPS_OVER_HTTP` | `true`: engine ops over the Function URL (`POST /op`, with the shared secret); off by default |
//! | `OPS_ALLOW_SERVICES`, `OPS_DENY_SERVICES` | `domain.service` or `domain.*`, comma separated: lifted from, or added to, the services ops may not call (see [`crate::services`]) |
//! | `SKILL_USES_OPS_TOKEN` | `true`: a custom-skill request without an account-linked token drives Assist with the ops token; off by default |
//! | `CONFIGURATION_TIER` | `minimum`, `standard` (default) or `maximum`: capacities, timeouts and breaker thresholds together (see [`Tier`]) |
//! | `CACHE_ENTRIES`, `CACHE_BYTES`, `MODULE_SLOTS`, `ARENA_BYTES`, `ARENAS`, `EVENT_BUFFER_BYTES`, `RESPONSE_BUFFER_BYTES` | one capacity of the tier, overridden (bytes accept `k`/`KiB` and `m`/`MiB`) |
//! | `CONNECT_TIMEOUT_MS`, `BREAKER_FAILURES`, `BREAKER_WINDOW_S`, `BREAKER_COOL_DOWN_S` | one timeout or breaker threshold of the tier, overridden |
//! | `KEEPALIVE_TIMEOUT_S` | a connection to Home Assistant idle this long is not reused (default 60; keep it below the `keepalive_timeout` of the proxy in front of Home Assistant; see [`crate::connection`]) |
//! | `DISCOVERY_GUARD` | `repair` (default), `report` or `off`: what lee does with a Discovery answer Alexa would refuse (see [`DiscoveryGuard`]) |
//! | `DISCOVERY_PRIORITY` | past Alexa's 300 endpoints, which are kept: domains, entity ids and `*` patterns, first match first |
//! | `METRICS` | `off`: no CloudWatch EMF line per invocation (on by default) |
//! | `DEBUG_TIMINGS` | `true`: every event's log line carries its per-stage timings |
//! | `LOG_LEVEL` | `error`, `warn`, `info` (default), `debug` or `trace` (read at start; see [`crate::logging`]) |
//! | `PARAMETER_PREFIX` | read every variable here also from Parameter Store as `<prefix><NAME>` (it wins over the environment), re-read every `SSM_CACHE_TTL` seconds (see [`crate::reload`]) |
//!
//! The capacities that result are checked against the 128 MB memory budget
//! (lee-core's `budget`): a combination over it is a problem saying by how
//! much, and the tier's own capacities are used instead.
//!
//! Reading never stops at the first problem: [`Config::from_env`] returns
//! the configuration it could build together with every problem it found,
//! each naming its variable. A missing or malformed `BASE_URL` is a problem,
//! not a crash: the bridge then answers each directive `BRIDGE_UNREACHABLE`.
//! Secret values (tokens, header values, keys) never appear in `Debug` output
//! or in a problem's message.

//!
//! The parts, one file each: [`Secret`] (values never printed), [`BaseUrl`],
//! the TLS material ([`Pem`]), `EXTRA_HEADERS`, the Parameters and Secrets
//! extension's settings ([`Extension`]) with the ops token's
//! [`TokenParameter`], the [`Tuning`] and the [`DiscoveryGuard`]; this file holds [`Config`], the
//! variable lists and the flags.

mod base_url;
mod discovery;
mod headers;
mod secret;
mod tls;
mod token_parameter;
mod tuning;

use std::fmt;

pub use base_url::BaseUrl;
pub use discovery::DiscoveryGuard;
pub use secret::Secret;
pub use tls::Pem;
pub(crate) use token_parameter::read_extension;
pub use token_parameter::{Extension, TokenParameter, is_parameter_name};
pub use tuning::{MIN_RESPONSE_BUFFER, Tier, Tuning};

/// One problem with the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The variable at fault.
    pub variable: &'static str,
    /// What is wrong, without its value when that could be secret.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Every variable a configuration is read from, for sources that must be
/// asked for each name (Parameter Store).
pub const VARIABLES: &[&str] = &[
    "BASE_URL",
    "NOT_VERIFY_SSL",
    "DEBUG",
    "HA_CACHE_WARMING",
    "LONG_LIVED_ACCESS_TOKEN",
    "HA_TOKEN",
    "HA_TOKEN_PARAMETER",
    "ALEXA_SKILL_ID",
    "SSL_CA_BUNDLE",
    "SSL_CLIENT_CERT",
    "SSL_CLIENT_KEY",
    "EXTRA_HEADERS",
    "SHARED_SECRET",
    "CONFIGURATION_TIER",
    "CACHE_ENTRIES",
    "CACHE_BYTES",
    "MODULE_SLOTS",
    "ARENA_BYTES",
    "ARENAS",
    "EVENT_BUFFER_BYTES",
    "RESPONSE_BUFFER_BYTES",
    "CONNECT_TIMEOUT_MS",
    "BREAKER_FAILURES",
    "BREAKER_WINDOW_S",
    "BREAKER_COOL_DOWN_S",
    "KEEPALIVE_TIMEOUT_S",
    "DISCOVERY_GUARD",
    "DISCOVERY_PRIORITY",
    "METRICS",
    "DEBUG_TIMINGS",
    "OPS_OVER_HTTP",
    "OPS_ALLOW_SERVICES",
    "OPS_DENY_SERVICES",
    "SKILL_USES_OPS_TOKEN",
];

/// The security-sensitive variables: where the tokens go, how Home
/// Assistant is trusted, who may ask lee for what. They are read only from
/// the function's environment, never from Parameter Store (see
/// [`crate::reload`]): whoever may write Parameter Store must not be able to
/// send the tokens elsewhere or open a door to them.
pub const PINNED: &[&str] = &[
    "BASE_URL",
    "NOT_VERIFY_SSL",
    "SSL_CA_BUNDLE",
    "SSL_CLIENT_CERT",
    "SSL_CLIENT_KEY",
    "EXTRA_HEADERS",
    "SHARED_SECRET",
    "DEBUG",
    "OPS_OVER_HTTP",
    "OPS_ALLOW_SERVICES",
    "OPS_DENY_SERVICES",
    "SKILL_USES_OPS_TOKEN",
];

/// The shortest `SHARED_SECRET` accepted: it guards a public URL, so it
/// must not be guessable by trying.
pub const MIN_SHARED_SECRET: usize = 32;

/// Everything lee reads from the environment for the bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Home Assistant's address; `None` when missing or malformed.
    pub base_url: Option<BaseUrl>,
    /// Skip certificate verification.
    pub not_verify_ssl: bool,
    /// Debug mode.
    pub debug: bool,
    /// The long-lived token for debug mode (and engine ops, without `HA_TOKEN`).
    pub long_lived_token: Option<Secret>,
    /// The token for engine ops.
    pub ha_token: Option<Secret>,
    /// The custom skill lee answers.
    pub skill_id: Option<String>,
    /// Read every state into the cache at the first event.
    pub cache_warming: bool,
    /// The ops token's Parameter Store parameter.
    pub token_parameter: Option<TokenParameter>,
    /// Certificates to trust besides the public web roots.
    pub ca_bundle: Option<Pem>,
    /// Client certificate chain and key for mutual TLS.
    pub client_identity: Option<(Pem, Secret)>,
    /// Headers added to every request to Home Assistant.
    pub extra_headers: Vec<(String, Secret)>,
    /// What an HTTP request must present to see diagnostics (and to run ops).
    pub shared_secret: Option<Secret>,
    /// Engine ops over the Function URL.
    pub ops_over_http: bool,
    /// What ops may call beyond the built-in deny list.
    pub ops_services: crate::services::ServicePolicy,
    /// A custom-skill request without its own token may use the ops token.
    pub skill_uses_ops_token: bool,
    /// Capacities, timeouts and breaker thresholds.
    pub tuning: Tuning,
    /// What lee does with a Discovery answer Alexa would refuse.
    pub discovery: DiscoveryGuard,
    /// Write a CloudWatch EMF line per invocation.
    pub metrics: bool,
    /// Put per-stage timings in every event's log line.
    pub debug_timings: bool,
    /// `AWS_REGION`: the region the function runs in (Lambda sets it).
    pub aws_region: Option<String>,
}

impl Config {
    /// Read the configuration through `var` (normally `std::env::var`),
    /// collecting every problem.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> (Config, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut problem =
            |variable: &'static str, message: String| problems.push(Problem { variable, message });
        let mut config = Config {
            metrics: true,
            ..Config::default()
        };

        match var("BASE_URL") {
            None => problem(
                "BASE_URL",
                "is not set: lee cannot reach Home Assistant".into(),
            ),
            Some(raw) if raw.trim().is_empty() => problem(
                "BASE_URL",
                "is empty: give Home Assistant's address, as in https://ha.example.com:8123".into(),
            ),
            Some(raw) => match BaseUrl::parse(&raw) {
                Ok(url) => config.base_url = Some(url),
                Err(why) => problem("BASE_URL", why),
            },
        }
        for (name, slot) in [
            ("NOT_VERIFY_SSL", &mut config.not_verify_ssl),
            ("DEBUG", &mut config.debug),
            ("HA_CACHE_WARMING", &mut config.cache_warming),
            ("METRICS", &mut config.metrics),
            ("DEBUG_TIMINGS", &mut config.debug_timings),
            ("OPS_OVER_HTTP", &mut config.ops_over_http),
            ("SKILL_USES_OPS_TOKEN", &mut config.skill_uses_ops_token),
        ] {
            if let Some(raw) = var(name) {
                match parse_flag(&raw) {
                    Some(on) => *slot = on,
                    None => problem(
                        name,
                        format!("must be true/false, 1/0 or yes/no, not {raw:?}"),
                    ),
                }
            }
        }
        config.long_lived_token = var("LONG_LIVED_ACCESS_TOKEN")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        config.ca_bundle = tls::read_ca_bundle(&var, &mut problem);
        config.client_identity = tls::read_client_identity(&var, &mut problem);
        config.token_parameter = token_parameter::read_token_parameter(&var, &mut problem);
        config.skill_id = var("ALEXA_SKILL_ID")
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty());
        config.ha_token = var("HA_TOKEN")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        match var("SHARED_SECRET").filter(|s| !s.is_empty()) {
            Some(secret) if secret.chars().count() < MIN_SHARED_SECRET => problem(
                "SHARED_SECRET",
                format!(
                    "is shorter than {MIN_SHARED_SECRET} characters, so it is not used: make one \
                     with `openssl rand -hex 32`"
                ),
            ),
            secret => config.shared_secret = secret.map(Secret::new),
        }
        for (name, list) in [
            ("OPS_ALLOW_SERVICES", &mut config.ops_services.allowed),
            ("OPS_DENY_SERVICES", &mut config.ops_services.denied),
        ] {
            if let Some(raw) = var(name) {
                match crate::services::ServicePolicy::parse_list(&raw) {
                    Ok(entries) => *list = entries,
                    Err(why) => problem(name, why),
                }
            }
        }
        if config.ops_over_http && config.shared_secret.is_none() {
            problem(
                "OPS_OVER_HTTP",
                "needs SHARED_SECRET: without it POST /op stays off".into(),
            );
        }
        if let Some(raw) = var("EXTRA_HEADERS") {
            match headers::parse_extra_headers(&raw) {
                Ok(headers) => config.extra_headers = headers,
                Err(why) => problem("EXTRA_HEADERS", why),
            }
        }
        config.tuning = tuning::read_tuning(&var, &mut problem);
        config.discovery = discovery::read_discovery_guard(&var, &mut problem);
        config.aws_region = var("AWS_REGION").filter(|r| !r.trim().is_empty());
        (config, problems)
    }

    /// The secret values this configuration holds, for the log redactor.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        let tokens = [&self.long_lived_token, &self.ha_token, &self.shared_secret];
        tokens
            .into_iter()
            .flatten()
            .chain(self.extra_headers.iter().map(|(_, value)| value))
            .chain(self.client_identity.iter().map(|(_, key)| key))
            .chain(
                self.token_parameter
                    .iter()
                    .filter_map(|p| p.extension.session_token.as_ref()),
            )
            .map(Secret::expose)
    }
}

fn parse_flag(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// [`Config::from_env`] over `vars`, for this module's tests and its
    /// parts'.
    pub(super) fn read(vars: &[(&str, &str)]) -> (Config, Vec<Problem>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_the_ha_documentation_names() {
        let (c, problems) = read(&[
            ("BASE_URL", "https://ha.example.com:8123/"),
            ("NOT_VERIFY_SSL", "True"),
            ("DEBUG", "0"),
            ("LONG_LIVED_ACCESS_TOKEN", " llat "),
            (
                "EXTRA_HEADERS",
                "CF-Access-Client-Id: id.access, CF-Access-Client-Secret: s3cr3t",
            ),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let url = c.base_url.unwrap();
        assert_eq!(url.origin, "https://ha.example.com:8123");
        assert!(url.https);
        assert!(c.not_verify_ssl && !c.debug);
        assert_eq!(c.long_lived_token.unwrap().expose(), "llat");
        assert_eq!(c.extra_headers.len(), 2);
        assert_eq!(c.extra_headers[1].0, "CF-Access-Client-Secret");
        assert_eq!(c.extra_headers[1].1.expose(), "s3cr3t");
    }

    #[test]
    fn reports_every_problem_at_once_naming_each_variable() {
        let (c, problems) = read(&[
            ("BASE_URL", "ha.local:8123"),
            ("NOT_VERIFY_SSL", "maybe"),
            ("DEBUG", "sometimes"),
            ("SSL_CA_BUNDLE", "/nonexistent/ca.pem"),
            ("SSL_CLIENT_CERT", "/nonexistent/cert.pem"),
            ("EXTRA_HEADERS", "Authorization: Bearer x"),
        ]);
        let variables: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            variables,
            [
                "BASE_URL",
                "NOT_VERIFY_SSL",
                "DEBUG",
                "SSL_CA_BUNDLE",
                "SSL_CLIENT_KEY",
                "EXTRA_HEADERS"
            ]
        );
        assert!(c.base_url.is_none());
        let (_, problems) = read(&[]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].to_string().starts_with("BASE_URL: is not set"));
    }

    /// Issue 16: a `BASE_URL` set to nothing is not "not set".
    #[test]
    fn an_empty_base_url_is_named_as_empty() {
        for empty in ["", "  "] {
            let (c, problems) = read(&[("BASE_URL", empty)]);
            assert!(c.base_url.is_none());
            assert_eq!(
                problems[0].to_string(),
                "BASE_URL: is empty: give Home Assistant's address, as in https://ha.example.com:8123"
            );
        }
    }

    #[test]
    fn secrets_never_show_in_debug_or_problems() {
        let (c, _) = read(&[
            ("BASE_URL", "http://h"),
            ("LONG_LIVED_ACCESS_TOKEN", "marker-llat"),
            ("EXTRA_HEADERS", "X-Key: marker-header"),
        ]);
        let shown = format!("{c:?}");
        assert!(!shown.contains("marker"), "{shown}");
        let (_, problems) = read(&[("EXTRA_HEADERS", "X-Key marker-value")]);
        assert!(!problems[0].message.contains("marker"));
    }
}
