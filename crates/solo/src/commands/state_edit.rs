//! `solo state diff|apply|edit`: a whole state document, changed by hand. `diff` reads without
//! the lock; `apply` and `edit` read, validate and write under it (see `write.rs`).
//!
//! What solo owns in the document is not the user's to change: `metadata` (the last writer and
//! time are set on write, the name never changes) and `cli.history` (the history listing). The
//! diff leaves those out, so it shows the network only.

use super::session;
use super::write::{self, Change, Decision};
use crate::cli::{Global, StateEditArgs, StateFileArgs};
use crate::config;
use crate::render::{Failure, Out};
use solo_core::state::{self, MigrationStamp, StateDocument};
use std::io::Write;
use std::path::Path;

/// The file's document, as it would replace `current`: solo's own fields taken from `current`.
fn normalized(current: &StateDocument, mut next: StateDocument) -> StateDocument {
    let name = next.metadata.name.clone();
    next.metadata = current.metadata.clone();
    next.metadata.name = name;
    next.cli = current.cli.clone();
    next
}

fn yaml(doc: &StateDocument) -> Result<String, Failure> {
    state::to_canonical_yaml(doc).map_err(|e| Failure::state("the document", &e))
}

/// A unified diff of the canonical YAML, stored → new; empty when they are the same.
pub(crate) fn diff_text(
    name: &str,
    current: &StateDocument,
    next: &StateDocument,
) -> Result<String, Failure> {
    let (old, new) = (yaml(current)?, yaml(next)?);
    if old == new {
        return Ok(String::new());
    }
    Ok(similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{name} (stored)"), &format!("{name} (new)"))
        .to_string())
}

/// Reads, migrates and validates a state file, for `deployment`.
fn load_file(path: &Path, user: &str) -> Result<StateDocument, Failure> {
    let file = path.display().to_string();
    let bytes = super::state::read(path)?;
    let stamp = MigrationStamp {
        by: user.to_owned(),
        at: write::now(),
    };
    let loaded = state::load(&bytes, &stamp).map_err(|e| Failure::state(&file, &e))?;
    Ok(loaded.document().clone())
}

/// `solo state diff`
pub async fn diff(args: &StateFileArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let session::Opened {
        config: _,
        target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let next = load_file(&args.file, "solo")?;
    let current = session::read_state(&target, clusters).await?;
    let next = normalized(&current, next);
    // Checked as the last writer would write it: the diff reads, it does not write.
    write::finalize(
        &target.name,
        &current,
        next.clone(),
        &current.metadata.last_updated_by,
    )?;
    let text = diff_text(&target.name, &current, &next)?;
    if text.is_empty() {
        out.say(&format!(
            "no changes: {} holds what the stored state of {} holds",
            args.file.display(),
            target.name
        ));
    } else {
        out.result(&text);
    }
    Ok(())
}

/// `solo state apply`
pub fn apply(args: &StateFileArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    if !global.yes && !config::interactive() {
        return Err(Failure::new(
            format!(
                "applying {} to {} needs a confirmation; nothing was done",
                args.file.display(),
                args.deployment
            ),
            format!(
                "see the change with `solo state diff {} --file {}`, then pass --yes",
                args.deployment,
                args.file.display()
            ),
        ));
    }
    let at = Change {
        deployment: &args.deployment,
        state_namespace: args.state_namespace.as_deref(),
        wait: args.wait.as_deref(),
        on_changed: write::OnChanged::Refuse,
    };
    session::block_on(write::change_state(at, global, out, |current, user| {
        let next = normalized(current, load_file(&args.file, user)?);
        decide(current, next, user, global.yes, out)
    }))
}

/// Shows the diff and asks (unless `yes`); the change to make, if any.
fn decide(
    current: &StateDocument,
    next: StateDocument,
    user: &str,
    yes: bool,
    out: &Out,
) -> Result<Decision, Failure> {
    let name = current.metadata.name.clone();
    write::finalize(&name, current, next.clone(), user)?;
    let text = diff_text(&name, current, &next)?;
    if text.is_empty() {
        return Ok(None);
    }
    for line in text.lines() {
        out.say(line);
    }
    if !yes {
        let go = inquire::Confirm::new(&format!(
            "Write this into every copy of the state of {name}?"
        ))
        .with_default(false)
        .prompt()
        .map_err(|e| {
            config::prompt_failure(e, "solo state apply <deployment> --file <path> --yes")
        })?;
        if !go {
            return Err(Failure::bare(format!("nothing was written to {name}")));
        }
    }
    let changed = text
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .count();
    Ok(Some((
        next,
        format!("wrote the state of {name} ({changed} lines changed)"),
    )))
}

/// `solo state edit`
pub fn edit(args: &StateEditArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let at = Change {
        deployment: &args.deployment,
        state_namespace: args.state_namespace.as_deref(),
        wait: args.wait.as_deref(),
        on_changed: write::OnChanged::Refuse,
    };
    session::block_on(write::change_state(at, global, out, |current, user| {
        edit_locked(current, user, out)
    }))
}

fn edit_locked(current: &StateDocument, user: &str, out: &Out) -> Result<Decision, Failure> {
    let name = current.metadata.name.clone();
    let original = yaml(current)?;
    // A new file of our own with an unpredictable name, readable by us only (tempfile makes it
    // 0600), removed when it goes out of scope, whatever happens.
    let file = tempfile::Builder::new()
        .prefix(&format!("solo-edit-{name}-"))
        .suffix(".yaml")
        .tempfile()
        .and_then(|mut f| f.write_all(original.as_bytes()).map(|()| f));
    let file = file.map_err(|e| {
        Failure::new(
            format!("cannot write a temporary file for the edit: {e}"),
            "set TMPDIR to a directory you may write to",
        )
    })?;
    let path = file.path().to_owned();
    let result = loop {
        if let Err(e) = run_editor(&path) {
            break Err(e);
        }
        let edited = std::fs::read_to_string(&path).unwrap_or_default();
        if edited == original {
            break Ok(None);
        }
        let attempt = load_file(&path, user).and_then(|next| {
            let next = normalized(current, next);
            write::finalize(&name, current, next.clone(), user).map(|_| next)
        });
        match attempt {
            Ok(next) if next == *current => break Ok(None),
            Ok(next) => {
                let changed = diff_text(&name, current, &next)?
                    .lines()
                    .filter(|l| {
                        (l.starts_with('+') || l.starts_with('-'))
                            && !l.starts_with("+++")
                            && !l.starts_with("---")
                    })
                    .count();
                break Ok(Some((
                    next,
                    format!("wrote the state of {name} ({changed} lines changed)"),
                )));
            }
            Err(failure) if config::interactive() => {
                out.failure(&failure);
                let again = inquire::Confirm::new("Edit again? (no: leave the state as it was)")
                    .with_default(true)
                    .prompt()
                    .unwrap_or(false);
                if !again {
                    break Err(Failure::bare(format!("nothing was written to {name}")));
                }
            }
            Err(failure) => break Err(failure),
        }
    };
    drop(file);
    result
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi` on `path`, through the shell (an editor may carry
/// arguments, e.g. `code --wait`).
fn run_editor(path: &Path) -> Result<(), Failure> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("solo-editor")
        .arg(path)
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Failure::new(
            format!("the editor ({editor}) failed ({s}); nothing was written"),
            "check $EDITOR (or $VISUAL), e.g. EDITOR=nano",
        )),
        Err(e) => Err(Failure::new(
            format!("cannot run the editor ({editor}): {e}"),
            "set $EDITOR to an editor you have, e.g. EDITOR=nano",
        )),
    }
}
