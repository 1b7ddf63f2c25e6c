//! Living beside the Solo tool on real clusters: its remote config imported from two clusters
//! and changed under this tool's lock, its Lease (written exactly as Solo writes it) blocking
//! `exec` with a message that names it, Solo's own check refusing this tool's held lock, and one
//! deployment per (cluster, namespace). Every command also checks, through the shared support,
//! that Solo's local-config.yaml stays byte for byte the same.

mod support;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use solo_core::lock::{SoloToolHolder, solo_sees_held};
use solo_testenv::TestEnv;

use support::{User, alice_with_a_deployment, json, namespaces};

const REMOTE_V8: &str = include_str!("../../solo-core/tests/data/solo/remote-config-v8.yaml");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// Solo's v8 fixture for deployment `deployment` over cluster-1 and cluster-2 in `ns`.
fn remote_config(deployment: &str, ns: &str) -> String {
    REMOTE_V8
        .replace("cluster-a", "cluster-1")
        .replace("cluster-b", "cluster-2")
        .replace("namespace: solo", &format!("namespace: {ns}"))
        .replace("solo-deployment", deployment)
}

/// Places the ConfigMap in `ns` of `cluster` as Solo does (`createConfigMap` with its labels).
async fn place_remote_config(cluster: &str, ns: &str, yaml: &str) -> String {
    let api: Api<ConfigMap> = Api::namespaced(TestEnv::shared().client(cluster).await, ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("solo-remote-config".into()),
            namespace: Some(ns.into()),
            labels: Some(
                [(
                    "solo.hedera.com/type".to_owned(),
                    "remote-config".to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        data: Some([("remote-config-data".to_owned(), yaml.to_owned())].into()),
        ..Default::default()
    };
    let created = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("ConfigMap");
    created.metadata.resource_version.expect("version")
}

async fn remote_config_version(cluster: &str, ns: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(TestEnv::shared().client(cluster).await, ns);
    api.get("solo-remote-config")
        .await
        .expect("read")
        .metadata
        .resource_version
}

fn connected(test: &str) -> User {
    let alice = User::new(test, "alice@example.com");
    for r in ["cluster-1", "cluster-2"] {
        alice.ok(&["cluster-ref", "connect", r, "--context", r]);
    }
    alice
}

#[test]
fn a_network_solo_deployed_in_two_clusters_is_imported_then_changed_under_our_lock() {
    let (ns, state_ns) = namespaces("imp");
    let yaml = remote_config("imp-net", &ns);
    let versions = runtime().block_on(async {
        (
            place_remote_config("cluster-1", &ns, &yaml).await,
            place_remote_config("cluster-2", &ns, &yaml).await,
        )
    });
    let alice = connected("import");
    let import = |extra: &[&str]| {
        let mut args = vec![
            "state",
            "import-solo",
            "imp-net",
            "--namespace",
            &ns,
            "--cluster-ref",
            "cluster-1",
            "--state-namespace",
            &state_ns,
        ];
        args.extend_from_slice(extra);
        alice.solo(&args)
    };

    // --dry-run prints the state it would write, and writes nothing.
    let dry = import(&["--dry-run"]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(dry.stdout.contains("name: node3"), "{}", dry.stdout);
    assert!(dry.stdout.contains("cluster: cluster-2"), "{}", dry.stdout);
    assert!(
        dry.stderr
            .contains("not imported: 1 block node (blockNodes)"),
        "{}",
        dry.stderr
    );
    let none = alice.solo(&["state", "show", "imp-net", "--state-namespace", &state_ns]);
    assert_ne!(none.code, Some(0), "a dry run wrote a state");

    // The import reads cluster-1's copy, learns cluster-2 from it, compares both, and creates.
    let done = import(&[]);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("ok: imported Solo's deployment imp-net (schema 8)"),
        "{}",
        done.stderr
    );
    let state = json(&alice.ok(&["state", "show", "imp-net", "-o", "json"]).stdout);
    let clusters: Vec<_> = state["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(clusters, ["cluster-1", "cluster-2"], "{state}");
    assert_eq!(
        state["components"]["consensus"].as_array().map(Vec::len),
        Some(3),
        "{state}"
    );
    assert_eq!(
        state["components"]["relay"][0]["consensusNodes"][0], "node3",
        "{state}"
    );
    // R13: Solo's numbering and DNS facts came along.
    assert_eq!(state["components"]["consensus"][2]["nodeId"], 2, "{state}");
    assert_eq!(
        state["components"]["consensus"][2]["accountId"], "0.0.5",
        "{state}"
    );
    assert_eq!(
        state["clusters"][1]["dnsBaseDomain"], "cluster.local",
        "{state}"
    );
    let history = json(&alice.ok(&["history", "imp-net", "-o", "json"]).stdout);
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 10, "{history}");
    assert_eq!(entries[0]["command"][0], "deployment", "{history}");
    assert_eq!(entries[0]["executedBy"], "alice@example.com", "{history}");
    assert!(
        entries[0]["result"]
            .as_str()
            .unwrap_or_default()
            .contains("the Solo tool"),
        "{history}"
    );

    // Changed under this tool's lock; Solo's ConfigMaps are only read.
    alice.ok(&[
        "component",
        "add",
        "imp-net",
        "mirror",
        "mirror-2",
        "--cluster-ref",
        "cluster-2",
    ]);
    let state = json(&alice.ok(&["state", "show", "imp-net", "-o", "json"]).stdout);
    assert_eq!(
        state["components"]["mirror"][1]["name"], "mirror-2",
        "{state}"
    );
    runtime().block_on(async {
        assert_eq!(
            remote_config_version("cluster-1", &ns).await,
            Some(versions.0)
        );
        assert_eq!(
            remote_config_version("cluster-2", &ns).await,
            Some(versions.1)
        );
    });

    // A second import of the same deployment is refused: its state exists.
    let again = import(&[]);
    assert_eq!(again.code, Some(1), "{}", again.stderr);
}

#[test]
fn copies_that_differ_are_refused_with_a_table_and_an_unknown_version_by_its_number() {
    let (ns, state_ns) = namespaces("impd");
    let yaml = remote_config("diff-net", &ns);
    let newer = yaml.replace(
        "lastUpdatedAt: 2026-11-30T09:14:03.512Z",
        "lastUpdatedAt: 2026-11-30T10:00:00.000Z",
    );
    runtime().block_on(async {
        place_remote_config("cluster-1", &ns, &yaml).await;
        place_remote_config("cluster-2", &ns, &newer).await;
    });
    let alice = connected("import-diff");
    let args = [
        "state",
        "import-solo",
        "diff-net",
        "--namespace",
        &ns,
        "--cluster-ref",
        "cluster-1",
        "--cluster-ref",
        "cluster-2",
        "--state-namespace",
        &state_ns,
    ];
    let refused = alice.solo(&args);
    assert_eq!(refused.code, Some(4), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("differ between clusters"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("2026-11-30T10:00:00.000Z"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--from <cluster-ref>"),
        "{}",
        refused.stderr
    );
    let mut from = args.to_vec();
    from.extend(["--from", "cluster-2", "--dry-run"]);
    alice.ok(&from);

    let (ns9, _) = namespaces("imp9");
    runtime().block_on(async {
        place_remote_config(
            "cluster-1",
            &ns9,
            &remote_config("nine-net", &ns9).replace("schemaVersion: 8", "schemaVersion: 9"),
        )
        .await;
    });
    let nine = alice.solo(&[
        "state",
        "import-solo",
        "nine-net",
        "--namespace",
        &ns9,
        "--cluster-ref",
        "cluster-1",
        "--dry-run",
    ]);
    assert_eq!(nine.code, Some(1), "{}", nine.stderr);
    assert!(nine.stderr.contains("schema version 9"), "{}", nine.stderr);
    assert_eq!(
        nine.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{}",
        nine.stderr
    );
}

/// The Lease Solo's `IntervalLock` creates: named after the namespace, in it, its holder as
/// `LockHolder.toJson`, 20 seconds, `acquireTime` now and no `renewTime`. When one exists (ours,
/// released: kept for its epoch), Solo checks it as its own code does and takes it over by
/// replacing its spec (`transfer`).
async fn solo_lease(cluster: &str, ns: &str, holder: &SoloToolHolder) {
    let api: Api<Lease> = Api::namespaced(TestEnv::shared().client(cluster).await, ns);
    if let Some(mut existing) = api.get_opt(ns).await.expect("read the Lease") {
        let seen = solo_kube::lease_store::as_solo_reads(&existing);
        solo_sees_held(Some(&seen), holder, jiff::Timestamp::now())
            .expect("Solo takes over a Lease that solo released");
        existing.spec = Some(LeaseSpec {
            holder_identity: Some(holder.to_identity()),
            lease_duration_seconds: Some(20),
            acquire_time: Some(MicroTime(jiff::Timestamp::now())),
            ..Default::default()
        });
        api.replace(ns, &PostParams::default(), &existing)
            .await
            .expect("Solo's transfer");
        return;
    }
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_identity()),
            lease_duration_seconds: Some(20),
            acquire_time: Some(MicroTime(jiff::Timestamp::now())),
            ..Default::default()
        }),
    };
    api.create(&PostParams::default(), &lease)
        .await
        .expect("Solo's lease");
}

fn jdoe() -> SoloToolHolder {
    SoloToolHolder {
        username: "jdoe".into(),
        hostname: "laptop-7".into(),
        pid: 4242,
    }
}

#[test]
fn a_lease_solo_holds_blocks_exec_and_the_message_names_the_solo_tool() {
    let (alice, ns, _) = alice_with_a_deployment("solo-lease", "sl-net");
    runtime().block_on(solo_lease("cluster-2", &ns, &jdoe()));
    let refused = alice.solo(&["exec", "sl-net", "--", "true"]);
    assert_eq!(refused.code, Some(3), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("sl-net is locked by the Solo tool (user jdoe on laptop-7, pid 4242)"),
        "{}",
        refused.stderr
    );
    let status = json(
        &alice
            .ok(&["lease", "status", "sl-net", "-o", "json"])
            .stdout,
    );
    let solo_row = status["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .find(|l| l["cluster"] == "cluster-2")
        .cloned()
        .expect("cluster-2");
    assert_eq!(solo_row["holder"]["user"], "jdoe", "{status}");
    assert_eq!(solo_row["holder"]["tool"], "solo (TypeScript)", "{status}");
}

#[test]
fn solo_own_check_refuses_this_tools_held_lock_and_takes_it_once_released() {
    let (alice, ns, _) = alice_with_a_deployment("solo-sees", "ss-net");
    alice.ok(&["lease", "acquire", "ss-net", "--for", "1m"]);
    let read = |cluster: &'static str| {
        let ns = ns.clone();
        runtime().block_on(async move {
            let api: Api<Lease> = Api::namespaced(TestEnv::shared().client(cluster).await, &ns);
            api.get_opt(&ns).await.expect("read")
        })
    };
    for cluster in ["cluster-1", "cluster-2"] {
        let lease = read(cluster).expect("our lease is named after the namespace, as Solo's");
        let record = solo_kube::lease_store::as_solo_reads(&lease);
        let verdict = solo_sees_held(Some(&record), &jdoe(), jiff::Timestamp::now());
        let refusal = verdict.expect_err("Solo must see the lock as held");
        assert!(
            refusal.contains("lock already acquired by 'alice@example.com'"),
            "{refusal}"
        );
    }
    alice.ok(&["lease", "release", "ss-net"]);
    for cluster in ["cluster-1", "cluster-2"] {
        let lease = read(cluster);
        let record = lease.map(|l| solo_kube::lease_store::as_solo_reads(&l));
        assert_eq!(
            solo_sees_held(record.as_ref(), &jdoe(), jiff::Timestamp::now()),
            Ok(()),
            "Solo may take a released lock"
        );
    }
}

#[test]
fn one_deployment_per_cluster_and_namespace() {
    let (alice, ns, state_ns) = alice_with_a_deployment("one-per-ns", "first-net");
    let second = alice.solo(&[
        "deployment",
        "create",
        "second-net",
        "--namespace",
        &ns,
        "--cluster-ref",
        "cluster-2",
        "--state-namespace",
        &state_ns,
    ]);
    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "namespace {ns} in cluster cluster-2 is already used by deployment first-net"
        )),
        "{}",
        second.stderr
    );

    // A namespace where the Solo tool deployed a network: the refusal points at the import.
    let (solo_ns, _) = namespaces("solo-owned");
    runtime().block_on(place_remote_config(
        "cluster-1",
        &solo_ns,
        &remote_config("theirs", &solo_ns),
    ));
    let theirs = alice.solo(&[
        "deployment",
        "create",
        "mine",
        "--namespace",
        &solo_ns,
        "--cluster-ref",
        "cluster-1",
        "--state-namespace",
        &state_ns,
    ]);
    assert_eq!(theirs.code, Some(1), "{}", theirs.stderr);
    assert!(
        theirs.stderr.contains("the Solo tool deployed"),
        "{}",
        theirs.stderr
    );
    assert!(
        theirs.stderr.contains("solo state import-solo"),
        "{}",
        theirs.stderr
    );
}
