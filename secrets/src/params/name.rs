//! Parameter names, paths, labels and selectors (`NAME[:VERSION|:LABEL]`).
//!
//! A name is a path of 1 to [`MAX_LEVELS`] levels, each 1 or more of `A-Z a-z 0-9 _ . -`
//! (but not `.` or `..`), with a leading slash: `/app/prod/db-password`. The leading slash
//! may be left out on input (`app/prod/x` is `/app/prod/x`); a trailing slash, an empty
//! level (`//`) or any other character is an error. A path (`ls`, `exec --path`) is a name
//! or `/`, and may end with a slash.

use std::fmt;

/// A name, path, label or selector that does not parse. The library's [`crate::error::Error`]
/// has a variant for each (`BadName`, `BadLabel`, `BadSelector`) and converts from this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A bad name or path.
    #[error("bad parameter name `{}`: {why}", name.escape_debug())]
    Name {
        /// As given.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// A bad label.
    #[error("bad label `{}`: {why}", label.escape_debug())]
    Label {
        /// As given.
        label: String,
        /// What is wrong.
        why: String,
    },
    /// A bad `NAME:VERSION|LABEL`.
    #[error("bad parameter `{}`: {why}", selector.escape_debug())]
    Selector {
        /// As given.
        selector: String,
        /// What is wrong.
        why: String,
    },
}

/// Most levels in a name.
pub const MAX_LEVELS: usize = 15;
/// Longest name, in bytes (with its slashes).
pub const MAX_NAME_LEN: usize = 1011;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 100;

/// A valid, normalised parameter name (`/a/b/c`).
///
/// ```
/// use coffer::params::{NameError, ParamName};
///
/// let name = ParamName::parse("app/prod/db-password")?;
/// assert_eq!(name.as_str(), "/app/prod/db-password");
/// assert_eq!(name.parent().as_str(), "/app/prod");
/// assert!(matches!(ParamName::parse("/app/../etc"), Err(NameError::Name { .. })));
/// # Ok::<(), NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamName(String);

/// A valid, normalised path: `/` or a name (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamPath(String);

/// A valid label: 1 to [`MAX_LABEL_LEN`] of `A-Z a-z 0-9 _ . -`, not starting with a digit
/// (so that `NAME:3` is always a version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

/// Which version of a parameter: `NAME`, `NAME:VERSION` or `NAME:LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The version labelled `current` if there is one (see `coffer rotate`), else the latest.
    Latest,
    /// Version N (1, 2, …).
    Version(u32),
    /// The version the label points at.
    Label(Label),
}

/// `NAME[:VERSION|:LABEL]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The parameter.
    pub name: ParamName,
    /// Which version.
    pub which: Which,
}

fn level_problem(level: &str) -> Option<String> {
    if level.is_empty() {
        return Some("empty level (`//` or a trailing `/`)".into());
    }
    if level == "." || level == ".." {
        return Some(format!("`{level}` is not allowed as a level"));
    }
    level
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .map(|c| format!("`{}` is not allowed", c.escape_debug()))
}

fn bad_name(name: &str, why: impl Into<String>) -> NameError {
    NameError::Name {
        name: name.to_owned(),
        why: why.into(),
    }
}

impl ParamName {
    /// Validates and normalises a name (a missing leading slash is added).
    ///
    /// # Errors
    /// [`NameError::Name`] saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s == "/" {
            return Err(bad_name(s, "empty"));
        }
        let body = s.strip_prefix('/').unwrap_or(s);
        let normal = format!("/{body}");
        if normal.len() > MAX_NAME_LEN {
            return Err(bad_name(s, format!("longer than {MAX_NAME_LEN} bytes")));
        }
        let mut levels = 0usize;
        for level in body.split('/') {
            if let Some(why) = level_problem(level) {
                return Err(bad_name(s, why));
            }
            levels += 1;
        }
        if levels > MAX_LEVELS {
            return Err(bad_name(
                s,
                format!("{levels} levels; at most {MAX_LEVELS} are allowed"),
            ));
        }
        Ok(Self(normal))
    }

    /// The name (`/a/b/c`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path above the name (`/a/b` for `/a/b/c`; `/` for `/a`).
    pub fn parent(&self) -> ParamPath {
        match self.0.rfind('/') {
            Some(0) | None => ParamPath::root(),
            Some(i) => ParamPath(self.0[..i].to_owned()),
        }
    }

    /// The last level (`c` for `/a/b/c`).
    pub fn leaf(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl ParamPath {
    /// `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Validates and normalises a path: `/`, or a name with or without a trailing slash.
    ///
    /// # Errors
    /// [`NameError::Name`].
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s == "/" {
            return Ok(Self::root());
        }
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        ParamName::parse(trimmed)
            .map(|n| Self(n.0))
            .map_err(|e| match e {
                NameError::Name { why, .. } => bad_name(s, why),
                e => e,
            })
    }

    /// The path (`/` or `/a/b`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The prefix every name below this path starts with (`/a/b/`, or `/` for the root).
    pub fn prefix(&self) -> String {
        if self.is_root() {
            "/".to_owned()
        } else {
            format!("{}/", self.0)
        }
    }

    /// Whether `name` is below this path (at any depth).
    pub fn contains(&self, name: &ParamName) -> bool {
        name.as_str().starts_with(&self.prefix())
    }
}

impl Label {
    /// Validates a label.
    ///
    /// # Errors
    /// [`NameError::Label`].
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad = |why: String| NameError::Label {
            label: s.to_owned(),
            why,
        };
        if s.is_empty() {
            return Err(bad("empty".into()));
        }
        if s.len() > MAX_LABEL_LEN {
            return Err(bad(format!("longer than {MAX_LABEL_LEN} characters")));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(bad(format!("`{}` is not allowed", c.escape_debug())));
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad(
                "must not start with a digit (NAME:3 means version 3)".into()
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Selector {
    /// Parses `NAME`, `NAME:VERSION` or `NAME:LABEL`.
    ///
    /// # Errors
    /// A bad name, version or label.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let Some((name, which)) = s.split_once(':') else {
            return Ok(Self {
                name: ParamName::parse(s)?,
                which: Which::Latest,
            });
        };
        let name = ParamName::parse(name)?;
        let which = if which.bytes().all(|b| b.is_ascii_digit()) && !which.is_empty() {
            match which.parse::<u32>() {
                Ok(v) if v >= 1 => Which::Version(v),
                _ => {
                    return Err(NameError::Selector {
                        selector: s.to_owned(),
                        why: "versions are numbered from 1".into(),
                    });
                }
            }
        } else {
            Which::Label(Label::parse(which)?)
        };
        Ok(Self { name, which })
    }
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ParamPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::Version(v) => write!(f, "{v}"),
            Self::Label(l) => l.fmt(f),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.which {
            Which::Latest => self.name.fmt(f),
            w => write!(f, "{}:{w}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn names() {
        assert_eq!(ParamName::parse("/a/b/c").unwrap().as_str(), "/a/b/c");
        assert_eq!(
            ParamName::parse("a/b-c/d_e.f").unwrap().as_str(),
            "/a/b-c/d_e.f"
        );
        assert_eq!(ParamName::parse("/x").unwrap().parent().as_str(), "/");
        assert_eq!(
            ParamName::parse("/x/y/z").unwrap().parent().as_str(),
            "/x/y"
        );
        assert_eq!(ParamName::parse("/x/y/z").unwrap().leaf(), "z");
        let fifteen = "/a".repeat(15);
        assert!(ParamName::parse(&fifteen).is_ok());
        for bad in [
            "",
            "/",
            "//a",
            "/a/",
            "/a//b",
            "/a b",
            "/a:b",
            "/a/./b",
            "/a/..",
            "/é",
            "/a\0",
            &"/a".repeat(16),
            &format!("/{}", "x".repeat(1011)),
        ] {
            let e = ParamName::parse(bad).unwrap_err();
            assert!(matches!(e, NameError::Name { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn paths() {
        assert!(ParamPath::parse("/").unwrap().is_root());
        assert!(ParamPath::parse("").unwrap().is_root());
        assert_eq!(ParamPath::parse("/a/b/").unwrap().as_str(), "/a/b");
        assert_eq!(ParamPath::parse("a").unwrap().prefix(), "/a/");
        assert!(ParamPath::parse("/a//").is_err());
        let p = ParamPath::parse("/a").unwrap();
        assert!(p.contains(&ParamName::parse("/a/b").unwrap()));
        assert!(!p.contains(&ParamName::parse("/a").unwrap()));
        assert!(!p.contains(&ParamName::parse("/ab").unwrap()));
    }

    #[test]
    fn selectors() {
        let s = Selector::parse("/a/b:3").unwrap();
        assert_eq!(s.which, Which::Version(3));
        let s = Selector::parse("/a/b:current").unwrap();
        assert_eq!(s.which, Which::Label(Label::parse("current").unwrap()));
        assert_eq!(s.to_string(), "/a/b:current");
        assert_eq!(Selector::parse("a").unwrap().which, Which::Latest);
        for bad in ["/a:0", "/a:", "/a:x:y", "/a:3x", "/a:99999999999"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
        assert!(Label::parse("3x").is_err());
        assert!(Label::parse("x3").is_ok());
    }
}
