//! `ha.find`: the entities whose friendly name (or object id) sounds like
//! the name asked for, scored by [`lee_core::ha::name_score`].

use serde_json::Value;

use super::{Failed, Filter};

/// Candidates for a name below this score (of 1000) are not offered.
const FIND_THRESHOLD: u16 = 500;

/// `ha.find`'s answer from the `ha.states` answer `states`: the entities
/// whose friendly name (or object id) best matches `name`, best first.
pub(crate) fn find(
    states: &str,
    name: &str,
    filter: &Filter,
    limit: usize,
) -> Result<String, Failed> {
    let v: Value =
        serde_json::from_str(states).map_err(|_| Failed::Unexpected("the states are not JSON"))?;
    let mut candidates: Vec<(u16, &str, &str)> = v["states"]
        .as_array()
        .map(|s| s.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|state| {
            let id = state["entity_id"].as_str()?;
            if !filter.keeps(id) {
                return None;
            }
            let friendly = state["attributes"]["friendly_name"].as_str().unwrap_or("");
            let object = id.split_once('.').map_or(id, |(_, o)| o);
            let score = lee_core::ha::name_score(name, friendly)
                .max(lee_core::ha::name_score(name, object));
            (score >= FIND_THRESHOLD).then_some((score, id, friendly))
        })
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    candidates.truncate(limit);
    let list: Vec<Value> = candidates
        .iter()
        .map(|(score, id, friendly)| {
            serde_json::json!({"entity_id": id, "name": friendly, "score": f64::from(*score) / 1000.0})
        })
        .collect();
    Ok(serde_json::json!({
        "ok": true,
        "op": "ha.find",
        "best": list.first().cloned().unwrap_or(Value::Null),
        "candidates": list,
    })
    .to_string())
}
