//! The state stored in every cluster of a deployment, against real clusters (R12): create, read in
//! sync, fenced writes, hand edits reported and never overwritten, a cut-short write rolled
//! forward, and `sync --from` repairing a diverged set.

mod support;

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use solo_core::state::{
    ClusterRef, ConsensusNode, HASH_ANNOTATION, LINEAGE_ANNOTATION, MigrationStamp,
    SERIAL_ANNOTATION, StateDocument, StoredMeta, SyncStatus, content_hash, to_at_rest,
};
use solo_kube::state_store::{STATE_GZ_KEY, STATE_KEY, TEAM_LABEL, classify_copies};
use solo_kube::{Clusters, LockGuard, StateStore, StateStoreError};
use solo_testenv::TestEnv;

struct T {
    clusters: Clusters,
    store: StateStore,
    ns: String,
    refs: Vec<String>,
}

async fn setup(prefix: &str) -> T {
    setup_in(TestEnv::shared(), prefix).await
}

async fn setup_in(env: &TestEnv, prefix: &str) -> T {
    let ns = env.fresh_namespace(prefix).await;
    let refs: Vec<String> = (1..=3).map(|i| format!("cluster-{i}")).collect();
    let mapping: Vec<_> = refs.iter().map(|r| (r.clone(), r.clone())).collect();
    let clusters = Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients");
    T {
        store: StateStore::new(clusters.clone(), &ns),
        clusters,
        ns,
        refs,
    }
}

impl T {
    fn doc(&self, name: &str, nodes: usize) -> StateDocument {
        let mut d = StateDocument::new(name, "alice@example.com", Timestamp::now());
        d.clusters = self
            .refs
            .iter()
            .map(|r| ClusterRef::new(r.clone(), self.ns.clone()))
            .collect();
        for i in 0..nodes {
            self.add_node(&mut d, &format!("node{i}"));
        }
        d
    }

    fn add_node(&self, d: &mut StateDocument, name: &str) {
        let cluster = &self.refs[d.components.consensus.len() % self.refs.len()];
        d.components.consensus.push(ConsensusNode::next_after(
            &d.components.consensus,
            name.to_owned(),
            cluster.clone(),
            self.ns.clone(),
        ));
    }

    /// The lock of `deployment`, its fence over the state objects themselves.
    async fn lock(&self, deployment: &str) -> LockGuard {
        support::lock_state(&self.clusters, &self.ns, deployment, &self.refs).await
    }

    fn api(&self, cluster: &str) -> Api<Secret> {
        Api::namespaced(
            self.clusters.client(cluster).expect("client").clone(),
            &self.ns,
        )
    }

    async fn secret(&self, cluster: &str, deployment: &str) -> Secret {
        self.api(cluster).get(deployment).await.expect("get")
    }

    async fn put(&self, cluster: &str, secret: &Secret) {
        let name = secret.metadata.name.clone().expect("name");
        self.api(cluster)
            .replace(&name, &PostParams::default(), secret)
            .await
            .expect("replace by hand");
    }

    async fn status(&self, deployment: &str) -> SyncStatus {
        self.store.status(deployment, &self.refs).await.1
    }

    /// Every copy's document, migrated and loaded.
    async fn docs(&self, deployment: &str) -> Vec<StateDocument> {
        let stamp = MigrationStamp {
            by: "test@example.com".into(),
            at: Timestamp::now(),
        };
        self.store
            .read_all(deployment, &self.refs)
            .await
            .into_iter()
            .map(|(c, r)| {
                r.unwrap_or_else(|e| panic!("{c}: {e}"))
                    .load(&stamp)
                    .expect("loads")
                    .into_document()
            })
            .collect()
    }
}

fn set_text(secret: &mut Secret, text: &str) {
    let data = secret.data.get_or_insert_with(BTreeMap::new);
    data.remove(STATE_GZ_KEY);
    data.insert(STATE_KEY.into(), ByteString(text.as_bytes().to_vec()));
}

fn annotation(secret: &Secret, key: &str) -> String {
    secret.metadata.annotations.as_ref().expect("annotations")[key].clone()
}

#[tokio::test]
async fn create_reads_in_sync_and_locked_writes_increment_every_copy() {
    let t = setup("state-basic").await;
    let d1 = t.doc("net-a", 2);
    let meta = t.store.create(&d1, "team-a").await.expect("create");
    assert_eq!(meta.serial, 1);
    assert_eq!(t.status("net-a").await, SyncStatus::InSync { serial: 1 });
    assert!(t.docs("net-a").await.iter().all(|d| *d == d1));
    let s = t.secret("cluster-2", "net-a").await;
    assert_eq!(
        s.metadata.labels.as_ref().expect("labels")[TEAM_LABEL],
        "team-a"
    );

    let again = t.store.create(&d1, "team-a").await.expect_err("exists");
    assert!(
        matches!(again, StateStoreError::AlreadyExists { .. }),
        "{again}"
    );
    assert!(
        again
            .to_string()
            .contains("already exists in cluster cluster-"),
        "{again}"
    );

    let guard = t.lock("net-a").await;
    let mut d2 = d1.clone();
    t.add_node(&mut d2, "node9");
    let out = t
        .store
        .write(guard.epoch(), "net-a", &d2)
        .await
        .expect("write");
    assert_eq!((out.serial, out.lineage), (2, meta.lineage));
    assert_eq!(t.status("net-a").await, SyncStatus::InSync { serial: 2 });
    assert!(t.docs("net-a").await.iter().all(|d| *d == d2));
    let old_epoch = guard.epoch();

    // A holder whose lock was taken over (broken here, as if it had expired) is fenced off by
    // the stamp of the next holder, and says so.
    let operator = solo_core::lock::Identity {
        user: "ops@example.com".into(),
        host: "ops-box".into(),
        pid: 7,
    };
    let lock_set = solo_core::lock::LockSet::new(
        "net-a",
        t.refs
            .iter()
            .map(|r| solo_core::lock::LeaseKey::new(r, &t.ns)),
    )
    .expect("a lock set");
    solo_kube::break_lock_audited(&t.clusters, &lock_set, &operator, "taken over")
        .await
        .expect("break");
    drop(guard);
    let guard = t.lock("net-a").await;
    let lost = t
        .store
        .write(old_epoch, "net-a", &d1)
        .await
        .expect_err("fenced");
    assert!(matches!(lost, StateStoreError::LockLost { .. }), "{lost}");
    assert!(lost.to_string().contains("the lock was lost"), "{lost}");
    assert_eq!(t.status("net-a").await, SyncStatus::InSync { serial: 2 });

    // Dropping a cluster is not a plain write.
    let mut fewer = t.doc("net-a", 0);
    fewer.clusters.pop();
    let err = t
        .store
        .write(guard.epoch(), "net-a", &fewer)
        .await
        .expect_err("clusters changed");
    assert!(
        matches!(err, StateStoreError::ClustersChanged { .. }),
        "{err}"
    );

    // A large state is stored gzip-compressed and reads back the same.
    let big = t.doc("net-a", 4000);
    let out = t
        .store
        .write(guard.epoch(), "net-a", &big)
        .await
        .expect("big write");
    assert_eq!(out.serial, 3);
    let s = t.secret("cluster-3", "net-a").await;
    let data = s.data.as_ref().expect("data");
    assert!(data.contains_key(STATE_GZ_KEY) && !data.contains_key(STATE_KEY));
    assert!(data[STATE_GZ_KEY].0.len() < to_at_rest(&big).expect("json").len() / 4);
    assert!(t.docs("net-a").await.iter().all(|d| *d == big));
    guard.release().await.expect("release");
}

/// A create that meets an existing state anywhere creates nothing; an object that holds only the
/// lock's fencing stamp (the lock taken before the create) is filled in.
#[tokio::test]
async fn create_is_all_or_nothing_and_fills_a_fence_stamp() {
    let t = setup("state-create").await;
    let mut taken = Secret {
        metadata: ObjectMeta {
            name: Some("net-b".into()),
            annotations: Some([(SERIAL_ANNOTATION.to_owned(), "7".to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    set_text(&mut taken, "someone else's\n");
    t.api("cluster-2")
        .create(&PostParams::default(), &taken)
        .await
        .expect("by hand");
    let err = t
        .store
        .create(&t.doc("net-b", 1), "team-a")
        .await
        .expect_err("exists");
    assert!(
        err.to_string()
            .contains("already exists in cluster cluster-2"),
        "{err}"
    );
    for c in ["cluster-1", "cluster-3"] {
        assert!(
            t.api(c).get_opt("net-b").await.expect("get").is_none(),
            "{c} kept a copy"
        );
    }
    assert_eq!(
        annotation(&t.secret("cluster-2", "net-b").await, SERIAL_ANNOTATION),
        "7"
    );

    let guard = t.lock("net-c").await;
    let d = t.doc("net-c", 1);
    t.store
        .create(&d, "team-a")
        .await
        .expect("create over the fence stamps");
    let mut d2 = d.clone();
    t.add_node(&mut d2, "node5");
    let out = t
        .store
        .write(guard.epoch(), "net-c", &d2)
        .await
        .expect("write");
    assert_eq!(out.serial, 2);
    assert_eq!(t.status("net-c").await, SyncStatus::InSync { serial: 2 });
    guard.release().await.expect("release");
}

/// Bad YAML, a foreign lineage, a future schema version: each is reported naming its cluster,
/// `write` refuses and leaves it as it is, and `sync --from` repairs it.
#[tokio::test]
async fn hand_edits_are_reported_never_overwritten_and_sync_from_repairs_them() {
    let t = setup("state-edits").await;
    let d1 = t.doc("net", 2);
    t.store.create(&d1, "team-a").await.expect("create");
    let guard = t.lock("net").await;
    let epoch = guard.epoch();
    let mut d2 = d1.clone();
    t.add_node(&mut d2, "node7");

    // Bad YAML in cluster-2.
    let mut s = t.secret("cluster-2", "net").await;
    set_text(&mut s, "version: [2.0.0\n");
    t.put("cluster-2", &s).await;
    let SyncStatus::Unreadable { copies } = t.status("net").await else {
        panic!("not unreadable")
    };
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].0, "cluster-2");
    let read = t
        .store
        .read("net", &t.refs)
        .await
        .expect_err("a read refuses too");
    assert!(matches!(read, StateStoreError::Unreadable { .. }), "{read}");
    let err = t.store.write(epoch, "net", &d2).await.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("in cluster cluster-2 is unreadable"),
        "{text}"
    );
    assert!(text.contains("solo state sync net --from"), "{text}");
    let after = t.secret("cluster-2", "net").await;
    assert_eq!(
        after.data.as_ref().expect("data")[STATE_KEY].0,
        b"version: [2.0.0\n"
    );
    assert_eq!(
        annotation(&t.secret("cluster-1", "net").await, SERIAL_ANNOTATION),
        "1"
    );
    let out = t
        .store
        .sync_from(epoch, "net", "cluster-1")
        .await
        .expect("sync");
    assert_eq!(
        (out.serial, out.rolled_forward.clone()),
        (2, vec!["cluster-2".to_owned()])
    );
    assert_eq!(t.status("net").await, SyncStatus::InSync { serial: 2 });

    // Another lineage in cluster-3.
    let mut s = t.secret("cluster-3", "net").await;
    let forged = uuid::Uuid::new_v4().hyphenated().to_string();
    s.metadata
        .annotations
        .as_mut()
        .expect("annotations")
        .insert(LINEAGE_ANNOTATION.into(), forged.clone());
    t.put("cluster-3", &s).await;
    let status = t.status("net").await;
    let SyncStatus::Diverged { table } = &status else {
        panic!("{status:?}")
    };
    assert_eq!(table[2].cluster, "cluster-3");
    assert_eq!(table[2].lineage.hyphenated().to_string(), forged);
    let err = t.store.write(epoch, "net", &d2).await.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("diverged") && text.contains("cluster-3"),
        "{text}"
    );
    assert!(
        text.contains("`solo state sync net --from <cluster>`"),
        "{text}"
    );
    assert_eq!(
        annotation(&t.secret("cluster-3", "net").await, LINEAGE_ANNOTATION),
        forged
    );
    t.store
        .sync_from(epoch, "net", "cluster-1")
        .await
        .expect("sync");
    assert_eq!(t.status("net").await, SyncStatus::InSync { serial: 3 });

    // A future schema version in cluster-1, with a matching hash (as a newer solo would write).
    let mut s = t.secret("cluster-1", "net").await;
    let stored = to_at_rest(&d1).expect("json");
    let current = format!("{{\"version\":\"{}\",", d1.version);
    assert!(stored.starts_with(&current), "{stored}");
    let future = stored.replacen(&current, "{\"version\":\"9.0.0\",", 1);
    set_text(&mut s, &future);
    s.metadata
        .annotations
        .as_mut()
        .expect("annotations")
        .insert(HASH_ANNOTATION.into(), content_hash(&future));
    t.put("cluster-1", &s).await;
    let (copies, status) = t.store.status("net", &t.refs).await;
    assert!(
        matches!(status, SyncStatus::Unreadable { .. }),
        "{status:?}"
    );
    let reason = copies[0].1.as_ref().expect_err("unreadable").to_string();
    assert!(reason.contains("newer solo"), "{reason}");
    assert!(t.store.write(epoch, "net", &d2).await.is_err());
    let refused = t
        .store
        .sync_from(epoch, "net", "cluster-1")
        .await
        .expect_err("bad source");
    assert!(
        refused
            .to_string()
            .contains("cluster cluster-1 is unreadable"),
        "{refused}"
    );
    t.store
        .sync_from(epoch, "net", "cluster-2")
        .await
        .expect("sync");
    assert_eq!(t.status("net").await, SyncStatus::InSync { serial: 4 });
    assert!(t.docs("net").await.iter().all(|d| *d == d1));

    // A deleted copy is reported; `sync --from` under the next lock creates it again.
    t.api("cluster-3")
        .delete("net", &DeleteParams::default())
        .await
        .expect("delete");
    let status = t.status("net").await;
    assert!(status.to_string().contains("cluster-3"), "{status}");
    let err = t.store.write(epoch, "net", &d2).await.expect_err("missing");
    assert!(err.to_string().contains("cluster cluster-3"), "{err}");
    guard.release().await.expect("release");
    let guard = t.lock("net").await;
    t.store
        .sync_from(guard.epoch(), "net", "cluster-1")
        .await
        .expect("sync");
    assert_eq!(t.status("net").await, SyncStatus::InSync { serial: 5 });
    let out = t
        .store
        .write(guard.epoch(), "net", &d2)
        .await
        .expect("write");
    assert_eq!(out.serial, 6);
    guard.release().await.expect("release");
}

/// A write cut short after one of three clusters leaves the others behind; reads say so, and the
/// next locked write rolls them forward with nothing lost.
#[tokio::test]
async fn a_cut_short_write_is_behind_and_the_next_write_rolls_forward() {
    let t = setup("state-behind").await;
    let d1 = t.doc("net", 2);
    let meta = t.store.create(&d1, "team-a").await.expect("create");
    let guard = t.lock("net").await;

    // The write of serial 2 reached cluster-1 only.
    let mut d2 = d1.clone();
    t.add_node(&mut d2, "extra1");
    let text = to_at_rest(&d2).expect("json");
    let mut s = t.secret("cluster-1", "net").await;
    set_text(&mut s, &text);
    let next = meta.next(guard.epoch().0, d2.version, &text);
    s.metadata
        .annotations
        .as_mut()
        .expect("annotations")
        .extend(next.to_annotations());
    t.put("cluster-1", &s).await;

    let (copies, status) = t.store.status("net", &t.refs).await;
    assert_eq!(
        status,
        SyncStatus::Behind {
            newest: "cluster-1".into(),
            serial: 2,
            behind: vec![("cluster-2".into(), 1), ("cluster-3".into(), 1)],
        }
    );
    assert_eq!(classify_copies(&copies), status);
    assert!(
        status.to_string().contains("a write was cut short"),
        "{status}"
    );

    // The next write starts from the newest copy and repairs the others.
    let stamp = MigrationStamp {
        by: "alice@example.com".into(),
        at: Timestamp::now(),
    };
    let (newest, read_status) = t.store.read("net", &t.refs).await.expect("read");
    assert_eq!(
        (newest.cluster.as_str(), read_status),
        ("cluster-1", status)
    );
    let mut d3 = newest.load(&stamp).expect("loads").into_document();
    assert_eq!(d3, d2);
    t.add_node(&mut d3, "extra2");
    let out = t
        .store
        .write(guard.epoch(), "net", &d3)
        .await
        .expect("write");
    assert_eq!(out.serial, 3);
    assert_eq!(
        out.rolled_forward,
        vec!["cluster-2".to_owned(), "cluster-3".to_owned()]
    );
    assert_eq!(t.status("net").await, SyncStatus::InSync { serial: 3 });
    for d in t.docs("net").await {
        let names: Vec<&str> = d
            .components
            .consensus
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["node0", "node1", "extra1", "extra2"]);
    }
    let _: StoredMeta = meta;
    guard.release().await.expect("release");
}

/// A cluster that cannot be reached: reads say which, a write refuses before writing anywhere,
/// and once the cluster is back the next write goes through.
#[tokio::test]
async fn an_unreachable_cluster_refuses_the_write_and_nothing_is_written() {
    let env = TestEnv::private(3);
    let t = setup_in(&env, "state-down").await;
    let d1 = t.doc("net", 2);
    t.store.create(&d1, "team-a").await.expect("create");
    let guard = t.lock("net").await;
    env.stop("cluster-3");

    let status = t.status("net").await;
    let SyncStatus::Unreadable { copies } = &status else {
        panic!("{status:?}")
    };
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].0, "cluster-3");
    let mut d2 = d1.clone();
    t.add_node(&mut d2, "node8");
    let err = t
        .store
        .write(guard.epoch(), "net", &d2)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("cluster cluster-3"), "{err}");
    for c in ["cluster-1", "cluster-2"] {
        assert_eq!(
            annotation(&t.secret(c, "net").await, SERIAL_ANNOTATION),
            "1"
        );
    }

    env.start("cluster-3");
    let out = t
        .store
        .write(guard.epoch(), "net", &d2)
        .await
        .expect("write");
    assert_eq!(out.serial, 2);
    assert_eq!(t.status("net").await, SyncStatus::InSync { serial: 2 });
    let _ = guard.release().await;
}
