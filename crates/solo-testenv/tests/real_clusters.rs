//! The test environment is made of real Kubernetes API servers: these tests prove the behaviours the
//! lock and the store stand on (optimistic concurrency, RBAC, a cluster going away and coming back).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Error;
use kube::api::{Api, ObjectMeta, PostParams};
use solo_testenv::TestEnv;

fn lease(name: &str, holder: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(30),
            ..Default::default()
        }),
    }
}

fn status_code(err: &Error) -> Option<u16> {
    match err {
        Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn reason(err: &Error) -> String {
    match err {
        Error::Api(status) => status.reason.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn the_server_reports_a_real_kubernetes_version() {
    let env = TestEnv::shared();
    let client = env.client("cluster-1").await;
    let version = client.apiserver_version().await.expect("GET /version");
    assert_eq!(version.major, "1");
    assert!(
        version.git_version.starts_with("v1.3"),
        "unexpected version {}",
        version.git_version
    );
}

#[tokio::test]
async fn a_lease_is_created_once_and_updated_only_from_its_current_version() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("lease").await;
    let leases: Api<Lease> = Api::namespaced(env.client("cluster-1").await, &ns);

    let created = leases
        .create(&PostParams::default(), &lease("my-network", "alice"))
        .await
        .expect("create");
    let first_version = created
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");

    let again = leases
        .create(&PostParams::default(), &lease("my-network", "bob"))
        .await
        .unwrap_err();
    assert_eq!(status_code(&again), Some(409));
    assert_eq!(reason(&again), "AlreadyExists");

    let mut update = created.clone();
    update.spec.as_mut().unwrap().holder_identity = Some("alice-renewed".into());
    let updated = leases
        .replace("my-network", &PostParams::default(), &update)
        .await
        .expect("replace");
    assert_ne!(
        updated.metadata.resource_version.as_deref(),
        Some(first_version.as_str())
    );

    // A second writer that read before the update must not overwrite it.
    let mut stale = created;
    stale.spec.as_mut().unwrap().holder_identity = Some("bob".into());
    let conflict = leases
        .replace("my-network", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(status_code(&conflict), Some(409));
    assert_eq!(reason(&conflict), "Conflict");

    let stored = leases.get("my-network").await.expect("get");
    assert_eq!(
        stored.spec.unwrap().holder_identity.as_deref(),
        Some("alice-renewed")
    );
}

#[tokio::test]
async fn rbac_lets_a_team_in_and_keeps_another_team_out() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("rbac").await;
    let admin = env.client("cluster-1").await;
    let role = Role {
        metadata: ObjectMeta {
            name: Some("leases".into()),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["coordination.k8s.io".into()]),
            resources: Some(vec!["leases".into()]),
            verbs: vec![
                "get".into(),
                "list".into(),
                "create".into(),
                "update".into(),
            ],
            ..Default::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("team-a-leases".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "leases".into(),
        },
        subjects: Some(vec![Subject {
            kind: "Group".into(),
            name: "team-a".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");

    let as_alice: Api<Lease> = Api::namespaced(env.client("alice@cluster-1").await, &ns);
    as_alice
        .create(&PostParams::default(), &lease("net-a", "alice"))
        .await
        .expect("alice (team-a) may create");

    let as_bob: Api<Lease> = Api::namespaced(env.client("bob@cluster-1").await, &ns);
    let denied = as_bob.get("net-a").await.unwrap_err();
    assert_eq!(
        status_code(&denied),
        Some(403),
        "bob (team-b) must be forbidden: {denied}"
    );
    let denied = as_bob
        .create(&PostParams::default(), &lease("net-b", "bob"))
        .await
        .unwrap_err();
    assert_eq!(status_code(&denied), Some(403));
}

#[tokio::test]
async fn clusters_are_separate_stores() {
    let env = TestEnv::shared();
    let ns = env.fresh_namespace("separate").await;
    let one: Api<Lease> = Api::namespaced(env.client("cluster-1").await, &ns);
    let two: Api<Lease> = Api::namespaced(env.client("cluster-2").await, &ns);
    one.create(&PostParams::default(), &lease("only-in-one", "alice"))
        .await
        .expect("create");
    assert!(two.get_opt("only-in-one").await.expect("get").is_none());
}

/// Stops a cluster of a private environment: requests fail with a connection error, and once it is
/// started again its objects are still there.
#[tokio::test]
async fn a_stopped_cluster_fails_clearly_and_keeps_its_objects() {
    let env = TestEnv::private(2);
    let ns = env.fresh_namespace("stop").await;
    let two: Api<Lease> = Api::namespaced(env.client("cluster-2").await, &ns);
    two.create(&PostParams::default(), &lease("survivor", "alice"))
        .await
        .expect("create");

    env.stop("cluster-2");
    let err = two.get("survivor").await.unwrap_err();
    assert!(
        status_code(&err).is_none(),
        "a stopped cluster gives no HTTP status, got {err}"
    );
    let text = format!("{err:?}").to_lowercase();
    assert!(
        text.contains("connect"),
        "expected a connection error, got {text}"
    );
    // The other cluster is untouched.
    let one: Api<Lease> = Api::namespaced(env.client("cluster-1").await, &ns);
    assert!(
        one.get_opt("survivor")
            .await
            .expect("cluster-1 still answers")
            .is_none()
    );

    env.start("cluster-2");
    let two: Api<Lease> = Api::namespaced(env.client("cluster-2").await, &ns);
    let back = two
        .get("survivor")
        .await
        .expect("the lease survived the restart");
    assert_eq!(back.spec.unwrap().holder_identity.as_deref(), Some("alice"));
}
