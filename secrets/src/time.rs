//! Durations as the CLI spells them, one grammar for every flag (`300s`, `30m`, `12h`, `90d`,
//! `1w`, `1h30m`), and timestamps (Unix seconds in the store, RFC 3339 UTC on output).
//!
//! The grammar is the `humantime` crate's: numbers with units (`s`, `m`, `h`, `d`, `w` and
//! their long names: `sec`, `min`, `hours`, `days`, `weeks`, …), one or several, spaces
//! allowed between them (`1h 30m`), a fraction allowed (`1.5h`). Two refusals on top of it:
//! months and years (`M`, `y`: humantime makes them 30.44 and 365.25 days, and `1M` is one
//! shift key away from `1m`), and durations that are not whole seconds (everything here
//! counts seconds). Each flag then checks its own [`Bounds`].

use std::time::{SystemTime, UNIX_EPOCH};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The shortest and longest duration a flag takes, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The shortest.
    pub min: u64,
    /// The longest.
    pub max: u64,
}

/// The longest duration any flag takes: 100 years of days, far from overflowing a timestamp.
const CENTURY: u64 = 36_500 * DAY;

/// A rotation period (`key create --rotation-period`, `key set-rotation`, `rotate --every`):
/// 1 minute (the finest a cron schedule runs `--due`) to 36500 days.
pub const ROTATION_PERIOD: Bounds = Bounds {
    min: MINUTE,
    max: CENTURY,
};

/// `put --expires` given as a duration from now: 1 second to 36500 days.
pub const EXPIRES: Bounds = Bounds {
    min: 1,
    max: CENTURY,
};

/// `rotate --hook-timeout`: 1 second to 7 days.
pub const HOOK_TIMEOUT: Bounds = Bounds {
    min: 1,
    max: crate::rotate::hook::MAX_TIMEOUT.as_secs(),
};

/// `--data-key-cache max-age=`: 1 second to 1 day (the cache lives as long as one run).
pub const CACHE_MAX_AGE: Bounds = Bounds { min: 1, max: DAY };

/// A duration that is not in the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not numbers with units (humantime's reason).
    #[error("bad duration: {0}")]
    Grammar(String),
    /// Months or years.
    #[error("months and years have no fixed length: give days (30d, 365d)")]
    Calendar,
    /// Not a whole number of seconds.
    #[error("durations are whole seconds")]
    Fraction,
}

/// A duration or time that a setting does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not a duration.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// Shorter than the setting's [`Bounds::min`].
    #[error("must be at least {}", format_duration(*.0))]
    TooShort(u64),
    /// Longer than the setting's [`Bounds::max`].
    #[error("must be at most {}", format_duration(*.0))]
    TooLong(u64),
    /// Neither a time nor a duration.
    #[error("bad time `{}`", .0.escape_debug())]
    NotATime(String),
    /// A duration from now past the end of time.
    #[error("bad time `{0}`: too far")]
    TooFar(String),
    /// A time that has passed.
    #[error("`{given}` ({}) has passed already", format_rfc3339(*at))]
    Passed {
        /// As given.
        given: String,
        /// Unix seconds.
        at: i64,
    },
}

/// Parses a duration in the one grammar (see the module docs). Returns seconds; `0s` is 0.
///
/// # Errors
/// Not in the grammar; months or years; not whole seconds.
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    let d = humantime::parse_duration(s).map_err(|e| DurationError::Grammar(e.to_string()))?;
    // humantime's units are the runs of letters (`µ` included); these are its calendar ones.
    let calendar = ["M", "month", "months", "y", "year", "years", "yr", "yrs"];
    if s.split(|c: char| !c.is_alphabetic())
        .any(|unit| calendar.contains(&unit))
    {
        return Err(DurationError::Calendar);
    }
    if d.subsec_nanos() != 0 {
        return Err(DurationError::Fraction);
    }
    Ok(d.as_secs())
}

/// Parses a duration and checks it is within `bounds`. Returns seconds. The error says what
/// is wrong (`must be at least 1m`); the caller puts the flag and the text in front of it.
///
/// # Errors
/// A usage error: not a duration ([`parse_duration`]), or out of bounds.
pub fn parse_bounded(s: &str, bounds: Bounds) -> Result<u64, TimeError> {
    let secs = parse_duration(s)?;
    if secs < bounds.min {
        return Err(TimeError::TooShort(bounds.min));
    }
    if secs > bounds.max {
        return Err(TimeError::TooLong(bounds.max));
    }
    Ok(secs)
}

/// The shortest exact spelling of `secs` (`7776000` → `90d`); seconds that are not whole
/// minutes are spelt `Ns`.
pub fn format_duration(secs: u64) -> String {
    if secs != 0 && secs % DAY == 0 {
        format!("{}d", secs / DAY)
    } else if secs != 0 && secs % HOUR == 0 {
        format!("{}h", secs / HOUR)
    } else if secs != 0 && secs % MINUTE == 0 {
        format!("{}m", secs / MINUTE)
    } else {
        format!("{secs}s")
    }
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `2026-11-22T18:13:45Z`.
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses an RFC 3339 timestamp (`2026-11-22T18:13:45Z`, `2026-11-22 18:13:45.5+02:00`):
/// date, `T` (or `t` or a space), time with optional fraction (dropped), and `Z` or an
/// offset. Returns Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    fn num(s: &str) -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d) = (num(s.get(0..4)?)?, num(s.get(5..7)?)?, num(s.get(8..10)?)?);
    let (h, mi, sec) = (
        num(s.get(11..13)?)?,
        num(s.get(14..16)?)?,
        num(s.get(17..19)?)?,
    );
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let (oh, om) = (num(rest.get(1..3)?)?, num(rest.get(4..6)?)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap(y) => 29,
        2 => 28,
        _ => return None,
    };
    // 60 seconds: a leap second, counted as the next second.
    if d < 1 || d > month_days || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// `--expires`: an RFC 3339 time, or a duration from `now` (`90d`, `12h`, `30m`; within
/// [`EXPIRES`]). Returns Unix seconds.
///
/// # Errors
/// Neither form (a usage error), a duration out of bounds, or a time that has passed.
pub fn parse_when(s: &str, now: i64) -> Result<i64, TimeError> {
    let at = if let Some(t) = parse_rfc3339(s) {
        t
    } else if s.starts_with(|c: char| c.is_ascii_digit()) && !s.contains([':', '-']) {
        // A number that is not a time: a duration, or a mistyped one (told what is wrong).
        let too_far = || TimeError::TooFar(s.to_owned());
        let secs = i64::try_from(parse_bounded(s, EXPIRES)?).map_err(|_| too_far())?;
        now.checked_add(secs).ok_or_else(too_far)?
    } else {
        return Err(TimeError::NotATime(s.to_owned()));
    };
    if at <= now {
        return Err(TimeError::Passed {
            given: s.to_owned(),
            at,
        });
    }
    Ok(at)
}

/// Howard Hinnant's `days_from_civil`: (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn durations() {
        // Every spelling the flags took before.
        for (s, secs) in [
            ("90d", 90 * DAY),
            ("12h", 12 * HOUR),
            ("30m", 30 * MINUTE),
            ("300s", 300),
            ("007h", 7 * HOUR),
            // And the rest of the grammar.
            ("1w", 7 * DAY),
            ("2weeks", 14 * DAY),
            ("1h30m", 90 * MINUTE),
            ("1h 30m", 90 * MINUTE),
            ("1d12h", 36 * HOUR),
            ("1.5h", 90 * MINUTE),
            ("90sec", 90),
            ("5min", 300),
            ("2 days", 2 * DAY),
            ("1000ms", 1),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(s), Ok(secs), "{s}");
        }
        for bad in [
            "",
            "d",
            "-1d",
            "+1d",
            "1",
            "1D",
            "1dd",
            "1x",
            "1é",
            "1d-",
            "18446744073709551616s",
            "999999999999999999w",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(matches!(e, DurationError::Grammar(_)), "{bad}: {e}");
            assert!(e.to_string().starts_with("bad duration: "), "{bad}: {e}");
        }
        for calendar in ["1M", "2months", "1y", "1year", "1d 1M"] {
            assert_eq!(
                parse_duration(calendar),
                Err(DurationError::Calendar),
                "{calendar}"
            );
        }
        for fraction in ["1.5s", "1500ms", "1s 1ns"] {
            assert_eq!(
                parse_duration(fraction),
                Err(DurationError::Fraction),
                "{fraction}"
            );
        }
        for (secs, s) in [
            (7_776_000, "90d"),
            (43_200, "12h"),
            (1800, "30m"),
            (90, "90s"),
        ] {
            assert_eq!(format_duration(secs), s);
            assert_eq!(parse_duration(s), Ok(secs), "what is printed parses back");
        }
        assert_eq!(format_duration(3600 * 36), "36h");
    }

    #[test]
    fn bounds_are_checked_after_parsing() {
        let msg = |s: &str, b: Bounds| parse_bounded(s, b).unwrap_err().to_string();
        assert_eq!(parse_bounded("1m", ROTATION_PERIOD).unwrap(), 60);
        assert_eq!(parse_bounded("36500d", ROTATION_PERIOD).unwrap(), CENTURY);
        assert_eq!(msg("0s", ROTATION_PERIOD), "must be at least 1m");
        assert_eq!(msg("59s", ROTATION_PERIOD), "must be at least 1m");
        assert_eq!(msg("36501d", ROTATION_PERIOD), "must be at most 36500d");
        assert_eq!(
            msg("9999999999d", ROTATION_PERIOD),
            "must be at most 36500d"
        );
        assert_eq!(parse_bounded("7d", HOOK_TIMEOUT).unwrap(), 7 * DAY);
        assert_eq!(parse_bounded("1s", HOOK_TIMEOUT).unwrap(), 1);
        assert_eq!(msg("1w1s", HOOK_TIMEOUT), "must be at most 7d");
        assert_eq!(msg("0s", HOOK_TIMEOUT), "must be at least 1s");
        assert_eq!(msg("25h", CACHE_MAX_AGE), "must be at most 1d");
        assert_eq!(parse_bounded("1s", EXPIRES).unwrap(), 1);
        assert_eq!(
            msg("1M", EXPIRES),
            "months and years have no fixed length: give days (30d, 365d)"
        );
        assert!(msg("soon", EXPIRES).starts_with("bad duration: "));
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_371_225), "2026-11-22T18:13:45Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_parsing() {
        for t in [0, 951_782_400, 1_795_371_225, -1, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-11-22T20:13:45.123+02:00"),
            Some(1_795_371_225)
        );
        assert_eq!(parse_rfc3339("2026-11-22 18:13:45z"), Some(1_795_371_225));
        assert_eq!(
            parse_rfc3339("2026-11-22T17:13:45-01:00"),
            Some(1_795_371_225)
        );
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T18:13:45",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T18:13:45.Z",
            "2026-11-22T18:13:45+0200",
            "2026-11-22T18:13:45+2:00",
            "+026-11-22T18:13:45Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_when("90d", 1000).unwrap(), 1000 + 90 * 86_400);
        assert_eq!(parse_when("1970-01-01T01:00:00Z", 0).unwrap(), 3600);
        assert!(parse_when("1970-01-01T01:00:00Z", 3600).is_err());
        assert_eq!(parse_when("1w", 1000).unwrap(), 1000 + 7 * 86_400);
        assert_eq!(parse_when("90s", 1000).unwrap(), 1090);
        let e = parse_when("soon", 0).unwrap_err().to_string();
        assert_eq!(e, "bad time `soon`");
        let e = parse_when("2026-13-01T00:00:00Z", 0)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad time"), "{e}");
        assert_eq!(
            parse_when("0d", 0).unwrap_err().to_string(),
            "must be at least 1s"
        );
        assert_eq!(
            parse_when("36501d", 0).unwrap_err().to_string(),
            "must be at most 36500d"
        );
        assert!(
            parse_when("5x", 0)
                .unwrap_err()
                .to_string()
                .starts_with("bad duration: ")
        );
    }
}
