//! A corpus of malformed documents: each gives a clear error, and none panics.
//!
//! The files live in `data/state/malformed/`; huge and pathological inputs are made here at run
//! time instead of being committed.

use jiff::Timestamp;
use solo_core::state::{self, MAX_DOCUMENT_BYTES, MigrationStamp, StateError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

fn stamp() -> MigrationStamp {
    MigrationStamp {
        by: "carol@example.com".into(),
        at: Timestamp::UNIX_EPOCH,
    }
}

/// The whole report a user would see: the error, every problem, and the hint.
fn report(e: &StateError) -> String {
    let mut out = e.to_string();
    for p in e.problems() {
        out.push_str(&format!("\n  {p}"));
    }
    out.push_str(&format!("\nhelp: {}", e.hint()));
    out
}

/// Load without letting a panic escape, so that a panic names its input.
fn load_guarded(what: &str, bytes: &[u8]) -> StateError {
    match catch_unwind(AssertUnwindSafe(|| state::load(bytes, &stamp()))) {
        Ok(Ok(_)) => panic!("{what}: a malformed document was accepted"),
        Ok(Err(e)) => e,
        Err(_) => panic!("{what}: reading it panicked"),
    }
}

/// Each corpus file and a part of the error it must give (the first line of the report).
const EXPECTED: &[(&str, &str)] = &[
    (
        "alias-bomb.yaml",
        "line 7, column 12: the YAML has more values than any solo state (aliases count once for each use)",
    ),
    (
        "bad-history-names.yaml",
        "cli.history[0]: \"Net_History_01\" is not a valid object name: use lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit",
    ),
    (
        "bad-names.yaml",
        "metadata.name: \"My_Network\" is not a valid name: it has the upper-case letter 'M'; use lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
    (
        "bad-timestamp.yaml",
        "line 4, column 18: failed to parse four digit integer as year: invalid digit, expected 0-9 but got y",
    ),
    (
        "bad-user.yaml",
        "metadata.lastUpdatedBy: jeromy is not an email address; users are identified by email (like alice@example.com)",
    ),
    ("blank.yaml", "the document is empty"),
    (
        "comments-only.yaml",
        "the document has no `version` field, so its schema is unknown",
    ),
    (
        "dangling-cluster.yaml",
        "components.mirror[0].cluster: cluster-9 is not one of the clusters of this deployment (cluster-1); add it to clusters or use one of those",
    ),
    (
        "dangling-consensus-node.yaml",
        "components.haproxy[1].consensusNode: node7 is not a consensus node of this deployment",
    ),
    (
        "dangling-relay-node.yaml",
        "components.relay[0].consensusNodes[1]: node3 is not a consensus node of this deployment",
    ),
    (
        "deep-block-nesting.yaml",
        "line 25, column 33: the YAML nests deeper than 16 levels, and a solo state needs 5",
    ),
    (
        "deep-flow-nesting.yaml",
        "line 10, column 28: the YAML nests deeper than 16 levels, and a solo state needs 5",
    ),
    (
        "duplicate-cluster.yaml",
        "clusters[1]: cluster cluster-1 with namespace solo is listed twice (first at clusters[0]); list it once",
    ),
    (
        "duplicate-component-names.yaml",
        "components.consensus[1].name: node0 is already the name of components.consensus[0]; names are unique per kind",
    ),
    (
        "empty-relay-node-list.yaml",
        "components.relay[0].consensusNodes: is empty; a relay serves at least one consensus node, list it here",
    ),
    (
        "latin1-name.yaml",
        "the document is not UTF-8 text: byte 0xe9 at offset 34 (line 3, column 10) is not valid UTF-8",
    ),
    (
        "many-problems-at-once.yaml",
        "the document is not a valid solo state: 6 problems\n  metadata.lastUpdatedBy: user is not an email address; users are identified by email (like alice@example.com)\n  clusters: is empty; a deployment needs at least one cluster and namespace, since the lock is one lease in each of them\n  components.consensus[0].name: \"Node0\" is not a valid name: it has the upper-case letter 'N'; use lowercase letters, digits and '-', starting and ending with a letter or digit\n  components.consensus[0].cluster: c is not one of the clusters of this deployment (there are none); add it to clusters or use one of those\n  components.envoyProxy[0].cluster: c is not one of the clusters of this deployment (there are none); add it to clusters or use one of those\n  components.envoyProxy[0].consensusNode: node9 is not a consensus node of this deployment",
    ),
    (
        "missing-metadata.yaml",
        "line 2, column 1: missing field `metadata`",
    ),
    (
        "missing-required-field.yaml",
        "line 12, column 7: missing field `cluster`",
    ),
    (
        "namespace-not-locked.yaml",
        "components.consensus[0].namespace: solo-2 is not listed for cluster cluster-1 in clusters (it has solo), so the lock would not cover it; add it to clusters or use a listed namespace",
    ),
    (
        "no-clusters.yaml",
        "clusters: is empty; a deployment needs at least one cluster and namespace, since the lock is one lease in each of them",
    ),
    (
        "null-name.yaml",
        "line 3, column 9: null is not allowed here",
    ),
    (
        "old-relay-key-in-current-version.yaml",
        "line 18, column 7: unknown field `consensusNode`, expected one of name, cluster, namespace, consensusNodes",
    ),
    (
        "root-is-a-list.yaml",
        "line 1, column 1: expected a mapping (`key: value` lines) here",
    ),
    (
        "root-is-a-scalar.yaml",
        "line 1, column 1: expected a mapping (`key: value` lines) here",
    ),
    (
        "timestamp-without-offset.yaml",
        "line 4, column 18: failed to find offset component, which is required for parsing a timestamp",
    ),
    (
        "typo-in-field-name.yaml",
        "line 18, column 7: unknown field `consensusnode`, expected one of name, cluster, namespace, consensusNode",
    ),
    (
        "unknown-component-kind.yaml",
        "line 14, column 3: unknown field `grafana`, expected one of consensus, haproxy, envoyProxy, mirror, mirror-node-explorer, relay",
    ),
    (
        "unknown-metadata-field.yaml",
        "line 6, column 3: unknown field `configMap`, expected one of name, lastUpdatedAt, lastUpdatedBy, migration",
    ),
    (
        "unknown-top-level-field.yaml",
        "line 9, column 1: unknown field `metdata`, expected one of version, metadata, clusters, components, cli",
    ),
    (
        "unsupported-tag.yaml",
        "line 3, column 35: unsupported tag `!!python/object:os.system`",
    ),
    (
        "utf16.yaml",
        "the document is not UTF-8 text: byte 0xff at offset 0 (line 1, column 1) is not valid UTF-8",
    ),
    (
        "v1-relay-node-is-a-mapping.yaml",
        "line 18, column 22: invalid type: map, expected a consensus node name or a list of names",
    ),
    (
        "version-from-the-future.yaml",
        "this state has schema version 2.3.0, written by a newer solo; this solo reads schema versions up to 2.1.0",
    ),
    (
        "version-is-a-list.yaml",
        "line 1, column 10: expected a single value here",
    ),
    (
        "version-missing.yaml",
        "the document has no `version` field, so its schema is unknown",
    ),
    (
        "version-never-released.yaml",
        "schema version 1.0.31 is not one solo ever wrote (known versions: 1.0.32, 1.1.0, 2.0.0, 2.1.0)",
    ),
    (
        "version-next-major.yaml",
        "this state has schema version 3.0.0, written by a newer solo; this solo reads schema versions up to 2.1.0",
    ),
    (
        "version-not-three-numbers.yaml",
        "`version: 2.0` is not a schema version: a schema version is three numbers separated by dots, like 2.0.0",
    ),
    (
        "wrong-type-clusters-is-a-mapping.yaml",
        "line 7, column 3: expected a list here",
    ),
    (
        "wrong-type-components-is-a-list.yaml",
        "line 10, column 3: expected a mapping (`key: value` lines) here",
    ),
    (
        "wrong-type-name-is-a-list.yaml",
        "line 3, column 9: expected a single value here",
    ),
    (
        "wrong-type-relay-nodes-is-a-string.yaml",
        "line 18, column 23: expected a list here",
    ),
    (
        "yaml-bad-indentation.yaml",
        "line 8, column 4: while parsing a block collection, did not find expected '-' indicator",
    ),
    (
        "yaml-duplicate-key.yaml",
        "line 6, column 1: duplicate mapping key `version` is not allowed here",
    ),
    (
        "yaml-tab-indentation.yaml",
        "line 3, column 2: tabs disallowed within this context (block indentation)",
    ),
    (
        "yaml-two-documents.yaml",
        "line 9, column 1: the file holds more than one YAML document, and a state is one document",
    ),
    (
        "yaml-unclosed-flow-mapping.yaml",
        "line 2, column 11: unclosed bracket '{'",
    ),
    (
        "yaml-unterminated-string.yaml",
        "line 3, column 9: unclosed quote",
    ),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/state/malformed")
}

#[test]
fn every_corpus_file_gives_its_clear_error_and_none_panics() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let bytes = std::fs::read(path).expect("read corpus file");
        let err = load_guarded(&name, &bytes);
        let text = report(&err);
        assert!(
            !err.to_string().is_empty() && !err.hint().is_empty(),
            "{name}: empty message"
        );
        let expected = EXPECTED.iter().find(|(f, _)| *f == name).map(|(_, e)| *e);
        let Some(expected) = expected else {
            panic!("{name}: add its expected error to EXPECTED")
        };
        assert!(
            text.contains(expected),
            "{name}:\n{text}\ndoes not contain\n{expected}"
        );
    }
    for (f, _) in EXPECTED {
        assert!(
            files.iter().any(|p| p.ends_with(f)),
            "{f} is expected but missing"
        );
    }
}

const VALID: &str = "version: 2.0.0\nmetadata:\n  name: net\n  lastUpdatedAt: 2024-04-25T13:03:32Z\n  lastUpdatedBy: alice@example.com\nclusters:\n  - name: cluster-1\n    namespace: solo\ncomponents:\n  consensus:\n    - name: node0\n      cluster: cluster-1\n      namespace: solo\n";

#[test]
fn the_valid_base_of_the_generated_inputs_is_valid() {
    state::load(VALID.as_bytes(), &stamp()).expect("valid");
}

#[test]
fn a_10_mb_file_is_refused_before_it_is_parsed_naming_the_limit() {
    let mut big = String::from(VALID);
    while big.len() < 10 * 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let err = load_guarded("10 MB", big.as_bytes());
    assert_eq!(
        err.to_string(),
        format!(
            "the document is {} bytes, more than the limit of 4194304 bytes",
            big.len()
        )
    );
    assert_eq!(
        err,
        StateError::TooLarge {
            size: big.len(),
            limit: MAX_DOCUMENT_BYTES
        }
    );
    assert!(err.hint().contains("4 MiB"), "{}", err.hint());
}

#[test]
fn a_file_just_under_the_limit_is_read() {
    let mut big = String::from(VALID);
    let line = "# a long comment that a person might have left in the file, nothing more\n";
    while big.len() + line.len() <= MAX_DOCUMENT_BYTES {
        big.push_str(line);
    }
    state::load(big.as_bytes(), &stamp()).expect("size alone under the limit is fine");
}

#[test]
fn non_utf8_bytes_are_named_by_offset_line_and_column() {
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("net").expect("name") + 1; // line 3, column 10
    bytes[at] = 0xff;
    let err = load_guarded("0xff", &bytes);
    assert_eq!(
        err.to_string(),
        format!(
            "the document is not UTF-8 text: byte 0xff at offset {at} (line 3, column 10) is not valid UTF-8"
        )
    );
    // A multi-byte character cut short at the very end.
    let mut cut = VALID.as_bytes().to_vec();
    cut.extend_from_slice(&"é".as_bytes()[..1]);
    assert!(
        matches!(load_guarded("cut", &cut), StateError::NotUtf8 { offset, .. } if offset == VALID.len())
    );
    // A byte-order mark is fine.
    let with_bom = format!("\u{feff}{VALID}");
    state::load(with_bom.as_bytes(), &stamp()).expect("BOM is skipped");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep_flow = format!(
        "version: 2.0.0\ncli: {}{}\n",
        "[".repeat(1_000_000),
        "]".repeat(1_000_000)
    );
    let deep_flow_maps = format!("version: 2.0.0\ncli: {}\n", "{a: ".repeat(500_000));
    let mut deep_block = String::from("version: 2.0.0\ncli:\n");
    for i in 0..1_500 {
        deep_block.push_str(&" ".repeat(i + 1));
        deep_block.push_str("a:\n");
    }
    let mut deep_seq = String::from(VALID);
    deep_seq.push_str("cli:\n  history:\n");
    deep_seq.push_str(&"    - ".repeat(100_000));
    deep_seq.push_str("x\n");
    for (what, text) in [
        ("flow lists", deep_flow),
        ("flow maps", deep_flow_maps),
        ("block maps", deep_block),
        ("compact lists", deep_seq),
    ] {
        let err = load_guarded(what, text.as_bytes());
        let StateError::Yaml { message, .. } = &err else {
            panic!("{what}: {err:?}")
        };
        assert!(
            message.contains("nests deeper than 16 levels")
                || message.contains("too large")
                || message.contains("too many"),
            "{what}: {message}"
        );
    }
}

#[test]
fn a_huge_name_is_reported_short() {
    let text = VALID.replace(
        "name: net",
        &format!("name: {}", "n".repeat(3 * 1024 * 1024)),
    );
    let err = load_guarded("huge name", text.as_bytes());
    let [problem] = err.problems() else {
        panic!("{err:?}")
    };
    assert_eq!(problem.path, "metadata.name");
    assert!(problem.message.len() < 200, "{}", problem.message);
    assert!(
        problem
            .message
            .ends_with("is 3145728 characters long; a name has at most 63"),
        "{}",
        problem.message
    );
}

#[test]
fn control_characters_and_separators_storms_are_refused() {
    for (what, text) in [
        ("NUL", VALID.replace("net", "n\0et")),
        (
            "escape sequence",
            VALID.replace("name: net", "name: \"\\e[31mred\""),
        ),
        ("document storm", "---\n".repeat(200_000)),
        (
            "key storm",
            (0..200_000).map(|i| format!("k{i}: v\n")).collect(),
        ),
        (
            "anchor storm",
            (0..60_000).map(|i| format!("a{i}: &x{i} v\n")).collect(),
        ),
    ] {
        let err = load_guarded(what, text.as_bytes());
        let shown = report(&err);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\0'),
            "{what}: {shown:?}"
        );
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = state::load(&bytes, &stamp());
            let _ = state::import_legacy(&bytes, &stamp(), None);
        }

        #[test]
        fn on_a_valid_document_with_bytes_changed(
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        ) {
            let mut bytes = VALID.as_bytes().to_vec();
            for (at, byte, op) in edits {
                let at = at % (bytes.len() + 1);
                match op {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => { bytes.remove(at); }
                    _ => {}
                }
            }
            if let Err(e) = state::load(&bytes, &stamp()) {
                prop_assert!(!e.to_string().is_empty() && !e.hint().is_empty());
            }
        }
    }
}
