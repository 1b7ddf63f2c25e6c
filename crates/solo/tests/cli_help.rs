//! What people read before anything runs: every command's `--help` (each with an example), the
//! main error messages given before any cluster is reached, `solo init`, shell completions and
//! the manual page. Texts are insta snapshots (tests/snapshots/), checked in.

mod support;

use std::path::{Path, PathBuf};
use support::{Run, offline, scratch};

/// A scratch SOLO_HOME and working directory, with no identity anywhere (no git config either).
fn home(test: &str) -> PathBuf {
    scratch("cli_help", test)
}

fn solo_in(dir: &Path, args: &[&str]) -> Run {
    offline(dir, &dir.join("solo-home"), args)
}

/// Every command path, for the help snapshots.
const COMMANDS: &[&str] = &[
    "",
    "init",
    "cluster-ref connect",
    "cluster-ref disconnect",
    "cluster-ref list",
    "deployment create",
    "deployment list",
    "deployment show",
    "deployment delete",
    "state show",
    "state diff",
    "state apply",
    "state edit",
    "state sync",
    "state validate",
    "state schema",
    "state import-legacy",
    "component add",
    "component remove",
    "component list",
    "lease status",
    "lease acquire",
    "lease renew",
    "lease release",
    "lease break",
    "exec",
    "history",
    "network endpoints",
    "network genesis",
    "network address-book",
    "network export",
    "history export",
    "completions",
    "man",
];

#[test]
fn every_command_has_help_with_an_example() {
    let dir = home("help");
    for path in COMMANDS {
        let mut args: Vec<&str> = path.split_whitespace().collect();
        args.push("--help");
        let run = solo_in(&dir, &args);
        assert_eq!(run.code, Some(0), "solo {path} --help: {}", run.stderr);
        if !path.is_empty() && *path != "completions" && *path != "man" {
            assert!(
                run.stdout.contains("Example"),
                "solo {path} --help has no example:\n{}",
                run.stdout
            );
        }
        let name = if path.is_empty() {
            "help-solo".to_owned()
        } else {
            format!("help-{}", path.replace(' ', "-"))
        };
        insta::assert_snapshot!(name, run.stdout);
    }
}

/// The main refusals that need no cluster: each one sentence, the exit code, nothing written.
#[test]
fn main_errors_before_any_cluster_say_what_to_do() {
    let dir = home("errors");
    let cases: &[(&str, &[&str], i32)] = &[
        (
            "proxy-without-node",
            &[
                "component",
                "add",
                "net",
                "haproxy",
                "h1",
                "--cluster-ref",
                "c1",
            ],
            2,
        ),
        (
            "relay-without-node",
            &["component", "add", "net", "relay", "r1"],
            2,
        ),
        (
            "consensus-with-node",
            &[
                "component",
                "add",
                "net",
                "consensus",
                "n1",
                "--consensus-node",
                "n0",
            ],
            2,
        ),
        (
            "unknown-kind",
            &["component", "add", "net", "validator", "v1"],
            2,
        ),
        (
            "lease-for-too-short",
            &[
                "lease",
                "acquire",
                "net",
                "--for",
                "5s",
                "--email",
                "a@example.com",
            ],
            2,
        ),
        (
            "apply-without-yes",
            &["state", "apply", "net", "--file", "net.yaml"],
            1,
        ),
        (
            "unknown-deployment",
            &["deployment", "delete", "net", "--yes"],
            1,
        ),
        ("init-without-identity", &["init"], 1),
        ("init-bad-email", &["init", "--email", "not an email"], 2),
        ("exec-without-command", &["exec", "net"], 2),
    ];
    for (name, args, code) in cases {
        let run = solo_in(&dir, args);
        assert_eq!(run.code, Some(*code), "solo {args:?}: {}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "solo {args:?} printed {}",
            run.stdout
        );
        insta::assert_snapshot!(format!("error-{name}"), run.stderr);
    }
    assert!(
        !dir.join("solo-home")
            .join("solo-state-config.yaml")
            .exists(),
        "a refused command wrote the local config"
    );
}

#[test]
fn init_creates_the_local_config_once_and_keeps_what_is_there() {
    let dir = home("init");
    let config = dir.join("solo-home").join("solo-state-config.yaml");
    let first = solo_in(&dir, &["init", "--email", "alice@example.com"]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first.stderr.contains("is set up for alice@example.com"),
        "{}",
        first.stderr
    );
    let text = std::fs::read_to_string(&config).expect("config written");
    assert!(
        text.contains("version: 1") && text.contains("userEmail: alice@example.com"),
        "{text}"
    );

    // Rerun: nothing changes, and it says so.
    let again = solo_in(&dir, &["init"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("was already set up for alice@example.com"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&config).expect("config"), text);

    // The identity is then known to every command (here: the one that shows the config).
    let other = solo_in(&dir, &["init", "--email", "al@example.com"]);
    assert_eq!(other.code, Some(0), "{}", other.stderr);
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("userEmail: al@example.com"), "{text}");
}

#[test]
fn completions_are_scripts_for_each_shell_that_know_the_commands() {
    let dir = home("completions");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = solo_in(&dir, &["completions", shell]);
        assert_eq!(run.code, Some(0), "{shell}: {}", run.stderr);
        for word in ["component", "lease", "acquire", "deployment"] {
            assert!(run.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    let bash = solo_in(&dir, &["completions", "bash"]).stdout;
    // bash itself accepts the script, when bash is there.
    if let Ok(out) = std::process::Command::new("bash")
        .arg("-n")
        .arg("-c")
        .arg(&bash)
        .output()
    {
        assert!(
            out.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bad = solo_in(&dir, &["completions", "tcsh"]);
    assert_eq!(bad.code, Some(2));
}

#[test]
fn the_man_page_documents_every_command() {
    let dir = home("man");
    let run = solo_in(&dir, &["man"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with(".ie") || run.stdout.contains(".TH solo"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    for word in ["component", "lease", "Exit codes", "SOLO_HOME"] {
        assert!(run.stdout.contains(word), "solo.1 lacks {word}");
    }
    let pages = dir.join("pages");
    let run = solo_in(&dir, &["man", "--dir", pages.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for page in [
        "solo.1",
        "solo-component-add.1",
        "solo-lease-acquire.1",
        "solo-state-edit.1",
    ] {
        let text =
            std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
}

#[test]
fn state_schema_prints_the_json_schema_of_the_state_document() {
    let dir = home("schema");
    let run = solo_in(&dir, &["state", "schema"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(schema["title"], "StateDocument", "{schema}");
    insta::assert_snapshot!("state-schema", run.stdout);
}
