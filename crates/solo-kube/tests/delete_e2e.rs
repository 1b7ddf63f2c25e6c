//! Deleting a deployment is fenced like any write (issue 11): a holder that lost its lock deletes
//! nothing of the next holder's state, and a deployment created again under the same name
//! continues the epochs of the old one.

mod support;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use solo_core::lock::{Identity, WaitPolicy};
use solo_kube::delete::delete_deployment;
use solo_kube::{HistoryEntry, HistoryStore, StateStore, StateStoreError};
use solo_testenv::TestEnv;
use support::*;

fn entry(user: &str) -> HistoryEntry {
    HistoryEntry {
        command: vec!["solo".into(), "exec".into()],
        executed_by: user.into(),
        executed_at: Timestamp::now(),
        result: "exit 0".into(),
        duration_ms: 1,
        authenticated_as: None,
    }
}

#[tokio::test]
async fn a_holder_that_lost_its_lock_deletes_nothing_and_epochs_go_on_after_a_re_create() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("delete-fenced").await;
    let setup = Setup::new(env, &ns, "del-net", 2);
    let clusters = setup.connect().await;
    let store = StateStore::new(clusters.clone(), &ns);
    let history = HistoryStore::new(clusters.clone(), &ns);
    store
        .create(&empty_state(&setup), "team-a")
        .await
        .expect("create");

    // Alice holds the lock, then pauses (her guard stays alive but her claims are broken).
    let paused = state_lock(&setup, &clusters, "alice@example.com", WaitPolicy::NoWait)
        .await
        .expect("alice");
    let stale = paused.epoch();
    let operator = Identity {
        user: "ops@example.com".into(),
        host: "ops-box".into(),
        pid: 7,
    };
    solo_kube::break_lock_audited(&clusters, &setup.lock_set(), &operator, "laptop paused")
        .await
        .expect("break");
    // Bob takes the lock and commits.
    let bob = state_lock(&setup, &clusters, "bob@example.com", WaitPolicy::NoWait)
        .await
        .expect("bob");
    append_node(&store, &setup, bob.epoch(), "bob-node")
        .await
        .expect("bob writes");
    history
        .append(
            bob.epoch(),
            "del-net",
            &setup.refs(),
            &entry("bob@example.com"),
        )
        .await
        .expect("bob's history");

    // Alice resumes and deletes: refused, and nothing of bob's is gone.
    let refused = delete_deployment(&clusters, &ns, "del-net", &setup.refs(), stale).await;
    assert!(
        matches!(refused, Err(StateStoreError::LockLost { .. })),
        "the stale holder's delete: {refused:?}"
    );
    assert_eq!(node_names(&store, &setup).await, ["bob-node"]);
    assert_eq!(
        history
            .read_all("del-net", &setup.refs())
            .await
            .expect("history")
            .entries
            .len(),
        1
    );

    // Bob deletes: the state and its archives go, only the fencing stamp stays.
    let high_water = bob.epoch();
    let removed = delete_deployment(&clusters, &ns, "del-net", &setup.refs(), high_water)
        .await
        .expect("bob deletes");
    assert!(
        removed.len() >= 4,
        "state and archive per cluster: {removed:?}"
    );
    for cluster in setup.refs() {
        let secrets: Api<Secret> =
            Api::namespaced(clusters.client(&cluster).expect("client").clone(), &ns);
        let labelled = secrets
            .list_metadata(&ListParams::default().labels("solo.hiero.org/deployment=del-net"))
            .await
            .expect("list");
        assert!(labelled.items.is_empty(), "left in {cluster}");
        let stamp = secrets.get("del-net").await.expect("the stamp stays");
        assert!(stamp.data.unwrap_or_default().is_empty());
    }
    bob.release().await.expect("release");
    drop(paused);

    // Created again: the next lock's epoch is above every epoch of the old deployment.
    store
        .create(&empty_state(&setup), "team-a")
        .await
        .expect("create again");
    let carol = state_lock(&setup, &clusters, "carol@example.com", WaitPolicy::NoWait)
        .await
        .expect("carol");
    assert!(
        carol.epoch() > high_water,
        "epoch {} after re-create is not above {high_water}",
        carol.epoch()
    );
    let late = append_node(&store, &setup, stale, "alice-node").await;
    assert!(
        late.is_err(),
        "the paused holder wrote into the new deployment"
    );
    carol.release().await.expect("release");
}
