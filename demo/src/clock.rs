//! The demo's clock: now as UTC text (`YYYY-MM-DDThh:mm:ssZ`, Home
//! Assistant's `timeOfSample` format) and the seed for the `messageId`s of a
//! [`DemoHome::new`](crate::DemoHome::new). Only these two read the system
//! clock; [`DemoHome::with_clock`](crate::DemoHome::with_clock) replaces both.
//!
//! The date is computed here rather than by a date crate: the workspace has
//! one (`time`) only as a test helper's dependency, without its formatting,
//! and these few lines are the whole need.

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
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_text(secs)
}

/// Seconds since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ` (the proleptic
/// Gregorian calendar, Howard Hinnant's `civil_from_days`).
fn utc_text(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_is_home_assistants_format() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_711_195_199), "2024-03-23T11:59:59Z");
        assert_eq!(utc_text(4_102_444_800), "2100-01-01T00:00:00Z");
        let now = system_utc();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
    }
}
