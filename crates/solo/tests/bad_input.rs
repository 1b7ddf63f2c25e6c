//! The bad-input suite (issue #7): each case runs the `solo` binary as a user would, with one
//! thing wrong, and checks that it exits non-zero with one plain sentence (`error: ...`, plus at
//! most a `help: ...` line), never panics, and changes nothing: neither the local config nor the
//! deployment's state in the clusters, and its lock is left free. (A command that remembers the
//! lock free after its own release claims every Lease at once, beside its first requests: when
//! one cluster then refuses it, the claims that landed elsewhere are given back, which leaves
//! those Leases free at a higher epoch mark, and the memory under `$SOLO_HOME/solo-state-cache` follows.)
//!
//! Covered elsewhere, not repeated: an unknown context given to `cluster-ref connect`
//! (`cli_e2e::an_unmapped_ref_or_an_unknown_context_is_a_clear_error`), a damaged local config
//! (`cli_e2e::a_damaged_local_config_names_its_path`), `state validate` of a 10 MB file and of a
//! Latin-1 file (`cli_state::a_10_mb_file_is_refused_naming_the_limit`,
//! `cli_state::a_non_utf8_file_gets_one_clear_line`) and of the malformed corpus
//! (`cli_state::every_corpus_file_fails_cleanly_without_a_panic`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::Value;
use solo_testenv::TestEnv;

/// A user's solo: a private SOLO_HOME, with a deployment `bad-net` over cluster-1 and cluster-2
/// created through the real kubeconfig.
struct World {
    dir: PathBuf,
    home: PathBuf,
    ns: String,
    state_ns: String,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// What must not change: every file under SOLO_HOME but solo's memory (`solo-state-cache`), the state object of `bad-net`
/// in each cluster (by resourceVersion), and its Lease's holder (none).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    files: BTreeMap<PathBuf, Vec<u8>>,
    objects: Vec<(String, Option<String>, Option<String>)>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

impl World {
    fn new(test: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("bad_input")
            .join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("SOLO_HOME");
        let (ns, state_ns) = runtime().block_on(async {
            let env = TestEnv::shared();
            (
                env.fresh_namespace(&format!("{test}-net")).await,
                env.fresh_namespace(&format!("{test}-st")).await,
            )
        });
        let world = World {
            dir,
            home,
            ns,
            state_ns,
        };
        let real = TestEnv::shared().kubeconfig();
        for r in ["cluster-1", "cluster-2"] {
            world.ok(&real, &["cluster-ref", "connect", r, "--context", r]);
        }
        world.ok(
            &real,
            &[
                "deployment",
                "create",
                "bad-net",
                "--namespace",
                &world.ns,
                "--cluster-ref",
                "cluster-1",
                "--cluster-ref",
                "cluster-2",
                "--state-namespace",
                &world.state_ns,
            ],
        );
        world
    }

    fn solo_os(&self, kubeconfig: &Path, args: &[&OsStr], env: &[(&str, &OsStr)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_solo"));
        cmd.env("SOLO_HOME", &self.home)
            .env("SOLO_USER_EMAIL", "alice@example.com")
            .env("KUBECONFIG", kubeconfig)
            .env_remove("RUST_BACKTRACE")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = assert_cmd::Command::from_std(cmd)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("solo runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn solo(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.solo_os(kubeconfig, &args, &[])
    }

    fn ok(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let run = self.solo(kubeconfig, args);
        assert_eq!(run.code, Some(0), "solo {args:?}: {}", run.stderr);
        run
    }

    fn snapshot(&self) -> Snapshot {
        let mut files = BTreeMap::new();
        let mut dirs = vec![self.home.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read SOLO_HOME") {
                let path = entry.expect("entry").path();
                if path == self.home.join("solo-state-cache") {
                    continue;
                }
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.insert(path.clone(), std::fs::read(&path).expect("read"));
                }
            }
        }
        let objects = runtime().block_on(async {
            let mut objects = Vec::new();
            for cluster in ["cluster-1", "cluster-2"] {
                let client = TestEnv::shared().client(cluster).await;
                let secret = Api::<Secret>::namespaced(client.clone(), &self.state_ns)
                    .get_opt("bad-net")
                    .await
                    .expect("get the state");
                let lease = Api::<Lease>::namespaced(client, &self.ns)
                    .get_opt(&self.ns)
                    .await
                    .expect("get the lease");
                objects.push((
                    cluster.to_owned(),
                    secret.and_then(|s| s.metadata.resource_version),
                    lease.map(|l| {
                        let holder = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                        if holder.contains("\"released\":true") {
                            "free".to_owned()
                        } else {
                            holder
                        }
                    }),
                ));
            }
            objects
        });
        Snapshot { files, objects }
    }

    /// A kubeconfig file: the real one as JSON (which is YAML too), changed by `edit`.
    fn kubeconfig(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let real = kube::config::Kubeconfig::read_from(TestEnv::shared().kubeconfig())
            .expect("the real kubeconfig");
        let mut value = serde_json::to_value(&real).expect("as JSON");
        edit(&mut value);
        let path = self.dir.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(&value).expect("JSON")).expect("write");
        path
    }

    /// A file with these bytes.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

/// The named entry of a kubeconfig list (`clusters`, `users`, `contexts`).
fn entry<'a>(config: &'a mut Value, list: &str, name: &str) -> &'a mut Value {
    config[list]
        .as_array_mut()
        .expect("a list")
        .iter_mut()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

/// Exits non-zero (not a panic's 101), with stderr exactly `error: <one sentence>` and at most a
/// `help: ...` line, and nothing on stdout.
fn assert_clear(run: &Run, case: &str) -> String {
    let code = run
        .code
        .unwrap_or_else(|| panic!("{case}: killed by a signal"));
    assert!(
        code != 0 && code != 101,
        "{case}: exit {code}\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{case}: a panic\n{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "{case}: output on stdout");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let error = lines
        .first()
        .and_then(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("{case}: no `error:` line first\n{}", run.stderr));
    // A usage error (exit 2) from the argument parser ends with its usage lines.
    let usage = |l: &&str| {
        code == 2
            && (l.is_empty()
                || l.starts_with("Usage: ")
                || l.starts_with("  ")
                || l.starts_with("For more information, try"))
    };
    let rest: Vec<&str> = lines[1..].iter().copied().filter(|l| !usage(l)).collect();
    match rest.as_slice() {
        [] => {}
        [hint] => assert!(
            hint.starts_with("help: ") || hint.starts_with("  tip: "),
            "{case}: a second line that is not a hint\n{}",
            run.stderr
        ),
        _ => panic!("{case}: more than an error and a hint\n{}", run.stderr),
    }
    let chars: Vec<char> = error.trim_end_matches('.').chars().collect();
    let second_sentence = chars
        .windows(3)
        .any(|w| w[0] == '.' && w[1] == ' ' && w[2].is_uppercase());
    assert!(!second_sentence, "{case}: more than one sentence: {error}");
    error.to_owned()
}

/// Runs `args` with `kubeconfig`, checks a clear failure that mentions every one of `words`, and
/// that nothing changed.
fn refused(world: &World, kubeconfig: &Path, args: &[&str], words: &[&str]) {
    let before = world.snapshot();
    let run = world.solo(kubeconfig, args);
    let case = format!("solo {}", args.join(" "));
    let error = assert_clear(&run, &case);
    eprintln!(
        "{case}\n  -> {}",
        run.stderr.trim_end().replace('\n', "\n     ")
    );
    for word in words {
        assert!(
            run.stderr.contains(word),
            "{case}: does not say {word:?}\n{}",
            run.stderr
        );
    }
    assert_eq!(
        world.snapshot(),
        before,
        "{case} changed something: {error}"
    );
}

/// The commands that reach the deployment's clusters, each run against a broken kubeconfig.
fn every_cluster_command(world: &World, kubeconfig: &Path, words: &[&str]) {
    refused(world, kubeconfig, &["state", "show", "bad-net"], words);
    refused(world, kubeconfig, &["lease", "status", "bad-net"], words);
    refused(world, kubeconfig, &["exec", "bad-net", "--", "true"], words);
    refused(
        world,
        kubeconfig,
        &[
            "deployment",
            "create",
            "other-net",
            "--namespace",
            &world.ns,
            "--cluster-ref",
            "cluster-1",
            "--state-namespace",
            &world.state_ns,
        ],
        words,
    );
}

#[test]
fn a_malformed_kubeconfig_is_named_and_nothing_changes() {
    let world = World::new("bad-kubeconfig");
    let broken = world.file("broken.yaml", b"apiVersion: v1\nclusters: [\n  - name: x\n");
    let path = broken.display().to_string();
    every_cluster_command(&world, &broken, &[&path]);
    refused(
        &world,
        &broken,
        &[
            "cluster-ref",
            "connect",
            "cluster-1",
            "--context",
            "cluster-1",
        ],
        &[&path],
    );
    let shaped = world.file("shaped.yaml", b"apiVersion: v1\nclusters: 5\n");
    refused(
        &world,
        &shaped,
        &["state", "show", "bad-net"],
        &[&shaped.display().to_string()],
    );
}

#[test]
fn a_context_gone_from_the_kubeconfig_is_named() {
    let world = World::new("gone-context");
    let renamed = world.kubeconfig("renamed.yaml", |c| {
        entry(c, "contexts", "cluster-1")["name"] = "renamed".into();
    });
    every_cluster_command(
        &world,
        &renamed,
        &[
            "cluster-1",
            "not in your kubeconfig",
            "solo cluster-ref connect",
        ],
    );
}

#[test]
fn an_unreachable_server_is_named() {
    let world = World::new("unreachable");
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port();
    let down = world.kubeconfig("down.yaml", |c| {
        entry(c, "clusters", "cluster-1")["cluster"]["server"] =
            format!("https://127.0.0.1:{port}").into();
    });
    every_cluster_command(&world, &down, &["cluster-1", "cannot be reached"]);
}

#[test]
fn a_bad_token_is_named_as_such() {
    let world = World::new("bad-token");
    let bad = world.kubeconfig("token.yaml", |c| {
        c["users"]
            .as_array_mut()
            .expect("users")
            .push(serde_json::json!({"name": "wrong", "user": {"token": "not-a-valid-token"}}));
        entry(c, "contexts", "cluster-1")["context"]["user"] = "wrong".into();
    });
    every_cluster_command(&world, &bad, &["cluster-1", "credentials"]);
}

#[test]
fn a_wrong_certificate_authority_is_named_as_such() {
    let world = World::new("wrong-ca");
    let key = world.dir.join("other-ca.key");
    let cert = world.dir.join("other-ca.crt");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=not-the-cluster-ca"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes another CA");
    assert!(status.status.success(), "{status:?}");
    let pem = std::fs::read(&cert).expect("the CA");
    let wrong = world.kubeconfig("wrong-ca.yaml", |c| {
        entry(c, "clusters", "cluster-1")["cluster"]["certificate-authority-data"] =
            base64(&pem).into();
    });
    every_cluster_command(&world, &wrong, &["cluster-1", "certificate"]);
}

#[test]
fn invalid_deployment_and_cluster_ref_names_change_nothing() {
    let world = World::new("bad-names");
    let real = TestEnv::shared().kubeconfig();
    let long = "a".repeat(64);
    for name in ["Bad_Net", "net-", "net.work", long.as_str(), ""] {
        refused(
            &world,
            &real,
            &[
                "deployment",
                "create",
                name,
                "--namespace",
                &world.ns,
                "--cluster-ref",
                "cluster-1",
                "--state-namespace",
                &world.state_ns,
            ],
            &["deployment name"],
        );
        for args in [
            vec!["state", "show", name],
            vec!["lease", "status", name],
            vec!["exec", name, "--", "true"],
        ] {
            refused(&world, &real, &args, &[]);
        }
    }
    for r in ["Cluster_1", "cluster 1", "c-", long.as_str()] {
        refused(
            &world,
            &real,
            &["cluster-ref", "connect", r, "--context", "cluster-1"],
            &["cluster ref"],
        );
        refused(
            &world,
            &real,
            &[
                "deployment",
                "create",
                "fine-net",
                "--namespace",
                &world.ns,
                "--cluster-ref",
                r,
                "--state-namespace",
                &world.state_ns,
            ],
            &["cluster ref"],
        );
    }
}

#[test]
fn non_utf8_input_and_a_10_mb_kubeconfig_change_nothing() {
    let world = World::new("non-utf8");
    let real = TestEnv::shared().kubeconfig();
    let latin1 = OsStr::from_bytes(b"r\xe9seau");
    let cases: Vec<(&str, Vec<&OsStr>)> = vec![
        (
            "a deployment name",
            vec![OsStr::new("state"), OsStr::new("show"), latin1],
        ),
        (
            "a command line",
            vec![
                OsStr::new("exec"),
                OsStr::new("bad-net"),
                OsStr::new("--"),
                OsStr::new("echo"),
                latin1,
            ],
        ),
    ];
    for (what, args) in cases {
        let before = world.snapshot();
        let run = world.solo_os(&real, &args, &[]);
        assert_clear(&run, what);
        eprintln!(
            "{what}\n  -> {}",
            run.stderr.trim_end().replace('\n', "\n     ")
        );
        assert_eq!(world.snapshot(), before, "{what} changed something");
    }

    // An identity that is not text must not fall back silently to the saved one.
    let before = world.snapshot();
    let run = world.solo_os(
        &real,
        &[
            OsStr::new("exec"),
            OsStr::new("bad-net"),
            OsStr::new("--"),
            OsStr::new("true"),
        ],
        &[("SOLO_USER_EMAIL", latin1)],
    );
    let message = assert_clear(&run, "a non-UTF-8 SOLO_USER_EMAIL");
    assert!(message.contains("SOLO_USER_EMAIL"), "{message}");
    assert_eq!(
        world.snapshot(),
        before,
        "a non-UTF-8 identity changed something"
    );

    let mut bytes = std::fs::read(&real).expect("the real kubeconfig");
    bytes.extend_from_slice(b"\n# r\xe9seau\n");
    let kubeconfig = world.file("latin1.yaml", &bytes);
    refused(
        &world,
        &kubeconfig,
        &["state", "show", "bad-net"],
        &[&kubeconfig.display().to_string()],
    );

    let huge = world.file("huge.yaml", &b"#".repeat(10 * 1024 * 1024));
    refused(&world, &huge, &["state", "show", "bad-net"], &[]);
}

/// Standard base64 with padding (the kubeconfig's `certificate-authority-data`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_lease_duration_from_the_environment_that_is_not_one_is_named_and_nothing_changes() {
    let world = World::new("lease-seconds");
    let real = TestEnv::shared().kubeconfig();
    let args = [
        OsStr::new("exec"),
        OsStr::new("bad-net"),
        OsStr::new("--"),
        OsStr::new("true"),
    ];
    for value in ["0", "three", "-3"] {
        let before = world.snapshot();
        let run = world.solo_os(
            &real,
            &args,
            &[("SOLO_LOCK_LEASE_SECONDS", OsStr::new(value))],
        );
        let message = assert_clear(&run, &format!("SOLO_LOCK_LEASE_SECONDS={value:?}"));
        assert!(message.contains("SOLO_LOCK_LEASE_SECONDS"), "{message}");
        assert_eq!(
            world.snapshot(),
            before,
            "SOLO_LOCK_LEASE_SECONDS={value:?} changed something"
        );
    }
    let run = world.solo_os(
        &real,
        &args,
        &[("SOLO_LOCK_LEASE_SECONDS", OsStr::new("3"))],
    );
    assert_eq!(run.code, Some(0), "a 3 s lease: {}", run.stderr);
}
