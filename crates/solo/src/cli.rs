//! The command-line grammar (clap derive). Add a command here and its code under `commands/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// solo: deploy and share Hedera networks on Kubernetes, with the state kept and locked in the clusters.
#[derive(Debug, Parser)]
#[command(name = "solo", version, about, propagate_version = true)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// How to print results.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Print nothing but errors.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more about what is done.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Answer yes to every question (for scripts), such as overwriting a file.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Table,
    /// YAML, as stored.
    Yaml,
    /// JSON, for scripts.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, check and convert solo state documents.
    #[command(subcommand)]
    State(StateCommand),
}

/// `solo state ...`
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Check a state document offline and list every problem with its path.
    #[command(after_help = "\
Examples:
  solo state validate --file my-network.yaml
  solo state validate --file my-network.yaml -o json
  solo state validate --file old.yaml -o yaml > migrated.yaml

Exits 0 when the document is valid, 1 when it is not (the problems are listed, each with the
path of the field at fault), 2 on a wrong command line. A document of an older schema version is
checked as migrated to the current one; nothing is written.")]
    Validate(ValidateArgs),

    /// Turn the legacy single-user ~/.solo/solo.config into a state document.
    #[command(after_help = "\
Examples:
  solo state import-legacy --file ~/.solo/solo.config --email alice@example.com
  SOLO_USER_EMAIL=alice@example.com solo state import-legacy --file ~/.solo/solo.config --out my-network.yaml

The deployment is named after flags.deployment, else flags.namespace (or --name). The kube context
of flags.cluster-name becomes a cluster ref; flags.node-ids become the consensus nodes. Every other
flag is listed as a warning and not kept. Works offline; nothing is written to a cluster.")]
    ImportLegacy(ImportLegacyArgs),
}

/// `solo state validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The state document (YAML) to check.
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: PathBuf,
}

/// `solo state import-legacy`
#[derive(Debug, Args)]
pub struct ImportLegacyArgs {
    /// The legacy solo.config (JSON).
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: PathBuf,
    /// Who imports (recorded as the last writer and the migrator).
    #[arg(long, env = "SOLO_USER_EMAIL", value_name = "EMAIL")]
    pub email: Option<String>,
    /// Name of the deployment, instead of the one taken from the legacy flags.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Write the state here instead of printing it.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}
