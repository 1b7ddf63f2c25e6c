//! One Kubernetes client per cluster ref, built from the user's kubeconfig (R11).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::clock::ServerClock;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// Why a cluster's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClustersError {
    /// The kubeconfig could not be read or parsed.
    #[error("cannot read the kubeconfig {path}: {}", first_line(source))]
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

/// The first line of an error: the YAML parser adds a multi-line excerpt of the file.
fn first_line(err: &KubeconfigError) -> String {
    let text = err.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// The API clients of a deployment's clusters, keyed by cluster ref, with what their servers
/// said once and that does not change while a command runs (who we are, their clock), so that
/// it is asked once per cluster, and can be asked early beside other requests.
#[derive(Clone)]
pub struct Clusters {
    clients: BTreeMap<String, Client>,
    /// Each cluster ref's API server address, as the kubeconfig names it, and a fingerprint
    /// of the credentials its context uses (none for clients given directly).
    servers: BTreeMap<String, (String, String)>,
    pub(crate) asked: Arc<Asked>,
}

/// The answers [`Clusters`] keeps, per cluster ref.
#[derive(Default)]
pub(crate) struct Asked {
    /// Who each cluster authenticated us as ([`crate::identity`]).
    pub(crate) users: Mutex<BTreeMap<String, crate::identity::Cell>>,
    /// Each cluster's clock offset ([`crate::clock`]).
    pub(crate) clocks: Mutex<BTreeMap<String, Arc<OnceCell<ServerClock>>>>,
    /// LISTs of a lock's namespaces asked before the lock is taken, each for the first look
    /// of that lock ([`crate::KubeLeaseStore::list_early`]).
    pub(crate) early_listings:
        Mutex<BTreeMap<(solo_core::lock::LeaseKey, String), crate::lease_store::EarlyListing>>,
    /// Where what these clusters said is remembered across processes
    /// ([`Clusters::remember_in`]); `None`: nowhere.
    pub(crate) memory: Mutex<Option<PathBuf>>,
    /// The Leases recalled from there by this process.
    pub(crate) recalled: crate::lease_store::Recalled,
}

impl Clusters {
    /// Clients for each `(cluster ref, kube context)` pair, from the kubeconfig files of
    /// `KUBECONFIG` (a list, merged as kubectl merges it) or `~/.kube/config`, or from `path`.
    pub async fn connect(
        path: Option<PathBuf>,
        mapping: &[(String, String)],
    ) -> Result<Self, ClustersError> {
        let kubeconfig = read_kubeconfig(path)?;
        let (mut clients, mut servers) = (BTreeMap::new(), BTreeMap::new());
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
            if !kubeconfig.contexts.iter().any(|c| c.name == *context) {
                return Err(context_error("it is not in your kubeconfig".to_owned()));
            }
            let config = Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
                .await
                .map_err(|e| context_error(crate::error::error_chain(&e)))?;
            let credentials = serde_json::to_string(&config.auth_info).unwrap_or_default();
            let server = config.cluster_url.to_string();
            let fingerprint = crate::said::digest(&format!("{server}\n{credentials}"));
            servers.insert(cluster.clone(), (server, fingerprint));
            let client =
                client(config).map_err(|e| context_error(crate::error::error_chain(&e)))?;
            clients.insert(cluster.clone(), client);
        }
        Ok(Clusters {
            clients,
            servers,
            asked: Arc::default(),
        })
    }

    /// Clients given directly (tests, and callers that built them already).
    pub fn from_clients(clients: impl IntoIterator<Item = (String, Client)>) -> Self {
        Clusters {
            clients: clients.into_iter().collect(),
            servers: BTreeMap::new(),
            asked: Arc::default(),
        }
    }

    /// Remembers across processes, in the directory `dir`, what these clusters said that the
    /// next command can start from: each lock Lease as a release through them leaves it (its
    /// first look then claims at once, see `lease_store/memory.rs`), each server's clock
    /// offset and who it authenticated us as (see `said.rs`). Off unless called, and only for
    /// clusters connected from a kubeconfig (memories are filed by server address).
    pub fn remember_in(&self, dir: PathBuf) {
        *self
            .asked
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(dir);
    }

    /// Where what `cluster` said is remembered, and its server's address.
    pub(crate) fn memory(&self, cluster: &str) -> Option<(PathBuf, &str)> {
        let (server, _) = self.servers.get(cluster)?;
        let dir = self
            .asked
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()?;
        Some((dir, server.as_str()))
    }

    /// A fingerprint of the server and credentials that `cluster`'s client uses.
    pub(crate) fn fingerprint(&self, cluster: &str) -> Option<&str> {
        Some(self.servers.get(cluster)?.1.as_str())
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

    /// Opens `n` connections to `cluster` at once (each asks `/version`, which every user may
    /// read), kept idle by the client's pool for the requests that follow. Requests go over
    /// HTTP/1.1, one at a time per connection: a later step that asks a cluster several things
    /// at once then finds a connection for each, where a new one would first cost a TLS
    /// handshake, a round trip more. Best effort: answers and errors are ignored.
    pub async fn open_connections(&self, cluster: &str, n: usize) {
        let Ok(client) = self.client(cluster) else {
            return;
        };
        let ask = || async {
            let Ok(request) = http::Request::get("/version").body(kube::client::Body::empty())
            else {
                return;
            };
            // The body read to its end, or the connection is closed instead of kept.
            let answer = async {
                client
                    .send(request)
                    .await?
                    .into_body()
                    .collect_bytes()
                    .await
            };
            let _ = tokio::time::timeout(crate::retry::REQUEST_TIMEOUT, answer).await;
        };
        futures::future::join_all((0..n).map(|_| ask())).await;
    }
}

/// A client for one cluster, as kube's own builder makes it but with `TCP_NODELAY` set.
///
/// kube's builder leaves Nagle's algorithm on. A small request written while an earlier small
/// write waits for its ACK is then held back until the server's delayed ACK (40 ms on Linux), and
/// the lock's round trips are all small writes: that cost ~50 ms per step of a handoff. Behind a
/// proxy, kube's builder is used as it is.
///
/// With `SOLO_LOG_REQUESTS` set, every request is logged on stderr ([`crate::request_log`]).
pub fn client(config: Config) -> Result<Client, kube::Error> {
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use kube::client::ConfigExt as _;
    use tower::ServiceBuilder;

    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, kube::client::Body>(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .layer_fn(crate::request_log::RequestLog::new)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace))
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
