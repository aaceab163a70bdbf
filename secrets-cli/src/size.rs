//! Sizes on the command line: `4096`, `64K`, `16M`, `1G` (or `KiB`, `MiB`, `GiB`: powers of
//! 1024), the grammar of `--data-key-cache max-bytes=SIZE`.

/// Parses a size of at least one byte.
///
/// # Errors
/// What is wrong, for a usage error.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, scale) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .into_iter()
        .chain([("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)])
        .find_map(|(suffix, scale)| s.strip_suffix(suffix).map(|d| (d, scale)))
        .unwrap_or((s, 1));
    let n = digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!("`{s}` is not a size: expected bytes above zero, or a number with K, M or G")
        })?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 64 << 10);
        assert_eq!(parse_size("16M").unwrap(), 16 << 20);
        assert_eq!(
            parse_size("16M").unwrap(),
            u64::from(coffer_core::DEFAULT_MAX_FRAME_LENGTH),
            "the default of --max-frame-size"
        );
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        for bad in [
            "",
            "0",
            "0M",
            "-1",
            "1.5M",
            "M",
            "12T",
            "99999999999999999999G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
