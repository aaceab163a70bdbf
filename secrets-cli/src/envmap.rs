//! From parameters to environment variables (`coffer exec`) and to text (`coffer export`).
//!
//! Naming: the part of the parameter name below `--path`, upper-cased, with `/`, `-` and `.`
//! turned into `_` (`/app/prod/db-password` under `/app/prod` → `DB_PASSWORD`). A name that
//! would start with a digit gets a leading `_`. Later paths win over earlier ones; within one
//! path, names are taken in order. Two parameters that give the same variable are a *clash*:
//! the later one wins, and `--strict` makes it an error.
//!
//! Some variables are never set from the store unless the user allows each by name: see
//! [`guard`]. How values are quoted in `export`'s text formats: see [`quote`].

pub mod guard;
pub mod quote;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use zeroize::Zeroizing;

/// The variable name for parameter `name` found under `path`.
///
/// `None` when `name` is not below `path` (or is `path` itself).
#[must_use]
pub fn var_name(path: &str, name: &str) -> Option<String> {
    let base = path.trim_end_matches('/');
    let rest = name.strip_prefix(base)?.strip_prefix('/')?;
    if rest.is_empty() {
        return None;
    }
    let mut out: String = rest
        .chars()
        .map(|c| match c {
            '/' | '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    Some(out)
}

/// One variable and where it came from.
#[derive(Debug)]
pub struct Var {
    /// The parameter it came from.
    pub name: String,
    /// The value (a secret).
    pub value: Zeroizing<String>,
}

/// The variables of a run, by variable name, and the clashes met on the way.
#[derive(Debug, Default)]
pub struct EnvMap {
    vars: BTreeMap<String, Var>,
    clashes: Vec<Clash>,
}

/// Two parameters that give the same variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// The variable.
    pub var: String,
    /// The parameter that lost.
    pub lost: String,
    /// The parameter that won.
    pub won: String,
}

impl EnvMap {
    /// Adds the parameters found under `path` (later calls win).
    pub fn add(
        &mut self,
        path: &str,
        params: impl IntoIterator<Item = (String, Zeroizing<String>)>,
    ) {
        for (name, value) in params {
            let Some(var) = var_name(path, &name) else {
                continue;
            };
            if let Some(old) = self.vars.get(&var) {
                self.clashes.push(Clash {
                    var: var.clone(),
                    lost: old.name.clone(),
                    won: name.clone(),
                });
            }
            self.vars.insert(var, Var { name, value });
        }
    }

    /// The clashes, in the order they happened.
    #[must_use]
    pub fn clashes(&self) -> &[Clash] {
        &self.clashes
    }

    /// Takes the variable `var` out.
    pub fn remove(&mut self, var: &str) -> Option<Var> {
        self.vars.remove(var)
    }

    /// The variables, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many variables.
    #[must_use]
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

/// `coffer export` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `NAME="value"` or `NAME='value'` lines: a POSIX shell sources them exactly and runs
    /// nothing; other dotenv readers read them back where their rules allow.
    Dotenv,
    /// One JSON object.
    Json,
    /// One YAML mapping (names and values as double-quoted scalars).
    Yaml,
    /// `export NAME='value'` lines for `eval` in a POSIX shell.
    Shell,
}

/// The text of `map` in `format` (a secret: the caller wipes it).
#[must_use]
pub fn render(map: &EnvMap, format: Format) -> Zeroizing<String> {
    // Room for the usual escaping up front: a String that grows leaves unwiped copies.
    let room = map
        .iter()
        .map(|(k, v)| k.len() * 2 + v.value.len() * 2 + 16)
        .sum::<usize>();
    let mut out = Zeroizing::new(String::with_capacity(room + 4));
    match format {
        Format::Dotenv => {
            for (k, v) in map.iter() {
                let _ = writeln!(out, "{k}={}", quote::dotenv(&v.value).text.as_str());
            }
        }
        Format::Shell => {
            for (k, v) in map.iter() {
                let _ = writeln!(out, "export {k}={}", quote::shell(&v.value).as_str());
            }
        }
        Format::Json => {
            let obj: BTreeMap<&str, &str> =
                map.iter().map(|(k, v)| (k, v.value.as_str())).collect();
            let json = Zeroizing::new(serde_json::to_string_pretty(&obj).unwrap_or_default());
            out.push_str(&json);
            out.push('\n');
        }
        Format::Yaml => {
            for (k, v) in map.iter() {
                let _ = writeln!(
                    out,
                    "{}: {}",
                    quote::yaml(k).as_str(),
                    quote::yaml(&v.value).as_str()
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn z(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    #[test]
    fn names() {
        assert_eq!(
            var_name("/app/prod", "/app/prod/db-password").unwrap(),
            "DB_PASSWORD"
        );
        assert_eq!(
            var_name("/app/prod/", "/app/prod/db/user.name").unwrap(),
            "DB_USER_NAME"
        );
        assert_eq!(var_name("/app", "/app/prod/9lives").unwrap(), "PROD_9LIVES");
        assert_eq!(
            var_name("/app/prod", "/app/prod/9lives").unwrap(),
            "_9LIVES"
        );
        assert_eq!(var_name("/app/prod", "/app/production/x"), None);
        assert_eq!(var_name("/app/prod", "/app/prod"), None);
        assert_eq!(var_name("/", "/top").unwrap(), "TOP");
    }

    #[test]
    fn later_paths_win_and_clashes_are_recorded() {
        let mut m = EnvMap::default();
        m.add(
            "/a",
            [
                ("/a/db-url".into(), z("one")),
                ("/a/db/url".into(), z("two")),
            ],
        );
        m.add(
            "/b",
            [("/b/db-url".into(), z("three")), ("/b/x".into(), z("x"))],
        );
        let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k, v.value.as_str())).collect();
        assert_eq!(got, [("DB_URL", "three"), ("X", "x")]);
        assert_eq!(m.clashes().len(), 2);
        assert_eq!(m.clashes()[1].lost, "/a/db/url");
        assert_eq!(m.clashes()[1].won, "/b/db-url");
    }

    #[test]
    fn formats_quote_everything() {
        let mut m = EnvMap::default();
        m.add(
            "/p",
            [
                ("/p/a".into(), z("it's \"quoted\" $HOME\nline2\\")),
                ("/p/b".into(), z("plain")),
            ],
        );
        let dotenv = render(&m, Format::Dotenv);
        assert_eq!(
            dotenv.as_str(),
            "A=\"it's \\\"quoted\\\" \\$HOME\nline2\\\\\"\nB=\"plain\"\n"
        );
        let shell = render(&m, Format::Shell);
        assert_eq!(
            shell.as_str(),
            "export A='it'\\''s \"quoted\" $HOME\nline2\\'\nexport B='plain'\n"
        );
        let json: serde_json::Value = serde_json::from_str(&render(&m, Format::Json)).unwrap();
        assert_eq!(json["A"], "it's \"quoted\" $HOME\nline2\\");
        let yaml = render(&m, Format::Yaml);
        assert!(
            yaml.starts_with("\"A\": \"it's \\\"quoted\\\" $HOME\\nline2\\\\\"\n"),
            "{}",
            yaml.as_str()
        );
    }
}
