//! Reading dotenv files (`import`): `KEY=value` lines, as written by `coffer export
//! --format dotenv|shell` and by hand for docker compose, python-dotenv and the shell.
//!
//! The grammar:
//!
//! - one entry per line, `KEY=value`, optionally after `export `; spaces around `=` are
//!   allowed; blank lines and lines whose first non-blank character is `#` are comments;
//! - KEY: a letter or `_`, then letters, digits, `_`, `.` or `-`;
//! - an unquoted value runs to the end of the line, without the spaces around it and without
//!   a comment that starts with ` #`; quotes and backslashes in it are themselves;
//! - a quoted value is one or more segments, as in a POSIX shell: `'…'` (every character
//!   itself, newlines too), `"…"` (where `\\`, `\"`, `\$` and a backquote after `\` are
//!   escapes as in a shell, `\n`, `\r` and `\t` as docker compose and python-dotenv read
//!   them, a backslash before a line's end joins the lines, and any other backslash is
//!   itself), and outside quotes `\X`
//!   (X itself) and plain characters; so `'it'\''s'` is `it's`; after it, only spaces and a
//!   comment may follow on its last line.
//!
//! Unlike the readers above, nothing is expanded: a `$NAME`, `${…}`, `$(…)`, `$1`, `$$` or a
//! backquote outside single quotes, which they would replace by another variable (or by one
//! of the environment of whatever reads the file) or run, is refused, so that a value is never stored as something other than what
//! those readers give, and nothing of coffer's own environment ends up in the store. Write
//! `\$` inside double quotes, or use single quotes, for a literal `$`.
//!
//! Errors name the line and the key, never a value (nor what stands where a key should,
//! which may be the rest of an unquoted value over more lines).

use zeroize::Zeroizing;

use super::SecretValue;
use crate::error::Error;

/// One entry of a dotenv file.
#[derive(Debug)]
pub struct DotenvEntry {
    /// The key, as written.
    pub key: String,
    /// The value.
    pub value: SecretValue,
    /// The line it starts on (1, 2, …).
    pub line: usize,
}

/// The entries of dotenv text `text`, in order (see the module docs).
///
/// # Errors
/// [`Error::Invalid`] naming the line: a line that is not `KEY=value`, a bad key, a quote
/// not closed, text after a closing quote, a variable that other readers would expand.
pub fn parse(text: &str) -> Result<Vec<DotenvEntry>, Error> {
    let mut out = Vec::new();
    let mut p = Parser {
        chars: text.char_indices().peekable(),
        line: 1,
    };
    loop {
        p.skip_blanks();
        let Some(&(_, c)) = p.chars.peek() else {
            break;
        };
        match c {
            '\n' => {
                p.next();
            }
            '#' => p.skip_line(),
            _ => out.push(p.entry()?),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    line: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<char> {
        let (_, c) = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    /// Spaces, tabs and carriage returns.
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.next();
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.next() {
            if c == '\n' {
                break;
            }
        }
    }

    fn bad(&self, line: usize, why: impl std::fmt::Display) -> Error {
        Error::invalid(format!("line {line}: {why}"))
    }

    fn key(&mut self) -> String {
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                key.push(c);
                self.next();
            } else {
                break;
            }
        }
        key
    }

    fn entry(&mut self) -> Result<DotenvEntry, Error> {
        let line = self.line;
        let mut key = self.key();
        if key == "export" && matches!(self.peek(), Some(' ' | '\t')) {
            self.skip_blanks();
            key = self.key();
        }
        // What stands where a key should is never shown: it may be the rest of a value that
        // goes on over more lines without quotes.
        let not_an_entry = "expected KEY=value (a key of letters, digits, `_`, `.` and `-`, \
                            starting with a letter or `_`; a value over more than one line \
                            must be quoted)";
        if key.is_empty() || !key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err(self.bad(line, not_an_entry));
        }
        self.skip_blanks();
        if self.peek() != Some('=') {
            return Err(self.bad(line, not_an_entry));
        }
        self.next();
        self.skip_blanks();
        let value = match self.peek() {
            Some('\'' | '"') => self.quoted(&key)?,
            _ => self.unquoted(line, &key)?,
        };
        Ok(DotenvEntry {
            key,
            value: SecretValue::new(value),
            line,
        })
    }

    /// A value that does not start with a quote: the rest of the line, trimmed, up to a
    /// comment.
    fn unquoted(&mut self, line: usize, key: &str) -> Result<Zeroizing<String>, Error> {
        let mut v = Zeroizing::new(String::new());
        // `A=#x` is `#x`; `A=x #y` is `x`.
        let mut after_blank = false;
        while let Some(c) = self.peek() {
            if c == '\n' || (c == '#' && after_blank) {
                break;
            }
            if c == '$' {
                self.dollar(line, key)?;
            }
            if c == '`' {
                return Err(self.expands(line, key, "a backquote"));
            }
            v.push(c);
            after_blank = matches!(c, ' ' | '\t');
            self.next();
        }
        self.skip_line();
        let end = v.trim_end_matches([' ', '\t', '\r']).len();
        v.truncate(end);
        Ok(v)
    }

    /// A `$` (next to be read) that a shell or another reader would expand is refused.
    fn dollar(&mut self, line: usize, key: &str) -> Result<(), Error> {
        let mut ahead = self.chars.clone();
        ahead.next();
        let form = match ahead.peek().map(|&(_, c)| c) {
            Some('{') => "${…}",
            Some('(') => "$(…)",
            Some(c) if c == '_' || c.is_ascii_alphabetic() => "$NAME",
            Some(c) if c.is_ascii_digit() || "$@*#?!-".contains(c) => "a `$` parameter",
            _ => return Ok(()),
        };
        Err(self.expands(line, key, form))
    }

    fn expands(&self, line: usize, key: &str, form: &str) -> Error {
        self.bad(
            line,
            format_args!(
                "the value of {key} holds {form}, which a shell or another dotenv reader \
                 expands or runs; coffer stores values as written and expands nothing: write \
                 it inside single quotes (or `\\$`, `\\`` inside double quotes) for the \
                 text itself"
            ),
        )
    }

    /// Quoted segments (the next character is a quote), up to a blank, a comment or the end
    /// of the line.
    fn quoted(&mut self, key: &str) -> Result<Zeroizing<String>, Error> {
        let mut v = Zeroizing::new(String::new());
        loop {
            match self.peek() {
                Some('\'') => {
                    let opened = self.line;
                    self.next();
                    loop {
                        match self.next() {
                            None => return Err(self.unclosed(opened, key, '\'')),
                            Some('\'') => break,
                            Some(c) => v.push(c),
                        }
                    }
                }
                Some('"') => {
                    let opened = self.line;
                    self.next();
                    loop {
                        match self.peek() {
                            None => return Err(self.unclosed(opened, key, '"')),
                            Some('"') => {
                                self.next();
                                break;
                            }
                            Some('\\') => {
                                self.next();
                                match self.peek() {
                                    Some(c @ ('\\' | '"' | '$' | '`')) => {
                                        v.push(c);
                                        self.next();
                                    }
                                    // As in a shell: the lines are joined.
                                    Some('\n') => {
                                        self.next();
                                    }
                                    Some('n') => {
                                        v.push('\n');
                                        self.next();
                                    }
                                    Some('r') => {
                                        v.push('\r');
                                        self.next();
                                    }
                                    Some('t') => {
                                        v.push('\t');
                                        self.next();
                                    }
                                    _ => v.push('\\'),
                                }
                            }
                            Some(c) => {
                                if c == '$' {
                                    self.dollar(self.line, key)?;
                                }
                                if c == '`' {
                                    return Err(self.expands(self.line, key, "a backquote"));
                                }
                                v.push(c);
                                self.next();
                            }
                        }
                    }
                }
                Some('\\') => {
                    self.next();
                    match self.next() {
                        // A backslash before the end of a line joins the lines, as in a shell.
                        Some('\n') | None => {}
                        Some(c) => v.push(c),
                    }
                }
                Some(' ' | '\t' | '\r' | '\n') | None => break,
                Some(c) => {
                    if c == '$' {
                        self.dollar(self.line, key)?;
                    }
                    if c == '`' {
                        return Err(self.expands(self.line, key, "a backquote"));
                    }
                    if c == '#' {
                        return Err(self.bad(
                            self.line,
                            format_args!("text after the closing quote of {key}"),
                        ));
                    }
                    v.push(c);
                    self.next();
                }
            }
        }
        self.skip_blanks();
        match self.peek() {
            None | Some('\n' | '#') => {
                self.skip_line();
                Ok(v)
            }
            Some(_) => Err(self.bad(
                self.line,
                format_args!("text after the closing quote of {key}"),
            )),
        }
    }

    fn unclosed(&self, opened: usize, key: &str, quote: char) -> Error {
        self.bad(
            opened,
            format_args!("the {quote} quote of the value of {key} is not closed"),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, usize)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.expose().to_owned(), e.line))
            .collect()
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn plain_lines_comments_and_export() {
        let got =
            pairs("# a comment\n\nA=1\n  export B = two words  # note\nC=\nD=a#b\r\nE='x' # c\n");
        assert_eq!(
            got,
            [
                ("A".into(), "1".into(), 3),
                ("B".into(), "two words".into(), 4),
                ("C".into(), String::new(), 5),
                ("D".into(), "a#b".into(), 6),
                ("E".into(), "x".into(), 7),
            ]
        );
    }

    #[test]
    fn quotes_as_coffer_export_writes_them() {
        // --format dotenv and --format shell of a value with every awkward character.
        let got = pairs(
            "A=\"it's \\\"quoted\\\" \\$HOME\nline2\\\\\"\nexport B='it'\\''s \"q\" $HOME\nx\\'\n",
        );
        assert_eq!(got[0].1, "it's \"quoted\" $HOME\nline2\\");
        assert_eq!(got[1].0, "B");
        assert_eq!(got[1].1, "it's \"q\" $HOME\nx\\");
        assert_eq!(got[1].2, 3);
    }

    #[test]
    fn escapes_in_double_quotes() {
        let got = pairs(r#"A="a\nb\tc\\d\qe\'f""#);
        assert_eq!(got[0].1, "a\nb\tc\\d\\qe\\'f");
        // A backslash at a line's end joins the lines, as in a shell.
        assert_eq!(pairs("A=\"one \\\ntwo\"\n")[0].1, "one two");
    }

    #[test]
    fn bad_lines_name_their_line_and_never_the_value() {
        assert!(err("A=1\nnot a line\n").starts_with("line 2: expected KEY=value"));
        assert!(err("A=1\n=x\n").starts_with("line 2: expected KEY=value"));
        // The rest of an unquoted value over two lines is never shown.
        for text in ["KEY=-----BEGIN\nMIIEvQIBADAN\n", "PW=\n4f9sK2pQx7Zr\n"] {
            let e = err(text);
            assert!(e.starts_with("line 2: expected KEY=value"), "{e}");
            assert!(!e.contains("MIIE") && !e.contains("4f9s"), "{e}");
        }
        let e = err("A=1\nB='secret-and-more\n\n");
        assert!(e.starts_with("line 2: the ' quote"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = err("A=\"x\"y z\n");
        assert!(e.contains("text after the closing quote of A"), "{e}");
        let e = err("A=pre${HOME}post\n");
        assert!(e.starts_with("line 1: the value of A holds ${…}"), "{e}");
        assert!(!e.contains("pre"), "{e}");
        assert!(err("A=\"$USER\"\n").contains("$NAME"));
        for text in [
            "A=$(id)\n",
            "A=\"`id`\"\n",
            "A=x`id`\n",
            "A=\"$1\"\n",
            "A=$$\n",
            "A='x'$(id)\n",
        ] {
            assert!(err(text).contains("expands or runs"), "{text}");
        }
        // Literal dollars that no reader expands, and any in single quotes, are kept.
        assert_eq!(pairs("A=5$\nB='$HOME'\nC=\"\\${x}\"\n")[2].1, "${x}");
    }
}
