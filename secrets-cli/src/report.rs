//! Turning an error into what the user sees: exit code, `error:` line, `hint:` lines.
//!
//! Commands return `anyhow::Result`; the typed errors inside the chain ([`CliError`],
//! [`FileError`], [`Refusal`], [`KeyRefError`], [`KeyFileError`], `coffer_core::Error`) decide the exit code
//! and the hints. A `BrokenPipe` anywhere in the chain means the reader of stdout went away:
//! exit 0, print nothing (ripgrep).

use std::io;

use serde::Serialize;

use crate::io::Refusal;
use coffer::files::FileError;
use coffer::keyref::{KeyFileError, KeyRefError};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the operation failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: usage or configuration error (the same as clap's).
pub const EXIT_USAGE: u8 = 2;

/// An error of the CLI itself, with its exit code and hints.
#[derive(Debug)]
pub struct CliError {
    usage: bool,
    /// An exit code other than 1 or 2 (`coffer exec`: 126, 127).
    code: Option<u8>,
    message: String,
    hints: Vec<String>,
    source: Option<Cause>,
}

/// What a [`CliError`] is in front of: an `anyhow` chain is kept as it is, so that the
/// report still finds every error in it by its type.
#[derive(Debug)]
enum Cause {
    Chain(anyhow::Error),
    Error(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.source.as_ref()? {
            Cause::Chain(e) => Some(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(e)),
            Cause::Error(e) => Some(e.as_ref()),
        }
    }
}

impl CliError {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            usage: true,
            code: None,
            message: message.into(),
            hints: Vec::new(),
            source: None,
        }
    }

    /// A failed operation (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            usage: false,
            code: None,
            message: message.into(),
            hints: Vec::new(),
            source: None,
        }
    }

    /// A failure with its own exit code (`coffer exec`: 127 command not found, 126 cannot
    /// run, as shells do).
    pub fn exit(code: u8, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            ..Self::failure(message)
        }
    }

    /// Puts `message` (and this error's hints) in front of `cause`.
    #[must_use]
    pub fn caused_by(mut self, cause: anyhow::Error) -> Self {
        self.source = Some(Cause::Chain(cause));
        self
    }

    /// Puts `message` in front of `cause`, which stays what it is: callers find it again
    /// through `source()` by its type (the PostgreSQL store reads the SQLSTATE back to decide
    /// whether to try again).
    #[must_use]
    pub fn caused_by_error(
        mut self,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Cause::Error(Box::new(cause)));
        self
    }

    /// Adds a `hint:` line.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// What to tell the user about a failed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Always `"error"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Wire schema version.
    pub schema: u32,
    /// The process exit code.
    pub exit_code: u8,
    /// The whole error chain on one line (`{:#}`); may hold indented lines (per-key reports).
    pub message: String,
    /// `hint:` lines.
    pub hints: Vec<String>,
    /// A reader of stdout went away: exit 0 quietly.
    #[serde(skip)]
    pub broken_pipe: bool,
}

/// A hint for an I/O error of the system rather than of coffer.
fn io_hint(err: &io::Error) -> Option<&'static str> {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            Some(
                "the disk is full, or a quota or the file size limit (ulimit -f) was reached; \
                 nothing was left under the output name",
            )
        }
        _ => None,
    }
}

/// The hint for a message whose data keys were not all tried.
pub(crate) const UNTRIED_KEYS_HINT: &str = "raise --max-encrypted-data-keys to try more of the \
     message's data keys, if it comes from a trusted source";

fn core_hint(err: &coffer_core::Error) -> Option<&'static str> {
    use coffer_core::Error as E;
    match err {
        E::Policy(what) if what.contains("commit") => Some(
            "non-committing suites need --commitment-policy forbid-encrypt-allow-decrypt \
             (encrypt) or require-encrypt-allow-decrypt (decrypt)",
        ),
        E::Policy(what) if what.contains("sign") => {
            Some("the message uses a signed suite; drop --unsigned-only to accept it")
        }
        E::Policy(what) if what.contains("data key") => {
            Some("raise --max-encrypted-data-keys if this many keys are expected")
        }
        E::Policy(what) if what.contains("frames of") => Some(
            "raise --max-frame-size if the message comes from a trusted source (decrypt holds \
             a frame of that size in memory)",
        ),
        E::Unwrap(report) if report.not_tried_count() > 0 => Some(UNTRIED_KEYS_HINT),
        E::Base64Input => Some("base64 -d < FILE | coffer decrypt ..."),
        _ => None,
    }
}

/// The library's error for an error that converts into it (a name, a type or a duration that
/// does not parse), so it gets the same exit code and hints wherever it came up.
fn library_error(cause: &(dyn std::error::Error + 'static)) -> Option<coffer::error::Error> {
    if let Some(e) = cause.downcast_ref::<coffer::params::NameError>() {
        Some(e.clone().into())
    } else if let Some(e) = cause.downcast_ref::<coffer::params::UnknownType>() {
        Some(e.clone().into())
    } else {
        cause
            .downcast_ref::<coffer::time::TimeError>()
            .map(|e| e.clone().into())
    }
}

#[cfg(feature = "kms")]
fn kms_hint(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    err.downcast_ref::<coffer::kms::NoRegion>()
        .map(|_| crate::hints::NO_KMS_REGION)
}

#[cfg(not(feature = "kms"))]
fn kms_hint(_: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    None
}

/// Classifies an error chain.
pub fn report(err: &anyhow::Error) -> Report {
    let mut usage = false;
    let mut code = None;
    let mut hints: Vec<String> = Vec::new();
    let mut broken_pipe = false;
    let add = |h: &str, hints: &mut Vec<String>| {
        if !hints.iter().any(|x| x == h) {
            hints.push(h.to_owned());
        }
    };
    // The library's error, found as itself or converted: its kind and its advice.
    let library = |e: &coffer::error::Error, usage: &mut bool, hints: &mut Vec<String>| {
        *usage |= crate::hints::is_usage(e);
        for h in crate::hints::hints(e) {
            add(&h, hints);
        }
    };
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                broken_pipe = true;
            }
            if let Some(h) = io_hint(e) {
                add(h, &mut hints);
            }
        } else if let Some(e) = cause.downcast_ref::<CliError>() {
            usage |= e.usage;
            code = code.or(e.code);
            for h in &e.hints {
                add(h, &mut hints);
            }
        } else if let Some(e) = cause.downcast_ref::<FileError>() {
            if let FileError::Io { source, .. } = e {
                broken_pipe |= source.kind() == io::ErrorKind::BrokenPipe;
                if let Some(h) = io_hint(source) {
                    add(h, &mut hints);
                }
            }
            if let Some(h) = crate::hints::file_hint(e) {
                add(h, &mut hints);
            }
        } else if let Some(e) = cause.downcast_ref::<Refusal>() {
            usage = true;
            if let Some(h) = crate::hints::refusal_hint(e) {
                add(h, &mut hints);
            }
        } else if let Some(e) = cause.downcast_ref::<coffer::error::Error>() {
            library(e, &mut usage, &mut hints);
        } else if let Some(e) = library_error(cause) {
            library(&e, &mut usage, &mut hints);
        } else if let Some(e) = cause.downcast_ref::<KeyRefError>() {
            usage = true;
            if let Some(h) = crate::hints::keyref_hint(e) {
                add(h, &mut hints);
            }
        } else if let Some(e) = cause.downcast_ref::<KeyFileError>() {
            if let Some(h) = crate::hints::keyfile_hint(e) {
                add(&h, &mut hints);
            }
        } else if let Some(h) = kms_hint(cause) {
            add(h, &mut hints);
        } else if let Some(e) = cause.downcast_ref::<coffer_core::Error>() {
            if let coffer_core::Error::Io(io) = e {
                broken_pipe |= io.kind() == io::ErrorKind::BrokenPipe;
                if let Some(h) = io_hint(io) {
                    add(h, &mut hints);
                }
            }
            if let Some(h) = core_hint(e) {
                add(h, &mut hints);
            }
            // What the key store said of each data key it could not give a key for.
            if let coffer_core::Error::Unwrap(report) = e {
                for cause in report.attempts.iter().filter_map(|a| a.cause.as_ref()) {
                    let chain = std::iter::successors(
                        Some(cause as &(dyn std::error::Error + 'static)),
                        |e| e.source(),
                    );
                    for e in chain.filter_map(|e| e.downcast_ref::<coffer::error::Error>()) {
                        for h in crate::hints::hints(e) {
                            add(&h, &mut hints);
                        }
                    }
                }
            }
        }
    }
    let message =
        coffer::error::chain_text(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(err));
    Report {
        kind: "error",
        schema: 1,
        exit_code: if broken_pipe {
            EXIT_OK
        } else if let Some(code) = code {
            code
        } else if usage {
            EXIT_USAGE
        } else {
            EXIT_FAILURE
        },
        message,
        hints,
        broken_pipe,
    }
}

/// Prints an error for the user: the text on stderr, and in JSON mode also the JSON object on
/// stdout unless stdout carries data. Prints nothing for a broken pipe. Returns the report.
pub fn emit(err: &anyhow::Error, json: bool, stdout_is_data: bool) -> Report {
    use std::io::Write as _;
    let r = report(err);
    if r.broken_pipe {
        return r;
    }
    let _ = io::stderr().lock().write_all(r.to_text().as_bytes());
    if json && !stdout_is_data {
        if let Ok(line) = serde_json::to_string(&r) {
            let _ = writeln!(io::stdout().lock(), "{line}");
        }
    }
    r
}

impl Report {
    /// The text for stderr: `error: …` then one `hint: …` line per hint.
    pub fn to_text(&self) -> String {
        let mut s = format!("error: {}\n", self.message);
        for h in &self.hints {
            s.push_str("hint: ");
            s.push_str(h);
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use anyhow::Context as _;

    #[test]
    fn exit_codes_and_hints() {
        let e = anyhow::Error::new(CliError::usage("bad flag").hint("try this"));
        let r = report(&e);
        assert_eq!(
            (r.exit_code, r.hints.as_slice()),
            (2, &["try this".to_owned()][..])
        );
        assert_eq!(r.to_text(), "error: bad flag\nhint: try this\n");

        let e = anyhow::Error::new(FileError::Exists("out".into())).context("encrypting");
        let r = report(&e);
        assert_eq!(r.exit_code, 1);
        assert_eq!(r.message, "encrypting: output file out already exists");
        assert!(r.hints[0].contains("--force"));

        let e = anyhow::Error::new("kms:".parse::<coffer::keyref::KeyRef>().unwrap_err());
        assert_eq!(report(&e).exit_code, 2);
    }

    /// A typed error behind `caused_by` keeps its hints (the library's advice among them).
    #[test]
    fn a_chain_behind_a_cli_error_keeps_its_types() {
        let lib = coffer::error::Error::conflict("key `app` is disabled")
            .advice(coffer::error::Advice::EnableKey("app".into()));
        let core = coffer_core::Error::Other(std::sync::Arc::new(lib));
        let e = anyhow::Error::new(CliError::failure("cannot encrypt").caused_by(core.into()));
        let r = report(&e);
        assert_eq!(r.message, "cannot encrypt: key `app` is disabled");
        assert_eq!(r.hints, ["enable it first: coffer key enable app"]);
    }

    #[test]
    fn broken_pipe_is_quiet_success() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing -");
        let r = report(&e);
        assert!(r.broken_pipe);
        assert_eq!(r.exit_code, 0);
        let e: anyhow::Result<()> = Err(coffer_core::Error::from(io::Error::from(
            io::ErrorKind::BrokenPipe,
        )))
        .context("x");
        assert!(report(&e.unwrap_err()).broken_pipe);
    }

    #[test]
    fn wrapped_causes_keep_their_hints() {
        let inner = anyhow::Error::new(FileError::Exists("f".into())).context("writing");
        let e = anyhow::Error::new(CliError::failure("boom").hint("do it").caused_by(inner));
        let r = report(&e);
        assert_eq!(r.message, "boom: writing: output file f already exists");
        assert_eq!(r.hints, ["do it", "use --force to overwrite it"]);
        assert_eq!(r.exit_code, 1);
    }

    #[test]
    fn full_disk_hint() {
        let e = anyhow::Error::new(coffer_core::Error::from(io::Error::from(
            io::ErrorKind::StorageFull,
        )))
        .context("cannot write the message to x");
        let r = report(&e);
        assert_eq!(r.exit_code, 1);
        assert!(r.hints[0].contains("disk is full"), "{:?}", r.hints);
    }

    #[test]
    fn json_report() {
        let e = anyhow::Error::new(CliError::failure("boom"));
        let v = serde_json::to_value(report(&e)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["schema"], 1);
        assert_eq!(v["exit_code"], 1);
        assert!(v.get("broken_pipe").is_none());
    }
}
