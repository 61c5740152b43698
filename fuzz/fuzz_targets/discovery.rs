//! The Discovery guard (`lee_core::discovery::check`) on Home Assistant
//! answers that `lee_core::json::check` accepts, as the bridge guards them.
//!
//! Never panics and never writes past the answer. Its verdict agrees with
//! serde_json on whether the answer is a Discover.Response with an endpoint
//! list and how many endpoints it has; memory of `tracked_for` the answer's
//! length is always enough. Unchanged bytes: in report mode, for an answer
//! that is not a Discovery or has no list, when the memory is too small, and
//! when no finding is one Alexa refuses. In repair mode the answer stays
//! JSON (lee's check and serde_json), is no longer, and keeps exactly the
//! endpoints no refusing finding names, at most 300, as Home Assistant's
//! values in its order; guarding it again finds only repeated friendly
//! names and changes nothing. Every endpoint left out has a finding, the
//! counts of the summary match the findings, and every finding says a fix.
#![no_main]

use std::collections::BTreeSet;

use lee_core::bridge::ANSWER_MAX_DEPTH;
use lee_core::discovery::{
    self, DEFAULT_PRIORITY, MAX_ENDPOINTS, Mode, Priority, Rule, Summary, Tracked, Verdict,
    tracked_for,
};
use lee_core::json;
use lee_fuzz::{at, is_json, str_at, tree};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Priority lists the guard is given: lee's default, none, a domain, and
/// lists of entity ids and globs.
const PRIORITIES: [&str; 5] = [
    DEFAULT_PRIORITY,
    "",
    "switch",
    "light, switch.*_2,*",
    "sensor.*_temperature,switch.a,scene",
];

/// The input: a 4-byte header, then Home Assistant's answer.
///
/// | byte | meaning |
/// |---|---|
/// | 0 | bit 0: [`Mode::Report`], else [`Mode::Repair`] |
/// | 1 | the priority: `PRIORITIES[b % 5]` |
/// | 2 | the tracked memory: `b % 8` is 0..=5 → 0, 1, 2, 3, 12 or 300 entries; 6, 7 → `tracked_for` the answer |
/// | 3 | 224 and up: the answer's endpoints repeated to `290 + (b - 224) * 4` (290..=414), the copies' endpointIds and friendlyNames numbered (the answer rewritten by serde_json); below: the answer as it is |
///
/// A header of zeros guards the answer in repair mode with the default
/// priority and too little memory for more than no endpoint.
const HEADER: usize = 4;

/// Bytes after the answer that the guard must never touch.
const SLACK: usize = 64;
const SLACK_BYTE: u8 = 0xA5;

fuzz_target!(|data: &[u8]| {
    let Some((header, answer)) = data.split_first_chunk::<HEADER>() else {
        return;
    };
    let grown;
    let answer = match grow(header[3], answer) {
        Some(bigger) => {
            grown = bigger;
            &grown[..]
        }
        None => answer,
    };
    if json::check(answer, ANSWER_MAX_DEPTH, |_| {}).is_err() {
        return;
    }
    let mode = if header[0] & 1 == 1 {
        Mode::Report
    } else {
        Mode::Repair
    };
    let priority = Priority::parse(PRIORITIES[usize::from(header[1] % 5)]).expect("a usable list");
    let tracked = match header[2] % 8 {
        b @ 0..=5 => [0, 1, 2, 3, 12, 300][usize::from(b)],
        _ => tracked_for(answer.len()),
    };
    guard(answer, mode, &priority, tracked);
});

/// One finding as the target keeps it.
struct Found {
    position: usize,
    rule: Rule,
    left_out: bool,
}

/// Run the guard on `answer` in a buffer with slack after it; returns the
/// verdict, the bytes after it, and the findings.
fn run(
    answer: &[u8],
    mode: Mode,
    priority: &Priority<'_>,
    tracked: usize,
) -> (Verdict, Vec<u8>, Vec<Found>) {
    let mut buf = answer.to_vec();
    buf.resize(answer.len() + SLACK, SLACK_BYTE);
    let mut memory = vec![Tracked::EMPTY; tracked];
    let mut findings = Vec::new();
    let verdict = discovery::check(
        &mut buf,
        answer.len(),
        mode,
        priority,
        &mut memory,
        &mut |f| {
            let text = f.to_string();
            assert!(
                !text.is_empty() && text.contains("Fix:"),
                "a finding without a fix: {text:?}"
            );
            assert!(f.position >= 1, "position {}", f.position);
            findings.push(Found {
                position: f.position,
                rule: f.rule,
                left_out: f.left_out,
            });
        },
    );
    assert!(
        buf[answer.len()..].iter().all(|&b| b == SLACK_BYTE),
        "the guard wrote past the answer"
    );
    let len = match verdict {
        Verdict::Checked(s) => s.len,
        _ => answer.len(),
    };
    assert!(len <= answer.len(), "the answer grew: {len}");
    buf.truncate(len);
    (verdict, buf, findings)
}

fn guard(answer: &[u8], mode: Mode, priority: &Priority<'_>, tracked: usize) {
    let (verdict, out, findings) = run(answer, mode, priority, tracked);
    let original = tree(answer);
    let is_discovery = original.as_ref().map(|v| {
        str_at(v, &["event", "header", "namespace"]) == Some("Alexa.Discovery")
            && str_at(v, &["event", "header", "name"]) == Some("Discover.Response")
    });
    let list = original
        .as_ref()
        .and_then(|v| at(v, &["event", "payload", "endpoints"]))
        .and_then(Value::as_array);

    let summary = match verdict {
        Verdict::NotDiscovery | Verdict::NoEndpointList | Verdict::TooManyToTrack => {
            assert_eq!(out, answer, "{verdict:?}, but the answer changed");
            assert!(findings.is_empty() || verdict == Verdict::TooManyToTrack);
            match verdict {
                Verdict::NotDiscovery => assert_ne!(is_discovery, Some(true)),
                Verdict::NoEndpointList => {
                    assert_ne!(is_discovery, Some(false));
                    assert!(original.is_none() || list.is_none());
                }
                _ => assert!(
                    tracked < tracked_for(answer.len()),
                    "tracked_for({}) = {tracked} entries were not enough",
                    answer.len()
                ),
            }
            return;
        }
        Verdict::Checked(summary) => summary,
    };
    assert_ne!(
        is_discovery,
        Some(false),
        "a Discovery serde_json does not see"
    );
    if original.is_some() {
        let list = list.expect("checked, but serde_json sees no endpoint list");
        assert_eq!(summary.endpoints, list.len(), "endpoints counted");
    }
    counts_match(&summary, &findings, mode);
    // The endpoints a refusing finding names: exactly those left out.
    let refused: BTreeSet<usize> = findings
        .iter()
        .filter(|f| f.rule.refused_by_alexa())
        .map(|f| f.position)
        .collect();
    assert!(refused.iter().all(|&p| p <= summary.endpoints));

    if mode == Mode::Report {
        assert_eq!(out, answer, "changed in report mode");
        return;
    }
    assert_eq!(summary.left_out, refused.len());
    assert!(summary.kept() <= MAX_ENDPOINTS, "{} kept", summary.kept());
    assert!(summary.acceptable());
    if refused.is_empty() {
        assert_eq!(out, answer, "changed with nothing Alexa refuses");
        return;
    }
    assert!(
        json::check(&out, ANSWER_MAX_DEPTH, |_| {}).is_ok(),
        "not JSON"
    );
    assert!(is_json(&out), "serde_json refuses the repaired answer");
    if let (Some(list), Some(repaired)) = (list, tree(&out)) {
        let kept = at(&repaired, &["event", "payload", "endpoints"])
            .and_then(Value::as_array)
            .expect("the repaired answer has its list");
        let expected: Vec<&Value> = list
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(&(i + 1)))
            .map(|(_, e)| e)
            .collect();
        assert!(
            kept.iter().eq(expected.iter().copied()),
            "kept {} endpoints, not the {} unrefused in Home Assistant's order",
            kept.len(),
            expected.len()
        );
    } else {
        assert!(
            original.is_none(),
            "serde_json reads the answer, not the repair"
        );
    }

    // Guarded again: only repeated names, and not a byte changed.
    let (again, twice, findings) = run(&out, Mode::Repair, priority, tracked_for(out.len()));
    let Verdict::Checked(second) = again else {
        panic!("the repaired answer is {again:?}");
    };
    assert_eq!(twice, out, "guarding the repaired answer changed it");
    assert!(
        findings
            .iter()
            .all(|f| f.rule == Rule::RepeatedFriendlyName),
        "the repaired answer still breaks {:?}",
        findings.iter().map(|f| f.rule).collect::<Vec<_>>()
    );
    assert_eq!(second.endpoints, summary.kept());
    assert_eq!(second.repeated_names, summary.repeated_names);
}

/// The summary's counts are the findings': repeated names, and the
/// endpoints Alexa refuses (left out in repair mode, only reported else).
fn counts_match(summary: &Summary, findings: &[Found], mode: Mode) {
    let names = findings
        .iter()
        .filter(|f| f.rule == Rule::RepeatedFriendlyName)
        .count();
    assert_eq!(summary.repeated_names, names);
    let refused: BTreeSet<usize> = findings
        .iter()
        .filter(|f| f.rule.refused_by_alexa())
        .map(|f| f.position)
        .collect();
    let past_limit = findings
        .iter()
        .filter(|f| f.rule == Rule::PastLimit)
        .count();
    assert_eq!(summary.past_limit, past_limit);
    assert_eq!(summary.broken + summary.past_limit, refused.len());
    for f in findings {
        let left_out = mode == Mode::Repair && f.rule.refused_by_alexa();
        assert_eq!(
            f.left_out, left_out,
            "{:?} left out: {}",
            f.rule, f.left_out
        );
    }
    if mode == Mode::Report {
        assert_eq!(summary.left_out, 0);
    }
}

/// With `b` of 224 and up, the answer with its endpoints repeated to
/// 290..=414 of them (byte 3 of the header), so that the limit of 300 and
/// the priority are met; copy `k` of an endpoint has `_k` after its
/// endpointId and ` k` after its friendlyName. `None` when `b` is lower or
/// serde_json finds no endpoint list.
fn grow(b: u8, answer: &[u8]) -> Option<Vec<u8>> {
    let target = 290 + usize::from(b.checked_sub(224)?) * 4;
    let mut v: Value = serde_json::from_slice(answer).ok()?;
    let list = v
        .get_mut("event")?
        .get_mut("payload")?
        .get_mut("endpoints")?
        .as_array_mut()?;
    if list.is_empty() {
        return None;
    }
    let n = list.len();
    for i in n..target.max(n) {
        let mut endpoint = list[i % n].clone();
        let copy = i / n;
        for (key, sep) in [("endpointId", "_"), ("friendlyName", " ")] {
            if let Some(Value::String(text)) = endpoint.get_mut(key) {
                text.push_str(&format!("{sep}{copy}"));
            }
        }
        list.push(endpoint);
    }
    serde_json::to_vec(&v).ok()
}
