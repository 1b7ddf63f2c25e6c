//! Team access control with Kubernetes RBAC: the objects an admin applies so that a team's
//! states and leases are readable and writable only by the team's group, while every
//! authenticated user can still see which deployments exist and which team owns each.
//!
//! The layout (docs/teams.md):
//! - each team keeps its states in a **state namespace of its own** ([`team_state_namespace`],
//!   `solo-<team>`): Role [`STATE_ROLE`] (Secrets and ConfigMaps, read and write) bound to the
//!   team's group, and Role [`INDEX_ROLE`] (ConfigMaps, read only) bound to
//!   `system:authenticated`: states and history archives are Secrets, so only the team reads
//!   them; index entries are ConfigMaps, so everyone reads them ([`crate::index`]);
//! - each **network namespace** of the team's deployments: Role `solo-leases-<team>` (Leases, and
//!   Events for the audited `lease break`) bound to the team's group;
//! - the **team directory** (ConfigMap `solo-teams` in `solo-system`): one key per team, readable
//!   by every authenticated user through Role [`DIRECTORY_ROLE`] (`get` on that one object), so a
//!   user finds every team's state namespace and the group to ask for.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use solo_core::state::names;

use crate::index::{DIRECTORY_NAME, DIRECTORY_NAMESPACE, TeamInfo};
use crate::lease_store::MANAGED_BY_LABEL;
use crate::state_store::TEAM_LABEL;

/// The Role (and RoleBinding) giving a team's group its state namespace.
pub const STATE_ROLE: &str = "solo-team-state";
/// The Role (and RoleBinding) letting every authenticated user read the index entries.
pub const INDEX_ROLE: &str = "solo-deployment-index";
/// The Role (and RoleBinding) letting every authenticated user read the team directory.
pub const DIRECTORY_ROLE: &str = "solo-team-directory";
/// The group of every authenticated user.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The field manager of server-side apply (one per team, so teams' directory keys merge).
pub const FIELD_MANAGER: &str = "solo-team-setup";

/// The state namespace of a team when the admin does not choose one.
pub fn team_state_namespace(team: &str) -> String {
    format!("solo-{team}")
}

/// The Role (and RoleBinding) of a team in a network namespace.
pub fn lease_role(team: &str) -> String {
    format!("solo-leases-{team}")
}

/// What `solo team setup` sets up for one team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSetup {
    /// The team (the label on its deployments' states).
    pub team: String,
    /// The Kubernetes group of its members.
    pub group: String,
    /// Where its states are kept.
    pub state_namespace: String,
    /// The network namespaces of its deployments (their leases).
    pub network_namespaces: Vec<String>,
}

/// A bad team setup: one sentence.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// The objects of a team setup, in the order they are applied.
#[derive(Debug, Clone, Default)]
pub struct TeamObjects {
    /// The state namespace and the directory's namespace (created when missing).
    pub namespaces: Vec<Namespace>,
    /// Roles.
    pub roles: Vec<Role>,
    /// RoleBindings.
    pub bindings: Vec<RoleBinding>,
    /// The team's key of the directory.
    pub directory: ConfigMap,
}

fn meta(name: &str, namespace: Option<&str>, team: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([
            (MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned()),
            (TEAM_LABEL.to_owned(), team.to_owned()),
        ])),
        ..Default::default()
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        resource_names: (!names.is_empty())
            .then(|| names.iter().map(|n| (*n).to_owned()).collect()),
        ..Default::default()
    }
}

const READ_WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const READ: &[&str] = &["get", "list", "watch"];

fn role(name: &str, namespace: &str, team: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: meta(name, Some(namespace), team),
        rules: Some(rules),
    }
}

fn binding(name: &str, namespace: &str, team: &str, group: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, Some(namespace), team),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: name.to_owned(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Group".to_owned(),
            name: group.to_owned(),
            namespace: None,
        }]),
    }
}

impl TeamSetup {
    /// Checks the names: DNS-1123 labels, a group that is not empty.
    pub fn check(&self) -> Result<(), SetupError> {
        let label = |what: &str, value: &str| match names::label_problem(value) {
            None => Ok(()),
            Some(problem) => Err(SetupError(format!("{what} {problem}"))),
        };
        label("team", &self.team)?;
        label("state namespace", &self.state_namespace)?;
        for ns in &self.network_namespaces {
            label("namespace", ns)?;
        }
        if self.group.trim().is_empty() {
            return Err(SetupError(
                "the group is empty: name the Kubernetes group of the team's members".to_owned(),
            ));
        }
        Ok(())
    }

    /// Every object of this team's setup.
    pub fn objects(&self) -> TeamObjects {
        let (team, group, state_ns) = (&self.team, &self.group, &self.state_namespace);
        let state_namespace = Namespace {
            metadata: meta(state_ns, None, team),
            ..Default::default()
        };
        let directory_namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(DIRECTORY_NAMESPACE.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut roles = vec![
            role(
                STATE_ROLE,
                state_ns,
                team,
                vec![rule("", &["secrets", "configmaps"], READ_WRITE, &[])],
            ),
            role(
                INDEX_ROLE,
                state_ns,
                team,
                vec![rule("", &["configmaps"], READ, &[])],
            ),
            role(
                DIRECTORY_ROLE,
                DIRECTORY_NAMESPACE,
                team,
                vec![rule("", &["configmaps"], &["get"], &[DIRECTORY_NAME])],
            ),
        ];
        let mut bindings = vec![
            binding(STATE_ROLE, state_ns, team, group),
            binding(INDEX_ROLE, state_ns, team, AUTHENTICATED),
            binding(DIRECTORY_ROLE, DIRECTORY_NAMESPACE, team, AUTHENTICATED),
        ];
        for ns in &self.network_namespaces {
            let name = lease_role(team);
            roles.push(role(
                &name,
                ns,
                team,
                vec![
                    rule("coordination.k8s.io", &["leases"], READ_WRITE, &[]),
                    rule("", &["events"], &["create"], &[]),
                ],
            ));
            bindings.push(binding(&name, ns, team, group));
        }
        let info = TeamInfo {
            group: group.clone(),
            state_namespace: state_ns.clone(),
        };
        let directory = ConfigMap {
            metadata: ObjectMeta {
                name: Some(DIRECTORY_NAME.to_owned()),
                namespace: Some(DIRECTORY_NAMESPACE.to_owned()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY_LABEL.0.to_owned(),
                    MANAGED_BY_LABEL.1.to_owned(),
                )])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                team.clone(),
                serde_json::to_string(&info).unwrap_or_default(),
            )])),
            ..Default::default()
        };
        TeamObjects {
            namespaces: vec![state_namespace, directory_namespace],
            roles,
            bindings,
            directory,
        }
    }
}

impl TeamObjects {
    /// Every object as JSON (with apiVersion and kind), in the order they are applied.
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        let mut values = Vec::new();
        let mut push = |v: Result<serde_json::Value, serde_json::Error>| {
            if let Ok(v) = v {
                values.push(v);
            }
        };
        for n in &self.namespaces {
            push(serde_json::to_value(n));
        }
        for r in &self.roles {
            push(serde_json::to_value(r));
        }
        for b in &self.bindings {
            push(serde_json::to_value(b));
        }
        push(serde_json::to_value(&self.directory));
        values
    }

    /// Applies every object to one cluster (server-side apply, owned by this team's field
    /// manager so that several teams' directory keys merge). Returns `kind namespace/name` of
    /// each object applied.
    pub async fn apply(&self, client: &Client, team: &str) -> Result<Vec<String>, kube::Error> {
        let manager = format!("{FIELD_MANAGER}-{team}");
        let mut done = Vec::new();
        for n in &self.namespaces {
            // A namespace is created when missing, never changed (another team's labels stay).
            let api: Api<Namespace> = Api::all(client.clone());
            let name = n.metadata.name.clone().unwrap_or_default();
            if api.get_opt(&name).await?.is_none() {
                apply_one(&api, n, &manager).await?;
            }
            done.push(format!("Namespace {name}"));
        }
        for r in &self.roles {
            let api = Api::namespaced(
                client.clone(),
                r.metadata.namespace.as_deref().unwrap_or(""),
            );
            done.push(apply_one(&api, r, &manager).await?);
        }
        for b in &self.bindings {
            let api = Api::namespaced(
                client.clone(),
                b.metadata.namespace.as_deref().unwrap_or(""),
            );
            done.push(apply_one(&api, b, &manager).await?);
        }
        let api = Api::namespaced(client.clone(), DIRECTORY_NAMESPACE);
        done.push(apply_one(&api, &self.directory, &manager).await?);
        Ok(done)
    }
}

async fn apply_one<K>(api: &Api<K>, object: &K, manager: &str) -> Result<String, kube::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(manager).force();
    api.patch(&name, &params, &Patch::Apply(object)).await?;
    let ns = object
        .meta()
        .namespace
        .as_deref()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    Ok(format!("{} {ns}{name}", K::kind(&())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> TeamSetup {
        TeamSetup {
            team: "team-a".into(),
            group: "team-a".into(),
            state_namespace: team_state_namespace("team-a"),
            network_namespaces: vec!["net-a".into()],
        }
    }

    #[test]
    fn the_team_group_gets_secrets_and_leases_everyone_else_only_configmaps() {
        let objects = setup().objects();
        let bound = |group: &str| -> Vec<(String, String)> {
            objects
                .bindings
                .iter()
                .filter(|b| {
                    b.subjects
                        .as_ref()
                        .is_some_and(|s| s.iter().any(|s| s.name == group))
                })
                .map(|b| {
                    (
                        b.metadata.namespace.clone().unwrap_or_default(),
                        b.role_ref.name.clone(),
                    )
                })
                .collect()
        };
        let resources = |ns: &str, name: &str| -> Vec<String> {
            objects
                .roles
                .iter()
                .filter(|r| {
                    r.metadata.namespace.as_deref() == Some(ns)
                        && r.metadata.name.as_deref() == Some(name)
                })
                .flat_map(|r| r.rules.clone().unwrap_or_default())
                .flat_map(|r| r.resources.unwrap_or_default())
                .collect()
        };
        let team: Vec<String> = bound("team-a")
            .iter()
            .flat_map(|(ns, role)| resources(ns, role))
            .collect();
        assert!(team.contains(&"secrets".to_owned()) && team.contains(&"leases".to_owned()));
        let everyone: Vec<String> = bound(AUTHENTICATED)
            .iter()
            .flat_map(|(ns, role)| resources(ns, role))
            .collect();
        assert!(!everyone.is_empty());
        assert!(everyone.iter().all(|r| r == "configmaps"), "{everyone:?}");
        let values = objects.to_values();
        assert!(values.iter().any(|v| v["kind"] == "RoleBinding"));
        assert_eq!(values.len(), 2 + 4 + 4 + 1);
    }

    #[test]
    fn bad_names_are_refused_in_one_sentence() {
        let mut bad = setup();
        bad.team = "Team A".into();
        assert!(bad.check().expect_err("refused").0.starts_with("team "));
        let mut empty = setup();
        empty.group = " ".into();
        assert!(empty.check().is_err());
        assert!(setup().check().is_ok());
    }
}
