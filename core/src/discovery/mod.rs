//! The Discovery guard: Home Assistant's Discover.Response checked against
//! Alexa's rules before it goes back, and repaired where one endpoint would
//! make Alexa refuse them all.
//!
//! What it is for: "Alexa found no devices" with no reason is the most common
//! complaint about every Alexa ↔ Home Assistant bridge. Home Assistant sends
//! whatever it exposes, and one endpoint Alexa does not accept (a name over
//! 128 characters, an unknown display category), or more than 300 of them,
//! makes Alexa refuse the whole answer. [`check`] finds each such endpoint
//! ([`rules`]) and, in [`Mode::Repair`], leaves it out; past 300 it leaves
//! out the rest in the order of [`Priority`] ([`order`]). It reports every
//! finding ([`Finding`]), naming the Home Assistant entity and the fix.
//!
//! What it must never do: change an answer it has nothing to say about, or
//! change the bytes of an endpoint it keeps. The kept endpoints and
//! everything around the list are Home Assistant's bytes; only whole
//! endpoints, with the comma before them, are cut out, in place.
//!
//! Bounds: no allocation and no recursion. The caller lends the memory that
//! tracks endpoints ([`Tracked`], [`tracked_for`] of them for an answer
//! buffer) and the answer must be JSON [`check`](crate::json::check) accepted.

use core::cmp::Ordering;

use crate::json::read::{self, Span, items, text_cmp, text_cmp_ignoring_case, text_eq};

mod finding;
pub mod order;
pub mod rules;

pub use finding::{Entity, Finding};
pub use order::{DEFAULT_PRIORITY, Priority, PriorityError};
pub use rules::{Member, Rule};

/// The most endpoints Alexa accepts in one Discovery.
pub const MAX_ENDPOINTS: usize = 300;

/// No endpoint Alexa accepts is shorter than this many bytes of JSON (with
/// its comma): six required members with their keys, a display category and
/// one capability.
pub const MIN_ENDPOINT_BYTES: usize = 128;

/// How many [`Tracked`] an answer buffer of `capacity` bytes can need.
pub const fn tracked_for(capacity: usize) -> usize {
    capacity / MIN_ENDPOINT_BYTES + 1
}

/// What the guard does with an endpoint that breaks a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Leave it out, so that Alexa accepts the rest (`DISCOVERY_GUARD=repair`).
    Repair,
    /// Report it, and pass Home Assistant's answer on unchanged (`report`).
    Report,
}

/// One endpoint that passed every rule, as the guard keeps track of it
/// (24 bytes: memory-budget.md counts them).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracked {
    start: u32,
    position: u32,
    id: u32,
    id_len: u16,
    name_len: u16,
    name: u32,
    rank: u16,
    keep: bool,
    /// Whether the id has no escape and the name is ASCII with none, so
    /// that comparing them needs no decoding.
    plain: bool,
}

impl Tracked {
    /// An unused entry, to fill the memory lent to [`check`].
    pub const EMPTY: Tracked = Tracked {
        start: 0,
        position: 0,
        id: 0,
        id_len: 0,
        name_len: 0,
        name: 0,
        rank: 0,
        keep: false,
        plain: false,
    };

    fn id<'a>(&self, doc: &'a [u8]) -> &'a [u8] {
        slice(doc, self.id, self.id_len)
    }

    fn name<'a>(&self, doc: &'a [u8]) -> &'a [u8] {
        slice(doc, self.name, self.name_len)
    }

    /// Order by endpointId, character by character.
    fn cmp_id(&self, other: &Tracked, doc: &[u8]) -> Ordering {
        if self.plain && other.plain {
            return self.id(doc).cmp(other.id(doc));
        }
        text_cmp(self.id(doc), other.id(doc))
    }

    /// Order by friendlyName, ignoring case.
    fn cmp_name(&self, other: &Tracked, doc: &[u8]) -> Ordering {
        let (a, b) = (self.name(doc), other.name(doc));
        if self.plain && other.plain {
            return a
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.iter().map(u8::to_ascii_lowercase));
        }
        text_cmp_ignoring_case(a, b)
    }
}

const _: () = assert!(core::mem::size_of::<Tracked>() == 24);

fn slice(doc: &[u8], at: u32, len: u16) -> &[u8] {
    let at = at as usize;
    doc.get(at..at + usize::from(len)).unwrap_or_default()
}

/// What [`check`] made of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a Discover.Response (an ErrorResponse, say): nothing to check.
    NotDiscovery,
    /// A Discover.Response without an `event.payload.endpoints` list: Alexa
    /// refuses it, and there is nothing lee can keep.
    NoEndpointList,
    /// More endpoints passed the rules than the lent memory can track; the
    /// answer is unchanged. Lend [`tracked_for`] the answer buffer's size.
    TooManyToTrack,
    /// Checked.
    Checked(Summary),
}

/// The counts of one checked Discover.Response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The answer's length now (shorter when endpoints were left out).
    pub len: usize,
    /// Endpoints in Home Assistant's answer.
    pub endpoints: usize,
    /// Endpoints that break a rule (a repeated endpointId included).
    pub broken: usize,
    /// Endpoints past the 300 Alexa accepts.
    pub past_limit: usize,
    /// Endpoints left out of the answer (none in [`Mode::Report`]).
    pub left_out: usize,
    /// Endpoints whose friendlyName an earlier kept one has too.
    pub repeated_names: usize,
}

impl Summary {
    /// Endpoints in the answer Alexa gets.
    pub fn kept(&self) -> usize {
        self.endpoints - self.left_out
    }

    /// Whether Alexa would accept the answer as it now is.
    pub fn acceptable(&self) -> bool {
        self.kept() == self.endpoints - self.broken - self.past_limit
    }
}

/// What one reading of an answer found: where its header and endpoint list
/// are, and the endpoints counted and tracked so far.
#[derive(Default)]
struct Found {
    header: Option<Span>,
    list: Option<Span>,
    endpoints: usize,
    broken: usize,
    /// The first [`REMEMBERED_BROKEN`] endpoints that break a rule: their
    /// positions and spans, to say what they break without reading the
    /// whole list again.
    broken_at: [(usize, Span); REMEMBERED_BROKEN],
    tracked: usize,
    too_many: bool,
}

/// How many broken endpoints one reading remembers; past that, the list is
/// read again to report them.
const REMEMBERED_BROKEN: usize = 32;

impl Found {
    /// Forget the endpoint list read so far: a later one replaces it.
    fn restart(&mut self) {
        *self = Found {
            header: self.header,
            ..Found::default()
        };
    }

    /// Check the endpoint that starts at `start` (number `endpoints + 1`),
    /// tracking it when it breaks no rule; returns where it ends.
    fn endpoint(&mut self, doc: &[u8], start: usize, tracked: &mut [Tracked]) -> usize {
        self.endpoints += 1;
        let (end, accepted) = rules::check_endpoint(doc, start, &mut |_, _| {});
        let Some(accepted) = accepted else {
            if let Some(slot) = self.broken_at.get_mut(self.broken) {
                *slot = (self.endpoints, Span { start, end });
            }
            self.broken += 1;
            return end;
        };
        let Some(entry) = tracked.get_mut(self.tracked) else {
            self.too_many = true;
            return end;
        };
        let (id, name) = (accepted.endpoint_id, accepted.friendly_name);
        // Spans of the texts inside the quotes; both fit u16 (at most 256
        // characters of at most 12 escaped bytes each).
        *entry = Tracked {
            start: start as u32,
            position: self.endpoints as u32,
            id: (id.start + 1) as u32,
            id_len: (id.end - id.start - 2) as u16,
            name: (name.start + 1) as u32,
            name_len: (name.end - name.start - 2) as u16,
            rank: 0,
            keep: true,
            plain: !id.of(doc).contains(&b'\\')
                && name.of(doc).iter().all(|&b| b.is_ascii() && b != b'\\'),
        };
        self.tracked += 1;
        end
    }
}

/// Check the Discover.Response in `answer[..len]` against Alexa's rules,
/// calling `report` with every finding, and in [`Mode::Repair`] leave out
/// every endpoint Alexa would refuse. `tracked` is working memory
/// ([`tracked_for`] entries of the answer buffer's size are always enough).
pub fn check(
    answer: &mut [u8],
    len: usize,
    mode: Mode,
    priority: &Priority<'_>,
    tracked: &mut [Tracked],
    report: &mut dyn FnMut(&Finding<'_>),
) -> Verdict {
    let len = len.min(answer.len());
    if u32::try_from(len).is_err() {
        return Verdict::TooManyToTrack;
    }
    let doc = &answer[..len];
    // One reading of the answer: the endpoints are checked as the list is
    // read, their findings kept back until the answer is known to be a
    // Discover.Response (a later repeated key, which readers take instead,
    // starts the reading of its value over).
    let mut found = Found::default();
    let root = read::skip_whitespace(doc, 0);
    read::walk_members(doc, root, |key, event| {
        if !text_eq(key, "event") {
            return None;
        }
        found = Found::default();
        Some(read::walk_members(doc, event, |key, value| {
            if text_eq(key, "header") {
                let end = read::value_end(doc, value);
                found.header = Some(Span { start: value, end });
                Some(end)
            } else if text_eq(key, "payload") {
                found.restart();
                Some(read::walk_members(doc, value, |key, list| {
                    if !text_eq(key, "endpoints") {
                        return None;
                    }
                    found.restart();
                    if doc.get(list) != Some(&b'[') {
                        return None;
                    }
                    let end = read::walk_items(doc, list, |endpoint| {
                        Some(found.endpoint(doc, endpoint, tracked))
                    });
                    found.list = Some(Span { start: list, end });
                    Some(end)
                }))
            } else {
                None
            }
        }))
    });
    let is = |key: &str, value: &str| {
        found
            .header
            .and_then(|h| read::member(doc, h, key))
            .and_then(|v| v.string(doc))
            .is_some_and(|t| text_eq(t, value))
    };
    if !(is("namespace", "Alexa.Discovery") && is("name", "Discover.Response")) {
        return Verdict::NotDiscovery;
    }
    let Some(list) = found.list else {
        return Verdict::NoEndpointList;
    };
    if found.too_many {
        return Verdict::TooManyToTrack;
    }
    let left_out = mode == Mode::Repair;
    let mut summary = Summary {
        len,
        endpoints: found.endpoints,
        broken: found.broken,
        ..Summary::default()
    };
    let count = found.tracked;
    // What each endpoint that breaks a rule breaks: read again, only when
    // one does.
    let mut say_broken = |position: usize, endpoint: Span| {
        let endpoint_id = read::member(doc, endpoint, "endpointId").and_then(|v| v.string(doc));
        rules::check_endpoint(doc, endpoint.start, &mut |rule, detail| {
            report(&Finding {
                position,
                endpoint_id,
                rule,
                detail: detail.of(doc),
                left_out,
            });
        });
    };
    if found.broken <= REMEMBERED_BROKEN {
        for &(position, endpoint) in &found.broken_at[..found.broken] {
            say_broken(position, endpoint);
        }
    } else {
        for (n, endpoint) in items(doc, list).enumerate() {
            say_broken(n + 1, endpoint);
        }
    }
    let tracked = &mut tracked[..count];

    // The same endpointId twice: the first is kept.
    order::sort(tracked, |a, b| a.cmp_id(b, doc).then(a.start.cmp(&b.start)));
    for i in 1..tracked.len() {
        let (earlier, this) = (tracked[i - 1], tracked[i]);
        if earlier.cmp_id(&this, doc) == Ordering::Equal {
            tracked[i].keep = false;
            summary.broken += 1;
            report(&Finding {
                position: this.position as usize,
                endpoint_id: Some(this.id(doc)),
                rule: Rule::RepeatedEndpointId,
                detail: earlier.id(doc),
                left_out,
            });
        }
    }

    // Past 300: the first 300 by priority, then entity id, are kept.
    let unique = tracked.iter().filter(|t| t.keep).count();
    if unique > MAX_ENDPOINTS {
        for this in tracked.iter_mut() {
            this.rank = priority.rank(this.id(doc));
        }
        order::sort(tracked, |a, b| {
            b.keep
                .cmp(&a.keep)
                .then(a.rank.cmp(&b.rank))
                .then(a.cmp_id(b, doc))
                .then(a.start.cmp(&b.start))
        });
        for this in &mut tracked[MAX_ENDPOINTS..unique] {
            this.keep = false;
            summary.past_limit += 1;
            report(&Finding {
                position: this.position as usize,
                endpoint_id: Some(this.id(doc)),
                rule: Rule::PastLimit,
                detail: this.id(doc),
                left_out,
            });
        }
    }

    // The same friendlyName on endpoints Alexa gets: reported, all kept.
    order::sort(tracked, |a, b| {
        b.keep
            .cmp(&a.keep)
            .then(a.cmp_name(b, doc))
            .then(a.start.cmp(&b.start))
    });
    let kept = tracked.iter().filter(|t| t.keep).count();
    let mut first_of_name = 0;
    for i in 1..kept {
        let (first, this) = (tracked[first_of_name], tracked[i]);
        if first.cmp_name(&this, doc) == Ordering::Equal {
            summary.repeated_names += 1;
            report(&Finding {
                position: this.position as usize,
                endpoint_id: Some(this.id(doc)),
                rule: Rule::RepeatedFriendlyName,
                detail: first.id(doc),
                left_out: false,
            });
        } else {
            first_of_name = i;
        }
    }

    if mode == Mode::Repair && kept < summary.endpoints {
        order::sort(tracked, |a, b| a.start.cmp(&b.start));
        summary.len = cut(answer, len, list, tracked);
        summary.left_out = summary.endpoints - kept;
    }
    Verdict::Checked(summary)
}

/// Cut every endpoint of `list` that is not a kept entry of `tracked`
/// (sorted by position) out of `answer[..len]`, with the comma before it;
/// returns the new length.
fn cut(answer: &mut [u8], len: usize, list: Span, tracked: &[Tracked]) -> usize {
    let mut keep = tracked.iter().filter(|t| t.keep).peekable();
    // Reading continues after the last endpoint read; writing never passes it.
    let mut read_at = list.start + 1;
    let mut write_at = list.start + 1;
    let mut written_any = false;
    while let Some(endpoint) = read::next_item(&answer[..len], read_at) {
        let kept = keep
            .next_if(|t| t.start as usize == endpoint.start)
            .is_some();
        if kept {
            // The bytes before it: for the first kept, whatever followed `[`;
            // after that, the separator Home Assistant wrote before it.
            let before = if written_any { read_at } else { list.start + 1 };
            let separator = if written_any {
                read_at..endpoint.start
            } else {
                before..read::skip_whitespace(answer, before)
            };
            let sep_len = separator.len();
            answer.copy_within(separator, write_at);
            answer.copy_within(endpoint.start..endpoint.end, write_at + sep_len);
            write_at += sep_len + endpoint.end - endpoint.start;
            written_any = true;
        }
        read_at = endpoint.end;
    }
    // Everything after the last endpoint: the closing bracket and the rest.
    answer.copy_within(read_at..len, write_at);
    write_at + (len - read_at)
}

#[cfg(test)]
mod tests;
