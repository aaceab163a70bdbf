//! Logs go to stderr (stdout carries data). Default level `warn`; `-q` → `error`, `-v` → `info`,
//! `-vv` → `debug`, `-vvv` → `trace`. Without `-q`/`-v`, `RUST_LOG` is used when set.
//!
//! At the default level the AWS SDK's warning that EC2 instance metadata has no Region (off
//! EC2, the usual case) is not shown: a missing Region is one error of coffer's own.

use tracing_subscriber::EnvFilter;

/// The default filter.
const DEFAULT: &str = "warn,aws_config::imds::region=error";

/// The filter for the given flags (and `RUST_LOG`, when the flags do not set a level).
pub fn filter(verbose: u8, quiet: bool, rust_log: Option<&str>) -> EnvFilter {
    let level = match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("info"),
        (false, 2) => Some("debug"),
        (false, _) => Some("trace"),
    };
    match (level, rust_log) {
        (Some(l), _) => EnvFilter::new(l),
        (None, Some(env)) if !env.trim().is_empty() => {
            EnvFilter::try_new(env).unwrap_or_else(|_| EnvFilter::new(DEFAULT))
        }
        _ => EnvFilter::new(DEFAULT),
    }
}

/// Installs the stderr subscriber (once, from `main`).
pub fn init(verbose: u8, quiet: bool) {
    let env = std::env::var("RUST_LOG").ok();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, quiet, env.as_deref()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose >= 2)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let default = filter(0, false, None).to_string();
        assert_eq!(default, EnvFilter::new(DEFAULT).to_string());
        assert!(
            default.contains("aws_config::imds::region=error"),
            "{default}"
        );
        assert_eq!(
            filter(0, false, Some("  ")).to_string(),
            default,
            "blank RUST_LOG"
        );
        assert_eq!(filter(1, false, None).to_string(), "info");
        assert_eq!(filter(2, false, Some("trace")).to_string(), "debug");
        assert_eq!(filter(5, false, None).to_string(), "trace");
        assert_eq!(filter(0, true, Some("debug")).to_string(), "error");
        assert_eq!(
            filter(0, false, Some("coffer=debug")).to_string(),
            "coffer=debug"
        );
    }
}
