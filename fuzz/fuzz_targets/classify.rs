//! Event classification (`lee_core::event::classify`) of arbitrary bytes.
//!
//! Never panics; whatever it accepts is JSON by serde_json's standard and
//! nested at most `EVENT_MAX_DEPTH`; whatever serde_json accepts within that
//! depth is not refused as broken JSON; and every field it reads is borrowed
//! from the event and says what serde_json reads there.
#![no_main]

use lee_core::event::{ClassifyError, EVENT_MAX_DEPTH, Event, classify};
use lee_fuzz::{borrowed_from, depth, is_json, str_at, tree, unescape};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let classified = classify(data);
    let json = is_json(data);
    let value = tree(data);
    match classified {
        Err(ClassifyError::Json(e)) => {
            // Refused as JSON: serde_json must refuse it too, unless it nests
            // deeper than lee allows.
            if let Some(v) = &value {
                assert!(
                    depth(v) > EVENT_MAX_DEPTH,
                    "lee refuses JSON serde_json reads ({e})"
                );
            }
            if json && value.is_none() {
                // serde_json reads the syntax but builds no tree: only the
                // depth can explain lee's refusal.
                assert!(
                    e.kind == lee_core::json::JsonErrorKind::TooDeep,
                    "lee refuses JSON serde_json accepts ({e})"
                );
            }
        }
        Err(ClassifyError::TooLarge { .. }) => unreachable!("classify has no size limit"),
        Err(_) => assert!(json, "a refusal past the JSON check, but not JSON"),
        Ok(event) => {
            assert!(json, "classified bytes that are not JSON");
            check_event(data, event, value.as_ref());
        }
    }
});

/// `raw` is borrowed from `data` and reads, unescaped, as `expected` (when
/// serde_json built a tree and the event has no escapes, whose keys lee reads
/// raw).
fn same(data: &[u8], raw: &str, expected: Option<&str>, plain: bool) {
    assert!(
        borrowed_from(raw, data),
        "{raw:?} is not borrowed from the event"
    );
    let unescaped = unescape(raw);
    if plain {
        assert_eq!(unescaped.as_deref(), expected, "raw {raw:?}");
    }
}

fn check_event(data: &[u8], event: Event<'_>, value: Option<&Value>) {
    let Some(v) = value else { return };
    assert!(v.is_object(), "every event is an object");
    assert!(depth(v) <= EVENT_MAX_DEPTH);
    // Without backslashes, raw and unescaped agree, keys included.
    let plain = !data.contains(&b'\\');
    match event {
        Event::Directive(d) => {
            let header = |k: &str| str_at(v, &["directive", "header", k]);
            same(data, d.namespace, header("namespace"), plain);
            same(data, d.name, header("name"), plain);
            same(data, d.payload_version, header("payloadVersion"), plain);
            if let Some(id) = d.message_id {
                same(data, id, header("messageId"), plain);
            }
            if let Some(token) = d.correlation_token {
                same(data, token, header("correlationToken"), plain);
            }
            if let Some(id) = d.endpoint_id {
                same(
                    data,
                    id,
                    str_at(v, &["directive", "endpoint", "endpointId"]),
                    plain,
                );
            }
            if let Some(scope) = d.scope {
                same(data, scope.kind, scope_kind(v), plain);
            }
        }
        Event::Http(h) => {
            same(
                data,
                h.method,
                str_at(v, &["requestContext", "http", "method"]),
                plain,
            );
            same(
                data,
                h.path,
                str_at(v, &["requestContext", "http", "path"]),
                plain,
            );
            if let Some(secret) = h.secret {
                same(data, secret, str_at(v, &["headers", "x-lee-secret"]), plain);
            }
        }
        Event::Op(op) => same(data, op, str_at(v, &["op"]), plain),
        Event::Skill(kind) => same(data, kind, str_at(v, &["request", "type"]), plain),
        Event::Health => {
            if plain {
                assert_eq!(v.get("health_check"), Some(&Value::Bool(true)));
            }
        }
        Event::Diagnostics => {
            if plain {
                assert_eq!(v.get("diagnostics"), Some(&Value::Bool(true)));
                assert_ne!(v.get("health_check"), Some(&Value::Bool(true)));
            }
        }
        Event::Doctor => {
            if plain {
                assert_eq!(v.get("doctor"), Some(&Value::Bool(true)));
                assert_ne!(v.get("health_check"), Some(&Value::Bool(true)));
                assert_ne!(v.get("diagnostics"), Some(&Value::Bool(true)));
            }
        }
    }
}

/// The scope lee takes its token from: `endpoint.scope`, else
/// `payload.grantee`, else `payload.scope` (a `null` one counts as absent).
fn scope_kind(v: &Value) -> Option<&str> {
    [
        &["directive", "endpoint", "scope"][..],
        &["directive", "payload", "grantee"],
        &["directive", "payload", "scope"],
    ]
    .iter()
    .find_map(|path| lee_fuzz::at(v, path).filter(|s| !s.is_null()))
    .and_then(|scope| scope.get("type"))
    .and_then(Value::as_str)
}
