//! The network, as the core sees it: the [`Transport`] frontends implement
//! (HTTPS to Home Assistant, the embedded demo home, test doubles), the
//! requests it carries and the answers it gives. Re-exported from
//! [`crate::bridge`], where lee's frontends have always found it.

use core::time::Duration;

use crate::failure::Failure;
use crate::time::Instant;

/// Time limits of one attempt, handed to the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// For DNS, TCP and TLS together.
    pub connect: Duration,
    /// For the whole attempt, connect included: the rest of the event's budget.
    pub total: Duration,
}

/// Home Assistant's answer to one request: its status, and how many bytes of
/// body the transport wrote into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HaAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body length in the buffer.
    pub len: usize,
}

/// The network. Implemented by the frontends' HTTPS client, the demo home
/// and test doubles.
pub trait Transport {
    /// POST `event` to Home Assistant's `/api/alexa/smart_home` with
    /// `Authorization: Bearer <token>`, and read the answer's body into
    /// `body`. A body longer than `body` is [`Failure::ResponseTooLarge`].
    fn post_directive(
        &mut self,
        event: &[u8],
        token: &str,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure>;

    /// Wait until `until` before the next attempt. Test doubles move a
    /// manual clock instead of sleeping.
    fn wait_until(&mut self, until: Instant);

    /// A request to Home Assistant's REST API (`GET /api/`, `GET
    /// /api/states`, `POST /api/services/...`), its answer's body read into
    /// `body` as for [`Transport::post_directive`].
    fn rest(
        &mut self,
        request: &RestRequest<'_>,
        timeouts: Timeouts,
        body: &mut [u8],
    ) -> Result<HaAnswer, Failure>;
}

/// The HTTP methods lee uses on Home Assistant's REST API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`, with a JSON body.
    Post,
}

/// One request to Home Assistant's REST API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestRequest<'a> {
    /// The method.
    pub method: Method,
    /// The path from the origin, e.g. `/api/states/light.kitchen`.
    pub path: &'a str,
    /// The bearer token, when there is one (`GET /api/` answers 401 without).
    pub token: Option<&'a str>,
    /// The JSON body of a `POST`.
    pub body: &'a [u8],
}
