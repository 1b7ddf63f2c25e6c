//! The commands a team needs to share a deployment, run as a user runs them, against the real
//! shared test clusters: each test has its own SOLO_HOME, network namespace and state namespace.

mod support;

use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use solo_testenv::TestEnv;

use support::{User, alice_with_a_deployment, assert_lock_free, json, namespaces, wait_until_held};

#[test]
fn a_deployment_over_two_clusters_is_listed_shown_free_and_runs_commands_under_its_lock() {
    let (alice, ns, state_ns) = alice_with_a_deployment("share", "my-network");

    let refs = json(&alice.ok(&["cluster-ref", "list", "-o", "json"]).stdout);
    let ours = |from: &str| {
        refs.as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["from"] == from)
            .count()
    };
    assert_eq!(ours("solo-state-config.yaml"), 2, "{refs}");
    // The Solo tool's own mappings are shown too, read from its file.
    assert_eq!(ours("Solo's local-config.yaml"), 2, "{refs}");

    let list = alice.ok(&[
        "deployment",
        "list",
        "--state-namespace",
        &state_ns,
        "-o",
        "json",
    ]);
    let list = json(&list.stdout);
    assert_eq!(list[0]["name"], "my-network", "{list}");
    assert_eq!(
        list[0]["clusters"],
        serde_json::json!(["cluster-1", "cluster-2"])
    );

    let state = json(
        &alice
            .ok(&["state", "show", "my-network", "-o", "json"])
            .stdout,
    );
    assert_eq!(state["metadata"]["name"], "my-network");
    // Name and namespace of each cluster (R13's DNS facts beside them are checked below).
    let places: Vec<serde_json::Value> = state["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| serde_json::json!({"name": c["name"], "namespace": c["namespace"]}))
        .collect();
    assert_eq!(
        serde_json::Value::Array(places),
        serde_json::json!([
            {"name": "cluster-1", "namespace": ns},
            {"name": "cluster-2", "namespace": ns},
        ])
    );
    for cluster in state["clusters"].as_array().expect("clusters") {
        assert_eq!(cluster["dnsBaseDomain"], "cluster.local", "{cluster}");
        assert_eq!(
            cluster["dnsConsensusNodePattern"], "network-{nodeAlias}-svc.{namespace}.svc",
            "{cluster}"
        );
    }
    assert_eq!(state["metadata"]["lastUpdatedBy"], "alice@example.com");

    let leases = json(
        &alice
            .ok(&["lease", "status", "my-network", "-o", "json"])
            .stdout,
    );
    let leases = leases["leases"].as_array().expect("leases").clone();
    assert_eq!(leases.len(), 2);
    assert!(leases.iter().all(|l| l["state"] == "free"), "{leases:?}");

    let run = alice.ok(&[
        "exec",
        "my-network",
        "--",
        "sh",
        "-c",
        "echo $SOLO_DEPLOYMENT $SOLO_LOCK_EPOCH",
    ]);
    let words: Vec<&str> = run.stdout.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"my-network"), "{}", run.stdout);
    assert!(words.get(1).and_then(|e| e.parse::<u64>().ok()).is_some());
    alice.ok(&["exec", "my-network", "--", "true"]);
    let failed = alice.solo(&["exec", "my-network", "--", "sh", "-c", "exit 7"]);
    assert_eq!(failed.code, Some(7), "{}", failed.stderr);

    // Released after each command: free again.
    assert_lock_free(&alice, "my-network");

    // Bob, who never created it, finds it from its state namespace.
    let bob = User::new("share", "bob@example.com");
    bob.connect(&["cluster-1"], str::to_owned);
    bob.connect(&["cluster-2"], str::to_owned);
    let state = json(
        &bob.ok(&[
            "state",
            "show",
            "my-network",
            "--state-namespace",
            &state_ns,
            "-o",
            "json",
        ])
        .stdout,
    );
    assert_eq!(state["metadata"]["name"], "my-network");
}

#[test]
fn exec_while_another_exec_holds_the_lock_exits_3_naming_the_holder_and_wait_gets_it_after() {
    let (alice, _, _) = alice_with_a_deployment("busy", "busy-net");

    let mut holder = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut holder);
    let mut holder = holder
        .args(["exec", "busy-net", "--", "sleep", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the holder");
    let leases = wait_until_held(&alice, "busy-net");
    assert_eq!(leases["leases"][0]["holder"]["user"], "alice@example.com");

    let bob = User::new("busy", "bob@example.com");
    std::fs::copy(
        alice.home.join("solo-state-config.yaml"),
        bob.home.join("solo-state-config.yaml"),
    )
    .expect("bob's config");
    let refused = bob.solo(&["exec", "busy-net", "--", "true"]);
    assert_eq!(refused.code, Some(3), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("busy-net is locked by alice@example.com"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--wait"), "{}", refused.stderr);

    let started = Instant::now();
    let waited = bob.ok(&["exec", "busy-net", "--wait=30s", "--verbose", "--", "true"]);
    assert!(
        waited
            .stderr
            .contains("holding lease busy-net in cluster cluster-1"),
        "{}",
        waited.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(holder.wait().expect("holder ends").success());
}

#[test]
fn an_unmapped_ref_or_an_unknown_context_is_a_clear_error() {
    let alice = User::new("unmapped", "alice@example.com");
    alice.connect(&["cluster-1"], str::to_owned);
    let run = alice.solo(&[
        "deployment",
        "create",
        "lost-net",
        "--namespace",
        "default",
        "--cluster-ref",
        "cluster-1",
        "--cluster-ref",
        "cluster-2",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("solo cluster-ref connect cluster-2 --context <kube-context>"),
        "{}",
        run.stderr
    );

    let run = alice.solo(&[
        "cluster-ref",
        "connect",
        "cluster-2",
        "--context",
        "no-such",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("\"no-such\" is not in your kubeconfig")
            && run.stderr.contains("cluster-2"),
        "{}",
        run.stderr
    );
    let run = alice.solo(&[
        "cluster-ref",
        "connect",
        "Cluster_2",
        "--context",
        "cluster-2",
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);

    // KUBECONFIG is a list, as kubectl reads it: a missing file is skipped, the next one read.
    let list = std::env::join_paths([
        alice.home.join("no-such-kubeconfig"),
        TestEnv::shared().kubeconfig(),
    ])
    .expect("a KUBECONFIG list");
    Command::new(env!("CARGO_BIN_EXE_solo"))
        .env("SOLO_HOME", &alice.home)
        .env("KUBECONFIG", list)
        .args([
            "cluster-ref",
            "connect",
            "cluster-2",
            "--context",
            "cluster-2",
        ])
        .assert()
        .success();
}

#[test]
fn a_damaged_local_config_names_its_path() {
    let alice = User::new("damaged", "alice@example.com");
    let path = alice.home.join("solo-state-config.yaml");
    std::fs::write(&path, "version: 1\nclusterRefs: [\n").expect("write");
    let run = alice.solo(&["cluster-ref", "list"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(&path.display().to_string()) && run.stderr.contains("damaged"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_user_without_access_to_leases_gets_exit_5_naming_the_namespace() {
    let (ns, state_ns) = namespaces("forbidden");
    let bob = User::new("forbidden", "bob@example.com");
    bob.connect(&["cluster-1"], |c| format!("bob@{c}"));
    let run = bob.solo(&[
        "deployment",
        "create",
        "bobs-net",
        "--namespace",
        &ns,
        "--cluster-ref",
        "cluster-1",
        "--state-namespace",
        &state_ns,
    ]);
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("namespace {ns}")) && run.stderr.contains("Role"),
        "{}",
        run.stderr
    );
    // Reading another's state without access to its state namespace: exit 5 too.
    let run = bob.solo(&[
        "state",
        "show",
        "someone-elses-net",
        "--state-namespace",
        &state_ns,
    ]);
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("secrets in namespace {state_ns}")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_damaged_copy_makes_state_show_exit_4_with_the_repair_and_sync_repairs_it() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, Patch, PatchParams};

    let (alice, _, state_ns) = alice_with_a_deployment("repair", "repair-net");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = TestEnv::shared().client("cluster-2").await;
        let secrets: Api<Secret> = Api::namespaced(client, &state_ns);
        let patch = serde_json::json!({"metadata": {"annotations": {
            solo_core::state::HASH_ANNOTATION: "0".repeat(64)
        }}});
        secrets
            .patch("repair-net", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("damage the copy in cluster-2");
    });

    let run = alice.solo(&["state", "show", "repair-net"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert!(run.stderr.contains("cluster-2"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("solo state sync repair-net --from cluster-1"),
        "{}",
        run.stderr
    );

    let run = alice.solo(&["state", "sync", "repair-net", "--from", "cluster-1"]);
    assert_eq!(
        run.code,
        Some(1),
        "without --yes nothing is done: {}",
        run.stderr
    );
    alice.ok(&[
        "state",
        "sync",
        "repair-net",
        "--from",
        "cluster-1",
        "--yes",
    ]);
    let state = json(
        &alice
            .ok(&["state", "show", "repair-net", "-o", "json"])
            .stdout,
    );
    assert_eq!(state["metadata"]["name"], "repair-net");
}

#[test]
fn sigterm_reaches_the_command_and_the_lock_is_released() {
    let (alice, _, _) = alice_with_a_deployment("sigterm", "term-net");
    let mut exec = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut exec);
    let exec = exec
        .args(["exec", "term-net", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn exec");
    wait_until_held(&alice, "term-net");
    let started = Instant::now();
    let pid = i32::try_from(exec.id()).expect("pid");
    // SAFETY: kill(2) on the child we spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = exec.wait_with_output().expect("exec ends");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM));
    assert_lock_free(&alice, "term-net");
}

#[test]
fn a_lock_lost_while_the_command_runs_stops_the_command() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, Patch, PatchParams};

    let (alice, ns, _) = alice_with_a_deployment("lost", "lost-net");
    let mut exec = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut exec);
    let exec = exec
        .args(["exec", "lost-net", "--", "sleep", "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exec");
    wait_until_held(&alice, "lost-net");
    // Another tool takes the lease in cluster-1 from under the running command.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let leases: Api<Lease> = Api::namespaced(TestEnv::shared().client("cluster-1").await, &ns);
        let patch = serde_json::json!({"spec": {"holderIdentity": "mallory"}});
        leases
            .patch(&ns, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("take the lease");
    });
    let started = Instant::now();
    let out = exec.wait_with_output().expect("exec ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Renewal runs every third of the 30 s lease: the loss is seen within about 10 s.
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("lost the lock of lost-net") && stderr.contains("mallory"),
        "{stderr}"
    );
    let leases = json(
        &alice
            .ok(&["lease", "status", "lost-net", "-o", "json"])
            .stdout,
    );
    assert_eq!(
        leases["leases"][1]["state"], "free",
        "the lease still ours was released: {leases}"
    );
}

#[test]
fn lease_break_needs_force_then_clears_the_lock_and_says_whose_claim_it_removed() {
    let (alice, _, _) = alice_with_a_deployment("break", "break-net");
    let mut holder = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut holder);
    let mut holder = holder
        .args(["exec", "break-net", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the holder");
    wait_until_held(&alice, "break-net");

    let refused = alice.solo(&["lease", "break", "break-net"]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);

    let broke = alice.ok(&[
        "lease",
        "break",
        "break-net",
        "--force",
        "--reason",
        "test",
        "-o",
        "json",
    ]);
    let broken = json(&broke.stdout);
    assert_eq!(
        broken["broken"].as_array().expect("broken").len(),
        2,
        "{}",
        broke.stdout
    );
    assert!(
        broken["broken"][0]["removed"]
            .as_str()
            .unwrap_or_default()
            .starts_with("alice@example.com")
    );
    assert_lock_free(&alice, "break-net");

    // The old holder finds out at its next renewal and stops its command.
    let status = holder.wait().expect("the holder ends");
    assert!(
        !status.success(),
        "the holder went on after its lock was broken"
    );
}

/// `solo history` (R10): commands run with `solo exec` by two users are listed in order, with who
/// ran them and their results.
#[test]
fn two_users_exec_runs_are_listed_in_history_in_order_with_their_results() {
    let (alice, _, state_ns) = alice_with_a_deployment("history", "hist-net");
    let empty = json(&alice.ok(&["history", "hist-net", "-o", "json"]).stdout);
    assert_eq!(empty["entries"], serde_json::json!([]), "{empty}");

    alice.ok(&["exec", "hist-net", "--", "echo", "hello"]);
    let bob = User::new("history", "bob@example.com");
    for r in ["cluster-1", "cluster-2"] {
        bob.ok(&["cluster-ref", "connect", r, "--context", r]);
    }
    let run = bob.solo(&[
        "exec",
        "hist-net",
        "--state-namespace",
        &state_ns,
        "--",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(run.code, Some(7), "{}", run.stderr);

    let history = json(&bob.ok(&["history", "hist-net", "-o", "json"]).stdout);
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
    let table = alice.ok(&["history", "hist-net"]).stdout;
    assert!(
        table.contains("alice@example.com") && table.contains("exit 7"),
        "{table}"
    );

    // Exported as a script, oldest first, and run against another deployment: the same commands
    // run there, under its lock, and end the same way.
    let script = alice
        .ok(&["history", "export", "hist-net", "--script"])
        .stdout;
    let commands: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("\"$SOLO\""))
        .collect();
    assert_eq!(
        commands,
        [
            "\"$SOLO\" exec \"$DEPLOYMENT\" -- echo hello",
            "\"$SOLO\" exec \"$DEPLOYMENT\" -- sh -c 'exit 7'",
        ],
        "{script}"
    );
    assert!(
        script.contains("by alice@example.com: exit 0")
            && script.contains("by bob@example.com: exit 7"),
        "{script}"
    );
    // Another network: one deployment per (cluster, namespace).
    let (copy_ns, _) = support::namespaces("history-copy");
    support::create_over_two_clusters(&alice, "hist-copy", &copy_ns, &state_ns);
    let mut sh = StdCommand::new("sh");
    alice.env(&mut sh);
    sh.arg("-c")
        .arg(&script)
        .env("DEPLOYMENT", "hist-copy")
        .env("SOLO", env!("CARGO_BIN_EXE_solo"));
    let replay = sh.output().expect("sh runs");
    assert_eq!(replay.status.code(), Some(7), "{replay:?}");
    let copied = json(&alice.ok(&["history", "hist-copy", "-o", "json"]).stdout);
    let copied: Vec<_> = copied["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["command"].clone(), e["result"].clone()))
        .collect();
    assert_eq!(
        copied,
        [
            (
                serde_json::json!(["echo", "hello"]),
                serde_json::json!("exit 0")
            ),
            (
                serde_json::json!(["sh", "-c", "exit 7"]),
                serde_json::json!("exit 7")
            ),
        ]
    );
}
