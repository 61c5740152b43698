//! Why a TLS handshake with Home Assistant failed, in words, with the fix.
//!
//! What it is for: "TLS handshake failed" alone leaves a user guessing
//! between a dozen causes with different fixes. rustls says which one it
//! was ([`rustls::Error`]); [`explain`] turns that into what was seen and
//! what to do, for the log line of a failed request (see
//! [`crate::transport`]) and for the doctor's `tls` check. The Alexa
//! ErrorResponse keeps its short message: these words go to the user's log,
//! never to Alexa.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, Error};

/// A TLS failure, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// What went wrong, as seen.
    pub seen: String,
    /// What to do, in one sentence.
    pub fix: String,
}

/// Explain `error`, met while connecting to `host` over TLS. `self_signed`
/// says whether the certificate presented names itself as its issuer, when
/// that is known.
pub fn explain(error: &Error, host: &str, self_signed: Option<bool>) -> Explained {
    let (seen, fix) = match error {
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => (
            "the server did not answer in TLS: it speaks plain HTTP (or another protocol) on this port".to_string(),
            "if Home Assistant serves plain HTTP here, write http:// in BASE_URL; otherwise point BASE_URL at the port where its proxy serves HTTPS".to_string(),
        ),
        Error::AlertReceived(
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure,
        ) => (
            "the server asks for a client certificate and lee sent none it accepts".to_string(),
            "set SSL_CLIENT_CERT and SSL_CLIENT_KEY to the client certificate and key the server (or its proxy) expects".to_string(),
        ),
        Error::AlertReceived(AlertDescription::UnknownCA | AlertDescription::BadCertificate) => (
            "the server refused lee's client certificate".to_string(),
            "give SSL_CLIENT_CERT a certificate signed by the CA the server trusts for clients".to_string(),
        ),
        Error::InvalidCertificate(certificate) => return explain_certificate(certificate, host, self_signed),
        other => (
            format!("the TLS handshake failed: {other}"),
            "check the TLS setup of Home Assistant's proxy (lee speaks TLS 1.2 and 1.3)".to_string(),
        ),
    };
    Explained { seen, fix }
}

fn explain_certificate(
    error: &CertificateError,
    host: &str,
    self_signed: Option<bool>,
) -> Explained {
    let (seen, fix) = match error {
        CertificateError::Expired => (
            "the certificate has expired".to_string(),
            renew(),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            format!(
                "the certificate expired on {} ({} ago)",
                date(*not_after),
                days(time.as_secs().saturating_sub(not_after.as_secs()))
            ),
            renew(),
        ),
        CertificateError::NotValidYet => (
            "the certificate is not valid yet".to_string(),
            "check the clock of the machine that made the certificate, or wait until it is valid".to_string(),
        ),
        CertificateError::NotValidYetContext { time, not_before } => (
            format!(
                "the certificate is valid only from {} ({} from now): a clock is wrong",
                date(*not_before),
                days(not_before.as_secs().saturating_sub(time.as_secs()))
            ),
            "check the clock of the machine that made the certificate, or make it again".to_string(),
        ),
        CertificateError::NotValidForName => (
            format!("the certificate is not for {host}"),
            format!("use a name the certificate has in BASE_URL, or get a certificate for {host}"),
        ),
        CertificateError::NotValidForNameContext { expected, presented } => {
            let expected = match expected {
                ServerName::DnsName(name) => name.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                _ => host.to_string(),
            };
            let names = if presented.is_empty() {
                "no name at all".to_string()
            } else {
                presented.iter().map(|n| bare(n)).collect::<Vec<_>>().join(", ")
            };
            (
                format!("the certificate is for {names}, not {expected}"),
                format!("use one of those names in BASE_URL, or get a certificate that names {expected}"),
            )
        }
        CertificateError::UnknownIssuer if self_signed == Some(true) => (
            "the certificate is self-signed, and not in SSL_CA_BUNDLE".to_string(),
            "put this certificate (its PEM) in SSL_CA_BUNDLE, or use a publicly trusted one (Let's Encrypt, Nabu Casa)".to_string(),
        ),
        CertificateError::UnknownIssuer => (
            "the certificate is issued by a CA lee does not trust".to_string(),
            "add that CA's certificate (PEM) to SSL_CA_BUNDLE, or use a publicly trusted certificate".to_string(),
        ),
        other if format!("{other:?}").contains("CaUsedAsEndEntity") => (
            "the certificate is a self-signed CA certificate (CA:TRUE) used as the server's own, as OpenSSL 3 makes one from Home Assistant's instructions, and it is not in SSL_CA_BUNDLE".to_string(),
            "put this certificate (its PEM) in SSL_CA_BUNDLE: lee trusts exactly that certificate there, as long as it names the host and is valid".to_string(),
        ),
        other => (
            format!("the certificate was refused: {other:?}"),
            "use a certificate from a CA in SSL_CA_BUNDLE or a publicly trusted one".to_string(),
        ),
    };
    Explained { seen, fix }
}

/// A presented name as written in a certificate: rustls gives
/// `DnsName("ha.example.com")` or `IpAddress(10.0.0.2)`.
fn bare(name: &str) -> &str {
    let inner = name
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(name);
    inner.trim_matches('"')
}

fn renew() -> String {
    "renew the certificate on Home Assistant's side (Let's Encrypt renews every 90 days: check that the renewal runs)".to_string()
}

/// A Unix time as a UTC date and time.
fn date(time: UnixTime) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(time.as_secs());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A number of seconds as whole days (or hours, under two days).
fn days(seconds: u64) -> String {
    match seconds / 86_400 {
        0 | 1 => format!("{} hours", seconds / 3_600),
        n => format!("{n} days"),
    }
}

/// Now, as rustls reads time.
pub fn now() -> UnixTime {
    UnixTime::since_unix_epoch(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_words() {
        let expired = Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000 - 3 * 86_400)),
        });
        let e = explain(&expired, "ha.example.com", None);
        assert_eq!(
            e.seen,
            "the certificate expired on 2027-01-12T08:00:00Z (3 days ago)"
        );
        assert!(e.fix.starts_with("renew"));
        let name = Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("ha.example.com").unwrap(),
            presented: vec![
                "DnsName(\"other.example.com\")".into(),
                "IpAddress(10.0.0.2)".into(),
            ],
        });
        assert_eq!(
            explain(&name, "ha.example.com", None).seen,
            "the certificate is for other.example.com, 10.0.0.2, not ha.example.com"
        );
        let unknown = Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(
            explain(&unknown, "h", Some(true))
                .seen
                .contains("self-signed")
        );
        assert!(
            explain(&unknown, "h", Some(false))
                .fix
                .contains("SSL_CA_BUNDLE")
        );
        let required = Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(
            explain(&required, "h", None)
                .fix
                .contains("SSL_CLIENT_CERT")
        );
        let plain = Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(explain(&plain, "h", None).fix.contains("http://"));
    }
}
