//! JSON written in a fixed member order, compact, as Home Assistant writes
//! it: the answers are built as [`J`] values (serde_json's own `Map` sorts
//! its keys) and written with [`J::write`]; strings are escaped and numbers
//! printed by serde_json.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// `x` as Python prints a float (`100.0`, `22.5`); a non-finite float
/// (never stored) as `null`.
pub(crate) fn float_text(x: f64) -> String {
    serde_json::to_string(&x).unwrap_or_else(|_| "null".to_string())
}

/// A JSON value written in a fixed member order (serde_json's own `Map`
/// sorts its keys).
#[derive(Clone, Debug)]
pub(crate) enum J {
    Static(&'static str),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(Cow<'static, str>, J)>),
    /// A value copied from the directive (members in serde_json's order).
    Raw(Value),
}

/// An object from a literal list of members.
pub(crate) fn obj<const N: usize>(members: [(&'static str, J); N]) -> J {
    J::from(Vec::from(members))
}

impl From<Vec<(&'static str, J)>> for J {
    /// An object with these members, in this order.
    fn from(members: Vec<(&'static str, J)>) -> J {
        J::Obj(
            members
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        )
    }
}

/// `object` with the members named in `first` first, in that order, then
/// the rest by name; a `scope` object gets `type` and `token` first.
pub(crate) fn ordered(object: &Map<String, Value>, first: &[&str]) -> J {
    let mut members = Vec::with_capacity(object.len());
    let echo = |key: &str, value: &Value| match (key, value) {
        ("scope", Value::Object(scope)) => ordered(scope, &["type", "token"]),
        _ => J::Raw(value.clone()),
    };
    for &key in first {
        if let Some(value) = object.get(key) {
            members.push((Cow::Owned(key.to_string()), echo(key, value)));
        }
    }
    for (key, value) in object {
        if !first.contains(&key.as_str()) {
            members.push((Cow::Owned(key.clone()), echo(key, value)));
        }
    }
    J::Obj(members)
}

impl J {
    /// Compact JSON, as Home Assistant writes it.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Static(s) => write_str(out, s),
            J::Str(s) => write_str(out, s),
            J::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            J::Float(f) => out.extend_from_slice(float_text(*f).as_bytes()),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Raw(v) => {
                if serde_json::to_writer(&mut *out, v).is_err() {
                    out.extend_from_slice(b"null");
                }
            }
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            J::Obj(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, key);
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// `s` as a JSON string, escaped by serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}
