//! `solo state validate` and `solo state import-legacy`, run as a user would run them.

use assert_cmd::Command;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../solo-core/tests/data/state")
        .join(rel)
}

fn solo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_solo"));
    cmd.env_remove("SOLO_USER_EMAIL");
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_state");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("solo runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn valid_file() -> PathBuf {
    let text = std::fs::read_to_string(data("reference-example.yaml")).expect("example");
    let path = scratch("valid.yaml");
    std::fs::write(&path, text.replace("cluster-N", "cluster-3")).expect("write");
    path
}

#[test]
fn a_valid_document_exits_0_and_says_what_it_holds() {
    let r = run(solo()
        .args(["state", "validate", "--file"])
        .arg(valid_file()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("is a valid solo state (schema 1.0.32): deployment my-network-1, 3 clusters, 11 components"), "{}", r.stderr);
    assert!(
        r.stderr.contains("note: schema 1.0.32 is older than 2.1.0"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn a_valid_document_can_be_printed_migrated_and_that_output_is_valid_too() {
    let r = run(solo()
        .args(["state", "validate", "-o", "yaml", "--file"])
        .arg(valid_file()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.starts_with("version: \"2.1.0\"\n"), "{}", r.stdout);
    let migrated = scratch("migrated.yaml");
    std::fs::write(&migrated, &r.stdout).expect("write");
    let again = run(solo()
        .args(["state", "validate", "-o", "yaml", "-f"])
        .arg(&migrated));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.stdout, r.stdout, "canonical output is a fixed point");
}

#[test]
fn an_invalid_document_exits_1_and_lists_every_problem_with_its_path() {
    let file = data("malformed/many-problems-at-once.yaml");
    let r = run(solo().args(["state", "validate", "--file"]).arg(&file));
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.is_empty());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "error: {} is not a valid solo state: 7 problems",
            file.display()
        )
    );
    assert_eq!(
        lines[1],
        "  metadata.lastUpdatedBy: user is not an email address; users are identified by email (like alice@example.com)"
    );
    // A 2.0.0 file is migrated for the check, and the record names its last writer.
    assert_eq!(
        lines[2],
        "  metadata.migration.migratedBy: user is not an email address; users are identified by email (like alice@example.com)"
    );
    assert!(
        lines[1..8]
            .iter()
            .all(|l| l.starts_with("  ") && l.contains(": "))
    );
    assert_eq!(
        lines[7],
        "  components.envoyProxy[0].consensusNode: node9 is not a consensus node of this deployment"
    );
    assert_eq!(
        lines[8],
        "help: fix each field listed above, then check the file again with `solo state validate --file <file>`"
    );
    assert_eq!(lines.len(), 9);
}

#[test]
fn problems_are_json_for_scripts() {
    let r = run(solo()
        .args(["state", "validate", "-o", "json", "--file"])
        .arg(data("malformed/dangling-consensus-node.yaml")));
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(
        v["problems"][0]["path"],
        "components.haproxy[1].consensusNode"
    );
    assert_eq!(
        v["problems"][0]["message"],
        "node7 is not a consensus node of this deployment"
    );
}

#[test]
fn a_non_utf8_file_gets_one_clear_line() {
    let file = data("malformed/latin1-name.yaml");
    let r = run(solo().args(["state", "validate", "--file"]).arg(&file));
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        format!(
            "error: {}: the document is not UTF-8 text: byte 0xe9 at offset 34 (line 3, column 10) is not valid UTF-8\n\
             help: save the file as UTF-8 text (for example with `iconv -t UTF-8`) and try again\n",
            file.display()
        )
    );
}

#[test]
fn every_corpus_file_fails_cleanly_without_a_panic() {
    let dir = data("malformed");
    for entry in std::fs::read_dir(&dir).expect("corpus") {
        let path = entry.expect("entry").path();
        let r = run(solo().args(["state", "validate", "--file"]).arg(&path));
        assert_eq!(r.code, Some(1), "{}: {}", path.display(), r.stderr);
        assert!(
            r.stderr.starts_with("error: "),
            "{}: {}",
            path.display(),
            r.stderr
        );
        assert!(
            r.stderr.contains("\nhelp: "),
            "{}: {}",
            path.display(),
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_10_mb_file_is_refused_naming_the_limit() {
    let big = scratch("big.yaml");
    std::fs::write(&big, "# x\n".repeat(10 * 1024 * 1024 / 4)).expect("write");
    let r = run(solo().args(["state", "validate", "--file"]).arg(&big));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("the document is 10485760 bytes, more than the limit of 4194304 bytes"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2_and_missing_files_exit_1() {
    assert_eq!(run(solo().args(["state", "validate"])).code, Some(2));
    assert_eq!(run(solo().args(["state", "frobnicate"])).code, Some(2));
    let r = run(solo().args(["state", "validate", "--file", "/no/such/file.yaml"]));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .starts_with("error: cannot read /no/such/file.yaml: "),
        "{}",
        r.stderr
    );
    let help = run(solo().args(["state", "validate", "--help"]));
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("Examples:"));
}

#[test]
fn import_legacy_turns_the_drafts_solo_config_into_a_valid_state() {
    let r = run(solo()
        .args([
            "state",
            "import-legacy",
            "--email",
            "lenin.mehedy@swirldslabs.com",
            "--file",
        ])
        .arg(data("legacy/solo.config")));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("  name: solo\n"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("fromVersion: legacy-solo.config/0.24.0\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("warning: flags.release-tag (v0.47.0) is not imported"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("next: map the cluster ref to your kube context: solo cluster-ref connect kind-solo-e2e --context kind-solo-e2e"), "{}", r.stderr);

    let out = scratch("imported.yaml");
    std::fs::write(&out, &r.stdout).expect("write");
    let check = run(solo().args(["state", "validate", "--file"]).arg(&out));
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains("(schema 2.1.0): deployment solo, 1 cluster, 3 components"),
        "{}",
        check.stderr
    );
}

#[test]
fn import_legacy_writes_a_file_takes_the_identity_from_the_environment_and_never_overwrites_silently()
 {
    let out = scratch("written.yaml");
    let r = run(solo()
        .env("SOLO_USER_EMAIL", "alice@example.com")
        .args([
            "state",
            "import-legacy",
            "--quiet",
            "--name",
            "my-network",
            "--file",
        ])
        .arg(data("legacy/solo.config"))
        .arg("--out")
        .arg(&out));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.is_empty() && r.stderr.is_empty(),
        "quiet: {}{}",
        r.stdout,
        r.stderr
    );
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(
        text.contains("  name: my-network\n")
            && text.contains("lastUpdatedBy: alice@example.com\n"),
        "{text}"
    );

    let again = run(solo()
        .env("SOLO_USER_EMAIL", "alice@example.com")
        .args(["state", "import-legacy", "--file"])
        .arg(data("legacy/solo.config"))
        .arg("--out")
        .arg(&out));
    assert_eq!(again.code, Some(1));
    assert!(
        again.stderr.contains("exists; it was left as it was"),
        "{}",
        again.stderr
    );
    let forced = run(solo()
        .env("SOLO_USER_EMAIL", "alice@example.com")
        .args(["state", "import-legacy", "--yes", "-q", "--file"])
        .arg(data("legacy/solo.config"))
        .arg("--out")
        .arg(&out));
    assert_eq!(forced.code, Some(0), "{}", forced.stderr);
}

#[test]
fn import_legacy_without_an_identity_says_how_to_give_one() {
    let r = run(solo()
        .args(["state", "import-legacy", "--file"])
        .arg(data("legacy/solo.config")));
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        "error: no user identity: the import records who made the state\nhelp: pass --email you@example.com, or set SOLO_USER_EMAIL\n"
    );
}

#[test]
fn import_legacy_of_a_broken_file_lists_its_problems() {
    let bad = scratch("bad.config");
    std::fs::write(&bad, r#"{"flags": {"node-ids": "node0,Node_1"}}"#).expect("write");
    let r = run(solo()
        .args(["state", "import-legacy", "--email", "a@b.io", "--file"])
        .arg(&bad));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(
            "the legacy file cannot be imported: 2 problems\n  flags.namespace: is missing"
        ),
        "{}",
        r.stderr
    );
}
