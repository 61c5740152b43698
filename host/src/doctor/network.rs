//! The doctor's network checks: `BASE_URL`'s form, DNS, a TCP connection,
//! and at the end the timing against Alexa's 8 s.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{Check, Setup, Status};
use crate::transport::unencrypted_over_network;

/// How long the doctor waits for one TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Alexa's limit for an answer.
const ALEXA_LIMIT: Duration = Duration::from_secs(8);

/// What reaching Home Assistant took.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reached {
    /// How long the TCP connection took: about one round trip.
    pub(super) connect: Duration,
}

/// Check `BASE_URL`, resolve its host and connect to it. `None` when lee
/// cannot reach Home Assistant at all (the checks after it are skipped).
pub(super) fn reach(setup: &Setup<'_>, checks: &mut Vec<Check>) -> Option<Reached> {
    let Some(base) = &setup.config.base_url else {
        checks.push(
            Check::new(
                "base_url",
                Status::Failed,
                "no usable Home Assistant address: BASE_URL is missing or malformed",
            )
            .fix("set BASE_URL to Home Assistant's address as Alexa's Lambda reaches it, e.g. https://ha.example.com (scheme, host, port; no path)"),
        );
        return None;
    };
    if unencrypted_over_network(base) {
        checks.push(
            Check::new(
                "base_url",
                Status::Warning,
                format!("{}: plain http to another machine, so the token crosses the network unencrypted", base.origin),
            )
            .fix("give BASE_URL an https:// address (Nabu Casa, or a reverse proxy with a certificate)"),
        );
    } else {
        checks.push(Check::new("base_url", Status::Ok, base.origin.clone()));
    }
    let (host, port) = (base.host(), base.port());
    let addresses: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(found) => found.collect(),
        Err(e) => {
            checks.push(
                Check::new("dns", Status::Failed, format!("{host} does not resolve: {e}"))
                    .fix("check the host name in BASE_URL for typos, and that it has a public DNS record (a name only your home network knows does not resolve in AWS)"),
            );
            return None;
        }
    };
    let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    let private = addresses.iter().any(|a| match a.ip() {
        std::net::IpAddr::V4(ip) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        std::net::IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local(),
    });
    let mut dns = Check::new(
        "dns",
        if private && setup.config.aws_region.is_some() {
            Status::Warning
        } else {
            Status::Ok
        },
        format!("{host} → {}", shown.join(", ")),
    );
    if private && setup.config.aws_region.is_some() {
        dns = dns.fix("a private or loopback address is not reachable from AWS: publish Home Assistant on a public address (or Nabu Casa) and use that in BASE_URL");
    }
    checks.push(dns);
    let mut last_error = None;
    for address in &addresses {
        let started = Instant::now();
        let timeout = setup.time_left(CONNECT_TIMEOUT);
        match TcpStream::connect_timeout(address, timeout.max(Duration::from_millis(1))) {
            Ok(_) => {
                let connect = started.elapsed();
                checks.push(Check::new(
                    "tcp",
                    Status::Ok,
                    format!("connected to {address} in {} ms", connect.as_millis()),
                ));
                return Some(Reached { connect });
            }
            Err(e) => last_error = Some((address, e)),
        }
    }
    let (address, e) = last_error.expect("a name that resolves has an address");
    let (seen, fix) = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => (
            format!("{address} refused the connection: nothing listens on port {port}"),
            format!(
                "check the port in BASE_URL ({port}) and that Home Assistant (or its proxy) listens there and the router forwards it"
            ),
        ),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => (
            format!(
                "{address} did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
            format!(
                "open port {port} to the internet (router port forwarding, firewall) or use Nabu Casa"
            ),
        ),
        _ => (
            format!("connecting to {address} failed: {e}"),
            "check that the address in BASE_URL is reachable from where lee runs".to_string(),
        ),
    };
    checks.push(Check::new("tcp", Status::Failed, seen).fix(fix));
    None
}

/// The round trip and Home Assistant's Discovery time against Alexa's 8 s.
pub(super) fn timing(reached: Reached, discovery: Option<Duration>, checks: &mut Vec<Check>) {
    let rtt = reached.connect;
    let Some(discovery) = discovery else {
        checks.push(Check::new(
            "timing",
            Status::Skipped,
            format!(
                "round trip about {} ms; no Discovery to time",
                rtt.as_millis()
            ),
        ));
        return;
    };
    // A directive on a new connection: TCP, TLS (one more round trip with
    // TLS 1.3), then the request itself.
    let used = rtt * 2 + discovery;
    let left = ALEXA_LIMIT.saturating_sub(used);
    let seen = format!(
        "round trip about {} ms, Home Assistant's Discovery {} ms: a Discovery on a new connection uses about {} ms of Alexa's 8 s, {} ms left",
        rtt.as_millis(),
        discovery.as_millis(),
        used.as_millis(),
        left.as_millis()
    );
    let check = if used > Duration::from_millis(7_500) {
        Check::new("timing", Status::Failed, seen).fix(
            "Alexa gives up before Home Assistant answers: expose fewer entities to Alexa, or move Home Assistant's connection closer (Nabu Casa)",
        )
    } else if used > Duration::from_secs(4) {
        Check::new("timing", Status::Warning, seen).fix(
            "little room is left for a slow moment: expose fewer entities to Alexa, or check Home Assistant's load",
        )
    } else {
        Check::new("timing", Status::Ok, seen)
    };
    checks.push(check);
}
