//! Alexa's rules for one endpoint of a Discover.Response, checked on Home
//! Assistant's bytes.
//!
//! What it is for: deciding whether Alexa would accept an endpoint, and
//! naming every rule it breaks. The rules are those of Amazon's schema
//! (`../shared/alexa/schema`, the `Discover.Response` message) and of the
//! Alexa.Discovery documentation, the stricter where they differ:
//!
//! - `endpointId`: 1–256 characters of `A–Z a–z 0–9 _ - = # ; : ? @ &` (the
//!   documentation also allows spaces, the schema does not);
//! - `manufacturerName`, `description`, `friendlyName`: 1–128 characters;
//!   a `friendlyName` without control characters and with a letter or digit
//!   to say (the documentation: letters, digits and spaces);
//! - `displayCategories`: at least one, none twice, each from the schema's list;
//! - `capabilities`: 1–100, each an object with a `type` (characters as an
//!   endpointId, spaces allowed), an `interface` text and a `version` (text
//!   or number), none repeated byte for byte. The per-interface shape of a
//!   capability is not checked here: Amazon's full schema is, in lee's tests;
//! - `cookie`: an object of texts, at most 5000 bytes (documentation);
//! - `connections`: objects with a `type` from the schema's list and only
//!   the schema's members;
//! - `additionalAttributes`: only the schema's six members, texts of at most
//!   256 characters.

use crate::json::read::{
    Span, char_count, chars, items, members, text_eq, value_end, walk_items, walk_members,
};

/// A member of an endpoint that Alexa's rules name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// `endpointId`.
    EndpointId,
    /// `manufacturerName`.
    ManufacturerName,
    /// `friendlyName`.
    FriendlyName,
    /// `description`.
    Description,
    /// `displayCategories`.
    DisplayCategories,
    /// `capabilities`.
    Capabilities,
    /// `cookie`.
    Cookie,
    /// `connections`.
    Connections,
    /// `additionalAttributes`.
    AdditionalAttributes,
}

impl Member {
    /// The member's key in the endpoint object.
    pub const fn key(self) -> &'static str {
        match self {
            Member::EndpointId => "endpointId",
            Member::ManufacturerName => "manufacturerName",
            Member::FriendlyName => "friendlyName",
            Member::Description => "description",
            Member::DisplayCategories => "displayCategories",
            Member::Capabilities => "capabilities",
            Member::Cookie => "cookie",
            Member::Connections => "connections",
            Member::AdditionalAttributes => "additionalAttributes",
        }
    }

    /// The most characters Alexa accepts in this text member.
    pub fn max_chars(self) -> usize {
        match self {
            Member::EndpointId => 256,
            _ => MAX_NAME_CHARS,
        }
    }
}

/// Every member the rules name, the required ones first, as [`REQUIRED`].
const MEMBERS: [Member; 9] = [
    Member::EndpointId,
    Member::ManufacturerName,
    Member::FriendlyName,
    Member::Description,
    Member::DisplayCategories,
    Member::Capabilities,
    Member::Cookie,
    Member::Connections,
    Member::AdditionalAttributes,
];

/// The keys of [`MEMBERS`].
const KEYS: [&str; 9] = {
    let mut keys = [""; 9];
    let mut n = 0;
    while n < 9 {
        keys[n] = MEMBERS[n].key();
        n += 1;
    }
    keys
};

/// The members every endpoint must have: the first of [`MEMBERS`].
const REQUIRED: &[Member] = MEMBERS.split_at(6).0;

/// The most characters in a `friendlyName`, `description` or `manufacturerName`.
pub const MAX_NAME_CHARS: usize = 128;
/// The most capabilities one endpoint may have.
pub const MAX_CAPABILITIES: usize = 100;
/// The most bytes of an endpoint's cookie (Alexa's documentation).
pub const MAX_COOKIE_BYTES: usize = 5000;
/// The most characters of an `additionalAttributes` text.
pub const MAX_ATTRIBUTE_CHARS: usize = 256;

/// The display categories of Amazon's schema.
pub const DISPLAY_CATEGORIES: [&str; 34] = [
    "ACTIVITY_TRIGGER",
    "CAMERA",
    "COMPUTER",
    "CONTACT_SENSOR",
    "DOOR",
    "DOORBELL",
    "EXTERIOR_BLIND",
    "FAN",
    "GAME_CONSOLE",
    "GARAGE_DOOR",
    "INTERIOR_BLIND",
    "LAPTOP",
    "LIGHT",
    "MICROWAVE",
    "MOBILE_PHONE",
    "MOTION_SENSOR",
    "MUSIC_SYSTEM",
    "NETWORK_HARDWARE",
    "OTHER",
    "OVEN",
    "PHONE",
    "SCENE_TRIGGER",
    "SCREEN",
    "SECURITY_PANEL",
    "SMARTLOCK",
    "SMARTPLUG",
    "SPEAKER",
    "STREAMING_DEVICE",
    "SWITCH",
    "TABLET",
    "TEMPERATURE_SENSOR",
    "THERMOSTAT",
    "TV",
    "WEARABLE",
];

const CONNECTION_TYPES: [&str; 4] = ["TCP_IP", "ZIGBEE", "ZWAVE", "UNKNOWN"];
const CONNECTION_MEMBERS: [&str; 5] = ["type", "macAddress", "homeId", "nodeId", "value"];
const ADDITIONAL_ATTRIBUTES: [&str; 6] = [
    "manufacturer",
    "model",
    "serialNumber",
    "firmwareVersion",
    "softwareVersion",
    "customIdentifier",
];

/// A rule of Alexa's that an endpoint breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The endpoint is not a JSON object.
    NotAnObject,
    /// A member every endpoint must have is missing.
    Missing(Member),
    /// A member has the wrong JSON type.
    WrongType(Member),
    /// A text or list is empty (a `friendlyName`: nothing to say, no letter or digit).
    Empty(Member),
    /// A text longer than Alexa accepts: its length in characters.
    TooLong(Member, usize),
    /// A character Alexa does not accept in this member.
    Character(Member, char),
    /// A display category that is not on Alexa's list (the finding's detail).
    UnknownCategory,
    /// A display category listed twice (the finding's detail).
    RepeatedCategory,
    /// More capabilities than Alexa accepts: how many.
    TooManyCapabilities(usize),
    /// Capability number `n` (from 1) lacks a `type`, `interface` or `version` of the right kind.
    BadCapability(usize),
    /// Capability number `n` (from 1) repeats an earlier one byte for byte.
    RepeatedCapability(usize),
    /// A cookie value that is not a text, or a cookie over 5000 bytes.
    BadCookie,
    /// Connection number `n` (from 1) is not one Alexa's schema allows.
    BadConnection(usize),
    /// An `additionalAttributes` member Alexa does not know, or not a text of
    /// at most 256 characters (its key is the finding's detail).
    BadAdditionalAttribute,
    /// An earlier endpoint has the same `endpointId`.
    RepeatedEndpointId,
    /// Past the 300 endpoints Alexa accepts, in the order of `DISCOVERY_PRIORITY`.
    PastLimit,
    /// Another endpoint Alexa is given has the same `friendlyName`, ignoring
    /// case (the finding's detail is that endpoint's id). Reported, not left out.
    RepeatedFriendlyName,
}

impl Rule {
    /// A short, stable name for the rule, for reports and scripts.
    pub fn code(self) -> &'static str {
        match self {
            Rule::NotAnObject => "not_an_object",
            Rule::Missing(_) => "missing",
            Rule::WrongType(_) => "wrong_type",
            Rule::Empty(_) => "empty",
            Rule::TooLong(..) => "too_long",
            Rule::Character(..) => "character",
            Rule::UnknownCategory => "unknown_display_category",
            Rule::RepeatedCategory => "repeated_display_category",
            Rule::TooManyCapabilities(_) => "too_many_capabilities",
            Rule::BadCapability(_) => "bad_capability",
            Rule::RepeatedCapability(_) => "repeated_capability",
            Rule::BadCookie => "bad_cookie",
            Rule::BadConnection(_) => "bad_connection",
            Rule::BadAdditionalAttribute => "bad_additional_attribute",
            Rule::RepeatedEndpointId => "repeated_endpoint_id",
            Rule::PastLimit => "past_300",
            Rule::RepeatedFriendlyName => "repeated_friendly_name",
        }
    }

    /// The endpoint member the rule is about.
    pub fn member(self) -> Option<Member> {
        match self {
            Rule::Missing(m) | Rule::WrongType(m) | Rule::Empty(m) => Some(m),
            Rule::TooLong(m, _) | Rule::Character(m, _) => Some(m),
            Rule::UnknownCategory | Rule::RepeatedCategory => Some(Member::DisplayCategories),
            Rule::TooManyCapabilities(_) | Rule::BadCapability(_) | Rule::RepeatedCapability(_) => {
                Some(Member::Capabilities)
            }
            Rule::BadCookie => Some(Member::Cookie),
            Rule::BadConnection(_) => Some(Member::Connections),
            Rule::BadAdditionalAttribute => Some(Member::AdditionalAttributes),
            Rule::RepeatedEndpointId => Some(Member::EndpointId),
            Rule::RepeatedFriendlyName => Some(Member::FriendlyName),
            Rule::NotAnObject | Rule::PastLimit => None,
        }
    }

    /// Whether an endpoint breaking this rule makes Alexa refuse the Discovery
    /// (a repeated friendly name does not: Alexa asks which one is meant).
    pub fn refused_by_alexa(self) -> bool {
        self != Rule::RepeatedFriendlyName
    }
}

/// The texts of an endpoint that passed every rule.
#[derive(Clone, Copy, Debug)]
pub struct Accepted {
    /// The `endpointId` string.
    pub endpoint_id: Span,
    /// The `friendlyName` string.
    pub friendly_name: Span,
}

/// Check the endpoint that starts at `start` in `doc` against every rule,
/// calling `broken(rule, detail)` for each rule it breaks, where `detail` is
/// the value at fault. Returns where the endpoint ends, and its id and name
/// when it breaks none. One reading of the endpoint: its capabilities are
/// checked as they are read.
pub fn check_endpoint(
    doc: &[u8],
    start: usize,
    broken: &mut dyn FnMut(Rule, Span),
) -> (usize, Option<Accepted>) {
    if doc.get(start) != Some(&b'{') {
        let end = value_end(doc, start);
        broken(Rule::NotAnObject, Span { start, end });
        return (end, None);
    }
    let mut found: [Option<Span>; 9] = [None; 9];
    let mut capabilities = Capabilities::default();
    let end = walk_members(doc, start, |key, value| {
        let at = key_index(key, &KEYS)?;
        let end = if MEMBERS[at] == Member::Capabilities {
            capabilities = Capabilities::read(doc, value);
            capabilities.end
        } else {
            value_end(doc, value)
        };
        found[at] = Some(Span { start: value, end });
        Some(end)
    });
    let span = Span { start, end };
    let mut ok = true;
    let mut fail = |rule: Rule, detail: Span| {
        ok = false;
        broken(rule, detail);
    };
    for (at, member) in REQUIRED.iter().enumerate() {
        if found[at].is_none() {
            fail(Rule::Missing(*member), span);
        }
    }
    for (at, member) in MEMBERS.iter().enumerate() {
        let Some(value) = found[at] else { continue };
        match member {
            Member::EndpointId
            | Member::ManufacturerName
            | Member::FriendlyName
            | Member::Description => check_text(doc, *member, value, &mut fail),
            Member::DisplayCategories => check_categories(doc, value, &mut fail),
            Member::Capabilities => capabilities.check(doc, value, &mut fail),
            Member::Cookie => check_cookie(doc, value, &mut fail),
            Member::Connections => check_connections(doc, value, &mut fail),
            Member::AdditionalAttributes => check_attributes(doc, value, &mut fail),
        }
    }
    let accepted = match (ok, found[0], found[2]) {
        (true, Some(endpoint_id), Some(friendly_name)) => Some(Accepted {
            endpoint_id,
            friendly_name,
        }),
        _ => None,
    };
    (end, accepted)
}

fn check_text(doc: &[u8], member: Member, value: Span, fail: &mut dyn FnMut(Rule, Span)) {
    let Some(text) = value.string(doc) else {
        fail(Rule::WrongType(member), value);
        return;
    };
    let allowed = |c: char| match member {
        Member::EndpointId => is_id_char(c),
        Member::FriendlyName => !c.is_control(),
        _ => true,
    };
    // The length in characters, whether there is a letter or digit to say,
    // and the first character Alexa does not accept here.
    let (count, sayable, bad_char) = if text.iter().all(|&b| b.is_ascii() && b != b'\\') {
        // Plain ASCII, as most texts are: a character a byte.
        (
            text.len(),
            text.iter().any(u8::is_ascii_alphanumeric),
            text.iter().map(|&b| char::from(b)).find(|&c| !allowed(c)),
        )
    } else {
        let mut count = 0usize;
        let mut sayable = false;
        let mut bad_char = None;
        for c in chars(text) {
            count += 1;
            sayable |= c.is_alphanumeric();
            if bad_char.is_none() && !allowed(c) {
                bad_char = Some(c);
            }
        }
        (count, sayable, bad_char)
    };
    if count == 0 || (member == Member::FriendlyName && !sayable) {
        fail(Rule::Empty(member), value);
    }
    if count > member.max_chars() {
        fail(Rule::TooLong(member, count), value);
    }
    if let Some(c) = bad_char {
        fail(Rule::Character(member, c), value);
    }
}

fn check_categories(doc: &[u8], value: Span, fail: &mut dyn FnMut(Rule, Span)) {
    if value.first(doc) != Some(b'[') {
        fail(Rule::WrongType(Member::DisplayCategories), value);
        return;
    }
    let mut any = false;
    for (n, item) in items(doc, value).enumerate() {
        any = true;
        let known = item
            .string(doc)
            .is_some_and(|t| DISPLAY_CATEGORIES.iter().any(|c| text_eq(t, c)));
        if !known {
            fail(Rule::UnknownCategory, item);
        } else if items(doc, value)
            .take(n)
            .any(|earlier| earlier.of(doc) == item.of(doc))
        {
            fail(Rule::RepeatedCategory, item);
        }
    }
    if !any {
        fail(Rule::Empty(Member::DisplayCategories), value);
    }
}

/// What reading an endpoint's `capabilities` list found.
#[derive(Default)]
struct Capabilities {
    /// One past the list.
    end: usize,
    /// How many capabilities it holds.
    count: usize,
    /// The first of the 100 Alexa accepts that is malformed or repeated.
    first_bad: Option<(Rule, Span)>,
}

impl Capabilities {
    /// Read the list that starts at `start` (any other value reads as none).
    fn read(doc: &[u8], start: usize) -> Capabilities {
        let mut count = 0usize;
        let mut first_bad = None;
        // The capabilities seen so far, to find a repeated one without
        // reading the list again for each (only the 100 Alexa accepts are
        // checked).
        let mut seen = [Span::default(); MAX_CAPABILITIES];
        let end = walk_items(doc, start, |item| {
            count += 1;
            if first_bad.is_some() || count > MAX_CAPABILITIES {
                return None;
            }
            let (end, well_formed) = read_capability(doc, item);
            let this = Span { start: item, end };
            let bytes = this.of(doc);
            if !well_formed {
                first_bad = Some((Rule::BadCapability(count), this));
            } else if seen[..count - 1].iter().any(|earlier| {
                earlier.end - earlier.start == bytes.len() && earlier.of(doc) == bytes
            }) {
                first_bad = Some((Rule::RepeatedCapability(count), this));
            }
            seen[count - 1] = this;
            Some(end)
        });
        Capabilities {
            end,
            count,
            first_bad,
        }
    }

    /// Report what the list (`value`) breaks.
    fn check(&self, doc: &[u8], value: Span, fail: &mut dyn FnMut(Rule, Span)) {
        if value.first(doc) != Some(b'[') {
            fail(Rule::WrongType(Member::Capabilities), value);
            return;
        }
        if self.count == 0 {
            fail(Rule::Empty(Member::Capabilities), value);
        }
        if self.count > MAX_CAPABILITIES {
            fail(Rule::TooManyCapabilities(self.count), value);
        }
        if let Some((rule, item)) = self.first_bad {
            fail(rule, item);
        }
    }
}

/// Where `key` (escaped) is in `names`: byte for byte, unless it has an escape.
fn key_index(key: &[u8], names: &[&str]) -> Option<usize> {
    if key.contains(&b'\\') {
        return names.iter().position(|n| text_eq(key, n));
    }
    names.iter().position(|n| n.as_bytes() == key)
}

/// Whether Alexa accepts `c` in a capability's `type`: an endpointId's
/// characters and spaces.
fn is_type_char(c: char) -> bool {
    c == ' ' || is_id_char(c)
}

/// Whether Alexa accepts `c` in an `endpointId`.
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '=' | '#' | ';' | ':' | '?' | '@' | '&')
}

/// Read the capability that starts at `start`: where it ends, and whether
/// it is an object with a `type`, an `interface` and a `version` of the
/// right kinds (and `properties`, if any, an object).
fn read_capability(doc: &[u8], start: usize) -> (usize, bool) {
    let is_object = doc.get(start) == Some(&b'{');
    let (mut kind, mut interface, mut version, mut properties) = (false, false, false, true);
    let end = walk_members(doc, start, |key, value| {
        let first = doc.get(value).copied();
        match key_index(key, &["type", "interface", "version", "properties"])? {
            0 => {
                let end = value_end(doc, value);
                kind = (Span { start: value, end })
                    .string(doc)
                    .is_some_and(|t| !t.is_empty() && chars(t).all(is_type_char));
                return Some(end);
            }
            1 => interface = first == Some(b'"'),
            2 => version = matches!(first, Some(b'"' | b'-' | b'0'..=b'9')),
            _ => properties = first == Some(b'{'),
        }
        None
    });
    (end, is_object && kind && interface && version && properties)
}

fn check_cookie(doc: &[u8], value: Span, fail: &mut dyn FnMut(Rule, Span)) {
    if value.first(doc) != Some(b'{') {
        fail(Rule::WrongType(Member::Cookie), value);
        return;
    }
    let texts = members(doc, value).all(|(_, v)| v.is_string(doc));
    if !texts || value.end - value.start > MAX_COOKIE_BYTES {
        fail(Rule::BadCookie, value);
    }
}

fn check_connections(doc: &[u8], value: Span, fail: &mut dyn FnMut(Rule, Span)) {
    if value.first(doc) != Some(b'[') {
        fail(Rule::WrongType(Member::Connections), value);
        return;
    }
    for (n, item) in items(doc, value).enumerate() {
        let mut typed = false;
        let mut known = item.first(doc) == Some(b'{');
        for (key, v) in members(doc, item) {
            known &= CONNECTION_MEMBERS.iter().any(|m| text_eq(key, m));
            if text_eq(key, "type") {
                typed = v
                    .string(doc)
                    .is_some_and(|t| CONNECTION_TYPES.iter().any(|c| text_eq(t, c)));
            }
        }
        if !(typed && known) {
            fail(Rule::BadConnection(n + 1), item);
            return;
        }
    }
}

fn check_attributes(doc: &[u8], value: Span, fail: &mut dyn FnMut(Rule, Span)) {
    if value.first(doc) != Some(b'{') {
        fail(Rule::WrongType(Member::AdditionalAttributes), value);
        return;
    }
    for (key, v) in members(doc, value) {
        let known = ADDITIONAL_ATTRIBUTES.iter().any(|m| text_eq(key, m));
        let fits = v
            .string(doc)
            .is_some_and(|t| char_count(t) <= MAX_ATTRIBUTE_CHARS);
        if !(known && fits) {
            // The key as the detail: its span is the key's text with its quotes.
            let start = key.as_ptr() as usize - doc.as_ptr() as usize - 1;
            fail(
                Rule::BadAdditionalAttribute,
                Span {
                    start,
                    end: start + key.len() + 2,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::read::root;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    /// An endpoint as Home Assistant 2024.3.3 sends one.
    const SWITCH: &str = r#"{"displayCategories": ["SWITCH"], "cookie": {}, "endpointId": "switch#decorative_lights", "friendlyName": "Decorative Lights", "description": "switch.decorative_lights via Home Assistant", "manufacturerName": "Home Assistant", "additionalAttributes": {"manufacturer": "Home Assistant", "model": "switch", "softwareVersion": "2024.3.3", "customIdentifier": "-switch.decorative_lights"}, "capabilities": [{"type": "AlexaInterface", "interface": "Alexa.PowerController", "version": "3", "properties": {"supported": [{"name": "powerState"}], "proactivelyReported": true, "retrievable": true}}, {"type": "AlexaInterface", "interface": "Alexa", "version": "3"}]}"#;

    fn broken(endpoint: &str) -> Vec<(Rule, String)> {
        let doc = endpoint.as_bytes();
        let mut found = Vec::new();
        let (_, accepted) = check_endpoint(doc, root(doc).start, &mut |rule, detail| {
            found.push((rule, String::from_utf8_lossy(detail.of(doc)).into_owned()));
        });
        assert_eq!(accepted.is_some(), found.is_empty(), "{found:?}");
        found
    }

    fn with(from: &str, to: &str) -> String {
        assert!(SWITCH.contains(from), "{from}");
        SWITCH.replacen(from, to, 1)
    }

    #[test]
    fn home_assistants_endpoint_passes() {
        assert_eq!(broken(SWITCH), []);
        let doc = SWITCH.as_bytes();
        let accepted = check_endpoint(doc, root(doc).start, &mut |_, _| {})
            .1
            .unwrap();
        assert_eq!(
            accepted.endpoint_id.of(doc),
            br#""switch#decorative_lights""#
        );
        assert_eq!(accepted.friendly_name.of(doc), br#""Decorative Lights""#);
    }

    #[test]
    fn names_are_measured_in_characters_not_bytes() {
        let at_limit = "é".repeat(128);
        assert_eq!(broken(&with("Decorative Lights", &at_limit)), []);
        let over = format!("{at_limit}x");
        let rules: Vec<Rule> = broken(&with("Decorative Lights", &over))
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(rules, [Rule::TooLong(Member::FriendlyName, 129)]);
        // An escape is one character.
        let escaped = r"\u00e9".repeat(128);
        assert_eq!(broken(&with("Decorative Lights", &escaped)), []);
    }

    #[test]
    fn every_broken_rule_is_named_with_the_value_at_fault() {
        let cases: [(&str, &str, Rule, &str); 14] = [
            (
                "\"switch#decorative_lights\"",
                "\"switch#deco lights\"",
                Rule::Character(Member::EndpointId, ' '),
                "\"switch#deco lights\"",
            ),
            (
                "\"Decorative Lights\"",
                "\"\"",
                Rule::Empty(Member::FriendlyName),
                "\"\"",
            ),
            (
                "\"Decorative Lights\"",
                "\"--\"",
                Rule::Empty(Member::FriendlyName),
                "\"--\"",
            ),
            (
                "\"Decorative Lights\"",
                r#""Deco\nLights""#,
                Rule::Character(Member::FriendlyName, '\n'),
                r#""Deco\nLights""#,
            ),
            (
                "\"Decorative Lights\"",
                "7",
                Rule::WrongType(Member::FriendlyName),
                "7",
            ),
            (
                "\"manufacturerName\": \"Home Assistant\"",
                "\"maker\": \"x\"",
                Rule::Missing(Member::ManufacturerName),
                "*",
            ),
            (
                "[\"SWITCH\"]",
                "[]",
                Rule::Empty(Member::DisplayCategories),
                "[]",
            ),
            (
                "[\"SWITCH\"]",
                "[\"WATER_HEATER\"]",
                Rule::UnknownCategory,
                "\"WATER_HEATER\"",
            ),
            (
                "[\"SWITCH\"]",
                "[\"SWITCH\", \"SWITCH\"]",
                Rule::RepeatedCategory,
                "\"SWITCH\"",
            ),
            (
                "\"cookie\": {}",
                "\"cookie\": {\"a\": 1}",
                Rule::BadCookie,
                "{\"a\": 1}",
            ),
            (
                "\"version\": \"3\"}]",
                "\"version\": \"3\"}, 5]",
                Rule::BadCapability(3),
                "5",
            ),
            (
                "\"version\": \"3\"}]",
                "\"version\": \"3\"}, {\"type\": \"AlexaInterface\", \"interface\": \"Alexa\", \"version\": \"3\"}]",
                Rule::RepeatedCapability(3),
                "{\"type\": \"AlexaInterface\", \"interface\": \"Alexa\", \"version\": \"3\"}",
            ),
            (
                "\"model\": \"switch\"",
                "\"colour\": \"red\"",
                Rule::BadAdditionalAttribute,
                "\"colour\"",
            ),
            (
                "\"cookie\": {}",
                "\"cookie\": {}, \"connections\": [{\"type\": \"BLE\"}]",
                Rule::BadConnection(1),
                "{\"type\": \"BLE\"}",
            ),
        ];
        for (from, to, rule, detail) in cases {
            let endpoint = with(from, to);
            // `*`: the whole endpoint is the detail.
            let detail = if detail == "*" { &endpoint } else { detail };
            assert_eq!(broken(&endpoint), [(rule, String::from(detail))], "{to}");
        }
        assert_eq!(broken("[]"), [(Rule::NotAnObject, String::from("[]"))]);
    }

    #[test]
    fn capabilities_are_counted() {
        let one = r#"{"type": "AlexaInterface", "interface": "Alexa.EndpointHealth", "version": "3", "instance": "n"}"#;
        let list = |n: usize| {
            let all: Vec<String> = (0..n)
                .map(|i| one.replace("\"n\"", &format!("\"{i}\"")))
                .collect();
            format!("[{}]", all.join(", "))
        };
        let start = SWITCH.find("\"capabilities\": ").unwrap() + 16;
        let endpoint = |n: usize| format!("{}{}}}", &SWITCH[..start], list(n));
        assert_eq!(broken(&endpoint(100)), []);
        let over = endpoint(101);
        let rules: Vec<Rule> = broken(&over).into_iter().map(|(r, _)| r).collect();
        assert_eq!(rules, [Rule::TooManyCapabilities(101)]);
        let rules: Vec<Rule> = broken(&endpoint(0)).into_iter().map(|(r, _)| r).collect();
        assert_eq!(rules, [Rule::Empty(Member::Capabilities)]);
    }

    #[test]
    fn a_long_entity_id_makes_home_assistants_description_too_long() {
        // Home Assistant's description is "<entity_id> via Home Assistant":
        // an entity id of 110 characters or more makes it too long for
        // Alexa while the endpointId itself still fits.
        let endpoint = SWITCH.replace("decorative_lights", &"a".repeat(233));
        let rules: Vec<Rule> = broken(&endpoint).into_iter().map(|(r, _)| r).collect();
        assert_eq!(rules, [Rule::TooLong(Member::Description, 7 + 233 + 19)]);
        let endpoint = SWITCH.replace("decorative_lights", &"a".repeat(102));
        assert_eq!(broken(&endpoint), []);
        // With a cloud user's identifier in front, the customIdentifier too.
        let endpoint = endpoint.replace("\"-switch.", &format!("\"{}-switch.", "u".repeat(160)));
        let rules: Vec<Rule> = broken(&endpoint).into_iter().map(|(r, _)| r).collect();
        assert_eq!(rules, [Rule::BadAdditionalAttribute]);
    }
}
