//! The Discovery guard in the running bridge: every Discover.Response Home
//! Assistant sends is checked ([`lee_core::discovery::check`]) before it
//! goes back to Alexa, and what was found is said where the user looks.
//!
//! - the log: one summary line per Discovery (a warning when Alexa would
//!   refuse an endpoint), and each finding at info level once for each
//!   changed set of findings (a home that stays the same does not fill the
//!   log at every Discovery);
//! - the diagnostics report (`discovery`): the last Discovery's counts and
//!   findings;
//! - the EMF line: `DiscoveryEndpoints`, `DiscoveryDropped`.

use lee_core::discovery::{self, Finding, Mode, Summary, Tracked, Verdict};
use serde_json::{Value, json};

use crate::logging;

/// The most findings one Discovery keeps for the report and the log; the
/// rest are counted.
pub(super) const KEPT_FINDINGS: usize = 400;

/// The guard's memory and what it saw last.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// One entry per endpoint of the largest answer the buffer holds,
    /// allocated at the first Discovery and kept (memory-budget.md counts it).
    tracked: Vec<Tracked>,
    /// The last Discovery's report.
    pub(super) last: Option<Value>,
    /// A digest of the findings last logged in detail.
    logged: Option<u64>,
    /// The current event's counts, for its EMF line.
    pub(super) this_event: Option<Summary>,
}

impl Watch {
    /// Check the answer in `out[..len]`; returns its length afterwards.
    pub(super) fn guard(
        &mut self,
        out: &mut [u8],
        len: usize,
        mode: Mode,
        priority: &discovery::Priority<'_>,
    ) -> usize {
        let needed = discovery::tracked_for(out.len());
        if self.tracked.len() < needed {
            self.tracked = vec![Tracked::EMPTY; needed];
        }
        let mut findings = Vec::new();
        let mut more = 0usize;
        let verdict = discovery::check(out, len, mode, priority, &mut self.tracked, &mut |f| {
            if findings.len() < KEPT_FINDINGS {
                findings.push(stored(f));
            } else {
                more += 1;
            }
        });
        let at = logging::timestamp(std::time::SystemTime::now());
        let guard = mode_name(mode);
        let summary = match verdict {
            Verdict::NotDiscovery => return len,
            Verdict::NoEndpointList => {
                tracing::warn!(
                    guard,
                    "Discovery: Home Assistant's Discover.Response has no endpoints list, which \
                     Alexa refuses; passed on as it is"
                );
                self.last = Some(json!({ "at": at, "guard": guard, "endpoints_list": false }));
                return len;
            }
            Verdict::TooManyToTrack => {
                tracing::error!(
                    guard,
                    "Discovery: more endpoints than lee can track ({}); Home Assistant's answer \
                     passed on unchecked",
                    self.tracked.len()
                );
                return len;
            }
            Verdict::Checked(summary) => summary,
        };
        self.this_event = Some(summary);
        self.log(&summary, mode, &findings, more);
        self.last = Some(json!({
            "at": at,
            "guard": guard,
            "endpoints": summary.endpoints,
            "kept": summary.kept(),
            "left_out": summary.left_out,
            "broken": summary.broken,
            "past_limit": summary.past_limit,
            "repeated_names": summary.repeated_names,
            "alexa_accepts": summary.acceptable(),
            "findings": findings,
            "more_findings": more,
        }));
        summary.len
    }

    fn log(&mut self, s: &Summary, mode: Mode, findings: &[Value], more: usize) {
        let guard = mode_name(mode);
        let line = format!(
            "Discovery: Home Assistant sent {} endpoints, Alexa gets {}: {} left out ({} past \
             Alexa's 300 in the order of DISCOVERY_PRIORITY, {} breaking Alexa's rules), {} \
             sharing a name with another",
            s.endpoints,
            s.kept(),
            s.left_out,
            s.past_limit,
            s.broken,
            s.repeated_names
        );
        if s.left_out > 0 || s.repeated_names > 0 || !s.acceptable() {
            let then = if s.acceptable() {
                "the diagnostics report lists each with its fix"
            } else {
                "DISCOVERY_GUARD=report passes it on as it is, and Alexa will refuse it"
            };
            tracing::warn!(
                guard,
                endpoints = s.endpoints,
                kept = s.kept(),
                left_out = s.left_out,
                past_limit = s.past_limit,
                broken = s.broken,
                "{line}; {then}"
            );
        } else {
            tracing::info!(
                guard,
                endpoints = s.endpoints,
                kept = s.kept(),
                left_out = 0,
                "{line}"
            );
        }
        let digest = digest(findings);
        if findings.is_empty() || self.logged == Some(digest) {
            self.logged = Some(digest);
            return;
        }
        self.logged = Some(digest);
        for finding in findings {
            let message = finding["message"].as_str().unwrap_or_default();
            tracing::info!(entity = finding["entity"].as_str(), "Discovery: {message}");
        }
        if more > 0 {
            tracing::info!("Discovery: {more} more findings like these");
        }
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Repair => "repair",
        Mode::Report => "report",
    }
}

/// A finding as the report shows it.
fn stored(f: &Finding<'_>) -> Value {
    json!({
        "position": f.position,
        "entity": f.endpoint_id.map(|_| f.entity().to_string()),
        "rule": f.rule.code(),
        "member": f.rule.member().map(|m| m.key()),
        "left_out": f.left_out && f.rule.refused_by_alexa(),
        "message": f.to_string(),
    })
}

/// A digest of the findings' messages: equal for the same set in the same order.
fn digest(findings: &[Value]) -> u64 {
    let all: Vec<&str> = findings
        .iter()
        .map(|f| f["message"].as_str().unwrap_or_default())
        .collect();
    lee_core::hash::stable_hash(all.join("\n").as_bytes())
}
