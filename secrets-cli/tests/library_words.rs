//! The library names no flag, verb or `coffer <verb>` of the command line in what it says:
//! its messages are its own words, and the CLI puts hints in its words (`src/hints.rs`).
//! This reads the string literals of the library's source files (not comments, not unit
//! tests) and looks for every long flag and every verb of the `coffer` command.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

/// The library crate (`coffer`): every source file of it.
const LIBRARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../secrets/src");

/// Files that hold tests only.
const TEST_FILES: &[&str] = &["tests.rs", "conformance.rs"];

/// The string literals of Rust source `src` before its `#[cfg(test)]` module, each with its
/// line, line continuations joined.
fn literals(src: &str) -> Vec<(usize, String)> {
    let src = match src.find("#[cfg(test)]\nmod tests") {
        Some(at) => &src[..at],
        None => src,
    };
    let b = src.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                line += src[i..end].matches('\n').count();
                i = end;
                continue;
            }
            // A char literal ('"', '\''), not a lifetime ('a).
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                let end = src[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e + 1);
                i = end;
                continue;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = src[open + 1..]
                    .find(&close)
                    .map_or(b.len(), |e| open + 1 + e);
                out.push((line, src[open + 1..end].to_owned()));
                line += src[open..end].matches('\n').count();
                i = end + close.len();
                continue;
            }
            b'"' => {
                // A byte string (b"coffer audit v1\0") is data, not a message.
                let bytes = i > 0
                    && b[i - 1] == b'b'
                    && (i < 2 || !(b[i - 2].is_ascii_alphanumeric() || b[i - 2] == b'_'));
                let start_line = line;
                let mut text = String::new();
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && b.get(j + 1) == Some(&b'\n') {
                        // A continuation: the newline and the next line's indent go.
                        j += 2;
                        line += 1;
                        while j < b.len() && b[j].is_ascii_whitespace() {
                            line += usize::from(b[j] == b'\n');
                            j += 1;
                        }
                        continue;
                    }
                    if b[j] == b'\\' {
                        text.push('\\');
                        j += 1;
                    }
                    if b[j] == b'\n' {
                        line += 1;
                    }
                    let ch = src[j..].chars().next().unwrap();
                    text.push(ch);
                    j += ch.len_utf8();
                }
                if !bytes {
                    out.push((start_line, text));
                }
                i = j + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// What in `text` names the command line: a long flag (`--key`) or `coffer VERB`.
fn command_words(text: &str, flags: &[String], verbs: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for flag in flags {
        let needle = format!("--{flag}");
        for (at, _) in text.match_indices(&needle) {
            let before = text[..at].chars().next_back();
            let after = text[at + needle.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-');
            if !word(before) && !word(after) {
                found.push(needle.clone());
            }
        }
    }
    for verb in verbs {
        let needle = format!("coffer {verb}");
        for (at, _) in text.match_indices(&needle) {
            let after = text[at + needle.len()..].chars().next();
            if !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_') {
                found.push(needle.clone());
            }
        }
    }
    found
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs")
        && !TEST_FILES.iter().any(|t| path.ends_with(t))
    {
        out.push(path.to_path_buf());
    }
}

/// Every long flag and every verb (with its subverbs' parents) of the command.
fn command_line() -> (Vec<String>, Vec<String>) {
    fn walk(cmd: &clap::Command, flags: &mut Vec<String>, verbs: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                flags.push(long.to_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            verbs.push(sub.get_name().to_owned());
            walk(sub, flags, verbs);
        }
    }
    let (mut flags, mut verbs) = (Vec::new(), Vec::new());
    walk(&coffer_cli::cli::Cli::command(), &mut flags, &mut verbs);
    flags.sort();
    flags.dedup();
    verbs.sort();
    verbs.dedup();
    (flags, verbs)
}

#[test]
fn the_reader_finds_what_it_must() {
    let src = "let a = '\"'; // \"--key in a comment\"\n\
               /* \"--key\" */ let b = \"give --key \\\n      kms:ARN\";\n\
               let c = r#\"see coffer key show x\"#; let d = b\"--key\";\n\
               #[cfg(test)]\nmod tests { \"--key\" }";
    let lits = literals(src);
    assert_eq!(
        lits,
        [
            (2, "give --key kms:ARN".to_owned()),
            (4, "see coffer key show x".to_owned())
        ]
    );
    let flags = ["key".to_owned(), "if-version".to_owned()];
    let verbs = ["key".to_owned(), "put".to_owned()];
    assert_eq!(command_words(&lits[0].1, &flags, &verbs), ["--key"]);
    assert_eq!(command_words(&lits[1].1, &flags, &verbs), ["coffer key"]);
    assert!(command_words("--keys, --if-versions, coffer putter", &flags, &verbs).is_empty());
}

#[test]
fn the_library_names_no_flag_or_verb() {
    let (flags, verbs) = command_line();
    assert!(flags.iter().any(|f| f == "overwrite") && verbs.iter().any(|v| v == "put"));
    let root = Path::new(LIBRARY);
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    assert!(
        files.len() > 40,
        "the library's sources are not at {LIBRARY}"
    );
    let mut found = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        for (line, text) in literals(&src) {
            for word in command_words(&text, &flags, &verbs) {
                found.push(format!(
                    "{}:{line}: {word} in \"{text}\"",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library messages name the command line (put hints in src/hints.rs):\n{}",
        found.join("\n")
    );
}
