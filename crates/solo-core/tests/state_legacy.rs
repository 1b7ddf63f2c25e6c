//! The legacy single-user `~/.solo/solo.config` (section 3 of the reference design) becomes a
//! valid state document; what it cannot hold is listed, never silently dropped.

use jiff::Timestamp;
use solo_core::state::{
    self, ClusterRef, ConsensusNode, Loaded, MigrationStamp, Problem, StateError,
};

const DRAFT: &str = include_str!("data/state/legacy/solo.config");

fn stamp() -> MigrationStamp {
    MigrationStamp {
        by: "lenin.mehedy@swirldslabs.com".into(),
        at: "2025-02-03T04:05:06Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH),
    }
}

#[test]
fn the_drafts_solo_config_becomes_a_valid_state() {
    let import = state::import_legacy(DRAFT.as_bytes(), &stamp(), None).expect("imports");
    let doc = &import.document;
    assert_eq!(state::validate(doc), Ok(()));
    assert_eq!(doc.version, state::CURRENT);
    assert_eq!(doc.metadata.name, "solo", "named after flags.namespace");
    assert_eq!(doc.metadata.last_updated_by, "lenin.mehedy@swirldslabs.com");
    assert_eq!(doc.metadata.last_updated_at, stamp().at);
    let mig = doc.metadata.migration.as_ref().expect("migration recorded");
    assert_eq!(mig.from_version, "legacy-solo.config/0.24.0");
    assert_eq!(
        (mig.migrated_by.as_str(), mig.migrated_at),
        (stamp().by.as_str(), stamp().at)
    );
    assert_eq!(doc.clusters, vec![ClusterRef::new("kind-solo-e2e", "solo")]);
    let node = |n: &str, id: u64, account: &str| {
        ConsensusNode::new(n, "kind-solo-e2e", "solo", id, account)
    };
    assert_eq!(
        doc.components.consensus,
        vec![
            node("node0", 0, "0.0.3"),
            node("node1", 1, "0.0.4"),
            node("node2", 2, "0.0.5")
        ]
    );
    assert_eq!(doc.components.len(), 3);

    // Every flag and key left behind is named.
    let left: Vec<&str> = import
        .warnings
        .iter()
        .map(|w| w.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        left,
        vec![
            "flags.cache-dir",
            "flags.cert-manager",
            "flags.cert-manager-crds",
            "flags.cluster-setup-namespace",
            "flags.dev",
            "flags.fst-chart-version",
            "flags.key-format",
            "flags.minio",
            "flags.profile",
            "flags.profile-file",
            "flags.prometheus-stack",
            "flags.release-tag",
            "lastCommand",
            "updatedAt",
        ]
    );
    assert!(
        import.warnings.contains(
            &"lastCommand (cluster setup) is not imported; the command history starts empty"
                .to_string()
        )
    );
    assert_eq!(
        import.next_steps[0],
        "map the cluster ref to your kube context: solo cluster-ref connect kind-solo-e2e --context kind-solo-e2e"
    );

    // The result is a state like any other: it prints, reads back and needs no migration.
    let text = state::to_canonical_yaml(doc).expect("prints");
    let back = state::load(text.as_bytes(), &stamp()).expect("reads back");
    assert_eq!(back, Loaded::Current(doc.clone()));
}

#[test]
fn context_names_become_cluster_refs_and_the_name_can_be_given() {
    let json = r#"{"flags": {"namespace": "solo-e2e", "deployment": "my-net", "cluster-name": "gke_my-project_europe-west1_Prod", "node-ids": " node0, node1 ,,node2 "}, "version": "0.30.1"}"#;
    let import = state::import_legacy(json.as_bytes(), &stamp(), None).expect("imports");
    assert_eq!(
        import.document.metadata.name, "my-net",
        "flags.deployment wins over the namespace"
    );
    assert_eq!(
        import.document.clusters[0].name,
        "gke-my-project-europe-west1-prod"
    );
    assert_eq!(import.document.components.consensus.len(), 3);
    let named = state::import_legacy(json.as_bytes(), &stamp(), Some("chosen")).expect("imports");
    assert_eq!(named.document.metadata.name, "chosen");
}

#[test]
fn a_legacy_file_without_what_a_state_needs_lists_every_problem() {
    let json = r#"{"flags": {"node-ids": "node0,Node_1,node0", "cluster-name": 7}}"#;
    let err = state::import_legacy(json.as_bytes(), &stamp(), None).expect_err("incomplete");
    assert_eq!(
        err.to_string(),
        "the legacy file cannot be imported: 4 problems"
    );
    assert_eq!(
        err.problems(),
        &[
            Problem::new("flags.cluster-name", "is a number, not a string"),
            Problem::new(
                "flags.namespace",
                "is missing; the network's namespace is needed to place its components"
            ),
            Problem::new(
                "flags.node-ids",
                "\"Node_1\" is not a valid name: it has the upper-case letter 'N'; use lowercase letters, digits and '-', starting and ending with a letter or digit"
            ),
            Problem::new("flags.node-ids", "node0 is listed twice"),
        ]
    );
}

#[test]
fn not_json_or_not_a_solo_config_is_said_plainly() {
    let err = state::import_legacy(b"{\"flags\": {", &stamp(), None).expect_err("cut short");
    assert_eq!(
        err.to_string(),
        "the legacy file is not a solo.config: line 1, column 11: EOF while parsing an object"
    );
    let err = state::import_legacy(b"[1, 2]", &stamp(), None).expect_err("a list");
    assert_eq!(
        err.to_string(),
        "the legacy file is not a solo.config: the top level is a list, not an object with `flags`"
    );
    let err = state::import_legacy(DRAFT.replace("node0", "n\u{e9}").as_bytes(), &stamp(), None);
    assert!(
        matches!(err, Err(StateError::LegacyInvalid { .. })),
        "{err:?}"
    );
    let bad_user = MigrationStamp {
        by: "root".into(),
        at: stamp().at,
    };
    let err = state::import_legacy(DRAFT.as_bytes(), &bad_user, None).expect_err("identity");
    assert_eq!(err.problems()[0].path, "metadata.lastUpdatedBy");
}
