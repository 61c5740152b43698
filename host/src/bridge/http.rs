//! Function URL requests: routing (`GET /health`, `GET /diagnostics`,
//! `GET /doctor`, `POST /op`) and the shared secret that guards all but the public health
//! answer.

use lee_core::event::{Event, HttpRequest, classify};
use lee_core::metrics::Counter;

use super::Bridge;

/// The body of an HTTP error answer.
fn json_error(message: &str) -> serde_json::Value {
    serde_json::json!({ "error": message })
}

impl Bridge {
    /// Answer a Function URL request; returns its status. The answer is in
    /// `self.json_answer`, in the shape Lambda expects for HTTP responses.
    ///
    /// The URL may be public, so only `GET /health` answers without the
    /// shared secret, and then only whether lee and Home Assistant are up.
    /// The full health report and diagnostics need the secret; ops need
    /// `OPS_OVER_HTTP` as well. A missing or wrong secret where one is
    /// needed is logged at warn with the caller's address and counted.
    pub(super) fn http(&mut self, request: HttpRequest<'_>, event: &[u8]) -> u16 {
        let authorised = match (&self.config.shared_secret, request.secret) {
            (Some(secret), Some(presented)) => secret.matches(presented),
            _ => false,
        };
        let guarded = self.config.shared_secret.is_some();
        let (status, body) = match (request.method, request.path) {
            ("GET", "/health") if authorised => (200, self.health()),
            ("GET", "/health") => {
                if guarded && request.secret.is_some() {
                    self.refuse_secret(&request);
                }
                (200, self.public_health())
            }
            ("POST", "/op") if !self.config.ops_over_http => (
                403,
                json_error(
                    "ops over HTTP are off: set OPS_OVER_HTTP=true and a SHARED_SECRET of at \
                     least 32 characters to turn them on",
                ),
            ),
            ("POST", "/op") if !guarded => (
                403,
                json_error("ops over HTTP need a SHARED_SECRET of at least 32 characters"),
            ),
            ("POST", "/op") if authorised => self.http_op(event),
            ("POST", "/op") => {
                self.refuse_secret(&request);
                (
                    401,
                    json_error("ops need the shared secret in x-lee-secret"),
                )
            }
            (_, "/op") => (405, json_error("ops are sent with POST")),
            ("GET", "/diagnostics") if authorised => (200, self.diagnostics()),
            ("GET", "/diagnostics") if guarded => {
                self.refuse_secret(&request);
                (
                    401,
                    json_error("diagnostics need the shared secret in x-lee-secret"),
                )
            }
            ("GET", "/diagnostics") => (
                403,
                json_error(
                    "diagnostics over HTTP are off: set a SHARED_SECRET of at least 32 \
                     characters to turn them on",
                ),
            ),
            ("GET", "/doctor") if authorised => (200, self.doctor().to_json()),
            ("GET", "/doctor") if guarded => {
                self.refuse_secret(&request);
                (
                    401,
                    json_error("the doctor needs the shared secret in x-lee-secret"),
                )
            }
            ("GET", "/doctor") => (
                403,
                json_error(
                    "the doctor over HTTP is off: set a SHARED_SECRET of at least 32 \
                     characters to turn it on, or run the Lambda test event {\"doctor\": true}",
                ),
            ),
            (_, "/health" | "/diagnostics" | "/doctor") => {
                (405, json_error("only GET is supported"))
            }
            _ => (
                404,
                json_error("lee serves GET /health, GET /diagnostics, GET /doctor and POST /op"),
            ),
        };
        let response = serde_json::json!({
            "statusCode": status,
            "headers": { "content-type": "application/json" },
            "body": body.to_string(),
        });
        self.answer_json(&response);
        status
    }

    /// A Function URL request that needed the shared secret came without it
    /// or with a wrong one: warn, naming who asked, and count it.
    pub(super) fn refuse_secret(&mut self, request: &HttpRequest<'_>) {
        self.metrics.incr(Counter::AuthFailures);
        tracing::warn!(
            source_ip = request.source_ip.unwrap_or("unknown"),
            path = request.path,
            "refused: the shared secret in x-lee-secret is {}",
            if request.secret.is_some() {
                "wrong"
            } else {
                "missing"
            }
        );
    }

    /// What `GET /health` tells anyone: that lee is up, and whether Home
    /// Assistant answers. Nothing of the configuration.
    pub(super) fn public_health(&mut self) -> serde_json::Value {
        let health = self.health();
        serde_json::json!({
            "lee": "up",
            "home_assistant": { "reachable": health["home_assistant"]["reachable"] },
        })
    }

    /// `POST /op`: the request's body is an engine op. 200 with its answer
    /// when it succeeds, 400 with its error otherwise.
    pub(super) fn http_op(&mut self, event: &[u8]) -> (u16, serde_json::Value) {
        let http: serde_json::Value = serde_json::from_slice(event).unwrap_or_default();
        if http["isBase64Encoded"] == true {
            return (
                400,
                json_error("send the op as text: Content-Type application/json"),
            );
        }
        let Some(body) = http["body"].as_str() else {
            return (
                400,
                json_error("the request has no body: send the op as JSON"),
            );
        };
        let ok = match classify(body.as_bytes()) {
            Ok(Event::Op(name)) => self.op(name, body.as_bytes()),
            _ => {
                return (
                    400,
                    json_error("the body is not an op: {\"op\": \"...\", ...}"),
                );
            }
        };
        let answer = serde_json::from_slice(&self.json_answer).unwrap_or_default();
        (if ok { 200 } else { 400 }, answer)
    }
}
