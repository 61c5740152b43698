//! The doctor's TLS checks: the certificate Home Assistant presents to lee
//! (`tls`: protocol, names, expiry, issuer, or exactly why it is refused),
//! and the one Amazon sees for account linking (`account_linking`:
//! `https://<host>/auth/authorize` on port 443, trusted by public roots
//! alone).
//!
//! Each check makes its own handshake (rustls, lee's trust: the public web
//! roots, `SSL_CA_BUNDLE`, the client certificate, `NOT_VERIFY_SSL`) with a
//! verifier that keeps the certificate presented, so that a refusal can be
//! explained with the certificate's own names and dates.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{Check, Setup, Status};
use crate::tls_failure::{self, Explained};

/// How long one handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A certificate that expires sooner than this is a warning.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);

/// The port Amazon reaches account linking on.
const ACCOUNT_LINKING_PORT: u16 = 443;

/// Check the certificate Home Assistant presents at `BASE_URL`. Returns
/// whether lee can talk to it (the checks after it need that).
pub(super) fn check(setup: &Setup<'_>, checks: &mut Vec<Check>) -> bool {
    let Some(base) = &setup.config.base_url else {
        return false;
    };
    if !base.https {
        checks.push(Check::new(
            "tls",
            Status::Skipped,
            "BASE_URL is http://: no TLS between lee and Home Assistant",
        ));
        return true;
    }
    let (host, port) = (base.host(), base.port());
    let trust = match Trust::of(setup) {
        Ok(trust) => trust,
        Err(problem) => {
            checks.push(
                Check::new("tls", Status::Failed, problem.0)
                    .fix(format!("fix {} (see the configuration lines)", problem.1)),
            );
            return false;
        }
    };
    let handshake = handshake(host, port, &trust, setup.time_left(HANDSHAKE_TIMEOUT));
    let facts = handshake.certificate.as_deref().and_then(Facts::of);
    match handshake.result {
        Ok(protocol) => {
            let mut seen = protocol.to_string();
            let mut status = Status::Ok;
            let mut fix = None;
            if let Some(facts) = &facts {
                seen.push_str(&format!(", {}", facts.describe()));
                if facts.expires_in() < EXPIRY_WARNING {
                    status = Status::Warning;
                    fix = Some("renew the certificate before it expires (Let's Encrypt renews every 90 days: check that the renewal runs)".to_string());
                }
            }
            if setup.config.not_verify_ssl {
                status = Status::Warning;
                seen.push_str("; NOT_VERIFY_SSL is set, so lee does not check this certificate");
                fix = Some("put the certificate (or its CA) in SSL_CA_BUNDLE and unset NOT_VERIFY_SSL, so that nobody in between can read the token".to_string());
            }
            let mut check = Check::new("tls", status, seen);
            if let Some(fix) = fix {
                check = check.fix(fix);
            }
            checks.push(check);
            true
        }
        Err(failure) => {
            let Explained { seen, fix } = failure.explain(host, facts.as_ref());
            let shown = match &facts {
                Some(facts) => format!("{seen} ({})", facts.describe()),
                None => seen,
            };
            checks.push(Check::new("tls", Status::Failed, shown).fix(fix));
            false
        }
    }
}

/// Check that Amazon can reach account linking: `https://<host>/auth/authorize`
/// on port 443 with a certificate public roots alone trust.
pub(super) fn account_linking(setup: &Setup<'_>, checks: &mut Vec<Check>) {
    let Some(base) = &setup.config.base_url else {
        return;
    };
    let host = base.host();
    let addresses: Vec<IpAddr> = (host, ACCOUNT_LINKING_PORT)
        .to_socket_addrs()
        .map(|found| found.map(|a| a.ip()).collect())
        .unwrap_or_default();
    let private = |ip: &IpAddr| match ip {
        IpAddr::V4(ip) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local(),
    };
    if !addresses.is_empty() && addresses.iter().all(private) {
        checks.push(Check::new(
            "account_linking",
            Status::Skipped,
            format!("{host} is a private address, which Amazon cannot reach: account linking goes to the public address in the skill's settings; run the doctor with that address (--ha-url https://ha.example.com)"),
        ));
        return;
    }
    let Ok(public) = WebPkiServerVerifier::builder_with_provider(
        Arc::new(public_roots()),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build() else {
        return;
    };
    let public = Trust {
        verifier: public,
        client: None,
    };
    let url = format!("https://{host}/auth/authorize");
    let handshake = handshake(
        host,
        ACCOUNT_LINKING_PORT,
        &public,
        setup.time_left(HANDSHAKE_TIMEOUT),
    );
    let facts = handshake.certificate.as_deref().and_then(Facts::of);
    let check = match handshake.result {
        Ok(_) if handshake.status.is_some_and(|s| s < 500) => Check::new(
            "account_linking",
            Status::Ok,
            format!(
                "{url} answers HTTP {} with a publicly trusted certificate{}",
                handshake.status.unwrap_or_default(),
                facts.map(|f| format!(" ({})", f.describe())).unwrap_or_default()
            ),
        ),
        Ok(_) => Check::new(
            "account_linking",
            Status::Failed,
            format!("{url}: {}", handshake.status.map_or("no HTTP answer".to_string(), |s| format!("HTTP {s}"))),
        )
        .fix("publish Home Assistant itself on port 443 at this name, so that Amazon reaches /auth/authorize and /auth/token"),
        Err(Failure::Connect(why)) => Check::new(
            "account_linking",
            Status::Failed,
            format!("{host}:443 {why}"),
        )
        .fix("Amazon reaches /auth/authorize only on port 443: publish Home Assistant on 443 (router or proxy), or use Nabu Casa"),
        Err(Failure::Tls(error)) => {
            let explained = tls_failure::explain(&error, host, facts.as_ref().map(|f| f.self_signed));
            Check::new(
                "account_linking",
                Status::Failed,
                format!("{url}: {} (Amazon trusts only public CAs, whatever SSL_CA_BUNDLE says)", explained.seen),
            )
            .fix("account linking needs a certificate a public client trusts (Let's Encrypt, Nabu Casa): lee may use SSL_CA_BUNDLE, Amazon cannot")
        }
    };
    checks.push(check);
}

/// The verifier and client identity a handshake uses.
struct Trust {
    /// How the server's certificate is checked.
    verifier: Arc<dyn ServerCertVerifier>,
    /// lee's client certificate chain and key.
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl Trust {
    /// lee's trust as configured (the transport's own verifier, see
    /// [`crate::tls`]); `Err` names the unusable variable.
    fn of(setup: &Setup<'_>) -> Result<Trust, (String, &'static str)> {
        let config = setup.config;
        let verifier = crate::tls::verifier(config)
            .map_err(|e| (format!("{} {}", e.variable, e.message), e.variable))?;
        let client = match &config.client_identity {
            None => None,
            Some((chain, key)) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain.0)
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        (
                            "SSL_CLIENT_CERT holds a certificate lee cannot read".to_string(),
                            "SSL_CLIENT_CERT",
                        )
                    })?;
                let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes()).map_err(|_| {
                    (
                        "SSL_CLIENT_KEY is not a private key lee can use".to_string(),
                        "SSL_CLIENT_KEY",
                    )
                })?;
                Some((certs, key))
            }
        };
        Ok(Trust { verifier, client })
    }
}

/// The public web roots (Mozilla's, as lee's transport uses).
fn public_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let _ = roots.add(der.clone());
    }
    roots
}

/// Why a handshake did not complete.
enum Failure {
    /// No TCP connection: why.
    Connect(String),
    /// TLS refused: rustls's reason.
    Tls(rustls::Error),
}

impl Failure {
    fn explain(&self, host: &str, facts: Option<&Facts>) -> Explained {
        match self {
            Failure::Connect(why) => Explained {
                seen: format!("no TLS connection: {why}"),
                fix: "see the tcp check".to_string(),
            },
            Failure::Tls(error) => tls_failure::explain(error, host, facts.map(|f| f.self_signed)),
        }
    }
}

/// What one handshake showed.
struct Handshake {
    /// The protocol, or why there was none.
    result: Result<&'static str, Failure>,
    /// The certificate presented, DER, when one was.
    certificate: Option<Vec<u8>>,
    /// The HTTP status of `GET /auth/authorize` over it, when it answered.
    status: Option<u16>,
}

/// Connect to `host:port`, shake hands with `trust`, ask `GET /auth/authorize`
/// and read the status line: a server that wants a client certificate says
/// so only after the client's half of the handshake.
fn handshake(host: &str, port: u16, trust: &Trust, timeout: Duration) -> Handshake {
    let timeout = timeout.max(Duration::from_millis(1));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Arc::new(Mutex::new(None));
    let failed = |failure| Handshake {
        result: Err(failure),
        certificate: None,
        status: None,
    };
    let verifier = Keeping {
        inner: Arc::clone(&trust.verifier),
        seen: Arc::clone(&seen),
    };
    let builder = match ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier)),
        Err(e) => return failed(Failure::Tls(e)),
    };
    let config = match &trust.client {
        Some((certs, key)) => match builder.with_client_auth_cert(certs.clone(), key.clone_key()) {
            Ok(config) => config,
            Err(e) => return failed(Failure::Tls(e)),
        },
        None => builder.with_no_client_auth(),
    };
    let Ok(name) = ServerName::try_from(host.to_string()) else {
        return failed(Failure::Connect(format!(
            "{host} is not a name TLS can check"
        )));
    };
    let address: Option<SocketAddr> = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next());
    let Some(address) = address else {
        return failed(Failure::Connect("does not resolve".to_string()));
    };
    let mut tcp = match TcpStream::connect_timeout(&address, timeout) {
        Ok(tcp) => tcp,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return failed(Failure::Connect(format!(
                "refused the connection: nothing listens on port {port}"
            )));
        }
        Err(e) => return failed(Failure::Connect(format!("could not be reached: {e}"))),
    };
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    let mut conn = match ClientConnection::new(Arc::new(config), name) {
        Ok(conn) => conn,
        Err(e) => return failed(Failure::Tls(e)),
    };
    let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
    let request =
        format!("GET /auth/authorize HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 64];
    let outcome = stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.read(&mut head));
    let certificate = seen.lock().ok().and_then(|mut s| s.take());
    let result = match outcome {
        Ok(n) => {
            let protocol = match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
                _ => "TLS",
            };
            let status = std::str::from_utf8(&head[..n])
                .ok()
                .and_then(|line| line.split(' ').nth(1))
                .and_then(|code| code.parse().ok());
            return Handshake {
                result: Ok(protocol),
                certificate,
                status,
            };
        }
        Err(e) => match tls_error(&e) {
            Some(tls) => Failure::Tls(tls.clone()),
            None if e.kind() == std::io::ErrorKind::InvalidData => Failure::Tls(
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            ),
            None if e.kind() == std::io::ErrorKind::UnexpectedEof => Failure::Connect(
                "the server closed the connection during the TLS handshake: it may not speak TLS on this port (plain HTTP?)".to_string(),
            ),
            None => Failure::Connect(format!("the handshake did not finish: {e}")),
        },
    };
    Handshake {
        result: Err(result),
        certificate,
        status: None,
    }
}

/// The rustls error an I/O error from a rustls stream carries.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A verifier that keeps the certificate presented, then verifies as
/// `inner` says.
#[derive(Debug)]
struct Keeping {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
}

impl ServerCertVerifier for Keeping {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What a certificate says of itself.
struct Facts {
    names: Vec<String>,
    issuer: String,
    not_after: i64,
    self_signed: bool,
}

impl Facts {
    fn of(der: &[u8]) -> Option<Facts> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let names = crate::tls::names_of(&cert)
            .iter()
            .map(ToString::to_string)
            .collect();
        let issuer = cert
            .issuer()
            .iter_organization()
            .chain(cert.issuer().iter_common_name())
            .filter_map(|a| a.as_str().ok())
            .collect::<Vec<_>>()
            .join(" ");
        Some(Facts {
            names,
            issuer: if issuer.is_empty() {
                cert.issuer().to_string()
            } else {
                issuer
            },
            not_after: cert.validity().not_after.timestamp(),
            // Signed by its own key (names alone can repeat between a CA and its certificates).
            self_signed: cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok(),
        })
    }

    fn expires_in(&self) -> Duration {
        let now = tls_failure::now().as_secs() as i64;
        Duration::from_secs(self.not_after.saturating_sub(now).max(0) as u64)
    }

    fn describe(&self) -> String {
        let not_after =
            UnixTime::since_unix_epoch(Duration::from_secs(self.not_after.max(0) as u64));
        let at = std::time::UNIX_EPOCH + Duration::from_secs(not_after.as_secs());
        let days = self.expires_in().as_secs() / 86_400;
        let issuer = if self.self_signed {
            "self-signed".to_string()
        } else {
            format!("issued by {}", self.issuer)
        };
        format!(
            "certificate for {}, valid until {} ({days} days left), {issuer}",
            if self.names.is_empty() {
                "no name".to_string()
            } else {
                self.names.join(", ")
            },
            humantime::format_rfc3339_seconds(at)
        )
    }
}
