//! A test certificate authority and a TLS loopback server, for checking how
//! lee trusts (and refuses to trust) Home Assistant's certificate.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::fault::read_request;

/// A certificate authority made for one test run.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM.
pub struct Identity {
    /// Certificate.
    pub cert: String,
    /// Private key.
    pub key: String,
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Identity {
        self.sign(params_for(names))
    }

    fn sign(&self, params: CertificateParams) -> Identity {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Certificate parameters for `names`.
fn params_for(names: &[&str]) -> CertificateParams {
    CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("valid names")
}

/// `params`, valid only from 2020 to the end of 2021.
fn expired(mut params: CertificateParams) -> CertificateParams {
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 12, 31);
    params
}

/// A self-signed certificate made from `params`.
fn self_signed_with(params: CertificateParams) -> Identity {
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    Identity {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

impl TestCa {
    /// A certificate for `names` signed by this CA that expired at the end
    /// of 2021 (valid from 2020).
    pub fn issue_expired(&self, names: &[&str]) -> Identity {
        self.sign(expired(params_for(names)))
    }
}

/// A self-signed certificate for `names`. With `ca`, marked `CA:TRUE`, as
/// OpenSSL 3 makes one with Home Assistant's documented
/// `openssl req -x509 -newkey rsa:4096 -nodes ... -addext "subjectAltName = DNS:..."`.
pub fn self_signed(names: &[&str], ca: bool) -> Identity {
    let mut params = params_for(names);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    self_signed_with(params)
}

/// A self-signed `CA:TRUE` certificate for `names`, as [`self_signed`]
/// makes, that expired at the end of 2021.
pub fn self_signed_expired(names: &[&str]) -> Identity {
    let mut params = expired(params_for(names));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    self_signed_with(params)
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// An HTTPS loopback server answering every request with one body.
pub struct TlsServer {
    /// `https://127.0.0.1:port`.
    pub url: String,
    handshakes: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl TlsServer {
    /// Serve `body` with `identity`; when `client_ca` is given, demand a
    /// client certificate signed by it (mutual TLS).
    pub fn start(
        identity: &Identity,
        client_ca: Option<&TestCa>,
        body: &'static [u8],
    ) -> TlsServer {
        let config = server_config(identity, client_ca);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("https://{}", listener.local_addr().expect("local addr"));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (h, r) = (Arc::clone(&handshakes), Arc::clone(&requests));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                let Ok(conn) = ServerConnection::new(Arc::clone(&config)) else {
                    continue;
                };
                let r = Arc::clone(&r);
                thread::spawn(move || {
                    let mut reader = BufReader::new(StreamOwned::new(conn, stream));
                    // A failed handshake surfaces here as a failed read.
                    if read_request(&mut reader).is_none() {
                        return;
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                    let stream = reader.get_mut();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(body);
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                });
            }
        });
        TlsServer {
            url,
            handshakes,
            requests,
        }
    }

    /// TCP connections accepted (each one a TLS handshake attempt).
    pub fn connections(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Requests that arrived over a completed handshake.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The rustls configuration of a test server presenting `identity`; when
/// `client_ca` is given, it demands a client certificate signed by it.
pub fn server_config(identity: &Identity, client_ca: Option<&TestCa>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("CA PEM"))
                .expect("CA root");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let certs = vec![CertificateDer::from_pem_slice(identity.cert.as_bytes()).expect("cert PEM")];
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).expect("key PEM");
    Arc::new(
        builder
            .with_single_cert(certs, key)
            .expect("server certificate"),
    )
}
