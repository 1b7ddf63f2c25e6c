//! One Kubernetes client per cluster ref, built from the user's kubeconfig (R11).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// Why a cluster's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClustersError {
    /// The kubeconfig could not be read or parsed.
    #[error("cannot read the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: KubeconfigError,
    },
    /// No kubeconfig was found.
    #[error("no kubeconfig found: set KUBECONFIG or create ~/.kube/config")]
    NoKubeconfig,
    /// The context named for a cluster ref is not in the kubeconfig, or is unusable.
    #[error("cluster ref {cluster}: kube context {context:?} is not usable: {message}")]
    Context {
        cluster: String,
        context: String,
        message: String,
    },
    /// No context is mapped for a cluster ref.
    #[error(
        "cluster ref {cluster} is not connected to a kube context; run `solo cluster-ref connect {cluster} --context <kube-context>`"
    )]
    Unmapped { cluster: String },
}

/// The API clients of a deployment's clusters, keyed by cluster ref.
#[derive(Clone)]
pub struct Clusters {
    clients: BTreeMap<String, Client>,
}

impl Clusters {
    /// Clients for each `(cluster ref, kube context)` pair, from the kubeconfig files of
    /// `KUBECONFIG` (a list, merged as kubectl merges it) or `~/.kube/config`, or from `path`.
    pub async fn connect(
        path: Option<PathBuf>,
        mapping: &[(String, String)],
    ) -> Result<Self, ClustersError> {
        let kubeconfig = read_kubeconfig(path)?;
        let mut clients = BTreeMap::new();
        for (cluster, context) in mapping {
            let options = KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            let context_error = |message: String| ClustersError::Context {
                cluster: cluster.clone(),
                context: context.clone(),
                message,
            };
            let config = Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
                .await
                .map_err(|e| context_error(crate::error::error_chain(&e)))?;
            let client = Client::try_from(config)
                .map_err(|e| context_error(crate::error::error_chain(&e)))?;
            clients.insert(cluster.clone(), client);
        }
        Ok(Clusters { clients })
    }

    /// Clients given directly (tests, and callers that built them already).
    pub fn from_clients(clients: impl IntoIterator<Item = (String, Client)>) -> Self {
        Clusters {
            clients: clients.into_iter().collect(),
        }
    }

    /// The client of a cluster ref.
    pub fn client(&self, cluster: &str) -> Result<&Client, ClustersError> {
        self.clients
            .get(cluster)
            .ok_or_else(|| ClustersError::Unmapped {
                cluster: cluster.to_owned(),
            })
    }

    /// The cluster refs, sorted.
    pub fn refs(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }
}

/// Reads the kubeconfig as kubectl does: `path`, else every file of `KUBECONFIG` merged in order
/// (the first file that sets a value wins), else `~/.kube/config`.
pub fn read_kubeconfig(path: Option<PathBuf>) -> Result<Kubeconfig, ClustersError> {
    let read = |p: &PathBuf| {
        Kubeconfig::read_from(p).map_err(|source| ClustersError::Kubeconfig {
            path: p.display().to_string(),
            source,
        })
    };
    if let Some(p) = path {
        return read(&p);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let mut merged: Option<Kubeconfig> = None;
        for p in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
            if !p.exists() {
                continue;
            }
            let next = read(&p)?;
            merged = Some(match merged {
                None => next,
                Some(m) => m.merge(next).map_err(|source| ClustersError::Kubeconfig {
                    path: p.display().to_string(),
                    source,
                })?,
            });
        }
        return merged.ok_or(ClustersError::NoKubeconfig);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or(ClustersError::NoKubeconfig)?;
    let default = home.join(".kube/config");
    if default.exists() {
        read(&default)
    } else {
        Err(ClustersError::NoKubeconfig)
    }
}
