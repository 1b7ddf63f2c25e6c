//! The guarantees of "Rules every write keeps" (DESIGN.md), each as it was seen broken on real
//! clusters (issue 11): no lost update under a kept lock, one holder across a move of the
//! namespace, nothing of `exec` runs on after its lock is lost, and epochs that never go back.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use solo_testenv::TestEnv;

use support::{
    User, alice_with_a_deployment, create_over_two_clusters, json, namespaces, wait_until_held,
};

fn component_names(user: &User, deployment: &str) -> Vec<String> {
    let list = json(
        &user
            .ok(&["component", "list", deployment, "-o", "json"])
            .stdout,
    );
    let mut names: Vec<String> = list["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `path` exists (written by a process the test started).
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The epoch a lock of `deployment` gets now, as `exec` hands it to its command.
fn next_epoch(user: &User, deployment: &str) -> u64 {
    let run = user.ok(&[
        "exec",
        deployment,
        "--",
        "sh",
        "-c",
        "echo $SOLO_LOCK_EPOCH",
    ]);
    run.stdout.trim().parse().expect("an epoch")
}

#[test]
fn a_state_edit_built_from_an_older_read_under_a_kept_lock_is_refused_and_the_other_change_stays() {
    let (alice, _, _) = alice_with_a_deployment("keptedit", "keptedit-net");
    alice.ok(&[
        "component",
        "add",
        "keptedit-net",
        "consensus",
        "node1",
        "--cluster-ref",
        "cluster-1",
    ]);
    alice.ok(&["lease", "acquire", "keptedit-net", "--for", "5m"]);
    // An editor that takes its time: it says it has the file, then waits for the test.
    let dir = alice.home.join("editor");
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("slow-editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {d}/ready\nwhile [ ! -e {d}/go ]; do sleep 0.05; done\nsed -i s/node1/node9/ \"$1\"\n",
            d = dir.display()
        ),
    )
    .expect("script");
    let mut edit = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut edit);
    let edit = edit
        .env("EDITOR", format!("sh {}", script.display()))
        .env_remove("VISUAL")
        .args(["state", "edit", "keptedit-net"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edit");
    wait_for_file(&dir.join("ready"));
    // Meanwhile the same user adds a component under the same kept lock.
    alice.ok(&[
        "component",
        "add",
        "keptedit-net",
        "consensus",
        "node2",
        "--cluster-ref",
        "cluster-2",
    ]);
    std::fs::write(dir.join("go"), "").expect("go");
    let out = edit.wait_with_output().expect("edit ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("changed after this command read it") && stderr.contains("node2"),
        "the refusal says what changed: {stderr}"
    );
    assert_eq!(
        component_names(&alice, "keptedit-net"),
        ["node1", "node2"],
        "the component added meanwhile was lost"
    );
    alice.ok(&["lease", "release", "keptedit-net"]);
}

#[test]
fn after_the_namespace_moves_a_stale_local_config_and_a_fresh_one_lock_the_same_leases() {
    let (alice, ns, state_ns) = alice_with_a_deployment("move", "move-net");
    let (moved, _) = namespaces("moved");
    let text = alice
        .ok(&["state", "show", "move-net", "-o", "yaml"])
        .stdout;
    assert!(text.contains(&format!("namespace: {ns}")), "{text}");
    let file = alice.home.join("moved.yaml");
    std::fs::write(
        &file,
        text.replace(&format!("namespace: {ns}"), &format!("namespace: {moved}")),
    )
    .expect("file");
    alice.ok(&[
        "state",
        "apply",
        "move-net",
        "--file",
        file.to_str().expect("utf-8"),
        "--yes",
    ]);
    // Carol knows the deployment only from its state; alice's local config was written before
    // the move.
    let carol = User::new("move", "carol@example.com");
    carol.connect(&["cluster-1", "cluster-2"], str::to_owned);
    carol.ok(&[
        "lease",
        "acquire",
        "move-net",
        "--for",
        "5m",
        "--state-namespace",
        &state_ns,
    ]);
    let second = alice.solo(&["lease", "acquire", "move-net", "--for", "5m"]);
    assert_eq!(
        second.code,
        Some(3),
        "two holders of move-net at once:\n{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("carol@example.com"),
        "{}",
        second.stderr
    );
    carol.ok(&["lease", "release", "move-net"]);
}

/// Whether process `pid` still runs (a zombie waiting for its parent counts as ended).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn a_lost_lock_ends_what_the_command_started_in_the_background_too() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, Patch, PatchParams};

    let (alice, ns, _) = alice_with_a_deployment("bglost", "bglost-net");
    let dir: PathBuf = alice.home.join("bg");
    std::fs::create_dir_all(&dir).expect("dir");
    let script = format!(
        "(sleep 30; touch {d}/F) & echo $! > {d}/pid.tmp; mv {d}/pid.tmp {d}/pid; wait",
        d = dir.display()
    );
    let mut exec = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut exec);
    let exec = exec
        .args(["exec", "bglost-net", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exec");
    wait_until_held(&alice, "bglost-net");
    wait_for_file(&dir.join("pid"));
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let leases: Api<Lease> = Api::namespaced(TestEnv::shared().client("cluster-1").await, &ns);
        let patch = serde_json::json!({"spec": {"holderIdentity": "mallory"}});
        leases
            .patch(&ns, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("take the lease");
    });
    let out = exec.wait_with_output().expect("exec ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The background job is ended with the command, not left to run without the lock.
    let deadline = Instant::now() + Duration::from_secs(2);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive = running(pid);
    if alive {
        // SAFETY: kill(2) on the test's own stray process, so it does not touch F later.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    assert!(
        !alive,
        "the background job {pid} still runs after the lock was lost"
    );
    assert!(!dir.join("F").exists());
}

/// Takes the lock of a new deployment a few times, deletes it, creates it again with its state in
/// the namespace `state_ns_again` gives (from the first one), and checks that the epoch went on.
fn epochs_go_on_after_delete_and_create(test: &str, state_ns_again: impl FnOnce(&str) -> String) {
    let deployment = format!("{test}-net");
    let (alice, ns, state_ns) = alice_with_a_deployment(test, &deployment);
    let mut before = 0;
    for _ in 0..3 {
        before = next_epoch(&alice, &deployment);
    }
    alice.ok(&["deployment", "delete", &deployment, "--yes"]);
    create_over_two_clusters(&alice, &deployment, &ns, &state_ns_again(&state_ns));
    let after = next_epoch(&alice, &deployment);
    assert!(
        after > before,
        "the epoch went back from {before} to {after}: a holder paused since the old deployment would be valid again"
    );
}

#[test]
fn epochs_go_on_after_a_deployment_is_deleted_and_created_again() {
    epochs_go_on_after_delete_and_create("epochs", str::to_owned);
}

#[test]
fn epochs_go_on_when_the_deployment_comes_back_with_its_state_in_another_namespace() {
    // The old state namespace (and the stamp the deletion left there) is not where the new
    // deployment looks: only the epoch left on the leases carries the count on.
    epochs_go_on_after_delete_and_create("epochsmove", |state_ns| {
        let (_, other) = namespaces("epochsmove2");
        assert_ne!(other, state_ns);
        other
    });
}

#[test]
fn a_missing_network_namespace_ends_exec_at_once_naming_the_cluster_and_the_namespace() {
    use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec};
    use kube::api::{Api, DeleteParams, PostParams};

    let (alice, ns, _) = alice_with_a_deployment("nons", "nons-net");
    // The namespace goes from cluster-2 (the test clusters run no namespace controller, so the
    // test does its work: it deletes what the namespace holds, the deployment's Lease kept by
    // its last release included, then finalizes the deletion).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(TestEnv::shared().client("cluster-2").await, &ns);
        leases
            .delete_collection(&DeleteParams::default(), &Default::default())
            .await
            .expect("delete the namespace's Leases");
        let api: Api<Namespace> = Api::all(TestEnv::shared().client("cluster-2").await);
        api.delete(&ns, &DeleteParams::default())
            .await
            .expect("delete");
        let mut gone = api.get(&ns).await.expect("terminating");
        gone.spec = Some(NamespaceSpec {
            finalizers: Some(Vec::new()),
        });
        api.replace_subresource("finalize", &ns, &PostParams::default(), &gone)
            .await
            .expect("finalize");
        while api.get_opt(&ns).await.expect("get").is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut exec = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    alice.env(&mut exec);
    let mut exec = exec
        .args(["exec", "nons-net", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exec");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = exec.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = exec.kill();
            let _ = exec.wait();
            panic!("exec still runs after 15 s: it spins on the missing namespace");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut exec.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cluster-2") && stderr.contains(&ns) && stderr.contains("does not exist"),
        "{stderr}"
    );
    let leases = json(
        &alice
            .ok(&["lease", "status", "nons-net", "-o", "json"])
            .stdout,
    );
    assert_eq!(
        leases["leases"][0]["state"], "free",
        "nothing stays held: {leases}"
    );
}

/// Someone else's hand on the deployment's lease in cluster-1 (in `ns`, named after it).
fn take_lease_in_cluster_1(ns: &str) {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, Patch, PatchParams};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let leases: Api<Lease> = Api::namespaced(TestEnv::shared().client("cluster-1").await, ns);
        let patch = serde_json::json!({"spec": {"holderIdentity": "mallory"}});
        leases
            .patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("take the lease");
    });
}

#[test]
fn a_renew_that_finds_one_lease_gone_frees_the_others_instead_of_keeping_them_for_the_whole_hold() {
    let (alice, ns, _) = alice_with_a_deployment("renewgone", "renewgone-net");
    alice.ok(&["lease", "acquire", "renewgone-net", "--for", "1h"]);
    take_lease_in_cluster_1(&ns);
    let renew = alice.solo(&["lease", "renew", "renewgone-net"]);
    assert_eq!(renew.code, Some(1), "{}", renew.stderr);
    assert!(renew.stderr.contains("mallory"), "{}", renew.stderr);
    let leases = json(
        &alice
            .ok(&["lease", "status", "renewgone-net", "-o", "json"])
            .stdout,
    );
    assert_eq!(
        leases["leases"][1]["state"], "free",
        "the lease in cluster-2 stays held for an hour by a lock its holder forgot: {leases}"
    );
}

#[test]
fn a_waiting_lease_acquire_claims_for_a_short_time_not_for_its_whole_hold() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, ListParams};

    let (alice, ns, state_ns) = alice_with_a_deployment("shortclaim", "shortclaim-net");
    alice.ok(&["lease", "acquire", "shortclaim-net", "--for", "5m"]);
    // Bob waits for it with a long hold; a crashed waiter must not block anyone for that long.
    let bob = User::new("shortclaim", "bob@example.com");
    for r in ["cluster-1", "cluster-2"] {
        bob.ok(&["cluster-ref", "connect", r, "--context", r]);
    }
    // Free the lease in cluster-2 only, as if alice's claim there had expired: bob claims it.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let leases: Api<Lease> = Api::namespaced(TestEnv::shared().client("cluster-2").await, &ns);
        leases
            .delete(&ns, &Default::default())
            .await
            .expect("free cluster-2");
    });
    let mut waiter = StdCommand::new(env!("CARGO_BIN_EXE_solo"));
    bob.env(&mut waiter);
    let mut waiter = waiter
        .args([
            "lease",
            "acquire",
            "shortclaim-net",
            "--for",
            "24h",
            "--wait=60s",
            "--state-namespace",
            &state_ns,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bob");
    let seconds = runtime.block_on(async {
        // Bob's claim in cluster-2, or the ticket he created to queue (in the queue's namespace,
        // cluster-1's): what he wrote while waiting.
        let bobs = |spec: &k8s_openapi::api::coordination::v1::LeaseSpec| {
            spec.holder_identity
                .as_deref()
                .is_some_and(|h| h.contains("bob@example.com"))
        };
        let selector = format!(
            "{}={}",
            solo_kube::lease_store::LOCK_LABEL,
            solo_kube::lease_store::lock_label_value(&ns)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut written = None;
            for cluster in ["cluster-1", "cluster-2"] {
                let leases: Api<Lease> =
                    Api::namespaced(TestEnv::shared().client(cluster).await, &ns);
                written = leases
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .expect("list")
                    .items
                    .into_iter()
                    .chain(leases.get_opt(&ns).await.expect("get"))
                    .filter_map(|l| l.spec)
                    .find(bobs)
                    .or(written);
            }
            if let Some(spec) = written {
                break spec.lease_duration_seconds.unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "bob never claimed or queued in either cluster"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let _ = waiter.kill();
    let _ = waiter.wait();
    assert!(
        seconds <= 60,
        "a waiting claim lasts {seconds} s: a crashed waiter would block the deployment that long"
    );
    alice.ok(&["lease", "release", "shortclaim-net"]);
}

#[test]
fn a_kept_lock_recorded_by_an_older_version_is_renewed_and_released_through_the_core() {
    let (alice, _, _) = alice_with_a_deployment("keptold", "keptold-net");
    alice.ok(&["lease", "acquire", "keptold-net", "--for", "5m"]);
    // Rewrite the record as versions before the core kept it wrote it: request id, user and
    // epoch only (no leases, no holder record).
    let path = alice.home.join("solo-state-config.yaml");
    let text = std::fs::read_to_string(&path).expect("config");
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    let record = config["leases"]["keptold-net"].clone();
    let lock = &record["lock"];
    let old = serde_json::json!({
        "requestId": lock["holder"]["requestId"].as_str().expect("request id"),
        "user": lock["holder"]["user"].as_str().expect("user"),
        "epoch": lock["epoch"].as_u64().expect("epoch"),
        "leaseSeconds": record["leaseSeconds"].as_u64().expect("seconds"),
        "expiresAt": record["expiresAt"].as_str().expect("expiry"),
    });
    config["leases"]["keptold-net"] = old;
    std::fs::write(&path, serde_saphyr::to_string(&config).expect("yaml")).expect("write");

    alice.ok(&["lease", "renew", "keptold-net", "--for", "10m"]);
    let status = json(
        &alice
            .ok(&["lease", "status", "keptold-net", "-o", "json"])
            .stdout,
    );
    for lease in status["leases"].as_array().expect("leases") {
        assert_eq!(lease["state"], "held", "{status}");
        assert_eq!(
            lease["holder"]["pid"].as_u64().map(|p| p > 0),
            Some(true),
            "the renewal kept the holder record of the leases: {status}"
        );
    }
    alice.ok(&[
        "component",
        "add",
        "keptold-net",
        "consensus",
        "node9",
        "--cluster-ref",
        "cluster-1",
    ]);
    alice.ok(&["lease", "release", "keptold-net"]);
    let status = json(
        &alice
            .ok(&["lease", "status", "keptold-net", "-o", "json"])
            .stdout,
    );
    for lease in status["leases"].as_array().expect("leases") {
        assert_eq!(lease["state"], "free", "{status}");
    }
}

/// A Lease in cluster-1 held by a tool that writes no `leaseDurationSeconds` (nor renew time).
fn foreign_lease_without_duration_in_cluster_1(ns: &str) {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Api, DeleteParams, PostParams};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let leases: Api<Lease> = Api::namespaced(TestEnv::shared().client("cluster-1").await, ns);
        let _ = leases.delete(ns, &DeleteParams::default()).await;
        let lease: Lease = serde_json::from_value(serde_json::json!({
            "metadata": {"name": ns},
            "spec": {"holderIdentity": "backup-operator"},
        }))
        .expect("lease");
        leases
            .create(&PostParams::default(), &lease)
            .await
            .expect("create the foreign lease");
    });
}

#[test]
fn a_foreign_lease_without_a_duration_is_held_not_expired() {
    let (alice, ns, _) = alice_with_a_deployment("nodur", "nodur-net");
    foreign_lease_without_duration_in_cluster_1(&ns);
    // Read as expired at once, a waiting request would take it over within its wait.
    let run = alice.solo(&["exec", "nodur-net", "--wait=3s", "--", "true"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(run.stderr.contains("backup-operator"), "{}", run.stderr);
    let leases = json(
        &alice
            .ok(&["lease", "status", "nodur-net", "-o", "json"])
            .stdout,
    );
    assert_eq!(
        leases["leases"][0]["holder"]["identity"], "backup-operator",
        "{leases}"
    );
    assert_eq!(leases["leases"][1]["state"], "free", "{leases}");
}
