//! The rules of a valid state document, checked all at once.
//!
//! Validation never stops at the first problem: it returns every problem with the path of the
//! field at fault (`components.haproxy[1].consensusNode`), so one run tells the user all there is
//! to fix. The rules:
//! - `version` is the current schema version (documents are migrated before they are checked);
//! - every name is a DNS-1123 label, history archive names are object names (DNS-1123
//!   subdomains), and users are email addresses;
//! - `clusters` is not empty and lists each (name, namespace) once; a cluster may appear with
//!   several namespaces, which keeps the model open to R8;
//! - each component's `cluster` is one of `clusters`, and its (cluster, namespace) is listed in
//!   `clusters`, because the lock covers exactly those and nothing else;
//! - names are unique per kind;
//! - a proxy's `consensusNode` and every entry of a relay's `consensusNodes` name a consensus node
//!   of this deployment; a relay serves at least one node, each listed once;
//! - `cli.history` names are unique;
//! - the network rules of [`network`]: DNS facts, node ids, accounts, ports, endpoints.
//!
//! Unknown fields and wrong types are refused earlier, when the YAML is read.

mod network;

use super::model::{ComponentKind, StateDocument};
use super::names::{identity_problem, label_problem, show, subdomain_problem};
use super::version::CURRENT;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// One thing wrong with a document, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Problem {
    /// Where: `components.haproxy[1].consensusNode`.
    pub path: String,
    /// What is wrong, and when it helps, what to do.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Check every rule of the module doc; `Err` holds every problem found, in document order.
pub fn validate(doc: &StateDocument) -> Result<(), Vec<Problem>> {
    let mut v = Validator::default();
    v.version(doc);
    v.metadata(doc);
    v.clusters(doc);
    v.components(doc);
    v.network(doc);
    v.cli(doc);
    if v.problems.is_empty() {
        Ok(())
    } else {
        Err(v.problems)
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn label(&mut self, path: impl FnOnce() -> String, name: &str) -> bool {
        match label_problem(name) {
            Some(message) => {
                self.push(path(), message);
                false
            }
            None => true,
        }
    }

    fn identity(&mut self, path: &str, who: &str) {
        if let Some(message) = identity_problem(who) {
            self.push(path, message);
        }
    }

    fn version(&mut self, doc: &StateDocument) {
        if doc.version != CURRENT {
            self.push(
                "version",
                format!(
                    "{} is not the current schema version {CURRENT}; migrate the document first",
                    doc.version
                ),
            );
        }
    }

    fn metadata(&mut self, doc: &StateDocument) {
        let m = &doc.metadata;
        self.label(|| "metadata.name".to_string(), &m.name);
        self.identity("metadata.lastUpdatedBy", &m.last_updated_by);
        if let Some(mig) = &m.migration {
            self.identity("metadata.migration.migratedBy", &mig.migrated_by);
            if mig.from_version.trim().is_empty() {
                self.push(
                    "metadata.migration.fromVersion",
                    "is empty; it names the version the document was migrated from",
                );
            } else if mig.from_version.chars().any(char::is_control) {
                self.push(
                    "metadata.migration.fromVersion",
                    format!("{} has control characters", show(&mig.from_version)),
                );
            }
        }
    }

    fn clusters(&mut self, doc: &StateDocument) {
        if doc.clusters.is_empty() {
            self.push(
                "clusters",
                "is empty; a deployment needs at least one cluster and namespace, \
                 since the lock is one lease in each of them",
            );
        }
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, c) in doc.clusters.iter().enumerate() {
            let name_ok = self.label(|| format!("clusters[{i}].name"), &c.name);
            let ns_ok = self.label(|| format!("clusters[{i}].namespace"), &c.namespace);
            if name_ok && ns_ok {
                if let Some(first) = seen.get(&(c.name.as_str(), c.namespace.as_str())) {
                    self.push(
                        format!("clusters[{i}]"),
                        format!(
                            "cluster {} with namespace {} is listed twice (first at clusters[{first}]); list it once",
                            c.name, c.namespace
                        ),
                    );
                } else {
                    seen.insert((&c.name, &c.namespace), i);
                }
            }
        }
    }

    fn components(&mut self, doc: &StateDocument) {
        let cluster_names: HashSet<&str> = doc.clusters.iter().map(|c| c.name.as_str()).collect();
        let mut ordered_clusters: Vec<&str> = Vec::new();
        for c in &doc.clusters {
            if !ordered_clusters.contains(&c.name.as_str()) {
                ordered_clusters.push(&c.name);
            }
        }
        let pairs: HashSet<(&str, &str)> = doc
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.namespace.as_str()))
            .collect();

        let mut names: HashMap<(ComponentKind, &str), usize> = HashMap::new();
        for p in doc.components.placements() {
            let at = format!("components.{}[{}]", p.kind.key(), p.index);
            if self.label(|| format!("{at}.name"), p.name) {
                match names.get(&(p.kind, p.name)) {
                    Some(first) => self.push(
                        format!("{at}.name"),
                        format!(
                            "{} is already the name of components.{}[{first}]; names are unique per kind",
                            p.name,
                            p.kind.key()
                        ),
                    ),
                    None => {
                        names.insert((p.kind, p.name), p.index);
                    }
                }
            }
            let cluster_ok = self.label(|| format!("{at}.cluster"), p.cluster);
            if cluster_ok && !cluster_names.contains(p.cluster) {
                self.push(
                    format!("{at}.cluster"),
                    format!(
                        "{} is not one of the clusters of this deployment ({}); add it to clusters or use one of those",
                        p.cluster,
                        if ordered_clusters.is_empty() {
                            "there are none".to_string()
                        } else {
                            ordered_clusters.join(", ")
                        }
                    ),
                );
            }
            let ns_ok = self.label(|| format!("{at}.namespace"), p.namespace);
            if cluster_ok
                && ns_ok
                && cluster_names.contains(p.cluster)
                && !pairs.contains(&(p.cluster, p.namespace))
            {
                let listed: Vec<&str> = doc
                    .clusters
                    .iter()
                    .filter(|c| c.name == p.cluster)
                    .map(|c| c.namespace.as_str())
                    .collect();
                self.push(
                    format!("{at}.namespace"),
                    format!(
                        "{} is not listed for cluster {} in clusters (it has {}), so the lock would not cover it; \
                         add it to clusters or use a listed namespace",
                        p.namespace,
                        p.cluster,
                        listed.join(", ")
                    ),
                );
            }
        }

        let consensus: HashSet<&str> = doc
            .components
            .consensus
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let not_a_node =
            |node: &str| format!("{} is not a consensus node of this deployment", show(node));
        for (kind, list) in [
            (ComponentKind::Haproxy, &doc.components.haproxy),
            (ComponentKind::EnvoyProxy, &doc.components.envoy_proxy),
        ] {
            for (i, proxy) in list.iter().enumerate() {
                if !consensus.contains(proxy.consensus_node.as_str()) {
                    self.push(
                        format!("components.{}[{i}].consensusNode", kind.key()),
                        not_a_node(&proxy.consensus_node),
                    );
                }
            }
        }
        for (i, relay) in doc.components.relay.iter().enumerate() {
            let at = format!("components.relay[{i}].consensusNodes");
            if relay.consensus_nodes.is_empty() {
                self.push(
                    at.clone(),
                    "is empty; a relay serves at least one consensus node, list it here",
                );
            }
            let mut listed: HashSet<&str> = HashSet::new();
            for (j, node) in relay.consensus_nodes.iter().enumerate() {
                if !consensus.contains(node.as_str()) {
                    self.push(format!("{at}[{j}]"), not_a_node(node));
                } else if !listed.insert(node) {
                    self.push(
                        format!("{at}[{j}]"),
                        format!("{node} is listed twice; list it once"),
                    );
                }
            }
        }
    }

    fn cli(&mut self, doc: &StateDocument) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in doc.cli.history.iter().enumerate() {
            if let Some(message) = subdomain_problem(name) {
                self.push(format!("cli.history[{i}]"), message);
            } else if let Some(first) = seen.get(name.as_str()) {
                self.push(
                    format!("cli.history[{i}]"),
                    format!("{name} is listed twice (first at cli.history[{first}]); list it once"),
                );
            } else {
                seen.insert(name, i);
            }
        }
    }
}
