//! `config.txt` in the platform's line format, for consensus node versions up to v0.70.
//!
//! Newer platforms read `genesis-network.json` instead, so solo refuses to write `config.txt`
//! for them. The lines, as Solo writes them:
//! - `swirld, <chain id>` and `app, HederaNode.jar`;
//! - per node: `address, <node id>, <node id>, <alias>, <weight>, <internal address>,
//!   <gossip port>, <external address>, <gossip port>, <account id>`, where the internal address
//!   is `127.0.0.1` from v0.58.5 on (Solo's fix for an ISS) and the pod's DNS name before it, and
//!   the external address is the node's recorded gossip address;
//! - `nextNodeId, <count>` for v0.41 up to (not including) v0.56.

use super::genesis::{DEFAULT_WEIGHT, GenesisError, recorded_nodes};
use crate::state::StateDocument;
use std::fmt;

/// Solo's default chain id of a local network.
pub const DEFAULT_CHAIN_ID: u64 = 298;
/// The last platform minor version (0.x) that reads `config.txt`.
pub const LAST_CONFIG_TXT_MINOR: u64 = 70;

/// A platform release tag, `v0.58.5` or `0.58.5`, with an optional pre-release suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlatformVersion {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl PlatformVersion {
    /// Read a release tag; `None` when it is not `v<major>.<minor>.<patch>[-suffix]`.
    pub fn parse(tag: &str) -> Option<Self> {
        let t = tag.strip_prefix('v').unwrap_or(tag);
        let core = t.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        });
        let v = PlatformVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// Whether this platform still reads `config.txt` (v0.70 and older).
    pub fn reads_config_txt(&self) -> bool {
        self.major == 0 && self.minor <= LAST_CONFIG_TXT_MINOR
    }
}

impl fmt::Display for PlatformVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why `config.txt` cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigTxtError {
    /// The release tag is not a version.
    #[error("{0:?} is not a platform release tag like v0.58.5")]
    BadVersion(String),
    /// The platform no longer reads config.txt.
    #[error(
        "platform {0} does not read config.txt (only v0.{LAST_CONFIG_TXT_MINOR} and older do); it reads genesis-network.json"
    )]
    TooNew(PlatformVersion),
    /// The endpoints or accounts are not there.
    #[error(transparent)]
    Network(#[from] GenesisError),
}

/// The pod DNS name Solo uses as a node's internal address before v0.58.5.
pub fn pod_dns_name(alias: &str, namespace: &str) -> String {
    format!("network-{alias}-0.network-{alias}-svc.{namespace}.svc.cluster.local")
}

/// The lines of `config.txt` for the deployment and release tag, without line ends.
pub fn config_txt(
    doc: &StateDocument,
    release_tag: &str,
    chain_id: u64,
) -> Result<Vec<String>, ConfigTxtError> {
    let version = PlatformVersion::parse(release_tag)
        .ok_or_else(|| ConfigTxtError::BadVersion(release_tag.to_string()))?;
    if !version.reads_config_txt() {
        return Err(ConfigTxtError::TooNew(version));
    }
    if doc.components.consensus.is_empty() {
        return Err(GenesisError::NoNodes.into());
    }
    let nodes = recorded_nodes(doc).map_err(|nodes| GenesisError::NotRecorded { nodes })?;
    let loopback_from = PlatformVersion {
        major: 0,
        minor: 58,
        patch: 5,
    };
    let mut lines = vec![
        format!("swirld, {chain_id}"),
        "app, HederaNode.jar".to_string(),
    ];
    for n in &nodes {
        if n.account().is_none() {
            return Err(GenesisError::BadAccount {
                node: n.name.clone(),
                account: n.account_id.clone(),
            }
            .into());
        }
        let internal = if version >= loopback_from {
            "127.0.0.1".to_string()
        } else {
            pod_dns_name(&n.name, &n.namespace)
        };
        let external = n
            .endpoints
            .as_ref()
            .and_then(|e| e.gossip.first())
            .map(|e| e.address.clone())
            .unwrap_or_default();
        lines.push(format!(
            "address, {id}, {id}, {alias}, {DEFAULT_WEIGHT}, {internal}, {port}, {external}, {port}, {account}",
            id = n.node_id,
            alias = n.name,
            port = n.gossip_port,
            account = n.account_id,
        ));
    }
    if version.major == 0 && (41..56).contains(&version.minor) {
        lines.push(format!("nextNodeId, {}", nodes.len()));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_tags_parse_and_the_cut_off_is_v0_70() {
        let v = |t: &str| PlatformVersion::parse(t);
        assert_eq!(v("v0.58.5").map(|v| v.to_string()), Some("v0.58.5".into()));
        assert_eq!(v("0.70.3-rc.1").map(|v| v.reads_config_txt()), Some(true));
        assert_eq!(v("v0.71.0").map(|v| v.reads_config_txt()), Some(false));
        for bad in ["", "v0.58", "v0.58.x", "latest", "v0.58.5.1"] {
            assert_eq!(v(bad), None, "{bad}");
        }
    }
}
