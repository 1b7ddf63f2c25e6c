//! The local config of this tool, `$SOLO_HOME/solo-state-config.yaml` (default `~/.solo`): who
//! the user is, which kube context each cluster ref maps to (R11), and the deployments this user
//! knows. It is schema-versioned (`version: 1`) and written atomically (a new temporary file of
//! mode 0600, synced, then renamed over the old one), so a crash never leaves half a file behind.
//!
//! The Solo tool (`@hiero-ledger/solo`) keeps its own `local-config.yaml` in the same directory.
//! This tool reads it (its cluster refs are the user's own answers to R11) and never writes it:
//! see [`crate::solo_local`]. A `local-config.yaml` written by an older version of this tool (our
//! schema, `version:` and no `schemaVersion:`) is moved to our own file name on first load.

use crate::render::Failure;
use crate::solo_local::{self, SoloLocalConfig};
use serde::{Deserialize, Serialize};
use solo_core::lock::{Epoch, Holder, KeptLock, Phase};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The schema version this solo reads and writes.
pub const CONFIG_VERSION: u32 = 1;
/// The file name of this tool's own config inside `$SOLO_HOME`.
pub const CONFIG_FILE: &str = "solo-state-config.yaml";
/// The file name older versions of this tool used, now the Solo tool's own.
pub const OLD_CONFIG_FILE: &str = solo_local::SOLO_CONFIG_FILE;

/// The whole local config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalConfig {
    /// Schema version of this file.
    pub version: u32,
    /// The user's email, when set once here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Cluster ref → kube context.
    #[serde(default)]
    pub cluster_refs: BTreeMap<String, String>,
    /// Deployments this user created or used, by name.
    #[serde(default)]
    pub deployments: BTreeMap<String, KnownDeployment>,
    /// Locks this user holds beyond one command (`solo lease acquire`), by deployment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub leases: BTreeMap<String, KeptLease>,
    /// The Solo tool's `local-config.yaml` beside this file, read only; never written.
    #[serde(skip)]
    pub solo: Option<SoloLocalConfig>,
}

/// A lock taken by `solo lease acquire` and kept after solo exited: the core's record of it
/// (its leases, the holder record in each with the request id that proves it is ours, and the
/// fencing epoch its writes carry), and how long each renewal holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "StoredKeptLease")]
pub struct KeptLease {
    /// What a later process resumes the lock from.
    pub lock: KeptLock,
    /// How long each renewal holds it, in seconds.
    pub lease_seconds: u64,
    /// When it expires unless renewed, as of the last acquire or renew.
    pub expires_at: jiff::Timestamp,
}

impl KeptLease {
    /// Who holds it.
    pub fn user(&self) -> &str {
        &self.lock.holder.user
    }

    /// How long each renewal holds it.
    pub fn hold(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds)
    }
}

/// A kept lock as this file stores it now, or as versions before the core kept it recorded
/// it (request id, user and epoch only: the holder record is then taken from the leases when
/// the lock is resumed, and the leases from the deployment's).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredKeptLease {
    #[serde(rename_all = "camelCase")]
    Now {
        lock: KeptLock,
        lease_seconds: u64,
        expires_at: jiff::Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    Before {
        request_id: String,
        user: String,
        epoch: u64,
        lease_seconds: u64,
        expires_at: jiff::Timestamp,
    },
}

impl From<StoredKeptLease> for KeptLease {
    fn from(stored: StoredKeptLease) -> Self {
        match stored {
            StoredKeptLease::Now {
                lock,
                lease_seconds,
                expires_at,
            } => KeptLease {
                lock,
                lease_seconds,
                expires_at,
            },
            StoredKeptLease::Before {
                request_id,
                user,
                epoch,
                lease_seconds,
                expires_at,
            } => KeptLease {
                lock: KeptLock {
                    deployment: String::new(),
                    keys: Vec::new(),
                    holder: Holder {
                        user,
                        host: String::new(),
                        pid: 0,
                        request_id,
                        requested_at: expires_at,
                        phase: Phase::Held,
                        authenticated_as: None,
                    },
                    epoch: Epoch(epoch),
                    named_after_namespaces: true,
                },
                lease_seconds,
                expires_at,
            },
        }
    }
}

/// What the user's solo remembers of one deployment, to find its state and its leases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KnownDeployment {
    /// The deployment's cluster refs.
    pub cluster_refs: Vec<String>,
    /// The network's namespace in every cluster.
    pub namespace: String,
    /// Where the state object lives in every cluster.
    pub state_namespace: String,
    /// The team that owns it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            version: CONFIG_VERSION,
            user_email: None,
            cluster_refs: BTreeMap::new(),
            deployments: BTreeMap::new(),
            leases: BTreeMap::new(),
            solo: None,
        }
    }
}

/// `$SOLO_HOME`, else `~/.solo`.
pub fn solo_home() -> Result<PathBuf, Failure> {
    if let Some(home) = std::env::var_os("SOLO_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".solo")),
        None => Err(Failure::new(
            "cannot find the solo config directory: neither SOLO_HOME nor HOME is set",
            "set SOLO_HOME to a directory solo may write to",
        )),
    }
}

/// The path of the local config.
pub fn config_path() -> Result<PathBuf, Failure> {
    Ok(solo_home()?.join(CONFIG_FILE))
}

impl LocalConfig {
    /// Reads the local config and, beside it, the Solo tool's; a missing file is an empty
    /// config, a damaged one an error naming the path, line and column.
    pub fn load() -> Result<Self, Failure> {
        let home = solo_home()?;
        let path = home.join(CONFIG_FILE);
        let old = home.join(OLD_CONFIG_FILE);
        let solo = solo_local::read(&old)?;
        let mut config = match solo {
            solo_local::Found::Ours(_) if !path.exists() => {
                // An older solo of ours wrote its config under Solo's file name: move it to ours.
                let config = Self::load_from(&old)?;
                config.save_to(&path)?;
                std::fs::remove_file(&old).map_err(|e| {
                    Failure::new(
                        format!("cannot move {} to {}: {e}", old.display(), path.display()),
                        "check that you may write to the directory, or set SOLO_HOME to another one",
                    )
                })?;
                return Ok(config);
            }
            _ => Self::load_from(&path)?,
        };
        if let solo_local::Found::Solo(solo) = solo {
            config.solo = Some(solo);
        }
        Ok(config)
    }

    /// Reads the config at `path` (this tool's own file only).
    pub fn load_from(path: &Path) -> Result<Self, Failure> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Failure::new(
                    format!("cannot read the local config {}: {e}", path.display()),
                    "check that you may read the file, or set SOLO_HOME to another directory",
                ));
            }
        };
        let damaged = |why: String| {
            Failure::new(
                format!("the local config {} is damaged: {why}", path.display()),
                "fix the file by hand, or move it away and connect your cluster refs again (`solo cluster-ref connect <ref> --context <kube-context>`)",
            )
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let config: LocalConfig =
            solo_core::state::read_yaml(&text).map_err(|e| damaged(e.to_string()))?;
        if config.version != CONFIG_VERSION {
            return Err(damaged(format!(
                "its version is {}, and this solo reads version {CONFIG_VERSION}",
                config.version
            )));
        }
        Ok(config)
    }

    /// The context a cluster ref maps to: this tool's own mapping, else the Solo tool's.
    pub fn context_of(&self, cluster_ref: &str) -> Option<&str> {
        self.cluster_refs
            .get(cluster_ref)
            .map(String::as_str)
            .or_else(|| {
                self.solo
                    .as_ref()
                    .and_then(|s| s.cluster_refs.get(cluster_ref))
                    .map(String::as_str)
            })
    }

    /// Every cluster ref → context, this tool's mappings over the Solo tool's.
    pub fn all_cluster_refs(&self) -> BTreeMap<String, String> {
        let mut all = self
            .solo
            .as_ref()
            .map(|s| s.cluster_refs.clone())
            .unwrap_or_default();
        all.extend(self.cluster_refs.clone());
        all
    }

    /// Cluster refs that the two files map to different contexts: (ref, ours, Solo's).
    pub fn conflicts(&self) -> Vec<(String, String, String)> {
        let Some(solo) = &self.solo else {
            return Vec::new();
        };
        self.cluster_refs
            .iter()
            .filter_map(|(r, ours)| {
                let theirs = solo.cluster_refs.get(r)?;
                (theirs != ours).then(|| (r.clone(), ours.clone(), theirs.clone()))
            })
            .collect()
    }

    /// Writes the local config atomically. An identity asked for since this copy was loaded is
    /// kept (no command ever clears it).
    pub fn save(&self) -> Result<PathBuf, Failure> {
        let path = config_path()?;
        if self.user_email.is_none()
            && let Ok(stored) = Self::load_from(&path)
            && stored.user_email.is_some()
        {
            let mut merged = self.clone();
            merged.user_email = stored.user_email;
            merged.save_to(&path)?;
            return Ok(path);
        }
        self.save_to(&path)?;
        Ok(path)
    }

    /// Writes the config to `path` atomically: a new temporary file beside it (mode 0600, so
    /// no other user reads the lock ids), its bytes synced, renamed over `path`, the directory
    /// synced. Never the Solo tool's file.
    pub fn save_to(&self, path: &Path) -> Result<(), Failure> {
        use std::io::Write;
        let cannot = |e: std::io::Error| {
            Failure::new(
                format!("cannot write the local config {}: {e}", path.display()),
                "check that you may write to the directory, or set SOLO_HOME to another one",
            )
        };
        if path.file_name().is_some_and(|n| n == OLD_CONFIG_FILE) {
            return Err(cannot(std::io::Error::other(
                "that is the Solo tool's file, which solo never writes",
            )));
        }
        let mut text = serde_saphyr::to_string(self).map_err(|e| {
            Failure::new(
                format!("cannot encode the local config: {e}"),
                "this is a bug in solo; please report it",
            )
        })?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(cannot)?;
        // tempfile creates the file new (O_EXCL) with mode 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".solo-state-config.")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(cannot)?;
        tmp.write_all(text.as_bytes()).map_err(cannot)?;
        tmp.as_file().sync_all().map_err(cannot)?;
        tmp.persist(path).map_err(|e| cannot(e.error))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // Makes the rename itself durable; a directory that cannot be opened is no error.
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The kube context of each ref, or the command that connects the first unmapped one.
    pub fn contexts(&self, refs: &[String]) -> Result<Vec<(String, String)>, Failure> {
        for (r, ours, theirs) in self.conflicts() {
            if refs.contains(&r) {
                eprintln!(
                    "note: cluster ref {r} maps to kube context {ours} in solo-state-config.yaml but to {theirs} in Solo's local-config.yaml; using {ours}"
                );
            }
        }
        refs.iter()
            .map(|r| match self.context_of(r) {
                Some(context) => Ok((r.clone(), context.to_owned())),
                None => Err(unmapped(r)),
            })
            .collect()
    }
}

impl LocalConfig {
    /// Like [`contexts`](Self::contexts), but on a terminal an unmapped ref is asked for among
    /// the user's kube contexts (R11), and the answer is kept in the local config.
    pub fn contexts_or_ask(
        &mut self,
        refs: &[String],
        kubeconfig: Option<&Path>,
    ) -> Result<Vec<(String, String)>, Failure> {
        for r in refs {
            if self.context_of(r).is_some() || !interactive() {
                continue;
            }
            let contexts = solo_kube::clusters::read_kubeconfig(kubeconfig.map(Path::to_path_buf))
                .map(|k| k.contexts.into_iter().map(|c| c.name).collect::<Vec<_>>())
                .unwrap_or_default();
            if contexts.is_empty() {
                return Err(unmapped(r));
            }
            let prompt =
                format!("Cluster ref {r} is not connected. Which of your kube contexts is it?");
            let context = inquire::Select::new(&prompt, contexts)
                .prompt()
                .map_err(|e| {
                    prompt_failure(
                        e,
                        &format!("solo cluster-ref connect {r} --context <kube-context>"),
                    )
                })?;
            self.cluster_refs.insert(r.clone(), context.clone());
            let path = self.save()?;
            eprintln!(
                "ok: cluster ref {r} maps to kube context {context}, kept in {}",
                path.display()
            );
        }
        self.contexts(refs)
    }
}

/// Whether solo may ask questions: stdin and stderr are both terminals.
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// A question that got no answer (Ctrl-C, Esc, or no terminal after all).
pub fn prompt_failure(e: inquire::InquireError, instead: &str) -> Failure {
    use inquire::InquireError::{OperationCanceled, OperationInterrupted};
    let code = if matches!(e, OperationInterrupted) {
        130
    } else {
        1
    };
    let message = match e {
        OperationCanceled | OperationInterrupted => "no answer given; nothing was done".to_owned(),
        other => format!("cannot ask: {other}"),
    };
    Failure::new(message, format!("run `{instead}` instead")).code(code)
}

/// The failure of a cluster ref with no kube context.
pub fn unmapped(cluster_ref: &str) -> Failure {
    Failure::new(
        format!("cluster ref {cluster_ref} is not connected to a kube context"),
        format!("run `solo cluster-ref connect {cluster_ref} --context <kube-context>`"),
    )
}

/// Who the user is: `--email`, then `SOLO_USER_EMAIL`, then the config, then
/// `git config user.email`, else asked once on a terminal and kept in the config file.
pub fn identity(flag: Option<&str>, config: &mut LocalConfig) -> Result<String, Failure> {
    if flag.is_none()
        && matches!(
            std::env::var("SOLO_USER_EMAIL"),
            Err(std::env::VarError::NotUnicode(_))
        )
    {
        return Err(Failure::new(
            "SOLO_USER_EMAIL is not valid UTF-8, so it cannot name who you are",
            "set SOLO_USER_EMAIL to your email address, such as you@example.com, or pass --email",
        ));
    }
    if let Some(email) = known_identity(flag, config) {
        return Ok(email);
    }
    let no_identity = || {
        Failure::new(
            "no user identity: every lease and every write records who made it",
            "pass --email you@example.com, or set SOLO_USER_EMAIL, or run `solo init --email you@example.com`",
        )
    };
    if !interactive() {
        return Err(no_identity());
    }
    let email = inquire::Text::new("Your email (recorded on every lease and write):")
        .with_validator(|s: &str| {
            Ok(if email_problem(s).is_none() {
                inquire::validator::Validation::Valid
            } else {
                inquire::validator::Validation::Invalid("an email, such as you@example.com".into())
            })
        })
        .prompt()
        .map_err(|e| prompt_failure(e, "solo init --email you@example.com"))?;
    let email = email.trim().to_owned();
    config.user_email = Some(email.clone());
    let mut stored = LocalConfig::load()?;
    stored.user_email = Some(email.clone());
    stored.save()?;
    Ok(email)
}

/// What is wrong with an email, if anything (solo only needs `something@something`).
pub fn email_problem(email: &str) -> Option<&'static str> {
    let email = email.trim();
    match email.split_once('@') {
        _ if email.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("has spaces or control characters")
        }
        Some((user, host)) if !user.is_empty() && !host.is_empty() => None,
        _ => Some("is not an email address (you@example.com)"),
    }
}

/// The identity from the flag, the environment, the config or git, without asking.
pub fn known_identity(flag: Option<&str>, config: &LocalConfig) -> Option<String> {
    let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(email) = given(flag.map(str::to_owned)) {
        return Some(email);
    }
    if let Some(email) = given(std::env::var("SOLO_USER_EMAIL").ok()) {
        return Some(email);
    }
    if let Some(email) = given(config.user_email.clone()) {
        return Some(email);
    }
    if let Some(email) = given(config.solo.as_ref().and_then(|s| s.email())) {
        return Some(email);
    }
    let git = std::process::Command::new("git")
        .args(["config", "user.email"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    given(git)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("solo-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join(CONFIG_FILE)
    }

    #[test]
    fn a_config_written_reads_back_the_same() {
        let path = scratch("roundtrip");
        let mut config = LocalConfig::default();
        config
            .cluster_refs
            .insert("cluster-1".into(), "kind-a".into());
        config.deployments.insert(
            "my-network".into(),
            KnownDeployment {
                cluster_refs: vec!["cluster-1".into()],
                namespace: "ns".into(),
                state_namespace: "solo-system".into(),
                team: None,
            },
        );
        config.save_to(&path).expect("save");
        assert_eq!(LocalConfig::load_from(&path).expect("load"), config);
    }

    #[test]
    fn a_missing_config_is_empty_and_a_damaged_one_names_its_path() {
        let path = scratch("damaged");
        assert_eq!(
            LocalConfig::load_from(&path).expect("missing"),
            LocalConfig::default()
        );
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(&path, "version: 1\nclusterRefs: [oops\n").expect("write");
        let e = LocalConfig::load_from(&path).expect_err("damaged");
        assert!(e.message.contains(&path.display().to_string()), "{e:?}");
        std::fs::write(&path, "version: 7\n").expect("write");
        let e = LocalConfig::load_from(&path).expect_err("newer");
        assert!(e.message.contains("version is 7"), "{e:?}");
    }
}
