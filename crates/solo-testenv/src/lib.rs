//! Test support for end-to-end tests against real Kubernetes API servers.
//!
//! The clusters come from `testenv/` (upstream kube-apiserver and etcd, built from Go modules). A test
//! run shares one environment: `make test` starts it and names it in `SOLO_TESTENV_DIR`; without that
//! variable the first test starts one itself in `target/testenv-shared` and leaves it running for the
//! next run. Tests that stop clusters take a [`TestEnv::private`] environment of their own, so they never
//! disturb the tests running beside them.
//!
//! Every cluster is reached through its link, a Toxiproxy proxy that [`TestEnv::link`] makes slow,
//! black-holed or resetting while the clusters run; put faults on links only in a private environment.
//!
//! Nothing here skips: if the clusters cannot start, the test panics with the launcher's error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Deserialize;

/// The number of clusters of the shared environment.
pub const SHARED_CLUSTERS: usize = 3;

/// A running environment of real clusters, as described by its `env.json`.
#[derive(Debug)]
pub struct TestEnv {
    dir: PathBuf,
    clusters: Vec<ClusterInfo>,
    users: Vec<UserInfo>,
    /// A private environment is removed when dropped; the shared one is not.
    owned: bool,
}

/// One cluster (one kube-apiserver) of the environment.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterInfo {
    /// The cluster's name, also its admin context's name: `cluster-1`, `cluster-2`, ...
    pub name: String,
    /// The URL clients use (the kubeconfig's): the cluster's link, which [`TestEnv::link`] changes.
    pub server: String,
    /// The API server's own URL, bypassing the link (empty for an environment made before links).
    #[serde(default, rename = "directServer")]
    pub direct_server: String,
}

/// A static-token user of the environment.
#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    /// `admin`, `alice`, `bob` or `carol`.
    pub name: String,
    /// The bearer token (tests use it to build a deliberately wrong kubeconfig, for example).
    pub token: String,
    /// The groups the API server puts the user in (`team-a`, `team-b`, `system:masters`).
    pub groups: Vec<String>,
}

#[derive(Deserialize)]
struct EnvFile {
    clusters: Vec<ClusterInfo>,
    users: Vec<UserInfo>,
}

impl TestEnv {
    /// The environment shared by every test of this run (3 clusters), started on first use.
    pub fn shared() -> &'static TestEnv {
        static SHARED: OnceLock<TestEnv> = OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = match std::env::var_os("SOLO_TESTENV_DIR") {
                Some(dir) => PathBuf::from(dir),
                None => {
                    let dir = workspace_root().join("target/testenv-shared");
                    launch(&["up", "--clusters", &SHARED_CLUSTERS.to_string()], &dir);
                    dir
                }
            };
            TestEnv::attach(&dir, false)
        })
    }

    /// A new environment of `clusters` clusters for this test alone, removed when dropped.
    pub fn private(clusters: usize) -> TestEnv {
        let dir = workspace_root()
            .join("target/testenv-private")
            .join(uuid::Uuid::new_v4().simple().to_string());
        launch(&["up", "--clusters", &clusters.to_string()], &dir);
        TestEnv::attach(&dir, true)
    }

    fn attach(dir: &Path, owned: bool) -> TestEnv {
        let path = dir.join("env.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no test environment at {}: {e}; run `make sandbox` or `make test`",
                path.display()
            )
        });
        let file: EnvFile = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is damaged: {e}", path.display()));
        TestEnv {
            dir: dir.to_path_buf(),
            clusters: file.clusters,
            users: file.users,
            owned,
        }
    }

    /// The kubeconfig with a context per (cluster, user): `cluster-1`, `alice@cluster-1`, ...
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The same contexts as [`TestEnv::kubeconfig`], reaching each cluster directly, not through its
    /// link: a client that must not see the faults put on the links.
    pub fn direct_kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig-direct")
    }

    /// The clusters, in order.
    pub fn clusters(&self) -> &[ClusterInfo] {
        &self.clusters
    }

    /// The users, with their tokens and groups.
    pub fn users(&self) -> &[UserInfo] {
        &self.users
    }

    /// A client for one context of the kubeconfig, e.g. `cluster-2` or `bob@cluster-1`.
    pub async fn client(&self, context: &str) -> Client {
        let kubeconfig =
            Kubeconfig::read_from(self.kubeconfig()).expect("read the test kubeconfig");
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap_or_else(|e| panic!("context {context}: {e}"));
        Client::try_from(config).expect("build a client")
    }

    /// Creates a namespace with a fresh name, the same in every cluster, and returns its name.
    pub async fn fresh_namespace(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        for cluster in &self.clusters {
            let namespaces: Api<Namespace> = Api::all(self.client(&cluster.name).await);
            let ns = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            namespaces
                .create(&PostParams::default(), &ns)
                .await
                .unwrap_or_else(|e| panic!("create namespace {name} in {}: {e}", cluster.name));
        }
        name
    }

    /// Stops one cluster's API server at once (in-flight requests fail); its data stays.
    pub fn stop(&self, cluster: &str) {
        launch(&["stop", "--cluster", cluster], &self.dir);
    }

    /// Starts a stopped cluster again on the same port with the same data, and waits until it is ready.
    pub fn start(&self, cluster: &str) {
        launch(&["start", "--cluster", cluster], &self.dir);
    }

    /// The link between solo and one cluster (`cluster-2` or `2`), to make it slow or failing.
    pub fn link(&self, cluster: &str) -> Link<'_> {
        Link {
            env: self,
            cluster: cluster.to_string(),
        }
    }

    /// Puts a region profile on the links: cluster `i` gets the `i`-th added round-trip time.
    pub fn region_profile(&self, round_trips: &[Duration]) {
        for (cluster, rtt) in self.clusters.iter().zip(round_trips) {
            self.link(&cluster.name).latency(*rtt);
        }
    }
}

/// The link to one cluster of an environment: every change applies at once, to open connections too,
/// and stays until [`Link::clear`].
pub struct Link<'a> {
    env: &'a TestEnv,
    cluster: String,
}

impl Link<'_> {
    fn set(&self, flags: &[&str]) {
        let mut args = vec!["link", "--cluster", &self.cluster];
        args.extend_from_slice(flags);
        launch(&args, &self.env.dir);
    }

    /// Adds `rtt` to every round trip (half on the way there, half on the way back).
    pub fn latency(&self, rtt: Duration) {
        self.set(&["--latency", &format!("{}ms", rtt.as_millis())])
    }

    /// Adds `rtt` give or take `jitter` to every round trip.
    pub fn latency_jitter(&self, rtt: Duration, jitter: Duration) {
        self.set(&[
            "--latency",
            &format!("{}ms", rtt.as_millis()),
            "--jitter",
            &format!("{}ms", jitter.as_millis()),
        ])
    }

    /// Limits each direction to `kb_per_sec` KB/s.
    pub fn bandwidth(&self, kb_per_sec: u32) {
        self.set(&["--bandwidth", &kb_per_sec.to_string()])
    }

    /// Accepts connections and requests and never answers (open connections hang too).
    pub fn blackhole(&self) {
        self.set(&["--blackhole"])
    }

    /// Resets every connection as soon as it sends data (new and open ones).
    pub fn reset(&self) {
        self.set(&["--reset"])
    }

    /// Removes every fault: a plain link again.
    pub fn clear(&self) {
        self.set(&["--clear"])
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.owned {
            let _ = run_launcher(&["down"], &self.dir);
        }
    }
}

/// The path of the testenv launcher binary, built on first use.
pub fn launcher() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SOLO_TESTENV_BIN") {
            return PathBuf::from(bin);
        }
        let script = workspace_root().join("testenv/testenv.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("--print-path")
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "building the testenv launcher failed (see the lines above)"
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

fn launch(args: &[&str], dir: &Path) {
    if let Err(message) = run_launcher(args, dir) {
        panic!("real clusters are needed and could not be provided: {message}");
    }
}

fn run_launcher(args: &[&str], dir: &Path) -> Result<(), String> {
    let (command, rest) = args.split_first().expect("a launcher command");
    let out = Command::new(launcher())
        .arg(command)
        .arg("--dir")
        .arg(dir)
        .args(rest)
        .output()
        .map_err(|e| format!("run the testenv launcher: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`testenv {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}
