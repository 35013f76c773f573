//! `token --min-valid DURATION`: how long the printed token must stay valid.
//!
//! A duration is one or more numbers each followed by a unit, `s`, `m` or
//! `h`: `90s`, `10m`, `1h`, `1m30s`. It must be shorter than an access
//! token's lifetime (Spotify's last one hour): no token can outlast that.

use std::time::Duration;

use crate::exit::Failure;

/// How long Spotify's access tokens last.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Parses `--min-valid`; the failure (exit 2) says what to write instead.
pub fn parse(text: &str) -> Result<Duration, Failure> {
    let duration = parse_duration(text).ok_or_else(|| {
        Failure::config(format!(
            "--min-valid {text:?}: not a duration; write a number and a unit (s, m or h), \
             e.g. --min-valid 90s, 10m or 1h"
        ))
    })?;
    if duration >= TOKEN_LIFETIME {
        return Err(Failure::config(format!(
            "--min-valid {}: Spotify's access tokens last one hour ({} s), so none stays \
             valid that long; ask for less, e.g. --min-valid 50m",
            text.trim(),
            TOKEN_LIFETIME.as_secs(),
        )));
    }
    Ok(duration)
}

/// `90s`, `10m`, `1h`, `1h30m`: `None` for anything else (no unit, an
/// unknown unit, a number too large).
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(digit.into())?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    // A trailing number without a unit is refused: "10" could mean anything.
    match number {
        Some(_) => None,
        None => Some(Duration::from_secs(total)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("90s"), Some(90));
        assert_eq!(secs("10m"), Some(600));
        assert_eq!(secs("1h"), Some(3600));
        assert_eq!(secs("1m30s"), Some(90));
        assert_eq!(secs(" 0s "), Some(0));
        for bad in [
            "",
            "10",
            "m",
            "1x",
            "1.5m",
            "-1m",
            "1 m",
            "10mm",
            "1h2",
            "99999999999999999999s",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
        assert_eq!(secs("5124095576030432h"), None, "overflow");
    }

    #[test]
    fn at_least_a_token_lifetime_is_refused() {
        assert_eq!(parse("59m59s").unwrap(), Duration::from_secs(3599));
        for too_long in ["1h", "60m", "3600s", "2h"] {
            let failure = parse(too_long).unwrap_err();
            assert_eq!(failure.exit, crate::exit::Exit::Config);
            assert!(failure.message.contains("3600 s"), "{}", failure.message);
        }
        let failure = parse("soon").unwrap_err();
        assert!(failure.message.contains("e.g. --min-valid 90s"));
    }

    /// The grammar, written another way: numbers each followed by a unit.
    fn model(text: &str) -> Option<u64> {
        let text = text.trim();
        let mut total: u128 = 0;
        let mut rest = text;
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let unit = match rest[digits..].chars().next()? {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => return None,
            };
            let number: u128 = rest[..digits].parse().ok()?;
            total = total.checked_add(number.checked_mul(unit)?)?;
            rest = &rest[digits + 1..];
        }
        u64::try_from(total).ok()
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: if std::env::var_os("PROPTEST_CASES").is_some() {
                proptest::test_runner::Config::default().cases
            } else {
                256
            },
            ..proptest::test_runner::Config::default()
        })]

        /// Any argument: no panic, the grammar's value, below an hour, and
        /// a one-line failure otherwise.
        #[test]
        fn any_argument_is_a_duration_below_an_hour_or_a_one_line_failure(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)
        ) {
            let mut g = crate::generators::Gen::new(&input);
            let text = if g.chance(1, 5) { g.text(20) } else { crate::generators::text::duration(&mut g) };
            match parse(&text) {
                Ok(duration) => {
                    proptest::prop_assert!(duration < TOKEN_LIFETIME);
                    proptest::prop_assert_eq!(Some(duration.as_secs()), model(&text), "{:?}", text);
                }
                Err(failure) => {
                    proptest::prop_assert!(!failure.message.contains('\n'), "{}", failure.message);
                    let valid = model(&text).is_some_and(|s| s < TOKEN_LIFETIME.as_secs());
                    proptest::prop_assert!(!valid, "refused {:?}", text);
                }
            }
        }
    }
}
