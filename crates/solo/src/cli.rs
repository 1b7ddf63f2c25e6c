//! The command-line grammar (clap derive). Add a command here and its code under `commands/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// solo: deploy and share Hedera networks on Kubernetes, with the state kept and locked in the clusters.
#[derive(Debug, Parser)]
#[command(
    name = "solo",
    version,
    about,
    propagate_version = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, shown by `solo --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    ok
  1    error (an invalid document, a failed operation, an unmapped cluster ref, ...)
  2    usage (a wrong command line)
  3    the lock is held by someone else (the message says who, since when, until when)
  4    the copies of the state are out of sync (a per-cluster table and the repair command follow)
  5    forbidden (the message names the namespace and the access to ask for)
  130  interrupted (Ctrl-C or SIGTERM) while waiting for the lock; nothing is held
`solo exec` exits with its command's own code once the command ran (128+N if a signal N ended it).

Environment: SOLO_HOME (config directory, default ~/.solo), SOLO_USER_EMAIL (who you are),
KUBECONFIG (kube contexts; a list of files is merged as kubectl merges it).";

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Who you are (recorded on every lease and write); else SOLO_USER_EMAIL, else git's user.email.
    #[arg(long, global = true, value_name = "EMAIL")]
    pub email: Option<String>,
    /// The kubeconfig to read instead of KUBECONFIG or ~/.kube/config.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
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
    /// Map the cluster refs of deployments to your own kube contexts.
    #[command(subcommand, name = "cluster-ref")]
    ClusterRef(ClusterRefCommand),
    /// Create, list and show deployments (networks) and their state in the clusters.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Read, check, convert and repair solo state documents.
    #[command(subcommand)]
    State(StateCommand),
    /// See who holds the lock of a deployment.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Run any command under the lock of a deployment.
    #[command(after_help = "\
Examples:
  solo exec my-network -- helm upgrade my-release ./chart
  solo exec my-network --wait -- ./deploy.sh
  solo exec my-network --wait=5m -- sh -c 'kubectl apply -f net.yaml'

Takes every lease of the deployment (fails at once with exit 3 when someone else holds it, unless
--wait), runs the command with SOLO_DEPLOYMENT and SOLO_LOCK_EPOCH set, renews the leases while it
runs and releases them when it ends. If the lock is lost, the command is killed and solo exits 1.
Ctrl-C and SIGTERM are passed to the command. Exits with the command's exit code.")]
    Exec(ExecArgs),
    /// Every command run under the lock of a deployment (`solo exec`), oldest first.
    #[command(after_help = "\
Examples:
  solo history my-network
  solo history my-network -o json")]
    History(DeploymentArgs),
}

/// `solo cluster-ref ...`
#[derive(Debug, Subcommand)]
pub enum ClusterRefCommand {
    /// Map a cluster ref to one of your kube contexts (kept in your local config).
    #[command(after_help = "\
Examples:
  solo cluster-ref connect cluster-1 --context kind-solo
  KUBECONFIG=~/.kube/a:~/.kube/b solo cluster-ref connect cluster-2 --context gke-prod

The context must exist in your kubeconfig (KUBECONFIG, merged as kubectl does, or --kubeconfig).
The ref is the cluster's name inside deployment states: a DNS-1123 label.")]
    Connect(ConnectArgs),
    /// Forget the kube context of a cluster ref.
    #[command(after_help = "Example:\n  solo cluster-ref disconnect cluster-1")]
    Disconnect(RefArgs),
    /// List your cluster refs and their kube contexts.
    #[command(after_help = "Examples:\n  solo cluster-ref list\n  solo cluster-ref list -o json")]
    List,
}

/// `solo cluster-ref connect`
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The cluster ref (e.g. cluster-1).
    #[arg(value_name = "REF")]
    pub cluster_ref: String,
    /// The kube context it maps to.
    #[arg(long, value_name = "KUBE-CONTEXT")]
    pub context: String,
}

/// A command on one cluster ref.
#[derive(Debug, Args)]
pub struct RefArgs {
    /// The cluster ref.
    #[arg(value_name = "REF")]
    pub cluster_ref: String,
}

/// `solo deployment ...`
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Create a deployment: its state in every one of its clusters, made under its lock.
    #[command(after_help = "\
Examples:
  solo deployment create my-network --namespace my-net --cluster-ref cluster-1
  solo deployment create my-network --namespace my-net --cluster-ref cluster-1 --cluster-ref cluster-2 --team team-a

The namespace must exist in every cluster, and so must the state namespace (default solo-system).
Every cluster ref must be connected (`solo cluster-ref connect`).")]
    Create(CreateArgs),
    /// List the deployments found in your connected clusters (without reading their state).
    #[command(after_help = "\
Examples:
  solo deployment list
  solo deployment list --state-namespace team-a-state -o json")]
    List(ListArgs),
    /// Show what your local config knows of a deployment.
    #[command(after_help = "Example:\n  solo deployment show my-network -o yaml")]
    Show(DeploymentArgs),
}

/// `solo deployment create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The deployment's name: also the name of its lock and state; never changes.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The network's namespace in every cluster.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: String,
    /// A cluster of the deployment (repeat for several).
    #[arg(long = "cluster-ref", value_name = "REF", required = true)]
    pub cluster_refs: Vec<String>,
    /// The team that owns it (a label on its state; used for access control).
    #[arg(long, value_name = "TEAM")]
    pub team: Option<String>,
    /// Where the state is kept in every cluster.
    #[arg(long, value_name = "NS", default_value = solo_kube::DEFAULT_STATE_NAMESPACE)]
    pub state_namespace: String,
}

/// `solo deployment list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Look only in this state namespace (default: solo-system and those of known deployments).
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// A command on one deployment.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// `solo lease ...`
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Who holds each lease of a deployment's lock, since when and until when.
    #[command(after_help = "\
Examples:
  solo lease status my-network
  solo lease status my-network -o json")]
    Status(DeploymentArgs),
    /// Clear every lease of a deployment's lock, whoever holds it: the audited escape when a
    /// holder is gone for good and you cannot wait for its leases to expire.
    #[command(after_help = "\
Examples:
  solo lease break my-network --force --reason 'laptop lost with the lock'

Each cleared lease gets a Kubernetes Warning Event beside it (kubectl get events) naming you, the
holder you removed and your reason. The old holder's next renewal fails, and its state writes are
refused by fencing once someone else takes the lock.")]
    Break(BreakArgs),
}

/// `solo lease break`
#[derive(Debug, Args)]
pub struct BreakArgs {
    /// The deployment whose lock to break.
    #[command(flatten)]
    pub target: DeploymentArgs,
    /// Required: breaking a lock someone still uses lets two people change the network at once.
    #[arg(long)]
    pub force: bool,
    /// Why, recorded in the audit Event.
    #[arg(long, value_name = "TEXT", default_value = "no reason given")]
    pub reason: String,
}

/// `solo exec`
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The deployment to lock.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// Wait for the lock instead of failing: for ever, or at most this long (30s, 5m, 1h).
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "forever"
    )]
    pub wait: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
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

    /// Print the state of a deployment as stored in its clusters (reads every copy; no lock).
    #[command(after_help = "\
Examples:
  solo state show my-network
  solo state show my-network -o json

Exits 4 when the copies diverged or one is unreadable, with a per-cluster table and the repair
command. Copies behind (a write cut short) are shown from the newest, with a warning.")]
    Show(DeploymentArgs),

    /// Copy one cluster's state over every other copy, under the lock: the repair of diverged copies.
    #[command(after_help = "\
Example:
  solo state sync my-network --from cluster-1 --yes")]
    Sync(SyncArgs),
}

/// `solo state sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// The cluster ref whose copy is kept.
    #[arg(long, value_name = "REF")]
    pub from: String,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
