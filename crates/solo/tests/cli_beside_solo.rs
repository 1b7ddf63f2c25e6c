//! Beside the Solo tool's `~/.solo/local-config.yaml`, offline: Solo's file is read and never
//! written, this tool's own settings live in `solo-state-config.yaml`, an old config of ours under
//! Solo's name is moved, a conflict between the two files is named, and a damaged file is one
//! sentence with its line and column.

mod support;

use std::path::{Path, PathBuf};
use support::{Run, offline, scratch};

const SOLO_V2: &str = include_str!("fixtures/solo/local-config-v2.yaml");
const SOLO_V1: &str = include_str!("fixtures/solo/local-config-v1.yaml");
const SOLO_V0: &str = include_str!("fixtures/solo/local-config-v0.yaml");

fn home(test: &str) -> PathBuf {
    scratch("cli_beside_solo", test)
}

fn solo(home: &Path, args: &[&str]) -> Run {
    offline(home, home, args)
}

#[test]
fn solo_tools_cluster_refs_are_read_from_every_schema_and_its_file_is_never_written() {
    for (n, fixture) in [SOLO_V0, SOLO_V1, SOLO_V2].into_iter().enumerate() {
        let dir = home(&format!("read-v{n}"));
        let solo_file = dir.join("local-config.yaml");
        std::fs::write(&solo_file, fixture).expect("Solo's file");
        let list = solo(&dir, &["cluster-ref", "list", "-o", "json"]);
        assert_eq!(list.code, Some(0), "{}", list.stderr);
        assert!(list.stdout.contains("\"cluster-a\""), "{}", list.stdout);
        assert!(list.stdout.contains("kind-solo-a"), "{}", list.stdout);
        let init = solo(&dir, &["init", "--email", "alice@example.com"]);
        assert_eq!(init.code, Some(0), "{}", init.stderr);
        assert_eq!(
            std::fs::read(&solo_file).expect("read"),
            fixture.as_bytes(),
            "Solo's file changed"
        );
        let ours = std::fs::read_to_string(dir.join("solo-state-config.yaml")).expect("ours");
        assert!(ours.contains("alice@example.com"), "{ours}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("solo-state-config.yaml"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "our config is private");
        }
    }
}

#[test]
fn an_old_config_of_ours_under_solos_name_is_moved_to_our_own_file() {
    let dir = home("moved");
    let old = "version: 1\nuserEmail: bob@example.com\nclusterRefs:\n  cluster-1: ctx-1\n";
    std::fs::write(dir.join("local-config.yaml"), old).expect("old");
    let list = solo(&dir, &["cluster-ref", "list", "-o", "json"]);
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    assert!(list.stdout.contains("ctx-1"), "{}", list.stdout);
    assert!(
        !dir.join("local-config.yaml").exists(),
        "left under Solo's name"
    );
    let ours = std::fs::read_to_string(dir.join("solo-state-config.yaml")).expect("moved");
    assert!(
        ours.contains("bob@example.com") && ours.contains("ctx-1"),
        "{ours}"
    );
}

#[test]
fn a_mapping_the_two_files_disagree_on_is_named() {
    let dir = home("conflict");
    std::fs::write(dir.join("local-config.yaml"), SOLO_V2).expect("Solo's");
    std::fs::write(
        dir.join("solo-state-config.yaml"),
        "version: 1\nclusterRefs:\n  cluster-a: other-context\n",
    )
    .expect("ours");
    let list = solo(&dir, &["cluster-ref", "list"]);
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    assert!(
        list.stderr.contains(
            "cluster ref cluster-a maps to kube context other-context here but to kind-solo-a in Solo's local-config.yaml"
        ),
        "{}",
        list.stderr
    );
    assert_eq!(
        std::fs::read(dir.join("local-config.yaml")).expect("read"),
        SOLO_V2.as_bytes()
    );
}

#[test]
fn a_damaged_file_is_one_sentence_with_its_line_and_column() {
    let dir = home("damaged");
    let damaged = "schemaVersion: 2\nclusterRefs:\n  cluster-a: [kind\n";
    std::fs::write(dir.join("local-config.yaml"), damaged).expect("Solo's");
    let run = solo(&dir, &["cluster-ref", "list"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let error: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(error.len(), 1, "{}", run.stderr);
    assert!(error[0].contains("local-config.yaml"), "{}", run.stderr);
    assert!(
        error[0].contains("line") && error[0].contains("column"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("never changes it"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        std::fs::read(dir.join("local-config.yaml")).expect("read"),
        damaged.as_bytes()
    );

    let ours = home("damaged-ours");
    std::fs::write(
        ours.join("solo-state-config.yaml"),
        "version: 1\nclusterRefs: {a: [\n",
    )
    .expect("ours");
    let run = solo(&ours, &["cluster-ref", "list"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let error: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(error.len(), 1, "{}", run.stderr);
    assert!(
        error[0].contains("line") && error[0].contains("column"),
        "{}",
        run.stderr
    );
}
