//! Team access control end to end, as people run solo against the real shared clusters (RBAC
//! on): an admin sets team access up with `solo team setup`; alice (team-a) creates and changes a
//! deployment; carol (team-a) finds it without flags; bob (team-b) sees it listed with its team,
//! and cannot read or change its state, history or leases: exit 5, naming the team and the group
//! to ask for. Also `solo state migrate` on an older schema written by hand.

mod support;

use std::collections::BTreeMap;

use solo_testenv::TestEnv;
use support::{User, assert_lock_free, json, team_setup};

/// A user with a fresh SOLO_HOME whose cluster refs 1 and 2 map to `context_of(ref)`.
fn user(test: &str, email: &str, context_of: impl Fn(&str) -> String) -> User {
    let user = User::new(&format!("team-{test}"), email);
    user.connect(&["cluster-1", "cluster-2"], context_of);
    user
}

fn fresh(prefix: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(TestEnv::shared().fresh_namespace(prefix))
}

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    format!("{:x}{:x}", std::process::id() % 4096, nanos)
}

#[test]
fn a_team_b_member_cannot_read_or_change_team_a_state_and_still_sees_it_listed() {
    let ns = fresh("team-net");
    let state_ns = fresh("team-st");
    let team = format!("ta-{}", suffix());
    let deployment = format!("net-{}", suffix());
    let admin = user("team", "admin@example.com", |r| r.to_owned());
    let setup = team_setup(&admin, &team, "team-a", &state_ns, &ns);
    assert!(
        setup
            .stderr
            .contains(&format!("ok: team {team} (group team-a)")),
        "{}",
        setup.stderr
    );

    let alice = user("team", "alice@example.com", |r| format!("alice@{r}"));
    alice.create(
        &deployment,
        &ns,
        &["cluster-1", "cluster-2"],
        &["--team", &team, "--state-namespace", &state_ns],
    );
    alice.ok(&["exec", &deployment, "--", "true"]);
    let history = json(&alice.ok(&["history", &deployment, "-o", "json"]).stdout);
    let first = &history["entries"][0];
    assert_eq!(first["executedBy"], "alice@example.com", "{history}");
    assert_eq!(first["authenticatedAs"], "alice", "{history}");

    // carol, of the same team, finds it through the public index and reads it.
    let carol = user("team", "carol@example.com", |r| format!("carol@{r}"));
    let state = json(
        &carol
            .ok(&["state", "show", &deployment, "-o", "json"])
            .stdout,
    );
    assert_eq!(state["metadata"]["name"], deployment.as_str());

    // bob, of team-b, sees it listed with its team...
    let bob = user("team", "bob@example.com", |r| format!("bob@{r}"));
    let list = json(&bob.ok(&["deployment", "list", "-o", "json"]).stdout);
    let row = list
        .as_array()
        .expect("rows")
        .iter()
        .find(|d| d["name"] == deployment.as_str())
        .unwrap_or_else(|| panic!("bob does not see {deployment}: {list}"));
    assert_eq!(row["team"], team.as_str());
    assert_eq!(row["stateNamespace"], state_ns.as_str());

    // ... and can neither read nor change it: exit 5, naming the team and the group.
    let expected = format!(
        "you (bob) are not allowed to read deployment {deployment} of team {team} on cluster-1: ask an admin to add you to group team-a"
    );
    for args in [
        vec!["state", "show", deployment.as_str()],
        vec!["history", deployment.as_str()],
        vec!["lease", "status", deployment.as_str()],
        vec!["exec", deployment.as_str(), "--", "true"],
        vec![
            "state",
            "sync",
            deployment.as_str(),
            "--from",
            "cluster-1",
            "--yes",
        ],
    ] {
        let run = bob.solo(&args);
        assert_eq!(
            run.code,
            Some(5),
            "solo {args:?}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stderr.contains(&expected),
            "solo {args:?}:\n{}",
            run.stderr
        );
    }
    // Nothing changed: one exec in the history, the state at the serial alice left.
    let after = json(&alice.ok(&["history", &deployment, "-o", "json"]).stdout);
    assert_eq!(
        after["entries"].as_array().map(Vec::len),
        Some(1),
        "{after}"
    );
    assert_lock_free(&alice, &deployment);

    // Deleted by its team, it leaves the public list too.
    alice.ok(&["deployment", "delete", &deployment, "--yes"]);
    let list = json(&bob.ok(&["deployment", "list", "-o", "json"]).stdout);
    assert!(
        list.as_array()
            .expect("rows")
            .iter()
            .all(|d| d["name"] != deployment.as_str()),
        "{list}"
    );
}

#[test]
fn state_migrate_stores_an_older_schema_and_keeps_the_old_document_as_a_backup() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, ObjectMeta, PostParams};
    use solo_core::state::{StoredMeta, V1_0_32};
    use solo_kube::state_store::{DEPLOYMENT_LABEL, STATE_KEY};

    let ns = fresh("migrate-net");
    let state_ns = fresh("migrate-st");
    let text = format!(
        "version: 1.0.32\nmetadata:\n  name: old-net\n  lastUpdatedAt: 2024-04-25T13:03:32Z\n  lastUpdatedBy: lenin@example.com\nclusters:\n  - name: cluster-1\n    namespace: {ns}\n  - name: cluster-2\n    namespace: {ns}\ncomponents:\n  consensus:\n    - name: node0\n      cluster: cluster-1\n      namespace: {ns}\n  relay:\n    - name: relay-1\n      cluster: cluster-2\n      namespace: {ns}\n      consensusNode:\n        - node0\n"
    );
    let lineage = "5b1e4a57-7c3a-4e8e-9d7b-0c2f3a1b2c3d"
        .parse()
        .expect("a lineage");
    let meta = StoredMeta::first(lineage, 0, V1_0_32, &text);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let api = |cluster: &str| -> Api<Secret> {
        let client = runtime.block_on(TestEnv::shared().client(cluster));
        Api::namespaced(client, &state_ns)
    };
    for cluster in ["cluster-1", "cluster-2"] {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("old-net".into()),
                labels: Some(BTreeMap::from([(
                    DEPLOYMENT_LABEL.to_owned(),
                    "old-net".to_owned(),
                )])),
                annotations: Some(meta.to_annotations().into_iter().collect()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                STATE_KEY.to_owned(),
                ByteString(text.clone().into_bytes()),
            )])),
            ..Default::default()
        };
        runtime
            .block_on(api(cluster).create(&PostParams::default(), &secret))
            .expect("an old state written by hand");
    }
    let alice = user("migrate", "alice@example.com", |r| r.to_owned());
    let refused = alice.solo(&[
        "state",
        "migrate",
        "old-net",
        "--state-namespace",
        &state_ns,
    ]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("from schema 1.0.32 to 2.1.0"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was done"),
        "{}",
        refused.stderr
    );
    let run = alice.ok(&[
        "state",
        "migrate",
        "old-net",
        "--state-namespace",
        &state_ns,
        "--yes",
    ]);
    assert!(
        run.stderr
            .contains(&format!("kept as Secret {state_ns}/old-net-backup-1.0.32")),
        "{}",
        run.stderr
    );
    for cluster in ["cluster-1", "cluster-2"] {
        let backup = runtime
            .block_on(api(cluster).get("old-net-backup-1.0.32"))
            .expect("backup");
        assert_eq!(backup.data.expect("data")[STATE_KEY].0, text.as_bytes());
    }
    let state = json(&alice.ok(&["state", "show", "old-net", "-o", "json"]).stdout);
    assert_eq!(state["version"], "2.1.0", "{state}");
    assert_eq!(
        state["metadata"]["migration"]["migratedBy"], "alice@example.com",
        "{state}"
    );
    let again = alice.ok(&["state", "migrate", "old-net", "--yes"]);
    assert!(
        again.stderr.contains("already at schema 2.1.0"),
        "{}",
        again.stderr
    );
}
