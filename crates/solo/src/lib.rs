//! The solo command line: parses arguments, runs a command, renders its outcome for people.
//!
//! Exit codes ([`cli::EXIT_CODES`]): 0 success, 1 the command failed, 2 the command line itself
//! is wrong (clap's usage errors), 3 the lock is held by someone else, 4 the copies of the state
//! are out of sync, 5 the cluster refused access; `exec` exits with its command's code. Nothing panics on user input and no
//! stack trace is ever shown: every failure is an `error:` line, its details, and a `help:` line.

pub mod cli;
pub mod commands;
pub mod config;
pub mod render;
pub mod solo_local;

use clap::Parser;
use std::process::ExitCode;

/// Run solo with the process's arguments and environment.
pub fn run() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; usage errors exit with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let out = render::Out::new(&cli.global);
    match commands::dispatch(&cli, &out) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            out.failure(&failure);
            ExitCode::from(failure.exit_code)
        }
    }
}
