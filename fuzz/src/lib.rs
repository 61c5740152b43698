//! Helpers shared by lee's fuzz targets (see `fuzz_targets/`).
//!
//! lee-core borrows JSON strings raw, with their escapes still in place; the
//! targets compare them with what serde_json, the reference parser, reads.

use serde_json::Value;

/// The string a raw JSON string content stands for, as serde_json reads it
/// (`None` when serde_json refuses it).
pub fn unescape(raw: &str) -> Option<String> {
    serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()
}

/// How deeply `value` nests containers (a scalar is 0, `[]` is 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether `inner` lies inside `outer` (a borrowed field of the event).
pub fn borrowed_from(inner: &str, outer: &[u8]) -> bool {
    let range = outer.as_ptr_range();
    let start = inner.as_ptr();
    let end = inner.as_bytes().as_ptr_range().end;
    range.start <= start && end <= range.end
}

/// The member at `path` of `value`, if every step exists.
pub fn at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// `at(value, path)` as a string.
pub fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(value, path).and_then(Value::as_str)
}

/// Whether `bytes` is one JSON document as the Lambda frontend requires of
/// every event and answer (serde_json's `RawValue`: strict syntax, strings
/// not decoded, numbers not converted, at most 128 levels deep).
pub fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<&serde_json::value::RawValue>(bytes).is_ok()
}

/// `bytes` as a serde_json tree, when serde_json can build one (it refuses
/// a few documents [`is_json`] accepts: unpaired surrogate escapes, numbers
/// beyond `f64`).
pub fn tree(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// How deeply `bytes` nests containers, counting brackets outside strings
/// (meaningful for bytes [`is_json`] accepts).
pub fn raw_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}
