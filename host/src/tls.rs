//! lee's TLS to Home Assistant: one rustls configuration per transport,
//! built once from the settings, and the verifier that decides which
//! certificate to trust.
//!
//! What it is for: Home Assistant's own documentation makes a self-signed
//! certificate with `openssl req -x509 ...`, which OpenSSL 3 marks
//! `CA:TRUE`. webpki refuses a CA certificate used as a server's own, so
//! giving it in `SSL_CA_BUNDLE` would not help, and `NOT_VERIFY_SSL` (which
//! lets anyone in between read the token) would be the only way out.
//! [`Verifier`] trusts, besides the public web roots and the CAs of
//! `SSL_CA_BUNDLE`, a server certificate that is byte for byte one of the
//! bundle's, as long as it names the host and is valid now; the handshake's
//! signatures are still checked with that certificate's key.
//!
//! [`Connector`] wraps the TCP connection in TLS with that configuration
//! for ureq (its own connector builds a configuration from ureq's settings,
//! which have no place for a verifier).

use std::fmt;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

use crate::config::Config;
use crate::transport::TlsSetupError;

/// The rustls configuration for `config`: lee's [`Verifier`] (or none at
/// all with `NOT_VERIFY_SSL`) and the client certificate, if any.
pub fn client_config(config: &Config) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError {
            variable: "SSL_CA_BUNDLE",
            message: format!("rustls has no usable protocol version: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier(config)?);
    let config = match &config.client_identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let certs = certificates(&chain.0).map_err(|message| TlsSetupError {
                variable: "SSL_CLIENT_CERT",
                message,
            })?;
            let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes()).map_err(|_| {
                TlsSetupError {
                    variable: "SSL_CLIENT_KEY",
                    message: "is not a PEM private key lee can use".into(),
                }
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TlsSetupError {
                    variable: "SSL_CLIENT_KEY",
                    message: format!("does not go with SSL_CLIENT_CERT: {e}"),
                })?
        }
    };
    Ok(Arc::new(config))
}

/// The verifier for `config` (one that checks nothing with `NOT_VERIFY_SSL`).
pub fn verifier(config: &Config) -> Result<Arc<dyn ServerCertVerifier>, TlsSetupError> {
    let provider = provider();
    if config.not_verify_ssl {
        return Ok(Arc::new(Verifier {
            webpki: None,
            bundle: Vec::new(),
            provider,
        }));
    }
    let bundle = match &config.ca_bundle {
        Some(pem) => certificates(&pem.0).map_err(|message| TlsSetupError {
            variable: "SSL_CA_BUNDLE",
            message,
        })?,
        None => Vec::new(),
    };
    let mut roots = RootCertStore::empty();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let _ = roots.add(der.clone());
    }
    // A certificate webpki cannot take as a root (a server's own, say)
    // still counts byte for byte.
    let _ = roots.add_parsable_certificates(bundle.iter().cloned());
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| TlsSetupError {
                variable: "SSL_CA_BUNDLE",
                message: format!("holds no certificate lee can trust: {e}"),
            })?;
    Ok(Arc::new(Verifier {
        webpki: Some(webpki),
        bundle,
        provider,
    }))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of PEM `pem`; at least one.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|_| "holds a PEM block that cannot be read".to_string())?;
    if certs.is_empty() {
        return Err("holds no certificate".into());
    }
    Ok(certs)
}

/// Trusts what webpki trusts from the public roots and `SSL_CA_BUNDLE`'s
/// CAs, and a server certificate that is one of the bundle's, byte for
/// byte, when it names the host and is valid now. Without webpki
/// (`NOT_VERIFY_SSL`) it trusts any certificate; the handshake's signatures
/// are checked either way.
pub struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    bundle: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Verifier({} certificates in the bundle)",
            self.bundle.len()
        )
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        let refused = match webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(refused) => refused,
        };
        if !self
            .bundle
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Err(refused);
        }
        // The certificate the user gave: its own name and dates still hold.
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(end_entity.as_ref()) else {
            return Err(refused);
        };
        let validity = cert.validity();
        let (not_before, not_after) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        let at = now.as_secs() as i64;
        let unix =
            |t: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.max(0) as u64));
        if at > not_after {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext {
                    time: now,
                    not_after: unix(not_after),
                },
            ));
        }
        if at < not_before {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYetContext {
                    time: now,
                    not_before: unix(not_before),
                },
            ));
        }
        let names = names_of(&cert);
        if names.iter().any(|name| name.matches(server_name)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForNameContext {
                    expected: server_name.to_owned(),
                    presented: names.iter().map(Name::shown).collect(),
                },
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A name a certificate holds: a DNS name (perhaps `*.` a wildcard) or an
/// IP address.
pub(crate) enum Name {
    Dns(String),
    Ip(IpAddr),
}

impl Name {
    fn matches(&self, server: &ServerName<'_>) -> bool {
        match (self, server) {
            (Name::Ip(ip), ServerName::IpAddress(asked)) => *ip == IpAddr::from(*asked),
            (Name::Dns(name), ServerName::DnsName(asked)) => {
                let (name, asked) = (
                    name.to_ascii_lowercase(),
                    asked.as_ref().to_ascii_lowercase(),
                );
                match name.strip_prefix("*.") {
                    // A wildcard stands for exactly one label.
                    Some(rest) => asked
                        .split_once('.')
                        .is_some_and(|(label, domain)| !label.is_empty() && domain == rest),
                    None => name == asked,
                }
            }
            _ => false,
        }
    }

    /// As rustls shows presented names.
    fn shown(&self) -> String {
        match self {
            Name::Dns(name) => format!("DnsName({name:?})"),
            Name::Ip(ip) => format!("IpAddress({ip})"),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Dns(name) => f.write_str(name),
            Name::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The names of a certificate: its subjectAltName entries, else its common name.
pub(crate) fn names_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<Name> {
    use x509_parser::extensions::GeneralName;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(Name::Dns(dns.to_string())),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        names.push(Name::Ip(IpAddr::from(v4)));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        names.push(Name::Ip(IpAddr::from(v6)));
                    }
                }
                _ => {}
            }
        }
    }
    if names.is_empty()
        && let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
    {
        names.push(Name::Dns(cn.to_string()));
    }
    names
}

/// Wraps an `https://` connection in TLS with lee's configuration, for
/// ureq's connector chain; an `http://` one passes through.
pub struct Connector(pub Arc<ClientConfig>);

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tls::Connector")
    }
}

impl<In: Transport> ureq::unversioned::transport::Connector<In> for Connector {
    type Out = Either<In, Tls>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("BASE_URL's host is not a name TLS can check"))?;
        let mut conn =
            ClientConnection::new(Arc::clone(&self.0), name).map_err(ureq::Error::Rustls)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(remaining(details));
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(Tls {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// What is left of the connection's timeout, which counts from the start of
/// the TCP connection (as ureq's own TLS connector counts it).
fn remaining(details: &ConnectionDetails) -> NextTimeout {
    use ureq::unversioned::transport::time::{Duration, Instant};
    let mut timeout = details.timeout;
    if let (Duration::Exact(limit), Instant::Exact(now), Instant::Exact(start)) =
        (timeout.after, (details.current_time)(), details.now)
    {
        timeout.after = Duration::Exact(limit.saturating_sub(now.saturating_duration_since(start)));
    }
    timeout
}

/// A TLS connection to Home Assistant.
pub struct Tls {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tls::Tls")
    }
}

impl Transport for Tls {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stand_for_one_label() {
        let name = |n: &str| ServerName::try_from(n.to_string()).unwrap();
        let wild = Name::Dns("*.Example.com".into());
        assert!(wild.matches(&name("ha.example.com")));
        assert!(!wild.matches(&name("a.b.example.com")));
        assert!(!wild.matches(&name("example.com")));
        assert!(Name::Ip("127.0.0.1".parse().unwrap()).matches(&name("127.0.0.1")));
        assert!(!Name::Dns("127.0.0.1".into()).matches(&name("127.0.0.1")));
    }
}
