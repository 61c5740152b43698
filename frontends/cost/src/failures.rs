//! Why events failed: each failed event's reason, read from lee's answer,
//! counted by kind and reason for the report.
//!
//! What it is for: a row that says `ok 0%` is a run that measured errors,
//! not lee; the report must say why (a refused token, an unreachable Home
//! Assistant, an event lee does not know) so that the user can fix the run.
//! Reading the reason allocates nothing inside a measurement: the loop
//! copies a failed answer's first [`KEPT`] bytes to the stack
//! ([`Answer`]) and the reason is read from that copy afterwards.

use std::collections::BTreeMap;

use lee_core::bridge::Answered;
use lee_host::Outcome;
use serde_json::Value;

/// How many bytes of a failed answer are kept to read its reason from.
pub const KEPT: usize = 2048;
/// How many distinct reasons are counted; the rest are counted together.
const DISTINCT: usize = 20;

/// The start of a failed event's answer, copied without allocating.
pub struct Answer {
    bytes: [u8; KEPT],
    len: usize,
    outcome: Outcome,
}

impl Answer {
    /// Keep `outcome` and the first [`KEPT`] bytes of `body`.
    pub fn keep(outcome: Outcome, body: &[u8]) -> Answer {
        let mut bytes = [0u8; KEPT];
        let len = body.len().min(KEPT);
        bytes[..len].copy_from_slice(&body[..len]);
        Answer {
            bytes,
            len,
            outcome,
        }
    }

    /// Why the event failed, in one line: the error lee answered and its message.
    pub fn reason(&self) -> String {
        let body = &self.bytes[..self.len];
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let text = |v: &Value| v.as_str().map(str::to_string);
        let said = json.as_ref().and_then(|v| {
            // An Alexa ErrorResponse, an op's or a report's error, an HTTP answer's body.
            let payload = &v["event"]["payload"];
            if let (Some(kind), Some(message)) = (text(&payload["type"]), text(&payload["message"]))
            {
                return Some(format!("{kind}: {message}"));
            }
            let error = &v["error"];
            if let Some(message) = text(&error["message"]) {
                let code = text(&error["code"]).unwrap_or_default();
                let field = text(&error["field"]).unwrap_or_default();
                return Some(format!("{code}: {field} {message}").replace(":  ", ": "));
            }
            text(error)
        });
        let said = said.unwrap_or_else(|| {
            let start: String = String::from_utf8_lossy(body).chars().take(120).collect();
            format!("the answer: {start}")
        });
        match self.outcome {
            Outcome::Http(status) => format!("HTTP {status}, {said}"),
            Outcome::Directive(Answered::Error(kind, _)) if !said.contains(kind.as_str()) => {
                format!("{}: {said}", kind.as_str())
            }
            _ => said,
        }
    }
}

/// The failed events of a run, counted by kind and reason.
#[derive(Debug, Default)]
pub struct Failures {
    counts: BTreeMap<(String, String), u64>,
    other: u64,
    total: u64,
}

impl Failures {
    /// Count one failed event of `kind`.
    pub fn count(&mut self, kind: &str, answer: &Answer) {
        self.total += 1;
        let key = (kind.to_string(), answer.reason());
        if self.counts.len() < DISTINCT || self.counts.contains_key(&key) {
            *self.counts.entry(key).or_default() += 1;
        } else {
            self.other += 1;
        }
    }

    /// How many events failed.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Each kind and reason with its count, the most frequent first; then
    /// how many failed for reasons past the first [`DISTINCT`].
    pub fn by_reason(&self) -> (Vec<(&str, &str, u64)>, u64) {
        let mut rows: Vec<(&str, &str, u64)> = self
            .counts
            .iter()
            .map(|((kind, reason), n)| (kind.as_str(), reason.as_str(), *n))
            .collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(b.1)));
        (rows, self.other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lee_core::alexa::ErrorType;
    use lee_core::bridge::Reason;

    #[test]
    fn reasons_come_from_lees_answer() {
        let alexa = br#"{"event":{"header":{},"payload":{"type":"INVALID_AUTHORIZATION_CREDENTIAL","message":"Home Assistant refused the directive's own bearer token (HTTP 401)"}}}"#;
        let outcome = Outcome::Directive(Answered::Error(
            ErrorType::InvalidAuthorizationCredential,
            Reason::DeadlinePassed,
        ));
        assert_eq!(
            Answer::keep(outcome, alexa).reason(),
            "INVALID_AUTHORIZATION_CREDENTIAL: Home Assistant refused the directive's own bearer token (HTTP 401)"
        );
        let op = br#"{"ok":false,"op":"ha.state","error":{"code":"no_token","field":"HA_TOKEN","message":"engine ops need HA_TOKEN"}}"#;
        assert_eq!(
            Answer::keep(Outcome::Op(false), op).reason(),
            "no_token: HA_TOKEN engine ops need HA_TOKEN"
        );
        assert_eq!(
            Answer::keep(
                Outcome::Http(401),
                br#"{"error":"x-lee-secret is missing"}"#
            )
            .reason(),
            "HTTP 401, x-lee-secret is missing"
        );
        // Cut short or not JSON: its first characters.
        let long = [b'x'; 4000];
        assert!(
            Answer::keep(Outcome::Op(false), &long)
                .reason()
                .starts_with("the answer: xxx")
        );
    }

    #[test]
    fn failures_are_counted_by_kind_and_reason_within_bounds() {
        let mut failures = Failures::default();
        let refused = Answer::keep(
            Outcome::Op(false),
            br#"{"error":{"code":"a","message":"m"}}"#,
        );
        for _ in 0..3 {
            failures.count("ha.state", &refused);
        }
        for n in 0..30 {
            let body = format!(r#"{{"error":{{"code":"c{n}","message":"m"}}}}"#);
            failures.count(
                "ha.states",
                &Answer::keep(Outcome::Op(false), body.as_bytes()),
            );
        }
        let (rows, other) = failures.by_reason();
        assert_eq!(failures.total(), 33);
        assert_eq!(rows.len(), 20);
        assert_eq!(rows[0], ("ha.state", "a: m", 3));
        assert_eq!(other, 33 - 3 - 19);
    }
}
