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
//! | `SHARED_SECRET` | the secret an HTTP request (Function URL) must present in `x-lee-secret` for `/diagnostics` |
//!
//! Reading never stops at the first problem: [`Config::from_env`] returns
//! the configuration it could build together with every problem it found,
//! each naming its variable. A missing or malformed `BASE_URL` is a problem,
//! not a crash: the bridge then answers each directive `BRIDGE_UNREACHABLE`.
//! Secret values (tokens, header values, keys) never appear in `Debug` output
//! or in a problem's message.

use std::fmt;
use std::path::Path;

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

/// Everything lee reads from the environment for the bridge.
#[derive(Clone, Debug, Default)]
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
    /// What an HTTP request must present to see diagnostics.
    pub shared_secret: Option<Secret>,
}

impl Config {
    /// Read the configuration through `var` (normally `std::env::var`),
    /// collecting every problem.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> (Config, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut problem =
            |variable: &'static str, message: String| problems.push(Problem { variable, message });
        let mut config = Config::default();

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
        config.shared_secret = var("SHARED_SECRET")
            .filter(|s| !s.is_empty())
            .map(Secret::new);
        if let Some(raw) = var("EXTRA_HEADERS") {
            match parse_extra_headers(&raw) {
                Ok(headers) => config.extra_headers = headers,
                Err(why) => problem("EXTRA_HEADERS", why),
            }
        }
        (config, problems)
    }
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
