//! One module per command group; `dispatch` routes a parsed command line to it.

pub mod cluster_ref;
pub mod component;
pub mod delete;
pub mod deployment;
pub mod docs;
pub mod exec;
pub mod history;
pub mod history_script;
pub mod import;
pub mod init;
pub mod kept;
pub mod lease;
pub mod network;
pub mod network_proto;
pub mod session;
pub mod state;
pub mod state_edit;
pub mod state_migrate;
pub mod team;
pub mod write;

use crate::cli::{Cli, Command, Output};
use crate::render::{Failure, Out};

/// Run the command of `cli`; the exit code of a success (0, or `exec`'s command's code).
pub fn dispatch(cli: &Cli, out: &Out) -> Result<u8, Failure> {
    route(cli, out).map_err(|f| team::explain_forbidden(f, cli))
}

fn route(cli: &Cli, out: &Out) -> Result<u8, Failure> {
    match &cli.command {
        Command::Init => init::run(&cli.global, out).map(|()| 0),
        Command::Component(cmd) => component::run(cmd, &cli.global, out).map(|()| 0),
        Command::Completions(args) => docs::completions(args, out).map(|()| 0),
        Command::Man(args) => docs::man(args, out).map(|()| 0),
        Command::ClusterRef(cmd) => cluster_ref::run(cmd, &cli.global, out).map(|()| 0),
        Command::Deployment(cmd) => deployment::run(cmd, &cli.global, out).map(|()| 0),
        Command::State(cmd) => state::run(cmd, &cli.global, out).map(|()| 0),
        Command::Lease(cmd) => lease::run(cmd, &cli.global, out).map(|()| 0),
        Command::Exec(args) => exec::run(args, &cli.global, out),
        Command::History(args) => history::run(args, &cli.global, out).map(|()| 0),
        Command::Team(cmd) => team::run(cmd, &cli.global, out).map(|()| 0),
        Command::Network(cmd) => network::run(cmd, &cli.global, out),
    }
}

/// Pretty JSON with a final newline.
pub fn json_text(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    s.push('\n');
    s
}

/// `value` as JSON or YAML (the table format prints YAML too).
pub fn structured(format: Output, value: &serde_json::Value) -> String {
    match format {
        Output::Json => json_text(value),
        Output::Yaml | Output::Table => {
            serde_saphyr::to_string(value).unwrap_or_else(|_| json_text(value))
        }
    }
}
