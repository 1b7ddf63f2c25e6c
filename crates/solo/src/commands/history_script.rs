//! `solo history export --script`: a deployment's recorded commands, oldest first, as a shell
//! script a person can read and run against another deployment (R10: history exists so that the
//! network can be replicated).
//!
//! Writes were recorded as the `solo ...` command line that made them; `solo exec` recorded the
//! command it ran, which the script runs under the other deployment's lock again. The source
//! deployment's name becomes `$DEPLOYMENT`; each command follows a comment saying who ran it,
//! when, how it ended and how long it took. The script does not stop at a command that failed,
//! as the recorded session did not.

use solo_kube::HistoryEntry;

/// The script for `deployment`'s `entries` (oldest first).
pub fn script(deployment: &str, entries: &[HistoryEntry]) -> String {
    let mut text = format!(
        "#!/bin/sh\n\
         # The commands recorded under the lock of {deployment}, oldest first\n\
         # (`solo history export {deployment} --script`). Run them against another deployment:\n\
         #   DEPLOYMENT=<deployment> sh <this file>\n\
         DEPLOYMENT=${{DEPLOYMENT:?set DEPLOYMENT to the deployment to run these commands against}}\n\
         SOLO=${{SOLO:-solo}}\n",
        deployment = crate::render::clean(deployment),
    );
    if entries.is_empty() {
        text.push_str("# (no command was recorded)\n");
    }
    for e in entries {
        text.push_str(&format!(
            "\n# {} by {}: {}, took {}\n{}\n",
            crate::render::when(e.executed_at),
            crate::render::clean(&e.executed_by),
            crate::render::clean(&e.result),
            crate::render::millis(e.duration_ms),
            command_line(deployment, e)
        ));
    }
    text
}

/// The shell line that runs `e` again against `$DEPLOYMENT`.
fn command_line(deployment: &str, e: &HistoryEntry) -> String {
    let word = |arg: &String| {
        if arg == deployment {
            "\"$DEPLOYMENT\"".to_owned()
        } else {
            quote(arg)
        }
    };
    match e.command.split_first() {
        // A write, recorded as the solo command line that made it.
        Some((solo, rest)) if solo == "solo" && e.result.starts_with("ok:") => {
            std::iter::once("\"$SOLO\"".to_owned())
                .chain(rest.iter().map(word))
                .collect::<Vec<_>>()
                .join(" ")
        }
        // A `solo exec`, recorded as the command it ran under the lock.
        _ => std::iter::once("\"$SOLO\" exec \"$DEPLOYMENT\" --".to_owned())
            .chain(e.command.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `arg` as one shell word: as it is when it is plainly safe, else in single quotes.
fn quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(command: &[&str], by: &str, at: &str, result: &str, ms: u64) -> HistoryEntry {
        HistoryEntry {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            executed_by: by.to_owned(),
            executed_at: at.parse().expect("time"),
            result: result.to_owned(),
            duration_ms: ms,
            authenticated_as: None,
        }
    }

    #[test]
    fn writes_and_execs_become_commands_on_deployment_with_who_when_and_how_as_comments() {
        let entries = [
            entry(
                &[
                    "solo",
                    "component",
                    "add",
                    "net-a",
                    "consensus",
                    "node1",
                    "--cluster-ref",
                    "cluster-1",
                ],
                "alice@example.com",
                "2026-01-02T03:04:05.123456789Z",
                "ok: added consensus node1",
                812,
            ),
            entry(
                &["sh", "-c", "echo it's $HOME"],
                "bob@example.com",
                "2026-01-02T03:05:00Z",
                "exit 7",
                61_234,
            ),
        ];
        insta::assert_snapshot!(script("net-a", &entries));
    }

    #[test]
    fn quoting_keeps_every_argument_one_word() {
        assert_eq!(quote("node1"), "node1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
