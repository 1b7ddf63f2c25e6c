//! `solo network ...` (R13) against the real shared test clusters: a network with one node in
//! each of three clusters, Services of each kind created here (LoadBalancer ingress set through
//! the status subresource, as a load balancer controller would), endpoints resolved, recorded,
//! checked for drift, and turned into the address book, genesis-network.json and config.txt.

mod support;

use hiero_sdk_proto::services::{NodeAddressBook, account_id::Account};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use prost::Message;
use solo_testenv::TestEnv;
use support::{User, add_consensus, grant, json, namespaces, team_setup};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

/// Creates the node's Service `network-<node>-svc` in `cluster`: a LoadBalancer when `ingress`
/// is given (its status then set like a load balancer controller does), else a ClusterIP.
fn service(cluster: &str, ns: &str, node: &str, ingress: Option<serde_json::Value>) {
    block_on(async {
        let client = TestEnv::shared().client(cluster).await;
        let api: Api<Service> = Api::namespaced(client, ns);
        let name = format!("network-{node}-svc");
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {
                "type": if ingress.is_some() { "LoadBalancer" } else { "ClusterIP" },
                "selector": {"app": name},
                "ports": [
                    {"name": "gossip", "port": 50111},
                    {"name": "grpc", "port": 50211},
                    {"name": "grpc-tls", "port": 50212},
                ],
            },
        }))
        .expect("service");
        if api.get_opt(&name).await.expect("get").is_none() {
            api.create(&PostParams::default(), &svc)
                .await
                .expect("create service");
        }
        if let Some(ingress) = ingress {
            set_ingress(&api, &name, ingress).await;
        }
    })
}

/// Gives node's LoadBalancer Service in `cluster` the address `ingress`, as its controller would.
fn give_address(cluster: &str, ns: &str, node: &str, ingress: serde_json::Value) {
    block_on(async {
        let api: Api<Service> = Api::namespaced(TestEnv::shared().client(cluster).await, ns);
        set_ingress(&api, &format!("network-{node}-svc"), ingress).await;
    })
}

async fn set_ingress(api: &Api<Service>, name: &str, ingress: serde_json::Value) {
    let status = serde_json::json!({"status": {"loadBalancer": {"ingress": [ingress]}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("set the LoadBalancer ingress through the status subresource");
}

/// Runs solo as `user`, its stdout as bytes (the protobuf address book is not text).
fn bytes_of(user: &User, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_solo"));
    user.env(&mut cmd);
    cmd.args(args).output().expect("solo runs")
}

fn cluster_ip(cluster: &str, ns: &str, node: &str) -> String {
    block_on(async {
        let api: Api<Service> = Api::namespaced(TestEnv::shared().client(cluster).await, ns);
        let svc = api.get(&format!("network-{node}-svc")).await.expect("get");
        svc.spec.and_then(|s| s.cluster_ip).expect("a ClusterIP")
    })
}

/// A user with three cluster refs and a deployment over them, one consensus node in each.
fn three_cluster_network(test: &str) -> (User, String) {
    let (ns, state_ns) = namespaces(test);
    let user = User::new(test, "alice@example.com");
    let refs = ["cluster-1", "cluster-2", "cluster-3"];
    user.connect(&refs, str::to_owned);
    user.create("net", &ns, &refs, &["--state-namespace", &state_ns]);
    add_nodes(
        &user,
        "net",
        &[
            ("node1", "cluster-1"),
            ("node2", "cluster-2"),
            ("node3", "cluster-3"),
        ],
    );
    (user, ns)
}

/// Adds each (node, cluster ref) of `nodes` to `deployment` as a consensus node.
fn add_nodes(user: &User, deployment: &str, nodes: &[(&str, &str)]) {
    for (node, c) in nodes {
        user.ok(&add_consensus(deployment, node, c));
    }
}

/// A user with cluster-1 connected and `deployment` over it alone, its nodes in cluster-1.
fn one_cluster_network(test: &str, deployment: &str, nodes: &[&str]) -> (User, String) {
    let (ns, state_ns) = namespaces(test);
    let user = User::new(test, "alice@example.com");
    user.connect(&["cluster-1"], str::to_owned);
    user.create(
        deployment,
        &ns,
        &["cluster-1"],
        &["--state-namespace", &state_ns],
    );
    let nodes: Vec<_> = nodes.iter().map(|n| (*n, "cluster-1")).collect();
    add_nodes(&user, deployment, &nodes);
    (user, ns)
}

fn state_text(user: &User) -> String {
    user.ok(&["state", "show", "net", "-o", "yaml"]).stdout
}

fn apply(user: &User, test: &str, text: &str) {
    let path = user.home.join(format!("{test}-state.yaml"));
    std::fs::write(&path, text).expect("write");
    user.ok(&[
        "state",
        "apply",
        "net",
        "--file",
        path.to_str().expect("path"),
        "--yes",
    ]);
}

#[test]
fn endpoints_of_a_network_over_three_clusters_become_its_address_book() {
    let (user, ns) = three_cluster_network("net13");

    // Solo's numbering without any new flag: ids from 0, accounts from 0.0.3.
    let state = json(&user.ok(&["state", "show", "net", "-o", "json"]).stdout);
    let nodes = state["components"]["consensus"]
        .as_array()
        .expect("nodes")
        .clone();
    let ids: Vec<_> = nodes
        .iter()
        .map(|n| (n["nodeId"].clone(), n["accountId"].clone()))
        .collect();
    assert_eq!(
        ids,
        vec![
            (0.into(), "0.0.3".into()),
            (1.into(), "0.0.4".into()),
            (2.into(), "0.0.5".into())
        ]
    );

    service(
        "cluster-1",
        &ns,
        "node1",
        Some(serde_json::json!({"ip": "203.0.113.10"})),
    );
    service(
        "cluster-2",
        &ns,
        "node2",
        Some(serde_json::json!({"hostname": "node2.lb.example.com"})),
    );
    service("cluster-3", &ns, "node3", None);

    // A multi-cluster network whose node has only a ClusterIP: one sentence, node and cluster.
    let before = state_text(&user);
    let refused = user.solo(&["network", "endpoints", "net"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("node node3 in cluster cluster-3 has no address the other clusters can reach: Service network-node3-svc has only a ClusterIP"),
        "{}", refused.stderr
    );
    assert!(
        refused.stderr.contains("reachability: clusterset"),
        "{}",
        refused.stderr
    );
    assert_eq!(state_text(&user), before, "nothing written");

    // cluster-3 is reached through the Multi-Cluster Services API instead.
    let edited = before.replacen(
        "  - name: cluster-3\n",
        "  - name: cluster-3\n    reachability: clusterset\n",
        1,
    );
    apply(&user, "clusterset", &edited);

    let live = json(
        &user
            .ok(&["network", "endpoints", "net", "-o", "json"])
            .stdout,
    );
    let gossip: Vec<_> = live["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap_or_default().to_owned(),
                n["endpoints"]["source"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                n["endpoints"]["gossip"][0]["address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let node3 = format!("network-node3-svc.{ns}.svc.clusterset.local");
    assert_eq!(
        gossip,
        vec![
            ("node1".into(), "loadBalancer".into(), "203.0.113.10".into()),
            (
                "node2".into(),
                "loadBalancer".into(),
                "node2.lb.example.com".into()
            ),
            ("node3".into(), "clusterset".into(), node3.clone()),
        ]
    );

    // Recorded under the lock, then checked: no drift.
    user.ok(&["network", "endpoints", "net", "--record"]);
    let state = json(&user.ok(&["state", "show", "net", "-o", "json"]).stdout);
    assert_eq!(
        state["components"]["consensus"][0]["endpoints"]["gossip"][0]["address"],
        "203.0.113.10"
    );
    assert_eq!(
        state["components"]["consensus"][1]["endpoints"]["grpc"][1]["port"],
        50212
    );
    user.ok(&["network", "endpoints", "net", "--check"]);

    // The address book, decoded again with the crate's own type, field by field.
    let proto = bytes_of(
        &user,
        &["network", "address-book", "net", "--format", "proto"],
    );
    assert_eq!(
        proto.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&proto.stderr)
    );
    let book = NodeAddressBook::decode(proto.stdout.as_slice()).expect("a NodeAddressBook");
    assert_eq!(book.node_address.len(), 3);
    let a = &book.node_address[0];
    assert_eq!((a.node_id, a.description.as_str()), (0, "node1"));
    let account = a.node_account_id.as_ref().expect("account");
    assert_eq!((account.shard_num, account.realm_num), (0, 0));
    assert_eq!(account.account, Some(Account::AccountNum(3)));
    assert_eq!(a.service_endpoint.len(), 2);
    assert_eq!(a.service_endpoint[0].ip_address_v4, vec![203, 0, 113, 10]);
    assert_eq!(
        (a.service_endpoint[0].port, a.service_endpoint[1].port),
        (50211, 50212)
    );
    assert_eq!(a.rsa_pub_key, "", "no gossip certificate in this network");
    assert!(a.node_cert_hash.is_empty());
    let b = &book.node_address[1];
    assert_eq!(b.service_endpoint[0].domain_name, "node2.lb.example.com");
    assert!(b.service_endpoint[0].ip_address_v4.is_empty());
    assert_eq!(book.node_address[2].service_endpoint[0].domain_name, node3);
    assert_eq!(book.node_address[2].node_id, 2);

    // genesis-network.json in Solo's shape (nodeMetadata with node and rosterEntry).
    let genesis = json(&user.ok(&["network", "genesis", "net"]).stdout);
    assert_eq!(
        genesis["nodeMetadata"][0],
        serde_json::json!({
            "node": {
                "nodeId": 0,
                "accountId": {"realmNum": "0", "shardNum": "0", "accountNum": "3"},
                "description": "node1",
                "gossipEndpoint": [{"domainName": "", "port": 50111, "ipAddressV4": "ywBxCg=="}],
                "serviceEndpoint": [{"domainName": "", "port": 50211, "ipAddressV4": "ywBxCg=="}],
                "gossipCaCertificate": "",
                "grpcCertificateHash": "",
                "weight": 500,
                "deleted": false,
            },
            "rosterEntry": {
                "nodeId": 0,
                "gossipEndpoint": [{"domainName": "", "port": 50111, "ipAddressV4": "ywBxCg=="}],
                "gossipCaCertificate": "",
                "weight": 500,
            },
        })
    );
    assert_eq!(
        genesis["nodeMetadata"][1]["node"]["gossipEndpoint"][0]["domainName"],
        "node2.lb.example.com"
    );

    // config.txt for a platform that reads it; refused for one that does not.
    let config = user.ok(&[
        "network",
        "address-book",
        "net",
        "--format",
        "config-txt",
        "--release-tag",
        "v0.58.5",
    ]);
    let lines: Vec<&str> = config.stdout.lines().collect();
    assert_eq!(lines[0], "swirld, 298");
    assert_eq!(lines[1], "app, HederaNode.jar");
    assert_eq!(
        lines[2],
        "address, 0, 0, node1, 500, 127.0.0.1, 50111, 203.0.113.10, 50111, 0.0.3"
    );
    assert_eq!(lines.len(), 5);
    let too_new = user.solo(&[
        "network",
        "address-book",
        "net",
        "--format",
        "config-txt",
        "--release-tag",
        "v0.71.0",
    ]);
    assert_eq!(too_new.code, Some(2), "{}", too_new.stderr);
    assert!(
        too_new
            .stderr
            .contains("platform v0.71.0 does not read config.txt"),
        "{}",
        too_new.stderr
    );

    // A Service whose address changed: --check exits 4 with a per-node table.
    give_address(
        "cluster-1",
        &ns,
        "node1",
        serde_json::json!({"ip": "203.0.113.99"}),
    );
    let drift = user.solo(&["network", "endpoints", "net", "--check"]);
    assert_eq!(drift.code, Some(4), "{}", drift.stderr);
    let rows: Vec<Vec<&str>> = drift
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NODE", "CLUSTER", "RECORDED", "LIVE"],
        "{}",
        drift.stdout
    );
    assert_eq!(rows[1][..2], ["node1", "cluster-1"], "{}", drift.stdout);
    assert!(drift.stdout.contains("203.0.113.99"), "{}", drift.stdout);
    assert_eq!(
        drift.stdout.lines().count(),
        2,
        "only node1 drifted:\n{}",
        drift.stdout
    );
}

#[test]
fn a_single_cluster_network_uses_the_cluster_ip_and_bad_input_writes_nothing() {
    let (user, ns) = one_cluster_network("net13one", "one", &["node1"]);

    // No Service yet: one sentence, exit 1, nothing written.
    let before = user.ok(&["state", "show", "one", "-o", "yaml"]).stdout;
    let missing = user.solo(&["network", "endpoints", "one", "--record"]);
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with(&format!(
            "error: cannot resolve the endpoints of one: node node1 has no Service network-node1-svc in namespace {ns} of cluster cluster-1\n"
        )),
        "{}",
        missing.stderr
    );
    assert_eq!(
        user.ok(&["state", "show", "one", "-o", "yaml"]).stdout,
        before
    );

    service("cluster-1", &ns, "node1", None);
    let ip = cluster_ip("cluster-1", &ns, "node1");
    let live = json(
        &user
            .ok(&["network", "endpoints", "one", "-o", "json"])
            .stdout,
    );
    assert_eq!(live["nodes"][0]["endpoints"]["source"], "clusterIp");
    assert_eq!(
        live["nodes"][0]["endpoints"]["gossip"][0]["address"],
        ip.as_str()
    );

    // Malformed pattern, port and account id in an applied state: one line each, nothing written.
    let path = user.home.join("bad.yaml");
    let bad = before
        .replace(
            "network-{nodeAlias}-svc.{namespace}.svc",
            "network-{alias}-svc",
        )
        .replace("gossipPort: 50111", "gossipPort: 70000")
        .replace("accountId: \"0.0.3\"", "accountId: 0.0.x");
    std::fs::write(&path, &bad).expect("write");
    let refused = user.solo(&[
        "state",
        "apply",
        "one",
        "--file",
        path.to_str().expect("path"),
        "--yes",
    ]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    for line in [
        "clusters[0].dnsConsensusNodePattern: \"network-{alias}-svc\": {alias} is not a placeholder",
        "components.consensus[0].accountId: \"0.0.x\" is not an account id",
        "components.consensus[0].gossipPort: 70000 is not a port; a port is 1 to 65535",
    ] {
        assert!(refused.stderr.contains(line), "{line}\n{}", refused.stderr);
    }
    assert_eq!(
        user.ok(&["state", "show", "one", "-o", "yaml"]).stdout,
        before
    );

    // A bad --wait and a config.txt without a release: usage errors, exit 2.
    assert_eq!(
        user.solo(&["network", "endpoints", "one", "--wait=soon"])
            .code,
        Some(2)
    );
    assert_eq!(
        user.solo(&["network", "address-book", "one", "--format", "config-txt"])
            .code,
        Some(2)
    );

    // The ServiceExport kind is not installed in the test clusters: said plainly.
    let text = before.replacen("    dnsConsensusNodePattern: network-{nodeAlias}-svc.{namespace}.svc\n", "    dnsConsensusNodePattern: network-{nodeAlias}-svc.{namespace}.svc\n    reachability: clusterset\n", 1);
    std::fs::write(&path, &text).expect("write");
    user.ok(&[
        "state",
        "apply",
        "one",
        "--file",
        path.to_str().expect("path"),
        "--yes",
    ]);
    let printed = user.ok(&["network", "export", "one", "--print"]).stdout;
    assert!(
        printed.contains("kind: ServiceExport") && printed.contains("name: network-node1-svc"),
        "{printed}"
    );
    let export = user.solo(&["network", "export", "one", "--apply"]);
    assert_eq!(export.code, Some(1), "{}", export.stderr);
    assert!(
        export
            .stderr
            .contains("cluster cluster-1 has no ServiceExport kind"),
        "{}",
        export.stderr
    );
}

#[test]
fn a_pending_load_balancer_is_waited_for_by_watch() {
    let (user, ns) = three_cluster_network("net13wait");
    service(
        "cluster-1",
        &ns,
        "node1",
        Some(serde_json::json!({"ip": "203.0.113.1"})),
    );
    service(
        "cluster-2",
        &ns,
        "node2",
        Some(serde_json::json!({"ip": "203.0.113.2"})),
    );
    // node3's LoadBalancer has no address yet.
    block_on(async {
        let api: Api<Service> = Api::namespaced(TestEnv::shared().client("cluster-3").await, &ns);
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "network-node3-svc"},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "gossip", "port": 50111}]},
        }))
        .expect("service");
        api.create(&PostParams::default(), &svc)
            .await
            .expect("create");
    });
    let pending = user.solo(&["network", "endpoints", "net"]);
    assert_eq!(pending.code, Some(1), "{}", pending.stderr);
    assert!(
        pending
            .stderr
            .contains("the LoadBalancer of Service network-node3-svc has no address yet"),
        "{}",
        pending.stderr
    );

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_solo"));
    user.env(&mut cmd);
    let waiting = cmd
        .args(["network", "endpoints", "net", "--wait=60s", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("solo runs");
    give_address(
        "cluster-3",
        &ns,
        "node3",
        serde_json::json!({"ip": "203.0.113.3"}),
    );
    let out = waiting.wait_with_output().expect("solo ends");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        live["nodes"][2]["endpoints"]["gossip"][0]["address"],
        "203.0.113.3"
    );
}

/// A self-signed certificate made here, with its PEM text and its public key (SPKI, DER).
struct Cert {
    pem: String,
    der: Vec<u8>,
    spki: Vec<u8>,
    key_pem: String,
}

fn self_signed(common_name: &str) -> Cert {
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("a key pair");
    let cert = rcgen::CertificateParams::new(vec![common_name.to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("a self-signed certificate");
    Cert {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        spki: key.subject_public_key_info(),
        key_pem: key.serialize_pem(),
    }
}

/// Creates an Opaque Secret `name` with `data` in `ns` of `cluster`, as the admin.
fn secret(cluster: &str, ns: &str, name: &str, data: &[(String, &str)]) {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    block_on(async {
        let api: Api<Secret> = Api::namespaced(TestEnv::shared().client(cluster).await, ns);
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        api.create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn certificates_in_solos_secrets_fill_the_address_books_key_and_hash() {
    let (user, ns) = one_cluster_network("net13certs", "certs", &["node1", "node2"]);
    service("cluster-1", &ns, "node1", None);
    service("cluster-1", &ns, "node2", None);
    user.ok(&["network", "endpoints", "certs", "--record"]);

    // node1's keys where Solo puts them: its gossip Secret, and the namespace's TLS Secret.
    let gossip = self_signed("s-node1");
    let tls = self_signed("node1");
    secret(
        "cluster-1",
        &ns,
        "network-node1-keys-secrets",
        &[
            ("s-private-node1.pem".to_owned(), gossip.key_pem.as_str()),
            ("s-public-node1.pem".to_owned(), gossip.pem.as_str()),
        ],
    );
    secret(
        "cluster-1",
        &ns,
        "network-node-hapi-app-secrets",
        &[
            ("hedera-node1.key".to_owned(), tls.key_pem.as_str()),
            ("hedera-node1.crt".to_owned(), tls.pem.as_str()),
        ],
    );

    let proto = bytes_of(
        &user,
        &["network", "address-book", "certs", "--format", "proto"],
    );
    let stderr = String::from_utf8_lossy(&proto.stderr);
    assert_eq!(proto.status.code(), Some(0), "{stderr}");
    let book = NodeAddressBook::decode(proto.stdout.as_slice()).expect("a NodeAddressBook");
    let (one, two) = (&book.node_address[0], &book.node_address[1]);
    assert_eq!(one.description, "node1");
    assert_eq!(
        one.rsa_pub_key,
        hex(&gossip.spki),
        "RSA_PubKey: the gossip public key, DER, hex"
    );
    let hash = hex(&<sha2::Sha384 as sha2::Digest>::digest(tls.pem.as_bytes()));
    assert_eq!(
        String::from_utf8_lossy(&one.node_cert_hash),
        hash,
        "nodeCertHash: SHA-384 of the TLS certificate's PEM, hex"
    );
    // node2 has no Secrets: its fields stay empty and the output says so.
    assert_eq!(
        (two.rsa_pub_key.as_str(), two.node_cert_hash.len()),
        ("", 0)
    );
    assert!(
        stderr.contains(&format!(
            "note: node node2 in namespace {ns} of cluster cluster-1: no gossip certificate (Secret network-node2-keys-secrets, key s-public-node2.pem, or --gossip-cert) and no TLS certificate (Secret network-node-hapi-app-secrets, key hedera-node2.crt, or --tls-cert), so its certificate fields are empty"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("node node1"), "{stderr}");

    // genesis-network.json carries the gossip certificate itself (DER, base64).
    let genesis = json(&user.ok(&["network", "genesis", "certs"]).stdout);
    let ca = genesis["nodeMetadata"][0]["rosterEntry"]["gossipCaCertificate"]
        .as_str()
        .expect("gossipCaCertificate");
    assert_eq!(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ca).expect("base64"),
        gossip.der
    );

    // A file given with a flag stands in for a Secret.
    let gossip2 = self_signed("s-node2");
    let path = user.home.join("s-public-node2.pem");
    std::fs::write(&path, &gossip2.pem).expect("write");
    let flagged = format!("node2={}", path.display());
    let book = json(
        &user
            .ok(&[
                "network",
                "address-book",
                "certs",
                "--format",
                "json",
                "--gossip-cert",
                &flagged,
            ])
            .stdout,
    );
    assert_eq!(
        book["nodeAddress"][1]["RSA_PubKey"],
        hex(&gossip2.spki).as_str(),
        "{book}"
    );
}

#[test]
fn a_namespace_forbidden_in_one_cluster_is_named_and_nothing_is_written() {
    let (ns, state_ns) = namespaces("net13rbac");
    let suffix = format!("{:x}", std::process::id());
    let team = format!("net-{suffix}");
    let admin = User::new("net13rbac", "admin@example.com");
    let alice = User::new("net13rbac", "alice@example.com");
    let refs = ["cluster-1", "cluster-2"];
    admin.connect(&refs, str::to_owned);
    alice.connect(&refs, |c| format!("alice@{c}"));
    team_setup(&admin, &team, "team-a", &state_ns, &ns);
    alice.create(
        "rbac",
        &ns,
        &refs,
        &["--team", &team, "--state-namespace", &state_ns],
    );
    add_nodes(
        &alice,
        "rbac",
        &[("node1", "cluster-1"), ("node2", "cluster-2")],
    );
    for (node, c, ip) in [
        ("node1", "cluster-1", "203.0.113.21"),
        ("node2", "cluster-2", "203.0.113.22"),
    ] {
        service(c, &ns, node, Some(serde_json::json!({ "ip": ip })));
    }
    // team-a may read Services in the network's namespace of cluster-1 only.
    grant(
        "cluster-1",
        &ns,
        "read-services",
        "team-a",
        &["services"],
        &["get", "list", "watch"],
    );

    let before = alice.ok(&["state", "show", "rbac", "-o", "json"]).stdout;
    for args in [
        vec!["network", "endpoints", "rbac", "--record"],
        vec!["network", "endpoints", "rbac", "--check"],
    ] {
        let refused = alice.solo(&args);
        assert_eq!(refused.code, Some(5), "solo {args:?}: {}", refused.stderr);
        let mut lines = refused.stderr.lines();
        assert_eq!(
            lines.next(),
            Some(
                format!(
                    "error: cluster cluster-2 refused to let you read Service network-node2-svc in namespace {ns}"
                )
                .as_str()
            ),
            "solo {args:?}: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains(&format!(
                "ask the cluster's administrator for a Role in namespace {ns} that lets you get and watch services"
            )),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(
        alice.ok(&["state", "show", "rbac", "-o", "json"]).stdout,
        before,
        "nothing written"
    );
    // The admin, allowed everywhere, resolves both.
    admin.ok(&[
        "network",
        "endpoints",
        "rbac",
        "--state-namespace",
        &state_ns,
    ]);
}
