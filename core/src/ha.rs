//! Home Assistant operations: the rules that need no network.
//!
//! What it is for: engine ops (`{"op": "ha.state", ...}`) name Home
//! Assistant entities, domains and services. Before any request is made,
//! every name is checked here the way Home Assistant checks it, so a bad
//! argument gets an [`OpError`] naming the field, never a request. The cache
//! keys of entity states live here too, so that every part of lee that reads
//! or invalidates a state agrees on where it is.

use core::fmt;

/// What is wrong with an engine op's arguments: a stable code, the field at
/// fault, and a message for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpError {
    /// Stable, machine-readable code, e.g. `invalid_entity_id`.
    pub code: &'static str,
    /// The argument at fault, e.g. `entity_id`.
    pub field: &'static str,
    /// What is wrong, in words.
    pub message: &'static str,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.field, self.code, self.message)
    }
}

/// Whether `s` is a Home Assistant slug part: lowercase letters, digits and
/// single underscores, neither starting nor ending with one.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
}

/// A checked entity id, `domain.object_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityId<'a>(&'a str);

impl<'a> EntityId<'a> {
    /// Check `id` the way Home Assistant's `valid_entity_id` does.
    pub fn parse(id: &'a str, field: &'static str) -> Result<Self, OpError> {
        match id.split_once('.') {
            Some((domain, object)) if is_slug(domain) && is_slug(object) => Ok(EntityId(id)),
            _ => Err(OpError {
                code: "invalid_entity_id",
                field,
                message: "an entity id is domain.object_id in lowercase letters, digits and single underscores",
            }),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The domain, e.g. `light`.
    pub fn domain(&self) -> &'a str {
        self.0.split_once('.').map_or("", |(d, _)| d)
    }
}

/// Check a domain or service name (a slug).
pub fn check_name(name: &str, field: &'static str) -> Result<(), OpError> {
    if is_slug(name) {
        Ok(())
    } else {
        Err(OpError {
            code: "invalid_name",
            field,
            message: "must be lowercase letters, digits and single underscores",
        })
    }
}

/// The cache key prefix of entity states.
pub const STATE_KEY_PREFIX: &str = "ha.state/";

/// The cache key of the list of every entity id from the last batch read.
pub const STATES_KEY: &str = "ha.states";

/// Write the cache key of `entity`'s state into `buf`; returns its length.
/// `buf` must hold `STATE_KEY_PREFIX.len() + 255` bytes (longer ids do not
/// fit and give `None`).
pub fn state_key<'b>(entity: EntityId<'_>, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let id = entity.as_str().as_bytes();
    let len = STATE_KEY_PREFIX.len() + id.len();
    let key = buf.get_mut(..len)?;
    key[..STATE_KEY_PREFIX.len()].copy_from_slice(STATE_KEY_PREFIX.as_bytes());
    key[STATE_KEY_PREFIX.len()..].copy_from_slice(id);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entity_ids_follow_home_assistants_rules() {
        for good in [
            "light.kitchen",
            "input_boolean.harness_flag",
            "sensor.t2",
            "a.b",
        ] {
            let id = EntityId::parse(good, "entity_id").unwrap();
            assert_eq!(id.as_str(), good);
        }
        assert_eq!(
            EntityId::parse("light.kitchen", "x").unwrap().domain(),
            "light"
        );
        for bad in [
            "",
            "light",
            "light.",
            ".kitchen",
            "Light.kitchen",
            "light.kit chen",
            "light.kitchen.extra",
            "_light.kitchen",
            "light._kitchen",
            "light.kitchen_",
            "light__x.y",
            "light.a__b",
            "light.küche",
            "../api.x",
        ] {
            let e = EntityId::parse(bad, "entity_id").unwrap_err();
            assert_eq!(
                (e.code, e.field),
                ("invalid_entity_id", "entity_id"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_are_slugs() {
        assert!(check_name("turn_on", "service").is_ok());
        assert_eq!(
            check_name("turn on", "service").unwrap_err().field,
            "service"
        );
        assert!(check_name("", "domain").is_err());
        assert!(check_name("../x", "domain").is_err());
    }

    #[test]
    fn state_keys_share_one_prefix() {
        let mut buf = [0u8; 300];
        let id = EntityId::parse("light.kitchen", "entity_id").unwrap();
        assert_eq!(state_key(id, &mut buf).unwrap(), b"ha.state/light.kitchen");
        let mut small = [0u8; 8];
        assert_eq!(state_key(id, &mut small), None);
    }

    proptest! {
        /// Whatever is accepted is safe in a URL path and a cache key: no
        /// slash, dot-dot, space, quote or uppercase can get through.
        #[test]
        fn accepted_ids_are_plain(id in "[a-zA-Z0-9_./ \"%-]{0,24}") {
            if let Ok(e) = EntityId::parse(&id, "entity_id") {
                prop_assert!(e.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'));
                prop_assert_eq!(e.as_str().matches('.').count(), 1);
                prop_assert!(!e.as_str().contains(".."));
            }
        }
    }
}
