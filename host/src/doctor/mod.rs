//! The doctor: every usual setup failure named, with its fix, checked from
//! where lee runs.
//!
//! What it is for: when a bridge does not work its user hears "device is
//! not responding" or "no devices found" and nothing else. [`examine`] runs
//! one check list, in order, each check stopping the ones that depend on it:
//!
//! 1. the configuration's problems, each naming its variable;
//! 2. the AWS region (Alexa calls a smart home skill's function only in
//!    `us-east-1`, `eu-west-1` and `us-west-2`);
//! 3. `BASE_URL`'s form, DNS, TCP ([`network`]);
//! 4. TLS: the certificate and why it is refused ([`tls`]);
//! 5. Home Assistant's `/api/` with the token;
//! 6. a Discovery through `POST /api/alexa/smart_home`, and everything in it
//!    Alexa would refuse ([`home_assistant`]);
//! 7. account linking: `https://<host>/auth/authorize` on port 443 with a
//!    publicly trusted certificate ([`tls`]);
//! 8. timing: the round trip and Home Assistant's Discovery time against
//!    Alexa's 8 s.
//!
//! Three places run it: `lee doctor` (the stdio harness), the Lambda event
//! `{"doctor": true}`, and `GET /doctor` on the Function URL (behind the
//! shared secret). [`Report`] is the same for all: one line per check
//! (`ok`, `warning`, `failed`, `skipped`), what was seen, the fix in one
//! sentence.
//!
//! What it must never do: print a token, or take longer than the time it
//! is given.

mod home_assistant;
mod network;
mod setup;
mod tls;

pub use setup::ALEXA_REGIONS;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{Config, Problem, Secret};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something deserves attention.
    Warning,
    /// Does not work: Alexa cannot be served until it is fixed.
    Failed,
    /// Not run: a check it depends on failed, or it does not apply.
    Skipped,
}

impl Status {
    /// `ok`, `warning`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the doctor's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Which check: `configuration`, `region`, `base_url`, `dns`, `tcp`,
    /// `tls`, `api`, `discovery`, `account_linking`, `timing`.
    pub check: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was seen.
    pub seen: String,
    /// What to do, in one sentence (none when all is well).
    pub fix: Option<String>,
}

impl Check {
    fn new(check: &'static str, status: Status, seen: impl Into<String>) -> Check {
        Check {
            check,
            status,
            seen: seen.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Everything the doctor found, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per check.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.count(Status::Failed) > 0
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The report for machines: `{"ok", "failed", "warnings", "checks": [...]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "ok": !self.failed(),
            "failed": self.count(Status::Failed),
            "warnings": self.count(Status::Warning),
            "checks": self.checks.iter().map(|c| json!({
                "check": c.check,
                "status": c.status.as_str(),
                "seen": c.seen,
                "fix": c.fix,
            })).collect::<Vec<_>>(),
        })
    }

    /// The report for people: a summary line, then one line per check.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "lee doctor: {} checks, {} failed, {} warnings\n",
            self.checks.len(),
            self.count(Status::Failed),
            self.count(Status::Warning)
        );
        for c in &self.checks {
            let _ = write!(text, "{:<8} {:<16} {}", c.status.as_str(), c.check, c.seen);
            if let Some(fix) = &c.fix {
                let _ = write!(text, " Fix: {fix}");
            }
            text.push('\n');
        }
        text
    }
}

/// A token to check Home Assistant with, and where it came from (for the
/// messages: never the token itself).
pub struct Token {
    /// The token.
    pub secret: Secret,
    /// Where it came from: `--token-file`, `HA_TOKEN`, ...
    pub source: String,
}

/// What the doctor examines.
pub struct Setup<'a> {
    /// The configuration as read.
    pub config: &'a Config,
    /// The problems found reading it.
    pub problems: &'a [Problem],
    /// The token for `/api/` and the Discovery; `Err` says why there is none.
    pub token: Result<Token, String>,
    /// When the report must be ready.
    pub deadline: Instant,
}

impl Setup<'_> {
    /// The time left before the deadline, at most `most`.
    fn time_left(&self, most: Duration) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .min(most)
    }
}

/// Run every check in order; see the module's documentation.
pub fn examine(setup: &Setup<'_>) -> Report {
    let mut report = Report::default();
    let checks = &mut report.checks;
    setup::configuration(setup, checks);
    setup::region(setup, checks);
    let Some(reached) = network::reach(setup, checks) else {
        return report;
    };
    if !tls::check(setup, checks) {
        return report;
    }
    let timing = home_assistant::examine(setup, checks);
    tls::account_linking(setup, checks);
    network::timing(reached, timing, checks);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_as_lines_and_as_json() {
        let report = Report {
            checks: vec![
                Check::new("configuration", Status::Ok, "no problems"),
                Check::new("region", Status::Failed, "AWS_REGION is ap-southeast-2")
                    .fix("deploy in us-east-1"),
            ],
        };
        assert!(report.failed());
        assert_eq!(
            report.to_text(),
            "lee doctor: 2 checks, 1 failed, 0 warnings\n\
             ok       configuration    no problems\n\
             failed   region           AWS_REGION is ap-southeast-2 Fix: deploy in us-east-1\n"
        );
        let json = report.to_json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][1]["fix"], "deploy in us-east-1");
        assert_eq!(json["checks"][0]["fix"], Value::Null);
    }
}
