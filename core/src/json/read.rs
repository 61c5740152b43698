//! Reading values out of JSON that [`check`](super::check) has accepted,
//! without allocating, recursing or copying.
//!
//! What it is for: lee reads a few members of Home Assistant's answers (the
//! Discovery guard reads every endpoint's names and lists) without building
//! a tree. Positions are byte offsets into the checked document, so a caller
//! can keep them, compare the text they cover, or cut them out.
//!
//! Every function here assumes a checked document: on bytes that are not
//! JSON it never panics and never loops forever, but what it returns is
//! unspecified.

use core::cmp::Ordering;

/// A value's bytes in the document: `start..end`, the quotes included for a string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes this span covers in `doc` (empty when it lies outside).
    pub fn of<'a>(&self, doc: &'a [u8]) -> &'a [u8] {
        doc.get(self.start..self.end).unwrap_or_default()
    }

    /// The first byte of the value, which tells its type.
    pub fn first(&self, doc: &[u8]) -> Option<u8> {
        doc.get(self.start).copied()
    }

    /// Whether the value is a string.
    pub fn is_string(&self, doc: &[u8]) -> bool {
        self.first(doc) == Some(b'"')
    }

    /// A string's text between the quotes, still escaped; `None` for another type.
    pub fn string<'a>(&self, doc: &'a [u8]) -> Option<&'a [u8]> {
        let raw = self.of(doc);
        match raw {
            [b'"', inner @ .., b'"'] => Some(inner),
            _ => None,
        }
    }
}

/// Skip JSON whitespace from `i`.
pub fn skip_whitespace(doc: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = doc.get(i) {
        i += 1;
    }
    i
}

/// One past the end of the value that starts at `i`.
pub fn value_end(doc: &[u8], i: usize) -> usize {
    match doc.get(i) {
        Some(b'"') => string_end(doc, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&b) = doc.get(j) {
                match b {
                    b'"' => {
                        j = string_end(doc, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            doc.len()
        }
        _ => {
            let mut j = i;
            while let Some(b) = doc.get(j) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            j.max(i + 1).min(doc.len().max(i))
        }
    }
}

/// One past the closing quote of the string whose opening quote is at `i`.
fn string_end(doc: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(&b) = doc.get(j) {
        match b {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    doc.len()
}

/// The members of the object that starts at `span.start`, in order: each
/// key's escaped text and the value's span. Empty for another type.
pub fn members(doc: &[u8], span: Span) -> Members<'_> {
    Members(Walk::into(doc, span, b'{'))
}

/// The iterator [`members`] returns.
pub struct Members<'a>(Walk<'a>);

/// A position inside an object or array, and whether its end was reached.
struct Walk<'a> {
    doc: &'a [u8],
    i: usize,
    done: bool,
}

impl<'a> Walk<'a> {
    /// Just inside the container at `span`, if it opens with `open`.
    fn into(doc: &'a [u8], span: Span, open: u8) -> Walk<'a> {
        Walk {
            doc,
            i: span.start + 1,
            done: span.first(doc) != Some(open),
        }
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], Span);

    fn next(&mut self) -> Option<Self::Item> {
        let walk = &mut self.0;
        if walk.done {
            return None;
        }
        let doc = walk.doc;
        let mut i = skip_whitespace(doc, walk.i);
        if doc.get(i) == Some(&b',') {
            i = skip_whitespace(doc, i + 1);
        }
        if doc.get(i) != Some(&b'"') {
            walk.done = true;
            return None;
        }
        let key_end = string_end(doc, i);
        let key = doc
            .get(i + 1..key_end.saturating_sub(1))
            .unwrap_or_default();
        i = skip_whitespace(doc, key_end);
        if doc.get(i) != Some(&b':') {
            walk.done = true;
            return None;
        }
        let start = skip_whitespace(doc, i + 1);
        let end = value_end(doc, start);
        walk.i = end;
        Some((key, Span { start, end }))
    }
}

/// The value of the member `key` of the object at `span` (the last one,
/// as JSON readers that keep one value per key do), if there is one.
pub fn member(doc: &[u8], span: Span, key: &str) -> Option<Span> {
    members(doc, span)
        .filter(|(k, _)| text_eq(k, key))
        .last()
        .map(|(_, v)| v)
}

/// The value at `path` from the object at `span`: each step a member.
pub fn at(doc: &[u8], span: Span, path: &[&str]) -> Option<Span> {
    path.iter()
        .try_fold(span, |span, key| member(doc, span, key))
}

/// The whole document's span (leading and trailing whitespace left out).
pub fn root(doc: &[u8]) -> Span {
    let start = skip_whitespace(doc, 0);
    Span {
        start,
        end: value_end(doc, start),
    }
}

/// The items of the array that starts at `span.start`, in order. Empty for another type.
pub fn items(doc: &[u8], span: Span) -> Items<'_> {
    Items(Walk::into(doc, span, b'['))
}

/// The iterator [`items`] returns.
pub struct Items<'a>(Walk<'a>);

impl Iterator for Items<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        let walk = &mut self.0;
        if walk.done {
            return None;
        }
        match next_item(walk.doc, walk.i) {
            Some(item) => {
                walk.i = item.end;
                Some(item)
            }
            None => {
                walk.done = true;
                None
            }
        }
    }
}

/// The item of an array that follows position `i` (just inside its `[`, or
/// just after an item), if there is one before the `]`.
pub fn next_item(doc: &[u8], i: usize) -> Option<Span> {
    let mut i = skip_whitespace(doc, i);
    if doc.get(i) == Some(&b',') {
        i = skip_whitespace(doc, i + 1);
    }
    match doc.get(i) {
        None | Some(b']') => None,
        Some(_) => Some(Span {
            start: i,
            end: value_end(doc, i),
        }),
    }
}

/// The characters of a string's escaped text (as [`Span::string`] gives
/// it), unescaped: `\n` is one newline, `\ud83d\ude00` one character.
/// An escape that names no character (a lone surrogate) reads as U+FFFD.
pub fn chars(text: &[u8]) -> Chars<'_> {
    Chars { text, i: 0 }
}

/// The iterator [`chars`] returns.
#[derive(Clone)]
pub struct Chars<'a> {
    text: &'a [u8],
    i: usize,
}

impl Chars<'_> {
    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.text.get(at..at + 4)?;
        digits.iter().try_fold(0u32, |n, &d| {
            let v = char::from(d).to_digit(16)?;
            Some(n * 16 + v)
        })
    }
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let b = *self.text.get(self.i)?;
        if b == b'\\' {
            let escaped = self.text.get(self.i + 1).copied().unwrap_or(b'\\');
            self.i += 2;
            return Some(match escaped {
                b'n' => '\n',
                b't' => '\t',
                b'r' => '\r',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'u' => {
                    let Some(high) = self.hex4(self.i) else {
                        self.i = self.text.len();
                        return Some(char::REPLACEMENT_CHARACTER);
                    };
                    self.i += 4;
                    if (0xD800..0xDC00).contains(&high)
                        && self.text.get(self.i..self.i + 2) == Some(b"\\u")
                        && let Some(low) = self.hex4(self.i + 2)
                        && (0xDC00..0xE000).contains(&low)
                    {
                        self.i += 6;
                        let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                        return Some(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
                other => char::from(other),
            });
        }
        // UTF-8: the length from the first byte, the text checked as UTF-8 by `check`.
        let len = match b {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let end = (self.i + len).min(self.text.len());
        let c = self
            .text
            .get(self.i..end)
            .and_then(|s| core::str::from_utf8(s).ok())
            .and_then(|s| s.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        self.i = end.max(self.i + 1);
        Some(c)
    }
}

/// Whether escaped `text` reads as `plain`.
pub fn text_eq(text: &[u8], plain: &str) -> bool {
    if !text.contains(&b'\\') {
        return text == plain.as_bytes();
    }
    chars(text).eq(plain.chars())
}

/// Compare two escaped texts by their characters.
pub fn text_cmp(a: &[u8], b: &[u8]) -> Ordering {
    if !a.contains(&b'\\') && !b.contains(&b'\\') {
        return a.cmp(b);
    }
    chars(a).cmp(chars(b))
}

/// Compare two escaped texts by their characters, ignoring case.
pub fn text_cmp_ignoring_case(a: &[u8], b: &[u8]) -> Ordering {
    chars(a)
        .flat_map(char::to_lowercase)
        .cmp(chars(b).flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &[u8] =
        br#" {"a": [1, "x]", {"b": null}], "k\u0065y": "v\"w", "n": -1.5e3, "a": true} "#;

    #[test]
    fn members_and_items_are_found_in_order_with_their_spans() {
        let root = root(DOC);
        assert_eq!(root.first(DOC), Some(b'{'));
        let keys: std::vec::Vec<&[u8]> = members(DOC, root).map(|(k, _)| k).collect();
        assert_eq!(keys, [&b"a"[..], b"k\\u0065y", b"n", b"a"]);
        let list = members(DOC, root).next().unwrap().1;
        let raw: std::vec::Vec<&[u8]> = items(DOC, list).map(|s| s.of(DOC)).collect();
        assert_eq!(raw, [&b"1"[..], b"\"x]\"", b"{\"b\": null}"]);
        assert_eq!(member(DOC, root, "key").unwrap().of(DOC), br#""v\"w""#);
        assert_eq!(member(DOC, root, "n").unwrap().of(DOC), b"-1.5e3");
        // The last of a repeated key, as serde_json and Python read it.
        assert_eq!(member(DOC, root, "a").unwrap().of(DOC), b"true");
        assert_eq!(member(DOC, root, "missing"), None);
    }

    #[test]
    fn empty_containers_have_no_members_or_items() {
        for doc in [&b"{}"[..], b"{ }", b"[]", b"[ \n ]"] {
            assert_eq!(members(doc, root(doc)).count(), 0);
            assert_eq!(items(doc, root(doc)).count(), 0);
        }
        assert_eq!(members(b"[1]", root(b"[1]")).count(), 0);
        assert_eq!(items(b"{\"a\":1}", root(b"{\"a\":1}")).count(), 0);
    }

    #[test]
    fn escaped_text_reads_as_its_characters() {
        let read = |t: &[u8]| chars(t).collect::<std::string::String>();
        assert_eq!(read(br"a\nb\u00e9\ud83d\ude00\/"), "a\nb\u{e9}\u{1F600}/");
        assert_eq!(read("é€😀".as_bytes()), "é€😀");
        assert_eq!(read(br"\ud800x"), "\u{FFFD}x");
        assert_eq!(chars(br"\u0041\u00e9").count(), 2);
        assert!(text_eq(br"\u0041b", "Ab"));
        assert!(!text_eq(b"Ab", "ab"));
        assert_eq!(text_cmp(b"b", br"\u0061"), Ordering::Greater);
        assert_eq!(
            text_cmp_ignoring_case(b"Kitchen", b"kITCHEN"),
            Ordering::Equal
        );
    }

    #[test]
    fn bytes_that_are_not_json_never_panic() {
        let mut seed = 1u64;
        for len in 0..400 {
            let doc: std::vec::Vec<u8> = (0..len % 40)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let alphabet = b"{}[]\",:\\ a1";
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            let r = root(&doc);
            for (_, v) in members(&doc, r) {
                let _ = items(&doc, v).count();
            }
            let _ = items(&doc, r).count();
            let _ = chars(&doc).count();
        }
    }
}
