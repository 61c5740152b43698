//! Op answers shaped for their caller: `fields` and `flatten`.
//!
//! What it is for: scripts and automations usually want a few fields of a
//! Home Assistant state, not the whole object. The ops that answer states
//! take two optional arguments, checked with the others before any request
//! ([`Shape::of`]) and applied to the answer once it is checked
//! ([`Shape::apply`]): `ha.states` (each of its `states`), `ha.state` (its
//! `state`), and `ha.call_service` with the ops that call a service for it
//! (each state of `changed`, what Home Assistant says the call changed).
//! `ha.health`, `ha.conversation` and `ha.find` (candidates, not states)
//! refuse them as `not_shapeable`, naming the op.
//!
//! - `flatten: true` lifts each attribute to the top level of its state and
//!   drops `attributes`. The state's own members (`entity_id`, `state`,
//!   `last_changed`, ...) win: an attribute of the same name stays under
//!   `attributes`, which is then kept with only those.
//! - `fields: ["entity_id", "state", "attributes.brightness"]` keeps only
//!   the listed dotted paths of each state, nested as they were. A path a
//!   state does not have (or that runs into a value that is not an object)
//!   is left out of that state, never filled with `null`. With `flatten`,
//!   paths name the flattened members (`"brightness"`): flatten comes first.
//!   1 to 32 paths, each 1 to 128 characters of non-empty segments, none
//!   twice.
//!
//! Allocation is bounded by the answer, itself bounded by lee's answer
//! buffer: shaping reads it once into values and writes one shaped copy,
//! never longer than the compact answer (a property test checks it).
//!
//! Shaping works on the answer only: the cache keeps Home Assistant's
//! states whole, so a shaped answer never makes a cached state stale and
//! the next op without `fields` gets every member.

use lee_core::ha::OpError;
use serde_json::{Map, Value};

use super::check::error;
use super::{Failed, Op};

/// The most paths `fields` may list.
const MAX_FIELDS: usize = 32;
/// The most characters of one path.
const MAX_PATH_CHARS: usize = 128;

/// How an op's answer is shaped.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The paths to keep, split at their dots; `None` keeps everything.
    fields: Option<Vec<Vec<String>>>,
    /// Whether attributes are lifted to the top level.
    flatten: bool,
}

impl Shape {
    /// The shape `args` ask of `op`'s answer, `None` when they ask none.
    pub(crate) fn of(op: Op, args: &Map<String, Value>) -> Result<Option<Shape>, OpError> {
        let fields = args.get("fields").filter(|v| !v.is_null());
        let flatten = args.get("flatten").filter(|v| !v.is_null());
        if fields.is_none() && flatten.is_none() {
            return Ok(None);
        }
        if let Some(message) = not_shapeable(op) {
            let field = if fields.is_some() {
                "fields"
            } else {
                "flatten"
            };
            return Err(error("not_shapeable", field, message));
        }
        let flatten = match flatten {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return Err(error("wrong_type", "flatten", "must be true or false")),
        };
        let fields = fields.map(paths).transpose()?;
        Ok(Some(Shape { fields, flatten }))
    }

    /// Shape the states of a checked answer (`{"ok":true,"op":..,"states":[..]}`,
    /// `{..,"changed":[..]}` or `{..,"state":{..}}`), leaving everything
    /// around them as it is.
    pub(crate) fn apply(&self, answer: &[u8]) -> Result<Vec<u8>, Failed> {
        let mut answer: Value = serde_json::from_slice(answer)
            .map_err(|_| Failed::Unexpected("the answer to shape is not JSON"))?;
        let list = ["states", "changed"]
            .into_iter()
            .find(|name| answer.get(name).is_some_and(Value::is_array));
        if let Some(states) = list.and_then(|name| answer.get_mut(name)?.as_array_mut()) {
            for state in states {
                *state = self.state(state.take());
            }
        } else if let Some(state) = answer.get_mut("state") {
            *state = self.state(state.take());
        }
        serde_json::to_vec(&answer).map_err(|_| Failed::Unexpected("the shaped answer"))
    }

    /// One state, shaped.
    fn state(&self, state: Value) -> Value {
        let Value::Object(mut state) = state else {
            return state;
        };
        if self.flatten {
            flatten(&mut state);
        }
        let Some(paths) = &self.fields else {
            return Value::Object(state);
        };
        let mut kept = Map::new();
        for path in paths {
            keep(&state, path, &mut kept);
        }
        Value::Object(kept)
    }
}

/// Why `op`'s answer cannot be shaped, naming it; `None` when it answers
/// states.
fn not_shapeable(op: Op) -> Option<&'static str> {
    macro_rules! refused {
        ($op:literal, $answers:literal) => {
            concat!(
                $op,
                " answers ",
                $answers,
                ", not Home Assistant states, so it takes no fields or flatten: leave them out \
                 (ha.states, ha.state and the service-calling ops take them)"
            )
        };
    }
    match op {
        Op::Health => Some(refused!("ha.health", "Home Assistant's health")),
        Op::Conversation => Some(refused!("ha.conversation", "Assist's reply")),
        Op::Find => Some(refused!("ha.find", "candidates (entity_id, name, score)")),
        Op::States
        | Op::State
        | Op::CallService
        | Op::SceneActivate
        | Op::ScriptRun
        | Op::AutomationTrigger
        | Op::AutomationEnable
        | Op::AutomationDisable
        | Op::InputSet
        | Op::Notify
        | Op::TimerStart
        | Op::TimerPause
        | Op::TimerCancel => None,
    }
}

/// `fields`, checked: 1 to [`MAX_FIELDS`] distinct dotted paths.
fn paths(fields: &Value) -> Result<Vec<Vec<String>>, OpError> {
    let Value::Array(list) = fields else {
        return Err(error(
            "wrong_type",
            "fields",
            "must be a list of dotted paths, e.g. [\"entity_id\", \"state\", \"attributes.brightness\"]",
        ));
    };
    if list.is_empty() || list.len() > MAX_FIELDS {
        return Err(error(
            "wrong_size",
            "fields",
            "must list 1 to 32 paths (leave fields out for every member)",
        ));
    }
    let mut paths: Vec<Vec<String>> = Vec::with_capacity(list.len());
    for item in list {
        let Some(path) = item.as_str() else {
            return Err(error(
                "wrong_type",
                "fields",
                "each path must be a string, e.g. \"attributes.brightness\"",
            ));
        };
        if path.chars().count() > MAX_PATH_CHARS || path.split('.').any(str::is_empty) {
            return Err(error(
                "invalid_path",
                "fields",
                "each path is 1 to 128 characters of names joined by dots, none empty (\"attributes.brightness\", not \"attributes.\" or \"\")",
            ));
        }
        let path: Vec<String> = path.split('.').map(str::to_string).collect();
        if paths.contains(&path) {
            return Err(error("repeated_path", "fields", "lists a path twice"));
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Lift `attributes` to the top level of `state`; the state's own members win.
fn flatten(state: &mut Map<String, Value>) {
    let Some(Value::Object(attributes)) = state.remove("attributes") else {
        return;
    };
    let mut clashing = Map::new();
    for (name, value) in attributes {
        if state.contains_key(&name) {
            clashing.insert(name, value);
        } else {
            state.insert(name, value);
        }
    }
    if !clashing.is_empty() {
        state.insert("attributes".to_string(), Value::Object(clashing));
    }
}

/// Copy the value at `path` in `from` into `to`, nested as it was; nothing
/// when `from` has no such path.
fn keep(from: &Map<String, Value>, path: &[String], to: &mut Map<String, Value>) {
    let Some((name, rest)) = path.split_first() else {
        return;
    };
    let Some(value) = from.get(name) else { return };
    if rest.is_empty() {
        to.insert(name.clone(), value.clone());
        return;
    }
    let Value::Object(inner) = value else { return };
    let mut nested = match to.remove(name) {
        Some(Value::Object(already)) => already,
        _ => Map::new(),
    };
    keep(inner, rest, &mut nested);
    if !nested.is_empty() {
        to.insert(name.clone(), Value::Object(nested));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn shape(op: Op, args: Value) -> Result<Option<Shape>, OpError> {
        Shape::of(op, args.as_object().unwrap())
    }

    fn light() -> Value {
        json!({
            "entity_id": "light.kitchen", "state": "on",
            "attributes": {"brightness": 180, "friendly_name": "Kitchen", "state": "clash",
                           "color": {"r": 1, "g": 2}},
            "last_changed": "2026-12-05T00:00:00+00:00"
        })
    }

    fn applied(shape: &Shape, states: Value) -> Value {
        let answer = json!({"ok": true, "op": "ha.states", "states": states});
        serde_json::from_slice(&shape.apply(answer.to_string().as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn fields_keep_only_the_listed_paths_nested_as_they_were() {
        let s = shape(
            Op::States,
            json!({"fields": ["entity_id", "state", "attributes.brightness", "attributes.color.g"]}),
        )
        .unwrap()
        .unwrap();
        let out = applied(&s, json!([light()]));
        assert_eq!(
            out["states"][0],
            json!({"entity_id": "light.kitchen", "state": "on",
                   "attributes": {"brightness": 180, "color": {"g": 2}}})
        );
        assert_eq!(
            out["ok"],
            json!(true),
            "the answer around the states is kept"
        );
    }

    #[test]
    fn a_path_a_state_lacks_is_left_out_never_null() {
        let s = shape(
            Op::States,
            json!({"fields": ["entity_id", "attributes.missing", "state.deeper"]}),
        )
        .unwrap()
        .unwrap();
        let out = applied(&s, json!([light()]));
        assert_eq!(out["states"][0], json!({"entity_id": "light.kitchen"}));
    }

    #[test]
    fn flatten_lifts_attributes_and_the_states_own_members_win() {
        let s = shape(Op::State, json!({"flatten": true})).unwrap().unwrap();
        let answer = json!({"ok": true, "op": "ha.state", "state": light()});
        let out: Value =
            serde_json::from_slice(&s.apply(answer.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out["state"]["state"], json!("on"));
        assert_eq!(out["state"]["brightness"], json!(180));
        assert_eq!(out["state"]["attributes"], json!({"state": "clash"}));
        // Then fields name the flattened members.
        let s = shape(
            Op::States,
            json!({"flatten": true, "fields": ["entity_id", "brightness"]}),
        )
        .unwrap()
        .unwrap();
        let out = applied(&s, json!([light()]));
        assert_eq!(
            out["states"][0],
            json!({"entity_id": "light.kitchen", "brightness": 180})
        );
    }

    #[test]
    fn bad_arguments_are_refused_naming_the_field() {
        for (op, args, code, field) in [
            (Op::States, json!({"fields": []}), "wrong_size", "fields"),
            (
                Op::States,
                json!({"fields": "state"}),
                "wrong_type",
                "fields",
            ),
            (Op::States, json!({"fields": [1]}), "wrong_type", "fields"),
            (
                Op::States,
                json!({"fields": ["a..b"]}),
                "invalid_path",
                "fields",
            ),
            (
                Op::States,
                json!({"fields": [""]}),
                "invalid_path",
                "fields",
            ),
            (
                Op::States,
                json!({"fields": ["x".repeat(129)]}),
                "invalid_path",
                "fields",
            ),
            (
                Op::State,
                json!({"fields": ["state", "state"]}),
                "repeated_path",
                "fields",
            ),
            (
                Op::State,
                json!({"flatten": "yes"}),
                "wrong_type",
                "flatten",
            ),
            (
                Op::Health,
                json!({"fields": ["state"]}),
                "not_shapeable",
                "fields",
            ),
            (
                Op::Conversation,
                json!({"flatten": false}),
                "not_shapeable",
                "flatten",
            ),
            (
                Op::Find,
                json!({"flatten": true}),
                "not_shapeable",
                "flatten",
            ),
        ] {
            let e = shape(op, args.clone()).unwrap_err();
            assert_eq!((e.code, e.field), (code, field), "{args}");
        }
        let refused = shape(Op::Find, json!({"fields": ["entity_id"]})).unwrap_err();
        assert!(
            refused.message.starts_with("ha.find answers candidates"),
            "names the op: {}",
            refused.message
        );
        let many: Vec<String> = (0..33).map(|n| format!("p{n}")).collect();
        assert_eq!(
            shape(Op::States, json!({ "fields": many }))
                .unwrap_err()
                .code,
            "wrong_size"
        );
        assert_eq!(shape(Op::States, json!({"domain": "light"})).unwrap(), None);
        assert_eq!(shape(Op::Health, json!({"fields": null})).unwrap(), None);
    }

    #[test]
    fn a_service_calls_changed_states_are_shaped() {
        for op in [Op::CallService, Op::SceneActivate, Op::InputSet] {
            let s = shape(
                op,
                json!({"flatten": true, "fields": ["entity_id", "brightness"]}),
            )
            .unwrap()
            .unwrap();
            let answer =
                json!({"ok": true, "op": "ha.call_service", "changed": [light(), light()]});
            let out: Value =
                serde_json::from_slice(&s.apply(answer.to_string().as_bytes()).unwrap()).unwrap();
            let kept = json!({"entity_id": "light.kitchen", "brightness": 180});
            assert_eq!(
                out,
                json!({"ok": true, "op": "ha.call_service", "changed": [kept, kept]})
            );
        }
    }

    /// Every path from the top of `value` to one of its members, dotted.
    fn paths_in(value: &Value, prefix: &str, into: &mut Vec<String>) {
        if let Value::Object(members) = value {
            for (name, inner) in members {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                paths_in(inner, &path, into);
                into.push(path);
            }
        }
    }

    proptest! {
        /// Shaping any states never panics, answers JSON, and keeps only
        /// members the paths name.
        #[test]
        fn shaped_states_hold_only_what_the_paths_name(
            keys in proptest::collection::vec("[a-c]{1,2}", 1..6),
            paths in proptest::collection::btree_set("[a-c]{1,2}(\\.[a-c]{1,2}){0,2}", 1..6),
            flatten in any::<bool>(),
            nest in any::<bool>(),
        ) {
            let mut state = Map::new();
            for (n, key) in keys.iter().enumerate() {
                let value = if nest { json!({"a": n, "b": {"c": n}}) } else { json!(n) };
                state.insert(key.clone(), value);
            }
            state.insert("attributes".into(), json!({"a": 1, "zz": 2}));
            let args = json!({"fields": paths.iter().collect::<Vec<_>>(), "flatten": flatten});
            let s = shape(Op::States, args).unwrap().unwrap();
            let answer = json!({"ok": true, "op": "ha.states",
                                "states": [Value::Object(state), 7, null]});
            let bytes = answer.to_string().into_bytes();
            let shaped = s.apply(&bytes).unwrap();
            prop_assert!(shaped.len() <= bytes.len(), "never longer than the answer");
            let out: Value = serde_json::from_slice(&shaped).unwrap();
            // Every member kept is on the way to a requested path, is one, or
            // is inside one.
            let mut kept = Vec::new();
            paths_in(&out["states"][0], "", &mut kept);
            for path in &kept {
                let on_the_way = paths.iter().any(|asked| {
                    asked == path
                        || asked.starts_with(&format!("{path}."))
                        || path.starts_with(&format!("{asked}."))
                });
                prop_assert!(on_the_way, "{} not asked for", path);
            }
            prop_assert_eq!(&out["states"][1], &json!(7));
            prop_assert!(serde_json::to_vec(&out).is_ok());
        }
    }
}
