//! The writes of issue #6 beyond `exec`, run as users run them against the real shared test
//! clusters: `component add|remove|list`, `lease acquire|renew|release`, `state
//! diff|apply|edit` and `deployment delete`. Each test has its own SOLO_HOME and namespaces.

mod support;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use solo_testenv::TestEnv;
use support::{Run, User, alice_with_a_deployment, json};

/// Bob, with the same two cluster refs as alice, who has found `deployment` once.
fn bob(test: &str, deployment: &str, state_ns: &str) -> User {
    let bob = User::new(test, "bob@example.com");
    for r in ["cluster-1", "cluster-2"] {
        bob.ok(&["cluster-ref", "connect", r, "--context", r]);
    }
    bob.ok(&["lease", "status", deployment, "--state-namespace", state_ns]);
    bob
}

fn failed(run: &Run, code: i32, needle: &str) {
    assert_eq!(
        run.code,
        Some(code),
        "expected exit {code}:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        run.stderr
    );
}

/// The stored state, as `state show -o json` prints it.
fn state(user: &User, deployment: &str) -> serde_json::Value {
    json(&user.ok(&["state", "show", deployment, "-o", "json"]).stdout)
}

fn component_names(user: &User, deployment: &str) -> Vec<String> {
    let list = json(
        &user
            .ok(&["component", "list", deployment, "-o", "json"])
            .stdout,
    );
    list["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["kind"].as_str().unwrap_or("?"),
                c["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn components_are_added_validated_listed_and_removed_under_the_lock() {
    let (alice, _, state_ns) = alice_with_a_deployment("components", "comp-net");
    let none = alice.ok(&["component", "list", "comp-net"]);
    assert!(
        none.stderr.contains("has no components yet"),
        "{}",
        none.stderr
    );

    let add = alice.ok(&[
        "component",
        "add",
        "comp-net",
        "consensus",
        "node1",
        "--cluster-ref",
        "cluster-1",
        "--verbose",
    ]);
    assert!(
        add.stderr
            .contains("holding lease comp-net in cluster cluster-1")
            && add
                .stderr
                .contains("holding lease comp-net in cluster cluster-2"),
        "--verbose names the leases held:\n{}",
        add.stderr
    );
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "consensus",
        "node2",
        "--cluster-ref",
        "cluster-2",
    ]);
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "haproxy",
        "haproxy-node1",
        "--cluster-ref",
        "cluster-1",
        "--consensus-node",
        "node1",
    ]);
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "envoy-proxy",
        "envoy-node2",
        "--cluster-ref",
        "cluster-2",
        "--consensus-node",
        "node2",
    ]);
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "relay",
        "relay-1",
        "--cluster-ref",
        "cluster-2",
        "--consensus-node",
        "node1",
        "--consensus-node",
        "node2",
    ]);
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "mirror",
        "mirror-1",
        "--cluster-ref",
        "cluster-2",
    ]);
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "mirror-node-explorer",
        "explorer-1",
        "--cluster-ref",
        "cluster-1",
    ]);
    assert_eq!(
        component_names(&alice, "comp-net"),
        [
            "consensus/node1",
            "consensus/node2",
            "haproxy/haproxy-node1",
            "envoyProxy/envoy-node2",
            "mirror/mirror-1",
            "mirror-node-explorer/explorer-1",
            "relay/relay-1"
        ]
    );
    let stored = state(&alice, "comp-net");
    assert_eq!(
        stored["components"]["relay"][0]["consensusNodes"],
        serde_json::json!(["node1", "node2"])
    );
    assert_eq!(
        stored["components"]["haproxy"][0]["namespace"],
        stored["clusters"][0]["namespace"]
    );
    assert_eq!(stored["metadata"]["lastUpdatedBy"], "alice@example.com");
    let table = alice.ok(&["component", "list", "comp-net"]).stdout;
    assert!(
        table.contains("relay-1") && table.contains("node1,node2"),
        "{table}"
    );
    let yaml = alice
        .ok(&["component", "list", "comp-net", "-o", "yaml"])
        .stdout;
    assert!(yaml.contains("kind: haproxy"), "{yaml}");

    // Invalid results are refused with every problem's path, and the state stays as it was.
    let before = state(&alice, "comp-net");
    let bad = alice.solo(&[
        "component",
        "add",
        "comp-net",
        "haproxy",
        "haproxy-x",
        "--cluster-ref",
        "cluster-1",
        "--consensus-node",
        "node9",
    ]);
    failed(&bad, 1, "components.haproxy[1].consensusNode");
    failed(&bad, 1, "nothing was written");
    let dup = alice.solo(&[
        "component",
        "add",
        "comp-net",
        "consensus",
        "node1",
        "--cluster-ref",
        "cluster-2",
    ]);
    failed(&dup, 1, "components.consensus[");
    let used = alice.solo(&["component", "remove", "comp-net", "consensus", "node1"]);
    failed(&used, 1, "components.haproxy[0].consensusNode");
    failed(&used, 1, "components.relay[0].consensusNodes");
    let elsewhere = alice.solo(&[
        "component",
        "add",
        "comp-net",
        "mirror",
        "m2",
        "--cluster-ref",
        "cluster-9",
    ]);
    failed(
        &elsewhere,
        1,
        "cluster cluster-9 is not a cluster of deployment comp-net",
    );
    let which = alice.solo(&["component", "add", "comp-net", "mirror", "m2"]);
    failed(&which, 2, "--cluster-ref");
    let missing = alice.solo(&["component", "remove", "comp-net", "haproxy", "nope"]);
    failed(&missing, 1, "has no haproxy named nope");
    assert_eq!(
        state(&alice, "comp-net"),
        before,
        "a refused change changed the state"
    );

    alice.ok(&[
        "component",
        "remove",
        "comp-net",
        "haproxy",
        "haproxy-node1",
    ]);
    assert!(!component_names(&alice, "comp-net").contains(&"haproxy/haproxy-node1".to_owned()));

    // Each write is in the history, with who made it.
    let history = json(&alice.ok(&["history", "comp-net", "-o", "json"]).stdout);
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 8, "{history}");
    assert_eq!(entries[0]["command"][1], "component");
    assert_eq!(entries[0]["executedBy"], "alice@example.com");
    assert!(
        entries[7]["result"]
            .as_str()
            .unwrap_or_default()
            .contains("removed haproxy haproxy-node1")
    );

    // A write meets another's lock: exit 3, naming the holder; `--wait` would queue.
    let bob = bob("components", "comp-net", &state_ns);
    bob.ok(&["lease", "acquire", "comp-net", "--for", "1m"]);
    let blocked = alice.solo(&[
        "component",
        "add",
        "comp-net",
        "mirror",
        "m2",
        "--cluster-ref",
        "cluster-1",
    ]);
    failed(&blocked, 3, "bob@example.com");
    bob.ok(&["lease", "release", "comp-net"]);
    alice.ok(&[
        "component",
        "add",
        "comp-net",
        "mirror",
        "m2",
        "--cluster-ref",
        "cluster-1",
    ]);
}

fn lease_rows(user: &User, deployment: &str) -> Vec<serde_json::Value> {
    json(
        &user
            .ok(&["lease", "status", deployment, "-o", "json"])
            .stdout,
    )["leases"]
        .as_array()
        .expect("leases")
        .clone()
}

/// `lease status` shows who waits, from their tickets: the lock's queue on every lease (a
/// count, `waiters`, as before, though the ticket is in the queue's namespace only) and the
/// queue itself, each waiter once, in every output format.
#[test]
fn lease_status_shows_the_waiters_from_their_tickets() {
    use std::process::{Command, Stdio};
    let (alice, _, state_ns) = alice_with_a_deployment("queued", "queued-net");
    alice.ok(&["lease", "acquire", "queued-net", "--for", "2m"]);
    let bob = bob("queued", "queued-net", &state_ns);
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_solo"));
    bob.env(&mut waiter);
    let mut waiter = waiter
        .args([
            "lease",
            "acquire",
            "queued-net",
            "--for",
            "1m",
            "--wait=60s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bob");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let rows = loop {
        let rows = lease_rows(&alice, "queued-net");
        if rows.iter().all(|r| r["waiters"] == 1) {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's wait is not shown on every lease: {rows:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    for row in &rows {
        assert_eq!(row["queue"][0]["user"], "bob@example.com", "{row}");
        assert!(row["queue"][0]["requestedAt"].is_string(), "{row}");
    }
    let table = alice.ok(&["lease", "status", "queued-net"]).stdout;
    assert!(
        table.contains("WAITER") && table.matches("bob@example.com").count() == 1,
        "{table}"
    );
    let yaml = alice
        .ok(&["lease", "status", "queued-net", "-o", "yaml"])
        .stdout;
    assert!(yaml.contains("waiters: 1"), "{yaml}");
    let _ = waiter.kill();
    let _ = waiter.wait();
    alice.ok(&["lease", "release", "queued-net"]);
}

#[test]
fn a_lease_acquired_holds_the_lock_across_commands_for_its_holder_only() {
    let (alice, _, state_ns) = alice_with_a_deployment("kept", "kept-net");
    let bob = bob("kept", "kept-net", &state_ns);
    let took = alice.ok(&["lease", "acquire", "kept-net", "--for", "2m", "--verbose"]);
    assert!(
        took.stderr.contains("you hold the lock of kept-net until"),
        "{}",
        took.stderr
    );
    assert!(
        took.stderr
            .contains("holding lease kept-net in cluster cluster-2"),
        "{}",
        took.stderr
    );
    let rows = lease_rows(&alice, "kept-net");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["state"], "held", "{row}");
        assert_eq!(row["holder"]["user"], "alice@example.com", "{row}");
        assert_eq!(row["holder"]["phase"], "held", "{row}");
    }
    let first_expiry = rows[0]["expires"].as_str().expect("expires").to_owned();

    // Held beyond the process: bob is refused and told who holds it.
    let refused = bob.solo(&["exec", "kept-net", "--", "true"]);
    failed(&refused, 3, "alice@example.com");
    let renew_theirs = bob.solo(&["lease", "renew", "kept-net"]);
    failed(&renew_theirs, 1, "you hold no lock of kept-net");
    let release_theirs = bob.solo(&["lease", "release", "kept-net"]);
    failed(&release_theirs, 1, "you hold no lock of kept-net");

    // Alice's own writes run under the lock she holds, and leave it held.
    let ran = alice.ok(&[
        "exec",
        "kept-net",
        "--verbose",
        "--",
        "sh",
        "-c",
        "echo $SOLO_LOCK_EPOCH",
    ]);
    assert!(
        ran.stderr.contains("kept by `solo lease acquire`"),
        "{}",
        ran.stderr
    );
    alice.ok(&[
        "component",
        "add",
        "kept-net",
        "consensus",
        "node1",
        "--cluster-ref",
        "cluster-1",
    ]);
    let synced = alice.ok(&[
        "state",
        "sync",
        "kept-net",
        "--from",
        "cluster-1",
        "--yes",
        "--verbose",
    ]);
    assert!(
        synced.stderr.contains("kept by `solo lease acquire`"),
        "{}",
        synced.stderr
    );
    assert!(
        lease_rows(&alice, "kept-net")
            .iter()
            .all(|r| r["holder"]["user"] == "alice@example.com")
    );
    let again = alice.ok(&["lease", "acquire", "kept-net"]);
    assert!(
        again
            .stderr
            .contains("you already hold the lock of kept-net"),
        "{}",
        again.stderr
    );

    alice.ok(&["lease", "renew", "kept-net", "--for", "30m"]);
    let renewed = lease_rows(&alice, "kept-net");
    assert!(
        renewed[0]["expires"].as_str().expect("expires") > first_expiry.as_str(),
        "renew did not extend: {first_expiry} -> {}",
        renewed[0]["expires"]
    );

    alice.ok(&["lease", "release", "kept-net"]);
    assert!(
        lease_rows(&alice, "kept-net")
            .iter()
            .all(|r| r["state"] == "free")
    );
    let twice = alice.solo(&["lease", "release", "kept-net"]);
    failed(&twice, 1, "you hold no lock of kept-net");
    bob.ok(&["exec", "kept-net", "--", "true"]);

    // A kept lock that was broken is gone: its holder's next write says so and changes nothing.
    bob.ok(&["lease", "acquire", "kept-net", "--for", "5m"]);
    alice.ok(&["lease", "break", "kept-net", "--force", "--reason", "test"]);
    alice.ok(&["exec", "kept-net", "--", "true"]);
    let gone = bob.solo(&[
        "component",
        "add",
        "kept-net",
        "consensus",
        "node2",
        "--cluster-ref",
        "cluster-2",
    ]);
    failed(&gone, 1, "your lock of kept-net is gone");
    assert!(!component_names(&alice, "kept-net").contains(&"consensus/node2".to_owned()));
    let bad = alice.solo(&["lease", "acquire", "kept-net", "--for", "5s"]);
    failed(&bad, 2, "between 1m and 24h");
}

/// A state file made from `state show`, with `from` replaced by `to`.
fn edited_state(user: &User, deployment: &str, from: &str, to: &str) -> std::path::PathBuf {
    let text = user.ok(&["state", "show", deployment, "-o", "yaml"]).stdout;
    assert!(text.contains(from), "{text}");
    let path = user
        .home
        .join(format!("{deployment}-{}.yaml", to.replace([' ', ':'], "_")));
    std::fs::write(&path, text.replace(from, to)).expect("write the state file");
    path
}

#[test]
fn state_diff_apply_and_edit_change_the_state_only_when_valid() {
    let (alice, _, _) = alice_with_a_deployment("apply", "apply-net");
    alice.ok(&[
        "component",
        "add",
        "apply-net",
        "consensus",
        "node1",
        "--cluster-ref",
        "cluster-1",
    ]);

    let renamed = edited_state(&alice, "apply-net", "name: node1", "name: node7");
    let file = renamed.to_str().expect("utf-8");
    let diff = alice.ok(&["state", "diff", "apply-net", "--file", file]);
    assert!(
        diff.stdout.contains("-    - name: node1") && diff.stdout.contains("+    - name: node7"),
        "{}",
        diff.stdout
    );
    assert!(
        !diff.stdout.contains("lastUpdatedAt"),
        "solo's own fields are not in the diff:\n{}",
        diff.stdout
    );

    let before = state(&alice, "apply-net");
    let unconfirmed = alice.solo(&["state", "apply", "apply-net", "--file", file]);
    failed(&unconfirmed, 1, "--yes");
    assert_eq!(state(&alice, "apply-net"), before);

    let applied = alice.ok(&["state", "apply", "apply-net", "--file", file, "--yes"]);
    assert!(
        applied.stderr.contains("+    - name: node7"),
        "apply shows the diff:\n{}",
        applied.stderr
    );
    assert_eq!(component_names(&alice, "apply-net"), ["consensus/node7"]);
    let same = alice.ok(&["state", "diff", "apply-net", "--file", file]);
    assert!(
        same.stdout.is_empty() && same.stderr.contains("no changes"),
        "{}",
        same.stderr
    );

    // Invalid documents: every problem with its path, nothing written.
    let before = state(&alice, "apply-net");
    let bad = edited_state(
        &alice,
        "apply-net",
        "cluster: cluster-1",
        "cluster: cluster-9",
    );
    let bad = alice.solo(&[
        "state",
        "apply",
        "apply-net",
        "--file",
        bad.to_str().expect("utf-8"),
        "--yes",
    ]);
    failed(&bad, 1, "components.consensus[0].cluster");
    let other = edited_state(&alice, "apply-net", "name: apply-net", "name: other-net");
    let other = alice.solo(&[
        "state",
        "apply",
        "apply-net",
        "--file",
        other.to_str().expect("utf-8"),
        "--yes",
    ]);
    failed(&other, 1, "a deployment's name never changes");
    assert_eq!(state(&alice, "apply-net"), before);

    // edit: the editor changes the file under the lock; the result is validated and written.
    let edit = |editor: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_solo"));
        alice.env(&mut cmd);
        let out = cmd
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .args(["state", "edit", "apply-net"])
            .output()
            .expect("solo runs");
        Run::from(out)
    };
    let edited = edit("sed -i s/node7/node8/");
    assert_eq!(edited.code, Some(0), "{}", edited.stderr);
    assert_eq!(component_names(&alice, "apply-net"), ["consensus/node8"]);
    let unchanged = edit("true");
    assert_eq!(unchanged.code, Some(0), "{}", unchanged.stderr);
    assert!(
        unchanged.stderr.contains("nothing to change"),
        "{}",
        unchanged.stderr
    );
    let before = state(&alice, "apply-net");
    let invalid = edit("sed -i s/cluster:\\ cluster-1/cluster:\\ cluster-9/");
    failed(&invalid, 1, "components.consensus[0].cluster");
    let broken = edit("false");
    failed(&broken, 1, "the editor");
    assert_eq!(state(&alice, "apply-net"), before);

    let history = json(&alice.ok(&["history", "apply-net", "-o", "json"]).stdout);
    let commands: Vec<String> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["command"][2].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(commands, ["add", "apply", "edit"], "{history}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_delete_needs_yes_then_removes_state_history_and_leases() {
    let (alice, ns, state_ns) = tokio::task::spawn_blocking(|| {
        let made = alice_with_a_deployment("delete", "del-net");
        made.0.ok(&["exec", "del-net", "--", "true"]);
        made
    })
    .await
    .expect("setup");
    let env = TestEnv::shared();
    let secrets = |client| -> Api<Secret> { Api::namespaced(client, &state_ns) };
    let labelled = ListParams::default().labels("solo.hiero.org/deployment=del-net");
    for ctx in ["cluster-1", "cluster-2"] {
        let found = secrets(env.client(ctx).await)
            .list_metadata(&labelled)
            .await
            .expect("list");
        assert!(
            found.items.len() >= 2,
            "state and history in {ctx}: {:?}",
            found.items.len()
        );
    }

    let (alice, refused) = tokio::task::spawn_blocking(move || {
        let refused = alice.solo(&["deployment", "delete", "del-net"]);
        (alice, refused)
    })
    .await
    .expect("delete");
    failed(&refused, 1, "solo deployment delete del-net --yes");

    let alice = tokio::task::spawn_blocking(move || {
        alice.ok(&["state", "show", "del-net"]);
        let deleted = alice.ok(&["deployment", "delete", "del-net", "--yes"]);
        assert!(
            deleted.stderr.contains("ok: deleted deployment del-net"),
            "{}",
            deleted.stderr
        );
        alice
    })
    .await
    .expect("delete");
    for ctx in ["cluster-1", "cluster-2"] {
        let client = env.client(ctx).await;
        let left = secrets(client.clone())
            .list_metadata(&labelled)
            .await
            .expect("list");
        assert!(left.items.is_empty(), "left in {ctx}: {:?}", left.items);
        let state_object = secrets(client.clone())
            .get_opt("del-net")
            .await
            .expect("get");
        // Only the fencing stamp stays: the epochs' high-water mark for a re-create.
        let stamp = state_object.expect("the fencing stamp stays");
        assert!(
            stamp.data.unwrap_or_default().is_empty(),
            "the state is still in {ctx}"
        );
        // The lease is free, and keeps the last epoch as its high-water mark likewise.
        let lease = Api::<Lease>::namespaced(client, &ns)
            .get_opt(&ns)
            .await
            .expect("get")
            .expect("the lease stays, free");
        assert!(
            solo_kube::lease_store::from_lease(&lease)
                .value
                .holder
                .is_none(),
            "the lease is still held in {ctx}"
        );
        assert!(
            lease
                .metadata
                .annotations
                .unwrap_or_default()
                .contains_key("solo.hiero.org/epoch-high-water"),
            "no epoch mark on the lease in {ctx}"
        );
    }
    let shown = tokio::task::spawn_blocking(move || {
        let show = alice.solo(&["deployment", "show", "del-net"]);
        let again = alice.solo(&[
            "deployment",
            "delete",
            "del-net",
            "--yes",
            "--state-namespace",
            &state_ns,
        ]);
        (show, again)
    })
    .await
    .expect("after");
    failed(&shown.0, 1, "is not known here");
    failed(&shown.1, 1, "del-net");
}

/// Runs `solo args` on a terminal (a pty from util-linux `script`), typing `keys` one answer at
/// a time; the transcript.
fn on_a_terminal(
    user: &User,
    email: Option<&str>,
    args: &str,
    keys: &[&str],
) -> (Option<i32>, String) {
    use std::io::Write;
    let mut cmd = std::process::Command::new("script");
    user.env(&mut cmd);
    if email.is_none() {
        cmd.env_remove("SOLO_USER_EMAIL")
            .env("HOME", &user.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(&user.home);
    }
    let mut child = cmd
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_solo")),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().expect("stdin");
    for key in keys {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(key.as_bytes()).expect("type");
        stdin.flush().expect("type");
    }
    let out = child.wait_with_output().expect("solo ends");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn on_a_terminal_an_unmapped_ref_and_a_missing_identity_are_asked_once_and_kept() {
    let (alice, _, _) = alice_with_a_deployment("prompts", "ask-net");
    alice.ok(&["cluster-ref", "disconnect", "cluster-2"]);
    // Without a terminal: the exact command to run.
    let plain = alice.solo(&["lease", "status", "ask-net"]);
    failed(
        &plain,
        1,
        "run `solo cluster-ref connect cluster-2 --context <kube-context>`",
    );

    // On a terminal: a list of the kube contexts, filtered as typed; the answer is kept.
    let (code, screen) = on_a_terminal(
        &alice,
        Some("alice@example.com"),
        "lease status ask-net",
        &["cluster-2", "\r"],
    );
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("Cluster ref cluster-2 is not connected"),
        "{screen}"
    );
    assert!(
        screen.contains("maps to kube context cluster-2, kept"),
        "{screen}"
    );
    let refs = json(&alice.ok(&["cluster-ref", "list", "-o", "json"]).stdout);
    assert!(refs.to_string().contains("\"cluster-2\""), "{refs}");
    alice.ok(&["lease", "status", "ask-net"]);

    // No identity anywhere: asked once on a terminal, kept, and recorded on the next write.
    let (code, screen) = on_a_terminal(
        &alice,
        None,
        "component add ask-net mirror m1 --cluster-ref cluster-1",
        &["dora@example.com\r"],
    );
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Your email"), "{screen}");
    let config =
        std::fs::read_to_string(alice.home.join("solo-state-config.yaml")).expect("config");
    assert!(config.contains("userEmail: dora@example.com"), "{config}");
    let stored = state(&alice, "ask-net");
    // `state` runs with alice's SOLO_USER_EMAIL, which comes first; the write was dora's.
    assert_eq!(
        stored["metadata"]["lastUpdatedBy"], "dora@example.com",
        "{stored}"
    );
}
