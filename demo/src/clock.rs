//! The demo's clock: now as UTC text (`YYYY-MM-DDThh:mm:ssZ`, Home
//! Assistant's `timeOfSample` format, written by humantime as lee's log
//! timestamps are) and the seed for the `messageId`s of a
//! [`DemoHome::new`](crate::DemoHome::new). Only these two read the system
//! clock; [`DemoHome::with_clock`](crate::DemoHome::with_clock) replaces both.

use std::time::{SystemTime, UNIX_EPOCH};

/// A seed for the `messageId` generator from the system clock: the seconds
/// and the nanoseconds, mixed; 0 before 1970.
pub(crate) fn system_seed() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs() ^ u64::from(d.subsec_nanos()).rotate_left(32)
    })
}

/// Now, UTC, as `YYYY-MM-DDThh:mm:ssZ`.
pub(crate) fn system_utc() -> String {
    utc_text(SystemTime::now())
}

/// `at` as `YYYY-MM-DDThh:mm:ssZ`; a clock before 1970 reads as 1970.
fn utc_text(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at.max(UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utc_text_is_home_assistants_format() {
        let at = |secs| utc_text(UNIX_EPOCH + Duration::new(secs, 999_999_999));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_711_195_199), "2024-03-23T11:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(
            utc_text(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00Z"
        );
        let now = system_utc();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
    }
}
