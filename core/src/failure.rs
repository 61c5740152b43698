//! How one request to Home Assistant failed, in the terms every layer
//! shares: the transport reports a [`Failure`], the retry rules
//! ([`crate::retry`]) decide on it, and the answer to Alexa names it. The
//! one question it answers itself: may the request have reached Home
//! Assistant ([`Failure::may_have_reached_ha`])?

use core::fmt;

/// What went wrong with one HTTPS call to Home Assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The TCP connection was refused (HA restarting, wrong port).
    ConnectRefused,
    /// The host name did not resolve.
    DnsFailure,
    /// The TCP connection was not established in time.
    ConnectTimeout,
    /// The TLS handshake failed (certificate, protocol).
    TlsFailure,
    /// The exchange broke before an answer began: writing the request
    /// failed part-way, or the connection closed without a response.
    SendFailed,
    /// The request was sent but no complete response came in time.
    ReadTimeout,
    /// The response ended before its declared length.
    ResponseTruncated,
    /// The response body is longer than lee accepts.
    ResponseTooLarge,
    /// HA (or a proxy in front of it) answered with this non-success status.
    Status(u16),
}

impl Failure {
    /// Whether the request may have reached HA, and HA may have acted on it.
    ///
    /// `false` only for failures before any byte of the request was written:
    /// [`ConnectRefused`](Failure::ConnectRefused),
    /// [`DnsFailure`](Failure::DnsFailure),
    /// [`ConnectTimeout`](Failure::ConnectTimeout) and
    /// [`TlsFailure`](Failure::TlsFailure).
    pub const fn may_have_reached_ha(self) -> bool {
        match self {
            Failure::ConnectRefused
            | Failure::DnsFailure
            | Failure::ConnectTimeout
            | Failure::TlsFailure => false,
            Failure::SendFailed
            | Failure::ReadTimeout
            | Failure::ResponseTruncated
            | Failure::ResponseTooLarge
            | Failure::Status(_) => true,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ConnectRefused => f.write_str("connection refused"),
            Failure::DnsFailure => f.write_str(
                "could not resolve the host name in BASE_URL: check its spelling and that it has a DNS record",
            ),
            Failure::ConnectTimeout => f.write_str("connect timed out"),
            Failure::TlsFailure => f.write_str("TLS handshake failed"),
            Failure::SendFailed => f.write_str("sending the request failed"),
            Failure::ReadTimeout => f.write_str("response timed out"),
            Failure::ResponseTruncated => f.write_str("response truncated"),
            Failure::ResponseTooLarge => f.write_str("response larger than lee accepts"),
            Failure::Status(code) => write!(f, "HTTP status {code}"),
        }
    }
}
