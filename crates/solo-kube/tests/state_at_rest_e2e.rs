//! The state at rest on real clusters with RBAC on: an older schema migrated by the first locked
//! write and kept as a backup (R3); a write that one cluster's API server refuses half way, read
//! back as behind and repaired by the next write; the audit's authenticated user on leases and
//! history; team access with the objects of `solo team setup`.

mod support;

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ObjectMeta, PostParams};
use std::time::Duration;

use solo_core::lock::{
    HolderField, Identity, LeaseKey, LockConfig, LockSet, StoreError, WaitPolicy,
};
use solo_core::state::{
    CURRENT, ClusterRef, ConsensusNode, HASH_ANNOTATION, MigrationStamp, StateDocument, StoredMeta,
    SyncStatus, V1_0_32, content_hash, to_at_rest, to_canonical_yaml,
};
use solo_kube::guard::lock;
use solo_kube::history::HistoryEntry;
use solo_kube::state_store::{
    BACKUP_FROM_ANNOTATION, BACKUP_LABEL, DEPLOYMENT_LABEL, LEGACY_STATE_KEY, STATE_KEY,
    TEAM_LABEL, decode_payload,
};
use solo_kube::{
    Clusters, CopyError, HistoryStore, KubeLeaseStore, LockGuard, LockRequest, ServerClock,
    StateFence, StateStore, StateStoreError, TeamSetup, fence_targets, index,
};
use solo_testenv::TestEnv;

fn refs() -> Vec<String> {
    (1..=3).map(|i| format!("cluster-{i}")).collect()
}

/// Clients for cluster-1..3 through the contexts `user@cluster-N` (`None`: the admin's).
async fn connect(env: &TestEnv, user: Option<&str>) -> Clusters {
    let mapping: Vec<_> = refs()
        .into_iter()
        .map(|r| {
            let context = user.map_or(r.clone(), |u| format!("{u}@{r}"));
            (r, context)
        })
        .collect();
    Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients")
}

fn doc(name: &str, ns: &str, nodes: usize) -> StateDocument {
    let mut d = StateDocument::new(name, "alice@example.com", Timestamp::now());
    d.clusters = refs()
        .into_iter()
        .map(|r| ClusterRef::new(r, ns.to_owned()))
        .collect();
    for i in 0..nodes {
        d.components.consensus.push(ConsensusNode::next_after(
            &d.components.consensus,
            format!("node{i}"),
            refs()[i % 3].clone(),
            ns.to_owned(),
        ));
    }
    d
}

/// The lock of `deployment` as the real commands take it: leases in the network namespace,
/// fenced by the state objects in the state namespace; `email` is the declared identity.
async fn lock_as(
    clusters: &Clusters,
    email: &str,
    ns: &str,
    state_ns: &str,
    deployment: &str,
) -> LockGuard {
    let request = LockRequest {
        lock_set: LockSet::new(deployment, refs().iter().map(|r| LeaseKey::new(r, ns)))
            .expect("a lock set"),
        identity: Identity {
            user: email.to_owned(),
            host: "test-host".into(),
            pid: std::process::id(),
        },
        config: LockConfig::with_lease_duration(Duration::from_secs(5)),
        wait: WaitPolicy::Forever,
    };
    let fence = StateFence::new(
        clusters.clone(),
        fence_targets(state_ns, deployment, refs()),
    );
    let clock = ServerClock::measure(clusters.client("cluster-1").expect("cluster-1")).await;
    lock(
        request,
        KubeLeaseStore::new(clusters.clone()),
        clock,
        fence,
        |_| {},
    )
    .await
    .expect("the lock")
}

fn secrets(clusters: &Clusters, cluster: &str, ns: &str) -> Api<Secret> {
    Api::namespaced(clusters.client(cluster).expect("client").clone(), ns)
}

/// The draft's schema 1.0.32, written by hand as an old solo would have stored it.
fn old_text(name: &str, ns: &str) -> String {
    format!(
        "version: 1.0.32\nmetadata:\n  name: {name}\n  lastUpdatedAt: 2024-04-25T13:03:32Z\n  lastUpdatedBy: lenin@example.com\nclusters:\n  - name: cluster-1\n    namespace: {ns}\n  - name: cluster-2\n    namespace: {ns}\n  - name: cluster-3\n    namespace: {ns}\ncomponents:\n  consensus:\n    - name: node0\n      cluster: cluster-1\n      namespace: {ns}\n    - name: node1\n      cluster: cluster-2\n      namespace: {ns}\n  relay:\n    - name: relay-1\n      cluster: cluster-1\n      namespace: {ns}\n      consensusNode:\n        - node0\n        - node1\n"
    )
}

/// A state object of `deployment` (team-a) holding `text` in every cluster, written by hand as
/// an older solo stored it: under the data key `state.yaml`.
async fn put_by_hand(
    clusters: &Clusters,
    ns: &str,
    deployment: &str,
    meta: &StoredMeta,
    text: &str,
) {
    for r in refs() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(deployment.into()),
                labels: Some(BTreeMap::from([
                    (DEPLOYMENT_LABEL.to_owned(), deployment.to_owned()),
                    (TEAM_LABEL.to_owned(), "team-a".to_owned()),
                ])),
                annotations: Some(meta.to_annotations().into_iter().collect()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                LEGACY_STATE_KEY.to_owned(),
                ByteString(text.as_bytes().to_vec()),
            )])),
            ..Default::default()
        };
        secrets(clusters, &r, ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("a state written by hand");
    }
}

#[tokio::test]
async fn an_older_schema_is_stored_migrated_by_the_first_locked_write_and_kept_as_a_backup() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("state-migrate").await;
    let clusters = connect(env, None).await;
    let store = StateStore::new(clusters.clone(), &ns);
    let text = old_text("old-net", &ns);
    let meta = StoredMeta::first(uuid::Uuid::new_v4(), 0, V1_0_32, &text);
    put_by_hand(&clusters, &ns, "old-net", &meta, &text).await;

    // Reads migrate in memory, and write nothing.
    let (copy, status) = store.read("old-net", &refs()).await.expect("read");
    assert_eq!(status, SyncStatus::InSync { serial: 1 });
    let stamp = MigrationStamp {
        by: "carol@example.com".into(),
        at: Timestamp::now(),
    };
    let loaded = copy.load(&stamp).expect("migrates");
    let migrated = loaded.migrated().expect("an older schema is migrated");
    assert_eq!(migrated.from, V1_0_32);
    assert_eq!(migrated.backup_of_original, text);
    let relay = &loaded.document().components.relay[0];
    assert_eq!(relay.consensus_nodes, ["node0", "node1"]);

    // The first locked write stores the current schema and keeps the old text as a backup.
    let guard = support::lock_state(&clusters, &ns, "old-net", &refs()).await;
    let out = store
        .write(guard.epoch(), "old-net", loaded.document())
        .await
        .expect("write");
    assert_eq!(out.serial, 2);
    assert_eq!(out.backup.as_deref(), Some("old-net-backup-1.0.32"));
    for r in refs() {
        let backup = secrets(&clusters, &r, &ns)
            .get("old-net-backup-1.0.32")
            .await
            .expect("a backup in every cluster");
        assert_eq!(
            backup.data.as_ref().expect("data")[LEGACY_STATE_KEY].0,
            text.as_bytes(),
            "the backup keeps the original as it was stored"
        );
        let labels = backup.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(BACKUP_LABEL).map(String::as_str), Some("true"));
        assert_eq!(labels.get(TEAM_LABEL).map(String::as_str), Some("team-a"));
        let annotations = backup.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations[BACKUP_FROM_ANNOTATION], "1.0.32");
    }
    for (cluster, copy) in store.read_all("old-net", &refs()).await {
        let copy = copy.unwrap_or_else(|e| panic!("{cluster}: {e}"));
        let loaded = copy.load(&stamp).expect("loads");
        assert!(loaded.migrated().is_none(), "{cluster} is stored migrated");
        let migration = loaded
            .document()
            .metadata
            .migration
            .clone()
            .expect("stamped");
        // The record names the chain's last step (1.0.32 -> 1.1.0 -> 2.0.0 -> 2.1.0).
        assert_eq!(migration.from_version, "2.0.0");
        assert_eq!(migration.migrated_by, "carol@example.com");
    }

    // Later writes keep the backup as it is and make no other.
    let (copy, _) = store.read("old-net", &refs()).await.expect("read");
    let next = copy.load(&stamp).expect("loads").into_document();
    let out = store
        .write(guard.epoch(), "old-net", &next)
        .await
        .expect("write");
    assert_eq!((out.serial, out.backup), (3, None));
    guard.release().await.expect("release");
}

/// The stored text of `deployment` in every cluster, with its content-hash annotation.
async fn stored_texts(clusters: &Clusters, ns: &str, deployment: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in refs() {
        let secret = secrets(clusters, &r, ns)
            .get(deployment)
            .await
            .expect("get");
        let text = decode_payload(&secret).expect("decodes").expect("a state");
        let hash = secret.metadata.annotations.unwrap_or_default()[HASH_ANNOTATION].clone();
        out.push((text, hash));
    }
    out
}

#[tokio::test]
async fn a_copy_stored_as_yaml_by_an_older_solo_reads_and_the_next_locked_write_stores_it_as_json()
{
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("state-yaml-at-rest").await;
    let clusters = connect(env, None).await;
    let store = StateStore::new(clusters.clone(), &ns);
    let before = doc("yaml-net", &ns, 3);
    // Today's schema, stored as the canonical YAML that solo wrote before it stored JSON.
    let yaml = to_canonical_yaml(&before).expect("yaml");
    let meta = StoredMeta::first(uuid::Uuid::new_v4(), 0, CURRENT, &yaml);
    put_by_hand(&clusters, &ns, "yaml-net", &meta, &yaml).await;

    // Read as it is: in sync, the same document, nothing migrated, nothing written.
    let (copy, status) = store.read("yaml-net", &refs()).await.expect("read");
    assert_eq!(status, SyncStatus::InSync { serial: 1 });
    let stamp = MigrationStamp {
        by: "carol@example.com".into(),
        at: Timestamp::now(),
    };
    let loaded = copy.load(&stamp).expect("loads");
    assert!(loaded.migrated().is_none());
    assert_eq!(loaded.document(), &before);
    assert!(
        stored_texts(&clusters, &ns, "yaml-net")
            .await
            .iter()
            .all(|(text, _)| text == &yaml)
    );

    // The next locked write rolls every copy forward to canonical JSON, hashed as stored.
    let mut after = loaded.into_document();
    after.components.consensus.pop();
    let guard = support::lock_state(&clusters, &ns, "yaml-net", &refs()).await;
    let out = store
        .write(guard.epoch(), "yaml-net", &after)
        .await
        .expect("write");
    assert_eq!((out.serial, out.backup), (2, None));
    let json = to_at_rest(&after).expect("json");
    assert!(json.starts_with('{'), "{json}");
    for (text, hash) in stored_texts(&clusters, &ns, "yaml-net").await {
        assert_eq!(text, json);
        assert_eq!(hash, content_hash(&json));
    }
    // Under today's key only: the old key went in the same write.
    for r in refs() {
        let secret = secrets(&clusters, &r, &ns)
            .get("yaml-net")
            .await
            .expect("get");
        let keys: Vec<String> = secret.data.unwrap_or_default().into_keys().collect();
        assert_eq!(keys, [STATE_KEY], "{r}");
    }
    let (copy, status) = store.read("yaml-net", &refs()).await.expect("read");
    assert_eq!(status, SyncStatus::InSync { serial: 2 });
    assert_eq!(copy.load(&stamp).expect("loads").document(), &after);
    guard.release().await.expect("release");
}

/// The write of serial 2 goes through in cluster-1 and cluster-3 but cluster-2's API server
/// refuses it (its client may read but not write there): a write cut short by a real cluster.
#[tokio::test]
async fn a_write_refused_by_one_of_three_clusters_is_read_as_behind_and_the_next_write_repairs_it()
{
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("state-partial").await;
    let admin = connect(env, None).await;
    let store = StateStore::new(admin.clone(), &ns);
    let d1 = doc("net", &ns, 2);
    store.create(&d1, "team-a").await.expect("create");
    // carol (team-a) may read the state in cluster-2, and not write it.
    let client2 = admin.client("cluster-2").expect("client").clone();
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "read-state", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    }))
    .expect("role");
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "read-state", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-state"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-a"}],
    }))
    .expect("binding");
    Api::<Role>::namespaced(client2.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    Api::<RoleBinding>::namespaced(client2, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let carol2 = env.client("carol@cluster-2").await;
    let mixed = Clusters::from_clients([
        (
            "cluster-1".to_owned(),
            admin.client("cluster-1").expect("c1").clone(),
        ),
        ("cluster-2".to_owned(), carol2),
        (
            "cluster-3".to_owned(),
            admin.client("cluster-3").expect("c3").clone(),
        ),
    ]);

    let guard = support::lock_state(&admin, &ns, "net", &refs()).await;
    let mut d2 = d1.clone();
    d2.components.consensus.push(ConsensusNode::next_after(
        &d2.components.consensus,
        "extra1",
        "cluster-2",
        ns.clone(),
    ));
    let err = StateStore::new(mixed, &ns)
        .write(guard.epoch(), "net", &d2)
        .await
        .expect_err("cluster-2 refuses");
    let StateStoreError::Incomplete {
        written, failed, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (written.as_str(), failed.as_str()),
        ("cluster-1, cluster-3", "cluster-2")
    );
    assert!(err.to_string().contains("rolls cluster-2 forward"), "{err}");

    // The next read says which copy is behind.
    let (_, status) = store.status("net", &refs()).await;
    let SyncStatus::Behind { serial, behind, .. } = &status else {
        panic!("{status:?}")
    };
    assert_eq!(
        (*serial, behind.clone()),
        (2, vec![("cluster-2".to_owned(), 1)])
    );

    // The next locked write starts from the newest and repairs cluster-2: nothing lost.
    let stamp = MigrationStamp {
        by: "alice@example.com".into(),
        at: Timestamp::now(),
    };
    let (newest, _) = store.read("net", &refs()).await.expect("read");
    let mut d3 = newest.load(&stamp).expect("loads").into_document();
    assert_eq!(d3, d2);
    d3.components.consensus.push(ConsensusNode::next_after(
        &d3.components.consensus,
        "extra2",
        "cluster-3",
        ns.clone(),
    ));
    let out = store.write(guard.epoch(), "net", &d3).await.expect("write");
    assert_eq!(
        (out.serial, out.rolled_forward),
        (3, vec!["cluster-2".to_owned()])
    );
    assert_eq!(
        store.status("net", &refs()).await.1,
        SyncStatus::InSync { serial: 3 }
    );
    for (cluster, copy) in store.read_all("net", &refs()).await {
        let d = copy
            .expect("copy")
            .load(&stamp)
            .expect("loads")
            .into_document();
        let names: Vec<&str> = d
            .components
            .consensus
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["node0", "node1", "extra1", "extra2"], "{cluster}");
    }
    guard.release().await.expect("release");
}

/// Team access with the objects of `solo team setup`, applied by the admin: alice (team-a)
/// creates, locks and writes, and the leases and history record `alice` as the API server
/// authenticated her, whatever email she declares; bob (team-b) cannot read the state or the
/// leases, and still finds the deployment and its team in the public index.
#[tokio::test]
async fn a_team_owns_its_state_and_leases_others_only_see_the_index_and_the_audit_names_the_kubernetes_user()
 {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("team-net").await;
    let state_ns = env.fresh_namespace("team-st").await;
    let team = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // Deployment names are unique across teams: the shared clusters keep earlier runs' entries.
    let name = format!("net-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let setup = TeamSetup {
        team: team.clone(),
        group: "team-a".into(),
        state_namespace: state_ns.clone(),
        network_namespaces: vec![ns.clone()],
    };
    let admin = connect(env, None).await;
    for r in refs() {
        let applied = setup
            .objects()
            .apply(admin.client(&r).expect("client"), &team)
            .await
            .expect("apply");
        assert!(
            applied.iter().any(|a| a.starts_with("RoleBinding")),
            "{applied:?}"
        );
    }

    let alice = connect(env, Some("alice")).await;
    let store = StateStore::new(alice.clone(), &state_ns);
    let d1 = doc(&name, &ns, 2);
    store.create(&d1, &team).await.expect("alice creates");
    // The declared email says mallory; the clusters say alice.
    let guard = lock_as(&alice, "mallory@example.com", &ns, &state_ns, &name).await;
    for r in refs() {
        let leases: Api<Lease> = Api::namespaced(alice.client(&r).expect("client").clone(), &ns);
        let lease = leases.get(&name).await.expect("lease");
        let holder = lease
            .spec
            .and_then(|s| s.holder_identity)
            .and_then(|h| HolderField::parse(&h));
        let Some(HolderField::Known(holder)) = holder else {
            panic!("{r}: {holder:?}")
        };
        assert_eq!(holder.user, "mallory@example.com");
        assert_eq!(holder.authenticated_as.as_deref(), Some("alice"), "{r}");
    }
    let history = HistoryStore::new(alice.clone(), &state_ns);
    let entry = HistoryEntry {
        command: vec!["deploy".into()],
        executed_by: "mallory@example.com".into(),
        executed_at: Timestamp::now(),
        result: "exit 0".into(),
        duration_ms: 1,
        authenticated_as: Some("forged".into()),
    };
    history
        .append(guard.epoch(), &name, &refs(), &entry)
        .await
        .expect("append");
    let read = history.read_all(&name, &refs()).await.expect("history");
    assert_eq!(read.entries[0].executed_by, "mallory@example.com");
    assert_eq!(read.entries[0].authenticated_as.as_deref(), Some("alice"));
    guard.release().await.expect("release");

    // bob: no state, no history, no leases; but the index names the deployment and its team.
    let bob = connect(env, Some("bob")).await;
    for (cluster, copy) in StateStore::new(bob.clone(), &state_ns)
        .read_all(&name, &refs())
        .await
    {
        assert!(
            matches!(copy, Err(CopyError::Store(StoreError::Forbidden { .. }))),
            "{cluster}: {copy:?}"
        );
    }
    assert!(
        HistoryStore::new(bob.clone(), &state_ns)
            .read_all(&name, &refs())
            .await
            .is_err()
    );
    let leases: Api<Lease> = Api::namespaced(bob.client("cluster-1").expect("c").clone(), &ns);
    assert!(matches!(leases.get_opt(&name).await, Err(kube::Error::Api(s)) if s.code == 403));
    let entry = index::find(&bob, &refs(), &name)
        .await
        .expect("bob finds it");
    assert_eq!(
        (entry.team.as_str(), entry.state_namespace.as_str()),
        (team.as_str(), state_ns.as_str())
    );
    assert_eq!(entry.clusters, refs());
    let info = index::team_info(&bob, &refs(), &team)
        .await
        .expect("directory");
    assert_eq!(info.group, "team-a");
    let listed = index::list(bob.client("cluster-2").expect("c"), &state_ns)
        .await
        .expect("bob lists the index");
    assert_eq!(listed.len(), 1);
    // Nor may bob write the index of another team.
    let cms: Api<ConfigMap> =
        Api::namespaced(bob.client("cluster-1").expect("c").clone(), &state_ns);
    let forged = index::IndexEntry {
        team: "team-b".into(),
        ..entry.clone()
    };
    let mut cm = forged.to_config_map();
    cm.metadata.resource_version = cms.get(&name).await.expect("get").metadata.resource_version;
    assert!(
        cms.replace(&name, &PostParams::default(), &cm)
            .await
            .is_err()
    );
}
