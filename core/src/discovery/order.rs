//! Which endpoints Alexa is given when Home Assistant exposes more than 300:
//! the order of `DISCOVERY_PRIORITY`, then the entity id.
//!
//! What it is for: a user with a big home decides, and can predict, which
//! devices are left out. [`Priority`] is a comma-separated list of patterns,
//! each matched against an endpoint's entity id (Home Assistant's
//! endpointId with its first `#` read as `.`):
//!
//! - `light`: a domain, every entity in it;
//! - `switch.kitchen`: one entity;
//! - `sensor.*_temperature`: `*` stands for any characters.
//!
//! An endpoint ranks by the first pattern it matches; endpoints no pattern
//! matches rank after all of them; within a rank, entity ids in character
//! order. The first 300 in that order are kept.
//!
//! [`sort`] is the heapsort the guard sorts its endpoints with: no
//! allocation, no recursion, `O(n log n)`.

use core::cmp::Ordering;

use crate::json::read::chars;

/// The most patterns a priority list may have.
pub const MAX_PATTERNS: usize = 64;

/// A priority list that is not usable, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityError {
    /// An empty pattern (two commas in a row, or a comma at an end).
    EmptyPattern,
    /// A character that no entity id has (entity ids are `a–z 0–9 _` and one `.`).
    Character(char),
    /// More than [`MAX_PATTERNS`] patterns.
    TooMany,
}

impl core::fmt::Display for PriorityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PriorityError::EmptyPattern => f.write_str(
                "has an empty pattern: separate domains or entity ids with single commas, as in light,switch,sensor.*_temperature",
            ),
            PriorityError::Character(c) => write!(
                f,
                "has {c:?}, which no entity id has: use domains (light), entity ids (switch.kitchen) and * (sensor.*_temperature)"
            ),
            PriorityError::TooMany => write!(f, "has more than {MAX_PATTERNS} patterns"),
        }
    }
}

/// An ordered list of entity patterns (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority<'a>(&'a str);

/// The order lee uses unless told otherwise: the devices people most often
/// ask Alexa to control first.
pub const DEFAULT_PRIORITY: &str =
    "light,switch,fan,cover,lock,climate,media_player,vacuum,scene,script,input_boolean";

impl<'a> Priority<'a> {
    /// Read a comma-separated list; spaces around a pattern are ignored, an
    /// empty list ranks every endpoint the same (entity ids decide).
    pub fn parse(list: &'a str) -> Result<Priority<'a>, PriorityError> {
        if list.trim().is_empty() {
            return Ok(Priority(""));
        }
        let mut count = 0;
        for pattern in list.split(',') {
            let pattern = pattern.trim();
            if pattern.is_empty() {
                return Err(PriorityError::EmptyPattern);
            }
            if let Some(c) = pattern
                .chars()
                .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_.*".contains(*c)))
            {
                return Err(PriorityError::Character(c));
            }
            count += 1;
        }
        if count > MAX_PATTERNS {
            return Err(PriorityError::TooMany);
        }
        Ok(Priority(list))
    }

    /// The rank of the endpoint whose `endpointId` text (escaped) is `id`:
    /// the index of the first pattern it matches, else the number of patterns.
    pub fn rank(&self, id: &[u8]) -> u16 {
        let mut n = 0u16;
        if self.0.is_empty() {
            return 0;
        }
        for pattern in self.0.split(',') {
            if matches(pattern.trim().as_bytes(), id) {
                return n;
            }
            n += 1;
        }
        n
    }
}

/// Whether the entity id of `id` (an escaped endpointId) matches `pattern`.
fn matches(pattern: &[u8], id: &[u8]) -> bool {
    // A pattern without a dot names a domain.
    let domain_only = !pattern.contains(&b'.');
    // The entity id's characters: the first '#' is the dot.
    let mut dot_seen = false;
    let entity = chars(id).map(move |c| {
        if c == '#' && !dot_seen {
            dot_seen = true;
            '.'
        } else {
            c
        }
    });
    if domain_only {
        let mut entity = entity;
        for &p in pattern {
            if p == b'*' {
                // `*` in a domain pattern: match the domain as a glob.
                return glob(pattern, entity_domain(id));
            }
            if entity.next() != Some(char::from(p)) {
                return false;
            }
        }
        return entity.next() == Some('.');
    }
    let mut buf = [0u8; 256];
    let mut len = 0;
    for c in entity {
        if !c.is_ascii() || len == buf.len() {
            return false;
        }
        buf[len] = c as u8;
        len += 1;
    }
    glob(pattern, &buf[..len])
}

/// The domain part of an escaped endpointId (before the first `#`), or nothing.
fn entity_domain(id: &[u8]) -> &[u8] {
    match id.iter().position(|&b| b == b'#') {
        Some(at) if !id[..at].contains(&b'\\') => &id[..at],
        _ => &[],
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of
/// characters: the usual two-pointer match with one backtrack point.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Sort `v` by `cmp`, in place, without allocating or recursing.
pub fn sort<T: Copy>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let n = v.len();
    let mut sift = |v: &mut [T], mut root: usize, end: usize| {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                break;
            }
            if child + 1 < end && cmp(&v[child], &v[child + 1]) == Ordering::Less {
                child += 1;
            }
            if cmp(&v[root], &v[child]) != Ordering::Less {
                break;
            }
            v.swap(root, child);
            root = child;
        }
    };
    for start in (0..n / 2).rev() {
        sift(v, start, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn patterns_name_domains_entities_and_globs() {
        let p = Priority::parse("light, switch.kitchen,sensor.*_temperature,*_plug").unwrap();
        assert_eq!(p.rank(b"light#bed_light"), 0);
        assert_eq!(p.rank(b"lightning#x"), 4);
        assert_eq!(p.rank(b"switch#kitchen"), 1);
        assert_eq!(p.rank(b"switch#kitchen_2"), 4);
        assert_eq!(p.rank(b"sensor#outside_temperature"), 2);
        assert_eq!(p.rank(b"sensor#outside_humidity"), 4);
        assert_eq!(p.rank(b"smart_plug#one"), 3);
        // The first match decides.
        let p = Priority::parse("switch.*,switch").unwrap();
        assert_eq!(p.rank(b"switch#a"), 0);
        // No patterns: everything ranks the same.
        assert_eq!(Priority::parse(" ").unwrap().rank(b"switch#a"), 0);
        assert_eq!(
            Priority::parse(DEFAULT_PRIORITY).unwrap().rank(b"light#a"),
            0
        );
    }

    #[test]
    fn unusable_lists_are_refused() {
        assert_eq!(
            Priority::parse("light,,switch"),
            Err(PriorityError::EmptyPattern)
        );
        assert_eq!(Priority::parse("light,"), Err(PriorityError::EmptyPattern));
        assert_eq!(Priority::parse("Light"), Err(PriorityError::Character('L')));
        assert_eq!(
            Priority::parse("light;switch"),
            Err(PriorityError::Character(';'))
        );
        let many = ["a"; MAX_PATTERNS + 1].join(",");
        assert_eq!(Priority::parse(&many), Err(PriorityError::TooMany));
    }

    #[test]
    fn glob_backtracks() {
        assert!(glob(b"a*b*c", b"axxbyybc"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a*b", b"axxc"));
        assert!(glob(b"sensor.*", b"sensor."));
    }

    proptest! {
        #[test]
        fn sort_orders_like_the_standard_library(mut v in proptest::collection::vec(0u8..20, 0..200)) {
            let mut expected: Vec<u8> = v.clone();
            expected.sort();
            sort(&mut v, |a, b| a.cmp(b));
            prop_assert_eq!(v, expected);
        }
    }
}
