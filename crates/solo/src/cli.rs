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
  130  interrupted (Ctrl-C or SIGTERM) while waiting for the lock or a question; nothing is held
`solo exec` exits with its command's own code once the command ran (128+N if a signal N ended it).

Environment: SOLO_HOME (config directory, default ~/.solo), SOLO_USER_EMAIL (who you are),
KUBECONFIG (kube contexts; a list of files is merged as kubectl merges it).";

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Who you are (recorded on every lease and write); else SOLO_USER_EMAIL, your local config,
    /// git's user.email, or asked once on a terminal.
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
    /// Set up your local config: who you are (recorded on every lease and write). Safe to rerun.
    #[command(after_help = "\
Examples:
  solo init --email alice@example.com
  solo init            # takes SOLO_USER_EMAIL or git's user.email, else asks on a terminal

Writes $SOLO_HOME/solo-state-config.yaml (default ~/.solo). Running it again keeps the cluster refs
and deployments already there; a different --email replaces the identity.")]
    Init,
    /// Map the cluster refs of deployments to your own kube contexts.
    #[command(subcommand, name = "cluster-ref")]
    ClusterRef(ClusterRefCommand),
    /// Create, list, show and delete deployments (networks) and their state in the clusters.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Read, check, convert and repair solo state documents.
    #[command(subcommand)]
    State(StateCommand),
    /// Record the components of a network (consensus nodes, proxies, mirror, explorer, relays).
    #[command(subcommand)]
    Component(ComponentCommand),
    /// See who holds the lock of a deployment; hold it across commands; break it.
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
    /// Every write and `solo exec` run under the lock of a deployment, oldest first.
    #[command(after_help = "\
Examples:
  solo history my-network
  solo history my-network -o json
  solo history export my-network --script > replay.sh")]
    History(HistoryArgs),
    /// Team access control: the RBAC objects that give a team its deployments (docs/teams.md).
    #[command(subcommand)]
    Team(TeamCommand),
    /// The network's endpoints across clusters, genesis-network.json and the address book.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  solo completions bash > ~/.local/share/bash-completion/completions/solo
  solo completions zsh > \"${fpath[1]}/_solo\"
  solo completions fish > ~/.config/fish/completions/solo.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = "\
Examples:
  solo man | man -l -
  solo man --dir ./man   # solo.1, solo-state-show.1, ...")]
    Man(ManArgs),
}

/// `solo completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `solo man`
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write solo.1 and one page per subcommand here instead of printing solo.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `solo component ...`
#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Add a component to a deployment's state, under its lock; the state is validated first.
    #[command(after_help = "\
Examples:
  solo component add my-network consensus node1 --cluster-ref cluster-1
  solo component add my-network haproxy haproxy-node1 --cluster-ref cluster-1 --consensus-node node1
  solo component add my-network relay relay-1 --cluster-ref cluster-2 --consensus-node node1 --consensus-node node2
  solo component add my-network mirror mirror-1 --cluster-ref cluster-2 --namespace my-net

The namespace defaults to the deployment's namespace in that cluster, and the cluster ref to the
deployment's only cluster. Proxies (haproxy, envoy-proxy) serve exactly one consensus node,
relays one or more. Nothing is written when the result is not valid: every problem is listed
with its path.")]
    Add(ComponentAddArgs),
    /// Remove a component from a deployment's state, under its lock.
    #[command(after_help = "\
Examples:
  solo component remove my-network haproxy haproxy-node1
  solo component remove my-network consensus node1   # refused while a proxy or relay serves it")]
    Remove(ComponentRemoveArgs),
    /// List the components of a deployment (reads the state; no lock).
    #[command(after_help = "\
Examples:
  solo component list my-network
  solo component list my-network -o json")]
    List(DeploymentArgs),
}

/// The kinds of component, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A consensus node.
    Consensus,
    /// HAProxy in front of one consensus node.
    Haproxy,
    /// Envoy proxy in front of one consensus node.
    #[value(name = "envoy-proxy", alias = "envoyProxy")]
    EnvoyProxy,
    /// A mirror node.
    Mirror,
    /// A mirror node explorer.
    #[value(name = "mirror-node-explorer", alias = "explorer")]
    MirrorNodeExplorer,
    /// A JSON-RPC relay serving one or more consensus nodes.
    Relay,
}

/// `solo component add`
#[derive(Debug, Args)]
pub struct ComponentAddArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// The kind of component.
    #[arg(value_enum, value_name = "KIND")]
    pub kind: Kind,
    /// Its name, unique among the components of its kind.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The cluster it runs in (default: the deployment's only cluster).
    #[arg(long = "cluster-ref", value_name = "REF")]
    pub cluster_ref: Option<String>,
    /// The namespace it runs in (default: the deployment's namespace in that cluster).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// The consensus node it serves (proxies: exactly one; relays: repeat for several).
    #[arg(long = "consensus-node", value_name = "NODE")]
    pub consensus_nodes: Vec<String>,
    /// Wait for the lock instead of failing: for ever, or at most this long (30s, 5m).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "forever")]
    pub wait: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// `solo component remove`
#[derive(Debug, Args)]
pub struct ComponentRemoveArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// The kind of component.
    #[arg(value_enum, value_name = "KIND")]
    pub kind: Kind,
    /// Its name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Wait for the lock instead of failing: for ever, or at most this long (30s, 5m).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "forever")]
    pub wait: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
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

The namespace must exist in every cluster. The state namespace (solo-<team> with --team, else
solo-system) is created where it is missing and you may create namespaces; where you may not, an
admin creates it (`solo team setup`). Every cluster ref must be connected (`solo cluster-ref connect`).")]
    Create(CreateArgs),
    /// List the deployments found in your connected clusters (without reading their state).
    #[command(after_help = "\
Examples:
  solo deployment list
  solo deployment list --state-namespace team-a-state -o json")]
    List(ListArgs),
    /// Show a deployment: per cluster, its copy's serial, fencing epoch, sync state and lock holder.
    #[command(after_help = "Example:\n  solo deployment show my-network -o yaml")]
    Show(DeploymentArgs),
    /// Delete a deployment's state, history and leases from every one of its clusters, under its lock.
    #[command(after_help = "\
Examples:
  solo deployment delete my-network          # asks first on a terminal
  solo deployment delete my-network --yes    # for scripts

The network itself (its namespace and workloads) is left alone: only what solo keeps is removed,
and the deployment is forgotten by your local config. Without a terminal, --yes is required.")]
    Delete(DeploymentArgs),
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
    /// Where the state is kept in every cluster (default: solo-<team> with --team, else
    /// solo-system); created when missing and you may create namespaces.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

impl CreateArgs {
    /// The state namespace: as given, else the team's (`solo-<team>`), else the default.
    pub fn state_namespace(&self) -> String {
        match (&self.state_namespace, &self.team) {
            (Some(ns), _) => ns.clone(),
            (None, Some(team)) => solo_kube::team_state_namespace(team),
            (None, None) => solo_kube::DEFAULT_STATE_NAMESPACE.to_owned(),
        }
    }
}

/// `solo deployment list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Look only in this state namespace (default: solo-system and those of known deployments).
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// `solo history <deployment>`, or `solo history export ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HistoryArgs {
    /// What to do with the history (default: list it).
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT", required = true)]
    pub deployment: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// `solo history ...`
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Print the recorded commands, oldest first, as a shell script to run against another deployment.
    #[command(after_help = "\
Example:
  solo history export my-network --script > replay.sh
  DEPLOYMENT=other-network sh replay.sh

Each command is preceded by a comment saying who ran it, when, how it ended and how long it
took. The deployment's name is replaced by $DEPLOYMENT, and `solo` by $SOLO (default solo).")]
    Export(ExportArgs),
}

/// `solo history export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The deployment whose history to export.
    #[command(flatten)]
    pub target: DeploymentArgs,
    /// Export as a shell script (the one format for now).
    #[arg(long, required = true)]
    pub script: bool,
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
    /// Take the lock and keep it after solo exits, for a time you give: for a session of work.
    #[command(after_help = "\
Examples:
  solo lease acquire my-network --for 30m
  solo lease acquire my-network --for 2h --wait=10m

The leases are held in your name for --for (default 10m) without any process renewing them;
`solo lease renew` extends them and `solo lease release` frees them. Meanwhile your own writes
(`solo exec`, `solo component`, `solo state apply|edit`) run under this lock instead of taking
it again, and `solo exec` keeps it renewed while its command runs. Others are told who holds it
and until when, as with any lock. The lease is recorded in your local config ($SOLO_HOME).")]
    Acquire(AcquireArgs),
    /// Extend the lock you took with `solo lease acquire`.
    #[command(after_help = "\
Examples:
  solo lease renew my-network            # another --for as given to acquire
  solo lease renew my-network --for 1h   # from now on")]
    Renew(RenewArgs),
    /// Free the lock you took with `solo lease acquire`.
    #[command(after_help = "Example:\n  solo lease release my-network")]
    Release(DeploymentArgs),
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

/// `solo lease acquire`
#[derive(Debug, Args)]
pub struct AcquireArgs {
    /// The deployment whose lock to take.
    #[command(flatten)]
    pub target: DeploymentArgs,
    /// How long to hold it (1m .. 24h), e.g. 30m.
    #[arg(long = "for", value_name = "DURATION", default_value = "10m")]
    pub hold_for: String,
    /// Wait for the lock instead of failing: for ever, or at most this long (30s, 5m).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "forever")]
    pub wait: Option<String>,
}

/// `solo lease renew`
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The deployment whose lock you hold.
    #[command(flatten)]
    pub target: DeploymentArgs,
    /// How long from now (default: the duration given to acquire).
    #[arg(long = "for", value_name = "DURATION")]
    pub hold_for: Option<String>,
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

    /// Print the JSON Schema of the state document, for editors and other tools (works offline).
    #[command(after_help = "\
Example:
  solo state schema > ~/.config/solo/state.schema.json

Then put this first line in a state file you edit, and an editor that uses yaml-language-server
(VS Code's YAML extension, Neovim, Helix...) checks and completes its fields:
  # yaml-language-server: $schema=/home/me/.config/solo/state.schema.json")]
    Schema,

    /// Turn the legacy single-user ~/.solo/solo.config into a state document.
    #[command(after_help = "\
Examples:
  solo state import-legacy --file ~/.solo/solo.config --email alice@example.com
  SOLO_USER_EMAIL=alice@example.com solo state import-legacy --file ~/.solo/solo.config --out my-network.yaml

The deployment is named after flags.deployment, else flags.namespace (or --name). The kube context
of flags.cluster-name becomes a cluster ref; flags.node-ids become the consensus nodes. Every other
flag is listed as a warning and not kept. Works offline; nothing is written to a cluster.")]
    ImportLegacy(ImportLegacyArgs),

    /// Take over a network that the Solo tool (@hiero-ledger/solo) deployed: read its remote
    /// config from every cluster and create this tool's state under the lock, without redeploying.
    #[command(after_help = "\
Examples:
  solo state import-solo solo-deployment --dry-run
  solo state import-solo solo-deployment --yes
  solo state import-solo my-net --namespace solo --cluster-ref cluster-a --state-namespace solo-system

Reads the ConfigMap solo-remote-config (key remote-config-data) in the network's namespace of every
cluster the remote config names (schema versions 1 to 8), and refuses copies that differ (pick one
with --from). The namespace and first cluster refs come from Solo's ~/.solo/local-config.yaml when
it knows the deployment. Consensus nodes, HAProxy and Envoy proxies, mirror nodes, explorers and
relays are imported; block nodes, postgres and redis are listed as not imported. Solo's command
history is added to the history archives. Solo's files and ConfigMaps are never changed.")]
    ImportSolo(ImportSoloArgs),

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

    /// Store an older state's migration to the current schema, under the lock, keeping the old
    /// document as a backup object.
    #[command(after_help = "\
Example:
  solo state migrate my-network --yes

Reads migrate an older schema in memory anyway, and the next locked write stores it; this does
it now. The old document is kept in every cluster as Secret <deployment>-backup-<version>.")]
    Migrate(MigrateArgs),

    /// Show what `solo state apply --file` would change (reads the state; no lock).
    #[command(after_help = "\
Examples:
  solo state show my-network > net.yaml; $EDITOR net.yaml; solo state diff my-network --file net.yaml

Prints a unified diff of the canonical YAML (stored → file). Exits 0 with or without changes,
1 when the file is not a valid state of this deployment.")]
    Diff(StateFileArgs),

    /// Write a state document into every cluster of a deployment, under its lock.
    #[command(after_help = "\
Examples:
  solo state apply my-network --file net.yaml          # shows the diff, asks on a terminal
  solo state apply my-network --file net.yaml --yes    # for scripts

The file is validated first (every problem with its path; nothing written). Its metadata
(last writer, time) and cli.history are solo's: they are set for you. Clusters cannot be added
or removed this way.")]
    Apply(StateFileArgs),

    /// Edit the state in $EDITOR (VISUAL, EDITOR, else vi), then write it under the lock.
    #[command(after_help = "\
Examples:
  solo state edit my-network
  EDITOR='code --wait' solo state edit my-network

The lock is taken before the editor opens, so nobody changes the state meanwhile. An invalid
result reopens the editor with the problems on a terminal, and is refused otherwise.")]
    Edit(StateEditArgs),
}

/// `solo state diff|apply`
#[derive(Debug, Args)]
pub struct StateFileArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// The state document (YAML).
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: PathBuf,
    /// Wait for the lock instead of failing: for ever, or at most this long (30s, 5m).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "forever")]
    pub wait: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// `solo state edit`
#[derive(Debug, Args)]
pub struct StateEditArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// Wait for the lock instead of failing: for ever, or at most this long (30s, 5m).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "forever")]
    pub wait: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
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

/// `solo state import-solo`
#[derive(Debug, Args)]
pub struct ImportSoloArgs {
    /// The deployment, as the Solo tool names it.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// The network's namespace (default: from Solo's local config).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// A cluster to read Solo's remote config from (repeat; default: from Solo's local config).
    #[arg(long = "cluster-ref", value_name = "REF")]
    pub cluster_refs: Vec<String>,
    /// Use this cluster's copy when the copies differ.
    #[arg(long, value_name = "REF")]
    pub from: Option<String>,
    /// Where the state is kept in every cluster.
    #[arg(long, value_name = "NS", default_value = solo_kube::DEFAULT_STATE_NAMESPACE)]
    pub state_namespace: String,
    /// The team that owns it.
    #[arg(long, value_name = "TEAM")]
    pub team: Option<String>,
    /// Print the state that would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `solo state migrate`
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The deployment.
    #[command(flatten)]
    pub target: DeploymentArgs,
}

/// `solo team ...`
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Apply (or print) the RBAC objects of a team: its state namespace and its leases only for
    /// its group; the list of deployments for everyone.
    #[command(after_help = "\
Examples:
  solo team setup team-a --group team-a --namespace net-a --cluster-ref cluster-1 --cluster-ref cluster-2
  solo team setup team-a --group team-a --namespace net-a --print > team-a.yaml

Run it as a cluster admin (cluster refs connected to admin contexts). Team members then create
deployments with --team team-a --state-namespace solo-team-a. See docs/teams.md.")]
    Setup(TeamSetupArgs),
}

/// `solo team setup`
#[derive(Debug, Args)]
pub struct TeamSetupArgs {
    /// The team (the label on its deployments).
    #[arg(value_name = "TEAM")]
    pub team: String,
    /// The Kubernetes group of its members (default: the team's name).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Where its states are kept (default: solo-<team>).
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
    /// A network namespace of its deployments, where their leases live (repeat for several).
    #[arg(long = "namespace", short = 'n', value_name = "NS")]
    pub namespaces: Vec<String>,
    /// A cluster to apply the objects to (repeat for several).
    #[arg(long = "cluster-ref", value_name = "REF")]
    pub cluster_refs: Vec<String>,
    /// Print the objects (YAML, or JSON with -o json) instead of applying them.
    #[arg(long)]
    pub print: bool,
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

/// `solo network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Resolve each consensus node's gossip and gRPC endpoints from its Service; record or check them.
    #[command(after_help = "\
Examples:
  solo network endpoints my-network
  solo network endpoints my-network --record
  solo network endpoints my-network --check      # exit 4 with a per-node table on drift
  solo network endpoints my-network --wait=2m --record

Each node's Service network-<node>-svc in its cluster gives its address: a LoadBalancer ingress
(hostname, else IP), else network-<node>-svc.<ns>.svc.clusterset.local for a cluster reached
through `clusterset`, else the ClusterIP when the network has one cluster, else the node's DNS
name for a `flat` cluster. A node of a multi-cluster network with none of these is an error.")]
    Endpoints(NetworkEndpointsArgs),
    /// Print genesis-network.json (Solo's shape) from the recorded endpoints.
    #[command(after_help = "\
Examples:
  solo network genesis my-network > genesis-network.json")]
    Genesis(NetworkReadArgs),
    /// Print the address book: the NodeAddressBook protobuf, its JSON, or config.txt.
    #[command(
        name = "address-book",
        after_help = "\
Examples:
  solo network address-book my-network --format json
  solo network address-book my-network --format proto > addressbook.bin
  solo network address-book my-network --format config-txt --release-tag v0.58.5"
    )]
    AddressBook(NetworkAddressBookArgs),
    /// Print or apply a ServiceExport (multicluster.x-k8s.io) per node Service, for `clusterset`.
    #[command(after_help = "\
Examples:
  solo network export my-network --print
  solo network export my-network --apply")]
    Export(NetworkExportArgs),
}

/// `solo network endpoints`
#[derive(Debug, Args)]
pub struct NetworkEndpointsArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// Write the resolved endpoints into the state, under the lock.
    #[arg(long, conflicts_with = "check")]
    pub record: bool,
    /// Compare the recorded endpoints with the live ones; exit 4 when they differ.
    #[arg(long)]
    pub check: bool,
    /// Wait for pending LoadBalancer addresses: up to 5m, or at most this long (30s, 2m).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "5m")]
    pub wait: Option<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// A network command that only reads the state.
#[derive(Debug, Args)]
pub struct NetworkReadArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// A node's gossip certificate (PEM), as NODE=PATH, instead of its Secret; repeat per node.
    #[arg(long = "gossip-cert", value_name = "NODE=PATH")]
    pub gossip_certs: Vec<String>,
    /// A node's TLS certificate (PEM), as NODE=PATH, instead of its Secret; repeat per node.
    #[arg(long = "tls-cert", value_name = "NODE=PATH")]
    pub tls_certs: Vec<String>,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}

/// `solo network address-book`
#[derive(Debug, Args)]
pub struct NetworkAddressBookArgs {
    /// The deployment and certificates.
    #[command(flatten)]
    pub read: NetworkReadArgs,
    /// What to print.
    #[arg(long, value_enum, default_value_t = AddressBookFormat::Json)]
    pub format: AddressBookFormat,
    /// The platform release of the nodes (config-txt only; config.txt exists up to v0.70).
    #[arg(long, value_name = "TAG")]
    pub release_tag: Option<String>,
    /// The chain id written in config.txt.
    #[arg(long, value_name = "ID", default_value_t = 298)]
    pub chain_id: u64,
}

/// Address book formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AddressBookFormat {
    /// The NodeAddressBook protobuf, binary.
    Proto,
    /// The NodeAddressBook as JSON.
    Json,
    /// config.txt lines (platform v0.70 and older).
    ConfigTxt,
}

/// `solo network export`
#[derive(Debug, Args)]
pub struct NetworkExportArgs {
    /// The deployment.
    #[arg(value_name = "DEPLOYMENT")]
    pub deployment: String,
    /// Print the ServiceExports as YAML.
    #[arg(long, conflicts_with = "apply", required_unless_present = "apply")]
    pub print: bool,
    /// Apply them, each in its node's cluster and namespace.
    #[arg(long)]
    pub apply: bool,
    /// Where its state is kept, when your local config does not know the deployment yet.
    #[arg(long, value_name = "NS")]
    pub state_namespace: Option<String>,
}
