//! Time for people: Unix seconds as a UTC date (and in RFC 3339), and spans
//! as "in 59 min" or "4 min 30 s", without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, by the system clock.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seconds from `now` until `at` (both Unix seconds), negative once `at` has
/// passed; saturates instead of overflowing on absurd times from a file.
pub fn seconds_until(at: u64, now: u64) -> i64 {
    (i128::from(at) - i128::from(now)).clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(secs: u64) -> String {
    let (date, time) = date_and_time(secs);
    format!("{date} {time} UTC")
}

/// `secs` since the Unix epoch in RFC 3339, UTC: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: u64) -> String {
    let (date, time) = date_and_time(secs);
    format!("{date}T{time}Z")
}

/// `YYYY-MM-DD` and `HH:MM:SS` of `secs` since the Unix epoch, UTC.
fn date_and_time(secs: u64) -> (String, String) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
    )
}

/// The (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A span for people, to the minute past the first hour and to the second
/// below it: `45 s`, `4 min 30 s`, `59 min`, `2 h 5 min`, `3 d 4 h`.
pub fn span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if d > 0 => format!("{d} d {h} h"),
        _ if h > 0 => format!("{h} h {m} min"),
        _ if m >= 10 || (m > 0 && s == 0) => format!("{m} min"),
        _ if m > 0 => format!("{m} min {s} s"),
        _ => format!("{s} s"),
    }
}

/// A moment `delta` seconds from now: `in 59 min`, `3 min ago`, `now`.
pub fn relative(delta: i64) -> String {
    match delta {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {}", span(d.unsigned_abs())),
        d => format!("{} ago", span(d.unsigned_abs())),
    }
}

/// A countdown for the spinner: `4:59`, `1:02:03`.
pub fn countdown(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn spans() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(270), "4 min 30 s");
        assert_eq!(span(300), "5 min");
        assert_eq!(span(3599), "59 min");
        assert_eq!(span(7500), "2 h 5 min");
        assert_eq!(span(2 * 86_400 + 3 * 3600 + 7), "2 d 3 h");
        assert_eq!(relative(3540), "in 59 min");
        assert_eq!(relative(-180), "3 min ago");
        assert_eq!(relative(0), "now");
        assert_eq!(countdown(299), "4:59");
        assert_eq!(countdown(3723), "1:02:03");
    }

    #[test]
    fn seconds_until_saturates() {
        assert_eq!(seconds_until(10, 4), 6);
        assert_eq!(seconds_until(4, 10), -6);
        assert_eq!(seconds_until(u64::MAX, 0), i64::MAX);
        assert_eq!(seconds_until(i64::MAX as u64 + 1, 1), i64::MAX);
        assert_eq!(seconds_until(0, u64::MAX), i64::MIN);
    }
}
