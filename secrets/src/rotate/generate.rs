//! Secret generators (`coffer rotate --generate SPEC`): random text from the OS CSPRNG.
//!
//! SPEC is comma-separated `key=value` pairs, each optional:
//!
//! | key | values | default |
//! |---|---|---|
//! | `length` | 1–4096 characters | 32 |
//! | `charset` | `alnum` (A–Z a–z 0–9), `print` (printable ASCII but space), `hex` (0–9 a–f), `base64` (A–Z a–z 0–9 + /) | `alnum` |
//! | `exclude` | characters never to use (percent-encode `,` as `%2C` and `%` as `%25`) | none |
//! | `require-each` | `true`: at least one character of each class of the charset (upper, lower, digit, symbol; for `hex`: digit and letter) | `false` |
//!
//! Each character is drawn uniformly from the charset: a random byte is kept only if it is
//! below the largest multiple of the charset's size that fits in a byte (rejection sampling),
//! so no character is likelier than another (no modulo bias). `require-each` draws whole
//! strings until one has every class, which keeps every such string equally likely.

use std::fmt;

use zeroize::Zeroizing;

/// The longest value a generator makes.
pub const MAX_LENGTH: usize = 4096;

/// The character sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// A–Z a–z 0–9.
    Alnum,
    /// `!` to `~`: printable ASCII without space.
    Print,
    /// 0–9 a–f.
    Hex,
    /// A–Z a–z 0–9 + /.
    Base64,
}

impl Charset {
    fn name(self) -> &'static str {
        match self {
            Self::Alnum => "alnum",
            Self::Print => "print",
            Self::Hex => "hex",
            Self::Base64 => "base64",
        }
    }

    fn contains(self, c: u8) -> bool {
        match self {
            Self::Alnum => c.is_ascii_alphanumeric(),
            Self::Print => c.is_ascii_graphic(),
            Self::Hex => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            Self::Base64 => c.is_ascii_alphanumeric() || c == b'+' || c == b'/',
        }
    }
}

/// The class of a character, for `require-each`.
fn class(c: u8) -> u8 {
    if c.is_ascii_uppercase() {
        0
    } else if c.is_ascii_lowercase() {
        1
    } else if c.is_ascii_digit() {
        2
    } else {
        3
    }
}

/// A parsed SPEC (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct GenSpec {
    /// Characters.
    pub length: usize,
    /// The charset.
    pub charset: Charset,
    /// Characters left out.
    pub exclude: Vec<u8>,
    /// One of each class at least.
    pub require_each: bool,
}

impl Default for GenSpec {
    fn default() -> Self {
        Self {
            length: 32,
            charset: Charset::Alnum,
            exclude: Vec::new(),
            require_each: false,
        }
    }
}

impl fmt::Debug for GenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GenSpec({self})")
    }
}

impl fmt::Display for GenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "length={},charset={}", self.length, self.charset.name())?;
        if !self.exclude.is_empty() {
            f.write_str(",exclude=")?;
            for &c in &self.exclude {
                if c == b',' || c == b'%' {
                    write!(f, "%{c:02X}")?;
                } else {
                    write!(f, "{}", char::from(c))?;
                }
            }
        }
        if self.require_each {
            f.write_str(",require-each=true")?;
        }
        Ok(())
    }
}

/// A SPEC that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("generator {spec}: {why}")]
pub struct SpecError {
    spec: String,
    why: String,
}

impl SpecError {
    /// The SPEC as given.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// What is wrong with it.
    pub fn why(&self) -> &str {
        &self.why
    }
}

impl GenSpec {
    /// Parses a SPEC.
    ///
    /// # Errors
    /// Unknown keys or charsets, a length out of range, an `exclude` that leaves nothing (or
    /// leaves a class empty that `require-each` needs), a length shorter than the classes.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let bad = |why: String| SpecError {
            spec: spec.to_owned(),
            why,
        };
        let mut out = Self::default();
        let mut seen = Vec::new();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not KEY=VALUE")))?;
            if seen.contains(&key) {
                return Err(bad(format!("`{key}` is given twice")));
            }
            seen.push(key);
            match key {
                "length" => {
                    out.length = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LENGTH).contains(n))
                        .ok_or_else(|| {
                            bad(format!("length={value}: a number from 1 to {MAX_LENGTH}"))
                        })?;
                }
                "charset" => {
                    out.charset = match value {
                        "alnum" => Charset::Alnum,
                        "print" => Charset::Print,
                        "hex" => Charset::Hex,
                        "base64" => Charset::Base64,
                        _ => {
                            return Err(bad(format!(
                                "charset={value}: use alnum, print, hex or base64"
                            )));
                        }
                    };
                }
                "exclude" => {
                    out.exclude = percent_decode(value).ok_or_else(|| {
                        bad("exclude: printable ASCII, with %2C for `,` and %25 for `%`".into())
                    })?;
                }
                "require-each" => {
                    out.require_each = match value {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => return Err(bad(format!("require-each={value}: true or false"))),
                    };
                }
                _ => {
                    return Err(bad(format!(
                        "unknown key `{key}`: the keys are length, charset, exclude and \
                         require-each"
                    )));
                }
            }
        }
        let alphabet = out.alphabet();
        if alphabet.len() < 2 {
            return Err(bad(
                "exclude leaves fewer than 2 characters of the charset".into()
            ));
        }
        if out.require_each {
            let classes = out.classes();
            let wanted = out.charset_classes();
            if classes.len() < wanted {
                return Err(bad(
                    "exclude leaves a class of the charset empty, which require-each needs".into(),
                ));
            }
            if out.length < classes.len() {
                return Err(bad(format!(
                    "require-each needs length={} at least",
                    classes.len()
                )));
            }
        }
        Ok(out)
    }

    /// The characters drawn from, in order.
    fn alphabet(&self) -> Vec<u8> {
        (0u8..=127)
            .filter(|&c| self.charset.contains(c) && !self.exclude.contains(&c))
            .collect()
    }

    /// The classes present in the alphabet.
    fn classes(&self) -> Vec<u8> {
        let mut classes: Vec<u8> = self.alphabet().into_iter().map(class).collect();
        classes.sort_unstable();
        classes.dedup();
        classes
    }

    /// How many classes the charset has before exclusion.
    fn charset_classes(&self) -> usize {
        let full = Self {
            exclude: Vec::new(),
            ..self.clone()
        };
        full.classes().len()
    }

    /// A fresh value.
    ///
    /// # Errors
    /// The random source failed.
    pub fn generate(&self) -> coffer_core::Result<Zeroizing<String>> {
        let alphabet = self.alphabet();
        let classes = self.classes();
        loop {
            let chars = draw(&alphabet, self.length, coffer_core::fill_random)?;
            if self.require_each {
                let mut have: Vec<u8> = chars.iter().map(|&c| class(c)).collect();
                have.sort_unstable();
                have.dedup();
                if have != classes {
                    continue;
                }
            }
            let text = chars.iter().map(|&c| char::from(c)).collect::<String>();
            return Ok(Zeroizing::new(text));
        }
    }
}

/// `n` characters drawn uniformly from `alphabet` (at most 256 long) with bytes from
/// `random`: a byte at or above the largest multiple of the alphabet's size is thrown away.
pub(crate) fn draw(
    alphabet: &[u8],
    n: usize,
    mut random: impl FnMut(&mut [u8]) -> coffer_core::Result<()>,
) -> coffer_core::Result<Zeroizing<Vec<u8>>> {
    let size = alphabet.len();
    // Bytes below `limit` map onto the alphabet evenly: limit = size × floor(256 / size).
    let limit = 256 - 256 % size;
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    let mut buf = Zeroizing::new(vec![0u8; n.max(16) * 2]);
    while out.len() < n {
        random(&mut buf)?;
        for &b in buf.iter() {
            if usize::from(b) < limit {
                out.push(alphabet[usize::from(b) % size]);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let c = if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            i += 3;
            u8::from_str_radix(hex, 16).ok()?
        } else {
            i += 1;
            b
        };
        if !c.is_ascii_graphic() {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn specs_parse_and_print() {
        assert_eq!(GenSpec::parse("").unwrap(), GenSpec::default());
        let s =
            GenSpec::parse("length=20,charset=print,exclude=%2C%25\"',require-each=true").unwrap();
        assert_eq!(s.length, 20);
        assert_eq!(s.exclude, b",%\"'");
        assert_eq!(GenSpec::parse(&s.to_string()).unwrap(), s);
        for bad in [
            "length=0",
            "length=4097",
            "length=x",
            "charset=emoji",
            "colour=red",
            "length",
            "length=8,length=9",
            "charset=hex,exclude=0123456789abcde",
            "charset=hex,exclude=0123456789,require-each=true",
            "length=2,charset=print,require-each=true",
            "exclude=%zz",
            "exclude=%20",
            "require-each=maybe",
        ] {
            assert!(GenSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_follow_the_spec() {
        for spec in [
            "length=64,charset=alnum",
            "length=64,charset=print,exclude=%22'`\\",
            "length=40,charset=hex",
            "length=44,charset=base64",
            "length=4,charset=print,require-each=true",
        ] {
            let s = GenSpec::parse(spec).unwrap();
            for _ in 0..200 {
                let v = s.generate().unwrap();
                assert_eq!(v.len(), s.length, "{spec}");
                assert!(
                    v.bytes()
                        .all(|c| s.charset.contains(c) && !s.exclude.contains(&c)),
                    "{spec}: {}",
                    v.as_str()
                );
                if s.require_each {
                    let mut have: Vec<u8> = v.bytes().map(class).collect();
                    have.sort_unstable();
                    have.dedup();
                    assert_eq!(have, s.classes(), "{spec}");
                }
            }
        }
        let s = GenSpec::default();
        assert_ne!(*s.generate().unwrap(), *s.generate().unwrap());
    }

    /// Pearson's chi-square of `counts` against the uniform distribution.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        #[allow(clippy::cast_precision_loss, reason = "counts are small")]
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| {
                #[allow(clippy::cast_precision_loss, reason = "counts are small")]
                let d = c as f64 - expected;
                d * d / expected
            })
            .sum()
    }

    /// The threshold for 61 degrees of freedom far out in the tail (mean 61, standard
    /// deviation 11): a fair draw exceeds it about once in ten million runs.
    const THRESHOLD_62: f64 = 61.0 + 6.0 * 11.05;

    fn counts_of(alphabet: &[u8], draws: &[u8]) -> Vec<u64> {
        let mut counts = vec![0u64; alphabet.len()];
        for c in draws {
            let i = alphabet.iter().position(|a| a == c).unwrap();
            counts[i] += 1;
        }
        counts
    }

    /// 62 characters (256 is not a multiple of 62, so a plain `byte % 62` would make the
    /// first 8 characters 25% likelier): 620,000 draws from the OS CSPRNG are uniform by
    /// Pearson's chi-square test; the same test catches the biased mapping.
    #[test]
    fn draws_have_no_modulo_bias() {
        let alphabet = GenSpec::default().alphabet();
        assert_eq!(alphabet.len(), 62);
        let draws = draw(&alphabet, 620_000, coffer_core::fill_random).unwrap();
        let chi = chi_square(&counts_of(&alphabet, &draws));
        assert!(
            chi < THRESHOLD_62,
            "chi-square {chi} (threshold {THRESHOLD_62})"
        );

        // The biased mapping, on the same kind of input, fails the same test.
        let mut raw = vec![0u8; 620_000];
        coffer_core::fill_random(&mut raw).unwrap();
        let biased: Vec<u8> = raw.iter().map(|&b| alphabet[usize::from(b) % 62]).collect();
        let chi = chi_square(&counts_of(&alphabet, &biased));
        assert!(chi > THRESHOLD_62, "the biased mapping passed: {chi}");
    }

    /// Rejection sampling throws away exactly the bytes at or above 248 (for 62 characters).
    #[test]
    fn bytes_past_the_last_multiple_are_thrown_away() {
        let alphabet = GenSpec::default().alphabet();
        let mut next = 240u8;
        let out = draw(&alphabet, 10, |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = next;
                next = if next == 255 { 240 } else { next + 1 };
            }
            Ok(())
        })
        .unwrap();
        let want: Vec<u8> = (240..248)
            .chain(240..242)
            .map(|b: usize| alphabet[b % 62])
            .collect();
        assert_eq!(out.as_slice(), want.as_slice());
    }
}
