//! The stdio harness's framing (`lee_stdio::frames`): arbitrary bytes, a
//! limit and a read-buffer size from the fuzz input (bytes 0..2: the limit,
//! `LE % 8192`; byte 2: the read buffer, `b % 64 + 1` bytes; the rest: the
//! input stream).
//!
//! The input is a sequence of lines (split at `\n`; a final line without
//! one counts unless it is empty; one `\r` before the `\n` belongs to the
//! line ending). Every frame is one line, or several consecutive lines that
//! together are one JSON document; so the frames, expanded back into lines,
//! give exactly the input's lines in order, less the blank ones (nothing or
//! only whitespace, within the limit) between frames, which are skipped:
//! nothing else lost, duplicated or reordered, and the count of frames is
//! at most the count of lines. A line longer than the limit is an
//! `Oversized` frame of its length; every other frame holds at most `limit`
//! bytes. Reading always ends.
#![no_main]

use std::io::BufReader;

use lee_core::json;
use lee_stdio::frames::{Frame, Frames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[a, b, c], input)) = data.split_first_chunk::<3>() else {
        return;
    };
    let limit = usize::from(u16::from_le_bytes([a, b]) % 8192);
    let buffer = usize::from(c % 64) + 1;

    // The lines, as the harness defines them.
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let lines: Vec<&[u8]> = lines
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();

    let mut frames = Frames::new(BufReader::with_capacity(buffer, input), limit);
    let mut next = 0;
    let mut count = 0;
    // A blank line between frames is skipped: no frame of its own.
    let skip_blank = |next: &mut usize| {
        while lines
            .get(*next)
            .is_some_and(|l| l.len() <= limit && l.trim_ascii().is_empty())
        {
            *next += 1;
        }
    };
    while let Some(frame) = frames.next_frame().expect("reading a slice never fails") {
        count += 1;
        assert!(count <= lines.len(), "more frames than lines");
        skip_blank(&mut next);
        match frame {
            Frame::Oversized(len) => {
                let line = lines[next];
                assert!(
                    line.len() > limit,
                    "line {next} of {} bytes called oversized",
                    line.len()
                );
                assert_eq!(len, line.len(), "line {next}");
                next += 1;
            }
            Frame::Event(bytes) => {
                assert!(
                    bytes.len() <= limit,
                    "a frame of {} bytes, limit {limit}",
                    bytes.len()
                );
                let parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                for (i, part) in parts.iter().enumerate() {
                    let line = lines.get(next + i).expect("a frame beyond the input");
                    assert_eq!(part, line, "line {}", next + i);
                }
                if parts.len() > 1 {
                    assert!(
                        json::check(&bytes, json::MAX_DEPTH, |_| {}).is_ok(),
                        "lines joined into something that is not one document"
                    );
                    assert!(matches!(
                        bytes.trim_ascii_start().first(),
                        Some(b'{' | b'[')
                    ));
                }
                next += parts.len();
            }
        }
    }
    skip_blank(&mut next);
    assert_eq!(next, lines.len(), "lines lost at the end");
});
