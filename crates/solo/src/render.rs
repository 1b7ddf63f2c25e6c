//! How outcomes reach people: results on stdout, everything else on stderr, in one style:
//! `error: <sentence>`, the details each on its own line, then `help: <what to do>`.

mod progress;
mod table;

pub use progress::Progress;
pub use table::table;

use crate::cli::{Global, Output};
use solo_core::state::StateError;
use std::io::Write;

/// Exit code: the command failed.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: someone else holds the lock.
pub const EXIT_LOCKED: u8 = 3;
/// Exit code: the copies of the state are out of sync.
pub const EXIT_OUT_OF_SYNC: u8 = 4;
/// Exit code: the cluster refused access.
pub const EXIT_FORBIDDEN: u8 = 5;

/// A command that did not succeed, ready to be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One sentence: what went wrong.
    pub message: String,
    /// Details, one per line (for example each problem with its path).
    pub details: Vec<String>,
    /// What to do about it.
    pub help: Option<String>,
    /// The process exit code.
    pub exit_code: u8,
    /// Already reported on stdout in a machine format, so stderr stays quiet.
    pub reported: bool,
}

impl Failure {
    /// A failure with a message and a hint.
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            details: Vec::new(),
            help: Some(help.into()),
            exit_code: 1,
            reported: false,
        }
    }

    /// A failure with a message only (the message says what to do).
    pub fn bare(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            details: Vec::new(),
            help: None,
            exit_code: EXIT_ERROR,
            reported: false,
        }
    }

    /// The same failure with another exit code.
    pub fn code(mut self, exit_code: u8) -> Self {
        self.exit_code = exit_code;
        self
    }

    /// The same failure with details lines.
    pub fn details(mut self, details: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(details);
        self
    }

    /// A state error about `subject` (a file name), with its problems and hint.
    pub fn state(subject: &str, e: &StateError) -> Self {
        let message = match e {
            StateError::Invalid { .. } => {
                format!("{subject} is not a valid solo state: {}", count(e))
            }
            _ => format!("{subject}: {e}"),
        };
        Failure {
            message,
            details: e.problems().iter().map(ToString::to_string).collect(),
            help: Some(e.hint()),
            exit_code: 1,
            reported: false,
        }
    }
}

fn count(e: &StateError) -> String {
    match e.problems().len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    }
}

/// Where output goes, with the global flags applied.
pub struct Out {
    /// The output format chosen.
    pub format: Output,
    quiet: bool,
    verbose: bool,
}

impl Out {
    /// Output as the global flags ask.
    pub fn new(global: &Global) -> Self {
        Out {
            format: global.output,
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    /// A result, on stdout, whatever the verbosity (a closed pipe is not an error).
    pub fn result(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A line for people on stderr, unless --quiet.
    pub fn say(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", clean(line));
        }
    }

    /// Whether --verbose was given.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A line only --verbose shows.
    pub fn detail(&self, line: &str) {
        if self.verbose {
            self.say(line);
        }
    }

    /// Show a failure on stderr (even with --quiet).
    pub fn failure(&self, f: &Failure) {
        if f.reported {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {}", clean(&f.message));
        for d in &f.details {
            let _ = writeln!(err, "  {}", clean(d));
        }
        if let Some(help) = &f.help {
            let _ = writeln!(err, "help: {}", clean(help));
        }
    }
}

/// A lock holder in a few words: `user (host, pid N, held|acquiring)`, or a foreign identity.
pub fn holder_text(holder: &solo_core::lock::HolderField) -> String {
    use solo_core::lock::Phase;
    match holder.known().map(|h| h.phase) {
        Some(Phase::Held) => format!("{}, held", holder.describe()),
        Some(Phase::Acquiring) => format!("{}, acquiring", holder.describe()),
        None => holder.describe(),
    }
}

/// A time for people: to the second, in UTC (`2026-01-02 03:04:05Z`).
pub fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A duration in milliseconds for people, in jiff's friendly format (`1s 234ms`, `2m 3s`).
pub fn millis(ms: u64) -> String {
    let d = jiff::SignedDuration::from_millis(i64::try_from(ms).unwrap_or(i64::MAX));
    if ms >= 60_000 {
        // Past a minute the milliseconds are noise.
        format!("{:#}", jiff::SignedDuration::from_secs(d.as_secs()))
    } else {
        format!("{d:#}")
    }
}

/// Make text safe for a terminal: no control characters besides what we print ourselves.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_and_durations_read_as_people_write_them() {
        let t: jiff::Timestamp = "2026-01-02T03:04:05.123456789Z".parse().expect("time");
        assert_eq!(super::when(t), "2026-01-02 03:04:05Z");
        assert_eq!(super::millis(1234), "1s 234ms");
        assert_eq!(super::millis(0), "0s");
        assert_eq!(super::millis(123_456), "2m 3s");
    }
}
