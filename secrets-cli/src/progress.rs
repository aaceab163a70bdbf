//! A progress bar on stderr for long work: bytes, rate and ETA. Only on a terminal, never
//! with `-q`, and not for small inputs (they finish before a bar would be readable).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs smaller than this get no bar.
const MIN_BYTES: u64 = 64 << 20;

/// Whether to show a bar.
pub(crate) fn should_show(quiet: bool, stderr_is_terminal: bool, total: Option<u64>) -> bool {
    !quiet && stderr_is_terminal && total.is_none_or(|t| t >= MIN_BYTES)
}

/// A progress bar, or nothing.
#[derive(Debug)]
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `label` over `total` bytes (a spinner when the total is unknown), if
    /// [`should_show`] says so for this process.
    pub(crate) fn new(quiet: bool, total: Option<u64>, label: &str) -> Self {
        if !should_show(quiet, std::io::stderr().is_terminal(), total) {
            return Self::hidden();
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Self(Some(bar))
    }

    /// No bar.
    pub(crate) fn hidden() -> Self {
        Self(None)
    }

    /// Whether a bar could be shown at all (not `-q`, stderr a terminal): callers with a
    /// costly total (a directory run sums its files' sizes) ask this first.
    pub(crate) fn possible(quiet: bool) -> bool {
        !quiet && std::io::stderr().is_terminal()
    }

    /// Runs `f` (which prints to stderr) with the bar hidden.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Counts `n` more bytes.
    pub(crate) fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_for_long_work_on_a_terminal() {
        assert!(should_show(false, true, Some(1 << 30)));
        assert!(should_show(false, true, None), "stdin of unknown length");
        assert!(!should_show(false, true, Some(1024)), "small files");
        assert!(!should_show(true, true, Some(1 << 30)), "-q");
        assert!(!should_show(false, false, Some(1 << 30)), "not a terminal");
        let hidden = Progress::hidden();
        hidden.inc(5);
    }
}
