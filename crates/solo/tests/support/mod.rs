//! What the CLI end-to-end tests share: one user's solo (a private SOLO_HOME, the shared test
//! clusters' kubeconfig), fresh namespaces, and a deployment over two clusters.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use solo_testenv::TestEnv;

/// The Solo tool's own local config (schema 2, as its classes write it), placed in every test
/// user's SOLO_HOME: solo reads it and must leave it byte for byte as it was.
pub const SOLO_LOCAL_CONFIG: &str = include_str!("../fixtures/solo/local-config-v2.yaml");

/// One user's solo: a private SOLO_HOME and the shared clusters' kubeconfig.
pub struct User {
    pub home: PathBuf,
    pub email: String,
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl User {
    pub fn new(test: &str, email: &str) -> Self {
        let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("cli_e2e")
            .join(format!("{test}-{}-{email}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("SOLO_HOME");
        std::fs::write(home.join("local-config.yaml"), SOLO_LOCAL_CONFIG).expect("Solo's config");
        User {
            home,
            email: email.to_owned(),
        }
    }

    /// Checks that the Solo tool's local config is still byte for byte the one placed there.
    pub fn assert_solo_config_untouched(&self, after: &str) {
        let now = std::fs::read(self.home.join("local-config.yaml"));
        assert_eq!(
            now.as_deref().ok(),
            Some(SOLO_LOCAL_CONFIG.as_bytes()),
            "`solo {after}` changed the Solo tool's local-config.yaml"
        );
    }

    pub fn env(&self, cmd: &mut StdCommand) {
        cmd.env("SOLO_HOME", &self.home)
            .env("SOLO_USER_EMAIL", &self.email)
            .env("KUBECONFIG", TestEnv::shared().kubeconfig());
    }

    pub fn solo(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_solo"));
        cmd.env("SOLO_HOME", &self.home)
            .env("SOLO_USER_EMAIL", &self.email)
            .env("KUBECONFIG", TestEnv::shared().kubeconfig())
            .args(args);
        let out = cmd.output().expect("solo runs");
        self.assert_solo_config_untouched(&args.join(" "));
        Run::from(out)
    }

    /// Maps each cluster ref of `refs` to the kube context `context_of(ref)`.
    pub fn connect(&self, refs: &[&str], context_of: impl Fn(&str) -> String) {
        for r in refs {
            self.ok(&["cluster-ref", "connect", r, "--context", &context_of(r)]);
        }
    }

    /// `solo deployment create <deployment> --namespace <ns> --cluster-ref <ref>... <extra>...`.
    pub fn create(&self, deployment: &str, ns: &str, refs: &[&str], extra: &[&str]) -> Run {
        let mut args = vec!["deployment", "create", deployment, "--namespace", ns];
        for r in refs {
            args.extend(["--cluster-ref", r]);
        }
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.solo(args);
        assert_eq!(
            run.code,
            Some(0),
            "solo {args:?} failed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    }
}

/// A fresh scratch directory `<suite>/<test>` under the tests' temporary directory.
pub fn scratch(suite: &str, test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs solo offline in `dir` (also its HOME) with `solo_home`: no identity anywhere (no git
/// config either), a kubeconfig that does not exist, and a 100-column terminal.
pub fn offline(dir: &Path, solo_home: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_solo"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("SOLO_HOME", solo_home)
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("COLUMNS", "100")
        .args(args)
        .output()
        .expect("solo runs");
    Run::from(out)
}

/// A network namespace and a state namespace, fresh in every cluster.
pub fn namespaces(prefix: &str) -> (String, String) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let env = TestEnv::shared();
        (
            env.fresh_namespace(&format!("{prefix}-net")).await,
            env.fresh_namespace(&format!("{prefix}-st")).await,
        )
    })
}

/// `component add <deployment> consensus <node> --cluster-ref <cluster>`.
pub fn add_consensus<'a>(deployment: &'a str, node: &'a str, cluster: &'a str) -> [&'a str; 7] {
    [
        "component",
        "add",
        deployment,
        "consensus",
        node,
        "--cluster-ref",
        cluster,
    ]
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Checks that every lease of `deployment`'s lock is free, as `user` reads them.
pub fn assert_lock_free(user: &User, deployment: &str) {
    let leases = json(
        &user
            .ok(&["lease", "status", deployment, "-o", "json"])
            .stdout,
    );
    assert!(
        leases["leases"]
            .as_array()
            .expect("leases")
            .iter()
            .all(|l| l["state"] == "free"),
        "{leases}"
    );
}

/// Alice connects two cluster refs and creates a deployment over both.
/// Waits until `deployment`'s lock is held: every lease's holder in phase Held. A lease's "held"
/// state alone also shows while a request is still acquiring.
pub fn wait_until_held(user: &User, deployment: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leases = json(
            &user
                .ok(&["lease", "status", deployment, "-o", "json"])
                .stdout,
        );
        if leases["leases"]
            .as_array()
            .expect("leases")
            .iter()
            .all(|l| l["holder"]["phase"] == "held")
        {
            return leases;
        }
        assert!(
            Instant::now() < deadline,
            "the lock of {deployment} was never held"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn alice_with_a_deployment(test: &str, deployment: &str) -> (User, String, String) {
    let (ns, state_ns) = namespaces(test);
    let alice = User::new(test, "alice@example.com");
    alice.connect(&["cluster-1", "cluster-2"], str::to_owned);
    create_over_two_clusters(&alice, deployment, &ns, &state_ns);
    (alice, ns, state_ns)
}

/// `user` creates `deployment` over cluster-1 and cluster-2.
pub fn create_over_two_clusters(user: &User, deployment: &str, ns: &str, state_ns: &str) {
    user.create(
        deployment,
        ns,
        &["cluster-1", "cluster-2"],
        &["--state-namespace", state_ns],
    );
}

/// The admin runs `solo team setup` for `team` (group `group`) over cluster-1 and cluster-2:
/// its state namespace and one network namespace.
pub fn team_setup(admin: &User, team: &str, group: &str, state_ns: &str, ns: &str) -> Run {
    admin.ok(&[
        "team",
        "setup",
        team,
        "--group",
        group,
        "--state-namespace",
        state_ns,
        "--namespace",
        ns,
        "--cluster-ref",
        "cluster-1",
        "--cluster-ref",
        "cluster-2",
    ])
}

/// As the admin of `cluster`: a Role `name` in `ns` allowing `verbs` on core `resources`,
/// bound to `group`.
pub fn grant(cluster: &str, ns: &str, name: &str, group: &str, resources: &[&str], verbs: &[&str]) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::{Api, PostParams};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = TestEnv::shared().client(cluster).await;
        let role: Role = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}],
        }))
        .expect("role");
        let binding: RoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        }))
        .expect("binding");
        Api::<Role>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &role)
            .await
            .expect("role");
        Api::<RoleBinding>::namespaced(client, ns)
            .create(&PostParams::default(), &binding)
            .await
            .expect("binding");
    })
}
