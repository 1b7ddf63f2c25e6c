//! The waiting line: while solo waits for the lock, one line on stderr says who holds it and how
//! long we have waited, redrawn in place and fitted to the terminal's width (indicatif). Only on a
//! terminal; without colour when `NO_COLOR` is set.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use solo_core::lock::{blocker_sentence, human_duration};
use std::io::IsTerminal;
use std::time::Duration;

/// The waiting line on a terminal: who holds the lock, how long we waited. Quiet elsewhere.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Shows progress only when stderr is a terminal.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let template = if no_color() {
                "{spinner} {wide_msg}"
            } else {
                "{spinner:.yellow} {wide_msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar =
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    /// Redraws the line.
    pub fn show(&mut self, progress: &solo_core::lock::Progress) {
        let Some(bar) = &self.bar else {
            return;
        };
        let who = progress
            .blockers
            .first()
            .map(blocker_sentence)
            .unwrap_or_else(|| "the lock is busy".to_owned());
        bar.set_message(super::clean(&format!(
            "waiting {} ({}/{} leases): {who}",
            human_duration(progress.waited),
            progress.claimed,
            progress.total
        )));
    }

    /// Ends the line, leaving its last text on the screen if one was drawn.
    pub fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            if bar.message().is_empty() {
                bar.finish_and_clear();
            } else {
                bar.abandon();
            }
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the user asked for no colour (<https://no-color.org>: set and not empty).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
