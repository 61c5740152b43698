//! What the Discovery guard found, said so a Home Assistant owner can fix it.
//!
//! What it is for: every [`Finding`] names the Home Assistant entity (from
//! the endpointId: Home Assistant writes `light.kitchen` as `light#kitchen`),
//! the rule it breaks, what lee did, and the fix in Home Assistant's own
//! configuration: the `alexa:` → `smart_home:` → `filter:` or
//! `entity_config:` YAML that solves it.

use core::fmt;

use super::rules::{MAX_ATTRIBUTE_CHARS, MAX_CAPABILITIES, MAX_COOKIE_BYTES, Member, Rule};
use crate::json::read::chars;

/// One rule one endpoint breaks.
#[derive(Clone, Copy, Debug)]
pub struct Finding<'a> {
    /// The endpoint's place in Home Assistant's list, from 1.
    pub position: usize,
    /// Its `endpointId` text (escaped as in the answer), if it has one.
    pub endpoint_id: Option<&'a [u8]>,
    /// The rule.
    pub rule: Rule,
    /// The value at fault, as JSON (for a repeat: the earlier endpoint's id text).
    pub detail: &'a [u8],
    /// Whether lee leaves the endpoint out of the answer (`DISCOVERY_GUARD=repair`).
    pub left_out: bool,
}

impl Finding<'_> {
    /// The Home Assistant entity, written as Home Assistant writes it.
    pub fn entity(&self) -> Entity<'_> {
        Entity(self.endpoint_id)
    }
}

/// An endpoint's entity id for a message: its endpointId with the first `#`
/// read as `.`, and at most 256 characters of it (the longest endpointId
/// Alexa accepts; Home Assistant's entity ids are at most 255).
#[derive(Clone, Copy, Debug)]
pub struct Entity<'a>(Option<&'a [u8]>);

impl fmt::Display for Entity<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(id) = self.0 else {
            return f.write_str("(no endpointId)");
        };
        let mut dot = false;
        for c in chars(id).take(256) {
            let c = match c {
                '#' if !dot => {
                    dot = true;
                    '.'
                }
                c if c.is_control() => '?',
                c => c,
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A JSON value shown to a person: a string's characters (control
/// characters as `?`), other values as they are; at most 60 characters.
struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, quoted) = match self.0 {
            [b'"', inner @ .., b'"'] => (inner, true),
            other => (other, false),
        };
        if quoted {
            f.write_str("\"")?;
        }
        let mut all = chars(text);
        for c in all.by_ref().take(60) {
            write!(f, "{}", if c.is_control() { '?' } else { c })?;
        }
        if all.next().is_some() {
            f.write_str("…")?;
        }
        if quoted {
            f.write_str("\"")?;
        }
        Ok(())
    }
}

impl fmt::Display for Finding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entity = self.entity();
        if self.endpoint_id.is_some() {
            write!(f, "{entity}: ")?;
        } else {
            write!(f, "endpoint {} (no endpointId): ", self.position)?;
        }
        let detail = Shown(self.detail);
        match self.rule {
            Rule::NotAnObject => f.write_str("is not a JSON object")?,
            Rule::Missing(m) => write!(f, "has no {}", m.key())?,
            Rule::WrongType(m) => write!(
                f,
                "its {} is {detail}, not the JSON type Alexa wants",
                m.key()
            )?,
            Rule::Empty(Member::FriendlyName) => {
                write!(f, "its friendlyName {detail} has no letter or digit to say")?
            }
            Rule::Empty(m) => write!(f, "its {} is empty", m.key())?,
            Rule::TooLong(m, n) => write!(
                f,
                "its {} is {n} characters, Alexa accepts at most {} ({detail})",
                m.key(),
                m.max_chars()
            )?,
            Rule::Character(m, c) => write!(
                f,
                "its {} has the character {c:?}, which Alexa does not accept there ({detail})",
                m.key()
            )?,
            Rule::UnknownCategory => {
                write!(f, "its display category {detail} is not one Alexa knows")?
            }
            Rule::RepeatedCategory => write!(f, "its display category {detail} is listed twice")?,
            Rule::TooManyCapabilities(n) => write!(
                f,
                "has {n} capabilities, Alexa accepts at most {MAX_CAPABILITIES}"
            )?,
            Rule::BadCapability(n) => write!(
                f,
                "its capability {n} lacks a type, interface or version Alexa can read ({detail})"
            )?,
            Rule::RepeatedCapability(n) => write!(f, "its capability {n} repeats an earlier one")?,
            Rule::BadCookie => write!(
                f,
                "its cookie is not texts of at most {MAX_COOKIE_BYTES} bytes in all ({detail})"
            )?,
            Rule::BadConnection(n) => {
                write!(f, "its connection {n} is not one Alexa accepts ({detail})")?
            }
            Rule::BadAdditionalAttribute => write!(
                f,
                "its additionalAttributes member {detail} is unknown to Alexa or not a text of at most {MAX_ATTRIBUTE_CHARS} characters"
            )?,
            Rule::RepeatedEndpointId => {
                f.write_str("an earlier endpoint has the same endpointId")?
            }
            Rule::PastLimit => f.write_str(
                "is past the 300 endpoints Alexa accepts, in the order of DISCOVERY_PRIORITY",
            )?,
            Rule::RepeatedFriendlyName => write!(
                f,
                "its friendlyName is also the name of {}",
                Entity(Some(self.detail))
            )?,
        }
        match (self.rule.refused_by_alexa(), self.left_out) {
            (false, _) => f.write_str("; kept, but Alexa cannot tell the two apart by voice")?,
            (true, true) => f.write_str("; left out of the Discovery so Alexa accepts the rest")?,
            (true, false) => f.write_str("; Alexa refuses a Discovery with it")?,
        }
        f.write_str(". Fix: in Home Assistant's configuration.yaml, under alexa: smart_home:, ")?;
        let entity_id = self.endpoint_id.is_some();
        match self.rule {
            Rule::Empty(Member::FriendlyName)
            | Rule::TooLong(Member::FriendlyName, _)
            | Rule::Character(Member::FriendlyName, _)
            | Rule::WrongType(Member::FriendlyName) => write!(
                f,
                "give it a name Alexa can say: entity_config: {entity}: name: <at most 128 letters, digits and spaces>"
            ),
            Rule::RepeatedFriendlyName => write!(
                f,
                "give one of them a name of its own: entity_config: {entity}: name: <a name no other device has>"
            ),
            Rule::TooLong(Member::Description, _) | Rule::Empty(Member::Description) => write!(
                f,
                "entity_config: {entity}: description: <at most 128 characters> (Home Assistant's default is the entity id followed by \" via Home Assistant\")"
            ),
            Rule::UnknownCategory
            | Rule::RepeatedCategory
            | Rule::Empty(Member::DisplayCategories)
            | Rule::WrongType(Member::DisplayCategories) => write!(
                f,
                "entity_config: {entity}: display_categories: OTHER (or another category from Alexa's list; for a binary_sensor, giving it a device_class also works)"
            ),
            Rule::PastLimit => write!(
                f,
                "expose fewer entities (filter: exclude_domains: or exclude_entities: [{entity}]), or set DISCOVERY_PRIORITY to choose which 300 Alexa gets"
            ),
            _ if entity_id => write!(
                f,
                "leave it out of Alexa: filter: exclude_entities: [{entity}] (a shorter entity id, in Settings → Entities, also shortens what Home Assistant derives from it)"
            ),
            _ => f.write_str(
                "find the endpoint in Home Assistant's Discovery answer (lee's diagnostics show its place) and exclude its entity with filter: exclude_entities:",
            ),
        }
    }
}
