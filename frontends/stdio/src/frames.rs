//! Cutting stdin into events: one per line, or one pretty-printed document
//! spread over several lines.
//!
//! A line that is a complete JSON document is an event. A line that starts a
//! document but does not finish it is joined with the following lines, up to
//! a line that closes a bracket and completes the document. If no line ever
//! completes it (a truncated event, garbage), the first line alone becomes
//! the event (and gets an error answer) and the lines after it are read
//! afresh, so nothing that follows is lost and the order is kept. A blank
//! line (empty, or only whitespace) between events is no event and gets no
//! answer; inside a pretty-printed document it is part of the document.
//!
//! Memory stays bounded: no line or document is kept beyond `limit` bytes;
//! a longer line is skipped to its end and reported as [`Frame::Oversized`].

use std::collections::VecDeque;
use std::io::{self, BufRead};

use lee_core::json::{self, JsonErrorKind};

/// One unit of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one event (perhaps broken: the bridge says why).
    Event(Vec<u8>),
    /// A line longer than the limit, of this many bytes (its `\n` or `\r\n`
    /// ending not counted), skipped unread.
    Oversized(usize),
}

/// A line read with a cap on what is kept.
enum Line {
    Kept(Vec<u8>),
    Oversized(usize),
}

/// The events of a byte stream, in order.
pub struct Frames<R> {
    reader: R,
    limit: usize,
    pending: VecDeque<Line>,
    eof: bool,
}

impl<R: BufRead> Frames<R> {
    /// Frames of `reader`, keeping at most `limit` bytes of any event.
    pub fn new(reader: R, limit: usize) -> Self {
        Frames {
            reader,
            limit,
            pending: VecDeque::new(),
            eof: false,
        }
    }

    /// The next frame, `None` at the end of the input.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if self.pending.is_empty() && !self.fill()? {
                return Ok(None);
            }
            match self.pending.front() {
                Some(Line::Kept(bytes)) if bytes.trim_ascii().is_empty() => {
                    self.pending.pop_front();
                }
                _ => break,
            }
        }
        let first = match self.pending.front() {
            Some(Line::Kept(bytes)) => bytes.clone(),
            Some(Line::Oversized(len)) => {
                let len = *len;
                self.pending.pop_front();
                return Ok(Some(Frame::Oversized(len)));
            }
            None => return Ok(None),
        };
        if !matches!(check(&first), Err(JsonErrorKind::UnexpectedEnd))
            || !first.trim_ascii_start().starts_with(b"{")
                && !first.trim_ascii_start().starts_with(b"[")
        {
            self.pending.pop_front();
            return Ok(Some(Frame::Event(first)));
        }
        // A document that goes on: join lines until one closing a bracket completes it.
        let mut joined = first;
        let mut used = 1;
        loop {
            if used == self.pending.len() && !self.fill()? {
                break;
            }
            let Some(Line::Kept(line)) = self.pending.get(used) else {
                break;
            };
            if joined.len() + 1 + line.len() > self.limit {
                break;
            }
            joined.push(b'\n');
            joined.extend_from_slice(line);
            used += 1;
            let closes = matches!(line.trim_ascii_start().first(), Some(b'}' | b']'));
            if closes {
                match check(&joined) {
                    Ok(()) => {
                        self.pending.drain(..used);
                        return Ok(Some(Frame::Event(joined)));
                    }
                    Err(JsonErrorKind::UnexpectedEnd) => {}
                    Err(_) => break,
                }
            }
        }
        // Never completed: the first line stands alone; the rest is read afresh.
        match self.pending.pop_front() {
            Some(Line::Kept(first)) => Ok(Some(Frame::Event(first))),
            Some(Line::Oversized(len)) => Ok(Some(Frame::Oversized(len))),
            None => Ok(None),
        }
    }

    /// Read one more line into `pending`; `false` at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut kept = Vec::new();
        let mut len = 0usize;
        // The line's last byte so far, kept or not: a final `\r` is part of
        // the line ending, not of the line.
        let mut last = None;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                self.eof = true;
                if len == 0 {
                    return Ok(false);
                }
                break;
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            len += chunk.len();
            last = chunk.last().copied().or(last);
            if kept.len() < self.limit {
                let room = self.limit - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            let consumed = done.unwrap_or(buf.len());
            self.reader.consume(consumed);
            if done.is_some() {
                break;
            }
        }
        if last == Some(b'\r') {
            len -= 1;
            kept.truncate(len);
        }
        self.pending.push_back(if len > self.limit {
            Line::Oversized(len)
        } else {
            Line::Kept(kept)
        });
        Ok(true)
    }
}

fn check(bytes: &[u8]) -> Result<(), JsonErrorKind> {
    json::check(bytes, json::MAX_DEPTH, |_| {}).map_err(|e| e.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], limit: usize) -> Vec<Frame> {
        let mut f = Frames::new(input, limit);
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame().unwrap() {
            out.push(frame);
        }
        out
    }

    fn event(s: &str) -> Frame {
        Frame::Event(s.as_bytes().to_vec())
    }

    #[test]
    fn one_event_per_line_in_order() {
        let input = b"{\"a\":1}\n{\"b\":2}\r\n[3]";
        assert_eq!(
            frames(input, 100),
            [event("{\"a\":1}"), event("{\"b\":2}"), event("[3]")]
        );
    }

    #[test]
    fn a_pretty_printed_document_is_one_event() {
        let input = b"{\n  \"directive\": {\n    \"x\": [1, 2]\n  }\n}\n{\"next\":true}\n";
        assert_eq!(
            frames(input, 1000),
            [
                event("{\n  \"directive\": {\n    \"x\": [1, 2]\n  }\n}"),
                event("{\"next\":true}")
            ]
        );
    }

    #[test]
    fn a_broken_line_does_not_swallow_what_follows() {
        let input = b"{\"truncated\":\n{\"ok\":1}\nnot json\n{\"ok\":2}";
        assert_eq!(
            frames(input, 1000),
            [
                event("{\"truncated\":"),
                event("{\"ok\":1}"),
                event("not json"),
                event("{\"ok\":2}")
            ]
        );
    }

    /// A blank line (nothing, or only spaces and tabs) is no event: it gets
    /// no answer, so every answer still belongs to one event, in order.
    #[test]
    fn blank_lines_are_skipped() {
        let input = b"\n{\"a\":1}\n\n  \t \r\n{\n\n\"b\": 2\n}\n\nnot json\n   ";
        assert_eq!(
            frames(input, 1000),
            [
                event("{\"a\":1}"),
                event("{\n\n\"b\": 2\n}"),
                event("not json")
            ]
        );
        assert_eq!(frames(b"\n\n \n", 1000), []);
    }

    #[test]
    fn an_unfinished_document_at_the_end_gives_back_every_line() {
        let input = b"{\n\"a\": 1,\n";
        assert_eq!(frames(input, 1000), [event("{"), event("\"a\": 1,")]);
    }

    #[test]
    fn long_lines_are_skipped_not_kept() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\n{\"ok\":1}\n");
        assert_eq!(
            frames(&input, 100),
            [Frame::Oversized(5000), event("{\"ok\":1}")]
        );
    }

    /// Found by fuzzing (ndjson): a CRLF line exactly at the limit was
    /// called oversized, and an oversized one was measured with its `\r`.
    #[test]
    fn a_line_ending_never_counts_against_the_limit() {
        let input = b"{\"a\":12345}\r\n0123456789AB\r\n{\"b\":1}\r";
        assert_eq!(
            frames(input, 11),
            [
                event("{\"a\":12345}"),
                Frame::Oversized(12),
                event("{\"b\":1}")
            ]
        );
        // The same through a one-byte read buffer, where the `\r` arrives alone.
        let mut f = Frames::new(io::BufReader::with_capacity(1, &input[..]), 11);
        assert_eq!(f.next_frame().unwrap(), Some(event("{\"a\":12345}")));
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Oversized(12)));
    }

    #[test]
    fn invalid_utf8_is_passed_on_for_the_bridge_to_refuse() {
        assert_eq!(
            frames(b"\xff\xfe\n{}", 100),
            [Frame::Event(vec![0xff, 0xfe]), event("{}")]
        );
    }

    #[test]
    fn a_document_larger_than_the_limit_falls_apart_into_lines() {
        let input = b"{\n\"a\": \"0123456789\",\n\"b\": 1\n}\n";
        let got = frames(input, 20);
        assert_eq!(got.len(), 4, "{got:?}");
    }
}
