//! The command history (R10) against real clusters: appends under one lock rotate through
//! archives of at most 99 entries, listed in the state's `cli.history`, the same in every
//! cluster, read back in order; a stale epoch is refused.

mod support;

use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use solo_core::lock::Epoch;
use solo_core::state::{ClusterRef, MigrationStamp, StateDocument};
use solo_kube::history::{ENTRIES_PER_ARCHIVE, HISTORY_KEY, HISTORY_LABEL, archive_name};
use solo_kube::state_store::DEPLOYMENT_LABEL;
use solo_kube::{
    Clusters, HistoryEntry, HistoryError, HistoryStore, LockGuard, StateStore, StateStoreError,
};
use solo_testenv::TestEnv;

struct T {
    clusters: Clusters,
    store: StateStore,
    history: HistoryStore,
    ns: String,
    refs: Vec<String>,
}

async fn setup(prefix: &str) -> T {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace(prefix).await;
    let refs: Vec<String> = (1..=3).map(|i| format!("cluster-{i}")).collect();
    let mapping: Vec<_> = refs.iter().map(|r| (r.clone(), r.clone())).collect();
    let clusters = Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients");
    T {
        store: StateStore::new(clusters.clone(), &ns),
        history: HistoryStore::new(clusters.clone(), &ns),
        clusters,
        ns,
        refs,
    }
}

impl T {
    async fn create(&self, name: &str) {
        let mut d = StateDocument::new(name, "alice@example.com", Timestamp::now());
        d.clusters = self
            .refs
            .iter()
            .map(|r| ClusterRef::new(r.clone(), self.ns.clone()))
            .collect();
        self.store.create(&d, "team-a").await.expect("create");
    }

    async fn lock(&self, deployment: &str) -> LockGuard {
        support::lock_state(&self.clusters, &self.ns, deployment, &self.refs).await
    }
}

fn entry(i: usize) -> HistoryEntry {
    HistoryEntry {
        command: vec!["deploy".into(), format!("step-{i}")],
        executed_by: "alice@example.com".into(),
        executed_at: Timestamp::now(),
        result: format!("exit {}", i % 3),
        duration_ms: i as u64,
        authenticated_as: None,
    }
}

#[tokio::test]
async fn appends_rotate_through_archives_listed_in_the_state_and_read_back_in_order() {
    let t = setup("history").await;
    t.create("net").await;
    let guard = t.lock("net").await;
    let started = Instant::now();
    for i in 0..250 {
        let outcome = t
            .history
            .append(guard.epoch(), "net", &t.refs, &entry(i))
            .await
            .unwrap_or_else(|e| panic!("append {i}: {e}"));
        assert_eq!(outcome.archive, archive_name("net", (i / 99 + 1) as u32));
        assert_eq!(outcome.position, i % 99 + 1);
        assert_eq!(outcome.listed, i % 99 == 0, "append {i}");
    }
    eprintln!("250 appends in {:?}", started.elapsed());

    let history = t.history.read_all("net", &t.refs).await.expect("read");
    assert_eq!(history.cluster, "cluster-1");
    assert_eq!(
        history.archives,
        ["net-history-01", "net-history-02", "net-history-03"]
    );
    assert_eq!(history.entries.len(), 250);
    for (i, e) in history.entries.iter().enumerate() {
        assert_eq!(e.command[1], format!("step-{i}"));
        assert_eq!(e.duration_ms, i as u64);
    }

    // The state lists the archives, newest first, in every copy.
    let stamp = MigrationStamp {
        by: "test".into(),
        at: Timestamp::now(),
    };
    for (cluster, copy) in t.store.read_all("net", &t.refs).await {
        let loaded = copy.expect("copy").load(&stamp).expect("loads");
        assert_eq!(
            loaded.document().cli.history,
            ["net-history-03", "net-history-02", "net-history-01"],
            "{cluster}"
        );
    }

    // Every cluster holds the same archives, each within the bound.
    let mut contents = Vec::new();
    for cluster in &t.refs {
        let api: Api<Secret> =
            Api::namespaced(t.clusters.client(cluster).expect("client").clone(), &t.ns);
        let list = api
            .list(&ListParams::default().labels(&format!("{HISTORY_LABEL}=true")))
            .await
            .expect("list");
        let mut archives: Vec<(String, Vec<HistoryEntry>)> = list
            .items
            .into_iter()
            .map(|s| {
                let entries: Vec<HistoryEntry> =
                    serde_json::from_slice(&s.data.as_ref().expect("data")[HISTORY_KEY].0)
                        .expect("entries");
                (s.metadata.name.expect("name"), entries)
            })
            .collect();
        archives.sort_by(|a, b| a.0.cmp(&b.0));
        let sizes: Vec<usize> = archives.iter().map(|(_, e)| e.len()).collect();
        assert_eq!(sizes, [99, 99, 52], "{cluster}");
        assert!(sizes.iter().all(|s| *s <= ENTRIES_PER_ARCHIVE));
        contents.push(archives);
    }
    assert!(contents.windows(2).all(|w| w[0] == w[1]));

    // A stale epoch is refused, and nothing is appended.
    let stale = Epoch(guard.epoch().0 - 1);
    let err = t
        .history
        .append(stale, "net", &t.refs, &entry(999))
        .await
        .expect_err("stale epoch");
    assert!(
        matches!(
            err,
            HistoryError::State(StateStoreError::LockLost { .. }) | HistoryError::LockLost { .. }
        ),
        "{err}"
    );
    guard.release().await.expect("release");
    let after = t.history.read_all("net", &t.refs).await.expect("read");
    assert_eq!(after.entries.len(), 250);

    // A newer holder's epoch is refused for the old holder too.
    let newer = t.lock("net").await;
    let err = t
        .history
        .append(stale, "net", &t.refs, &entry(1000))
        .await
        .expect_err("old epoch");
    assert!(err.to_string().contains("lock"), "{err}");
    t.history
        .append(newer.epoch(), "net", &t.refs, &entry(250))
        .await
        .expect("the new holder appends");
    newer.release().await.expect("release");
    let after = t.history.read_all("net", &t.refs).await.expect("read");
    assert_eq!(after.entries.len(), 251);
    assert_eq!(after.entries[250].command[1], "step-250");
}

#[tokio::test]
async fn an_archive_not_yet_listed_in_the_state_is_read_and_listed_by_the_next_append() {
    let t = setup("history-unlisted").await;
    t.create("net").await;
    let guard = t.lock("net").await;
    t.history
        .append(guard.epoch(), "net", &t.refs, &entry(0))
        .await
        .expect("append");
    // As if the listing write failed after the entry was stored: drop it from the state.
    let stamp = MigrationStamp {
        by: "test".into(),
        at: Timestamp::now(),
    };
    let (copy, _) = t.store.read("net", &t.refs).await.expect("read");
    let mut doc = copy.load(&stamp).expect("loads").into_document();
    assert_eq!(doc.cli.history, ["net-history-01"]);
    doc.cli.history.clear();
    t.store
        .write(guard.epoch(), "net", &doc)
        .await
        .expect("unlist");
    let history = t.history.read_all("net", &t.refs).await.expect("read");
    assert_eq!(history.archives, ["net-history-01"]);
    assert_eq!(history.entries.len(), 1);

    let outcome = t
        .history
        .append(guard.epoch(), "net", &t.refs, &entry(1))
        .await
        .expect("append");
    assert!(outcome.listed);
    assert_eq!(outcome.position, 2);
    let (copy, _) = t.store.read("net", &t.refs).await.expect("read");
    let doc = copy.load(&stamp).expect("loads").into_document();
    assert_eq!(doc.cli.history, ["net-history-01"]);
    guard.release().await.expect("release");
}

#[tokio::test]
async fn a_listing_that_lost_several_archives_is_rebuilt_and_the_newest_extended() {
    let t = setup("history-lost-listing").await;
    t.create("net").await;
    let guard = t.lock("net").await;
    // Archives 01 to 05 stored in every cluster (the first four full), none of them listed in
    // the state: more than the reads by name follow before the append lists by label.
    for cluster in &t.refs {
        let api: Api<Secret> =
            Api::namespaced(t.clusters.client(cluster).expect("client").clone(), &t.ns);
        for n in 1..=5u32 {
            let count = if n < 5 { ENTRIES_PER_ARCHIVE } else { 3 };
            let entries: Vec<HistoryEntry> = (0..count).map(entry).collect();
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(archive_name("net", n)),
                    labels: Some(
                        [
                            (DEPLOYMENT_LABEL.to_owned(), "net".to_owned()),
                            (HISTORY_LABEL.to_owned(), "true".to_owned()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                },
                data: Some(
                    [(
                        HISTORY_KEY.to_owned(),
                        k8s_openapi::ByteString(serde_json::to_vec(&entries).expect("json")),
                    )]
                    .into(),
                ),
                ..Default::default()
            };
            api.create(&Default::default(), &secret)
                .await
                .expect("archive");
        }
    }

    let outcome = t
        .history
        .append(guard.epoch(), "net", &t.refs, &entry(7))
        .await
        .expect("append");
    assert_eq!(outcome.archive, archive_name("net", 5));
    assert_eq!(outcome.position, 4);
    assert!(outcome.listed);
    let stamp = MigrationStamp {
        by: "test".into(),
        at: Timestamp::now(),
    };
    for (cluster, copy) in t.store.read_all("net", &t.refs).await {
        let loaded = copy.expect("copy").load(&stamp).expect("loads");
        let expected: Vec<String> = (1..=5).rev().map(|n| archive_name("net", n)).collect();
        assert_eq!(loaded.document().cli.history, expected, "{cluster}");
    }
    guard.release().await.expect("release");
}
