//! A strict JSON checker that allocates nothing and never recurses.
//!
//! What it is for: lee must know whether bytes are one complete JSON document
//! before it trusts them. An event is checked before it is parsed, so that a
//! deeply nested or broken event gets a clear error instead of a stack
//! overflow in a recursive parser. Home Assistant's 2xx answer is checked
//! before it is passed through, so that a truncated or non-JSON body becomes
//! an `INTERNAL_ERROR` instead of garbage sent to Alexa. The answer itself is
//! never rewritten: checking reads, it does not re-serialize.
//!
//! [`check`] follows RFC 8259 exactly (UTF-8, no trailing commas, no comments,
//! no leading zeros, escapes and control characters checked) with an explicit
//! stack of at most [`MAX_DEPTH`] containers kept in one `u128`, and reports
//! each top-level object key to a callback, which is how callers find out
//! whether an answer has an `event` member without a second pass.

use core::fmt;

pub mod read;

/// The deepest nesting [`check`] can track.
pub const MAX_DEPTH: usize = 128;

/// What is wrong with a JSON document, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    /// What the problem is.
    pub kind: JsonErrorKind,
}

/// The kinds of problem [`check`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// The document ended early (truncated).
    UnexpectedEnd,
    /// A byte that cannot appear here.
    UnexpectedByte(u8),
    /// Containers nested deeper than allowed.
    TooDeep,
    /// A backslash escape that JSON does not have.
    InvalidEscape,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A malformed number.
    InvalidNumber,
    /// More data after the document.
    TrailingData,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            JsonErrorKind::InvalidUtf8 => "invalid UTF-8",
            JsonErrorKind::UnexpectedEnd => "the JSON ends early (truncated?)",
            JsonErrorKind::UnexpectedByte(_) => "unexpected character",
            JsonErrorKind::TooDeep => "nested too deeply",
            JsonErrorKind::InvalidEscape => "invalid escape in a string",
            JsonErrorKind::ControlCharacter => "control character in a string",
            JsonErrorKind::InvalidNumber => "malformed number",
            JsonErrorKind::TrailingData => "data after the JSON document",
        };
        write!(f, "{what} at byte {}", self.offset)
    }
}

#[derive(Clone, Copy)]
enum Expect {
    Value,
    /// Just after `{`: a key or `}`.
    FirstKey,
    /// After a `,` in an object: a key.
    Key,
    /// After a complete value: `,`, a closing bracket, or the end.
    After,
}

/// Check that `input` is exactly one JSON document nested at most
/// `max_depth` (capped at [`MAX_DEPTH`]) containers deep. `on_top_level_key`
/// is called with the raw (still escaped) bytes of each key of a top-level
/// object, in order.
pub fn check(
    input: &[u8],
    max_depth: usize,
    mut on_top_level_key: impl FnMut(&[u8]),
) -> Result<(), JsonError> {
    if let Err(e) = core::str::from_utf8(input) {
        return Err(err(e.valid_up_to(), JsonErrorKind::InvalidUtf8));
    }
    let max_depth = max_depth.min(MAX_DEPTH);
    // Bit n is set when the container at depth n is an object.
    let mut objects: u128 = 0;
    let mut depth = 0usize;
    let mut expect = Expect::Value;
    let mut i = 0usize;
    loop {
        i = skip_whitespace(input, i);
        match expect {
            Expect::Value => {
                let b = *input.get(i).ok_or(err(i, JsonErrorKind::UnexpectedEnd))?;
                match b {
                    b'{' | b'[' => {
                        if depth >= max_depth {
                            return Err(err(i, JsonErrorKind::TooDeep));
                        }
                        let bit = 1u128 << depth;
                        if b == b'{' {
                            objects |= bit;
                        } else {
                            objects &= !bit;
                        }
                        depth += 1;
                        i += 1;
                        let next = skip_whitespace(input, i);
                        let close = if b == b'{' { b'}' } else { b']' };
                        if input.get(next) == Some(&close) {
                            depth -= 1;
                            i = next + 1;
                            expect = Expect::After;
                        } else if b == b'{' {
                            expect = Expect::FirstKey;
                        }
                    }
                    b'"' => {
                        i = string_end(input, i)?;
                        expect = Expect::After;
                    }
                    b't' => i = literal(input, i, b"true")?,
                    b'f' => i = literal(input, i, b"false")?,
                    b'n' => i = literal(input, i, b"null")?,
                    b'-' | b'0'..=b'9' => i = number_end(input, i)?,
                    other => return Err(err(i, JsonErrorKind::UnexpectedByte(other))),
                }
                if matches!(b, b't' | b'f' | b'n' | b'-' | b'0'..=b'9') {
                    expect = Expect::After;
                }
            }
            Expect::FirstKey | Expect::Key => {
                match input.get(i) {
                    Some(b'"') => {}
                    Some(&other) => return Err(err(i, JsonErrorKind::UnexpectedByte(other))),
                    None => return Err(err(i, JsonErrorKind::UnexpectedEnd)),
                }
                let end = string_end(input, i)?;
                if depth == 1 {
                    on_top_level_key(&input[i + 1..end - 1]);
                }
                i = skip_whitespace(input, end);
                match input.get(i) {
                    Some(b':') => i += 1,
                    Some(&other) => return Err(err(i, JsonErrorKind::UnexpectedByte(other))),
                    None => return Err(err(i, JsonErrorKind::UnexpectedEnd)),
                }
                expect = Expect::Value;
            }
            Expect::After => {
                if depth == 0 {
                    return if i == input.len() {
                        Ok(())
                    } else {
                        Err(err(i, JsonErrorKind::TrailingData))
                    };
                }
                let in_object = objects & (1u128 << (depth - 1)) != 0;
                match (input.get(i), in_object) {
                    (Some(b','), true) => expect = Expect::Key,
                    (Some(b','), false) => expect = Expect::Value,
                    (Some(b'}'), true) | (Some(b']'), false) => depth -= 1,
                    (Some(&other), _) => return Err(err(i, JsonErrorKind::UnexpectedByte(other))),
                    (None, _) => return Err(err(i, JsonErrorKind::UnexpectedEnd)),
                }
                i += 1;
            }
        }
    }
}

const fn err(offset: usize, kind: JsonErrorKind) -> JsonError {
    JsonError { offset, kind }
}

fn skip_whitespace(input: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = input.get(i) {
        i += 1;
    }
    i
}

fn literal(input: &[u8], i: usize, word: &[u8]) -> Result<usize, JsonError> {
    let end = i + word.len();
    match input.get(i..end) {
        Some(found) if found == word => Ok(end),
        Some(_) => Err(err(i, JsonErrorKind::UnexpectedByte(input[i]))),
        None => Err(err(input.len(), JsonErrorKind::UnexpectedEnd)),
    }
}

/// `input[start]` is the opening quote; returns the index after the closing one.
fn string_end(input: &[u8], start: usize) -> Result<usize, JsonError> {
    let mut i = start + 1;
    loop {
        match input.get(i) {
            None => return Err(err(i, JsonErrorKind::UnexpectedEnd)),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match input.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = input
                        .get(i + 2..i + 6)
                        .ok_or(err(input.len(), JsonErrorKind::UnexpectedEnd))?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(err(i, JsonErrorKind::InvalidEscape));
                    }
                    i += 6;
                }
                Some(_) => return Err(err(i, JsonErrorKind::InvalidEscape)),
                None => return Err(err(i + 1, JsonErrorKind::UnexpectedEnd)),
            },
            Some(&b) if b < 0x20 => return Err(err(i, JsonErrorKind::ControlCharacter)),
            Some(_) => i += 1,
        }
    }
}

/// `input[start]` is `-` or a digit; returns the index after the number.
fn number_end(input: &[u8], start: usize) -> Result<usize, JsonError> {
    let digits = |mut i: usize| {
        let from = i;
        while input.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i, i > from)
    };
    let bad = |i: usize| {
        if i >= input.len() {
            err(i, JsonErrorKind::UnexpectedEnd)
        } else {
            err(i, JsonErrorKind::InvalidNumber)
        }
    };
    let mut i = start;
    if input.get(i) == Some(&b'-') {
        i += 1;
    }
    match input.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i).0,
        _ => return Err(bad(i)),
    }
    if input.get(i) == Some(&b'.') {
        let (end, any) = digits(i + 1);
        if !any {
            return Err(bad(i + 1));
        }
        i = end;
    }
    if let Some(b'e' | b'E') = input.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = input.get(i) {
            i += 1;
        }
        let (end, any) = digits(i);
        if !any {
            return Err(bad(i));
        }
        i = end;
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    fn ok(s: &str) -> bool {
        check(s.as_bytes(), MAX_DEPTH, |_| {}).is_ok()
    }

    fn kind(s: &[u8]) -> JsonErrorKind {
        check(s, MAX_DEPTH, |_| {}).unwrap_err().kind
    }

    #[test]
    fn accepts_every_kind_of_value() {
        for s in [
            "0",
            "-0",
            "1.5e-7",
            "-12.25E+3",
            "true",
            "false",
            "null",
            "\"\"",
            r#""a\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00""#,
            "[]",
            "{}",
            " [ 1 , [ ] , { } ] ",
            r#"{"a":{"b":[1,2,{"c":null}]},"d":"é"}"#,
            "\"ünïcødé ✓\"",
        ] {
            assert!(ok(s), "{s}");
        }
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        let cases: [(&[u8], JsonErrorKind); 18] = [
            (b"", JsonErrorKind::UnexpectedEnd),
            (b"   ", JsonErrorKind::UnexpectedEnd),
            (b"{\"a\":1", JsonErrorKind::UnexpectedEnd),
            (b"[1,2", JsonErrorKind::UnexpectedEnd),
            (b"\"abc", JsonErrorKind::UnexpectedEnd),
            (b"[1,]", JsonErrorKind::UnexpectedByte(b']')),
            (b"{\"a\":1,}", JsonErrorKind::UnexpectedByte(b'}')),
            (b"{a:1}", JsonErrorKind::UnexpectedByte(b'a')),
            (b"[1 2]", JsonErrorKind::UnexpectedByte(b'2')),
            (b"{\"a\" 1}", JsonErrorKind::UnexpectedByte(b'1')),
            (b"[1}", JsonErrorKind::UnexpectedByte(b'}')),
            (b"01", JsonErrorKind::TrailingData),
            (b"1.", JsonErrorKind::UnexpectedEnd),
            (b"-x", JsonErrorKind::InvalidNumber),
            (b"\"\\x\"", JsonErrorKind::InvalidEscape),
            (b"\"a\nb\"", JsonErrorKind::ControlCharacter),
            (b"{} {}", JsonErrorKind::TrailingData),
            (b"\"\xff\"", JsonErrorKind::InvalidUtf8),
        ];
        for (input, expected) in cases {
            assert_eq!(
                kind(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            kind(b"<html>500</html>"),
            JsonErrorKind::UnexpectedByte(b'<')
        );
        assert_eq!(kind(b"tru"), JsonErrorKind::UnexpectedEnd);
        assert_eq!(kind(b"nul!"), JsonErrorKind::UnexpectedByte(b'n'));
        assert_eq!(kind(b"\"\\u12g4\""), JsonErrorKind::InvalidEscape);
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = |n: usize| {
            let mut s = "[".repeat(n);
            s.push_str(&"]".repeat(n));
            s
        };
        assert!(check(deep(4).as_bytes(), 4, |_| {}).is_ok());
        assert_eq!(
            check(deep(5).as_bytes(), 4, |_| {}).unwrap_err(),
            err(4, JsonErrorKind::TooDeep)
        );
        // A megabyte of brackets is refused at the cap, not by the stack.
        let huge = "[".repeat(1 << 20);
        assert_eq!(kind(huge.as_bytes()), JsonErrorKind::TooDeep);
        assert!(check(deep(MAX_DEPTH).as_bytes(), usize::MAX, |_| {}).is_ok());
    }

    #[test]
    fn reports_top_level_keys_only() {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        check(
            br#"{"event":{"inner":1},"x\"y":[{"deep":2}],"context":{}}"#,
            8,
            |k| keys.push(k.to_vec()),
        )
        .unwrap();
        assert_eq!(keys, [&b"event"[..], b"x\\\"y", b"context"]);
    }

    /// Arbitrary JSON values, rendered compactly or with spaces.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| std::format!("{f:e}")),
            "[ -~]{0,8}".prop_map(|s| serde_json::to_string(&s).expect("a string serializes")),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| std::format!("[{}]", v.join(" , "))),
                proptest::collection::vec(("[a-z]{0,4}", inner), 0..6).prop_map(|kv| {
                    let body: Vec<String> = kv
                        .iter()
                        .map(|(k, v)| std::format!("\"{k}\":{v}"))
                        .collect();
                    std::format!("{{{}}}", body.join(","))
                }),
            ]
        })
    }

    proptest! {
        /// Every well-formed document is accepted, and every proper prefix
        /// of a document that is a container or string is refused: a
        /// truncated Home Assistant answer is never mistaken for a whole one.
        #[test]
        fn accepts_documents_and_refuses_their_truncations(doc in value()) {
            prop_assert!(ok(&doc), "{}", doc);
            if doc.starts_with(['[', '{', '"']) {
                for cut in 0..doc.len() {
                    if doc.is_char_boundary(cut) {
                        prop_assert!(!ok(&doc[..cut]), "prefix {:?} accepted", &doc[..cut]);
                    }
                }
            }
        }

        /// On arbitrary input drawn from JSON's own alphabet, the checker
        /// agrees with serde_json, and never panics.
        #[test]
        fn agrees_with_serde_json(
            bytes in proptest::collection::vec(
                prop::sample::select(&b"{}[]\",:0123456789.eE+- tfalsenurx\\/bu\n\xc3\xa9"[..]),
                0..48,
            ),
        ) {
            let ours = check(&bytes, 64, |_| {}).is_ok();
            let reference = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok();
            prop_assert_eq!(ours, reference, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }
}
