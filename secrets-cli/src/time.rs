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
}
