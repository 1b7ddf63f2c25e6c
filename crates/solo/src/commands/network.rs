//! `solo network endpoints|genesis|address-book|export` (R13): each consensus node's endpoints
//! resolved from its Service, recorded under the lock or checked for drift, and the files a
//! network starts from (`genesis-network.json`, the `NodeAddressBook`, `config.txt`).
//!
//! The rules are the core's (`solo_core::network`); Services, Secrets and ServiceExports are
//! read and written by `solo_kube::endpoints`. This module parses flags, renders, and maps
//! errors to sentences, hints and exit codes.

use super::session;
use super::write::{self, Change};
use crate::cli::{
    AddressBookFormat, Global, NetworkAddressBookArgs, NetworkCommand, NetworkEndpointsArgs,
    NetworkExportArgs, NetworkReadArgs, Output,
};
use crate::render::{EXIT_OUT_OF_SYNC, Failure, Out};
use serde_json::json;
use solo_core::network::address_book::address_book;
use solo_core::network::config_txt::{ConfigTxtError, config_txt};
use solo_core::network::genesis::{GenesisError, genesis_network};
use solo_core::network::keys::NodeCerts;
use solo_core::network::resolve::{self, ResolveError, Resolved};
use solo_core::state::{Reachability, StateDocument};
use solo_kube::Clusters;
use solo_kube::endpoints::{self, EndpointsError};
use std::collections::BTreeMap;

/// Run a `solo network` command; the exit code of a success.
pub fn run(cmd: &NetworkCommand, global: &Global, out: &Out) -> Result<u8, Failure> {
    match cmd {
        NetworkCommand::Endpoints(args) => session::block_on(endpoints_cmd(args, global, out)),
        NetworkCommand::Genesis(args) => session::block_on(genesis_cmd(args, global, out)),
        NetworkCommand::AddressBook(args) => session::block_on(address_book_cmd(args, global, out)),
        NetworkCommand::Export(args) => session::block_on(export_cmd(args, global, out)),
    }
    .map(|()| 0)
}

async fn open_read(
    deployment: &str,
    state_namespace: Option<&str>,
    global: &Global,
) -> Result<(StateDocument, Clusters), Failure> {
    let session::Opened {
        config: _,
        target,
        clusters,
    } = session::open(deployment, state_namespace, global).await?;
    let doc = session::read_state(&target, clusters.clone()).await?;
    Ok((doc, clusters))
}

fn wait_duration(wait: Option<&str>) -> Result<Option<std::time::Duration>, Failure> {
    let Some(text) = wait else { return Ok(None) };
    text.parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .map(Some)
        .ok_or_else(|| {
            Failure::new(
                format!("--wait={text} is not a duration"),
                "write --wait (up to 5 minutes) or --wait=<duration>, such as --wait=30s or --wait=2m",
            )
            .code(2)
        })
}

async fn endpoints_cmd(
    args: &NetworkEndpointsArgs,
    global: &Global,
    out: &Out,
) -> Result<(), Failure> {
    let wait = wait_duration(args.wait.as_deref())?;
    let (doc, clusters) =
        open_read(&args.deployment, args.state_namespace.as_deref(), global).await?;
    if doc.components.consensus.is_empty() {
        return Err(Failure::new(
            format!("deployment {} has no consensus node", args.deployment),
            format!(
                "add one first: solo component add {} consensus node1",
                args.deployment
            ),
        ));
    }
    let facts = match wait {
        Some(timeout) => endpoints::read_services_waiting(&clusters, &doc, timeout).await,
        None => endpoints::read_services(&clusters, &doc).await,
    }
    .map_err(|e| endpoints_failure(&e))?;
    let resolved = resolve::resolve_all(&doc, &facts)
        .map_err(|errors| resolve_failure(&args.deployment, &doc, &errors))?;

    if args.check {
        let drift = resolve::drift(&doc, &resolved);
        if drift.is_empty() {
            print_resolved(out, &resolved);
            out.say(&format!(
                "ok: the recorded endpoints of {} match the clusters ({} nodes)",
                args.deployment,
                resolved.len()
            ));
            return Ok(());
        }
        match out.format {
            Output::Table => out.result(&crate::render::table(
                &["NODE", "CLUSTER", "RECORDED", "LIVE"],
                drift.iter().map(|d| {
                    vec![
                        d.node.clone(),
                        d.cluster.clone(),
                        d.recorded.clone(),
                        d.live.clone(),
                    ]
                }),
            )),
            format => out.result(&super::structured(format, &json!({ "drift": drift }))),
        }
        return Err(Failure::new(
            format!(
                "the recorded endpoints of {} node{} of {} differ from the clusters",
                drift.len(),
                if drift.len() == 1 { "" } else { "s" },
                args.deployment
            ),
            format!(
                "record what the clusters show with `solo network endpoints {} --record`",
                args.deployment
            ),
        )
        .code(EXIT_OUT_OF_SYNC));
    }

    print_resolved(out, &resolved);
    if args.record {
        let at = Change {
            deployment: &args.deployment,
            state_namespace: args.state_namespace.as_deref(),
            wait: None,
            on_changed: write::OnChanged::Rebuild,
        };
        let name = args.deployment.clone();
        write::change_state(at, global, out, |current, _| {
            recorded(&name, &doc, current, &resolved)
        })
        .await?;
    }
    Ok(())
}

/// The change `--record` makes: the endpoints resolved from `read` written into `current`,
/// refused when the network changed in between (the endpoints were resolved for other nodes).
fn recorded(
    name: &str,
    read: &StateDocument,
    current: &StateDocument,
    resolved: &[Resolved],
) -> Result<write::Decision, Failure> {
    let shape = |d: &StateDocument| {
        let nodes: Vec<_> = d
            .components
            .consensus
            .iter()
            .map(|n| {
                let mut n = n.clone();
                n.endpoints = None;
                n
            })
            .collect();
        (d.clusters.clone(), nodes)
    };
    if shape(read) != shape(current) {
        return Err(Failure::new(
            format!(
                "the network of {name} changed while its endpoints were resolved; nothing was written"
            ),
            format!("run `solo network endpoints {name} --record` again"),
        ));
    }
    let next = resolve::record(current, resolved);
    if next == *current {
        return Ok(None);
    }
    let changed = resolve::drift(current, resolved).len();
    Ok(Some((
        next,
        format!("recorded the endpoints of {changed} consensus node(s) of {name}"),
    )))
}

fn print_resolved(out: &Out, resolved: &[Resolved]) {
    let list = |v: &[solo_core::state::Endpoint]| {
        v.iter()
            .map(|e| format!("{}:{}", e.address, e.port))
            .collect::<Vec<_>>()
            .join(",")
    };
    match out.format {
        Output::Table => out.result(&crate::render::table(
            &["NODE", "CLUSTER", "NAMESPACE", "SOURCE", "GOSSIP", "GRPC"],
            resolved.iter().map(|r| {
                vec![
                    r.node.clone(),
                    r.cluster.clone(),
                    r.namespace.clone(),
                    r.endpoints.source.as_str().to_owned(),
                    list(&r.endpoints.gossip),
                    list(&r.endpoints.grpc),
                ]
            }),
        )),
        format => {
            let nodes: Vec<_> = resolved
                .iter()
                .map(|r| {
                    json!({
                        "node": r.node,
                        "cluster": r.cluster,
                        "namespace": r.namespace,
                        "endpoints": r.endpoints,
                    })
                })
                .collect();
            out.result(&super::structured(format, &json!({ "nodes": nodes })));
        }
    }
}

fn endpoints_failure(e: &EndpointsError) -> Failure {
    match e {
        EndpointsError::Forbidden {
            cluster,
            namespace,
            resource,
            message,
        } => Failure::new(
            format!("cluster {cluster} refused to let you read {resource} in namespace {namespace}"),
            format!(
                "ask the cluster's administrator for a Role in namespace {namespace} that lets you get and watch services"
            ),
        )
        .details([message.clone()])
        .code(crate::render::EXIT_FORBIDDEN),
        EndpointsError::NoServiceExportCrd { cluster } => Failure::new(
            format!("cluster {cluster} has no ServiceExport kind: the Multi-Cluster Services API (multicluster.x-k8s.io) is not installed there; nothing was applied"),
            "install the Multi-Cluster Services CRDs and controller in every cluster, or use `--print` to see the objects",
        ),
        EndpointsError::StillPending { .. } => Failure::new(
            e.to_string(),
            "check the load balancer controller of those clusters, or wait longer with --wait=<duration>",
        ),
        EndpointsError::Cluster(_) | EndpointsError::Api { .. } => Failure::new(
            e.to_string(),
            "check the cluster is reachable and your kube context is right (`solo cluster-ref list`)",
        ),
    }
}

fn resolve_failure(name: &str, doc: &StateDocument, errors: &[ResolveError]) -> Failure {
    let first = errors.first().map(ToString::to_string).unwrap_or_default();
    let message = if errors.len() == 1 {
        format!("cannot resolve the endpoints of {name}: {first}")
    } else {
        format!(
            "cannot resolve the endpoints of {} nodes of {name}",
            errors.len()
        )
    };
    let help = match errors.first() {
        Some(ResolveError::MissingService { .. }) => {
            "deploy the node's network chart first, or check the node's cluster and namespace in `solo component list`".to_owned()
        }
        Some(ResolveError::NotRoutable { pending: true, .. }) => {
            "wait for the load balancer with --wait, or check the load balancer controller of that cluster".to_owned()
        }
        Some(ResolveError::NotRoutable { cluster, .. }) => {
            let mode = doc
                .clusters
                .iter()
                .find(|c| &c.name == cluster)
                .map(|c| resolve::reachability(doc, c))
                .unwrap_or(Reachability::LoadBalancer);
            format!(
                "give the Service type LoadBalancer, or set reachability: clusterset on cluster {cluster} (and run `solo network export {name} --apply`); it is now {}",
                mode.as_str()
            )
        }
        _ => "fix the cluster's dnsConsensusNodePattern (`solo state edit`)".to_owned(),
    };
    let mut f = Failure::new(message, help);
    if errors.len() > 1 {
        f = f.details(errors.iter().map(ToString::to_string));
    }
    f
}

/// The certificates of each node: files given with flags, else Solo's Secrets.
async fn certs(
    args: &NetworkReadArgs,
    doc: &StateDocument,
    clusters: &Clusters,
) -> Result<BTreeMap<String, NodeCerts>, Failure> {
    let mut certs = endpoints::read_certs(clusters, doc)
        .await
        .map_err(|e| endpoints_failure(&e))?;
    let file = |flag: &str, pair: &str| -> Result<(String, String), Failure> {
        let usage = || {
            Failure::new(
                format!("--{flag} {pair} is not NODE=PATH"),
                format!("write --{flag} node1=/path/to/cert.pem"),
            )
            .code(2)
        };
        let (node, path) = pair.split_once('=').ok_or_else(usage)?;
        if !doc.components.consensus.iter().any(|n| n.name == node) {
            return Err(Failure::new(
                format!(
                    "--{flag}: {node} is not a consensus node of {}",
                    doc.metadata.name
                ),
                "name a node listed by `solo component list`",
            )
            .code(2));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                format!("cannot read {path}: {e}"),
                "pass a PEM file you can read",
            )
            .code(2)
        })?;
        if solo_core::network::keys::pem_certificate(&text).is_none() {
            return Err(Failure::new(
                format!("{path} holds no PEM certificate"),
                "pass a file with a -----BEGIN CERTIFICATE----- block",
            )
            .code(2));
        }
        Ok((node.to_owned(), text))
    };
    for pair in &args.gossip_certs {
        let (node, pem) = file("gossip-cert", pair)?;
        let tls = certs.get(&node).and_then(|c| c.tls_cert_pem.clone());
        certs.insert(node, NodeCerts::from_pems(Some(&pem), tls));
    }
    for pair in &args.tls_certs {
        let (node, pem) = file("tls-cert", pair)?;
        let entry = certs.entry(node).or_default();
        entry.tls_cert_pem = Some(pem);
    }
    Ok(certs)
}

/// Says, per node, which certificate solo found neither in Solo's Secrets nor in a flag's file.
fn note_missing_certs(out: &Out, doc: &StateDocument, certs: &BTreeMap<String, NodeCerts>) {
    let none = NodeCerts::default();
    for n in &doc.components.consensus {
        let node = certs.get(&n.name).unwrap_or(&none);
        let mut missing = Vec::new();
        if node.gossip_cert_der.is_none() {
            let (secret, key) = endpoints::gossip_secret(&n.name);
            missing.push(format!(
                "no gossip certificate (Secret {secret}, key {key}, or --gossip-cert)"
            ));
        }
        if node.tls_cert_pem.is_none() {
            let (secret, key) = endpoints::tls_secret(&n.name);
            missing.push(format!(
                "no TLS certificate (Secret {secret}, key {key}, or --tls-cert)"
            ));
        }
        if !missing.is_empty() {
            out.say(&format!(
                "note: node {} in namespace {} of cluster {}: {}, so its certificate fields are empty",
                n.name,
                n.namespace,
                n.cluster,
                missing.join(" and ")
            ));
        }
    }
}

fn genesis_failure(name: &str, e: &GenesisError) -> Failure {
    match e {
        GenesisError::NotRecorded { .. } => Failure::new(
            format!("{name}: {e}"),
            format!("record them first: solo network endpoints {name} --record"),
        ),
        GenesisError::NoNodes => Failure::new(
            format!("{name}: {e}"),
            format!("add one first: solo component add {name} consensus node1"),
        ),
        GenesisError::BadAccount { .. } => Failure::new(
            format!("{name}: {e}"),
            "fix the node's accountId with `solo state edit`",
        ),
    }
}

async fn genesis_cmd(args: &NetworkReadArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let (doc, clusters) =
        open_read(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let certs = certs(args, &doc, &clusters).await?;
    let genesis =
        genesis_network(&doc, &certs).map_err(|e| genesis_failure(&args.deployment, &e))?;
    note_missing_certs(out, &doc, &certs);
    let value = serde_json::to_value(&genesis).unwrap_or_default();
    out.result(&super::json_text(&value));
    Ok(())
}

async fn address_book_cmd(
    args: &NetworkAddressBookArgs,
    global: &Global,
    out: &Out,
) -> Result<(), Failure> {
    let name = &args.read.deployment;
    if args.format == AddressBookFormat::ConfigTxt && args.release_tag.is_none() {
        return Err(Failure::new(
            "--format config-txt needs the platform release of the nodes",
            "pass --release-tag, such as --release-tag v0.58.5 (config.txt exists up to v0.70)",
        )
        .code(2));
    }
    let (doc, clusters) = open_read(name, args.read.state_namespace.as_deref(), global).await?;
    match args.format {
        AddressBookFormat::ConfigTxt => {
            let tag = args.release_tag.as_deref().unwrap_or_default();
            let lines = config_txt(&doc, tag, args.chain_id).map_err(|e| match &e {
                ConfigTxtError::Network(g) => genesis_failure(name, g),
                ConfigTxtError::TooNew(_) => Failure::new(
                    e.to_string(),
                    format!("use `solo network genesis {name}` for this platform"),
                )
                .code(2),
                ConfigTxtError::BadVersion(_) => Failure::new(
                    format!("--release-tag: {e}"),
                    "pass the nodes' platform release, such as --release-tag v0.58.5",
                )
                .code(2),
            })?;
            out.result(&(lines.join("\n") + "\n"));
        }
        format => {
            let certs = certs(&args.read, &doc, &clusters).await?;
            let book = address_book(&doc, &certs).map_err(|e| genesis_failure(name, &e))?;
            note_missing_certs(out, &doc, &certs);
            if format == AddressBookFormat::Proto {
                use std::io::Write;
                let bytes = super::network_proto::encode(&book);
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(&bytes)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| Failure::bare(format!("cannot write the address book: {e}")))?;
            } else {
                let value = serde_json::to_value(&book).unwrap_or_default();
                out.result(&super::json_text(&value));
            }
        }
    }
    Ok(())
}

async fn export_cmd(args: &NetworkExportArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let (doc, clusters) =
        open_read(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let nodes: Vec<_> = doc
        .components
        .consensus
        .iter()
        .filter(|n| {
            resolve::cluster_of(&doc, n)
                .map(|c| resolve::reachability(&doc, c) == Reachability::Clusterset)
                .unwrap_or(false)
        })
        .collect();
    if nodes.is_empty() {
        return Err(Failure::new(
            format!(
                "no consensus node of {} is in a cluster reached through clusterset",
                args.deployment
            ),
            "set reachability: clusterset on the clusters whose Services should be exported (`solo state edit`)",
        ));
    }
    if args.print {
        let docs: Vec<String> = nodes
            .iter()
            .map(|n| serde_saphyr::to_string(&endpoints::service_export(n)).unwrap_or_default())
            .collect();
        out.result(&docs.join("---\n"));
        return Ok(());
    }
    endpoints::apply_service_exports(&clusters, &nodes)
        .await
        .map_err(|e| endpoints_failure(&e))?;
    out.say(&format!(
        "ok: applied {} ServiceExport(s) of {} ({})",
        nodes.len(),
        args.deployment,
        nodes
            .iter()
            .map(|n| format!("{}/{}", n.cluster, resolve::service_name(&n.name)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}
