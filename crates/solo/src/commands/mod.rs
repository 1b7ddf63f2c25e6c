//! One module per command group; `dispatch` routes a parsed command line to it.

pub mod state;

use crate::cli::{Cli, Command};
use crate::render::{Failure, Out};

/// Run the command of `cli`.
pub fn dispatch(cli: &Cli, out: &Out) -> Result<(), Failure> {
    match &cli.command {
        Command::State(cmd) => state::run(cmd, &cli.global, out),
    }
}
