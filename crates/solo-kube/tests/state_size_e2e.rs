//! The largest deployment solo supports, on real clusters: a state of 5,000 components with a
//! history of 100,000 entries (1,011 archives of 99) is stored, read, appended to and read back
//! in order; every object stays well under the 1 MiB object limit; and a state too large for an
//! object is refused by solo in one sentence before the API server sees it.

mod size;
mod support;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use solo_core::state::{ConsensusNode, MigrationStamp};
use solo_kube::history::archive_name;
use solo_kube::state_store::{MAX_STORED_BYTES, STATE_GZ_KEY, STATE_KEY};
use solo_kube::{Clusters, HistoryStore, StateStore, StateStoreError};
use solo_testenv::TestEnv;

fn refs() -> Vec<String> {
    (1..=3).map(|i| format!("cluster-{i}")).collect()
}

async fn admin(env: &TestEnv) -> Clusters {
    let mapping: Vec<_> = refs().into_iter().map(|r| (r.clone(), r)).collect();
    Clusters::connect(Some(env.kubeconfig()), &mapping)
        .await
        .expect("clients")
}

fn stored_bytes(secret: &Secret) -> usize {
    let data = secret.data.as_ref().expect("data");
    data.get(STATE_GZ_KEY)
        .or_else(|| data.get(STATE_KEY))
        .map_or(0, |b| b.0.len())
}

#[tokio::test]
async fn five_thousand_components_and_a_hundred_thousand_history_entries_work() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("state-size").await;
    let clusters = admin(env).await;
    let store = StateStore::new(clusters.clone(), &ns);
    let history = HistoryStore::new(clusters.clone(), &ns);
    let doc = size::big_state("big-net", &ns, &refs(), size::COMPONENTS);
    assert_eq!(size::component_count(&doc), size::COMPONENTS);
    store.create(&doc, "team-a").await.expect("create");

    let (names, largest_archive) =
        size::write_history(&clusters, &ns, "big-net", &refs(), "team-a", size::HISTORY).await;
    assert_eq!(names.len(), 1_011);
    assert!(largest_archive < 512 * 1024, "{largest_archive}");

    // List the archives in the state (newest first), as the appends would have, under the lock.
    let guard = support::lock_state(&clusters, &ns, "big-net", &refs()).await;
    let stamp = MigrationStamp {
        by: "alice@example.com".into(),
        at: Timestamp::now(),
    };
    let (copy, _) = store.read("big-net", &refs()).await.expect("read");
    let mut d = copy.load(&stamp).expect("loads").into_document();
    d.cli.history = names.iter().rev().cloned().collect();
    store
        .write(guard.epoch(), "big-net", &d)
        .await
        .expect("the big state is written");

    // One more append goes into the 1,011th archive, and every entry reads back in order.
    let out = history
        .append(
            guard.epoch(),
            "big-net",
            &refs(),
            &size::entry(size::HISTORY),
        )
        .await
        .expect("append");
    assert_eq!(out.archive, archive_name("big-net", 1_011));
    assert_eq!((out.position, out.listed), (size::HISTORY % 99 + 1, false));
    guard.release().await.expect("release");
    let read = history
        .read_all("big-net", &refs())
        .await
        .expect("the whole history");
    assert_eq!(read.archives.len(), 1_011);
    assert_eq!(read.entries.len(), size::HISTORY + 1);
    for (i, e) in read.entries.iter().enumerate() {
        assert_eq!(
            e.command[2],
            format!("release-{i}"),
            "entry {i} out of order"
        );
    }

    // The state read back is the one written, and its stored form is far from the object limit.
    let (copy, _) = store.read("big-net", &refs()).await.expect("read");
    let back = copy.load(&stamp).expect("loads").into_document();
    assert_eq!(size::component_count(&back), size::COMPONENTS);
    assert_eq!(back.cli.history.len(), 1_011);
    let api: Api<Secret> = Api::namespaced(clusters.client("cluster-1").expect("c").clone(), &ns);
    let stored = stored_bytes(&api.get("big-net").await.expect("get"));
    assert!(stored < MAX_STORED_BYTES / 4, "{stored} bytes stored");
}

/// Names that do not compress: a state too large for an object even gzip-compressed.
#[tokio::test]
async fn a_state_too_large_for_an_object_is_refused_by_solo_not_by_the_api_server() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("state-huge").await;
    let clusters = admin(env).await;
    let store = StateStore::new(clusters.clone(), &ns);
    let small = size::big_state("huge-net", &ns, &refs(), 10);
    store.create(&small, "team-a").await.expect("create");
    let mut huge = small.clone();
    for _ in 0..34_000 {
        huge.components.consensus.push(ConsensusNode::next_after(
            &huge.components.consensus,
            random_name(),
            "cluster-1",
            ns.clone(),
        ));
    }
    let guard = support::lock_state(&clusters, &ns, "huge-net", &refs()).await;
    let err = store
        .write(guard.epoch(), "huge-net", &huge)
        .await
        .expect_err("too large");
    assert!(matches!(err, StateStoreError::TooLarge { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("nothing was written"), "{text}");
    assert!(
        !text.contains("request is too large") && !text.contains("etcd"),
        "{text}"
    );
    let (copy, _) = store.read("huge-net", &refs()).await.expect("read");
    assert_eq!(copy.meta.serial, 1);
    guard.release().await.expect("release");
}

/// A 50-character name of random letters and digits: text that gzip cannot shrink much, and
/// short enough that its node's Service name is a valid DNS label (63 at most).
fn random_name() -> String {
    let mut name = String::from("n");
    while name.len() < 50 {
        let mut x = uuid::Uuid::new_v4().as_u128();
        for _ in 0..20 {
            name.extend(char::from_digit((x % 36) as u32, 36));
            x /= 36;
        }
    }
    name.truncate(50);
    name
}
