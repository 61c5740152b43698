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

/// The longest timer lee starts: 100 days.
pub const MAX_DURATION_SECS: u32 = 100 * 24 * 3600;

/// Read a duration as people write it: seconds (`"90"`), units (`"90s"`,
/// `"5m"`, `"1h30m"`, `"2h 5m 10s"`) or a clock (`"MM:SS"`, `"HH:MM:SS"`).
/// Returns whole seconds, at most [`MAX_DURATION_SECS`].
pub fn parse_duration(text: &str, field: &'static str) -> Result<u32, OpError> {
    let bad = OpError {
        code: "invalid_duration",
        field,
        message: "a duration is seconds, 1h30m-style units, or HH:MM:SS, at most 100 days",
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad);
    }
    let mut total: u64 = 0;
    if text.contains(':') {
        let mut parts = 0;
        for part in text.split(':') {
            parts += 1;
            if part.is_empty() || part.len() > 6 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            let n: u64 = part.parse().map_err(|_| bad)?;
            if parts > 1 && n >= 60 {
                return Err(bad);
            }
            total = total * 60 + n;
        }
        if !(2..=3).contains(&parts) {
            return Err(bad);
        }
    } else {
        let mut number: Option<u64> = None;
        let mut last_unit = u64::MAX;
        for b in text.bytes() {
            match b {
                b'0'..=b'9' => {
                    let n = number
                        .unwrap_or(0)
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(b - b'0')));
                    number = Some(n.ok_or(bad)?);
                }
                b'h' | b'm' | b's' => {
                    let unit = match b {
                        b'h' => 3600,
                        b'm' => 60,
                        _ => 1,
                    };
                    // Units must come largest first, each once.
                    if unit >= last_unit {
                        return Err(bad);
                    }
                    last_unit = unit;
                    total = total.saturating_add(number.take().ok_or(bad)?.saturating_mul(unit));
                }
                b' ' => {}
                _ => return Err(bad),
            }
        }
        if let Some(seconds) = number {
            if last_unit != u64::MAX {
                return Err(bad);
            }
            total = seconds;
        }
    }
    u32::try_from(total)
        .ok()
        .filter(|&s| s <= MAX_DURATION_SECS)
        .ok_or(bad)
}

/// `seconds` as Home Assistant's `HH:MM:SS` (hours may exceed 24).
pub fn hms(seconds: u32) -> heapless::String<12> {
    let mut out = heapless::String::new();
    // At most 2400 hours: 4 + 1 + 2 + 1 + 2 characters.
    let _ = core::fmt::write(
        &mut out,
        format_args!(
            "{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ),
    );
    out
}

/// Longest word compared by [`name_score`]; longer words are cut there.
const WORD: usize = 32;

/// How well `query` names something called `name`, from 0 (not at all) to
/// 1000 (the same words), for finding "kitchen lite" → "Kitchen Lights".
///
/// Both are cut into lowercase words. Each query word scores its best
/// match among the name's words: edit-distance similarity, or 900 when a
/// word of three letters or more starts the name's word. The score is the
/// mean over the query's words, less up to a fifth for name words nothing
/// matched, so "kitchen" prefers "Kitchen" to "Kitchen Window Blinds".
pub fn name_score(query: &str, name: &str) -> u16 {
    let mut total = 0u32;
    let mut query_words = 0u32;
    let mut used = 0u64;
    let name_words = words(name).count().min(64) as u32;
    if name_words == 0 {
        return 0;
    }
    for q in words(query) {
        query_words += 1;
        let mut best = (0u32, None);
        for (i, n) in words(name).enumerate().take(64) {
            let score = word_score(&q, &n);
            // On a tie, a name word not matched yet wins ("door door").
            let fresher = score == best.0 && best.1.is_some_and(|j: usize| used & (1u64 << j) != 0);
            if score > best.0 || fresher && used & (1u64 << i) == 0 {
                best = (score, Some(i));
            }
        }
        total += best.0;
        if let (s, Some(i)) = best
            && s >= 500
        {
            used |= 1 << i;
        }
    }
    if query_words == 0 {
        return 0;
    }
    let mean = total / query_words;
    let matched = used.count_ones();
    // Unmatched name words cost up to a fifth.
    (mean * (800 + 200 * matched / name_words) / 1000) as u16
}

/// The lowercase words of `text`, as fixed buffers of at most [`WORD`] chars.
fn words(text: &str) -> impl Iterator<Item = heapless::Vec<char, WORD>> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().flat_map(char::to_lowercase).take(WORD).collect())
}

fn word_score(q: &[char], n: &[char]) -> u32 {
    if q == n {
        return 1000;
    }
    if q.len() >= 3 && n.starts_with(q) {
        return 900;
    }
    let longest = q.len().max(n.len()) as u32;
    let distance = edit_distance(q, n) as u32;
    1000u32.saturating_sub(distance * 1000 / longest.max(1))
}

/// Levenshtein distance of two words of at most [`WORD`] chars, in fixed rows.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous = [0usize; WORD + 1];
    let mut current = [0usize; WORD + 1];
    for (j, slot) in previous.iter_mut().enumerate().take(b.len() + 1) {
        *slot = j;
    }
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The cache key prefix of entity states.
pub const STATE_KEY_PREFIX: &str = "ha.state/";

/// The cache key of the list of every entity id from the last batch read.
pub const STATES_KEY: &str = "ha.states";

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
    fn durations_are_read_as_people_write_them() {
        for (text, secs) in [
            ("90", 90),
            ("90s", 90),
            ("5m", 300),
            ("1h30m", 5400),
            ("2h 5m 10s", 7510),
            ("01:30", 90),
            ("1:00:05", 3605),
            ("00:00:30", 30),
        ] {
            assert_eq!(parse_duration(text, "duration"), Ok(secs), "{text}");
        }
        for bad in [
            "",
            "abc",
            "5x",
            "m",
            "5m5h",
            "1:60",
            "1:2:3:4",
            "::",
            "-5",
            "1.5h",
            "9999999999",
            "2400h1s",
        ] {
            assert_eq!(
                parse_duration(bad, "duration").unwrap_err().code,
                "invalid_duration",
                "{bad}"
            );
        }
        assert_eq!(hms(3605).as_str(), "01:00:05");
        assert_eq!(hms(MAX_DURATION_SECS).as_str(), "2400:00:00");
    }

    #[test]
    fn names_are_found_despite_typos() {
        assert_eq!(name_score("Kitchen Lights", "kitchen lights"), 1000);
        let lite = name_score("kitchen lite", "Kitchen Lights");
        assert!(lite > 700, "{lite}");
        assert!(lite > name_score("kitchen lite", "Living Room Lights"));
        assert!(name_score("kitchen", "Kitchen") > name_score("kitchen", "Kitchen Window Blinds"));
        assert!(name_score("bed", "Bed Light") > name_score("bed", "Ceiling Lights"));
        assert_eq!(name_score("", "Kitchen"), 0);
        assert_eq!(name_score("kitchen", "!!"), 0);
        assert_eq!(edit_distance(&['a', 'b', 'c'], &['a', 'c']), 1);
    }

    proptest! {
        /// Scores stay within 0..=1000 and a name always matches itself fully.
        #[test]
        fn name_scores_are_bounded(query in "\\PC{0,40}", name in "\\PC{0,40}") {
            prop_assert!(name_score(&query, &name) <= 1000);
            if words(&name).next().is_some() {
                prop_assert_eq!(name_score(&name, &name), 1000);
            }
        }

        /// Every duration lee can write reads back the same.
        #[test]
        fn durations_round_trip(seconds in 0u32..=MAX_DURATION_SECS) {
            prop_assert_eq!(parse_duration(hms(seconds).as_str(), "duration"), Ok(seconds));
            let text = std::format!("{seconds}");
            prop_assert_eq!(parse_duration(&text, "duration"), Ok(seconds));
        }

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
