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

use std::fmt;
use std::path::Path;
use std::time::Duration;

use lee_core::breaker::BreakerConfig;
use lee_core::budget::{Capacities, MemoryBudget};

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the secret, compared in constant time so the
    /// answer's timing says nothing about how much of it matched.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut difference = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            difference |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
        }
        difference == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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

/// Home Assistant's address, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http://host:port` or `https://host:port`, without a trailing slash.
    pub origin: String,
    /// Whether TLS is used.
    pub https: bool,
}

impl BaseUrl {
    /// Check an address: an http or https URL with a host and no path,
    /// query or credentials.
    pub fn parse(raw: &str) -> Result<BaseUrl, String> {
        let trimmed = raw.trim().trim_end_matches('/');
        let (https, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("must start with http:// or https://".into());
        };
        if rest.is_empty() {
            return Err("has no host".into());
        }
        if rest.contains(['/', '?', '#']) {
            return Err(
                "must be only scheme, host and port (lee adds /api/alexa/smart_home itself)".into(),
            );
        }
        if rest.contains('@') {
            return Err("must not contain credentials".into());
        }
        if !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
        {
            return Err("has characters a host name cannot have".into());
        }
        let (host, port) = match rest.strip_prefix('[') {
            // An IPv6 literal: [addr] or [addr]:port.
            Some(bracketed) => match bracketed.split_once(']') {
                Some((addr, _)) if addr.parse::<std::net::Ipv6Addr>().is_err() => {
                    return Err("has something in [ ] that is not an IPv6 address".into());
                }
                Some((addr, "")) => (addr, None),
                Some((addr, after)) => (addr, Some(after.strip_prefix(':').unwrap_or("x"))),
                None => return Err("has an unclosed [ in its host".into()),
            },
            None => match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        if host.contains(['[', ']']) {
            return Err("has a [ or ] outside an IPv6 address".into());
        }
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err("has a port that is not a number from 0 to 65535".into());
        }
        Ok(BaseUrl {
            origin: trimmed.to_string(),
            https,
        })
    }
}

/// PEM material, from a file or given inline.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(pub Vec<u8>);

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

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
    "METRICS",
    "DEBUG_TIMINGS",
    "OPS_OVER_HTTP",
    "OPS_ALLOW_SERVICES",
    "OPS_DENY_SERVICES",
    "SKILL_USES_OPS_TOKEN",
];

/// The security-sensitive variables: where the tokens go, how Home
/// Assistant is trusted, who may ask lee for what. A hot reload never
/// changes them (see [`crate::reload`]): whoever may write Parameter Store
/// must not be able to send the tokens elsewhere or open a door to them.
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
    pub token_parameter: Option<crate::parameters::TokenParameter>,
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
    /// Write a CloudWatch EMF line per invocation.
    pub metrics: bool,
    /// Put per-stage timings in every event's log line.
    pub debug_timings: bool,
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

        match var("BASE_URL").filter(|v| !v.trim().is_empty()) {
            None => problem(
                "BASE_URL",
                "is not set: lee cannot reach Home Assistant".into(),
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
        if let Some(raw) = var("SSL_CA_BUNDLE") {
            match read_pem(&raw, "CERTIFICATE", false) {
                Ok(pem) => config.ca_bundle = Some(pem),
                Err(why) => problem("SSL_CA_BUNDLE", why),
            }
        }
        match (var("SSL_CLIENT_CERT"), var("SSL_CLIENT_KEY")) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                let cert = read_pem(&cert, "CERTIFICATE", false);
                let key = read_pem(&key, "PRIVATE KEY", true);
                match (cert, key) {
                    (Ok(cert), Ok(key)) => {
                        let key = String::from_utf8(key.0).unwrap_or_default();
                        config.client_identity = Some((cert, Secret::new(key)));
                    }
                    (cert, key) => {
                        if let Err(why) = cert {
                            problem("SSL_CLIENT_CERT", why);
                        }
                        if let Err(why) = key {
                            problem("SSL_CLIENT_KEY", why);
                        }
                    }
                }
            }
            (Some(_), None) => problem(
                "SSL_CLIENT_KEY",
                "is needed with SSL_CLIENT_CERT for mutual TLS".into(),
            ),
            (None, Some(_)) => problem(
                "SSL_CLIENT_CERT",
                "is needed with SSL_CLIENT_KEY for mutual TLS".into(),
            ),
        }
        if let Some(name) = var("HA_TOKEN_PARAMETER").filter(|n| !n.trim().is_empty()) {
            let name = name.trim().to_string();
            let port = match var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
                None => Some(2773),
                Some(raw) => raw.trim().parse::<u16>().ok().filter(|&p| p > 0),
            };
            let ttl = match var("SSM_CACHE_TTL") {
                None => Some(300),
                Some(raw) => raw.trim().parse::<u64>().ok().filter(|&s| s <= 86_400),
            };
            match (crate::parameters::is_parameter_name(&name), port, ttl) {
                (false, _, _) => problem(
                    "HA_TOKEN_PARAMETER",
                    "must be a Parameter Store name: letters, digits and _ . - /".into(),
                ),
                (_, None, _) => problem(
                    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                    "must be a port number".into(),
                ),
                (_, _, None) => problem(
                    "SSM_CACHE_TTL",
                    "must be whole seconds, at most 86400".into(),
                ),
                (true, Some(port), Some(ttl)) => {
                    config.token_parameter = Some(crate::parameters::TokenParameter {
                        name,
                        port,
                        session_token: var("AWS_SESSION_TOKEN")
                            .filter(|t| !t.is_empty())
                            .map(Secret::new),
                        ttl: std::time::Duration::from_secs(ttl),
                    });
                }
            }
        }
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
            match parse_extra_headers(&raw) {
                Ok(headers) => config.extra_headers = headers,
                Err(why) => problem("EXTRA_HEADERS", why),
            }
        }
        config.tuning = read_tuning(&var, &mut problem);
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
                    .filter_map(|p| p.session_token.as_ref()),
            )
            .map(Secret::expose)
    }
}

/// The tier and its overrides, budget-checked.
fn read_tuning(
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
    if tuning.capacities.response_buffer < crate::MIN_RESPONSE_BUFFER {
        problem(
            "RESPONSE_BUFFER_BYTES",
            format!("must be at least {} bytes", crate::MIN_RESPONSE_BUFFER),
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

fn parse_flag(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// PEM given inline, or the contents of the file it names. `label` is the
/// PEM block kind that must be present (`CERTIFICATE`, or any `... PRIVATE KEY`).
/// When the value may be `secret` (the client key), an error never quotes
/// it: key material pasted without its `-----BEGIN` line is taken for a
/// file name, and would otherwise be logged as one.
fn read_pem(raw: &str, label: &str, secret: bool) -> Result<Pem, String> {
    let bytes = if raw.trim_start().starts_with("-----BEGIN") {
        raw.as_bytes().to_vec()
    } else {
        let path = Path::new(raw.trim());
        std::fs::read(path).map_err(|e| {
            if secret {
                format!("is neither PEM (-----BEGIN ...) nor a file lee can read: {e}")
            } else {
                format!("cannot read {}: {e}", path.display())
            }
        })?
    };
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .lines()
        .any(|line| line.starts_with("-----BEGIN") && line.contains(label));
    if found {
        Ok(Pem(bytes))
    } else {
        Err(format!("holds no PEM block of kind {label}"))
    }
}

/// `Name: value, Name2: value2` → header pairs. Names must be HTTP tokens,
/// values visible ASCII; `Authorization` and `Host` are lee's to set.
fn parse_extra_headers(raw: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut headers = Vec::new();
    for (i, item) in raw.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = item.split_once(':') else {
            return Err(format!(
                "header {} has no ':' between name and value",
                i + 1
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("header {} has an invalid name", i + 1));
        }
        if ["authorization", "host", "content-length"].contains(&name.to_ascii_lowercase().as_str())
        {
            return Err(format!(
                "header {name} is set by lee and cannot be overridden"
            ));
        }
        if value.is_empty() || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(format!("header {name} has an empty or invalid value"));
        }
        headers.push((name.to_string(), Secret::new(value.to_string())));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (Config, Vec<Problem>) {
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

    #[test]
    fn base_urls_are_checked() {
        for good in [
            "http://127.0.0.1:8123",
            "https://ha.example.com",
            "http://[::1]:8123",
        ] {
            assert!(BaseUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://ha.example.com/api",
            "https://user:pw@ha.example.com",
            "https://ha example.com",
            "https://ha.example.com:port",
            "https://ha.example.com:99999",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// Found by fuzzing (config): addresses without a usable host were
    /// accepted, so the problem showed only as every request failing.
    #[test]
    fn base_urls_without_a_usable_host_are_refused() {
        for bad in [
            "https://]",
            "http://:8123",
            "http://ha]",
            "http://h[a:80",
            "http://[]",
            "http://[zz]:8123",
            "http://[::1]]",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "http://[::1]",
            "http://[2001:db8::1]:8123",
            "http://ha:8123",
        ] {
            assert!(BaseUrl::parse(good).is_ok(), "{good}");
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

    /// Found by fuzzing (config): a client key that is not PEM was taken for
    /// a file name and quoted whole in the problem.
    #[test]
    fn a_client_key_that_is_not_pem_is_not_quoted() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        for key in [
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7marker",
            "\"-----BEGIN PRIVATE KEY-----\nMIIEvmarker\n-----END PRIVATE KEY-----\"",
            "key\0marker",
        ] {
            let (c, problems) = read(&[
                ("BASE_URL", "http://h"),
                ("SSL_CLIENT_CERT", pem),
                ("SSL_CLIENT_KEY", key),
            ]);
            assert!(c.client_identity.is_none());
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].variable, "SSL_CLIENT_KEY");
            assert!(!problems[0].message.contains("marker"), "{}", problems[0]);
        }
        // A certificate is no secret: its file name is shown.
        let (_, problems) = read(&[("SSL_CA_BUNDLE", "/nonexistent/ca.pem")]);
        assert!(problems[1].message.contains("/nonexistent/ca.pem"));
    }

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
            problems[0].message.contains("over by 10765696 bytes"),
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

    #[test]
    fn secrets_compare_whole() {
        let s = Secret::new("s3cret".into());
        assert!(s.matches("s3cret"));
        for other in ["", "s3cre", "s3cret!", "S3cret", "x3cret"] {
            assert!(!s.matches(other), "{other}");
        }
    }

    #[test]
    fn pem_is_taken_inline_or_from_a_file() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(read_pem(pem, "CERTIFICATE", false).is_ok());
        let path = std::env::temp_dir().join(format!("lee-config-{}.pem", std::process::id()));
        std::fs::write(&path, pem).unwrap();
        assert_eq!(
            read_pem(path.to_str().unwrap(), "CERTIFICATE", false)
                .unwrap()
                .0,
            pem.as_bytes()
        );
        assert!(read_pem(path.to_str().unwrap(), "PRIVATE KEY", true).is_err());
        std::fs::remove_file(path).unwrap();
    }
}
