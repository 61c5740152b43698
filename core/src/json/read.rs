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
            while let Some(rest) = doc.get(j..) {
                // Past the bytes that neither open, close nor quote.
                let Some(k) = rest.iter().position(|&b| STRUCTURAL[usize::from(b)]) else {
                    break;
                };
                j += k;
                match rest[k] {
                    b'"' => {
                        j = string_end(doc, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    _ => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                }
                j += 1;
            }
            doc.len()
        }
        _ => {
            let rest = doc.get(i..).unwrap_or_default();
            let len = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            i + len.max(1).min(rest.len())
        }
    }
}

/// The bytes that matter when skipping a container: brackets and quotes.
const STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut n = 0;
    while n < 5 {
        table[b"{}[]\""[n] as usize] = true;
        n += 1;
    }
    table
};

/// One past the closing quote of the string whose opening quote is at `i`.
fn string_end(doc: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(rest) = doc.get(j..) {
        match rest.iter().position(|&b| b == b'"' || b == b'\\') {
            Some(k) if rest[k] == b'"' => return j + k + 1,
            Some(k) => j += k + 2,
            None => break,
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
        let Ok((key, start)) = member_after(doc, walk.i) else {
            walk.done = true;
            return None;
        };
        let end = value_end(doc, start);
        walk.i = end;
        Some((key, Span { start, end }))
    }
}

/// The member of an object that follows position `i` (just inside its `{`,
/// or just after a member's value): its key's escaped text and where its
/// value starts; else `Err` with one past the object's `}` (or where
/// reading stopped, in bytes that are not JSON).
fn member_after(doc: &[u8], i: usize) -> Result<(&[u8], usize), usize> {
    let mut i = skip_whitespace(doc, i);
    if doc.get(i) == Some(&b',') {
        i = skip_whitespace(doc, i + 1);
    }
    match doc.get(i) {
        Some(b'"') => {}
        Some(b'}') => return Err(i + 1),
        _ => return Err(i.min(doc.len())),
    }
    let key_end = string_end(doc, i);
    let key = doc
        .get(i + 1..key_end.saturating_sub(1))
        .unwrap_or_default();
    let colon = skip_whitespace(doc, key_end);
    if doc.get(colon) != Some(&b':') {
        return Err(colon.min(doc.len()));
    }
    Ok((key, skip_whitespace(doc, colon + 1)))
}

/// Where the item of an array that follows position `i` (just inside its
/// `[`, or just after an item) starts; else `Err` with one past the array's `]`.
fn item_after(doc: &[u8], i: usize) -> Result<usize, usize> {
    let mut i = skip_whitespace(doc, i);
    if doc.get(i) == Some(&b',') {
        i = skip_whitespace(doc, i + 1);
    }
    match doc.get(i) {
        None => Err(doc.len()),
        Some(b']') => Err(i + 1),
        Some(_) => Ok(i),
    }
}

/// Read the object that starts at `start` in one pass: `visit(key, value)`
/// is given each member's escaped key and where its value starts, and
/// returns where that value ends when it read the value itself, or `None`
/// to have it skipped. Returns one past the object's end. For another
/// type, `visit` is never called and the value's end is returned.
///
/// What it is for: a reader that looks inside some members learns the
/// object's end from that same reading, instead of skipping each value
/// once to find its end and again to read it.
pub fn walk_members<'a>(
    doc: &'a [u8],
    start: usize,
    mut visit: impl FnMut(&'a [u8], usize) -> Option<usize>,
) -> usize {
    if doc.get(start) != Some(&b'{') {
        return value_end(doc, start);
    }
    let mut i = start + 1;
    loop {
        match member_after(doc, i) {
            Ok((key, value)) => {
                let end = visit(key, value).unwrap_or_else(|| value_end(doc, value));
                i = end.max(value + 1);
            }
            Err(end) => return end,
        }
    }
}

/// Read the array that starts at `start` in one pass, as
/// [`walk_members`] reads an object: `visit(item)` is given where each item
/// starts and returns its end when it read it, or `None` to have it skipped.
pub fn walk_items(
    doc: &[u8],
    start: usize,
    mut visit: impl FnMut(usize) -> Option<usize>,
) -> usize {
    if doc.get(start) != Some(&b'[') {
        return value_end(doc, start);
    }
    let mut i = start + 1;
    loop {
        match item_after(doc, i) {
            Ok(item) => {
                let end = visit(item).unwrap_or_else(|| value_end(doc, item));
                i = end.max(item + 1);
            }
            Err(end) => return end,
        }
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
    item_after(doc, i).ok().map(|start| Span {
        start,
        end: value_end(doc, start),
    })
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
        if b.is_ascii() && b != b'\\' {
            self.i += 1;
            return Some(char::from(b));
        }
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
    // Every escape is longer than the UTF-8 of its character, so a text of
    // the plain text's length can only be it byte for byte.
    match text.len().cmp(&plain.len()) {
        Ordering::Less => false,
        Ordering::Equal => text == plain.as_bytes(),
        Ordering::Greater => {
            // Byte for byte up to the first escape, then by characters.
            for (i, &b) in text.iter().enumerate() {
                if b == b'\\' {
                    let (Some(text), Some(plain)) = (text.get(i..), plain.get(i..)) else {
                        return false;
                    };
                    return chars(text).eq(plain.chars());
                }
                if plain.as_bytes().get(i) != Some(&b) {
                    return false;
                }
            }
            false
        }
    }
}

/// How many characters escaped `text` reads as.
pub fn char_count(text: &[u8]) -> usize {
    if text.contains(&b'\\') {
        return chars(text).count();
    }
    // UTF-8 that `check` accepted: every byte but a continuation starts one.
    text.iter().filter(|&&b| b & 0xC0 != 0x80).count()
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
    fn one_walk_reads_members_and_items_and_ends_where_skipping_ends() {
        let root = root(DOC);
        let mut keys = std::vec::Vec::new();
        let mut inner = std::vec::Vec::new();
        let end = walk_members(DOC, root.start, |key, value| {
            keys.push(key);
            if DOC[value] != b'[' {
                return None;
            }
            Some(walk_items(DOC, value, |item| {
                inner.push(item);
                None
            }))
        });
        assert_eq!(end, root.end);
        assert_eq!(keys, [&b"a"[..], b"k\\u0065y", b"n", b"a"]);
        let list = members(DOC, root).next().unwrap().1;
        let starts: std::vec::Vec<usize> = items(DOC, list).map(|s| s.start).collect();
        assert_eq!(inner, starts);
        // Another type: no visit, the value's end.
        assert_eq!(walk_members(b"[1]", 0, |_, _| unreachable!()), 3);
        assert_eq!(walk_items(b"\"a\"", 0, |_| unreachable!()), 3);
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
        assert_eq!(char_count(br"\u0041\u00e9"), 2);
        assert_eq!(char_count("é€😀a".as_bytes()), 4);
        assert!(text_eq(br"ab\u0063", "abc") && !text_eq(br"ab\u0063", "abd"));
        assert!(!text_eq(br"xb\u0063", "abc") && !text_eq(b"abcd", "abc"));
        assert!(text_eq(br"\u0041b", "Ab"));
        assert!(!text_eq(b"Ab", "ab"));
        assert_eq!(text_cmp(b"b", br"\u0061"), Ordering::Greater);
        assert_eq!(
            text_cmp_ignoring_case(b"Kitchen", b"kITCHEN"),
            Ordering::Equal
        );
        assert!(text_eq(br"\n", "\n") && text_eq(br"\u00e9", "\u{e9}"));
        assert!(!text_eq(br"\u0041", "B") && !text_eq(b"A", "AB"));
        // Plain ASCII and escaped or non-ASCII texts compare alike.
        assert_eq!(
            text_cmp_ignoring_case(br"K\u0069tchen", b"kITCHEN"),
            Ordering::Equal
        );
        assert_eq!(
            text_cmp_ignoring_case("\u{c4}pfel".as_bytes(), "\u{e4}PFEL".as_bytes()),
            Ordering::Equal
        );
        assert_eq!(
            text_cmp_ignoring_case(b"b", "\u{e4}".as_bytes()),
            text_cmp_ignoring_case(b"B", "\u{c4}".as_bytes())
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
            let _ = walk_members(&doc, r.start, |_, v| Some(walk_items(&doc, v, |_| None)));
            for (_, v) in members(&doc, r) {
                let _ = items(&doc, v).count();
            }
            let _ = items(&doc, r).count();
            let _ = chars(&doc).count();
        }
    }
}
