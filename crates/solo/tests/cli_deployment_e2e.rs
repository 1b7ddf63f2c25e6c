//! `deployment create` makes the state namespace where the user may (and says plainly where they
//! may not), `--team T` keeps the state in `solo-T`, and `deployment show` says per cluster the
//! copy's serial, epoch, sync state and lock holder: against the real shared clusters.

mod support;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use solo_testenv::TestEnv;
use support::{User, json, namespaces, wait_until_held};

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    format!("{:x}{:x}", std::process::id() % 4096, nanos)
}

fn namespace_exists(cluster: &str, name: &str) -> bool {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let api: Api<Namespace> = Api::all(TestEnv::shared().client(cluster).await);
        api.get_opt(name).await.expect("get namespace").is_some()
    })
}

fn user(test: &str, email: &str, context_of: impl Fn(&str) -> String) -> User {
    let user = User::new(test, email);
    user.connect(&["cluster-1", "cluster-2"], context_of);
    user
}

#[test]
fn an_admin_creates_a_team_deployment_its_state_namespace_is_made_and_show_says_each_copy() {
    let (ns, _) = namespaces("dep-show");
    let team = format!("t{}", suffix());
    let state_ns = format!("solo-{team}");
    assert!(!namespace_exists("cluster-1", &state_ns));
    let admin = user("dep-show", "admin@example.com", |r| r.to_owned());
    let created = admin.ok(&[
        "deployment",
        "create",
        "shown-net",
        "--namespace",
        &ns,
        "--cluster-ref",
        "cluster-1",
        "--cluster-ref",
        "cluster-2",
        "--team",
        &team,
    ]);
    assert!(
        created.stderr.contains(&format!(
            "created the state namespace {state_ns} in cluster cluster-1"
        )),
        "{}",
        created.stderr
    );
    assert!(namespace_exists("cluster-1", &state_ns) && namespace_exists("cluster-2", &state_ns));

    let shown = json(
        &admin
            .ok(&["deployment", "show", "shown-net", "-o", "json"])
            .stdout,
    );
    assert_eq!(shown["stateNamespace"], state_ns.as_str(), "{shown}");
    let rows = shown["clusters"].as_array().expect("clusters").clone();
    assert_eq!(rows.len(), 2, "{shown}");
    for row in &rows {
        assert_eq!(row["serial"], 1, "{row}");
        assert!(row["epoch"].as_u64().is_some_and(|e| e >= 1), "{row}");
        assert_eq!(row["sync"], "in sync", "{row}");
        assert_eq!(row["lockHolder"], "-", "{row}");
    }

    // While the admin keeps the lock, show names the holder in every cluster.
    admin.ok(&["lease", "acquire", "shown-net", "--for", "1m"]);
    wait_until_held(&admin, "shown-net");
    let table = admin.ok(&["deployment", "show", "shown-net"]).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("CLUSTER") && l.contains("LOCK HOLDER")),
        "{table}"
    );
    for r in ["cluster-1", "cluster-2"] {
        let line = lines.iter().find(|l| l.starts_with(r)).expect("a row");
        assert!(
            line.contains("in sync")
                && line.contains("admin@example.com (")
                && line.contains("held"),
            "{table}"
        );
    }
    admin.ok(&["lease", "release", "shown-net"]);
}

#[test]
fn a_user_who_may_read_but_not_create_namespaces_is_told_who_can_create_the_state_namespace() {
    let (ns, _) = namespaces("dep-nons");
    let missing = format!("st-{}", suffix());
    // carol may read namespaces in cluster-1, nothing more.
    let name = format!("read-namespaces-{}", suffix());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = TestEnv::shared().client("cluster-1").await;
        let role = ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["namespaces".into()]),
                verbs: vec!["get".into()],
                ..Default::default()
            }]),
            ..Default::default()
        };
        Api::<ClusterRole>::all(client.clone())
            .create(&PostParams::default(), &role)
            .await
            .expect("role");
        let binding = ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: name.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "User".into(),
                name: "carol".into(),
                api_group: Some("rbac.authorization.k8s.io".into()),
                ..Default::default()
            }]),
        };
        Api::<ClusterRoleBinding>::all(client)
            .create(&PostParams::default(), &binding)
            .await
            .expect("binding");
    });
    let carol = User::new("dep-nons", "carol@example.com");
    carol.connect(&["cluster-1"], |c| format!("carol@{c}"));
    let run = carol.solo(&[
        "deployment",
        "create",
        "carols-net",
        "--namespace",
        &ns,
        "--cluster-ref",
        "cluster-1",
        "--state-namespace",
        &missing,
    ]);
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: the state namespace {missing} does not exist in cluster cluster-1 (kube context carol@cluster-1), and you may not create namespaces there"
        )) && run
            .stderr
            .contains(&format!("kubectl --context carol@cluster-1 create namespace {missing}")),
        "{}",
        run.stderr
    );
    assert!(!namespace_exists("cluster-1", &missing));
}
