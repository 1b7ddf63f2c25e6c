//! The Solo tool's own `local-config.yaml` (`@hiero-ledger/solo`), read only: its cluster refs
//! are the user's answers to R11, and its deployments say which namespace each network uses.
//!
//! Solo's schema versions, as its `LocalConfigSchema` and migrations write them:
//! - 0: `userEmailAddress`, `soloVersion`, `deployments: {<name>: {clusters, namespace}}`,
//!   `clusterRefs: {<ref>: <context>}`;
//! - 1: `schemaVersion: 1`, `versions {cli, chart, ...}`, `userIdentity {name, hostname}`,
//!   `deployments: [{name, namespace, clusters}]`, `clusterRefs`;
//! - 2: as 1, each deployment with `realm` and `shard`.
//!
//! A `local-config.yaml` that has `version:` and no `schemaVersion:` was written by an older
//! version of this tool, and is ours to move (see [`crate::config`]).

use crate::render::Failure;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Solo's file name inside `$SOLO_HOME`.
pub const SOLO_CONFIG_FILE: &str = "local-config.yaml";

/// What Solo's local config says that this tool uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoloLocalConfig {
    /// Its `schemaVersion` (0 when absent, as Solo reads it).
    pub schema_version: u64,
    /// `userIdentity.name`: the OS user Solo writes in its Leases.
    pub user_name: Option<String>,
    /// `userIdentity.hostname`.
    pub hostname: Option<String>,
    /// `userEmailAddress` (schema 0 only).
    pub email_address: Option<String>,
    /// Cluster ref → kube context.
    pub cluster_refs: BTreeMap<String, String>,
    /// Its deployments.
    pub deployments: Vec<SoloLocalDeployment>,
}

/// One deployment of Solo's local config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloLocalDeployment {
    /// Its name.
    pub name: String,
    /// The network's namespace (one for every cluster, in Solo).
    pub namespace: String,
    /// Its cluster refs.
    pub clusters: Vec<String>,
    /// Its realm (schema 2; 0 before).
    pub realm: u64,
    /// Its shard (schema 2; 0 before).
    pub shard: u64,
}

impl SoloLocalConfig {
    /// The user's email, when Solo's file holds one (schema 0, or a `userIdentity.name` that is
    /// an email address).
    pub fn email(&self) -> Option<String> {
        self.email_address
            .clone()
            .or_else(|| self.user_name.clone())
            .filter(|e| crate::config::email_problem(e).is_none())
    }

    /// Solo's deployment of that name.
    pub fn deployment(&self, name: &str) -> Option<&SoloLocalDeployment> {
        self.deployments.iter().find(|d| d.name == name)
    }
}

/// What `local-config.yaml` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No such file (or an empty one).
    Nothing,
    /// A config of this tool's own schema, written there by an older version of this tool.
    Ours(u64),
    /// The Solo tool's.
    Solo(SoloLocalConfig),
}

/// Reads `local-config.yaml` at `path`; never writes it. A file that cannot be parsed is one
/// sentence with its line and column.
pub fn read(path: &Path) -> Result<Found, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => {
            return Err(Failure::new(
                format!("cannot read {}: {e}", path.display()),
                "check that you may read the file, or set SOLO_HOME to another directory",
            ));
        }
    };
    parse(&text).map_err(|why| {
        Failure::new(
            format!("the Solo tool's local config {} cannot be read: {why}", path.display()),
            "solo only reads that file and never changes it; fix it with the Solo tool (`solo init` of @hiero-ledger/solo), or set SOLO_HOME to another directory",
        )
    })
}

/// Parses the text of a `local-config.yaml`; `Err` is one sentence.
pub fn parse(text: &str) -> Result<Found, String> {
    if text.trim().is_empty() {
        return Ok(Found::Nothing);
    }
    let root: Value = solo_core::state::read_yaml(text).map_err(|e| e.to_string())?;
    let Value::Object(root) = root else {
        return Err("the top level is not a mapping of keys".to_owned());
    };
    if root.get("schemaVersion").is_none()
        && let Some(version) = root.get("version")
    {
        return Ok(Found::Ours(version.as_u64().unwrap_or(0)));
    }
    let text_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let schema_version = match root.get("schemaVersion") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("`schemaVersion: {v}` is not a whole number"))?,
    };
    let identity = root.get("userIdentity");
    let mut config = SoloLocalConfig {
        schema_version,
        user_name: text_of(identity.and_then(|i| i.get("name"))),
        hostname: text_of(identity.and_then(|i| i.get("hostname"))),
        email_address: text_of(root.get("userEmailAddress")),
        ..SoloLocalConfig::default()
    };
    match root.get("clusterRefs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(refs)) => {
            for (r, context) in refs {
                let context = context
                    .as_str()
                    .ok_or_else(|| format!("clusterRefs.{r} is not a kube context name"))?;
                config.cluster_refs.insert(r.clone(), context.to_owned());
            }
        }
        Some(_) => return Err("`clusterRefs` is not a mapping of ref to context".to_owned()),
    }
    let deployment = |name: &str, d: &Value| -> Result<SoloLocalDeployment, String> {
        let clusters = match d.get("clusters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|c| c.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("deployment {name}: `clusters` is not a list of names"))?,
            Some(_) => return Err(format!("deployment {name}: `clusters` is not a list")),
        };
        Ok(SoloLocalDeployment {
            name: name.to_owned(),
            namespace: text_of(d.get("namespace")).unwrap_or_default(),
            clusters,
            realm: d.get("realm").and_then(Value::as_u64).unwrap_or(0),
            shard: d.get("shard").and_then(Value::as_u64).unwrap_or(0),
        })
    };
    match root.get("deployments") {
        None | Some(Value::Null) => {}
        // Schema 1 and later: a list of deployments, each with its name.
        Some(Value::Array(list)) => {
            for d in list {
                let name = text_of(d.get("name")).unwrap_or_default();
                config.deployments.push(deployment(&name, d)?);
            }
        }
        // Schema 0: a mapping of name to deployment.
        Some(Value::Object(map)) => {
            for (name, d) in map {
                config.deployments.push(deployment(name, d)?);
            }
        }
        Some(_) => return Err("`deployments` is neither a list nor a mapping".to_owned()),
    }
    Ok(Found::Solo(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = include_str!("../tests/fixtures/solo/local-config-v2.yaml");
    const V0: &str = include_str!("../tests/fixtures/solo/local-config-v0.yaml");

    #[test]
    fn solo_schema_2_gives_its_cluster_refs_and_deployments() {
        let Found::Solo(c) = parse(V2).expect("parses") else {
            panic!("not Solo's")
        };
        assert_eq!(c.schema_version, 2);
        assert_eq!(c.user_name.as_deref(), Some("jdoe"));
        assert_eq!(c.cluster_refs["cluster-a"], "kind-solo-a");
        let d = c.deployment("solo-deployment").expect("deployment");
        assert_eq!(d.namespace, "solo");
        assert_eq!(d.clusters, ["cluster-a", "cluster-b"]);
        assert_eq!(c.email(), None, "an OS user name is no email");
    }

    #[test]
    fn solo_schema_0_keeps_deployments_in_a_mapping_and_an_email() {
        let Found::Solo(c) = parse(V0).expect("parses") else {
            panic!("not Solo's")
        };
        assert_eq!(c.schema_version, 0);
        assert_eq!(c.email().as_deref(), Some("jdoe@example.com"));
        assert_eq!(c.deployment("legacy-net").expect("d").namespace, "legacy");
        assert_eq!(c.cluster_refs["cluster-a"], "kind-solo-a");
    }

    #[test]
    fn our_own_old_file_is_recognised() {
        assert_eq!(
            parse("version: 1\nclusterRefs:\n  cluster-1: kind-a\n").expect("parses"),
            Found::Ours(1)
        );
    }

    #[test]
    fn a_damaged_file_is_one_sentence_with_line_and_column() {
        let e = parse("schemaVersion: 2\nclusterRefs: [oops\n").expect_err("damaged");
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("line 2") || e.contains("line 3"), "{e}");
        assert!(e.contains("column"), "{e}");
    }
}
