//! Durations as the CLI spells them (`90d`, `12h`, `30m`) and timestamps (Unix seconds in the
//! store, RFC 3339 UTC on output).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::CliError;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Parses `90d`, `12h` or `30m`: a positive decimal number and one unit (`d`, `h`, `m`),
/// nothing else (no sign, spaces or fractions). Returns seconds.
///
/// # Errors
/// A usage error naming the text and the accepted forms.
pub fn parse_duration(s: &str) -> Result<u64, CliError> {
    let bad = |why: &str| {
        CliError::usage(format!("bad duration `{s}`: {why}"))
            .hint("durations are a number and a unit: 90d (days), 12h (hours) or 30m (minutes)")
    };
    let Some(unit) = s.chars().last() else {
        return Err(bad("empty"));
    };
    let scale = match unit {
        'd' => DAY,
        'h' => HOUR,
        'm' => MINUTE,
        _ => return Err(bad("the unit must be d, h or m")),
    };
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("expected a whole number before the unit"));
    }
    let n: u64 = digits.parse().map_err(|_| bad("the number is too large"))?;
    if n == 0 {
        return Err(bad("must be more than zero"));
    }
    let secs = n.checked_mul(scale).ok_or_else(|| bad("too long"))?;
    // Stored as a signed 64-bit integer, added to timestamps: keep it far from overflow
    // (100 000 years).
    if secs > 100_000 * 366 * DAY {
        return Err(bad("too long"));
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

/// `--expires`: an RFC 3339 time, or a duration from `now` (`90d`, `12h`, `30m`). Returns
/// Unix seconds.
///
/// # Errors
/// Neither form (a usage error), or a time that has passed.
pub fn parse_when(s: &str, now: i64) -> Result<i64, CliError> {
    let at =
        if let Some(t) = parse_rfc3339(s) {
            t
        } else if s.ends_with(['d', 'h', 'm']) && s.starts_with(|c: char| c.is_ascii_digit()) {
            let secs = i64::try_from(parse_duration(s)?)
                .map_err(|_| CliError::usage(format!("bad time `{s}`: too far")))?;
            now.saturating_add(secs)
        } else {
            return Err(CliError::usage(format!("bad time `{}`", s.escape_debug())).hint(
            "give an RFC 3339 time (2026-12-31T23:59:59Z) or a duration from now (90d, 12h, \
             30m)",
        ));
        };
    if at <= now {
        return Err(CliError::usage(format!(
            "`{s}` ({}) has passed already",
            format_rfc3339(at)
        )));
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
        assert_eq!(parse_duration("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 12 * 3600);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("007h").unwrap(), 7 * 3600);
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "+1d",
            "1.5d",
            "1 d",
            " 1d",
            "1d ",
            "1",
            "1s",
            "1w",
            "1D",
            "1dd",
            "99999999999999999999d",
            "9999999999d",
            "1é",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("bad duration"), "{bad}: {e}");
        }
        for (secs, s) in [
            (7_776_000, "90d"),
            (43_200, "12h"),
            (1800, "30m"),
            (90, "90s"),
        ] {
            assert_eq!(format_duration(secs), s);
        }
        assert_eq!(format_duration(3600 * 36), "36h");
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
        assert!(parse_when("soon", 0).is_err());
        assert!(parse_when("0d", 0).is_err());
    }
}
