//! Quoting values for `coffer export`, so that what reads the text gets every value back
//! byte for byte and runs nothing.
//!
//! `shell` lines are for `eval` in a POSIX shell: single quotes, `'` as `'\''`.
//!
//! `dotenv` lines are read by more than one kind of reader, whose quoting rules differ:
//!
//! | reader | `'…'` | `"…"` |
//! |---|---|---|
//! | POSIX shell (`set -a; . ./app.env`) | literal; no `'` inside | `\` escapes `\ " $` and backquote; `$` and backquote expand |
//! | docker compose (compose-go) | literal; `\'` is `'`, so no `\` at the end | `\\ \" \$ \n …`; `$VAR`, `${VAR}` expand, `$$` is `$` |
//! | python-dotenv | `\\` and `\'` decoded | `\\ \" \' \n …` decoded; `\$` stays `\$` |
//!
//! and python-dotenv expands `${VAR}` inside either quotes (unless `interpolate=False`), reads
//! a carriage return as a newline (its files are read with universal newlines), and cannot
//! read a quoted value that ends in a backslash (its pattern runs on to the next quote in the
//! file). Each value is written in the first of these forms that suits it:
//!
//! 1. no `$` and no backquote: `"…"` with `\` and `"` escaped: exact for all three (but
//!    python-dotenv, for a carriage return or a final backslash);
//! 2. no `'`: `'…'`: exact for the shell and compose (but a final odd backslash); for
//!    python-dotenv, unless it holds `\\`, `${…}`, a carriage return or a final backslash;
//! 3. otherwise `"…"` with `\ " $` and backquote escaped.
//!
//! Where no form satisfies every reader, **the shell wins**: sourcing the file always runs
//! nothing and yields every value exactly, and [`Dotenv::misread`] says which other readers
//! will read the value differently (`export` warns, or fails with `--strict`).

use zeroize::Zeroizing;

/// `'value'` for a POSIX shell (`'` written as `'\''`).
#[must_use]
pub fn shell(v: &str) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(v.len() + 2));
    s.push('\'');
    for c in v.chars() {
        if c == '\'' {
            s.push_str(r"'\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}

/// A reader of dotenv files that will not read a value back exactly, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misread {
    /// `python-dotenv` or `docker compose`.
    pub reader: &'static str,
    /// What it does to the value.
    pub why: &'static str,
}

/// A value quoted for a dotenv file.
#[derive(Debug)]
pub struct Dotenv {
    /// The quoted value (a secret).
    pub text: Zeroizing<String>,
    /// The readers (other than a POSIX shell, which always reads it exactly) that will not.
    pub misread: Vec<Misread>,
}

const PY: &str = "python-dotenv";
const COMPOSE: &str = "docker compose";

/// The value quoted for a dotenv file (see the module docs).
#[must_use]
pub fn dotenv(v: &str) -> Dotenv {
    let dollar_or_tick = v.contains(['$', '`']);
    let odd_trailing_backslashes = v.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1;
    let mut misread = Vec::new();
    let mut py = |why| misread.push(Misread { reader: PY, why });
    if v.contains('\r') {
        py("it reads a carriage return as a newline");
    }
    if v.ends_with('\\') {
        py(
            "it cannot read a quoted value that ends in a backslash (nor, often, the lines after it)",
        );
    }
    let text = if !dollar_or_tick {
        double(v, false)
    } else if !v.contains('\'') && (!odd_trailing_backslashes || v.contains('`')) {
        // Single quotes, but not for a final odd backslash when double quotes (no
        // backquote) suit compose.
        if v.contains(r"\\") {
            py(r"it reads \\ in single quotes as one backslash");
        }
        if has_python_dotenv_variable(v) {
            py("it expands ${...} in it (unless interpolate=False)");
        }
        if odd_trailing_backslashes {
            misread.push(Misread {
                reader: COMPOSE,
                why: "it cannot read a single-quoted value that ends in a backslash",
            });
        }
        single(v)
    } else {
        py(r"it keeps the backslash of \$ and \` in double quotes");
        if v.contains('`') {
            misread.push(Misread {
                reader: COMPOSE,
                why: r"it keeps the backslash of \` in double quotes",
            });
        }
        double(v, true)
    };
    Dotenv { text, misread }
}

/// `'v'` (the caller checked that `v` holds no `'`).
fn single(v: &str) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(v.len() + 2));
    s.push('\'');
    s.push_str(v);
    s.push('\'');
    s
}

/// `"v"` with `\` and `"` escaped, and `$` and backquote too if `shell_specials`.
fn double(v: &str, shell_specials: bool) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(v.len() + 8));
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' | '"' => s.push('\\'),
            '$' | '`' if shell_specials => s.push('\\'),
            _ => {}
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Whether python-dotenv's `${NAME}` / `${NAME:-DEFAULT}` pattern matches somewhere in `v`.
fn has_python_dotenv_variable(v: &str) -> bool {
    v.match_indices("${").any(|(at, _)| {
        let rest = &v[at + 2..];
        let name_end = rest.find(['}', ':']).unwrap_or(rest.len());
        match rest[name_end..].chars().next() {
            Some('}') => true,
            Some(':') => rest[name_end..]
                .strip_prefix(":-")
                .is_some_and(|default| default.contains('}')),
            _ => false,
        }
    })
}

/// A YAML double-quoted scalar that every YAML 1.1 and 1.2 reader reads back exactly:
/// `\` and `"` escaped, and every character that is not printable in YAML or that YAML 1.1
/// folds as a line break (C0 and C1 controls, DEL, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF)
/// written as an escape.
#[must_use]
pub fn yaml(v: &str) -> Zeroizing<String> {
    use std::fmt::Write as _;
    let mut s = Zeroizing::new(String::with_capacity(v.len() + 2));
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str(r"\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str(r"\n"),
            '\t' => s.push_str(r"\t"),
            '\r' => s.push_str(r"\r"),
            '\0'..='\x1f' | '\x7f'..='\u{9f}' => {
                let _ = write!(s, "\\x{:02x}", u32::from(c));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn readers(v: &str) -> Vec<&'static str> {
        let mut r: Vec<_> = dotenv(v).misread.iter().map(|m| m.reader).collect();
        r.dedup();
        r
    }

    #[test]
    fn dotenv_forms() {
        let q = |v: &str| dotenv(v).text.as_str().to_owned();
        assert_eq!(q("plain"), r#""plain""#);
        assert_eq!(q(r#"it's "q" \n"#), r#""it's \"q\" \\n""#);
        assert_eq!(q("$HOME `id`"), "'$HOME `id`'");
        assert_eq!(q("it's $HOME"), r#""it's \$HOME""#);
        assert_eq!(q("it's `id`"), r#""it's \`id\`""#);
        // A final odd backslash cannot end a single-quoted value for compose.
        assert_eq!(q(r"$x\"), r#""\$x\\""#);
        assert_eq!(q(r"$x\\"), r"'$x\\'");
        assert_eq!(q(""), r#""""#);
    }

    #[test]
    fn dotenv_says_who_misreads() {
        assert!(readers("plain, with 'quotes', \"doubles\" and \\ # = ü\n").is_empty());
        assert!(readers("$HOME `id` $(id) ${X:y}").is_empty());
        assert_eq!(readers("${HOME}"), [PY]);
        assert_eq!(readers("${X:-d}"), [PY]);
        assert_eq!(readers("a\rb"), [PY]);
        assert_eq!(readers("ends\\"), [PY]);
        assert_eq!(readers(r"$a\\b"), [PY]);
        assert_eq!(readers("it's $HOME"), [PY]);
        assert_eq!(readers("it's `id`"), [PY, COMPOSE]);
        assert_eq!(readers(r"`id`\"), [PY, COMPOSE]);
    }

    #[test]
    fn python_dotenv_variables() {
        for (v, m) in [
            ("${A}", true),
            ("x${}y", true),
            ("${A:-}", true),
            ("${A:-b}", true),
            ("${A:b}", false),
            ("${A", false),
            ("$A", false),
            ("$${A}", true),
            ("${A:-b", false),
        ] {
            assert_eq!(has_python_dotenv_variable(v), m, "{v}");
        }
    }

    /// A model of how docker compose (compose-go's dotenv parser) reads one quoted value:
    /// the quoted text is scanned with `\` escaping the next character (kept, but for the
    /// quote itself); in double quotes `\\ \" \$ \a \b \f \n \r \t \v` are then decoded and
    /// `$$` is `$`, while any other `$` would expand (`None` here, as for a value that does
    /// not parse).
    fn compose_read(q: &str) -> Option<String> {
        let quote = *q.as_bytes().first()?;
        let body = &q.as_bytes()[1..];
        let mut raw = Vec::new();
        let mut escaped = false;
        for (i, &c) in body.iter().enumerate() {
            if c != quote {
                if !escaped && c == b'\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    raw.push(b'\\');
                }
                raw.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                raw.push(c);
                continue;
            }
            if i + 1 != body.len() {
                return None; // text after the closing quote
            }
            let raw = String::from_utf8(raw).ok()?;
            if quote == b'\'' {
                return Some(raw);
            }
            let mut out = String::new();
            let mut chars = raw.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.peek().copied() {
                        Some(e @ ('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '"' | '\\' | '$')) => {
                            chars.next();
                            out.push_str(match e {
                                'a' => "\x07",
                                'b' => "\x08",
                                'f' => "\x0c",
                                'n' => "\n",
                                'r' => "\r",
                                't' => "\t",
                                'v' => "\x0b",
                                '$' => "$$",
                                '"' => "\"",
                                _ => "\\",
                            });
                        }
                        _ => out.push('\\'),
                    },
                    c => out.push(c),
                }
            }
            // Substitution: `$$` is `$`; any other `$` would expand something.
            let mut value = String::new();
            let mut chars = out.chars();
            while let Some(c) = chars.next() {
                if c == '$' && chars.next() != Some('$') {
                    return None;
                }
                value.push(c);
            }
            return Some(value);
        }
        None // not terminated
    }

    #[test]
    fn dotenv_is_read_back_by_compose_unless_it_says_otherwise() {
        let nasty = [
            "plain",
            "it's",
            "say \"hi\"",
            r"a\b",
            r"a\\b",
            "end\\",
            "$HOME",
            "${HOME}",
            "it's $HOME",
            "`id`",
            "it's `id`",
            "$(id)",
            "a #b",
            "  lead and trail  ",
            "a=b=c",
            "line1\nline2\n",
            "a\rb\r\n",
            "\x01\x1b[31m\x7f",
            "ü€😀\u{2028}\u{85}",
            "'\"\\$`#= \n",
            r#"\""#,
            "$$",
            "",
            r"\'",
            "`\\",
            "$x\\",
            "$x\\\\",
            r"\0101",
            r"\n\t\$\c",
        ];
        for v in nasty {
            let d = dotenv(v);
            let says = d.misread.iter().any(|m| m.reader == COMPOSE);
            let read = compose_read(&d.text);
            assert_eq!(
                read.as_deref() != Some(v),
                says,
                "{v:?} written as {:?} is read by compose as {read:?}",
                d.text.as_str()
            );
        }
    }

    #[test]
    fn shell_and_yaml() {
        assert_eq!(shell("it's").as_str(), r"'it'\''s'");
        assert_eq!(
            yaml("a\"\\\n\t\r\0\x7f\u{85}\u{2028}ü").as_str(),
            r#""a\"\\\n\t\r\x00\x7f\x85\u2028ü""#
        );
    }
}
