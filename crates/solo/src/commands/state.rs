//! `solo state validate` and `solo state import-legacy`: offline, on files.

use crate::cli::{Global, ImportLegacyArgs, Output, StateCommand, ValidateArgs};
use crate::render::{Failure, Out};
use jiff::Timestamp;
use serde_json::json;
use solo_core::state::{self, MigrationStamp, StateDocument, StateError};
use std::path::Path;

/// Run a `solo state` command.
pub fn run(cmd: &StateCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        StateCommand::Validate(args) => validate(args, out),
        StateCommand::ImportLegacy(args) => import_legacy(args, global, out),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    // Refuse before reading what no state can be, so a wrong path to a huge file is cheap.
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
        && meta.len() > state::MAX_DOCUMENT_BYTES as u64
    {
        let e = StateError::TooLarge {
            size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            limit: state::MAX_DOCUMENT_BYTES,
        };
        return Err(Failure::state(&path.display().to_string(), &e));
    }
    std::fs::read(path).map_err(|e| {
        Failure::new(
            format!("cannot read {}: {e}", path.display()),
            "check the path and that you may read the file",
        )
    })
}

fn summary(doc: &StateDocument) -> String {
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    format!(
        "deployment {}, {}, {}",
        doc.metadata.name,
        n(doc.clusters.len(), "cluster", "clusters"),
        n(doc.components.len(), "component", "components")
    )
}

fn validate(args: &ValidateArgs, out: &Out) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    let bytes = read(&args.file)?;
    out.detail(&format!("read {file}: {} bytes", bytes.len()));
    let result = state::parse(&bytes).and_then(|parsed| {
        let from = parsed.document.version();
        // Migrating for a check writes nothing; who migrates is only needed in the record, so
        // it is the identity given, or else the document's last writer.
        let by = std::env::var("SOLO_USER_EMAIL")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| parsed.document.metadata().last_updated_by.clone());
        let stamp = MigrationStamp { by, at: now() };
        parsed.into_loaded(&stamp).map(|loaded| (from, loaded))
    });
    match result {
        Ok((from, loaded)) => {
            let doc = loaded.document();
            match out.format {
                Output::Table => {
                    out.say(&format!(
                        "ok: {file} is a valid solo state (schema {}): {}",
                        from,
                        summary(doc)
                    ));
                    if loaded.migrated().is_some() {
                        out.say(&format!(
                            "note: schema {from} is older than {}; it was checked as migrated, and nothing was written",
                            state::CURRENT
                        ));
                    }
                }
                Output::Yaml => out.result(&print_yaml(doc)?),
                Output::Json => out.result(&json_line(&json!({
                    "valid": true,
                    "file": file,
                    "version": from.to_string(),
                    "currentVersion": state::CURRENT.to_string(),
                    "deployment": doc.metadata.name,
                    "clusters": doc.clusters.len(),
                    "components": doc.components.len(),
                    "problems": [],
                }))),
            }
            Ok(())
        }
        Err(e) => {
            let mut failure = Failure::state(&file, &e);
            if out.format == Output::Json {
                out.result(&json_line(&json!({
                    "valid": false,
                    "file": file,
                    "error": e.to_string(),
                    "problems": e.problems(),
                    "help": e.hint(),
                })));
                failure.reported = true;
            }
            Err(failure)
        }
    }
}

fn import_legacy(args: &ImportLegacyArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    let Some(email) = args.email.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Err(Failure::new(
            "no user identity: the import records who made the state",
            "pass --email you@example.com, or set SOLO_USER_EMAIL",
        ));
    };
    let bytes = read(&args.file)?;
    let stamp = MigrationStamp {
        by: email.trim().to_string(),
        at: now(),
    };
    let import = state::import_legacy(&bytes, &stamp, args.name.as_deref())
        .map_err(|e| Failure::state(&file, &e))?;
    for w in &import.warnings {
        out.say(&format!("warning: {w}"));
    }
    let doc = &import.document;
    let text = match global.output {
        Output::Json => state::to_json(doc).map_err(|e| Failure::state(&file, &e))?,
        Output::Table | Output::Yaml => print_yaml(doc)?,
    };
    match &args.out {
        None => out.result(&text),
        Some(path) => {
            if path.exists() && !global.yes {
                return Err(Failure::new(
                    format!("{} exists; it was left as it was", path.display()),
                    "pass --yes to overwrite it, or choose another --out",
                ));
            }
            std::fs::write(path, &text).map_err(|e| {
                Failure::new(
                    format!("cannot write {}: {e}", path.display()),
                    "check the directory exists and that you may write there",
                )
            })?;
            out.say(&format!("ok: wrote {}: {}", path.display(), summary(doc)));
        }
    }
    for step in &import.next_steps {
        out.say(&format!("next: {step}"));
    }
    Ok(())
}

/// The current time to the second: finer digits would only add noise to the document.
fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

fn print_yaml(doc: &StateDocument) -> Result<String, Failure> {
    state::to_canonical_yaml(doc).map_err(|e| Failure::state("the document", &e))
}

fn json_line(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    s.push('\n');
    s
}
