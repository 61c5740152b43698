//! HTTPS to Home Assistant: one ureq agent (rustls with the `ring` provider,
//! configured and verified as [`crate::tls`] says), kept for the life of the
//! process so a warm Lambda reuses its connection.
//!
//! [`HttpsTransport`] implements the core's [`Transport`]: it posts the
//! event's bytes unchanged to `{BASE_URL}/api/alexa/smart_home`, reads the
//! answer straight into the caller's buffer (never more than it holds), and
//! turns every ureq error into the core's [`Failure`], telling apart the
//! failures that happened before any byte was sent (safe to retry) from the
//! rest.
//!
//! The connection is kept alive between invocations and managed by
//! [`crate::connection`]: one idle past the keep-alive timeout is not
//! reused, and a request the server closed its connection on unread is sent
//! once more on a fresh one ([`HttpsTransport::exchange`]). Directives and
//! every REST request go through that one path.
//!
//! Home Assistant's address is resolved once and kept for a minute
//! ([`RememberedAddress`]): with a deadline set, ureq resolves on a fresh
//! thread for every request, which costs about 0.1 ms even when the
//! connection itself is reused. A connect failure forgets the address, so a
//! home whose dynamic-DNS address changed is found again on the next attempt.
//! A name that does not resolve is a [`Failure::DnsFailure`], which the
//! bridge retries like every failure before sending.
//!
//! No proxy is ever used: `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` (which
//! ureq would otherwise honour) are ignored, so a variable slipped into the
//! function's environment cannot route the token through someone else's
//! server. lee has no proxy setting of its own.

use std::io::{self, Read};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lee_core::bridge::{HaAnswer, Method, RestRequest, Timeouts, Transport};
use lee_core::retry::Failure;
use lee_core::time::{Clock, Instant};
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, NextTimeout, TcpConnector};

use crate::MonotonicClock;
use crate::config::{BaseUrl, Config, Secret};
use crate::connection::{Clocks, Lifecycle, SystemClocks, TrackConnections};

/// Why the transport could not be built from the configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct TlsSetupError {
    /// The variable whose value was unusable.
    pub variable: &'static str,
    /// What was wrong.
    pub message: String,
}

/// The HTTPS client of the bridge.
pub struct HttpsTransport {
    agent: ureq::Agent,
    address: RememberedAddress,
    endpoint: String,
    origin: String,
    extra_headers: Vec<(String, Secret)>,
    clock: MonotonicClock,
    connections: Lifecycle,
}

impl HttpsTransport {
    /// A transport for the configured Home Assistant, or `None` when no valid
    /// `BASE_URL` is configured.
    pub fn new(config: &Config, clock: MonotonicClock) -> Result<Option<Self>, TlsSetupError> {
        Self::with_clocks(config, clock, Arc::new(SystemClocks))
    }

    /// As [`HttpsTransport::new`], with the connections' idle time read from
    /// `clocks` (tests stand a manual one in for a frozen sandbox).
    pub fn with_clocks(
        config: &Config,
        clock: MonotonicClock,
        clocks: Arc<dyn Clocks>,
    ) -> Result<Option<Self>, TlsSetupError> {
        let Some(base) = &config.base_url else {
            return Ok(None);
        };
        let tls = crate::tls::client_config(config)?;
        let agent_config = ureq::Agent::config_builder()
            // Not from the environment: a proxy variable must not reroute the token.
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("lee/", env!("CARGO_PKG_VERSION")))
            // One event at a time: one connection is all lee keeps.
            .max_idle_connections_per_host(1)
            .max_idle_age(config.tuning.keep_alive)
            .build();
        let address = RememberedAddress::default();
        let connections = Lifecycle::new(config.tuning.keep_alive, clocks);
        // TCP, then TLS with lee's own configuration (see crate::tls), then
        // the connection's lifecycle; no proxy connector.
        let connector = TcpConnector::default()
            .chain(crate::tls::Connector(tls))
            .chain(TrackConnections(connections.clone()));
        let agent = ureq::Agent::with_parts(agent_config, connector, address.clone());
        Ok(Some(HttpsTransport {
            agent,
            address,
            endpoint: format!("{}/api/alexa/smart_home", base.origin),
            origin: base.origin.clone(),
            extra_headers: config.extra_headers.clone(),
            clock,
            connections,
        }))
    }
}

impl HttpsTransport {
    /// Add the bearer token, the configured extra headers and the attempt's
    /// time limits to a request.
    fn prepare<B>(
        &self,
        mut request: ureq::RequestBuilder<B>,
        token: Option<&str>,
        timeouts: Timeouts,
    ) -> ureq::RequestBuilder<B> {
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        for (name, value) in &self.extra_headers {
            request = request.header(name.as_str(), value.expose());
        }
        request
            .config()
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_global(Some(timeouts.total))
            .build()
    }
}

/// Whether requests to `base` cross the network unencrypted: a plain
/// `http://` address whose host is not this machine (127.0.0.0/8, `::1`,
/// `localhost`).
pub fn unencrypted_over_network(base: &BaseUrl) -> bool {
    let Some(authority) = base.origin.strip_prefix("http://") else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
        None => authority.split(':').next().unwrap_or(authority),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    // Only `localhost` itself: glibc sends `*.localhost` to DNS like any name.
    let loopback = host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
            IpAddr::V4(v4) => v4.is_loopback(),
        });
    !loopback
}

impl HttpsTransport {
    /// Send one request with `send` and read its answer into `body`.
    ///
    /// When the request failed on a reused connection that the server had
    /// closed without reading it ([`crate::connection::Attempt::closed_unread`]
    /// says when that is certain), it is sent once more on a fresh connection
    /// within what is left of `timeouts.total`. Nothing else is ever sent
    /// twice here; the bridge's own retries cover failures before sending.
    fn exchange(
        &mut self,
        timeouts: Timeouts,
        body: &mut [u8],
        send: impl Fn(&Self, Timeouts) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<HaAnswer, Failure> {
        let started = std::time::Instant::now();
        self.connections.begin();
        let mut sent = send(self, timeouts);
        if let Err(ureq::Error::Io(e)) = &sent {
            let attempt = self.connections.attempt();
            let left = timeouts.total.saturating_sub(started.elapsed());
            if attempt.closed_unread(e) && !left.is_zero() {
                tracing::info!(
                    idle_s = attempt.idle.as_secs(),
                    "Home Assistant had closed the idle connection without reading the request; \
                     sending it again on a new connection"
                );
                self.connections.retire_open_connections();
                self.connections.begin();
                let again = Timeouts {
                    connect: timeouts.connect.min(left),
                    total: left,
                };
                sent = send(self, again);
            }
        }
        let mut response = sent.map_err(|e| match failure_of(e) {
            // The connection ended before any answer began: nothing to
            // call truncated, Home Assistant simply did not answer.
            Failure::ResponseTruncated => Failure::SendFailed,
            f @ (Failure::ConnectRefused | Failure::ConnectTimeout | Failure::DnsFailure) => {
                self.address.forget();
                f
            }
            other => other,
        })?;
        let status = response.status().as_u16();
        let len = read_into(&mut response.body_mut().as_reader(), body)?;
        Ok(HaAnswer { status, len })
    }
}

impl Transport for HttpsTransport {
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        self.exchange(timeouts, body, |this, timeouts| {
            let request = this
                .agent
                .post(&this.endpoint)
                .header("Content-Type", "application/json");
            this.prepare(request, Some(token), timeouts).send(event)
        })
    }

    fn wait_until(&mut self, until: Instant) {
        let now = self.clock.now();
        std::thread::sleep(until.saturating_duration_since(now));
    }

    fn rest(
        &mut self,
        request: &RestRequest<'_>,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure> {
        let url = format!("{}{}", self.origin, request.path);
        self.exchange(timeouts, body, |this, timeouts| match request.method {
            Method::Get => this
                .prepare(this.agent.get(&url), request.token, timeouts)
                .call(),
            Method::Post => this
                .prepare(
                    this.agent
                        .post(&url)
                        .header("Content-Type", "application/json"),
                    request.token,
                    timeouts,
                )
                .send(request.body),
        })
    }
}

/// Home Assistant's resolved address, shared between the transport and the
/// agent's resolver, kept for [`RememberedAddress::KEEP_FOR`].
#[derive(Clone, Debug, Default)]
pub struct RememberedAddress(Arc<Mutex<Option<Remembered>>>);

#[derive(Debug)]
struct Remembered {
    authority: String,
    resolved_at: std::time::Instant,
    addrs: ResolvedSocketAddrs,
}

impl RememberedAddress {
    /// How long a resolved address is used without asking DNS again.
    pub const KEEP_FOR: Duration = Duration::from_secs(60);

    /// Resolve again on the next request.
    pub fn forget(&self) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = None;
        }
    }
}

impl Resolver for RememberedAddress {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        if let Ok(slot) = self.0.lock()
            && let Some(r) = slot.as_ref()
            && r.authority == authority
            && r.resolved_at.elapsed() < Self::KEEP_FOR
        {
            return Ok(r.addrs.clone());
        }
        let addrs = DefaultResolver::default()
            .resolve(uri, config, timeout)
            .map_err(|e| match e {
                // ureq passes the system resolver's own error through as I/O
                // ("Name or service not known"): it is a name that did not
                // resolve all the same.
                ureq::Error::Io(_) => ureq::Error::HostNotFound,
                other => other,
            })?;
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(Remembered {
                authority: authority.to_string(),
                resolved_at: std::time::Instant::now(),
                addrs: addrs.clone(),
            });
        }
        Ok(addrs)
    }
}

/// Read the whole body into `buf`; one byte more than fits is `ResponseTooLarge`.
fn read_into(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, Failure> {
    let mut len = 0;
    loop {
        let free = &mut buf[len..];
        if free.is_empty() {
            let mut probe = [0u8; 1];
            return match reader.read(&mut probe) {
                Ok(0) => Ok(len),
                Ok(_) => Err(Failure::ResponseTooLarge),
                Err(e) => Err(failure_of(ureq::Error::from(e))),
            };
        }
        match reader.read(free) {
            Ok(0) => return Ok(len),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failure_of(ureq::Error::from(e))),
        }
    }
}

/// The core's view of a ureq error.
fn failure_of(error: ureq::Error) -> Failure {
    use ureq::Error;
    use ureq::Timeout;
    match error {
        Error::Timeout(Timeout::Resolve | Timeout::Connect) => Failure::ConnectTimeout,
        Error::Timeout(_) => Failure::ReadTimeout,
        Error::HostNotFound => Failure::DnsFailure,
        Error::ConnectionFailed => Failure::ConnectRefused,
        Error::Rustls(e) => {
            log_tls_failure(&e);
            Failure::TlsFailure
        }
        Error::Tls(_) | Error::Pem(_) => Failure::TlsFailure,
        Error::BodyExceedsLimit(_) => Failure::ResponseTooLarge,
        Error::Protocol(_) => Failure::ResponseTruncated,
        Error::Io(e) => failure_of_io(&e),
        _ => Failure::SendFailed,
    }
}

fn failure_of_io(e: &io::Error) -> Failure {
    if let Some(tls) = tls_error(e) {
        log_tls_failure(tls);
        return Failure::TlsFailure;
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::ReadTimeout,
        io::ErrorKind::UnexpectedEof => Failure::ResponseTruncated,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            Failure::ConnectRefused
        }
        _ => Failure::SendFailed,
    }
}

/// The rustls error an I/O error carries (a failed handshake), if any.
fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|inner| inner as _);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        source = err.source();
    }
    None
}

/// Say in the log why TLS with Home Assistant failed, and the fix (the
/// Alexa answer only says the bridge could not reach it).
fn log_tls_failure(error: &rustls::Error) {
    let why = crate::tls_failure::explain(error, "BASE_URL's host", None);
    tracing::warn!(
        "TLS with Home Assistant failed: {}. Fix: {} (lee doctor shows the certificate)",
        why.seen,
        why.fix
    );
}

/// The Lambda frontend moves the transport onto a blocking thread.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<HttpsTransport>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_unencrypted_unless_the_host_is_this_machine() {
        for (url, crosses) in [
            ("http://ha.example.com:8123", true),
            ("http://192.168.1.20:8123", true),
            ("http://[fd00::20]:8123", true),
            ("http://localhost.example.com", true),
            ("http://127.0.0.1:8123", false),
            ("http://127.8.9.10", false),
            ("http://[::1]:8123", false),
            ("http://[::ffff:127.0.0.1]", false),
            ("http://LocalHost:8123", false),
            ("http://ha.localhost", true),
            ("https://ha.example.com", false),
            ("https://192.168.1.20:8123", false),
        ] {
            let base = BaseUrl::parse(url).unwrap();
            assert_eq!(unencrypted_over_network(&base), crosses, "{url}");
        }
    }

    #[test]
    fn without_a_base_url_there_is_no_transport() {
        assert!(
            HttpsTransport::new(&Config::default(), MonotonicClock::new())
                .unwrap()
                .is_none()
        );
    }
}
