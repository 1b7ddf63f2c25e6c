//! `solo history` (R10) against the real shared test clusters: commands run with `solo exec` by
//! two users are listed in order, with who ran them and their results.

use std::path::PathBuf;

use assert_cmd::Command;
use solo_testenv::TestEnv;

struct User {
    home: PathBuf,
    email: String,
}

impl User {
    fn new(test: &str, email: &str) -> Self {
        let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("cli_history")
            .join(format!("{test}-{}-{email}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("SOLO_HOME");
        User {
            home,
            email: email.to_owned(),
        }
    }

    /// Runs solo: its exit code, stdout and stderr.
    fn solo(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_solo"))
            .env("SOLO_HOME", &self.home)
            .env("SOLO_USER_EMAIL", &self.email)
            .env("KUBECONFIG", TestEnv::shared().kubeconfig())
            .args(args)
            .output()
            .expect("solo runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.solo(args);
        assert_eq!(code, Some(0), "solo {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    fn connect(&self) {
        for r in ["cluster-1", "cluster-2"] {
            self.ok(&["cluster-ref", "connect", r, "--context", r]);
        }
    }
}

#[test]
fn two_users_exec_runs_are_listed_in_order_with_their_results() {
    let (ns, state_ns) = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let env = TestEnv::shared();
            (
                env.fresh_namespace("hist-net").await,
                env.fresh_namespace("hist-st").await,
            )
        });
    let alice = User::new("history", "alice@example.com");
    alice.connect();
    alice.ok(&[
        "deployment",
        "create",
        "hist-net",
        "--namespace",
        &ns,
        "--cluster-ref",
        "cluster-1",
        "--cluster-ref",
        "cluster-2",
        "--state-namespace",
        &state_ns,
    ]);
    let empty: serde_json::Value =
        serde_json::from_str(&alice.ok(&["history", "hist-net", "-o", "json"])).expect("json");
    assert_eq!(empty["entries"], serde_json::json!([]), "{empty}");

    alice.ok(&["exec", "hist-net", "--", "echo", "hello"]);
    let bob = User::new("history", "bob@example.com");
    bob.connect();
    let (code, _, stderr) = bob.solo(&[
        "exec",
        "hist-net",
        "--state-namespace",
        &state_ns,
        "--",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(code, Some(7), "{stderr}");

    let history: serde_json::Value =
        serde_json::from_str(&bob.ok(&["history", "hist-net", "-o", "json"])).expect("json");
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{history}");
    assert_eq!(entries[0]["command"], serde_json::json!(["echo", "hello"]));
    assert_eq!(entries[0]["executedBy"], "alice@example.com");
    assert_eq!(entries[0]["result"], "exit 0");
    assert_eq!(
        entries[1]["command"],
        serde_json::json!(["sh", "-c", "exit 7"])
    );
    assert_eq!(entries[1]["executedBy"], "bob@example.com");
    assert_eq!(entries[1]["result"], "exit 7");
    assert!(
        entries[0]["executedAt"].as_str() < entries[1]["executedAt"].as_str(),
        "{history}"
    );
    assert!(entries.iter().all(|e| e["durationMs"].is_u64()));
    assert_eq!(
        history["archives"],
        serde_json::json!(["hist-net-history-01"])
    );

    // The table lists both too.
    let table = alice.ok(&["history", "hist-net"]);
    assert!(
        table.contains("alice@example.com") && table.contains("exit 7"),
        "{table}"
    );
}
