//! Import of the legacy single-user `~/.solo/solo.config` (JSON; section 3 of the reference
//! design) into a state document.
//!
//! The legacy file cached command-line flags; the state records where components run. The rules:
//! - the deployment is named after `flags.deployment` when present, else `flags.namespace`
//!   (legacy solo deployed one network per namespace), unless the caller names it;
//! - `flags.namespace` is the namespace of the network in its one cluster;
//! - `flags.cluster-name` was a kube context name; the cluster ref is made from it by
//!   [`to_label`] (`kind-solo-e2e` stays `kind-solo-e2e`, `gke_p_z_c` becomes `gke-p-z-c`), and
//!   `cluster-1` is used when it is absent. The state never holds the context name itself: the
//!   result says which `solo cluster-ref connect` maps the ref back to it;
//! - `flags.node-ids` (comma-separated) become the consensus nodes, all in that cluster and
//!   namespace. Nothing else is invented: proxies, mirror nodes and relays are not in the file;
//! - `metadata.migration.fromVersion` is `legacy-solo.config/<version>` of the file;
//! - every other flag and key (`dev`, `release-tag`, `lastCommand`, ...) is kept nowhere, and
//!   listed in [`LegacyImport::warnings`]; they are not errors, since the file held many flags.

use super::consensus::ConsensusNode;
use super::error::StateError;
use super::migrate::MigrationStamp;
use super::model::{ClusterRef, Migration, StateDocument};
use super::names::{label_problem, to_label};
use super::parse::decode;
use super::validate::{Problem, validate};
use serde_json::{Map, Value};

/// Prefix of `metadata.migration.fromVersion` for imported documents.
pub const LEGACY_FROM_PREFIX: &str = "legacy-solo.config/";

/// The cluster ref used when the legacy file names no cluster.
pub const DEFAULT_CLUSTER_REF: &str = "cluster-1";

/// A state made from a legacy file, with what was left out and what the user should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyImport {
    /// The new state, valid, in the current schema.
    pub document: StateDocument,
    /// What the legacy file held that the state does not keep.
    pub warnings: Vec<String>,
    /// Commands or steps the user still needs, such as mapping the cluster ref to a context.
    pub next_steps: Vec<String>,
}

/// Import a legacy `solo.config`; `deployment` overrides the name taken from its flags.
pub fn import_legacy(
    json: &[u8],
    stamp: &MigrationStamp,
    deployment: Option<&str>,
) -> Result<LegacyImport, StateError> {
    let text = decode(json)?;
    let root: Value = serde_json::from_str(text).map_err(|e| StateError::LegacyJson {
        line: (e.line() > 0).then_some(e.line() as u64),
        column: (e.line() > 0).then_some(e.column() as u64),
        message: strip_position(&e.to_string()),
    })?;
    let Value::Object(root) = root else {
        return Err(StateError::LegacyJson {
            line: None,
            column: None,
            message: format!(
                "the top level is {}, not an object with `flags`",
                kind(&root)
            ),
        });
    };
    let empty = Map::new();
    let flags = match root.get("flags") {
        Some(Value::Object(f)) => f,
        Some(other) => {
            return Err(StateError::LegacyJson {
                line: None,
                column: None,
                message: format!("`flags` is {}, not an object", kind(other)),
            });
        }
        None => &empty,
    };

    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut next_steps = Vec::new();
    let flag_str = |key: &str, problems: &mut Vec<Problem>| -> Option<String> {
        match flags.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                problems.push(Problem::new(
                    format!("flags.{key}"),
                    format!("is {}, not a string", kind(other)),
                ));
                None
            }
        }
    };

    let namespace = flag_str("namespace", &mut problems);
    let deployment_flag = flag_str("deployment", &mut problems);
    let cluster_name = flag_str("cluster-name", &mut problems);
    let node_ids = flag_str("node-ids", &mut problems);

    let namespace = match namespace {
        Some(ns) => {
            if let Some(p) = label_problem(&ns) {
                problems.push(Problem::new("flags.namespace", p));
            }
            ns
        }
        None => {
            problems.push(Problem::new(
                "flags.namespace",
                "is missing; the network's namespace is needed to place its components",
            ));
            String::new()
        }
    };

    let name = match (deployment, deployment_flag) {
        (Some(given), _) => {
            if let Some(p) = label_problem(given) {
                problems.push(Problem::new("deployment name", p));
            }
            given.to_string()
        }
        (None, Some(d)) => {
            if let Some(p) = label_problem(&d) {
                problems.push(Problem::new("flags.deployment", p));
            }
            d
        }
        (None, None) => namespace.clone(),
    };

    let cluster = match cluster_name {
        Some(context) => match to_label(&context) {
            Some(r) => {
                next_steps.push(format!(
                    "map the cluster ref to your kube context: solo cluster-ref connect {r} --context {}",
                    shell_word(&context)
                ));
                r
            }
            None => {
                problems.push(Problem::new(
                    "flags.cluster-name",
                    format!("{context:?} has no letter or digit to make a cluster ref from"),
                ));
                String::new()
            }
        },
        None => {
            warnings.push(format!(
                "flags.cluster-name is missing; the cluster is named {DEFAULT_CLUSTER_REF}"
            ));
            next_steps.push(format!(
                "map the cluster ref to your kube context: solo cluster-ref connect {DEFAULT_CLUSTER_REF} --context <kube-context>"
            ));
            DEFAULT_CLUSTER_REF.to_string()
        }
    };

    let mut consensus: Vec<ConsensusNode> = Vec::new();
    match node_ids {
        Some(ids) => {
            for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Some(p) = label_problem(id) {
                    problems.push(Problem::new("flags.node-ids", p));
                } else if consensus.iter().any(|c| c.name == id) {
                    problems.push(Problem::new(
                        "flags.node-ids",
                        format!("{id} is listed twice"),
                    ));
                } else {
                    let node = ConsensusNode::next_after(&consensus, id, &cluster, &namespace);
                    consensus.push(node);
                }
            }
        }
        None => {
            warnings.push("flags.node-ids is missing; no consensus node was imported".to_string())
        }
    }
    next_steps.push(
        "only consensus nodes were imported; add the proxies, mirror node, explorer and relays you deployed with `solo component add`"
            .to_string(),
    );

    let legacy_version = match root.get("version") {
        Some(Value::String(v)) if !v.trim().is_empty() => v.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "unknown".to_string(),
    };

    for (key, value) in flags {
        if !matches!(
            key.as_str(),
            "namespace" | "deployment" | "cluster-name" | "node-ids"
        ) {
            warnings.push(format!(
                "flags.{} ({}) is not imported: the state records where components run, not flags",
                clean(key),
                preview(value)
            ));
        }
    }
    for (key, value) in &root {
        if !matches!(key.as_str(), "flags" | "version") {
            warnings.push(format!(
                "{} ({}) is not imported{}",
                clean(key),
                preview(value),
                if key == "lastCommand" {
                    "; the command history starts empty"
                } else {
                    ""
                }
            ));
        }
    }

    if !problems.is_empty() {
        return Err(StateError::LegacyInvalid { problems });
    }

    let mut document = StateDocument::new(name, stamp.by.clone(), stamp.at);
    document.metadata.migration = Some(Migration {
        migrated_at: stamp.at,
        migrated_by: stamp.by.clone(),
        from_version: format!("{LEGACY_FROM_PREFIX}{}", clean(&legacy_version)),
    });
    document.clusters.push(ClusterRef::new(cluster, namespace));
    document.components.consensus = consensus;
    validate(&document).map_err(|problems| StateError::Invalid { problems })?;
    Ok(LegacyImport {
        document,
        warnings,
        next_steps,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A short, single-line, control-free rendering of a value for a warning.
fn preview(v: &Value) -> String {
    const MAX: usize = 60;
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    let text = clean(&text);
    if text.chars().count() > MAX {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    } else {
        text
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:/".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", clean(s).replace('\'', r"'\''"))
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
