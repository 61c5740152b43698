//! What the ops keep in the cache and for how long (each entity's state,
//! filed as an `ha.state` answer under [`state_key`]; the list of entity
//! ids; area entity lists; `ha.health`'s answer), and `ha.states` answered
//! from there.

use std::time::Duration;

use lee_core::cache::{Cache, EntrySlot};
use lee_core::ha::{STATE_KEY_PREFIX, STATES_KEY};

/// How long an entity's state is served from the cache.
pub const STATE_TTL: Duration = Duration::from_secs(5);

/// How long an area's entity list is reused.
pub const AREA_TTL: Duration = Duration::from_secs(60);

/// The cache key prefix of area entity lists.
pub const AREA_KEY_PREFIX: &str = "ha.area/";

/// How long `ha.health`'s answer is reused.
pub const HEALTH_TTL: Duration = Duration::from_secs(30);

/// Which entities `ha.states` returns.
#[derive(Debug)]
pub(crate) enum Filter {
    All,
    Domain(String),
    Entities(Vec<String>),
}

impl Filter {
    pub(super) fn keeps(&self, entity_id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Domain(domain) => entity_id.split_once('.').is_some_and(|(d, _)| d == domain),
            Filter::Entities(ids) => ids.iter().any(|id| id == entity_id),
        }
    }
}

/// The cache key of an entity's state.
pub(crate) fn state_key(entity: &str) -> String {
    format!("{STATE_KEY_PREFIX}{entity}")
}

/// The answer filed for `ha.state`: `{"ok":true,"op":"ha.state","state":<raw>}`.
pub(crate) fn state_answer(raw: &str) -> String {
    format!(r#"{{"ok":true,"op":"ha.state","state":{raw}}}"#)
}

/// The raw state inside a filed `ha.state` answer.
pub(super) fn state_of(answer: &[u8]) -> Option<&[u8]> {
    let prefix = br#"{"ok":true,"op":"ha.state","state":"#;
    answer.strip_prefix(&prefix[..])?.strip_suffix(b"}")
}

/// At most this many missing states are read one by one; more, and the
/// whole batch is read again.
pub(crate) const REFRESH_AT_MOST: usize = 4;

/// `ha.states` as the cache can answer it.
#[derive(Debug, PartialEq)]
pub(crate) enum FromCache {
    /// Every wanted state was fresh: the answer.
    Answer(String),
    /// The list of entities is fresh but these wanted states are not.
    Missing(Vec<String>),
    /// No fresh list of entities: read the batch.
    Nothing,
}

/// `ha.states` from the cache: the answer when every state `filter` wants
/// is fresh, else which are missing.
pub(crate) fn states_in_cache<E, B>(
    filter: &Filter,
    cache: &mut Cache<E, B>,
    now: lee_core::time::Instant,
) -> FromCache
where
    E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let Some(ids) = cache
        .get(STATES_KEY.as_bytes(), now)
        .and_then(|ids| String::from_utf8(ids.to_vec()).ok())
    else {
        return FromCache::Nothing;
    };
    let mut answer = String::from(r#"{"ok":true,"op":"ha.states","states":["#);
    let mut missing = Vec::new();
    for id in ids.lines().filter(|id| filter.keeps(id)) {
        match cache
            .get(state_key(id).as_bytes(), now)
            .and_then(state_of)
            .and_then(|raw| std::str::from_utf8(raw).ok())
        {
            Some(raw) if missing.is_empty() => {
                if !answer.ends_with('[') {
                    answer.push(',');
                }
                answer.push_str(raw);
            }
            Some(_) => {}
            None => missing.push(id.to_string()),
        }
    }
    if missing.is_empty() {
        answer.push_str("]}");
        FromCache::Answer(answer)
    } else {
        FromCache::Missing(missing)
    }
}
