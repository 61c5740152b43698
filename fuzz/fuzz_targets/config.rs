//! Configuration from the environment (`lee_host::config::Config::from_env`)
//! with the known variables set to arbitrary strings.
//!
//! Never panics; every problem names a known variable, once; no problem and
//! no `Debug` output depends on a secret value (tokens, the shared secret,
//! header values, the client key): other secrets of the same shape give the
//! same ones, and no problem quotes a secret of 8 characters or more; a
//! `BASE_URL` that is accepted is one the transport can use (an `http::Uri`
//! with a real host) and reads back the same.
//!
//! File paths (`SSL_*` values that are not inline PEM) are moved under a
//! folder that does not exist, so the target never reads the machine's files.
#![no_main]

use std::collections::HashMap;
use std::net::Ipv6Addr;

use arbitrary::Arbitrary;
use lee_host::config::{BaseUrl, Config};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Name {
    BaseUrl,
    NotVerifySsl,
    Debug,
    LongLivedAccessToken,
    HaToken,
    AlexaSkillId,
    HaTokenParameter,
    ExtensionPort,
    SsmCacheTtl,
    AwsSessionToken,
    HaCacheWarming,
    SslCaBundle,
    SslClientCert,
    SslClientKey,
    ExtraHeaders,
    SharedSecret,
}

impl Name {
    const fn as_str(self) -> &'static str {
        match self {
            Name::BaseUrl => "BASE_URL",
            Name::NotVerifySsl => "NOT_VERIFY_SSL",
            Name::Debug => "DEBUG",
            Name::LongLivedAccessToken => "LONG_LIVED_ACCESS_TOKEN",
            Name::HaToken => "HA_TOKEN",
            Name::AlexaSkillId => "ALEXA_SKILL_ID",
            Name::HaTokenParameter => "HA_TOKEN_PARAMETER",
            Name::ExtensionPort => "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            Name::SsmCacheTtl => "SSM_CACHE_TTL",
            Name::AwsSessionToken => "AWS_SESSION_TOKEN",
            Name::HaCacheWarming => "HA_CACHE_WARMING",
            Name::SslCaBundle => "SSL_CA_BUNDLE",
            Name::SslClientCert => "SSL_CLIENT_CERT",
            Name::SslClientKey => "SSL_CLIENT_KEY",
            Name::ExtraHeaders => "EXTRA_HEADERS",
            Name::SharedSecret => "SHARED_SECRET",
        }
    }

    /// Whether the whole value is secret.
    const fn is_secret(self) -> bool {
        matches!(
            self,
            Name::LongLivedAccessToken
                | Name::HaToken
                | Name::SharedSecret
                | Name::AwsSessionToken
                | Name::SslClientKey
        )
    }

    const fn is_path_or_pem(self) -> bool {
        matches!(
            self,
            Name::SslCaBundle | Name::SslClientCert | Name::SslClientKey
        )
    }
}

const ALL: [Name; 16] = [
    Name::BaseUrl,
    Name::NotVerifySsl,
    Name::Debug,
    Name::LongLivedAccessToken,
    Name::HaToken,
    Name::AlexaSkillId,
    Name::HaTokenParameter,
    Name::ExtensionPort,
    Name::SsmCacheTtl,
    Name::AwsSessionToken,
    Name::HaCacheWarming,
    Name::SslCaBundle,
    Name::SslClientCert,
    Name::SslClientKey,
    Name::ExtraHeaders,
    Name::SharedSecret,
];

/// Where file paths are moved: a folder that does not exist.
const MOVED: &str = "/nonexistent-lee-fuzz/";

/// Secrets shorter than this are too likely to occur in lee's own words.
const MIN_SECRET: usize = 8;

/// Another secret of the same shape: lowercase letters and digits rotated,
/// everything lee's checks look at (length, whitespace, visible ASCII, the
/// upper-case PEM markers) kept.
fn other(secret: &str) -> String {
    secret
        .chars()
        .map(|c| match c {
            'a'..='z' => (b'a' + (c as u8 - b'a' + 13) % 26) as char,
            '0'..='9' => (b'0' + (c as u8 - b'0' + 5) % 10) as char,
            c => c,
        })
        .collect()
}

/// `value` with its secret parts replaced by [`other`]: all of it for a
/// secret variable, the header values of `EXTRA_HEADERS`.
fn with_other_secrets(name: Name, value: &str) -> String {
    if name.is_secret() {
        other(value)
    } else if name == Name::ExtraHeaders {
        let items: Vec<String> = value
            .split(',')
            .map(|item| match item.split_once(':') {
                Some((header, secret)) => format!("{header}:{}", other(secret)),
                None => item.to_string(),
            })
            .collect();
        items.join(",")
    } else {
        value.to_string()
    }
}

fuzz_target!(|vars: Vec<(Name, String)>| {
    // What the fuzzer chose, and what lee is given (paths moved), and the
    // same with other secrets.
    let mut env: HashMap<Name, String> = HashMap::new();
    let mut given: HashMap<&str, String> = HashMap::new();
    let mut given_other: HashMap<&str, String> = HashMap::new();
    for (name, value) in vars {
        let mut moved = value.clone();
        if name.is_path_or_pem() && !value.trim_start().starts_with("-----BEGIN") {
            moved.insert_str(0, MOVED);
        }
        given_other.insert(name.as_str(), with_other_secrets(name, &moved));
        given.insert(name.as_str(), moved);
        env.insert(name, value);
    }
    let by_name = &given;
    let (config, problems) = Config::from_env(|name| by_name.get(name).cloned());
    let (config_other, problems_other) = Config::from_env(|name| given_other.get(name).cloned());

    // Every problem names a known variable, once, and says something.
    let mut named = Vec::new();
    for p in &problems {
        assert!(ALL.iter().any(|n| n.as_str() == p.variable), "{p:?}");
        assert!(
            !named.contains(&p.variable),
            "{} reported twice: {problems:?}",
            p.variable
        );
        assert!(!p.message.is_empty());
        named.push(p.variable);
    }

    // Nothing shown depends on a secret's value: other secrets of the same
    // shape give the same problems and the same `Debug` output.
    let shown = format!("{config:?}");
    assert_eq!(problems, problems_other, "a problem depends on a secret");
    assert_eq!(
        shown,
        format!("{config_other:?}"),
        "Debug depends on a secret"
    );

    // And no problem shows a secret as it is. (A message that is the same
    // with other secrets holds it only by chance: in lee's own words, or in
    // another variable's value.)
    let mut secrets: Vec<&str> = Vec::new();
    for (name, value) in &env {
        if name.is_secret() {
            secrets.push(value);
            secrets.push(value.trim());
        } else if *name == Name::ExtraHeaders {
            secrets.extend(
                value
                    .split(',')
                    .filter_map(|item| item.split_once(':'))
                    .map(|(_, v)| v.trim()),
            );
        }
    }
    let texts_other: Vec<String> = problems_other.iter().map(|p| p.message.clone()).collect();
    for secret in secrets {
        if secret.chars().count() < MIN_SECRET || ALL.iter().any(|n| n.as_str().contains(secret)) {
            continue;
        }
        let escaped = format!("{secret:?}");
        let escaped = &escaped[1..escaped.len() - 1];
        for text in problems.iter().map(|p| &p.message) {
            assert!(
                texts_other.contains(text) || !text.contains(secret) && !text.contains(escaped),
                "secret {secret:?} shown in {text:?}"
            );
        }
    }

    // An accepted BASE_URL is one the transport can use.
    if let Some(url) = &config.base_url {
        check_base_url(url, &by_name["BASE_URL"]);
    }
    if let Some(raw) = by_name.get("BASE_URL") {
        match BaseUrl::parse(raw) {
            Ok(url) => check_base_url(&url, raw),
            Err(why) => assert!(!why.is_empty()),
        }
    }
});

fn check_base_url(url: &BaseUrl, raw: &str) {
    let scheme = if url.https { "https://" } else { "http://" };
    assert!(url.origin.starts_with(scheme), "{url:?} from {raw:?}");
    assert!(!url.origin.ends_with('/'));
    assert_eq!(
        BaseUrl::parse(&url.origin).as_ref(),
        Ok(url),
        "does not read back"
    );
    let endpoint = format!("{}/api/alexa/smart_home", url.origin);
    let uri: http::Uri = match endpoint.parse() {
        Ok(uri) => uri,
        Err(e) => panic!("BASE_URL {raw:?} accepted, but {endpoint:?} is no URI: {e}"),
    };
    assert_eq!(uri.path(), "/api/alexa/smart_home", "{raw:?}");
    let host = uri.host().unwrap_or_default();
    assert!(!host.is_empty(), "BASE_URL {raw:?} accepted without a host");
    if let Some(literal) = host.strip_prefix('[') {
        let inner = literal.strip_suffix(']').unwrap_or(literal);
        assert!(
            inner.parse::<Ipv6Addr>().is_ok(),
            "BASE_URL {raw:?} accepted with {host:?}, not an IPv6 address"
        );
    } else {
        assert!(
            !host.contains(['[', ']']),
            "BASE_URL {raw:?} accepted with host {host:?}"
        );
    }
}
